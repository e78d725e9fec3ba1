//! End-to-end produce and consume through real sockets against the real `myelin` binary
//! (release build, started by the bench), with two load generators: our own pipelined one
//! (pre-encoded Produce requests, CRCs computed once, several connections with many
//! requests in flight) and librdkafka. Every figure is printed beside a ceiling measured in
//! the same run: loopback TCP into a trivial sink for the same byte stream, raw
//! fdatasync'd sequential writes in the data directory, and the disk's fdatasync latency.
//! See `docs/performance.md`, "End to end".
//!
//! `cargo bench -p myelin-benches --bench e2e [FILTER]` runs the default matrix (a few
//! minutes); `MYELIN_BENCH_FULL=1` the whole matrix (record size x partitions x acks x
//! durability x compression x keys); `MYELIN_BENCH_BOOTSTRAP=host:port` points the same
//! workload at another Kafka-compatible broker (broker CPU and RSS are then n/a).
//! `cargo test -p myelin-benches --benches` runs one tiny scenario, only to show it works.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use myelin::client::data::LATEST;
use myelin::client::{ClientConfig, Connection};
use myelin_benches::e2e::broker::{self, BrokerProcess};
use myelin_benches::e2e::loadgen::{self, percentile_ms, Pace, RunStats, Sink, Source};
use myelin_benches::e2e::{rdk, wire};
use myelin_benches::{median, BenchEnv, Figure, Report, Target};
use myelin_log::compression::Compression;

/// Connections of our generators.
const CONNS: usize = 4;
/// Produce requests in flight per connection.
const WINDOW: usize = 16;
/// Bytes of the sink's answer to a produce request (about a Produce v8 response's).
const PRODUCE_REPLY_BYTES: usize = 64;
/// Fetch's per-partition limit (Kafka's `max.partition.fetch.bytes` default).
const PARTITION_MAX_BYTES: i32 = 1 << 20;
/// Fetches in flight per connection of the fetch generator (and of its ceiling).
const FETCH_DEPTH: usize = 4;
/// Rounds of the consume run and its ceilings (the ratio is their median).
const CONSUME_ROUNDS: usize = 3;
/// Partitions per request of the packed produce shape: a real producer sends one request
/// per broker carrying a batch of every partition it has ready (librdkafka, Java).
const PACKED_PARTITIONS: usize = 16;
/// Packed requests in flight per connection (Java's `max.in.flight.requests.per.connection`
/// is 5).
const PACKED_WINDOW: usize = 4;

#[derive(Debug, Clone)]
struct Scenario {
    record_bytes: usize,
    partitions: i32,
    acks_all: bool,
    durable: bool,
    compression: Compression,
    keyed: bool,
    /// Also run librdkafka as the producer.
    rdkafka: bool,
}

impl Scenario {
    fn name(&self) -> String {
        let size = match self.record_bytes {
            b if b >= 1024 && b % 1024 == 0 => format!("{}KiB", b / 1024),
            b => format!("{b}B"),
        };
        format!(
            "{size} p{} acks={} {} {} {}",
            self.partitions,
            if self.acks_all { "all" } else { "1" },
            if self.durable { "durable" } else { "relaxed" },
            self.compression.name(),
            if self.keyed { "keyed" } else { "unkeyed" },
        )
    }
    fn shape(&self) -> wire::Shape {
        wire::Shape {
            record_bytes: self.record_bytes,
            keyed: self.keyed,
            compression: self.compression,
        }
    }
    /// Topic configs: the durability of the scenario, stated explicitly so that another
    /// broker gets the same (Kafka's default is the relaxed one).
    fn topic_configs(&self) -> Vec<(String, String)> {
        if self.durable {
            vec![("flush.messages".into(), "1".into())]
        } else {
            vec![
                ("flush.messages".into(), i64::MAX.to_string()),
                ("flush.ms".into(), "1000".into()),
            ]
        }
    }
}

