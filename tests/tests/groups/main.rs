//! Consumer groups (the classic protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! OffsetCommit, OffsetFetch, DescribeGroups) with librdkafka against the real `myelin`
//! binary.
//!
//! The members are `group-member` processes (`src/bin/group-member.rs`): one librdkafka
//! consumer each, which prints every record it processes, commits it synchronously and
//! prints the outcome, and prints its assignment and generation after every rebalance. A
//! test closes a member (EOF on its stdin: a graceful close) or kills it with SIGKILL (its
//! session must time out), and checks from the members' output that no record was lost
//! and that only records a departed member processed without committing were processed
//! twice.
//!
//! `harness` runs producers and members; `check` checks what the members processed.
//!
//! Each test runs its own broker with `group.initial.rebalance.delay.ms=0`, a small
//! `__consumer_offsets` (5 partitions) and `group.min.session.timeout.ms=1000`, so that
//! joins and session timeouts take seconds, not minutes.

mod check;
mod harness;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use myelin_tests::admin::create_topic;
use myelin_tests::broker::Broker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use check::{check_processing, end_offsets};
use harness::{describe_all, member_settings, produce, wait_balanced, BackgroundProducer, Member};

/// The bound of every wait in these tests (joins, rebalances, session timeouts of at
/// most 10 s, draining a topic) on a busy 2-core machine.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The broker flags of every test here.
const BROKER_FLAGS: [&str; 6] = [
    "--override",
    "group.initial.rebalance.delay.ms=0",
    "--override",
    "offsets.topic.num.partitions=5",
    "--override",
    "group.min.session.timeout.ms=1000",
];

pub fn client_config(broker: &Broker) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("broker.address.family", "v4")
        .set("client.id", "myelin-e2e-groups");
    config
}

/// Waits until `done`, polling every 50 ms; past `timeout`, panics with `what` and what
/// `state` says.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
    state: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; state:\n{}",
            state()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The group's committed offsets for `0..partitions` of `topic`, read with OffsetFetch by
/// a consumer that does not join the group (None where nothing is committed).
fn group_offsets(broker: &Broker, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = client_config(broker)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, TIMEOUT)
        .expect("OffsetFetch answered");
    (0..partitions)
        .map(|p| {
            let elem = committed.find_partition(topic, p).expect("every partition");
            assert!(elem.error().is_ok(), "{p}: {:?}", elem.error());
            match elem.offset() {
                Offset::Offset(o) => Some(o),
                Offset::Invalid => None,
                other => panic!("partition {p}: committed {other:?}"),
            }
        })
        .collect()
}

// ---- the tests --------------------------------------------------------------------------

