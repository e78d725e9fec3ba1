//! CreateTopics (key 19), v2-7: creates topics on this one broker, as Kafka's controller
//! does.
//!
//! - `num_partitions` and `replication_factor` of -1 take `num.partitions` and
//!   `default.replication.factor` (KIP-464, v4+; older clients never send -1). A replication
//!   factor above 1 gets INVALID_REPLICATION_FACTOR: there is one broker.
//! - A manual assignment needs both counts at -1 (else INVALID_REQUEST); each partition
//!   0..n must be listed once, with this broker as its only replica (else
//!   INVALID_REPLICA_ASSIGNMENT, with Kafka's messages).
//! - Configs are checked as Kafka's controller checks them: null values, unknown names and
//!   bad values are INVALID_CONFIG.
//! - Names: INVALID_TOPIC_EXCEPTION for illegal or colliding names, TOPIC_ALREADY_EXISTS,
//!   INVALID_REQUEST for a name listed twice.
//! - `validate_only` runs every check and creates nothing.
//! - One request creates at most 10,000 partitions; topics past that get POLICY_VIOLATION
//!   (Kafka's controller bounds the records of one operation the same way).
//! - From v5 a created topic's result carries its partition count, replication factor and
//!   every topic config with its value and source (KIP-525); from v7 its topic id (KIP-516).
//! - Authorization (Kafka's controller): CLUSTER CREATE (checked quietly) allows every
//!   topic, else TOPIC CREATE per name, else TOPIC_AUTHORIZATION_FAILED (29) and nothing is
//!   created; a created topic's configs, counts included, only with TOPIC DESCRIBE_CONFIGS,
//!   else `topic_config_error_code` TOPIC_AUTHORIZATION_FAILED.

use std::collections::{HashMap, HashSet};

use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_cluster::{MetadataRecord, TopicId};
use uuid::Uuid;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::configs::{normalize_topic_configs, BrokerConfigs};
use crate::context::RequestContext;
use crate::error::{metadata_error_code, state_error_code, topic_config_error_code, HandlerError};
use crate::quota::{Mutations, THROTTLED_MESSAGE};
use crate::topics::{self, EXCESSIVE_BATCH_MESSAGE, MAX_NEW_PARTITIONS};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Structs(&[
        all(Ty::Str),                                         // name
        all(Ty::Int32),                                       // num_partitions
        all(Ty::Int16),                                       // replication_factor
        all(Ty::Structs(&[all(Ty::Int32), all(Ty::Int32s)])), // assignments
        all(Ty::Structs(&[all(Ty::Str), all(Ty::Str)])),      // configs
    ])),
    all(Ty::Int32), // timeout_ms
    all(Ty::Bool),  // validate_only
];

/// The CreateTopics handler.
#[derive(Debug)]
pub struct CreateTopics;

impl Handler for CreateTopics {
    type Request = CreateTopicsRequest;
    type Response = CreateTopicsResponse;
    const KEY: ApiKey = ApiKey::CreateTopics;
    const NAME: &'static str = "CreateTopics";
    const MIN_VERSION: i16 = 2;
    const MAX_VERSION: i16 = 7;

