//! ListTransactions (key 66), v0-1 (KIP-664): transactional ids with their producer and
//! state, filtered by state names and producer ids, and (v1, KIP-994) by how long they have
//! been open. Unknown state names come back in `unknown_state_filters`. With an authorizer,
//! only the transactional ids the principal may DESCRIBE are listed, as in Kafka.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ApiKey, ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use myelin_coord::txn::ListFilter;

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::RequestContext;
use crate::error::HandlerError;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Strs),      // state_filters
    all(Ty::Int32s),    // producer_id_filters (int64s: at least as long as int32s)
    from(1, Ty::Int64), // duration_filter
];

/// The ListTransactions handler.
#[derive(Debug)]
pub struct ListTransactions;

impl Handler for ListTransactions {
    type Request = ListTransactionsRequest;
    type Response = ListTransactionsResponse;
    const KEY: ApiKey = ApiKey::ListTransactions;
    const NAME: &'static str = "ListTransactions";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: ListTransactionsRequest,
    ) -> Result<Reply<ListTransactionsResponse>, HandlerError> {
        let duration = if ctx.api_version() >= 1 {
            request.duration_filter
        } else {
            -1
        };
        let (filter, unknown) = ListFilter::new(
            request.state_filters.iter().map(|s| s.as_str()),
            request.producer_id_filters.iter().map(|p| p.0),
            duration,
        );
        // Kafka: only the transactional ids the principal may DESCRIBE, without an audit.
        let authz = ctx.authz();
        let states = ctx
            .server
            .txns
            .list(&filter)
            .into_iter()
            .filter(|l| {
                authz.allows_quietly(
                    Operation::Describe,
                    ResourceType::TransactionalId,
                    &l.transactional_id,
                )
            })
            .map(|l| {
                TransactionState::default()
                    .with_transactional_id(TransactionalId(StrBytes::from_string(
                        l.transactional_id,
                    )))
                    .with_producer_id(ProducerId(l.producer_id))
                    .with_transaction_state(StrBytes::from_static_str(l.state.name()))
            })
            .collect();
        Ok(Reply::Ready(
            ListTransactionsResponse::default()
                .with_unknown_state_filters(
                    unknown.into_iter().map(StrBytes::from_string).collect(),
                )
                .with_transaction_states(states),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, true)
    }
}