/// Members join and leave a group while records are produced: `a` runs throughout; `b`
/// starts with it and is killed (SIGKILL) mid-stream, so its partitions move only when its
/// session times out; `c` joins late and leaves by closing. At the end `a` owns every
/// partition and has committed the end of each.
fn members_come_and_go(strategy: &'static str) {
    const PARTITIONS: i32 = 6;
    let broker = Broker::start_with(&BROKER_FLAGS);
    let topic = "orders";
    create_topic(&broker.bootstrap(), topic, PARTITIONS);
    let group = format!("orders-{strategy}");
    let strategy_setting: &'static str = match strategy {
        "range" => "partition.assignment.strategy=range",
        "cooperative-sticky" => "partition.assignment.strategy=cooperative-sticky",
        other => panic!("no setting for {other}"),
    };
    let settings = member_settings(&[strategy_setting]);
    let spawn = |name: &str| Member::spawn(&broker, &group, topic, name, &settings);

    let mut a = spawn("a");
    let mut b = spawn("b");
    wait_balanced("a and b to share the partitions", &[&a, &b], PARTITIONS);

    let producer = BackgroundProducer::start(&broker, topic);
    producer.wait_for_more(300);
    wait_until(
        "a and b to process records",
        TIMEOUT,
        || !a.records().is_empty() && !b.records().is_empty(),
        || describe_all(&[&a, &b]),
    );

    // A late member: a rebalance while records flow.
    let mut c = spawn("c");
    wait_balanced(
        "a, b and c to share the partitions",
        &[&a, &b, &c],
        PARTITIONS,
    );
    producer.wait_for_more(300);
    wait_until(
        "c to process records",
        TIMEOUT,
        || !c.records().is_empty(),
        || describe_all(&[&a, &b, &c]),
    );

    // b dies without a word: its partitions move when its session times out.
    b.kill();
    wait_balanced(
        "a and c to take over b's partitions after its session timed out",
        &[&a, &c],
        PARTITIONS,
    );
    producer.wait_for_more(300);

    // c leaves by closing (LeaveGroup).
    c.close();
    wait_balanced("a to own every partition", &[&a], PARTITIONS);
    producer.wait_for_more(300);

    let acked = producer.finish();
    let ends = end_offsets(&acked, PARTITIONS);
    wait_until(
        "a to process and commit every record",
        TIMEOUT,
        || {
            let committed = a.committed();
            ends.iter()
                .all(|(p, end)| *end == 0 || committed.get(p) == Some(end))
        },
        || format!("end offsets {ends:?}\n{}", describe_all(&[&a, &b, &c])),
    );
    a.close();

    let duplicates = check_processing(&[&a, &b, &c], &acked);
    eprintln!(
        "{strategy}: {} records, {duplicates} processed twice; rebalances a {} b {} c {}",
        acked.len(),
        a.rebalances(),
        b.rebalances(),
        c.rebalances()
    );
    let committed = group_offsets(&broker, &group, topic, PARTITIONS);
    let expected: Vec<Option<i64>> = ends.values().map(|e| (*e > 0).then_some(*e)).collect();
    assert_eq!(committed, expected, "the group's committed offsets");
    assert_eq!(
        describe_group(&broker, &group),
        ("Empty".to_string(), vec![]),
        "the group after its last member left"
    );
}

#[test]
fn members_come_and_go_eager_range() {
    members_come_and_go("range");
}

#[test]
fn members_come_and_go_cooperative_sticky() {
    members_come_and_go("cooperative-sticky");
}

/// The group as DescribeGroups shows it: (state, member ids, sorted).
fn describe_group(broker: &Broker, group: &str) -> (String, Vec<String>) {
    let consumer: BaseConsumer = client_config(broker).create().expect("a client");
    let list = consumer
        .fetch_group_list(Some(group), TIMEOUT)
        .expect("DescribeGroups answered");
    let [info] = list.groups() else {
        panic!("{} groups described", list.groups().len());
    };
    let mut members: Vec<String> = info.members().iter().map(|m| m.id().to_string()).collect();
    members.sort();
    (info.state().to_string(), members)
}

/// Produces one record to every partition, keyed `<prefix>-<partition>`, and waits until
/// the member owning each partition processed it.
fn one_record_per_partition(
    broker: &Broker,
    topic: &str,
    partitions: i32,
    prefix: &str,
    members: &[&Member],
) {
    let records: Vec<(i32, String)> = (0..partitions)
        .map(|p| (p, format!("{prefix}-{p}")))
        .collect();
    produce(broker, topic, &records);
    for m in members {
        for p in m.partitions() {
            let key = format!("{prefix}-{p}");
            wait_until(
                &format!("{} to process {key}", m.name),
                TIMEOUT,
                || m.records().iter().any(|r| r.0 == p && r.2 == key),
                || describe_all(members),
            );
        }
    }
}

