//! `myelin group ...` against an in-process broker, run as the real binary, and the group
//! metrics at `/metrics`.

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::{bounded, broker, cli_ok, http_get, run_cli};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, GroupId, JoinGroupRequest, OffsetCommitRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use myelin::client::data::Acks;
use myelin::client::records::{encode_batch, NewRecord};
use myelin::client::{ClientConfig, Cluster, Connection};
use myelin::BrokerHandle;
use myelin_log::compression::Compression;

/// A broker with a small offsets topic and no initial rebalance delay.
async fn start(dir: &std::path::Path) -> BrokerHandle {
    bounded(
        broker(dir)
            .config("offsets.topic.num.partitions", "3")
            .config("group.initial.rebalance.delay.ms", "0")
            .start(),
    )
    .await
    .expect("the broker starts")
}

fn client_config() -> ClientConfig {
    ClientConfig {
        client_id: "test-consumer".into(),
        ..ClientConfig::default()
    }
}

/// Produces records with timestamps `timestamps` (ms) to `topic`-`partition`.
async fn produce(addr: SocketAddr, topic: &str, partition: i32, timestamps: &[i64]) {
    let mut c = bounded(Connection::connect(&addr.to_string(), client_config()))
        .await
        .unwrap();
    let records: Vec<NewRecord> = timestamps
        .iter()
        .map(|ts| NewRecord {
            value: Some(format!("at {ts}").into_bytes()),
            timestamp: *ts,
            ..NewRecord::default()
        })
        .collect();
    let batch = encode_batch(&records, Compression::None).unwrap();
    bounded(c.produce(topic, partition, batch, Acks::All))
        .await
        .unwrap();
}

async fn cluster(addr: SocketAddr) -> Cluster {
    bounded(Cluster::connect(&addr.to_string(), client_config()))
        .await
        .unwrap()
}

/// The group's committed offsets, as (topic, partition, offset).
async fn committed(addr: SocketAddr, group: &str) -> Vec<(String, i32, i64)> {
    let mut c = cluster(addr).await;
    let coordinator = bounded(c.coordinator(group)).await.unwrap();
    bounded(coordinator.offset_fetch(group, None))
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.topic, o.partition, o.offset))
        .collect()
}

fn offsets(list: &[(&str, i32, i64)]) -> Vec<(String, i32, i64)> {
    list.iter()
        .map(|(t, p, o)| (t.to_string(), *p, *o))
        .collect()
}

