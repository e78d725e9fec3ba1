//! IncrementalAlterConfigs (key 44), v0-1 (KIP-339): changes some of a resource's config
//! overrides and keeps the others.
//!
//! Operations: SET (0) sets a value, DELETE (1) removes an override, APPEND (2) and
//! SUBTRACT (3) add or remove elements of a list config (`cleanup.policy`,
//! `log.cleanup.policy`, ...), starting from the default when there is no override, as
//! Kafka's controller does; APPEND or SUBTRACT on any other config is INVALID_CONFIG. The
//! resulting set is checked and committed as AlterConfigs does (see
//! [`super::alter_configs`]); all or nothing per resource.
//!
//! Authorization, per resource, after the duplicate-resource check: a topic needs TOPIC
//! ALTER_CONFIGS (else TOPIC_AUTHORIZATION_FAILED), a group (KIP-848's group configs)
//! GROUP ALTER_CONFIGS (else GROUP_AUTHORIZATION_FAILED), a broker or broker loggers
//! CLUSTER ALTER_CONFIGS (else CLUSTER_AUTHORIZATION_FAILED), as Kafka checks them.

use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::bounds::{self, all, Field, Ty};
use crate::configs::{broker_config, group_config, topic_config, ConfigType, ConfigsError};
use crate::context::RequestContext;
use crate::error::{broker_config_error_code, topic_config_error_code, HandlerError};
use crate::handlers::alter_configs::{
    apply, authorize_alter, check_no_duplicate_keys, check_no_nulls, each_resource_once,
    repeated_resources, resolve_target, Outcome, Target,
};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Structs(&[
        all(Ty::Int8), // resource_type
        all(Ty::Str),  // resource_name
        all(Ty::Structs(&[
            all(Ty::Str),  // name
            all(Ty::Int8), // config_operation
            all(Ty::Str),  // value
        ])),
    ])),
    all(Ty::Bool), // validate_only
];

/// Kafka's `AlterConfigOp.OpType` codes.
mod op {
    pub const SET: i8 = 0;
    pub const DELETE: i8 = 1;
    pub const APPEND: i8 = 2;
    pub const SUBTRACT: i8 = 3;
}

/// The IncrementalAlterConfigs handler.
#[derive(Debug)]
pub struct IncrementalAlterConfigs;

impl Handler for IncrementalAlterConfigs {
    type Request = IncrementalAlterConfigsRequest;
    type Response = IncrementalAlterConfigsResponse;
    const KEY: ApiKey = ApiKey::IncrementalAlterConfigs;
    const NAME: &'static str = "IncrementalAlterConfigs";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: IncrementalAlterConfigsRequest,
    ) -> Result<Reply<IncrementalAlterConfigsResponse>, HandlerError> {
        // Each resource is read, changed and committed with no other alteration between.
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
            } else if let Err(refusal) = authorize_alter(&authz, key.0, key.1, true) {
                Err(refusal)
            } else {
                alter(&ctx, resource, request.validate_only).await
            };
            let mut r = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
                .with_error_message(None);
            if let Err((error, message)) = outcome {
                r.error_code = error.code();
                r.error_message = Some(StrBytes::from_string(message));
            }
            responses.push(r);
        }
        Ok(Reply::Ready(
            IncrementalAlterConfigsResponse::default().with_responses(responses),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v1 (KIP-482).
        bounds::check(body, SCHEMA, api_version, api_version >= 1)
    }
}

async fn alter(
    ctx: &RequestContext,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Outcome {
    let names: Vec<&str> = resource.configs.iter().map(|c| c.name.as_str()).collect();
    check_no_duplicate_keys(&names)?;
    let nulls: Vec<&str> = resource
        .configs
        .iter()
        .filter(|c| c.config_operation != op::DELETE && c.value.is_none())
        .map(|c| c.name.as_str())
        .collect();
    check_no_nulls(&nulls)?;
    if let Some(c) = resource
        .configs
        .iter()
        .find(|c| !(op::SET..=op::SUBTRACT).contains(&c.config_operation))
    {
        return Err((
            ResponseError::InvalidRequest,
            format!("Unknown operations type {}", c.config_operation),
        ));
    }
    let target = resolve_target(ctx, resource.resource_type, resource.resource_name.as_str())?;
    let is_topic = matches!(target, Target::Topic { .. });
    let is_group = matches!(target, Target::Group { .. });
    let mut configs = target.current().clone();
    for c in &resource.configs {
        let name = c.name.as_str();
        let value = c.value.as_ref().map_or("", |v| v.as_str());
        match c.config_operation {
            op::SET => {
                configs.insert(name.to_string(), value.to_string());
            }
            op::DELETE => {
                configs.remove(name);
            }
            operation => {
                let append = operation == op::APPEND;
                let def = if is_topic {
                    topic_config(name)
                } else if is_group {
                    group_config(name)
                } else {
                    broker_config(name)
                };
                let Some(def) = def.filter(|d| d.ty == ConfigType::List) else {
                    let e = ConfigsError::NotAList {
                        operation: if append { "APPEND" } else { "SUBTRACT" },
                        name: name.to_string(),
                    };
                    let code = if is_topic || is_group {
                        topic_config_error_code(&e)
                    } else {
                        broker_config_error_code(&e)
                    };
                    return Err((code, e.to_string()));
                };
                let current = configs
                    .get(name)
                    .cloned()
                    .or_else(|| def.default_value())
                    .unwrap_or_default();
                configs.insert(name.to_string(), edit_list(&current, value, append));
            }
        }
    }
    apply(ctx, target, configs, validate_only).await
}

/// `current` (a comma-separated list) with the elements of `change` appended (when not
/// present) or removed, as Kafka's controller edits list configs.
fn edit_list(current: &str, change: &str, append: bool) -> String {
    let mut parts: Vec<&str> = current.split(',').filter(|p| !p.is_empty()).collect();
    for v in change.split(',') {
        if append {
            if !parts.contains(&v) {
                parts.push(v);
            }
        } else if let Some(i) = parts.iter().position(|p| *p == v) {
            parts.remove(i);
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_edits_follow_kafka() {
        assert_eq!(edit_list("delete", "compact", true), "delete,compact");
        assert_eq!(
            edit_list("delete,compact", "compact", true),
            "delete,compact"
        );
        assert_eq!(edit_list("delete,compact", "delete", false), "compact");
        assert_eq!(edit_list("", "a,b", true), "a,b");
        assert_eq!(edit_list("a", "b", false), "a");
    }
}
