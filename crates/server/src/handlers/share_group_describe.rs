//! ShareGroupDescribe (key 77), v1: share groups (KIP-932) with their epochs, assignor
//! (`simple`) and members. A group that is not a share group gets GROUP_ID_NOT_FOUND.
//!
//! With an authorizer: a group the principal may not DESCRIBE gets
//! GROUP_AUTHORIZATION_FAILED; `authorized_operations` are the principal's.

use kafka_protocol::messages::share_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ApiKey, ShareGroupDescribeRequest, ShareGroupDescribeResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_coord::consumer::TopicMetadata;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::describe_groups::GROUP_OPERATIONS;
use crate::handlers::groups::{group_operations, ClusterTopics};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Strs), // group_ids
    all(Ty::Bool), // include_authorized_operations
];

/// The ShareGroupDescribe handler.
#[derive(Debug)]
pub struct ShareGroupDescribe;

impl Handler for ShareGroupDescribe {
    type Request = ShareGroupDescribeRequest;
    type Response = ShareGroupDescribeResponse;
    const KEY: ApiKey = ApiKey::ShareGroupDescribe;
    const NAME: &'static str = "ShareGroupDescribe";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: ShareGroupDescribeRequest,
    ) -> Result<Reply<ShareGroupDescribeResponse>, HandlerError> {
        let topics = ClusterTopics(ctx.server.metadata.state());
        let authz = ctx.authz();
        let groups = request
            .group_ids
            .into_iter()
            .map(|group_id| {
                let mut out = DescribedGroup::default().with_group_id(group_id.clone());
                if !authz.allows(Operation::Describe, ResourceType::Group, &group_id) {
                    let e = ResponseError::GroupAuthorizationFailed;
                    out.error_code = e.code();
                    out.error_message = Some(StrBytes::from_string(e.to_string()));
                    return out;
                }
                if request.include_authorized_operations {
                    out.authorized_operations = if authz.enabled() {
                        group_operations(&authz, &group_id)
                    } else {
                        GROUP_OPERATIONS
                    };
                }
                match ctx.server.shares.describe(group_id.0.as_str()) {
                    Ok(d) => {
                        out.group_state = StrBytes::from_static_str(d.state);
                        out.group_epoch = d.group_epoch;
                        out.assignment_epoch = d.assignment_epoch;
                        out.assignor_name = StrBytes::from_static_str("simple");
                        out.members = d
                            .members
                            .into_iter()
                            .map(|m| {
                                let assignment = Assignment::default().with_topic_partitions(
                                    m.assignment
                                        .into_iter()
                                        .map(|(id, partitions)| {
                                            TopicPartitions::default()
                                                .with_topic_id(uuid::Uuid::from_bytes(id.0))
                                                .with_topic_name(TopicName(StrBytes::from_string(
                                                    topics
                                                        .topic_name(&id)
                                                        .unwrap_or_default()
                                                        .to_string(),
                                                )))
                                                .with_partitions(partitions)
                                        })
                                        .collect(),
                                );
                                Member::default()
                                    .with_member_id(StrBytes::from_string(m.member_id))
                                    .with_rack_id(m.rack_id.map(StrBytes::from_string))
                                    .with_member_epoch(m.member_epoch)
                                    .with_client_id(StrBytes::from_string(m.client_id))
                                    .with_client_host(StrBytes::from_string(m.client_host))
                                    .with_subscribed_topic_names(
                                        m.subscribed_topic_names
                                            .into_iter()
                                            .map(|n| TopicName(StrBytes::from_string(n)))
                                            .collect(),
                                    )
                                    .with_assignment(assignment)
                            })
                            .collect();
                    }
                    Err(e) => {
                        out.error_code = group_error_code(&e).code();
                        out.error_message = Some(StrBytes::from_string(e.to_string()));
                    }
                }
                out
            })
            .collect();
        Ok(Reply::Ready(
            ShareGroupDescribeResponse::default().with_groups(groups),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, true)
    }
}
