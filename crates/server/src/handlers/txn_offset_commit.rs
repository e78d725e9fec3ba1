//! TxnOffsetCommit (key 28), v0-3: a transactional producer's commit of its consumer's
//! offsets, inside its transaction (after AddOffsetsToTxn).
//!
//! First the transaction coordinator is asked whether the group's partition of
//! `__consumer_offsets` is in the producer's open transaction (Kafka 3.6+, KIP-890 part 1:
//! `GroupCoordinatorService.commitTransactionalOffsets` verifies through
//! `maybeStartTransactionVerificationForPartition` before it writes). A commit without
//! AddOffsetsToTxn would otherwise open a transaction in `__consumer_offsets` that no marker
//! ever closes, its offsets pending for ever. Refusals are every partition's error, as
//! Kafka's `AddPartitionsToTxnManager` maps them for these versions (`DEFAULT_ERROR`):
//! INVALID_TXN_STATE for a partition not in the transaction (TRANSACTION_ABORTABLE from v4,
//! not offered), INVALID_PRODUCER_EPOCH for a fenced producer (PRODUCER_FENCED),
//! INVALID_PRODUCER_ID_MAPPING (unknown transactional id or another producer id),
//! CONCURRENT_TRANSACTIONS (the transaction is completing), COORDINATOR_NOT_AVAILABLE (no
//! `__transaction_state` or `__consumer_offsets` yet). An empty group id skips the check:
//! INVALID_GROUP_ID comes first, as in Kafka. Unlike Kafka's verification guard, nothing
//! ties the check to the append: a producer that ends its own transaction while its
//! TxnOffsetCommit is between the two is not caught (a fencing InitProducerId or a timeout
//! bumps the epoch, which the append refuses).
//!
//! The group coordinator then writes the offsets to the group's partition of
//! `__consumer_offsets` as one transactional batch of the producer and keeps them pending:
//! OffsetFetch shows them only once the transaction commits (the transaction coordinator's
//! marker), and an OffsetFetch with `require_stable` gets UNSTABLE_OFFSET_COMMIT for their
//! partitions meanwhile. The answer waits for the fsync.
//!
//! With an authorizer, as in Kafka's `KafkaApis`, before anything else: without WRITE on
//! the transactional id every partition gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED, without
//! READ on the group GROUP_AUTHORIZATION_FAILED; partitions of a topic without READ get
//! TOPIC_AUTHORIZATION_FAILED (whether it exists or not).
//!
//! As in Kafka: partitions of topics this broker does not host get
//! UNKNOWN_TOPIC_OR_PARTITION and the rest go to the coordinator (none: no verification, no
//! write); a group-level refusal is every other partition's error: INVALID_GROUP_ID (empty
//! group id), ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID (v3 names a
//! member of a stale generation), INVALID_PRODUCER_EPOCH (a fenced producer),
//! COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS. Metadata over
//! `offset.metadata.max.bytes` is OFFSET_METADATA_TOO_LARGE for its partition. v0-2 carry no
//! member and generation: the commit is accepted whatever the group's state. librdkafka
//! pins this API to v0-3.

use std::collections::HashSet;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::ResponseError;
use myelin_coord::txn::TxnError;
use myelin_coord::{partition_for, TopicPartition, OFFSETS_TOPIC};

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::{RequestContext, ServerContext};
use crate::error::{group_error_code, txn_error_code, HandlerError};
use crate::handlers::groups::{commit_codes, denied_topics, opt_string, split_commits};

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Str),       // transactional_id
    all(Ty::Str),       // group_id
    all(Ty::Int64),     // producer_id
    all(Ty::Int16),     // producer_epoch
    from(3, Ty::Int32), // generation_id
    from(3, Ty::Str),   // member_id
    from(3, Ty::Str),   // group_instance_id
    all(Ty::Structs(&[
        all(Ty::Str), // name
        all(Ty::Structs(&[
            all(Ty::Int32),     // partition_index
            all(Ty::Int64),     // committed_offset
            from(2, Ty::Int32), // committed_leader_epoch
            all(Ty::Str),       // committed_metadata
        ])),
    ])),
];

/// The TxnOffsetCommit handler.
#[derive(Debug)]
pub struct TxnOffsetCommit;

impl Handler for TxnOffsetCommit {
    type Request = TxnOffsetCommitRequest;
    type Response = TxnOffsetCommitResponse;
    const KEY: ApiKey = ApiKey::TxnOffsetCommit;
    const NAME: &'static str = "TxnOffsetCommit";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 3;

