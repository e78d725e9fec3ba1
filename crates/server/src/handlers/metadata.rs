//! Metadata (key 3), v0-12: this broker, as the only broker and the controller, and the
//! topics of the metadata state, each partition led by this broker.
//!
//! Which topics: v0 sends an empty list for "all topics"; from v1 null means all and an
//! empty list means none. From v10 a topic can be named by id; Kafka serves id lookups from
//! v12 only (names are non-nullable before).
//!
//! Auto-creation: a topic named in the request that does not exist is created (with
//! `num.partitions` partitions) when the request allows it (`allow_auto_topic_creation`,
//! v4+, KIP-204; always before v4) and `auto.create.topics.enable` is true. Kafka creates it
//! asynchronously and answers LEADER_NOT_AVAILABLE for it in this response; Myelin creates
//! it before answering and returns it with its partitions, so clients that give up on
//! LEADER_NOT_AVAILABLE (kafka-go, rdkafka-ruby, the .NET admin client's metadata call)
//! see it at once, and those that retry lose a round trip. Otherwise a missing topic gets
//! UNKNOWN_TOPIC_OR_PARTITION, or INVALID_TOPIC_EXCEPTION for an illegal name, as Kafka.
//!
//! Authorization (with an authorizer, as Kafka's `handleTopicMetadataRequest`): listing
//! every topic returns only those the principal may DESCRIBE. A named topic it may not
//! DESCRIBE gets TOPIC_AUTHORIZATION_FAILED (29) with no partitions, whether it exists or
//! not, and is not created; one it may DESCRIBE that does not exist, when auto-creation
//! applies, is created only with CREATE on the cluster or on the topic, else it gets
//! TOPIC_AUTHORIZATION_FAILED too (when auto-creation does not apply it stays
//! UNKNOWN_TOPIC_OR_PARTITION). A topic named by id (v12) that exists but may not be
//! described gets TOPIC_AUTHORIZATION_FAILED with its id and no name. The authorized
//! operations (v8+, KIP-430) are the principal's; the cluster's (v8-10) are 0 without
//! DESCRIBE on the cluster.

use std::collections::{HashMap, HashSet};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_cluster::{MetadataState, TopicId, TopicMetadata};
use uuid::Uuid;

use crate::apis::{Handler, Reply};
use crate::authz::{Authz, Operation, ResourceType, CLUSTER_NAME};
use crate::configs::BrokerConfigs;
use crate::context::RequestContext;
use crate::error::HandlerError;
use crate::topics;
use crate::wire;

/// Kafka's `AclOperation` codes, as bits of the authorized-operations fields. When the
/// client does not ask for them the fields keep the codec's default, `i32::MIN`, as Kafka
/// sends.
mod acl_op {
    pub const CREATE: i32 = 1 << 5;
    pub const READ: i32 = 1 << 3;
    pub const WRITE: i32 = 1 << 4;
    pub const DELETE: i32 = 1 << 6;
    pub const ALTER: i32 = 1 << 7;
    pub const DESCRIBE: i32 = 1 << 8;
    pub const CLUSTER_ACTION: i32 = 1 << 9;
    pub const DESCRIBE_CONFIGS: i32 = 1 << 10;
    pub const ALTER_CONFIGS: i32 = 1 << 11;
    pub const IDEMPOTENT_WRITE: i32 = 1 << 12;
}

/// With no authorizer every operation a topic supports is allowed (Kafka's
/// `AclEntry.supportedOperations(TOPIC)`).
pub(crate) const TOPIC_OPERATIONS: i32 = acl_op::READ
    | acl_op::WRITE
    | acl_op::CREATE
    | acl_op::DESCRIBE
    | acl_op::DELETE
    | acl_op::ALTER
    | acl_op::DESCRIBE_CONFIGS
    | acl_op::ALTER_CONFIGS;

/// Likewise for the cluster resource.
pub(crate) const CLUSTER_OPERATIONS: i32 = acl_op::CREATE
    | acl_op::CLUSTER_ACTION
    | acl_op::DESCRIBE_CONFIGS
    | acl_op::ALTER_CONFIGS
    | acl_op::IDEMPOTENT_WRITE
    | acl_op::ALTER
    | acl_op::DESCRIBE;

/// The Metadata handler.
#[derive(Debug)]
pub struct Metadata;

impl Handler for Metadata {
    type Request = MetadataRequest;
    type Response = MetadataResponse;
    const KEY: ApiKey = ApiKey::Metadata;
    const NAME: &'static str = "Metadata";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 12;

