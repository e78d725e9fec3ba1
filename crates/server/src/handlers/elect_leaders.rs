//! ElectLeaders (key 43), v0-2 (KIP-183, KIP-460): this broker is every partition's only
//! replica and its leader, so no election is ever needed.
//!
//! As Kafka's `ReplicationControlManager.electLeaders` answers it:
//! - a named partition that exists gets ELECTION_NOT_NEEDED (84); one whose log is offline
//!   gets PREFERRED_LEADER_NOT_AVAILABLE (80) for a preferred election and
//!   ELIGIBLE_LEADERS_NOT_AVAILABLE (83) for an unclean one, since its only replica is
//!   down; an unknown topic or partition gets UNKNOWN_TOPIC_OR_PARTITION (3);
//! - null `topic_partitions` means every partition, and Kafka then leaves out the
//!   partitions that needed no election, so only offline ones are listed;
//! - an election type other than preferred (0) or unclean (1) gets INVALID_REQUEST at the
//!   top level (v1+).
//!
//! Authorization, first: CLUSTER ALTER, else CLUSTER_AUTHORIZATION_FAILED at the top level
//! (v1+) and for every named partition, as Kafka answers.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ApiKey, ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::Operation;
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::RequestContext;
use crate::error::HandlerError;
use crate::handlers::metadata::offline_partitions;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    from(1, Ty::Int8), // election_type
    all(Ty::Structs(&[
        all(Ty::Str),    // topic
        all(Ty::Int32s), // partitions
    ])),
    all(Ty::Int32), // timeout_ms
];

const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

/// The ElectLeaders handler.
#[derive(Debug)]
pub struct ElectLeaders;

impl Handler for ElectLeaders {
    type Request = ElectLeadersRequest;
    type Response = ElectLeadersResponse;
    const KEY: ApiKey = ApiKey::ElectLeaders;
    const NAME: &'static str = "ElectLeaders";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 2;

    async fn handle(
        ctx: RequestContext,
        request: ElectLeadersRequest,
    ) -> Result<Reply<ElectLeadersResponse>, HandlerError> {
        if !ctx.authz().allows_cluster(Operation::Alter) {
            return Ok(Reply::Ready(refused(&request)));
        }
        // election_type: v1+; the codec's default (0, preferred) before.
        if request.election_type != PREFERRED && request.election_type != UNCLEAN {
            return Ok(Reply::Ready(
                ElectLeadersResponse::default()
                    .with_error_code(ResponseError::InvalidRequest.code()),
            ));
        }
        let leader_down = if request.election_type == PREFERRED {
            ResponseError::PreferredLeaderNotAvailable
        } else {
            ResponseError::EligibleLeadersNotAvailable
        };
        let offline = offline_partitions(&ctx);
        let state = ctx.server.metadata.state();
        let mut results: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
        let mut answer = |topic: &str, partition: i32, error: ResponseError| {
            results.entry(topic.to_string()).or_default().push(
                PartitionResult::default()
                    .with_partition_id(partition)
                    .with_error_code(error.code()),
            );
        };
        match &request.topic_partitions {
            None => {
                for (topic, partition) in &offline {
                    answer(topic, *partition, leader_down);
                }
            }
            Some(topics) => {
                // Each partition is answered once, however often it is named.
                let named: BTreeSet<(&str, i32)> = topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.as_str(), *p)))
                    .collect();
                for (topic, partition) in named {
                    let exists = state
                        .topic_by_name(topic)
                        .is_some_and(|t| partition >= 0 && (partition as u32) < t.partitions);
                    let error = if !exists {
                        ResponseError::UnknownTopicOrPartition
                    } else if offline.contains(&(topic.to_string(), partition)) {
                        leader_down
                    } else {
                        ResponseError::ElectionNotNeeded
                    };
                    answer(topic, partition, error);
                }
            }
        }
        Ok(Reply::Ready(
            ElectLeadersResponse::default().with_replica_election_results(by_topic(results)),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v2 (KIP-482).
        bounds::check(body, SCHEMA, api_version, api_version >= 2)
    }
}

/// The results, one entry per topic.
fn by_topic(results: BTreeMap<String, Vec<PartitionResult>>) -> Vec<ReplicaElectionResult> {
    results
        .into_iter()
        .map(|(topic, partition_result)| {
            ReplicaElectionResult::default()
                .with_topic(TopicName(StrBytes::from_string(topic)))
                .with_partition_result(partition_result)
        })
        .collect()
}

/// The answer without CLUSTER ALTER: CLUSTER_AUTHORIZATION_FAILED at the top level and for
/// each named partition (once each), as Kafka fills them.
fn refused(request: &ElectLeadersRequest) -> ElectLeadersResponse {
    let error = ResponseError::ClusterAuthorizationFailed.code();
    let mut results: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    let named: BTreeSet<(&str, i32)> = request
        .topic_partitions
        .iter()
        .flatten()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic.as_str(), *p)))
        .collect();
    for (topic, partition) in named {
        results.entry(topic.to_string()).or_default().push(
            PartitionResult::default()
                .with_partition_id(partition)
                .with_error_code(error),
        );
    }
    ElectLeadersResponse::default()
        .with_error_code(error)
        .with_replica_election_results(by_topic(results))
}
