//! DeleteTopics (key 20), v1-6: deletes topics by name (v1-5 `topic_names`; v6 `topics`
//! with a name) or by topic id (v6, KIP-516), as Kafka's controller does.
//!
//! A deleted topic's partitions and their log directories are removed in the same commit
//! (`PartitionManager::commit`). Unknown names get UNKNOWN_TOPIC_OR_PARTITION, unknown ids
//! UNKNOWN_TOPIC_ID; a name or id listed twice, an entry with both or neither, get
//! INVALID_REQUEST with Kafka's messages. With `delete.topic.enable=false` every topic gets
//! TOPIC_DELETION_DISABLED (INVALID_REQUEST before v3, which had no such code).
//!
//! Authorization (Kafka's controller): CLUSTER DELETE (checked quietly) allows every topic,
//! else TOPIC DELETE per topic (ids resolved to names first; an unknown id stays
//! UNKNOWN_TOPIC_ID), else TOPIC_AUTHORIZATION_FAILED, checked before existence; a topic
//! named by id comes back without its name unless the principal may DESCRIBE it.

use std::collections::HashSet;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_cluster::{MetadataError, MetadataRecord, StateError, TopicId};
use uuid::Uuid;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType, CLUSTER_NAME};
use crate::bounds::{self, from, until, Field, Ty};
use crate::configs::BrokerConfigs;
use crate::context::RequestContext;
use crate::error::{metadata_error_code, HandlerError};
use crate::quota::{Mutations, THROTTLED_MESSAGE};
use crate::topics;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    from(6, Ty::Structs(&[from(6, Ty::Str), from(6, Ty::Uuid)])), // topics
    until(5, Ty::Strs),                                           // topic_names
    from(0, Ty::Int32),                                           // timeout_ms
];

/// The DeleteTopics handler.
#[derive(Debug)]
pub struct DeleteTopics;

/// One entry to answer: a name, an id, and the error found before deleting (if any).
struct Target {
    name: Option<String>,
    topic_id: Uuid,
    error: Option<(ResponseError, Option<&'static str>)>,
}

impl Handler for DeleteTopics {
    type Request = DeleteTopicsRequest;
    type Response = DeleteTopicsResponse;
    const KEY: ApiKey = ApiKey::DeleteTopics;
    const NAME: &'static str = "DeleteTopics";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 6;

