//! Arbitrary bytes as a records section: the first four bytes are the record count, the
//! rest the records. Decoding must never panic, and stays within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_log::record::{parse_record, rewrite_record_timestamp_delta, RecordIter};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let count = i32::from_be_bytes(data[..4].try_into().unwrap());
    let blob = &data[4..];
    let mut it = RecordIter::new(blob, count);
    let mut n = 0i64;
    for r in it.by_ref() {
        let Ok(r) = r else { break };
        n += 1;
        assert!(r.raw.len() <= blob.len());
        let mut headers = 0;
        for h in r.headers() {
            if h.is_err() {
                break;
            }
            headers += 1;
        }
        assert!(headers <= r.header_count.max(0) as usize);
        // Rewriting the timestamp delta keeps the record parseable with the new delta.
        let mut out = Vec::new();
        rewrite_record_timestamp_delta(r.raw, r.timestamp_delta.wrapping_add(1), &mut out)
            .expect("a record that parsed can be rewritten");
        let mut pos = 0;
        let again = parse_record(&out, &mut pos).expect("a rewritten record parses");
        assert_eq!(pos, out.len());
        assert_eq!(again.timestamp_delta, r.timestamp_delta.wrapping_add(1));
        assert_eq!((again.key, again.value), (r.key, r.value));
        assert_eq!(again.headers_raw, r.headers_raw);
    }
    assert!(n <= i64::from(count.max(0)));
    assert!(it.position() <= blob.len());
});