/// The rows of the table whose header starts with `first_column`, split on whitespace.
fn table(out: &str, first_column: &str) -> Vec<Vec<String>> {
    let mut lines = out
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{first_column} ")));
    assert!(lines.next().is_some(), "no {first_column} table in\n{out}");
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// A metric line's value, or `None` when the series is absent.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_reset_and_delete_a_group_without_members() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path()).await;
    let addr = b.kafka_addr();
    let a = addr.to_string();
    cli_ok(addr, &["topic", "create", "orders", "-p", "2"], b"").await;
    // Partition 0: ten records at 0 s, 1 s, ... 9 s; partition 1: four at 100 s on.
    produce(
        addr,
        "orders",
        0,
        &(0..10).map(|i| i * 1000).collect::<Vec<_>>(),
    )
    .await;
    produce(addr, "orders", 1, &[100_000, 101_000, 102_000, 103_000]).await;

    // A simple commit (generation -1, no member) creates the group, Empty.
    let mut c = cluster(addr).await;
    let coordinator = bounded(c.coordinator("app")).await.unwrap();
    bounded(
        coordinator
            .commit_offsets_simple("app", &[("orders".into(), 0, 3), ("orders".into(), 1, 4)]),
    )
    .await
    .unwrap();
    drop(c);

    let out = cli_ok(addr, &["group", "list"], b"").await;
    assert_eq!(
        table(&out, "GROUP"),
        [row(&["app", "Empty", "-", "0"])],
        "{out}"
    );

    let out = cli_ok(addr, &["group", "describe", "app"], b"").await;
    assert!(out.starts_with("Group: app\nState: Empty\n"), "{out}");
    assert!(out.contains("Members: 0\n"), "{out}");
    assert_eq!(
        table(&out, "TOPIC"),
        [
            row(&["orders", "0", "3", "10", "7", "-", "-", "-"]),
            row(&["orders", "1", "4", "4", "0", "-", "-", "-"]),
        ],
        "{out}"
    );

    // The lag at /metrics: high watermark minus committed offset.
    let http = b.http_addr().unwrap();
    let (_, text) = http_get(http, "/metrics").await;
    let lag = |p: &str| {
        format!("myelin_group_consumer_lag{{group=\"app\",partition=\"{p}\",topic=\"orders\"}}")
    };
    assert_eq!(metric(&text, &lag("0")), Some(7.0), "{text}");
    assert_eq!(metric(&text, &lag("1")), Some(0.0), "{text}");
    assert_eq!(
        metric(&text, "myelin_group_count{state=\"Empty\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "myelin_group_count{state=\"Stable\"}"),
        Some(0.0)
    );
    assert_eq!(metric(&text, "myelin_group_members"), Some(0.0));
    assert!(metric(&text, "myelin_group_rebalances_total").is_some());

    // A dry run prints the plan and changes nothing.
    let dry = run_cli(
        &[
            "group",
            "reset-offsets",
            "app",
            "--topic",
            "orders",
            "--to-earliest",
            "-b",
            &a,
        ],
        b"",
    )
    .await;
    assert!(dry.success, "{}", dry.stderr);
    assert_eq!(
        table(&dry.stdout, "GROUP"),
        [
            row(&["app", "orders", "0", "3", "0"]),
            row(&["app", "orders", "1", "4", "0"]),
        ],
        "{}",
        dry.stdout
    );
    assert!(dry.stderr.contains("Dry run"), "{}", dry.stderr);
    assert!(!dry.stderr.contains("refused"), "{}", dry.stderr);
    assert_eq!(
        committed(addr, "app").await,
        offsets(&[("orders", 0, 3), ("orders", 1, 4)])
    );

    // --execute commits: one partition to an offset...
    let out = cli_ok(
        addr,
        &[
            "group",
            "reset-offsets",
            "app",
            "--topic",
            "orders:0",
            "--to-offset",
            "5",
            "--execute",
        ],
        b"",
    )
    .await;
    assert!(out.contains("Committed 1 offset(s) of group app."), "{out}");
    assert_eq!(
        committed(addr, "app").await,
        offsets(&[("orders", 0, 5), ("orders", 1, 4)])
    );
    // ... every committed topic to a time (the first record at or after 2.5 s) ...
    let out = cli_ok(
        addr,
        &[
            "group",
            "reset-offsets",
            "app",
            "--all-topics",
            "--to-datetime",
            "1970-01-01T00:00:02.500Z",
            "--execute",
        ],
        b"",
    )
    .await;
    assert_eq!(
        table(&out, "GROUP"),
        [
            row(&["app", "orders", "0", "5", "3"]),
            row(&["app", "orders", "1", "4", "0"]),
        ],
        "{out}"
    );
    assert_eq!(
        committed(addr, "app").await,
        offsets(&[("orders", 0, 3), ("orders", 1, 0)])
    );
    // ... past the last record: the log end ...
    cli_ok(
        addr,
        &[
            "group",
            "reset-offsets",
            "app",
            "--topic",
            "orders",
            "--to-datetime",
            "99999999999999",
            "--execute",
        ],
        b"",
    )
    .await;
    assert_eq!(
        committed(addr, "app").await,
        offsets(&[("orders", 0, 10), ("orders", 1, 4)])
    );
    // ... back by three ...
    cli_ok(
        addr,
        &[
            "group",
            "reset-offsets",
            "app",
            "--topic",
            "orders:1",
            "--shift-by",
            "-3",
            "--execute",
        ],
        b"",
    )
    .await;
    assert_eq!(
        committed(addr, "app").await,
        offsets(&[("orders", 0, 10), ("orders", 1, 1)])
    );
    // ... and an offset past the end is kept at the end.
    let out = cli_ok(
        addr,
        &[
            "group",
            "reset-offsets",
            "app",
            "--topic",
            "orders:1",
            "--to-offset",
            "99",
        ],
        b"",
    )
    .await;
    assert_eq!(
        table(&out, "GROUP"),
        [row(&["app", "orders", "1", "1", "4"])]
    );
    let out = cli_ok(addr, &["group", "describe", "app"], b"").await;
    assert_eq!(
        table(&out, "TOPIC"),
        [
            row(&["orders", "0", "10", "10", "0", "-", "-", "-"]),
            row(&["orders", "1", "1", "4", "3", "-", "-", "-"]),
        ],
        "{out}"
    );

    // Bad selections fail with what is wrong.
    for (args, expected) in [
        (
            vec!["--topic", "nope", "--to-earliest"],
            "UNKNOWN_TOPIC_OR_PARTITION",
        ),
        (
            vec!["--topic", "orders:7", "--to-earliest"],
            "no partition 7",
        ),
        (vec!["--topic", "orders"], "--to-earliest"),
        (vec!["--to-latest"], "--topic"),
        (
            vec!["--topic", "orders", "--to-datetime", "2024-01-01T00:00:00"],
            "no UTC offset",
        ),
    ] {
        let mut all = vec!["group", "reset-offsets", "app", "-b", &a];
        all.extend(args);
        let out = run_cli(&all, b"").await;
        assert!(!out.success, "{all:?} succeeded");
        assert!(out.stderr.contains(expected), "{all:?}: {}", out.stderr);
    }

    // Delete removes the group and its offsets.
    let out = cli_ok(addr, &["group", "delete", "app"], b"").await;
    assert_eq!(out, "Deleted group app.\n");
    let out = cli_ok(addr, &["group", "list"], b"").await;
    assert!(table(&out, "GROUP").is_empty(), "{out}");
    assert!(committed(addr, "app").await.is_empty());
    let gone = run_cli(&["group", "describe", "app", "-b", &a], b"").await;
    assert!(!gone.success);
    assert!(gone.stderr.contains("does not exist"), "{}", gone.stderr);
    let gone = run_cli(&["group", "delete", "app", "-b", &a], b"").await;
    assert!(!gone.success);
    assert!(
        gone.stderr.contains("GROUP_ID_NOT_FOUND"),
        "{}",
        gone.stderr
    );
    let out = cli_ok(addr, &["group", "delete", "app", "--if-exists"], b"").await;
    assert_eq!(out, "Group app does not exist.\n");
    let (_, text) = http_get(http, "/metrics").await;
    assert_eq!(metric(&text, &lag("0")), None, "{text}");
    assert_eq!(
        metric(&text, "myelin_group_count{state=\"Empty\"}"),
        Some(0.0)
    );

    bounded(b.shutdown()).await.unwrap();
}

/// The consumer protocol's subscription to `topics` (version 0).
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = Vec::new();
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        b.extend_from_slice(&(t.len() as i16).to_be_bytes());
        b.extend_from_slice(t.as_bytes());
    }
    b.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(b)
}

