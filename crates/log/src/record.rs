//! Kafka v2 records: the contents of a batch's records section.
//!
//! After the 61-byte header (and after decompression when the codec is not `none`), a batch
//! holds `recordCount` records laid end to end, each:
//!
//! | field          | type                    | notes                                   |
//! |----------------|-------------------------|-----------------------------------------|
//! | length         | varint                  | bytes of the record after this field    |
//! | attributes     | int8                    | unused by Kafka, kept verbatim          |
//! | timestampDelta | varlong                 | from the batch's base timestamp         |
//! | offsetDelta    | varint                  | from the batch's base offset            |
//! | keyLength      | varint                  | -1 for a null key                       |
//! | key            | bytes                   |                                         |
//! | valueLength    | varint                  | -1 for a null value                     |
//! | value          | bytes                   |                                         |
//! | headerCount    | varint                  |                                         |
//! | headers        | repeated                | keyLength varint, key, valueLength varint (-1 null), value |
//!
//! Varints are zigzag-encoded base-128 (as protobuf's `sint32`/`sint64`).
//!
//! Records are only ever *viewed* ([`RecordRef`] borrows the bytes) and copied verbatim;
//! nothing here decodes a record into owned fields and re-encodes it, so duplicate header
//! keys, header order and any other detail a client wrote survive untouched.

use std::borrow::Cow;

use crate::batch::{
    compute_crc, BatchHeader, ATTR_CODEC_MASK, CRC_AT, HEADER_LEN, LOG_OVERHEAD, MAGIC_V2,
    NO_PRODUCER_ID, RECORDS_AT,
};
use crate::compression::{compress, decompress, Compression};
use crate::error::{BatchError, CodecError};

fn bad(msg: impl Into<String>) -> BatchError {
    BatchError::BadRecords(msg.into())
}

/// Decodes an unsigned base-128 integer of at most `max_bytes` bytes at `*pos` and
/// advances `*pos` past it; `None` (with `*pos` unchanged) if the bytes run out first or
/// the integer is longer. Bits shifted past the top are dropped, as Java's int/long
/// arithmetic drops them. The one varint decoder of this crate: the parsers below and the
/// produce path's record check ([`crate::scan`]) share it.
#[inline]
pub(crate) fn decode_unsigned(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Option<u64> {
    let mut raw: u64 = 0;
    for i in 0..max_bytes {
        let b = *buf.get(*pos + i)?;
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *pos += i + 1;
            return Some(raw);
        }
    }
    None
}

/// Zigzag-decodes a varint (its low 32 bits, as Kafka's `ByteUtils.readVarint` keeps).
#[inline]
pub(crate) fn zigzag32(raw: u64) -> i32 {
    let raw = raw as u32;
    ((raw >> 1) as i32) ^ -((raw & 1) as i32)
}

