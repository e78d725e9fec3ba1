//! Produce and Fetch over real TCP: round trips in every version, acks, per-partition
//! errors, long polling, byte limits, incremental fetch sessions.

mod common;

use common::data::*;
use common::{Client, TestServer};
use kafka_protocol::messages::fetch_request::ForgottenTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, ProduceResponse,
};
use kafka_protocol::ResponseError;
use myelin_log::compression::Compression;
use myelin_server::Config;
use uuid::Uuid;

async fn server() -> TestServer {
    TestServer::start(Config::default()).await
}

fn fetch_header(version: i16) -> i16 {
    ApiKey::Fetch.response_header_version(version)
}

#[tokio::test]
async fn produce_then_fetch_round_trips_in_every_version() {
    let server = server().await;
    let id = create_topic(&server, "orders", 1, &[]);
    let mut client = server.connect().await;
    let mut stored = Vec::new();
    let mut next = 0;
    for (i, version) in (3..=11i16).enumerate() {
        // Every codec; zstd (i = 4) lands on v7, the first version allowed to use it.
        let codec = Compression::ALL[i % 5];
        let b = batch(&format!("v{version}"), 3, now() + i as i64, codec);
        let r = produce(&mut client, version, "orders", 0, b.clone()).await;
        assert_eq!(r.error_code, 0, "v{version}: {r:?}");
        assert_eq!(r.base_offset, next, "v{version}");
        assert_eq!(r.log_append_time_ms, -1);
        if version >= 5 {
            assert_eq!(r.log_start_offset, 0);
        }
        stored.extend(stamped(&b, next));
        next += 3;
    }
    for version in 4..=16i16 {
        let r = fetch(
            &mut client,
            version,
            &fetch_request(version, "orders", id, &[(0, 0)], 1 << 20),
        )
        .await;
        if version >= 13 {
            assert_eq!(r.responses[0].topic_id, id);
        } else {
            assert_eq!(r.responses[0].topic.as_str(), "orders");
        }
        let p = only_partition(&r);
        assert_eq!(p.error_code, 0, "v{version}");
        assert_eq!((p.high_watermark, p.last_stable_offset), (next, next));
        if version >= 5 {
            assert_eq!(p.log_start_offset, 0);
        }
        // read_uncommitted: null, as Kafka sends it.
        assert_eq!(p.aborted_transactions, None);
        assert_eq!(p.preferred_read_replica.0, -1);
        // The bytes produced, offsets stamped, every CRC intact.
        let records = p.records.clone().unwrap();
        assert_eq!(&records[..], &stored[..], "v{version}");
        let batches = split_batches(&records);
        assert_eq!(batches.len(), 9);
        for (j, (h, b)) in batches.iter().enumerate() {
            assert_eq!(h.base_offset, 3 * j as i64);
            let values = record_values(b);
            assert_eq!(values.len(), 3);
            assert_eq!(
                values[2].1.as_deref(),
                Some(format!("v{}-2", 3 + j).as_bytes())
            );
        }
    }
    // A fetch from inside a batch returns that whole batch.
    let r = fetch(
        &mut client,
        11,
        &fetch_request(11, "orders", id, &[(0, 4)], 1 << 20),
    )
    .await;
    let batches = split_batches(only_partition(&r).records.as_ref().unwrap());
    assert_eq!(batches[0].0.base_offset, 3);
    server.stop().await;
}