/// The consumer protocol's assignment of `partitions` of one topic (version 0).
fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let mut b = Vec::new();
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&1i32.to_be_bytes());
    b.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    b.extend_from_slice(topic.as_bytes());
    b.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
    for p in partitions {
        b.extend_from_slice(&p.to_be_bytes());
    }
    b.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(b)
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// Joins `group` as its only member, takes every partition of `topic`, and commits
/// `offset` on partition 0 as that member. Returns the member id.
async fn join_and_commit(
    coordinator: &mut Connection,
    group: &str,
    topic: &str,
    partitions: &[i32],
    offset: i64,
) -> String {
    let version = coordinator.version(ApiKey::JoinGroup, 5..=5).unwrap();
    let mut member_id = String::new();
    let joined = loop {
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(str_bytes(group)))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_member_id(str_bytes(&member_id))
            .with_protocol_type(str_bytes("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(str_bytes("range"))
                .with_metadata(subscription(&[topic]))]);
        let response = bounded(coordinator.call(version, &request)).await.unwrap();
        // MEMBER_ID_REQUIRED (KIP-394): join again with the id given.
        if response.error_code == 79 {
            member_id = response.member_id.to_string();
            continue;
        }
        assert_eq!(response.error_code, 0, "JoinGroup: {response:?}");
        break response;
    };
    let member_id = joined.member_id.to_string();
    assert_eq!(joined.leader.as_str(), member_id, "the only member leads");
    let version = coordinator.version(ApiKey::SyncGroup, 3..=3).unwrap();
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_generation_id(joined.generation_id)
        .with_member_id(str_bytes(&member_id))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(str_bytes(&member_id))
            .with_assignment(assignment(topic, partitions))]);
    let synced = bounded(coordinator.call(version, &sync)).await.unwrap();
    assert_eq!(synced.error_code, 0, "SyncGroup: {synced:?}");

    let version = coordinator.version(ApiKey::OffsetCommit, 8..=8).unwrap();
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_generation_id_or_member_epoch(joined.generation_id)
        .with_member_id(str_bytes(&member_id))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(str_bytes(topic)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])]);
    let committed = bounded(coordinator.call(version, &commit)).await.unwrap();
    assert_eq!(
        committed.topics[0].partitions[0].error_code, 0,
        "OffsetCommit: {committed:?}"
    );
    member_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_with_members_shows_them_and_refuses_resets() {
    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path()).await;
    let addr = b.kafka_addr();
    let a = addr.to_string();
    cli_ok(addr, &["topic", "create", "orders", "-p", "2"], b"").await;
    produce(addr, "orders", 0, &[1, 2, 3]).await;

    let mut c = cluster(addr).await;
    let coordinator = bounded(c.coordinator("live")).await.unwrap();
    let member = join_and_commit(coordinator, "live", "orders", &[0, 1], 1).await;

    let out = cli_ok(addr, &["group", "list"], b"").await;
    assert_eq!(
        table(&out, "GROUP"),
        [row(&["live", "Stable", "consumer", "1"])],
        "{out}"
    );

    let out = cli_ok(addr, &["group", "describe", "live"], b"").await;
    assert!(out.contains("State: Stable\n"), "{out}");
    assert!(out.contains("Protocol type: consumer\n"), "{out}");
    assert!(out.contains("Protocol: range\n"), "{out}");
    assert!(out.contains("Members: 1\n"), "{out}");
    let members = table(&out, "MEMBER-ID");
    assert_eq!(members.len(), 1, "{out}");
    let host = members[0][3].clone();
    assert!(host.contains("127.0.0.1"), "{out}");
    assert_eq!(
        members[0],
        row(&[&member, "-", "test-consumer", &host, "orders:0,1"]),
        "{out}"
    );
    assert_eq!(
        table(&out, "TOPIC"),
        [
            row(&[
                "orders",
                "0",
                "1",
                "3",
                "2",
                &member,
                &host,
                "test-consumer"
            ]),
            row(&[
                "orders",
                "1",
                "-",
                "0",
                "-",
                &member,
                &host,
                "test-consumer"
            ]),
        ],
        "{out}"
    );

    let (_, text) = http_get(b.http_addr().unwrap(), "/metrics").await;
    assert_eq!(
        metric(&text, "myelin_group_count{state=\"Stable\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(metric(&text, "myelin_group_members"), Some(1.0));
    assert!(metric(&text, "myelin_group_rebalances_total").unwrap() >= 1.0);
    assert_eq!(
        metric(
            &text,
            "myelin_group_consumer_lag{group=\"live\",partition=\"0\",topic=\"orders\"}"
        ),
        Some(2.0),
        "{text}"
    );

    // The dry run warns; --execute is refused by the broker, and says why.
    let args = [
        "group",
        "reset-offsets",
        "live",
        "--topic",
        "orders",
        "--to-latest",
        "-b",
        &a,
    ];
    let dry = run_cli(&args, b"").await;
    assert!(dry.success, "{}", dry.stderr);
    assert!(
        dry.stderr.contains("--execute will be refused"),
        "{}",
        dry.stderr
    );
    let mut execute = args.to_vec();
    execute.push("--execute");
    let refused = run_cli(&execute, b"").await;
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("the broker refused to commit"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("is Stable with 1 member(s)"),
        "{}",
        refused.stderr
    );
    assert_eq!(committed(addr, "live").await, offsets(&[("orders", 0, 1)]));

    // Nor can it be deleted.
    let refused = run_cli(&["group", "delete", "live", "-b", &a], b"").await;
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("NON_EMPTY_GROUP"),
        "{}",
        refused.stderr
    );

    drop(c);
    bounded(b.shutdown()).await.unwrap();
}

