//! DescribeProducers (key 61), v0 (KIP-664): the producers each partition's log knows, as
//! Kafka's `Partition.activeProducerState` lists them. `kafka-transactions.sh
//! describe-producers` and `find-hanging` read it to find transactions left open.
//!
//! Each producer: id, epoch, the last sequence of its current epoch (-1 for none), the
//! timestamp of its last batch or marker, the epoch of the last coordinator that wrote it
//! a marker (-1 for none), and the first offset of its open transaction (-1 for none). A
//! partition this broker does not host gets UNKNOWN_TOPIC_OR_PARTITION (3); one whose log
//! is offline KAFKA_STORAGE_ERROR (56). With an authorizer, a topic the principal may not
//! READ gets TOPIC_AUTHORIZATION_FAILED (29) for each partition, before any other check.

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, ProducerId,
};
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::HandlerError;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[all(Ty::Structs(&[
    all(Ty::Str),    // name
    all(Ty::Int32s), // partition_indexes
]))];

/// The DescribeProducers handler.
#[derive(Debug)]
pub struct DescribeProducers;

impl Handler for DescribeProducers {
    type Request = DescribeProducersRequest;
    type Response = DescribeProducersResponse;
    const KEY: ApiKey = ApiKey::DescribeProducers;
    const NAME: &'static str = "DescribeProducers";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 0;

    async fn handle(
        ctx: RequestContext,
        request: DescribeProducersRequest,
    ) -> Result<Reply<DescribeProducersResponse>, HandlerError> {
        let authz = ctx.authz();
        let topics = request
            .topics
            .iter()
            .map(|t| {
                // TOPIC READ, once per topic (Kafka's `handleDescribeProducersRequest`).
                let denied =
                    authz.enabled() && !authz.allows(Operation::Read, ResourceType::Topic, &t.name);
                let partitions = t
                    .partition_indexes
                    .iter()
                    .map(|&index| {
                        let answer = PartitionResponse::default().with_partition_index(index);
                        if denied {
                            return answer
                                .with_error_code(ResponseError::TopicAuthorizationFailed.code());
                        }
                        match ctx.server.partitions.get(t.name.as_str(), index) {
                            None => answer
                                .with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                            Some(p) if p.log.is_offline() => {
                                answer.with_error_code(ResponseError::KafkaStorageError.code())
                            }
                            Some(p) => answer.with_active_producers(
                                p.log
                                    .active_producers()
                                    .iter()
                                    .map(|e| {
                                        ProducerState::default()
                                            .with_producer_id(ProducerId(e.producer_id))
                                            .with_producer_epoch(i32::from(e.producer_epoch))
                                            .with_last_sequence(e.last_seq())
                                            .with_last_timestamp(e.last_timestamp)
                                            .with_coordinator_epoch(e.coordinator_epoch)
                                            .with_current_txn_start_offset(
                                                e.current_txn_first_offset.unwrap_or(-1),
                                            )
                                    })
                                    .collect(),
                            ),
                        }
                    })
                    .collect();
                TopicResponse::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        Ok(Reply::Ready(
            DescribeProducersResponse::default().with_topics(topics),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, true)
    }
}
