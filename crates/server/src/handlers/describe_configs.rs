//! DescribeConfigs (key 32), v1-4: the configs of topics and of this broker, with Kafka's
//! names, values, sources, read-only flags and synonyms (v1+, when asked), config types and
//! documentation (v3+, KIP-569).
//!
//! Resources, as Kafka's `ConfigHelper` answers them:
//! - a topic (type 2): every topic config, its value in effect and where it comes from
//!   (an override is `DYNAMIC_TOPIC_CONFIG`); UNKNOWN_TOPIC_OR_PARTITION for a topic that
//!   does not exist, INVALID_TOPIC_EXCEPTION for an illegal name;
//! - this broker (type 4, named by its node id): every broker config; the empty name: the
//!   dynamic cluster-wide defaults that are set; another id or a non-number:
//!   INVALID_REQUEST;
//! - a group (type 32, KIP-848): its configs, the group's own (`DYNAMIC_GROUP_CONFIG`) or
//!   the broker's `group.consumer.*` value (`DEFAULT_CONFIG`), whether or not the group
//!   exists; INVALID_REQUEST for the empty name;
//! - broker loggers (type 8, KIP-412) and every other type: INVALID_REQUEST. Kafka
//!   describes its log4j loggers there; Myelin logs through `tracing` and has none.
//!
//! `configuration_keys` null or empty means every config; unknown keys are left out.
//!
//! Authorization, per resource and before anything else: a topic needs TOPIC
//! DESCRIBE_CONFIGS (else TOPIC_AUTHORIZATION_FAILED), a group GROUP DESCRIBE_CONFIGS
//! (else GROUP_AUTHORIZATION_FAILED), a broker or broker loggers CLUSTER DESCRIBE_CONFIGS
//! (else CLUSTER_AUTHORIZATION_FAILED), as Kafka's `KafkaApis` checks.

use std::collections::HashSet;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::Operation;
use crate::bounds::{self, all, from, Field, Ty};
use crate::configs::{
    broker_config, resource_type, BrokerConfigs, ConfigDef, ConfigSource, Resolved, SynonymValue,
    BROKER_CONFIGS,
};
use crate::context::RequestContext;
use crate::error::{state_error_code, HandlerError};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Structs(&[
        all(Ty::Int8), // resource_type
        all(Ty::Str),  // resource_name
        all(Ty::Strs), // configuration_keys
    ])),
    all(Ty::Bool),     // include_synonyms
    from(3, Ty::Bool), // include_documentation
];

/// The DescribeConfigs handler.
#[derive(Debug)]
pub struct DescribeConfigs;

/// What the client asked to see of each config.
#[derive(Clone, Copy)]
struct Detail {
    synonyms: bool,
    documentation: bool,
}

impl Handler for DescribeConfigs {
    type Request = DescribeConfigsRequest;
    type Response = DescribeConfigsResponse;
    const KEY: ApiKey = ApiKey::DescribeConfigs;
    const NAME: &'static str = "DescribeConfigs";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 4;

    async fn handle(
        ctx: RequestContext,
        request: DescribeConfigsRequest,
    ) -> Result<Reply<DescribeConfigsResponse>, HandlerError> {
        let version = ctx.api_version();
        let server = &ctx.server;
        let state = server.metadata.state();
        let view = BrokerConfigs::new(server.config.node_id, &server.static_broker_configs, &state);
        let detail = Detail {
            synonyms: request.include_synonyms,
            // include_documentation: v3+ (KIP-569).
            documentation: version >= 3 && request.include_documentation,
        };
        let authz = ctx.authz();
        let results = request
            .resources
            .iter()
            .map(|resource| {
                let outcome = authorize(&authz, resource)
                    .and_then(|()| describe(&view, &state, resource, detail));
                let result = DescribeConfigsResult::default()
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name.clone());
                match outcome {
                    Ok(configs) => result.with_configs(configs),
                    Err((error, message)) => result
                        .with_error_code(error.code())
                        .with_error_message(Some(StrBytes::from_string(message))),
                }
            })
            .collect();
        Ok(Reply::Ready(
            DescribeConfigsResponse::default().with_results(results),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v4 (KIP-482).
        bounds::check(body, SCHEMA, api_version, api_version >= 4)
    }
}

type Outcome = Result<Vec<DescribeConfigsResourceResult>, (ResponseError, String)>;

/// Whether the principal may describe the configs of `resource`, as Kafka decides it: a
/// topic's with TOPIC DESCRIBE_CONFIGS, a broker's or its loggers' with CLUSTER
/// DESCRIBE_CONFIGS. Other types are refused later, as invalid.
fn authorize(
    authz: &crate::authz::Authz<'_>,
    resource: &DescribeConfigsResource,
) -> Result<(), (ResponseError, String)> {
    crate::handlers::alter_configs::authorize_configs(
        authz,
        Operation::DescribeConfigs,
        resource.resource_type,
        resource.resource_name.as_str(),
        true,
    )
}

/// The configs of one resource the principal may describe.
fn describe(
    view: &BrokerConfigs<'_>,
    state: &myelin_cluster::MetadataState,
    resource: &DescribeConfigsResource,
    detail: Detail,
) -> Outcome {
    match resource.resource_type {
        resource_type::TOPIC => describe_topic(view, state, resource, detail),
        resource_type::BROKER => describe_broker(view, resource, detail),
        resource_type::GROUP => describe_group(view, state, resource, detail),
        resource_type::BROKER_LOGGER => Err((
            ResponseError::InvalidRequest,
            "Broker loggers are not supported: Myelin logs through tracing, not log4j".to_string(),
        )),
        other => Err((
            ResponseError::InvalidRequest,
            format!("Unsupported resource type: {other}"),
        )),
    }
}

/// The config names the request asks for; `None` for all (a null or empty list, as Kafka).
fn keys(resource: &DescribeConfigsResource) -> Option<HashSet<&str>> {
    resource
        .configuration_keys
        .as_ref()
        .filter(|keys| !keys.is_empty())
        .map(|keys| keys.iter().map(|k| k.as_str()).collect())
}

fn wanted(keys: &Option<HashSet<&str>>, name: &str) -> bool {
    keys.as_ref().is_none_or(|k| k.contains(name))
}

fn describe_topic(
    view: &BrokerConfigs<'_>,
    state: &myelin_cluster::MetadataState,
    resource: &DescribeConfigsResource,
    detail: Detail,
) -> Outcome {
    let name = resource.resource_name.as_str();
    if let Err(e) = myelin_cluster::state::validate_topic_name(name) {
        return Err((state_error_code(&e), e.to_string()));
    }
    let Some(topic) = state.topic_by_name(name) else {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("Topic '{name}' does not exist."),
        ));
    };
    let keys = keys(resource);
    Ok(view
        .topic_values(&topic.configs)
        .filter(|(def, _)| wanted(&keys, def.name))
        .map(|(def, resolved)| {
            let synonyms = if detail.synonyms {
                view.topic_synonyms(def, &topic.configs)
            } else {
                Vec::new()
            };
            entry(def, resolved, false, synonyms, detail)
        })
        .collect())
}