/// Reads an unsigned base-128 integer of at most `max_bytes` bytes.
#[inline]
fn read_unsigned(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Result<u64, BatchError> {
    decode_unsigned(buf, pos, max_bytes).ok_or_else(|| varint_error(buf, *pos, max_bytes))
}

/// Why [`decode_unsigned`] failed at `pos`: every byte left had its continuation bit set,
/// so either fewer than `max_bytes` were left or the integer is longer.
#[cold]
fn varint_error(buf: &[u8], pos: usize, max_bytes: usize) -> BatchError {
    if buf.len().saturating_sub(pos) < max_bytes {
        bad("truncated varint")
    } else {
        bad(format!("varint longer than {max_bytes} bytes"))
    }
}

/// Reads a zigzag varint (at most 5 bytes) at `*pos`, advancing `*pos` past it.
///
/// Like Kafka's `ByteUtils.readVarint`, bits of a fifth byte beyond 32 are ignored; a sixth
/// byte is an error. On error `*pos` is unchanged.
#[inline]
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, BatchError> {
    read_unsigned(buf, pos, 5).map(zigzag32)
}

/// Reads a zigzag varlong (at most 10 bytes) at `*pos`, advancing `*pos` past it.
///
/// Like Kafka's `ByteUtils.readVarlong`, bits of a tenth byte beyond 64 are ignored; an
/// eleventh byte is an error. On error `*pos` is unchanged.
#[inline]
pub fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, BatchError> {
    let raw = read_unsigned(buf, pos, 10)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// Appends `v` as a zigzag varint.
pub fn write_varint(out: &mut Vec<u8>, v: i32) {
    write_varlong(out, i64::from(v));
}

/// Appends `v` as a zigzag varlong.
pub fn write_varlong(out: &mut Vec<u8>, v: i64) {
    let mut raw = ((v << 1) ^ (v >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// Bytes [`write_varint`] takes for `v` (1 to 5).
pub fn varint_len(v: i32) -> usize {
    varlong_len(i64::from(v))
}

/// Bytes [`write_varlong`] takes for `v` (1 to 10).
pub fn varlong_len(v: i64) -> usize {
    let raw = ((v << 1) ^ (v >> 63)) as u64;
    let bits = 64 - raw.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// A record viewed in place. Every slice borrows the records section it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The whole record, including its length prefix.
    pub raw: &'a [u8],
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    /// `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// `None` for a null value (a tombstone on a compacted topic).
    pub value: Option<&'a [u8]>,
    pub header_count: i32,
    /// The bytes of all headers, in order, as the client wrote them.
    pub headers_raw: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// The headers as `(key, value)` pairs, in order, duplicates included. Yields an error
    /// (and then ends) if `headers_raw` does not hold exactly `header_count` headers.
    pub fn headers(
        &self,
    ) -> impl Iterator<Item = Result<(&'a [u8], Option<&'a [u8]>), BatchError>> + 'a {
        let (buf, mut pos, mut left, mut done) = (self.headers_raw, 0, self.header_count, false);
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            if left <= 0 {
                done = true;
                return (pos != buf.len() || left < 0)
                    .then(|| Err(bad("header bytes do not match the header count")));
            }
            let h = read_header(buf, &mut pos);
            left -= 1;
            done = h.is_err();
            Some(h)
        })
    }
}

/// Reads a length-prefixed byte string: -1 is null, other negatives are errors.
#[inline]
fn read_nullable<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    what: &str,
) -> Result<Option<&'a [u8]>, BatchError> {
    let len = read_varint(buf, pos)?;
    if len == -1 {
        return Ok(None);
    }
    take(buf, pos, len, what).map(Some)
}

/// Takes `len` bytes at `*pos`, checking `len` against what remains of `buf`.
#[inline]
fn take<'a>(buf: &'a [u8], pos: &mut usize, len: i32, what: &str) -> Result<&'a [u8], BatchError> {
    let len = usize::try_from(len).map_err(|_| bad(format!("negative {what} length {len}")))?;
    let s = buf
        .get(*pos..)
        .and_then(|rest| rest.get(..len))
        .ok_or_else(|| {
            let rest = buf.len().saturating_sub(*pos);
            bad(format!(
                "{what} of {len} bytes but only {rest} remain in the record"
            ))
        })?;
    *pos += len;
    Ok(s)
}

fn read_header<'a>(
    buf: &'a [u8],
    pos: &mut usize,
) -> Result<(&'a [u8], Option<&'a [u8]>), BatchError> {
    let key_len = read_varint(buf, pos)?;
    let key = take(buf, pos, key_len, "header key")?;
    let value = read_nullable(buf, pos, "header value")?;
    Ok((key, value))
}

/// Parses the record starting at `buf[*pos]` and advances `*pos` past it.
///
/// Every length is checked against the bytes that remain and against the record's own
/// declared length; the fields must use exactly the declared length. On error `*pos` is
/// unchanged.
pub fn parse_record<'a>(buf: &'a [u8], pos: &mut usize) -> Result<RecordRef<'a>, BatchError> {
    let start = *pos;
    let mut p = start;
    let body_len = read_varint(buf, &mut p)?;
    let body_len =
        usize::try_from(body_len).map_err(|_| bad(format!("negative record length {body_len}")))?;
    let rest = buf.len().saturating_sub(p);
    if body_len > rest {
        return Err(bad(format!(
            "record of {body_len} bytes but only {rest} remain"
        )));
    }
    let end = p + body_len;
    // Parse within the record's own bytes: no field may reach past its declared end.
    let rec = &buf[..end];
    let attributes = *rec
        .get(p)
        .ok_or_else(|| bad("record too short for its attributes"))? as i8;
    p += 1;
    let timestamp_delta = read_varlong(rec, &mut p)?;
    let offset_delta = read_varint(rec, &mut p)?;
    let key = read_nullable(rec, &mut p, "key")?;
    let value = read_nullable(rec, &mut p, "value")?;
    let header_count = read_varint(rec, &mut p)?;
    let headers_at = p;
    // Each header takes at least two bytes: rule out absurd counts before looping.
    match usize::try_from(header_count) {
        Ok(n) if n <= (end - p) / 2 => {}
        _ => return Err(bad(format!("invalid header count {header_count}"))),
    }
    for _ in 0..header_count {
        read_header(rec, &mut p)?;
    }
    if p != end {
        return Err(bad(format!(
            "record declares {body_len} bytes but its fields use {}",
            body_len - (end - p)
        )));
    }
    *pos = end;
    Ok(RecordRef {
        raw: &buf[start..end],
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        header_count,
        headers_raw: &rec[headers_at..end],
    })
}

