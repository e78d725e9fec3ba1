//! JoinGroup (key 11), v0-9: a member joins a group and waits for the rebalance.
//!
//! The request is converted to the coordinator's [`myelin_coord::JoinRequest`]; the answer
//! comes when the join phase completes (every member rejoined, or the rebalance timeout
//! ran out), so the handler returns [`Reply::Later`] and the connection goes on reading.
//! KIP-394 (v4+): a member without an id gets MEMBER_ID_REQUIRED and the id to rejoin
//! with. KIP-345 (v5+): `group.instance.id`. KIP-814 (v9+): `skip_assignment`. Any other
//! error answer echoes the member id of the request, as Kafka's does. With an authorizer, a
//! principal without READ on the group gets GROUP_AUTHORIZATION_FAILED, as in Kafka.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_coord::{GroupError, JoinRequest, JoinResponse, Protocol};

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::{client_host, client_id, str_of};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Str),                                      // group_id
    all(Ty::Int32),                                    // session_timeout_ms
    from(1, Ty::Int32),                                // rebalance_timeout_ms
    all(Ty::Str),                                      // member_id
    from(5, Ty::Str),                                  // group_instance_id
    all(Ty::Str),                                      // protocol_type
    all(Ty::Structs(&[all(Ty::Str), all(Ty::Bytes)])), // protocols
    from(8, Ty::Str),                                  // reason
];

/// The JoinGroup handler.
#[derive(Debug)]
pub struct JoinGroup;

impl Handler for JoinGroup {
    type Request = JoinGroupRequest;
    type Response = JoinGroupResponse;
    const KEY: ApiKey = ApiKey::JoinGroup;
    const NAME: &'static str = "JoinGroup";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 9;

    async fn handle(
        ctx: RequestContext,
        request: JoinGroupRequest,
    ) -> Result<Reply<JoinGroupResponse>, HandlerError> {
        let version = ctx.api_version();
        let group_id = request.group_id.0.to_string();
        let requested_member_id = request.member_id.clone();
        // Kafka: READ on the group, before anything else.
        if !ctx
            .authz()
            .allows(Operation::Read, ResourceType::Group, &group_id)
        {
            return Ok(Reply::Ready(error_response(
                version,
                requested_member_id,
                ResponseError::GroupAuthorizationFailed.code(),
            )));
        }
        let join = JoinRequest {
            member_id: request.member_id.to_string(),
            group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
            client_id: client_id(&ctx),
            client_host: client_host(&ctx),
            session_timeout_ms: request.session_timeout_ms,
            // v0 has no rebalance timeout: Kafka uses the session timeout.
            rebalance_timeout_ms: if version >= 1 {
                request.rebalance_timeout_ms
            } else {
                request.session_timeout_ms
            },
            protocol_type: request.protocol_type.to_string(),
            protocols: request
                .protocols
                .into_iter()
                .map(|p| Protocol {
                    name: p.name.to_string(),
                    metadata: p.metadata,
                })
                .collect(),
            require_known_member_id: version >= 4,
            supports_skip_assignment: version >= 9,
        };
        if let Some(reason) = request.reason.as_ref().filter(|r| !r.is_empty()) {
            tracing::debug!(group = %group_id, member = %join.member_id, %reason, "join");
        }
        let groups = ctx.server.groups.clone();
        // A share group holds the id: Kafka answers INCONSISTENT_GROUP_PROTOCOL.
        let share_group = ctx.server.shares.exists(&group_id);
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let result = if share_group {
                Err(myelin_coord::GroupError::InconsistentGroupProtocol)
            } else {
                groups.join(&group_id, join).await
            };
            Ok(respond(version, requested_member_id, result))
        }))))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 6)
    }
}

/// The wire response for `result` at `version`. An error answer carries the member id the
/// request named (Kafka's `JoinGroupResult(memberId, error)`), except MEMBER_ID_REQUIRED,
/// which carries the id generated for the member.
fn respond(
    version: i16,
    requested_member_id: StrBytes,
    result: Result<JoinResponse, GroupError>,
) -> JoinGroupResponse {
    let mut response = JoinGroupResponse::default();
    match result {
        Ok(r) => {
            response.generation_id = r.generation_id;
            if version >= 7 {
                response.protocol_type = r.protocol_type.map(StrBytes::from_string);
                response.protocol_name = r.protocol_name.map(StrBytes::from_string);
            } else {
                response.protocol_name = Some(str_of(r.protocol_name.unwrap_or_default()));
            }
            response.leader = str_of(r.leader);
            if version >= 9 {
                response.skip_assignment = r.skip_assignment;
            }
            response.member_id = str_of(r.member_id);
            response.members = r
                .members
                .into_iter()
                .map(|m| {
                    let mut member = JoinGroupResponseMember::default()
                        .with_member_id(str_of(m.member_id))
                        .with_metadata(m.metadata);
                    if version >= 5 {
                        member.group_instance_id = m.group_instance_id.map(StrBytes::from_string);
                    }
                    member
                })
                .collect();
        }
        Err(e) => {
            let code = group_error_code(&e).code();
            let member_id = match e {
                GroupError::MemberIdRequired { member_id } => str_of(member_id),
                _ => requested_member_id,
            };
            return error_response(version, member_id, code);
        }
    }
    response
}

/// An error answer at `version`: `code`, no generation, no protocol, `member_id`.
fn error_response(version: i16, member_id: StrBytes, code: i16) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(code)
        .with_generation_id(-1)
        // Nullable from v7; an empty string before.
        .with_protocol_name((version < 7).then(|| StrBytes::from_static_str("")))
        .with_member_id(member_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_generated_member_id_and_null_protocol() {
        let r = respond(
            9,
            StrBytes::default(),
            Err(GroupError::MemberIdRequired {
                member_id: "c-1".into(),
            }),
        );
        assert_eq!(r.error_code, 79);
        assert_eq!(r.member_id.as_str(), "c-1");
        assert_eq!(r.generation_id, -1);
        assert_eq!(r.protocol_name, None);
        let old = respond(
            3,
            StrBytes::from_static_str("m-1"),
            Err(GroupError::RebalanceInProgress),
        );
        assert_eq!(old.protocol_name.as_ref().map(|s| s.as_str()), Some(""));
        assert_eq!(old.member_id.as_str(), "m-1");
    }
}
