//! Soak: an hour of mixed load on the real `myelin` binary (not in CI), reporting whether
//! the broker's resident memory, open files and latency stay flat.
//!
//! The load, all at once for `MYELIN_SOAK_SECS` (3600; 6 under `cargo test`):
//! - an idempotent librdkafka producer, acks=all, at a fixed `MYELIN_SOAK_RATE` records/s
//!   (2000; 300 under `cargo test`) of 1 KiB into 8 partitions, each record carrying its
//!   send time;
//! - a consumer group of two librdkafka members reading the same topic and committing
//!   every second;
//! - a reader that re-reads one partition from its start every window (old data, from the
//!   files rather than the page cache's tail);
//! - admin traffic over Myelin's own client: a topic created and the previous one deleted,
//!   and the configs of the soak topic described, every two seconds.
//!
//! The topic rolls 16 MiB segments and keeps 64 MiB per partition, so retention deletes
//! segments throughout and the files held stay bounded.
//!
//! Every window (`MYELIN_SOAK_WINDOW_SECS`: 60; 2 under `cargo test`) prints the broker's
//! RSS, its open file descriptors and threads, the produce latency (send to
//! acknowledgement) p50/p99/p99.9, the end-to-end latency (send to a group member's
//! receipt) p99, and the records produced and consumed. At the end the first and last full
//! windows are compared: each figure's ratio last / first is printed, flat being close to
//! one. Like every bench it asserts nothing about timings; it fails only if the load
//! itself fails (a produce error, a consumer that stops receiving).
//!
//! `cargo bench -p myelin-benches --bench soak` runs it against the release binary;
//! `MYELIN_BENCH_DIR` puts its data directory on the disk to test.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use myelin::client::{ClientConfig, Connection};
use myelin_benches::e2e::broker::{myelin_binary, BrokerProcess};
use myelin_benches::BenchEnv;
use rdkafka::config::ClientConfig as RdConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

const TOPIC: &str = "soak";
const PARTITIONS: i32 = 8;
const GROUP: &str = "soak-group";
const VALUE_BYTES: usize = 1024;

fn main() {
    let env = BenchEnv::from_args(Path::new(env!("CARGO_TARGET_TMPDIR")));
    if env.list || !env.wants("soak") {
        return;
    }
    let secs: u64 = env_or("MYELIN_SOAK_SECS", env.pick(3600, 6));
    let window = Duration::from_secs(env_or("MYELIN_SOAK_WINDOW_SECS", env.pick(60, 2)));
    let rate: u64 = env_or("MYELIN_SOAK_RATE", env.pick(2000, 300));
    let bin = myelin_binary();
    let scratch = env.scratch("soak");
    let broker = BrokerProcess::start(&bin, &scratch.path().join("data"), &[]);
    let bootstrap = broker.addr.to_string();
    let pid = broker.pid().to_string();
    println!(
        "soak: {secs} s of mixed load at {rate} records/s, windows of {} s, broker {} ({})",
        window.as_secs(),
        bin.display(),
        if env.quick { "quick test mode" } else { "full" }
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let mut admin = connect(&bootstrap).await;
        let configs = [
            ("segment.bytes".to_string(), "16777216".to_string()),
            ("retention.bytes".to_string(), "67108864".to_string()),
        ];
        admin
            .create_topic(TOPIC, PARTITIONS, 1, &configs, false)
            .await
            .expect("creating the soak topic");
    });

    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let mut threads = Vec::new();
    threads.push(spawn("producer", {
        let (stats, stop, bootstrap) = (stats.clone(), stop.clone(), bootstrap.clone());
        move || produce(&bootstrap, rate, epoch, &stats, &stop)
    }));
    for member in 0..2 {
        let (stats, stop, bootstrap) = (stats.clone(), stop.clone(), bootstrap.clone());
        threads.push(spawn("group member", move || {
            consume(&bootstrap, member, epoch, &stats, &stop)
        }));
    }
    threads.push(spawn("re-reader", {
        let (stats, stop, bootstrap) = (stats.clone(), stop.clone(), bootstrap.clone());
        move || reread(&bootstrap, window, &stats, &stop)
    }));
    threads.push(spawn("admin", {
        let (stats, stop, bootstrap) = (stats.clone(), stop.clone(), bootstrap.clone());
        move || admin_load(&bootstrap, &stats, &stop)
    }));

    let mut windows = Vec::new();
    let end = epoch + Duration::from_secs(secs);
    let mut next = epoch + window;
    println!(
        "\n| window end (s) | RSS MiB | open fds | threads | produced | consumed | re-read | admin ops | produce p50 ms | p99 | p99.9 | e2e p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    while next <= end {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let sample = Sample::take(&pid, &stats, next.duration_since(epoch));
        println!("{}", sample.row());
        windows.push(sample);
        next += window;
        if let Some(failure) = stats.failure.lock().expect("failure lock").clone() {
            stop.store(true, Ordering::Release);
            panic!("the soak load failed: {failure}");
        }
    }
    stop.store(true, Ordering::Release);
    for t in threads {
        t.join().expect("a load thread");
    }
    drop(broker);

    // The first window includes the start-up (topic creation, group join): compare the
    // second with the last when there are enough.
    let first = windows
        .get(1)
        .or(windows.first())
        .expect("at least one window");
    let last = windows.last().expect("at least one window");
    println!("\nflatness, last window / first full window (1.0 is flat):");
    for (what, a, b) in [
        ("broker RSS", first.rss_mib, last.rss_mib),
        ("open fds", first.fds as f64, last.fds as f64),
        ("threads", first.threads as f64, last.threads as f64),
        ("produce p50", first.produce_ms[0], last.produce_ms[0]),
        ("produce p99", first.produce_ms[1], last.produce_ms[1]),
        ("produce p99.9", first.produce_ms[2], last.produce_ms[2]),
        ("end-to-end p99", first.e2e_p99_ms, last.e2e_p99_ms),
        (
            "records produced",
            first.produced as f64,
            last.produced as f64,
        ),
    ] {
        println!("- {what}: {a:.2} -> {b:.2} (ratio {:.2})", b / a.max(1e-9));
    }
    if env.quick {
        println!("(quick test mode: a few seconds only show that the load runs)");
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number, not {v}"))
        })
        .unwrap_or(default)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .expect("spawning a load thread")
}

