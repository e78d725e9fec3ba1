//! `myelin::Broker` in-process: the HTTP endpoint, metrics, identity, graceful shutdown.

mod common;

use common::{bounded, broker, http_get, start};
use myelin::client::data::Acks;
use myelin::client::records::{encode_batch, NewRecord};
use myelin::client::{ClientConfig, Connection};
use myelin::{Broker, BrokerError};
use myelin_log::compression::Compression;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_answer() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path()).await;
    let http = b.http_addr().expect("an HTTP listener was asked for");
    assert_ne!(
        b.kafka_addr().port(),
        0,
        "port 0 resolves to the bound port"
    );

    assert_eq!(http_get(http, "/healthz").await.0, 200);
    assert_eq!(http_get(http, "/readyz").await.0, 200);
    assert_eq!(http_get(http, "/nothing").await.0, 404);

    // Connecting sends ApiVersions; Metadata follows.
    let mut c = bounded(Connection::connect(
        &b.kafka_addr().to_string(),
        ClientConfig::default(),
    ))
    .await
    .unwrap();
    let md = bounded(c.metadata(None, false)).await.unwrap();
    assert_eq!(md.cluster_id.as_deref(), Some(b.cluster_id()));
    assert_eq!(md.brokers.len(), 1);
    assert_eq!(md.brokers[0].port, i32::from(b.kafka_addr().port()));

    let (status, text) = http_get(http, "/metrics").await;
    assert_eq!(status, 200);
    for expected in [
        "myelin_kafka_requests_total{api=\"ApiVersions\"} 1",
        "myelin_kafka_requests_total{api=\"Metadata\"} 1",
        "myelin_kafka_request_duration_seconds_bucket{api=\"ApiVersions\"",
        "myelin_kafka_connections 1",
        "myelin_kafka_connections_accepted_total 1",
        "myelin_build_info{version=\"",
        "myelin_partitions 0",
        "myelin_partitions_offline 0",
        "myelin_log_dir_available_bytes ",
        "myelin_log_dir_reserved_bytes ",
    ] {
        assert!(
            text.contains(expected),
            "/metrics lacks {expected}:\n{text}"
        );
    }
    let received = metric(&text, "myelin_kafka_received_bytes_total");
    let sent = metric(&text, "myelin_kafka_sent_bytes_total");
    assert!(
        received > 0.0 && sent > received,
        "{received} in, {sent} out"
    );
    assert_eq!(
        metric(&text, "myelin_log_flush_duration_seconds_count"),
        0.0
    );

    // A durable produce (the default) is answered after its group-commit flush, which the
    // flush counters and the flush-time histogram show.
    bounded(c.create_topic("flushed", 1, 1, &[], false))
        .await
        .unwrap();
    let batch = encode_batch(
        &[NewRecord {
            value: Some(b"durable".to_vec()),
            ..NewRecord::default()
        }],
        Compression::None,
    )
    .unwrap();
    bounded(c.produce("flushed", 0, batch, Acks::All))
        .await
        .unwrap();
    let (_, text) = http_get(http, "/metrics").await;
    assert!(metric(&text, "myelin_log_flushes_total") >= 1.0, "{text}");
    assert!(
        metric(&text, "myelin_log_flush_duration_seconds_count") >= 1.0,
        "{text}"
    );
    assert!(
        text.contains("myelin_log_flush_duration_seconds_bucket{le=\"0.00005\"}"),
        "{text}"
    );

    drop(c);
    bounded(b.shutdown()).await.unwrap();
}

