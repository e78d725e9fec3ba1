//! The harness of the group tests: producers that record their acknowledgements, and
//! `group-member` processes with what they printed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use myelin_tests::broker::Broker;
use myelin_tests::group_member::MemberEvent;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::{client_config, wait_until, TIMEOUT};

/// One acknowledged record: partition, offset, key.
pub type Acked = (i32, i64, String);

/// Records delivery reports.
#[derive(Default)]
struct Deliveries {
    acked: Mutex<Vec<Acked>>,
    failed: Mutex<Vec<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                self.acked
                    .lock()
                    .unwrap()
                    .push((m.partition(), m.offset(), key));
            }
            Err((e, m)) => self
                .failed
                .lock()
                .unwrap()
                .push(format!("{:?}: {e}", m.key().map(String::from_utf8_lossy))),
        }
    }
}

fn producer(broker: &Broker) -> ThreadedProducer<Deliveries> {
    client_config(broker)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create_with_context(Deliveries::default())
        .expect("a producer")
}

/// Produces `(partition, key)` records (value `value of <key>`), waits for every delivery
/// report and returns the acknowledgements in order.
pub fn produce(broker: &Broker, topic: &str, records: &[(i32, String)]) -> Vec<Acked> {
    let producer = producer(broker);
    for (partition, key) in records {
        let value = format!("value of {key}");
        producer
            .send(
                BaseRecord::to(topic)
                    .partition(*partition)
                    .key(key)
                    .payload(&value),
            )
            .map_err(|(e, _)| e)
            .expect("queued");
    }
    producer.flush(TIMEOUT).expect("flush");
    let deliveries = producer.context();
    let failed = deliveries.failed.lock().unwrap();
    assert!(failed.is_empty(), "deliveries failed: {failed:?}");
    let acked = deliveries.acked.lock().unwrap().clone();
    assert_eq!(acked.len(), records.len());
    acked
}

/// Produces keyed records `k-0`, `k-1`, ... (the partitioner spreads them by key) from a
/// thread, about 1,000 a second, until stopped; then returns every acknowledgement.
pub struct BackgroundProducer {
    deliveries: Arc<Deliveries>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundProducer {
    pub fn start(broker: &Broker, topic: &str) -> BackgroundProducer {
        let producer = producer(broker);
        let deliveries = producer.context().clone();
        let stop = Arc::new(AtomicBool::new(false));
        let topic = topic.to_string();
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut sequence = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let key = format!("k-{sequence}");
                    let value = format!("value of {key}");
                    match producer.send(BaseRecord::to(&topic).key(&key).payload(&value)) {
                        Ok(()) => sequence += 1,
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                    if sequence.is_multiple_of(5) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                producer.flush(TIMEOUT).expect("flush");
            })
        };
        BackgroundProducer {
            deliveries,
            stop,
            thread: Some(thread),
        }
    }

    pub fn acked_count(&self) -> usize {
        self.deliveries.acked.lock().unwrap().len()
    }

    /// Waits until `more` records beyond those acknowledged now are acknowledged.
    pub fn wait_for_more(&self, more: usize) {
        let target = self.acked_count() + more;
        wait_until(
            &format!("{target} acknowledged records"),
            TIMEOUT,
            || self.acked_count() >= target,
            || format!("{} acknowledged", self.acked_count()),
        );
    }

    pub fn finish(mut self) -> Vec<Acked> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .take()
            .unwrap()
            .join()
            .expect("the producer thread");
        let failed = self.deliveries.failed.lock().unwrap();
        assert!(failed.is_empty(), "deliveries failed: {failed:?}");
        self.deliveries.acked.lock().unwrap().clone()
    }
}

impl Drop for BackgroundProducer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// A `group-member` process and what it printed.
pub struct Member {
    pub name: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    events: Arc<Mutex<Vec<MemberEvent>>>,
    /// Lines that are not events: stderr, and anything unexpected on stdout.
    noise: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    /// Ended by SIGKILL.
    pub killed: bool,
}

