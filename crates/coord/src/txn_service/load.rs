//! Replaying a partition of `__transaction_state` (Kafka's
//! `TransactionStateManager.loadTransactionMetadata`): the latest record of each
//! transactional id wins; a tombstone removes the id. A record that does not decode is
//! skipped with a warning (one damaged id must not take the others offline).

use std::collections::HashMap;

use myelin_cluster::Partition;
use myelin_log::record::RecordIter;

use crate::service::replay::for_each_batch;
use crate::txn::{self, TransactionMetadata, TxnRecord};

/// Every transactional id of the partition with its metadata.
pub(crate) fn load_partition(
    partition: &Partition,
) -> Result<HashMap<String, TransactionMetadata>, String> {
    let mut out = HashMap::new();
    for_each_batch(&partition.log, |header, records| {
        if header.is_control() {
            return Ok(());
        }
        for record in RecordIter::new(records, header.record_count) {
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
        Ok(())
    })?;
    Ok(out)
}
