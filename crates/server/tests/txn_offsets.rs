//! Transactional offset commits over real TCP: TxnOffsetCommit v0-3, OffsetFetch with and
//! without `require_stable`, and the end of the transaction (the call the transaction
//! coordinator makes once its marker is written in `__consumer_offsets`, made here
//! directly), across a restart.

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
    ApiKey, OffsetFetchRequest, OffsetFetchResponse, ProducerId, TransactionalId,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use myelin_coord::partition_for;

const INVALID_PRODUCER_EPOCH: i16 = 47;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
const PID: i64 = 7_000;

/// (topic, partition, offset) to commit; each with metadata `m<offset>` and, from v2,
/// leader epoch 5.
type Offsets<'a> = &'a [(&'a str, i32, i64)];

/// TxnOffsetCommit at `version` of producer [`PID`] at `epoch`; v3 names `member` at
/// `generation`. Returns (topic, partition, error) of every partition, in request order.
async fn txn_commit(
    client: &mut Client,
    version: i16,
    group: &str,
    epoch: i16,
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
        .with_transactional_id(TransactionalId(s("txn")))
        .with_group_id(gid(group))
        .with_producer_id(ProducerId(PID))
        .with_producer_epoch(epoch)
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

/// The group's partition of `__consumer_offsets` (3 partitions, see [`config`]).
fn offsets_partition(group: &str) -> i32 {
    partition_for(group, 3)
}

#[tokio::test]
async fn transactional_offsets_are_pending_until_the_transaction_commits_in_every_version() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    create_topic(&server, "t", 2, &[]);
    let groups = &server.context.groups;
    for version in 0..=3i16 {
        let group = format!("txn-v{version}");
        find_coordinator(&mut client, &group).await;
        let results = txn_commit(
            &mut client,
            version,
            &group,
            0,
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
                [(0, -1, -1, NONE), (1, -1, -1, NONE)],
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
        // The transaction coordinator's marker is written: the offsets become visible.
        assert_eq!(
            groups.complete_txn_offsets(offsets_partition(&group), PID, true),
            2
        );
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
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    create_topic(&server, "t", 2, &[]);
    let group = "aborted";
    find_coordinator(&mut client, group).await;
    let committed = txn_commit(&mut client, 3, group, 1, ("", -1), &[("t", 0, 10)]).await;
    assert_eq!(committed, [("t".into(), 0, NONE)]);
    // A zombie of the previous epoch is fenced, for every partition it names.
    let zombie = txn_commit(
        &mut client,
        3,
        group,
        0,
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
        ]
    );
    assert_eq!(
        server
            .context
            .groups
            .complete_txn_offsets(offsets_partition(group), PID, false),
        1
    );
    assert_eq!(
        fetch(&mut client, 7, group, true).await,
        [(0, -1, -1, NONE), (1, -1, -1, NONE)]
    );
}

#[tokio::test]
async fn group_errors_answer_every_known_partition() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    create_topic(&server, "t", 2, &[]);
    find_coordinator(&mut client, "g").await;
    // v3 names a member of a generation of a group that does not exist.
    let stale = txn_commit(
        &mut client,
        3,
        "g",
        0,
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
    let empty = txn_commit(&mut client, 3, "", 0, ("", -1), &[("t", 0, 1)]).await;
    assert_eq!(empty, [("t".into(), 0, INVALID_GROUP_ID)]);
    // Nothing was left pending by the refusals.
    assert_eq!(
        server
            .context
            .groups
            .complete_txn_offsets(offsets_partition("g"), PID, true),
        0
    );
}

#[tokio::test]
async fn pending_offsets_survive_a_restart() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    create_topic(&server, "t", 2, &[]);
    let group = "restarted";
    find_coordinator(&mut client, group).await;
    let committed = txn_commit(&mut client, 2, group, 0, ("", -1), &[("t", 1, 42)]).await;
    assert_eq!(committed, [("t".into(), 1, NONE)]);
    drop(client);
    let server = server.restart(config(&[])).await;
    let mut client = server.connect().await;
    assert_eq!(
        fetch(&mut client, 8, group, true).await,
        [(0, -1, -1, NONE), (1, -1, -1, UNSTABLE_OFFSET_COMMIT)]
    );
    assert_eq!(
        server
            .context
            .groups
            .complete_txn_offsets(offsets_partition(group), PID, true),
        1
    );
    assert_eq!(
        fetch(&mut client, 8, group, true).await,
        [(0, -1, -1, NONE), (1, 42, 5, NONE)]
    );
}