/// The value of an unlabelled metric in Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_leaves_a_clean_directory_and_the_same_identity() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path()).await;
    assert!(
        !first.startup_report().clean_shutdown,
        "a new directory has no marker"
    );
    let cluster_id = first.cluster_id().to_string();
    assert_eq!(cluster_id.len(), 22, "a Kafka-style id");

    // A second broker on the same directory is refused before it touches anything.
    let err = bounded(broker(dir.path()).start()).await.unwrap_err();
    assert!(
        matches!(
            err,
            BrokerError::DataDir(myelin::meta::MetaError::Locked(_))
        ),
        "{err}"
    );

    bounded(first.shutdown()).await.unwrap();
    assert!(dir.path().join(".kafka_cleanshutdown").exists());
    let meta = std::fs::read_to_string(dir.path().join("meta.properties")).unwrap();
    assert!(meta.contains(&format!("cluster.id={cluster_id}")), "{meta}");
    assert!(meta.contains("node.id=0"), "{meta}");

    let second = start(dir.path()).await;
    assert!(second.startup_report().clean_shutdown);
    assert_eq!(second.cluster_id(), cluster_id);
    assert!(
        !dir.path().join(".kafka_cleanshutdown").exists(),
        "the marker is removed while the broker runs"
    );
    bounded(second.shutdown()).await.unwrap();

    // Another node id on the same data is refused.
    let err = bounded(broker(dir.path()).node_id(5).start())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("node.id"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_fail_the_start_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("listeners", "KERBEROS://127.0.0.1:0"),
        ("ssl.keystore.location", "/no/such/keystore.pem"),
        ("ssl.keystore.type", "JCEKS"),
        // A Kafka server.properties' KRaft configs are taken only as one combined node.
        ("process.roles", "controller"),
        ("controller.listener.names", "PLAINTEXT"),
        ("num.io.threads", "many"),
        ("controlled.shutdown.enable", "maybe"),
        ("sasl.enabled.mechanisms", "GSSAPI"),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            "not a JAAS config",
        ),
        ("log.segment.bytes", "tiny"),
        ("num.partitions", "0"),
        ("node.id", "-3"),
        ("no.such.config", "1"),
    ] {
        let err = bounded(broker(dir.path()).config(name, value).start())
            .await
            .unwrap_err();
        assert!(err.to_string().contains(name), "{name}={value}: {err}");
    }
    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = bounded(
        Broker::new(dir.path())
            .listen(taken.local_addr().unwrap().to_string())
            .start(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, BrokerError::Bind { .. }), "{err}");
    // The failed starts released the directory.
    bounded(start(dir.path()).await.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_withdrawn_at_shutdown_and_no_http_when_not_asked() {
    let dir = tempfile::tempdir().unwrap();
    let b = bounded(Broker::new(dir.path()).listen("127.0.0.1:0").start())
        .await
        .unwrap();
    assert!(b.http_addr().is_none());
    let kafka = b.kafka_addr();
    bounded(b.shutdown()).await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(kafka).await.is_err(),
        "the listener is closed after shutdown"
    );
}

/// A request frame built by hand: header v1 (key, version, correlation id, client id
/// "t"), then `body`.
fn raw_request(api_key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&api_key.to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&1i32.to_be_bytes());
    frame.extend_from_slice(&1i16.to_be_bytes());
    frame.push(b't');
    frame.extend_from_slice(body);
    let mut sized = (frame.len() as i32).to_be_bytes().to_vec();
    sized.extend(frame);
    sized
}

/// SASL/PLAIN over a raw connection: SaslHandshake v1, then SaslAuthenticate v0 with the
/// token; the SaslAuthenticate error code.
async fn plain_login(addr: std::net::SocketAddr, user: &str, password: &str) -> i16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    bounded(async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut handshake = 5i16.to_be_bytes().to_vec();
        handshake.extend_from_slice(b"PLAIN");
        s.write_all(&raw_request(17, 1, &handshake)).await.unwrap();
        let size = s.read_i32().await.unwrap();
        let mut answer = vec![0; size as usize];
        s.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer[4..6], &[0, 0], "SaslHandshake error code");
        let token = format!("\0{user}\0{password}");
        let mut auth = (token.len() as i32).to_be_bytes().to_vec();
        auth.extend_from_slice(token.as_bytes());
        s.write_all(&raw_request(36, 0, &auth)).await.unwrap();
        let size = s.read_i32().await.unwrap();
        let mut answer = vec![0; size as usize];
        s.read_exact(&mut answer).await.unwrap();
        i16::from_be_bytes([answer[4], answer[5]])
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_authentications_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let b = bounded(
        Broker::new(dir.path())
            .listen("SASL_PLAINTEXT://127.0.0.1:0")
            .http_listen("127.0.0.1:0")
            .config(
                "listener.name.sasl_plaintext.plain.sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required \
                 user_admin=\"admin-secret\";",
            )
            .config("connection.failed.authentication.delay.ms", "0")
            .start(),
    )
    .await
    .expect("the broker starts");
    assert_eq!(
        plain_login(b.kafka_addr(), "admin", "admin-secret").await,
        0
    );
    assert_eq!(plain_login(b.kafka_addr(), "admin", "wrong").await, 58);
    let (_, text) = http_get(b.http_addr().unwrap(), "/metrics").await;
    for expected in [
        "myelin_kafka_authentications_total{mechanism=\"PLAIN\",outcome=\"success\"} 1",
        "myelin_kafka_authentications_total{mechanism=\"PLAIN\",outcome=\"failure\"} 1",
    ] {
        assert!(
            text.contains(expected),
            "/metrics lacks {expected}:\n{text}"
        );
    }
    bounded(b.shutdown()).await.unwrap();
}
