//! A transactional id's state: [`TxnState`] and [`TransactionMetadata`], Kafka's
//! `TransactionState` and `TransactionMetadata`, and their conversion to and from the stored
//! [`TransactionLogValue`].

use std::collections::BTreeSet;
use std::fmt;

use super::error::TxnError;
use super::records::{TransactionLogValue, TxnTopicPartitions};
use crate::offsets::TopicPartition;

/// Kafka's `RecordBatch.NO_PRODUCER_ID`.
pub const NO_PRODUCER_ID: i64 = -1;
/// Kafka's `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// A transaction start time when no transaction has started (Kafka's -1).
pub const NO_TXN_START: i64 = -1;

/// The state of a transactional id, with Kafka's ids (stored as `transaction_status`) and
/// names (answered by DescribeTransactions and ListTransactions, and accepted as
/// ListTransactions state filters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnState {
    /// No transaction yet, or a new producer epoch after InitProducerId. Id 0.
    Empty,
    /// Partitions have been added; the transaction is open. Id 1.
    Ongoing,
    /// EndTxn(commit) is durable; commit markers are being written. Id 2.
    PrepareCommit,
    /// EndTxn(abort), a timeout or a fencing InitProducerId is durable; abort markers are
    /// being written. Id 3.
    PrepareAbort,
    /// Every partition has its commit marker. Id 4.
    CompleteCommit,
    /// Every partition has its abort marker. Id 5.
    CompleteAbort,
    /// Kafka's transient state of an id being expired; Kafka writes a tombstone, never this
    /// state, so it is only ever read from a damaged log. Id 6.
    Dead,
    /// Kafka's transient state while it bumps the epoch to fence a producer; never written
    /// (the bump is written as PrepareAbort). Id 7.
    PrepareEpochFence,
}

impl TxnState {
    /// Every state, in id order.
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    /// Kafka's id, as stored in `transaction_status`.
    pub const fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    /// The state with Kafka's id `id`.
    pub fn from_id(id: i8) -> Option<Self> {
        usize::try_from(id)
            .ok()
            .and_then(|i| TxnState::ALL.get(i).copied())
    }

    /// Kafka's name, as DescribeTransactions and ListTransactions answer it.
    pub const fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state named `name` (exactly, as Kafka matches ListTransactions state filters).
    pub fn from_name(name: &str) -> Option<Self> {
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether an idle transactional id in this state may be expired
    /// (`transactional.id.expiration.ms`): no transaction is open or completing.
    pub const fn is_expiration_allowed(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

impl fmt::Display for TxnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a transaction ends: EndTxn's `committed` flag, and the control record type of the
/// markers written to its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnResult {
    Commit,
    Abort,
}

impl TxnResult {
    /// From EndTxn's `committed` field.
    pub const fn from_committed(committed: bool) -> Self {
        if committed {
            TxnResult::Commit
        } else {
            TxnResult::Abort
        }
    }

    /// The state that prepares this result (PrepareCommit or PrepareAbort).
    pub const fn prepare_state(self) -> TxnState {
        match self {
            TxnResult::Commit => TxnState::PrepareCommit,
            TxnResult::Abort => TxnState::PrepareAbort,
        }
    }

    /// The state that completes this result (CompleteCommit or CompleteAbort).
    pub const fn complete_state(self) -> TxnState {
        match self {
            TxnResult::Commit => TxnState::CompleteCommit,
            TxnResult::Abort => TxnState::CompleteAbort,
        }
    }

    /// "commit" or "abort", for messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            TxnResult::Commit => "commit",
            TxnResult::Abort => "abort",
        }
    }
}

/// The producer id and epoch a producer names in InitProducerId v3+ (KIP-360), to resume
/// after an error without being fenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub epoch: i16,
}

