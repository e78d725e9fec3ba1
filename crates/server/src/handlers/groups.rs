//! What the group handlers share: conversions between the wire and the coordinator.

use kafka_protocol::protocol::StrBytes;

use crate::context::RequestContext;

/// The client's host as Kafka reports it in DescribeGroups (`InetAddress.toString()`:
/// a slash, then the address).
pub fn client_host(ctx: &RequestContext) -> String {
    format!("/{}", ctx.peer.ip())
}

/// An owned string as a wire string.
pub fn str_of(s: String) -> StrBytes {
    StrBytes::from_string(s)
}

/// A wire string as an optional owned string.
pub fn opt_string(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

/// The cluster's topics as the KIP-848 coordinator sees them: names, ids and partition
/// counts from the committed metadata.
#[derive(Debug)]
pub struct ClusterTopics(pub std::sync::Arc<myelin_cluster::MetadataState>);

impl myelin_coord::consumer::TopicMetadata for ClusterTopics {
    fn topic(&self, name: &str) -> Option<myelin_coord::consumer::TopicInfo> {
        let t = self.0.topic_by_name(name)?;
        Some(myelin_coord::consumer::TopicInfo {
            id: myelin_coord::consumer::TopicId(*t.topic_id.0.as_bytes()),
            partitions: i32::try_from(t.partitions).unwrap_or(i32::MAX),
        })
    }

    fn topic_name(&self, id: &myelin_coord::consumer::TopicId) -> Option<&str> {
        let id = myelin_cluster::TopicId(uuid::Uuid::from_bytes(id.0));
        self.0.topic(id).map(|t| t.name.as_str())
    }
}
