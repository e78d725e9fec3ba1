//! Scenarios that real clients exercise, driven by explicit time.

use bytes::Bytes;

use crate::*;

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

fn config(initial_delay_ms: i64) -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: initial_delay_ms,
        ..GroupConfig::default()
    }
}

fn group(initial_delay_ms: i64) -> ClassicGroup {
    ClassicGroup::new("g", config(initial_delay_ms), 0, 0)
}

fn req(member_id: &str, instance: Option<&str>, protocols: &[(&str, &str)]) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_owned(),
        group_instance_id: instance.map(str::to_owned),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|(n, m)| Protocol {
                name: (*n).into(),
                metadata: Bytes::from(m.to_string()),
            })
            .collect(),
        require_known_member_id: true,
        supports_skip_assignment: false,
    }
}

const RANGE: &[(&str, &str)] = &[("range", "topics")];

/// KIP-394 join: MemberIdRequired, then a join with the generated id.
fn join_new(g: &mut ClassicGroup, now: i64) -> (String, Outcome<JoinOutcome>) {
    let first = g.join(req("", None, RANGE), now);
    let JoinOutcome::Respond(Err(GroupError::MemberIdRequired { member_id })) = first.response
    else {
        panic!("expected MemberIdRequired, got {first:?}");
    };
    let second = g.join(req(&member_id, None, RANGE), now);
    (member_id, second)
}

fn join_reply<'a>(replies: &'a [Reply], member: &str) -> &'a JoinResponse {
    replies
        .iter()
        .find_map(|r| match r {
            Reply::Join {
                member_id,
                result: Ok(resp),
            } if member_id == member => Some(resp),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no join reply for {member} in {replies:?}"))
}

fn sync_reply<'a>(replies: &'a [Reply], member: &str) -> &'a Result<SyncResponse, GroupError> {
    replies
        .iter()
        .find_map(|r| match r {
            Reply::Sync { member_id, result } if member_id == member => Some(result),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no sync reply for {member} in {replies:?}"))
}

fn sync(member: &str, generation_id: i32, assignments: &[(&str, &str)]) -> SyncRequest {
    SyncRequest {
        member_id: member.into(),
        group_instance_id: None,
        generation_id,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: assignments
            .iter()
            .map(|(m, a)| ((*m).to_owned(), Bytes::from(a.to_string())))
            .collect(),
    }
}

fn hb(member: &str, generation_id: i32) -> HeartbeatRequest {
    HeartbeatRequest {
        member_id: member.into(),
        group_instance_id: None,
        generation_id,
    }
}

/// Two members join (initial delay 0 for the first), the leader syncs; returns (leader,
/// follower) in a Stable group of generation 2.
fn stable_pair(g: &mut ClassicGroup) -> (String, String) {
    let (a, out) = join_new(g, 0);
    // Delay 0: the first member's join completes at once, generation 1.
    assert_eq!(
        out.response,
        JoinOutcome::Deferred {
            member_id: a.clone()
        }
    );
    assert_eq!(join_reply(&out.replies, &a).generation_id, 1);
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    let (b, out) = join_new(g, 10);
    assert!(matches!(out.response, JoinOutcome::Deferred { .. }));
    assert!(out.replies.is_empty());
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    // The first member rejoins (its heartbeat says RebalanceInProgress).
    assert_eq!(
        g.heartbeat(&hb(&a, 1), 20),
        Err(GroupError::RebalanceInProgress)
    );
    let out = g.join(req(&a, None, RANGE), 30);
    let leader = join_reply(&out.replies, &a);
    let follower = join_reply(&out.replies, &b);
    assert_eq!(leader.generation_id, 2);
    assert_eq!(leader.leader, a);
    assert_eq!(leader.members.len(), 2);
    assert!(follower.members.is_empty());
    assert_eq!(follower.protocol_name.as_deref(), Some("range"));
    // The follower syncs first and waits for the leader.
    let out = g.sync(sync(&b, 2, &[]), 40);
    assert_eq!(
        out.response,
        SyncOutcome::Deferred {
            member_id: b.clone()
        }
    );
    assert!(out.replies.is_empty());
    let out = g.sync(sync(&a, 2, &[(&a, "p0,p1"), (&b, "p2")]), 50);
    assert!(out.persist);
    assert_eq!(
        sync_reply(&out.replies, &a).as_ref().unwrap().assignment,
        "p0,p1"
    );
    assert_eq!(
        sync_reply(&out.replies, &b).as_ref().unwrap().assignment,
        "p2"
    );
    assert_eq!(g.state(), GroupState::Stable);
    (a, b)
}

#[test]
fn two_consumers_join_and_the_leader_syncs() {
    let mut g = group(0);
    let (a, b) = stable_pair(&mut g);
    assert_eq!(g.heartbeat(&hb(&a, 2), 100), Ok(()));
    assert_eq!(g.heartbeat(&hb(&b, 2), 100), Ok(()));
    assert!(matches!(
        g.heartbeat(&hb(&b, 1), 100),
        Err(GroupError::IllegalGeneration { .. })
    ));
    assert!(matches!(
        g.heartbeat(&hb("nobody", 2), 100),
        Err(GroupError::UnknownMemberId { .. })
    ));
    // A late follower sync in Stable gets its assignment at once.
    let out = g.sync(sync(&b, 2, &[]), 110);
    let SyncOutcome::Respond(Ok(resp)) = out.response else {
        panic!("{out:?}")
    };
    assert_eq!(resp.assignment, "p2");
}

#[test]
fn initial_rebalance_delay_holds_the_first_generation() {
    let mut g = group(3_000);
    let (a, out) = join_new(&mut g, 0);
    assert!(out.replies.is_empty());
    let (b, out) = join_new(&mut g, 1_000);
    assert!(out.replies.is_empty());
    // A member arrived during the delay: it is extended by another delay.
    assert!(g.tick(3_000).replies.is_empty());
    let out = g.tick(6_000);
    assert_eq!(join_reply(&out.replies, &a).generation_id, 1);
    assert_eq!(join_reply(&out.replies, &b).generation_id, 1);
}

#[test]
fn a_third_member_triggers_a_rebalance_and_laggards_are_removed() {
    let mut g = group(0);
    let (a, b) = stable_pair(&mut g);
    let (c, out) = join_new(&mut g, 1_000);
    assert!(matches!(out.response, JoinOutcome::Deferred { .. }));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat(&hb(&a, 2), 1_100),
        Err(GroupError::RebalanceInProgress)
    );
    // a rejoins, b does not: after the rebalance timeout b is gone.
    assert!(g.join(req(&a, None, RANGE), 1_200).replies.is_empty());
    let out = g.tick(1_000 + i64::from(REBALANCE));
    assert_eq!(join_reply(&out.replies, &a).generation_id, 3);
    assert_eq!(join_reply(&out.replies, &c).generation_id, 3);
    assert!(g.member(&b).is_none());
    assert_eq!(g.members().count(), 2);
    assert!(matches!(
        g.heartbeat(&hb(&b, 2), 31_001),
        Err(GroupError::UnknownMemberId { .. })
    ));
}

