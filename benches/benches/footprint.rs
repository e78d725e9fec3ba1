//! Footprint and scale of the real `myelin` binary: its size on disk, an idle broker's
//! resident memory, and a broker with many partitions (created over the Kafka protocol):
//! how long it takes to restart, how much memory it holds then, and how long Metadata for
//! every topic takes. See `docs/performance.md`, "Footprint and scale".
//!
//! Each figure is printed against its budget (the target), in the storage benches'
//! table: the "ceiling" column is the budget and the ratio is budget / measured, so a ratio
//! of 1 or more is within it.
//!
//! `cargo bench -p myelin-benches --bench footprint` measures 100 topics x 100 partitions
//! and the release binary (`target/release/myelin`, built first when missing or older than
//! the sources); `cargo test -p myelin-benches --benches` runs 4 x 50 partitions against
//! the debug binary, only to show that the scenarios work. `MYELIN_BENCH_PARTITIONS`
//! (a multiple of 100 in full mode) overrides the count, `MYELIN_BIN` the binary.
//! Before the restart after SIGKILL each partition gets `MYELIN_BENCH_SCALE_BATCHES` (1)
//! batches of `MYELIN_BENCH_SCALE_BATCH_RECORDS` (1) records: each partition's in turn,
//! or with `MYELIN_BENCH_SCALE_ROUND_ROBIN=1` one batch to every partition, then the next
//! (all partitions written steadily). In full mode, run as root, both restarts start from
//! a dropped page cache.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use myelin::client::{ClientConfig, Connection};
use myelin_benches::e2e::broker::{myelin_binary, BrokerProcess};
use myelin_benches::{median, BenchEnv, Better, Figure, Report, Target};

/// The budgets of the issue, on this 2-core machine.
const BINARY_BUDGET_MIB: f64 = 30.0;
const IDLE_RSS_BUDGET_MIB: f64 = 30.0;
const RESTART_BUDGET_S: f64 = 5.0;
const SCALE_RSS_BUDGET_MIB: f64 = 512.0;
const METADATA_BUDGET_MS: f64 = 50.0;
const CONNECTIONS_TARGET: f64 = 5_000.0;
const UNCLEAN_RESTART_BUDGET_S: f64 = 10.0;

