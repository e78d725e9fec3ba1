//! Storage engine benchmarks: each scenario prints the engine's figure, a ceiling measured
//! in the same run with plain `std::fs` on the same bytes in the same directory, and their
//! ratio. See `docs/performance.md` for what each ceiling is and why.
//!
//! `cargo bench -p myelin-benches` runs everything (a few minutes on 2 cores);
//! `cargo bench -p myelin-benches -- durable` runs the scenarios whose name contains
//! "durable"; `cargo test -p myelin-benches --benches` runs each once on tiny sizes.
//! `MYELIN_BENCH_RECOVERY_MB` sizes the log of the recovery, read and lookup scenarios
//! (default 1024), `MYELIN_BENCH_DIR` moves the scratch directories (default: the target
//! directory's `tmp`), `MYELIN_BENCH_VERBOSE` prints every round, not only the medians.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::Criterion;
use myelin_benches::{
    append_n, append_opts, batch_of, crc_mib_per_s, durable_config, median, mib_per_s,
    no_fsync_config, open_log, raw_read, raw_read_crc, raw_write, raw_write_sync,
    record_check_mib_per_s, records_for, recovery_mib, BenchEnv, Better, Figure, Report, Rng,
    Target, MIB,
};
use myelin_log::batch::{BatchHeader, BatchIter, HEADER_LEN};
use myelin_log::files::FileKind;
use myelin_log::{FileSlice, LoadState, Log, LogManager, ManagerConfig};

