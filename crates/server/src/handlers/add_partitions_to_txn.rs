//! AddPartitionsToTxn (key 24), v0-4: partitions join a producer's transaction before it
//! writes to them. v0-3 carry one transaction (librdkafka pins v0); v4 (KIP-890) a batch of
//! transactions, each possibly `verify_only` (a partition leader asking whether a partition
//! is in the transaction), answered per transaction with a top-level error.
//!
//! Partitions that do not exist get UNKNOWN_TOPIC_OR_PARTITION and the others
//! OPERATION_NOT_ATTEMPTED, as in Kafka; a transaction-level refusal (fenced producer,
//! concurrent transactions, ...) is every partition's error. PRODUCER_FENCED is answered as
//! INVALID_PRODUCER_EPOCH below v2 (KIP-588), TRANSACTION_ABORTABLE as INVALID_TXN_STATE to
//! v4.
//!
//! With an authorizer, as in Kafka: v0-3 (clients) need WRITE on the transactional id (else
//! every partition gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and WRITE on each topic
//! (else its partitions get TOPIC_AUTHORIZATION_FAILED, whether it exists or not, and the
//! others OPERATION_NOT_ATTEMPTED; Kafka's internal topics are refused so); v4 (brokers)
//! CLUSTER_ACTION on the cluster (else the top-level CLUSTER_AUTHORIZATION_FAILED).

use std::collections::{HashMap, HashSet};

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, TransactionalId,
};
use kafka_protocol::ResponseError;
use myelin_coord::txn::TxnError;
use myelin_coord::TopicPartition;

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Authz, Operation, ResourceType};
use crate::bounds::{self, all, from, until, Field, Ty};
use crate::context::{RequestContext, ServerContext};
use crate::error::{txn_error_code, HandlerError};
use crate::handlers::groups::denied_topics;
use crate::topics::INTERNAL_TOPICS;

const TOPICS: Ty = Ty::Structs(&[all(Ty::Str), all(Ty::Int32s)]);

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    from(
        4,
        Ty::Structs(&[
            all(Ty::Str),   // transactional_id
            all(Ty::Int64), // producer_id
            all(Ty::Int16), // producer_epoch
            all(Ty::Bool),  // verify_only
            all(TOPICS),    // topics
        ]),
    ), // transactions
    until(3, Ty::Str),   // v3_and_below_transactional_id
    until(3, Ty::Int64), // v3_and_below_producer_id
    until(3, Ty::Int16), // v3_and_below_producer_epoch
    until(3, TOPICS),    // v3_and_below_topics
];

/// The AddPartitionsToTxn handler.
#[derive(Debug)]
pub struct AddPartitionsToTxn;

impl Handler for AddPartitionsToTxn {
    type Request = AddPartitionsToTxnRequest;
    type Response = AddPartitionsToTxnResponse;
    const KEY: ApiKey = ApiKey::AddPartitionsToTxn;
    const NAME: &'static str = "AddPartitionsToTxn";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 4;

    async fn handle(
        ctx: RequestContext,
        request: AddPartitionsToTxnRequest,
    ) -> Result<Reply<AddPartitionsToTxnResponse>, HandlerError> {
        let version = ctx.api_version();
        let authz = ctx.authz();
        // v4+ come from brokers (KIP-890 verification): Kafka wants CLUSTER_ACTION.
        if version >= 4 && !authz.allows_cluster(Operation::ClusterAction) {
            return Ok(Reply::Ready(
                AddPartitionsToTxnResponse::default()
                    .with_error_code(ResponseError::ClusterAuthorizationFailed.code()),
            ));
        }
        let refusal = if version <= 3 {
            client_refusal(
                &authz,
                &request.v3_and_below_transactional_id,
                &request.v3_and_below_topics,
            )
        } else {
            Refusal::default()
        };
        drop(authz);
        let server = ctx.server.clone();
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let mut response = AddPartitionsToTxnResponse::default();
            if version <= 3 {
                response.results_by_topic_v3_and_below = one(
                    &server,
                    version,
                    &request.v3_and_below_transactional_id,
                    request.v3_and_below_producer_id.0,
                    request.v3_and_below_producer_epoch,
                    false,
                    request.v3_and_below_topics,
                    &refusal,
                )
                .await;
            } else {
                for t in request.transactions {
                    let topic_results = one(
                        &server,
                        version,
                        &t.transactional_id,
                        t.producer_id.0,
                        t.producer_epoch,
                        t.verify_only,
                        t.topics,
                        &Refusal::default(),
                    )
                    .await;
                    response.results_by_transaction.push(
                        AddPartitionsToTxnResult::default()
                            .with_transactional_id(t.transactional_id)
                            .with_topic_results(topic_results),
                    );
                }
            }
            Ok(response)
        }))))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 3)
    }
}