#[tokio::test]
async fn acks_zero_sends_no_response_and_later_answers_keep_their_order() {
    let server = server().await;
    let id = create_topic(&server, "fire", 1, &[]);
    let mut client = server.connect().await;
    let b = batch("forget", 2, now(), Compression::None);
    client
        .send(
            ApiKey::Produce,
            9,
            1,
            &produce_request("fire", 0, b.clone(), 0),
        )
        .await;
    client
        .send(ApiKey::ApiVersions, 0, 2, &ApiVersionsRequest::default())
        .await;
    // The first response on the wire answers the second request.
    let (correlation_id, _): (i32, ApiVersionsResponse) = client.read(0, 0).await;
    assert_eq!(correlation_id, 2);
    // The records were stored all the same.
    let mut request = fetch_request(12, "fire", id, &[(0, 0)], 1 << 20);
    request.max_wait_ms = 10_000;
    request.min_bytes = 1;
    let r = fetch(&mut client, 12, &request).await;
    assert_eq!(
        only_partition(&r).records.as_deref(),
        Some(&stamped(&b, 0)[..])
    );

    // An acks=0 produce that fails closes the connection, as Kafka does, so that the
    // producer refreshes its metadata.
    client
        .send(ApiKey::Produce, 9, 3, &produce_request("nope", 0, b, 0))
        .await;
    client.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn per_partition_errors() {
    let server = server().await;
    create_topic(&server, "small", 1, &[("max.message.bytes", "200")]);
    create_topic(&server, "table", 1, &[("cleanup.policy", "compact")]);
    let id = create_topic(&server, "plain", 2, &[]);
    let mut client = server.connect().await;
    let ok = batch("ok", 1, now(), Compression::None);
    let code = |r: &kafka_protocol::messages::produce_response::PartitionProduceResponse| {
        ResponseError::try_from_code(r.error_code)
    };

    // A flipped bit: CORRUPT_MESSAGE, nothing stored.
    let mut bad = ok.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x40;
    let r = produce(&mut client, 9, "plain", 0, bad).await;
    assert_eq!(code(&r), Some(ResponseError::CorruptMessage));
    assert_eq!((r.base_offset, r.log_start_offset), (-1, -1));
    assert!(r.error_message.is_some());
    // Inconsistent lengths too.
    let r = produce(&mut client, 9, "plain", 0, ok[..ok.len() - 1].to_vec()).await;
    assert_eq!(code(&r), Some(ResponseError::CorruptMessage));
    let f = fetch(
        &mut client,
        12,
        &fetch_request(12, "plain", id, &[(0, 0)], 1 << 20),
    )
    .await;
    assert_eq!(only_partition(&f).high_watermark, 0);
    assert_eq!(only_partition(&f).records.as_deref(), Some(&[][..]));

    // Two batches in one partition's records, and none at all: INVALID_RECORD.
    let r = produce(
        &mut client,
        9,
        "plain",
        0,
        [ok.clone(), ok.clone()].concat(),
    )
    .await;
    assert_eq!(code(&r), Some(ResponseError::InvalidRecord));
    let r = produce(&mut client, 9, "plain", 0, Vec::new()).await;
    assert_eq!(code(&r), Some(ResponseError::InvalidRecord));

    // Above max.message.bytes.
    let big = batch(&"x".repeat(100), 3, now(), Compression::None);
    assert!(big.len() > 200);
    let r = produce(&mut client, 9, "small", 0, big).await;
    assert_eq!(code(&r), Some(ResponseError::MessageTooLarge));

    // A keyless record on a compacted topic.
    let keyless = myelin_log::record::simple_batch(&[(None, Some(b"v"))], now(), Compression::None);
    let r = produce(&mut client, 9, "table", 0, keyless).await;
    assert_eq!(code(&r), Some(ResponseError::InvalidRecord));
    // From v8 the answer names each keyless record by its index in the batch (KIP-467),
    // so that the producer fails those and retries the others; before v8 it cannot.
    let k: &[u8] = b"k";
    let mixed = myelin_log::record::simple_batch(
        &[
            (Some(k), Some(b"a")),
            (None, Some(b"b")),
            (Some(k), Some(b"c")),
            (None, Some(b"d")),
        ],
        now(),
        Compression::Lz4,
    );
    for version in [7i16, 8, 11] {
        let r = produce(&mut client, version, "table", 0, mixed.clone()).await;
        assert_eq!(code(&r), Some(ResponseError::InvalidRecord), "v{version}");
        assert_eq!(r.base_offset, -1);
        let indexes: Vec<i32> = r.record_errors.iter().map(|e| e.batch_index).collect();
        if version < 8 {
            assert!(indexes.is_empty(), "v{version}: {indexes:?}");
            continue;
        }
        assert_eq!(indexes, [1, 3], "v{version}");
        for e in &r.record_errors {
            let m = e.batch_index_error_message.as_deref().unwrap_or_default();
            assert!(m.contains("without key") && m.contains("table-0"), "{m}");
        }
        assert!(r
            .error_message
            .as_deref()
            .unwrap_or_default()
            .contains("2 of the batch"));
    }

    // Unknown topics and partitions, invalid and internal names.
    for (topic, partition, error) in [
        ("nope", 0, ResponseError::UnknownTopicOrPartition),
        ("plain", 2, ResponseError::UnknownTopicOrPartition),
        ("bad name!", 0, ResponseError::InvalidTopicException),
        (
            "__consumer_offsets",
            0,
            ResponseError::InvalidTopicException,
        ),
    ] {
        let r = produce(&mut client, 9, topic, partition, ok.clone()).await;
        assert_eq!(code(&r), Some(error), "{topic}-{partition}");
    }

    // zstd below v7.
    let z = batch("z", 1, now(), Compression::Zstd);
    let r = produce(&mut client, 6, "plain", 0, z).await;
    assert_eq!(code(&r), Some(ResponseError::UnsupportedCompressionType));

    // acks must be -1, 0 or 1.
    let r: ProduceResponse = client
        .call(
            ApiKey::Produce,
            9,
            &produce_request("plain", 0, ok.clone(), 2),
        )
        .await;
    assert_eq!(
        r.responses[0].partition_responses[0].error_code,
        ResponseError::InvalidRequiredAcks.code()
    );

    // Nothing of the above was stored; the good batch still goes to offset 0.
    let r = produce(&mut client, 9, "plain", 0, ok).await;
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    server.stop().await;
}

#[tokio::test]
async fn min_insync_replicas_above_one_refuses_acks_all_only() {
    let server = server().await;
    create_topic(&server, "isr", 1, &[("min.insync.replicas", "2")]);
    let mut client = server.connect().await;
    let r = produce(
        &mut client,
        9,
        "isr",
        0,
        batch("a", 1, now(), Compression::None),
    )
    .await;
    assert_eq!(r.error_code, ResponseError::NotEnoughReplicas.code());
    let r: ProduceResponse = client
        .call(
            ApiKey::Produce,
            9,
            &produce_request("isr", 0, batch("a", 1, now(), Compression::None), 1),
        )
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_topic_compression_type_recompresses_batches() {
    let server = server().await;
    let id = create_topic(&server, "gz", 1, &[("compression.type", "gzip")]);
    let mut client = server.connect().await;
    for codec in [Compression::None, Compression::Lz4, Compression::Gzip] {
        let r = produce(&mut client, 9, "gz", 0, batch("c", 4, 7_000 + now(), codec)).await;
        assert_eq!(r.error_code, 0);
    }
    let f = fetch(
        &mut client,
        12,
        &fetch_request(12, "gz", id, &[(0, 0)], 1 << 20),
    )
    .await;
    let batches = split_batches(only_partition(&f).records.as_ref().unwrap());
    assert_eq!(batches.len(), 3);
    for (i, (h, b)) in batches.iter().enumerate() {
        assert_eq!(h.codec(), Compression::Gzip.id());
        assert_eq!((h.base_offset, h.record_count), (4 * i as i64, 4));
        assert_eq!(h.base_timestamp, h.max_timestamp);
        let values = record_values(b);
        assert_eq!(values[3].1.as_deref(), Some(&b"c-3"[..]));
        assert_eq!(values[3].0.as_deref(), Some(&b"k3"[..]));
    }
    server.stop().await;
}

#[tokio::test]
async fn produce_v0_to_v2_get_unsupported_version_in_their_own_layout() {
    let server = server().await;
    create_topic(&server, "old", 1, &[]);
    let mut client = server.connect().await;
    // ApiVersions advertises Produce from v0 (librdkafka < 2.11.1 needs it).
    let (_, versions): (i32, ApiVersionsResponse) = {
        client
            .send(ApiKey::ApiVersions, 0, 1, &ApiVersionsRequest::default())
            .await;
        client.read(0, 0).await
    };
    let advertised = versions
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::Produce as i16)
        .unwrap();
    assert_eq!((advertised.min_version, advertised.max_version), (0, 11));

    for version in 0..=2i16 {
        // A v0-2 request: header v1, acks, timeout, [topic, [partition, records]].
        let mut frame = Vec::new();
        frame.extend_from_slice(&0i16.to_be_bytes());
        frame.extend_from_slice(&version.to_be_bytes());
        frame.extend_from_slice(&(40 + i32::from(version)).to_be_bytes());
        frame.extend_from_slice(&(-1i16).to_be_bytes());
        frame.extend_from_slice(&1i16.to_be_bytes());
        frame.extend_from_slice(&1000i32.to_be_bytes());
        frame.extend_from_slice(&1i32.to_be_bytes());
        frame.extend_from_slice(&3i16.to_be_bytes());
        frame.extend_from_slice(b"old");
        frame.extend_from_slice(&2i32.to_be_bytes());
        for partition in [0i32, 7] {
            frame.extend_from_slice(&partition.to_be_bytes());
            frame.extend_from_slice(&4i32.to_be_bytes());
            frame.extend_from_slice(b"junk");
        }
        let mut wire = (frame.len() as i32).to_be_bytes().to_vec();
        wire.extend(frame);
        client.send_raw(&wire).await;

        // Read it back as a v0-2 ProduceResponse.
        let body = client.read_frame().await;
        let mut r = Reader(&body[..]);
        assert_eq!(r.i32(), 40 + i32::from(version), "correlation id");
        assert_eq!(r.i32(), 1, "topics");
        assert_eq!(r.string(), "old");
        assert_eq!(r.i32(), 2, "partitions");
        for partition in [0, 7] {
            assert_eq!(r.i32(), partition);
            assert_eq!(r.i16(), ResponseError::UnsupportedVersion.code());
            assert_eq!(r.i64(), -1, "base_offset");
            if version >= 2 {
                assert_eq!(r.i64(), -1, "log_append_time");
            }
        }
        if version >= 1 {
            assert_eq!(r.i32(), 0, "throttle_time_ms");
        }
        assert!(r.0.is_empty());
    }
    // Nothing was stored, and the connection still serves v3+.
    let r = produce(
        &mut client,
        3,
        "old",
        0,
        batch("new", 1, now(), Compression::None),
    )
    .await;
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    server.stop().await;
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (a, b) = self.0.split_at(N);
        self.0 = b;
        a.try_into().unwrap()
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take())
    }
    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take())
    }
    fn string(&mut self) -> String {
        let n = self.i16() as usize;
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        String::from_utf8(a.to_vec()).unwrap()
    }
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_min_bytes_arrive() {
    let server = server().await;
    let id = create_topic(&server, "poll", 1, &[]);
    let mut client = server.connect().await;
    let first = batch("first", 2, now(), Compression::None);
    let second = batch("second", 2, now(), Compression::None);
    assert_eq!(
        produce(&mut client, 9, "poll", 0, first.clone())
            .await
            .error_code,
        0
    );

    // Waits up to 30 s for more than the first batch. The produce behind it on the same
    // connection is handled after the fetch started waiting (requests are handled in
    // order); its append wakes the fetch, which must answer with both batches long before
    // the 30 s (the client gives up after 20).
    let mut request = fetch_request(12, "poll", id, &[(0, 0)], 1 << 20);
    request.max_wait_ms = 30_000;
    request.min_bytes = first.len() as i32 + 1;
    client.send(ApiKey::Fetch, 12, 1, &request).await;
    client
        .send(
            ApiKey::Produce,
            9,
            2,
            &produce_request("poll", 0, second.clone(), -1),
        )
        .await;
    let (correlation_id, f): (i32, FetchResponse) = client.read(fetch_header(12), 12).await;
    assert_eq!(correlation_id, 1);
    let expected = [stamped(&first, 0), stamped(&second, 2)].concat();
    assert_eq!(only_partition(&f).records.as_deref(), Some(&expected[..]));
    let (correlation_id, p): (i32, ProduceResponse) = client
        .read(ApiKey::Produce.response_header_version(9), 9)
        .await;
    assert_eq!(correlation_id, 2);
    assert_eq!(p.responses[0].partition_responses[0].base_offset, 2);

    // Another connection's produce wakes a waiting fetch too.
    let mut request = fetch_request(12, "poll", id, &[(0, 4)], 1 << 20);
    request.max_wait_ms = 30_000;
    request.min_bytes = 1;
    let waiting = tokio::spawn({
        let mut client = server.connect().await;
        async move { fetch(&mut client, 12, &request).await }
    });
    let mut producer = server.connect().await;
    let third = batch("third", 1, now(), Compression::None);
    produce(&mut producer, 9, "poll", 0, third.clone()).await;
    let f = common::bounded(waiting).await.unwrap();
    assert_eq!(
        only_partition(&f).records.as_deref(),
        Some(&stamped(&third, 4)[..])
    );

    // With nothing arriving, the fetch answers empty at max_wait_ms.
    let mut request = fetch_request(12, "poll", id, &[(0, 5)], 1 << 20);
    request.max_wait_ms = 20;
    request.min_bytes = 1;
    let f = fetch(&mut client, 12, &request).await;
    let p = only_partition(&f);
    assert_eq!((p.error_code, p.high_watermark), (0, 5));
    assert_eq!(p.records.as_deref(), Some(&[][..]));
    server.stop().await;
}

