//! AddOffsetsToTxn (key 25), v0-3: a group's `__consumer_offsets` partition joins the
//! producer's transaction, so that its TxnOffsetCommit commits or aborts with it.
//! PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH below v2 (KIP-588). With an
//! authorizer, as in Kafka: WRITE on the transactional id (else
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then READ on the group (else
//! GROUP_AUTHORIZATION_FAILED).

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey};

use kafka_protocol::ResponseError;

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Operation, ResourceType};
use crate::context::RequestContext;
use crate::error::{txn_error_code, HandlerError};

/// The AddOffsetsToTxn handler.
#[derive(Debug)]
pub struct AddOffsetsToTxn;

impl Handler for AddOffsetsToTxn {
    type Request = AddOffsetsToTxnRequest;
    type Response = AddOffsetsToTxnResponse;
    const KEY: ApiKey = ApiKey::AddOffsetsToTxn;
    const NAME: &'static str = "AddOffsetsToTxn";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 3;

    async fn handle(
        ctx: RequestContext,
        request: AddOffsetsToTxnRequest,
    ) -> Result<Reply<AddOffsetsToTxnResponse>, HandlerError> {
        let version = ctx.api_version();
        // Kafka: WRITE on the transactional id, then READ on the group.
        let authz = ctx.authz();
        let refused = if !authz.allows(
            Operation::Write,
            ResourceType::TransactionalId,
            request.transactional_id.0.as_str(),
        ) {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        } else if !authz.allows(
            Operation::Read,
            ResourceType::Group,
            request.group_id.0.as_str(),
        ) {
            Some(ResponseError::GroupAuthorizationFailed)
        } else {
            None
        };
        if let Some(e) = refused {
            return Ok(Reply::Ready(
                AddOffsetsToTxnResponse::default().with_error_code(e.code()),
            ));
        }
        let txns = ctx.server.txns.clone();
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let mut response = AddOffsetsToTxnResponse::default();
            if let Err(e) = txns
                .add_offsets(
                    request.transactional_id.0.as_str(),
                    request.producer_id.0,
                    request.producer_epoch,
                    request.group_id.0.as_str(),
                )
                .await
            {
                response.error_code = txn_error_code(&e, version < 2).code();
            }
            Ok(response)
        }))))
    }
}
