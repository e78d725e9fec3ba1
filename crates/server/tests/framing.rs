//! Framing, routing and connection handling over real TCP.

mod common;

use std::time::Duration;

use common::{bounded, TestServer};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use myelin_server::Config;

async fn api_versions_works(client: &mut common::Client, correlation_id: i32) {
    client
        .send(
            ApiKey::ApiVersions,
            2,
            correlation_id,
            &ApiVersionsRequest::default(),
        )
        .await;
    let (got, response): (i32, ApiVersionsResponse) = client.read(0, 2).await;
    assert_eq!((got, response.error_code), (correlation_id, 0));
}

/// The size prefix is refused on its own: the body is never waited for (nor allocated).
#[tokio::test]
async fn oversized_size_prefix_closes_without_reading_the_body() {
    let server = TestServer::start(Config::default()).await;
    for size in [i32::MAX, 100 * 1024 * 1024 + 1, -1, i32::MIN] {
        let mut client = server.connect().await;
        client.send_raw(&size.to_be_bytes()).await;
        client.expect_closed().await;
    }
    server.stop().await;

    // With a small limit, one byte over is enough; the limit itself is accepted.
    let config = Config {
        socket_request_max_bytes: 64,
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let mut client = server.connect().await;
    client.send_raw(&65i32.to_be_bytes()).await;
    client.expect_closed().await;
    let mut client = server.connect().await;
    api_versions_works(&mut client, 1).await;
    server.stop().await;
}

/// Garbage closes its own connection only: the server keeps serving the others, those
/// open before and those opened after.
#[tokio::test]
async fn garbage_closes_only_its_connection() {
    let server = TestServer::start(Config::default()).await;
    let mut bystander = server.connect().await;
    api_versions_works(&mut bystander, 1).await;

    let garbage: Vec<Vec<u8>> = vec![
        // An HTTP request: "GET " as a size is over 1 GiB.
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        // A frame too short for a request header.
        vec![0, 0, 0, 3, 1, 2, 3],
        // An empty frame.
        vec![0, 0, 0, 0],
        // An API key nobody knows.
        [
            &[0, 0, 0, 10][..],
            &[0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0xff, 0xff],
        ]
        .concat(),
        // A Kafka API this broker does not serve (Produce).
        [&[0, 0, 0, 10][..], &[0, 0, 0, 9, 0, 0, 0, 1, 0xff, 0xff]].concat(),
        // ApiVersions v0 with a client id longer than the frame.
        [&[0, 0, 0, 10][..], &[0, 18, 0, 0, 0, 0, 0, 1, 0x7f, 0xff]].concat(),
        // A well-sized frame of noise (its API key is negative).
        [
            &196i32.to_be_bytes()[..],
            &(4..200u32)
                .map(|i| (i * 37 % 251) as u8)
                .collect::<Vec<_>>(),
        ]
        .concat(),
    ];
    for bytes in garbage {
        let mut client = server.connect().await;
        client.send_raw(&bytes).await;
        client.expect_closed().await;
        api_versions_works(&mut bystander, 2).await;
    }
    let mut after = server.connect().await;
    api_versions_works(&mut after, 3).await;
    server.stop().await;
}

/// Requests written back to back are answered in order, each at its own version, with at
/// most two responses queued at a time.
#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let config = Config {
        max_in_flight_requests: 2,
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let mut client = server.connect().await;

    #[derive(Debug, Clone, Copy)]
    enum Sent {
        ApiVersions(i16),
        Unsupported,
        Metadata(i16),
    }
    let mut sent = Vec::new();
    let mut bytes = Vec::new();
    for i in 0..60i32 {
        let kind = match i % 3 {
            0 => Sent::ApiVersions((i % 5) as i16),
            1 => Sent::Metadata((i % 13) as i16),
            _ if i % 9 == 2 => Sent::Unsupported,
            _ => Sent::ApiVersions(4),
        };
        let frame = match kind {
            Sent::ApiVersions(v) => {
                // v3+ must name the client (KIP-511).
                let request = ApiVersionsRequest::default()
                    .with_client_software_name(StrBytes::from_static_str("pipeline"))
                    .with_client_software_version(StrBytes::from_static_str("1"));
                common::request_frame(ApiKey::ApiVersions, v, i, &request)
            }
            Sent::Metadata(v) => {
                let request = MetadataRequest::default().with_topics(None);
                // v0 has no null: an empty list means all topics.
                let request = if v == 0 {
                    request.with_topics(Some(Vec::new()))
                } else {
                    request
                };
                common::request_frame(ApiKey::Metadata, v, i, &request)
            }
            Sent::Unsupported => {
                let mut f = common::request_frame(
                    ApiKey::ApiVersions,
                    0,
                    i,
                    &ApiVersionsRequest::default(),
                )
                .to_vec();
                f[6..8].copy_from_slice(&42i16.to_be_bytes()); // version 42
                f.into()
            }
        };
        bytes.extend_from_slice(&frame);
        sent.push(kind);
    }
    client.send_raw(&bytes).await;

    for (i, kind) in sent.into_iter().enumerate() {
        let i = i as i32;
        match kind {
            Sent::ApiVersions(v) => {
                let (got, r): (i32, ApiVersionsResponse) = client.read(0, v).await;
                assert_eq!((got, r.error_code), (i, 0), "{kind:?}");
            }
            Sent::Unsupported => {
                let (got, r): (i32, ApiVersionsResponse) = client.read(0, 0).await;
                assert_eq!((got, r.error_code), (i, 35), "{kind:?}");
            }
            Sent::Metadata(v) => {
                let header = ApiKey::Metadata.response_header_version(v);
                let (got, r): (i32, MetadataResponse) = client.read(header, v).await;
                assert_eq!(got, i, "{kind:?}");
                assert_eq!(r.brokers.len(), 1);
            }
        }
    }
    server.stop().await;
}

/// Shutdown closes idle connections and `run` returns once they are gone.
#[tokio::test]
async fn shutdown_closes_connections_and_returns() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    api_versions_works(&mut client, 1).await;
    server.stop().await;
    client.expect_closed().await;
}

/// With `max_connections = 1` a second client is not served until the first leaves.
#[tokio::test]
async fn connections_beyond_the_limit_wait() {
    let config = Config {
        max_connections: 1,
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let mut first = server.connect().await;
    api_versions_works(&mut first, 1).await;

    // The second connection is in the backlog: its request stays unanswered.
    let mut second = server.connect().await;
    second
        .send(ApiKey::ApiVersions, 2, 2, &ApiVersionsRequest::default())
        .await;
    let mut byte = [0u8; 1];
    let waited =
        tokio::time::timeout(Duration::from_millis(200), second.stream.peek(&mut byte)).await;
    assert!(
        waited.is_err(),
        "a second connection was served beyond the limit"
    );

    drop(first);
    let (got, r): (i32, ApiVersionsResponse) = bounded(second.read(0, 2)).await;
    assert_eq!((got, r.error_code), (2, 0));
    server.stop().await;
}
