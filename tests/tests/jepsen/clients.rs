//! The clients of the SIGKILL checker, each on its own thread with librdkafka (the `rdkafka`
//! crate): producers with `acks=all` (idempotent, non-idempotent without retries, and
//! transactional), group consumers (read_committed, manual synchronous commits), and a
//! monitor that reads the group's committed offsets with OffsetFetch every 200 ms. Each one
//! writes down what it did and what the broker acknowledged; `check.rs` compares that with
//! the log at the end.
//!
//! A record's key is `w<worker>-q<seq>` (librdkafka's partitioner spreads the keys over the
//! partitions), its value `jepsen w<worker> s<session> q<seq> t<txn or ->`: the worker
//! (one producer thread), the session (the producer instance: a worker replaces its
//! producer after a fatal error), the sequence number (unique per worker, increasing in
//! the order of `send`), and the transaction the record belongs to.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// The topic every client works on.
pub const TOPIC: &str = "jepsen";
/// Its partitions (replication factor 1).
pub const PARTITIONS: i32 = 6;
/// The consumers' group.
pub const GROUP: &str = "jepsen-group";
/// The bound of one client call (a debug broker on a busy 2-core machine, restarting).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub fn client_config(bootstrap: &str, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", client_id)
        // Reconnect at once after a restart (the default backoff doubles up to 10 s).
        .set("reconnect.backoff.ms", "20")
        .set("reconnect.backoff.max.ms", "200");
    config
}

/// A record's identity and bookkeeping, parsed from its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Payload {
    pub worker: u32,
    pub session: u32,
    pub seq: u64,
    pub txn: Option<u64>,
}

impl Payload {
    pub fn encode(&self) -> String {
        let txn = self.txn.map_or("-".to_string(), |t| t.to_string());
        format!(
            "jepsen w{} s{} q{} t{txn}",
            self.worker, self.session, self.seq
        )
    }

    pub fn key(&self) -> String {
        format!("w{}-q{}", self.worker, self.seq)
    }

    pub fn parse(value: &str) -> Option<Payload> {
        let mut parts = value.split(' ');
        if parts.next()? != "jepsen" {
            return None;
        }
        let worker = parts.next()?.strip_prefix('w')?.parse().ok()?;
        let session = parts.next()?.strip_prefix('s')?.parse().ok()?;
        let seq = parts.next()?.strip_prefix('q')?.parse().ok()?;
        let txn = match parts.next()?.strip_prefix('t')? {
            "-" => None,
            t => Some(t.parse().ok()?),
        };
        parts.next().is_none().then_some(Payload {
            worker,
            session,
            seq,
            txn,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerKind {
    /// `enable.idempotence=true`: librdkafka retries, the broker deduplicates.
    Idempotent,
    /// `enable.idempotence=false`, `retries=0`: a failed request is never sent again, so a
    /// record is stored at most once even without the broker's deduplication.
    NoRetry,
    /// `transactional.id`: every record in a transaction that the worker commits or
    /// aborts, retrying the end of a transaction until it succeeds.
    Transactional,
    /// The same, but the worker gives up as a crashing client would: it drops its producer
    /// (and makes a new one with the same `transactional.id`) in the middle of one
    /// transaction in 15, and whenever a commit fails or takes over 250 ms.
    CrashingTransactional,
}

/// How a transaction ended, as the producer knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `commit_transaction` returned Ok.
    Committed,
    /// `abort_transaction` returned Ok, and no commit was attempted.
    Aborted,
    /// No commit was attempted, and the producer was dropped before an abort succeeded:
    /// the transaction must be invisible (its successor's InitProducerId aborts it).
    Abandoned,
    /// A commit was attempted and did not return Ok (it failed, or the producer was
    /// dropped): the transaction must be all or nothing.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct Txn {
    pub seqs: Vec<u64>,
    pub outcome: Outcome,
}

/// What one producer worker did.
#[derive(Debug)]
pub struct ProducerLog {
    pub worker: u32,
    pub kind: ProducerKind,
    /// Every record handed to librdkafka, by sequence number.
    pub sent: BTreeMap<u64, Payload>,
    /// Delivery reports by sequence number: the partition and offset, or the error.
    pub deliveries: HashMap<u64, Delivery>,
    /// Sequence numbers with more than one delivery report.
    pub double_reports: Vec<u64>,
    pub txns: BTreeMap<u64, Txn>,
    /// Producers replaced after a fatal error (or a failed abort), with the error.
    pub replaced: Vec<String>,
    /// Transactions whose commit or abort met an error or took over 250 ms (a kill
    /// struck while it ended).
    pub disturbed_ends: usize,
}

/// A delivery report: the partition and offset, or the error.
pub type Delivery = Result<(i32, i64), String>;

/// Keeps the delivery reports of every session of a worker.
#[derive(Clone, Default)]
pub struct Reports(Arc<Mutex<Vec<(u64, Delivery)>>>);

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: Box<u64>) {
        let report = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.to_string()),
        };
        self.0.lock().unwrap().push((*seq, report));
    }
}

