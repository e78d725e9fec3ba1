//! AlterPartitionReassignments (key 45), v0-1, and ListPartitionReassignments (key 46), v0
//! (KIP-455). One broker holds every partition's only replica, so the one assignment a
//! partition can have is the one it has, and no reassignment is ever in progress.
//!
//! AlterPartitionReassignments answers each named partition as Kafka's
//! `ReplicationControlManager.alterPartitionReassignment` would:
//! - unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION (3);
//! - null replicas (cancel): NO_REASSIGNMENT_IN_PROGRESS (85);
//! - an empty list, a duplicate broker or a broker other than this one:
//!   INVALID_REPLICA_ASSIGNMENT (39), with Kafka's messages;
//! - this broker alone: success, nothing to move. (So KIP-860's
//!   `allow_replication_factor_change = false`, v1, never has a factor change to refuse.)
//!
//! ListPartitionReassignments answers an empty list, for all topics or named ones.
//!
//! Authorization: AlterPartitionReassignments needs CLUSTER ALTER, else
//! CLUSTER_AUTHORIZATION_FAILED at the top level and for every named partition;
//! ListPartitionReassignments CLUSTER DESCRIBE, else CLUSTER_AUTHORIZATION_FAILED at the
//! top level and no topics, as Kafka answers.

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_cluster::MetadataState;

use crate::apis::{Handler, Reply};
use crate::authz::Operation;
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::RequestContext;
use crate::error::HandlerError;

/// AlterPartitionReassignments' layout, for [`bounds::check`].
const ALTER_SCHEMA: &[Field] = &[
    all(Ty::Int32),    // timeout_ms
    from(1, Ty::Bool), // allow_replication_factor_change
    all(Ty::Structs(&[
        all(Ty::Str), // name
        all(Ty::Structs(&[
            all(Ty::Int32),  // partition_index
            all(Ty::Int32s), // replicas
        ])),
    ])),
];

/// Kafka's message for a refused request.
const NOT_AUTHORIZED: &str = "Cluster authorization failed.";

/// ListPartitionReassignments' layout, for [`bounds::check`].
const LIST_SCHEMA: &[Field] = &[
    all(Ty::Int32), // timeout_ms
    all(Ty::Structs(&[
        all(Ty::Str),    // name
        all(Ty::Int32s), // partition_indexes
    ])),
];

/// The AlterPartitionReassignments handler.
#[derive(Debug)]
pub struct AlterPartitionReassignments;

impl Handler for AlterPartitionReassignments {
    type Request = AlterPartitionReassignmentsRequest;
    type Response = AlterPartitionReassignmentsResponse;
    const KEY: ApiKey = ApiKey::AlterPartitionReassignments;
    const NAME: &'static str = "AlterPartitionReassignments";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: AlterPartitionReassignmentsRequest,
    ) -> Result<Reply<AlterPartitionReassignmentsResponse>, HandlerError> {
        let state = ctx.server.metadata.state();
        let node = BrokerId(ctx.server.config.node_id);
        // Without CLUSTER ALTER, every partition (and the top level) is refused.
        let authorized = ctx.authz().allows_cluster(Operation::Alter);
        let responses = request
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let (error, message) = if authorized {
                            reassign(
                                &state,
                                node,
                                t.name.as_str(),
                                p.partition_index,
                                p.replicas.as_deref(),
                            )
                        } else {
                            (
                                Some(ResponseError::ClusterAuthorizationFailed),
                                Some(NOT_AUTHORIZED.to_string()),
                            )
                        };
                        ReassignablePartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(error.map_or(0, |e| e.code()))
                            .with_error_message(message.map(StrBytes::from_string))
                    })
                    .collect();
                ReassignableTopicResponse::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        // allow_replication_factor_change: v1+ (KIP-860), echoed.
        let mut response = AlterPartitionReassignmentsResponse::default()
            .with_allow_replication_factor_change(request.allow_replication_factor_change)
            .with_responses(responses);
        if !authorized {
            response.error_code = ResponseError::ClusterAuthorizationFailed.code();
            response.error_message = Some(StrBytes::from_static_str(NOT_AUTHORIZED));
        }
        Ok(Reply::Ready(response))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible in every version.
        bounds::check(body, ALTER_SCHEMA, api_version, true)
    }
}

/// The answer for one partition: an error and its message, or `None` for success.
fn reassign(
    state: &MetadataState,
    node: BrokerId,
    topic: &str,
    partition: i32,
    replicas: Option<&[BrokerId]>,
) -> (Option<ResponseError>, Option<String>) {
    let Some(t) = state.topic_by_name(topic) else {
        return (
            Some(ResponseError::UnknownTopicOrPartition),
            Some(format!("Unable to find a topic named {topic}.")),
        );
    };
    if partition < 0 || partition as u32 >= t.partitions {
        return (
            Some(ResponseError::UnknownTopicOrPartition),
            Some(format!("Unable to find partition {topic}:{partition}.")),
        );
    }
    let Some(replicas) = replicas else {
        return (
            Some(ResponseError::NoReassignmentInProgress),
            Some("No partition reassignment is in progress.".to_string()),
        );
    };
    let invalid = |message: String| (Some(ResponseError::InvalidReplicaAssignment), Some(message));
    if replicas.is_empty() {
        return invalid(
            "The manual partition assignment includes an empty replica list.".to_string(),
        );
    }
    // Kafka walks the target in broker id order.
    let mut sorted: Vec<i32> = replicas.iter().map(|r| r.0).collect();
    sorted.sort_unstable();
    let mut previous = None;
    for id in sorted {
        if id != node.0 {
            return invalid(format!(
                "The manual partition assignment includes broker {id}, but no such broker is registered."
            ));
        }
        if previous == Some(id) {
            return invalid(format!(
                "The manual partition assignment includes the broker {id} more than once."
            ));
        }
        previous = Some(id);
    }
    (None, None)
}

/// The ListPartitionReassignments handler.
#[derive(Debug)]
pub struct ListPartitionReassignments;

impl Handler for ListPartitionReassignments {
    type Request = ListPartitionReassignmentsRequest;
    type Response = ListPartitionReassignmentsResponse;
    const KEY: ApiKey = ApiKey::ListPartitionReassignments;
    const NAME: &'static str = "ListPartitionReassignments";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 0;

    async fn handle(
        ctx: RequestContext,
        _request: ListPartitionReassignmentsRequest,
    ) -> Result<Reply<ListPartitionReassignmentsResponse>, HandlerError> {
        let mut response = ListPartitionReassignmentsResponse::default();
        if !ctx.authz().allows_cluster(Operation::Describe) {
            response.error_code = ResponseError::ClusterAuthorizationFailed.code();
            response.error_message = Some(StrBytes::from_static_str(NOT_AUTHORIZED));
        }
        Ok(Reply::Ready(response))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, LIST_SCHEMA, api_version, true)
    }
}