    async fn handle(
        ctx: RequestContext,
        request: TxnOffsetCommitRequest,
    ) -> Result<Reply<TxnOffsetCommitResponse>, HandlerError> {
        let version = ctx.api_version();
        let topics: Vec<_> = request
            .topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .into_iter()
                    .map(|p| {
                        // committed_leader_epoch: v2+.
                        let epoch = if version >= 2 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        };
                        let metadata = opt_string(&p.committed_metadata);
                        (p.partition_index, p.committed_offset, epoch, metadata)
                    })
                    .collect();
                (t.name, partitions)
            })
            .collect();
        let transactional_id = request.transactional_id.0.to_string();
        let group_id = request.group_id.0.to_string();
        // Kafka: WRITE on the transactional id, then READ on the group, else every
        // partition gets the failure; then READ on each topic, else
        // TOPIC_AUTHORIZATION_FAILED for its partitions.
        let authz = ctx.authz();
        let everywhere = if !authz.allows(
            Operation::Write,
            ResourceType::TransactionalId,
            &transactional_id,
        ) {
            Some(ResponseError::TransactionalIdAuthorizationFailed.code())
        } else if !authz.allows(Operation::Read, ResourceType::Group, &group_id) {
            Some(ResponseError::GroupAuthorizationFailed.code())
        } else {
            None
        };
        let denied = if everywhere.is_none() {
            denied_topics(
                &authz,
                Operation::Read,
                topics.iter().map(|t| t.0 .0.as_str()),
            )
        } else {
            HashSet::new()
        };
        let refused = |topic: &str| {
            everywhere.or_else(|| {
                denied
                    .contains(topic)
                    .then(|| ResponseError::TopicAuthorizationFailed.code())
            })
        };
        let (order, commits) = split_commits(&ctx.server, topics, refused);
        let producer_id = request.producer_id.0;
        let producer_epoch = request.producer_epoch;
        // generation_id, member_id, group_instance_id: v3+ (KIP-447); the codec leaves
        // them -1, "" and null below.
        let generation = request.generation_id;
        let member_id = request.member_id.to_string();
        let instance_id = opt_string(&request.group_instance_id);
        let server = ctx.server.clone();
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let (group_error, results) = if commits.is_empty() {
                // Nothing for the coordinator: Kafka neither verifies nor writes.
                (None, Vec::new())
            } else if let Err(e) = verify_in_transaction(
                &server,
                version,
                &group_id,
                &transactional_id,
                producer_id,
                producer_epoch,
            ) {
                (Some(e.code()), Vec::new())
            } else {
                let outcome = server
                    .groups
                    .txn_commit_offsets(
                        &group_id,
                        &transactional_id,
                        producer_id,
                        producer_epoch,
                        &member_id,
                        instance_id.as_deref(),
                        generation,
                        commits,
                    )
                    .await;
                match outcome {
                    Ok(results) => (None, results),
                    Err(e) => (Some(group_error_code(&e).code()), Vec::new()),
                }
            };
            let topics = commit_codes(order, group_error, results)
                .into_iter()
                .map(|(name, codes)| {
                    let partitions = codes
                        .into_iter()
                        .map(|(index, code)| {
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(index)
                                .with_error_code(code)
                        })
                        .collect();
                    TxnOffsetCommitResponseTopic::default()
                        .with_name(name)
                        .with_partitions(partitions)
                })
                .collect();
            Ok(TxnOffsetCommitResponse::default().with_topics(topics))
        }))))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 3)
    }
}

/// Whether the group's partition of `__consumer_offsets` is in the producer's open
/// transaction (AddOffsetsToTxn added it), asked of the transaction coordinator; `Err` is
/// the error for every partition of the request.
fn verify_in_transaction(
    server: &ServerContext,
    version: i16,
    group_id: &str,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<(), ResponseError> {
    if group_id.is_empty() {
        // The group coordinator's INVALID_GROUP_ID comes before the verification in Kafka.
        return Ok(());
    }
    let n = server
        .groups
        .offsets_partitions()
        .ok_or(ResponseError::CoordinatorNotAvailable)?;
    let tp = TopicPartition::new(OFFSETS_TOPIC, partition_for(group_id, n));
    let code = |e: &TxnError| match e {
        // TRANSACTION_ABORTABLE is known to clients from TxnOffsetCommit v4 (KIP-890);
        // Kafka answers older versions INVALID_TXN_STATE (`DEFAULT_ERROR`).
        TxnError::TransactionAbortable if version <= 3 => ResponseError::InvalidTxnState,
        // Kafka answers a fenced producer INVALID_PRODUCER_EPOCH here in every version.
        e => txn_error_code(e, true),
    };
    let verified = server
        .txns
        .verify_partitions(transactional_id, producer_id, producer_epoch, vec![tp])
        .map_err(|e| code(&e))?;
    match verified.into_values().find_map(Result::err) {
        Some(e) => Err(code(&e)),
        None => Ok(()),
    }
}
