//! The Kafka RecordBatch v2 header: the only part of Kafka's format the log knows.
//!
//! Byte layout (all integers big-endian), offsets from the start of the batch:
//!
//! | at | field                | type   | notes                                          |
//! |----|----------------------|--------|------------------------------------------------|
//! | 0  | baseOffset           | int64  | assigned by the log on append                  |
//! | 8  | batchLength          | int32  | bytes after this field to the end of the batch |
//! | 12 | partitionLeaderEpoch | int32  | stamped by the log on append                   |
//! | 16 | magic                | int8   | always 2                                       |
//! | 17 | crc                  | uint32 | CRC-32C of bytes 21..end                       |
//! | 21 | attributes           | int16  | codec, timestamp type, transactional, control  |
//! | 23 | lastOffsetDelta      | int32  |                                                |
//! | 27 | baseTimestamp        | int64  |                                                |
//! | 35 | maxTimestamp         | int64  |                                                |
//! | 43 | producerId           | int64  |                                                |
//! | 51 | producerEpoch        | int16  |                                                |
//! | 53 | baseSequence         | int32  |                                                |
//! | 57 | recordCount          | int32  |                                                |
//! | 61 | records              |        | compressed as a whole when codec != 0          |
//!
//! Mirrored in `docs/on-disk-format.md`.

use crate::error::BatchError;

/// Size of the fixed v2 header; the smallest possible batch.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batchLength`'s coverage starts (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;
pub const BASE_OFFSET_AT: usize = 0;
pub const LENGTH_AT: usize = 8;
pub const LEADER_EPOCH_AT: usize = 12;
pub const MAGIC_AT: usize = 16;
pub const CRC_AT: usize = 17;
/// The CRC covers everything from the attributes to the end of the batch.
pub const ATTRIBUTES_AT: usize = 21;
pub const LAST_OFFSET_DELTA_AT: usize = 23;
pub const BASE_TIMESTAMP_AT: usize = 27;
pub const MAX_TIMESTAMP_AT: usize = 35;
pub const PRODUCER_ID_AT: usize = 43;
pub const PRODUCER_EPOCH_AT: usize = 51;
pub const BASE_SEQUENCE_AT: usize = 53;
pub const RECORD_COUNT_AT: usize = 57;
pub const RECORDS_AT: usize = 61;

pub const MAGIC_V2: i8 = 2;

/// Attribute bits.
pub const ATTR_CODEC_MASK: i16 = 0x07;
pub const ATTR_LOG_APPEND_TIME: i16 = 0x08;
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
pub const ATTR_CONTROL: i16 = 0x20;
pub const ATTR_DELETE_HORIZON: i16 = 0x40;

/// No producer id: the batch is neither idempotent nor transactional.
pub const NO_PRODUCER_ID: i64 = -1;

#[inline]
pub(crate) fn get_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
#[inline]
pub(crate) fn get_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
#[inline]
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
#[inline]
pub(crate) fn get_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// A read-only view of a batch header. Construct with [`BatchHeader::parse`], which checks
/// only that the 61 header bytes are there; [`validate_batch`] checks the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after the length field: the whole batch is `batch_length + 12` bytes.
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Reads the fixed header from the first 61 bytes of `b`.
    pub fn parse(b: &[u8]) -> Result<Self, BatchError> {
        if b.len() < HEADER_LEN {
            return Err(BatchError::Truncated {
                need: HEADER_LEN,
                have: b.len(),
            });
        }
        Ok(Self {
            base_offset: get_i64(b, BASE_OFFSET_AT),
            batch_length: get_i32(b, LENGTH_AT),
            partition_leader_epoch: get_i32(b, LEADER_EPOCH_AT),
            magic: b[MAGIC_AT] as i8,
            crc: get_u32(b, CRC_AT),
            attributes: get_i16(b, ATTRIBUTES_AT),
            last_offset_delta: get_i32(b, LAST_OFFSET_DELTA_AT),
            base_timestamp: get_i64(b, BASE_TIMESTAMP_AT),
            max_timestamp: get_i64(b, MAX_TIMESTAMP_AT),
            producer_id: get_i64(b, PRODUCER_ID_AT),
            producer_epoch: get_i16(b, PRODUCER_EPOCH_AT),
            base_sequence: get_i32(b, BASE_SEQUENCE_AT),
            record_count: get_i32(b, RECORD_COUNT_AT),
        })
    }

    /// Total size of the batch in bytes, including the offset and length fields.
    pub fn total_len(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }
    /// The offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        // Saturating: the header may come from a damaged file; validation rejects the batch
        // afterwards, this only must not overflow.
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }
    /// Compression codec id (bits 0-2): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub fn codec(&self) -> i16 {
        self.attributes & ATTR_CODEC_MASK
    }
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & ATTR_DELETE_HORIZON != 0
    }
}

