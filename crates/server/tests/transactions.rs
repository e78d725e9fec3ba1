//! Transactions over real TCP: FindCoordinator for a transactional id, InitProducerId
//! (fencing), AddPartitionsToTxn (v0 and v4), transactional Produce, EndTxn, and what
//! read_committed and read_uncommitted fetches see; DescribeTransactions and
//! ListTransactions.

mod common;

use common::data::{create_topic, fetch, name, now, only_partition, produce, split_batches};
use common::{Client, TestServer};
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, DescribeTransactionsRequest,
    DescribeTransactionsResponse, EndTxnRequest, EndTxnResponse, FetchRequest,
    FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_log::batch::ATTR_TRANSACTIONAL;
use myelin_log::record::{encode_record, BatchBuilder};
use myelin_server::Config;
use uuid::Uuid;

fn txn_id(s: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(s.to_string()))
}

fn config() -> Config {
    Config {
        broker_configs: [
            (
                "transaction.state.log.num.partitions".to_string(),
                "2".to_string(),
            ),
            ("offsets.topic.num.partitions".to_string(), "2".to_string()),
        ]
        .into_iter()
        .collect(),
        ..Config::default()
    }
}

async fn init(client: &mut Client, id: &str) -> (i64, i16) {
    let r: FindCoordinatorResponse = client
        .call(
            ApiKey::FindCoordinator,
            3,
            &FindCoordinatorRequest::default()
                .with_key(StrBytes::from_string(id.to_string()))
                .with_key_type(1),
        )
        .await;
    assert_eq!(
        r.error_code, 0,
        "the transaction coordinator is this broker"
    );
    loop {
        let r: InitProducerIdResponse = client
            .call(
                ApiKey::InitProducerId,
                4,
                &InitProducerIdRequest::default()
                    .with_transactional_id(Some(txn_id(id)))
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
            .await;
        if r.error_code == ResponseError::ConcurrentTransactions.code() {
            continue; // an open transaction was being aborted: retry, as clients do
        }
        assert_eq!(r.error_code, 0);
        return (r.producer_id.0, r.producer_epoch);
    }
}

async fn add_v0(client: &mut Client, id: &str, pid: i64, epoch: i16, topic: &str) -> i16 {
    let r: AddPartitionsToTxnResponse = client
        .call(
            ApiKey::AddPartitionsToTxn,
            0,
            &AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(txn_id(id))
                .with_v3_and_below_producer_id(ProducerId(pid))
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![0])]),
        )
        .await;
    r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

async fn end(client: &mut Client, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let r: EndTxnResponse = client
        .call(
            ApiKey::EndTxn,
            3,
            &EndTxnRequest::default()
                .with_transactional_id(txn_id(id))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_committed(commit),
        )
        .await;
    r.error_code
}

fn txn_batch(pid: i64, epoch: i16, seq: i32, values: &[&str]) -> Vec<u8> {
    let mut raw = Vec::new();
    for (i, v) in values.iter().enumerate() {
        encode_record(&mut raw, 0, 0, i as i32, None, Some(v.as_bytes()), &[]);
    }
    let n = values.len() as i32;
    BatchBuilder {
        attributes: ATTR_TRANSACTIONAL,
        last_offset_delta: n - 1,
        base_timestamp: now(),
        max_timestamp: now(),
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        ..BatchBuilder::new()
    }
    .build(&raw, n)
    .unwrap()
}

/// A fetch of partition 0 from offset 0 at `isolation_level`; returns (high watermark,
/// last stable offset, aborted transactions, data batches' base offsets).
async fn read(
    client: &mut Client,
    topic_id: Uuid,
    isolation_level: i8,
) -> (i64, i64, Option<Vec<(i64, i64)>>, Vec<(i64, bool)>) {
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation_level)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(topic_id)
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let r = fetch(client, 13, &request).await;
    let p = only_partition(&r);
    let batches = p
        .records
        .as_ref()
        .map(|r| split_batches(r))
        .unwrap_or_default()
        .into_iter()
        .map(|(h, _)| (h.base_offset, h.is_control()))
        .collect();
    let aborted = p.aborted_transactions.as_ref().map(|l| {
        l.iter()
            .map(|a| (a.producer_id.0, a.first_offset))
            .collect()
    });
    (p.high_watermark, p.last_stable_offset, aborted, batches)
}

