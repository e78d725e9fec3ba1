//! Consumer group (KIP-848) scenarios, driven by explicit time.

use super::*;
use crate::error::GroupError;

const FOO: TopicId = TopicId([1; 16]);
const BAR: TopicId = TopicId([2; 16]);
const REBALANCE_TIMEOUT: i32 = 30_000;
const SESSION: i64 = 45_000;

fn topics(foo_partitions: i32, bar_partitions: i32) -> Topics {
    let mut t = Topics::new();
    t.insert("foo", FOO, foo_partitions);
    t.insert("bar", BAR, bar_partitions);
    t
}

fn group() -> ConsumerGroup {
    ConsumerGroup::new("g", ConsumerGroupConfig::default(), 7)
}

fn parts(topic: TopicId, partitions: impl IntoIterator<Item = i32>) -> Assignment {
    partitions.into_iter().map(|p| (topic, p)).collect()
}

/// A join (epoch 0) subscribing to `subscription`.
fn join(member_id: &str, subscription: &[&str]) -> ConsumerHeartbeatRequest {
    ConsumerHeartbeatRequest {
        member_id: member_id.into(),
        member_epoch: JOIN_GROUP_MEMBER_EPOCH,
        rebalance_timeout_ms: REBALANCE_TIMEOUT,
        subscribed_topic_names: Some(subscription.iter().map(|s| (*s).to_owned()).collect()),
        topic_partitions: Some(Assignment::new()),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        ..Default::default()
    }
}

fn static_join(
    member_id: &str,
    instance_id: &str,
    subscription: &[&str],
) -> ConsumerHeartbeatRequest {
    ConsumerHeartbeatRequest {
        instance_id: Some(instance_id.into()),
        ..join(member_id, subscription)
    }
}

/// A regular heartbeat reporting `owned` (None: unchanged since the last one).
fn hb(member_id: &str, epoch: i32, owned: Option<Assignment>) -> ConsumerHeartbeatRequest {
    ConsumerHeartbeatRequest {
        member_id: member_id.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        topic_partitions: owned,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        ..Default::default()
    }
}

fn leave(member_id: &str, epoch: i32, instance_id: Option<&str>) -> ConsumerHeartbeatRequest {
    ConsumerHeartbeatRequest {
        instance_id: instance_id.map(str::to_owned),
        ..hb(member_id, epoch, None)
    }
}

/// a and b on `foo` (4 partitions), reconciled: a owns 0-1, b owns 2-3, at group epoch 2.
fn stable_pair(g: &mut ConsumerGroup, t: &Topics) {
    g.heartbeat(join("a", &["foo"]), t, 0).unwrap();
    g.heartbeat(join("b", &["foo"]), t, 0).unwrap();
    g.heartbeat(hb("a", 1, Some(parts(FOO, 0..4))), t, 0)
        .unwrap();
    g.heartbeat(hb("a", 1, Some(parts(FOO, 0..2))), t, 0)
        .unwrap();
    g.heartbeat(hb("b", 2, Some(Assignment::new())), t, 0)
        .unwrap();
    assert_eq!(g.state(), ConsumerGroupState::Stable);
}

#[test]
fn a_single_member_joins_and_gets_every_partition() {
    let t = topics(4, 2);
    let mut g = group();
    assert_eq!(g.state(), ConsumerGroupState::Empty);
    let r = g.heartbeat(join("a", &["foo"]), &t, 0).unwrap();
    assert_eq!(r.member_id, "a");
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.heartbeat_interval_ms, 5_000);
    assert_eq!(r.assignment, Some(parts(FOO, 0..4)));
    assert_eq!((g.group_epoch(), g.assignment_epoch()), (1, 1));
    assert_eq!(g.state(), ConsumerGroupState::Stable);

    // A plain heartbeat: nothing changed, no assignment in the response.
    let r = g.heartbeat(hb("a", 1, None), &t, 1_000).unwrap();
    assert_eq!((r.member_epoch, r.assignment), (1, None));
    // A full heartbeat (after an error, say) always carries the assignment.
    let full = ConsumerHeartbeatRequest {
        rebalance_timeout_ms: REBALANCE_TIMEOUT,
        subscribed_topic_names: Some(vec!["foo".into()]),
        ..hb("a", 1, Some(parts(FOO, 0..4)))
    };
    let r = g.heartbeat(full, &t, 2_000).unwrap();
    assert_eq!(r.assignment, Some(parts(FOO, 0..4)));
    assert_eq!(
        g.group_epoch(),
        1,
        "the same subscription does not bump the epoch"
    );
}

