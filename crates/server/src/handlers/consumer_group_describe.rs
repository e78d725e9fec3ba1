//! ConsumerGroupDescribe (key 69), v0-1: KIP-848 consumer groups with their epochs,
//! assignor, and every member's current and target assignment. A group that does not
//! exist or is a classic group gets GROUP_ID_NOT_FOUND, as in Kafka.
//!
//! With an authorizer, as in Kafka 4.0: a group the principal may not DESCRIBE gets
//! GROUP_AUTHORIZATION_FAILED, one whose members' assignments name a topic it may not
//! DESCRIBE TOPIC_AUTHORIZATION_FAILED (and nothing of the group); `authorized_operations`
//! are the principal's.

use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_coord::consumer::DescribedTopicPartitions;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::describe_groups::GROUP_OPERATIONS;
use crate::handlers::groups::{denied_topics, group_operations, ClusterTopics};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Strs), // group_ids
    all(Ty::Bool), // include_authorized_operations
];

/// Kafka's `MemberType` for a member of the consumer protocol (v1).
const CONSUMER_MEMBER_TYPE: i8 = 1;

/// The ConsumerGroupDescribe handler.
#[derive(Debug)]
pub struct ConsumerGroupDescribe;

impl Handler for ConsumerGroupDescribe {
    type Request = ConsumerGroupDescribeRequest;
    type Response = ConsumerGroupDescribeResponse;
    const KEY: ApiKey = ApiKey::ConsumerGroupDescribe;
    const NAME: &'static str = "ConsumerGroupDescribe";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: ConsumerGroupDescribeRequest,
    ) -> Result<Reply<ConsumerGroupDescribeResponse>, HandlerError> {
        let version = ctx.api_version();
        let topics = ClusterTopics(ctx.server.metadata.state());
        let authz = ctx.authz();
        let groups = request
            .group_ids
            .into_iter()
            .map(|group_id| {
                let mut out = DescribedGroup::default().with_group_id(group_id.clone());
                // Kafka: DESCRIBE on each group, else its GROUP_AUTHORIZATION_FAILED.
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
                match ctx
                    .server
                    .groups
                    .describe_consumer_group(group_id.0.as_str(), &topics)
                {
                    // Kafka: a group assigning a topic the principal may not DESCRIBE is
                    // hidden behind TOPIC_AUTHORIZATION_FAILED.
                    Ok(d)
                        if !denied_topics(
                            &authz,
                            Operation::Describe,
                            d.members.iter().flat_map(|m| {
                                m.assignment
                                    .iter()
                                    .chain(&m.target_assignment)
                                    .map(|tp| tp.topic_name.as_str())
                            }),
                        )
                        .is_empty() =>
                    {
                        out = DescribedGroup::default()
                            .with_group_id(group_id.clone())
                            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                            .with_error_message(Some(StrBytes::from_static_str(
                                "The group has described topic(s) that the client is not \
                                 authorized to describe.",
                            )));
                    }
                    Ok(d) => {
                        out.group_state = StrBytes::from_static_str(d.state.kafka_name());
                        out.group_epoch = d.group_epoch;
                        out.assignment_epoch = d.assignment_epoch;
                        out.assignor_name = StrBytes::from_string(d.assignor_name);
                        out.members = d
                            .members
                            .into_iter()
                            .map(|m| {
                                let mut member = Member::default()
                                    .with_member_id(StrBytes::from_string(m.member_id))
                                    .with_instance_id(m.instance_id.map(StrBytes::from_string))
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
                                    .with_subscribed_topic_regex(
                                        m.subscribed_topic_regex.map(StrBytes::from_string),
                                    )
                                    .with_assignment(wire_assignment(m.assignment))
                                    .with_target_assignment(wire_assignment(m.target_assignment));
                                if version >= 1 {
                                    member.member_type = CONSUMER_MEMBER_TYPE;
                                }
                                member
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
            ConsumerGroupDescribeResponse::default().with_groups(groups),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, true)
    }
}

/// An assignment in the response's form.
fn wire_assignment(partitions: Vec<DescribedTopicPartitions>) -> Assignment {
    Assignment::default().with_topic_partitions(
        partitions
            .into_iter()
            .map(|tp| {
                TopicPartitions::default()
                    .with_topic_id(uuid::Uuid::from_bytes(tp.topic_id.0))
                    .with_topic_name(TopicName(StrBytes::from_string(tp.topic_name)))
                    .with_partitions(tp.partitions)
            })
            .collect(),
    )
}
