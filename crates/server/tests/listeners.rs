//! Several listeners on one server (`listeners=INTERNAL://...,EXTERNAL://...`): each
//! answers Metadata and FindCoordinator with its own advertised address, and each has its
//! own security: the PLAINTEXT one serves at once, the SASL one only after authentication.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::Client;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use myelin_cluster::{FileMetadataStore, PartitionManager};
use myelin_log::{LogConfig, LogManager, ManagerConfig};
use myelin_server::config::ListenerConfig;
use myelin_server::sasl::SaslConfig;
use myelin_server::{Config, ServerContext};
use tokio::net::{TcpListener, TcpStream};

async fn metadata_port(client: &mut Client) -> i32 {
    let r: MetadataResponse = client
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    assert_eq!(r.brokers.len(), 1);
    r.brokers[0].port
}

async fn coordinator_port(client: &mut Client) -> i32 {
    let r: FindCoordinatorResponse = client
        .call(
            ApiKey::FindCoordinator,
            3,
            &FindCoordinatorRequest::default()
                .with_key(StrBytes::from_static_str("g"))
                .with_key_type(0),
        )
        .await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r.port
}

#[tokio::test]
async fn each_listener_advertises_itself_and_has_its_own_security() {
    let dir = tempfile::tempdir().unwrap();
    let internal = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let external = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let internal_addr = internal.local_addr().unwrap();
    let external_addr = external.local_addr().unwrap();
    let config = Config {
        listener_name: Some("INTERNAL".into()),
        advertised_host: "127.0.0.1".into(),
        advertised_port: 19092,
        extra_listeners: vec![ListenerConfig {
            name: "EXTERNAL".into(),
            advertised_host: "broker.example".into(),
            advertised_port: 19094,
            sasl: Some(SaslConfig {
                plain_users: BTreeMap::from([("alice".to_string(), "alice-secret".to_string())]),
                failed_authentication_delay_ms: 10,
                ..SaslConfig::default()
            }),
            tls: None,
        }],
        ..Config::default()
    };
    // Two listeners of one name are refused.
    let mut twice = config.clone();
    twice.extra_listeners[0].name = "INTERNAL".into();
    assert!(twice.validate().is_err());

    let (store, _) = FileMetadataStore::open(dir.path()).unwrap();
    let metadata: Arc<dyn myelin_cluster::MetadataStore> = Arc::new(store);
    let (logs, _) = LogManager::open(
        ManagerConfig {
            background_threads: false,
            ..ManagerConfig::new(dir.path().join("logs"))
        },
        &|_| LogConfig::default(),
    )
    .unwrap();
    let partitions =
        Arc::new(PartitionManager::open(logs, metadata, LogConfig::default()).unwrap());
    let ctx = ServerContext::new(config, partitions).unwrap();
    let names: Vec<&str> = ctx.listeners.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["INTERNAL", "EXTERNAL"]);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(myelin_server::run_all(
        vec![internal, external],
        ctx,
        async {
            let _ = stopped.await;
        },
    ));

    // INTERNAL: plaintext, its own address.
    let mut plain = Client {
        stream: TcpStream::connect(internal_addr).await.unwrap(),
    };
    assert_eq!(metadata_port(&mut plain).await, 19092);
    assert_eq!(coordinator_port(&mut plain).await, 19092);

    // EXTERNAL: Metadata before authenticating closes the connection.
    let mut early = Client {
        stream: TcpStream::connect(external_addr).await.unwrap(),
    };
    early
        .send(
            ApiKey::Metadata,
            12,
            1,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    early.expect_closed().await;
    // After PLAIN, its own address.
    let mut sasl = Client {
        stream: TcpStream::connect(external_addr).await.unwrap(),
    };
    common::authz::plain_login(&mut sasl, "alice", "alice-secret").await;
    let r: MetadataResponse = sasl
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .await;
    assert_eq!(
        (r.brokers[0].host.as_str(), r.brokers[0].port),
        ("broker.example", 19094)
    );
    assert_eq!(coordinator_port(&mut sasl).await, 19094);

    drop((plain, early, sasl));
    let _ = stop.send(());
    common::bounded(task).await.unwrap();
}
