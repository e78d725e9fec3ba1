//! Arbitrary bytes as a record batch: validation, decoding and the batch iterator must
//! never panic, and whatever validates must be self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_log::batch::{validate_batch, validate_incoming, BatchIter};
use myelin_log::record::{records_of_batch, RecordIter};

/// Decompressed records sections are bounded like the log bounds them.
const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let validated = validate_batch(data, LIMIT);
    if let Ok(h) = &validated {
        assert_eq!(h.total_len(), data.len());
        assert!(h.record_count >= 0 && h.last_offset_delta >= 0);
    }
    if let Ok(h) = validate_incoming(data, LIMIT) {
        assert_eq!(Some(&h), validated.as_ref().ok());
        assert_eq!(
            i64::from(h.record_count),
            i64::from(h.last_offset_delta) + 1
        );
    }
    if let Ok((h, records)) = records_of_batch(data, LIMIT) {
        assert!(records.len() <= LIMIT);
        for r in RecordIter::new(&records, h.record_count) {
            let Ok(r) = r else { break };
            for header in r.headers() {
                if header.is_err() {
                    break;
                }
            }
        }
    }
    // The iterator only ever yields whole batches lying within the input.
    let mut it = BatchIter::new(data);
    for (pos, h, bytes) in it.by_ref() {
        assert_eq!(bytes.len(), h.total_len());
        assert_eq!(&data[pos..pos + bytes.len()], bytes);
    }
    assert!(it.position() <= data.len());
});
