//! Committed offsets over real TCP: OffsetCommit v0-9 and OffsetFetch v1-9, from simple
//! consumers (generation -1, no member) and from group members, their errors, and their
//! durability across a restart.

use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetDeleteRequest, OffsetDeleteResponse,
};

use crate::common::data::{create_topic, name};
use crate::common::groups::*;
use crate::common::{Client, TestServer};

#[tokio::test]
async fn offsets_committed_in_every_version_are_fetched_in_every_version() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "offsets").await;
    create_topic(&server, "t", 3, &[]);
    let wanted: Topics<'_> = &[("t", &[0, 1, 2])];
    for commit_version in 2..=9i16 {
        let group = format!("commit-v{commit_version}");
        let metadata = format!("meta-{commit_version}");
        // Partition 0: metadata and leader epoch 7 (sent from v6); partition 1: null
        // metadata (Sarama) and a null epoch; partition 2: nothing committed.
        let mut request = commit_request(
            commit_version,
            &group,
            -1,
            "",
            &[
                (
                    "t",
                    0,
                    100 + i64::from(commit_version),
                    7,
                    Some(metadata.as_str()),
                ),
                ("t", 1, 200, -1, None),
            ],
        );
        // retention_time_ms: v2-4; other than -1 it sets the offsets' own expiry.
        if commit_version <= 4 {
            request.retention_time_ms = 86_400_000;
        }
        let results = commit(&mut client, commit_version, &request).await;
        assert_eq!(results, [("t".into(), 0, NONE), ("t".into(), 1, NONE)]);
        for fetch_version in 1..=9i16 {
            // committed_leader_epoch: committed from v6, fetched from v5.
            let epoch = if commit_version >= 6 && fetch_version >= 5 {
                7
            } else {
                -1
            };
            let (error, parts) =
                fetch_offsets(&mut client, fetch_version, &group, Some(wanted)).await;
            assert_eq!(error, NONE);
            assert_eq!(
                parts,
                [
                    fetched("t", 0, 100 + i64::from(commit_version), epoch, &metadata),
                    // Kafka stores null metadata as "".
                    fetched("t", 1, 200, -1, ""),
                    fetched("t", 2, -1, -1, ""),
                ],
                "committed v{commit_version}, fetched v{fetch_version}"
            );
        }
    }
    // A later commit replaces the offset.
    let request = commit_request(9, "commit-v9", -1, "", &[("t", 0, 500, -1, Some(""))]);
    assert_eq!(
        commit(&mut client, 9, &request).await,
        [("t".into(), 0, NONE)]
    );
    let (_, parts) = fetch_offsets(&mut client, 9, "commit-v9", Some(&[("t", &[0])])).await;
    assert_eq!(parts, [fetched("t", 0, 500, -1, "")]);
    server.stop().await;
}

/// An OffsetCommit v0 or v1 request, encoded here: `kafka-protocol` 0.18 encodes from v2
/// (Kafka 4.0 dropped v0-1; Sarama's offset manager still sends v1 by default). Each
/// partition is (partition, offset, metadata); v1 adds the generation, the member id and
/// a commit timestamp per partition.
fn old_commit_frame(
    version: i16,
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    partitions: &[(i32, i64, Option<&str>)],
) -> Vec<u8> {
    fn string(buf: &mut Vec<u8>, s: Option<&str>) {
        match s {
            Some(s) => {
                buf.extend_from_slice(&(s.len() as i16).to_be_bytes());
                buf.extend_from_slice(s.as_bytes());
            }
            None => buf.extend_from_slice(&(-1i16).to_be_bytes()),
        }
    }
    // Header v1: api key, version, correlation id, client id.
    let mut frame = vec![0; 4];
    frame.extend_from_slice(&(ApiKey::OffsetCommit as i16).to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&31i32.to_be_bytes());
    string(&mut frame, Some("sarama"));
    string(&mut frame, Some(group));
    if version == 1 {
        frame.extend_from_slice(&generation.to_be_bytes());
        string(&mut frame, Some(member));
    }
    frame.extend_from_slice(&1i32.to_be_bytes());
    string(&mut frame, Some(topic));
    frame.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
    for &(partition, offset, metadata) in partitions {
        frame.extend_from_slice(&partition.to_be_bytes());
        frame.extend_from_slice(&offset.to_be_bytes());
        if version == 1 {
            // commit_timestamp: -1, "now", as Sarama sends it.
            frame.extend_from_slice(&(-1i64).to_be_bytes());
        }
        string(&mut frame, metadata);
    }
    let size = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    frame
}

