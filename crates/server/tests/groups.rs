//! The classic group protocol over real TCP, as Kafka's clients use it: JoinGroup,
//! SyncGroup, Heartbeat and LeaveGroup in every version served, static membership
//! (KIP-345), session expiry and a Schema Registry (`sr`) group. The admin APIs
//! (DescribeGroups, ListGroups, DeleteGroups, OffsetDelete) are in `groups/admin.rs`,
//! committed offsets (OffsetCommit, OffsetFetch, durability) in `groups/offsets.rs`, and
//! the helpers in `common/groups.rs`.
//!
//! Members that the coordinator holds back (a JoinGroup until everyone has rejoined, a
//! follower's SyncGroup until the leader's) run on their own connections and tasks.

#[path = "groups/admin.rs"]
mod admin;
mod common;
#[path = "groups/offsets.rs"]
mod offsets;

use bytes::Bytes;
use common::data::create_topic;
use common::groups::*;
use common::{bounded, Client, TestServer};
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::{
    ApiKey, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, SyncGroupRequest,
    SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;

/// (member id, group instance id, metadata) of a JoinGroup answer's members, sorted.
fn joined_members(m: &Member) -> Vec<(String, Option<String>, Bytes)> {
    let mut v: Vec<_> = m
        .joined
        .members
        .iter()
        .map(|j| {
            (
                j.member_id.to_string(),
                j.group_instance_id.as_ref().map(|i| i.to_string()),
                j.metadata.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn join_group_in_every_version() {
    let server = TestServer::start(config(&[])).await;
    for version in 0..=9i16 {
        let group = format!("join-v{version}");
        let mut client = server.connect().await;
        find_coordinator(&mut client, &group).await;
        let spec = JoinSpec::consumer(&["range"]);
        let first = join(&mut client, version, &group, "", &spec).await;
        let r = if version >= 4 {
            // KIP-394: a new member is told its id and must come back with it.
            assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "v{version}");
            assert_eq!(first.generation_id, -1);
            assert_eq!(first.leader.as_str(), "");
            assert!(first.members.is_empty());
            assert!(first.member_id.starts_with("myelin-tests-"), "{first:?}");
            assert_eq!(
                first.protocol_name.as_deref(),
                (version < 7).then_some(""),
                "protocol_name is nullable from v7"
            );
            let r = join(&mut client, version, &group, &first.member_id, &spec).await;
            assert_eq!(r.member_id, first.member_id);
            r
        } else {
            first
        };
        assert_eq!(r.error_code, NONE, "v{version}: {r:?}");
        assert!(r.member_id.starts_with("myelin-tests-"), "{r:?}");
        assert_eq!(r.generation_id, 1, "v{version}");
        assert_eq!(r.leader, r.member_id, "the only member leads");
        assert_eq!(r.protocol_name.as_deref(), Some("range"));
        // protocol_type in the answer: v7+ (KIP-559).
        let protocol_type = r.protocol_type.as_deref();
        assert_eq!(
            protocol_type,
            (version >= 7).then_some("consumer"),
            "v{version}"
        );
        assert!(!r.skip_assignment);
        let m = Member::new(client, version, &group, spec.clone(), r);
        assert_eq!(
            joined_members(&m),
            [(m.id.clone(), None, spec.metadata("range"))]
        );
        let mut m = sync_all(vec![m]).await.remove(0);
        assert_eq!(m.heartbeat().await, NONE);
        assert_eq!(state_of(&mut m.client, &group).await, "Stable");
    }
    server.stop().await;
}

/// Two members, the second joining a Stable group: the first is told to rejoin by its
/// heartbeat, both get the new generation, the leader every member's metadata for the
/// protocol both support, the follower none.
#[tokio::test]
async fn the_leader_gets_every_members_metadata_and_the_common_protocol() {
    let server = TestServer::start(config(&[])).await;
    for version in [0, 1, 2, 4, 5, 7, 9] {
        let group = format!("pair-v{version}");
        let a = add_member(
            &server,
            Vec::new(),
            version,
            &group,
            JoinSpec::consumer(&["range", "roundrobin"]),
        )
        .await;
        assert_eq!(a[0].protocol(), "range");
        let a = sync_all(a).await;
        let b_spec = JoinSpec::consumer(&["roundrobin"]);
        let members = add_member(&server, a, version, &group, b_spec.clone()).await;
        let (a, b) = (&members[0], &members[1]);
        assert_eq!((a.generation, b.generation), (2, 2), "v{version}");
        assert!(
            a.is_leader() && !b.is_leader(),
            "the first member keeps leading"
        );
        assert_eq!(b.joined.leader.as_str(), a.id);
        assert_eq!(
            (a.protocol(), b.protocol()),
            ("roundrobin".into(), "roundrobin".into())
        );
        let mut expected = vec![
            (a.id.clone(), None, a.spec.metadata("roundrobin")),
            (b.id.clone(), None, b_spec.metadata("roundrobin")),
        ];
        expected.sort();
        assert_eq!(joined_members(a), expected, "v{version}");
        assert!(b.joined.members.is_empty(), "followers get no members");
        let mut members = sync_all(members).await;
        for m in &mut members {
            assert_eq!(m.heartbeat().await, NONE);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn join_group_refusals() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "refusals").await;
    let members = form_group(&server, "refusals", 9, &[JoinSpec::consumer(&["range"])]).await;
    let stable_id = members[0].id.clone();
    for version in 0..=9i16 {
        let check = |r: &JoinGroupResponse, code: i16, member: &str| {
            assert_eq!(r.error_code, code, "v{version}: {r:?}");
            assert_eq!(r.generation_id, -1);
            assert_eq!(
                r.member_id.as_str(),
                member,
                "the request's member id comes back"
            );
            assert_eq!(r.protocol_name.as_deref(), (version < 7).then_some(""));
        };
        let spec = JoinSpec::consumer(&["range"]);
        let r = join(&mut client, version, "", "someone", &spec).await;
        check(&r, INVALID_GROUP_ID, "someone");
        for timeout in [5_999, 1_800_001] {
            let r = join(
                &mut client,
                version,
                "new",
                "",
                &spec.clone().session(timeout),
            )
            .await;
            check(&r, INVALID_SESSION_TIMEOUT, "");
        }
        // No protocol in common with the member of the group, or another protocol type.
        let r = join(
            &mut client,
            version,
            "refusals",
            "",
            &JoinSpec::consumer(&["sticky"]),
        )
        .await;
        check(&r, INCONSISTENT_GROUP_PROTOCOL, "");
        let connect = JoinSpec::of_type("connect", vec![("range", b"x".to_vec())]);
        let r = join(&mut client, version, "refusals", "", &connect).await;
        check(&r, INCONSISTENT_GROUP_PROTOCOL, "");
        // A new group needs a protocol type and at least one protocol.
        let r = join(&mut client, version, "new", "", &JoinSpec::consumer(&[])).await;
        check(&r, INCONSISTENT_GROUP_PROTOCOL, "");
        let r = join(
            &mut client,
            version,
            "new",
            "",
            &JoinSpec::of_type("", vec![("range", vec![])]),
        )
        .await;
        check(&r, INCONSISTENT_GROUP_PROTOCOL, "");
        // A member id the group does not know, in a group that exists and in one that does not.
        for group in ["refusals", "new"] {
            let r = join(&mut client, version, group, "stranger", &spec).await;
            check(&r, UNKNOWN_MEMBER_ID, "stranger");
        }
    }
    // None of this disturbed the group.
    let r = describe(&mut client, 5, &["refusals"]).await;
    assert_eq!(r.groups[0].group_state.as_str(), "Stable");
    assert_eq!(r.groups[0].members.len(), 1);
    assert_eq!(r.groups[0].members[0].member_id.as_str(), stable_id);
    server.stop().await;
}

/// For each SyncGroup version, a two-member group whose follower syncs before the leader:
/// its answer waits for the leader's and carries what the leader assigned it.
#[tokio::test]
async fn sync_group_in_every_version() {
    let server = TestServer::start(config(&[])).await;
    // A JoinGroup version whose companion SyncGroup version is 0, 1, ... 5.
    for (join_version, version) in [(0, 0), (2, 1), (3, 2), (5, 3), (6, 4), (9, 5)] {
        assert_eq!(companions(join_version).0, version);
        let group = format!("sync-v{version}");
        let spec = JoinSpec::consumer(&["range"]);
        let mut members = Vec::new();
        for _ in 0..2 {
            members = add_member(&server, members, join_version, &group, spec.clone()).await;
        }
        let generation = members[0].generation;
        // sync_all sends the follower's request first and checks its assignment.
        let mut members = sync_all(members).await;
        let leader_id = members[0].id.clone();
        let m = &mut members[1];
        let id = m.id.clone();
        let client = &mut m.client;
        // In a Stable group a member syncing again gets its assignment at once.
        let protocol = Some(("consumer", "range"));
        let request = sync_request(version, &group, generation, &id, None, protocol, &[]);
        let r = sync_call(client, version, &request).await;
        assert_eq!(
            (r.error_code, r.assignment.clone()),
            (NONE, assignment_for(&id))
        );
        // protocol_type and protocol_name in the answer: v5+ (KIP-559).
        let named = |p: &Option<StrBytes>| p.as_deref().map(|p| p.to_string());
        assert_eq!(
            (named(&r.protocol_type), named(&r.protocol_name)),
            if version >= 5 {
                (Some("consumer".into()), Some("range".into()))
            } else {
                (None, None)
            }
        );
        let refusals = [
            (
                group.as_str(),
                generation + 1,
                id.as_str(),
                ILLEGAL_GENERATION,
            ),
            (group.as_str(), generation, "stranger", UNKNOWN_MEMBER_ID),
            ("no-such-group", generation, id.as_str(), UNKNOWN_MEMBER_ID),
            ("", generation, id.as_str(), INVALID_GROUP_ID),
        ];
        for (g, generation, member, code) in refusals {
            let request = sync_request(version, g, generation, member, None, protocol, &[]);
            let r = sync_call(client, version, &request).await;
            assert_eq!(r.error_code, code, "v{version} {g:?} {generation} {member}");
        }
        if version >= 5 {
            // The protocol type and name must be the group's (KIP-559).
            for protocol in [("connect", "range"), ("consumer", "roundrobin")] {
                let request = sync_request(
                    version,
                    &group,
                    generation,
                    &leader_id,
                    None,
                    Some(protocol),
                    &[],
                );
                let r = sync_call(client, version, &request).await;
                assert_eq!(r.error_code, INCONSISTENT_GROUP_PROTOCOL, "{protocol:?}");
            }
        }
    }
    server.stop().await;
}

/// A rebalance that starts before the leader has synced voids the generation's assignment:
/// a follower waiting in SyncGroup is told REBALANCE_IN_PROGRESS. Commits wait for the
/// assignment (CompletingRebalance) but go on while members rejoin (PreparingRebalance).
#[tokio::test]
async fn a_rebalance_before_the_leaders_sync_fails_waiting_syncs() {
    let server = TestServer::start(config(&[])).await;
    create_topic(&server, "t", 1, &[]);
    let group = "interrupted";
    let spec = JoinSpec::consumer(&["range"]);
    let mut members = Vec::new();
    for _ in 0..2 {
        members = add_member(&server, members, 9, group, spec.clone()).await;
    }
    let [mut a, b]: [Member; 2] = members.try_into().ok().unwrap();
    assert!(a.is_leader());
    assert_eq!(state_of(&mut a.client, group).await, "CompletingRebalance");
    let request = commit_request(9, group, a.generation, &a.id, &[("t", 0, 1, -1, None)]);
    let rebalancing = [("t".to_string(), 0, REBALANCE_IN_PROGRESS)];
    assert_eq!(commit(&mut a.client, 9, &request).await, rebalancing);
    let waiting = spawn(async move {
        let mut b = b;
        let r = b.sync(&[]).await;
        (b, r)
    });
    // A third member joins before the leader syncs.
    let mut c_client = server.connect().await;
    let c_spec = spec.clone();
    let c = spawn(async move {
        let r = join_new(&mut c_client, 9, group, &c_spec).await;
        Member::new(c_client, 9, group, c_spec, r)
    });
    let (b, r) = bounded(waiting).await.unwrap();
    assert_eq!(r.error_code, REBALANCE_IN_PROGRESS);
    assert_eq!(state_of(&mut a.client, group).await, "PreparingRebalance");
    assert_eq!(
        commit(&mut a.client, 9, &request).await,
        [("t".to_string(), 0, NONE)]
    );
    let rejoins = [spawn(a.rejoin()), spawn(b.rejoin())];
    let mut members = Vec::new();
    for r in rejoins {
        members.push(bounded(r).await.unwrap());
    }
    members.push(bounded(c).await.unwrap());
    assert!(members.iter().all(|m| m.generation == 3));
    assert_eq!(joined_members(&members[0]).len(), 3);
    let members = sync_all(members).await;
    assert_eq!(members.len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn heartbeat_in_every_version() {
    let server = TestServer::start(config(&[])).await;
    // A JoinGroup version whose companion Heartbeat version is 0, 1, ... 4.
    for (join_version, version) in [(0, 0), (2, 1), (3, 2), (5, 3), (6, 4)] {
        assert_eq!(companions(join_version).1, version);
        let group = format!("heartbeat-v{version}");
        let spec = JoinSpec::consumer(&["range"]);
        let members = add_member(&server, Vec::new(), join_version, &group, spec.clone()).await;
        let mut members = sync_all(members).await;
        assert_eq!(members[0].heartbeat().await, NONE, "v{version}");
        // A second member joins: the first hears REBALANCE_IN_PROGRESS until it rejoins
        // (add_member waits for exactly that).
        let members2 = add_member(&server, members, join_version, &group, spec.clone()).await;
        members = sync_all(members2).await;
        for m in &mut members {
            assert_eq!(m.heartbeat().await, NONE);
        }
        let m = &mut members[0];
        let (id, generation) = (m.id.clone(), m.generation);
        let client = &mut m.client;
        assert_eq!(
            heartbeat(client, version, &group, generation - 1, &id, None).await,
            ILLEGAL_GENERATION
        );
        assert_eq!(
            heartbeat(client, version, &group, generation, "stranger", None).await,
            UNKNOWN_MEMBER_ID
        );
        assert_eq!(
            heartbeat(client, version, "no-such-group", generation, &id, None).await,
            UNKNOWN_MEMBER_ID
        );
        assert_eq!(
            heartbeat(client, version, "", generation, &id, None).await,
            INVALID_GROUP_ID
        );
    }
    server.stop().await;
}

async fn sync_call(
    client: &mut Client,
    version: i16,
    request: &SyncGroupRequest,
) -> SyncGroupResponse {
    client.call(ApiKey::SyncGroup, version, request).await
}

async fn leave(
    client: &mut Client,
    version: i16,
    group: &str,
    members: &[(&str, Option<&str>)],
) -> LeaveGroupResponse {
    let mut request = LeaveGroupRequest::default().with_group_id(gid(group));
    if version >= 3 {
        // KIP-345: a batch, by member id or by group.instance.id.
        request.members = members
            .iter()
            .map(|(id, instance)| {
                let mut m = MemberIdentity::default()
                    .with_member_id(s(id))
                    .with_group_instance_id(instance.map(s));
                // reason: v5+ (KIP-800).
                if version >= 5 {
                    m.reason = Some(s("shutting down"));
                }
                m
            })
            .collect();
    } else {
        assert_eq!(members.len(), 1);
        request.member_id = s(members[0].0);
    }
    client.call(ApiKey::LeaveGroup, version, &request).await
}

/// (member id, group instance id, error) of a LeaveGroup v3+ answer, in request order.
fn left(r: &LeaveGroupResponse) -> Vec<(String, Option<String>, i16)> {
    r.members
        .iter()
        .map(|m| {
            (
                m.member_id.to_string(),
                m.group_instance_id.as_ref().map(|i| i.to_string()),
                m.error_code,
            )
        })
        .collect()
}

#[tokio::test]
async fn leave_group_one_member_at_a_time_v0_to_2() {
    let server = TestServer::start(config(&[])).await;
    for version in 0..=2i16 {
        let group = format!("leave-v{version}");
        let spec = JoinSpec::consumer(&["range"]);
        let members = form_group(&server, &group, 2, &[spec.clone(), spec.clone()]).await;
        let [mut a, b]: [Member; 2] = members.try_into().ok().unwrap();
        let mut client = server.connect().await;
        let r = leave(&mut client, version, &group, &[(&b.id, None)]).await;
        assert_eq!(r.error_code, NONE, "v{version}");
        // The remaining member rejoins alone.
        a.wait_for_rebalance().await;
        let a = sync_all(vec![a.rejoin().await]).await.remove(0);
        assert_eq!(joined_members(&a).len(), 1);
        let errors = [
            (group.as_str(), b.id.as_str(), UNKNOWN_MEMBER_ID),
            ("no-such-group", a.id.as_str(), UNKNOWN_MEMBER_ID),
            ("", a.id.as_str(), INVALID_GROUP_ID),
            (group.as_str(), a.id.as_str(), NONE),
        ];
        for (g, id, code) in errors {
            let r = leave(&mut client, version, g, &[(id, None)]).await;
            assert_eq!(r.error_code, code, "v{version} {g:?} {id}");
        }
        let r = describe(&mut client, 5, &[&group]).await;
        assert_eq!(r.groups[0].group_state.as_str(), "Empty");
        assert!(r.groups[0].members.is_empty());
    }
    server.stop().await;
}

#[tokio::test]
async fn leave_group_batches_by_member_id_and_instance_id_v3_to_5() {
    let server = TestServer::start(config(&[])).await;
    for version in 3..=5i16 {
        let group = format!("leave-batch-v{version}");
        let specs = [
            JoinSpec::consumer(&["range"]).instance("i1"),
            JoinSpec::consumer(&["range"]).instance("i2"),
            JoinSpec::consumer(&["range"]),
        ];
        let members = form_group(&server, &group, 5, &specs).await;
        let dynamic = members[2].id.clone();
        let mut client = server.connect().await;
        let r = leave(
            &mut client,
            version,
            &group,
            &[
                (&dynamic, None),
                ("", Some("i1")),
                ("stranger", None),
                ("not-i2s-member-id", Some("i2")),
                ("", Some("i9")),
            ],
        )
        .await;
        assert_eq!(r.error_code, NONE, "v{version}");
        assert_eq!(
            left(&r),
            [
                (dynamic.clone(), None, NONE),
                (String::new(), Some("i1".into()), NONE),
                ("stranger".into(), None, UNKNOWN_MEMBER_ID),
                (
                    "not-i2s-member-id".into(),
                    Some("i2".into()),
                    FENCED_INSTANCE_ID
                ),
                (String::new(), Some("i9".into()), UNKNOWN_MEMBER_ID),
            ]
        );
        let r = describe(&mut client, 5, &[&group]).await;
        let ids: Vec<&str> = r.groups[0]
            .members
            .iter()
            .map(|m| m.member_id.as_str())
            .collect();
        assert_eq!(ids, [members[1].id.as_str()]);
        let r = leave(&mut client, version, &group, &[("", Some("i2"))]).await;
        assert_eq!(left(&r), [(String::new(), Some("i2".into()), NONE)]);
        assert_eq!(state_of(&mut client, &group).await, "Empty");
        // A group that does not exist: every member is unknown, no group-level error.
        let r = leave(
            &mut client,
            version,
            "no-such-group",
            &[("m", None), ("", Some("i1"))],
        )
        .await;
        assert_eq!(r.error_code, NONE);
        assert_eq!(
            left(&r),
            [
                ("m".into(), None, UNKNOWN_MEMBER_ID),
                (String::new(), Some("i1".into()), UNKNOWN_MEMBER_ID),
            ]
        );
        let r = leave(&mut client, version, "", &[("m", None)]).await;
        assert_eq!(r.error_code, INVALID_GROUP_ID);
    }
    server.stop().await;
}

/// KIP-345: a static member that restarts (JoinGroup with its `group.instance.id` and no
/// member id) takes its place back at once: same generation, same assignment, no
/// rebalance for the others; its old member id is fenced.
#[tokio::test]
async fn a_restarted_static_member_replaces_its_old_member_id() {
    let server = TestServer::start(config(&[])).await;
    let group = "static";
    let specs = [
        JoinSpec::consumer(&["range"]).instance("a"),
        JoinSpec::consumer(&["range"]).instance("b"),
    ];
    let mut members = form_group(&server, group, 5, &specs).await;
    let generation = members[0].generation;
    let (leader_id, old_b) = (members[0].id.clone(), members[1].id.clone());
    assert!(members[0].is_leader());

    // The follower restarts.
    let mut client = server.connect().await;
    let r = join(&mut client, 5, group, "", &specs[1]).await;
    assert_eq!(r.error_code, NONE, "{r:?}");
    assert_eq!(r.generation_id, generation);
    assert_ne!(r.member_id.as_str(), old_b);
    assert!(
        r.member_id.starts_with("b-"),
        "Kafka prefixes a static member's id with its instance id"
    );
    assert_eq!(r.leader.as_str(), leader_id);
    assert!(r.members.is_empty());
    let mut new_b = Member::new(client, 5, group, specs[1].clone(), r);
    let r = new_b.sync(&[]).await;
    assert_eq!(
        (r.error_code, r.assignment.clone()),
        (NONE, assignment_for(&old_b))
    );
    assert_eq!(new_b.heartbeat().await, NONE);
    // The others go on in the same generation.
    assert_eq!(members[0].heartbeat().await, NONE);
    assert_eq!(members[1].heartbeat().await, FENCED_INSTANCE_ID);
    let r = describe(&mut new_b.client, 5, &[group]).await;
    let g = &r.groups[0];
    assert_eq!(g.group_state.as_str(), "Stable");
    let mut described: Vec<(String, Option<String>)> = g
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.to_string(),
                m.group_instance_id.as_ref().map(|i| i.to_string()),
            )
        })
        .collect();
    described.sort();
    let mut expected = vec![
        (leader_id.clone(), Some("a".into())),
        (new_b.id.clone(), Some("b".into())),
    ];
    expected.sort();
    assert_eq!(described, expected);

    // The leader restarts with JoinGroup v9 (KIP-814): it learns that it leads, with every
    // member, and that it must not assign again.
    let mut client = server.connect().await;
    let r = join(&mut client, 9, group, "", &specs[0]).await;
    assert_eq!(r.error_code, NONE, "{r:?}");
    assert_eq!(r.generation_id, generation);
    assert!(r.skip_assignment);
    assert_eq!(r.leader, r.member_id);
    let mut new_a = Member::new(client, 9, group, specs[0].clone(), r);
    let mut expected = vec![
        (
            new_a.id.clone(),
            Some("a".to_string()),
            specs[0].metadata("range"),
        ),
        (
            new_b.id.clone(),
            Some("b".to_string()),
            specs[1].metadata("range"),
        ),
    ];
    expected.sort();
    assert_eq!(joined_members(&new_a), expected);
    let r = new_a.sync(&[]).await;
    assert_eq!(
        (r.error_code, r.assignment.clone()),
        (NONE, assignment_for(&leader_id))
    );
    assert_eq!(new_b.heartbeat().await, NONE);
    assert_eq!(members[0].heartbeat().await, FENCED_INSTANCE_ID);
    server.stop().await;
}

/// A member that stops heartbeating is removed after its session timeout: the others are
/// told to rejoin, and once the last member is gone the group is Empty.
#[tokio::test]
async fn a_silent_member_is_removed_after_its_session_timeout() {
    let server = TestServer::start(config(&[("group.min.session.timeout.ms", "500")])).await;
    let group = "expiry";
    let spec = JoinSpec::consumer(&["range"]).session(1_000);
    let members = form_group(&server, group, 9, &[spec.clone(), spec.clone()]).await;
    let [mut a, silent]: [Member; 2] = members.try_into().ok().unwrap();
    // The first member heartbeats (every 100 ms, well within its session) until it is told
    // to rejoin: the silent member's session ended.
    bounded(async {
        loop {
            match a.heartbeat().await {
                NONE => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                REBALANCE_IN_PROGRESS => break,
                other => panic!("heartbeat: {other}"),
            }
        }
    })
    .await;
    let a = a.rejoin().await;
    assert_eq!(a.generation, silent.generation + 1);
    assert_eq!(
        joined_members(&a),
        [(a.id.clone(), None, spec.metadata("range"))]
    );
    let mut a = sync_all(vec![a]).await.remove(0);
    let mut client = server.connect().await;
    let silent_heartbeat = heartbeat(&mut client, 4, group, silent.generation, &silent.id, None);
    assert_eq!(silent_heartbeat.await, UNKNOWN_MEMBER_ID);
    assert_eq!(state_of(&mut a.client, group).await, "Stable");
    // Now the last member falls silent too.
    drop(a);
    let r = bounded(async {
        loop {
            let r = describe(&mut client, 5, &[group]).await;
            if r.groups[0].group_state.as_str() != "Stable" {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    let g = &r.groups[0];
    assert_eq!(g.group_state.as_str(), "Empty");
    assert!(g.members.is_empty());
    assert_eq!(g.protocol_type.as_str(), "consumer");
    server.stop().await;
}

/// The Confluent Schema Registry elects its leader through a group of protocol type `sr`
/// with JSON metadata; the leader's assignment, a JSON blob naming it, goes to everyone.
#[tokio::test]
async fn a_schema_registry_group_elects_one_leader() {
    let server = TestServer::start(config(&[])).await;
    let group = "schema-registry";
    let identity = |host: &str| {
        format!(
            r#"{{"version":1,"host":"{host}","port":8081,"scheme":"http","leader_eligibility":true}}"#
        )
        .into_bytes()
    };
    let specs = [
        JoinSpec::of_type(
            "sr",
            vec![("v1", identity("sr-1")), ("v0", identity("sr-1"))],
        ),
        JoinSpec::of_type(
            "sr",
            vec![("v1", identity("sr-2")), ("v0", identity("sr-2"))],
        ),
    ];
    let mut members = Vec::new();
    for spec in &specs {
        members = add_member(&server, members, 9, group, spec.clone()).await;
    }
    let leaders: Vec<&Member> = members.iter().filter(|m| m.is_leader()).collect();
    assert_eq!(leaders.len(), 1, "exactly one leader");
    let leader = leaders[0];
    assert!(members
        .iter()
        .all(|m| m.joined.leader.as_str() == leader.id));
    assert!(members.iter().all(|m| m.protocol() == "v1"));
    let mut expected = vec![
        (members[0].id.clone(), None, Bytes::from(identity("sr-1"))),
        (members[1].id.clone(), None, Bytes::from(identity("sr-2"))),
    ];
    expected.sort();
    assert_eq!(joined_members(leader), expected);
    let follower = members.iter().find(|m| !m.is_leader()).unwrap();
    assert!(follower.joined.members.is_empty());
    let assignment = Bytes::from(format!(
        r#"{{"error":0,"master":"{}","master_identity":{}}}"#,
        leader.id,
        String::from_utf8(identity("sr-1")).unwrap()
    ));
    let assignments: Vec<(String, Bytes)> = members
        .iter()
        .map(|m| (m.id.clone(), assignment.clone()))
        .collect();
    let (mut leader, mut follower): (Member, Member) = {
        let mut it = members.into_iter();
        let (x, y) = (it.next().unwrap(), it.next().unwrap());
        if x.is_leader() {
            (x, y)
        } else {
            (y, x)
        }
    };
    let waiting = spawn(async move {
        let r = follower.sync(&[]).await;
        (follower, r)
    });
    let r = leader.sync(&assignments).await;
    assert_eq!(
        (r.error_code, r.assignment.clone()),
        (NONE, assignment.clone())
    );
    let (_follower, r) = bounded(waiting).await.unwrap();
    assert_eq!(
        (r.error_code, r.assignment.clone()),
        (NONE, assignment.clone())
    );
    let r = describe(&mut leader.client, 5, &[group]).await;
    let g = &r.groups[0];
    assert_eq!(
        (
            g.group_state.as_str(),
            g.protocol_type.as_str(),
            g.protocol_data.as_str()
        ),
        ("Stable", "sr", "v1")
    );
    assert!(g.members.iter().all(|m| m.member_assignment == assignment));
    server.stop().await;
}
