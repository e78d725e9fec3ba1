//! A consumer group written as records, replayed into a new one, and driven on from there.

use std::collections::BTreeSet;

use super::*;
use crate::consumer::api::{
    ConsumerGroupState, ConsumerHeartbeatRequest, ConsumerHeartbeatResponse, TopicId, Topics,
    JOIN_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH,
};
use crate::consumer::RemovalReason;
use crate::records::{decode_record, GroupRecord};

const FOO: TopicId = TopicId([1; 16]);
const BAR: TopicId = TopicId([2; 16]);
const REBALANCE_TIMEOUT: i32 = 30_000;
const SESSION: i64 = 45_000;
/// When the restored group is loaded.
const LOADED_AT: i64 = 1_000_000;

fn topics() -> Topics {
    let mut t = Topics::new();
    t.insert("foo", FOO, 6);
    t.insert("bar", BAR, 2);
    t
}

fn group() -> ConsumerGroup {
    ConsumerGroup::new("g", ConsumerGroupConfig::default(), 7)
}

fn builder() -> ConsumerGroupBuilder {
    ConsumerGroupBuilder::new("g", ConsumerGroupConfig::default(), 8)
}

fn parts(topic: TopicId, partitions: impl IntoIterator<Item = i32>) -> Assignment {
    partitions.into_iter().map(|p| (topic, p)).collect()
}

fn join(member_id: &str, subscription: &[&str]) -> ConsumerHeartbeatRequest {
    ConsumerHeartbeatRequest {
        member_id: member_id.into(),
        member_epoch: JOIN_GROUP_MEMBER_EPOCH,
        rebalance_timeout_ms: REBALANCE_TIMEOUT,
        subscribed_topic_names: Some(subscription.iter().map(|s| (*s).to_owned()).collect()),
        topic_partitions: Some(Assignment::new()),
        client_id: format!("client-{member_id}"),
        client_host: "/127.0.0.1".into(),
        ..Default::default()
    }
}

fn hb(member_id: &str, epoch: i32, owned: Option<Assignment>) -> ConsumerHeartbeatRequest {
    ConsumerHeartbeatRequest {
        member_id: member_id.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        topic_partitions: owned,
        client_id: format!("client-{member_id}"),
        client_host: "/127.0.0.1".into(),
        ..Default::default()
    }
}

/// What a member owns: its assignment and what it has not revoked yet.
fn owned(g: &ConsumerGroup, member_id: &str) -> Assignment {
    let m = g.member(member_id).unwrap();
    m.assigned_partitions
        .iter()
        .chain(m.partitions_pending_revocation.iter())
        .collect()
}

/// Heartbeats every member, each revoking what it was told to, until the group is Stable.
fn settle(g: &mut ConsumerGroup, t: &Topics, now: i64) {
    for _ in 0..10 {
        let ids: Vec<String> = g.members().map(|m| m.member_id.clone()).collect();
        for id in ids {
            let m = g.member(&id).unwrap();
            let req = hb(&id, m.member_epoch, Some(m.assigned_partitions.clone()));
            g.heartbeat(req, t, now).unwrap();
        }
        if g.state() == ConsumerGroupState::Stable {
            return;
        }
    }
    panic!("the group did not settle: {:?}", g.describe(t));
}

/// Through the bytes: every record encoded as Kafka's key and value, decoded back.
fn through_bytes(records: Vec<ConsumerGroupRecord>) -> Vec<ConsumerGroupRecord> {
    records
        .into_iter()
        .map(|record| {
            let key = record.encode_key("g").unwrap();
            let value = record.encode_value().unwrap();
            match decode_record(&key, value.as_deref()).unwrap() {
                GroupRecord::ConsumerGroup { group, record } => {
                    assert_eq!(group, "g");
                    record
                }
                other => panic!("decoded as {other:?}"),
            }
        })
        .collect()
}

fn replay(log: Vec<ConsumerGroupRecord>, now_ms: i64) -> Option<ConsumerGroup> {
    let mut b = builder();
    for record in through_bytes(log) {
        b.replay(record);
    }
    b.finish(now_ms)
}