type JepsenProducer = ThreadedProducer<Reports>;

fn new_producer(
    bootstrap: &str,
    kind: ProducerKind,
    worker: u32,
    reports: &Reports,
) -> JepsenProducer {
    let mut config = client_config(bootstrap, &format!("jepsen-producer-{worker}"));
    config
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .set("retry.backoff.ms", "50")
        .set("retry.backoff.max.ms", "500");
    match kind {
        ProducerKind::Idempotent => {
            config
                .set("enable.idempotence", "true")
                .set("max.in.flight.requests.per.connection", "5");
        }
        ProducerKind::NoRetry => {
            config
                .set("enable.idempotence", "false")
                .set("retries", "0")
                .set("max.in.flight.requests.per.connection", "5");
        }
        ProducerKind::Transactional | ProducerKind::CrashingTransactional => {
            config
                .set("transactional.id", format!("jepsen-txn-{worker}"))
                .set("transaction.timeout.ms", "30000");
        }
    }
    config
        .create_with_context(reports.clone())
        .expect("a producer")
}

/// Hands one record to librdkafka, waiting while its queue is full.
fn send(producer: &JepsenProducer, payload: &Payload) -> Result<(), String> {
    let (key, value) = (payload.key(), payload.encode());
    let deadline = Instant::now() + CALL_TIMEOUT;
    loop {
        let record = BaseRecord::with_opaque_to(TOPIC, Box::new(payload.seq))
            .key(&key)
            .payload(&value);
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                if Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(e.to_string()),
        }
    }
}

