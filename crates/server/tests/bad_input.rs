//! Hostile and broken clients over raw sockets: each gets a logged close (or the Kafka
//! error), and the broker keeps serving everyone else.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::{request_frame, TestServer};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
};
use myelin_server::Config;
use tokio::io::AsyncWriteExt;

/// A well-behaved client is still answered.
async fn still_serving(server: &TestServer) {
    let mut client = server.connect().await;
    let r: ApiVersionsResponse = client
        .call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default())
        .await;
    assert_eq!(r.error_code, 0);
}

#[tokio::test]
async fn unknown_api_key_closes_only_that_connection() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    // api key 9999, version 0, correlation id 1, client id null
    let mut frame = vec![0, 0, 0, 10];
    frame.extend_from_slice(&[0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    client.send_raw(&frame).await;
    client.expect_closed().await;
    still_serving(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn truncated_frames_and_mid_request_disconnects_harm_no_one() {
    let server = TestServer::start(Config::default()).await;
    for cut in [1usize, 3, 4, 6, 12, 20] {
        let mut client = server.connect().await;
        let frame = request_frame(ApiKey::Metadata, 4, 1, &MetadataRequest::default());
        let cut = cut.min(frame.len() - 1);
        client.send_raw(&frame[..cut]).await;
        drop(client); // disconnect mid-request
    }
    // A frame whose body is shorter than its header claims to be: a malformed header.
    let mut client = server.connect().await;
    client.send_raw(&[0, 0, 0, 3, 0, 3, 0]).await;
    client.expect_closed().await;
    still_serving(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn tagged_fields_the_schema_does_not_know_are_tolerated() {
    // franz-go sends tagged fields below their tagged versions; Kafka skips unknown tags.
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    let frame = request_frame(
        ApiKey::Metadata,
        9,
        5,
        &MetadataRequest::default().with_topics(None),
    );
    let mut raw = BytesMut::from(&frame[..]);
    // The body ends with its tagged-field count (0): replace it with one unknown tag.
    assert_eq!(raw[raw.len() - 1], 0);
    raw.truncate(raw.len() - 1);
    raw.extend_from_slice(&[1, 7, 2, 0xab, 0xcd]); // 1 field: tag 7, 2 bytes
    let size = (raw.len() - 4) as i32;
    raw[..4].copy_from_slice(&size.to_be_bytes());
    client.send_raw(&raw).await;
    let (correlation_id, r): (i32, MetadataResponse) = client
        .read(ApiKey::Metadata.response_header_version(9), 9)
        .await;
    assert_eq!(correlation_id, 5);
    assert_eq!(r.brokers.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_not_buffered_without_bound() {
    let server = TestServer::start(Config::default()).await;
    let mut greedy = server.connect().await;
    let frame = request_frame(
        ApiKey::Metadata,
        4,
        1,
        &MetadataRequest::default().with_topics(None),
    );
    // Pipeline requests and never read a response. With a bounded number in flight the
    // server stops reading, the socket buffers fill, and our writes stall: the server does
    // not queue an unbounded number of responses in memory.
    let mut sent = 0usize;
    let stalled = loop {
        match tokio::time::timeout(Duration::from_secs(2), greedy.stream.write_all(&frame)).await {
            Ok(Ok(())) => sent += 1,
            Ok(Err(e)) => panic!("write failed after {sent} requests: {e}"),
            Err(_) => break true,
        }
        if sent > 2_000_000 {
            break false;
        }
    };
    assert!(
        stalled,
        "the server read {sent} requests without anyone reading a response"
    );
    still_serving(&server).await;
    drop(greedy);
    still_serving(&server).await;
    server.stop().await;
}