/// Sends an old commit and returns (partition, error) from its response, which has v2's
/// layout.
async fn old_commit(client: &mut Client, frame: &[u8]) -> Vec<(i32, i16)> {
    client.send_raw(frame).await;
    let (correlation_id, r): (i32, OffsetCommitResponse) = client.read(0, 2).await;
    assert_eq!(correlation_id, 31);
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.error_code))
        })
        .collect()
}

#[tokio::test]
async fn offsets_committed_with_v0_and_v1_are_fetched() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "old").await;
    create_topic(&server, "t", 2, &[]);
    let wanted: Topics<'_> = &[("t", &[0, 1])];

    let v0 = old_commit_frame(0, "old-v0", 0, "", "t", &[(0, 5, Some("m0")), (1, 6, None)]);
    assert_eq!(old_commit(&mut client, &v0).await, [(0, NONE), (1, NONE)]);
    // A simple consumer's v1 commit: generation -1, no member.
    let v1 = old_commit_frame(1, "old-v1", -1, "", "t", &[(1, 9, Some("m1"))]);
    assert_eq!(old_commit(&mut client, &v1).await, [(1, NONE)]);
    for version in [1i16, 5, 9] {
        assert_eq!(
            fetch_offsets(&mut client, version, "old-v0", Some(wanted)).await,
            (
                NONE,
                vec![fetched("t", 0, 5, -1, "m0"), fetched("t", 1, 6, -1, "")]
            ),
            "fetched v{version}"
        );
        assert_eq!(
            fetch_offsets(&mut client, version, "old-v1", Some(wanted)).await,
            (
                NONE,
                vec![fetched("t", 0, -1, -1, ""), fetched("t", 1, 9, -1, "m1")]
            ),
            "fetched v{version}"
        );
    }
    // A v1 commit naming a generation of a group that does not exist is refused as at v2.
    let stale = old_commit_frame(1, "no-such-group", 3, "m-1", "t", &[(0, 1, None)]);
    assert_eq!(
        old_commit(&mut client, &stale).await,
        [(0, ILLEGAL_GENERATION)]
    );

    // A v1 body cut short closes the connection (the broker goes on serving others).
    let mut cut = old_commit_frame(1, "old-v1", -1, "", "t", &[(0, 1, Some("m"))]);
    cut.truncate(cut.len() - 3);
    let size = (cut.len() - 4) as i32;
    cut[..4].copy_from_slice(&size.to_be_bytes());
    client.send_raw(&cut).await;
    client.expect_closed().await;
    let mut client = server.connect().await;
    assert_eq!(
        fetch_offsets(&mut client, 1, "old-v1", Some(wanted)).await,
        (
            NONE,
            vec![fetched("t", 0, -1, -1, ""), fetched("t", 1, 9, -1, "m1")]
        )
    );
    server.stop().await;
}

/// OffsetFetch with a null topic list (v2+) returns every committed offset of the group.
#[tokio::test]
async fn a_null_topic_list_fetches_every_committed_offset() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "all").await;
    create_topic(&server, "t", 3, &[]);
    create_topic(&server, "u", 1, &[]);
    let offsets = [
        ("t", 0, 1, 2, Some("a")),
        ("t", 2, 3, 4, None),
        ("u", 0, 5, 6, Some("c")),
    ];
    commit_simple(&mut client, 9, "all", &offsets).await;
    for version in 2..=9i16 {
        let epoch = |e: i32| if version >= 5 { e } else { -1 };
        assert_eq!(
            fetch_offsets(&mut client, version, "all", None).await,
            (
                NONE,
                vec![
                    fetched("t", 0, 1, epoch(2), "a"),
                    fetched("t", 2, 3, epoch(4), ""),
                    fetched("u", 0, 5, epoch(6), "c"),
                ]
            ),
            "v{version}"
        );
        assert_eq!(
            fetch_offsets(&mut client, version, "no-such-group", None).await,
            (NONE, vec![])
        );
    }
    server.stop().await;
}

