//! The service over a real log manager and metadata store in a temporary directory:
//! offsets and group metadata written to `__consumer_offsets` and reloaded.

use std::sync::Arc;

use bytes::Bytes;
use myelin_cluster::{FileMetadataStore, MetadataStore, PartitionManager};
use myelin_log::{LogConfig, LogManager, ManagerConfig};

use super::*;
use crate::api::Protocol;

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

fn join_request(member_id: &str) -> JoinRequest {
    JoinRequest {
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
    }
}

fn commit(topic: &str, partition: i32, offset: i64) -> OffsetCommit {
    OffsetCommit {
        partition: TopicPartition::new(topic, partition),
        offset,
        leader_epoch: Some(0),
        metadata: Some("m".into()),
    }
}

#[test]
fn java_hash_partitioning_matches_kafka() {
    // Java hash codes (computed independently): "my-group" -1_906_497_762, "my-txn"
    // -1_061_187_895, "schema-registry" -2_135_014_679, "connect-cluster" 1_440_343_063.
    // Kafka's Utils.abs negates a negative hash: a mask with 0x7fffffff would give 36, 3
    // and 19 for the first three.
    assert_eq!(partition_for("", 50), 0);
    assert_eq!(partition_for("my-group", 50), 12);
    assert_eq!(partition_for("my-txn", 50), 45);
    assert_eq!(partition_for("schema-registry", 50), 29);
    assert_eq!(partition_for("connect-cluster", 50), 13);
    // Integer.MIN_VALUE has no absolute value: Kafka's Utils.abs makes it 0.
    assert_eq!(partition_for("polygenelubricants", 50), 0);
    assert_eq!(partition_for("my-group", 1), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_survive_reopen_and_tombstones_remove_them() {
    let dir = tempfile::tempdir().unwrap();
    {
        let coordinator = GroupCoordinator::new(open(dir.path()), settings()).unwrap();
        assert_eq!(coordinator.lookup("g").await, CoordinatorLookup::Ready);
        let results = coordinator
            .commit_offsets(
                "g",
                "",
                None,
                -1,
                None,
                vec![commit("t", 0, 5), commit("t", 1, 7)],
            )
            .await
            .unwrap();
        assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
        coordinator
            .commit_offsets("g", "", None, -1, None, vec![commit("t", 0, 9)])
            .await
            .unwrap();
        coordinator
            .commit_offsets("gone", "", None, -1, None, vec![commit("t", 0, 1)])
            .await
            .unwrap();
        coordinator.delete_group("gone").await.unwrap();
        coordinator
            .delete_offsets("g", &[TopicPartition::new("t", 1)])
            .await
            .unwrap();
    }
    let coordinator = GroupCoordinator::new(open(dir.path()), settings()).unwrap();
    let fetched = coordinator.fetch_offsets("g", None).unwrap();
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    let (tp, committed) = &fetched[0];
    assert_eq!(tp, &TopicPartition::new("t", 0));
    let committed = committed.as_ref().unwrap();
    assert_eq!(committed.offset, 9);
    assert_eq!(committed.metadata.as_deref(), Some("m"));
    assert_eq!(committed.leader_epoch, Some(0));
    assert!(coordinator.fetch_offsets("gone", None).unwrap().is_empty());
    let listed: Vec<String> = coordinator
        .list()
        .unwrap()
        .into_iter()
        .map(|l| l.group_id)
        .collect();
    assert_eq!(listed, vec!["g".to_string()]);
}

/// DeleteGroups right after a member's session ended finds the group empty, as Kafka's
/// timers (run on the millisecond) leave it: the due expiry runs first, without waiting
/// for the next timer tick (none runs in this test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_last_session_ended_can_be_deleted_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings();
    settings.group.min_session_timeout_ms = 100;
    let coordinator = GroupCoordinator::new(open(dir.path()), settings).unwrap();
    coordinator.lookup("static").await;
    let join = JoinRequest {
        group_instance_id: Some("instance-1".into()),
        session_timeout_ms: 300,
        ..join_request("")
    };
    // A static member joins with its instance id (no member id round trip).
    let joined = coordinator.join("static", join).await.unwrap();
    let sync = SyncRequest {
        member_id: joined.member_id.clone(),
        group_instance_id: Some("instance-1".into()),
        generation_id: joined.generation_id,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![(joined.member_id.clone(), Bytes::from_static(b"all"))],
    };
    coordinator.sync("static", sync).await.unwrap();
    // Still a member: the group is not empty.
    assert!(matches!(
        coordinator.delete_group("static").await,
        Err(GroupError::NonEmptyGroup { .. })
    ));
    // The member goes silent (a static member's close sends no LeaveGroup).
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    coordinator.delete_group("static").await.unwrap();
    assert!(matches!(
        coordinator.delete_group("static").await,
        Err(GroupError::GroupIdNotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_rebalance_and_the_generation_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (member_a, member_b, generation) = {
        let coordinator = GroupCoordinator::new(open(dir.path()), settings()).unwrap();
        coordinator.lookup("g").await;
        // KIP-394: the first join gets a member id to rejoin with.
        let first = coordinator.join("g", join_request("")).await.unwrap_err();
        let GroupError::MemberIdRequired { member_id: a } = first else {
            panic!("{first:?}")
        };
        let joined = coordinator.join("g", join_request(&a)).await.unwrap();
        assert_eq!(joined.leader, a);
        let sync = SyncRequest {
            member_id: a.clone(),
            group_instance_id: None,
            generation_id: joined.generation_id,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![(a.clone(), Bytes::from_static(b"all"))],
        };
        let assigned = coordinator.sync("g", sync).await.unwrap();
        assert_eq!(&assigned.assignment[..], b"all");

        // A second member: both rejoin, the leader assigns again.
        let GroupError::MemberIdRequired { member_id: b } =
            coordinator.join("g", join_request("")).await.unwrap_err()
        else {
            panic!()
        };
        let c2 = coordinator.clone();
        let b2 = b.clone();
        let join_b = tokio::spawn(async move { c2.join("g", join_request(&b2)).await });
        // A's heartbeat says a rebalance is on; A rejoins.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let hb = HeartbeatRequest {
            member_id: a.clone(),
            group_instance_id: None,
            generation_id: joined.generation_id,
        };
        assert_eq!(
            coordinator.heartbeat("g", hb).await,
            Err(GroupError::RebalanceInProgress)
        );
        let rejoined = coordinator.join("g", join_request(&a)).await.unwrap();
        let joined_b = join_b.await.unwrap().unwrap();
        assert_eq!(rejoined.generation_id, joined_b.generation_id);
        assert_eq!(rejoined.members.len(), 2, "the leader sees both members");
        let generation = rejoined.generation_id;
        let c3 = coordinator.clone();
        let b3 = b.clone();
        let sync_b = tokio::spawn(async move {
            c3.sync(
                "g",
                SyncRequest {
                    member_id: b3,
                    group_instance_id: None,
                    generation_id: generation,
                    protocol_type: None,
                    protocol_name: None,
                    assignments: vec![],
                },
            )
            .await
        });
        let leader_sync = SyncRequest {
            member_id: a.clone(),
            group_instance_id: None,
            generation_id: generation,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: vec![
                (a.clone(), Bytes::from_static(b"half-a")),
                (b.clone(), Bytes::from_static(b"half-b")),
            ],
        };
        assert_eq!(
            &coordinator.sync("g", leader_sync).await.unwrap().assignment[..],
            b"half-a"
        );
        assert_eq!(&sync_b.await.unwrap().unwrap().assignment[..], b"half-b");
        let described = coordinator.describe("g").unwrap();
        assert_eq!(described.state, "Stable");
        assert_eq!(described.members.len(), 2);
        (a, b, generation)
    };
    // After a restart the group is back, Stable, with both members at the same generation.
    let coordinator = GroupCoordinator::new(open(dir.path()), settings()).unwrap();
    let described = coordinator.describe("g").unwrap();
    assert_eq!(described.state, "Stable");
    assert_eq!(described.protocol_name, "range");
    let mut ids: Vec<_> = described
        .members
        .iter()
        .map(|m| m.member_id.clone())
        .collect();
    ids.sort();
    let mut want = vec![member_a.clone(), member_b];
    want.sort();
    assert_eq!(ids, want);
    let hb = HeartbeatRequest {
        member_id: member_a,
        group_instance_id: None,
        generation_id: generation,
    };
    assert_eq!(coordinator.heartbeat("g", hb).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_group_refuses_members_and_generations() {
    let dir = tempfile::tempdir().unwrap();
    let coordinator = GroupCoordinator::new(open(dir.path()), settings()).unwrap();
    // Before the topic exists nothing is coordinated here.
    assert!(matches!(
        coordinator.fetch_offsets("g", None),
        Err(GroupError::CoordinatorNotAvailable)
    ));
    coordinator.lookup("g").await;
    assert!(matches!(
        coordinator
            .commit_offsets("g", "m", None, 3, None, vec![commit("t", 0, 1)])
            .await,
        Err(GroupError::IllegalGeneration { .. })
    ));
    assert!(matches!(
        coordinator.join("g", join_request("someone")).await,
        Err(GroupError::UnknownMemberId { .. })
    ));
    assert!(matches!(
        coordinator.delete_group("g").await,
        Err(GroupError::GroupIdNotFound { .. })
    ));
    assert!(
        coordinator.list().unwrap().is_empty(),
        "failed requests leave no group"
    );
}

/// A group's dynamic configs (KIP-848 GROUP configs) take the broker's place from the
/// next heartbeat on: the heartbeat interval members are given, and the session timeout
/// that expires a silent member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_overrides_apply_from_the_next_heartbeat() {
    use crate::consumer::{Assignment, ConsumerHeartbeatRequest, GroupOverrides, TopicId, Topics};
    let dir = tempfile::tempdir().unwrap();
    let mut topics = Topics::new();
    topics.insert("events", TopicId([7; 16]), 2);
    let coordinator = GroupCoordinator::new(open(dir.path()), settings()).unwrap();
    coordinator.lookup("tuned").await;
    let join = ConsumerHeartbeatRequest {
        member_id: "m1".into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec!["events".into()]),
        topic_partitions: Some(Assignment::new()),
        ..ConsumerHeartbeatRequest::default()
    };
    let r = coordinator
        .consumer_heartbeat("tuned", join, &topics, GroupOverrides::default())
        .await
        .unwrap();
    assert_eq!(
        r.heartbeat_interval_ms,
        settings().consumer.heartbeat_interval_ms
    );
    let beat = ConsumerHeartbeatRequest {
        member_id: "m1".into(),
        member_epoch: r.member_epoch,
        ..ConsumerHeartbeatRequest::default()
    };
    let tuned = GroupOverrides {
        session_timeout_ms: Some(50_000),
        heartbeat_interval_ms: Some(6_000),
    };
    let r = coordinator
        .consumer_heartbeat("tuned", beat.clone(), &topics, tuned)
        .await
        .unwrap();
    assert_eq!(r.heartbeat_interval_ms, 6_000);
    // The override removed: the broker's value again.
    let r = coordinator
        .consumer_heartbeat("tuned", beat, &topics, GroupOverrides::default())
        .await
        .unwrap();
    assert_eq!(
        r.heartbeat_interval_ms,
        settings().consumer.heartbeat_interval_ms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kip848_group_survives_reopen_and_its_members_go_on() {
    use crate::consumer::{Assignment, ConsumerHeartbeatRequest, GroupOverrides, TopicId, Topics};
    let dir = tempfile::tempdir().unwrap();
    let mut topics = Topics::new();
    let id = TopicId([7; 16]);
    topics.insert("events", id, 4);
    let join = |member: &str| ConsumerHeartbeatRequest {
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec!["events".into()]),
        topic_partitions: Some(Assignment::new()),
        ..ConsumerHeartbeatRequest::default()
    };
    let (epoch, owned) = {
        let coordinator = GroupCoordinator::new(open(dir.path()), settings()).unwrap();
        coordinator.lookup("g848").await;
        let r = coordinator
            .consumer_heartbeat("g848", join("m1"), &topics, GroupOverrides::default())
            .await
            .unwrap();
        let owned = r.assignment.clone().unwrap();
        assert_eq!(owned.len(), 4);
        // A second member joins and leaves again: its records are written and tombstoned.
        coordinator
            .consumer_heartbeat("g848", join("m2"), &topics, GroupOverrides::default())
            .await
            .unwrap();
        let leave = ConsumerHeartbeatRequest {
            member_id: "m2".into(),
            member_epoch: -1,
            ..ConsumerHeartbeatRequest::default()
        };
        coordinator
            .consumer_heartbeat("g848", leave, &topics, GroupOverrides::default())
            .await
            .unwrap();
        let r = coordinator
            .consumer_heartbeat(
                "g848",
                ConsumerHeartbeatRequest {
                    member_id: "m1".into(),
                    member_epoch: r.member_epoch,
                    topic_partitions: Some(owned.clone()),
                    ..ConsumerHeartbeatRequest::default()
                },
                &topics,
                GroupOverrides::default(),
            )
            .await
            .unwrap();
        (r.member_epoch, owned)
    };
    let coordinator = GroupCoordinator::new(open(dir.path()), settings()).unwrap();
    let described = coordinator
        .describe_consumer_group("g848", &topics)
        .unwrap();
    let members: Vec<_> = described
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(members, ["m1"], "the member that left stays gone");
    assert_eq!(described.members[0].member_epoch, epoch);
    // The member goes on with the epoch it had, keeping its partitions.
    let r = coordinator
        .consumer_heartbeat(
            "g848",
            ConsumerHeartbeatRequest {
                member_id: "m1".into(),
                member_epoch: epoch,
                topic_partitions: Some(owned.clone()),
                ..ConsumerHeartbeatRequest::default()
            },
            &topics,
            GroupOverrides::default(),
        )
        .await
        .unwrap();
    assert_eq!(r.member_epoch, epoch);
    assert!(r.assignment.is_none_or(|a| a == owned));
    let listed = coordinator.list().unwrap();
    assert_eq!(listed[0].group_type, "consumer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_of_empty_groups_expire_durably() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings();
    s.group.offsets_retention_ms = 50;
    {
        let coordinator = GroupCoordinator::new(open(dir.path()), s.clone()).unwrap();
        coordinator.lookup("g").await;
        coordinator
            .commit_offsets("g", "", None, -1, None, vec![commit("t", 0, 5)])
            .await
            .unwrap();
        // Not yet: the timer's offset expiry has not run.
        coordinator.tick(false).await;
        assert_eq!(coordinator.fetch_offsets("g", None).unwrap().len(), 1);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        coordinator.tick(true).await;
        assert!(coordinator.fetch_offsets("g", None).unwrap().is_empty());
        assert!(
            coordinator.list().unwrap().is_empty(),
            "the empty group is gone"
        );
    }
    // The tombstones were written: nothing comes back after a reopen.
    let coordinator = GroupCoordinator::new(open(dir.path()), s).unwrap();
    assert!(coordinator.fetch_offsets("g", None).unwrap().is_empty());
    assert!(coordinator.list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_the_offsets_topic_small() {
    let dir = tempfile::tempdir().unwrap();
    let partitions = open(dir.path());
    let mut s = settings();
    s.offsets_topic_partitions = 1;
    s.offsets_topic_segment_bytes = 4096;
    let coordinator = GroupCoordinator::new(partitions.clone(), s.clone()).unwrap();
    coordinator.lookup("g").await;
    for i in 0..400 {
        coordinator
            .commit_offsets(
                "g",
                "",
                None,
                -1,
                None,
                vec![commit("t", 0, i), commit("t", 1, i)],
            )
            .await
            .unwrap();
    }
    let log = partitions.logs().get(OFFSETS_TOPIC, 0).unwrap();
    let before = log.size_bytes();
    assert!(log.segment_count() > 2, "commits rolled segments");
    let now = myelin_log::manager::wall_clock_ms();
    partitions.logs().clean_log(&log, now).unwrap();
    let after = log.size_bytes();
    assert!(
        after * 4 < before,
        "compaction keeps the latest offset per key: {before} -> {after} bytes"
    );
    drop(coordinator);
    // The latest offsets are still what a reload sees.
    let coordinator = GroupCoordinator::new(partitions, s).unwrap();
    let mut fetched = coordinator.fetch_offsets("g", None).unwrap();
    fetched.sort_by(|a, b| a.0.cmp(&b.0));
    let offsets: Vec<i64> = fetched
        .iter()
        .map(|(_, o)| o.as_ref().unwrap().offset)
        .collect();
    assert_eq!(offsets, [399, 399]);
}
