//! A Jepsen-style crash-consistency checker against the real `myelin` binary: producers
//! with `acks=all` (two idempotent, one non-idempotent without retries, two
//! transactional, one of which drops its producer mid-transaction and after slow commits
//! as a crashing client would) and two group consumers (read_committed, committing their positions) run
//! on threads of this process with librdkafka, while the test SIGKILLs the broker at
//! random moments and restarts it on the same data directory. Then the checker
//! (`jepsen/check.rs`) reads every partition back at both isolation levels and the group's
//! committed offsets, and proves:
//!
//! - every acknowledged record (a delivery report outside transactions, or a record of a
//!   transaction whose commit returned Ok) is visible to read_committed exactly once, at
//!   the offset its delivery report named, below the last stable offset, which is the high
//!   watermark once every transaction has ended;
//! - no record, acknowledged or not, is stored twice, and each producer's records are in
//!   produce order in each partition;
//! - committed transactions are wholly visible, aborted and abandoned ones (never asked
//!   to commit) wholly invisible, and those whose commit outcome is unknown all or
//!   nothing;
//! - what the consumers were given is what the log holds;
//! - the group's committed offsets, read with OffsetFetch every 200 ms and at the end,
//!   never move backwards, cover every commit the broker acknowledged, and stay within the
//!   log.
//!
//! It prints the seed and the figures (faults injected, records acknowledged, records
//! verified, losses, anomalies), and fails on any anomaly or loss with its description.
//! `relaxed_durability_under_sigkills_reports_what_was_lost` runs the same with `log.flush.interval.messages` at its maximum
//! (acknowledged before fsync, flushed every second): a SIGKILL keeps the page cache, so it
//! expects no loss, but only reports losses as figures; it still fails on anomalies. A
//! SIGKILL cannot show a missing fsync; the power-loss runs of `crates/log/tests/
//! power_loss.rs` do.
//!
//! The clients reach the broker through a `myelin_tests::proxy::Proxy` that cuts nothing
//! (the broker advertises the proxy's address), so that they find the restarted broker,
//! which listens on a new port, at the same address.
//!
//! `MYELIN_JEPSEN_KILLS` sets the number of kills of each test (default 20, and 8 for the
//! relaxed one), `MYELIN_JEPSEN_SEED` replays a seed. The two tests run one after the
//! other. See docs/reliability.md.

#[path = "jepsen/check.rs"]
mod check;
#[path = "jepsen/clients.rs"]
mod clients;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use myelin_tests::broker::Broker;
use myelin_tests::proxy::{CutPolicy, Proxy};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use check::{Kind, Run, Stored};
use clients::{client_config, ProducerKind, PARTITIONS, TOPIC};

/// The two tests share the machine's 2 cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const BROKER_FLAGS: [&str; 6] = [
    "--override",
    "transaction.state.log.num.partitions=3",
    "--override",
    "offsets.topic.num.partitions=3",
    "--override",
    "group.initial.rebalance.delay.ms=0",
];

/// Acknowledge appends before they are flushed; flush every second.
const RELAXED_FLAGS: [&str; 4] = [
    "--override",
    "log.flush.interval.messages=9223372036854775807",
    "--override",
    "log.flush.interval.ms=1000",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// The default: an append is acknowledged once flushed.
    Full,
    Relaxed,
}

#[test]
fn acknowledged_writes_survive_sigkills_exactly_once() {
    run(Durability::Full, 20);
}