/// Runs one producer worker until `stop`; then flushes and returns what it did.
pub fn produce(
    bootstrap: String,
    kind: ProducerKind,
    worker: u32,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> ProducerLog {
    let mut rng = StdRng::seed_from_u64(seed);
    let reports = Reports::default();
    let mut log = ProducerLog {
        worker,
        kind,
        sent: BTreeMap::new(),
        deliveries: HashMap::new(),
        double_reports: Vec::new(),
        txns: BTreeMap::new(),
        replaced: Vec::new(),
        disturbed_ends: 0,
    };
    let mut session = 0;
    let mut seq = 0;
    if matches!(
        kind,
        ProducerKind::Transactional | ProducerKind::CrashingTransactional
    ) {
        transactional(
            &bootstrap, kind, worker, &mut rng, &stop, &reports, &mut log,
        );
    } else {
        let mut producer = new_producer(&bootstrap, kind, worker, &reports);
        while !stop.load(Ordering::Acquire) {
            seq += 1;
            let payload = Payload {
                worker,
                session,
                seq,
                txn: None,
            };
            match send(&producer, &payload) {
                Ok(()) => {
                    log.sent.insert(seq, payload);
                }
                Err(e) => log.replaced.push(format!("send failed: {e}")),
            }
            if seq % 20 == 0 {
                if let Some((code, reason)) = producer.client().fatal_error() {
                    log.replaced.push(format!("fatal {code:?}: {reason}"));
                    drop(producer);
                    session += 1;
                    producer = new_producer(&bootstrap, kind, worker, &reports);
                }
            }
            std::thread::sleep(Duration::from_millis(rng.gen_range(1..4)));
        }
        if let Err(e) = producer.flush(Duration::from_secs(60)) {
            log.replaced
                .push(format!("the final flush did not finish: {e}"));
        }
    }
    for (seq, report) in std::mem::take(&mut *reports.0.lock().unwrap()) {
        if log.deliveries.insert(seq, report).is_some() {
            log.double_reports.push(seq);
        }
    }
    log
}

/// Transactions of 1-8 records, three in four committed, the rest aborted, until `stop`.
fn transactional(
    bootstrap: &str,
    kind: ProducerKind,
    worker: u32,
    rng: &mut StdRng,
    stop: &AtomicBool,
    reports: &Reports,
    log: &mut ProducerLog,
) {
    let mut session = 0;
    let mut seq = 0;
    let mut txn_id = 0;
    let mut producer = None;
    loop {
        let Some(p) = producer.as_ref() else {
            // A new producer: init_transactions fences the previous one and aborts its
            // open transaction. It fails while the broker is down; try again.
            let p = new_producer(bootstrap, kind, worker, reports);
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                match p.init_transactions(CALL_TIMEOUT) {
                    Ok(()) => break,
                    Err(e) => {
                        assert!(
                            Instant::now() < deadline,
                            "transactional worker {worker}: init_transactions failed for \
                             2 minutes: {e}"
                        );
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            }
            producer = Some(p);
            continue;
        };
        if stop.load(Ordering::Acquire) {
            break;
        }
        if let Err(e) = p.begin_transaction() {
            log.replaced.push(format!("begin_transaction: {e}"));
            producer = None;
            session += 1;
            continue;
        }
        txn_id += 1;
        let mut seqs = Vec::new();
        let mut send_failed = false;
        for _ in 0..rng.gen_range(1..=8) {
            seq += 1;
            let payload = Payload {
                worker,
                session,
                seq,
                txn: Some(txn_id),
            };
            match send(p, &payload) {
                Ok(()) => {
                    log.sent.insert(seq, payload);
                    seqs.push(seq);
                }
                Err(e) => {
                    log.replaced.push(format!("send in a transaction: {e}"));
                    send_failed = true;
                    break;
                }
            }
        }
        let crashing = kind == ProducerKind::CrashingTransactional;
        if crashing && !send_failed && rng.gen_ratio(1, 15) {
            // Crash in the middle of the transaction.
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..20)));
            log.txns.insert(
                txn_id,
                Txn {
                    seqs,
                    outcome: Outcome::Abandoned,
                },
            );
            log.replaced.push(format!("abandoned transaction {txn_id}"));
            producer = None;
            session += 1;
            continue;
        }
        let commit = !send_failed && rng.gen_bool(0.75);
        let ending = Instant::now();
        let (outcome, usable, failed_once) = end_transaction(p, commit, crashing);
        if failed_once || ending.elapsed() > Duration::from_millis(250) {
            log.disturbed_ends += 1;
        }
        log.txns.insert(txn_id, Txn { seqs, outcome });
        if let Err(reason) = usable {
            log.replaced.push(reason);
            producer = None;
            session += 1;
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..10)));
    }
}

/// Commits or aborts the open transaction. Returns its outcome, whether the producer can
/// go on (Err with the reason to replace it), and whether an attempt failed. `crashing`:
/// a commit gets 250 ms and one attempt.
fn end_transaction(
    producer: &JepsenProducer,
    commit: bool,
    crashing: bool,
) -> (Outcome, Result<(), String>, bool) {
    let mut tried_commit = false;
    let mut abort = !commit;
    // The errors of the earlier attempts, for the reason.
    let mut earlier: Vec<String> = Vec::new();
    let gave_up = |tried_commit: bool, reason: String, earlier: &[String]| {
        let outcome = if tried_commit {
            Outcome::Unknown
        } else {
            Outcome::Abandoned
        };
        let reason = if earlier.is_empty() {
            reason
        } else {
            format!("{reason} (after {})", earlier.join("; "))
        };
        (outcome, Err(reason), true)
    };
    for attempt in 0..5 {
        let result = if abort {
            producer.abort_transaction(CALL_TIMEOUT)
        } else {
            tried_commit = true;
            let timeout = if crashing {
                Duration::from_millis(250)
            } else {
                CALL_TIMEOUT
            };
            producer.commit_transaction(timeout)
        };
        let e = match result {
            Ok(()) if abort && !tried_commit => return (Outcome::Aborted, Ok(()), attempt > 0),
            Ok(()) if abort => return (Outcome::Unknown, Ok(()), attempt > 0),
            Ok(()) => return (Outcome::Committed, Ok(()), attempt > 0),
            Err(e) => e,
        };
        if crashing && tried_commit {
            return gave_up(true, format!("gave up on a commit: {e}"), &earlier);
        }
        let what = if abort { "abort" } else { "commit" };
        let KafkaError::Transaction(rd) = &e else {
            return gave_up(tried_commit, format!("{what}: {e}"), &earlier);
        };
        if rd.is_fatal() {
            return gave_up(tried_commit, format!("fatal, {what}: {e}"), &earlier);
        }
        if !rd.txn_requires_abort() && !rd.is_retriable() {
            return gave_up(tried_commit, format!("{what}: {e}"), &earlier);
        }
        earlier.push(format!("{what}: {e}"));
        abort |= rd.txn_requires_abort();
        std::thread::sleep(Duration::from_millis(100));
    }
    gave_up(
        tried_commit,
        "the transaction did not end after 5 attempts".to_string(),
        &earlier,
    )
}

