//! The coordinator's transitions and errors, driven through whole transactions.

mod housekeeping;
mod init;
mod transactions;

use std::collections::BTreeSet;

use super::*;
use crate::offsets::TopicPartition;

pub(super) const MAX_TIMEOUT: i32 = 900_000;
pub(super) const TIMEOUT: i32 = 60_000;
pub(super) const T0: i64 = 1_000_000;
pub(super) const PID: i64 = 4000;

pub(super) fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

pub(super) fn no_allocation() -> Result<i64, TxnError> {
    panic!("no producer id should be allocated")
}

pub(super) fn initialized(outcome: Result<InitOutcome, TxnError>) -> TransactionMetadata {
    match outcome {
        Ok(InitOutcome::Initialized(md)) => md,
        other => panic!("expected Initialized, got {other:?}"),
    }
}

pub(super) fn written(outcome: Result<AddPartitionsOutcome, TxnError>) -> TransactionMetadata {
    match outcome {
        Ok(AddPartitionsOutcome::Write(md)) => md,
        other => panic!("expected Write, got {other:?}"),
    }
}

pub(super) fn prepared(outcome: Result<EndTxnOutcome, TxnError>) -> TransactionMetadata {
    match outcome {
        Ok(EndTxnOutcome::Prepare(md)) => md,
        other => panic!("expected Prepare, got {other:?}"),
    }
}

/// A new transactional id after its first InitProducerId.
pub(super) fn fresh() -> TransactionMetadata {
    initialized(init_producer_id(
        None,
        TIMEOUT,
        MAX_TIMEOUT,
        None,
        || Ok(PID),
        T0,
    ))
}

/// `md` with an open transaction on t-0 and t-1.
pub(super) fn ongoing(md: &TransactionMetadata, now: i64) -> TransactionMetadata {
    written(add_partitions(
        Some(md),
        md.producer_id,
        md.producer_epoch,
        [tp("t", 0), tp("t", 1)],
        now,
    ))
}

pub(super) fn fenced(producer_epoch: i16, current_epoch: i16) -> TxnError {
    TxnError::ProducerFenced {
        producer_id: PID,
        producer_epoch,
        current_producer_id: PID,
        current_epoch,
    }
}

/// A metadata in `state` at `epoch`, for the tables.
pub(super) fn at(state: TxnState, epoch: i16) -> TransactionMetadata {
    let mut md = fresh();
    md.state = state;
    md.producer_epoch = epoch;
    if !matches!(state, TxnState::Empty) {
        md.txn_start_ms = T0;
    }
    if matches!(
        state,
        TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort
    ) {
        md.partitions = BTreeSet::from([tp("t", 0)]);
    }
    md
}
