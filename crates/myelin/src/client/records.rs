//! Records as the commands see them, and their v2 batch encoding, on top of
//! `myelin_log`'s batch and record code.

use myelin_log::batch::{validate_batch, BatchIter};
use myelin_log::compression::Compression;
use myelin_log::record::{encode_record, records_of_batch, BatchBuilder, RecordIter};

use super::ClientError;

/// A record to produce.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecord {
    /// `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// `None` for a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Header keys and values, in order; duplicates allowed.
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Milliseconds since the epoch (the record's CreateTime).
    pub timestamp: i64,
}

/// A record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub offset: i64,
    /// CreateTime, or the broker's LogAppendTime for such topics.
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// Encodes `records` (at least one) as one v2 batch compressed with `compression`.
pub fn encode_batch(
    records: &[NewRecord],
    compression: Compression,
) -> Result<Vec<u8>, ClientError> {
    let Some(first) = records.first() else {
        return Err(ClientError::Other(
            "a batch needs at least one record".into(),
        ));
    };
    let count = i32::try_from(records.len())
        .map_err(|_| ClientError::Other("too many records for one batch".into()))?;
    let base_timestamp = first.timestamp;
    let mut max_timestamp = base_timestamp;
    let mut raw = Vec::new();
    for (i, r) in records.iter().enumerate() {
        max_timestamp = max_timestamp.max(r.timestamp);
        let headers: Vec<(&[u8], Option<&[u8]>)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        encode_record(
            &mut raw,
            0,
            r.timestamp - base_timestamp,
            i as i32,
            r.key.as_deref(),
            r.value.as_deref(),
            &headers,
        );
    }
    BatchBuilder {
        compression,
        base_timestamp,
        max_timestamp,
        last_offset_delta: count - 1,
        ..BatchBuilder::new()
    }
    .build(&raw, count)
    .map_err(|e| ClientError::Other(format!("cannot encode a batch: {e}")))
}

/// What [`decode_batches`] found.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Records at or after the requested offset, in order.
    pub records: Vec<ConsumedRecord>,
    /// The offset after the last whole batch (control batches included), if any batch
    /// was whole: where the next fetch starts.
    pub next_offset: Option<i64>,
}

/// Decodes the record batches of a fetch response, skipping records before
/// `from_offset` (a fetch returns the whole batch holding the offset asked for) and
/// control batches. A partial batch at the end (a broker cuts at `max_bytes`) is ignored.
/// A batch with a bad CRC is an error.
pub fn decode_batches(bytes: &[u8], from_offset: i64) -> Result<Decoded, ClientError> {
    let mut out = Decoded::default();
    for (_, header, batch) in BatchIter::new(bytes) {
        let bad = |e: String| {
            ClientError::Other(format!(
                "corrupt record batch at offset {}: {e}",
                header.base_offset
            ))
        };
        validate_batch(batch, usize::MAX).map_err(|e| bad(e.to_string()))?;
        out.next_offset = Some(header.last_offset() + 1);
        if header.is_control() {
            continue;
        }
        let (_, section) = records_of_batch(batch, 1 << 30).map_err(|e| bad(e.to_string()))?;
        for record in RecordIter::new(&section, header.record_count) {
            let record = record.map_err(|e| bad(e.to_string()))?;
            let offset = header.base_offset + i64::from(record.offset_delta);
            if offset < from_offset {
                continue;
            }
            let timestamp = if header.is_log_append_time() {
                header.max_timestamp
            } else {
                header.base_timestamp + record.timestamp_delta
            };
            let headers = record
                .headers()
                .map(|h| h.map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec))))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            out.records.push(ConsumedRecord {
                offset,
                timestamp,
                key: record.key.map(<[u8]>::to_vec),
                value: record.value.map(<[u8]>::to_vec),
                headers,
            });
        }
    }
    Ok(out)
}

/// Kafka's default partitioner for keyed records: murmur2 of the key, made positive,
/// modulo the partition count (as the Java client and librdkafka's `murmur2_random`).
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions.max(1) as u32) as i32
}

/// The Java client's murmur2 (seed 0x9747b28c).
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = 0x9747_b28c ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_with_every_codec() {
        let records = vec![
            NewRecord {
                key: Some(b"k".to_vec()),
                value: Some(b"v1".to_vec()),
                headers: vec![(b"h".to_vec(), Some(b"x".to_vec())), (b"h".to_vec(), None)],
                timestamp: 1000,
            },
            NewRecord {
                key: None,
                value: None,
                headers: vec![],
                timestamp: 1005,
            },
        ];
        for codec in Compression::ALL {
            let mut batch = encode_batch(&records, codec).unwrap();
            // A broker assigns offsets outside the CRC.
            myelin_log::batch::stamp_offset_and_epoch(&mut batch, 40, 0);
            let mut two = batch.clone();
            two.extend_from_slice(&batch[..20]); // a partial batch at the end
            let d = decode_batches(&two, 41).unwrap();
            assert_eq!(d.next_offset, Some(42), "{codec}");
            assert_eq!(d.records.len(), 1);
            assert_eq!(d.records[0].offset, 41);
            assert_eq!(d.records[0].timestamp, 1005);
            assert_eq!(d.records[0].value, None);
            let d = decode_batches(&batch, 0).unwrap();
            assert_eq!(d.records[0].headers, records[0].headers);
        }
    }

    #[test]
    fn a_bad_crc_is_reported() {
        let mut batch = encode_batch(&[NewRecord::default()], Compression::None).unwrap();
        let last = batch.len() - 1;
        batch[last] ^= 1;
        assert!(decode_batches(&batch, 0).is_err());
    }

    #[test]
    fn murmur2_matches_the_java_client() {
        // Values from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }
}
