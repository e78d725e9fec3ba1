//! Transactional offset commits over real TCP, driven as a transactional client drives
//! them: FindCoordinator for the transactional id, InitProducerId, AddOffsetsToTxn for the
//! group, TxnOffsetCommit v0-3, EndTxn (whose COMMIT or ABORT marker in
//! `__consumer_offsets` applies or drops the pending offsets); OffsetFetch with and without
//! `require_stable`; fencing by a second InitProducerId; the transaction coordinator's
//! verification that AddOffsetsToTxn added the group's partition (Kafka 3.6+); a restart
//! with a transaction open.

mod common;

use common::data::{create_topic, name};
use common::groups::*;
use common::{Client, TestServer};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey, EndTxnRequest, EndTxnResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    OffsetFetchRequest, OffsetFetchResponse, ProducerId, TransactionalId, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
};
use myelin_coord::partition_for;
use myelin_server::Config;

const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const CONCURRENT_TRANSACTIONS: i16 = 51;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
const PRODUCER_FENCED: i16 = 90;

/// The group test broker (`__consumer_offsets` with 3 partitions) with 3 partitions of
/// `__transaction_state`.
fn txn_config() -> Config {
    config(&[("transaction.state.log.num.partitions", "3")])
}

/// A transactional producer as the broker knows it: its transactional id, producer id and
/// epoch.
#[derive(Debug, Clone, Copy)]
struct Producer<'a> {
    id: &'a str,
    pid: i64,
    epoch: i16,
}

/// FindCoordinator v3 for transactional id `id` (which creates `__transaction_state`), then
/// InitProducerId v4, retried on CONCURRENT_TRANSACTIONS (an open transaction being
/// aborted), as clients do.
async fn init<'a>(client: &mut Client, id: &'a str) -> Producer<'a> {
    let r: FindCoordinatorResponse = client
        .call(
            ApiKey::FindCoordinator,
            3,
            &FindCoordinatorRequest::default()
                .with_key(s(id))
                .with_key_type(1),
        )
        .await;
    assert_eq!(r.error_code, NONE, "{r:?}");
    loop {
        let r: InitProducerIdResponse = client
            .call(
                ApiKey::InitProducerId,
                4,
                &InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(s(id))))
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
            .await;
        if r.error_code == CONCURRENT_TRANSACTIONS {
            continue;
        }
        assert_eq!(r.error_code, NONE, "{r:?}");
        return Producer {
            id,
            pid: r.producer_id.0,
            epoch: r.producer_epoch,
        };
    }
}

/// AddOffsetsToTxn v3: the group's partition of `__consumer_offsets` joins the producer's
/// transaction. Returns the error code.
async fn add_offsets(client: &mut Client, producer: Producer<'_>, group: &str) -> i16 {
    let r: AddOffsetsToTxnResponse = client
        .call(
            ApiKey::AddOffsetsToTxn,
            3,
            &AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s(producer.id)))
                .with_producer_id(ProducerId(producer.pid))
                .with_producer_epoch(producer.epoch)
                .with_group_id(gid(group)),
        )
        .await;
    r.error_code
}

/// EndTxn v3, answered once the markers are durable. Returns the error code.
async fn end(client: &mut Client, producer: Producer<'_>, commit: bool) -> i16 {
    let r: EndTxnResponse = client
        .call(
            ApiKey::EndTxn,
            3,
            &EndTxnRequest::default()
                .with_transactional_id(TransactionalId(s(producer.id)))
                .with_producer_id(ProducerId(producer.pid))
                .with_producer_epoch(producer.epoch)
                .with_committed(commit),
        )
        .await;
    r.error_code
}