/// Two members reconciled on foo and bar, then a third joins: at least one of the first two
/// is told to revoke, and has not yet.
fn revoking_group(t: &Topics) -> ConsumerGroup {
    let mut g = group();
    g.heartbeat(join("a", &["foo", "bar"]), t, 0).unwrap();
    g.heartbeat(
        ConsumerHeartbeatRequest {
            instance_id: Some("pod-b".into()),
            rack_id: Some("rack-1".into()),
            server_assignor: Some("uniform".into()),
            ..join("b", &["foo"])
        },
        t,
        0,
    )
    .unwrap();
    settle(&mut g, t, 0);
    g.heartbeat(join("c", &["foo", "bar"]), t, 100).unwrap();
    for id in ["a", "b"] {
        let epoch = g.member(id).unwrap().member_epoch;
        let owned = owned(&g, id);
        g.heartbeat(hb(id, epoch, Some(owned)), t, 200).unwrap();
    }
    assert_eq!(g.state(), ConsumerGroupState::Reconciling);
    assert!(
        g.members()
            .any(|m| m.state == MemberState::UnrevokedPartitions),
        "{:?}",
        g.describe(t)
    );
    g
}

#[test]
fn a_snapshot_replays_into_the_same_group() {
    let t = topics();
    let g = revoking_group(&t);
    let restored = replay(g.records(), LOADED_AT).expect("the group exists");
    assert_eq!(restored.describe(&t), g.describe(&t));
    assert_eq!(restored.records(), g.records());
    assert_eq!(restored.static_member_id("pod-b"), Some("b"));
    assert_eq!(restored.subscription_metadata(), g.subscription_metadata());
    for m in g.members() {
        let r = restored.member(&m.member_id).unwrap();
        assert_eq!(
            (r.previous_member_epoch, &r.partitions_pending_revocation),
            (m.previous_member_epoch, &m.partitions_pending_revocation)
        );
        assert_eq!(r.session_deadline_ms(), LOADED_AT + SESSION);
        let revoking = m.state == MemberState::UnrevokedPartitions;
        assert_eq!(
            r.revocation_deadline_ms(),
            revoking.then_some(LOADED_AT + i64::from(REBALANCE_TIMEOUT)),
        );
    }
}

#[test]
fn records_come_in_kafka_order() {
    let t = topics();
    let g = revoking_group(&t);
    let types: Vec<i16> = g.records().iter().map(|r| r.key_version()).collect();
    assert_eq!(types, [3, 4, 5, 5, 5, 7, 7, 7, 6, 8, 8, 8]);
    assert!(g.records().iter().all(|r| !r.is_tombstone()));
    match &g.records()[0] {
        ConsumerGroupRecord::Metadata { value: Some(v) } => {
            assert_eq!((v.epoch, v.metadata_hash), (g.group_epoch(), 0));
        }
        other => panic!("{other:?}"),
    }
}

/// The same heartbeats on the group and on its restored copy get the same answers.
fn assert_same(
    g: &mut ConsumerGroup,
    restored: &mut ConsumerGroup,
    req: ConsumerHeartbeatRequest,
    t: &Topics,
    now: i64,
) -> ConsumerHeartbeatResponse {
    let expected = g.heartbeat(req.clone(), t, now);
    let got = restored.heartbeat(req, t, now);
    assert_eq!(got, expected);
    assert_eq!(restored.describe(t), g.describe(t));
    got.unwrap()
}

