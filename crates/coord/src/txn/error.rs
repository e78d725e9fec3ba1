//! The transaction coordinator's errors, named after the Kafka error codes they stand for.
//! The mapping to numeric codes lives in the server, in one place.

use super::state::TxnState;

/// Why the transaction coordinator refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// A malformed request (INVALID_REQUEST): an empty transactional id, or InitProducerId
    /// naming a producer id without an epoch or the reverse.
    #[error("invalid request: {reason}")]
    InvalidRequest { reason: &'static str },

    /// The producer's `transaction.timeout.ms` is not in 1..=`transaction.max.timeout.ms`
    /// (INVALID_TRANSACTION_TIMEOUT).
    #[error("transaction timeout {timeout_ms} ms is outside 1..={max_ms} ms")]
    InvalidTransactionTimeout { timeout_ms: i32, max_ms: i32 },

    /// The transactional id is completing a transaction (PrepareCommit, PrepareAbort) or has
    /// a write in flight; the client backs off and retries (CONCURRENT_TRANSACTIONS).
    #[error("the transaction is {state}: retry once it completes")]
    ConcurrentTransactions { state: TxnState },

    /// A newer producer holds the transactional id: the epoch is older than the current one,
    /// or (InitProducerId v3+) the producer id and epoch are neither the current ones nor a
    /// retry of the last InitProducerId (PRODUCER_FENCED). Per KIP-588 the server answers
    /// INVALID_PRODUCER_EPOCH instead to InitProducerId below v4 and AddPartitionsToTxn,
    /// AddOffsetsToTxn and EndTxn below v2, which predate the code.
    #[error(
        "producer {producer_id} epoch {producer_epoch} is fenced by producer \
         {current_producer_id} epoch {current_epoch}"
    )]
    ProducerFenced {
        producer_id: i64,
        producer_epoch: i16,
        current_producer_id: i64,
        current_epoch: i16,
    },

    /// The transactional id is unknown, or uses another producer id
    /// (INVALID_PRODUCER_ID_MAPPING).
    #[error(
        "producer id {producer_id} is not the transactional id's (it has {current_producer_id:?})"
    )]
    InvalidProducerIdMapping {
        producer_id: i64,
        /// None when the transactional id is unknown.
        current_producer_id: Option<i64>,
    },

    /// The request does not fit the transaction's state, for example EndTxn(commit) after an
    /// abort, or EndTxn with no transaction open (INVALID_TXN_STATE).
    #[error("cannot {requested} a transaction in state {state}")]
    InvalidTxnState {
        state: TxnState,
        requested: &'static str,
    },

    /// DescribeTransactions of an unknown transactional id (TRANSACTIONAL_ID_NOT_FOUND).
    #[error("transactional id not found")]
    TransactionalIdNotFound,

    /// AddPartitionsToTxn v4+ with `verify_only` (KIP-890 part 1, sent by a partition leader
    /// before it appends a transactional batch): the partition is not in the transaction, so
    /// the batch must not be written (TRANSACTION_ABORTABLE; Kafka answers INVALID_TXN_STATE
    /// to v4, which predates the code).
    #[error("the partition is not in the transaction")]
    TransactionAbortable,

    /// No producer id can be handed out yet, for instance while a block of producer ids is
    /// being allocated (COORDINATOR_LOAD_IN_PROGRESS, which clients retry, as Kafka answers).
    #[error("no producer id is available yet")]
    CoordinatorLoadInProgress,

    /// State Kafka treats as a broken invariant (an `IllegalStateException`, so
    /// UNKNOWN_SERVER_ERROR): a transactional id in state Dead or PrepareEpochFence, which
    /// Kafka never stores; an epoch that cannot be bumped; a negative new producer id.
    #[error("illegal transaction state: {reason}")]
    IllegalState { reason: String },

    /// The transaction state could not be written or read here (COORDINATOR_NOT_AVAILABLE:
    /// the client looks the coordinator up again and retries).
    #[error("the transaction coordinator is not available")]
    CoordinatorNotAvailable,
}
