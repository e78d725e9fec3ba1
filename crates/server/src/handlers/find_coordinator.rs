//! FindCoordinator (key 10), v0-4: where a group's or a transactional id's coordinator is.
//!
//! Groups and transactional ids are coordinated by this broker: the first lookup creates
//! `__consumer_offsets` or `__transaction_state` (Kafka does the same), and a partition of
//! it that is still loading answers COORDINATOR_LOAD_IN_PROGRESS. An empty transactional id
//! gets COORDINATOR_NOT_AVAILABLE.
//!
//! With an authorizer, as in Kafka: a group key needs DESCRIBE on the group (else
//! GROUP_AUTHORIZATION_FAILED), a transactional id DESCRIBE on it (else
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED), each key of a v4+ batch on its own.
//!
//! librdkafka takes this API as the sign of a Kafka 0.8.2+ broker: without it advertised it
//! silently sends `lz4` batches uncompressed (`rd_kafka_feature_map` in librdkafka's
//! `src/rdkafka_feature.c`; see docs/kafka-compat-notes.md).

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_coord::CoordinatorLookup;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, from, until, Field, Ty};
use crate::context::RequestContext;
use crate::error::HandlerError;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    until(3, Ty::Str), // key
    from(1, Ty::Int8), // key_type
    from(4, Ty::Strs), // coordinator_keys
];

const NOT_AVAILABLE: &str = "The coordinator is not available.";

/// The FindCoordinator handler.
#[derive(Debug)]
pub struct FindCoordinator;

impl Handler for FindCoordinator {
    type Request = FindCoordinatorRequest;
    type Response = FindCoordinatorResponse;
    const KEY: ApiKey = ApiKey::FindCoordinator;
    const NAME: &'static str = "FindCoordinator";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 4;

    async fn handle(
        ctx: RequestContext,
        request: FindCoordinatorRequest,
    ) -> Result<Reply<FindCoordinatorResponse>, HandlerError> {
        let version = ctx.api_version();
        let key_type = if version >= 1 { request.key_type } else { 0 };
        let mut response = FindCoordinatorResponse::default();
        if version >= 4 {
            // v4+ (KIP-699): a batch of keys, one coordinator entry each.
            let mut coordinators = Vec::with_capacity(request.coordinator_keys.len());
            for key in request.coordinator_keys {
                let answer = match refusal(&ctx, key_type, key.as_str()) {
                    Some(refused) => refused,
                    None => locate(&ctx, key_type, key.as_str()).await,
                };
                let (node, host, port, error, message) = answer.fields(&ctx);
                coordinators.push(
                    Coordinator::default()
                        .with_key(key)
                        .with_node_id(node)
                        .with_host(host)
                        .with_port(port)
                        .with_error_code(error)
                        .with_error_message(message),
                );
            }
            response.coordinators = coordinators;
        } else {
            let answer = match refusal(&ctx, key_type, request.key.as_str()) {
                Some(refused) => refused,
                None => locate(&ctx, key_type, request.key.as_str()).await,
            };
            let (node, host, port, error, message) = answer.fields(&ctx);
            response.error_code = error;
            response.node_id = node;
            response.host = host;
            response.port = port;
            // error_message: v1+.
            if version >= 1 {
                response.error_message = message;
            }
        }
        Ok(Reply::Ready(response))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v3 (KIP-482).
        bounds::check(body, SCHEMA, api_version, api_version >= 3)
    }
}

/// Kafka's `FindCoordinatorRequest.CoordinatorType` codes.
mod key_type {
    pub const GROUP: i8 = 0;
    pub const TRANSACTION: i8 = 1;
}

/// Where a key's coordinator is.
enum Answer {
    /// Here, on this broker.
    Here,
    /// Nowhere for now: the error and its message.
    Error(ResponseError, &'static str),
}

impl Answer {
    /// Node id, host, port, error code and error message as the response carries them.
    fn fields(&self, ctx: &RequestContext) -> (BrokerId, StrBytes, i32, i16, Option<StrBytes>) {
        match self {
            Answer::Here => (
                BrokerId(ctx.server.config.node_id),
                StrBytes::from_string(ctx.listener().advertised_host.clone()),
                i32::from(ctx.listener().advertised_port),
                0,
                None,
            ),
            Answer::Error(e, message) => (
                BrokerId(-1),
                StrBytes::from_static_str(""),
                -1,
                e.code(),
                Some(StrBytes::from_static_str(message)),
            ),
        }
    }
}

/// The authorization failure of one key, if any (Kafka's `KafkaApis`, before the
/// coordinator is looked up or its topic created): DESCRIBE on the group, or on the
/// transactional id.
fn refusal(ctx: &RequestContext, key_type: i8, key: &str) -> Option<Answer> {
    let authz = ctx.authz();
    match key_type {
        key_type::GROUP if !authz.allows(Operation::Describe, ResourceType::Group, key) => {
            Some(Answer::Error(
                ResponseError::GroupAuthorizationFailed,
                "Group authorization failed.",
            ))
        }
        key_type::TRANSACTION
            if !authz.allows(Operation::Describe, ResourceType::TransactionalId, key) =>
        {
            Some(Answer::Error(
                ResponseError::TransactionalIdAuthorizationFailed,
                "Transactional Id authorization failed.",
            ))
        }
        _ => None,
    }
}

/// Finds the coordinator for one key: this broker for groups and transactional ids
/// (creating `__consumer_offsets` or `__transaction_state` on first use, as Kafka does).
async fn locate(ctx: &RequestContext, key_type: i8, key: &str) -> Answer {
    match key_type {
        key_type::GROUP => match ctx.server.groups.lookup(key).await {
            CoordinatorLookup::Ready => Answer::Here,
            CoordinatorLookup::Loading => Answer::Error(
                ResponseError::CoordinatorLoadInProgress,
                "The coordinator is loading and hence can't process requests.",
            ),
            CoordinatorLookup::Unavailable => {
                Answer::Error(ResponseError::CoordinatorNotAvailable, NOT_AVAILABLE)
            }
        },
        key_type::TRANSACTION => match ctx.server.txns.lookup(key).await {
            CoordinatorLookup::Ready => Answer::Here,
            CoordinatorLookup::Loading => Answer::Error(
                ResponseError::CoordinatorLoadInProgress,
                "The coordinator is loading and hence can't process requests.",
            ),
            CoordinatorLookup::Unavailable => {
                Answer::Error(ResponseError::CoordinatorNotAvailable, NOT_AVAILABLE)
            }
        },
        _ => Answer::Error(ResponseError::InvalidRequest, "Unknown coordinator type."),
    }
}