#[test]
fn a_second_member_gets_partitions_only_after_the_first_revokes_them() {
    let t = topics(4, 2);
    let mut g = group();
    g.heartbeat(join("a", &["foo"]), &t, 0).unwrap();

    // b joins: epoch 2, target a = 0-1, b = 2-3; b must wait for a.
    let r = g.heartbeat(join("b", &["foo"]), &t, 0).unwrap();
    assert_eq!(r.member_epoch, 2);
    assert_eq!(r.assignment, Some(Assignment::new()));
    assert_eq!(g.target_assignment("a"), Some(&parts(FOO, 0..2)));
    assert_eq!(g.target_assignment("b"), Some(&parts(FOO, 2..4)));
    assert_eq!(
        g.member("b").unwrap().state,
        MemberState::UnreleasedPartitions
    );
    assert_eq!(g.state(), ConsumerGroupState::Reconciling);

    // a is told to keep 0-1: 2-3 are pending revocation, a stays at epoch 1.
    let r = g
        .heartbeat(hb("a", 1, Some(parts(FOO, 0..4))), &t, 100)
        .unwrap();
    assert_eq!(r.member_epoch, 1);
    assert_eq!(r.assignment, Some(parts(FOO, 0..2)));
    let a = g.member("a").unwrap();
    assert_eq!(a.state, MemberState::UnrevokedPartitions);
    assert_eq!(a.partitions_pending_revocation, parts(FOO, 2..4));

    // b still waits while a owns them.
    let r = g
        .heartbeat(hb("b", 2, Some(Assignment::new())), &t, 200)
        .unwrap();
    assert_eq!((r.member_epoch, r.assignment), (2, None));
    // a reporting all four again changes nothing.
    let r = g
        .heartbeat(hb("a", 1, Some(parts(FOO, 0..4))), &t, 300)
        .unwrap();
    assert_eq!((r.member_epoch, r.assignment), (1, None));

    // a acknowledges: it moves to epoch 2 with the same partitions.
    let r = g
        .heartbeat(hb("a", 1, Some(parts(FOO, 0..2))), &t, 400)
        .unwrap();
    assert_eq!((r.member_epoch, r.assignment), (2, None));
    assert_eq!(g.member("a").unwrap().state, MemberState::Stable);

    // Now b gets 2-3.
    let r = g.heartbeat(hb("b", 2, None), &t, 500).unwrap();
    assert_eq!((r.member_epoch, r.assignment), (2, Some(parts(FOO, 2..4))));
    assert_eq!(g.state(), ConsumerGroupState::Stable);
}

