//! ListGroups (key 16), v0-5: every group this broker coordinates, filtered by state
//! (v4+, KIP-518) and by type (v5+, KIP-848: `classic` or `consumer`), both compared
//! case-insensitively as Kafka does. With an authorizer, a principal without DESCRIBE on
//! the cluster sees only the groups it may DESCRIBE, as in Kafka.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType, CLUSTER_NAME};
use crate::bounds::{self, from, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    from(4, Ty::Strs), // states_filter
    from(5, Ty::Strs), // types_filter
];

/// The ListGroups handler.
#[derive(Debug)]
pub struct ListGroups;

impl Handler for ListGroups {
    type Request = ListGroupsRequest;
    type Response = ListGroupsResponse;
    const KEY: ApiKey = ApiKey::ListGroups;
    const NAME: &'static str = "ListGroups";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;

    async fn handle(
        ctx: RequestContext,
        request: ListGroupsRequest,
    ) -> Result<Reply<ListGroupsResponse>, HandlerError> {
        let version = ctx.api_version();
        let mut response = ListGroupsResponse::default();
        let listed = match ctx.server.groups.list() {
            Ok(mut listed) => {
                // Share groups (KIP-932): protocol type "share", type "share".
                listed.extend(
                    ctx.server
                        .shares
                        .list()
                        .into_iter()
                        .map(|(group_id, state)| myelin_coord::GroupListing {
                            group_id,
                            protocol_type: "share".to_string(),
                            state,
                            group_type: "share",
                        }),
                );
                listed
            }
            Err(e) => {
                response.error_code = group_error_code(&e).code();
                return Ok(Reply::Ready(response));
            }
        };
        let matches = |filter: &[StrBytes], value: &str| {
            filter.is_empty()
                || filter
                    .iter()
                    .any(|f| f.as_str().eq_ignore_ascii_case(value))
        };
        // Kafka: every group with DESCRIBE on the cluster, else the groups the principal
        // may DESCRIBE; the others are left out, without an audit.
        let authz = ctx.authz();
        let all = authz.allows_quietly(Operation::Describe, ResourceType::Cluster, CLUSTER_NAME);
        response.groups = listed
            .into_iter()
            .filter(|g| {
                all || authz.allows_quietly(Operation::Describe, ResourceType::Group, &g.group_id)
            })
            .filter(|g| matches(&request.states_filter, g.state))
            .filter(|g| matches(&request.types_filter, g.group_type))
            .map(|g| {
                let mut listed = ListedGroup::default()
                    .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                    .with_protocol_type(StrBytes::from_string(g.protocol_type));
                if version >= 4 {
                    listed.group_state = StrBytes::from_static_str(g.state);
                }
                if version >= 5 {
                    listed.group_type = StrBytes::from_static_str(g.group_type);
                }
                listed
            })
            .collect();
        Ok(Reply::Ready(response))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 3)
    }
}