/// (topic, partition, offset) to commit; each with metadata `m<offset>` and, from v2,
/// leader epoch 5.
type Offsets<'a> = &'a [(&'a str, i32, i64)];

/// TxnOffsetCommit at `version` of `producer`; v3 names `member` at `generation`. Returns
/// (topic, partition, error) of every partition, in request order.
async fn txn_commit(
    client: &mut Client,
    version: i16,
    producer: Producer<'_>,
    group: &str,
    (member, generation): (&str, i32),
    offsets: Offsets<'_>,
) -> Vec<(String, i32, i16)> {
    let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
    for &(topic, partition, offset) in offsets {
        let p = TxnOffsetCommitRequestPartition::default()
            .with_partition_index(partition)
            .with_committed_offset(offset)
            // committed_leader_epoch: v2+.
            .with_committed_leader_epoch(if version >= 2 { 5 } else { -1 })
            .with_committed_metadata(Some(s(&format!("m{offset}"))));
        match topics.iter_mut().find(|t| t.name.as_str() == topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                TxnOffsetCommitRequestTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let mut request = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s(producer.id)))
        .with_group_id(gid(group))
        .with_producer_id(ProducerId(producer.pid))
        .with_producer_epoch(producer.epoch)
        .with_topics(topics);
    if version >= 3 {
        request.member_id = s(member);
        request.generation_id = generation;
    }
    let r: TxnOffsetCommitResponse = client
        .call(ApiKey::TxnOffsetCommit, version, &request)
        .await;
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.error_code))
        })
        .collect()
}

/// OffsetFetch of partitions 0-1 of `t` at `version`, with `require_stable` from v7:
/// (partition, offset, leader epoch, error) each.
async fn fetch(
    client: &mut Client,
    version: i16,
    group: &str,
    require_stable: bool,
) -> Vec<(i32, i64, i32, i16)> {
    let mut request = OffsetFetchRequest::default();
    if version >= 8 {
        request.groups = vec![OffsetFetchRequestGroup::default()
            .with_group_id(gid(group))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(name("t"))
                .with_partition_indexes(vec![0, 1])]))];
    } else {
        request.group_id = gid(group);
        request.topics = Some(vec![OffsetFetchRequestTopic::default()
            .with_name(name("t"))
            .with_partition_indexes(vec![0, 1])]);
    }
    if version >= 7 {
        request.require_stable = require_stable;
    }
    let r: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, version, &request).await;
    assert_eq!(r.error_code, NONE, "{r:?}");
    let mut out: Vec<(i32, i64, i32, i16)> = if version >= 8 {
        assert_eq!(r.groups.len(), 1);
        assert_eq!(r.groups[0].error_code, NONE, "{r:?}");
        r.groups[0]
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| {
                (
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.error_code,
                )
            })
            .collect()
    } else {
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| {
                (
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.error_code,
                )
            })
            .collect()
    };
    out.sort();
    out
}

/// What OffsetFetch (v8, `require_stable`) shows of partitions 0-1 of `t` when nothing is
/// committed or pending.
const NOTHING: [(i32, i64, i32, i16); 2] = [(0, -1, -1, NONE), (1, -1, -1, NONE)];

#[tokio::test]
async fn transactional_offsets_are_pending_until_the_transaction_commits_in_every_version() {
    let server = TestServer::start(txn_config()).await;
    let mut client = server.connect().await;
    create_topic(&server, "t", 2, &[]);
    let producer = init(&mut client, "txn").await;
    // One transaction per version, one after the other, for the same producer.
    for version in 0..=3i16 {
        let group = format!("txn-v{version}");
        find_coordinator(&mut client, &group).await;
        assert_eq!(add_offsets(&mut client, producer, &group).await, NONE);
        let results = txn_commit(
            &mut client,
            version,
            producer,
            &group,
            ("", -1),
            &[("t", 0, 10), ("t", 1, 11), ("t", 9, 1), ("nope", 0, 1)],
        )
        .await;
        assert_eq!(
            results,
            [
                ("t".into(), 0, NONE),
                ("t".into(), 1, NONE),
                ("t".into(), 9, UNKNOWN_TOPIC_OR_PARTITION),
                ("nope".into(), 0, UNKNOWN_TOPIC_OR_PARTITION),
            ],
            "v{version}"
        );
        // Pending: not shown; unstable to a consumer that requires stable offsets.
        for fetch_version in [5, 6, 7, 8, 9] {
            assert_eq!(
                fetch(&mut client, fetch_version, &group, false).await,
                NOTHING,
                "v{version} fetch v{fetch_version}"
            );
        }
        for fetch_version in [7, 8, 9] {
            assert_eq!(
                fetch(&mut client, fetch_version, &group, true).await,
                [
                    (0, -1, -1, UNSTABLE_OFFSET_COMMIT),
                    (1, -1, -1, UNSTABLE_OFFSET_COMMIT)
                ],
                "v{version} stable fetch v{fetch_version}"
            );
        }
        // The transaction commits: its marker in `__consumer_offsets` makes the offsets
        // visible.
        assert_eq!(end(&mut client, producer, true).await, NONE, "v{version}");
        // committed_leader_epoch: committed from v2.
        let epoch = if version >= 2 { 5 } else { -1 };
        for (fetch_version, stable) in [(6, false), (7, true), (9, true)] {
            assert_eq!(
                fetch(&mut client, fetch_version, &group, stable).await,
                [(0, 10, epoch, NONE), (1, 11, epoch, NONE)],
                "v{version} fetch v{fetch_version} once committed"
            );
        }
    }
}

