//! The transaction coordinator's logic, with the semantics of Kafka's `TransactionCoordinator`
//! under the classic protocol (transaction version 1; KIP-890 part 2's epoch bump per
//! transaction is not implemented), and the records it keeps in `__transaction_state`.
//!
//! - [`state`]: [`TxnState`] and [`TransactionMetadata`], one per transactional id.
//! - [`ops`]: InitProducerId, AddPartitionsToTxn (with KIP-890 `verify_only`),
//!   AddOffsetsToTxn, EndTxn, marker completion, timeouts, transactional id expiry, recovery.
//! - [`describe`]: DescribeTransactions and ListTransactions.
//! - [`records`]: `TransactionLogKey` and `TransactionLogValue` v0-1, as Kafka lays them out.
//!
//! As everywhere in this crate: pure, synchronous and deterministic, no I/O and no clock
//! (`now_ms` is passed in), no Kafka wire types. The operations return the metadata to write
//! and what to do once it is durable; [`TxnError`] is mapped to Kafka error codes by the
//! server.

pub mod describe;
pub mod error;
pub mod ops;
pub mod records;
pub mod state;

mod codec;
#[cfg(test)]
mod tests;

pub use self::describe::{describe, list, ListFilter, TransactionDescription, TransactionListing};
pub use self::error::TxnError;
pub use self::ops::{
    abort_timed_out, add_offsets, add_partitions, complete, end_txn, init_needs_producer_id,
    init_producer_id, pending_completion, timed_out, transactional_id_expired,
    validate_transactional_id, verify_partitions, AddPartitionsOutcome, EndTxnOutcome, InitOutcome,
    TxnMarkers,
};
pub use self::records::{
    decode_key, decode_record, encode_key, TransactionLogValue, TxnRecord, TxnRecordError,
    TxnRecordKey, TxnTopicPartitions,
};
pub use self::state::{
    is_epoch_exhausted, ProducerIdAndEpoch, TransactionMetadata, TxnResult, TxnState,
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_TXN_START,
};

/// The internal topic of the transaction coordinator.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The transaction coordinator's settings, with Kafka's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask
    /// for (INVALID_TRANSACTION_TIMEOUT above). Default 900000 (15 minutes).
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: how long an idle transactional id with no open
    /// transaction is kept. Default 604800000 (7 days).
    pub transactional_id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often timed-out
    /// transactions are looked for. Default 10000.
    pub abort_timed_out_transactions_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`: how often expired
    /// transactional ids are looked for. Default 3600000.
    pub remove_expired_transactional_ids_interval_ms: i64,
    /// `transaction.state.log.num.partitions`: the partitions of `__transaction_state`.
    /// Default 50.
    pub state_log_partitions: u32,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            abort_timed_out_transactions_interval_ms: 10_000,
            remove_expired_transactional_ids_interval_ms: 3_600_000,
            state_log_partitions: 50,
        }
    }
}

impl TxnConfig {
    /// Checks the settings Kafka checks (each at least 1).
    pub fn validate(&self) -> Result<(), String> {
        if self.max_timeout_ms < 1 {
            return Err("transaction.max.timeout.ms must be >= 1".into());
        }
        if self.transactional_id_expiration_ms < 1 {
            return Err("transactional.id.expiration.ms must be >= 1".into());
        }
        if self.abort_timed_out_transactions_interval_ms < 1 {
            return Err(
                "transaction.abort.timed.out.transaction.cleanup.interval.ms must be >= 1".into(),
            );
        }
        if self.remove_expired_transactional_ids_interval_ms < 1 {
            return Err(
                "transaction.remove.expired.transaction.cleanup.interval.ms must be >= 1".into(),
            );
        }
        if self.state_log_partitions < 1 || self.state_log_partitions > i32::MAX as u32 {
            return Err("transaction.state.log.num.partitions must be in 1..=2147483647".into());
        }
        Ok(())
    }
}

/// Kafka's partition of `__transaction_state` for a transactional id (its
/// `TransactionStateManager.partitionFor`): `Utils.abs(transactionalId.hashCode()) %
/// partitions`, with Java's `String.hashCode` over UTF-16 code units and Kafka's
/// `Utils.abs`, which is the absolute value, except 0 for `i32::MIN`.
pub fn partition_for_transactional_id(transactional_id: &str, partitions: u32) -> i32 {
    crate::service::partition_for(transactional_id, partitions)
}