    async fn handle(
        ctx: RequestContext,
        request: MetadataRequest,
    ) -> Result<Reply<MetadataResponse>, HandlerError> {
        let version = ctx.api_version();
        let config = &ctx.server.config;
        let node = BrokerId(config.node_id);
        // Named topics refused before their existence is even looked at.
        let refused = refused_topics(&ctx, &request);
        // allow_auto_topic_creation: v4+ (KIP-204); the codec's default (true) before.
        let missing = match &request.topics {
            Some(requested) if request.allow_auto_topic_creation => {
                auto_create(&ctx, requested, &refused).await
            }
            _ => HashMap::new(),
        };
        let state = ctx.server.metadata.state();
        let authz = ctx.authz();

        let include_topic_ops = request.include_topic_authorized_operations;
        let topics = match &request.topics {
            None => all_topics(&state, &authz, node, version, include_topic_ops),
            // v0: an empty list means every topic.
            Some(requested) if requested.is_empty() && version == 0 => {
                all_topics(&state, &authz, node, version, include_topic_ops)
            }
            Some(requested) => requested_topics(
                &state,
                &authz,
                requested,
                &missing,
                &refused,
                node,
                version,
                include_topic_ops,
            ),
        };

        let mut topics = topics;
        mark_offline_partitions(&ctx, &mut topics, node, version);

        let mut response = MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(node)
                .with_host(StrBytes::from_string(
                    ctx.listener().advertised_host.clone(),
                ))
                .with_port(i32::from(ctx.listener().advertised_port))])
            .with_controller_id(node)
            .with_topics(topics);
        // cluster_id: v2+.
        if version >= 2 {
            response.cluster_id = config.cluster_id.clone().map(StrBytes::from_string);
        }
        // cluster_authorized_operations: v8-10 only (KIP-430; moved to DescribeCluster).
        if (8..=10).contains(&version) && request.include_cluster_authorized_operations {
            response.cluster_authorized_operations = if !authz.enabled() {
                CLUSTER_OPERATIONS
            } else if authz.allows_cluster(Operation::Describe) {
                authz.operations(ResourceType::Cluster, CLUSTER_NAME)
            } else {
                0
            };
        }
        Ok(Reply::Ready(response))
    }

    fn unsupported_version(api_version: i16) -> Option<(i16, MetadataResponse)> {
        // Only v13+ has a top-level error code (KIP-1102); an older body would look like a
        // successful answer with no topics, so those versions close the connection.
        let codec_max = ApiKey::Metadata.valid_versions().max;
        (13..=codec_max).contains(&api_version).then(|| {
            (
                api_version,
                MetadataResponse::default()
                    .with_error_code(ResponseError::UnsupportedVersion.code()),
            )
        })
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // The request starts with the topics array. An element is at least an int16 string
        // length (v0-8), a compact string and a tag count (v9), or a 16-byte id, a compact
        // string and a tag count (v10+).
        let min_element_bytes = if api_version >= 10 { 18 } else { 2 };
        wire::check_leading_array(body, api_version >= 9, min_element_bytes)
    }
}

/// Partitions whose log is offline (an I/O error, a vanished directory) have no leader:
/// LEADER_NOT_AVAILABLE, leader -1, no in-sync replica, and (v5+) this broker among the
/// offline replicas, as Kafka shows a partition whose only replica's log directory failed.
fn mark_offline_partitions(
    ctx: &RequestContext,
    topics: &mut [MetadataResponseTopic],
    node: BrokerId,
    version: i16,
) {
    let offline = offline_partitions(ctx);
    if offline.is_empty() {
        return;
    }
    for t in topics.iter_mut() {
        let Some(name) = t.name.as_ref().map(|n| n.as_str().to_string()) else {
            continue;
        };
        for p in t.partitions.iter_mut() {
            if offline.contains(&(name.clone(), p.partition_index)) {
                p.error_code = ResponseError::LeaderNotAvailable.code();
                p.leader_id = BrokerId(-1);
                p.isr_nodes = Vec::new();
                if version >= 5 {
                    p.offline_replicas = vec![node];
                }
            }
        }
    }
}

/// The partitions whose log is offline, as (topic, partition).
pub(crate) fn offline_partitions(ctx: &RequestContext) -> HashSet<(String, i32)> {
    ctx.server
        .partitions
        .logs()
        .logs()
        .iter()
        .filter(|l| l.is_offline())
        .map(|l| (l.topic().to_string(), l.partition()))
        .collect()
}

