//! The transaction coordinator's operations, as Kafka's `TransactionCoordinator` runs them
//! with the classic protocol (transaction version 1: the epoch is bumped by InitProducerId and
//! by the coordinator's own aborts, not by every transaction).
//!
//! Each operation takes the transactional id's current [`TransactionMetadata`] (None when the
//! id is unknown) and returns, without changing anything, what the caller must do: usually a
//! new metadata to write to `__transaction_state` ([`TransactionMetadata::to_log_value`]
//! under [`super::records::encode_key`]) and to install once the write is durable. Kafka's
//! "pending state" is the caller's: while a write for an id is in flight, every other
//! operation on that id is answered CONCURRENT_TRANSACTIONS (Kafka's
//! `pendingTransitionInProgress`), and a failed write leaves the old metadata in place.
//!
//! A transaction's life, as the caller drives it:
//!
//! 1. InitProducerId: [`init_producer_id`]. An open transaction is first fenced and aborted
//!    ([`InitOutcome::AbortOngoing`]); the producer retries.
//! 2. AddPartitionsToTxn / AddOffsetsToTxn: [`add_partitions`], [`add_offsets`]. The state
//!    becomes Ongoing and the clock of `transaction.timeout.ms` starts.
//! 3. EndTxn: [`end_txn`] writes PrepareCommit or PrepareAbort; once durable the client is
//!    answered, then [`pending_completion`] says which markers to write to which partitions
//!    (WriteTxnMarkers), and [`complete`] gives the CompleteCommit or CompleteAbort to write
//!    once every marker is written.
//! 4. The coordinator's own work: [`timed_out`] and [`abort_timed_out`] (every
//!    `transaction.abort.timed.out.transaction.cleanup.interval.ms`),
//!    [`transactional_id_expired`] (every
//!    `transaction.remove.expired.transaction.cleanup.interval.ms`, then a tombstone), and
//!    after loading a partition of `__transaction_state`, [`pending_completion`] for every id
//!    left in PrepareCommit or PrepareAbort.

use std::collections::{BTreeMap, BTreeSet};

use super::error::TxnError;
use super::state::{
    is_epoch_exhausted, ProducerIdAndEpoch, TransactionMetadata, TxnResult, TxnState,
    NO_PRODUCER_EPOCH, NO_TXN_START,
};
use crate::offsets::TopicPartition;

/// Refuses an empty transactional id (INVALID_REQUEST), as Kafka does for every
/// transactional request. A null one (InitProducerId of an idempotent producer) never
/// reaches the transaction coordinator.
pub fn validate_transactional_id(transactional_id: &str) -> Result<(), TxnError> {
    if transactional_id.is_empty() {
        Err(TxnError::InvalidRequest {
            reason: "the transactional id is empty",
        })
    } else {
        Ok(())
    }
}

// ----- InitProducerId -----------------------------------------------------------------

/// What InitProducerId with a transactional id leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    /// Write this metadata (state Empty); once durable, answer its `producer_id` and
    /// `producer_epoch`.
    Initialized(TransactionMetadata),
    /// A transaction was open (Ongoing): it is aborted under a bumped epoch, so that the old
    /// producer is fenced. Write this metadata (state PrepareAbort); once durable answer
    /// CONCURRENT_TRANSACTIONS (or the write's error), write the abort markers
    /// ([`pending_completion`]) and then [`complete`]. The producer retries and gets the next
    /// epoch (or a new producer id when this abort exhausted the epochs); the epoch of this
    /// metadata is never handed to a producer.
    AbortOngoing(TransactionMetadata),
}

/// How InitProducerId moves an existing transactional id on.
enum InitPlan {
    /// A new producer id, epoch 0 (the epochs of the current one are exhausted).
    Rotate { record_last_epoch: bool },
    /// The same producer id at `epoch`, remembering `last_epoch` for a KIP-360 retry.
    Epoch { epoch: i16, last_epoch: i16 },
    /// Fence and abort the open transaction first.
    AbortOngoing,
}