/// Iterator over the `count` records of a records section.
///
/// Yields an error, and then ends, if a record is malformed, if the bytes run out before
/// `count` records, or if bytes remain after the last one. Always finite; never panics.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    blob: &'a [u8],
    pos: usize,
    left: i32,
    done: bool,
}

impl<'a> RecordIter<'a> {
    /// Iterates over `blob`, which should hold exactly `count` records.
    pub fn new(blob: &'a [u8], count: i32) -> Self {
        Self {
            blob,
            pos: 0,
            left: count,
            done: false,
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RecordRef<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left < 0 {
            self.done = true;
            return Some(Err(bad(format!("negative record count {}", self.left))));
        }
        if self.left == 0 {
            self.done = true;
            let trailing = self.blob.len() - self.pos;
            return (trailing != 0)
                .then(|| Err(bad(format!("{trailing} bytes after the last record"))));
        }
        let r = parse_record(self.blob, &mut self.pos);
        self.left -= 1;
        self.done = r.is_err();
        Some(r)
    }
}

impl std::iter::FusedIterator for RecordIter<'_> {}

/// Splits a complete batch into its header and its records section, decompressed when the
/// codec is not `none` (to at most `limit` bytes; an uncompressed section is borrowed).
///
/// Checks the structure this needs (header present, batch length consistent with `batch`,
/// magic 2, known codec) but not the CRC: see [`crate::batch::validate_batch`].
pub fn records_of_batch(
    batch: &[u8],
    limit: usize,
) -> Result<(BatchHeader, Cow<'_, [u8]>), BatchError> {
    let h = BatchHeader::parse(batch)?;
    let batch_length = usize::try_from(h.batch_length).unwrap_or(0);
    if batch_length < HEADER_LEN - LOG_OVERHEAD {
        return Err(BatchError::BadLength {
            batch_length: h.batch_length,
        });
    }
    if batch_length + LOG_OVERHEAD != batch.len() {
        return Err(BatchError::LengthMismatch {
            declared: batch_length + LOG_OVERHEAD,
            actual: batch.len(),
        });
    }
    if h.magic != MAGIC_V2 {
        return Err(BatchError::UnsupportedMagic(h.magic));
    }
    let codec = Compression::from_id(h.codec()).map_err(|_| BatchError::UnknownCodec(h.codec()))?;
    let section = &batch[RECORDS_AT..];
    let records = match codec {
        Compression::None => Cow::Borrowed(section),
        c => Cow::Owned(decompress(c, section, limit).map_err(|e| bad(e.to_string()))?),
    };
    Ok((h, records))
}

fn field_len(n: usize) -> i32 {
    i32::try_from(n).expect("record field longer than i32::MAX bytes")
}

/// Appends one record in the v2 format.
///
/// # Panics
///
/// If the record would be longer than `i32::MAX` bytes, which Kafka cannot represent.
pub fn encode_record(
    out: &mut Vec<u8>,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&[u8], Option<&[u8]>)],
) {
    let nullable_len = |b: Option<&[u8]>| b.map_or(1, |b| varint_len(field_len(b.len())) + b.len());
    let header_count = field_len(headers.len());
    let body: usize = 1
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + nullable_len(key)
        + nullable_len(value)
        + varint_len(header_count)
        + headers
            .iter()
            .map(|(k, v)| varint_len(field_len(k.len())) + k.len() + nullable_len(*v))
            .sum::<usize>();
    let body_len = field_len(body);
    out.reserve(varint_len(body_len) + body);
    let put_nullable = |out: &mut Vec<u8>, b: Option<&[u8]>| match b {
        None => write_varint(out, -1),
        Some(b) => {
            write_varint(out, field_len(b.len()));
            out.extend_from_slice(b);
        }
    };
    write_varint(out, body_len);
    out.push(attributes as u8);
    write_varlong(out, timestamp_delta);
    write_varint(out, offset_delta);
    put_nullable(out, key);
    put_nullable(out, value);
    write_varint(out, header_count);
    for (k, v) in headers {
        write_varint(out, field_len(k.len()));
        out.extend_from_slice(k);
        put_nullable(out, *v);
    }
}

