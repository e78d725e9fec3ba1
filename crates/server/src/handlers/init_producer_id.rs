//! InitProducerId (key 22), v0-5: a producer id and epoch for an idempotent or
//! transactional producer.
//!
//! Without a `transactional.id` the producer gets a fresh id (never handed out before,
//! see [`crate::producer_ids`]) and epoch 0, whatever id and epoch it names (v3+, KIP-360:
//! Kafka also answers a fresh id). With one, the transaction coordinator bumps the id's
//! epoch, fencing the previous producer, and aborts its open transaction first
//! (CONCURRENT_TRANSACTIONS meanwhile: the client retries). PRODUCER_FENCED is answered as
//! INVALID_PRODUCER_EPOCH below v4 (KIP-588).
//!
//! With an authorizer, as in Kafka, first: a transactional id needs WRITE on it (else
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED); an idempotent producer IDEMPOTENT_WRITE on the
//! cluster or WRITE on some topic (KIP-679; else CLUSTER_AUTHORIZATION_FAILED).

use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use myelin_coord::txn::{ProducerIdAndEpoch, TxnError};

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Operation, ResourceType, CLUSTER_NAME};
use crate::context::RequestContext;
use crate::error::{metadata_error_code, txn_error_code, HandlerError};

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
        if let Some(code) = refusal(&ctx, &request) {
            response.error_code = code.code();
            return Ok(Reply::Ready(response));
        }
        match &request.transactional_id {
            None => {}
            // Kafka: an empty transactional id is malformed.
            Some(id) if id.0.is_empty() => {
                response.error_code = ResponseError::InvalidRequest.code();
                return Ok(Reply::Ready(response));
            }
            Some(id) => {
                let version = ctx.api_version();
                let expected = if version >= 3 {
                    match ProducerIdAndEpoch::from_request(
                        request.producer_id.0,
                        request.producer_epoch,
                    ) {
                        Ok(e) => e,
                        Err(e) => {
                            response.error_code = txn_error_code(&e, version < 4).code();
                            return Ok(Reply::Ready(response));
                        }
                    }
                } else {
                    None
                };
                let server = ctx.server.clone();
                let id = id.0.to_string();
                return Ok(Reply::Later(LaterReply(Box::pin(async move {
                    let allocator = server.clone();
                    let allocate = || async move {
                        allocator.producer_ids.next(&allocator).await.map_err(|e| {
                            tracing::warn!(error = %e, "cannot allocate a producer id");
                            TxnError::CoordinatorNotAvailable
                        })
                    };
                    match server
                        .txns
                        .init_producer_id(&id, request.transaction_timeout_ms, expected, allocate)
                        .await
                    {
                        Ok((pid, epoch)) => {
                            response.producer_id = ProducerId(pid);
                            response.producer_epoch = epoch;
                        }
                        Err(e) => response.error_code = txn_error_code(&e, version < 4).code(),
                    }
                    Ok(response)
                }))));
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

/// The authorization failure of the request, if any, as Kafka's `KafkaApis` decides it
/// before anything else: WRITE on the transactional id; without one (an idempotent
/// producer), IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
fn refusal(ctx: &RequestContext, request: &InitProducerIdRequest) -> Option<ResponseError> {
    let authz = ctx.authz();
    match &request.transactional_id {
        Some(id) => (!authz.allows(Operation::Write, ResourceType::TransactionalId, &id.0))
            .then_some(ResponseError::TransactionalIdAuthorizationFailed),
        None => {
            let allowed = authz.allows_quietly(
                Operation::IdempotentWrite,
                ResourceType::Cluster,
                CLUSTER_NAME,
            ) || authz.allows_any(Operation::Write, ResourceType::Topic);
            // Audited as the cluster operation refused.
            (!allowed && !authz.allows_cluster(Operation::IdempotentWrite))
                .then_some(ResponseError::ClusterAuthorizationFailed)
        }
    }
}