fn plan_init(
    md: &TransactionMetadata,
    expected: Option<ProducerIdAndEpoch>,
) -> Result<InitPlan, TxnError> {
    let fenced = |e: &ProducerIdAndEpoch| TxnError::ProducerFenced {
        producer_id: e.producer_id,
        producer_epoch: e.epoch,
        current_producer_id: md.producer_id,
        current_epoch: md.producer_epoch,
    };
    // KIP-360: a producer naming its id and epoch is let through when the metadata was just
    // created (epoch -1: it recovers from UNKNOWN_PRODUCER_ID after its id expired), when the
    // id is the current one (the epoch is checked below), or when it is the previous id and
    // the named epoch was exhausted (a retry of the InitProducerId that moved to a new id).
    if let Some(e) = &expected {
        let valid = md.producer_epoch == NO_PRODUCER_EPOCH
            || e.producer_id == md.producer_id
            || (e.producer_id == md.last_producer_id && is_epoch_exhausted(e.epoch));
        if !valid {
            return Err(fenced(e));
        }
    }
    match md.state {
        TxnState::PrepareCommit | TxnState::PrepareAbort => {
            Err(TxnError::ConcurrentTransactions { state: md.state })
        }
        TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
            if md.is_epoch_exhausted() && expected.is_none_or(|e| e.epoch == md.producer_epoch) {
                return Ok(InitPlan::Rotate {
                    record_last_epoch: expected.is_some(),
                });
            }
            let next = md.producer_epoch.checked_add(1);
            match expected {
                // A producer starting afresh: bump, and forget the last epoch, which fences
                // any earlier producer's KIP-360 retry.
                None => next
                    .map(|epoch| InitPlan::Epoch {
                        epoch,
                        last_epoch: NO_PRODUCER_EPOCH,
                    })
                    .ok_or_else(|| exhausted(md)),
                // The producer resumes after an error and nobody else has initialized since
                // (or the metadata is new): bump, remembering its epoch.
                Some(e)
                    if md.producer_epoch == NO_PRODUCER_EPOCH || e.epoch == md.producer_epoch =>
                {
                    next.map(|epoch| InitPlan::Epoch {
                        epoch,
                        last_epoch: md.producer_epoch,
                    })
                    .ok_or_else(|| exhausted(md))
                }
                // A retry of the InitProducerId that bumped to the current epoch: the same
                // answer again. (Kafka would throw here when the current epoch is exhausted;
                // answering the retry is what it means to do.)
                Some(e) if e.epoch == md.last_producer_epoch => Ok(InitPlan::Epoch {
                    epoch: md.producer_epoch,
                    last_epoch: md.last_producer_epoch,
                }),
                Some(e) => Err(fenced(&e)),
            }
        }
        TxnState::Ongoing => Ok(InitPlan::AbortOngoing),
        TxnState::Dead | TxnState::PrepareEpochFence => Err(never_stored(md.state)),
    }
}

/// Whether [`init_producer_id`] with these arguments calls its `allocate`: a new
/// transactional id, or one whose epochs are exhausted. A caller whose producer ids come
/// from an asynchronous source asks this first, obtains an id, and passes `|| Ok(id)`; an id
/// obtained and then not used (the state changed meanwhile) is merely skipped, which producer
/// ids allow.
pub fn init_needs_producer_id(
    existing: Option<&TransactionMetadata>,
    expected: Option<ProducerIdAndEpoch>,
) -> bool {
    match existing {
        None => true,
        Some(md) => matches!(plan_init(md, expected), Ok(InitPlan::Rotate { .. })),
    }
}

