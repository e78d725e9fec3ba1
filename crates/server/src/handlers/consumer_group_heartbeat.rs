//! ConsumerGroupHeartbeat (key 68), v0-1: the next-generation consumer group protocol
//! (KIP-848). The member sends its subscription and owned partitions; the broker computes
//! the assignment with a server-side assignor (`uniform` or `range`) and hands it out in
//! steps, so that no partition is owned by two members at once.
//!
//! v0 lets the broker generate the member id; v1 (KIP-1082) has the client generate it,
//! so an empty member id is INVALID_REQUEST. A regular-expression subscription (v1) is
//! resolved by the coordinator against the topics at each of the member's heartbeats; one
//! that does not compile gets INVALID_REGULAR_EXPRESSION.
//!
//! With an authorizer, as in Kafka 4.0: without READ on the group, GROUP_AUTHORIZATION_FAILED;
//! a subscription naming a topic the principal may not DESCRIBE (existing or not),
//! TOPIC_AUTHORIZATION_FAILED; a regular expression matches only the topics it may
//! DESCRIBE.

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_coord::consumer::{self, ConsumerHeartbeatRequest, TopicId};
use myelin_coord::GroupError;

use crate::apis::{Handler, Reply};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::{
    authorize_member, client_host, client_id, opt_string, ClusterTopics, DescribableTopics,
};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Str),                                        // group_id
    all(Ty::Str),                                        // member_id
    all(Ty::Int32),                                      // member_epoch
    all(Ty::Str),                                        // instance_id
    all(Ty::Str),                                        // rack_id
    all(Ty::Int32),                                      // rebalance_timeout_ms
    all(Ty::Strs),                                       // subscribed_topic_names
    from(1, Ty::Str),                                    // subscribed_topic_regex
    all(Ty::Str),                                        // server_assignor
    all(Ty::Structs(&[all(Ty::Uuid), all(Ty::Int32s)])), // topic_partitions
];

/// The ConsumerGroupHeartbeat handler.
#[derive(Debug)]
pub struct ConsumerGroupHeartbeat;

impl Handler for ConsumerGroupHeartbeat {
    type Request = ConsumerGroupHeartbeatRequest;
    type Response = ConsumerGroupHeartbeatResponse;
    const KEY: ApiKey = ApiKey::ConsumerGroupHeartbeat;
    const NAME: &'static str = "ConsumerGroupHeartbeat";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: ConsumerGroupHeartbeatRequest,
    ) -> Result<Reply<ConsumerGroupHeartbeatResponse>, HandlerError> {
        let version = ctx.api_version();
        let mut response = ConsumerGroupHeartbeatResponse::default();
        let fail = |mut response: ConsumerGroupHeartbeatResponse, e: ResponseError, msg: String| {
            response.error_code = e.code();
            response.error_message = Some(StrBytes::from_string(msg));
            Ok(Reply::Ready(response))
        };
        // Kafka: READ on the group, before the request is validated; then DESCRIBE on every
        // topic subscribed to by name, else TOPIC_AUTHORIZATION_FAILED.
        let authz = ctx.authz();
        let subscribed = request
            .subscribed_topic_names
            .as_ref()
            .map(|names| names.iter().map(|n| n.0.as_str()));
        if let Err(e) = authorize_member(&authz, request.group_id.0.as_str(), subscribed) {
            return fail(response, e, e.to_string());
        }
        if version >= 1 && request.member_id.is_empty() {
            return fail(
                response,
                ResponseError::InvalidRequest,
                "MemberId can't be empty.".into(),
            );
        }
        let heartbeat = ConsumerHeartbeatRequest {
            member_id: request.member_id.to_string(),
            member_epoch: request.member_epoch,
            instance_id: opt_string(&request.instance_id),
            rack_id: opt_string(&request.rack_id),
            rebalance_timeout_ms: request.rebalance_timeout_ms,
            subscribed_topic_names: request
                .subscribed_topic_names
                .map(|names| names.into_iter().map(|n| n.0.to_string()).collect()),
            subscribed_topic_regex: opt_string(&request.subscribed_topic_regex),
            server_assignor: opt_string(&request.server_assignor),
            topic_partitions: request.topic_partitions.map(|tps| {
                tps.into_iter()
                    .flat_map(|tp| {
                        let id = TopicId(*tp.topic_id.as_bytes());
                        tp.partitions.into_iter().map(move |p| (id, p))
                    })
                    .collect()
            }),
            client_id: client_id(&ctx),
            client_host: client_host(&ctx),
        };
        // A regular expression matches only the topics the principal may DESCRIBE.
        let state = ctx.server.metadata.state();
        // The group's own configs (GROUP resource, KIP-848), in place of the broker's.
        let overrides =
            crate::configs::group_overrides(state.group_configs(request.group_id.0.as_str()));
        let topics = DescribableTopics {
            topics: ClusterTopics(state),
            authz: &authz,
        };
        // A share group holds the id: Kafka answers GROUP_ID_NOT_FOUND.
        if ctx.server.shares.exists(request.group_id.0.as_str()) {
            let e = ResponseError::GroupIdNotFound;
            let id = request.group_id.0.as_str();
            return fail(response, e, format!("Group {id} is not a consumer group."));
        }
        match ctx
            .server
            .groups
            .consumer_heartbeat(request.group_id.0.as_str(), heartbeat, &topics, overrides)
            .await
        {
            Ok(r) => {
                response.member_id = Some(StrBytes::from_string(r.member_id));
                response.member_epoch = r.member_epoch;
                response.heartbeat_interval_ms = r.heartbeat_interval_ms;
                response.assignment = r.assignment.map(wire_assignment);
                Ok(Reply::Ready(response))
            }
            Err(e) => {
                let code = match &e {
                    GroupError::InvalidRequest { .. } => ResponseError::InvalidRequest,
                    GroupError::InvalidRegularExpression { .. } => {
                        ResponseError::InvalidRegularExpression
                    }
                    other => group_error_code(other),
                };
                fail(response, code, e.to_string())
            }
        }
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, true)
    }
}

/// An assignment in the response's form.
fn wire_assignment(a: consumer::Assignment) -> Assignment {
    Assignment::default().with_topic_partitions(
        a.topics()
            .map(|(id, partitions)| {
                TopicPartitions::default()
                    .with_topic_id(uuid::Uuid::from_bytes(id.0))
                    .with_partitions(partitions.iter().copied().collect())
            })
            .collect(),
    )
}