#[tokio::test]
async fn aborted_and_fenced_transactions_commit_nothing() {
    let server = TestServer::start(txn_config()).await;
    let mut client = server.connect().await;
    create_topic(&server, "t", 2, &[]);
    let group = "aborted";
    find_coordinator(&mut client, group).await;
    let old = init(&mut client, "aborting").await;

    // Aborted by its producer: the pending offsets are dropped.
    assert_eq!(add_offsets(&mut client, old, group).await, NONE);
    let committed = txn_commit(&mut client, 3, old, group, ("", -1), &[("t", 0, 10)]).await;
    assert_eq!(committed, [("t".into(), 0, NONE)]);
    assert_eq!(end(&mut client, old, false).await, NONE);
    assert_eq!(fetch(&mut client, 7, group, true).await, NOTHING);

    // Open again, then fenced: a successor's InitProducerId bumps the epoch and aborts the
    // open transaction, dropping its offsets.
    assert_eq!(add_offsets(&mut client, old, group).await, NONE);
    let committed = txn_commit(&mut client, 3, old, group, ("", -1), &[("t", 0, 20)]).await;
    assert_eq!(committed, [("t".into(), 0, NONE)]);
    let new = init(&mut client, "aborting").await;
    assert_eq!(new.pid, old.pid);
    assert!(new.epoch > old.epoch, "{new:?} after {old:?}");
    assert_eq!(fetch(&mut client, 7, group, true).await, NOTHING);
    // The zombie of the previous epoch is fenced, for every partition it names, in every
    // version (PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH here, as Kafka does).
    for version in 0..=3i16 {
        let zombie = txn_commit(
            &mut client,
            version,
            old,
            group,
            ("", -1),
            &[("t", 0, 99), ("t", 1, 99), ("t", 7, 99)],
        )
        .await;
        assert_eq!(
            zombie,
            [
                ("t".into(), 0, INVALID_PRODUCER_EPOCH),
                ("t".into(), 1, INVALID_PRODUCER_EPOCH),
                ("t".into(), 7, UNKNOWN_TOPIC_OR_PARTITION),
            ],
            "v{version}"
        );
    }
    assert_eq!(end(&mut client, old, true).await, PRODUCER_FENCED);
    assert_eq!(fetch(&mut client, 7, group, true).await, NOTHING);

    // The successor commits.
    assert_eq!(add_offsets(&mut client, new, group).await, NONE);
    let committed = txn_commit(&mut client, 3, new, group, ("", -1), &[("t", 1, 30)]).await;
    assert_eq!(committed, [("t".into(), 1, NONE)]);
    assert_eq!(end(&mut client, new, true).await, NONE);
    assert_eq!(
        fetch(&mut client, 7, group, true).await,
        [(0, -1, -1, NONE), (1, 30, 5, NONE)]
    );
}