#[test]
fn a_member_that_leaves_gives_everything_to_the_other() {
    let t = topics(4, 2);
    let mut g = group();
    stable_pair(&mut g, &t);
    let r = g
        .heartbeat(leave("a", LEAVE_GROUP_MEMBER_EPOCH, None), &t, 1_000)
        .unwrap();
    assert_eq!(
        (r.member_id.as_str(), r.member_epoch, r.assignment),
        ("a", -1, None)
    );
    assert!(g.member("a").is_none());
    assert_eq!(g.group_epoch(), 3);
    assert_eq!(g.state(), ConsumerGroupState::Assigning);

    let r = g.heartbeat(hb("b", 2, None), &t, 1_000).unwrap();
    assert_eq!((r.member_epoch, r.assignment), (3, Some(parts(FOO, 0..4))));
    assert_eq!(g.state(), ConsumerGroupState::Stable);

    // A second leave of a is refused.
    let err = g.heartbeat(leave("a", LEAVE_GROUP_MEMBER_EPOCH, None), &t, 1_000);
    assert!(matches!(err, Err(GroupError::UnknownMemberId { .. })));
    // And so is a heartbeat from it.
    let err = g.heartbeat(hb("a", 2, None), &t, 1_000);
    assert!(matches!(err, Err(GroupError::UnknownMemberId { .. })));

    // The last member leaving empties the group.
    g.heartbeat(leave("b", LEAVE_GROUP_MEMBER_EPOCH, None), &t, 2_000)
        .unwrap();
    assert_eq!(g.state(), ConsumerGroupState::Empty);
    assert!(g.delete().is_ok());
    assert_eq!(g.state(), ConsumerGroupState::Dead);
}

#[test]
fn a_member_whose_session_expires_is_removed() {
    let t = topics(4, 2);
    let mut g = group();
    stable_pair(&mut g, &t);
    assert_eq!(g.next_deadline_ms(), Some(SESSION));
    g.heartbeat(hb("b", 2, None), &t, 30_000).unwrap();
    assert_eq!(
        g.next_deadline_ms(),
        Some(SESSION),
        "a's session ends first"
    );
    assert!(g.tick(SESSION - 1).is_empty());

    let removed = g.tick(SESSION);
    assert_eq!(
        removed,
        vec![RemovedMember {
            member_id: "a".into(),
            instance_id: None,
            reason: RemovalReason::SessionTimeout,
        }]
    );
    assert_eq!(g.next_deadline_ms(), Some(30_000 + SESSION));
    let r = g.heartbeat(hb("b", 2, None), &t, SESSION + 1).unwrap();
    assert_eq!((r.member_epoch, r.assignment), (3, Some(parts(FOO, 0..4))));
}

#[test]
fn a_member_that_does_not_revoke_in_time_is_removed() {
    let t = topics(4, 2);
    let mut g = group();
    g.heartbeat(join("a", &["foo"]), &t, 0).unwrap();
    g.heartbeat(join("b", &["foo"]), &t, 0).unwrap();
    g.heartbeat(hb("a", 1, Some(parts(FOO, 0..4))), &t, 1_000)
        .unwrap();
    let deadline = 1_000 + i64::from(REBALANCE_TIMEOUT);
    assert_eq!(
        g.member("a").unwrap().revocation_deadline_ms(),
        Some(deadline)
    );
    // a keeps heartbeating but never lets go of 2-3.
    g.heartbeat(hb("a", 1, Some(parts(FOO, 0..4))), &t, 20_000)
        .unwrap();
    g.heartbeat(hb("b", 2, None), &t, 20_000).unwrap();
    assert_eq!(g.next_deadline_ms(), Some(deadline));
    let removed = g.tick(deadline);
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].member_id, "a");
    assert_eq!(removed[0].reason, RemovalReason::RebalanceTimeout);

    let r = g.heartbeat(hb("b", 2, None), &t, deadline).unwrap();
    assert_eq!((r.member_epoch, r.assignment), (3, Some(parts(FOO, 0..4))));
}