fn main() {
    let env = BenchEnv::from_args(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let mut report = Report::default();
    let names = [
        "binary size",
        "idle RSS",
        "restart with many partitions",
        "RSS with many partitions",
        "Metadata of every topic",
        "concurrent connections served",
        "unclean restart over a large log",
        "restart with many partitions after SIGKILL",
        "unclean restart after writing without a pause",
    ];
    let wanted: Vec<bool> = names.iter().map(|n| env.wants(n)).collect();
    if env.list || !wanted.iter().any(|w| *w) {
        return;
    }
    let bin = myelin_binary();
    println!(
        "myelin footprint benches ({} mode), binary {}, scratch in {}, load average {}",
        if env.quick { "quick test" } else { "full" },
        bin.display(),
        env.root.display(),
        load_average()
    );

    if wanted[0] {
        let bytes = std::fs::metadata(&bin).expect("the binary's size").len();
        report.add(budget(
            names[0],
            bytes as f64 / (1 << 20) as f64,
            BINARY_BUDGET_MIB,
            "MiB",
            format!("{bytes} bytes on disk, {}", bin.display()),
        ));
    }

    if wanted[1] {
        let scratch = env.scratch("idle");
        let broker = BrokerProcess::start(&bin, &scratch.path().join("data"), &[]);
        // Let the start-up settle (background tasks' first ticks) before reading.
        std::thread::sleep(Duration::from_millis(500));
        let rss = broker.rss_mib();
        report.add(budget(
            names[1],
            rss,
            IDLE_RSS_BUDGET_MIB,
            "MiB",
            "VmRSS of `myelin serve` on an empty data directory, 0.5 s after ready".into(),
        ));
    }

    if wanted[2..5].iter().any(|w| *w) || wanted[7] {
        scale(&env, &bin, &mut report, &names[2..5], names[7]);
    }
    if wanted[5] {
        connections(&env, &bin, &mut report, names[5]);
    }
    if wanted[6] {
        unclean_restart(&env, &bin, &mut report, names[6], false);
    }
    if wanted[8] {
        unclean_restart(&env, &bin, &mut report, names[8], true);
    }

    if env.quick {
        println!("\n(quick test mode: the debug binary and few partitions; the figures only show that each scenario runs)");
    }
    println!("\n{}", report.table());
    println!("load average at the end: {}", load_average());
}

/// Creates `topics` x `per_topic` partitions, restarts the broker on them (clean stop,
/// then start), and measures the restart, the memory after it and Metadata of every topic.
/// Then (`unclean_name`) writes a record to every partition, kills the broker and measures
/// the restart after that crash.
fn scale(env: &BenchEnv, bin: &Path, report: &mut Report, names: &[&str], unclean_name: &str) {
    let total: usize = std::env::var("MYELIN_BENCH_PARTITIONS")
        .ok()
        .map(|v| v.parse().expect("MYELIN_BENCH_PARTITIONS is a count"))
        .unwrap_or(env.pick(10_000, 200));
    let per_topic = env.pick(100, 50).min(total);
    let topics = total.div_ceil(per_topic);
    let total = topics * per_topic;
    let scratch = env.scratch("scale");
    let data = scratch.path().join("data");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");

    let broker = BrokerProcess::start(bin, &data, &[]);
    let start = Instant::now();
    rt.block_on(async {
        let mut conn = connect(broker.addr).await;
        for t in 0..topics {
            conn.create_topic(&format!("scale-{t:03}"), per_topic as i32, 1, &[], false)
                .await
                .unwrap_or_else(|e| panic!("creating topic {t}: {e}"));
        }
    });
    let created = start.elapsed();
    let rss_before = broker.rss_mib();
    println!(
        "created {topics} topics x {per_topic} partitions in {:.2} s; RSS {rss_before:.1} MiB",
        created.as_secs_f64()
    );
    broker.stop();

    // From the disk, as after a reboot, when the page cache may be dropped (root).
    let cold = |what: &str| {
        if cold_start(env, what) {
            "the page cache dropped, "
        } else {
            ""
        }
    };
    let cold_clean = cold("the restart");
    let start = Instant::now();
    let broker = BrokerProcess::start(bin, &data, &[]);
    let restart = start.elapsed().as_secs_f64();
    let rss = broker.rss_mib();
    let (first, rounds) = rt.block_on(async {
        let mut conn = connect(broker.addr).await;
        let first = timed_metadata(&mut conn, total).await;
        let mut rounds = Vec::new();
        for _ in 0..env.pick(21, 3) {
            rounds.push(timed_metadata(&mut conn, total).await);
        }
        (first, rounds)
    });
    let rss_after = broker.rss_mib();
    let label = format!("{total} partitions ({topics} topics x {per_topic})");
    if env.wants(unclean_name) {
        // One record in every partition unless told more: a tail to recover in each.
        let count = |var: &str| -> usize {
            std::env::var(var)
                .ok()
                .map(|v| v.parse().expect("a count"))
                .unwrap_or(1)
        };
        let batches = count("MYELIN_BENCH_SCALE_BATCHES");
        let batch_records = count("MYELIN_BENCH_SCALE_BATCH_RECORDS");
        let round_robin =
            std::env::var_os("MYELIN_BENCH_SCALE_ROUND_ROBIN").is_some_and(|v| v != "0");
        let mut broker = broker;
        let start = Instant::now();
        rt.block_on(write_each_partition(
            broker.addr,
            topics,
            per_topic,
            (batches, batch_records),
            round_robin,
        ));
        let written = start.elapsed().as_secs_f64();
        broker.kill();
        let cold_unclean = cold("the restart after SIGKILL");
        let start = Instant::now();
        let broker = BrokerProcess::start(bin, &data, &[]);
        let restart = start.elapsed().as_secs_f64();
        let rss_unclean = broker.rss_mib();
        // Every acknowledged record is there.
        let records = rt.block_on(async {
            let mut conn = connect(broker.addr).await;
            let partitions: Vec<i32> = (0..per_topic as i32).collect();
            let mut records = 0;
            for t in 0..topics {
                let ends = conn
                    .list_offsets(&format!("scale-{t:03}"), &partitions, -1)
                    .await
                    .expect("ListOffsets after the restart");
                records += ends.iter().map(|(_, o)| *o).sum::<i64>();
            }
            records
        });
        let validated = broker.logged_number("validated_bytes").unwrap_or(0);
        assert_eq!(
            records,
            (total * batches * batch_records) as i64,
            "the restarted broker lost acknowledged records"
        );
        report.add(budget(
            &format!("{unclean_name}, {label}"),
            restart,
            RESTART_BUDGET_S,
            "s",
            format!(
                "{batches} batch(es) of {batch_records} 1 KiB record(s) written to \
                 every partition{} ({written:.2} s, acks=all, durable), SIGKILL, \
                 {cold_unclean}then spawn to the `ready` log line; recovery read \
                 {validated} bytes whole; all {records} records there; VmRSS at ready \
                 {rss_unclean:.1} MiB",
                if round_robin {
                    ", a batch to each in turn"
                } else {
                    ""
                }
            ),
        ));
    } else {
        drop(broker);
    }

    if env.wants(names[0]) {
        report.add(budget(
            &format!("{}, {label}", names[0]),
            restart,
            RESTART_BUDGET_S,
            "s",
            format!(
                "{cold_clean}spawn to the `ready` log line after a clean stop; creating them \
                 took {:.2} s",
                created.as_secs_f64()
            ),
        ));
    }
    if env.wants(names[1]) {
        report.add(budget(
            &format!("{}, {label}", names[1]),
            rss,
            SCALE_RSS_BUDGET_MIB,
            "MiB",
            format!(
                "VmRSS at ready after the restart; {rss_after:.1} MiB after the Metadata \
                 calls, {rss_before:.1} MiB after creating them (before the restart)"
            ),
        ));
    }
    if env.wants(names[2]) {
        report.add(budget(
            &format!("{}, {label}", names[2]),
            median(&rounds),
            METADATA_BUDGET_MS,
            "ms",
            format!(
                "request to decoded response over one connection, median of {}; the first \
                 after the restart took {first:.1} ms",
                rounds.len()
            ),
        ));
    }
}

/// Writes `batches` batches of `records` 1 KiB records to each of `per_topic` partitions of
/// `topics` topics named as `scale` names them, acks=all, over four connections.
async fn write_each_partition(
    addr: SocketAddr,
    topics: usize,
    per_topic: usize,
    (batches, records): (usize, usize),
    round_robin: bool,
) {
    use myelin::client::data::Acks;
    use myelin::client::records::{encode_batch, NewRecord};
    let record = NewRecord {
        key: None,
        value: Some(vec![0x42; 1024]),
        headers: Vec::new(),
        timestamp: 1_700_000_000_000,
    };
    let batch = encode_batch(
        &vec![record; records],
        myelin_log::compression::Compression::None,
    )
    .expect("encoding a batch");
    const CONNECTIONS: usize = 4;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CONNECTIONS {
        let batch = batch.clone();
        tasks.spawn(async move {
            let mut conn = connect(addr).await;
            // (rounds, batches per partition per round)
            let (rounds, each) = if round_robin {
                (batches, 1)
            } else {
                (1, batches)
            };
            for _ in 0..rounds {
                for t in (c..topics).step_by(CONNECTIONS) {
                    let topic = format!("scale-{t:03}");
                    for p in 0..per_topic as i32 {
                        for _ in 0..each {
                            conn.produce(&topic, p, batch.clone(), Acks::All)
                                .await
                                .unwrap_or_else(|e| panic!("producing to {topic}-{p}: {e}"));
                        }
                    }
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a produce task");
    }
}

/// Opens `MYELIN_BENCH_CONNECTIONS` (5,000; 300 under `cargo test`) client connections to
/// one broker and keeps them all open; then every connection asks for Metadata at once.
/// Counts the connections served, and reports the broker's memory and the latency of that
/// burst.
fn connections(env: &BenchEnv, bin: &Path, report: &mut Report, name: &str) {
    let count: usize = std::env::var("MYELIN_BENCH_CONNECTIONS")
        .ok()
        .map(|v| v.parse().expect("MYELIN_BENCH_CONNECTIONS is a count"))
        .unwrap_or(env.pick(5_000, 300));
    let scratch = env.scratch("connections");
    let broker = BrokerProcess::start(bin, &scratch.path().join("data"), &[]);
    let rss_idle = broker.rss_mib();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let addr = broker.addr;
    let (opened, open_s, latencies, served, rss_open) = rt.block_on(async {
        // Every connection negotiates versions (ApiVersions) as it opens, one after the
        // other, so the listen backlog never overflows.
        let start = Instant::now();
        let mut conns = Vec::with_capacity(count);
        for i in 0..count {
            match Connection::connect(&addr.to_string(), client_config()).await {
                Ok(c) => conns.push(c),
                Err(e) => {
                    println!("connection {i} failed: {e}");
                    break;
                }
            }
        }
        let opened = conns.len();
        let open_s = start.elapsed().as_secs_f64();
        let rss_open = broker.rss_mib();
        // All of them at once: each asks for Metadata and times its answer.
        let mut tasks = tokio::task::JoinSet::new();
        for mut conn in conns {
            tasks.spawn(async move {
                let start = Instant::now();
                let ok = conn.metadata(None, false).await.is_ok();
                (ok, start.elapsed().as_secs_f64() * 1e3, conn)
            });
        }
        let mut latencies = Vec::with_capacity(opened);
        let mut served = 0usize;
        let mut keep = Vec::with_capacity(opened);
        while let Some(done) = tasks.join_next().await {
            let (ok, ms, conn) = done.expect("a connection task");
            served += usize::from(ok);
            latencies.push(ms);
            keep.push(conn);
        }
        (opened, open_s, latencies, served, rss_open)
    });
    let rss_after = broker.rss_mib();
    drop(broker);
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        sorted
            .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    report.add(Figure {
        name: format!("{name}, {count} opened at once"),
        value: served as f64,
        ceiling: CONNECTIONS_TARGET,
        unit: "conns",
        better: Better::Higher,
        target: Some(Target::AtLeast(CONNECTIONS_TARGET)),
        note: format!(
            "target {CONNECTIONS_TARGET} connections open together, each answering Metadata \
             in one burst; {opened} opened in {open_s:.2} s; burst latency p50 {:.1} ms, \
             p99 {:.1} ms, max {:.1} ms; broker RSS {rss_idle:.1} MiB idle, {rss_open:.1} \
             MiB with them open, {rss_after:.1} MiB after the burst ({:.1} KiB per \
             connection)",
            pct(0.5),
            pct(0.99),
            pct(1.0),
            (rss_after - rss_idle) * 1024.0 / opened.max(1) as f64,
        ),
        paired: None,
    });
}

/// Fills 16 partitions with `MYELIN_BENCH_UNCLEAN_GB` (10; 0.0625 under `cargo test`) GiB
/// through the Kafka protocol in the default durable mode, waits for a recovery-point
/// checkpoint, appends `MYELIN_BENCH_UNCLEAN_TAIL_MB` (256; 8) MiB more, kills the broker
/// (SIGKILL) and times its restart: only what lies past the recovery points is read whole.
/// In full mode it then appends the tail again, kills the broker again, drops the page
/// cache (when it may: root) and times a restart that reads from the disk, as after a power
/// loss.
///
/// `without_pause`: the broker keeps its default checkpoint settings (every 60 s, and
/// every `log.flush.offset.checkpoint.interval.bytes` appended), the fill runs to its end
/// and the broker is killed at once, then restarted once (from a cold page cache when it
/// may): what lies past the recovery points is whatever the broker left there.
fn unclean_restart(
    env: &BenchEnv,
    bin: &Path,
    report: &mut Report,
    name: &str,
    without_pause: bool,
) {
    let gib: f64 = std::env::var("MYELIN_BENCH_UNCLEAN_GB")
        .ok()
        .map(|v| v.parse().expect("MYELIN_BENCH_UNCLEAN_GB is a number"))
        .unwrap_or(env.pick(10.0, 0.0625));
    let tail_mib: u64 = std::env::var("MYELIN_BENCH_UNCLEAN_TAIL_MB")
        .ok()
        .map(|v| v.parse().expect("MYELIN_BENCH_UNCLEAN_TAIL_MB is a count"))
        .unwrap_or(env.pick(256, 8));
    let fill_records: usize = std::env::var("MYELIN_BENCH_UNCLEAN_BATCH_RECORDS")
        .ok()
        .map(|v| {
            v.parse()
                .expect("MYELIN_BENCH_UNCLEAN_BATCH_RECORDS is a count")
        })
        .unwrap_or(FILL_RECORDS);
    let kind = match std::env::var("MYELIN_BENCH_UNCLEAN_PRODUCERS").as_deref() {
        Err(_) | Ok("idempotent") => FillKind::Idempotent,
        Ok("none") => FillKind::Plain,
        Ok("transactional") => FillKind::Transactional,
        Ok(other) => panic!(
            "MYELIN_BENCH_UNCLEAN_PRODUCERS is none, idempotent or transactional, not {other}"
        ),
    };
    // Bytes of records per batch of the fill (about 256 KiB by default).
    let batch_bytes = fill_records as u64 * 1024;
    const PARTITIONS: i32 = 16;
    const CHECKPOINT_MS: u64 = 5_000;
    let scratch = env.scratch("unclean");
    let data = scratch.path().join("data");
    // Checkpoints every 5 s instead of Kafka's 60 s, so that the bench need not wait a
    // minute for one; the tail written after it is what a crash leaves to scan.
    let checkpoint_ms = CHECKPOINT_MS.to_string();
    let overrides: &[(&str, &str)] = if without_pause {
        &[]
    } else {
        &[(
            "log.flush.offset.checkpoint.interval.ms",
            checkpoint_ms.as_str(),
        )]
    };
    let mut broker = BrokerProcess::start(bin, &data, overrides);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let fill_bytes = (gib * (1u64 << 30) as f64) as u64;
    let producers = FillProducers::new(kind, PARTITIONS);
    let start = Instant::now();
    rt.block_on(async {
        let mut conn = connect(broker.addr).await;
        conn.create_topic("unclean", PARTITIONS, 1, &[], false)
            .await
            .expect("creating the topic");
        fill(
            broker.addr,
            "unclean",
            PARTITIONS,
            fill_records,
            fill_bytes,
            producers.clone(),
        )
        .await;
    });
    let fill_s = start.elapsed().as_secs_f64();
    let batches_per_fill =
        |bytes: u64| bytes.div_ceil(batch_bytes * PARTITIONS as u64) * PARTITIONS as u64;
    if without_pause {
        let on_disk = dir_bytes(&data);
        broker.kill();
        let how = if cold_start(env, "the restart") {
            "the page cache dropped (as after a power loss)"
        } else {
            "the page cache as the crash left it"
        };
        let start = Instant::now();
        let broker = BrokerProcess::start(bin, &data, overrides);
        let restart = start.elapsed().as_secs_f64();
        let validated = broker.logged_number("validated_bytes").unwrap_or(0);
        let records = rt.block_on(end_offsets_sum(broker.addr, "unclean", PARTITIONS));
        let expected = batches_per_fill(fill_bytes) as i64 * fill_records as i64
            + producers.markers.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            records, expected,
            "the restarted broker lost acknowledged records"
        );
        report.add(budget(
            &format!(
                "{name}, {gib} GiB with default checkpoints, {:.0} MiB past them",
                validated as f64 / (1u64 << 20) as f64
            ),
            restart,
            UNCLEAN_RESTART_BUDGET_S,
            "s",
            format!(
                "filled without a pause in {fill_s:.1} s ({:.2} GiB on disk in {PARTITIONS} \
                 partitions, durable mode, {}), SIGKILL at once, {how}, then spawn to the \
                 `ready` log line; recovery read {validated} bytes whole; all {records} \
                 records there after the restart",
                on_disk as f64 / (1u64 << 30) as f64,
                kind.describe(),
            ),
        ));
        return;
    }
    let checkpoint = data.join("recovery-point-offset-checkpoint");
    let before = std::fs::metadata(&checkpoint)
        .and_then(|m| m.modified())
        .ok();
    let waited = Instant::now();
    while std::fs::metadata(&checkpoint)
        .and_then(|m| m.modified())
        .ok()
        == before
    {
        assert!(
            waited.elapsed() < Duration::from_millis(CHECKPOINT_MS * 4),
            "no recovery-point checkpoint was written at {}",
            checkpoint.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The tail past the checkpoint.
    let fill_tail = |addr| {
        rt.block_on(fill(
            addr,
            "unclean",
            PARTITIONS,
            fill_records,
            tail_mib << 20,
            producers.clone(),
        ))
    };
    fill_tail(broker.addr);
    let on_disk = dir_bytes(&data);
    let mut expected = batches_per_fill(fill_bytes) + batches_per_fill(tail_mib << 20);
    // In full mode, first a crash as after a power loss: the page cache dropped before the
    // restart, and no producer snapshot past the last roll (a broker that ran since its last
    // start). Then a crash with the page cache as the broker left it (a killed process),
    // the same tail written again past the checkpoint and the snapshot the restart wrote.
    let mut cold = !env.quick;
    for round in 0..if cold { 2 } else { 1 } {
        if round == 1 {
            fill_tail(broker.addr);
            expected += batches_per_fill(tail_mib << 20);
        }
        broker.kill();
        let dropped = round == 0
            && cold
            && drop_page_cache()
                .map_err(|e| {
                    println!("  the page cache could not be dropped ({e}): no cold restart");
                })
                .is_ok();
        if round == 0 && !dropped {
            cold = false;
        }
        if round == 1 && !cold {
            break;
        }
        let start = Instant::now();
        broker = BrokerProcess::start(bin, &data, overrides);
        let restart = start.elapsed().as_secs_f64();
        // Every record is still there: the log end offsets add up to what was acknowledged.
        let records = rt.block_on(end_offsets_sum(broker.addr, "unclean", PARTITIONS));
        // Each transaction marker takes an offset too.
        let expected = expected as i64 * fill_records as i64
            + producers.markers.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            records, expected,
            "the restarted broker lost acknowledged records"
        );
        let (label, how) = if dropped {
            (
                ", cold page cache",
                "SIGKILL, the page cache dropped (as after a power loss)",
            )
        } else {
            ("", "SIGKILL")
        };
        report.add(budget(
            &format!("{name}, {gib} GiB + {tail_mib} MiB past the checkpoint{label}"),
            restart,
            UNCLEAN_RESTART_BUDGET_S,
            "s",
            format!(
                "{how}, then spawn to the `ready` log line; {:.2} GiB on disk in \
                 {PARTITIONS} partitions, written in {fill_s:.1} s over the Kafka protocol \
                 (durable mode, {}); all {records} records there after the restart",
                on_disk as f64 / (1u64 << 30) as f64,
                kind.describe(),
            ),
        ));
    }
    drop(broker);
}

/// The sum of the log end offsets of `topic`'s `partitions`.
async fn end_offsets_sum(addr: SocketAddr, topic: &str, partitions: i32) -> i64 {
    let mut conn = connect(addr).await;
    let partitions: Vec<i32> = (0..partitions).collect();
    let ends = conn
        .list_offsets(topic, &partitions, -1)
        .await
        .expect("ListOffsets after the restart");
    ends.iter().map(|(_, o)| *o).sum::<i64>()
}

/// In full mode, drops the page cache so that the next start reads from the disk; says
/// whether it did (quick mode never does: it only shows that the scenarios run).
fn cold_start(env: &BenchEnv, what: &str) -> bool {
    if env.quick {
        return false;
    }
    match drop_page_cache() {
        Ok(()) => true,
        Err(e) => {
            println!("  the page cache could not be dropped ({e}): {what} from a warm cache");
            false
        }
    }
}

/// Writes back what is dirty and drops the page cache (root only), so that the next start
/// reads its files from the disk, as after a power loss.
fn drop_page_cache() -> std::io::Result<()> {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3")
}

/// Records of 1 KiB per batch of the fill, unless `MYELIN_BENCH_UNCLEAN_BATCH_RECORDS`.
const FILL_RECORDS: usize = 256;

/// What the fill's batches carry (`MYELIN_BENCH_UNCLEAN_PRODUCERS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FillKind {
    /// Producer id -1.
    Plain,
    /// Each partition's batches carry producer id `FILL_PRODUCER_BASE + partition`, epoch
    /// 0 and the next sequence, as an idempotent client's do (the default of Kafka's Java
    /// producer since 3.0), so that a restart has producer state to recover.
    Idempotent,
    /// Each connection is a transactional producer (InitProducerId, AddPartitionsToTxn,
    /// EndTxn) with a transaction per round over its partitions, every fourth aborted: a
    /// restart has aborted-transaction indexes to recover.
    Transactional,
}

impl FillKind {
    fn describe(self) -> &'static str {
        match self {
            FillKind::Plain => "no producer ids",
            FillKind::Idempotent => "idempotent producers",
            FillKind::Transactional => {
                "transactional producers, a quarter of the transactions aborted"
            }
        }
    }
}

/// The producers of the fill.
struct FillProducers {
    kind: FillKind,
    /// The next base sequence of each partition (idempotent fills).
    next_sequence: Vec<std::sync::atomic::AtomicI32>,
    /// Transaction markers written (each takes an offset).
    markers: std::sync::atomic::AtomicI64,
}

const FILL_PRODUCER_BASE: i64 = 7_000;

impl FillProducers {
    fn new(kind: FillKind, partitions: i32) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            kind,
            next_sequence: (0..partitions)
                .map(|_| std::sync::atomic::AtomicI32::new(0))
                .collect(),
            markers: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// `batch` as partition `p`'s next idempotent batch.
    fn stamp(&self, batch: &[u8], p: i32, records: i32) -> Vec<u8> {
        if self.kind != FillKind::Idempotent {
            return batch.to_vec();
        }
        let seq =
            self.next_sequence[p as usize].fetch_add(records, std::sync::atomic::Ordering::Relaxed);
        stamp_producer(batch, FILL_PRODUCER_BASE + i64::from(p), 0, seq, false)
    }
}

/// `batch` with its producer fields set (and the transactional flag) and its CRC
/// recomputed.
fn stamp_producer(batch: &[u8], pid: i64, epoch: i16, seq: i32, transactional: bool) -> Vec<u8> {
    use myelin_log::batch;
    let mut b = batch.to_vec();
    if transactional {
        let at = batch::ATTRIBUTES_AT;
        let attrs = i16::from_be_bytes([b[at], b[at + 1]]) | batch::ATTR_TRANSACTIONAL;
        b[at..at + 2].copy_from_slice(&attrs.to_be_bytes());
    }
    b[batch::PRODUCER_ID_AT..batch::PRODUCER_ID_AT + 8].copy_from_slice(&pid.to_be_bytes());
    b[batch::PRODUCER_EPOCH_AT..batch::PRODUCER_EPOCH_AT + 2].copy_from_slice(&epoch.to_be_bytes());
    b[batch::BASE_SEQUENCE_AT..batch::BASE_SEQUENCE_AT + 4].copy_from_slice(&seq.to_be_bytes());
    let crc = batch::compute_crc(&b);
    b[batch::CRC_AT..batch::CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A transactional producer of the fill over `conn`: its transactional id, producer id
/// and epoch.
struct TxnProducer {
    id: kafka_protocol::messages::TransactionalId,
    pid: i64,
    epoch: i16,
}

impl TxnProducer {
    /// InitProducerId for `id`, retried while the coordinator is busy (loading its log,
    /// or aborting a transaction an earlier producer left open).
    async fn init(conn: &mut Connection, id: &str) -> Self {
        use kafka_protocol::messages::{InitProducerIdRequest, ProducerId, TransactionalId};
        use kafka_protocol::protocol::StrBytes;
        let key = StrBytes::from_string(id.to_string());
        let id = TransactionalId(key.clone());
        loop {
            // As clients do first: it also creates the coordinator's topic on first use.
            let found = conn
                .call(
                    3,
                    &kafka_protocol::messages::FindCoordinatorRequest::default()
                        .with_key(key.clone())
                        .with_key_type(1),
                )
                .await
                .expect("FindCoordinator");
            if found.error_code != 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            let r = conn
                .call(
                    4,
                    &InitProducerIdRequest::default()
                        .with_transactional_id(Some(id.clone()))
                        .with_transaction_timeout_ms(600_000)
                        .with_producer_id(ProducerId(-1))
                        .with_producer_epoch(-1),
                )
                .await
                .expect("InitProducerId");
            match r.error_code {
                0 => {
                    return Self {
                        id,
                        pid: r.producer_id.0,
                        epoch: r.producer_epoch,
                    }
                }
                // CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS,
                // COORDINATOR_NOT_AVAILABLE (its topic is created on first use),
                // NOT_COORDINATOR
                51 | 14 | 15 | 16 => tokio::time::sleep(Duration::from_millis(20)).await,
                code => panic!("InitProducerId: error {code}"),
            }
        }
    }

    /// AddPartitionsToTxn (v3) of `partitions` of `topic`.
    async fn add(&self, conn: &mut Connection, topic: &str, partitions: &[i32]) {
        use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
        use kafka_protocol::messages::{AddPartitionsToTxnRequest, ProducerId, TopicName};
        use kafka_protocol::protocol::StrBytes;
        let r = conn
            .call(
                3,
                &AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(self.id.clone())
                    .with_v3_and_below_producer_id(ProducerId(self.pid))
                    .with_v3_and_below_producer_epoch(self.epoch)
                    .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partitions(partitions.to_vec())]),
            )
            .await
            .expect("AddPartitionsToTxn");
        for t in &r.results_by_topic_v3_and_below {
            for p in &t.results_by_partition {
                assert_eq!(
                    p.partition_error_code, 0,
                    "AddPartitionsToTxn of {topic}-{}",
                    p.partition_index
                );
            }
        }
    }

    /// Produces `batch` (transactional, stamped) to `topic`-`p`, acks=all.
    async fn produce(&self, conn: &mut Connection, topic: &str, p: i32, batch: Vec<u8>) {
        use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
        use kafka_protocol::messages::{ProduceRequest, TopicName};
        use kafka_protocol::protocol::StrBytes;
        let r = conn
            .call(
                9,
                &ProduceRequest::default()
                    .with_transactional_id(Some(self.id.clone()))
                    .with_acks(-1)
                    .with_timeout_ms(30_000)
                    .with_topic_data(vec![TopicProduceData::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partition_data(vec![PartitionProduceData::default()
                            .with_index(p)
                            .with_records(Some(bytes::Bytes::from(batch)))])]),
            )
            .await
            .expect("a transactional Produce");
        for t in &r.responses {
            for part in &t.partition_responses {
                assert_eq!(
                    part.error_code, 0,
                    "transactional produce to {topic}-{p}: {:?}",
                    part.error_message
                );
            }
        }
    }

    /// EndTxn: commits or aborts the open transaction.
    async fn end(&self, conn: &mut Connection, commit: bool) {
        use kafka_protocol::messages::{EndTxnRequest, ProducerId};
        let r = conn
            .call(
                3,
                &EndTxnRequest::default()
                    .with_transactional_id(self.id.clone())
                    .with_producer_id(ProducerId(self.pid))
                    .with_producer_epoch(self.epoch)
                    .with_committed(commit),
            )
            .await
            .expect("EndTxn");
        assert_eq!(r.error_code, 0, "EndTxn");
    }
}

/// Produces at least `bytes` of 1 KiB records, in batches of `records`, to every partition
/// of `topic` together
/// (`bytes` / partitions each, rounded up to whole batches), acks=all, four connections
/// with one request in flight each, the batches stamped by `producers`.
async fn fill(
    addr: SocketAddr,
    topic: &str,
    partitions: i32,
    records: usize,
    bytes: u64,
    producers: std::sync::Arc<FillProducers>,
) {
    use myelin::client::data::Acks;
    use myelin::client::records::{encode_batch, NewRecord};
    let per_partition = bytes.div_ceil(records as u64 * 1024 * partitions as u64);
    let count = records as i32;
    let records: Vec<NewRecord> = (0..records)
        .map(|i| NewRecord {
            key: None,
            value: Some(vec![(i % 251) as u8; 1024]),
            headers: Vec::new(),
            timestamp: 1_700_000_000_000,
        })
        .collect();
    let batch = encode_batch(&records, myelin_log::compression::Compression::None)
        .expect("encoding the fill batch");
    let mut tasks = tokio::task::JoinSet::new();
    const CONNECTIONS: i32 = 4;
    for c in 0..CONNECTIONS {
        let batch = batch.clone();
        let topic = topic.to_string();
        let producers = producers.clone();
        tasks.spawn(async move {
            let mut conn = connect(addr).await;
            let mine: Vec<i32> = (c..partitions).step_by(CONNECTIONS as usize).collect();
            if producers.kind == FillKind::Transactional {
                // A new epoch each fill: sequences start again at 0.
                let txn = TxnProducer::init(&mut conn, &format!("unclean-fill-{c}")).await;
                let mut seq = 0;
                for round in 0..per_partition {
                    txn.add(&mut conn, &topic, &mine).await;
                    for &p in &mine {
                        let b = stamp_producer(&batch, txn.pid, txn.epoch, seq, true);
                        txn.produce(&mut conn, &topic, p, b).await;
                    }
                    seq += count;
                    txn.end(&mut conn, round % 4 != 3).await;
                    producers
                        .markers
                        .fetch_add(mine.len() as i64, std::sync::atomic::Ordering::Relaxed);
                }
                return;
            }
            for _ in 0..per_partition {
                for &p in &mine {
                    conn.produce(&topic, p, producers.stamp(&batch, p, count), Acks::All)
                        .await
                        .unwrap_or_else(|e| panic!("producing to {topic}-{p}: {e}"));
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a fill task");
    }
}

/// Bytes allocated on disk to the files under `dir` (sparse index files count for what
/// they hold, not their preallocated length).
fn dir_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        match entry.metadata() {
            Ok(m) if m.is_dir() => total += dir_bytes(&entry.path()),
            Ok(m) => total += m.blocks() * 512,
            Err(_) => {}
        }
    }
    total
}

/// Metadata of every topic over `conn`, in ms, checking that it lists `total` partitions.
async fn timed_metadata(conn: &mut Connection, total: usize) -> f64 {
    let start = Instant::now();
    let md = conn.metadata(None, false).await.expect("Metadata");
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let partitions: usize = md.topics.iter().map(|t| t.partitions.len()).sum();
    assert!(
        partitions >= total,
        "Metadata listed {partitions} partitions, {total} were created"
    );
    ms
}

/// A figure judged against a budget (lower is better): ratio = budget / measured.
fn budget(name: &str, value: f64, budget: f64, unit: &'static str, note: String) -> Figure {
    Figure {
        name: name.to_string(),
        value,
        ceiling: budget,
        unit,
        better: Better::Lower,
        target: Some(Target::Ratio(1.0)),
        note: format!("budget {budget} {unit}; {note}"),
        paired: None,
    }
}

fn client_config() -> ClientConfig {
    ClientConfig {
        client_id: "myelin-bench".into(),
        request_timeout: Duration::from_secs(120),
        ..ClientConfig::default()
    }
}

async fn connect(addr: SocketAddr) -> Connection {
    Connection::connect(&addr.to_string(), client_config())
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
