//! CreatePartitions (key 37), v0-3: raises topics' partition counts, as Kafka's
//! controller does.
//!
//! The new count must exceed the current one (INVALID_PARTITIONS, Kafka's messages); a
//! manual assignment must list exactly the new partitions, each with this broker as its
//! only replica (INVALID_REPLICA_ASSIGNMENT). Unknown topics get UNKNOWN_TOPIC_OR_PARTITION,
//! a topic listed twice INVALID_REQUEST. `validate_only` runs the checks and changes
//! nothing. One request adds at most 10,000 partitions (POLICY_VIOLATION past that, as
//! Kafka's controller). The new partitions' logs are created in the same commit.
//!
//! Authorization: TOPIC ALTER per topic, else TOPIC_AUTHORIZATION_FAILED (checked before
//! existence, after the duplicate check), as Kafka's controller does.

use std::collections::HashMap;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{ApiKey, CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_cluster::{MetadataError, MetadataRecord, StateError};

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{metadata_error_code, state_error_code, HandlerError};
use crate::handlers::create_topics::check_replicas;
use crate::quota::{Mutations, THROTTLED_MESSAGE};
use crate::topics::{self, EXCESSIVE_BATCH_MESSAGE, MAX_NEW_PARTITIONS};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Structs(&[
        all(Ty::Str),                         // name
        all(Ty::Int32),                       // count
        all(Ty::Structs(&[all(Ty::Int32s)])), // assignments
    ])),
    all(Ty::Int32), // timeout_ms
    all(Ty::Bool),  // validate_only
];

/// The CreatePartitions handler.
#[derive(Debug)]
pub struct CreatePartitions;

impl Handler for CreatePartitions {
    type Request = CreatePartitionsRequest;
    type Response = CreatePartitionsResponse;
    const KEY: ApiKey = ApiKey::CreatePartitions;
    const NAME: &'static str = "CreatePartitions";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 3;

    async fn handle(
        ctx: RequestContext,
        request: CreatePartitionsRequest,
    ) -> Result<Reply<CreatePartitionsResponse>, HandlerError> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for t in &request.topics {
            *counts.entry(t.name.as_str()).or_default() += 1;
        }
        let authz = ctx.authz();
        let mut answered = std::collections::HashSet::new();
        let mut results = Vec::with_capacity(counts.len());
        // New partitions this request may still add (see `MAX_NEW_PARTITIONS`).
        let mut budget = MAX_NEW_PARTITIONS;
        // The controller mutation quota: strict from v3 (KIP-599).
        let mut mutations = ctx.mutations(3);
        for topic in &request.topics {
            let name = topic.name.as_str();
            if !answered.insert(name) {
                continue;
            }
            let outcome = if counts[name] > 1 {
                Err((
                    ResponseError::InvalidRequest,
                    Some("Duplicate topic name.".into()),
                ))
            } else if !authz.allows(Operation::Alter, ResourceType::Topic, name) {
                Err((
                    ResponseError::TopicAuthorizationFailed,
                    Some("Topic authorization failed.".into()),
                ))
            } else {
                create(
                    &ctx,
                    topic,
                    request.validate_only,
                    &mut budget,
                    &mut mutations,
                )
                .await
            };
            let mut r = CreatePartitionsTopicResult::default()
                .with_name(topic.name.clone())
                .with_error_message(None);
            if let Err((error, message)) = outcome {
                r.error_code = error.code();
                r.error_message = message.map(StrBytes::from_string);
            }
            results.push(r);
        }
        Ok(Reply::Ready(
            CreatePartitionsResponse::default()
                .with_results(results)
                .with_throttle_time_ms(mutations.finish(&ctx.server)),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v2 (KIP-482).
        bounds::check(body, SCHEMA, api_version, api_version >= 2)
    }
}

type Outcome = Result<(), (ResponseError, Option<String>)>;

async fn create(
    ctx: &RequestContext,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
    budget: &mut u32,
    mutations: &mut Mutations,
) -> Outcome {
    let name = topic.name.as_str();
    let state = ctx.server.metadata.state();
    let Some(existing) = state.topic_by_name(name) else {
        return Err((ResponseError::UnknownTopicOrPartition, None));
    };
    let current = existing.partitions as i64;
    let requested = i64::from(topic.count);
    if requested < current {
        return Err((
            ResponseError::InvalidPartitions,
            Some(format!(
                "The topic {name} currently has {current} partition(s); {requested} would not be \
                 an increase."
            )),
        ));
    }
    if requested == current {
        return Err((
            ResponseError::InvalidPartitions,
            Some(format!("Topic already has {current} partition(s).")),
        ));
    }
    let added = requested - current;
    if added > i64::from(*budget) {
        return Err((
            ResponseError::PolicyViolation,
            Some(EXCESSIVE_BATCH_MESSAGE.into()),
        ));
    }
    if let Some(assignments) = &topic.assignments {
        if assignments.len() as i64 != added {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                Some(format!(
                    "Attempted to add {added} additional partition(s), but only {} \
                     assignment(s) were specified.",
                    assignments.len()
                )),
            ));
        }
        for a in assignments {
            check_replicas(&a.broker_ids, ctx.server.config.node_id)
                .map_err(|m| (ResponseError::InvalidReplicaAssignment, Some(m)))?;
        }
    }
    let record = MetadataRecord::PartitionsCreated {
        topic_id: existing.topic_id,
        new_total: requested as u32,
    };
    state
        .validate(&record)
        .map_err(|e| (state_error_code(&e), Some(e.to_string())))?;
    *budget -= added as u32;
    if validate_only {
        return Ok(());
    }
    if !mutations.admit(&ctx.server, added as u32) {
        return Err((
            ResponseError::ThrottlingQuotaExceeded,
            Some(THROTTLED_MESSAGE.into()),
        ));
    }
    let operation = format!("add partitions ({current} to {requested})");
    let resource = format!("topic {name:?}");
    match topics::commit(&ctx.server, record).await {
        Ok(_) => {
            tracing::info!(
                topic = name,
                from = current,
                to = requested,
                "added partitions"
            );
            crate::audit::change(ctx, &operation, &resource, None);
            Ok(())
        }
        Err(MetadataError::Refused(StateError::UnknownTopicId { .. })) => {
            Err((ResponseError::UnknownTopicOrPartition, None))
        }
        Err(e) => Err((metadata_error_code(&e), Some(e.to_string()))),
    }
}
