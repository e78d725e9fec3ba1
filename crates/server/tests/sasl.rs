//! SASL over real TCP: the gate before authentication, PLAIN, SCRAM-SHA-256/512 with
//! credentials set through AlterUserScramCredentials (and kept across a restart),
//! DescribeUserScramCredentials, and what a PLAINTEXT listener answers.

mod common;

use std::collections::BTreeMap;

use common::{Client, TestServer};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey,
    ApiVersionsRequest, ApiVersionsResponse, DescribeUserScramCredentialsRequest,
    DescribeUserScramCredentialsResponse, MetadataRequest, MetadataResponse,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_server::sasl::scram::{salted_password, ScramClient};
use myelin_server::sasl::{Mechanism, SaslConfig};
use myelin_server::Config;

fn config() -> Config {
    Config {
        sasl: Some(SaslConfig {
            plain_users: BTreeMap::from([("admin".to_string(), "admin-secret".to_string())]),
            failed_authentication_delay_ms: 10,
            ..SaslConfig::default()
        }),
        ..Config::default()
    }
}

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

async fn handshake(client: &mut Client, mechanism: &str) -> SaslHandshakeResponse {
    client
        .call(
            ApiKey::SaslHandshake,
            1,
            &SaslHandshakeRequest::default().with_mechanism(s(mechanism)),
        )
        .await
}

async fn authenticate(client: &mut Client, version: i16, bytes: &[u8]) -> SaslAuthenticateResponse {
    client
        .call(
            ApiKey::SaslAuthenticate,
            version,
            &SaslAuthenticateRequest::default().with_auth_bytes(bytes.to_vec().into()),
        )
        .await
}

async fn metadata(client: &mut Client) -> MetadataResponse {
    client
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await
}

/// A connection authenticated with PLAIN.
async fn plain(
    server: &TestServer,
    user: &str,
    password: &str,
) -> (Client, SaslAuthenticateResponse) {
    let mut client = server.connect().await;
    let r = handshake(&mut client, "PLAIN").await;
    assert_eq!(r.error_code, 0);
    let r = authenticate(&mut client, 2, format!("\0{user}\0{password}").as_bytes()).await;
    (client, r)
}

/// A SCRAM exchange as a client runs it (RFC 5802); the last SaslAuthenticate response,
/// after checking the server's signature when the exchange succeeded.
async fn scram(
    client: &mut Client,
    m: Mechanism,
    user: &str,
    password: &str,
) -> SaslAuthenticateResponse {
    assert_eq!(handshake(client, m.name()).await.error_code, 0);
    let mut scram = ScramClient::new(m, user, password);
    let r = authenticate(client, 1, &scram.first_message()).await;
    if r.error_code != 0 {
        return r;
    }
    let last = scram.final_message(&r.auth_bytes).unwrap();
    let r = authenticate(client, 1, &last).await;
    if r.error_code == 0 {
        scram
            .verify_server_final(&r.auth_bytes)
            .expect("the server proves it knows the credential");
    }
    r
}

fn upsert(user: &str, m: Mechanism, password: &str, iterations: i32) -> ScramCredentialUpsertion {
    let salt = format!("salt-of-{user}").into_bytes();
    ScramCredentialUpsertion::default()
        .with_name(s(user))
        .with_mechanism(m.scram_type().unwrap())
        .with_iterations(iterations)
        .with_salted_password(salted_password(m, password.as_bytes(), &salt, iterations).into())
        .with_salt(salt.into())
}

async fn alter(
    client: &mut Client,
    deletions: Vec<ScramCredentialDeletion>,
    upsertions: Vec<ScramCredentialUpsertion>,
) -> Vec<(String, i16)> {
    let r: AlterUserScramCredentialsResponse = client
        .call(
            ApiKey::AlterUserScramCredentials,
            0,
            &AlterUserScramCredentialsRequest::default()
                .with_deletions(deletions)
                .with_upsertions(upsertions),
        )
        .await;
    r.results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect()
}

