//! Transactional offsets through the service over a real log manager in a temporary
//! directory: pending until the transaction ends, applied or dropped by
//! `complete_txn_offsets`, replayed at load with the markers, and never dropped silently.
//! The transaction coordinator's part (the COMMIT or ABORT marker) is written here as it
//! writes it.

use std::sync::Arc;

use bytes::Bytes;
use myelin_cluster::{FileMetadataStore, MetadataStore, PartitionManager};
use myelin_log::batch::{ATTR_CONTROL, ATTR_TRANSACTIONAL};
use myelin_log::{LogConfig, LogManager, ManagerConfig};

use super::super::shard::{append_records, BatchProducer, KeyValue};
use super::super::*;
use crate::api::Protocol;

const PID: i64 = 4_000;
const GROUP: &str = "g";

fn open(dir: &std::path::Path) -> Arc<PartitionManager> {
    let (store, _) = FileMetadataStore::open(dir).unwrap();
    let store: Arc<dyn MetadataStore> = Arc::new(store);
    let cfg = ManagerConfig {
        background_threads: false,
        ..ManagerConfig::new(dir.join("logs"))
    };
    let (logs, _) = LogManager::open(cfg, &|_| LogConfig::default()).unwrap();
    Arc::new(PartitionManager::open(logs, store, LogConfig::default()).unwrap())
}

fn settings() -> CoordinatorSettings {
    CoordinatorSettings {
        group: GroupConfig {
            initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        },
        offsets_topic_partitions: 3,
        ..CoordinatorSettings::default()
    }
}

/// A coordinator over `dir` with the offsets topic created.
async fn coordinator(dir: &std::path::Path) -> Arc<GroupCoordinator> {
    let coordinator = GroupCoordinator::new(open(dir), settings()).unwrap();
    assert_eq!(coordinator.lookup(GROUP).await, CoordinatorLookup::Ready);
    coordinator
}

fn commit(partition: i32, offset: i64) -> OffsetCommit {
    OffsetCommit {
        partition: TopicPartition::new("t", partition),
        offset,
        leader_epoch: Some(3),
        metadata: Some(format!("m{offset}")),
    }
}

fn tp(partition: i32) -> TopicPartition {
    TopicPartition::new("t", partition)
}

/// TxnOffsetCommit v0-2 style (no member, no generation) of producer [`PID`] at `epoch`.
async fn txn_commit(
    coordinator: &GroupCoordinator,
    epoch: i16,
    commits: Vec<OffsetCommit>,
) -> Result<Vec<PartitionResult>, GroupError> {
    coordinator
        .txn_commit_offsets(GROUP, "txn", PID, epoch, "", None, -1, commits)
        .await
}

/// The group's partition of `__consumer_offsets`.
fn offsets_partition(coordinator: &GroupCoordinator) -> i32 {
    partition_for(GROUP, coordinator.offsets_partitions().unwrap())
}

/// Writes the transaction coordinator's COMMIT or ABORT marker for [`PID`] at `epoch`
/// into the group's partition and waits for it, as the transaction coordinator does before
/// calling `complete_txn_offsets`.
async fn write_marker(coordinator: &GroupCoordinator, epoch: i16, commit: bool) {
    let index = usize::try_from(offsets_partition(coordinator)).unwrap();
    let shard = coordinator.shards().unwrap()[index].clone();
    let key = [0, 0, 0, u8::from(commit)];
    let record: KeyValue = (
        Bytes::copy_from_slice(&key),
        Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
    );
    let producer = BatchProducer {
        producer_id: PID,
        producer_epoch: epoch,
        attributes: ATTR_TRANSACTIONAL | ATTR_CONTROL,
    };
    let written = append_records(
        coordinator.partitions.logs(),
        shard.partition(),
        &[record],
        now_ms(),
        producer,
    )
    .unwrap();
    written.wait().await.unwrap();
}

/// (partition, offset) of every committed offset of the group, as OffsetFetch shows them.
fn visible(coordinator: &GroupCoordinator) -> Vec<(i32, i64)> {
    coordinator
        .fetch_offsets(GROUP, None)
        .unwrap()
        .into_iter()
        .filter_map(|(tp, o)| o.map(|o| (tp.partition, o.offset)))
        .collect()
}