#[tokio::test]
async fn a_long_poll_answers_at_once_when_more_lies_in_a_later_segment() {
    let server = server().await;
    // Small segments: one batch each.
    let id = create_topic(&server, "rolled", 1, &[("segment.bytes", "100")]);
    let mut client = server.connect().await;
    for i in 0..3 {
        let b = batch(&format!("r{i}"), 1, now(), Compression::None);
        assert!(b.len() > 50);
        produce(&mut client, 9, "rolled", 0, b).await;
    }
    let segments = server
        .partitions
        .get("rolled", 0)
        .unwrap()
        .log
        .segment_base_offsets();
    assert_eq!(segments, vec![0, 1, 2]);
    // A read takes one segment; more than that is already there, so waiting for min_bytes
    // cannot help this response: it answers at once, as Kafka's DelayedFetch does.
    let mut request = fetch_request(12, "rolled", id, &[(0, 0)], 1 << 20);
    request.max_wait_ms = 60_000;
    request.min_bytes = 1 << 20;
    let f = fetch(&mut client, 12, &request).await;
    let p = only_partition(&f);
    assert_eq!((p.error_code, p.high_watermark), (0, 3));
    assert_eq!(split_batches(p.records.as_ref().unwrap()).len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn fetch_errors() {
    let server = server().await;
    let id = create_topic(&server, "e", 1, &[]);
    let mut client = server.connect().await;
    produce(
        &mut client,
        9,
        "e",
        0,
        batch("a", 3, now(), Compression::None),
    )
    .await;

    // Past the log end offset: OFFSET_OUT_OF_RANGE with offsets -1; at it: nothing yet.
    let f = fetch(
        &mut client,
        12,
        &fetch_request(12, "e", id, &[(0, 4)], 1 << 20),
    )
    .await;
    let p = only_partition(&f);
    assert_eq!(p.error_code, ResponseError::OffsetOutOfRange.code());
    assert_eq!(
        (p.high_watermark, p.last_stable_offset, p.log_start_offset),
        (-1, -1, -1)
    );
    assert_eq!(p.records.as_deref(), Some(&[][..]));
    let f = fetch(
        &mut client,
        12,
        &fetch_request(12, "e", id, &[(0, 3)], 1 << 20),
    )
    .await;
    assert_eq!(only_partition(&f).error_code, 0);

    // Unknown topic by name (v12) and by id (v13), unknown partition.
    let f = fetch(
        &mut client,
        12,
        &fetch_request(12, "nope", id, &[(0, 0)], 1 << 20),
    )
    .await;
    assert_eq!(
        only_partition(&f).error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    let f = fetch(
        &mut client,
        13,
        &fetch_request(13, "", Uuid::from_u128(9), &[(0, 0)], 1 << 20),
    )
    .await;
    assert_eq!(
        only_partition(&f).error_code,
        ResponseError::UnknownTopicId.code()
    );
    let f = fetch(
        &mut client,
        13,
        &fetch_request(13, "", id, &[(1, 0)], 1 << 20),
    )
    .await;
    assert_eq!(
        only_partition(&f).error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );

    // A current leader epoch above ours (v9+).
    let mut request = fetch_request(12, "e", id, &[(0, 0)], 1 << 20);
    request.topics[0].partitions[0].current_leader_epoch = 3;
    let f = fetch(&mut client, 12, &request).await;
    assert_eq!(
        only_partition(&f).error_code,
        ResponseError::UnknownLeaderEpoch.code()
    );

    // read_committed: an empty aborted transaction list, not null.
    let mut request = fetch_request(12, "e", id, &[(0, 0)], 1 << 20);
    request.isolation_level = 1;
    let f = fetch(&mut client, 12, &request).await;
    assert_eq!(only_partition(&f).aborted_transactions, Some(Vec::new()));
    server.stop().await;
}

#[tokio::test]
async fn byte_limits_and_at_least_one_batch() {
    let server = server().await;
    let id = create_topic(&server, "big", 2, &[]);
    let mut client = server.connect().await;
    let value = "v".repeat(500);
    let mut sizes = Vec::new();
    for partition in [0, 1] {
        for _ in 0..3 {
            let b = batch(&value, 1, now(), Compression::None);
            sizes.push(b.len());
            produce(&mut client, 9, "big", partition, b).await;
        }
    }
    let size = sizes[0] as i32;

    // partition_max_bytes far below a batch: still one whole batch (KIP-74).
    let f = fetch(
        &mut client,
        12,
        &fetch_request(12, "big", id, &[(0, 0)], 10),
    )
    .await;
    assert_eq!(
        split_batches(only_partition(&f).records.as_ref().unwrap()).len(),
        1
    );
    // Room for two.
    let f = fetch(
        &mut client,
        12,
        &fetch_request(12, "big", id, &[(0, 0)], 2 * size + 5),
    )
    .await;
    assert_eq!(
        split_batches(only_partition(&f).records.as_ref().unwrap()).len(),
        2
    );

    // max_bytes for the response: the first partition takes one batch (1.5 fit), the
    // second gets the half batch left, which holds none: it is not the first with data.
    let mut request = fetch_request(12, "big", id, &[(0, 0), (1, 0)], 1 << 20);
    request.max_bytes = size + size / 2;
    let f = fetch(&mut client, 12, &request).await;
    let parts = &f.responses[0].partitions;
    assert_eq!(parts.len(), 2);
    assert_eq!(split_batches(parts[0].records.as_ref().unwrap()).len(), 1);
    assert_eq!(parts[1].records.as_deref(), Some(&[][..]));
    assert_eq!(parts[1].high_watermark, 3);
    // A response budget of zero still returns the first batch.
    request.max_bytes = 0;
    let f = fetch(&mut client, 12, &request).await;
    let parts = &f.responses[0].partitions;
    assert_eq!(split_batches(parts[0].records.as_ref().unwrap()).len(), 1);
    assert_eq!(parts[1].records.as_deref(), Some(&[][..]));
    server.stop().await;
}

fn session_request(
    version: i16,
    session_id: i32,
    epoch: i32,
    topic: (&str, Uuid),
    partitions: &[(i32, i64)],
    forgotten: &[i32],
) -> FetchRequest {
    let mut request = fetch_request(version, topic.0, topic.1, partitions, 1 << 20);
    if partitions.is_empty() {
        request.topics.clear();
    }
    request.session_id = session_id;
    request.session_epoch = epoch;
    if !forgotten.is_empty() {
        let mut f = ForgottenTopic::default().with_partitions(forgotten.to_vec());
        if version >= 13 {
            f.topic_id = topic.1;
        } else {
            f.topic = name(topic.0);
        }
        request.forgotten_topics_data = vec![f];
    }
    request
}

/// (partition, number of batches) of each partition in a response.
fn answered(r: &FetchResponse) -> Vec<(i32, usize)> {
    r.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            (
                p.partition_index,
                split_batches(p.records.as_deref().unwrap_or(&[])).len(),
            )
        })
        .collect()
}

#[tokio::test]
async fn incremental_fetch_sessions() {
    for version in [7i16, 12, 13] {
        let server = server().await;
        let id = create_topic(&server, "s", 2, &[]);
        let topic = ("s", id);
        let mut client = server.connect().await;
        let one = || batch("x", 1, now(), Compression::None);
        produce(&mut client, 9, "s", 0, one()).await;

        // A full fetch creates a session and answers every partition.
        let r = fetch(
            &mut client,
            version,
            &session_request(version, 0, 0, topic, &[(0, 0), (1, 0)], &[]),
        )
        .await;
        assert_eq!(r.error_code, 0);
        let session = r.session_id;
        assert_ne!(session, 0, "v{version}");
        assert_eq!(answered(&r), vec![(0, 1), (1, 0)]);

        // Epoch 1 moves partition 0's position; nothing changed: an empty answer.
        let r = fetch(
            &mut client,
            version,
            &session_request(version, session, 1, topic, &[(0, 1)], &[]),
        )
        .await;
        assert_eq!((r.error_code, r.session_id), (0, session));
        assert_eq!(answered(&r), vec![]);

        // New data on partition 1 only: only partition 1 is answered.
        produce(&mut client, 9, "s", 1, one()).await;
        let r = fetch(
            &mut client,
            version,
            &session_request(version, session, 2, topic, &[], &[]),
        )
        .await;
        assert_eq!(answered(&r), vec![(1, 1)]);

        // Forget partition 1: new data on both, only partition 0 is answered.
        produce(&mut client, 9, "s", 0, one()).await;
        produce(&mut client, 9, "s", 1, one()).await;
        let r = fetch(
            &mut client,
            version,
            &session_request(version, session, 3, topic, &[], &[1]),
        )
        .await;
        assert_eq!(answered(&r), vec![(0, 1)]);

        // A wrong epoch, an unknown session.
        let r = fetch(
            &mut client,
            version,
            &session_request(version, session, 9, topic, &[], &[]),
        )
        .await;
        assert_eq!(r.error_code, ResponseError::InvalidFetchSessionEpoch.code());
        assert_eq!((r.session_id, r.responses.len()), (0, 0));
        let r = fetch(
            &mut client,
            version,
            &session_request(version, session.wrapping_add(1), 1, topic, &[], &[]),
        )
        .await;
        assert_eq!(r.error_code, ResponseError::FetchSessionIdNotFound.code());

        // Still usable at the right epoch; then a sessionless fetch (epoch -1) closes it.
        let r = fetch(
            &mut client,
            version,
            &session_request(version, session, 4, topic, &[], &[]),
        )
        .await;
        assert_eq!(r.error_code, 0);
        let r = fetch(
            &mut client,
            version,
            &session_request(version, session, -1, topic, &[(0, 0)], &[]),
        )
        .await;
        assert_eq!((r.error_code, r.session_id), (0, 0));
        assert_eq!(answered(&r), vec![(0, 2)]);
        let r = fetch(
            &mut client,
            version,
            &session_request(version, session, 5, topic, &[], &[]),
        )
        .await;
        assert_eq!(r.error_code, ResponseError::FetchSessionIdNotFound.code());
        server.stop().await;
    }
}

#[tokio::test]
async fn a_session_named_by_topic_id_refuses_name_requests() {
    let server = server().await;
    let id = create_topic(&server, "ids", 1, &[]);
    let mut client = server.connect().await;
    let r = fetch(
        &mut client,
        13,
        &session_request(13, 0, 0, ("ids", id), &[(0, 0)], &[]),
    )
    .await;
    let session = r.session_id;
    assert_ne!(session, 0);
    let r = fetch(
        &mut client,
        12,
        &session_request(12, session, 1, ("ids", id), &[], &[]),
    )
    .await;
    assert_eq!(r.error_code, ResponseError::FetchSessionTopicIdError.code());
    server.stop().await;
}

#[tokio::test]
async fn no_session_slots_means_full_fetches() {
    let config = Config {
        max_incremental_fetch_session_cache_slots: 0,
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let id = create_topic(&server, "n", 1, &[]);
    let mut client = server.connect().await;
    let r = fetch(
        &mut client,
        12,
        &session_request(12, 0, 0, ("n", id), &[(0, 0)], &[]),
    )
    .await;
    assert_eq!((r.error_code, r.session_id), (0, 0));
    assert_eq!(answered(&r), vec![(0, 0)]);
    server.stop().await;
}

/// Many partitions in one request, pipelined requests on one connection.
#[tokio::test]
async fn pipelined_produces_share_the_connection_in_order() {
    let server = server().await;
    let id = create_topic(&server, "pipe", 1, &[]);
    let mut client: Client = server.connect().await;
    for i in 0..20 {
        client
            .send(
                ApiKey::Produce,
                9,
                i,
                &produce_request(
                    "pipe",
                    0,
                    batch(&format!("p{i}"), 1, now(), Compression::None),
                    -1,
                ),
            )
            .await;
    }
    for i in 0..20 {
        let (correlation_id, r): (i32, ProduceResponse) = client
            .read(ApiKey::Produce.response_header_version(9), 9)
            .await;
        assert_eq!(correlation_id, i);
        assert_eq!(
            r.responses[0].partition_responses[0].base_offset,
            i64::from(i)
        );
    }
    let f = fetch(
        &mut client,
        12,
        &fetch_request(12, "pipe", id, &[(0, 0)], 1 << 20),
    )
    .await;
    let batches = split_batches(only_partition(&f).records.as_ref().unwrap());
    assert_eq!(batches.len(), 20);
    for (i, (_, b)) in batches.iter().enumerate() {
        assert_eq!(
            record_values(b)[0].1.as_deref(),
            Some(format!("p{i}-0").as_bytes())
        );
    }
    server.stop().await;
}

/// A partition count far beyond the body, nested under a topic: refused before the codec
/// reserves memory for it; the connection closes and the broker serves others.
#[tokio::test]
async fn absurd_nested_counts_close_the_connection() {
    let server = server().await;
    create_topic(&server, "t", 1, &[]);
    let mut body = Vec::new();
    body.extend_from_slice(&(-1i16).to_be_bytes()); // transactional_id: null
    body.extend_from_slice(&(-1i16).to_be_bytes()); // acks
    body.extend_from_slice(&1000i32.to_be_bytes()); // timeout
    body.extend_from_slice(&1i32.to_be_bytes()); // one topic
    body.extend_from_slice(&1i16.to_be_bytes());
    body.push(b't');
    body.extend_from_slice(&i32::MAX.to_be_bytes()); // partitions
    body.extend_from_slice(&[0; 16]);
    let mut frame = Vec::new();
    frame.extend_from_slice(&0i16.to_be_bytes()); // Produce
    frame.extend_from_slice(&3i16.to_be_bytes());
    frame.extend_from_slice(&1i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes()); // client id
    frame.extend(body);
    let mut wire = (frame.len() as i32).to_be_bytes().to_vec();
    wire.extend(frame);
    let mut client = server.connect().await;
    client.send_raw(&wire).await;
    client.expect_closed().await;

    let mut other = server.connect().await;
    let r = produce(
        &mut other,
        9,
        "t",
        0,
        batch("ok", 1, now(), Compression::None),
    )
    .await;
    assert_eq!((r.error_code, r.base_offset), (0, 0));
    server.stop().await;
}