async fn describe(
    client: &mut Client,
    users: Option<&[&str]>,
) -> Vec<(String, i16, Vec<(i8, i32)>)> {
    let r: DescribeUserScramCredentialsResponse = client
        .call(
            ApiKey::DescribeUserScramCredentials,
            0,
            &DescribeUserScramCredentialsRequest::default().with_users(users.map(|u| {
                u.iter()
                    .map(|n| UserName::default().with_name(s(n)))
                    .collect()
            })),
        )
        .await;
    assert_eq!(r.error_code, 0);
    r.results
        .iter()
        .map(|r| {
            (
                r.user.to_string(),
                r.error_code,
                r.credential_infos
                    .iter()
                    .map(|c| (c.mechanism, c.iterations))
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn nothing_but_the_sasl_exchange_before_authentication() {
    let server = TestServer::start(config()).await;

    // ApiVersions is served, and lists the SASL APIs.
    let mut client = server.connect().await;
    let r: ApiVersionsResponse = client
        .call(
            ApiKey::ApiVersions,
            3,
            &ApiVersionsRequest::default()
                .with_client_software_name(s("myelin-tests"))
                .with_client_software_version(s("1")),
        )
        .await;
    assert_eq!(r.error_code, 0);
    let keys: Vec<i16> = r.api_keys.iter().map(|k| k.api_key).collect();
    assert!(keys.contains(&17) && keys.contains(&36), "{keys:?}");
    // Anything else closes the connection.
    client
        .send(ApiKey::Metadata, 12, 1, &MetadataRequest::default())
        .await;
    client.expect_closed().await;

    // SaslAuthenticate before the handshake, too.
    let mut client = server.connect().await;
    client
        .send(
            ApiKey::SaslAuthenticate,
            2,
            1,
            &SaslAuthenticateRequest::default(),
        )
        .await;
    client.expect_closed().await;

    // A mechanism that is not enabled: the enabled ones, then the close.
    let mut client = server.connect().await;
    let r = handshake(&mut client, "GSSAPI").await;
    assert_eq!(r.error_code, 33);
    let names: Vec<&str> = r.mechanisms.iter().map(|m| m.as_str()).collect();
    assert_eq!(names, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    client.expect_closed().await;

    // After a handshake, only SaslAuthenticate.
    let mut client = server.connect().await;
    assert_eq!(handshake(&mut client, "PLAIN").await.error_code, 0);
    client
        .send(ApiKey::Metadata, 12, 1, &MetadataRequest::default())
        .await;
    client.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn plain_authenticates_the_jaas_users() {
    let server = TestServer::start(config()).await;
    let (mut client, r) = plain(&server, "admin", "admin-secret").await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.session_lifetime_ms, 0);
    assert_eq!(metadata(&mut client).await.brokers.len(), 1);
    // A second handshake on an authenticated connection.
    assert_eq!(handshake(&mut client, "PLAIN").await.error_code, 34);
    assert_eq!(metadata(&mut client).await.brokers.len(), 1, "still open");

    for (user, password) in [("admin", "wrong"), ("nobody", "admin-secret")] {
        let (mut client, r) = plain(&server, user, password).await;
        assert_eq!(r.error_code, 58, "{user}");
        assert_eq!(
            r.error_message.as_deref(),
            Some("Authentication failed: Invalid username or password")
        );
        client.expect_closed().await;
    }
    server.stop().await;
}

#[tokio::test]
async fn scram_credentials_are_set_used_described_and_kept() {
    let server = TestServer::start(config()).await;
    let (mut admin, r) = plain(&server, "admin", "admin-secret").await;
    assert_eq!(r.error_code, 0);

    let m256 = Mechanism::ScramSha256;
    let m512 = Mechanism::ScramSha512;
    assert_eq!(
        alter(
            &mut admin,
            vec![],
            vec![
                upsert("alice", m256, "alice-secret", 4096),
                upsert("alice", m512, "alice-secret", 8192),
                upsert("bob", m512, "bob-secret", 4096),
            ]
        )
        .await,
        [("alice".into(), 92), ("bob".into(), 0)],
        "a user altered twice in one request is refused whole"
    );
    assert_eq!(
        alter(
            &mut admin,
            vec![],
            vec![
                upsert("alice", m256, "alice-secret", 4096),
                upsert("carol", m256, "x", 100),
                upsert("dave", m256, "x", 20000),
                upsert("", m256, "x", 4096),
                upsert("erin", m256, "x", 4096).with_mechanism(0),
            ]
        )
        .await,
        [
            ("alice".into(), 0),
            ("carol".into(), 93),
            ("dave".into(), 93),
            ("".into(), 93),
            ("erin".into(), 33)
        ]
    );
    assert_eq!(
        describe(&mut admin, None).await,
        [
            ("alice".into(), 0, vec![(1, 4096)]),
            ("bob".into(), 0, vec![(2, 4096)])
        ]
    );
    assert_eq!(
        describe(&mut admin, Some(&["bob", "nobody", "alice", "alice"])).await,
        [
            ("bob".into(), 0, vec![(2, 4096)]),
            ("nobody".into(), 91, vec![]),
            ("alice".into(), 92, vec![])
        ]
    );

    // alice with SHA-256, bob with SHA-512; each only with its own password and mechanism.
    let mut alice = server.connect().await;
    assert_eq!(
        scram(&mut alice, m256, "alice", "alice-secret")
            .await
            .error_code,
        0
    );
    assert_eq!(metadata(&mut alice).await.brokers.len(), 1);
    let mut bob = server.connect().await;
    assert_eq!(
        scram(&mut bob, m512, "bob", "bob-secret").await.error_code,
        0
    );
    for (m, user, password) in [
        (m256, "alice", "wrong"),
        (m512, "alice", "alice-secret"),
        (m256, "nobody", "x"),
    ] {
        let mut client = server.connect().await;
        let r = scram(&mut client, m, user, password).await;
        assert_eq!(r.error_code, 58, "{m} {user}");
        client.expect_closed().await;
    }

    // Deleting: then that mechanism fails; deleting again is RESOURCE_NOT_FOUND.
    let delete = |user: &str, m: Mechanism| {
        ScramCredentialDeletion::default()
            .with_name(s(user))
            .with_mechanism(m.scram_type().unwrap())
    };
    assert_eq!(
        alter(&mut admin, vec![delete("bob", m512)], vec![]).await,
        [("bob".into(), 0)]
    );
    assert_eq!(
        alter(&mut admin, vec![delete("bob", m512)], vec![]).await,
        [("bob".into(), 91)]
    );
    let mut client = server.connect().await;
    assert_eq!(
        scram(&mut client, m512, "bob", "bob-secret")
            .await
            .error_code,
        58
    );
    drop((admin, alice, bob, client));

    // The credentials are in the metadata log: a restarted broker still knows alice.
    let server = server.restart(config()).await;
    let mut alice = server.connect().await;
    assert_eq!(
        scram(&mut alice, m256, "alice", "alice-secret")
            .await
            .error_code,
        0
    );
    drop(alice);
    server.stop().await;
}

#[tokio::test]
async fn a_plaintext_listener_answers_the_sasl_requests_with_illegal_state() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    assert_eq!(handshake(&mut client, "PLAIN").await.error_code, 34);
    assert_eq!(authenticate(&mut client, 2, b"\0a\0b").await.error_code, 34);
    assert_eq!(metadata(&mut client).await.brokers.len(), 1);
    server.stop().await;
}

/// SaslHandshake v0; its error code.
async fn handshake_v0(client: &mut Client, mechanism: &str) -> i16 {
    let r: SaslHandshakeResponse = client
        .call(
            ApiKey::SaslHandshake,
            0,
            &SaslHandshakeRequest::default().with_mechanism(s(mechanism)),
        )
        .await;
    r.error_code
}

/// After SaslHandshake v0 the tokens are bare size-prefixed frames, and so are the
/// answers (Kafka before 1.0; Sarama's default).
#[tokio::test]
async fn handshake_v0_takes_bare_tokens() {
    let server = TestServer::start(config()).await;
    let raw = |token: &[u8]| {
        let mut frame = (token.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(token);
        frame
    };
    // PLAIN: the answer is an empty frame, then requests are served.
    let mut client = server.connect().await;
    assert_eq!(handshake_v0(&mut client, "PLAIN").await, 0);
    client.send_raw(&raw(b"\0admin\0admin-secret")).await;
    assert!(client.read_frame().await.is_empty());
    assert_eq!(metadata(&mut client).await.brokers.len(), 1);

    // A wrong password: the connection closes (v0 has no error answer).
    let mut client = server.connect().await;
    assert_eq!(handshake_v0(&mut client, "PLAIN").await, 0);
    client.send_raw(&raw(b"\0admin\0wrong")).await;
    client.expect_closed().await;

    // SCRAM: the server-first message comes back bare.
    let (mut admin, _) = plain(&server, "admin", "admin-secret").await;
    alter(
        &mut admin,
        vec![],
        vec![upsert(
            "alice",
            Mechanism::ScramSha256,
            "alice-secret",
            4096,
        )],
    )
    .await;
    let mut client = server.connect().await;
    assert_eq!(handshake_v0(&mut client, "SCRAM-SHA-256").await, 0);
    client.send_raw(&raw(b"n,,n=alice,r=abc")).await;
    let first = client.read_frame().await;
    assert!(first.starts_with(b"r=abc"), "{first:?}");
    server.stop().await;
}

/// Before authentication a frame may not pass Kafka's `sasl.server.max.receive.size`
/// (512 KiB): a larger size prefix closes the connection without anything read; after
/// authentication `socket.request.max.bytes` applies.
#[tokio::test]
async fn large_frames_wait_for_authentication() {
    let server = TestServer::start(config()).await;
    let mut client = server.connect().await;
    client.send_raw(&(1_000_000i32).to_be_bytes()).await;
    client.expect_closed().await;

    let (mut client, r) = plain(&server, "admin", "admin-secret").await;
    assert_eq!(r.error_code, 0);
    // A 1 MB Metadata request (a long client id) is served once authenticated.
    let mut frame =
        common::request_frame(ApiKey::Metadata, 1, 5, &MetadataRequest::default()).to_vec();
    frame.extend(std::iter::repeat_n(0u8, 1_000_000));
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    client.send_raw(&frame).await;
    // Myelin serves a request with bytes past the fields it reads; what matters here is
    // that the size was accepted and an answer came.
    assert!(!client.read_frame().await.is_empty());
    server.stop().await;
}

/// KIP-368: with `connections.max.reauth.ms`, SaslAuthenticate tells the client its
/// session's lifetime; the client re-authenticates on the same connection (same user,
/// same mechanism) to go on; a session left to expire is closed at its next request other
/// than a re-authentication.
#[tokio::test]
async fn sessions_expire_and_are_renewed_by_reauthentication() {
    let mut config = config();
    if let Some(sasl) = config.sasl.as_mut() {
        sasl.plain_users
            .insert("bob".to_string(), "bob-secret".to_string());
        sasl.max_reauth_ms = 400;
    }
    let server = TestServer::start(config).await;

    let (mut client, r) = plain(&server, "admin", "admin-secret").await;
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 400));
    assert_eq!(metadata(&mut client).await.brokers.len(), 1);
    // Re-authentication as the same user: a new lifetime, and the connection goes on.
    assert_eq!(handshake(&mut client, "PLAIN").await.error_code, 0);
    let r = authenticate(&mut client, 2, b"\0admin\0admin-secret").await;
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 400));
    assert_eq!(metadata(&mut client).await.brokers.len(), 1);
    // Another mechanism than the session's: refused.
    assert_eq!(
        handshake(&mut client, "SCRAM-SHA-256").await.error_code,
        ResponseError::IllegalSaslState.code()
    );
    // As another user: refused, and the connection closes.
    let (mut client, _) = plain(&server, "admin", "admin-secret").await;
    assert_eq!(handshake(&mut client, "PLAIN").await.error_code, 0);
    let r = authenticate(&mut client, 2, b"\0bob\0bob-secret").await;
    assert_eq!(r.error_code, ResponseError::SaslAuthenticationFailed.code());
    client
        .send(ApiKey::Metadata, 12, 1, &MetadataRequest::default())
        .await;
    client.expect_closed().await;

    // Left to expire: the next request closes the connection...
    let (mut client, _) = plain(&server, "admin", "admin-secret").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    client
        .send(ApiKey::Metadata, 12, 1, &MetadataRequest::default())
        .await;
    client.expect_closed().await;
    // ...unless it is a re-authentication.
    let (mut client, _) = plain(&server, "admin", "admin-secret").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(handshake(&mut client, "PLAIN").await.error_code, 0);
    let r = authenticate(&mut client, 2, b"\0admin\0admin-secret").await;
    assert_eq!(r.error_code, 0);
    assert_eq!(metadata(&mut client).await.brokers.len(), 1);
    drop(client);
    server.stop().await;
}

/// Without `connections.max.reauth.ms` (Kafka's default) sessions do not expire, and a
/// second handshake on an authenticated connection is ILLEGAL_SASL_STATE.
#[tokio::test]
async fn without_a_reauthentication_limit_sessions_last() {
    let server = TestServer::start(config()).await;
    let (mut client, r) = plain(&server, "admin", "admin-secret").await;
    assert_eq!((r.error_code, r.session_lifetime_ms), (0, 0));
    assert_eq!(
        handshake(&mut client, "PLAIN").await.error_code,
        ResponseError::IllegalSaslState.code()
    );
    drop(client);
    server.stop().await;
}
