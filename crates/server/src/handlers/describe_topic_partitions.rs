//! DescribeTopicPartitions (key 75), v0 (KIP-966): topics and their partitions, a page at a
//! time, as Kafka's `DescribeTopicPartitionsRequestHandler` and
//! `KRaftMetadataCache.describeTopicResponse` answer it. The Java admin client (3.8+) uses
//! it for `describeTopics`.
//!
//! - An empty topic list means every topic; named topics that do not exist get
//!   UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for an illegal name), while the
//!   all-topics listing leaves them out.
//! - Topics are answered in name order. A page holds at most
//!   `min(response_partition_limit, 2000)` partitions (Kafka's
//!   `max.request.partition.size.limit`); when it fills, `next_cursor` names the first
//!   partition not returned.
//! - A cursor starts the page at its topic and partition. With named topics the cursor's
//!   topic must be one of them, else every named topic gets INVALID_REQUEST, as Kafka's
//!   error response does.
//!
//! Authorization (with an authorizer, as Kafka's handler): a topic the principal may not
//! DESCRIBE is left out of the all-topics listing; named, it gets
//! TOPIC_AUTHORIZATION_FAILED (29) with no id and no partitions, after the page's topics,
//! whether it exists or not. It takes no room in the page, and the cursor names the next
//! describable topic. `topic_authorized_operations` are the principal's.
//!
//! Each partition is led by this broker, its only replica, with leader epoch 0, as in
//! Metadata; an offline log has no leader and this broker as offline replica. Eligible
//! leader replicas (KIP-966's ELR) are not kept: both lists are empty.

use std::collections::BTreeSet;

use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_cluster::{MetadataState, TopicMetadata};
use uuid::Uuid;

use crate::apis::{Handler, Reply};
use crate::authz::{Authz, Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::HandlerError;
use crate::handlers::metadata::{offline_partitions, topic_operations};
use crate::topics::INTERNAL_TOPICS;

/// The request's leading topic array, for [`bounds::check`]; the cursor that follows is a
/// single struct, which the codec reads within the frame.
const SCHEMA: &[Field] = &[all(Ty::Structs(&[all(Ty::Str)]))];

/// Kafka's `max.request.partition.size.limit` default: the most partitions in one page.
const MAX_PARTITIONS_PER_PAGE: i32 = 2000;

/// The DescribeTopicPartitions handler.
#[derive(Debug)]
pub struct DescribeTopicPartitions;

impl Handler for DescribeTopicPartitions {
    type Request = DescribeTopicPartitionsRequest;
    type Response = DescribeTopicPartitionsResponse;
    const KEY: ApiKey = ApiKey::DescribeTopicPartitions;
    const NAME: &'static str = "DescribeTopicPartitions";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 0;

    async fn handle(
        ctx: RequestContext,
        request: DescribeTopicPartitionsRequest,
    ) -> Result<Reply<DescribeTopicPartitionsResponse>, HandlerError> {
        let state = ctx.server.metadata.state();
        let cursor = request
            .cursor
            .as_ref()
            .map(|c| (c.topic_name.as_str().to_string(), c.partition_index));
        let all_topics = request.topics.is_empty();
        let names: BTreeSet<String> = if all_topics {
            let after = cursor.as_ref().map(|(t, _)| t.as_str());
            state
                .topics()
                .map(|t| t.name.clone())
                .filter(|n| after.is_none_or(|a| n.as_str() >= a))
                .collect()
        } else {
            let after = cursor.as_ref().map(|(t, _)| t.as_str());
            let names: BTreeSet<String> = request
                .topics
                .iter()
                .map(|t| t.name.as_str().to_string())
                .filter(|n| after.is_none_or(|a| n.as_str() >= a))
                .collect();
            if let Some((topic, _)) = &cursor {
                if !names.contains(topic) {
                    return Ok(Reply::Ready(invalid_request(&request)));
                }
            }
            names
        };
        let node = BrokerId(ctx.server.config.node_id);
        let offline = offline_partitions(&ctx);
        let authz = ctx.authz();
        let page = Page {
            state: &state,
            authz: &authz,
            node,
            offline: &offline,
            cursor: cursor.as_ref().map(|(t, p)| (t.as_str(), *p)),
            skip_missing: all_topics,
        };
        let limit = request
            .response_partition_limit
            .min(MAX_PARTITIONS_PER_PAGE);
        Ok(Reply::Ready(page.answer(names.iter(), limit)))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, true)
    }
}

