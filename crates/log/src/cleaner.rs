//! Log compaction (placeholder until the cleaner lands in this change).

use crate::error::Result;
use crate::log::Log;

/// What one cleaning pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// The new end of the clean section: the base offset of the first segment not cleaned.
    pub clean_offset: i64,
    pub segments_cleaned: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
}

/// Compacts `log` if its dirty ratio or lag calls for it.
pub fn clean_if_needed(_log: &Log, _clean_offset: i64, _now_ms: i64) -> Result<Option<CleanStats>> {
    Ok(None)
}