/// Appends a copy of the record `raw` (exactly one whole record, length prefix included) to
/// `out` with its timestampDelta set to `new_timestamp_delta`. Only the length prefix and
/// the delta change; every other byte is copied verbatim.
pub fn rewrite_record_timestamp_delta(
    raw: &[u8],
    new_timestamp_delta: i64,
    out: &mut Vec<u8>,
) -> Result<(), BatchError> {
    let mut end = 0;
    let rec = parse_record(raw, &mut end)?;
    if end != raw.len() {
        return Err(bad(format!("{} bytes after the record", raw.len() - end)));
    }
    let mut p = 0;
    read_varint(raw, &mut p)?;
    let body_start = p;
    let ts_start = p + 1;
    p = ts_start;
    read_varlong(raw, &mut p)?;
    let ts_end = p;
    let body = raw.len() - body_start - (ts_end - ts_start) + varlong_len(new_timestamp_delta);
    let body = i32::try_from(body).map_err(|_| bad("rewritten record too long"))?;
    out.reserve(varint_len(body) + body as usize);
    write_varint(out, body);
    out.push(rec.attributes as u8);
    write_varlong(out, new_timestamp_delta);
    out.extend_from_slice(&raw[ts_end..]);
    Ok(())
}

/// Assembles a complete, valid v2 batch from already-encoded records.
///
/// `attributes` carries the timestamp-type, transactional, control and delete-horizon bits;
/// its codec bits are ignored and replaced by those of `compression`, which [`build`]
/// applies to the records section.
///
/// [`build`]: BatchBuilder::build
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchBuilder {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    pub attributes: i16,
    pub compression: Compression,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchBuilder {
    /// A builder for an uncompressed, non-idempotent batch at offset 0: producer id, epoch,
    /// base sequence and partition leader epoch -1, timestamps 0.
    pub fn new() -> Self {
        Self {
            base_offset: 0,
            partition_leader_epoch: -1,
            attributes: 0,
            compression: Compression::None,
            last_offset_delta: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: -1,
            base_sequence: -1,
        }
    }

    /// Writes the batch: the 61-byte header with the right batchLength and CRC-32C, then
    /// `records_raw` (holding `record_count` records) compressed with `self.compression`.
    pub fn build(&self, records_raw: &[u8], record_count: i32) -> Result<Vec<u8>, CodecError> {
        let compressed;
        let section = match self.compression {
            Compression::None => records_raw,
            c => {
                compressed = compress(c, records_raw)?;
                &compressed[..]
            }
        };
        let too_large = CodecError::TooLarge {
            limit: i32::MAX as usize - (HEADER_LEN - LOG_OVERHEAD),
        };
        let batch_length = (HEADER_LEN - LOG_OVERHEAD)
            .checked_add(section.len())
            .and_then(|n| i32::try_from(n).ok())
            .ok_or(too_large)?;
        let attributes = (self.attributes & !ATTR_CODEC_MASK) | self.compression.id();
        let mut b = Vec::with_capacity(HEADER_LEN + section.len());
        b.extend_from_slice(&self.base_offset.to_be_bytes());
        b.extend_from_slice(&batch_length.to_be_bytes());
        b.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        b.push(MAGIC_V2 as u8);
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&attributes.to_be_bytes());
        b.extend_from_slice(&self.last_offset_delta.to_be_bytes());
        b.extend_from_slice(&self.base_timestamp.to_be_bytes());
        b.extend_from_slice(&self.max_timestamp.to_be_bytes());
        b.extend_from_slice(&self.producer_id.to_be_bytes());
        b.extend_from_slice(&self.producer_epoch.to_be_bytes());
        b.extend_from_slice(&self.base_sequence.to_be_bytes());
        b.extend_from_slice(&record_count.to_be_bytes());
        debug_assert_eq!(b.len(), HEADER_LEN);
        b.extend_from_slice(section);
        let crc = compute_crc(&b);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(b)
    }
}

