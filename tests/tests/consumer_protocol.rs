//! The KIP-848 consumer group protocol with librdkafka (`group.protocol=consumer`, the
//! `rdkafka` crate, librdkafka 2.12) against the real `myelin` binary: the broker computes
//! the assignment, members get disjoint shares of the partitions, and the group rebalances
//! when members come and go, without losing a record.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use myelin_tests::broker::{wait_for, Broker};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

const TOPIC: &str = "kip848-events";
const PARTITIONS: i32 = 6;
const GROUP: &str = "kip848-group";
const TIMEOUT: Duration = Duration::from_secs(60);

fn broker() -> Broker {
    Broker::start_with(&[
        "--override",
        "offsets.topic.num.partitions=3",
        "--override",
        "group.consumer.heartbeat.interval.ms=500",
        "--override",
        "group.consumer.session.timeout.ms=6000",
    ])
}

fn config(broker: &Broker) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("broker.address.family", "v4");
    config
}

/// A consumer of the consumer protocol, polled on its own thread until stopped. It records
/// every record it sees and its current assignment, and commits synchronously after each
/// record, so that a member taking a partition over resumes after what was processed.
struct Member {
    seen: Arc<Mutex<Vec<(i32, i64)>>>,
    assignment: Arc<Mutex<BTreeSet<i32>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn start(broker: &Broker, name: &str) -> Member {
        let consumer: BaseConsumer = config(broker)
            .set("group.id", GROUP)
            .set("group.protocol", "consumer")
            .set("client.id", name)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "100")
            .create()
            .expect("a consumer");
        consumer.subscribe(&[TOPIC]).expect("subscribe");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let assignment = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, assignment, stop) = (seen.clone(), assignment.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                        seen.lock().unwrap().push((m.partition(), m.offset()));
                        consumer
                            .commit_message(&m, CommitMode::Sync)
                            .expect("commit");
                    }
                    if let Ok(tpl) = consumer.assignment() {
                        *assignment.lock().unwrap() =
                            tpl.elements().iter().map(|e| e.partition()).collect();
                    }
                }
                // Dropping the consumer closes it: it leaves the group (epoch -1).
                drop(consumer);
            })
        };
        Member {
            seen,
            assignment,
            stop,
            thread: Some(thread),
        }
    }

    fn assignment(&self) -> BTreeSet<i32> {
        self.assignment.lock().unwrap().clone()
    }

    fn seen(&self) -> Vec<(i32, i64)> {
        self.seen.lock().unwrap().clone()
    }

    fn close(mut self) -> Vec<(i32, i64)> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("the consumer thread");
        }
        self.seen()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn produce(broker: &Broker, from: usize, n: usize) {
    let producer: FutureProducer = config(broker)
        .set("message.timeout.ms", "30000")
        .create()
        .expect("a producer");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for i in from..from + n {
            let key = format!("key-{i}");
            let value = format!("value-{i}");
            producer
                .send(
                    FutureRecord::to(TOPIC).key(&key).payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .expect("acknowledged");
        }
    });
}

/// Waits until the members' assignments are disjoint and cover every partition.
fn wait_balanced(members: &[&Member], what: &str) -> Vec<BTreeSet<i32>> {
    wait_for(what, TIMEOUT, || {
        let shares: Vec<BTreeSet<i32>> = members.iter().map(|m| m.assignment()).collect();
        let total: usize = shares.iter().map(BTreeSet::len).sum();
        let union: BTreeSet<i32> = shares.iter().flatten().copied().collect();
        let balanced = total == PARTITIONS as usize
            && union.len() == PARTITIONS as usize
            && shares.iter().all(|s| !s.is_empty());
        balanced.then_some(shares)
    })
}

#[test]
fn librdkafka_consumers_get_broker_computed_assignments_and_rebalance() {
    let broker = broker();
    myelin_tests::admin::create_topic(&broker.bootstrap(), TOPIC, PARTITIONS);
    produce(&broker, 0, 120);

    let a = Member::start(&broker, "member-a");
    let only_a = wait_balanced(&[&a], "the first member to own every partition");
    assert_eq!(only_a[0].len(), PARTITIONS as usize);

    let b = Member::start(&broker, "member-b");
    let shares = wait_balanced(&[&a, &b], "two members to share the partitions");
    assert_eq!(
        (shares[0].len(), shares[1].len()),
        (3, 3),
        "the uniform assignor balances six partitions over two members: {shares:?}"
    );
    produce(&broker, 120, 120);

    let c = Member::start(&broker, "member-c");
    let shares = wait_balanced(&[&a, &b, &c], "three members to share the partitions");
    assert!(shares.iter().all(|s| s.len() == 2), "{shares:?}");
    produce(&broker, 240, 120);

    // B leaves: A and C take its partitions over.
    let seen_b = b.close();
    wait_balanced(
        &[&a, &c],
        "the remaining two members to share the partitions",
    );
    produce(&broker, 360, 120);

    // Every record was processed by somebody.
    let total = 480;
    let seen: Vec<(i32, i64)> = wait_for("every record to be consumed", TIMEOUT, || {
        let all: Vec<(i32, i64)> = a
            .seen()
            .into_iter()
            .chain(c.seen())
            .chain(seen_b.iter().copied())
            .collect();
        let distinct: BTreeSet<(i32, i64)> = all.iter().copied().collect();
        (distinct.len() == total).then_some(all)
    });
    // Each partition's offsets are contiguous from 0: nothing skipped.
    let mut by_partition: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
    for (p, o) in &seen {
        by_partition.entry(*p).or_default().insert(*o);
    }
    for (p, offsets) in &by_partition {
        let expected: BTreeSet<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(offsets, &expected, "partition {p} has a gap");
    }
    // Members commit after every record, so a record is seen twice only if it was taken
    // over mid-flight: at most one per partition per handover.
    let duplicates = seen.len() - total;
    assert!(
        duplicates <= (PARTITIONS as usize) * 3,
        "{duplicates} duplicates for {total} records"
    );
    drop(a);
    drop(c);
}
