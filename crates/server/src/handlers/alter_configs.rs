//! AlterConfigs (key 33), v0-2: the legacy API that replaces a resource's whole set of
//! config overrides (keys absent from the request are removed), as Kafka does.
//!
//! Resources: a topic (type 2) by name; this broker (type 4) by node id, or the empty name
//! for the cluster-wide defaults; a group (type 32, KIP-848) by id, existing or not. Topic
//! configs are checked as Kafka's controller checks them (INVALID_CONFIG); broker configs
//! must be known and dynamically alterable, with valid values (INVALID_REQUEST, as Kafka);
//! group configs as Kafka's `GroupConfig` checks them (INVALID_CONFIG, see
//! [`crate::configs::GROUP_CONFIGS`]). A resource listed twice, a config listed twice in a
//! resource, and null values get INVALID_REQUEST; broker loggers are not alterable here
//! (Kafka neither). `validate_only` checks and changes nothing. A broker change gives every
//! log its new broker-wide defaults in the same step.
//!
//! Authorization, per resource, after the duplicate-resource check and before any other:
//! a topic needs TOPIC ALTER_CONFIGS (else TOPIC_AUTHORIZATION_FAILED), a group GROUP
//! ALTER_CONFIGS (else GROUP_AUTHORIZATION_FAILED), a broker CLUSTER ALTER_CONFIGS (else
//! CLUSTER_AUTHORIZATION_FAILED), as Kafka checks them.
//!
//! The checks and the commit shared with IncrementalAlterConfigs live here.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, ApiKey};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_cluster::{BrokerConfigScope, MetadataError, MetadataRecord, StateError, TopicId};

use crate::apis::{Handler, Reply};
use crate::authz::{Authz, Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::configs::{
    normalize_dynamic_broker_configs, normalize_topic_configs, resource_type, BrokerConfigs,
};
use crate::context::RequestContext;
use crate::error::{
    broker_config_error_code, metadata_error_code, state_error_code, topic_config_error_code,
    HandlerError,
};
use crate::topics;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Structs(&[
        all(Ty::Int8),                                   // resource_type
        all(Ty::Str),                                    // resource_name
        all(Ty::Structs(&[all(Ty::Str), all(Ty::Str)])), // configs
    ])),
    all(Ty::Bool), // validate_only
];

/// The AlterConfigs handler.
#[derive(Debug)]
pub struct AlterConfigs;

impl Handler for AlterConfigs {
    type Request = AlterConfigsRequest;
    type Response = AlterConfigsResponse;
    const KEY: ApiKey = ApiKey::AlterConfigs;
    const NAME: &'static str = "AlterConfigs";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 2;

