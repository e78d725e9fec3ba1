//! TLS listeners over real TCP: the handshake against a certificate made here, produce and
//! fetch through TLS (the fetch answer copied through the TLS stream rather than sent with
//! `sendfile`), SASL over TLS, and a plaintext client refused by a TLS listener.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use common::data::{batch, create_topic, fetch_request, produce_request, split_batches};
use common::TestServer;
use kafka_protocol::messages::{
    ApiKey, FetchResponse, MetadataRequest, MetadataResponse, ProduceResponse,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use myelin_log::compression::Compression;
use myelin_server::sasl::SaslConfig;
use myelin_server::tls::TlsConfig;
use myelin_server::Config;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A CA, and the broker's certificate for 127.0.0.1 signed by it.
struct Certs {
    ca: CertificateDer<'static>,
    ca_pem: String,
    /// The CA and its key, to sign more client certificates.
    ca_signer: (rcgen::Certificate, rcgen::KeyPair),
    /// A client certificate signed by the CA (CN=alice, OU=care), and its key, PEM.
    client: (String, String),
    tls: TlsConfig,
}

fn certs() -> Certs {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "myelin test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    // Kafka's PEM keystore: the key and the chain in one text.
    let keystore = format!("{}{}", key.serialize_pem(), cert.pem());
    let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params.distinguished_name = rcgen::DistinguishedName::new();
    client_params
        .distinguished_name
        .push(rcgen::DnType::OrganizationalUnitName, "care");
    client_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "alice");
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client_cert = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();
    Certs {
        ca: ca.der().clone(),
        ca_pem: ca.pem(),
        ca_signer: (ca, ca_key),
        client: (client_cert.pem(), client_key.serialize_pem()),
        tls: TlsConfig::from_keystore_pem(&keystore),
    }
}

struct TlsClient {
    stream: TlsStream<TcpStream>,
}

impl TlsClient {
    async fn connect(server: &TestServer, ca: &CertificateDer<'static>) -> TlsClient {
        Self::try_connect(server, ca, None).await.unwrap()
    }

    /// A TLS connection, presenting `identity` (certificate and key, PEM) if given. The
    /// handshake's outcome is known once the server has answered a first request (TLS 1.3
    /// sends the client's certificate after the client considers itself connected).
    async fn try_connect(
        server: &TestServer,
        ca: &CertificateDer<'static>,
        identity: Option<&(String, String)>,
    ) -> std::io::Result<TlsClient> {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                    rustls_pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let stream = common::bounded(connector.connect(name, tcp)).await?;
        Ok(TlsClient { stream })
    }

    /// Sends a Metadata request and reads the answer; an error when the server closed.
    async fn try_metadata(&mut self) -> std::io::Result<MetadataResponse> {
        let frame = common::request_frame(
            ApiKey::Metadata,
            12,
            7,
            &MetadataRequest::default().with_topics(None),
        );
        self.stream.write_all(&frame).await?;
        let size = self.stream.read_i32().await?;
        let mut bytes = vec![0; size as usize];
        self.stream.read_exact(&mut bytes).await?;
        let mut response = Bytes::from(bytes);
        Ok(common::decode_response(&mut response, 1, 12).1)
    }

    async fn call<R: Encodable, S: Decodable>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        body: &R,
    ) -> S {
        let frame = common::request_frame(api_key, version, 7, body);
        self.stream.write_all(&frame).await.unwrap();
        let mut response = common::bounded(async {
            let size = self.stream.read_i32().await.unwrap();
            let mut bytes = vec![0; size as usize];
            self.stream.read_exact(&mut bytes).await.unwrap();
            Bytes::from(bytes)
        })
        .await;
        let (correlation_id, body) = common::decode_response(
            &mut response,
            api_key.response_header_version(version),
            version,
        );
        assert_eq!(correlation_id, 7);
        body
    }
}