/// InitProducerId with a transactional id (Kafka's `handleInitProducerId`).
///
/// `transaction_timeout_ms` must be in 1..=`max_timeout_ms` (`transaction.max.timeout.ms`)
/// or the answer is INVALID_TRANSACTION_TIMEOUT. `expected` is the producer id and epoch the
/// producer names (v3+, [`ProducerIdAndEpoch::from_request`]). `allocate` hands out a new
/// producer id; it is called at most once, for a new transactional id or when the epochs of
/// the current producer id are exhausted. Its error is answered as is.
///
/// Errors: INVALID_TRANSACTION_TIMEOUT; PRODUCER_FENCED (KIP-360 id or epoch of another
/// producer); CONCURRENT_TRANSACTIONS while a transaction completes.
pub fn init_producer_id(
    existing: Option<&TransactionMetadata>,
    transaction_timeout_ms: i32,
    max_timeout_ms: i32,
    expected: Option<ProducerIdAndEpoch>,
    allocate: impl FnOnce() -> Result<i64, TxnError>,
    now_ms: i64,
) -> Result<InitOutcome, TxnError> {
    if transaction_timeout_ms <= 0 || transaction_timeout_ms > max_timeout_ms {
        return Err(TxnError::InvalidTransactionTimeout {
            timeout_ms: transaction_timeout_ms,
            max_ms: max_timeout_ms,
        });
    }
    let allocate = || {
        let id = allocate()?;
        if id < 0 {
            return Err(TxnError::IllegalState {
                reason: format!("allocated producer id {id} is negative"),
            });
        }
        Ok(id)
    };
    // Every InitProducerId leaves an Empty state with no transaction, under the producer's
    // new timeout. (Kafka keeps the last transaction's start time in memory until a reload;
    // the stored -1 is what we keep.)
    let empty =
        |producer_id, last_producer_id, producer_epoch, last_producer_epoch| TransactionMetadata {
            producer_id,
            last_producer_id,
            producer_epoch,
            last_producer_epoch,
            txn_timeout_ms: transaction_timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            txn_start_ms: NO_TXN_START,
            txn_last_update_ms: now_ms,
        };
    let Some(md) = existing else {
        // Kafka creates the metadata at epoch -1 and bumps it: epoch 0, whatever the
        // producer named (an epoch -1 metadata lets any KIP-360 producer id through).
        let producer_id = allocate()?;
        return Ok(InitOutcome::Initialized(empty(
            producer_id,
            producer_id,
            0,
            NO_PRODUCER_EPOCH,
        )));
    };
    Ok(match plan_init(md, expected)? {
        InitPlan::Rotate { record_last_epoch } => {
            let last_epoch = if record_last_epoch {
                md.producer_epoch
            } else {
                NO_PRODUCER_EPOCH
            };
            InitOutcome::Initialized(empty(allocate()?, md.producer_id, 0, last_epoch))
        }
        InitPlan::Epoch { epoch, last_epoch } => {
            InitOutcome::Initialized(empty(md.producer_id, md.producer_id, epoch, last_epoch))
        }
        InitPlan::AbortOngoing => InitOutcome::AbortOngoing(fence_and_abort(md, now_ms)?),
    })
}

/// Kafka's `prepareFenceProducerEpoch` followed by the coordinator's own EndTxn(abort): the
/// epoch bumped (so that the producer of the open transaction is fenced everywhere its
/// markers land), PrepareAbort, the same partitions.
fn fence_and_abort(md: &TransactionMetadata, now_ms: i64) -> Result<TransactionMetadata, TxnError> {
    if md.state != TxnState::Ongoing {
        return Err(TxnError::InvalidTxnState {
            state: md.state,
            requested: "fence and abort",
        });
    }
    let producer_epoch = md
        .producer_epoch
        .checked_add(1)
        .ok_or_else(|| exhausted(md))?;
    Ok(TransactionMetadata {
        producer_epoch,
        last_producer_epoch: NO_PRODUCER_EPOCH,
        state: TxnState::PrepareAbort,
        txn_last_update_ms: now_ms,
        ..md.clone()
    })
}

// ----- AddPartitionsToTxn, AddOffsetsToTxn ----------------------------------------------

/// What AddPartitionsToTxn (or AddOffsetsToTxn) leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddPartitionsOutcome {
    /// The transaction is open and has every partition already: answer NONE, write nothing.
    AlreadyIncluded,
    /// Write this metadata (state Ongoing); once durable answer NONE for every partition.
    Write(TransactionMetadata),
}