#[test]
fn a_restored_group_goes_on_where_it_left_off() {
    let t = topics();
    let mut g = revoking_group(&t);
    let mut restored = replay(g.records(), LOADED_AT).unwrap();
    let now = LOADED_AT + 1_000;

    // Every member heartbeats with the epoch it had: accepted, nothing is reassigned.
    let epoch_before = g.group_epoch();
    for id in ["a", "b", "c"] {
        let epoch = g.member(id).unwrap().member_epoch;
        let assigned = g.member(id).unwrap().assigned_partitions.clone();
        let r = assert_same(&mut g, &mut restored, hb(id, epoch, None), &t, now);
        assert_eq!(r.member_epoch, epoch, "{id}");
        assert_eq!(restored.member(id).unwrap().assigned_partitions, assigned);
    }
    assert_eq!(restored.group_epoch(), epoch_before);

    // Then the revocations are acknowledged and the group settles the same way.
    for round in 0..4 {
        for id in ["a", "b", "c"] {
            let m = g.member(id).unwrap();
            let req = hb(id, m.member_epoch, Some(m.assigned_partitions.clone()));
            assert_same(&mut g, &mut restored, req, &t, now + 1 + round);
        }
    }
    assert_eq!(restored.state(), ConsumerGroupState::Stable);
    assert_eq!(restored.group_epoch(), epoch_before);

    // A heartbeat with the previous epoch, as after a lost response, is accepted too.
    let c = restored.member("c").unwrap();
    let (previous, assigned) = (c.previous_member_epoch, c.assigned_partitions.clone());
    if previous != c.member_epoch && previous > 0 {
        assert_same(
            &mut g,
            &mut restored,
            hb("c", previous, Some(assigned)),
            &t,
            now + 10,
        );
    }
}

#[test]
fn members_that_do_not_come_back_expire_after_the_load() {
    let t = topics();
    let g = revoking_group(&t);
    let revoking: Vec<String> = g
        .members()
        .filter(|m| m.state == MemberState::UnrevokedPartitions)
        .map(|m| m.member_id.clone())
        .collect();
    let mut restored = replay(g.records(), LOADED_AT).unwrap();
    assert_eq!(
        restored.next_deadline_ms(),
        Some(LOADED_AT + i64::from(REBALANCE_TIMEOUT))
    );
    // The revoking members' rebalance timeout restarted at load.
    let removed = restored.tick(LOADED_AT + i64::from(REBALANCE_TIMEOUT));
    let ids: Vec<&str> = removed.iter().map(|r| r.member_id.as_str()).collect();
    assert_eq!(ids, revoking);
    assert!(removed
        .iter()
        .all(|r| r.reason == RemovalReason::RebalanceTimeout));
    // The others' sessions end a session timeout after the load.
    assert!(restored.tick(LOADED_AT + SESSION - 1).is_empty());
    let removed = restored.tick(LOADED_AT + SESSION);
    assert!(!removed.is_empty());
    assert!(removed
        .iter()
        .all(|r| r.reason == RemovalReason::SessionTimeout));
    assert!(restored.is_empty());
}

#[test]
fn tombstones_remove_members() {
    let t = topics();
    let mut g = revoking_group(&t);
    let mut log = g.records();
    let before = g.member_ids();
    assert_eq!(before, BTreeSet::from(["a".into(), "b".into(), "c".into()]));

    // a leaves, then the rest settle.
    let epoch = g.member("a").unwrap().member_epoch;
    g.heartbeat(hb("a", -1, None), &t, 300).unwrap();
    settle(&mut g, &t, 400);
    let tombstones = g.tombstones_for_removed(&before);
    assert_eq!(
        tombstones,
        [
            ConsumerGroupRecord::CurrentMemberAssignment {
                member_id: "a".into(),
                value: None
            },
            ConsumerGroupRecord::TargetAssignmentMember {
                member_id: "a".into(),
                value: None
            },
            ConsumerGroupRecord::MemberMetadata {
                member_id: "a".into(),
                value: None
            },
        ]
    );
    assert!(epoch > 0);
    log.extend(tombstones);
    log.extend(g.records());
    let restored = replay(log.clone(), LOADED_AT).unwrap();
    assert_eq!(restored.describe(&t), g.describe(&t));
    assert!(restored.member("a").is_none());
    assert_eq!(restored.state(), ConsumerGroupState::Stable);

    // The tombstones may come after the snapshot as well.
    let mut log = revoking_group(&t).records();
    log.extend(g.records());
    log.extend(g.tombstones_for_removed(&before));
    assert_eq!(replay(log, LOADED_AT).unwrap().describe(&t), g.describe(&t));

    // Nothing removed: no tombstones.
    assert!(g.tombstones_for_removed(&g.member_ids()).is_empty());
}