#[test]
fn heartbeats_with_a_wrong_epoch_are_fenced() {
    let t = topics(4, 2);
    let mut g = group();
    stable_pair(&mut g, &t);
    // Ahead of the member.
    let err = g.heartbeat(hb("a", 3, None), &t, 0).unwrap_err();
    assert_eq!(
        err,
        GroupError::FencedMemberEpoch {
            member_epoch: 3,
            current_member_epoch: 2
        }
    );
    // The previous epoch is accepted when the member owns no more than it is assigned (the
    // response that moved it to epoch 2 was lost)...
    let r = g
        .heartbeat(hb("a", 1, Some(parts(FOO, 0..2))), &t, 0)
        .unwrap();
    assert_eq!(r.member_epoch, 2);
    // ...but not when it owns more, nor without saying what it owns.
    assert!(matches!(
        g.heartbeat(hb("a", 1, Some(parts(FOO, 0..3))), &t, 0),
        Err(GroupError::FencedMemberEpoch { .. })
    ));
    assert!(matches!(
        g.heartbeat(hb("a", 1, None), &t, 0),
        Err(GroupError::FencedMemberEpoch { .. })
    ));
    // A fenced member rejoins with epoch 0 and the same id: it gets its state back.
    let r = g.heartbeat(join("a", &["foo"]), &t, 0).unwrap();
    assert_eq!((r.member_epoch, r.assignment), (2, Some(parts(FOO, 0..2))));
    assert_eq!(g.group_epoch(), 2);
    // Unknown members are told so.
    assert!(matches!(
        g.heartbeat(hb("zed", 2, None), &t, 0),
        Err(GroupError::UnknownMemberId { .. })
    ));
    // Epochs older than the previous one are fenced, whatever the member owns.
    g.heartbeat(leave("b", LEAVE_GROUP_MEMBER_EPOCH, None), &t, 0)
        .unwrap();
    let r = g
        .heartbeat(hb("a", 2, Some(parts(FOO, 0..2))), &t, 0)
        .unwrap();
    assert_eq!(r.member_epoch, 3);
    assert!(matches!(
        g.heartbeat(hb("a", 1, Some(Assignment::new())), &t, 0),
        Err(GroupError::FencedMemberEpoch { .. })
    ));
}

#[test]
fn range_and_uniform_assign_differently() {
    let t = topics(3, 3);
    for (assignor, a_count, b_count) in [("uniform", 3, 3), ("range", 4, 2)] {
        let mut g = group();
        for id in ["a", "b"] {
            let req = ConsumerHeartbeatRequest {
                server_assignor: Some(assignor.into()),
                ..join(id, &["foo", "bar"])
            };
            g.heartbeat(req, &t, 0).unwrap();
        }
        assert_eq!(g.preferred_assignor().name(), assignor);
        assert_eq!(
            g.target_assignment("a").unwrap().len(),
            a_count,
            "{assignor}"
        );
        assert_eq!(
            g.target_assignment("b").unwrap().len(),
            b_count,
            "{assignor}"
        );
        if assignor == "range" {
            let mut a = parts(FOO, 0..2);
            a.insert(BAR, 0);
            a.insert(BAR, 1);
            assert_eq!(g.target_assignment("a"), Some(&a));
        }
    }
}

#[test]
fn more_partitions_bump_the_epoch_and_are_assigned() {
    let mut t = topics(4, 2);
    let mut g = group();
    g.heartbeat(join("a", &["foo"]), &t, 0).unwrap();
    assert_eq!(g.group_epoch(), 1);
    t.insert("foo", FOO, 6);
    let r = g.heartbeat(hb("a", 1, None), &t, 1_000).unwrap();
    assert_eq!(g.group_epoch(), 2);
    assert_eq!((r.member_epoch, r.assignment), (2, Some(parts(FOO, 0..6))));
    // The same metadata again changes nothing.
    let r = g.heartbeat(hb("a", 2, None), &t, 2_000).unwrap();
    assert_eq!((g.group_epoch(), r.assignment), (2, None));
}

#[test]
fn a_topic_created_later_is_assigned_once_it_exists() {
    let mut t = Topics::new();
    let mut g = group();
    let r = g.heartbeat(join("a", &["foo"]), &t, 0).unwrap();
    assert_eq!((r.member_epoch, r.assignment), (1, Some(Assignment::new())));
    t.insert("foo", FOO, 2);
    let r = g.heartbeat(hb("a", 1, None), &t, 1_000).unwrap();
    assert_eq!((r.member_epoch, r.assignment), (2, Some(parts(FOO, 0..2))));
    // Deleted: the member must revoke.
    t.remove("foo");
    let r = g
        .heartbeat(hb("a", 2, Some(parts(FOO, 0..2))), &t, 2_000)
        .unwrap();
    assert_eq!((r.member_epoch, r.assignment), (2, Some(Assignment::new())));
    let r = g
        .heartbeat(hb("a", 2, Some(Assignment::new())), &t, 3_000)
        .unwrap();
    assert_eq!(r.member_epoch, 3);
}