/// What the load threads count, drained by each window's sample.
#[derive(Default)]
struct Stats {
    produced: AtomicU64,
    consumed: AtomicU64,
    reread: AtomicU64,
    admin_ops: AtomicU64,
    /// Send-to-acknowledgement latencies of this window, in microseconds.
    produce_us: Mutex<Vec<u32>>,
    /// Send-to-receipt latencies of this window, in microseconds.
    e2e_us: Mutex<Vec<u32>>,
    /// The first failure of the load, which ends the run.
    failure: Mutex<Option<String>>,
}

impl Stats {
    fn fail(&self, what: String) {
        self.failure
            .lock()
            .expect("failure lock")
            .get_or_insert(what);
    }
}

/// One window's figures.
struct Sample {
    end_s: u64,
    rss_mib: f64,
    fds: usize,
    threads: usize,
    produced: u64,
    consumed: u64,
    reread: u64,
    admin_ops: u64,
    produce_ms: [f64; 3],
    e2e_p99_ms: f64,
}

impl Sample {
    fn take(pid: &str, stats: &Stats, at: Duration) -> Self {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| -> f64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0);
        let mut produce = std::mem::take(&mut *stats.produce_us.lock().expect("latency lock"));
        let mut e2e = std::mem::take(&mut *stats.e2e_us.lock().expect("latency lock"));
        Self {
            end_s: at.as_secs(),
            rss_mib: field("VmRSS:") / 1024.0,
            fds,
            threads: field("Threads:") as usize,
            produced: stats.produced.swap(0, Ordering::Relaxed),
            consumed: stats.consumed.swap(0, Ordering::Relaxed),
            reread: stats.reread.swap(0, Ordering::Relaxed),
            admin_ops: stats.admin_ops.swap(0, Ordering::Relaxed),
            produce_ms: [
                percentile_ms(&mut produce, 0.5),
                percentile_ms(&mut produce, 0.99),
                percentile_ms(&mut produce, 0.999),
            ],
            e2e_p99_ms: percentile_ms(&mut e2e, 0.99),
        }
    }

    fn row(&self) -> String {
        format!(
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
            self.end_s,
            self.rss_mib,
            self.fds,
            self.threads,
            self.produced,
            self.consumed,
            self.reread,
            self.admin_ops,
            self.produce_ms[0],
            self.produce_ms[1],
            self.produce_ms[2],
            self.e2e_p99_ms
        )
    }
}

/// The `q` quantile of microsecond samples, in ms (NaN when there are none).
fn percentile_ms(us: &mut [u32], q: f64) -> f64 {
    if us.is_empty() {
        return f64::NAN;
    }
    us.sort_unstable();
    let i = ((us.len() - 1) as f64 * q).round() as usize;
    f64::from(us[i]) / 1e3
}

/// Microseconds since `epoch`, written into the first 8 bytes of every value.
fn stamp(epoch: Instant) -> u64 {
    epoch.elapsed().as_micros() as u64
}

fn latency_us(epoch: Instant, value: &[u8]) -> Option<u32> {
    let sent = u64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    Some(stamp(epoch).saturating_sub(sent).min(u64::from(u32::MAX)) as u32)
}

struct Acks {
    stats: Arc<Stats>,
    epoch: Instant,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                self.stats.produced.fetch_add(1, Ordering::Relaxed);
                if let Some(us) = m.payload().and_then(|v| latency_us(self.epoch, v)) {
                    self.stats.produce_us.lock().expect("latency lock").push(us);
                }
            }
            Err((e, _)) => self.stats.fail(format!("a produce failed: {e}")),
        }
    }
}