impl Member {
    pub fn spawn(
        broker: &Broker,
        group: &str,
        topic: &str,
        name: &str,
        settings: &[&str],
    ) -> Member {
        let mut child = Command::new(env!("CARGO_BIN_EXE_group-member"))
            .args([&broker.bootstrap(), group, topic])
            .arg(format!("client.id={name}"))
            .args(settings)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("group-member starts");
        let events = Arc::new(Mutex::new(Vec::new()));
        let noise = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let readers = vec![
            {
                let (events, noise) = (events.clone(), noise.clone());
                std::thread::spawn(move || {
                    for line in BufReader::new(stdout).lines() {
                        let Ok(line) = line else { break };
                        match MemberEvent::parse(&line) {
                            Some(event) => events.lock().unwrap().push(event),
                            None => noise.lock().unwrap().push(line),
                        }
                    }
                })
            },
            {
                let noise = noise.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(stderr).lines() {
                        let Ok(line) = line else { break };
                        noise.lock().unwrap().push(format!("stderr: {line}"));
                    }
                })
            },
        ];
        Member {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child: Some(child),
            events,
            noise,
            readers,
            killed: false,
        }
    }

    pub fn events(&self) -> Vec<MemberEvent> {
        self.events.lock().unwrap().clone()
    }

    /// The last assignment printed: (generation, member id, partitions).
    pub fn assignment(&self) -> Option<(i32, String, Vec<i32>)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find_map(|e| match e {
                MemberEvent::Assignment {
                    generation,
                    member_id,
                    partitions,
                } => Some((*generation, member_id.clone(), partitions.clone())),
                _ => None,
            })
    }

    pub fn partitions(&self) -> Vec<i32> {
        self.assignment().map(|a| a.2).unwrap_or_default()
    }

    /// How many rebalance callbacks the member has served.
    pub fn rebalances(&self) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, MemberEvent::Assignment { .. }))
            .count()
    }

    /// The records it processed: (partition, offset, key).
    pub fn records(&self) -> Vec<Acked> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                MemberEvent::Record {
                    partition,
                    offset,
                    key,
                } => Some((*partition, *offset, key.clone())),
                _ => None,
            })
            .collect()
    }

    /// The highest offset it committed per partition.
    pub fn committed(&self) -> BTreeMap<i32, i64> {
        let mut out = BTreeMap::new();
        for e in self.events.lock().unwrap().iter() {
            if let MemberEvent::Committed {
                partition,
                next_offset,
            } = e
            {
                let c = out.entry(*partition).or_insert(*next_offset);
                *c = (*c).max(*next_offset);
            }
        }
        out
    }

    /// One paragraph for failure messages: the assignment, counts, errors, the noise.
    pub fn describe(&self) -> String {
        let events = self.events();
        let count = |f: fn(&MemberEvent) -> bool| events.iter().filter(|e| f(e)).count();
        let errors: Vec<String> = events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    MemberEvent::Error(_)
                        | MemberEvent::RebalanceError(_)
                        | MemberEvent::CommitFailed { .. }
                )
            })
            .map(ToString::to_string)
            .collect();
        let noise = self.noise.lock().unwrap();
        format!(
            "member {} ({}): assignment {:?}; {} records, {} commits, {} rebalances; \
             errors {errors:?}; other output {:?}",
            self.name,
            if self.child.is_some() {
                "running"
            } else {
                "ended"
            },
            self.assignment(),
            count(|e| matches!(e, MemberEvent::Record { .. })),
            count(|e| matches!(e, MemberEvent::Committed { .. })),
            count(|e| matches!(e, MemberEvent::Assignment { .. })),
            &noise[noise.len().saturating_sub(20)..],
        )
    }

    /// Closes the consumer gracefully (EOF on stdin) and waits for the process to exit.
    pub fn close(&mut self) {
        drop(self.stdin.take());
        let mut child = self.child.take().expect("a running member");
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waitpid") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} did not close within {TIMEOUT:?}: {}",
                    self.name,
                    self.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        assert!(
            status.success(),
            "{}: {status}; {}",
            self.name,
            self.describe()
        );
        assert_eq!(
            self.events().last(),
            Some(&MemberEvent::Closed),
            "{}",
            self.describe()
        );
    }

    /// SIGKILL: the consumer says nothing to the coordinator.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("a running member");
        child.kill().expect("SIGKILL");
        child.wait().expect("wait");
        self.killed = true;
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let events = self.events();
            eprintln!(
                "{}\nlast events of {}:\n{}",
                self.describe(),
                self.name,
                events[events.len().saturating_sub(40)..]
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

/// Whether the members' last assignments split `0..partitions` between them, every
/// member holding at least one: the group settled after a rebalance.
fn balanced(members: &[&Member], partitions: i32) -> bool {
    let mut seen = BTreeSet::new();
    for m in members {
        let mine = m.partitions();
        if mine.is_empty() {
            return false;
        }
        for p in mine {
            if !seen.insert(p) {
                return false;
            }
        }
    }
    seen == (0..partitions).collect()
}

pub fn describe_all(members: &[&Member]) -> String {
    members
        .iter()
        .map(|m| m.describe())
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn wait_balanced(what: &str, members: &[&Member], partitions: i32) {
    wait_until(
        what,
        TIMEOUT,
        || balanced(members, partitions),
        || describe_all(members),
    );
}

/// Member settings: a 3 s session (the broker allows 1 s), heartbeats every 300 ms.
pub fn member_settings(extra: &[&'static str]) -> Vec<&'static str> {
    let mut settings = vec![
        "session.timeout.ms=3000",
        "heartbeat.interval.ms=300",
        "max.poll.interval.ms=20000",
    ];
    settings.extend_from_slice(extra);
    settings
}
