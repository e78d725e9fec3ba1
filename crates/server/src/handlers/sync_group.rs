//! SyncGroup (key 14), v0-5: the leader hands out the assignments; every member gets its
//! own. Followers wait for the leader's request ([`Reply::Later`]), and everyone waits for
//! the group's metadata record to be durable in `__consumer_offsets`. An empty group id is
//! INVALID_GROUP_ID, as in Kafka. With an authorizer, a principal without READ on the
//! group gets GROUP_AUTHORIZATION_FAILED.

use kafka_protocol::messages::{ApiKey, SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_coord::SyncRequest;

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::opt_string;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Str),                                      // group_id
    all(Ty::Int32),                                    // generation_id
    all(Ty::Str),                                      // member_id
    from(3, Ty::Str),                                  // group_instance_id
    from(5, Ty::Str),                                  // protocol_type
    from(5, Ty::Str),                                  // protocol_name
    all(Ty::Structs(&[all(Ty::Str), all(Ty::Bytes)])), // assignments
];

/// The SyncGroup handler.
#[derive(Debug)]
pub struct SyncGroup;

impl Handler for SyncGroup {
    type Request = SyncGroupRequest;
    type Response = SyncGroupResponse;
    const KEY: ApiKey = ApiKey::SyncGroup;
    const NAME: &'static str = "SyncGroup";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;

    async fn handle(
        ctx: RequestContext,
        request: SyncGroupRequest,
    ) -> Result<Reply<SyncGroupResponse>, HandlerError> {
        let version = ctx.api_version();
        // Kafka: READ on the group, before the group id is looked at.
        if !ctx.authz().allows(
            Operation::Read,
            ResourceType::Group,
            request.group_id.0.as_str(),
        ) {
            return Ok(Reply::Ready(
                SyncGroupResponse::default()
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
            ));
        }
        if request.group_id.0.is_empty() {
            return Ok(Reply::Ready(
                SyncGroupResponse::default().with_error_code(ResponseError::InvalidGroupId.code()),
            ));
        }
        let group_id = request.group_id.0.to_string();
        let sync = SyncRequest {
            member_id: request.member_id.to_string(),
            group_instance_id: opt_string(&request.group_instance_id),
            generation_id: request.generation_id,
            protocol_type: opt_string(&request.protocol_type),
            protocol_name: opt_string(&request.protocol_name),
            assignments: request
                .assignments
                .into_iter()
                .map(|a| (a.member_id.to_string(), a.assignment))
                .collect(),
        };
        let groups = ctx.server.groups.clone();
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let mut response = SyncGroupResponse::default();
            match groups.sync(&group_id, sync).await {
                Ok(r) => {
                    if version >= 5 {
                        response.protocol_type = r.protocol_type.map(StrBytes::from_string);
                        response.protocol_name = r.protocol_name.map(StrBytes::from_string);
                    }
                    response.assignment = r.assignment;
                }
                Err(e) => response.error_code = group_error_code(&e).code(),
            }
            Ok(response)
        }))))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 4)
    }
}