#[test]
fn heartbeat_during_rebalance_and_followers_in_completing_rebalance() {
    let mut g = group(0);
    let (a, b) = stable_pair(&mut g);
    // The leader rejoining forces a new generation.
    g.join(req(&a, None, RANGE), 200);
    assert_eq!(
        g.heartbeat(&hb(&b, 2), 210),
        Err(GroupError::RebalanceInProgress)
    );
    let out = g.join(req(&b, None, RANGE), 220);
    assert_eq!(out.replies.len(), 2);
    // Follower sync is pending; the group rebalancing again voids it.
    let out = g.sync(sync(&b, 3, &[]), 230);
    assert!(matches!(out.response, SyncOutcome::Deferred { .. }));
    let (_c, out) = join_new(&mut g, 240);
    assert_eq!(
        sync_reply(&out.replies, &b),
        &Err(GroupError::RebalanceInProgress)
    );
    // Sync with the old generation during the rebalance.
    let out = g.sync(sync(&b, 3, &[]), 250);
    assert_eq!(
        out.response,
        SyncOutcome::Respond(Err(GroupError::RebalanceInProgress))
    );
}

#[test]
fn session_expiry_removes_a_member_and_rebalances() {
    let mut g = group(0);
    let (a, b) = stable_pair(&mut g);
    // Only a heartbeats.
    for t in (1_000..=12_000).step_by(3_000) {
        assert_eq!(g.heartbeat(&hb(&a, 2), t), Ok(()));
        g.tick(t);
    }
    assert!(g.member(&b).is_some(), "b's session runs to 50 + {SESSION}");
    g.tick(10_050);
    assert!(g.member(&b).is_none());
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat(&hb(&a, 2), 13_000),
        Err(GroupError::RebalanceInProgress)
    );
    let out = g.join(req(&a, None, RANGE), 13_100);
    let resp = join_reply(&out.replies, &a);
    assert_eq!((resp.generation_id, resp.members.len()), (3, 1));
}