/// Checks the producer id and epoch of a request against the transactional id's.
fn check_producer(
    md: Option<&TransactionMetadata>,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<&TransactionMetadata, TxnError> {
    let md = md.ok_or(TxnError::InvalidProducerIdMapping {
        producer_id,
        current_producer_id: None,
    })?;
    if md.producer_id != producer_id {
        return Err(TxnError::InvalidProducerIdMapping {
            producer_id,
            current_producer_id: Some(md.producer_id),
        });
    }
    if md.producer_epoch != producer_epoch {
        return Err(TxnError::ProducerFenced {
            producer_id,
            producer_epoch,
            current_producer_id: md.producer_id,
            current_epoch: md.producer_epoch,
        });
    }
    Ok(md)
}

/// AddPartitionsToTxn v0-3, and v4+ without `verify_only` (Kafka's
/// `handleAddPartitionsToTransaction`): the partitions join the transaction, which opens
/// (Ongoing, its start time now) unless it is open already.
///
/// Errors, in Kafka's order: INVALID_PRODUCER_ID_MAPPING (unknown transactional id, or
/// another producer id); PRODUCER_FENCED (another epoch, older or newer);
/// CONCURRENT_TRANSACTIONS (the last transaction is still completing). Adding partitions that
/// are all in the open transaction already writes nothing.
pub fn add_partitions(
    md: Option<&TransactionMetadata>,
    producer_id: i64,
    producer_epoch: i16,
    partitions: impl IntoIterator<Item = TopicPartition>,
    now_ms: i64,
) -> Result<AddPartitionsOutcome, TxnError> {
    let md = check_producer(md, producer_id, producer_epoch)?;
    let added: BTreeSet<TopicPartition> = partitions.into_iter().collect();
    let txn_start_ms = match md.state {
        TxnState::PrepareCommit | TxnState::PrepareAbort => {
            return Err(TxnError::ConcurrentTransactions { state: md.state })
        }
        TxnState::Ongoing if added.is_subset(&md.partitions) => {
            return Ok(AddPartitionsOutcome::AlreadyIncluded)
        }
        TxnState::Ongoing => md.txn_start_ms,
        // The first partition of a transaction starts its clock.
        TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => now_ms,
        TxnState::Dead | TxnState::PrepareEpochFence => return Err(never_stored(md.state)),
    };
    let mut partitions = md.partitions.clone();
    partitions.extend(added);
    Ok(AddPartitionsOutcome::Write(TransactionMetadata {
        state: TxnState::Ongoing,
        partitions,
        txn_start_ms,
        txn_last_update_ms: now_ms,
        ..md.clone()
    }))
}

/// AddOffsetsToTxn (Kafka's `handleAddOffsetsToTxn`): the `__consumer_offsets` partition of
/// the group (as the group coordinator places the group) joins the transaction, exactly as
/// [`add_partitions`] adds it, so that the group's TxnOffsetCommit is committed or aborted
/// with the transaction's markers.
pub fn add_offsets(
    md: Option<&TransactionMetadata>,
    producer_id: i64,
    producer_epoch: i16,
    offsets_partition: TopicPartition,
    now_ms: i64,
) -> Result<AddPartitionsOutcome, TxnError> {
    add_partitions(md, producer_id, producer_epoch, [offsets_partition], now_ms)
}

/// AddPartitionsToTxn v4+ with `verify_only` (KIP-890 part 1; Kafka's
/// `handleVerifyPartitionsInTransaction`): whether each partition is in the open
/// transaction, without changing anything. A partition leader asks before it appends a
/// transactional batch, so that a late batch cannot open a transaction of its own.
///
/// The request-level errors (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED,
/// CONCURRENT_TRANSACTIONS) apply to every partition; otherwise each partition gets Ok or
/// TRANSACTION_ABORTABLE. No check for a write in flight: the partition's own append is the
/// last word, as in Kafka.
pub fn verify_partitions(
    md: Option<&TransactionMetadata>,
    producer_id: i64,
    producer_epoch: i16,
    partitions: impl IntoIterator<Item = TopicPartition>,
) -> Result<BTreeMap<TopicPartition, Result<(), TxnError>>, TxnError> {
    let md = check_producer(md, producer_id, producer_epoch)?;
    if matches!(md.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
        return Err(TxnError::ConcurrentTransactions { state: md.state });
    }
    Ok(partitions
        .into_iter()
        .map(|tp| {
            let included = if md.partitions.contains(&tp) {
                Ok(())
            } else {
                Err(TxnError::TransactionAbortable)
            };
            (tp, included)
        })
        .collect())
}

// ----- EndTxn and markers ---------------------------------------------------------------

/// What EndTxn leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndTxnOutcome {
    /// A retry of an EndTxn whose transaction has completed the same way: answer NONE, write
    /// nothing.
    AlreadyCompleted,
    /// Write this metadata (PrepareCommit or PrepareAbort); once durable answer NONE, then
    /// write the markers ([`pending_completion`]) and, once all are written, [`complete`].
    Prepare(TransactionMetadata),
}

