//! FindCoordinator (key 10), v0-4: where a group's or a transactional id's coordinator is.
//!
//! The group and transaction coordinators are not built yet (their issues are open), so
//! every key is answered COORDINATOR_NOT_AVAILABLE (15), with node -1, as a Kafka broker
//! answers while its coordinator is not loaded: clients retry, and no client is sent to a
//! coordinator that would then refuse its JoinGroup.
//!
//! The API is served already because librdkafka takes it as the sign of a Kafka 0.8.2+
//! broker: without FindCoordinator advertised it silently sends `lz4` batches uncompressed
//! (`rd_kafka_feature_map` in librdkafka's `src/rdkafka_feature.c`; see
//! docs/kafka-compat-notes.md).

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
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
        let error = ResponseError::CoordinatorNotAvailable.code();
        let mut response = FindCoordinatorResponse::default();
        if ctx.api_version() >= 4 {
            // v4+ (KIP-699): a batch of keys, one coordinator entry each.
            response.coordinators = request
                .coordinator_keys
                .into_iter()
                .map(|key| {
                    Coordinator::default()
                        .with_key(key)
                        .with_node_id(BrokerId(-1))
                        .with_host(StrBytes::from_static_str(""))
                        .with_port(-1)
                        .with_error_code(error)
                        .with_error_message(Some(StrBytes::from_static_str(NOT_AVAILABLE)))
                })
                .collect();
        } else {
            response.error_code = error;
            response.node_id = BrokerId(-1);
            response.host = StrBytes::from_static_str("");
            response.port = -1;
            // error_message: v1+.
            if ctx.api_version() >= 1 {
                response.error_message = Some(StrBytes::from_static_str(NOT_AVAILABLE));
            }
        }
        Ok(Reply::Ready(response))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v3 (KIP-482).
        bounds::check(body, SCHEMA, api_version, api_version >= 3)
    }
}