/// A group's configs (KIP-848), whether or not the group exists, as Kafka answers.
fn describe_group(
    view: &BrokerConfigs<'_>,
    state: &myelin_cluster::MetadataState,
    resource: &DescribeConfigsResource,
    detail: Detail,
) -> Outcome {
    let name = resource.resource_name.as_str();
    if name.is_empty() {
        return Err((
            ResponseError::InvalidRequest,
            "Group name must not be empty".to_string(),
        ));
    }
    let keys = keys(resource);
    let configs = state.group_configs(name);
    Ok(view
        .group_values(configs)
        .filter(|(def, _)| wanted(&keys, def.name))
        .map(|(def, resolved)| entry(def, resolved, false, Vec::new(), detail))
        .collect())
}

fn describe_broker(
    view: &BrokerConfigs<'_>,
    resource: &DescribeConfigsResource,
    detail: Detail,
) -> Outcome {
    let name = resource.resource_name.as_str();
    let keys = keys(resource);
    if name.is_empty() {
        // The cluster-wide defaults: only the dynamic ones that are set.
        return Ok(view
            .dynamic_default
            .iter()
            .filter(|(n, _)| wanted(&keys, n))
            .filter_map(|(n, v)| Some((broker_config(n)?, v)))
            .map(|(def, v)| {
                let synonyms = view.broker_synonyms(def, false);
                let resolved = Resolved {
                    value: Some(v.clone()),
                    source: ConfigSource::DynamicDefaultBroker,
                };
                entry(
                    def,
                    resolved,
                    !def.dynamic,
                    synonyms_if(detail, synonyms),
                    detail,
                )
            })
            .collect());
    }
    let id: i32 = name.parse().map_err(|_| {
        (
            ResponseError::InvalidRequest,
            format!("Broker id must be an integer, but it is: {name}"),
        )
    })?;
    if id != view.node_id {
        return Err((
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                view.node_id
            ),
        ));
    }
    Ok(BROKER_CONFIGS
        .iter()
        .filter(|def| wanted(&keys, def.name))
        .map(|def| {
            let synonyms = view.broker_synonyms(def, true);
            let resolved = Resolved {
                value: view.value(def.name).value,
                source: synonyms.first().map_or(ConfigSource::Default, |s| s.source),
            };
            entry(
                def,
                resolved,
                !def.dynamic,
                synonyms_if(detail, synonyms),
                detail,
            )
        })
        .collect())
}

fn synonyms_if(detail: Detail, synonyms: Vec<SynonymValue>) -> Vec<SynonymValue> {
    if detail.synonyms {
        synonyms
    } else {
        Vec::new()
    }
}

fn entry(
    def: &ConfigDef,
    resolved: Resolved,
    read_only: bool,
    synonyms: Vec<SynonymValue>,
    detail: Detail,
) -> DescribeConfigsResourceResult {
    // A password's value is never shown (Kafka: null, and flagged sensitive).
    let sensitive = def.ty == crate::configs::ConfigType::Password;
    let value = if sensitive { None } else { resolved.value };
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(def.name))
        .with_value(value.map(StrBytes::from_string))
        .with_read_only(read_only)
        .with_config_source(resolved.source.code())
        .with_is_sensitive(sensitive)
        .with_synonyms(
            synonyms
                .into_iter()
                .map(|s| {
                    DescribeConfigsSynonym::default()
                        .with_name(StrBytes::from_static_str(s.name))
                        .with_value(s.value.filter(|_| !sensitive).map(StrBytes::from_string))
                        .with_source(s.source.code())
                })
                .collect(),
        )
        // config_type, documentation: v3+ (KIP-569); the codec leaves them out below.
        .with_config_type(def.ty.code())
        .with_documentation(
            detail
                .documentation
                .then(|| StrBytes::from_static_str(def.doc)),
        )
}
