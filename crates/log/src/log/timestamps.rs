//! Timestamp lookups of a log (ListOffsets by timestamp and MAX_TIMESTAMP): the segments'
//! time indexes narrow the search, and only the batches that may hold the answer are
//! decoded.

use std::sync::Arc;

use crate::batch::BatchHeader;
use crate::error::Result;
use crate::log::Log;
use crate::segment::Segment;

/// The earliest record at or after `start` with the largest timestamp in `seg`, as
/// (timestamp, offset). Batches wholly at or after `start` are judged by their header; only
/// the one holding `start` and the winner are decoded.
fn max_record_from(seg: &Segment, start: i64, limit: usize) -> Result<Option<(i64, i64)>> {
    let mut best: Option<(i64, i64)> = None;
    let mut winner: Option<(u64, BatchHeader)> = None;
    let mut failed = None;
    seg.for_each_header(0, |p, h| {
        if h.last_offset() < start {
            return true;
        }
        if h.base_offset < start {
            let scan = seg.read_batch_at(p, h).and_then(|bytes| {
                let (h, records) = crate::record::records_of_batch(&bytes, limit)?;
                let mut max: Option<(i64, i64)> = None;
                for r in crate::record::RecordIter::new(&records, h.record_count) {
                    let r = r?;
                    let offset = h.base_offset + i64::from(r.offset_delta);
                    let ts = if h.is_log_append_time() {
                        h.max_timestamp
                    } else {
                        h.base_timestamp.saturating_add(r.timestamp_delta)
                    };
                    if offset >= start && max.is_none_or(|(m, _)| ts > m) {
                        max = Some((ts, offset));
                    }
                }
                Ok(max)
            });
            match scan {
                Ok(max) => best = max,
                Err(e) => failed = Some(e),
            }
            return failed.is_none();
        }
        if best.is_none_or(|(b, _)| h.max_timestamp > b)
            && winner.is_none_or(|(_, w)| h.max_timestamp > w.max_timestamp)
        {
            winner = Some((p, *h));
        }
        true
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    match winner {
        Some((p, h)) if best.is_none_or(|(b, _)| h.max_timestamp > b) => {
            let bytes = seg.read_batch_at(p, &h)?;
            let hit = crate::scan::first_at_or_after(&bytes, h.max_timestamp, start, limit)?;
            Ok(hit.map(|(offset, ts)| (ts, offset)))
        }
        _ => Ok(best),
    }
}

impl Log {
    /// The first offset whose record timestamp is >= `timestamp`, as `(offset, timestamp)`
    /// (ListOffsets by timestamp). None when every record is older.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        self.check_online()?;
        let start = self.log_start_offset();
        for seg in self.segments_snapshot() {
            self.with_repair(&seg, || seg.ensure_checked())?;
            if seg.max_timestamp_known()? < timestamp {
                continue;
            }
            let begin = match seg.time_index.lookup_before(timestamp)? {
                Some(rel) => seg.base_offset + i64::from(rel) + 1,
                None => seg.base_offset,
            };
            let (rel_start, pos) = seg
                .offset_index
                .lookup(begin.max(start) - seg.base_offset)?;
            let _ = rel_start;
            // The first batch whose max timestamp is late enough may carry it only on
            // records below the log start offset: then the answer is in a later batch.
            let limit = self.config().max_message_bytes.max(1 << 20) * 64;
            let mut hit: Result<Option<(i64, i64)>> = Ok(None);
            seg.for_each_header(u64::from(pos), |p, h| {
                if h.max_timestamp < timestamp || h.last_offset() < start {
                    return true;
                }
                hit = seg.read_batch_at(p, h).and_then(|bytes| {
                    crate::scan::first_at_or_after(&bytes, timestamp, start, limit)
                });
                matches!(hit, Ok(None))
            })?;
            if let Some(found) = hit? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The offset and timestamp of the record with the largest timestamp (ListOffsets
    /// MAX_TIMESTAMP); the earliest such record when several share it.
    pub fn offset_of_max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        self.check_online()?;
        let start = self.log_start_offset();
        let limit = self.config().max_message_bytes.max(1 << 20) * 64;
        let segs = self.segments_snapshot();
        // (timestamp, offset) of the best record so far.
        let mut best: Option<(i64, i64)> = None;
        let mut best_seg: Option<(i64, Arc<Segment>)> = None;
        for (i, seg) in segs.iter().enumerate() {
            let next_base = segs.get(i + 1).map_or(i64::MAX, |s| s.base_offset);
            if next_base <= start {
                continue; // wholly below the log start offset: retention will delete it
            }
            self.with_repair(seg, || seg.ensure_checked())?;
            if seg.base_offset < start {
                // Its max timestamp may belong to records below the log start offset:
                // look at the records at or after it.
                best = max_record_from(seg, start, limit)?;
                continue;
            }
            let ts = seg.max_timestamp_known()?;
            let above = |b: i64| ts > b;
            if ts >= 0
                && best.is_none_or(|(b, _)| above(b))
                && best_seg.as_ref().is_none_or(|(b, _)| above(*b))
            {
                best_seg = Some((ts, seg.clone()));
            }
        }
        let Some((ts, seg)) = best_seg.filter(|(ts, _)| best.is_none_or(|(b, _)| *ts > b)) else {
            return Ok(best.map(|(ts, offset)| (offset, ts)));
        };
        let mut hit: Result<Option<(i64, i64)>> = Ok(None);
        seg.for_each_header(0, |p, h| {
            if h.max_timestamp != ts {
                return true;
            }
            hit = seg
                .read_batch_at(p, h)
                .and_then(|bytes| crate::scan::first_at_or_after(&bytes, ts, start, limit));
            matches!(hit, Ok(None))
        })?;
        hit
    }
}