/// Every topic the principal may DESCRIBE (the others are left out silently).
fn all_topics(
    state: &MetadataState,
    authz: &Authz<'_>,
    node: BrokerId,
    version: i16,
    include_ops: bool,
) -> Vec<MetadataResponseTopic> {
    state
        .topics()
        .filter(|t| authz.allows_quietly(Operation::Describe, ResourceType::Topic, &t.name))
        .map(|t| topic_response(t, authz, node, version, include_ops))
        .collect()
}

/// The named topics answered TOPIC_AUTHORIZATION_FAILED (empty without an authorizer):
/// those the principal may not DESCRIBE, and those missing that auto-creation would create
/// but the principal may not CREATE (neither on the cluster nor on the topic).
fn refused_topics(ctx: &RequestContext, request: &MetadataRequest) -> HashSet<String> {
    let authz = ctx.authz();
    let mut refused = HashSet::new();
    let Some(requested) = request.topics.as_ref().filter(|_| authz.enabled()) else {
        return refused;
    };
    let state = ctx.server.metadata.state();
    let mut seen = HashSet::new();
    let mut missing = Vec::new();
    for name in requested.iter().filter_map(|t| t.name.as_ref()) {
        let name = name.as_str();
        if !seen.insert(name) {
            continue;
        }
        if !authz.allows(Operation::Describe, ResourceType::Topic, name) {
            refused.insert(name.to_string());
        } else if state.topic_by_name(name).is_none() {
            missing.push(name);
        }
    }
    let auto_create = request.allow_auto_topic_creation
        && !missing.is_empty()
        && BrokerConfigs::new(
            ctx.server.config.node_id,
            &ctx.server.static_broker_configs,
            &state,
        )
        .auto_create_topics_enable();
    if auto_create && !authz.allows_quietly(Operation::Create, ResourceType::Cluster, CLUSTER_NAME)
    {
        for name in missing {
            if !authz.allows(Operation::Create, ResourceType::Topic, name) {
                refused.insert(name.to_string());
            }
        }
    }
    refused
}

/// KIP-430's `topic_authorized_operations`: the principal's with an authorizer, every
/// operation without.
pub(crate) fn topic_operations(authz: &Authz<'_>, name: &str) -> i32 {
    if authz.enabled() {
        authz.operations(ResourceType::Topic, name)
    } else {
        TOPIC_OPERATIONS
    }
}

/// Auto-creates the requested topics (by name) that do not exist; returns the error to
/// answer for each one that could not be created.
async fn auto_create(
    ctx: &RequestContext,
    requested: &[MetadataRequestTopic],
    refused: &HashSet<String>,
) -> HashMap<String, ResponseError> {
    let state = ctx.server.metadata.state();
    let mut errors = HashMap::new();
    for name in requested.iter().filter_map(|t| t.name.as_ref()) {
        let name = name.as_str();
        if state.topic_by_name(name).is_some()
            || errors.contains_key(name)
            || refused.contains(name)
        {
            continue;
        }
        let resource = format!("topic {name:?}");
        match topics::auto_create_topic(&ctx.server, name).await {
            Ok(topics::AutoCreated::Created(_)) => {
                crate::audit::change(ctx, "auto-create", &resource, None)
            }
            Ok(topics::AutoCreated::Existed(_)) => {}
            Err(e) => {
                errors.insert(name.to_string(), e);
            }
        }
    }
    errors
}

/// The error for a requested topic that does not exist and was not auto-created.
fn missing_topic_error(name: &str, missing: &HashMap<String, ResponseError>) -> ResponseError {
    match missing.get(name) {
        Some(e) => *e,
        None if myelin_cluster::state::validate_topic_name(name).is_err() => {
            ResponseError::InvalidTopicException
        }
        None => ResponseError::UnknownTopicOrPartition,
    }
}

