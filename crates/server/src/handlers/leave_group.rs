//! LeaveGroup (key 13), v0-5: members leave a group at once rather than after their
//! session times out. v0-2 name one member; v3+ (KIP-345) a batch, by member id or by
//! `group.instance.id`, answered one by one. An empty group id is INVALID_GROUP_ID, as in
//! Kafka. With an authorizer, a principal without READ on the group gets the top-level
//! GROUP_AUTHORIZATION_FAILED.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_coord::LeaveMember;

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, from, until, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::opt_string;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    crate::bounds::all(Ty::Str), // group_id
    until(2, Ty::Str),           // member_id
    from(
        3,
        Ty::Structs(&[
            crate::bounds::all(Ty::Str), // member_id
            crate::bounds::all(Ty::Str), // group_instance_id
            from(5, Ty::Str),            // reason
        ]),
    ), // members
];

/// The LeaveGroup handler.
#[derive(Debug)]
pub struct LeaveGroup;

impl Handler for LeaveGroup {
    type Request = LeaveGroupRequest;
    type Response = LeaveGroupResponse;
    const KEY: ApiKey = ApiKey::LeaveGroup;
    const NAME: &'static str = "LeaveGroup";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;

    async fn handle(
        ctx: RequestContext,
        request: LeaveGroupRequest,
    ) -> Result<Reply<LeaveGroupResponse>, HandlerError> {
        let version = ctx.api_version();
        // Kafka: READ on the group, else the top-level GROUP_AUTHORIZATION_FAILED (no
        // member answers, in every version).
        if !ctx.authz().allows(
            Operation::Read,
            ResourceType::Group,
            request.group_id.0.as_str(),
        ) {
            return Ok(Reply::Ready(
                LeaveGroupResponse::default()
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
            ));
        }
        if request.group_id.0.is_empty() {
            return Ok(Reply::Ready(
                LeaveGroupResponse::default().with_error_code(ResponseError::InvalidGroupId.code()),
            ));
        }
        let members: Vec<LeaveMember> = if version >= 3 {
            request
                .members
                .iter()
                .map(|m| LeaveMember {
                    member_id: m.member_id.to_string(),
                    group_instance_id: opt_string(&m.group_instance_id),
                })
                .collect()
        } else {
            vec![LeaveMember {
                member_id: request.member_id.to_string(),
                group_instance_id: None,
            }]
        };
        let group_id = request.group_id.0.to_string();
        let groups = ctx.server.groups.clone();
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let mut response = LeaveGroupResponse::default();
            match groups.leave(&group_id, members).await {
                Ok(results) if version >= 3 => {
                    response.members = results
                        .into_iter()
                        .map(|r| {
                            MemberResponse::default()
                                .with_member_id(StrBytes::from_string(r.member_id))
                                .with_group_instance_id(
                                    r.group_instance_id.map(StrBytes::from_string),
                                )
                                .with_error_code(
                                    r.result.err().map_or(0, |e| group_error_code(&e).code()),
                                )
                        })
                        .collect();
                }
                Ok(results) => {
                    // v0-2: the one member's error is the response's.
                    if let Some(Err(e)) = results.into_iter().next().map(|r| r.result) {
                        response.error_code = group_error_code(&e).code();
                    }
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