/// OffsetFetch v8+ (KIP-709): several groups in one request, each answered on its own.
#[tokio::test]
async fn several_groups_are_fetched_in_one_request() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "g1").await;
    create_topic(&server, "t", 2, &[]);
    commit_simple(&mut client, 9, "g1", &[("t", 0, 5, -1, Some("one"))]).await;
    commit_simple(
        &mut client,
        9,
        "g2",
        &[("t", 0, 6, -1, None), ("t", 1, 7, -1, None)],
    )
    .await;
    let t0: Topics<'_> = &[("t", &[0])];
    for version in 8..=9i16 {
        let r = fetch_groups(
            &mut client,
            version,
            &[("g1", Some(t0)), ("g2", None), ("g3", Some(t0))],
        )
        .await;
        assert_eq!(
            r,
            [
                (
                    "g1".to_string(),
                    (NONE, vec![fetched("t", 0, 5, -1, "one")])
                ),
                (
                    "g2".to_string(),
                    (
                        NONE,
                        vec![fetched("t", 0, 6, -1, ""), fetched("t", 1, 7, -1, "")]
                    )
                ),
                ("g3".to_string(), (NONE, vec![fetched("t", 0, -1, -1, "")])),
            ],
            "v{version}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn offset_commit_refusals() {
    let server = TestServer::start(config(&[("offset.metadata.max.bytes", "16")])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "refused").await;
    create_topic(&server, "t", 3, &[]);
    let too_large = "x".repeat(17);
    for version in 2..=9i16 {
        let group = format!("refused-v{version}");
        // Metadata over offset.metadata.max.bytes fails its partition only.
        let request = commit_request(
            version,
            &group,
            -1,
            "",
            &[
                ("t", 0, 1, -1, Some(too_large.as_str())),
                ("t", 1, 2, -1, Some("sixteen bytes ok")),
            ],
        );
        assert_eq!(
            commit(&mut client, version, &request).await,
            [
                ("t".into(), 0, OFFSET_METADATA_TOO_LARGE),
                ("t".into(), 1, NONE)
            ],
            "v{version}"
        );
        // Partitions that do not exist fail alone.
        let request = commit_request(
            version,
            &group,
            -1,
            "",
            &[
                ("nope", 0, 1, -1, None),
                ("t", 9, 1, -1, None),
                ("t", 2, 3, -1, None),
            ],
        );
        assert_eq!(
            commit(&mut client, version, &request).await,
            [
                ("nope".into(), 0, UNKNOWN_TOPIC_OR_PARTITION),
                ("t".into(), 9, UNKNOWN_TOPIC_OR_PARTITION),
                ("t".into(), 2, NONE),
            ]
        );
        let (_, parts) = fetch_offsets(&mut client, 9, &group, None).await;
        assert_eq!(
            parts,
            [
                fetched("t", 1, 2, -1, "sixteen bytes ok"),
                fetched("t", 2, 3, -1, "")
            ]
        );
        // A generation for a group that does not exist: ILLEGAL_GENERATION, and from v9
        // GROUP_ID_NOT_FOUND (Kafka's OffsetMetadataManager.validateOffsetCommit).
        let unknown = format!("unknown-v{version}");
        let request = commit_request(version, &unknown, 1, "m", &[("t", 0, 1, -1, None)]);
        let code = if version >= 9 {
            GROUP_ID_NOT_FOUND
        } else {
            ILLEGAL_GENERATION
        };
        assert_eq!(
            commit(&mut client, version, &request).await,
            [("t".into(), 0, code)]
        );
        assert_eq!(
            fetch_offsets(&mut client, 9, &unknown, None).await,
            (NONE, vec![])
        );
    }
    server.stop().await;
}

/// A commit with generation -1 is a simple commit whatever member id it names (a consumer
/// that lost its group, an admin tool): Kafka accepts it while the group is Empty, and
/// creates the group if there is none.
#[tokio::test]
async fn simple_commits_with_a_member_id_are_accepted_by_empty_groups() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "simple").await;
    create_topic(&server, "t", 1, &[]);
    for version in 2..=9i16 {
        let group = format!("simple-v{version}");
        // The first creates the group, the second finds it Empty.
        for offset in [1, 2] {
            let request = commit_request(
                version,
                &group,
                -1,
                "departed",
                &[("t", 0, offset, -1, None)],
            );
            assert_eq!(
                commit(&mut client, version, &request).await,
                [("t".into(), 0, NONE)],
                "v{version}"
            );
        }
        let (_, parts) = fetch_offsets(&mut client, version.max(2), &group, None).await;
        assert_eq!(parts, [fetched("t", 0, 2, -1, "")]);
    }
    server.stop().await;
}