/// EndTxn from a producer (Kafka's `handleEndTransaction`, transaction version 1).
///
/// Errors, in Kafka's order: INVALID_PRODUCER_ID_MAPPING; PRODUCER_FENCED (any other
/// epoch: a producer never bumps its own epoch in this protocol); then by state:
///
/// | state | commit | abort |
/// |---|---|---|
/// | Ongoing | PrepareCommit | PrepareAbort |
/// | PrepareCommit | CONCURRENT_TRANSACTIONS | INVALID_TXN_STATE |
/// | PrepareAbort | INVALID_TXN_STATE | CONCURRENT_TRANSACTIONS |
/// | CompleteCommit | NONE (a retry) | INVALID_TXN_STATE |
/// | CompleteAbort | INVALID_TXN_STATE | NONE (a retry) |
/// | Empty | INVALID_TXN_STATE | INVALID_TXN_STATE |
///
/// (Ending a transaction that never started is INVALID_TXN_STATE in version 1; the Java
/// producer does not send EndTxn when it added no partition.)
pub fn end_txn(
    md: Option<&TransactionMetadata>,
    producer_id: i64,
    producer_epoch: i16,
    result: TxnResult,
    now_ms: i64,
) -> Result<EndTxnOutcome, TxnError> {
    let md = check_producer(md, producer_id, producer_epoch)?;
    let invalid = || TxnError::InvalidTxnState {
        state: md.state,
        requested: result.as_str(),
    };
    match (md.state, result) {
        (TxnState::Ongoing, result) => Ok(EndTxnOutcome::Prepare(TransactionMetadata {
            state: result.prepare_state(),
            txn_last_update_ms: now_ms,
            ..md.clone()
        })),
        (TxnState::CompleteCommit, TxnResult::Commit)
        | (TxnState::CompleteAbort, TxnResult::Abort) => Ok(EndTxnOutcome::AlreadyCompleted),
        (TxnState::PrepareCommit, TxnResult::Commit)
        | (TxnState::PrepareAbort, TxnResult::Abort) => {
            Err(TxnError::ConcurrentTransactions { state: md.state })
        }
        (
            TxnState::CompleteCommit
            | TxnState::CompleteAbort
            | TxnState::PrepareCommit
            | TxnState::PrepareAbort
            | TxnState::Empty,
            _,
        ) => Err(invalid()),
        (TxnState::Dead | TxnState::PrepareEpochFence, _) => Err(never_stored(md.state)),
    }
}

/// The markers a completing transaction still needs (WriteTxnMarkers: one control batch per
/// partition, under the producer id and epoch, with the coordinator epoch of the caller's
/// `__transaction_state` partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMarkers {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub result: TxnResult,
    /// In topic, then partition order; empty when the transaction had no partition (then
    /// [`complete`] follows at once).
    pub partitions: Vec<TopicPartition>,
}