#[test]
fn member_that_never_syncs_is_removed_after_the_rebalance_timeout() {
    let mut g = group(0);
    let (a, out) = join_new(&mut g, 0);
    assert_eq!(join_reply(&out.replies, &a).generation_id, 1);
    // a keeps heartbeating but never syncs.
    for t in (5_000..=30_000).step_by(5_000) {
        let _ = g.heartbeat(&hb(&a, 1), t);
    }
    g.tick(i64::from(REBALANCE));
    assert!(g.member(&a).is_none());
    assert_eq!(g.state(), GroupState::Empty);
}

#[test]
fn pending_member_ids_expire() {
    let mut g = group(0);
    let first = g.join(req("", None, RANGE), 0);
    let JoinOutcome::Respond(Err(GroupError::MemberIdRequired { member_id })) = first.response
    else {
        panic!()
    };
    g.tick(i64::from(SESSION));
    let out = g.join(req(&member_id, None, RANGE), i64::from(SESSION) + 1);
    assert!(matches!(
        out.response,
        JoinOutcome::Respond(Err(GroupError::UnknownMemberId { .. }))
    ));
}

#[test]
fn static_member_rejoin_keeps_its_assignment_and_fences_the_old_id() {
    let mut g = group(0);
    let out = g.join(req("", Some("i-1"), RANGE), 0);
    let JoinOutcome::Deferred { member_id: old } = out.response else {
        panic!("{out:?}")
    };
    assert_eq!(join_reply(&out.replies, &old).leader, old);
    let out = g.sync(
        SyncRequest {
            group_instance_id: Some("i-1".into()),
            ..sync(&old, 1, &[(&old, "p0")])
        },
        10,
    );
    assert_eq!(
        sync_reply(&out.replies, &old).as_ref().unwrap().assignment,
        "p0"
    );
    // The process restarts and rejoins with its instance id and no member id.
    let out = g.join(req("", Some("i-1"), RANGE), 1_000);
    assert!(out.persist);
    let JoinOutcome::Respond(Ok(resp)) = out.response else {
        panic!("{out:?}")
    };
    assert_ne!(resp.member_id, old);
    assert_eq!(resp.generation_id, 1, "no rebalance");
    assert_eq!(
        resp.leader, old,
        "pre-KIP-814: the old leader id, so no reassignment"
    );
    assert_eq!(g.state(), GroupState::Stable);
    let new = resp.member_id;
    let fenced = Err(GroupError::FencedInstanceId {
        group_instance_id: "i-1".into(),
        member_id: old.clone(),
    });
    let old_hb = HeartbeatRequest {
        group_instance_id: Some("i-1".into()),
        ..hb(&old, 1)
    };
    assert_eq!(g.heartbeat(&old_hb, 1_100), fenced);
    let out = g.sync(
        SyncRequest {
            group_instance_id: Some("i-1".into()),
            ..sync(&new, 1, &[])
        },
        1_200,
    );
    let SyncOutcome::Respond(Ok(resp)) = out.response else {
        panic!("{out:?}")
    };
    assert_eq!(resp.assignment, "p0");
    // A leave by instance id alone removes it; the group empties.
    let out = g
        .leave(
            &[LeaveMember {
                member_id: String::new(),
                group_instance_id: Some("i-1".into()),
            }],
            1_300,
        )
        .unwrap();
    assert_eq!(out.response[0].result, Ok(()));
    assert_eq!(g.state(), GroupState::Empty);
}

#[test]
fn static_member_rejoin_fences_a_pending_join() {
    let mut g = group(0);
    let (a, _) = join_new(&mut g, 0);
    let out = g.join(req("", Some("i-2"), RANGE), 10);
    let JoinOutcome::Deferred { member_id: old } = out.response else {
        panic!()
    };
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    let out = g.join(req("", Some("i-2"), RANGE), 20);
    assert!(out.replies.iter().any(|r| matches!(r,
        Reply::Join { member_id, result: Err(GroupError::FencedInstanceId { .. }) } if *member_id == old)));
    let JoinOutcome::Deferred { member_id: new } = out.response else {
        panic!()
    };
    let out = g.join(req(&a, None, RANGE), 30);
    assert_eq!(join_reply(&out.replies, &new).generation_id, 2);
}