    async fn handle(
        ctx: RequestContext,
        request: CreateTopicsRequest,
    ) -> Result<Reply<CreateTopicsResponse>, HandlerError> {
        let version = ctx.api_version();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for t in &request.topics {
            *counts.entry(t.name.as_str()).or_default() += 1;
        }
        // Who may create and see what, decided before anything is looked up (the ACLs as
        // the request began). CLUSTER CREATE allows every topic, and is checked quietly, as
        // Kafka's controller does.
        let authz = ctx.authz();
        let cluster_create = authz.allows_quietly(
            Operation::Create,
            ResourceType::Cluster,
            crate::authz::CLUSTER_NAME,
        );
        let mut answered = HashSet::new();
        let mut results = Vec::with_capacity(counts.len());
        // New partitions this request may still create (Kafka's controller bounds the
        // records of one operation).
        let mut budget = MAX_NEW_PARTITIONS;
        // The controller mutation quota: strict from v6 (KIP-599).
        let mut mutations = ctx.mutations(6);
        for topic in &request.topics {
            let name = topic.name.as_str();
            if !answered.insert(name) {
                continue; // Each name is answered once.
            }
            let result = if counts[name] > 1 {
                failure(
                    topic,
                    ResponseError::InvalidRequest,
                    "Duplicate topic name.".into(),
                )
            } else if !cluster_create && !authz.allows(Operation::Create, ResourceType::Topic, name)
            {
                failure(
                    topic,
                    ResponseError::TopicAuthorizationFailed,
                    "Authorization failed.".into(),
                )
            } else {
                // The configs of the result (v5+) only for who may describe them.
                let describable = version < 5
                    || authz.allows(Operation::DescribeConfigs, ResourceType::Topic, name);
                create(
                    &ctx,
                    topic,
                    request.validate_only,
                    version,
                    describable,
                    &mut budget,
                    &mut mutations,
                )
                .await
            };
            results.push(result);
        }
        Ok(Reply::Ready(
            CreateTopicsResponse::default()
                .with_topics(results)
                .with_throttle_time_ms(mutations.finish(&ctx.server)),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v5 (KIP-482).
        bounds::check(body, SCHEMA, api_version, api_version >= 5)
    }
}

/// A topic that passed every check.
struct Plan {
    record: MetadataRecord,
    topic_id: TopicId,
    /// The topic's config overrides, normalized.
    configs: std::collections::BTreeMap<String, String>,
    partitions: u32,
    replication_factor: i16,
}

/// Creates one topic (unless `validate_only`); its result carries its configs only if
/// `describable`.
async fn create(
    ctx: &RequestContext,
    topic: &CreatableTopic,
    validate_only: bool,
    version: i16,
    describable: bool,
    budget: &mut u32,
    mutations: &mut Mutations,
) -> CreatableTopicResult {
    let plan = match plan(ctx, topic) {
        Ok(plan) => plan,
        Err((error, message)) => return failure(topic, error, message),
    };
    if plan.partitions > *budget {
        return failure(
            topic,
            ResponseError::PolicyViolation,
            EXCESSIVE_BATCH_MESSAGE.into(),
        );
    }
    if !validate_only && !mutations.admit(&ctx.server, plan.partitions) {
        return failure(
            topic,
            ResponseError::ThrottlingQuotaExceeded,
            THROTTLED_MESSAGE.into(),
        );
    }
    *budget -= plan.partitions;
    let (topic_id, configs) = (plan.topic_id, plan.configs);
    if !validate_only {
        let resource = format!("topic {:?}", topic.name.as_str());
        if let Err(e) = topics::commit(&ctx.server, plan.record).await {
            tracing::info!(topic = topic.name.as_str(), error = %e, "CreateTopics refused");
            crate::audit::change(ctx, "create", &resource, Some(&e.to_string()));
            return failure(topic, metadata_error_code(&e), e.to_string());
        }
        crate::audit::change(ctx, "create", &resource, None);
        tracing::info!(
            topic = topic.name.as_str(),
            partitions = plan.partitions,
            %topic_id,
            "created topic"
        );
    }
    let mut result = CreatableTopicResult::default()
        .with_name(topic.name.clone())
        .with_error_message(None);
    // num_partitions, replication_factor, configs: v5+ (KIP-525). Without DESCRIBE_CONFIGS
    // on the topic, none of them: Kafka leaves the counts at -1 and the configs empty, and
    // says why in topic_config_error_code.
    if version >= 5 && !describable {
        result.configs = Some(Vec::new());
        result.topic_config_error_code = ResponseError::TopicAuthorizationFailed.code();
    } else if version >= 5 {
        let state = ctx.server.metadata.state();
        let view = BrokerConfigs::new(
            ctx.server.config.node_id,
            &ctx.server.static_broker_configs,
            &state,
        );
        result.num_partitions = plan.partitions as i32;
        result.replication_factor = plan.replication_factor;
        result.configs = Some(
            view.topic_values(&configs)
                .map(|(def, r)| {
                    CreatableTopicConfigs::default()
                        .with_name(StrBytes::from_static_str(def.name))
                        .with_value(r.value.map(StrBytes::from_string))
                        .with_config_source(r.source.code())
                })
                .collect(),
        );
    }
    // topic_id: v7+ (KIP-516); nil when nothing was created.
    if version >= 7 && !validate_only {
        result.topic_id = topic_id.0;
    }
    result
}

/// Runs every check of one topic against the committed state and builds its record.
fn plan(ctx: &RequestContext, topic: &CreatableTopic) -> Result<Plan, (ResponseError, String)> {
    let server = &ctx.server;
    let state = server.metadata.state();
    let view = BrokerConfigs::new(server.config.node_id, &server.static_broker_configs, &state);
    let name = topic.name.as_str();

    if let Err(e) = myelin_cluster::state::validate_topic_name(name) {
        return Err((state_error_code(&e), e.to_string()));
    }
    if state.topic_by_name(name).is_some() {
        return Err((
            ResponseError::TopicAlreadyExists,
            format!("Topic '{name}' already exists."),
        ));
    }

    let (partitions, replication_factor) = if topic.assignments.is_empty() {
        let partitions = match topic.num_partitions {
            -1 => view.num_partitions(),
            n if n <= 0 => {
                return Err((
                    ResponseError::InvalidPartitions,
                    "Number of partitions was set to an invalid non-positive value.".into(),
                ))
            }
            n => n,
        };
        let replication_factor = match topic.replication_factor {
            -1 => view.default_replication_factor(),
            n if n <= 0 => {
                return Err((
                    ResponseError::InvalidReplicationFactor,
                    "Replication factor must be larger than 0, or -1 to use the default value."
                        .into(),
                ))
            }
            n => i32::from(n),
        };
        (partitions, replication_factor)
    } else {
        if topic.num_partitions != -1 {
            return Err((
                ResponseError::InvalidRequest,
                "A manual partition assignment was specified, but numPartitions was not set to \
                 -1."
                .into(),
            ));
        }
        if topic.replication_factor != -1 {
            return Err((
                ResponseError::InvalidRequest,
                "A manual partition assignment was specified, but replicationFactor was not set \
                 to -1."
                    .into(),
            ));
        }
        let replication_factor = check_assignments(&topic.assignments, server.config.node_id)?;
        (topic.assignments.len() as i32, replication_factor)
    };
    if replication_factor > 1 {
        return Err((
            ResponseError::InvalidReplicationFactor,
            format!(
                "Unable to replicate the partition {replication_factor} time(s): The target \
                 replication factor of {replication_factor} cannot be reached because only 1 \
                 broker(s) are registered."
            ),
        ));
    }
    let partitions = partitions as u32;

    let configs = normalize_topic_configs(
        topic
            .configs
            .iter()
            .map(|c| (c.name.as_str(), c.value.as_ref().map(|v| v.as_str()))),
    )
    .and_then(|configs| view.check_topic_configs(&configs).map(|()| configs))
    .map_err(|e| (topic_config_error_code(&e), e.to_string()))?;

    let topic_id = TopicId::random();
    let record = MetadataRecord::TopicCreated {
        name: name.to_string(),
        topic_id,
        partitions,
        configs: configs.clone(),
    };
    // Everything the state machine checks (name collisions in particular), without
    // committing: validate_only gets the same answers as a real creation.
    state
        .validate(&record)
        .map_err(|e| (state_error_code(&e), e.to_string()))?;
    Ok(Plan {
        record,
        topic_id,
        configs,
        partitions,
        replication_factor: replication_factor as i16,
    })
}

/// Checks a manual assignment, as Kafka's controller does; returns its replication factor.
fn check_assignments(
    assignments: &[CreatableReplicaAssignment],
    node_id: i32,
) -> Result<i32, (ResponseError, String)> {
    let invalid = |m: String| Err((ResponseError::InvalidReplicaAssignment, m));
    let mut seen = HashSet::new();
    for a in assignments {
        if !seen.insert(a.partition_index) {
            return invalid(format!(
                "Found multiple manual partition assignments for partition {}",
                a.partition_index
            ));
        }
        check_replicas(&a.broker_ids, node_id)
            .map_err(|m| (ResponseError::InvalidReplicaAssignment, m))?;
    }
    let n = assignments.len() as i32;
    if (0..n).any(|i| !seen.contains(&i)) {
        return invalid("partitions should be a consecutive 0-based integer sequence".to_string());
    }
    Ok(1)
}

/// Checks one partition's replica list: not empty, no broker twice, only this broker.
pub(crate) fn check_replicas(
    broker_ids: &[kafka_protocol::messages::BrokerId],
    node_id: i32,
) -> Result<(), String> {
    if broker_ids.is_empty() {
        return Err("The manual partition assignment includes an empty replica list.".into());
    }
    let mut seen = HashSet::new();
    for b in broker_ids {
        if !seen.insert(b.0) {
            return Err(format!(
                "The manual partition assignment includes the broker {} more than once.",
                b.0
            ));
        }
        if b.0 != node_id {
            return Err(format!(
                "The manual partition assignment includes broker {}, but no such broker is \
                 registered.",
                b.0
            ));
        }
    }
    Ok(())
}

fn failure(topic: &CreatableTopic, error: ResponseError, message: String) -> CreatableTopicResult {
    CreatableTopicResult::default()
        .with_name(topic.name.clone())
        .with_topic_id(Uuid::nil())
        .with_error_code(error.code())
        .with_error_message(Some(StrBytes::from_string(message)))
        // Kafka leaves these at their defaults on errors: -1, -1, null.
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_configs(None)
}