#[test]
fn a_member_metadata_tombstone_alone_removes_the_member() {
    let t = topics();
    let g = revoking_group(&t);
    let mut log = g.records();
    log.push(ConsumerGroupRecord::MemberMetadata {
        member_id: "c".into(),
        value: None,
    });
    let restored = replay(log, LOADED_AT).unwrap();
    assert!(restored.member("c").is_none());
    assert!(restored.target_assignment("c").is_none());
    assert!(!restored.member_ids().contains("c"));
    // c's partitions are free: nobody else claims them.
    assert_eq!(restored.members().count(), 2);
}

#[test]
fn a_removal_cut_short_drops_the_member() {
    let t = topics();
    let g = revoking_group(&t);
    let mut log = g.records();
    // Only the current assignment's tombstone: the member is left at epoch -1, then dropped.
    log.push(ConsumerGroupRecord::CurrentMemberAssignment {
        member_id: "a".into(),
        value: None,
    });
    let restored = replay(log, LOADED_AT).unwrap();
    assert!(restored.member("a").is_none());
    assert!(restored.target_assignment("a").is_none());
}

#[test]
fn deleted_groups_come_back_as_none() {
    let t = topics();
    let mut g = group();
    g.heartbeat(join("a", &["foo"]), &t, 0).unwrap();
    let mut log = g.records();
    let before = g.member_ids();
    g.heartbeat(hb("a", -1, None), &t, 10).unwrap();
    g.delete().unwrap();
    log.extend(g.tombstones_for_removed(&before));
    log.extend(g.tombstones());
    assert_eq!(
        g.tombstones().last(),
        Some(&ConsumerGroupRecord::Metadata { value: None })
    );
    assert!(replay(log.clone(), LOADED_AT).is_none());

    // A group of the same id created afterwards starts over.
    let mut again = group();
    again.heartbeat(join("z", &["bar"]), &t, 20).unwrap();
    log.extend(again.records());
    let restored = replay(log, LOADED_AT).unwrap();
    assert_eq!(restored.describe(&t), again.describe(&t));

    // Tombstones of a group never seen, or nothing at all: no group.
    assert!(replay(group().tombstones(), LOADED_AT).is_none());
    assert!(replay(Vec::new(), LOADED_AT).is_none());
    // An empty group that was not deleted stays, at its epochs.
    let mut empty = group();
    empty.heartbeat(join("a", &["foo"]), &t, 0).unwrap();
    empty.heartbeat(hb("a", -1, None), &t, 1).unwrap();
    let restored = replay(empty.records(), LOADED_AT).unwrap();
    assert_eq!(restored.state(), ConsumerGroupState::Empty);
    assert_eq!(restored.group_epoch(), empty.group_epoch());
}

#[test]
fn a_static_member_away_on_a_temporary_leave_can_come_back() {
    let t = topics();
    let mut g = group();
    let static_join = |id: &str| ConsumerHeartbeatRequest {
        instance_id: Some("pod-1".into()),
        ..join(id, &["foo"])
    };
    g.heartbeat(static_join("s1"), &t, 0).unwrap();
    g.heartbeat(join("x", &["foo"]), &t, 0).unwrap();
    settle(&mut g, &t, 0);
    let leave = ConsumerHeartbeatRequest {
        instance_id: Some("pod-1".into()),
        ..hb("s1", LEAVE_GROUP_STATIC_MEMBER_EPOCH, None)
    };
    g.heartbeat(leave, &t, 10).unwrap();
    let mut restored = replay(g.records(), LOADED_AT).unwrap();
    assert_eq!(
        restored.member("s1").unwrap().member_epoch,
        LEAVE_GROUP_STATIC_MEMBER_EPOCH
    );
    let now = LOADED_AT + 5;
    // The instance rejoins under a new member id and takes s1's place and assignment.
    let r = assert_same(&mut g, &mut restored, static_join("s2"), &t, now);
    assert_eq!(
        r.assignment,
        Some(g.member("s2").unwrap().assigned_partitions.clone())
    );
    assert!(restored.member("s1").is_none());
    assert_eq!(restored.static_member_id("pod-1"), Some("s2"));
}