/// A share group (KIP-932): listed with its members, described with their partitions and
/// each partition's start offset, log end and lag, its backlog in the metrics, and deleted
/// once empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_group_is_listed_described_and_deleted() {
    use kafka_protocol::messages::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};

    let dir = tempfile::tempdir().unwrap();
    let b = start(dir.path()).await;
    let addr = b.kafka_addr();
    cli_ok(addr, &["topic", "create", "jobs", "-p", "2"], b"").await;
    produce(addr, "jobs", 0, &[1000, 2000, 3000]).await;
    let mut c = bounded(Connection::connect(&addr.to_string(), client_config()))
        .await
        .unwrap();
    let heartbeat = |member: &str, epoch: i32, topics: Option<Vec<&str>>| {
        ShareGroupHeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string("workers".into())))
            .with_member_id(StrBytes::from_string(member.into()))
            .with_member_epoch(epoch)
            .with_subscribed_topic_names(topics.map(|ts| {
                ts.into_iter()
                    .map(|t| TopicName(StrBytes::from_string(t.into())))
                    .collect()
            }))
    };
    let r: ShareGroupHeartbeatResponse =
        bounded(c.call(1, &heartbeat("worker-1", 0, Some(vec!["jobs"]))))
            .await
            .unwrap();
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);

    let out = cli_ok(addr, &["group", "list"], b"").await;
    assert_eq!(
        table(&out, "GROUP"),
        [row(&["workers", "Stable", "share", "1"])]
    );
    let out = cli_ok(addr, &["group", "describe", "workers"], b"").await;
    assert!(out.contains("Type: share"), "{out}");
    assert_eq!(
        table(&out, "MEMBER-ID"),
        [row(&[
            "worker-1",
            "test-consumer",
            "/127.0.0.1",
            "jobs:0,1"
        ])]
    );
    // The group started at the log end (share.auto.offset.reset latest): nothing to do.
    assert_eq!(
        table(&out, "TOPIC"),
        [
            row(&["jobs", "0", "3", "3", "0"]),
            row(&["jobs", "1", "0", "0", "0"])
        ]
    );
    // Two more records are the group's backlog in the metrics; nothing is in flight yet.
    produce(addr, "jobs", 0, &[4000, 5000]).await;
    let (_, text) = http_get(b.http_addr().unwrap(), "/metrics").await;
    let series = |name: &str| format!("{name}{{group=\"workers\",partition=\"0\",topic=\"jobs\"}}");
    assert_eq!(
        metric(&text, &series("myelin_share_group_lag")),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, &series("myelin_share_group_in_flight_records")),
        Some(0.0)
    );
    assert_eq!(metric(&text, "myelin_share_group_members"), Some(1.0));
    assert_eq!(
        metric(&text, "myelin_share_group_count{state=\"Stable\"}"),
        Some(1.0)
    );
    // A member keeps it from deletion; once it leaves, it goes.
    let out = run_cli(
        &[
            "group",
            "delete",
            "workers",
            "--bootstrap-server",
            &addr.to_string(),
        ],
        b"",
    )
    .await;
    assert!(!out.success, "deleted a share group with a member");
    let r: ShareGroupHeartbeatResponse = bounded(c.call(1, &heartbeat("worker-1", -1, None)))
        .await
        .unwrap();
    assert_eq!(r.error_code, 0);
    cli_ok(addr, &["group", "delete", "workers"], b"").await;
    let out = cli_ok(addr, &["group", "list"], b"").await;
    assert!(!out.contains("workers"), "{out}");
    drop(c);
    b.shutdown().await.unwrap();
}
