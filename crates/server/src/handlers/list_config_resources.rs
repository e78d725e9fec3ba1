//! ListConfigResources (key 74), v0-1: the resources whose configs DescribeConfigs can
//! show, as `Admin.listConfigResources` and `kafka-configs.sh --describe --entity-type
//! groups` (without a name) enumerate them.
//!
//! As Kafka's `KafkaApis` answers it:
//! - v0 (KIP-1000, then named ListClientMetricsResources) lists client-metrics
//!   subscriptions only: Myelin has none (no client telemetry, KIP-714), so none;
//! - v1 (KIP-1142) lists the types asked for, every supported type when none is: topics by
//!   name, this broker by node id, the groups the coordinator has together with the groups
//!   that only have configs (KIP-848 group configs, which may outlive a group), and client
//!   metrics (none). A type outside TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS and GROUP
//!   fails the whole request with UNSUPPORTED_VERSION. Broker loggers are accepted as a type
//!   but none is listed: DescribeConfigs does not describe them (Myelin logs through
//!   `tracing`, not log4j).
//!
//! Authorization: CLUSTER DESCRIBE_CONFIGS, else CLUSTER_AUTHORIZATION_FAILED and nothing
//! listed, as in Kafka 4.1 and 4.2.

use std::collections::BTreeSet;

use kafka_protocol::messages::list_config_resources_response::ConfigResource;
use kafka_protocol::messages::{ApiKey, ListConfigResourcesRequest, ListConfigResourcesResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::Operation;
use crate::bounds::{self, from, Field, Ty};
use crate::configs::resource_type;
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};

/// Kafka's resource type of a client-metrics subscription (KIP-714).
const CLIENT_METRICS: i8 = 16;

/// The types v1 lists, in Kafka's order, when the request names none.
const SUPPORTED: [i8; 5] = [
    resource_type::TOPIC,
    resource_type::BROKER,
    resource_type::BROKER_LOGGER,
    CLIENT_METRICS,
    resource_type::GROUP,
];

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    from(1, Ty::Int8s), // resource_types
];

/// The ListConfigResources handler.
#[derive(Debug)]
pub struct ListConfigResources;

impl Handler for ListConfigResources {
    type Request = ListConfigResourcesRequest;
    type Response = ListConfigResourcesResponse;
    const KEY: ApiKey = ApiKey::ListConfigResources;
    const NAME: &'static str = "ListConfigResources";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: ListConfigResourcesRequest,
    ) -> Result<Reply<ListConfigResourcesResponse>, HandlerError> {
        let mut response = ListConfigResourcesResponse::default();
        if !ctx.authz().allows_cluster(Operation::DescribeConfigs) {
            response.error_code = ResponseError::ClusterAuthorizationFailed.code();
            return Ok(Reply::Ready(response));
        }
        // v0 lists client metrics only; v1 the types asked for, or all.
        let types: Vec<i8> = if ctx.api_version() == 0 {
            vec![CLIENT_METRICS]
        } else if request.resource_types.is_empty() {
            SUPPORTED.to_vec()
        } else {
            request.resource_types.clone()
        };
        if types.iter().any(|t| !SUPPORTED.contains(t)) {
            response.error_code = ResponseError::UnsupportedVersion.code();
            return Ok(Reply::Ready(response));
        }
        let state = ctx.server.metadata.state();
        let mut resources = Vec::new();
        let mut listed = |kind: i8, name: String| {
            resources.push(
                ConfigResource::default()
                    .with_resource_type(kind)
                    .with_resource_name(StrBytes::from_string(name)),
            )
        };
        for kind in types {
            match kind {
                resource_type::TOPIC => {
                    for topic in state.topics() {
                        listed(kind, topic.name.clone());
                    }
                }
                resource_type::BROKER => listed(kind, ctx.server.config.node_id.to_string()),
                resource_type::GROUP => {
                    let groups = match ctx.server.groups.list() {
                        Ok(groups) => groups,
                        Err(e) => {
                            response.error_code = group_error_code(&e).code();
                            return Ok(Reply::Ready(response));
                        }
                    };
                    let names: BTreeSet<String> = groups
                        .into_iter()
                        .map(|g| g.group_id)
                        .chain(state.groups_with_configs().map(str::to_string))
                        .collect();
                    for name in names {
                        listed(kind, name);
                    }
                }
                // Broker loggers (not described) and client metrics (none).
                _ => {}
            }
        }
        response.config_resources = resources;
        Ok(Reply::Ready(response))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible in every version.
        bounds::check(body, SCHEMA, api_version, true)
    }
}