    async fn handle(
        ctx: RequestContext,
        request: DeleteTopicsRequest,
    ) -> Result<Reply<DeleteTopicsResponse>, HandlerError> {
        let version = ctx.api_version();
        let targets = targets(&request);
        let server = &ctx.server;
        let state = server.metadata.state();
        let view = BrokerConfigs::new(server.config.node_id, &server.static_broker_configs, &state);
        let enabled = view.delete_topic_enable();
        // CLUSTER DELETE allows every topic (checked quietly, as Kafka's controller does).
        let authz = ctx.authz();
        let cluster_delete =
            authz.allows_quietly(Operation::Delete, ResourceType::Cluster, CLUSTER_NAME);
        // Whether the principal may delete, and may describe, the topic `name`.
        let may = |name: &str| {
            let deletable =
                cluster_delete || authz.allows(Operation::Delete, ResourceType::Topic, name);
            let describable =
                deletable || authz.allows_quietly(Operation::Describe, ResourceType::Topic, name);
            (deletable, describable)
        };

        // The controller mutation quota: strict from v5 (KIP-599).
        let mut mutations = ctx.mutations(5);
        let mut responses = Vec::with_capacity(targets.len());
        for t in targets {
            let (error, message) = match t.error {
                Some((e, m)) => (Some(e), m.map(str::to_string)),
                None if !enabled => {
                    // TOPIC_DELETION_DISABLED exists from v3 on.
                    let e = if version >= 3 {
                        ResponseError::TopicDeletionDisabled
                    } else {
                        ResponseError::InvalidRequest
                    };
                    (Some(e), Some("Topic deletion is disabled.".to_string()))
                }
                None => (None, None),
            };
            let mut name = t.name.clone();
            let mut topic_id = t.topic_id;
            let (error, message) = match error {
                Some(e) => (Some(e), message),
                None => {
                    // Resolve the topic in the committed state: by name, or by id.
                    let state = server.metadata.state();
                    let found = match &t.name {
                        Some(n) => state.topic_by_name(n),
                        None => state.topic(TopicId(t.topic_id)),
                    };
                    match (&t.name, found) {
                        // By name: authorization before existence, so that names do not
                        // leak; who may describe the topic learns that it does not exist.
                        (Some(n), found) => match (may(n), found) {
                            ((_, false), _) => refused(),
                            (_, None) => (Some(ResponseError::UnknownTopicOrPartition), None),
                            ((false, true), Some(_)) => refused(),
                            ((true, true), Some(topic)) => {
                                topic_id = topic.topic_id.0;
                                delete(&ctx, topic, &mut mutations).await
                            }
                        },
                        // By id: an unknown id is answered as such; a known one is
                        // authorized by its name, shown only to who may describe it.
                        (None, None) => (Some(ResponseError::UnknownTopicId), None),
                        (None, Some(topic)) => match may(&topic.name) {
                            (true, _) => {
                                name = Some(topic.name.clone());
                                topic_id = topic.topic_id.0;
                                delete(&ctx, topic, &mut mutations).await
                            }
                            (false, describable) => {
                                if describable {
                                    name = Some(topic.name.clone());
                                }
                                refused()
                            }
                        },
                    }
                }
            };
            let mut r = DeletableTopicResult::default()
                .with_name(name.map(|n| TopicName(StrBytes::from_string(n))))
                .with_error_code(error.map_or(0, |e| e.code()));
            // Name-less (id-only) results exist only in v6; older versions always have one.
            if version < 6 && r.name.is_none() {
                r.name = Some(TopicName(StrBytes::from_static_str("")));
            }
            // topic_id: v6+ (KIP-516).
            if version >= 6 {
                r.topic_id = topic_id;
            }
            // error_message: v5+ (KIP-322).
            if version >= 5 {
                r.error_message = message.map(StrBytes::from_string);
            }
            responses.push(r);
        }
        Ok(Reply::Ready(
            DeleteTopicsResponse::default()
                .with_responses(responses)
                .with_throttle_time_ms(mutations.finish(&ctx.server)),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v4 (KIP-482).
        bounds::check(body, SCHEMA, api_version, api_version >= 4)
    }
}

/// The answer for a topic the principal may not delete, with Kafka's message.
fn refused() -> (Option<ResponseError>, Option<String>) {
    (
        Some(ResponseError::TopicAuthorizationFailed),
        Some("Topic authorization failed.".to_string()),
    )
}

/// Commits the deletion of one topic; the error to answer, if any.
async fn delete(
    ctx: &RequestContext,
    topic: &myelin_cluster::TopicMetadata,
    mutations: &mut Mutations,
) -> (Option<ResponseError>, Option<String>) {
    let (topic_id, name) = (topic.topic_id, topic.name.as_str());
    if !mutations.admit(&ctx.server, topic.partitions) {
        return (
            Some(ResponseError::ThrottlingQuotaExceeded),
            Some(THROTTLED_MESSAGE.into()),
        );
    }
    let resource = format!("topic {name:?}");
    match topics::commit(&ctx.server, MetadataRecord::TopicDeleted { topic_id }).await {
        Ok(_) => {
            tracing::info!(topic = name, %topic_id, "deleted topic");
            crate::audit::change(ctx, "delete", &resource, None);
            // Its groups' offsets and share groups' state go with it, as in Kafka. The
            // deletion stands if they cannot be written now (logged).
            let id = myelin_coord::consumer::TopicId(*topic_id.0.as_bytes());
            let removed = [
                (
                    "committed offsets",
                    ctx.server.groups.topic_deleted(name).await,
                ),
                (
                    "share group state",
                    ctx.server.shares.topic_deleted(id).await,
                ),
            ];
            for (what, result) in removed {
                match result {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        topic = name,
                        removed = n,
                        "removed the deleted topic's {what}"
                    ),
                    Err(e) => {
                        tracing::warn!(topic = name, error = %e, "cannot remove the deleted topic's {what}")
                    }
                }
            }
            (None, None)
        }
        // Deleted concurrently.
        Err(MetadataError::Refused(StateError::UnknownTopicId { .. })) => {
            (Some(ResponseError::UnknownTopicOrPartition), None)
        }
        Err(e) => {
            tracing::warn!(topic = name, error = %e, "cannot delete topic");
            crate::audit::change(ctx, "delete", &resource, Some(&e.to_string()));
            (Some(metadata_error_code(&e)), Some(e.to_string()))
        }
    }
}

/// The entries of the request, deduplicated as Kafka's controller does: valid ones once,
/// then one error entry per duplicated name or id.
fn targets(request: &DeleteTopicsRequest) -> Vec<Target> {
    let mut names: Vec<String> = Vec::new();
    let mut ids: Vec<Uuid> = Vec::new();
    let mut out = Vec::new();
    for n in &request.topic_names {
        names.push(n.as_str().to_string());
    }
    for t in &request.topics {
        match (&t.name, t.topic_id.is_nil()) {
            (None, true) => out.push(Target {
                name: None,
                topic_id: Uuid::nil(),
                error: Some((
                    ResponseError::InvalidRequest,
                    Some("Neither topic name nor id were specified."),
                )),
            }),
            (None, false) => ids.push(t.topic_id),
            (Some(n), true) => names.push(n.as_str().to_string()),
            (Some(n), false) => out.push(Target {
                name: Some(n.as_str().to_string()),
                topic_id: t.topic_id,
                error: Some((
                    ResponseError::InvalidRequest,
                    Some("You may not specify both topic name and topic id."),
                )),
            }),
        }
    }
    let duplicated_names = duplicates(&names);
    let duplicated_ids = duplicates(&ids);
    let mut answered_names = HashSet::new();
    for n in names {
        if !duplicated_names.contains(&n) && answered_names.insert(n.clone()) {
            out.push(Target {
                name: Some(n),
                topic_id: Uuid::nil(),
                error: None,
            });
        }
    }
    let mut answered_ids = HashSet::new();
    for id in ids {
        if !duplicated_ids.contains(&id) && answered_ids.insert(id) {
            out.push(Target {
                name: None,
                topic_id: id,
                error: None,
            });
        }
    }
    for n in duplicated_names {
        out.push(Target {
            name: Some(n),
            topic_id: Uuid::nil(),
            error: Some((ResponseError::InvalidRequest, Some("Duplicate topic name."))),
        });
    }
    for id in duplicated_ids {
        out.push(Target {
            name: None,
            topic_id: id,
            error: Some((ResponseError::InvalidRequest, Some("Duplicate topic id."))),
        });
    }
    out
}

/// The values that occur more than once, in order of first occurrence.
fn duplicates<T: Clone + Eq + std::hash::Hash>(values: &[T]) -> Vec<T> {
    let mut seen = HashSet::new();
    let mut dup = Vec::new();
    for v in values {
        if !seen.insert(v) && !dup.contains(v) {
            dup.push(v.clone());
        }
    }
    dup
}