#[test]
fn relaxed_durability_under_sigkills_reports_what_was_lost() {
    run(Durability::Relaxed, 8);
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// Joins `handle`, failing the test if it does not finish by `deadline`.
fn join<T>(what: &str, handle: JoinHandle<T>, deadline: Instant) -> T {
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what} did not finish in time: a stuck client"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    match handle.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Reads every partition from the beginning to its end at `isolation`
/// (`read_committed`: the last stable offset; `read_uncommitted`: the high watermark).
fn read_all(bootstrap: &str, isolation: &str) -> Vec<Stored> {
    let consumer: BaseConsumer = client_config(bootstrap, "jepsen-reader")
        .set("group.id", "jepsen-reader")
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("a consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut records = Vec::new();
    let mut at_end = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while at_end.len() < PARTITIONS as usize {
        assert!(
            Instant::now() < deadline,
            "{isolation}: only partitions {at_end:?} reached their end; {} records",
            records.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("{isolation} reader: {e}"),
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                records.push((
                    m.partition(),
                    m.offset(),
                    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                ));
            }
        }
    }
    records.sort();
    records
}

/// Per partition: (last stable offset, high watermark).
fn ends(bootstrap: &str) -> Vec<(i64, i64)> {
    let watermarks = |isolation: &str| -> Vec<i64> {
        let consumer: BaseConsumer = client_config(bootstrap, "jepsen-ends")
            .set("isolation.level", isolation)
            .create()
            .expect("a consumer");
        (0..PARTITIONS)
            .map(|p| {
                consumer
                    .fetch_watermarks(TOPIC, p, clients::CALL_TIMEOUT)
                    .expect("ListOffsets answered")
                    .1
            })
            .collect()
    };
    let stable = watermarks("read_committed");
    let high = watermarks("read_uncommitted");
    stable.into_iter().zip(high).collect()
}

fn run(durability: Durability, default_kills: usize) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = match durability {
        Durability::Full => "jepsen",
        Durability::Relaxed => "jepsen relaxed",
    };
    let kills: usize = env("MYELIN_JEPSEN_KILLS").unwrap_or(default_kills);
    let seed: u64 = env("MYELIN_JEPSEN_SEED").unwrap_or_else(rand::random);
    eprintln!("{name}: MYELIN_JEPSEN_SEED={seed} MYELIN_JEPSEN_KILLS={kills}");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();

    let proxy = Proxy::start(CutPolicy {
        drop_response: 0.0,
        truncate_request: 0.0,
        max_cuts: 0,
        seed: 0,
    });
    let advertised = proxy.addr().to_string();
    let mut flags = BROKER_FLAGS.to_vec();
    flags.extend(["--advertised-listen", advertised.as_str()]);
    if durability == Durability::Relaxed {
        flags.extend(RELAXED_FLAGS);
    }
    let mut broker = Broker::start_with(&flags);
    proxy.set_upstream(broker.addr());
    let bootstrap = proxy.addr().to_string();
    myelin_tests::admin::create_topic(&bootstrap, TOPIC, PARTITIONS);

    let stop_producers = Arc::new(AtomicBool::new(false));
    let stop_consumers = Arc::new(AtomicBool::new(false));
    let stop_monitor = Arc::new(AtomicBool::new(false));
    let kinds = [
        ProducerKind::Idempotent,
        ProducerKind::Idempotent,
        ProducerKind::NoRetry,
        ProducerKind::Transactional,
        ProducerKind::CrashingTransactional,
    ];
    let producers: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(worker, kind)| {
            let (bootstrap, stop, kind) = (bootstrap.clone(), stop_producers.clone(), *kind);
            let seed = rng.gen();
            std::thread::Builder::new()
                .name(format!("jepsen-producer-{worker}"))
                .spawn(move || clients::produce(bootstrap, kind, worker as u32, seed, stop))
                .unwrap()
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|i| {
            let (bootstrap, stop) = (bootstrap.clone(), stop_consumers.clone());
            std::thread::Builder::new()
                .name(format!("jepsen-consumer-{i}"))
                .spawn(move || clients::consume(bootstrap, format!("jepsen-consumer-{i}"), stop))
                .unwrap()
        })
        .collect();
    let monitor = {
        let (bootstrap, stop) = (bootstrap.clone(), stop_monitor.clone());
        std::thread::spawn(move || clients::monitor(bootstrap, stop))
    };

    // The faults: the broker runs a while, is SIGKILLed, stays down up to 300 ms, and
    // restarts on its data directory.
    let mut downtime = Duration::ZERO;
    for _ in 0..kills {
        // Mostly 0.4-2.5 s of uptime; one kill in six strikes while the broker and its
        // clients are still recovering from the previous one.
        let uptime = if rng.gen_bool(1.0 / 6.0) {
            rng.gen_range(50..400)
        } else {
            rng.gen_range(400..2500)
        };
        std::thread::sleep(Duration::from_millis(uptime));
        for (what, finished) in [
            ("a producer", producers.iter().any(|h| h.is_finished())),
            ("a consumer", consumers.iter().any(|h| h.is_finished())),
        ] {
            assert!(!finished, "{what} stopped before the end (it panicked)");
        }
        broker.kill();
        let down = Instant::now();
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..300)));
        broker.restart();
        proxy.set_upstream(broker.addr());
        downtime += down.elapsed();
    }
    let faults_over = started.elapsed();
    // Let the clients recover from the last restart and make progress.
    std::thread::sleep(Duration::from_secs(3));

    stop_producers.store(true, Ordering::Release);
    let deadline = Instant::now() + Duration::from_secs(150);
    let producer_logs: Vec<_> = producers
        .into_iter()
        .map(|h| join("a producer", h, deadline))
        .collect();
    // The consumers catch up for a moment, then commit once more and leave.
    std::thread::sleep(Duration::from_secs(2));
    stop_consumers.store(true, Ordering::Release);
    let deadline = Instant::now() + Duration::from_secs(60);
    let consumer_logs: Vec<_> = consumers
        .into_iter()
        .map(|h| join("a consumer", h, deadline))
        .collect();
    stop_monitor.store(true, Ordering::Release);
    let observations = join("the offsets monitor", monitor, deadline);

    // Every transaction has ended: wait for the last stable offsets to reach the high
    // watermarks (a transaction left open by a replaced producer is aborted by its
    // successor's InitProducerId, or times out after 30 s).
    let settle = Instant::now() + Duration::from_secs(60);
    let ends = loop {
        let ends = ends(&bootstrap);
        if ends.iter().all(|(lso, hw)| lso == hw) || Instant::now() > settle {
            break ends;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let final_offsets =
        clients::committed_offsets(&clients::offsets_reader(&bootstrap), clients::CALL_TIMEOUT)
            .expect("the final OffsetFetch answered");
    eprintln!("{name}: final committed offsets {final_offsets:?}");
    for c in &consumer_logs {
        eprintln!(
            "{name}: {} read {} records, {} offset commits acknowledged, {} failed, {} errors",
            c.name,
            c.records.len(),
            c.acked_commits.len(),
            c.failed_commits,
            c.errors
        );
    }
    let run = Run {
        producers: producer_logs,
        consumers: consumer_logs,
        offset_observations: observations,
        final_offsets,
        committed: read_all(&bootstrap, "read_committed"),
        uncommitted: read_all(&bootstrap, "read_uncommitted"),
        ends,
    };
    let report = check::check(&run);
    eprintln!(
        "{name}: seed {seed}: {kills} SIGKILLs in {:.1} s (broker down {:.1} s in all), run \
         {:.1} s; {report}",
        faults_over.as_secs_f64(),
        downtime.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    for log in &run.producers {
        let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
        for reason in &log.replaced {
            let reason = if reason.starts_with("abandoned") {
                "abandoned a transaction"
            } else {
                reason
            };
            *reasons.entry(reason).or_default() += 1;
        }
        if !reasons.is_empty() {
            eprintln!(
                "{name}: worker {} ({:?}) replaced its producer or failed (times, reason): \
                 {reasons:?}",
                log.worker, log.kind
            );
        }
    }
    let losses = report.count(Kind::Loss);
    if losses > 0 {
        eprintln!(
            "{name}: {losses} losses:\n{}",
            report.describe(Kind::Loss, 30)
        );
    }
    let anomalies = report.count(Kind::Anomaly);
    assert_eq!(
        anomalies,
        0,
        "{name} (MYELIN_JEPSEN_SEED={seed}): {anomalies} anomalies:\n{}",
        report.describe(Kind::Anomaly, 30)
    );
    if durability == Durability::Full {
        assert_eq!(
            losses,
            0,
            "{name} (MYELIN_JEPSEN_SEED={seed}): acknowledged data lost with full \
             durability:\n{}",
            report.describe(Kind::Loss, 30)
        );
    }
    assert!(
        report.verified > 0
            && (durability == Durability::Relaxed || report.verified == report.acknowledged),
        "{name}: {} of {} acknowledged records verified",
        report.verified,
        report.acknowledged
    );
    assert!(
        report.txns_committed > 0,
        "{name}: no transaction committed"
    );
}
