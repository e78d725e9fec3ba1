//! EndTxn (key 26), v0-3: commits or aborts the producer's transaction. Answered once the
//! COMMIT/ABORT markers are in every partition of the transaction (see
//! `myelin_coord::txn_service`). Transaction version 2 (EndTxn v5, KIP-890) is not
//! supported, so v4+ is not served. PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH
//! below v2 (KIP-588). With an authorizer, a principal without WRITE on the transactional id
//! gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as in Kafka.

use kafka_protocol::messages::{ApiKey, EndTxnRequest, EndTxnResponse, ProducerId};
use myelin_coord::txn::TxnResult;

use kafka_protocol::ResponseError;

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Operation, ResourceType};
use crate::context::RequestContext;
use crate::error::{txn_error_code, HandlerError};

/// The EndTxn handler.
#[derive(Debug)]
pub struct EndTxn;

impl Handler for EndTxn {
    type Request = EndTxnRequest;
    type Response = EndTxnResponse;
    const KEY: ApiKey = ApiKey::EndTxn;
    const NAME: &'static str = "EndTxn";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 3;

    async fn handle(
        ctx: RequestContext,
        request: EndTxnRequest,
    ) -> Result<Reply<EndTxnResponse>, HandlerError> {
        let version = ctx.api_version();
        // Kafka: WRITE on the transactional id.
        if !ctx.authz().allows(
            Operation::Write,
            ResourceType::TransactionalId,
            request.transactional_id.0.as_str(),
        ) {
            return Ok(Reply::Ready(
                EndTxnResponse::default()
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code()),
            ));
        }
        let txns = ctx.server.txns.clone();
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let mut response = EndTxnResponse::default()
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            let result = TxnResult::from_committed(request.committed);
            if let Err(e) = txns
                .end_txn(
                    request.transactional_id.0.as_str(),
                    request.producer_id.0,
                    request.producer_epoch,
                    result,
                )
                .await
            {
                response.error_code = txn_error_code(&e, version < 2).code();
            }
            Ok(response)
        }))))
    }
}
