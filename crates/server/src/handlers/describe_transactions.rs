//! DescribeTransactions (key 65), v0 (KIP-664): the state, producer, timeout and partitions
//! of transactional ids. An unknown id gets TRANSACTIONAL_ID_NOT_FOUND. With an authorizer,
//! as in Kafka: an id the principal may not DESCRIBE gets
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, and the topics it may not DESCRIBE are left out of
//! a transaction's partitions.

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{txn_error_code, HandlerError};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[all(Ty::Strs)]; // transactional_ids

/// The DescribeTransactions handler.
#[derive(Debug)]
pub struct DescribeTransactions;

impl Handler for DescribeTransactions {
    type Request = DescribeTransactionsRequest;
    type Response = DescribeTransactionsResponse;
    const KEY: ApiKey = ApiKey::DescribeTransactions;
    const NAME: &'static str = "DescribeTransactions";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 0;

    async fn handle(
        ctx: RequestContext,
        request: DescribeTransactionsRequest,
    ) -> Result<Reply<DescribeTransactionsResponse>, HandlerError> {
        let authz = ctx.authz();
        let states = request
            .transactional_ids
            .into_iter()
            .map(|id| {
                let mut out = TransactionState::default()
                    .with_transactional_id(id.clone())
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
                    .with_transaction_start_time_ms(-1);
                // Kafka: DESCRIBE on each transactional id.
                if !authz.allows(Operation::Describe, ResourceType::TransactionalId, &id.0) {
                    out.error_code = ResponseError::TransactionalIdAuthorizationFailed.code();
                    return out;
                }
                match ctx.server.txns.describe(id.0.as_str()) {
                    Ok(d) => {
                        out.transaction_state = StrBytes::from_static_str(d.state.name());
                        out.transaction_timeout_ms = d.transaction_timeout_ms;
                        out.transaction_start_time_ms = d.transaction_start_time_ms;
                        out.producer_id = ProducerId(d.producer_id);
                        out.producer_epoch = d.producer_epoch;
                        out.topics = d
                            .topics
                            .into_iter()
                            // Kafka leaves out the topics the principal may not DESCRIBE.
                            .filter(|t| {
                                authz.allows_quietly(
                                    Operation::Describe,
                                    ResourceType::Topic,
                                    &t.topic,
                                )
                            })
                            .map(|t| {
                                TopicData::default()
                                    .with_topic(TopicName(StrBytes::from_string(t.topic)))
                                    .with_partitions(t.partition_ids)
                            })
                            .collect();
                    }
                    Err(e) => out.error_code = txn_error_code(&e, false).code(),
                }
                out
            })
            .collect();
        Ok(Reply::Ready(
            DescribeTransactionsResponse::default().with_transaction_states(states),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, true)
    }
}