/// The markers to write for a transaction in PrepareCommit or PrepareAbort; None in any
/// other state. Used after [`end_txn`], [`InitOutcome::AbortOngoing`] and
/// [`abort_timed_out`] are durable, and after loading a partition of `__transaction_state`
/// (Kafka's `loadTransactionsForTxnTopicPartition` resends the markers of every id it finds
/// in a Prepare state, then completes it).
pub fn pending_completion(md: &TransactionMetadata) -> Option<TxnMarkers> {
    let result = match md.state {
        TxnState::PrepareCommit => TxnResult::Commit,
        TxnState::PrepareAbort => TxnResult::Abort,
        _ => return None,
    };
    Some(TxnMarkers {
        producer_id: md.producer_id,
        producer_epoch: md.producer_epoch,
        result,
        partitions: md.partitions.iter().cloned().collect(),
    })
}

/// The metadata to write once every marker is written (Kafka's `prepareComplete`):
/// PrepareCommit becomes CompleteCommit, PrepareAbort CompleteAbort, with no partitions.
/// Any other state is a broken invariant (ILLEGAL_STATE).
pub fn complete(md: &TransactionMetadata, now_ms: i64) -> Result<TransactionMetadata, TxnError> {
    let state = match md.state {
        TxnState::PrepareCommit => TxnState::CompleteCommit,
        TxnState::PrepareAbort => TxnState::CompleteAbort,
        state => {
            return Err(TxnError::IllegalState {
                reason: format!("cannot complete a transaction in state {state}"),
            })
        }
    };
    Ok(TransactionMetadata {
        state,
        partitions: BTreeSet::new(),
        txn_last_update_ms: now_ms,
        ..md.clone()
    })
}

// ----- The coordinator's own work -------------------------------------------------------

/// Whether an open transaction has outlived its producer's `transaction.timeout.ms` (Kafka's
/// `timedOutTransactions`: Ongoing, and started more than the timeout before `now_ms`). The
/// caller then aborts it with [`abort_timed_out`], unless a write for the id is in flight.
pub fn timed_out(md: &TransactionMetadata, now_ms: i64) -> bool {
    md.state == TxnState::Ongoing
        && md.txn_start_ms.saturating_add(i64::from(md.txn_timeout_ms)) < now_ms
}

/// Aborts an open transaction that [`timed_out`] (Kafka's `abortTimedOutTransactions`):
/// the epoch is bumped so that the producer, which may still be writing, is fenced; write
/// the PrepareAbort metadata, then the abort markers ([`pending_completion`]), then
/// [`complete`]. The producer's next request gets PRODUCER_FENCED.
///
/// INVALID_TXN_STATE when no transaction is open (it completed meanwhile), ILLEGAL_STATE
/// when the epoch cannot be bumped (Kafka never hands out such an epoch).
pub fn abort_timed_out(
    md: &TransactionMetadata,
    now_ms: i64,
) -> Result<TransactionMetadata, TxnError> {
    fence_and_abort(md, now_ms)
}

/// Whether a transactional id has been idle for `expiration_ms`
/// (`transactional.id.expiration.ms`, by default 7 days) with no transaction open or
/// completing (Kafka's `removeExpiredTransactionalIds`). The caller writes a tombstone (the
/// key with a null value) and, once durable, forgets the id, unless the id changed meanwhile.
pub fn transactional_id_expired(md: &TransactionMetadata, now_ms: i64, expiration_ms: i64) -> bool {
    md.state.is_expiration_allowed()
        && md.txn_last_update_ms <= now_ms.saturating_sub(expiration_ms)
}

fn exhausted(md: &TransactionMetadata) -> TxnError {
    TxnError::IllegalState {
        reason: format!(
            "producer id {} cannot bump its epoch {}",
            md.producer_id, md.producer_epoch
        ),
    }
}

fn never_stored(state: TxnState) -> TxnError {
    TxnError::IllegalState {
        reason: format!("the transactional id is in state {state}, which is never stored"),
    }
}
