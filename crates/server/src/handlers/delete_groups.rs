//! DeleteGroups (key 42), v0-2: removes empty groups, their metadata and committed
//! offsets (tombstones in `__consumer_offsets`, durable before the answer). A group with
//! members gets NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND. With an authorizer, a
//! group the principal may not DELETE gets GROUP_AUTHORIZATION_FAILED, as in Kafka.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest, DeleteGroupsResponse};

use std::collections::HashSet;

use kafka_protocol::ResponseError;

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[all(Ty::Strs)]; // groups_names

/// The DeleteGroups handler.
#[derive(Debug)]
pub struct DeleteGroups;

impl Handler for DeleteGroups {
    type Request = DeleteGroupsRequest;
    type Response = DeleteGroupsResponse;
    const KEY: ApiKey = ApiKey::DeleteGroups;
    const NAME: &'static str = "DeleteGroups";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 2;

    async fn handle(
        ctx: RequestContext,
        request: DeleteGroupsRequest,
    ) -> Result<Reply<DeleteGroupsResponse>, HandlerError> {
        // Kafka: DELETE on each group, else its GROUP_AUTHORIZATION_FAILED (decided now:
        // the answer moves `ctx`).
        let denied: HashSet<String> = {
            let authz = ctx.authz();
            let mut decided = HashSet::new();
            request
                .groups_names
                .iter()
                .map(|g| g.0.as_str())
                .filter(|g| decided.insert(*g))
                .filter(|g| !authz.allows(Operation::Delete, ResourceType::Group, g))
                .map(str::to_string)
                .collect()
        };
        let groups = ctx.server.groups.clone();
        let shares = ctx.server.shares.clone();
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let mut results = Vec::with_capacity(request.groups_names.len());
            for group_id in request.groups_names {
                if denied.contains(group_id.0.as_str()) {
                    results.push(
                        DeletableGroupResult::default()
                            .with_group_id(group_id)
                            .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
                    );
                    continue;
                }
                // A share group is deleted by the share coordinator, with its state.
                let deleted = match shares.delete_group(group_id.0.as_str()).await {
                    Ok(true) => Ok(()),
                    Ok(false) => groups.delete_group(group_id.0.as_str()).await,
                    Err(e) => Err(e),
                };
                let code = match deleted {
                    Ok(()) => {
                        tracing::info!(group = %group_id.0.as_str(), "deleted group");
                        crate::audit::change(
                            &ctx,
                            "delete",
                            &format!("group {:?}", group_id.0.as_str()),
                            None,
                        );
                        0
                    }
                    Err(e) => group_error_code(&e).code(),
                };
                results.push(
                    DeletableGroupResult::default()
                        .with_group_id(group_id)
                        .with_error_code(code),
                );
            }
            Ok(DeleteGroupsResponse::default().with_results(results))
        }))))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 2)
    }
}