/// What one page is built from.
struct Page<'a> {
    state: &'a MetadataState,
    authz: &'a Authz<'a>,
    node: BrokerId,
    offline: &'a std::collections::HashSet<(String, i32)>,
    cursor: Option<(&'a str, i32)>,
    /// Leave out topics that do not exist (the all-topics listing).
    skip_missing: bool,
}

impl Page<'_> {
    /// Answers `names` (in order) with at most `limit` partitions.
    fn answer<'n>(
        &self,
        names: impl Iterator<Item = &'n String>,
        limit: i32,
    ) -> DescribeTopicPartitionsResponse {
        let mut response = DescribeTopicPartitionsResponse::default();
        let mut remaining = limit;
        let mut refused = Vec::new();
        for name in names {
            if !self.describable(name) {
                if !self.skip_missing {
                    refused.push(
                        DescribeTopicPartitionsResponseTopic::default()
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                            .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                            .with_topic_id(Uuid::nil()),
                    );
                }
                continue;
            }
            if remaining == 0 {
                // The page is full: the next page starts at this topic.
                response.next_cursor = Some(cursor(name, 0));
                break;
            }
            if remaining < 0 {
                break;
            }
            let Some(topic) = self.state.topic_by_name(name) else {
                if !self.skip_missing {
                    response.topics.push(missing_topic(name));
                }
                continue;
            };
            let start = match self.cursor {
                Some((t, p)) if t == name => p.max(0),
                _ => 0,
            };
            let count = i32::try_from(topic.partitions).unwrap_or(i32::MAX);
            let end = count.min(start.saturating_add(remaining));
            let partitions: Vec<_> = (start..end).map(|i| self.partition(name, i)).collect();
            remaining -= i32::try_from(partitions.len()).unwrap_or(i32::MAX);
            response.topics.push(self.topic(topic, partitions));
            if end < count {
                response.next_cursor = Some(cursor(name, end));
                break;
            }
        }
        response.topics.extend(refused);
        response
    }

    /// Whether the principal may DESCRIBE topic `name`; a denial of a named topic is
    /// audited, one only hidden from the listing of every topic is not.
    fn describable(&self, name: &str) -> bool {
        if self.skip_missing {
            self.authz
                .allows_quietly(Operation::Describe, ResourceType::Topic, name)
        } else {
            self.authz
                .allows(Operation::Describe, ResourceType::Topic, name)
        }
    }

    fn topic(
        &self,
        t: &TopicMetadata,
        partitions: Vec<DescribeTopicPartitionsResponsePartition>,
    ) -> DescribeTopicPartitionsResponseTopic {
        DescribeTopicPartitionsResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(t.name.clone()))))
            .with_topic_id(t.topic_id.0)
            .with_is_internal(INTERNAL_TOPICS.contains(&t.name.as_str()))
            .with_partitions(partitions)
            .with_topic_authorized_operations(topic_operations(self.authz, &t.name))
    }

    fn partition(&self, topic: &str, index: i32) -> DescribeTopicPartitionsResponsePartition {
        let p = DescribeTopicPartitionsResponsePartition::default()
            .with_partition_index(index)
            .with_leader_epoch(0)
            .with_replica_nodes(vec![self.node])
            .with_eligible_leader_replicas(Some(Vec::new()))
            .with_last_known_elr(Some(Vec::new()));
        if self.offline.contains(&(topic.to_string(), index)) {
            p.with_error_code(ResponseError::LeaderNotAvailable.code())
                .with_leader_id(BrokerId(-1))
                .with_offline_replicas(vec![self.node])
        } else {
            p.with_leader_id(self.node).with_isr_nodes(vec![self.node])
        }
    }
}

fn cursor(topic: &str, partition: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(TopicName(StrBytes::from_string(topic.to_string())))
        .with_partition_index(partition)
}

fn missing_topic(name: &str) -> DescribeTopicPartitionsResponseTopic {
    let error = if myelin_cluster::state::validate_topic_name(name).is_err() {
        ResponseError::InvalidTopicException
    } else {
        ResponseError::UnknownTopicOrPartition
    };
    DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(error.code())
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
        .with_topic_id(Uuid::nil())
        .with_is_internal(INTERNAL_TOPICS.contains(&name))
}

/// Kafka's error response (`DescribeTopicPartitionsRequest.getErrorResponse`): every named
/// topic with the error and no partitions.
fn invalid_request(request: &DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            DescribeTopicPartitionsResponseTopic::default()
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_name(Some(t.name.clone()))
                .with_topic_id(Uuid::nil())
        })
        .collect();
    DescribeTopicPartitionsResponse::default().with_topics(topics)
}