/// KIP-345 static membership. A static member (`group.instance.id`) that closes sends no
/// LeaveGroup, and when it comes back within its session timeout it takes its place again
/// without a rebalance: the other member sees no rebalance callback and keeps its
/// generation, and the returning member gets the same partitions in the same generation
/// under a new member id. A static member that does not come back is evicted when its
/// session times out, and the other member gets every partition.
#[test]
fn static_member_restarts_without_rebalance_and_is_evicted_after_session_timeout() {
    const PARTITIONS: i32 = 6;
    let broker = Broker::start_with(&BROKER_FLAGS);
    let topic = "static";
    create_topic(&broker.bootstrap(), topic, PARTITIONS);
    let group = "static-group";
    let dynamic = [
        "session.timeout.ms=10000",
        "heartbeat.interval.ms=300",
        "max.poll.interval.ms=20000",
    ];
    let static_member: Vec<&str> = dynamic
        .iter()
        .copied()
        .chain(["group.instance.id=static-1"])
        .collect();

    let a = Member::spawn(&broker, group, topic, "a", &dynamic);
    wait_balanced("a to own every partition", &[&a], PARTITIONS);
    let mut s1 = Member::spawn(&broker, group, topic, "s1", &static_member);
    wait_balanced("a and s1 to share the partitions", &[&a, &s1], PARTITIONS);
    let (generation, a_id, a_partitions) = a.assignment().unwrap();
    let (s1_generation, s1_id, s1_partitions) = s1.assignment().unwrap();
    assert_eq!(s1_generation, generation, "{}", describe_all(&[&a, &s1]));
    one_record_per_partition(&broker, topic, PARTITIONS, "before", &[&a, &s1]);
    let a_rebalances = a.rebalances();

    // s1 closes (no LeaveGroup: it is static) and a new process takes its instance id.
    s1.close();
    let s2 = Member::spawn(&broker, group, topic, "s2", &static_member);
    wait_until(
        "s2 to get an assignment",
        TIMEOUT,
        || !s2.partitions().is_empty(),
        || describe_all(&[&a, &s2]),
    );
    let (s2_generation, s2_id, s2_partitions) = s2.assignment().unwrap();
    assert_eq!(
        (s2_generation, &s2_partitions),
        (generation, &s1_partitions),
        "the static member came back to its generation and partitions"
    );
    assert_ne!(
        s2_id, s1_id,
        "a returning static member gets a new member id"
    );
    // Both consume, and a saw no rebalance: its heartbeats (every 300 ms) would have
    // brought it into a new generation by now.
    one_record_per_partition(&broker, topic, PARTITIONS, "after", &[&a, &s2]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        a.rebalances(),
        a_rebalances,
        "a static member's restart made the other member rebalance:\n{}",
        describe_all(&[&a, &s2])
    );
    assert_eq!(
        a.assignment().unwrap(),
        (generation, a_id.clone(), a_partitions)
    );
    let mut ids = vec![a_id.clone(), s2_id.clone()];
    ids.sort();
    assert_eq!(describe_group(&broker, group), ("Stable".to_string(), ids));

    // s2 closes and stays away: after its 10 s session it is evicted, and a gets all.
    let mut s2 = s2;
    s2.close();
    wait_balanced(
        "a to own every partition once the static member's session timed out",
        &[&a],
        PARTITIONS,
    );
    let (evicted_generation, a_id_now, _) = a.assignment().unwrap();
    assert!(evicted_generation > generation, "{}", a.describe());
    assert_eq!(a_id_now, a_id);
    assert_eq!(
        describe_group(&broker, group),
        ("Stable".to_string(), vec![a_id])
    );
    one_record_per_partition(&broker, topic, PARTITIONS, "evicted", &[&a]);
}

/// The records a member processed, by partition, in order.
fn offsets_by_partition(member: &Member) -> BTreeMap<i32, Vec<i64>> {
    let mut out: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (p, o, _) in member.records() {
        out.entry(p).or_default().push(o);
    }
    out
}