#[allow(clippy::too_many_arguments)]
fn requested_topics(
    state: &MetadataState,
    authz: &Authz<'_>,
    requested: &[MetadataRequestTopic],
    missing: &HashMap<String, ResponseError>,
    refused: &HashSet<String>,
    node: BrokerId,
    version: i16,
    include_ops: bool,
) -> Vec<MetadataResponseTopic> {
    let mut seen_names = HashSet::new();
    let mut seen_ids = HashSet::new();
    let mut out = Vec::with_capacity(requested.len());
    for r in requested {
        // Lookup by id: v12+ (KIP-516), whatever the name says. The Java admin client's
        // `describeTopics(TopicCollection.ofTopicIds(..))` sends the name's default, "",
        // beside the id, and Kafka looks up the id.
        let by_id = version >= 12 && !r.topic_id.is_nil();
        match &r.name {
            Some(name) if !by_id => {
                if !seen_names.insert(name.0.clone()) {
                    continue; // Kafka answers each topic once.
                }
                if refused.contains(name.as_str()) {
                    // No id: the topic's existence is not disclosed.
                    out.push(topic_error(
                        Some(name.clone()),
                        Uuid::nil(),
                        ResponseError::TopicAuthorizationFailed,
                        version,
                    ));
                    continue;
                }
                out.push(match state.topic_by_name(name.as_str()) {
                    Some(t) => topic_response(t, authz, node, version, include_ops),
                    None => topic_error(
                        Some(name.clone()),
                        Uuid::nil(),
                        missing_topic_error(name.as_str(), missing),
                        version,
                    ),
                });
            }
            // v10-11 require a name; a nil id finds nothing.
            _ if version >= 12 => {
                if !seen_ids.insert(r.topic_id) {
                    continue;
                }
                let found = state
                    .topic(TopicId(r.topic_id))
                    .filter(|_| !r.topic_id.is_nil());
                out.push(match found {
                    // Ids are not secret: an unauthorized one keeps its id (Kafka).
                    Some(t) if !authz.allows(Operation::Describe, ResourceType::Topic, &t.name) => {
                        topic_error(
                            None,
                            r.topic_id,
                            ResponseError::TopicAuthorizationFailed,
                            version,
                        )
                    }
                    Some(t) => topic_response(t, authz, node, version, include_ops),
                    _ => topic_error(None, r.topic_id, ResponseError::UnknownTopicId, version),
                });
            }
            _ => out.push(topic_error(
                Some(TopicName(StrBytes::from_static_str(""))),
                r.topic_id,
                ResponseError::InvalidRequest,
                version,
            )),
        }
    }
    out
}

fn topic_response(
    t: &TopicMetadata,
    authz: &Authz<'_>,
    node: BrokerId,
    version: i16,
    include_ops: bool,
) -> MetadataResponseTopic {
    let partitions = (0..t.partitions)
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index as i32)
                .with_leader_id(node)
                // leader_epoch: v7+ (KIP-320). One node, no elections yet: epoch 0.
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    let mut topic = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(t.name.clone()))))
        .with_partitions(partitions);
    // topic_id: v10+ (KIP-516).
    if version >= 10 {
        topic.topic_id = t.topic_id.0;
    }
    // is_internal: v1+. Java consumers leave internal topics out of pattern subscriptions
    // (`exclude.internal.topics`).
    if version >= 1 {
        topic.is_internal = crate::topics::INTERNAL_TOPICS.contains(&t.name.as_str());
    }
    // topic_authorized_operations: v8+ (KIP-430), only when asked for.
    if version >= 8 && include_ops {
        topic.topic_authorized_operations = topic_operations(authz, &t.name);
    }
    topic
}

fn topic_error(
    name: Option<TopicName>,
    topic_id: Uuid,
    error: ResponseError,
    version: i16,
) -> MetadataResponseTopic {
    let mut topic = MetadataResponseTopic::default()
        .with_error_code(error.code())
        .with_name(name);
    // topic_id: v10+ (KIP-516).
    if version >= 10 {
        topic.topic_id = topic_id;
    }
    topic
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_bits_match_kafka() {
        // The bits of Kafka's `AclEntry.supportedOperations` for TOPIC and CLUSTER.
        assert_eq!(TOPIC_OPERATIONS, 3576);
        assert_eq!(CLUSTER_OPERATIONS, 8096);
    }

    #[test]
    fn absurd_topic_counts_are_refused_before_decoding() {
        // v0: int32 count i32::MAX and 2 bytes of body.
        assert!(Metadata::check_request(0, &[0x7f, 0xff, 0xff, 0xff, 0, 0]).is_err());
        // v12: compact count 1_000_000 with 20 bytes of body.
        let mut body = vec![0xc1, 0x84, 0x3d];
        body.extend_from_slice(&[0; 20]);
        assert!(Metadata::check_request(12, &body).is_err());
        // A real v1 request for one topic passes.
        assert!(Metadata::check_request(1, &[0, 0, 0, 1, 0, 1, b'a']).is_ok());
    }
}