fn main() {
    let env = BenchEnv::from_args(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let mut report = Report::default();
    if !env.list {
        println!(
            "myelin storage benches ({} mode), scratch in {}, load average {}",
            if env.quick { "quick test" } else { "full" },
            env.root.display(),
            load_average()
        );
    }

    for (label, bytes) in [("16KiB", 16usize << 10), ("1MiB", 1 << 20)] {
        let name = format!("append {label} batches, no fsync");
        if env.wants(&name) {
            append_no_fsync(&env, &mut report, &name, bytes);
        }
    }

    for partitions in [1usize, 16] {
        for threads in [1usize, 8, 64] {
            if partitions > 1 && threads == 1 {
                continue; // one thread uses one partition: the shared case again
            }
            let layout = if partitions == 1 {
                "1 shared partition".to_string()
            } else {
                format!("{partitions} partitions")
            };
            let name = format!("durable append, {threads} threads, {layout}");
            if env.wants(&name) {
                durable_append(&env, &mut report, &name, threads, partitions);
            }
        }
    }

    // The recovery, read and lookup scenarios share one log, written once.
    let recovery = "recovery scan of an unclean segment";
    let read = "sequential read";
    let lookup = "offset lookup";
    let shared = [recovery, read, lookup].iter().any(|n| env.wants(n));
    if shared {
        let fixture = SharedLog::write(&env);
        let mut log = None;
        if env.wants(recovery) {
            log = Some(recovery_scan(&env, &mut report, recovery, &fixture));
        }
        let log = log.unwrap_or_else(|| {
            Arc::new(open_log(
                &fixture.dir,
                no_fsync_config(),
                LoadState::default(),
            ))
        });
        if env.wants(read) {
            sequential_read(&env, &mut report, read, &log, &fixture);
        }
        if env.wants(lookup) {
            offset_lookup(&env, &mut report, lookup, &log, &fixture);
        }
    }

    if !report.is_empty() {
        if env.quick {
            println!(
                "\n(quick test mode: tiny sizes, the figures only show that each scenario runs)"
            );
        }
        println!("\n{}", report.table());
        println!("load average at the end: {}", load_average());
    }
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews every figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Appends of 1 KiB records in `batch_bytes` batches with `flush.messages` = MAX, against
/// `write_all` of the same batches to a plain file.
fn append_no_fsync(env: &BenchEnv, report: &mut Report, name: &str, batch_bytes: usize) {
    let batch = batch_of(records_for(batch_bytes));
    let total = env.pick(128 * MIB, 4 * MIB);
    let count = (total / batch.len() as u64).max(1);
    let bytes = count * batch.len() as u64;
    let rounds = env.pick(11, 1);
    let scratch = env.scratch("append");
    let (mut engine, mut ceiling) = (Vec::new(), Vec::new());
    // Round 0 warms both up and is not counted.
    for round in 0..=rounds {
        // Alternate which goes first, so neither always gets the warmer machine.
        for engine_turn in [round % 2 == 0, round % 2 == 1] {
            if engine_turn {
                let dir = scratch.path().join(format!("log-{round}"));
                let log = open_log(&dir, no_fsync_config(), LoadState::default());
                let mut buf = batch.clone();
                // Not timed, as opening the log is not: the first append faults in the
                // fresh segment's index maps, once per segment.
                append_n(&log, &mut buf, 1);
                let start = Instant::now();
                append_n(&log, &mut buf, count);
                let d = start.elapsed();
                if round > 0 {
                    engine.push(mib_per_s(bytes, d));
                }
                drop(log);
                std::fs::remove_dir_all(&dir).expect("remove the bench log");
            } else {
                let path = scratch.path().join(format!("raw-{round}.log"));
                let d = raw_write(&path, &batch, count);
                if round > 0 {
                    ceiling.push(mib_per_s(bytes, d));
                }
                std::fs::remove_file(&path).expect("remove the ceiling file");
            }
        }
    }
    verbose(name, &engine, &ceiling);
    // Every append checks its batch's CRC and records; the ceiling does not: this bounds
    // the ratio at (1 / ceiling) / (1 / crc + 1 / check + 1 / ceiling) even with nothing
    // else to pay.
    let crc = crc_mib_per_s(&batch, count);
    let check = record_check_mib_per_s(&batch, count);
    let c = median(&ceiling);
    let note = format!(
        "{} MiB in {}-byte batches, median of {rounds}; ceiling: write_all of the same \
         batches; CRC-32C alone {crc:.0} MiB/s, the record check alone {check:.0} MiB/s, so \
         validation alone caps the ratio at {:.2}",
        bytes / MIB,
        batch.len(),
        (1.0 / c) / (1.0 / crc + 1.0 / check + 1.0 / c)
    );
    let target = Some(Target::Ratio(0.8));
    report.add(Figure::throughput(name, &engine, &ceiling, target, note));
}

/// With `MYELIN_BENCH_VERBOSE` set, prints every round's figures (engine, ceiling), not
/// only their medians.
fn verbose(name: &str, engine: &[f64], ceiling: &[f64]) {
    if std::env::var_os("MYELIN_BENCH_VERBOSE").is_some() {
        let r: Vec<String> = engine
            .iter()
            .zip(ceiling)
            .map(|(e, c)| format!("{e:.0}/{c:.0}"))
            .collect();
        println!("  [{name}] rounds (engine/ceiling): {}", r.join(" "));
    }
}

/// What one timed run of durable appends did.
struct DurableRun {
    bytes: u64,
    appends: u64,
    elapsed: Duration,
    waves: u64,
    log_flushes: u64,
}

/// `threads` appenders, each appending one 16 KiB batch (Kafka's default `batch.size`) and
/// waiting for its group-commit flush before the next, to `partitions` logs (thread `i`
/// to partition `i % partitions`), against one writer that writes and fdatasyncs the same
/// bytes at the same cadence.
fn durable_append(
    env: &BenchEnv,
    report: &mut Report,
    name: &str,
    threads: usize,
    partitions: usize,
) {
    let batch = batch_of(records_for(16 << 10));
    // Short rounds, many of them, each engine run followed at once by its ceilings: the
    // disk is shared with whatever else runs on the machine, and its fsync latency drifts.
    let duration = env.pick(Duration::from_millis(500), Duration::from_millis(50));
    let rounds = env.pick(6, 1);
    let scratch = env.scratch("durable");
    let (mut engine, mut same, mut ideal) = (Vec::new(), Vec::new(), Vec::new());
    let (mut per_wave, mut flushes_per_wave) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let run = durable_engine(
            &scratch.path().join(format!("data-{round}")),
            &batch,
            threads,
            partitions,
            duration,
        );
        let waves = run.waves.max(1);
        engine.push(mib_per_s(run.bytes, run.elapsed));
        per_wave.push(run.appends as f64 / waves as f64);
        flushes_per_wave.push(run.log_flushes as f64 / waves as f64);

        // Same cadence: one fdatasync per engine wave, each after a wave's worth of bytes.
        let wave_bytes = (run.bytes / waves).max(1) as usize;
        let path = scratch.path().join("raw.log");
        let (b, d) = raw_write_sync(&path, &repeat_to(&batch, wave_bytes), duration);
        same.push(mib_per_s(b, d));
        // Ideal batching: every wave carries one batch from every thread.
        let (b, d) = raw_write_sync(&path, &repeat_to(&batch, batch.len() * threads), duration);
        ideal.push(mib_per_s(b, d));
        std::fs::remove_file(&path).expect("remove the ceiling file");
    }
    verbose(name, &engine, &same);
    verbose(&format!("{name}, vs ideal batching"), &engine, &ideal);
    let value = median(&engine);
    let appends_per_wave = median(&per_wave);
    let note = format!(
        "{:.0} appends/s, {appends_per_wave:.1} appends and {:.1} log fsyncs per wave, median of \
         {rounds} x {:.1}s; ceiling: one file, write {:.0} KiB + fdatasync, repeated",
        value * MIB as f64 / batch.len() as f64,
        median(&flushes_per_wave),
        duration.as_secs_f64(),
        appends_per_wave * batch.len() as f64 / 1024.0,
    );
    let target = (threads == 64).then_some(Target::Ratio(0.5));
    report.add(Figure::throughput(name, &engine, &same, target, note));
    if threads > 1 {
        let note = format!(
            "ceiling: one file, write {threads} x {} bytes + fdatasync, repeated",
            batch.len()
        );
        let name = format!("{name}, vs ideal batching");
        report.add(Figure::throughput(name, &engine, &ideal, None, note));
    }
}

/// `batch` repeated (and cut) to `len` bytes: a ceiling's write of one wave.
fn repeat_to(batch: &[u8], len: usize) -> Vec<u8> {
    batch.iter().copied().cycle().take(len.max(1)).collect()
}

fn durable_engine(
    data_dir: &Path,
    batch: &[u8],
    threads: usize,
    partitions: usize,
    duration: Duration,
) -> DurableRun {
    let cfg = durable_config();
    let mut mc = ManagerConfig::new(data_dir);
    mc.default_log = cfg.clone();
    mc.background_threads = false;
    let config_for = |_: &str| durable_config();
    let (mgr, _) = LogManager::open(mc, &config_for).expect("open the log manager");
    let logs: Vec<_> = (0..partitions)
        .map(|p| {
            mgr.get_or_create("bench", p as i32, cfg.clone())
                .expect("create a partition")
        })
        .collect();
    // One durable append per log first: file creation and the first fsyncs are not timed.
    for log in &logs {
        let buf = batch.to_vec();
        let (_, wait) = mgr.append(log, &buf, &append_opts()).expect("append");
        wait.expect("durable acks wait").wait().expect("flush");
    }
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(threads + 1);
    let (waves0, flushes0) = mgr.flush_stats();
    let (appends, elapsed) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let (mgr, log, stop, barrier) = (&mgr, &logs[i % partitions], &stop, &barrier);
                let buf = batch.to_vec();
                s.spawn(move || {
                    let opts = append_opts();
                    barrier.wait();
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let (_, wait) = mgr.append(log, &buf, &opts).expect("append");
                        wait.expect("durable acks wait").wait().expect("flush");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let n: u64 = workers
            .into_iter()
            .map(|w| w.join().expect("appender"))
            .sum();
        (n, start.elapsed())
    });
    let (waves1, flushes1) = mgr.flush_stats();
    mgr.shutdown().expect("shut the log manager down");
    DurableRun {
        bytes: appends * batch.len() as u64,
        appends,
        elapsed,
        waves: waves1 - waves0,
        log_flushes: flushes1 - flushes0,
    }
}

/// The log the recovery, read and lookup scenarios share: one segment of
/// `MYELIN_BENCH_RECOVERY_MB` MiB of 16 KiB batches of 1 KiB records (1 GiB is about a
/// million records), fsynced, then dropped without a clean close.
struct SharedLog {
    _scratch: tempfile::TempDir,
    dir: PathBuf,
    segment: PathBuf,
    bytes: u64,
    log_end_offset: i64,
}

impl SharedLog {
    fn write(env: &BenchEnv) -> Self {
        let scratch = env.scratch("shared");
        let dir = scratch.path().join("bench-0");
        let mib = recovery_mib(env.quick);
        let batch = batch_of(records_for(16 << 10));
        let count = (mib * MIB / batch.len() as u64).max(1);
        let start = Instant::now();
        let log = open_log(&dir, no_fsync_config(), LoadState::default());
        let mut buf = batch.clone();
        append_n(&log, &mut buf, count);
        // Durable before the drop, so that reopening has nothing to write back: the
        // recovery scan is then what is timed.
        log.flush(myelin_benches::now_ms())
            .expect("flush the shared log");
        let (bytes, log_end_offset) = (log.size_bytes(), log.log_end_offset());
        let segment = log.segment_path(0, FileKind::Log);
        assert_eq!(
            log.segment_count(),
            1,
            "the shared log must fit one segment"
        );
        drop(log); // no close: the next open is unclean and scans the segment
        println!(
            "(shared log: {} MiB, {log_end_offset} records, written and synced in {:.1}s)",
            bytes / MIB,
            start.elapsed().as_secs_f64()
        );
        Self {
            _scratch: scratch,
            dir,
            segment,
            bytes,
            log_end_offset,
        }
    }
}

/// `Log::open` of the unclean shared log (every batch's CRC checked, both indexes
/// rebuilt) from the page cache, against reading the file and CRC-32C'ing every byte.
fn recovery_scan(env: &BenchEnv, report: &mut Report, name: &str, f: &SharedLog) -> Arc<Log> {
    let rounds = env.pick(5, 1);
    let (mut engine, mut ceiling) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..rounds {
        let (bytes, d, crc) = raw_read_crc(&f.segment, 8 << 20);
        black_box(crc);
        ceiling.push(mib_per_s(bytes, d));
        drop(last.take()); // no close: each open is unclean again
        let start = Instant::now();
        let log = open_log(&f.dir, no_fsync_config(), LoadState::default());
        let d = start.elapsed();
        if log.log_end_offset() != f.log_end_offset || log.size_bytes() != f.bytes {
            println!(
                "WARNING: recovery kept {} records / {} bytes of {} / {}",
                log.log_end_offset(),
                log.size_bytes(),
                f.log_end_offset,
                f.bytes
            );
        }
        engine.push(mib_per_s(f.bytes, d));
        last = Some(log);
    }
    verbose(name, &engine, &ceiling);
    let value = median(&engine);
    let note = format!(
        "{} MiB segment, {:.2} GiB/s, median of {rounds}; ceiling: read 8 MiB chunks + CRC-32C \
         of every byte",
        f.bytes / MIB,
        value / 1024.0,
    );
    let target = Some(Target::AtLeast(1024.0));
    report.add(Figure::throughput(name, &engine, &ceiling, target, note));
    Arc::new(last.expect("at least one round"))
}

/// The last offset of the last whole batch in `buf`.
fn last_offset_in(buf: &[u8]) -> Option<i64> {
    BatchIter::new(buf).last().map(|(_, h, _)| h.last_offset())
}

/// The whole shared log read front to back as a consumer fetches it, 1 MiB per read
/// (`max.partition.fetch.bytes`): `Log::read` then `FileSlice::read_into`, against
/// `read` of the segment file into a 1 MiB buffer.
fn sequential_read(env: &BenchEnv, report: &mut Report, name: &str, log: &Log, f: &SharedLog) {
    let rounds = env.pick(5, 1);
    let (mut engine, mut reused, mut ceiling) = (Vec::new(), Vec::new(), Vec::new());
    let mut buf = Vec::with_capacity(2 << 20);
    let mut fixed = vec![0u8; 2 << 20];
    for _ in 0..rounds {
        let (bytes, d) = raw_read(&f.segment, 1 << 20);
        ceiling.push(mib_per_s(bytes, d));
        engine.push(read_log(log, f, |slice| {
            buf.clear();
            slice.read_into(&mut buf).expect("read the slice");
            last_offset_in(&buf)
        }));
        // The same reads into one buffer reused as it is: no zero-fill per read.
        reused.push(read_log(log, f, |slice| {
            let dst = &mut fixed[..slice.len as usize];
            slice
                .file
                .read_exact_at(dst, slice.position)
                .expect("read the slice");
            last_offset_in(dst)
        }));
    }
    verbose(name, &engine, &ceiling);
    let note = format!(
        "{} MiB, 1 MiB reads, from the page cache, median of {rounds}; ceiling: read() of the \
         segment file into a 1 MiB buffer",
        f.bytes / MIB
    );
    report.add(Figure::throughput(
        name,
        &engine,
        &ceiling,
        Some(Target::Ratio(0.8)),
        format!("{note}; engine: Log::read + FileSlice::read_into"),
    ));
    report.add(Figure::throughput(
        format!("{name}, reused buffer"),
        &reused,
        &ceiling,
        None,
        format!(
            "{note}; engine: Log::read + FsFile::read_exact_at into a reused buffer (read_into \
             zero-fills what it appends)"
        ),
    ));
}

/// Reads the whole shared log front to back, 1 MiB per `Log::read`, with `read` copying
/// each slice out and returning the last offset it holds. Returns MiB/s.
fn read_log(log: &Log, f: &SharedLog, mut read: impl FnMut(&FileSlice) -> Option<i64>) -> f64 {
    let start = Instant::now();
    let mut offset = log.log_start_offset();
    let mut bytes = 0u64;
    while offset < f.log_end_offset {
        let r = log
            .read(offset, MIB, i64::MAX, true)
            .expect("read the shared log");
        let Some(slice) = r.slice else { break };
        bytes += slice.len;
        offset = read(&slice).expect("whole batches") + 1;
    }
    let d = start.elapsed();
    if bytes != f.bytes {
        println!("WARNING: the read returned {bytes} bytes of {}", f.bytes);
    }
    mib_per_s(bytes, d)
}

/// Accumulates what criterion's `iter_custom` timed, for the ratio printed after it.
#[derive(Default)]
struct Timed {
    iters: u64,
    elapsed: Duration,
}

impl Timed {
    fn ns_per_iter(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.iters.max(1) as f64
    }
}

/// `Log::read` of a random offset (max_bytes 1: the FileSlice of the batch holding it, no
/// bytes copied), timed by criterion, against a binary search over an in-memory `Vec` of
/// every batch's (last offset, position), and a `BTreeMap` range lookup.
fn offset_lookup(env: &BenchEnv, report: &mut Report, name: &str, log: &Log, f: &SharedLog) {
    // Every batch's (last offset, position), from its header.
    let file = std::fs::File::open(&f.segment).expect("open the segment");
    let mut table: Vec<(i64, u64)> = Vec::new();
    let mut pos = 0u64;
    let mut hdr = [0u8; HEADER_LEN];
    while pos + HEADER_LEN as u64 <= f.bytes {
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut hdr, pos).expect("read a header");
        let h = BatchHeader::parse(&hdr).expect("a batch header");
        table.push((h.last_offset(), pos));
        pos += h.total_len() as u64;
    }
    let tree: std::collections::BTreeMap<i64, u64> =
        table.iter().map(|&(last, pos)| (last, pos)).collect();
    let mut rng = Rng::new(0x5eed);
    let start = log.log_start_offset();
    let span = (f.log_end_offset - start).max(1) as u64;
    let offsets: Vec<i64> = (0..1 << 16)
        .map(|_| start + rng.below(span) as i64)
        .collect();
    let mask = offsets.len() - 1;

    let mut c = Criterion::default()
        .sample_size(env.pick(30, 10))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let (mut engine, mut vec_search, mut btree) =
        (Timed::default(), Timed::default(), Timed::default());
    let mut group = c.benchmark_group("offset lookup");
    let mut i = 0usize;
    group.bench_function("log_read", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let o = offsets[i & mask];
                i += 1;
                let r = log.read(o, 1, i64::MAX, true).expect("lookup");
                black_box(r.slice);
            }
            let d = t.elapsed();
            engine.iters += iters;
            engine.elapsed += d;
            d
        })
    });
    group.bench_function("vec_binary_search", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let o = offsets[i & mask];
                i += 1;
                let at = table.partition_point(|&(last, _)| last < o);
                black_box(table.get(at));
            }
            let d = t.elapsed();
            vec_search.iters += iters;
            vec_search.elapsed += d;
            d
        })
    });
    group.bench_function("btreemap_range", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let o = offsets[i & mask];
                i += 1;
                black_box(tree.range(o..).next());
            }
            let d = t.elapsed();
            btree.iters += iters;
            btree.elapsed += d;
            d
        })
    });
    group.finish();
    c.final_summary();
    if engine.iters == 0 || vec_search.iters == 0 {
        return; // filtered out by criterion
    }
    report.add(Figure {
        name: name.to_string(),
        value: engine.ns_per_iter(),
        ceiling: vec_search.ns_per_iter(),
        unit: "ns/lookup",
        better: Better::Lower,
        target: None,
        note: format!(
            "{} records in {} batches; ceiling: binary search of an in-memory Vec of every \
             batch (BTreeMap range: {:.0} ns); ratio = ceiling / engine",
            f.log_end_offset,
            table.len(),
            btree.ns_per_iter()
        ),
        paired: None,
    });
}
