//! Record-level scans of one stored batch: the few places the log looks inside a batch.

use crate::batch::{BatchHeader, BatchIter};
use crate::error::{BatchError, Result};
use crate::record::{decode_unsigned, records_of_batch, zigzag32, RecordIter};
use crate::Log;

/// Bytes [`for_each_batch`] reads from the log at a time.
const READ_BYTES: u64 = 1024 * 1024;

/// Calls `f` with every whole batch of `log` starting in `from..to`, in offset order: the
/// header and the records section, decompressed to at most `inflate_limit` bytes. Returns
/// the offset after the last batch given to `f` (`from` if none). Stops at the first
/// error, `f`'s or the log's. For readers of a log's own records: the coordinators
/// loading their topics, the schema registry's view of `_schemas`.
pub fn for_each_batch(
    log: &Log,
    from: i64,
    to: i64,
    inflate_limit: usize,
    mut f: impl FnMut(&BatchHeader, &[u8]) -> std::result::Result<(), String>,
) -> std::result::Result<i64, String> {
    let mut offset = from;
    let mut buf = Vec::new();
    while offset < to {
        let read = log
            .read(offset, READ_BYTES, to, true)
            .map_err(|e| e.to_string())?;
        let Some(slice) = read.slice else { break };
        buf.clear();
        slice.read_into(&mut buf).map_err(|e| e.to_string())?;
        let mut next = offset;
        for (_, _, batch) in BatchIter::new(&buf) {
            let (header, records) =
                records_of_batch(batch, inflate_limit).map_err(|e| e.to_string())?;
            next = header.last_offset() + 1;
            f(&header, &records)?;
        }
        if next <= offset {
            // Nothing whole could be read at this offset: stop rather than loop.
            break;
        }
        offset = next;
    }
    Ok(offset)
}

/// Validates the records inside an incoming batch, as Kafka's `LogValidator` does before
/// anything is written: every record well formed (lengths within the record, exactly
/// `recordCount` records, no trailing bytes, decompressing within `limit` bytes), offset
/// deltas 0, 1, 2, ... and, on a compacted log, a key on every record of a data batch.
pub fn validate_records(batch: &[u8], limit: usize, require_keys: bool) -> Result<(), BatchError> {
    let (h, records) = records_of_batch(batch, limit)?;
    let require_keys = require_keys && !h.is_control();
    if records_are_valid(&records, h.record_count, require_keys) {
        return Ok(());
    }
    // Something is wrong: the record parser finds it and says what.
    check_records(&records, h.record_count, require_keys)
}

/// [`validate_records`]' check with the record parser, which names the first fault.
/// Malformed records and broken offsets come first; keyless records on a compacted topic
/// are all listed, as Kafka lists every record that breaks that rule.
fn check_records(records: &[u8], count: i32, require_keys: bool) -> Result<(), BatchError> {
    let mut keyless = Vec::new();
    for (i, r) in RecordIter::new(records, count).enumerate() {
        let r = r?;
        if i64::from(r.offset_delta) != i as i64 {
            return Err(BatchError::InvalidRecord(format!(
                "record {i} has offset delta {}: offsets in a batch must be consecutive",
                r.offset_delta
            )));
        }
        if require_keys && r.key.is_none() {
            // `i` < `count`, an i32.
            keyless.push(i as i32);
        }
    }
    if keyless.is_empty() {
        Ok(())
    } else {
        Err(BatchError::MissingKey { records: keyless })
    }
}

/// The check of [`validate_records`] on a records section, without building records or
/// error messages: the produce path's per-record work. True when `records` holds exactly
/// `count` well-formed records (every length within the record, fields filling it
/// exactly, at most `(bytes left) / 2` headers), offset deltas 0, 1, 2, ..., and, with
/// `require_keys`, a key on each. It accepts exactly what [`RecordIter`] does (a property
/// test holds the two together).
fn records_are_valid(records: &[u8], count: i32, require_keys: bool) -> bool {
    let Ok(count) = usize::try_from(count) else {
        return false;
    };
    let mut p = 0usize;
    for i in 0..count {
        let Some(len) = varint(records, &mut p).and_then(|n| usize::try_from(n).ok()) else {
            return false;
        };
        if len > records.len() - p {
            return false;
        }
        let end = p + len;
        let rec = &records[..end];
        // Attributes, then the timestamp delta.
        p += 1;
        if p > end || decode_unsigned(rec, &mut p, 10).is_none() {
            return false;
        }
        if varint(rec, &mut p).and_then(|d| usize::try_from(d).ok()) != Some(i) {
            return false;
        }
        let Some(key) = nullable(rec, &mut p) else {
            return false;
        };
        if (require_keys && !key) || nullable(rec, &mut p).is_none() {
            return false;
        }
        let Some(headers) = varint(rec, &mut p).and_then(|n| usize::try_from(n).ok()) else {
            return false;
        };
        if headers > (end - p) / 2 {
            return false;
        }
        for _ in 0..headers {
            // A header's key may not be null; its value may.
            if nullable(rec, &mut p) != Some(true) || nullable(rec, &mut p).is_none() {
                return false;
            }
        }
        if p != end {
            return false;
        }
    }
    p == records.len()
}