#[tokio::test]
async fn produce_and_fetch_through_tls() {
    let certs = certs();
    let config = Config {
        tls: Some(certs.tls.clone()),
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let topic_id = create_topic(&server, "secure", 1, &[]);
    let mut client = TlsClient::connect(&server, &certs.ca).await;
    let r: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    assert_eq!(r.topics.len(), 1);

    // Batches large enough that the fetch answer spans several copy chunks.
    let mut sent = Vec::new();
    for i in 0..4 {
        let records = batch(
            &format!("tls-{i}-{}", "x".repeat(40_000)),
            3,
            1_700_000_000_000,
            Compression::None,
        );
        let r: ProduceResponse = client
            .call(
                ApiKey::Produce,
                9,
                &produce_request("secure", 0, records.clone(), -1),
            )
            .await;
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, i * 3));
        sent.push(records);
    }
    let r: FetchResponse = client
        .call(
            ApiKey::Fetch,
            13,
            &fetch_request(13, "secure", topic_id, &[(0, 0)], 10 << 20),
        )
        .await;
    let records = r.responses[0].partitions[0].records.clone().unwrap();
    let batches = split_batches(&records);
    assert_eq!(batches.len(), 4);
    for (i, (header, bytes)) in batches.iter().enumerate() {
        assert_eq!(header.base_offset, i as i64 * 3);
        // The stored batch is the sent one, with its offset and leader epoch filled in.
        assert_eq!(bytes.len(), sent[i].len(), "batch {i}");
        assert!(
            bytes[16..] == sent[i][16..],
            "batch {i} differs after its header"
        );
    }

    // A plaintext client gets no Kafka answer from a TLS listener.
    let mut plain = server.connect().await;
    plain
        .send(ApiKey::Metadata, 12, 1, &MetadataRequest::default())
        .await;
    plain.expect_closed().await;
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn sasl_over_tls() {
    let certs = certs();
    let config = Config {
        tls: Some(certs.tls.clone()),
        sasl: Some(SaslConfig {
            plain_users: BTreeMap::from([("admin".to_string(), "admin-secret".to_string())]),
            failed_authentication_delay_ms: 10,
            ..SaslConfig::default()
        }),
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let mut client = TlsClient::connect(&server, &certs.ca).await;
    let r: SaslHandshakeResponse = client
        .call(
            ApiKey::SaslHandshake,
            1,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        )
        .await;
    assert_eq!(r.error_code, 0);
    let mut token = BytesMut::new();
    token.put_slice(b"\0admin\0admin-secret");
    let r: SaslAuthenticateResponse = client
        .call(
            ApiKey::SaslAuthenticate,
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(token.freeze()),
        )
        .await;
    assert_eq!(r.error_code, 0);
    let r: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    assert_eq!(r.brokers.len(), 1);
    drop(client);
    server.stop().await;
}

#[test]
fn a_keystore_without_a_key_or_a_certificate_is_refused() {
    let certs = certs();
    let only_chain = TlsConfig {
        certificate_chain_pem: certs.tls.certificate_chain_pem.clone(),
        private_key_pem: "no key here".into(),
        ..certs.tls.clone()
    };
    assert!(only_chain.acceptor().is_err());
    assert!(TlsConfig::from_keystore_pem("nothing").acceptor().is_err());
    assert!(certs.tls.acceptor().is_ok());
}

#[tokio::test]
async fn client_certificates_are_required_and_checked() {
    let certs = certs();
    let mut tls = certs.tls.clone();
    tls.client_auth = myelin_server::tls::ClientAuth::Required;
    tls.truststore_pem = Some(certs.ca_pem.clone());
    let server = TestServer::start(Config {
        tls: Some(tls),
        ..Config::default()
    })
    .await;

    // With the CA's client certificate: served.
    let mut client = TlsClient::try_connect(&server, &certs.ca, Some(&certs.client))
        .await
        .unwrap();
    assert_eq!(client.try_metadata().await.unwrap().brokers.len(), 1);

    // Without one: the handshake fails, so no answer comes.
    let refused = match TlsClient::try_connect(&server, &certs.ca, None).await {
        Err(_) => true,
        Ok(mut c) => c.try_metadata().await.is_err(),
    };
    assert!(refused, "a client without a certificate was served");

    // A certificate of another CA: refused as well.
    let other = certs_of_another_ca();
    let refused = match TlsClient::try_connect(&server, &certs.ca, Some(&other)).await {
        Err(_) => true,
        Ok(mut c) => c.try_metadata().await.is_err(),
    };
    assert!(refused, "a certificate of an unknown CA was accepted");
    drop(client);
    server.stop().await;
}

/// A client certificate and key signed by a CA the broker does not trust.
fn certs_of_another_ca() -> (String, String) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// `ssl.principal.mapping.rules` names the certificate's principal, and the authorizer
/// decides by that name: alice's certificate (CN=alice,OU=care) becomes `User:alice`, whose
/// ACL lets her see one topic; a certificate no rule maps is refused.
#[tokio::test]
async fn mapped_certificate_principals_are_authorized_by_acls() {
    use myelin_server::authz::{AuthorizerConfig, Operation, ResourceType};
    let certs = certs();
    let mut tls = certs.tls.clone();
    tls.client_auth = myelin_server::tls::ClientAuth::Required;
    tls.truststore_pem = Some(certs.ca_pem.clone());
    tls.principal_mapping_rules = "RULE:^CN=([^,]*),OU=care$/$1/L".to_string();
    let server = TestServer::start(Config {
        tls: Some(tls),
        authorizer: Some(AuthorizerConfig::default()),
        ..Config::default()
    })
    .await;
    for name in ["seen", "hidden"] {
        server
            .metadata
            .commit(myelin_cluster::MetadataRecord::TopicCreated {
                name: name.to_string(),
                topic_id: myelin_cluster::TopicId::random(),
                partitions: 1,
                configs: Default::default(),
            })
            .unwrap();
    }
    common::authz::grant(
        &server,
        vec![common::authz::allow(
            ResourceType::Topic,
            "seen",
            "alice",
            Operation::Describe,
        )],
    );
    let mut client = TlsClient::try_connect(&server, &certs.ca, Some(&certs.client))
        .await
        .unwrap();
    let topics: Vec<String> = client
        .try_metadata()
        .await
        .unwrap()
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    assert_eq!(topics, vec!["seen".to_string()]);

    // A certificate the rule does not map (no OU=care): the connection is refused.
    let other = {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mallory");
        let (ca, ca_key) = &certs.ca_signer;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, ca, ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let refused = match TlsClient::try_connect(&server, &certs.ca, Some(&other)).await {
        Err(_) => true,
        Ok(mut c) => c.try_metadata().await.is_err(),
    };
    assert!(refused, "a certificate no rule maps was served");
    drop(client);
    server.stop().await;
}
