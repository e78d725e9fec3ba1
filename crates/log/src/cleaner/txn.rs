//! Transactions during a cleaning pass, after Kafka's `CleanedTransactionMetadata`.
//!
//! The cleaner reads the batches of the range it cleans in offset order and, with the
//! aborted transactions the segments' `.txnindex` name for that range, knows at each batch
//! whether it belongs to an aborted transaction:
//!
//! - an aborted transaction becomes *ongoing* for its producer when the scan reaches its
//!   first offset; the producer's transactional data batches until its ABORT marker are
//!   aborted: their records go, and they never supersede a key in the offset map;
//! - its ABORT marker stays, with its index entry, as long as the scan met data of the
//!   transaction in this pass; a marker whose transaction has no data left is *empty*: it
//!   gets a delete horizon (`delete.retention.ms` from now, KIP-534) and goes at a pass
//!   after the horizon, so that a consumer that read the data before the cleaning still
//!   meets the marker;
//! - a COMMIT marker is empty, and goes the same way, when the scan met no transactional
//!   batch of its producer since the producer's previous marker.
//!
//! One tracker follows a whole pass, across the groups of segments it rewrites: the data of
//! a transaction may lie in a group before the one holding its marker.

use std::collections::{HashMap, HashSet};

use crate::batch::BatchHeader;
use crate::error::BatchError;
use crate::producer_state::{BatchKind, ProducerBatch};
use crate::txn_index::AbortedTxn;

/// What a control batch holds, as far as the cleaner cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Control {
    Abort,
    Commit,
    /// No record left: the cleaner emptied it before.
    Empty,
    /// Another kind of control record (Kafka's leader change and snapshot records): kept.
    Other,
}

/// Reads the control record of a control batch. A record that is not a transaction marker
/// is [`Control::Other`]; bytes that do not decode are an error.
pub(super) fn control_of(batch: &[u8], limit: usize) -> Result<Control, BatchError> {
    let h = BatchHeader::parse(batch)?;
    if h.producer_id < 0 {
        return Ok(Control::Other);
    }
    match ProducerBatch::from_batch(batch, limit) {
        Ok(Some(b)) => Ok(match b.kind {
            BatchKind::Marker(m) if m.is_abort => Control::Abort,
            BatchKind::Marker(_) => Control::Commit,
            BatchKind::EmptyControl => Control::Empty,
            BatchKind::Data => Control::Other,
        }),
        Ok(None) => Ok(Control::Other),
        // A record that parses but is no transaction marker.
        Err(BatchError::InvalidRecord(_)) => Ok(Control::Other),
        Err(e) => Err(e),
    }
}

#[derive(Debug)]
struct OngoingAbort {
    txn: AbortedTxn,
    /// A batch of the transaction was met in this pass.
    observed: bool,
}

/// The transaction state of one pass over a range of the log.
#[derive(Debug, Default)]
pub(super) struct TxnTracker {
    /// Aborted transactions not reached yet, by first offset, latest first (popped from
    /// the end).
    pending: Vec<AbortedTxn>,
    ongoing_aborted: HashMap<i64, OngoingAbort>,
    /// Producers with transactional data met since their last marker.
    ongoing_committed: HashSet<i64>,
    /// Index entries of the aborted transactions whose marker stays, in marker order, not
    /// yet taken by the group that holds the marker.
    kept: Vec<AbortedTxn>,
}

impl TxnTracker {
    /// A tracker for a range whose aborted transactions are `aborted` (from the index, in
    /// any order; duplicates are ignored).
    pub(super) fn new(mut aborted: Vec<AbortedTxn>) -> Self {
        aborted.sort_by_key(|t| (t.first_offset, t.last_offset));
        aborted.dedup();
        aborted.reverse();
        Self {
            pending: aborted,
            ..Self::default()
        }
    }

    /// Makes ongoing the aborted transactions that began at or before `offset`.
    fn reach(&mut self, offset: i64) {
        while let Some(t) = self.pending.last().copied() {
            if t.first_offset > offset {
                break;
            }
            self.pending.pop();
            self.ongoing_aborted
                .entry(t.producer_id)
                .or_insert(OngoingAbort {
                    txn: t,
                    observed: false,
                });
        }
    }

    /// A data batch: true when it belongs to an aborted transaction, so that its records
    /// can go.
    pub(super) fn on_data(&mut self, h: &BatchHeader) -> bool {
        self.reach(h.last_offset());
        if !h.is_transactional() {
            return false;
        }
        match self.ongoing_aborted.get_mut(&h.producer_id) {
            Some(t) => {
                t.observed = true;
                true
            }
            None => {
                self.ongoing_committed.insert(h.producer_id);
                false
            }
        }
    }

    /// A control batch: true when it is a marker of a transaction with no data left in the
    /// range, which may go once its delete horizon has passed.
    pub(super) fn on_control(&mut self, h: &BatchHeader, control: Control) -> bool {
        self.reach(h.last_offset());
        match control {
            Control::Abort => match self.ongoing_aborted.remove(&h.producer_id) {
                Some(t) if t.observed => {
                    self.kept.push(t.txn);
                    false
                }
                _ => true,
            },
            Control::Commit => !self.ongoing_committed.remove(&h.producer_id),
            Control::Empty => true,
            Control::Other => false,
        }
    }

    /// The entries kept since the last call: those of the markers met in between.
    pub(super) fn take_kept(&mut self) -> Vec<AbortedTxn> {
        std::mem::take(&mut self.kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{ATTR_CONTROL, ATTR_TRANSACTIONAL};

    fn header(pid: i64, base: i64, len: i32, attrs: i16) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 49,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: attrs,
            last_offset_delta: len - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: 0,
            record_count: len,
        }
    }

    fn aborted(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    const TXN: i16 = ATTR_TRANSACTIONAL;
    const MARKER: i16 = ATTR_TRANSACTIONAL | ATTR_CONTROL;

    #[test]
    fn aborted_data_goes_and_its_marker_stays_while_data_was_met() {
        let a = aborted(1, 0, 5);
        let mut t = TxnTracker::new(vec![a, a]);
        assert!(t.on_data(&header(1, 0, 2, TXN)), "aborted");
        assert!(!t.on_data(&header(2, 2, 1, TXN)), "producer 2 commits");
        assert!(!t.on_data(&header(3, 3, 1, 0)), "not transactional");
        assert!(t.on_data(&header(1, 4, 1, TXN)));
        assert!(
            !t.on_control(&header(1, 5, 1, MARKER), Control::Abort),
            "data met"
        );
        assert!(
            !t.on_control(&header(2, 6, 1, MARKER), Control::Commit),
            "data met"
        );
        assert_eq!(t.take_kept(), vec![a]);
        assert!(t.take_kept().is_empty());
        // The next transactions of both producers: nothing met, the markers may go.
        assert!(t.on_control(&header(2, 7, 1, MARKER), Control::Commit));
        assert!(t.on_control(&header(1, 8, 1, MARKER), Control::Abort));
        assert!(t.on_control(&header(1, 9, 1, MARKER), Control::Empty));
        assert!(!t.on_control(&header(-1, 10, 1, ATTR_CONTROL), Control::Other));
        // A transaction that begins after a batch of the producer is not applied to it.
        let later = aborted(4, 20, 30);
        let mut t = TxnTracker::new(vec![later]);
        assert!(
            !t.on_data(&header(4, 11, 2, TXN)),
            "before the aborted one began"
        );
        assert!(t.on_data(&header(4, 20, 1, TXN)));
    }
}
