//! ApiVersions over real TCP, decoded with kafka-protocol as a client would.

mod common;

use common::{Client, TestServer};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_server::apis::APIS;
use myelin_server::Config;

fn request(version: i16) -> ApiVersionsRequest {
    let mut r = ApiVersionsRequest::default();
    // v3+ (KIP-511): the client's software name and version.
    if version >= 3 {
        r = r
            .with_client_software_name(StrBytes::from_static_str("myelin-tests"))
            .with_client_software_version(StrBytes::from_static_str("0.1.0"));
    }
    r
}

/// (key, min, max) triples, sorted.
fn triples(r: &ApiVersionsResponse) -> Vec<(i16, i16, i16)> {
    r.api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect()
}

/// The advertised ranges (Produce is advertised from v0, served from v3).
fn table() -> Vec<(i16, i16, i16)> {
    APIS.iter()
        .map(|e| (e.key as i16, e.advertised_min_version, e.max_version))
        .collect()
}

#[tokio::test]
async fn v0_to_v4_round_trip() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    for version in 0..=4i16 {
        let correlation_id = 100 + i32::from(version);
        client
            .send(
                ApiKey::ApiVersions,
                version,
                correlation_id,
                &request(version),
            )
            .await;
        let frame = client.read_frame().await;
        // The response header is v0 at every version (KIP-511): decoding the body right
        // after the 4-byte correlation id must consume the frame exactly.
        let (got, response): (i32, ApiVersionsResponse) =
            common::decode_response(&mut frame.clone(), 0, version);
        assert_eq!(got, correlation_id);
        assert_eq!(response.error_code, 0, "v{version}");
        assert_eq!(response.throttle_time_ms, 0);
        assert_eq!(triples(&response), table(), "v{version}");
        assert!(triples(&response).contains(&(18, 0, 4)));
        assert!(triples(&response).contains(&(3, 0, 12)));
        if version >= 3 {
            // No tagged fields at all: features are not advertised, and Kafka writes a
            // tagged field only when it differs from its default (librdkafka < 2.2
            // misparses unknown ones).
            assert!(response.supported_features.is_empty());
            assert_eq!(response.finalized_features_epoch, -1);
            assert!(response.unknown_tagged_fields.is_empty());
            assert_eq!(*frame.last().unwrap(), 0, "the body's tagged-field count");
        }
    }
    server.stop().await;
}

/// KIP-511: a version the broker does not know gets UNSUPPORTED_VERSION and the supported
/// ApiVersions range, in a v0 body with a v0 header; the connection stays open.
#[tokio::test]
async fn unknown_version_gets_error_35_in_a_v0_body() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    for (i, version) in [5i16, 127, i16::MAX, -1].into_iter().enumerate() {
        let correlation_id = 7 + i as i32;
        // A newer client would send a flexible (v2) header and a body we cannot parse.
        let mut frame = Vec::new();
        frame.extend_from_slice(&18i16.to_be_bytes());
        frame.extend_from_slice(&version.to_be_bytes());
        frame.extend_from_slice(&correlation_id.to_be_bytes());
        frame.extend_from_slice(&[0, 3, b'c', b'l', b'i', 0]); // client id, no tags
        frame.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x42]); // unknown body
        let mut sized = (frame.len() as i32).to_be_bytes().to_vec();
        sized.extend_from_slice(&frame);
        client.send_raw(&sized).await;

        let (got, response): (i32, ApiVersionsResponse) = client.read(0, 0).await;
        assert_eq!(got, correlation_id);
        assert_eq!(response.error_code, 35, "v{version}");
        assert_eq!(triples(&response), vec![(18, 0, 4)]);
    }
    // The client retries with a version we know, on the same connection.
    client.send(ApiKey::ApiVersions, 4, 99, &request(4)).await;
    let (got, response): (i32, ApiVersionsResponse) = client.read(0, 4).await;
    assert_eq!((got, response.error_code), (99, 0));
    server.stop().await;
}

#[tokio::test]
async fn invalid_client_software_name_gets_invalid_request() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    let bad = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("bad name!"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    client.send(ApiKey::ApiVersions, 3, 1, &bad).await;
    let (_, response): (i32, ApiVersionsResponse) = client.read(0, 3).await;
    assert_eq!(response.error_code, 42);
    assert!(response.api_keys.is_empty());
    // Below v3 the fields do not exist, so nothing is checked.
    client.send(ApiKey::ApiVersions, 2, 2, &request(2)).await;
    let (_, response): (i32, ApiVersionsResponse) = client.read(0, 2).await;
    assert_eq!(response.error_code, 0);
    server.stop().await;
}

/// A truncated body at a supported version is a malformed request: the connection closes.
#[tokio::test]
async fn truncated_body_closes_the_connection() {
    let server = TestServer::start(Config::default()).await;
    let mut client: Client = server.connect().await;
    let frame = common::request_frame(ApiKey::ApiVersions, 3, 1, &request(3));
    // Drop the last 3 bytes of the body and fix the size.
    let mut cut = frame[..frame.len() - 3].to_vec();
    let size = (cut.len() - 4) as i32;
    cut[..4].copy_from_slice(&size.to_be_bytes());
    client.send_raw(&cut).await;
    client.expect_closed().await;
    server.stop().await;
}
