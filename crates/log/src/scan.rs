//! Record-level scans of one stored batch: the few places the log looks inside a batch.

use crate::batch::BatchHeader;
use crate::error::{BatchError, Result};
use crate::record::{records_of_batch, RecordIter};

/// Fails with `MissingKey` unless every record of `batch` has a key (compacted logs).
pub fn require_keys(batch: &[u8], limit: usize) -> Result<(), BatchError> {
    let (h, records) = records_of_batch(batch, limit)?;
    for r in RecordIter::new(&records, h.record_count) {
        if r?.key.is_none() {
            return Err(BatchError::MissingKey);
        }
    }
    Ok(())
}

/// The first record of `batch` at or after `min_offset` whose timestamp is >= `timestamp`,
/// as (offset, timestamp). LogAppendTime batches carry the broker's time for every record.
pub fn first_at_or_after(
    batch: &[u8],
    timestamp: i64,
    min_offset: i64,
    limit: usize,
) -> Result<Option<(i64, i64)>> {
    let (h, records): (BatchHeader, _) = records_of_batch(batch, limit)?;
    for r in RecordIter::new(&records, h.record_count) {
        let r = r?;
        let offset = h.base_offset + i64::from(r.offset_delta);
        let ts = if h.is_log_append_time() {
            h.max_timestamp
        } else {
            h.base_timestamp.saturating_add(r.timestamp_delta)
        };
        if offset >= min_offset && ts >= timestamp {
            return Ok(Some((offset, ts)));
        }
    }
    Ok(None)
}
