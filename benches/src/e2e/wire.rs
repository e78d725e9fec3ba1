//! The bytes our load generator sends: record batches built once, Produce and Fetch
//! requests encoded with `kafka-protocol`, and the framing of both directions.

use std::io::{self, Read};
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use myelin::client::records::{encode_batch, partition_for_key, NewRecord};
use myelin_log::compression::Compression;

use crate::pattern;

/// Produce v8: non-flexible, spoken by Myelin (v3-v11) and every Kafka from 2.4 to 4.x.
pub const PRODUCE_VERSION: i16 = 8;
/// Fetch v11: non-flexible, topic names (ids come at v13).
pub const FETCH_VERSION: i16 = 11;
/// Bytes of the keys of keyed scenarios.
pub const KEY_BYTES: usize = 16;
/// What a producer batches per partition before it sends (Kafka's `batch.size`).
pub const BATCH_BYTES: usize = 16 << 10;

/// The process-wide origin of the timestamps carried in latency-run payloads.
pub fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`] of `t`, plus one so that a stamp is never 0 (0 = none).
pub fn stamp_of(t: Instant) -> u64 {
    t.saturating_duration_since(epoch()).as_nanos() as u64 + 1
}

/// The `Instant` a stamp was taken at.
pub fn instant_of(stamp: u64) -> Instant {
    epoch() + std::time::Duration::from_nanos(stamp - 1)
}

/// What each batch of a scenario holds.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Bytes of each record's value.
    pub record_bytes: usize,
    pub keyed: bool,
    pub compression: Compression,
}

impl Shape {
    /// Records per batch: as many as fit in [`BATCH_BYTES`], at least one.
    pub fn records_per_batch(&self) -> usize {
        (BATCH_BYTES / self.record_bytes).max(1)
    }
}

/// A record value of `len` bytes: half incompressible, half a repeated phrase (so that
/// lz4 and zstd find something, as with real payloads), with an 8-byte stamp slot first.
pub fn value(len: usize, seed: u64) -> Vec<u8> {
    let mut v = pattern(len.div_ceil(2), seed);
    let phrase = b"myelin end-to-end benchmark payload ";
    while v.len() < len {
        let n = (len - v.len()).min(phrase.len());
        v.extend_from_slice(&phrase[..n]);
    }
    let n = len.min(8);
    v[..n].fill(0);
    v
}

/// The records of one batch for `partition` of `partitions`: keys (when keyed) that the
/// default partitioner maps to `partition`, drawn from `next_key`.
pub fn batch_records(
    shape: &Shape,
    partition: i32,
    partitions: i32,
    keys: &mut KeyPool,
) -> Vec<NewRecord> {
    (0..shape.records_per_batch())
        .map(|i| NewRecord {
            key: shape.keyed.then(|| keys.next_for(partition, partitions)),
            value: Some(value(
                shape.record_bytes,
                partition as u64 * 7919 + i as u64,
            )),
            headers: Vec::new(),
            timestamp: crate::now_ms(),
        })
        .collect()
}

/// Keys bucketed by the partition murmur2 sends them to.
#[derive(Debug, Default)]
pub struct KeyPool {
    buckets: std::collections::HashMap<i32, Vec<Vec<u8>>>,
    next: u64,
}

impl KeyPool {
    /// A key that `partition_for_key` sends to `partition`.
    pub fn next_for(&mut self, partition: i32, partitions: i32) -> Vec<u8> {
        loop {
            if let Some(k) = self.buckets.get_mut(&partition).and_then(|b| b.pop()) {
                return k;
            }
            let key = format!("key-{:012}", self.next).into_bytes();
            debug_assert_eq!(key.len(), KEY_BYTES);
            self.next += 1;
            let p = partition_for_key(&key, partitions);
            self.buckets.entry(p).or_default().push(key);
        }
    }
}

/// A Produce frame whose records carry a send-time stamp in their first 8 bytes. For
/// uncompressed batches, the stamps are written in place and each batch's CRC recomputed
/// (one copy and one CRC per batch, no encoding). Compressed batches must be encoded
/// again, which at 100 B records cost the generator more CPU than the broker spent on the
/// same requests, on the same two cores: only one request in [`STAMP_EVERY`] is stamped,
/// and the others carry unstamped (zero) slots, encoded once.
/// A frame carries one batch per partition (one partition, or several packed as a real
/// producer packs every partition it has ready for a broker).
#[derive(Debug)]
pub struct StampedFrame {
    frame: Vec<u8>,
    /// For compressed batches: the frame with every stamp slot zero (not stamped).
    unstamped: Option<Bytes>,
    /// Where each batch starts in the frame.
    batch_at: Vec<usize>,
    /// Where each record's stamp slot is in the frame; empty for compressed batches.
    slots: Vec<usize>,
    parts: Vec<(i32, Vec<NewRecord>)>,
    shape: Shape,
    topic: String,
    acks: i16,
}

/// A stamp no real one equals, to find the slots in an encoded batch.
const MARKER: u64 = 0x9e37_79b9_7f4a_7c15;

/// Of requests with compressed batches, one in this many is stamped (see [`StampedFrame`]).
pub const STAMP_EVERY: usize = 16;

impl StampedFrame {
    /// One batch of `records` per `(partition, records)` of `parts`, in one request.
    pub fn new(topic: &str, acks: i16, parts: &[(i32, Vec<NewRecord>)], shape: &Shape) -> Self {
        let batches: Vec<(i32, Vec<u8>)> = parts
            .iter()
            .map(|(p, records)| (*p, encode_stamped(&mut records.clone(), shape, MARKER)))
            .collect();
        let lens: Vec<usize> = batches.iter().map(|(_, b)| b.len()).collect();
        let frame = produce_frame_of(topic, acks, batches).to_vec();
        // Produce v8 ends with the partitions' [index i32][size i32][batch] in order: walk
        // back from the end of the frame.
        let mut batch_at = vec![0; lens.len()];
        let mut end = frame.len();
        for (i, len) in lens.iter().enumerate().rev() {
            batch_at[i] = end - len;
            end = batch_at[i] - 8;
        }
        let mut slots = Vec::new();
        if shape.compression == Compression::None && shape.record_bytes >= 8 {
            let m = MARKER.to_le_bytes();
            let mut i = batch_at[0];
            while i + 8 <= frame.len() {
                if frame[i..i + 8] == m {
                    slots.push(i);
                    i += 8;
                } else {
                    i += 1;
                }
            }
            assert_eq!(
                slots.len(),
                parts.iter().map(|(_, r)| r.len()).sum::<usize>(),
                "every record's stamp slot found"
            );
        }
        let unstamped = (shape.compression != Compression::None).then(|| {
            let batches = parts
                .iter()
                .map(|(p, records)| (*p, encode_stamped(&mut records.clone(), shape, 0)))
                .collect();
            produce_frame_of(topic, acks, batches)
        });
        Self {
            frame,
            unstamped,
            batch_at,
            slots,
            parts: parts.to_vec(),
            shape: *shape,
            topic: topic.to_string(),
            acks,
        }
    }

    /// The frame of request `i` of a run, due at `stamp`: every record stamped `stamp`,
    /// or, for compressed batches, only in one request of [`STAMP_EVERY`] (the others
    /// unstamped).
    pub fn for_request(&self, i: usize, stamp: u64) -> Bytes {
        match &self.unstamped {
            Some(frame) if !i.is_multiple_of(STAMP_EVERY) => frame.clone(),
            _ => self.stamped(stamp),
        }
    }

    /// The frame with every record stamped `stamp`.
    pub fn stamped(&self, stamp: u64) -> Bytes {
        if self.slots.is_empty() {
            let batches = self
                .parts
                .iter()
                .map(|(p, records)| (*p, encode_stamped(&mut records.clone(), &self.shape, stamp)))
                .collect();
            return produce_frame_of(&self.topic, self.acks, batches);
        }
        let mut f = self.frame.clone();
        for &at in &self.slots {
            f[at..at + 8].copy_from_slice(&stamp.to_le_bytes());
        }
        for (i, &b) in self.batch_at.iter().enumerate() {
            let end = self.batch_at.get(i + 1).map_or(f.len(), |next| next - 8);
            let crc = myelin_log::crc::crc32c(&f[b + myelin_log::batch::ATTRIBUTES_AT..end]);
            f[b + 17..b + 21].copy_from_slice(&crc.to_be_bytes());
        }
        Bytes::from(f)
    }
}

/// Calls `f` with the stamp of every stamped record of the whole batches in `records`
/// (a fetch answer's records of one partition); returns the offset after the last whole
/// batch. Uncompressed batches are read in place.
pub fn each_stamp(records: &[u8], mut f: impl FnMut(u64)) -> Option<i64> {
    let mut pos = 0;
    let mut next = None;
    while pos + 61 <= records.len() {
        let len = i32::from_be_bytes(records[pos + 8..pos + 12].try_into().unwrap()) as usize;
        if pos + 12 + len > records.len() {
            break;
        }
        let batch = &records[pos..pos + 12 + len];
        pos += 12 + len;
        let Ok((h, blob)) = myelin_log::record::records_of_batch(batch, 64 << 20) else {
            continue;
        };
        next = Some(h.base_offset + h.last_offset_delta as i64 + 1);
        for r in myelin_log::record::RecordIter::new(&blob, h.record_count).flatten() {
            if let Some(v) = r.value.filter(|v| v.len() >= 8) {
                let stamp = u64::from_le_bytes(v[..8].try_into().unwrap());
                if stamp != 0 {
                    f(stamp);
                }
            }
        }
    }
    next
}

/// Sets the stamp slot of every record to `stamp` and encodes the batch.
pub fn encode_stamped(records: &mut [NewRecord], shape: &Shape, stamp: u64) -> Vec<u8> {
    for r in records.iter_mut() {
        if let Some(v) = r.value.as_mut() {
            let n = v.len().min(8);
            v[..n].copy_from_slice(&stamp.to_le_bytes()[..n]);
        }
    }
    encode_batch(records, shape.compression).expect("encode a batch")
}

fn frame(key: ApiKey, version: i16, body: impl FnOnce(&mut BytesMut)) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(0)
        .with_client_id(Some(StrBytes::from_static_str("myelin-e2e")));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, key.request_header_version(version))
        .expect("encode a request header");
    body(&mut buf);
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    buf.freeze()
}

/// A whole Produce frame (size prefix included) carrying `batch` to `topic`-`partition`.
/// Every request goes out with correlation id 0: responses come back in order on a
/// connection, which is all the generator needs.
pub fn produce_frame(topic: &str, partition: i32, acks: i16, batch: Vec<u8>) -> Bytes {
    produce_frame_of(topic, acks, vec![(partition, batch)])
}

/// A whole Produce frame carrying one batch to each of the partitions of `batches`, in
/// their order.
pub fn produce_frame_of(topic: &str, acks: i16, batches: Vec<(i32, Vec<u8>)>) -> Bytes {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(
                batches
                    .into_iter()
                    .map(|(partition, batch)| {
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(Bytes::from(batch)))
                    })
                    .collect(),
            )]);
    frame(ApiKey::Produce, PRODUCE_VERSION, |buf| {
        request
            .encode(buf, PRODUCE_VERSION)
            .expect("encode a Produce request")
    })
}

/// A Fetch frame (sessionless) of `topic` from each `(partition, offset)`.
pub fn fetch_frame(
    topic: &str,
    positions: &[(i32, i64)],
    partition_max_bytes: i32,
    max_wait_ms: i32,
) -> Bytes {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(i32::MAX)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(
                positions
                    .iter()
                    .map(|(p, o)| {
                        FetchPartition::default()
                            .with_partition(*p)
                            .with_fetch_offset(*o)
                            .with_partition_max_bytes(partition_max_bytes)
                    })
                    .collect(),
            )]);
    frame(ApiKey::Fetch, FETCH_VERSION, |buf| {
        request
            .encode(buf, FETCH_VERSION)
            .expect("encode a Fetch request")
    })
}

/// Reads one frame's body (after its 4-byte size) into `buf`, replacing its content.
/// `Ok(false)` at a clean end of stream.
pub fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut size = [0u8; 4];
    match r.read_exact(&mut size) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let n = i32::from_be_bytes(size);
    let n = usize::try_from(n).map_err(|_| io::Error::other("negative frame size"))?;
    // Into the vector's spare capacity: no zeroing of a body the socket overwrites.
    buf.clear();
    buf.reserve_exact(n);
    if r.take(n as u64).read_to_end(buf)? < n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(true)
}

/// The first error code of a Produce response body (0 when every partition succeeded).
pub fn produce_error(body: &[u8]) -> i16 {
    let mut b = Bytes::copy_from_slice(body);
    if ResponseHeader::decode(&mut b, ProduceResponse::header_version(PRODUCE_VERSION)).is_err() {
        return -1;
    }
    match ProduceResponse::decode(&mut b, PRODUCE_VERSION) {
        Ok(r) => r
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
            .map(|p| p.error_code)
            .find(|c| *c != 0)
            .unwrap_or(0),
        Err(_) => -1,
    }
}

/// A decoded Fetch response: per partition, (partition, error code, records).
pub fn fetch_partitions(body: Vec<u8>) -> Result<Vec<(i32, i16, Bytes)>, String> {
    let mut b = Bytes::from(body);
    ResponseHeader::decode(&mut b, FetchResponse::header_version(FETCH_VERSION))
        .map_err(|e| format!("Fetch response header: {e:#}"))?;
    let r = FetchResponse::decode(&mut b, FETCH_VERSION).map_err(|e| format!("Fetch: {e:#}"))?;
    if r.error_code != 0 {
        return Err(format!("Fetch error {}", r.error_code));
    }
    Ok(r.responses
        .into_iter()
        .flat_map(|t| t.partitions.into_iter())
        .map(|p| {
            (
                p.partition_index,
                p.error_code,
                p.records.unwrap_or_default(),
            )
        })
        .collect())
}

/// Walks the whole batches of `records` (as a fetch returns them; a partial one at the end
/// is ignored): (next offset after the last whole batch, records in whole batches).
pub fn walk_batches(records: &[u8]) -> (Option<i64>, u64) {
    let mut pos = 0;
    let mut next = None;
    let mut count = 0u64;
    while pos + 61 <= records.len() {
        let base = i64::from_be_bytes(records[pos..pos + 8].try_into().unwrap());
        let len = i32::from_be_bytes(records[pos + 8..pos + 12].try_into().unwrap()) as usize;
        if pos + 12 + len > records.len() {
            break;
        }
        let delta = i32::from_be_bytes(records[pos + 23..pos + 27].try_into().unwrap());
        let n = i32::from_be_bytes(records[pos + 57..pos + 61].try_into().unwrap());
        next = Some(base + delta as i64 + 1);
        count += n.max(0) as u64;
        pos += 12 + len;
    }
    (next, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packed frame stamped for a send: every partition's batch is whole, carries a valid
    /// CRC and the stamp in every record, for plain and compressed batches.
    #[test]
    fn stamped_frames_of_several_partitions_decode_with_valid_crcs() {
        for compression in [Compression::None, Compression::Lz4] {
            let shape = Shape {
                record_bytes: 1024,
                keyed: true,
                compression,
            };
            let mut keys = KeyPool::default();
            let parts: Vec<(i32, Vec<NewRecord>)> = [0, 3, 5]
                .into_iter()
                .map(|p| (p, batch_records(&shape, p, 8, &mut keys)))
                .collect();
            let frame = StampedFrame::new("t", -1, &parts, &shape);
            for stamp in [0x0102_0304_0506_0708u64, 42] {
                let mut bytes = frame.stamped(stamp).slice(4..);
                let header = RequestHeader::decode(
                    &mut bytes,
                    ApiKey::Produce.request_header_version(PRODUCE_VERSION),
                )
                .unwrap();
                assert_eq!(header.request_api_key, ApiKey::Produce as i16);
                let request = ProduceRequest::decode(&mut bytes, PRODUCE_VERSION).unwrap();
                assert!(bytes.is_empty(), "the whole frame decodes");
                let data = &request.topic_data[0].partition_data;
                assert_eq!(
                    data.iter().map(|p| p.index).collect::<Vec<_>>(),
                    vec![0, 3, 5]
                );
                for p in data {
                    let records = p.records.as_ref().unwrap();
                    myelin_log::batch::validate_batch(records, 1 << 20)
                        .unwrap_or_else(|e| panic!("partition {}: {e:?}", p.index));
                    let mut stamps = 0;
                    let next = each_stamp(records, |s| {
                        assert_eq!(s, stamp);
                        stamps += 1;
                    });
                    assert_eq!(stamps, shape.records_per_batch());
                    assert_eq!(next, Some(shape.records_per_batch() as i64));
                }
            }
        }
    }

    /// The stamps `for_request` gives request `i`: every plain request is stamped; of
    /// compressed ones, one in `STAMP_EVERY`, the others carry no stamp a reader counts.
    #[test]
    fn compressed_requests_are_stamped_one_in_stamp_every() {
        let stamps_of = |frame: Bytes| {
            let mut bytes = frame.slice(4..);
            RequestHeader::decode(
                &mut bytes,
                ApiKey::Produce.request_header_version(PRODUCE_VERSION),
            )
            .unwrap();
            let request = ProduceRequest::decode(&mut bytes, PRODUCE_VERSION).unwrap();
            let records = request.topic_data[0].partition_data[0]
                .records
                .clone()
                .unwrap();
            myelin_log::batch::validate_batch(&records, 1 << 20).unwrap();
            let mut stamps = Vec::new();
            each_stamp(&records, |s| stamps.push(s));
            stamps
        };
        for compression in [Compression::None, Compression::Zstd] {
            let shape = Shape {
                record_bytes: 100,
                keyed: false,
                compression,
            };
            let parts = vec![(0, batch_records(&shape, 0, 4, &mut KeyPool::default()))];
            let frame = StampedFrame::new("t", -1, &parts, &shape);
            for i in 0..2 * STAMP_EVERY {
                let stamps = stamps_of(frame.for_request(i, 77));
                let stamped = compression == Compression::None || i.is_multiple_of(STAMP_EVERY);
                let want = if stamped {
                    vec![77; shape.records_per_batch()]
                } else {
                    Vec::new()
                };
                assert_eq!(stamps, want, "{compression:?}, request {i}");
            }
        }
    }
}