impl ProducerIdAndEpoch {
    /// From InitProducerId's `producer_id` and `producer_epoch` (v3+; -1 and -1 below v3):
    /// both -1 is None (a producer starting afresh); one -1 without the other is
    /// INVALID_REQUEST, as Kafka's `KafkaApis` answers.
    pub fn from_request(producer_id: i64, epoch: i16) -> Result<Option<Self>, TxnError> {
        match (producer_id, epoch) {
            (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => Ok(None),
            (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => Err(TxnError::InvalidRequest {
                reason: "producer id and producer epoch must both be -1 or both be set",
            }),
            (producer_id, epoch) => Ok(Some(ProducerIdAndEpoch { producer_id, epoch })),
        }
    }
}

/// Whether `epoch` leaves no room to bump: Kafka never hands out an epoch of `i16::MAX - 1`
/// or more from InitProducerId, so that the coordinator can always fence the producer with
/// one more bump; at this point InitProducerId moves the transactional id to a new producer
/// id.
pub const fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// The coordinator's state of one transactional id (Kafka's `TransactionMetadata`, without
/// its pending state: the operations in [`super::ops`] return the next metadata instead of
/// changing this one, and the caller replaces it once the record is durable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionMetadata {
    /// The producer id the transactional id uses now.
    pub producer_id: i64,
    /// The producer id before the last InitProducerId (the same id unless it moved to a new
    /// one when the epoch was exhausted); lets a KIP-360 retry of that InitProducerId through.
    /// Not stored: [`NO_PRODUCER_ID`] after a load, as in Kafka.
    pub last_producer_id: i64,
    /// The current epoch; [`NO_PRODUCER_EPOCH`] only before the first InitProducerId is
    /// durable.
    pub producer_epoch: i16,
    /// The epoch before the last InitProducerId when the producer named its epoch (KIP-360),
    /// so that a retry gets the same answer; [`NO_PRODUCER_EPOCH`] otherwise. Not stored:
    /// [`NO_PRODUCER_EPOCH`] after a load, as in Kafka.
    pub last_producer_epoch: i16,
    /// The producer's `transaction.timeout.ms`, from its last InitProducerId.
    pub txn_timeout_ms: i32,
    pub state: TxnState,
    /// The partitions in the transaction (the `__consumer_offsets` partition of a group
    /// included, after AddOffsetsToTxn); empty when no transaction is open or completing.
    pub partitions: BTreeSet<TopicPartition>,
    /// When the first partition of the current transaction was added; [`NO_TXN_START`] when
    /// no transaction has started since the last InitProducerId.
    pub txn_start_ms: i64,
    /// When the metadata last changed; the base of `transactional.id.expiration.ms`.
    pub txn_last_update_ms: i64,
}

impl TransactionMetadata {
    /// Whether the current epoch is exhausted ([`is_epoch_exhausted`]).
    pub const fn is_epoch_exhausted(&self) -> bool {
        is_epoch_exhausted(self.producer_epoch)
    }

    /// The record value for this metadata, as Kafka writes it: partitions grouped by topic
    /// (in topic, then partition order), null in state Empty; the tagged fields of v1 at their
    /// defaults.
    pub fn to_log_value(&self) -> TransactionLogValue {
        let partitions = (self.state != TxnState::Empty).then(|| {
            let mut topics: Vec<TxnTopicPartitions> = Vec::new();
            for tp in &self.partitions {
                match topics.last_mut() {
                    Some(last) if last.topic == tp.topic => last.partition_ids.push(tp.partition),
                    _ => topics.push(TxnTopicPartitions {
                        topic: tp.topic.clone(),
                        partition_ids: vec![tp.partition],
                    }),
                }
            }
            topics
        });
        TransactionLogValue {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            transaction_timeout_ms: self.txn_timeout_ms,
            status: self.state,
            partitions,
            last_update_timestamp_ms: self.txn_last_update_ms,
            start_timestamp_ms: self.txn_start_ms,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            client_transaction_version: 0,
        }
    }

    /// The metadata a stored value loads as, as Kafka's loader builds it: the last producer id
    /// and epoch unknown, the partitions of an Empty value ignored, duplicates merged. A null
    /// partition list in another state (Kafka never writes one) loads as no partitions.
    pub fn from_log_value(value: &TransactionLogValue) -> Self {
        let partitions = if value.status == TxnState::Empty {
            BTreeSet::new()
        } else {
            value
                .partitions
                .iter()
                .flatten()
                .flat_map(|entry| {
                    entry
                        .partition_ids
                        .iter()
                        .map(|&p| TopicPartition::new(entry.topic.clone(), p))
                })
                .collect()
        };
        TransactionMetadata {
            producer_id: value.producer_id,
            last_producer_id: NO_PRODUCER_ID,
            producer_epoch: value.producer_epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms: value.transaction_timeout_ms,
            state: value.status,
            partitions,
            txn_start_ms: value.start_timestamp_ms,
            txn_last_update_ms: value.last_update_timestamp_ms,
        }
    }

    /// Records that `partition` has its marker while the transaction completes (PrepareCommit
    /// or PrepareAbort), so that DescribeTransactions lists only the partitions still waiting,
    /// as Kafka does. In memory only: after a reload every partition of the Prepare record
    /// gets its marker again, which the partitions accept. Returns whether the partition was
    /// waiting; in any other state nothing changes and the answer is false.
    pub fn marker_written(&mut self, partition: &TopicPartition) -> bool {
        matches!(self.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
            && self.partitions.remove(partition)
    }
}