fn matrix(env: &BenchEnv) -> Vec<Scenario> {
    let s = |record_bytes, partitions, acks_all, durable, compression, keyed, rdkafka| Scenario {
        record_bytes,
        partitions,
        acks_all,
        durable,
        compression,
        keyed,
        rdkafka,
    };
    if env.quick {
        return vec![s(1024, 2, true, true, Compression::None, false, true)];
    }
    if std::env::var_os("MYELIN_BENCH_FULL").is_some_and(|v| v != "0") {
        let mut all = Vec::new();
        for record_bytes in [100, 1024, 16 << 10] {
            for partitions in [1, 16, 256] {
                for acks_all in [false, true] {
                    for durable in [false, true] {
                        for compression in [Compression::None, Compression::Lz4, Compression::Zstd]
                        {
                            for keyed in [false, true] {
                                all.push(s(
                                    record_bytes,
                                    partitions,
                                    acks_all,
                                    durable,
                                    compression,
                                    keyed,
                                    true,
                                ));
                            }
                        }
                    }
                }
            }
        }
        return all;
    }
    vec![
        s(1024, 16, true, false, Compression::None, false, true),
        s(1024, 16, true, true, Compression::None, false, true),
        s(100, 1, true, true, Compression::None, false, false),
        s(16 << 10, 256, true, true, Compression::None, false, false),
        s(1024, 16, true, true, Compression::Lz4, true, false),
        s(1024, 16, false, false, Compression::Zstd, true, false),
    ]
}

/// One row of the summary table.
struct Row {
    scenario: String,
    generator: &'static str,
    stats: RunStats,
    ceiling_mib: Option<f64>,
    latency: Option<[f64; 3]>,
    e2e: Option<[f64; 3]>,
    broker_cpu_s_per_gb: Option<f64>,
    client_cpu_s_per_gb: Option<f64>,
    rss_mib: Option<f64>,
}

fn opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| {
        if v >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    })
}

fn lat(v: Option<[f64; 3]>) -> String {
    v.map_or("-".into(), |[a, b, c]| format!("{a:.2} / {b:.2} / {c:.2}"))
}

fn summary(rows: &[Row]) -> String {
    let mut s = String::from(
        "| scenario | generator | records/s | MiB/s | ceiling MiB/s | ratio | latency p50 / p99 / p99.9 ms | e2e p50 / p99 / p99.9 ms | broker CPU s/GB | client CPU s/GB | broker peak RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let mib = r.stats.mib_per_s();
        s.push_str(&format!(
            "| {} | {} | {:.0} | {:.1} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.scenario,
            r.generator,
            r.stats.records_per_s(),
            mib,
            opt(r.ceiling_mib),
            r.ceiling_mib
                .map_or("-".into(), |c| format!("{:.3}", mib / c.max(1e-9))),
            lat(r.latency),
            lat(r.e2e),
            opt(r.broker_cpu_s_per_gb),
            opt(r.client_cpu_s_per_gb),
            opt(r.rss_mib),
        ));
    }
    s
}

