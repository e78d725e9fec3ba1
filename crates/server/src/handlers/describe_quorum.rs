//! DescribeQuorum (key 55), v0-2 (KIP-595, KIP-836, KIP-853): the quorum behind the
//! cluster metadata, as `kafka-metadata-quorum.sh describe --status` and
//! `Admin.describeMetadataQuorum` read it.
//!
//! Myelin's metadata log (`myelin-cluster`) plays the part of KRaft's `__cluster_metadata`
//! partition 0, and this broker is its only voter and leader, as a single combined-mode
//! KRaft node is. So the answer, as a Kafka broker forwards it from such a controller:
//! - leader: this node; leader epoch: 1, the epoch a single voter holds from its first
//!   election (Myelin's log has no elections, so it never changes);
//! - high watermark, and the voter's log end offset: the metadata log's next offset (every
//!   record is committed once written, which is what a single voter's high watermark
//!   says); the voter's last fetch and caught-up times: now, as a leader reports itself;
//! - no observers: there are no other brokers;
//! - v2: the voter's directory id (none: zero, "unknown" in KIP-853) and its endpoints,
//!   this broker's listeners.
//!
//! A partition other than `__cluster_metadata`-0 gets UNKNOWN_TOPIC_OR_PARTITION, as
//! Kafka's `KafkaRaftClient` answers. Authorization: CLUSTER DESCRIBE, else
//! CLUSTER_AUTHORIZATION_FAILED at the top level.

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{ApiKey, BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::Operation;
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::HandlerError;

/// KRaft's metadata topic, which the metadata log stands for.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// The epoch of the only voter's leadership.
const LEADER_EPOCH: i32 = 1;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[all(Ty::Structs(&[
    all(Ty::Str), // topic_name
    all(Ty::Structs(&[
        all(Ty::Int32), // partition_index
    ])),
]))];

/// The DescribeQuorum handler.
#[derive(Debug)]
pub struct DescribeQuorum;

impl Handler for DescribeQuorum {
    type Request = DescribeQuorumRequest;
    type Response = DescribeQuorumResponse;
    const KEY: ApiKey = ApiKey::DescribeQuorum;
    const NAME: &'static str = "DescribeQuorum";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 2;

    async fn handle(
        ctx: RequestContext,
        request: DescribeQuorumRequest,
    ) -> Result<Reply<DescribeQuorumResponse>, HandlerError> {
        if !ctx.authz().allows_cluster(Operation::Describe) {
            return Ok(Reply::Ready(
                DescribeQuorumResponse::default()
                    .with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
            ));
        }
        let node = BrokerId(ctx.server.config.node_id);
        let offset = ctx.server.metadata.state().next_offset().0 as i64;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let topics = request
            .topics
            .iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let answer =
                            PartitionData::default().with_partition_index(p.partition_index);
                        if topic.topic_name.as_str() != METADATA_TOPIC || p.partition_index != 0 {
                            return answer
                                .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                                .with_leader_id(BrokerId(-1))
                                .with_leader_epoch(-1)
                                .with_high_watermark(-1);
                        }
                        answer
                            .with_leader_id(node)
                            .with_leader_epoch(LEADER_EPOCH)
                            .with_high_watermark(offset)
                            .with_current_voters(vec![ReplicaState::default()
                                .with_replica_id(node)
                                .with_log_end_offset(offset)
                                .with_last_fetch_timestamp(now)
                                .with_last_caught_up_timestamp(now)])
                    })
                    .collect();
                TopicData::default()
                    .with_topic_name(topic.topic_name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        let mut response = DescribeQuorumResponse::default().with_topics(topics);
        // nodes: v2+ (KIP-853), the voters' endpoints.
        if ctx.api_version() >= 2 {
            let listeners = ctx
                .server
                .listeners
                .iter()
                .map(|l| {
                    Listener::default()
                        .with_name(StrBytes::from_string(l.name.clone()))
                        .with_host(StrBytes::from_string(l.advertised_host.clone()))
                        .with_port(l.advertised_port)
                })
                .collect();
            response.nodes = vec![Node::default().with_node_id(node).with_listeners(listeners)];
        }
        Ok(Reply::Ready(response))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible in every version.
        bounds::check(body, SCHEMA, api_version, true)
    }
}