#[tokio::test]
async fn committed_and_aborted_transactions_as_consumers_see_them() {
    let server = TestServer::start(config()).await;
    let topic_id = create_topic(&server, "payments", 1, &[]);
    let mut client = server.connect().await;
    let (pid, epoch) = init(&mut client, "payments-tx").await;

    // Not added to the transaction: refused, nothing written.
    let stray = produce(
        &mut client,
        9,
        "payments",
        0,
        txn_batch(pid, epoch, 0, &["x"]),
    )
    .await;
    assert_eq!(stray.error_code, ResponseError::InvalidTxnState.code());

    // Transaction 1: two records, committed.
    assert_eq!(
        add_v0(&mut client, "payments-tx", pid, epoch, "payments").await,
        0
    );
    let p = produce(
        &mut client,
        9,
        "payments",
        0,
        txn_batch(pid, epoch, 0, &["a", "b"]),
    )
    .await;
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    let (hw, lso, aborted, _) = read(&mut client, topic_id, 1).await;
    assert_eq!(
        (hw, lso),
        (2, 0),
        "the open transaction holds the LSO at its start"
    );
    assert_eq!(aborted, Some(vec![]));
    let (_, _, aborted, batches) = read(&mut client, topic_id, 0).await;
    assert_eq!(aborted, None, "read_uncommitted gets no aborted list");
    assert_eq!(
        batches,
        [(0, false)],
        "read_uncommitted sees the open transaction"
    );
    assert_eq!(end(&mut client, "payments-tx", pid, epoch, true).await, 0);
    let (hw, lso, _, batches) = read(&mut client, topic_id, 1).await;
    assert_eq!((hw, lso), (3, 3), "records 0-1 and the COMMIT marker at 2");
    assert_eq!(batches, [(0, false), (2, true)]);

    // Transaction 2: aborted. read_committed gets it in the aborted list.
    assert_eq!(
        add_v0(&mut client, "payments-tx", pid, epoch, "payments").await,
        0
    );
    let p = produce(
        &mut client,
        9,
        "payments",
        0,
        txn_batch(pid, epoch, 2, &["c"]),
    )
    .await;
    assert_eq!((p.error_code, p.base_offset), (0, 3));
    assert_eq!(end(&mut client, "payments-tx", pid, epoch, false).await, 0);
    let (hw, lso, aborted, batches) = read(&mut client, topic_id, 1).await;
    assert_eq!((hw, lso), (5, 5));
    assert_eq!(aborted, Some(vec![(pid, 3)]));
    assert_eq!(batches, [(0, false), (2, true), (3, false), (4, true)]);

    // Describe and list.
    let d: DescribeTransactionsResponse = client
        .call(
            ApiKey::DescribeTransactions,
            0,
            &DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![txn_id("payments-tx"), txn_id("nobody")]),
        )
        .await;
    assert_eq!(d.transaction_states[0].error_code, 0);
    assert_eq!(
        d.transaction_states[0].transaction_state.as_str(),
        "CompleteAbort"
    );
    assert_eq!(d.transaction_states[0].producer_id.0, pid);
    assert_eq!(
        d.transaction_states[1].error_code,
        ResponseError::TransactionalIdNotFound.code()
    );
    let l: ListTransactionsResponse = client
        .call(
            ApiKey::ListTransactions,
            1,
            &ListTransactionsRequest::default()
                .with_state_filters(vec![
                    StrBytes::from_static_str("CompleteAbort"),
                    StrBytes::from_static_str("Bogus"),
                ])
                .with_duration_filter(-1),
        )
        .await;
    let listed: Vec<&str> = l
        .transaction_states
        .iter()
        .map(|t| t.transactional_id.0.as_str())
        .collect();
    assert_eq!(listed, ["payments-tx"]);
    assert_eq!(l.unknown_state_filters.len(), 1);
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_new_producer_fences_the_old_one_and_aborts_its_transaction() {
    let server = TestServer::start(config()).await;
    let topic_id = create_topic(&server, "orders", 1, &[]);
    let mut client = server.connect().await;
    let (pid, old) = init(&mut client, "orders-tx").await;
    // v4 batched AddPartitionsToTxn.
    let r: AddPartitionsToTxnResponse = client
        .call(
            ApiKey::AddPartitionsToTxn,
            4,
            &AddPartitionsToTxnRequest::default().with_transactions(vec![
                AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(txn_id("orders-tx"))
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(old)
                    .with_topics(vec![
                        AddPartitionsToTxnTopic::default()
                            .with_name(name("orders"))
                            .with_partitions(vec![0]),
                        AddPartitionsToTxnTopic::default()
                            .with_name(name("no-such-topic"))
                            .with_partitions(vec![0]),
                    ]),
            ]),
        )
        .await;
    let codes: Vec<i16> = r.results_by_transaction[0]
        .topic_results
        .iter()
        .map(|t| t.results_by_partition[0].partition_error_code)
        .collect();
    assert_eq!(
        codes,
        [
            ResponseError::OperationNotAttempted.code(),
            ResponseError::UnknownTopicOrPartition.code()
        ]
    );
    assert_eq!(
        add_v0(&mut client, "orders-tx", pid, old, "orders").await,
        0
    );
    let p = produce(
        &mut client,
        9,
        "orders",
        0,
        txn_batch(pid, old, 0, &["zombie"]),
    )
    .await;
    assert_eq!(p.error_code, 0);

    // The successor: the open transaction is aborted, the epoch bumped.
    let (pid2, new) = init(&mut client, "orders-tx").await;
    assert_eq!(pid2, pid);
    assert!(new > old);
    let (_, lso, aborted, _) = read(&mut client, topic_id, 1).await;
    assert_eq!(lso, 2, "the zombie's transaction was aborted (marker at 1)");
    assert_eq!(aborted, Some(vec![(pid, 0)]));
    // The zombie is fenced everywhere.
    assert_eq!(
        end(&mut client, "orders-tx", pid, old, true).await,
        ResponseError::ProducerFenced.code()
    );
    let zombie = produce(
        &mut client,
        9,
        "orders",
        0,
        txn_batch(pid, old, 1, &["late"]),
    )
    .await;
    assert_ne!(zombie.error_code, 0);
    drop(client);
    server.stop().await;
}