/// The fixed-rate producer: sends are scheduled, not paced by acknowledgements.
fn produce(bootstrap: &str, rate: u64, epoch: Instant, stats: &Arc<Stats>, stop: &AtomicBool) {
    let producer: ThreadedProducer<Acks> = RdConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create_with_context(Acks {
            stats: stats.clone(),
            epoch,
        })
        .expect("creating the producer");
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut next = Instant::now();
    let mut value = vec![0u8; VALUE_BYTES];
    let mut n: u64 = 0;
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        next += interval;
        value[..8].copy_from_slice(&stamp(epoch).to_be_bytes());
        let key = (n % 1024).to_be_bytes();
        n += 1;
        let mut record = BaseRecord::to(TOPIC).key(&key[..]).payload(&value[..]);
        // A full local queue is back-pressure: retry the same record.
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) => {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    if !matches!(
                        e.rdkafka_error_code(),
                        Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ) {
                        stats.fail(format!("send: {e}"));
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                    record = r;
                }
            }
        }
    }
    let _ = rdkafka::producer::Producer::flush(&producer, Duration::from_secs(30));
}

/// A group member: reads, commits every second (librdkafka's auto-commit), and records
/// the end-to-end latency.
fn consume(bootstrap: &str, member: usize, epoch: Instant, stats: &Stats, stop: &AtomicBool) {
    let consumer: BaseConsumer = RdConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", GROUP)
        .set("client.id", format!("soak-member-{member}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .create()
        .expect("creating a group member");
    consumer.subscribe(&[TOPIC]).expect("subscribing");
    let mut idle_since = Instant::now();
    while !stop.load(Ordering::Acquire) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                idle_since = Instant::now();
                stats.consumed.fetch_add(1, Ordering::Relaxed);
                if let Some(us) = m.payload().and_then(|v| latency_us(epoch, v)) {
                    stats.e2e_us.lock().expect("latency lock").push(us);
                }
            }
            Some(Err(e)) => stats.fail(format!("group member {member}: {e}")),
            None => {
                // Two members share 8 partitions: each must keep receiving.
                if idle_since.elapsed() > Duration::from_secs(60) {
                    stats.fail(format!("group member {member} received nothing for 60 s"));
                    return;
                }
            }
        }
    }
    consumer.unsubscribe();
}

/// Re-reads partition 0 from its log start offset, up to 10,000 records, every window.
fn reread(bootstrap: &str, window: Duration, stats: &Stats, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        let consumer: BaseConsumer = RdConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("broker.address.family", "v4")
            .set("group.id", "soak-reread")
            .set("enable.auto.commit", "false")
            .create()
            .expect("creating the re-reader");
        let mut tpl = TopicPartitionList::new();
        if let Err(e) = tpl.add_partition_offset(TOPIC, 0, Offset::Beginning) {
            stats.fail(format!("re-reader: {e}"));
            return;
        }
        if let Err(e) = consumer.assign(&tpl) {
            stats.fail(format!("re-reader assign: {e}"));
            return;
        }
        let started = Instant::now();
        let mut read = 0;
        while read < 10_000 && started.elapsed() < window / 2 && !stop.load(Ordering::Acquire) {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(_)) => {
                    read += 1;
                    stats.reread.fetch_add(1, Ordering::Relaxed);
                }
                // Retention may delete the start while it is read: that is no failure.
                Some(Err(e))
                    if !matches!(
                        e.rdkafka_error_code(),
                        Some(rdkafka::types::RDKafkaErrorCode::OffsetOutOfRange)
                    ) =>
                {
                    stats.fail(format!("re-reader: {e}"));
                    return;
                }
                Some(Err(_)) => {}
                None => {}
            }
        }
        drop(consumer);
        let rest = window.saturating_sub(started.elapsed());
        sleep_unless_stopped(rest, stop);
    }
}

/// Creates a topic and deletes the previous one, and describes the soak topic's configs,
/// every two seconds, over Myelin's own client.
fn admin_load(bootstrap: &str, stats: &Stats, stop: &AtomicBool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let mut conn = connect(bootstrap).await;
        let mut made: VecDeque<String> = VecDeque::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Acquire) {
            let name = format!("soak-admin-{n}");
            n += 1;
            let result = async {
                conn.create_topic(&name, 1, 1, &[], false).await?;
                made.push_back(name);
                if made.len() > 1 {
                    if let Some(old) = made.pop_front() {
                        conn.delete_topic(&old).await?;
                    }
                }
                // Resource type 2: a topic.
                conn.describe_configs(2, TOPIC).await.map(drop)
            }
            .await;
            match result {
                Ok(()) => {
                    stats.admin_ops.fetch_add(3, Ordering::Relaxed);
                }
                Err(e) => {
                    stats.fail(format!("admin: {e}"));
                    return;
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while Instant::now() < end && !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn connect(bootstrap: &str) -> Connection {
    let config = ClientConfig {
        client_id: "myelin-soak".into(),
        request_timeout: Duration::from_secs(60),
        ..ClientConfig::default()
    };
    Connection::connect(bootstrap, config)
        .await
        .unwrap_or_else(|e| panic!("connecting to {bootstrap}: {e}"))
}
