//! Replaying a partition of `__transaction_state` (Kafka's
//! `TransactionStateManager.loadTransactionMetadata`): the latest record of each
//! transactional id wins; a tombstone removes the id. A record that does not decode is
//! skipped with a warning (one damaged id must not take the others offline).

use std::collections::HashMap;

use myelin_cluster::Partition;
use myelin_log::batch::BatchIter;
use myelin_log::record::{records_of_batch, RecordIter};

use crate::txn::{self, TransactionMetadata, TxnRecord};

/// Bytes read from the log at a time.
const READ_BYTES: u64 = 1024 * 1024;
/// The most bytes a compressed batch may inflate to.
const MAX_INFLATED: usize = 64 * 1024 * 1024;

/// Every transactional id of the partition with its metadata.
pub(crate) fn load_partition(
    partition: &Partition,
) -> Result<HashMap<String, TransactionMetadata>, String> {
    let log = &partition.log;
    let mut out = HashMap::new();
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
            if header.is_control() {
                continue;
            }
            for record in RecordIter::new(&records, header.record_count) {
                let record = record.map_err(|e| e.to_string())?;
                let Some(key) = record.key else { continue };
                match txn::decode_record(key, record.value) {
                    Ok(TxnRecord::Transaction {
                        transactional_id,
                        value: Some(value),
                    }) => {
                        out.insert(
                            transactional_id,
                            TransactionMetadata::from_log_value(&value),
                        );
                    }
                    Ok(TxnRecord::Transaction {
                        transactional_id,
                        value: None,
                    }) => {
                        out.remove(&transactional_id);
                    }
                    Ok(TxnRecord::Other { .. }) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "skipping an unreadable transaction state record")
                    }
                }
            }
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok(out)
}
