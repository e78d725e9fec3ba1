//! Idempotent producers over real TCP: a retried batch is answered with its original
//! offsets and stored once; a gap, an old epoch, control records and (until the
//! transaction coordinator exists) transactional batches are refused with Kafka's errors.

mod common;

use common::data::{create_topic, fetch, fetch_request, only_partition, produce, split_batches};
use common::TestServer;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse};
use kafka_protocol::ResponseError;
use myelin_log::batch::{ATTR_CONTROL, ATTR_TRANSACTIONAL};
use myelin_log::record::{encode_record, BatchBuilder};
use myelin_server::Config;

/// A batch of `n` records from producer `pid` at `epoch`, starting at `sequence`.
fn batch(pid: i64, epoch: i16, sequence: i32, n: i32, attributes: i16) -> Vec<u8> {
    let mut raw = Vec::new();
    for i in 0..n {
        let value = format!("p{pid}-s{}", sequence + i);
        encode_record(&mut raw, 0, 0, i, None, Some(value.as_bytes()), &[]);
    }
    BatchBuilder {
        attributes,
        last_offset_delta: n - 1,
        // Now: an old timestamp would roll a segment per batch (segment.ms counts from the
        // first batch's timestamp) and expire the producer (producer.id.expiration.ms
        // counts from its last batch's), as in Kafka.
        base_timestamp: common::data::now(),
        max_timestamp: common::data::now(),
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: sequence,
        ..BatchBuilder::new()
    }
    .build(&raw, n)
    .unwrap()
}

#[tokio::test]
async fn retries_are_stored_once_and_gaps_are_refused() {
    let server = TestServer::start(Config::default()).await;
    let topic_id = create_topic(&server, "idem", 1, &[]);
    let mut client = server.connect().await;
    let init: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default().with_transactional_id(None),
        )
        .await;
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);

    let first = produce(&mut client, 9, "idem", 0, batch(pid, epoch, 0, 3, 0)).await;
    assert_eq!((first.error_code, first.base_offset), (0, 0));
    let second = produce(&mut client, 9, "idem", 0, batch(pid, epoch, 3, 2, 0)).await;
    assert_eq!((second.error_code, second.base_offset), (0, 3));
    // The producer retries both (it never saw the answers): same offsets, nothing written.
    for (seq, n, offset) in [(0, 3, 0), (3, 2, 3)] {
        let retry = produce(&mut client, 9, "idem", 0, batch(pid, epoch, seq, n, 0)).await;
        assert_eq!(
            (retry.error_code, retry.base_offset),
            (0, offset),
            "seq {seq}"
        );
    }
    // A gap: records 5 and 6 lost in between.
    let gap = produce(&mut client, 9, "idem", 0, batch(pid, epoch, 7, 1, 0)).await;
    assert_eq!(
        gap.error_code,
        ResponseError::OutOfOrderSequenceNumber.code()
    );
    // An older epoch is fenced.
    if epoch > 0 {
        let old = produce(&mut client, 9, "idem", 0, batch(pid, epoch - 1, 5, 1, 0)).await;
        assert_eq!(old.error_code, ResponseError::InvalidProducerEpoch.code());
    }
    // Control records and transactional batches are not the client's to write (yet).
    let control = produce(
        &mut client,
        9,
        "idem",
        0,
        batch(pid, epoch, 5, 1, ATTR_CONTROL),
    )
    .await;
    assert_eq!(control.error_code, ResponseError::InvalidRecord.code());
    let txn = produce(
        &mut client,
        9,
        "idem",
        0,
        batch(pid, epoch, 5, 1, ATTR_TRANSACTIONAL),
    )
    .await;
    assert_eq!(txn.error_code, ResponseError::InvalidTxnState.code());
    // The next in-order batch is fine.
    let next = produce(&mut client, 9, "idem", 0, batch(pid, epoch, 5, 1, 0)).await;
    assert_eq!((next.error_code, next.base_offset), (0, 5));

    // The log holds each record once: offsets 0..6, three batches.
    let r = fetch(
        &mut client,
        12,
        &fetch_request(12, "idem", topic_id, &[(0, 0)], 1 << 20),
    )
    .await;
    let p = only_partition(&r);
    assert_eq!(p.high_watermark, 6);
    let r = fetch(
        &mut client,
        12,
        &fetch_request(12, "idem", topic_id, &[(0, 0)], 1 << 20),
    )
    .await;
    let batches = split_batches(only_partition(&r).records.as_ref().unwrap());
    let bases: Vec<i64> = batches.iter().map(|(h, _)| h.base_offset).collect();
    assert_eq!(bases, [0, 3, 5]);
    drop(client);

    // After a restart the producer state is back: the retry is still a duplicate.
    let server = server.restart(Config::default()).await;
    let mut client = server.connect().await;
    let retry = produce(&mut client, 9, "idem", 0, batch(pid, epoch, 5, 1, 0)).await;
    assert_eq!((retry.error_code, retry.base_offset), (0, 5));
    let next = produce(&mut client, 9, "idem", 0, batch(pid, epoch, 6, 1, 0)).await;
    assert_eq!((next.error_code, next.base_offset), (0, 6));
    drop(client);
    server.stop().await;
}