/// Members commit with their generation; stale generations, strangers and simple commits
/// are refused while the group has members.
#[tokio::test]
async fn members_commit_with_their_generation() {
    let server = TestServer::start(config(&[])).await;
    create_topic(&server, "t", 2, &[]);
    let spec = JoinSpec::consumer(&["range"]);
    let mut members = form_group(&server, "active", 9, &[spec.clone(), spec]).await;
    let (a, b) = (members[0].id.clone(), members[1].id.clone());
    let generation = members[0].generation;
    let client = &mut members[0].client;
    for version in 2..=9i16 {
        let offset = i64::from(version);
        let commits = [
            ("t", 0, offset, -1, None),
            ("t", 1, offset + 100, -1, Some("b")),
        ];
        let mine = commit_request(version, "active", generation, &a, &commits[..1]);
        let theirs = commit_request(version, "active", generation, &b, &commits[1..]);
        assert_eq!(
            commit(client, version, &mine).await,
            [("t".into(), 0, NONE)],
            "v{version}"
        );
        assert_eq!(
            commit(client, version, &theirs).await,
            [("t".into(), 1, NONE)]
        );
        let refused: [(OffsetCommitRequest, i16); 3] = [
            (
                commit_request(version, "active", generation - 1, &a, &commits),
                ILLEGAL_GENERATION,
            ),
            (
                commit_request(version, "active", generation, "stranger", &commits),
                UNKNOWN_MEMBER_ID,
            ),
            // Only members commit to a group that has members.
            (
                commit_request(version, "active", -1, "", &commits),
                UNKNOWN_MEMBER_ID,
            ),
        ];
        for (request, code) in refused {
            assert_eq!(
                commit(client, version, &request).await,
                [("t".into(), 0, code), ("t".into(), 1, code)],
                "v{version}"
            );
        }
        let (_, parts) = fetch_offsets(client, 9, "active", None).await;
        assert_eq!(
            parts,
            [
                fetched("t", 0, offset, -1, ""),
                fetched("t", 1, offset + 100, -1, "b")
            ]
        );
    }
    server.stop().await;
}