#[tokio::test]
async fn group_errors_answer_every_known_partition() {
    let server = TestServer::start(txn_config()).await;
    let mut client = server.connect().await;
    create_topic(&server, "t", 2, &[]);
    find_coordinator(&mut client, "g").await;
    let producer = init(&mut client, "grouped").await;
    assert_eq!(add_offsets(&mut client, producer, "g").await, NONE);
    // v3 names a member of a generation of a group that does not exist.
    let stale = txn_commit(
        &mut client,
        3,
        producer,
        "g",
        ("someone", 4),
        &[("t", 0, 1), ("t", 8, 1)],
    )
    .await;
    assert_eq!(
        stale,
        [
            ("t".into(), 0, ILLEGAL_GENERATION),
            ("t".into(), 8, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );
    // An empty group id is the group coordinator's refusal, before any verification.
    let empty = txn_commit(&mut client, 3, producer, "", ("", -1), &[("t", 0, 1)]).await;
    assert_eq!(empty, [("t".into(), 0, INVALID_GROUP_ID)]);
    // Nothing was left pending by the refusals, and the commit makes nothing visible.
    assert_eq!(fetch(&mut client, 7, "g", true).await, NOTHING);
    assert_eq!(end(&mut client, producer, true).await, NONE);
    assert_eq!(fetch(&mut client, 7, "g", true).await, NOTHING);
}

#[tokio::test]
async fn a_commit_outside_the_transaction_is_refused_and_leaves_nothing_pending() {
    let server = TestServer::start(txn_config()).await;
    let mut client = server.connect().await;
    create_topic(&server, "t", 2, &[]);
    let group = "skipped";
    find_coordinator(&mut client, group).await;
    let producer = init(&mut client, "skipper").await;
    let offsets = [("t", 0, 10), ("t", 1, 11), ("t", 9, 1)];
    let refused = |code| {
        vec![
            ("t".to_string(), 0, code),
            ("t".to_string(), 1, code),
            ("t".to_string(), 9, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    };
    // No AddOffsetsToTxn: no transaction at all. Kafka answers v0-3 INVALID_TXN_STATE (the
    // coordinator's TRANSACTION_ABORTABLE, which these clients do not know).
    for version in 0..=3i16 {
        let results = txn_commit(&mut client, version, producer, group, ("", -1), &offsets).await;
        assert_eq!(results, refused(INVALID_TXN_STATE), "v{version}");
    }
    assert_eq!(fetch(&mut client, 7, group, true).await, NOTHING);

    // An open transaction that added another group's partition of `__consumer_offsets`.
    let other = (0..)
        .map(|i| format!("other-{i}"))
        .find(|g| partition_for(g, 3) != partition_for(group, 3))
        .unwrap();
    find_coordinator(&mut client, &other).await;
    assert_eq!(add_offsets(&mut client, producer, &other).await, NONE);
    for version in 0..=3i16 {
        let results = txn_commit(&mut client, version, producer, group, ("", -1), &offsets).await;
        assert_eq!(results, refused(INVALID_TXN_STATE), "v{version}");
    }
    assert_eq!(fetch(&mut client, 7, group, true).await, NOTHING);

    // A transactional id the coordinator does not know, or another producer id.
    let stranger = Producer {
        id: "stranger",
        ..producer
    };
    let results = txn_commit(&mut client, 3, stranger, group, ("", -1), &offsets).await;
    assert_eq!(results, refused(INVALID_PRODUCER_ID_MAPPING));
    let impostor = Producer {
        pid: producer.pid + 1,
        ..producer
    };
    let results = txn_commit(&mut client, 3, impostor, group, ("", -1), &offsets).await;
    assert_eq!(results, refused(INVALID_PRODUCER_ID_MAPPING));

    // The transaction ends; still nothing from the refused commits.
    assert_eq!(end(&mut client, producer, true).await, NONE);
    assert_eq!(fetch(&mut client, 7, group, true).await, NOTHING);
    // Once added, the same commit is accepted.
    assert_eq!(add_offsets(&mut client, producer, group).await, NONE);
    let results = txn_commit(&mut client, 3, producer, group, ("", -1), &offsets).await;
    assert_eq!(results, refused(NONE));
    assert_eq!(end(&mut client, producer, true).await, NONE);
    assert_eq!(
        fetch(&mut client, 7, group, true).await,
        [(0, 10, 5, NONE), (1, 11, 5, NONE)]
    );
}

#[tokio::test]
async fn pending_offsets_survive_a_restart() {
    let server = TestServer::start(txn_config()).await;
    let mut client = server.connect().await;
    create_topic(&server, "t", 2, &[]);
    let group = "restarted";
    find_coordinator(&mut client, group).await;
    let producer = init(&mut client, "restarting").await;
    assert_eq!(add_offsets(&mut client, producer, group).await, NONE);
    let committed = txn_commit(&mut client, 2, producer, group, ("", -1), &[("t", 1, 42)]).await;
    assert_eq!(committed, [("t".into(), 1, NONE)]);
    drop(client);
    let server = server.restart(txn_config()).await;
    let mut client = server.connect().await;
    assert_eq!(
        fetch(&mut client, 8, group, true).await,
        [(0, -1, -1, NONE), (1, -1, -1, UNSTABLE_OFFSET_COMMIT)]
    );
    // The transaction survived too: its producer commits it.
    assert_eq!(end(&mut client, producer, true).await, NONE);
    assert_eq!(
        fetch(&mut client, 8, group, true).await,
        [(0, -1, -1, NONE), (1, 42, 5, NONE)]
    );
}