#[test]
fn a_subscription_change_revokes_and_assigns() {
    let t = topics(2, 2);
    let mut g = group();
    g.heartbeat(join("a", &["foo"]), &t, 0).unwrap();
    let change = ConsumerHeartbeatRequest {
        subscribed_topic_names: Some(vec!["bar".into()]),
        ..hb("a", 1, Some(parts(FOO, 0..2)))
    };
    let r = g.heartbeat(change, &t, 1_000).unwrap();
    // foo goes first; bar is free but comes with the next epoch, after the revocation.
    assert_eq!((r.member_epoch, r.assignment), (1, Some(Assignment::new())));
    assert!(!g.is_subscribed_to_topic("foo"));
    let r = g
        .heartbeat(hb("a", 1, Some(Assignment::new())), &t, 2_000)
        .unwrap();
    assert_eq!((r.member_epoch, r.assignment), (2, Some(parts(BAR, 0..2))));
}

#[test]
fn a_static_member_rejoining_keeps_its_assignment() {
    let t = topics(4, 2);
    let mut g = group();
    g.heartbeat(static_join("a", "inst-a", &["foo"]), &t, 0)
        .unwrap();
    g.heartbeat(join("b", &["foo"]), &t, 0).unwrap();
    g.heartbeat(hb("a", 1, Some(parts(FOO, 0..4))), &t, 0)
        .unwrap();
    g.heartbeat(hb("a", 1, Some(parts(FOO, 0..2))), &t, 0)
        .unwrap();
    g.heartbeat(hb("b", 2, None), &t, 0).unwrap();
    assert_eq!(g.state(), ConsumerGroupState::Stable);

    // Another process with the same instance id while a is active: refused.
    let err = g
        .heartbeat(static_join("a2", "inst-a", &["foo"]), &t, 1_000)
        .unwrap_err();
    assert!(
        matches!(err, GroupError::UnreleasedInstanceId { .. }),
        "{err:?}"
    );

    // a leaves temporarily: it keeps its partitions, nothing is reassigned.
    let r = g
        .heartbeat(
            leave("a", LEAVE_GROUP_STATIC_MEMBER_EPOCH, Some("inst-a")),
            &t,
            2_000,
        )
        .unwrap();
    assert_eq!(r.member_epoch, -2);
    assert_eq!(g.group_epoch(), 2);
    let r = g.heartbeat(hb("b", 2, None), &t, 3_000).unwrap();
    assert_eq!((r.member_epoch, r.assignment), (2, None));

    // The restarted process joins with a new member id and the same instance id.
    let r = g
        .heartbeat(static_join("a2", "inst-a", &["foo"]), &t, 4_000)
        .unwrap();
    assert_eq!((r.member_id.as_str(), r.member_epoch), ("a2", 2));
    assert_eq!(r.assignment, Some(parts(FOO, 0..2)));
    assert_eq!(
        g.group_epoch(),
        2,
        "a static rejoin is not a membership change"
    );
    assert!(g.member("a").is_none());
    assert_eq!(g.static_member_id("inst-a"), Some("a2"));
    assert_eq!(g.state(), ConsumerGroupState::Stable);

    // The old id is fenced by the instance id's new owner.
    let err = g.heartbeat(
        leave("a", LEAVE_GROUP_MEMBER_EPOCH, Some("inst-a")),
        &t,
        5_000,
    );
    assert!(matches!(err, Err(GroupError::FencedInstanceId { .. })));
}

