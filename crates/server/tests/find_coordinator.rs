//! FindCoordinator over real TCP: every version answers COORDINATOR_NOT_AVAILABLE until the
//! coordinators exist, in the layout of the version asked.

mod common;

use common::TestServer;
use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_server::Config;

const COORDINATOR_NOT_AVAILABLE: i16 = 15;

#[tokio::test]
async fn every_version_says_the_coordinator_is_not_available() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    for version in 0..=3i16 {
        let mut request =
            FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g"));
        if version >= 1 {
            request.key_type = 0;
        }
        let r: FindCoordinatorResponse = client
            .call(ApiKey::FindCoordinator, version, &request)
            .await;
        assert_eq!(r.error_code, COORDINATOR_NOT_AVAILABLE, "v{version}");
        assert_eq!((r.node_id.0, r.port), (-1, -1), "v{version}");
    }
    let request = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![
            StrBytes::from_static_str("a"),
            StrBytes::from_static_str("b"),
        ]);
    let r: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, 4, &request).await;
    let keys: Vec<(&str, i16)> = r
        .coordinators
        .iter()
        .map(|c| (c.key.as_str(), c.error_code))
        .collect();
    assert_eq!(
        keys,
        [
            ("a", COORDINATOR_NOT_AVAILABLE),
            ("b", COORDINATOR_NOT_AVAILABLE)
        ]
    );
    server.stop().await;
}