fn percentiles(v: &mut [u32]) -> Option<[f64; 3]> {
    (!v.is_empty()).then(|| {
        [
            percentile_ms(v, 0.5),
            percentile_ms(v, 0.99),
            percentile_ms(v, 0.999),
        ]
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The broker under test in a scenario: ours (a fresh process) or the one at
/// `MYELIN_BENCH_BOOTSTRAP`.
struct Target2 {
    addr: SocketAddr,
    bootstrap: String,
    process: Option<BrokerProcess>,
    _scratch: Option<tempfile::TempDir>,
}

impl Target2 {
    fn start(env: &BenchEnv, bin: Option<&Path>) -> Self {
        if let Ok(b) = std::env::var("MYELIN_BENCH_BOOTSTRAP") {
            let addr = b
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .unwrap_or_else(|| panic!("MYELIN_BENCH_BOOTSTRAP={b} is not HOST:PORT"));
            return Self {
                addr,
                bootstrap: b,
                process: None,
                _scratch: None,
            };
        }
        let scratch = env.scratch("e2e");
        let process = BrokerProcess::start(
            bin.expect("the myelin binary"),
            &scratch.path().join("data"),
            &[("log.segment.bytes", "1073741824")],
        );
        Self {
            addr: process.addr,
            bootstrap: process.addr.to_string(),
            process: Some(process),
            _scratch: Some(scratch),
        }
    }
    fn pid(&self) -> Option<String> {
        self.process.as_ref().map(|p| p.pid().to_string())
    }
    fn cpu(&self) -> Option<f64> {
        self.pid().and_then(|p| broker::cpu_seconds(&p))
    }
    fn rss(&self) -> Option<f64> {
        self.pid().and_then(|p| broker::peak_rss_mib(&p))
    }
}

fn cpu_per_gb(before: Option<f64>, after: Option<f64>, bytes: u64) -> Option<f64> {
    Some((after? - before?) / (bytes as f64 / 1e9).max(1e-12))
}

async fn admin(addr: &str) -> Connection {
    let config = ClientConfig {
        client_id: "myelin-e2e-bench".into(),
        request_timeout: Duration::from_secs(60),
        ..ClientConfig::default()
    };
    Connection::connect(addr, config)
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
}

/// How our generator's produce requests are cut.
#[derive(Debug, Clone, Copy)]
struct RequestShape {
    /// Partitions (one batch each) per request.
    partitions: usize,
    /// Requests in flight per connection.
    window: usize,
}

impl RequestShape {
    fn new(partitions: usize) -> Self {
        let window = if partitions > 1 {
            PACKED_WINDOW
        } else {
            WINDOW
        };
        Self { partitions, window }
    }
    fn packed(&self) -> bool {
        self.partitions > 1
    }
    fn produce_label(&self) -> &'static str {
        if self.packed() {
            "ours packed, produce"
        } else {
            "ours, produce"
        }
    }
    fn describe(&self) -> String {
        format!(
            "{} partition(s) per request, {CONNS} connections x {} in flight",
            self.partitions, self.window
        )
    }
}

/// What one request shape of our generator got: the peak, its ceilings, the fixed-rate run.
struct ProducePhase {
    shape: RequestShape,
    frame_bytes: usize,
    peak: RunStats,
    /// Loopback into the discarding sink, same frames, connections and window.
    ceiling: RunStats,
    /// The sink that also appends every request to a file.
    write_ceiling: RunStats,
    /// fdatasync'd writes of every request in flight at once (durable scenarios).
    fsync_mib: Option<f64>,
    broker_cpu_s_per_gb: Option<f64>,
    latency: Option<[f64; 3]>,
    e2e: Option<[f64; 3]>,
    /// Broker CPU per GB produced during the run at half the peak (which also serves the
    /// end-to-end consumer's fetches).
    half_cpu_s_per_gb: Option<f64>,
    /// Latency of the same fixed-rate schedule into the sink (no broker).
    floor: Option<[f64; 3]>,
    /// Durable mode: latency of the same schedule's batches appended and fdatasync'd
    /// straight to files (no broker).
    disk_floor: Option<[f64; 3]>,
    /// Lighter loads than half the peak (no target).
    lighter: Vec<Lighter>,
}

/// A fixed-rate run at a lighter load than half the peak.
struct Lighter {
    /// Fraction of the peak's request rate.
    fraction: f64,
    requests_per_s: f64,
    /// The broker's latency, p50 / p99 / p99.9 ms.
    latency: [f64; 3],
    /// The disk's alone on the same schedule.
    disk: [f64; 3],
    broker_cpu_s_per_gb: Option<f64>,
}

/// Fractions of the peak at which the targeted durable scenarios also measure latency,
/// beside half the peak: how the latency grows with the load.
const LIGHTER_LOADS: [f64; 2] = [0.25, 0.1];

/// Our generator in one request shape: its peak, the loopback ceilings of the same byte
/// stream, then a fixed-rate run at half the peak for produce and end-to-end latency.
#[allow(clippy::too_many_arguments)]
fn produce_phase(
    env: &BenchEnv,
    rt: &tokio::runtime::Runtime,
    target: &Target2,
    sc: &Scenario,
    topic: &str,
    acks: i16,
    batches: &[Vec<myelin::client::records::NewRecord>],
    shape: RequestShape,
    run: Duration,
    lighter_loads: bool,
) -> ProducePhase {
    let data = sc.shape();
    let per_request = shape_records(&data, shape.partitions);
    // Partitions in order, `shape.partitions` to a request.
    let groups: Vec<Vec<(i32, Vec<myelin::client::records::NewRecord>)>> = batches
        .iter()
        .enumerate()
        .map(|(p, r)| (p as i32, r.clone()))
        .collect::<Vec<_>>()
        .chunks(shape.partitions)
        .map(<[_]>::to_vec)
        .collect();
    let frames: Vec<Bytes> = groups
        .iter()
        .map(|parts| {
            let batches = parts
                .iter()
                .map(|(p, records)| {
                    let batch = myelin::client::records::encode_batch(records, data.compression)
                        .expect("encode a batch");
                    (*p, batch)
                })
                .collect();
            wire::produce_frame_of(topic, acks, batches)
        })
        .collect();
    let frame_bytes = frames.iter().map(|f| f.len()).sum::<usize>() / frames.len();
    let fixed = Source::Fixed(Arc::new(frames));
    let load = |addr, pace, source: &Source, decode| {
        loadgen::produce_load(
            addr,
            CONNS,
            shape.window,
            run,
            pace,
            source,
            per_request,
            decode,
        )
    };
    // Into a sink: loopback alone, or loopback plus a page-cache write into `write_to`.
    let into_sink = |write_to: Option<&Path>| {
        let sink = Sink::start(PRODUCE_REPLY_BYTES, write_to);
        load(sink.addr, Pace::Peak, &fixed, false)
    };

    // Peak: ours, then the loopback ceilings of the same byte stream.
    let cpu0 = target.cpu();
    let peak = load(target.addr, Pace::Peak, &fixed, true);
    let cpu1 = target.cpu();
    let ceiling = into_sink(None);
    let write_dir = env.scratch("sink-write");
    let write_ceiling = into_sink(Some(write_dir.path()));
    drop(write_dir);
    if peak.errors > 0 {
        println!(
            "  !! {} of {} produce answers carried an error (first: {})",
            peak.errors, peak.requests, peak.first_error
        );
    }
    println!(
        "  {}: {:.0} records/s, {:.1} MiB/s ({frame_bytes} B requests, {}); loopback {:.1} MiB/s: {:.3}",
        shape.produce_label(),
        peak.records_per_s(),
        peak.mib_per_s(),
        shape.describe(),
        ceiling.mib_per_s(),
        peak.mib_per_s() / ceiling.mib_per_s()
    );

    // Fixed rate at half the peak: produce latency and end to end. The write ceiling
    // just before left gigabytes written back, or being written back, to the device:
    // settled first, so that the flushes they cost land in no latency run (the broker's
    // here, or the disk's alone below, which used to find the device quiet).
    settle();
    let ends_before = end_offsets(rt, &target.bootstrap, topic, sc.partitions);
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = loadgen::e2e_consumer(
        target.addr,
        topic.to_string(),
        ends_before,
        Arc::clone(&stop),
    );
    let stamped: Vec<wire::StampedFrame> = groups
        .iter()
        .map(|parts| wire::StampedFrame::new(topic, acks, parts, &data))
        .collect();
    let stamped = Arc::new(stamped);
    let built = Source::Built(Arc::new(move |i: usize, stamp: u64| {
        stamped[i % stamped.len()].for_request(i / stamped.len(), stamp)
    }));
    let rate = (peak.requests_per_s() / 2.0).max(10.0);
    let cpu_half = target.cpu();
    let mut half = load(target.addr, Pace::Rate(rate), &built, true);
    let half_cpu_s_per_gb = cpu_per_gb(cpu_half, target.cpu(), half.bytes);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut e2e = consumer.join().expect("the consumer");
    let latency = percentiles(&mut half.latencies_us);
    let e2e = percentiles(&mut e2e);
    // The same schedule into the sink, which answers at once: the latency of the
    // generator, its sockets and this machine's scheduling, with no broker.
    let floor = {
        let sink = Sink::start(PRODUCE_REPLY_BYTES, None);
        let mut stats = load(sink.addr, Pace::Rate(rate), &built, false);
        percentiles(&mut stats.latencies_us)
    };
    // In durable mode, the same schedule into the disk: every batch appended to its
    // partition's file and fdatasync'd with group commit per file, with no broker,
    // answered in order per connection.
    let disk_at = |rate: f64| {
        let dir = env.scratch("disk-schedule");
        let parts: Vec<Vec<i32>> = groups
            .iter()
            .map(|g| g.iter().map(|(p, _)| *p).collect())
            .collect();
        let mut v = loadgen::disk_schedule_latencies(
            dir.path(),
            &parts,
            frame_bytes / shape.partitions.max(1),
            rate,
            run,
            CONNS,
        );
        percentiles(&mut v)
    };
    let disk_floor = sc.durable.then(|| disk_at(rate));
    println!(
        "  {} at half the peak ({rate:.0} requests/s): latency {}, end to end {}, broker CPU {} s/GB; the same schedule into the sink: {}{}",
        shape.produce_label(),
        lat(latency),
        lat(e2e),
        opt(half_cpu_s_per_gb),
        lat(floor),
        disk_floor.map_or(String::new(), |d| format!("; into the disk (group commit per file): {}", lat(d)))
    );

    // Lighter loads, in the targeted durable scenarios: the broker, then the disk alone.
    let mut lighter = Vec::new();
    if sc.durable && sc.acks_all && lighter_loads {
        for fraction in LIGHTER_LOADS {
            settle();
            let rate = (peak.requests_per_s() * fraction).max(10.0);
            let cpu0 = target.cpu();
            let mut stats = load(target.addr, Pace::Rate(rate), &built, true);
            let broker_cpu_s_per_gb = cpu_per_gb(cpu0, target.cpu(), stats.bytes);
            let latency = percentiles(&mut stats.latencies_us);
            let disk = disk_at(rate);
            println!(
                "  {} at {fraction} of the peak ({rate:.0} requests/s): latency {}, broker CPU {} s/GB; into the disk (group commit per file): {}",
                shape.produce_label(),
                lat(latency),
                opt(broker_cpu_s_per_gb),
                lat(disk),
            );
            if let (Some(latency), Some(disk)) = (latency, disk) {
                lighter.push(Lighter {
                    fraction,
                    requests_per_s: rate,
                    latency,
                    disk,
                    broker_cpu_s_per_gb,
                });
            }
        }
    }

    // The fdatasync'd write ceiling: one write of what a group-commit wave can carry at
    // most (every request in flight), then fdatasync, for the run's length.
    let fsync_mib = sc.durable.then(|| {
        let dir = env.scratch("fsync-write");
        loadgen::fsync_write_mib_per_s(
            dir.path(),
            CONNS * shape.window * frame_bytes,
            Duration::from_secs_f64(env.pick(1.0, 0.2)),
        )
    });
    ProducePhase {
        shape,
        frame_bytes,
        broker_cpu_s_per_gb: cpu_per_gb(cpu0, cpu1, peak.bytes),
        peak,
        ceiling,
        write_ceiling,
        fsync_mib,
        latency,
        e2e,
        half_cpu_s_per_gb,
        floor,
        disk_floor: disk_floor.flatten(),
        lighter,
    }
}

/// Writes every dirty page back and flushes the device (`sync(2)`; on ext4 this ends
/// with a cache flush), so that the next measured run does not pay for the last one's
/// writes. Not timed.
fn settle() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// Records in a request of `partitions` batches.
fn shape_records(data: &wire::Shape, partitions: usize) -> u64 {
    (data.records_per_batch() * partitions) as u64
}

/// The report's figures of one produce phase; `targeted`: the scenario the targets name.
fn produce_figures(
    report: &mut Report,
    ph: &ProducePhase,
    name: &str,
    targeted: bool,
    sc: &Scenario,
    fsync_p99: f64,
) {
    let label = if ph.shape.packed() {
        "ours packed"
    } else {
        "ours"
    };
    let mib = ph.peak.mib_per_s();
    let loop_mib = ph.ceiling.mib_per_s();
    let produce_target = match (targeted, sc.durable) {
        (true, false) => Some(Target::Ratio(0.7)),
        (true, true) => Some(Target::AtLeast(
            (0.5 * loop_mib).min(0.8 * ph.fsync_mib.unwrap_or(f64::INFINITY)),
        )),
        _ => None,
    };
    report.add(Figure::throughput(
        format!("produce, {label}, {name}"),
        &[mib],
        &[loop_mib],
        produce_target,
        format!(
            "loopback TCP ceiling: the same {} B requests ({}) into a sink{}",
            ph.frame_bytes,
            ph.shape.describe(),
            ph.fsync_mib.map_or(String::new(), |f| format!(
                "; fdatasync'd write ceiling {f:.1} MiB/s (ratio {:.3}); target: at least min(0.5 x loopback, 0.8 x fdatasync'd writes)",
                mib / f
            ))
        ),
    ));
    report.add(Figure::throughput(
        format!("produce vs loopback + page-cache write, {label}, {name}"),
        &[mib],
        &[ph.write_ceiling.mib_per_s()],
        None,
        "the sink also appends every request to a file (no fsync)".into(),
    ));
    if let Some(f) = ph.fsync_mib {
        report.add(Figure::throughput(
            format!("produce vs fdatasync'd writes, {label}, {name}"),
            &[mib],
            &[f],
            None,
            format!(
                "raw write + fdatasync of {} KiB at a time",
                (CONNS * ph.shape.window * ph.frame_bytes) >> 10
            ),
        ));
    }
    if let (Some([_, p99, _]), true) = (ph.latency, sc.acks_all && sc.durable) {
        report.add(Figure::latency_ms(
            format!("produce latency p99 at half the peak, {label}, {name}"),
            p99,
            2.0 * fsync_p99 + 1.0,
            targeted.then_some(Target::Ratio(1.0)),
            format!(
                "ceiling: 2 x the disk's fdatasync p99 ({fsync_p99:.3} ms) + 1 ms; from the scheduled send time; the same schedule into the sink (no broker): p50 / p99 / p99.9 {} ms; broker CPU {} s/GB, at the peak {}",
                lat(ph.floor),
                opt(ph.half_cpu_s_per_gb),
                opt(ph.broker_cpu_s_per_gb),
            ),
        ));
        if let Some([_, disk_p99, _]) = ph.disk_floor {
            report.add(Figure::latency_ms(
                format!("produce latency p99 at half the peak vs the disk's, {label}, {name}"),
                p99,
                disk_p99,
                None,
                "ceiling: the same schedule with no broker, each batch appended to its partition's file as it falls due and every file written fdatasync'd (one thread per file: group commit per file), a request done when its batches and the request before it on its connection are, p99 from the due time".into(),
            ));
        }
    }
    for l in &ph.lighter {
        report.add(Figure::latency_ms(
            format!(
                "produce latency p99 at {} of the peak, {label}, {name}",
                l.fraction
            ),
            l.latency[1],
            2.0 * fsync_p99 + 1.0,
            None,
            format!(
                "{:.0} requests/s, a lighter load than the target's; ceiling as at half the peak; the disk alone on the same schedule: p99 {:.2} ms; broker CPU {} s/GB",
                l.requests_per_s,
                l.disk[1],
                opt(l.broker_cpu_s_per_gb),
            ),
        ));
    }
}

fn main() {
    let env = BenchEnv::from_args(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let scenarios: Vec<Scenario> = matrix(&env)
        .into_iter()
        .filter(|s| env.wants(&s.name()))
        .collect();
    if env.list || scenarios.is_empty() {
        return;
    }
    let external = std::env::var("MYELIN_BENCH_BOOTSTRAP").ok();
    let bin = external.is_none().then(broker::myelin_binary);
    let secs = |full: f64, quick: f64| Duration::from_secs_f64(env.pick(full, quick));
    let run = secs(3.0, 0.3);
    println!(
        "myelin end-to-end benches ({} mode, {} scenarios), broker {}, scratch in {}, load average {}",
        if env.quick { "quick test" } else { "full" },
        scenarios.len(),
        external
            .clone()
            .unwrap_or_else(|| bin.as_ref().unwrap().display().to_string()),
        env.root.display(),
        load_average()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut report = Report::default();
    let mut rows = Vec::new();

    // The disk's fdatasync latency, in the directory the broker's data goes to.
    let probe = env.scratch("fsync-probe");
    let mut fsync = loadgen::fdatasync_latencies(probe.path(), env.pick(1000, 50));
    let fsync_p50 = percentile_ms(&mut fsync, 0.5);
    let fsync_p99 = percentile_ms(&mut fsync, 0.99);
    println!("fdatasync of 4 KiB appends: p50 {fsync_p50:.3} ms, p99 {fsync_p99:.3} ms");

    for (n, sc) in scenarios.iter().enumerate() {
        let name = sc.name();
        println!("\n== {name}");
        // Dirty pages a scenario before left (a relaxed run's log, the sink's write
        // ceiling) are written back first, so that their writeback does not land in this
        // scenario's fdatasyncs.
        settle();
        let shape = sc.shape();
        let target = Target2::start(&env, bin.as_deref());
        let topic = format!("e2e-{n}-{}", std::process::id());
        let topic_id = rt.block_on(async {
            let mut c = admin(&target.bootstrap).await;
            c.create_topic(&topic, sc.partitions, 1, &sc.topic_configs(), false)
                .await
                .unwrap_or_else(|e| panic!("create {topic}: {e}"))
        });
        let _ = topic_id;
        if external.is_some() {
            std::thread::sleep(Duration::from_secs(2));
        }
        let acks: i16 = if sc.acks_all { -1 } else { 1 };
        let mut keys = wire::KeyPool::default();
        let batches: Vec<Vec<myelin::client::records::NewRecord>> = (0..sc.partitions)
            .map(|p| wire::batch_records(&shape, p, sc.partitions, &mut keys))
            .collect();
        // The scenario the targets name: 1 KiB records, 16 partitions, no compression, no
        // keys (none in quick mode, whose figures mean nothing).
        let plain = sc.compression == Compression::None && !sc.keyed;
        let is_1k16 = sc.record_bytes == 1024 && sc.partitions == 16 && !env.quick;
        let phases: Vec<ProducePhase> = [1, PACKED_PARTITIONS]
            .into_iter()
            .filter(|&per| per == 1 || sc.partitions > 1)
            .map(|per| {
                let shape_of = RequestShape::new(per.min(sc.partitions as usize));
                produce_phase(
                    &env,
                    &rt,
                    &target,
                    sc,
                    &topic,
                    acks,
                    &batches,
                    shape_of,
                    run,
                    sc.record_bytes == 1024 && sc.partitions == 16 && plain,
                )
            })
            .collect();
        // Consume what is there from the page cache, then the same answers from the sink,
        // with the produce runs' writeback settled first (it would slow whichever of the
        // two runs it overlapped). Rounds of the two runs, the ratio a median over them.
        settle();
        let ends = end_offsets(&rt, &target.bootstrap, &topic, sc.partitions);
        let mut consume_rounds: Vec<(RunStats, Option<f64>)> = Vec::new();
        let mut ceilings = Vec::new();
        for _ in 0..env.pick(CONSUME_ROUNDS, 1) {
            let cpu2 = target.cpu();
            let consume = loadgen::fetch_load(
                target.addr,
                &topic,
                &ends,
                CONNS,
                FETCH_DEPTH,
                PARTITION_MAX_BYTES,
                None,
            );
            let cpu3 = target.cpu();
            let per_conn = consume.requests.div_ceil(CONNS.min(ends.len()) as u64);
            let avg_answer = (consume.bytes / consume.requests.max(1)) as usize;
            let sink = Sink::start(avg_answer.saturating_sub(4), None);
            let ceiling = loadgen::fetch_load(
                sink.addr,
                &topic,
                &ends,
                CONNS,
                FETCH_DEPTH,
                PARTITION_MAX_BYTES,
                Some(per_conn),
            );
            drop(sink);
            ceilings.push(ceiling.mib_per_s());
            println!(
                "  consume: {:.0} records/s, {:.1} MiB/s ({avg_answer} B answers); loopback {:.1} MiB/s: {:.3}",
                consume.records_per_s(),
                consume.mib_per_s(),
                ceiling.mib_per_s(),
                consume.mib_per_s() / ceiling.mib_per_s()
            );
            if consume.errors > 0 {
                println!("  !! {} fetch partitions carried an error", consume.errors);
            }
            let cpu = cpu_per_gb(cpu2, cpu3, consume.bytes);
            consume_rounds.push((consume, cpu));
        }
        let consume_mib: Vec<f64> = consume_rounds.iter().map(|(c, _)| c.mib_per_s()).collect();
        // The table's row: the round of the median throughput.
        let mut order: Vec<usize> = (0..consume_rounds.len()).collect();
        order.sort_by(|&i, &j| consume_mib[i].total_cmp(&consume_mib[j]));
        let mid = order[order.len() / 2];
        let (consume, consume_cpu) = consume_rounds.swap_remove(mid);
        let avg_answer = (consume.bytes / consume.requests.max(1)) as usize;

        let rss = target.rss();
        for ph in &phases {
            rows.push(Row {
                scenario: name.clone(),
                generator: ph.shape.produce_label(),
                stats: ph.peak.clone(),
                ceiling_mib: Some(ph.ceiling.mib_per_s()),
                latency: ph.latency,
                e2e: ph.e2e,
                broker_cpu_s_per_gb: ph.broker_cpu_s_per_gb,
                client_cpu_s_per_gb: None,
                rss_mib: rss,
            });
        }
        rows.push(Row {
            scenario: name.clone(),
            generator: "ours, consume",
            stats: consume.clone(),
            ceiling_mib: Some(ceilings[mid]),
            latency: None,
            e2e: None,
            broker_cpu_s_per_gb: consume_cpu,
            client_cpu_s_per_gb: None,
            rss_mib: rss,
        });

        // The targets, on the scenarios they name.
        for ph in &phases {
            produce_figures(&mut report, ph, &name, is_1k16 && plain, sc, fsync_p99);
        }
        report.add(Figure::throughput(
            format!("consume from page cache, ours, {name}"),
            &consume_mib,
            &ceilings,
            (sc.record_bytes == 1024 && plain && !env.quick).then_some(Target::Ratio(0.8)),
            format!(
                "loopback TCP ceiling: {avg_answer} B answers to the same fetch requests, {CONNS} connections x {FETCH_DEPTH} in flight; median of {} rounds",
                consume_mib.len()
            ),
        ));

        // librdkafka as the producer: its CPU (this process's) against the broker's.
        if sc.rdkafka {
            let acks = if sc.acks_all { "all" } else { "1" };
            let b0 = target.cpu();
            let c0 = broker::cpu_seconds("self");
            let mut r = rdk::produce(
                &target.bootstrap,
                &topic,
                sc.partitions,
                &shape,
                acks,
                run,
                None,
            );
            let c1 = broker::cpu_seconds("self");
            let b1 = target.cpu();
            let broker_cpu = cpu_per_gb(b0, b1, r.bytes);
            let client_cpu = cpu_per_gb(c0, c1, r.bytes);
            let rate = (r.records_per_s() / 2.0).max(100.0);
            let mut rh = rdk::produce(
                &target.bootstrap,
                &topic,
                sc.partitions,
                &shape,
                acks,
                run,
                Some(rate),
            );
            let latency = percentiles(&mut rh.latencies_us);
            if r.errors + rh.errors > 0 {
                println!(
                    "  !! librdkafka: {} deliveries failed",
                    r.errors + rh.errors
                );
            }
            // The loopback ceiling in this payload's bytes: ours in records/s.
            let ceiling = phases[0].ceiling.records_per_s()
                * (r.bytes as f64 / r.records.max(1) as f64)
                / (1 << 20) as f64;
            println!(
                "  librdkafka: {:.0} records/s, {:.1} MiB/s of payload; CPU s/GB broker {} client {}; at half the peak: {}",
                r.records_per_s(),
                r.mib_per_s(),
                opt(broker_cpu),
                opt(client_cpu),
                lat(latency)
            );
            r.latencies_us.clear();
            if let Some(f) = Figure::cpu_vs_client(
                format!("broker CPU vs librdkafka's, {name}"),
                broker_cpu,
                client_cpu,
                (sc.record_bytes == 1024 && !env.quick).then_some(Target::Ratio(2.0)),
                "ceiling: the librdkafka producer's own CPU for the same records (ratio = client / broker; target: broker < half the client)".into(),
            ) {
                report.add(f);
            }
            rows.push(Row {
                scenario: name.clone(),
                generator: "librdkafka, produce",
                stats: r,
                ceiling_mib: Some(ceiling),
                latency,
                e2e: None,
                broker_cpu_s_per_gb: broker_cpu,
                client_cpu_s_per_gb: client_cpu,
                rss_mib: target.rss(),
            });

            // librdkafka as the consumer, from the page cache: all partitions in one
            // Fetch per request, as users read them.
            let ends = end_offsets(&rt, &target.bootstrap, &topic, sc.partitions);
            let b0 = target.cpu();
            let c0 = broker::cpu_seconds("self");
            let rc = rdk::consume(&target.bootstrap, &topic, &ends, run * 2);
            let c1 = broker::cpu_seconds("self");
            let b1 = target.cpu();
            let broker_cpu = cpu_per_gb(b0, b1, rc.bytes);
            let client_cpu = cpu_per_gb(c0, c1, rc.bytes);
            // Our consume's loopback ceiling, in this payload's bytes per record.
            let ceiling = median(&ceilings) * (rc.bytes as f64 / rc.records.max(1) as f64)
                / (consume.bytes as f64 / consume.records.max(1) as f64);
            println!(
                "  librdkafka consume: {:.0} records/s, {:.1} MiB/s of payload ({:.2} of our consume's loopback ceiling in payload bytes); CPU s/GB broker {} client {}",
                rc.records_per_s(),
                rc.mib_per_s(),
                rc.mib_per_s() / ceiling,
                opt(broker_cpu),
                opt(client_cpu),
            );
            if let Some(f) = Figure::cpu_vs_client(
                format!("broker CPU vs librdkafka's, consume, {name}"),
                broker_cpu,
                client_cpu,
                None,
                "ceiling: the librdkafka consumer's own CPU for the same records (ratio = client / broker)".into(),
            ) {
                report.add(f);
            }
            rows.push(Row {
                scenario: name.clone(),
                generator: "librdkafka, consume",
                stats: rc,
                ceiling_mib: Some(ceiling),
                latency: None,
                e2e: None,
                broker_cpu_s_per_gb: broker_cpu,
                client_cpu_s_per_gb: client_cpu,
                rss_mib: target.rss(),
            });
        }
        drop(target);
    }

    if env.quick {
        println!("\n(quick test mode: tiny runs of the debug binary; the figures only show that the scenarios run)");
    }
    println!(
        "\nfdatasync of 4 KiB appends in the bench directory: p50 {fsync_p50:.3} ms, p99 {fsync_p99:.3} ms (median {:.3})",
        median(&fsync.iter().map(|v| *v as f64 / 1000.0).collect::<Vec<_>>())
    );
    println!("\n{}", summary(&rows));
    println!("{}", report.table());
    println!("load average at the end: {}", load_average());
}

/// The log end offset of each partition of `topic`.
fn end_offsets(rt: &tokio::runtime::Runtime, addr: &str, topic: &str, partitions: i32) -> Vec<i64> {
    rt.block_on(async {
        let mut c = admin(addr).await;
        let ps: Vec<i32> = (0..partitions).collect();
        c.list_offsets(topic, &ps, LATEST)
            .await
            .unwrap_or_else(|e| panic!("ListOffsets of {topic}: {e}"))
            .into_iter()
            .map(|(_, o)| o)
            .collect()
    })
}