#[test]
fn a_static_member_that_does_not_come_back_is_removed_with_its_session() {
    let t = topics(4, 2);
    let mut g = group();
    g.heartbeat(static_join("a", "inst-a", &["foo"]), &t, 0)
        .unwrap();
    g.heartbeat(
        leave("a", LEAVE_GROUP_STATIC_MEMBER_EPOCH, Some("inst-a")),
        &t,
        1_000,
    )
    .unwrap();
    // Its partitions stay held for it.
    g.heartbeat(join("b", &["foo"]), &t, 2_000).unwrap();
    assert_eq!(g.member("b").unwrap().assigned_partitions.len(), 0);
    let removed = g.tick(SESSION);
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].instance_id.as_deref(), Some("inst-a"));
    assert_eq!(g.static_member_id("inst-a"), None);
    let r = g.heartbeat(hb("b", 2, None), &t, SESSION).unwrap();
    assert_eq!(r.assignment, Some(parts(FOO, 0..4)));
}

#[test]
fn a_static_member_may_rejoin_under_its_own_member_id() {
    let t = topics(4, 2);
    let mut g = group();
    g.heartbeat(static_join("a", "inst-a", &["foo"]), &t, 0)
        .unwrap();
    g.heartbeat(
        leave("a", LEAVE_GROUP_STATIC_MEMBER_EPOCH, Some("inst-a")),
        &t,
        1_000,
    )
    .unwrap();
    assert_eq!(g.member("a").unwrap().member_epoch, -2);
    let r = g
        .heartbeat(static_join("a", "inst-a", &["foo"]), &t, 2_000)
        .unwrap();
    assert_eq!((r.member_epoch, r.assignment), (1, Some(parts(FOO, 0..4))));
    assert_eq!(g.group_epoch(), 1);
    // A known member id may not take another instance id.
    let err = g
        .heartbeat(static_join("a", "inst-b", &["foo"]), &t, 3_000)
        .unwrap_err();
    assert!(matches!(err, GroupError::InvalidRequest { .. }), "{err:?}");
}

#[test]
fn a_member_rejoining_while_revoking_moves_on() {
    let t = topics(4, 2);
    let mut g = group();
    g.heartbeat(join("a", &["foo"]), &t, 0).unwrap();
    g.heartbeat(join("b", &["foo"]), &t, 0).unwrap();
    g.heartbeat(hb("a", 1, Some(parts(FOO, 0..4))), &t, 0)
        .unwrap();
    assert_eq!(
        g.member("a").unwrap().state,
        MemberState::UnrevokedPartitions
    );
    // a was fenced on its side (lost its partitions) and rejoins with epoch 0: it owns
    // nothing, so the revocation is done.
    let r = g.heartbeat(join("a", &["foo"]), &t, 1_000).unwrap();
    assert_eq!((r.member_epoch, r.assignment), (2, Some(parts(FOO, 0..2))));
    let r = g.heartbeat(hb("b", 2, None), &t, 1_000).unwrap();
    assert_eq!(r.assignment, Some(parts(FOO, 2..4)));
    assert_eq!(g.state(), ConsumerGroupState::Stable);
}

#[test]
fn v0_joins_get_a_generated_member_id() {
    let t = topics(1, 1);
    let mut g = group();
    let r1 = g.heartbeat(join("", &["foo"]), &t, 0).unwrap();
    let r2 = g.heartbeat(join("", &["foo"]), &t, 0).unwrap();
    assert_eq!(r1.member_id.len(), 22);
    assert_ne!(r1.member_id, r2.member_id);
    assert!(g.member(&r1.member_id).is_some());
}

