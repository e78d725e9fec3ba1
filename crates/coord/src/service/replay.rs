//! Reading an internal topic's partition from start to end at load (`__consumer_offsets`,
//! `__transaction_state`): every whole batch in offset order, decompressed, with its header.

use myelin_log::batch::BatchHeader;
use myelin_log::Log;

/// The most bytes a compressed batch may inflate to.
const MAX_INFLATED: usize = 64 * 1024 * 1024;

/// Calls `f` with every batch of `log` from its start to its end, in order: the header and
/// the (decompressed) records section. Stops at the first error, `f`'s or the log's.
pub(crate) fn for_each_batch(
    log: &Log,
    f: impl FnMut(&BatchHeader, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    myelin_log::scan::for_each_batch(
        log,
        log.log_start_offset(),
        log.log_end_offset(),
        MAX_INFLATED,
        f,
    )
    .map(|_| ())
}