    async fn handle(
        ctx: RequestContext,
        request: AlterConfigsRequest,
    ) -> Result<Reply<AlterConfigsResponse>, HandlerError> {
        // Read, check and commit one resource at a time, with no other alteration between.
        let _serialized = ctx.server.admin_lock.lock().await;
        let repeated = repeated_resources(
            request
                .resources
                .iter()
                .map(|r| (r.resource_type, r.resource_name.as_str())),
        );
        let authz = ctx.authz();
        let mut responses = Vec::with_capacity(request.resources.len());
        for resource in &request.resources {
            let key = (resource.resource_type, resource.resource_name.as_str());
            let outcome = if repeated.contains(&key) {
                Err(each_resource_once())
            } else if let Err(refusal) = authorize_alter(&authz, key.0, key.1, false) {
                Err(refusal)
            } else {
                alter(&ctx, resource, request.validate_only).await
            };
            responses.push(response(
                resource.resource_type,
                &resource.resource_name,
                outcome,
            ));
        }
        Ok(Reply::Ready(
            AlterConfigsResponse::default().with_responses(responses),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v2 (KIP-482).
        bounds::check(body, SCHEMA, api_version, api_version >= 2)
    }
}

async fn alter(
    ctx: &RequestContext,
    resource: &kafka_protocol::messages::alter_configs_request::AlterConfigsResource,
    validate_only: bool,
) -> Outcome {
    let names: Vec<&str> = resource.configs.iter().map(|c| c.name.as_str()).collect();
    check_no_duplicate_keys(&names)?;
    let nulls: Vec<&str> = resource
        .configs
        .iter()
        .filter(|c| c.value.is_none())
        .map(|c| c.name.as_str())
        .collect();
    check_no_nulls(&nulls)?;
    let target = resolve_target(ctx, resource.resource_type, resource.resource_name.as_str())?;
    let configs: BTreeMap<String, String> = resource
        .configs
        .iter()
        .map(|c| {
            let value = c.value.as_ref().map_or("", |v| v.as_str());
            (c.name.as_str().to_string(), value.to_string())
        })
        .collect();
    apply(ctx, target, configs, validate_only).await
}

/// The result of altering one resource: the error and its message, if any.
pub(crate) type Outcome = Result<(), (ResponseError, String)>;

/// Whose configs a resource names.
#[derive(Debug)]
pub(crate) enum Target {
    /// A topic, with its current overrides.
    Topic {
        name: String,
        topic_id: TopicId,
        current: BTreeMap<String, String>,
    },
    /// This broker, or the cluster-wide defaults, with the current dynamic configs.
    Broker {
        scope: BrokerConfigScope,
        current: BTreeMap<String, String>,
    },
    /// A group (KIP-848), existing or not, with its current configs.
    Group {
        group: String,
        current: BTreeMap<String, String>,
    },
}

impl Target {
    /// The overrides in place now.
    pub(crate) fn current(&self) -> &BTreeMap<String, String> {
        match self {
            Target::Topic { current, .. }
            | Target::Broker { current, .. }
            | Target::Group { current, .. } => current,
        }
    }
}

/// The resource a request names, checked as Kafka checks it.
pub(crate) fn resolve_target(
    ctx: &RequestContext,
    resource_type: i8,
    name: &str,
) -> Result<Target, (ResponseError, String)> {
    let state = ctx.server.metadata.state();
    match resource_type {
        resource_type::TOPIC => {
            if name.is_empty() {
                return Err((
                    ResponseError::InvalidRequest,
                    "Default topic resources are not allowed.".into(),
                ));
            }
            if let Err(e) = myelin_cluster::state::validate_topic_name(name) {
                return Err((state_error_code(&e), e.to_string()));
            }
            let topic = state.topic_by_name(name).ok_or_else(|| {
                (
                    ResponseError::UnknownTopicOrPartition,
                    format!("The topic '{name}' does not exist."),
                )
            })?;
            Ok(Target::Topic {
                name: name.to_string(),
                topic_id: topic.topic_id,
                current: topic.configs.clone(),
            })
        }
        resource_type::BROKER => {
            let node_id = ctx.server.config.node_id;
            let scope = if name.is_empty() {
                BrokerConfigScope::ClusterDefault
            } else {
                let id: i32 = name.parse().map_err(|_| {
                    (
                        ResponseError::InvalidRequest,
                        format!("Node id must be an integer, but it is: {name}"),
                    )
                })?;
                if id != node_id {
                    return Err((
                        ResponseError::InvalidRequest,
                        format!("Unexpected broker id, expected {node_id}, but received {name}"),
                    ));
                }
                BrokerConfigScope::Broker(node_id)
            };
            Ok(Target::Broker {
                scope,
                current: state.broker_configs(scope).clone(),
            })
        }
        resource_type::BROKER_LOGGER => Err((
            ResponseError::InvalidRequest,
            "Broker loggers are not supported: Myelin logs through tracing, not log4j".into(),
        )),
        resource_type::GROUP => {
            if name.is_empty() {
                return Err((
                    ResponseError::InvalidRequest,
                    "Group name must not be empty".into(),
                ));
            }
            Ok(Target::Group {
                group: name.to_string(),
                current: state.group_configs(name).clone(),
            })
        }
        other => Err((
            ResponseError::InvalidRequest,
            format!("Unknown resource type {other}"),
        )),
    }
}

/// Checks `configs`, the complete new set of overrides of `target`, and commits it unless
/// `validate_only`.
pub(crate) async fn apply(
    ctx: &RequestContext,
    target: Target,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Outcome {
    let server = &ctx.server;
    let state = server.metadata.state();
    let topic_name = match &target {
        Target::Topic { name, .. } => Some(name.clone()),
        Target::Broker { .. } | Target::Group { .. } => None,
    };
    let record = match target {
        Target::Topic { name, topic_id, .. } => {
            let view =
                BrokerConfigs::new(server.config.node_id, &server.static_broker_configs, &state);
            let configs = normalize_topic_configs(
                configs.iter().map(|(n, v)| (n.as_str(), Some(v.as_str()))),
            )
            .and_then(|c| view.check_topic_configs(&c).map(|()| c))
            .map_err(|e| (topic_config_error_code(&e), e.to_string()))?;
            tracing::info!(
                topic = name,
                ?configs,
                validate_only,
                "altering topic configs"
            );
            MetadataRecord::TopicConfigAltered { topic_id, configs }
        }
        Target::Broker { scope, .. } => {
            let configs = normalize_dynamic_broker_configs(
                configs.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            )
            .map_err(|e| (broker_config_error_code(&e), e.to_string()))?;
            // The log defaults these give must hold together.
            let (dynamic_default, dynamic_broker) = match scope {
                BrokerConfigScope::ClusterDefault => (
                    &configs,
                    state.broker_configs(BrokerConfigScope::Broker(server.config.node_id)),
                ),
                BrokerConfigScope::Broker(_) => (
                    state.broker_configs(BrokerConfigScope::ClusterDefault),
                    &configs,
                ),
            };
            let view = BrokerConfigs {
                node_id: server.config.node_id,
                statics: &server.static_broker_configs,
                dynamic_default,
                dynamic_broker,
            };
            view.log_defaults()
                .map_err(|e| (broker_config_error_code(&e), e.to_string()))?;
            tracing::info!(?scope, ?configs, validate_only, "altering broker configs");
            MetadataRecord::BrokerConfigAltered { scope, configs }
        }
        Target::Group { group, .. } => {
            let view =
                BrokerConfigs::new(server.config.node_id, &server.static_broker_configs, &state);
            let configs = view
                .check_group_configs(&configs)
                .map_err(|e| (ResponseError::InvalidConfig, e.to_string()))?;
            tracing::info!(group, ?configs, validate_only, "altering group configs");
            MetadataRecord::GroupConfigAltered { group, configs }
        }
    };
    if validate_only {
        return Ok(());
    }
    let resource = match &record {
        MetadataRecord::TopicConfigAltered { configs, .. } => {
            format!(
                "configs of topic {:?}: {configs:?}",
                topic_name.unwrap_or_default()
            )
        }
        MetadataRecord::BrokerConfigAltered { scope, configs } => {
            format!("broker configs {scope:?}: {configs:?}")
        }
        MetadataRecord::GroupConfigAltered { group, configs } => {
            format!("configs of group {group:?}: {configs:?}")
        }
        other => other.kind().to_string(),
    };
    let outcome = topics::commit(server, record).await;
    crate::audit::change(
        ctx,
        "alter",
        &resource,
        outcome.as_ref().err().map(|e| e.to_string()).as_deref(),
    );
    match outcome {
        Ok(_) => Ok(()),
        // Deleted since it was looked up.
        Err(MetadataError::Refused(StateError::UnknownTopicId { .. })) => Err((
            ResponseError::UnknownTopicOrPartition,
            "The topic does not exist.".into(),
        )),
        Err(e) => Err((metadata_error_code(&e), e.to_string())),
    }
}

/// Whether the principal may alter the configs of the resource `name` of type `kind`, as
/// Kafka decides it: a topic's with TOPIC ALTER_CONFIGS, a broker's
/// (and, with `loggers`, as IncrementalAlterConfigs, its loggers') with CLUSTER
/// ALTER_CONFIGS. Other types pass, to be refused as invalid.
pub(crate) fn authorize_alter(authz: &Authz<'_>, kind: i8, name: &str, loggers: bool) -> Outcome {
    authorize_configs(authz, Operation::AlterConfigs, kind, name, loggers)
}

/// Whether the principal may do `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on the
/// configs of the resource `name` of type `kind`, as Kafka decides it: on the topic, on the
/// group, or, for a broker (and with `loggers` its loggers), on the cluster. Other types
/// pass, to be refused as invalid.
pub(crate) fn authorize_configs(
    authz: &Authz<'_>,
    operation: Operation,
    kind: i8,
    name: &str,
    loggers: bool,
) -> Outcome {
    let refused =
        |error: ResponseError, what: &str| Err((error, format!("{what} authorization failed.")));
    match kind {
        resource_type::TOPIC if !authz.allows(operation, ResourceType::Topic, name) => {
            refused(ResponseError::TopicAuthorizationFailed, "Topic")
        }
        resource_type::GROUP if !authz.allows(operation, ResourceType::Group, name) => {
            refused(ResponseError::GroupAuthorizationFailed, "Group")
        }
        resource_type::BROKER | resource_type::BROKER_LOGGER
            if (kind == resource_type::BROKER || loggers) && !authz.allows_cluster(operation) =>
        {
            refused(ResponseError::ClusterAuthorizationFailed, "Cluster")
        }
        _ => Ok(()),
    }
}

/// The (type, name) pairs that occur more than once: Kafka refuses each occurrence.
pub(crate) fn repeated_resources<'a>(
    resources: impl Iterator<Item = (i8, &'a str)>,
) -> Vec<(i8, &'a str)> {
    let mut counts: HashMap<(i8, &str), usize> = HashMap::new();
    for key in resources {
        *counts.entry(key).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect()
}

pub(crate) fn each_resource_once() -> (ResponseError, String) {
    (
        ResponseError::InvalidRequest,
        "Each resource must appear at most once.".into(),
    )
}

pub(crate) fn check_no_duplicate_keys(names: &[&str]) -> Outcome {
    let mut seen = std::collections::HashSet::new();
    if names.iter().all(|n| seen.insert(*n)) {
        Ok(())
    } else {
        Err((
            ResponseError::InvalidRequest,
            "Error due to duplicate config keys".into(),
        ))
    }
}

pub(crate) fn check_no_nulls(names: &[&str]) -> Outcome {
    if names.is_empty() {
        Ok(())
    } else {
        Err((
            ResponseError::InvalidRequest,
            format!("Null value not supported for : {}", names.join(", ")),
        ))
    }
}

fn response(resource_type: i8, name: &StrBytes, outcome: Outcome) -> AlterConfigsResourceResponse {
    let r = AlterConfigsResourceResponse::default()
        .with_resource_type(resource_type)
        .with_resource_name(name.clone())
        .with_error_message(None);
    match outcome {
        Ok(()) => r,
        Err((error, message)) => r
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(message))),
    }
}