#[test]
fn invalid_requests_are_refused_without_changes() {
    let t = topics(1, 1);
    let mut g = group();
    let no_timeout = ConsumerHeartbeatRequest {
        rebalance_timeout_ms: -1,
        ..join("a", &["foo"])
    };
    let owned_on_join = ConsumerHeartbeatRequest {
        topic_partitions: Some(parts(FOO, [0])),
        ..join("a", &["foo"])
    };
    let no_subscription = ConsumerHeartbeatRequest {
        subscribed_topic_names: None,
        ..join("a", &["foo"])
    };
    let bad_epoch = hb("a", -3, None);
    let no_id = hb("", 1, None);
    for req in [no_timeout, owned_on_join, no_subscription, bad_epoch, no_id] {
        let err = g.heartbeat(req.clone(), &t, 0).unwrap_err();
        assert!(
            matches!(err, GroupError::InvalidRequest { .. }),
            "{req:?}: {err:?}"
        );
    }
    let unknown_assignor = ConsumerHeartbeatRequest {
        server_assignor: Some("sticky".into()),
        ..join("a", &["foo"])
    };
    let err = g.heartbeat(unknown_assignor, &t, 0).unwrap_err();
    assert!(
        matches!(err, GroupError::UnsupportedAssignor { .. }),
        "{err:?}"
    );
    assert!(g.is_empty());
    assert_eq!(g.group_epoch(), 0);
}

#[test]
fn the_group_size_is_capped() {
    let t = topics(1, 1);
    let config = ConsumerGroupConfig {
        max_size: 1,
        ..ConsumerGroupConfig::default()
    };
    let mut g = ConsumerGroup::new("g", config, 0);
    g.heartbeat(join("a", &["foo"]), &t, 0).unwrap();
    let err = g.heartbeat(join("b", &["foo"]), &t, 0).unwrap_err();
    assert_eq!(err, GroupError::GroupMaxSizeReached { max_size: 1 });
    // The existing member may still rejoin.
    g.heartbeat(join("a", &["foo"]), &t, 0).unwrap();
}

#[test]
fn offset_commits_must_carry_the_member_epoch() {
    let t = topics(4, 2);
    let mut g = group();
    assert_eq!(
        g.validate_offset_commit("", -1),
        Ok(()),
        "simple commit to an empty group"
    );
    stable_pair(&mut g, &t);
    assert_eq!(g.validate_offset_commit("a", 2), Ok(()));
    assert_eq!(
        g.validate_offset_commit("a", 1),
        Err(GroupError::StaleMemberEpoch {
            member_epoch: 1,
            current_member_epoch: 2
        })
    );
    assert!(matches!(
        g.validate_offset_commit("", -1),
        Err(GroupError::UnknownMemberId { .. })
    ));
    assert_eq!(g.validate_offset_fetch(None, -1), Ok(()));
    assert!(matches!(
        g.validate_offset_fetch(Some("b"), 1),
        Err(GroupError::StaleMemberEpoch { .. })
    ));
}

#[test]
fn describe_reports_members_with_current_and_target_assignments() {
    let t = topics(4, 2);
    let mut g = group();
    g.heartbeat(join("a", &["foo"]), &t, 0).unwrap();
    let rack = ConsumerHeartbeatRequest {
        rack_id: Some("r1".into()),
        ..join("b", &["foo"])
    };
    g.heartbeat(rack, &t, 0).unwrap();
    let d = g.describe(&t);
    assert_eq!(d.group_id, "g");
    assert_eq!(d.state.kafka_name(), "Reconciling");
    assert_eq!((d.group_epoch, d.assignment_epoch), (2, 2));
    assert_eq!(d.assignor_name, "uniform");
    assert_eq!(d.members.len(), 2);
    let a = &d.members[0];
    assert_eq!((a.member_id.as_str(), a.member_epoch), ("a", 1));
    assert_eq!(a.assignment.len(), 1);
    assert_eq!(a.assignment[0].topic_name, "foo");
    assert_eq!(a.assignment[0].partitions, vec![0, 1, 2, 3]);
    assert_eq!(a.target_assignment[0].partitions, vec![0, 1]);
    let b = &d.members[1];
    assert_eq!(b.rack_id.as_deref(), Some("r1"));
    assert_eq!(b.subscribed_topic_names, vec!["foo".to_owned()]);
    assert!(b.assignment.is_empty());
    assert_eq!(b.target_assignment[0].partitions, vec![2, 3]);
    assert_eq!(b.state, MemberState::UnreleasedPartitions);
}

