//! Heartbeat (key 12), v0-4: a member says it is alive; the answer tells it to rejoin
//! when a rebalance is on (REBALANCE_IN_PROGRESS). An empty group id is INVALID_GROUP_ID,
//! as in Kafka. With an authorizer, a principal without READ on the group gets
//! GROUP_AUTHORIZATION_FAILED.

use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse};
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::opt_string;

/// The Heartbeat handler.
#[derive(Debug)]
pub struct Heartbeat;

impl Handler for Heartbeat {
    type Request = HeartbeatRequest;
    type Response = HeartbeatResponse;
    const KEY: ApiKey = ApiKey::Heartbeat;
    const NAME: &'static str = "Heartbeat";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 4;

    async fn handle(
        ctx: RequestContext,
        request: HeartbeatRequest,
    ) -> Result<Reply<HeartbeatResponse>, HandlerError> {
        let mut response = HeartbeatResponse::default();
        // Kafka: READ on the group, before the group id is looked at.
        if !ctx.authz().allows(
            Operation::Read,
            ResourceType::Group,
            request.group_id.0.as_str(),
        ) {
            response.error_code = ResponseError::GroupAuthorizationFailed.code();
            return Ok(Reply::Ready(response));
        }
        if request.group_id.0.is_empty() {
            response.error_code = ResponseError::InvalidGroupId.code();
            return Ok(Reply::Ready(response));
        }
        let heartbeat = myelin_coord::HeartbeatRequest {
            member_id: request.member_id.to_string(),
            group_instance_id: opt_string(&request.group_instance_id),
            generation_id: request.generation_id,
        };
        if let Err(e) = ctx
            .server
            .groups
            .heartbeat(request.group_id.0.as_str(), heartbeat)
            .await
        {
            response.error_code = group_error_code(&e).code();
        }
        Ok(Reply::Ready(response))
    }
}