/// Committed offsets are durable: they survive a graceful restart of the broker and a
/// SIGKILL, and a new member of the group resumes exactly at them.
#[test]
fn committed_offsets_survive_restart_and_sigkill() {
    const PARTITIONS: i32 = 3;
    let mut broker = Broker::start_with(&BROKER_FLAGS);
    let topic = "resume";
    let group = "resume-group";
    create_topic(&broker.bootstrap(), topic, PARTITIONS);
    let records = |from: i64, to: i64| -> Vec<(i32, String)> {
        (0..PARTITIONS)
            .flat_map(|p| (from..to).map(move |i| (p, format!("{p}-{i}"))))
            .collect()
    };
    produce(&broker, topic, &records(0, 20));

    // A member commits offsets explicitly: 7, 12, 20, then 9 for partition 0.
    {
        let consumer: BaseConsumer = client_config(&broker)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "3000")
            .set("heartbeat.interval.ms", "300")
            .create()
            .expect("a consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let deadline = Instant::now() + TIMEOUT;
        while consumer.assignment().expect("assignment").count() < PARTITIONS as usize {
            assert!(Instant::now() < deadline, "no assignment after {TIMEOUT:?}");
            if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
                panic!("consumer error: {e}");
            }
        }
        let commit = |offsets: &[(i32, i64)]| {
            let mut tpl = TopicPartitionList::new();
            for (p, o) in offsets {
                tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
                    .unwrap();
            }
            consumer
                .commit(&tpl, CommitMode::Sync)
                .unwrap_or_else(|e| panic!("commit {offsets:?}: {e}"));
        };
        commit(&[(0, 7), (1, 12), (2, 20)]);
        commit(&[(0, 9)]);
        let committed = consumer.committed(TIMEOUT).expect("committed");
        let mut got: Vec<(i32, Offset)> = committed
            .elements_for_topic(topic)
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect();
        got.sort_by_key(|(p, _)| *p);
        assert_eq!(
            got,
            vec![
                (0, Offset::Offset(9)),
                (1, Offset::Offset(12)),
                (2, Offset::Offset(20))
            ]
        );
    }

    // A graceful restart.
    let status = broker.stop();
    assert!(status.success(), "SIGTERM: {status}");
    broker.restart();
    assert_eq!(
        group_offsets(&broker, group, topic, PARTITIONS),
        vec![Some(9), Some(12), Some(20)],
        "after a graceful restart"
    );

    // A new member resumes there, and commits everything up to 25 per partition. Its
    // session (10 s) outlasts the broker's restart below.
    let settings = [
        "session.timeout.ms=10000",
        "heartbeat.interval.ms=300",
        "max.poll.interval.ms=20000",
    ];
    let mut m1 = Member::spawn(&broker, group, topic, "m1", &settings);
    produce(&broker, topic, &records(20, 25));
    wait_until(
        "m1 to commit offset 25 everywhere",
        TIMEOUT,
        || m1.committed().values().filter(|c| **c == 25).count() == PARTITIONS as usize,
        || m1.describe(),
    );
    assert_eq!(
        offsets_by_partition(&m1),
        BTreeMap::from([
            (0, (9..25).collect()),
            (1, (12..25).collect()),
            (2, (20..25).collect())
        ]),
        "m1 resumed at the committed offsets"
    );
    let (m1_generation, m1_id, _) = m1.assignment().unwrap();

    // SIGKILL, with m1 in the group; m1 dies too. The group comes back from
    // `__consumer_offsets` as it was, m1 included (until its session times out, as in Kafka),
    // with every acknowledged commit.
    broker.kill();
    m1.kill();
    broker.restart();
    assert_eq!(
        describe_group(&broker, group),
        ("Stable".to_string(), vec![m1_id]),
        "the group after SIGKILL"
    );
    assert_eq!(
        group_offsets(&broker, group, topic, PARTITIONS),
        vec![Some(25); 3],
        "after SIGKILL"
    );
    // A new member joins once m1's session has timed out, in the next generation, and
    // resumes at the offsets committed before the SIGKILL.
    produce(&broker, topic, &records(25, 28));
    let mut m2 = Member::spawn(&broker, group, topic, "m2", &settings);
    wait_until(
        "m2 to commit offset 28 everywhere",
        TIMEOUT,
        || m2.committed().values().filter(|c| **c == 28).count() == PARTITIONS as usize,
        || m2.describe(),
    );
    let (m2_generation, m2_id, _) = m2.assignment().unwrap();
    assert_eq!(
        m2_generation,
        m1_generation + 1,
        "the generation after SIGKILL"
    );
    assert_eq!(
        describe_group(&broker, group),
        ("Stable".to_string(), vec![m2_id])
    );
    m2.close();
    assert_eq!(
        offsets_by_partition(&m2),
        (0..PARTITIONS).map(|p| (p, vec![25, 26, 27])).collect(),
        "m2 resumed at the offsets committed before SIGKILL"
    );
    assert_eq!(
        describe_group(&broker, group),
        ("Empty".to_string(), vec![])
    );
}