/// A record's key and value, `None` for null.
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// A batch of `(key, value)` records for tests and benchmarks: base offset 0, offset deltas
/// `0..n`, timestamp deltas 0 (so max timestamp = `base_timestamp`), no headers, producer
/// id -1. An empty `records` gives lastOffsetDelta -1, which validation rejects.
///
/// # Panics
///
/// If compression fails or the batch exceeds Kafka's 2 GiB limit.
pub fn simple_batch(
    records: &[KeyValue<'_>],
    base_timestamp: i64,
    compression: Compression,
) -> Vec<u8> {
    let mut raw = Vec::new();
    for (i, (k, v)) in records.iter().enumerate() {
        encode_record(&mut raw, 0, 0, field_len(i), *k, *v, &[]);
    }
    let n = field_len(records.len());
    BatchBuilder {
        compression,
        base_timestamp,
        max_timestamp: base_timestamp,
        last_offset_delta: n - 1,
        ..BatchBuilder::new()
    }
    .build(&raw, n)
    .expect("building an in-memory batch")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{validate_incoming, ATTR_TRANSACTIONAL, MAGIC_AT};
    use proptest::prelude::*;

    type Bytes = Option<Vec<u8>>;
    type Owned = (i8, i64, i32, Bytes, Bytes, Vec<(Vec<u8>, Bytes)>);

    fn encode(out: &mut Vec<u8>, r: &Owned) {
        let hs: Vec<_> = r.5.iter().map(|(k, v)| (&k[..], v.as_deref())).collect();
        encode_record(out, r.0, r.1, r.2, r.3.as_deref(), r.4.as_deref(), &hs);
    }

    fn check(r: &RecordRef<'_>, o: &Owned) {
        let fields = (
            r.attributes,
            r.timestamp_delta,
            r.offset_delta,
            r.key,
            r.value,
        );
        assert_eq!(fields, (o.0, o.1, o.2, o.3.as_deref(), o.4.as_deref()));
        assert_eq!(r.header_count as usize, o.5.len());
        let hs: Vec<_> = r.headers().collect::<Result<_, _>>().unwrap();
        let want: Vec<_> = o.5.iter().map(|(k, v)| (&k[..], v.as_deref())).collect();
        assert_eq!(hs, want);
    }

    fn b(s: &[u8]) -> Bytes {
        Some(s.to_vec())
    }

    /// Null key and value, empty key and value, a negative delta, duplicate header keys.
    fn samples() -> Vec<Owned> {
        let dup = vec![
            (b"h".to_vec(), b(b"1")),
            (b"h".to_vec(), b(b"2")),
            (vec![], None),
            (b"h".to_vec(), b(b"")),
        ];
        vec![
            (0, 0, 0, b(b"k"), b(b"v"), vec![]),
            (0, -5, 1, None, None, vec![]),
            (3, 1 << 40, 2, b(b""), b(b""), vec![]),
            (-1, i64::MIN, i32::MAX, b(b"key"), None, dup),
        ]
    }

    fn blob_of(rs: &[Owned]) -> Vec<u8> {
        let mut b = Vec::new();
        rs.iter().for_each(|r| encode(&mut b, r));
        b
    }

    #[test]
    fn varints_match_kafka() {
        let cases: &[(i32, &[u8])] = &[
            (0, &[0]),
            (-1, &[1]),
            (1, &[2]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (300, &[0xd8, 0x04]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(v, bytes) in cases {
            let (mut out, mut pos) = (Vec::new(), 0);
            write_varint(&mut out, v);
            assert_eq!((&out[..], varint_len(v)), (bytes, bytes.len()), "{v}");
            assert_eq!(
                (read_varint(bytes, &mut pos).unwrap(), pos),
                (v, bytes.len())
            );
        }
        for v in [0, 1, -1, 63, 64, -65, i64::MAX, i64::MIN, 1 << 35] {
            let (mut out, mut pos) = (Vec::new(), 0);
            write_varlong(&mut out, v);
            assert_eq!(varlong_len(v), out.len());
            assert_eq!(read_varlong(&out, &mut pos).unwrap(), v);
        }
        let mut pos = 0;
        assert!(read_varint(&[0x80; 6], &mut pos).is_err());
        assert!(read_varint(&[0x80, 0x80], &mut pos).is_err());
        assert!(read_varlong(&[0x80; 11], &mut pos).is_err());
        assert_eq!(pos, 0);
    }

    #[test]
    fn records_round_trip_and_counts_are_enforced() {
        let rs = samples();
        let blob = blob_of(&rs);
        let got: Vec<_> = RecordIter::new(&blob, 4).collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), rs.len());
        let mut at = 0;
        for (r, o) in got.iter().zip(&rs) {
            check(r, o);
            assert_eq!(r.raw, &blob[at..at + r.raw.len()]);
            at += r.raw.len();
        }
        assert_eq!(at, blob.len());
        // Too few records claimed: trailing bytes. Too many: the bytes run out.
        let items: Vec<_> = RecordIter::new(&blob, 2).collect();
        assert!(items.len() == 3 && items[2].is_err());
        let items: Vec<_> = RecordIter::new(&blob, 5).collect();
        assert!(items.len() == 5 && items[4].is_err());
        assert_eq!(RecordIter::new(&[], 0).count(), 0);
        assert!(RecordIter::new(&[], -1).next().unwrap().is_err());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let blob = blob_of(&samples());
        for cut in 0..blob.len() {
            let items: Vec<_> = RecordIter::new(&blob[..cut], 4).collect();
            assert!(items.iter().any(Result::is_err), "cut at {cut} accepted");
            assert!(items.len() <= 4);
        }
    }

    #[test]
    fn lengths_are_checked() {
        let one = blob_of(&samples()[..1]);
        // Declared length one byte longer, with a stray byte inside the record.
        let mut longer = one.clone();
        longer[0] += 2;
        longer.push(0);
        assert!(parse_record(&longer, &mut 0).is_err());
        // Declared length one byte shorter.
        let mut shorter = one.clone();
        shorter[0] -= 2;
        assert!(parse_record(&shorter, &mut 0).is_err());
        // keyLength -2 (zigzag 3) where it was 1 (zigzag 2).
        let mut neg = one.clone();
        assert_eq!(neg[4], 2);
        neg[4] = 3;
        assert!(parse_record(&neg, &mut 0).is_err());
        // Negative record length; a header count far beyond the bytes.
        assert!(parse_record(&[1], &mut 0).is_err());
        let mut r = Vec::new();
        encode_record(&mut r, 0, 0, 0, None, None, &[]);
        *r.last_mut().unwrap() = 0x7e;
        assert!(parse_record(&r, &mut 0).is_err());
    }

    #[test]
    fn rewriting_the_timestamp_delta_keeps_everything_else() {
        // The bytes after the timestamp delta.
        let tail = |x: &[u8], ts: i64| {
            let mut p = 0;
            read_varint(x, &mut p).unwrap();
            x[p + 1 + varlong_len(ts)..].to_vec()
        };
        for o in samples() {
            let raw = blob_of(std::slice::from_ref(&o));
            let orig = parse_record(&raw, &mut 0).unwrap();
            for new_ts in [0, -1, 1 << 20, i64::MAX, i64::MIN] {
                let mut out = Vec::new();
                rewrite_record_timestamp_delta(&raw, new_ts, &mut out).unwrap();
                let mut pos = 0;
                let r = parse_record(&out, &mut pos).unwrap();
                assert_eq!(pos, out.len());
                assert_eq!(
                    r,
                    RecordRef {
                        raw: r.raw,
                        timestamp_delta: new_ts,
                        ..orig
                    }
                );
                assert_eq!(tail(&out, new_ts), tail(&raw, o.1));
            }
        }
        let mut raw = blob_of(&samples()[..1]);
        raw.push(0);
        assert!(rewrite_record_timestamp_delta(&raw, 0, &mut Vec::new()).is_err());
    }

    #[test]
    fn built_batches_validate_and_give_back_their_records() {
        let blob = blob_of(&samples());
        let kvs: &[KeyValue<'_>] = &[(Some(b"a"), Some(b"1")), (None, Some(b"2")), (None, None)];
        for c in Compression::ALL {
            let builder = BatchBuilder {
                base_offset: 100,
                attributes: ATTR_TRANSACTIONAL | 0x7, // codec bits are overwritten
                compression: c,
                last_offset_delta: 3,
                max_timestamp: 2000,
                producer_id: 7,
                ..BatchBuilder::new()
            };
            let batch = builder.build(&blob, 4).unwrap();
            let h = validate_incoming(&batch, 1 << 20).unwrap();
            assert_eq!((h.codec(), h.is_transactional()), (c.id(), true));
            assert_eq!(
                (h.base_offset, h.producer_id, h.max_timestamp),
                (100, 7, 2000)
            );
            let (h2, records) = records_of_batch(&batch, 1 << 20).unwrap();
            assert_eq!((h2, &records[..]), (h, &blob[..]));
            assert_eq!(matches!(records, Cow::Borrowed(_)), c == Compression::None);

            let batch = simple_batch(kvs, 55, c);
            let h = validate_incoming(&batch, 1 << 20).unwrap();
            assert_eq!(
                (h.last_offset_delta, h.record_count, h.base_timestamp),
                (2, 3, 55)
            );
            let (_, section) = records_of_batch(&batch, 1 << 20).unwrap();
            let got: Vec<_> = RecordIter::new(&section, 3)
                .map(|r| r.map(|r| (r.offset_delta, (r.key, r.value))))
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(got, (0..).zip(kvs.iter().copied()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn records_of_batch_rejects_damage() {
        let batch = simple_batch(&[(Some(b"k"), Some(&[0u8; 4096]))], 0, Compression::Lz4);
        let err = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = batch.clone();
            f(&mut b);
            records_of_batch(&b, 1 << 20).unwrap_err()
        };
        let too_big = records_of_batch(&batch, 100).unwrap_err();
        assert!(matches!(too_big, BatchError::BadRecords(_)));
        assert_eq!(err(&|b| b[MAGIC_AT] = 1), BatchError::UnsupportedMagic(1));
        assert_eq!(err(&|b| b[22] |= 0x7), BatchError::UnknownCodec(7));
        let e = err(&|b| b.truncate(b.len() - 1));
        assert!(matches!(e, BatchError::LengthMismatch { .. }));
        let e = err(&|b| b[RECORDS_AT + 8..].fill(0xAA));
        assert!(matches!(e, BatchError::BadRecords(_)));
        let e = err(&|b| b[8..12].copy_from_slice(&(-1i32).to_be_bytes()));
        assert!(matches!(e, BatchError::BadLength { .. }));
    }

    fn owned_record() -> impl Strategy<Value = Owned> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
        let opt = || proptest::option::of(bytes());
        let headers = proptest::collection::vec((bytes(), opt()), 0..4);
        (
            any::<i8>(),
            any::<i64>(),
            any::<i32>(),
            opt(),
            opt(),
            headers,
        )
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256),
                                       count in -2i32..20) {
            let items: Vec<_> = RecordIter::new(&data, count).take(1000).collect();
            prop_assert!(items.len() <= count.max(0) as usize + 1);
            for r in items.into_iter().flatten() {
                prop_assert!(r.headers().take(1000).count() <= r.header_count as usize + 1);
                prop_assert!(rewrite_record_timestamp_delta(r.raw, 7, &mut Vec::new()).is_ok());
            }
            let _ = records_of_batch(&data, 1 << 16);
        }

        #[test]
        fn arbitrary_records_round_trip(rs in proptest::collection::vec(owned_record(), 0..6),
                                        codec in 0i16..5) {
            let (blob, n) = (blob_of(&rs), rs.len() as i32);
            let got: Vec<_> = RecordIter::new(&blob, n).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(got.len(), rs.len());
            got.iter().zip(&rs).for_each(|(r, o)| check(r, o));
            let builder = BatchBuilder {
                compression: Compression::from_id(codec).unwrap(),
                last_offset_delta: n - 1,
                ..BatchBuilder::new()
            };
            let batch = builder.build(&blob, n).unwrap();
            let (_, section) = records_of_batch(&batch, 1 << 20).unwrap();
            prop_assert_eq!(&section[..], &blob[..]);
        }
    }
}
