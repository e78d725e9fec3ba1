//! DescribeGroups (key 15), v0-5: state, protocol and members of groups. A group that
//! does not exist is described as `Dead` with no error, as Kafka does. A group the
//! coordinator cannot describe now (its partition is loading, or `__consumer_offsets` does
//! not exist yet) gets the error, an empty state and no authorized operations, as Kafka's
//! `DescribeGroupsResponse.groupError` has it. A share group is `Dead` with no error, as
//! Kafka describes one below v6. With an authorizer, a group the principal may
//! not DESCRIBE gets GROUP_AUTHORIZATION_FAILED likewise, and `authorized_operations` are
//! the principal's.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::group_operations;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Strs),     // groups
    from(3, Ty::Bool), // include_authorized_operations
];

/// Kafka's `authorized_operations` for a group without an authorizer: READ (3), DELETE (6) and
/// DESCRIBE (8), as bits.
pub const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

/// The DescribeGroups handler.
#[derive(Debug)]
pub struct DescribeGroups;

impl Handler for DescribeGroups {
    type Request = DescribeGroupsRequest;
    type Response = DescribeGroupsResponse;
    const KEY: ApiKey = ApiKey::DescribeGroups;
    const NAME: &'static str = "DescribeGroups";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;

    async fn handle(
        ctx: RequestContext,
        request: DescribeGroupsRequest,
    ) -> Result<Reply<DescribeGroupsResponse>, HandlerError> {
        let version = ctx.api_version();
        let authz = ctx.authz();
        let groups = request
            .groups
            .into_iter()
            .map(|group_id| {
                let mut out = DescribedGroup::default().with_group_id(group_id.clone());
                // Kafka: DESCRIBE on each group, else its GROUP_AUTHORIZATION_FAILED.
                if !authz.allows(Operation::Describe, ResourceType::Group, &group_id) {
                    out.error_code = ResponseError::GroupAuthorizationFailed.code();
                    return out;
                }
                // A share group is no classic group: below v6 Kafka describes it as Dead,
                // with no error.
                if ctx.server.shares.exists(group_id.0.as_str()) {
                    out.group_state = StrBytes::from_static_str("Dead");
                    return out;
                }
                match ctx.server.groups.describe(group_id.0.as_str()) {
                    Ok(d) => {
                        // authorized_operations: v3+ (KIP-430), on groups described.
                        if version >= 3 && request.include_authorized_operations {
                            out.authorized_operations = group_operations(&authz, &group_id);
                        }
                        out.group_state = StrBytes::from_static_str(d.state);
                        out.protocol_type = StrBytes::from_string(d.protocol_type);
                        out.protocol_data = StrBytes::from_string(d.protocol_name);
                        out.members = d
                            .members
                            .into_iter()
                            .map(|m| {
                                let mut member = DescribedGroupMember::default()
                                    .with_member_id(StrBytes::from_string(m.member_id))
                                    .with_client_id(StrBytes::from_string(m.client_id))
                                    .with_client_host(StrBytes::from_string(m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment);
                                if version >= 4 {
                                    member.group_instance_id =
                                        m.group_instance_id.map(StrBytes::from_string);
                                }
                                member
                            })
                            .collect();
                    }
                    Err(e) => out.error_code = group_error_code(&e).code(),
                }
                out
            })
            .collect();
        Ok(Reply::Ready(
            DescribeGroupsResponse::default().with_groups(groups),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 5)
    }
}