/// Reads the total length of the batch starting at `b`, if its 12-byte prefix is there.
/// Does not validate: callers compare the result against what they have.
pub fn peek_total_len(b: &[u8]) -> Option<i64> {
    if b.len() < LOG_OVERHEAD {
        return None;
    }
    Some(i64::from(get_i32(b, LENGTH_AT)) + LOG_OVERHEAD as i64)
}

/// The CRC-32C a batch should carry: over attributes..end.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crate::crc::crc32c(&batch[ATTRIBUTES_AT..])
}

/// Validates one complete batch held in `b` (exactly one batch, no trailing bytes):
/// magic 2, length fields consistent with the bytes, the CRC, the record count against the
/// last offset delta, and the size against `max_batch_bytes`.
///
/// Nothing in `b` is trusted: every length is checked against the slice before use.
pub fn validate_batch(b: &[u8], max_batch_bytes: usize) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse(b)?;
    check_length(&h)?;
    if h.total_len() != b.len() {
        return Err(BatchError::LengthMismatch {
            declared: h.total_len(),
            actual: b.len(),
        });
    }
    if b.len() > max_batch_bytes {
        return Err(BatchError::TooLarge {
            size: b.len(),
            max: max_batch_bytes,
        });
    }
    check_magic(&h)?;
    let crc = compute_crc(b);
    if crc != h.crc {
        return Err(BatchError::CrcMismatch {
            stored: h.crc,
            computed: crc,
        });
    }
    check_counts_and_codec(&h)?;
    Ok(h)
}

/// What [`validate_batch`] checks of a batch that its header alone can show: the magic,
/// the record count against the last offset delta and the batch's length, and the codec.
/// Everything but the CRC (which needs the records) and the length against the bytes
/// held (the caller checks it against the file).
pub fn check_header(h: &BatchHeader) -> Result<(), BatchError> {
    check_length(h)?;
    check_magic(h)?;
    check_counts_and_codec(h)
}

/// The batch length covers at least the fixed header.
fn check_length(h: &BatchHeader) -> Result<(), BatchError> {
    if h.batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
        return Err(BatchError::BadLength {
            batch_length: h.batch_length,
        });
    }
    Ok(())
}

fn check_magic(h: &BatchHeader) -> Result<(), BatchError> {
    if h.magic != MAGIC_V2 {
        return Err(BatchError::UnsupportedMagic(h.magic));
    }
    Ok(())
}

/// The record count against the last offset delta and the batch's length, and the codec.
/// The length must already be known to cover the header.
fn check_counts_and_codec(h: &BatchHeader) -> Result<(), BatchError> {
    if h.record_count < 0 || h.last_offset_delta < 0 {
        return Err(BatchError::BadRecordCount {
            record_count: h.record_count,
            last_offset_delta: h.last_offset_delta,
        });
    }
    // A batch on the wire has exactly lastOffsetDelta + 1 records. A compacted batch may
    // hold fewer (the cleaner keeps the original delta), never more.
    if i64::from(h.record_count) > i64::from(h.last_offset_delta) + 1 {
        return Err(BatchError::BadRecordCount {
            record_count: h.record_count,
            last_offset_delta: h.last_offset_delta,
        });
    }
    // A record is at least 7 bytes (length, attributes, three one-byte varints and two
    // null lengths and a zero header count); an uncompressed batch cannot claim more
    // records than its bytes could hold.
    if h.codec() == 0 && (h.record_count as usize) > (h.total_len() - HEADER_LEN) {
        return Err(BatchError::BadRecordCount {
            record_count: h.record_count,
            last_offset_delta: h.last_offset_delta,
        });
    }
    if h.codec() > 4 {
        return Err(BatchError::UnknownCodec(h.codec()));
    }
    Ok(())
}

/// Validates a client's batch for append: [`validate_batch`] plus the rule that an incoming
/// batch holds exactly `last_offset_delta + 1` records.
pub fn validate_incoming(b: &[u8], max_batch_bytes: usize) -> Result<BatchHeader, BatchError> {
    let h = validate_batch(b, max_batch_bytes)?;
    if i64::from(h.record_count) != i64::from(h.last_offset_delta) + 1 {
        return Err(BatchError::BadRecordCount {
            record_count: h.record_count,
            last_offset_delta: h.last_offset_delta,
        });
    }
    Ok(h)
}