#[test]
fn leave_of_all_members_empties_the_group() {
    let mut g = group(0);
    let (a, b) = stable_pair(&mut g);
    let out = g
        .leave(
            &[
                LeaveMember {
                    member_id: a.clone(),
                    group_instance_id: None,
                },
                LeaveMember {
                    member_id: b.clone(),
                    group_instance_id: None,
                },
                LeaveMember {
                    member_id: "ghost".into(),
                    group_instance_id: None,
                },
            ],
            500,
        )
        .unwrap();
    assert_eq!(out.response[0].result, Ok(()));
    assert_eq!(out.response[1].result, Ok(()));
    assert!(matches!(
        out.response[2].result,
        Err(GroupError::UnknownMemberId { .. })
    ));
    assert!(out.persist);
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(g.generation_id(), 3);
    assert_eq!(g.leader_id(), None);
    assert_eq!(g.delete(600), Ok(()));
    assert_eq!(g.state(), GroupState::Dead);
}

#[test]
fn delete_refuses_a_group_with_members() {
    let mut g = group(0);
    stable_pair(&mut g);
    assert!(matches!(
        g.delete(100),
        Err(GroupError::NonEmptyGroup { .. })
    ));
}

#[test]
fn protocol_selection_and_inconsistent_protocols() {
    let mut g = group(0);
    let mut r = req("", None, &[("cooperative-sticky", "x"), ("range", "y")]);
    r.require_known_member_id = false;
    let JoinOutcome::Deferred { member_id: a } = g.join(r.clone(), 0).response else {
        panic!()
    };
    r.protocols.reverse();
    let out = g.join(r.clone(), 10);
    let JoinOutcome::Deferred { member_id: b } = out.response else {
        panic!()
    };
    let mut r3 = req("", None, &[("range", "z")]);
    r3.require_known_member_id = false;
    let JoinOutcome::Deferred { member_id: c } = g.join(r3, 20).response else {
        panic!()
    };
    let out = g.join(
        req(&a, None, &[("cooperative-sticky", "x"), ("range", "y")]),
        30,
    );
    // Only range is common to all three.
    let resp = join_reply(&out.replies, &a);
    assert_eq!(resp.protocol_name.as_deref(), Some("range"));
    assert_eq!(
        resp.members
            .iter()
            .find(|m| m.member_id == b)
            .unwrap()
            .metadata,
        "y"
    );
    assert_eq!(
        resp.members
            .iter()
            .find(|m| m.member_id == c)
            .unwrap()
            .metadata,
        "z"
    );
    let mut bad = req("", None, &[("roundrobin", "")]);
    bad.require_known_member_id = false;
    assert_eq!(
        g.join(bad.clone(), 40).response,
        JoinOutcome::Respond(Err(GroupError::InconsistentGroupProtocol))
    );
    bad.protocol_type = "connect".into();
    bad.protocols = vec![Protocol {
        name: "range".into(),
        metadata: Bytes::new(),
    }];
    assert_eq!(
        g.join(bad, 40).response,
        JoinOutcome::Respond(Err(GroupError::InconsistentGroupProtocol))
    );
}

#[test]
fn schema_registry_group_elects_one_leader() {
    let mut g = ClassicGroup::new("schema-registry", config(0), 7, 0);
    let mk = |id: &str| JoinRequest {
        protocol_type: "sr".into(),
        protocols: vec![Protocol {
            name: "v0".into(),
            metadata: Bytes::from_static(b"{\"host\":\"a\"}"),
        }],
        ..req(id, None, &[])
    };
    let JoinOutcome::Respond(Err(GroupError::MemberIdRequired { member_id: a })) =
        g.join(mk(""), 0).response
    else {
        panic!()
    };
    g.join(mk(&a), 0);
    let JoinOutcome::Respond(Err(GroupError::MemberIdRequired { member_id: b })) =
        g.join(mk(""), 5).response
    else {
        panic!()
    };
    g.join(mk(&b), 5);
    let out = g.join(mk(&a), 6);
    let (ra, rb) = (join_reply(&out.replies, &a), join_reply(&out.replies, &b));
    assert_eq!(ra.leader, rb.leader);
    assert_eq!(ra.protocol_type.as_deref(), Some("sr"));
    assert_eq!(ra.members[0].metadata, "{\"host\":\"a\"}");
}

#[test]
fn invalid_session_timeout() {
    let mut g = group(0);
    let mut r = req("", None, RANGE);
    r.session_timeout_ms = 1_000;
    assert!(matches!(
        g.join(r, 0).response,
        JoinOutcome::Respond(Err(GroupError::InvalidSessionTimeout { .. }))
    ));
}

// ----- Offsets ------------------------------------------------------------------------

fn commit(topic: &str, partition: i32, offset: i64, metadata: Option<&str>) -> OffsetCommit {
    OffsetCommit {
        partition: TopicPartition::new(topic, partition),
        offset,
        leader_epoch: None,
        metadata: metadata.map(str::to_owned),
    }
}