/// Offsets are durable in `__consumer_offsets`: a broker restarted on the same directory
/// has every acknowledged commit, and none that was deleted.
#[tokio::test]
async fn committed_offsets_survive_a_restart() {
    let server = TestServer::start(config(&[])).await;
    create_topic(&server, "t", 3, &[]);
    let (active_id, active_generation) = {
        let mut client = server.connect().await;
        find_coordinator(&mut client, "kept").await;
        commit_simple(
            &mut client,
            9,
            "kept",
            &[("t", 0, 42, 3, Some("m")), ("t", 1, 43, -1, None)],
        )
        .await;
        commit_simple(&mut client, 9, "erased", &[("t", 0, 1, -1, None)]).await;
        commit_simple(
            &mut client,
            9,
            "trimmed",
            &[("t", 0, 2, -1, None), ("t", 1, 3, -1, None)],
        )
        .await;
        let request = DeleteGroupsRequest::default().with_groups_names(vec![gid("erased")]);
        let r: DeleteGroupsResponse = client.call(ApiKey::DeleteGroups, 2, &request).await;
        assert_eq!(r.results[0].error_code, NONE);
        let partition = OffsetDeleteRequestPartition::default().with_partition_index(0);
        let request = OffsetDeleteRequest::default()
            .with_group_id(gid("trimmed"))
            .with_topics(vec![OffsetDeleteRequestTopic::default()
                .with_name(name("t"))
                .with_partitions(vec![partition])]);
        let r: OffsetDeleteResponse = client.call(ApiKey::OffsetDelete, 0, &request).await;
        assert_eq!(
            (r.error_code, r.topics[0].partitions[0].error_code),
            (NONE, NONE)
        );
        let mut members = form_group(&server, "active", 9, &[JoinSpec::consumer(&["range"])]).await;
        let m = &mut members[0];
        let request = commit_request(
            9,
            "active",
            m.generation,
            &m.id,
            &[("t", 2, 9, 1, Some("member"))],
        );
        assert_eq!(
            commit(&mut m.client, 9, &request).await,
            [("t".into(), 2, NONE)]
        );
        (m.id.clone(), m.generation)
    };
    let server = server.restart(config(&[])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "kept").await;
    let expected = [
        (
            "kept",
            vec![fetched("t", 0, 42, 3, "m"), fetched("t", 1, 43, -1, "")],
        ),
        ("erased", vec![]),
        ("trimmed", vec![fetched("t", 1, 3, -1, "")]),
        ("active", vec![fetched("t", 2, 9, 1, "member")]),
    ];
    for (group, parts) in expected {
        assert_eq!(
            fetch_offsets(&mut client, 9, group, None).await,
            (NONE, parts),
            "{group}"
        );
    }
    let r = describe(&mut client, 5, &["erased", "kept"]).await;
    assert_eq!(r.groups[0].group_state.as_str(), "Dead");
    assert_eq!(r.groups[1].group_state.as_str(), "Empty");
    // The group's membership and assignment are durable too: its member, reconnecting,
    // goes on heartbeating in the same generation.
    let r = describe(&mut client, 5, &["active"]).await;
    let g = &r.groups[0];
    assert_eq!(
        (g.group_state.as_str(), g.protocol_data.as_str()),
        ("Stable", "range")
    );
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].member_id.as_str(), active_id);
    assert_eq!(g.members[0].member_assignment, assignment_for(&active_id));
    let code = heartbeat(
        &mut client,
        4,
        "active",
        active_generation,
        &active_id,
        None,
    )
    .await;
    assert_eq!(code, NONE);
    server.stop().await;
}

/// A client committing asynchronously (librdkafka's `rd_kafka_commit_message(..., async)`,
/// Java's `commitAsync`, auto-commit) pipelines its OffsetCommits on one connection: the
/// last one sent must be the one that stays, as Kafka handles a connection's requests in
/// order. Found by librdkafka's test 0030, which committed 1 to 50 and read back 49. On a
/// runtime with several workers, as the broker's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commits_leave_the_last_one_sent() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "pipelined").await;
    create_topic(&server, "t", 2, &[]);
    const COMMITS: i32 = 200;
    for round in 0..3 {
        let group = format!("pipelined-{round}");
        for i in 1..=COMMITS {
            let request = commit_request(
                9,
                &group,
                -1,
                "",
                &[
                    ("t", 0, i64::from(i), -1, None),
                    ("t", 1, i64::from(2 * i), -1, None),
                ],
            );
            client.send(ApiKey::OffsetCommit, 9, i, &request).await;
        }
        for i in 1..=COMMITS {
            let (correlation_id, r): (i32, OffsetCommitResponse) = client
                .read(ApiKey::OffsetCommit.response_header_version(9), 9)
                .await;
            assert_eq!(correlation_id, i, "answers come in order");
            for p in r.topics.iter().flat_map(|t| &t.partitions) {
                assert_eq!(p.error_code, NONE, "commit {i}");
            }
        }
        let (error, parts) = fetch_offsets(&mut client, 9, &group, Some(&[("t", &[0, 1])])).await;
        assert_eq!(error, NONE);
        let offsets: Vec<i64> = parts.iter().map(|p| p.2).collect();
        assert_eq!(
            offsets,
            [i64::from(COMMITS), i64::from(2 * COMMITS)],
            "{group}"
        );
    }
}
