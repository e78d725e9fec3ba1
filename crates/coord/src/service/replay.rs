//! Reading an internal topic's partition from start to end at load (`__consumer_offsets`,
//! `__transaction_state`): every whole batch in offset order, decompressed, with its header.

use myelin_log::batch::{BatchHeader, BatchIter};
use myelin_log::record::records_of_batch;
use myelin_log::Log;

/// Bytes read from the log at a time.
const READ_BYTES: u64 = 1024 * 1024;
/// The most bytes a compressed batch may inflate to.
const MAX_INFLATED: usize = 64 * 1024 * 1024;

/// Calls `f` with every batch of `log` from its start to its end, in order: the header and
/// the (decompressed) records section. Stops at the first error, `f`'s or the log's.
pub(crate) fn for_each_batch(
    log: &Log,
    mut f: impl FnMut(&BatchHeader, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    let mut buf = Vec::new();
    while offset < end {
        let read = log
            .read(offset, READ_BYTES, end, true)
            .map_err(|e| e.to_string())?;
        let Some(slice) = read.slice else { break };
        buf.clear();
        slice.read_into(&mut buf).map_err(|e| e.to_string())?;
        let mut next = offset;
        for (_, _, batch) in BatchIter::new(&buf) {
            let (header, records) =
                records_of_batch(batch, MAX_INFLATED).map_err(|e| e.to_string())?;
            next = header.last_offset() + 1;
            f(&header, &records)?;
        }
        if next <= offset {
            // Nothing whole could be read at this offset: stop rather than loop.
            break;
        }
        offset = next;
    }
    Ok(())
}
