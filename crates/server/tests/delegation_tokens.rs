//! Delegation tokens (KIP-48, KIP-373) over real TCP: created, described, renewed and
//! expired through the four APIs, used to log in with SCRAM's `tokenauth=true`, kept across
//! a restart, and refused where Kafka refuses them.

mod common;

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::authz::{allow, connect_as, grant};
use common::{Client, TestServer};
use kafka_protocol::messages::create_delegation_token_request::CreatableRenewers;
use kafka_protocol::messages::describe_delegation_token_request::DescribeDelegationTokenOwner;
use kafka_protocol::messages::{
    ApiKey, CreateDelegationTokenRequest, CreateDelegationTokenResponse,
    DescribeDelegationTokenRequest, DescribeDelegationTokenResponse, ExpireDelegationTokenRequest,
    ExpireDelegationTokenResponse, MetadataRequest, MetadataResponse, RenewDelegationTokenRequest,
    RenewDelegationTokenResponse, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_server::authz::{Operation, ResourceType};
use myelin_server::sasl::scram::ScramClient;
use myelin_server::sasl::Mechanism;
use myelin_server::Config;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn config(secret: Option<&str>) -> Config {
    let mut config = common::authz::config();
    let mut broker = BTreeMap::new();
    if let Some(secret) = secret {
        broker.insert(
            "delegation.token.secret.key".to_string(),
            secret.to_string(),
        );
    }
    config.broker_configs = broker;
    config
}

async fn create(
    client: &mut Client,
    version: i16,
    owner: Option<&str>,
    renewers: &[&str],
) -> CreateDelegationTokenResponse {
    let mut request = CreateDelegationTokenRequest::default()
        .with_renewers(
            renewers
                .iter()
                .map(|r| {
                    CreatableRenewers::default()
                        .with_principal_type(s("User"))
                        .with_principal_name(s(r))
                })
                .collect(),
        )
        .with_max_lifetime_ms(-1);
    if let Some(owner) = owner {
        request.owner_principal_type = Some(s("User"));
        request.owner_principal_name = Some(s(owner));
    }
    client
        .call(ApiKey::CreateDelegationToken, version, &request)
        .await
}

async fn describe(client: &mut Client, owners: Option<&[&str]>) -> DescribeDelegationTokenResponse {
    let request = DescribeDelegationTokenRequest::default().with_owners(owners.map(|o| {
        o.iter()
            .map(|n| {
                DescribeDelegationTokenOwner::default()
                    .with_principal_type(s("User"))
                    .with_principal_name(s(n))
            })
            .collect()
    }));
    client
        .call(ApiKey::DescribeDelegationToken, 3, &request)
        .await
}

async fn renew(client: &mut Client, hmac: &[u8], period: i64) -> RenewDelegationTokenResponse {
    let request = RenewDelegationTokenRequest::default()
        .with_hmac(hmac.to_vec().into())
        .with_renew_period_ms(period);
    client.call(ApiKey::RenewDelegationToken, 2, &request).await
}

async fn expire(client: &mut Client, hmac: &[u8], period: i64) -> ExpireDelegationTokenResponse {
    let request = ExpireDelegationTokenRequest::default()
        .with_hmac(hmac.to_vec().into())
        .with_expiry_time_period_ms(period);
    client
        .call(ApiKey::ExpireDelegationToken, 2, &request)
        .await
}

/// Logs in on a new connection with the token (SCRAM-SHA-512, `tokenauth=true`): the
/// connection, or the error code of the failed exchange.
async fn token_login(server: &TestServer, token_id: &str, hmac: &[u8]) -> Result<Client, i16> {
    token_session(server, token_id, hmac).await.map(|(c, _)| c)
}

/// [`token_login`], with the session lifetime the broker gave (KIP-368).
async fn token_session(
    server: &TestServer,
    token_id: &str,
    hmac: &[u8],
) -> Result<(Client, i64), i16> {
    let mut client = server.connect().await;
    let m = Mechanism::ScramSha512;
    let r: SaslHandshakeResponse = client
        .call(
            ApiKey::SaslHandshake,
            1,
            &SaslHandshakeRequest::default().with_mechanism(s(m.name())),
        )
        .await;
    assert_eq!(r.error_code, 0);
    let mut scram = ScramClient::for_token(m, token_id, &BASE64.encode(hmac));
    let r: SaslAuthenticateResponse = client
        .call(
            ApiKey::SaslAuthenticate,
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(scram.first_message().into()),
        )
        .await;
    if r.error_code != 0 {
        return Err(r.error_code);
    }
    let last = scram.final_message(&r.auth_bytes).unwrap();
    let r: SaslAuthenticateResponse = client
        .call(
            ApiKey::SaslAuthenticate,
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(last.into()),
        )
        .await;
    if r.error_code != 0 {
        return Err(r.error_code);
    }
    scram.verify_server_final(&r.auth_bytes).unwrap();
    Ok((client, r.session_lifetime_ms))
}

#[tokio::test]
async fn tokens_are_refused_without_a_secret_key() {
    let server = TestServer::start(config(None)).await;
    let mut alice = connect_as(&server, "alice").await;
    let r = create(&mut alice, 3, None, &[]).await;
    assert_eq!(
        r.error_code,
        ResponseError::DelegationTokenAuthDisabled.code()
    );
    let r = describe(&mut alice, None).await;
    assert_eq!(
        r.error_code,
        ResponseError::DelegationTokenAuthDisabled.code()
    );
    assert_eq!(
        renew(&mut alice, b"x", -1).await.error_code,
        ResponseError::DelegationTokenAuthDisabled.code()
    );
    drop(alice);
    server.stop().await;
}

#[tokio::test]
async fn tokens_are_created_used_renewed_expired_and_kept() {
    let server = TestServer::start(config(Some("a-long-secret"))).await;
    let mut alice = connect_as(&server, "alice").await;
    let r = create(&mut alice, 3, None, &["bob"]).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        (r.principal_type.as_str(), r.principal_name.as_str()),
        ("User", "alice")
    );
    assert_eq!(r.token_requester_principal_name.as_str(), "alice");
    assert_eq!(r.hmac.len(), 64, "HmacSHA512");
    assert_eq!(r.expiry_timestamp_ms - r.issue_timestamp_ms, 86_400_000);
    assert_eq!(r.max_timestamp_ms - r.issue_timestamp_ms, 604_800_000);
    let token_id = r.token_id.to_string();
    let hmac = r.hmac.to_vec();

    // The token logs in as alice; such a connection may not manage tokens.
    let mut job = token_login(&server, &token_id, &hmac).await.unwrap();
    let m: MetadataResponse = job
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(Some(vec![])),
        )
        .await;
    assert!(m.brokers.len() == 1);
    assert_eq!(
        create(&mut job, 3, None, &[]).await.error_code,
        ResponseError::DelegationTokenRequestNotAllowed.code()
    );
    // A wrong HMAC, or an unknown token id, does not log in.
    assert!(token_login(&server, &token_id, b"not the hmac")
        .await
        .is_err());
    assert!(token_login(&server, "no-such-token", &hmac).await.is_err());

    // Described to its owner, requester and renewers, and to DESCRIBE on the token.
    let r = describe(&mut alice, None).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.tokens.len(), 1);
    let t = &r.tokens[0];
    assert_eq!(
        (t.token_id.as_str(), t.hmac.to_vec()),
        (token_id.as_str(), hmac.clone())
    );
    assert_eq!(t.renewers[0].principal_name.as_str(), "bob");
    let mut bob = connect_as(&server, "bob").await;
    assert_eq!(describe(&mut bob, None).await.tokens.len(), 1);
    let mut carol = connect_as(&server, "carol").await;
    assert_eq!(describe(&mut carol, None).await.tokens.len(), 0);
    grant(
        &server,
        vec![allow(
            ResourceType::DelegationToken,
            &token_id,
            "carol",
            Operation::Describe,
        )],
    );
    assert_eq!(describe(&mut carol, None).await.tokens.len(), 1);
    assert_eq!(describe(&mut carol, Some(&["bob"])).await.tokens.len(), 0);

    // Renewed by a renewer, not by another; an unknown HMAC is not found.
    let r = renew(&mut bob, &hmac, 3_600_000).await;
    assert_eq!(r.error_code, 0);
    let renewed = r.expiry_timestamp_ms;
    assert!(renewed > 0);
    assert_eq!(
        renew(&mut carol, &hmac, 1000).await.error_code,
        ResponseError::DelegationTokenOwnerMismatch.code()
    );
    assert_eq!(
        renew(&mut alice, b"nope", 1000).await.error_code,
        ResponseError::DelegationTokenNotFound.code()
    );

    // Another owner (v3): only with CREATE_TOKENS on that user.
    assert_eq!(
        create(&mut alice, 3, Some("bob"), &[]).await.error_code,
        ResponseError::DelegationTokenAuthorizationFailed.code()
    );
    let mut admin = connect_as(&server, "admin").await;
    let r = create(&mut admin, 3, Some("bob"), &[]).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(
        (
            r.principal_name.as_str(),
            r.token_requester_principal_name.as_str()
        ),
        ("bob", "admin")
    );
    let bobs_hmac = r.hmac.to_vec();
    assert_eq!(describe(&mut admin, Some(&["bob"])).await.tokens.len(), 1);
    assert_eq!(describe(&mut admin, None).await.tokens.len(), 2);
    // The requester described it as its requester (v3), and bob owns it.
    assert_eq!(describe(&mut bob, Some(&["bob"])).await.tokens.len(), 1);

    // Kept across a restart (the HMAC is recomputed from the secret).
    drop((alice, bob, carol, admin, job));
    let server = server.restart(config(Some("a-long-secret"))).await;
    let mut alice = connect_as(&server, "alice").await;
    let r = describe(&mut alice, Some(&["alice"])).await;
    assert_eq!(r.tokens.len(), 1);
    assert_eq!(r.tokens[0].expiry_timestamp, renewed);
    let job = token_login(&server, &token_id, &hmac).await.unwrap();
    drop(job);

    // Expired at once: gone, and it no longer logs in.
    let r = expire(&mut alice, &hmac, -1).await;
    assert_eq!(r.error_code, 0);
    assert!(describe(&mut alice, Some(&["alice"]))
        .await
        .tokens
        .is_empty());
    assert!(token_login(&server, &token_id, &hmac).await.is_err());
    assert_eq!(
        expire(&mut alice, &hmac, -1).await.error_code,
        ResponseError::DelegationTokenNotFound.code()
    );
    // bob's token was not alice's to expire.
    assert_eq!(
        expire(&mut alice, &bobs_hmac, -1).await.error_code,
        ResponseError::DelegationTokenOwnerMismatch.code()
    );
    drop(alice);
    server.stop().await;
}

/// With `connections.max.reauth.ms`, a connection authenticated with a token must
/// re-authenticate by the token's expiry (KIP-368), not later.
#[tokio::test]
async fn a_token_session_ends_with_the_token() {
    let mut config = config(Some("secret"));
    config
        .broker_configs
        .insert("delegation.token.expiry.time.ms".into(), "5000".into());
    if let Some(sasl) = config.sasl.as_mut() {
        sasl.max_reauth_ms = 3_600_000;
    }
    let server = TestServer::start(config).await;
    let mut alice = connect_as(&server, "alice").await;
    let r = create(&mut alice, 3, None, &[]).await;
    assert_eq!(r.error_code, 0);
    let (job, lifetime) = token_session(&server, &r.token_id, &r.hmac).await.unwrap();
    assert!(
        (1..=5000).contains(&lifetime),
        "session lifetime {lifetime} ms"
    );
    drop((alice, job));
    server.stop().await;
}