/// OffsetFetch with `require_stable` of partitions 0-2: (partition, offset or None, or
/// Err for UNSTABLE_OFFSET_COMMIT).
fn stable(coordinator: &GroupCoordinator) -> Vec<(i32, Result<Option<i64>, GroupError>)> {
    coordinator
        .fetch_stable_offsets(GROUP, Some(&[tp(0), tp(1), tp(2)]))
        .unwrap()
        .into_iter()
        .map(|(tp, r)| (tp.partition, r.map(|o| o.map(|o| o.offset))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_transactions_make_their_offsets_visible_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let coordinator = coordinator(dir.path()).await;
        let results = txn_commit(&coordinator, 0, vec![commit(0, 10), commit(1, 11)])
            .await
            .unwrap();
        assert_eq!(results, vec![(tp(0), Ok(())), (tp(1), Ok(()))]);
        // Pending: not shown, and unstable to a fetch that requires stable offsets.
        assert!(visible(&coordinator).is_empty());
        assert_eq!(
            coordinator.fetch_offsets(GROUP, Some(&[tp(0)])).unwrap(),
            vec![(tp(0), None)]
        );
        assert_eq!(
            stable(&coordinator),
            vec![
                (0, Err(GroupError::UnstableOffsetCommit)),
                (1, Err(GroupError::UnstableOffsetCommit)),
                (2, Ok(None)),
            ]
        );
        // Another partition, another producer: nothing to complete.
        assert_eq!(coordinator.complete_txn_offsets(0, PID + 1, true), 0);
        write_marker(&coordinator, 0, true).await;
        let p = offsets_partition(&coordinator);
        assert_eq!(coordinator.complete_txn_offsets(p, PID, true), 2);
        assert_eq!(visible(&coordinator), vec![(0, 10), (1, 11)]);
        assert_eq!(
            stable(&coordinator),
            vec![(0, Ok(Some(10))), (1, Ok(Some(11))), (2, Ok(None))]
        );
        // Completed once: a second call finds nothing.
        assert_eq!(coordinator.complete_txn_offsets(p, PID, true), 0);
    }
    let coordinator = coordinator(dir.path()).await;
    assert_eq!(visible(&coordinator), vec![(0, 10), (1, 11)]);
    let (_, committed) = &coordinator.fetch_offsets(GROUP, Some(&[tp(0)])).unwrap()[0];
    let committed = committed.as_ref().unwrap();
    assert_eq!(committed.metadata.as_deref(), Some("m10"));
    assert_eq!(committed.leader_epoch, Some(3));
    assert_eq!(committed.expire_timestamp_ms, None);
    assert_eq!(stable(&coordinator)[0], (0, Ok(Some(10))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_transactions_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let coordinator = coordinator(dir.path()).await;
        coordinator
            .commit_offsets(GROUP, "", None, -1, None, vec![commit(0, 5)])
            .await
            .unwrap();
        txn_commit(&coordinator, 0, vec![commit(0, 10), commit(1, 11)])
            .await
            .unwrap();
        write_marker(&coordinator, 0, false).await;
        let p = offsets_partition(&coordinator);
        assert_eq!(coordinator.complete_txn_offsets(p, PID, false), 2);
        assert_eq!(visible(&coordinator), vec![(0, 5)]);
        assert_eq!(
            stable(&coordinator),
            vec![(0, Ok(Some(5))), (1, Ok(None)), (2, Ok(None))]
        );
    }
    let coordinator = coordinator(dir.path()).await;
    assert_eq!(visible(&coordinator), vec![(0, 5)]);
    assert_eq!(stable(&coordinator)[1], (1, Ok(None)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_offsets_survive_a_restart_and_the_marker_resolves_them() {
    let dir = tempfile::tempdir().unwrap();
    {
        let coordinator = coordinator(dir.path()).await;
        txn_commit(&coordinator, 0, vec![commit(0, 10)])
            .await
            .unwrap();
    }
    {
        // Reloaded pending: the transaction coordinator completes it after its own load.
        let coordinator = coordinator(dir.path()).await;
        assert!(visible(&coordinator).is_empty());
        assert_eq!(
            stable(&coordinator)[0],
            (0, Err(GroupError::UnstableOffsetCommit))
        );
        // The group exists (Kafka's simple group created by the commit).
        assert_eq!(coordinator.list().unwrap().len(), 1);
        // The same transaction goes on after the restart, then commits.
        txn_commit(&coordinator, 0, vec![commit(1, 21)])
            .await
            .unwrap();
        write_marker(&coordinator, 0, true).await;
        let p = offsets_partition(&coordinator);
        assert_eq!(coordinator.complete_txn_offsets(p, PID, true), 2);
        assert_eq!(visible(&coordinator), vec![(0, 10), (1, 21)]);
        // Another transaction, whose marker is written but not yet completed here when
        // the broker stops: the load applies it.
        txn_commit(&coordinator, 0, vec![commit(0, 30)])
            .await
            .unwrap();
        write_marker(&coordinator, 0, true).await;
    }
    let coordinator = coordinator(dir.path()).await;
    assert_eq!(visible(&coordinator), vec![(0, 30), (1, 21)]);
    assert_eq!(stable(&coordinator)[0], (0, Ok(Some(30))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_record_wins_between_plain_and_transactional_commits() {
    let dir = tempfile::tempdir().unwrap();
    {
        let coordinator = coordinator(dir.path()).await;
        // Partition 0: transactional, then a plain commit written after it (wins).
        // Partition 1: a plain commit, then a transactional one (wins once committed).
        coordinator
            .commit_offsets(GROUP, "", None, -1, None, vec![commit(1, 100)])
            .await
            .unwrap();
        txn_commit(&coordinator, 0, vec![commit(0, 10), commit(1, 11)])
            .await
            .unwrap();
        coordinator
            .commit_offsets(GROUP, "", None, -1, None, vec![commit(0, 200)])
            .await
            .unwrap();
        // The plain commit is visible at once; the pending one still makes it unstable.
        assert_eq!(visible(&coordinator), vec![(0, 200), (1, 100)]);
        assert_eq!(
            stable(&coordinator)[0],
            (0, Err(GroupError::UnstableOffsetCommit))
        );
        write_marker(&coordinator, 0, true).await;
        let p = offsets_partition(&coordinator);
        assert_eq!(coordinator.complete_txn_offsets(p, PID, true), 2);
        assert_eq!(visible(&coordinator), vec![(0, 200), (1, 11)]);
    }
    let coordinator = coordinator(dir.path()).await;
    assert_eq!(visible(&coordinator), vec![(0, 200), (1, 11)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_epoch_and_invalid_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = coordinator(dir.path()).await;
    txn_commit(&coordinator, 1, vec![commit(0, 10)])
        .await
        .unwrap();
    // A zombie of the previous epoch.
    assert_eq!(
        txn_commit(&coordinator, 0, vec![commit(0, 99)]).await,
        Err(GroupError::InvalidProducerEpoch {
            producer_id: PID,
            producer_epoch: 0
        })
    );
    // A generation of a group that does not exist; an empty group id; no producer.
    assert!(matches!(
        coordinator
            .txn_commit_offsets("other", "txn", PID, 1, "m", None, 2, vec![commit(0, 1)])
            .await,
        Err(GroupError::IllegalGeneration { .. })
    ));
    assert_eq!(
        coordinator
            .txn_commit_offsets("", "txn", PID, 1, "", None, -1, vec![commit(0, 1)])
            .await,
        Err(GroupError::InvalidGroupId)
    );
    assert!(matches!(
        coordinator
            .txn_commit_offsets(GROUP, "txn", -1, -1, "", None, -1, vec![commit(0, 1)])
            .await,
        Err(GroupError::InvalidRequest { .. })
    ));
    // Metadata over offset.metadata.max.bytes: refused for its partition only.
    let big = OffsetCommit {
        metadata: Some("x".repeat(5_000)),
        ..commit(1, 1)
    };
    let results = txn_commit(&coordinator, 1, vec![commit(2, 2), big])
        .await
        .unwrap();
    assert_eq!(results[0], (tp(2), Ok(())));
    assert!(matches!(
        results[1],
        (_, Err(GroupError::OffsetMetadataTooLarge { .. }))
    ));
    // The refused ones left nothing pending; the accepted ones are.
    let p = offsets_partition(&coordinator);
    write_marker(&coordinator, 1, true).await;
    assert_eq!(coordinator.complete_txn_offsets(p, PID, true), 2);
    assert_eq!(visible(&coordinator), vec![(0, 10), (2, 2)]);
    assert!(coordinator.fetch_offsets("other", None).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_validated_only_when_the_request_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = coordinator(dir.path()).await;
    let join = |member_id: &str| JoinRequest {
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"sub"),
        }],
        require_known_member_id: true,
        supports_skip_assignment: false,
    };
    let GroupError::MemberIdRequired { member_id } =
        coordinator.join(GROUP, join("")).await.unwrap_err()
    else {
        panic!("a member id is required first")
    };
    let joined = coordinator.join(GROUP, join(&member_id)).await.unwrap();
    let generation = joined.generation_id;
    // CompletingRebalance: Kafka accepts transactional commits (not plain ones) here.
    let by_member = |member: &str, generation: i32| {
        let member = member.to_string();
        let coordinator = coordinator.clone();
        async move {
            coordinator
                .txn_commit_offsets(
                    GROUP,
                    "txn",
                    PID,
                    0,
                    &member,
                    None,
                    generation,
                    vec![commit(0, generation.into())],
                )
                .await
        }
    };
    assert!(by_member(&member_id, generation).await.is_ok());
    assert!(matches!(
        by_member(&member_id, generation + 1).await,
        Err(GroupError::IllegalGeneration { .. })
    ));
    assert!(matches!(
        by_member("stranger", generation).await,
        Err(GroupError::UnknownMemberId { .. })
    ));
    // v0-2: no member, no generation; accepted although the group has members.
    assert!(txn_commit(&coordinator, 0, vec![commit(1, 7)])
        .await
        .is_ok());
    let p = offsets_partition(&coordinator);
    assert_eq!(coordinator.complete_txn_offsets(p, PID, false), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_deletion_do_not_drop_pending_offsets_silently() {
    let dir = tempfile::tempdir().unwrap();
    let p;
    {
        let coordinator = coordinator(dir.path()).await;
        p = offsets_partition(&coordinator);
        let shard = coordinator.shards().unwrap()[usize::try_from(p).unwrap()].clone();
        let expire = |days: i64| {
            let effects = shard.expire_offsets(&mut shard.lock(), now_ms() + days * 86_400_000);
            effects.complete()
        };
        coordinator
            .commit_offsets(GROUP, "", None, -1, None, vec![commit(0, 1), commit(1, 1)])
            .await
            .unwrap();
        txn_commit(&coordinator, 0, vec![commit(0, 10)])
            .await
            .unwrap();
        // Past the retention: partition 1 expires; partition 0, with a pending offset,
        // does not, and the group stays.
        expire(8).await;
        assert_eq!(visible(&coordinator), vec![(0, 1)]);
        write_marker(&coordinator, 0, true).await;
        assert_eq!(coordinator.complete_txn_offsets(p, PID, true), 1);
        assert_eq!(visible(&coordinator), vec![(0, 10)]);
        // Nothing pending any more: the group expires whole.
        expire(8).await;
        assert!(visible(&coordinator).is_empty());
        assert!(coordinator.list().unwrap().is_empty());

        // A group holding only pending offsets is kept by expiry and deleted by
        // DeleteGroups with a tombstone for them.
        txn_commit(&coordinator, 0, vec![commit(2, 20)])
            .await
            .unwrap();
        expire(8).await;
        assert_eq!(coordinator.list().unwrap().len(), 1);
        assert_eq!(
            stable(&coordinator)[2],
            (2, Err(GroupError::UnstableOffsetCommit))
        );
        coordinator.delete_group(GROUP).await.unwrap();
        assert_eq!(stable(&coordinator)[2], (2, Ok(None)));
        // The transaction commits afterwards: nothing of it is left to apply.
        write_marker(&coordinator, 0, true).await;
        assert_eq!(coordinator.complete_txn_offsets(p, PID, true), 0);
        assert!(coordinator.list().unwrap().is_empty());
    }
    // The reload agrees: the tombstone superseded the pending offset.
    let coordinator = coordinator(dir.path()).await;
    assert!(coordinator.list().unwrap().is_empty());
    assert_eq!(stable(&coordinator)[2], (2, Ok(None)));
}
