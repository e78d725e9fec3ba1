//! A log's transactions as `read_committed` consumers see them: the last stable offset
//! they may read up to, and the aborted transactions whose records they must drop (the
//! segments' `.txnindex`, see `crate::txn_index`).
//!
//! A `read_committed` fetch is an ordinary [`Log::read`] bounded by the last stable offset
//! (it returns only batches that start below its `max_offset`), answered together with
//! [`Log::aborted_transactions`] over the range it returned. The consumer drops a
//! producer's records from the first offset of an aborted transaction up to that
//! producer's ABORT marker.

use std::sync::Arc;

use crate::error::Result;
use crate::log::Log;
use crate::producer_state::CompletedTxn;
use crate::segment::Segment;
use crate::txn_index::AbortedTxn;

impl Log {
    /// The last stable offset given `high_watermark` (Kafka's `UnifiedLog.lastStableOffset`):
    /// `min(first_unstable_offset, high_watermark)`, the offset below which every
    /// transaction is decided and its outcome durable. What `read_committed` consumers may
    /// read up to, and ListOffsets answers for them as the latest offset.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        self.first_unstable_offset(high_watermark)
            .map_or(high_watermark, |first| first.min(high_watermark))
    }

    /// The aborted transactions overlapping `[start_offset, upper_bound_offset)`: those
    /// whose ABORT marker is at or after `start_offset` and whose first offset is below
    /// `upper_bound_offset` (Kafka's `UnifiedLog.collectAbortedTransactions`), in marker
    /// order. For a `read_committed` fetch from `start_offset`, the bound is the end of what
    /// the read returned; any bound at or past it is correct (the read's `max_offset`, the
    /// last stable offset, is simplest), a tighter one only answers fewer transactions.
    ///
    /// The search starts at the segment holding `start_offset` and goes on, since a
    /// transaction's marker may lie far past its records, until an entry's last stable
    /// offset reaches the bound. Entries are in memory: no I/O, and next to nothing when
    /// no transaction was ever aborted.
    pub fn aborted_transactions(
        &self,
        start_offset: i64,
        upper_bound_offset: i64,
    ) -> Vec<AbortedTxn> {
        let mut out = Vec::new();
        let segs = self.segments.read();
        let first = segs
            .range(..=start_offset)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        for seg in segs.range(first..).map(|(_, s)| s) {
            if seg
                .txn_index
                .collect(start_offset, upper_bound_offset, &mut out)
            {
                break;
            }
        }
        out
    }

    /// Writes the index entries of the transactions an append's ABORT markers aborted, to
    /// the segment the append wrote (`active`). Caller holds the append lock, the bytes are
    /// written and the log end offset not yet moved.
    pub(super) fn index_aborted(
        &self,
        active: &Arc<Segment>,
        completed: &[(CompletedTxn, i64)],
    ) -> Result<()> {
        for (txn, lso) in completed.iter().filter(|(t, _)| t.is_aborted) {
            let created = active.txn_index.append(AbortedTxn {
                producer_id: txn.producer_id,
                first_offset: txn.first_offset,
                last_offset: txn.last_offset,
                last_stable_offset: *lso,
            })?;
            if created {
                self.mark_dir_dirty();
            }
        }
        Ok(())
    }
}