/// Writes the broker-assigned fields that lie outside the CRC: base offset and partition
/// leader epoch. The CRC stays valid.
pub fn stamp_offset_and_epoch(b: &mut [u8], base_offset: i64, leader_epoch: i32) {
    b[BASE_OFFSET_AT..BASE_OFFSET_AT + 8].copy_from_slice(&base_offset.to_be_bytes());
    b[LEADER_EPOCH_AT..LEADER_EPOCH_AT + 4].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Rewrites a batch for `message.timestamp.type=LogAppendTime`: sets the timestamp-type
/// attribute and the max timestamp to `now_ms`, then recomputes the CRC, as Kafka does.
/// (Records keep their deltas; readers use the max timestamp for LogAppendTime batches.)
pub fn set_log_append_time(b: &mut [u8], now_ms: i64) {
    let attrs = get_i16(b, ATTRIBUTES_AT) | ATTR_LOG_APPEND_TIME;
    b[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attrs.to_be_bytes());
    b[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = compute_crc(b);
    b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Iterates over the batches laid end to end in `b`, stopping at the first one that is not
/// whole. Validates lengths only (not CRCs): for trusted, already-validated bytes.
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> BatchIter<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for BatchIter<'a> {
    /// (position of the batch in the buffer, its header, its bytes)
    type Item = (usize, BatchHeader, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.buf[self.pos..];
        let total = peek_total_len(rest)?;
        if total < HEADER_LEN as i64 || total > rest.len() as i64 {
            return None;
        }
        let bytes = &rest[..total as usize];
        let h = BatchHeader::parse(bytes).ok()?;
        let at = self.pos;
        self.pos += total as usize;
        Some((at, h, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(records: i32) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN + 7 * records as usize];
        let total = b.len();
        b[LENGTH_AT..LENGTH_AT + 4].copy_from_slice(&((total - LOG_OVERHEAD) as i32).to_be_bytes());
        b[MAGIC_AT] = 2;
        b[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .copy_from_slice(&(records - 1).to_be_bytes());
        b[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&records.to_be_bytes());
        b[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&(-1i64).to_be_bytes());
        let crc = compute_crc(&b);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn valid_batch_passes_and_reports_its_fields() {
        let b = sample(3);
        let h = validate_incoming(&b, 1 << 20).unwrap();
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.total_len(), b.len());
    }

    #[test]
    fn each_kind_of_damage_is_rejected() {
        let good = sample(2);
        let mut bad_crc = good.clone();
        *bad_crc.last_mut().unwrap() ^= 1;
        assert!(matches!(
            validate_batch(&bad_crc, 1 << 20),
            Err(BatchError::CrcMismatch { .. })
        ));
        let mut bad_magic = good.clone();
        bad_magic[MAGIC_AT] = 1;
        assert!(matches!(
            validate_batch(&bad_magic, 1 << 20),
            Err(BatchError::UnsupportedMagic(1))
        ));
        assert!(matches!(
            validate_batch(&good[..good.len() - 1], 1 << 20),
            Err(BatchError::LengthMismatch { .. })
        ));
        assert!(matches!(
            validate_batch(&good, 10),
            Err(BatchError::TooLarge { .. })
        ));
        assert!(matches!(
            validate_batch(&good[..20], 1 << 20),
            Err(BatchError::Truncated { .. })
        ));
    }

    #[test]
    fn stamping_offset_keeps_crc_and_log_append_time_recomputes_it() {
        let mut b = sample(1);
        stamp_offset_and_epoch(&mut b, 42, 7);
        let h = validate_batch(&b, 1 << 20).unwrap();
        assert_eq!((h.base_offset, h.partition_leader_epoch), (42, 7));
        set_log_append_time(&mut b, 1234);
        let h = validate_batch(&b, 1 << 20).unwrap();
        assert!(h.is_log_append_time());
        assert_eq!(h.max_timestamp, 1234);
    }

    #[test]
    fn iterator_stops_at_a_partial_batch() {
        let mut buf = sample(1);
        buf.extend_from_slice(&sample(2));
        let whole = buf.len();
        buf.extend_from_slice(&sample(1)[..30]);
        let mut it = BatchIter::new(&buf);
        assert_eq!(it.by_ref().count(), 2);
        assert_eq!(it.position(), whole);
    }
}