#[test]
fn replay_follows_kafka_for_partial_and_odd_logs() {
    let t = topics();
    // Records in another order than written (as compaction may leave them).
    let g = revoking_group(&t);
    let mut log = g.records();
    log.reverse();
    assert_eq!(replay(log, LOADED_AT).unwrap().describe(&t), g.describe(&t));

    // A current assignment in a state this version does not know: the member recomputes.
    let mut b = builder();
    b.replay(ConsumerGroupRecord::Metadata {
        value: Some(ConsumerGroupMetadataValue {
            epoch: 1,
            metadata_hash: 99,
        }),
    });
    b.replay(ConsumerGroupRecord::CurrentMemberAssignment {
        member_id: "m".into(),
        value: Some(ConsumerGroupCurrentMemberAssignmentValue {
            member_epoch: 1,
            previous_member_epoch: 0,
            state: 127,
            assigned_partitions: parts(FOO, 0..2),
            partitions_pending_revocation: Assignment::new(),
        }),
    });
    // Another member claiming one of m's partitions: the first in member id order keeps it.
    b.replay(ConsumerGroupRecord::CurrentMemberAssignment {
        member_id: "n".into(),
        value: Some(ConsumerGroupCurrentMemberAssignmentValue {
            member_epoch: 1,
            previous_member_epoch: 0,
            state: 0,
            assigned_partitions: parts(FOO, 1..3),
            partitions_pending_revocation: Assignment::new(),
        }),
    });
    // A target for a member that does not exist is dropped; a target epoch tombstone is -1.
    b.replay(ConsumerGroupRecord::TargetAssignmentMember {
        member_id: "ghost".into(),
        value: Some(ConsumerGroupTargetAssignmentMemberValue {
            partitions: parts(FOO, 5..6),
        }),
    });
    b.replay(ConsumerGroupRecord::TargetAssignmentMetadata { value: None });
    assert!(b.exists());
    assert_eq!(b.group_id(), "g");
    let restored = b.finish(LOADED_AT).unwrap();
    let m = restored.member("m").unwrap();
    assert_eq!(m.state, MemberState::UnreleasedPartitions);
    assert_eq!(m.assigned_partitions, parts(FOO, 0..2));
    assert_eq!(
        restored.member("n").unwrap().assigned_partitions,
        parts(FOO, 2..3)
    );
    assert!(restored.target_assignment("ghost").is_none());
    assert_eq!(restored.assignment_epoch(), DELETED_ASSIGNMENT_EPOCH);
    assert_eq!(restored.group_epoch(), 1);
    // A member created by its assignment alone has no subscription yet.
    assert!(m.subscribed_topic_names.is_empty());
}

#[test]
fn member_states_map_to_kafka_values() {
    for state in [
        MemberState::Stable,
        MemberState::UnrevokedPartitions,
        MemberState::UnreleasedPartitions,
    ] {
        assert_eq!(
            MemberState::from_kafka_value(state.kafka_value()),
            Some(state)
        );
    }
    assert_eq!(MemberState::Stable.kafka_value(), 0);
    assert_eq!(MemberState::UnrevokedPartitions.kafka_value(), 1);
    assert_eq!(MemberState::UnreleasedPartitions.kafka_value(), 2);
    assert_eq!(MemberState::from_kafka_value(127), None);
}

/// A member's regex is written with its subscription record (Kafka's
/// `subscribedTopicRegex`) and its topics are matched again after a load: the restored
/// group describes the same, and the member's next heartbeat keeps its partitions without
/// a new group epoch.
#[test]
fn a_regex_subscription_survives_a_load() {
    let t = topics();
    let mut g = group();
    let r = g
        .heartbeat(
            ConsumerHeartbeatRequest {
                subscribed_topic_names: None,
                subscribed_topic_regex: Some("f.*".into()),
                ..join("a", &[])
            },
            &t,
            0,
        )
        .unwrap();
    let assigned = r.assignment.expect("a full answer");
    assert!(!assigned.is_empty());
    let mut restored = replay(g.records(), LOADED_AT).expect("the group exists");
    assert_eq!(restored.describe(&t), g.describe(&t));
    assert_eq!(restored.records(), g.records());
    let epoch = restored.group_epoch();
    let r = restored
        .heartbeat(hb("a", r.member_epoch, None), &t, LOADED_AT)
        .unwrap();
    assert_eq!(restored.group_epoch(), epoch);
    assert_eq!(restored.member("a").unwrap().assigned_partitions, assigned);
    assert_eq!(r.assignment, None);
}
