//! DescribeCluster (key 60), v0-1 (KIP-700): the cluster id, the controller and the
//! brokers: this one broker, which is also the controller.
//!
//! v1 (KIP-919) names the endpoint type asked for: brokers (1) are answered; controllers
//! (2) get MISMATCHED_ENDPOINT_TYPE and other values UNSUPPORTED_ENDPOINT_TYPE, as a Kafka
//! broker answers (v0 clients get INVALID_REQUEST, as they cannot ask).
//!
//! Authorization, as Kafka's `AuthHelper.computeDescribeClusterResponse`: none is needed
//! to describe the cluster; the `cluster_authorized_operations` asked for are the CLUSTER
//! operations the principal may do if it may DESCRIBE the cluster, else 0.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{ApiKey, BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType, CLUSTER_NAME};
use crate::context::RequestContext;
use crate::error::HandlerError;
use crate::handlers::metadata::CLUSTER_OPERATIONS;

/// Kafka's `EndpointType` codes.
mod endpoint {
    pub const BROKER: i8 = 1;
    pub const CONTROLLER: i8 = 2;
}

/// The DescribeCluster handler.
#[derive(Debug)]
pub struct DescribeCluster;

impl Handler for DescribeCluster {
    type Request = DescribeClusterRequest;
    type Response = DescribeClusterResponse;
    const KEY: ApiKey = ApiKey::DescribeCluster;
    const NAME: &'static str = "DescribeCluster";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: DescribeClusterRequest,
    ) -> Result<Reply<DescribeClusterResponse>, HandlerError> {
        let version = ctx.api_version();
        let config = &ctx.server.config;
        let mut response = DescribeClusterResponse::default();
        // endpoint_type: v1+ (KIP-919); v0 requests always mean brokers.
        match request.endpoint_type {
            endpoint::BROKER => {}
            other => {
                let (error, message) = if other == endpoint::CONTROLLER {
                    (
                        ResponseError::MismatchedEndpointType,
                        "The request was sent to an endpoint of type BROKER, but we wanted an \
                         endpoint of type CONTROLLER"
                            .to_string(),
                    )
                } else {
                    (
                        ResponseError::UnsupportedEndpointType,
                        format!("Unsupported endpoint type {other}"),
                    )
                };
                let error = if version == 0 {
                    ResponseError::InvalidRequest
                } else {
                    error
                };
                response.error_code = error.code();
                response.error_message = Some(StrBytes::from_string(message));
                return Ok(Reply::Ready(response));
            }
        }
        let node = BrokerId(config.node_id);
        response.cluster_id = StrBytes::from_string(config.cluster_id.clone().unwrap_or_default());
        response.controller_id = node;
        response.brokers = vec![DescribeClusterBroker::default()
            .with_broker_id(node)
            .with_host(StrBytes::from_string(
                ctx.listener().advertised_host.clone(),
            ))
            .with_port(i32::from(ctx.listener().advertised_port))];
        if request.include_cluster_authorized_operations {
            let authz = ctx.authz();
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
}
