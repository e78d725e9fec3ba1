//! Record-level scans of one stored batch: the few places the log looks inside a batch.

use crate::batch::BatchHeader;
use crate::error::{BatchError, Result};
use crate::record::{records_of_batch, RecordIter};

/// Validates the records inside an incoming batch, as Kafka's `LogValidator` does before
/// anything is written: every record well formed (lengths within the record, exactly
/// `recordCount` records, no trailing bytes, decompressing within `limit` bytes), offset
/// deltas 0, 1, 2, ... and, on a compacted log, a key on every record of a data batch.
pub fn validate_records(batch: &[u8], limit: usize, require_keys: bool) -> Result<(), BatchError> {
    let (h, records) = records_of_batch(batch, limit)?;
    for (i, r) in RecordIter::new(&records, h.record_count).enumerate() {
        let r = r?;
        if i64::from(r.offset_delta) != i as i64 {
            return Err(BatchError::InvalidRecord(format!(
                "record {i} has offset delta {}: offsets in a batch must be consecutive",
                r.offset_delta
            )));
        }
        if require_keys && !h.is_control() && r.key.is_none() {
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