/// Reads a zigzag varint of at most 5 bytes, as [`crate::record::read_varint`] does.
#[inline]
fn varint(buf: &[u8], p: &mut usize) -> Option<i32> {
    decode_unsigned(buf, p, 5).map(zigzag32)
}

/// Skips a length-prefixed byte string: `Some(false)` for null (-1), `Some(true)` for
/// bytes within `buf`, `None` for a negative length or one past the end.
#[inline]
fn nullable(buf: &[u8], p: &mut usize) -> Option<bool> {
    let len = varint(buf, p)?;
    if len == -1 {
        return Some(false);
    }
    let len = usize::try_from(len).ok()?;
    if len > buf.len() - *p {
        return None;
    }
    *p += len;
    Some(true)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::encode_record;
    use proptest::prelude::*;

    type Header = (Vec<u8>, Option<Vec<u8>>);
    /// Key, value, headers and timestamp delta of a record to encode.
    type Encoded = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<Header>, i64);

    fn record() -> impl Strategy<Value = Encoded> {
        (
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            proptest::collection::vec(
                (
                    proptest::collection::vec(any::<u8>(), 0..6),
                    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..6)),
                ),
                0..3,
            ),
            prop_oneof![Just(0i64), any::<i64>()],
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The fast check accepts exactly what the record parser accepts: on well-formed
        /// records, and on the same records with bytes changed, cut, or a wrong count or
        /// offset delta.
        #[test]
        fn the_fast_check_agrees_with_the_parser(
            records in proptest::collection::vec(record(), 0..70),
            wrong_delta in proptest::option::of(0usize..70),
            flips in proptest::collection::vec(
                (
                    any::<proptest::sample::Index>(),
                    // Lengths of -1, 0 and -64, a continuation bit, or anything.
                    prop_oneof![Just(1u8), Just(0), Just(0x7f), Just(0x80), any::<u8>()],
                ),
                0..3,
            ),
            cut in proptest::option::of(any::<proptest::sample::Index>()),
            count_change in -1i32..=1,
            require_keys in any::<bool>(),
        ) {
            let mut raw = Vec::new();
            for (i, (k, v, hs, ts)) in records.iter().enumerate() {
                let delta = if wrong_delta == Some(i) { i as i32 + 1 } else { i as i32 };
                let hs: Vec<(&[u8], Option<&[u8]>)> =
                    hs.iter().map(|(k, v)| (&k[..], v.as_deref())).collect();
                encode_record(&mut raw, 0, *ts, delta, k.as_deref(), v.as_deref(), &hs);
            }
            if !raw.is_empty() {
                for (at, b) in &flips {
                    let at = at.index(raw.len());
                    raw[at] = *b;
                }
                if let Some(cut) = cut {
                    raw.truncate(cut.index(raw.len()));
                }
            }
            let count = records.len() as i32 + count_change;
            prop_assert_eq!(
                records_are_valid(&raw, count, require_keys),
                check_records(&raw, count, require_keys).is_ok()
            );
        }

        /// And on arbitrary bytes.
        #[test]
        fn the_fast_check_agrees_on_any_bytes(
            raw in proptest::collection::vec(any::<u8>(), 0..64),
            count in -1i32..4,
            require_keys in any::<bool>(),
        ) {
            prop_assert_eq!(
                records_are_valid(&raw, count, require_keys),
                check_records(&raw, count, require_keys).is_ok()
            );
        }
    }

    /// A length-prefixed field as written: its bytes (None: null), and the length written
    /// before them, off by `skew` (0: correct).
    fn put_field(out: &mut Vec<u8>, bytes: &Option<Vec<u8>>, skew: i32) {
        let len = bytes.as_ref().map_or(-1, |b| b.len() as i32);
        crate::record::write_varint(out, len.saturating_add(skew));
        if let Some(b) = bytes {
            out.extend_from_slice(b);
        }
    }

    /// A field's bytes (None: null) and the skew of the length written before them.
    type Field = (Option<Vec<u8>>, i32);

    /// A field's bytes and the skew of its length: mostly right, sometimes off.
    fn field() -> impl Strategy<Value = Field> {
        (
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4)),
            prop_oneof![8 => Just(0), 1 => Just(1), 1 => Just(-1), 1 => Just(-2)],
        )
    }

    /// One record built field by field, each field possibly wrong, to reach every
    /// branch of both checks.
    #[derive(Debug, Clone)]
    struct Raw {
        /// Timestamp delta: 1 to 11 bytes; 11 bytes or an unterminated one is malformed.
        ts_bytes: usize,
        ts_terminated: bool,
        delta_skew: i32,
        key: Field,
        value: Field,
        headers: Vec<(Field, Field)>,
        header_count_skew: i32,
        len_skew: i32,
    }

    fn raw_record() -> impl Strategy<Value = Raw> {
        (
            (1usize..=11, prop_oneof![9 => Just(true), 1 => Just(false)]),
            prop_oneof![8 => Just(0), 1 => Just(1), 1 => Just(-1)],
            field(),
            field(),
            proptest::collection::vec((field(), field()), 0..3),
            prop_oneof![8 => Just(0), 1 => Just(1), 1 => Just(-1), 1 => Just(1 << 20)],
            prop_oneof![8 => Just(0), 1 => Just(1), 1 => Just(-1)],
        )
            .prop_map(
                |(
                    (ts_bytes, ts_terminated),
                    delta_skew,
                    key,
                    value,
                    headers,
                    header_count_skew,
                    len_skew,
                )| Raw {
                    ts_bytes,
                    ts_terminated,
                    delta_skew,
                    key,
                    value,
                    headers,
                    header_count_skew,
                    len_skew,
                },
            )
    }

    fn encode_raw(out: &mut Vec<u8>, i: usize, r: &Raw) {
        let mut body = vec![0u8]; // attributes
        body.extend(std::iter::repeat_n(0x80, r.ts_bytes - 1));
        body.push(if r.ts_terminated { 0x00 } else { 0x80 });
        crate::record::write_varint(&mut body, i as i32 + r.delta_skew);
        put_field(&mut body, &r.key.0, r.key.1);
        put_field(&mut body, &r.value.0, r.value.1);
        crate::record::write_varint(&mut body, r.headers.len() as i32 + r.header_count_skew);
        for (k, v) in &r.headers {
            put_field(&mut body, &k.0, k.1);
            put_field(&mut body, &v.0, v.1);
        }
        crate::record::write_varint(out, body.len() as i32 + r.len_skew);
        out.extend_from_slice(&body);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Records built field by field, any field wrong: the two checks agree.
        #[test]
        fn the_fast_check_agrees_field_by_field(
            records in proptest::collection::vec(raw_record(), 0..4),
            count_change in prop_oneof![4 => Just(0i32), 1 => Just(1), 1 => Just(-1)],
            require_keys in any::<bool>(),
        ) {
            let mut raw = Vec::new();
            for (i, r) in records.iter().enumerate() {
                encode_raw(&mut raw, i, r);
            }
            let count = records.len() as i32 + count_change;
            prop_assert_eq!(
                records_are_valid(&raw, count, require_keys),
                check_records(&raw, count, require_keys).is_ok()
            );
        }
    }

    /// A null header key (length -1) is malformed, a null header value is not.
    #[test]
    fn a_null_header_key_is_rejected_by_both() {
        let mut raw = Vec::new();
        encode_record(&mut raw, 0, 0, 0, Some(b"k"), Some(b"v"), &[(b"", None)]);
        assert!(records_are_valid(&raw, 1, true));
        assert!(check_records(&raw, 1, true).is_ok());
        // The header's key length is the second byte from the end: 0 becomes -1.
        let at = raw.len() - 2;
        assert_eq!(raw[at], 0);
        raw[at] = 1;
        assert!(!records_are_valid(&raw, 1, true));
        assert!(check_records(&raw, 1, true).is_err());
    }

    #[test]
    fn varints_of_every_length_read_as_the_record_parser_reads_them() {
        for v in [0, 1, -1, 63, -64, 64, 8191, -8192, 8192, i32::MAX, i32::MIN] {
            let mut buf = Vec::new();
            crate::record::write_varint(&mut buf, v);
            let (mut p, mut q) = (0, 0);
            assert_eq!(varint(&buf, &mut p), Some(v));
            assert_eq!(crate::record::read_varint(&buf, &mut q).ok(), Some(v));
            assert_eq!(p, q);
            assert_eq!(varint(&buf[..buf.len() - 1], &mut 0), None, "{v} cut short");
        }
        // A fifth byte's bits beyond 32 are dropped; a sixth byte is an error.
        let five = [0xff, 0xff, 0xff, 0xff, 0x7f];
        let mut q = 0;
        assert_eq!(
            varint(&five, &mut 0),
            crate::record::read_varint(&five, &mut q).ok()
        );
        assert_eq!(varint(&[0x80; 6], &mut 0), None);
    }
}