/// What a client's (v0-3) request may not do, as Kafka's `KafkaApis` decides it.
#[derive(Debug, Default)]
struct Refusal {
    /// No WRITE on the transactional id: every partition gets
    /// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
    transactional_id: bool,
    /// The topics without WRITE (and, with an authorizer, Kafka's internal topics, which a
    /// client may never add): their partitions get TOPIC_AUTHORIZATION_FAILED, the others
    /// OPERATION_NOT_ATTEMPTED.
    topics: HashSet<String>,
}

/// The [`Refusal`] of a v0-3 request.
fn client_refusal(
    authz: &Authz<'_>,
    transactional_id: &TransactionalId,
    topics: &[AddPartitionsToTxnTopic],
) -> Refusal {
    if !authz.allows(
        Operation::Write,
        ResourceType::TransactionalId,
        transactional_id.0.as_str(),
    ) {
        return Refusal {
            transactional_id: true,
            topics: HashSet::new(),
        };
    }
    let mut refused: HashSet<String> = topics
        .iter()
        .map(|t| t.name.0.as_str())
        .filter(|t| authz.enabled() && INTERNAL_TOPICS.contains(t))
        .map(str::to_string)
        .collect();
    refused.extend(denied_topics(
        authz,
        Operation::Write,
        topics
            .iter()
            .map(|t| t.name.0.as_str())
            .filter(|t| !INTERNAL_TOPICS.contains(t)),
    ));
    Refusal {
        transactional_id: false,
        topics: refused,
    }
}

/// One transaction's partitions, answered per partition.
#[allow(clippy::too_many_arguments)]
async fn one(
    server: &std::sync::Arc<ServerContext>,
    version: i16,
    transactional_id: &TransactionalId,
    producer_id: i64,
    producer_epoch: i16,
    verify_only: bool,
    topics: Vec<AddPartitionsToTxnTopic>,
    refusal: &Refusal,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let requested: Vec<(kafka_protocol::messages::TopicName, Vec<i32>)> =
        topics.into_iter().map(|t| (t.name, t.partitions)).collect();
    let unknown = |topic: &str, p: i32| server.partitions.get(topic, p).is_none();
    let any_unknown = requested
        .iter()
        .any(|(t, ps)| ps.iter().any(|p| unknown(t.0.as_str(), *p)));
    let partitions: Vec<TopicPartition> = requested
        .iter()
        .flat_map(|(t, ps)| ps.iter().map(|p| TopicPartition::new(t.0.to_string(), *p)))
        .collect();
    let code_of_error = |e: &TxnError| {
        let code = txn_error_code(e, version < 2);
        if version == 4 && code == ResponseError::TransactionAbortable {
            ResponseError::InvalidTxnState
        } else {
            code
        }
        .code()
    };
    // Per partition: 0, or the error code.
    let mut codes: HashMap<(String, i32), i16> = HashMap::new();
    let mut all = |code: i16| {
        for tp in &partitions {
            codes.insert((tp.topic.clone(), tp.partition), code);
        }
    };
    if refusal.transactional_id {
        all(ResponseError::TransactionalIdAuthorizationFailed.code());
    } else if any_unknown || !refusal.topics.is_empty() {
        for tp in &partitions {
            let code = if refusal.topics.contains(&tp.topic) {
                ResponseError::TopicAuthorizationFailed
            } else if unknown(&tp.topic, tp.partition) {
                ResponseError::UnknownTopicOrPartition
            } else {
                ResponseError::OperationNotAttempted
            };
            codes.insert((tp.topic.clone(), tp.partition), code.code());
        }
    } else if verify_only {
        match server.txns.verify_partitions(
            transactional_id.0.as_str(),
            producer_id,
            producer_epoch,
            partitions.clone(),
        ) {
            Ok(map) => {
                for (tp, r) in map {
                    let code = r.err().map_or(0, |e| code_of_error(&e));
                    codes.insert((tp.topic, tp.partition), code);
                }
            }
            Err(e) => all(code_of_error(&e)),
        }
    } else {
        let code = match server
            .txns
            .add_partitions(
                transactional_id.0.as_str(),
                producer_id,
                producer_epoch,
                partitions.clone(),
            )
            .await
        {
            Ok(()) => 0,
            Err(e) => code_of_error(&e),
        };
        all(code);
    }
    let outcome = |t: &str, p: i32| codes.get(&(t.to_string(), p)).copied().unwrap_or(0);
    requested
        .into_iter()
        .map(|(name, ps)| {
            let results = ps
                .iter()
                .map(|p| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(outcome(name.0.as_str(), *p))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(name)
                .with_results_by_partition(results)
        })
        .collect()
}