// ---- consumers ---------------------------------------------------------------------------

/// What one group consumer did.
#[derive(Debug, Default)]
pub struct ConsumerLog {
    pub name: String,
    /// Every record it was given: partition, offset, value.
    pub records: Vec<(i32, i64, String)>,
    /// Offsets whose commit the broker acknowledged (partition, next offset).
    pub acked_commits: Vec<(i32, i64)>,
    pub failed_commits: usize,
    pub errors: usize,
}

/// A group member that reads (read_committed) until `stop`, committing its positions
/// synchronously every 300 ms (librdkafka's asynchronous commits do not report to a
/// `BaseConsumer`'s context), and once more at the end.
pub fn consume(bootstrap: String, name: String, stop: Arc<AtomicBool>) -> ConsumerLog {
    let consumer: BaseConsumer = client_config(&bootstrap, &name)
        .set("group.id", GROUP)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("socket.timeout.ms", "10000")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("a consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let mut log = ConsumerLog {
        name,
        ..ConsumerLog::default()
    };
    let commit = |consumer: &BaseConsumer, log: &mut ConsumerLog| {
        let Ok(positions) = consumer.position() else {
            return;
        };
        let mut tpl = TopicPartitionList::new();
        let mut offsets = Vec::new();
        for e in positions.elements() {
            if let Offset::Offset(o) = e.offset() {
                tpl.add_partition_offset(TOPIC, e.partition(), Offset::Offset(o))
                    .unwrap();
                offsets.push((e.partition(), o));
            }
        }
        if offsets.is_empty() {
            return;
        }
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => log.acked_commits.extend(offsets),
            Err(_) => log.failed_commits += 1,
        }
    };
    let mut last_commit = Instant::now();
    while !stop.load(Ordering::Acquire) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(_)) => log.errors += 1,
            Some(Ok(m)) => log.records.push((
                m.partition(),
                m.offset(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            )),
        }
        if last_commit.elapsed() > Duration::from_millis(300) {
            commit(&consumer, &mut log);
            last_commit = Instant::now();
        }
    }
    commit(&consumer, &mut log);
    log
}

/// The group's committed offsets (OffsetFetch), by partition, -1 for none; None when the
/// broker does not answer.
pub fn committed_offsets(consumer: &BaseConsumer, timeout: Duration) -> Option<Vec<(i32, i64)>> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(TOPIC, p);
    }
    let committed = consumer.committed_offsets(tpl, timeout).ok()?;
    Some(
        committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => (e.partition(), o),
                _ => (e.partition(), -1),
            })
            .collect(),
    )
}

/// A client of the group that does not join it, for OffsetFetch.
pub fn offsets_reader(bootstrap: &str) -> BaseConsumer {
    client_config(bootstrap, "jepsen-offsets-monitor")
        .set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer")
}

/// Reads the group's committed offsets every 200 ms until `stop`: (partition, offset) in
/// the order observed.
pub fn monitor(bootstrap: String, stop: Arc<AtomicBool>) -> Vec<(i32, i64)> {
    let reader = offsets_reader(&bootstrap);
    let mut observed = Vec::new();
    while !stop.load(Ordering::Acquire) {
        if let Some(offsets) = committed_offsets(&reader, Duration::from_secs(3)) {
            observed.extend(offsets);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    observed
}

#[test]
fn payloads_round_trip() {
    for txn in [None, Some(7)] {
        let p = Payload {
            worker: 3,
            session: 1,
            seq: 42,
            txn,
        };
        assert_eq!(Payload::parse(&p.encode()), Some(p));
    }
    assert_eq!(Payload::parse("jepsen w1 s0 q1"), None);
    assert_eq!(Payload::parse("other w1 s0 q1 t-"), None);
}
