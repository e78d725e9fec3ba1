//! InitProducerId (key 22), v0-5: a producer id and epoch for an idempotent producer.
//!
//! Without a `transactional.id` the producer gets a fresh id (never handed out before,
//! see [`crate::producer_ids`]) and epoch 0, whatever id and epoch it names (v3+, KIP-360:
//! Kafka also answers a fresh id). Transactional ids belong to the transaction coordinator,
//! which does not exist yet: they get COORDINATOR_NOT_AVAILABLE, as FindCoordinator tells
//! clients for them.

use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::context::RequestContext;
use crate::error::{metadata_error_code, HandlerError};

/// The InitProducerId handler.
#[derive(Debug)]
pub struct InitProducerId;

impl Handler for InitProducerId {
    type Request = InitProducerIdRequest;
    type Response = InitProducerIdResponse;
    const KEY: ApiKey = ApiKey::InitProducerId;
    const NAME: &'static str = "InitProducerId";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;

    async fn handle(
        ctx: RequestContext,
        request: InitProducerIdRequest,
    ) -> Result<Reply<InitProducerIdResponse>, HandlerError> {
        let mut response = InitProducerIdResponse::default()
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        match &request.transactional_id {
            None => {}
            // Kafka: an empty transactional id is malformed.
            Some(id) if id.0.is_empty() => {
                response.error_code = ResponseError::InvalidRequest.code();
                return Ok(Reply::Ready(response));
            }
            Some(_) => {
                response.error_code = ResponseError::CoordinatorNotAvailable.code();
                return Ok(Reply::Ready(response));
            }
        }
        match ctx.server.producer_ids.next(&ctx.server).await {
            Ok(id) => {
                response.producer_id = ProducerId(id);
                response.producer_epoch = 0;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot allocate a producer id");
                response.error_code = metadata_error_code(&e).code();
            }
        }
        Ok(Reply::Ready(response))
    }
}