#[test]
fn topic_ids_print_like_kafka_uuids() {
    assert_eq!(TopicId([0; 16]).to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(TopicId([0xff; 16]).to_string(), "_____________________w");
}

#[test]
fn config_defaults_and_assignor_list() {
    let c = ConsumerGroupConfig::default();
    assert_eq!(
        (c.session_timeout_ms, c.heartbeat_interval_ms),
        (45_000, 5_000)
    );
    assert_eq!(c.default_assignor(), ServerAssignor::Uniform);
    assert!(c.validate().is_ok());
    assert_eq!(
        ConsumerGroupConfig::parse_assignors("range, uniform"),
        Ok(vec![ServerAssignor::Range, ServerAssignor::Uniform])
    );
    assert!(ConsumerGroupConfig::parse_assignors("sticky").is_err());
    let bad = ConsumerGroupConfig {
        heartbeat_interval_ms: 45_000,
        ..c
    };
    assert!(bad.validate().is_err());
}

/// KIP-848 regex subscriptions: the coordinator resolves the regex against whole topic
/// names, never internal topics, at each of the member's heartbeats, so a topic created
/// later is assigned without the member asking; a regex that does not compile is refused
/// with INVALID_REGULAR_EXPRESSION, and an empty one drops the regex.
#[test]
fn a_regex_subscription_follows_the_topics_it_matches() {
    const FOX: TopicId = TopicId([3; 16]);
    let mut t = topics(2, 2);
    t.insert("__consumer_offsets", TopicId([9; 16]), 3);
    t.insert("xfoo", TopicId([8; 16]), 1);
    let mut g = group();
    let by_regex = ConsumerHeartbeatRequest {
        subscribed_topic_names: None,
        subscribed_topic_regex: Some("fo.*|__.*".into()),
        ..join("a", &[])
    };
    let r = g.heartbeat(by_regex, &t, 0).unwrap();
    // foo matches; bar does not, xfoo only in part, __consumer_offsets is internal.
    assert_eq!(r.assignment, Some(parts(FOO, 0..2)));
    let epoch = g.group_epoch();

    // Nothing new: a plain heartbeat changes nothing.
    let r = g
        .heartbeat(hb("a", r.member_epoch, None), &t, 1_000)
        .unwrap();
    assert_eq!((r.assignment, g.group_epoch()), (None, epoch));

    // A topic the regex matches appears: the next heartbeat assigns it.
    t.insert("fox", FOX, 3);
    let r = g
        .heartbeat(hb("a", r.member_epoch, None), &t, 2_000)
        .unwrap();
    assert_eq!(g.group_epoch(), epoch + 1);
    let want: Assignment = [(FOO, 0), (FOO, 1), (FOX, 0), (FOX, 1), (FOX, 2)]
        .into_iter()
        .collect();
    assert_eq!(r.assignment, Some(want));

    // Described with the regex and no names.
    let d = g.describe(&t);
    assert_eq!(
        d.members[0].subscribed_topic_regex.as_deref(),
        Some("fo.*|__.*")
    );
    assert!(d.members[0].subscribed_topic_names.is_empty());

    // Names beside the regex are added to it; an empty regex removes it.
    let names_only = ConsumerHeartbeatRequest {
        subscribed_topic_names: Some(vec!["bar".into()]),
        subscribed_topic_regex: Some(String::new()),
        ..hb("a", r.member_epoch, None)
    };
    g.heartbeat(names_only, &t, 3_000).unwrap();
    assert_eq!(g.group_epoch(), epoch + 2);
    let d = g.describe(&t);
    assert_eq!(d.members[0].subscribed_topic_regex, None);
    assert_eq!(d.members[0].subscribed_topic_names, ["bar"]);

    // A regex that does not compile.
    let bad = ConsumerHeartbeatRequest {
        subscribed_topic_regex: Some("fo(".into()),
        ..join("b", &[])
    };
    let err = g.heartbeat(bad, &t, 4_000).unwrap_err();
    assert!(
        matches!(err, GroupError::InvalidRegularExpression { .. }),
        "{err:?}"
    );
}