#[test]
fn offset_commit_and_fetch_round_trip() {
    let mut g = group(0);
    let (a, _b) = stable_pair(&mut g);
    let prepared = g
        .prepare_commit(
            &a,
            None,
            2,
            None,
            vec![
                commit("t", 0, 42, None),
                OffsetCommit {
                    leader_epoch: Some(5),
                    ..commit("t", 1, 7, Some("meta"))
                },
            ],
            1_000,
        )
        .unwrap();
    assert!(prepared.rejected.is_empty());
    assert!(g.fetch_offsets(None).is_empty(), "invisible until written");
    g.complete_commit(prepared.accepted);
    let all = g.fetch_offsets(None);
    assert_eq!(all.len(), 2);
    let p0 = all[0].1.as_ref().unwrap();
    assert_eq!(
        (p0.offset, p0.leader_epoch, p0.metadata.as_deref()),
        (42, None, None)
    );
    let p1 = all[1].1.as_ref().unwrap();
    assert_eq!(
        (p1.offset, p1.leader_epoch, p1.metadata.as_deref()),
        (7, Some(5), Some("meta"))
    );
    assert_eq!(p1.commit_timestamp_ms, 1_000);
    let some = g.fetch_offsets(Some(&[
        TopicPartition::new("t", 1),
        TopicPartition::new("t", 9),
    ]));
    assert_eq!(some[0].1.as_ref().unwrap().offset, 7);
    assert_eq!(some[1].1, None);
    let big = "x".repeat(5_000);
    let prepared = g
        .prepare_commit(
            &a,
            None,
            2,
            None,
            vec![commit("t", 2, 1, Some(&big))],
            1_100,
        )
        .unwrap();
    assert!(matches!(
        prepared.rejected[0].1,
        GroupError::OffsetMetadataTooLarge { .. }
    ));
}

#[test]
fn commit_validation() {
    let mut g = group(0);
    let (a, _b) = stable_pair(&mut g);
    let c = || vec![commit("t", 0, 1, None)];
    assert!(matches!(
        g.prepare_commit(&a, None, 1, None, c(), 100),
        Err(GroupError::IllegalGeneration {
            generation_id: 1,
            current_generation_id: 2
        })
    ));
    assert!(matches!(
        g.prepare_commit("stranger", None, 2, None, c(), 100),
        Err(GroupError::UnknownMemberId { .. })
    ));
    // A simple commit is refused while the group has members.
    assert!(matches!(
        g.prepare_commit("", None, -1, None, c(), 100),
        Err(GroupError::UnknownMemberId { .. })
    ));
    // Commits with the current generation during PreparingRebalance are allowed.
    join_new(&mut g, 200);
    assert!(g.prepare_commit(&a, None, 2, None, c(), 210).is_ok());
    // A simple commit to an empty group is fine.
    let mut empty = group(0);
    assert!(empty.prepare_commit("", None, -1, None, c(), 0).is_ok());
}

#[test]
fn offsets_of_an_empty_group_expire_after_retention() {
    let day = 24 * 60 * 60 * 1_000;
    let mut g = group(0);
    let (a, b) = stable_pair(&mut g);
    let p = g
        .prepare_commit(&a, None, 2, None, vec![commit("t", 0, 1, None)], 100)
        .unwrap();
    g.complete_commit(p.accepted);
    // With members, nothing expires.
    for t in [day, 7 * day + 100] {
        let _ = g.heartbeat(&hb(&a, 2), t);
        let _ = g.heartbeat(&hb(&b, 2), t);
    }
    assert!(g.expire_offsets(8 * day).partitions.is_empty());
    // The group empties at day 8; retention counts from then.
    let leave = |id: &str| LeaveMember {
        member_id: id.to_owned(),
        group_instance_id: None,
    };
    g.leave(&[leave(&a), leave(&b)], 8 * day).unwrap();
    assert_eq!(g.state(), GroupState::Empty);
    assert!(g.expire_offsets(15 * day - 1).partitions.is_empty());
    let expired = g.expire_offsets(15 * day);
    assert_eq!(expired.partitions, vec![TopicPartition::new("t", 0)]);
    assert!(expired.group_dead);
    assert_eq!(g.state(), GroupState::Dead);
}

#[test]
fn offsets_with_their_own_retention_expire_then() {
    let mut g = group(0);
    let p = g
        .prepare_commit("", None, -1, Some(60_000), vec![commit("t", 0, 1, None)], 0)
        .unwrap();
    g.complete_commit(p.accepted);
    assert!(g.expire_offsets(59_999).partitions.is_empty());
    assert_eq!(g.expire_offsets(60_000).partitions.len(), 1);
}