/// (producer id, epoch, last sequence, coordinator epoch, open transaction's first offset)
/// of each producer DescribeProducers lists for `topic`-0, and the partition's error.
async fn producers(client: &mut Client, topic: &str) -> (i16, Vec<(i64, i32, i32, i32, i64)>) {
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse};
    let r: DescribeProducersResponse = client
        .call(
            ApiKey::DescribeProducers,
            0,
            &DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
                .with_name(name(topic))
                .with_partition_indexes(vec![0])]),
        )
        .await;
    let p = &r.topics[0].partitions[0];
    let list = p
        .active_producers
        .iter()
        .map(|s| {
            (
                s.producer_id.0,
                s.producer_epoch,
                s.last_sequence,
                s.coordinator_epoch,
                s.current_txn_start_offset,
            )
        })
        .collect();
    (p.error_code, list)
}

#[tokio::test]
async fn describe_producers_shows_the_open_transaction() {
    let server = TestServer::start(config()).await;
    create_topic(&server, "ledger", 1, &[]);
    let mut client = server.connect().await;
    assert_eq!(producers(&mut client, "ledger").await, (0, vec![]));
    assert_eq!(producers(&mut client, "no-such-topic").await.0, 3);

    let (pid, epoch) = init(&mut client, "ledger-tx").await;
    let epoch32 = i32::from(epoch);
    // Two committed records first, so that the open transaction starts at offset 3.
    assert_eq!(
        add_v0(&mut client, "ledger-tx", pid, epoch, "ledger").await,
        0
    );
    let p = produce(
        &mut client,
        9,
        "ledger",
        0,
        txn_batch(pid, epoch, 0, &["a", "b"]),
    )
    .await;
    assert_eq!(p.error_code, 0);
    assert_eq!(
        producers(&mut client, "ledger").await,
        (0, vec![(pid, epoch32, 1, -1, 0)]),
        "open from offset 0, no marker yet"
    );
    assert_eq!(end(&mut client, "ledger-tx", pid, epoch, true).await, 0);
    // The commit marker is at offset 2, written by the coordinator (epoch 0 here).
    let (_, after_commit) = producers(&mut client, "ledger").await;
    assert_eq!(after_commit.len(), 1);
    let (_, _, last_seq, coordinator_epoch, open) = after_commit[0];
    assert_eq!((last_seq, open), (1, -1), "the transaction is closed");
    assert!(coordinator_epoch >= 0, "{coordinator_epoch}");

    // A hanging transaction: opened and never ended.
    let mut add = 0;
    for _ in 0..50 {
        add = add_v0(&mut client, "ledger-tx", pid, epoch, "ledger").await;
        if add != ResponseError::ConcurrentTransactions.code() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(add, 0);
    let p = produce(
        &mut client,
        9,
        "ledger",
        0,
        txn_batch(pid, epoch, 2, &["c"]),
    )
    .await;
    assert_eq!((p.error_code, p.base_offset), (0, 3));
    assert_eq!(
        producers(&mut client, "ledger").await,
        (0, vec![(pid, epoch32, 2, coordinator_epoch, 3)])
    );
    server.stop().await;
}
