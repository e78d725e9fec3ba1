//! Shared helpers of Myelin's storage benchmarks (`benches/storage.rs`).
//!
//! Every benchmark reports the engine against a *ceiling* measured in the same run, on the
//! same bytes, in the same directory, with plain `std::fs`: the ratio says how much of
//! what the machine can do the engine gets, which a bare MB/s figure cannot say on a
//! shared 2-core VM whose disk speed nobody knows in advance. This module holds what the
//! scenarios share: the run mode and filter, scratch directories, batches, the raw
//! `std::fs` ceilings, and the report (a line per figure, then a Markdown table).
//!
//! Benchmarks never assert on timings: they print.
//!
//! [`e2e`] holds the end-to-end bench's parts (`benches/e2e.rs`).

pub mod e2e;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use myelin_log::compression::Compression;
use myelin_log::io::{Fs, RealFs};
use myelin_log::record::simple_batch;
use myelin_log::{AppendOptions, LoadState, Log, LogConfig};

/// Bytes of each record's value: the benchmarks append 1 KiB records.
pub const RECORD_VALUE_BYTES: usize = 1024;

/// `1 << 20`.
pub const MIB: u64 = 1 << 20;

/// How the bench binary was started.
#[derive(Debug, Clone)]
pub struct BenchEnv {
    /// `cargo test --benches` (no `--bench` flag, or `--test`): run every scenario once
    /// on tiny sizes, to check that it works, not to measure.
    pub quick: bool,
    /// `--list`: print the scenario names and run nothing.
    pub list: bool,
    /// Criterion's positional FILTER: only scenarios whose name contains it run.
    filter: Option<String>,
    /// Where scratch directories go.
    pub root: PathBuf,
}

/// Criterion's options that take a value: their value is not the FILTER.
const VALUE_FLAGS: &[&str] = &[
    "-c",
    "--color",
    "--colour",
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--profile-time",
    "--plotting-backend",
    "--output-format",
    "--format",
];

impl BenchEnv {
    /// Reads the mode and filter from the command line as criterion does, and the scratch
    /// root from `MYELIN_BENCH_DIR` (default: `default_root`, normally cargo's
    /// `CARGO_TARGET_TMPDIR`, on the same disk as the target directory).
    pub fn from_args(default_root: &Path) -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let has = |f: &str| args.iter().any(|a| a == f);
        let quick = !has("--bench") || has("--test");
        let mut filter = None;
        let mut skip_next = false;
        for a in &args {
            if skip_next {
                skip_next = false;
            } else if a.starts_with('-') {
                skip_next = VALUE_FLAGS.contains(&a.as_str());
            } else if filter.is_none() {
                filter = Some(a.clone());
            }
        }
        let root = std::env::var_os("MYELIN_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| default_root.to_path_buf());
        std::fs::create_dir_all(&root).expect("create the bench scratch root");
        Self {
            quick,
            list: has("--list"),
            filter,
            root,
        }
    }

    /// Whether the scenario `name` runs (prints it instead under `--list`).
    pub fn wants(&self, name: &str) -> bool {
        let selected = self.filter.as_deref().is_none_or(|f| name.contains(f));
        if selected && self.list {
            println!("{name}: benchmark");
            return false;
        }
        selected
    }

    /// A fresh scratch directory under the root, removed when dropped.
    pub fn scratch(&self, tag: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("myelin-bench-{tag}-"))
            .tempdir_in(&self.root)
            .expect("create a scratch directory")
    }

    /// `full` normally, `small` in quick mode.
    pub fn pick<T>(&self, full: T, small: T) -> T {
        if self.quick {
            small
        } else {
            full
        }
    }
}

/// The size of the log the recovery, read and lookup benchmarks share, in MiB:
/// `MYELIN_BENCH_RECOVERY_MB`, by default 1024 (8 in quick mode). At most 2047: one
/// segment holds it all.
pub fn recovery_mib(quick: bool) -> u64 {
    let default = if quick { 8 } else { 1024 };
    std::env::var("MYELIN_BENCH_RECOVERY_MB")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(default)
        .clamp(1, 2047)
}

/// A deterministic, incompressible-looking byte pattern (xorshift64).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A small, fast pseudo-random generator for picking offsets (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-enough in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// A RecordBatch v2 of `records` records of [`RECORD_VALUE_BYTES`] each, no key,
/// uncompressed, as a producer would send it: `batch_of(16)` is a 16 KiB batch.
pub fn batch_of(records: usize) -> Vec<u8> {
    let values: Vec<Vec<u8>> = (0..records)
        .map(|i| pattern(RECORD_VALUE_BYTES, i as u64 + 7))
        .collect();
    let kvs: Vec<_> = values.iter().map(|v| (None, Some(&v[..]))).collect();
    simple_batch(&kvs, now_ms(), Compression::None)
}

/// Records per batch for a batch of about `batch_bytes` bytes of 1 KiB records.
pub fn records_for(batch_bytes: usize) -> usize {
    (batch_bytes / RECORD_VALUE_BYTES).max(1)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    myelin_log::manager::wall_clock_ms()
}

/// Append options for the benchmarks.
pub fn append_opts() -> AppendOptions {
    AppendOptions {
        leader_epoch: 0,
        now_ms: now_ms(),
    }
}

/// A log config with `flush.messages` = `i64::MAX` (nothing fsyncs on append), one
/// segment of up to 2 GiB, and room for 1 MiB batches of 1 KiB records.
pub fn no_fsync_config() -> LogConfig {
    LogConfig {
        flush_messages: i64::MAX,
        segment_bytes: i32::MAX as u64,
        max_message_bytes: 2 << 20,
        ..LogConfig::default()
    }
}

/// Myelin's default durability (`flush.messages` = 1: group commit), with room for large
/// batches.
pub fn durable_config() -> LogConfig {
    LogConfig {
        max_message_bytes: 2 << 20,
        ..LogConfig::default()
    }
}

/// Opens (or recovers) the log `bench-0` in `dir` on the real file system.
pub fn open_log(dir: &Path, config: LogConfig, state: LoadState) -> Log {
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    Log::open(fs, dir, "bench", 0, config, state, now_ms())
        .expect("open the bench log")
        .0
}

/// Appends `buf` to `log` `count` times (the buffer is re-stamped each time).
pub fn append_n(log: &Log, buf: &mut [u8], count: u64) {
    let opts = append_opts();
    for _ in 0..count {
        log.append(buf, &opts).expect("append");
    }
}

/// A new, empty file for a ceiling to write.
pub fn create_file(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .expect("create a ceiling file")
}

/// Ceiling of an append without fsync: `write_all` of `chunk`, `count` times, to a new
/// file at `path`. Returns the time the writes took (opening the file is not counted,
/// as opening the log is not).
pub fn raw_write(path: &Path, chunk: &[u8], count: u64) -> Duration {
    let mut f = create_file(path);
    let start = Instant::now();
    for _ in 0..count {
        f.write_all(chunk).expect("ceiling write");
    }
    start.elapsed()
}

/// Ceiling of durable appends: one writer writing `chunk` then `fdatasync`, again and
/// again until `duration` has passed. Returns (bytes written, time taken).
pub fn raw_write_sync(path: &Path, chunk: &[u8], duration: Duration) -> (u64, Duration) {
    let mut f = create_file(path);
    let start = Instant::now();
    let mut bytes = 0u64;
    while bytes == 0 || start.elapsed() < duration {
        f.write_all(chunk).expect("ceiling write");
        f.sync_data().expect("ceiling fdatasync");
        bytes += chunk.len() as u64;
    }
    (bytes, start.elapsed())
}

/// Ceiling of a sequential read: the whole file at `path` read with `read` into a buffer
/// of `chunk` bytes. Returns (bytes read, time taken).
pub fn raw_read(path: &Path, chunk: usize) -> (u64, Duration) {
    let mut f = File::open(path).expect("open for the read ceiling");
    let mut buf = vec![0u8; chunk];
    let start = Instant::now();
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).expect("ceiling read");
        if n == 0 {
            break;
        }
        bytes += n as u64;
    }
    (bytes, start.elapsed())
}

/// Ceiling of a recovery scan: the whole file at `path` read in `chunk`-byte pieces, with a
/// CRC-32C over every byte. Returns (bytes, time taken, crc) — the CRC is returned so
/// that the compiler cannot drop the work.
pub fn raw_read_crc(path: &Path, chunk: usize) -> (u64, Duration, u32) {
    let mut f = File::open(path).expect("open for the recovery ceiling");
    let mut buf = vec![0u8; chunk];
    let start = Instant::now();
    let mut bytes = 0u64;
    let mut crc = myelin_log::crc::Crc32c::default();
    loop {
        let n = f.read(&mut buf).expect("ceiling read");
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        bytes += n as u64;
    }
    (bytes, start.elapsed(), crc.value())
}

/// MiB/s of CRC-32C alone (the broker's, [`myelin_log::crc`]) over `count` copies of
/// `batch` (over the bytes a batch's CRC covers), best of three: the validation every
/// append pays and no ceiling does.
pub fn crc_mib_per_s(batch: &[u8], count: u64) -> f64 {
    let covered = &batch[myelin_log::batch::ATTRIBUTES_AT..];
    best_of_three(count * covered.len() as u64, || {
        let mut acc = 0u32;
        for _ in 0..count {
            acc ^= myelin_log::crc::crc32c(std::hint::black_box(covered));
        }
        std::hint::black_box(acc);
    })
}

/// MiB/s of the record check alone ([`myelin_log::scan::validate_records`], as an append
/// on a non-compacted log runs it) over `count` copies of `batch`, best of three.
pub fn record_check_mib_per_s(batch: &[u8], count: u64) -> f64 {
    best_of_three(count * batch.len() as u64, || {
        for _ in 0..count {
            myelin_log::scan::validate_records(std::hint::black_box(batch), batch.len(), false)
                .expect("the bench batch is valid");
        }
    })
}

fn best_of_three(bytes: u64, mut run: impl FnMut()) -> f64 {
    let mut best = 0f64;
    for _ in 0..3 {
        let start = Instant::now();
        run();
        best = best.max(mib_per_s(bytes, start.elapsed()));
    }
    best
}

/// Bytes per second as MiB/s.
pub fn mib_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / MIB as f64 / d.as_secs_f64().max(1e-9)
}

/// Nanoseconds per call of `f`, best of five rounds of `n` calls. `f` returns a flag that
/// is counted, so that the calls cannot be optimized away.
pub fn ns_per_call(n: u64, mut f: impl FnMut() -> bool) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = std::time::Instant::now();
        let mut counted = 0u64;
        for _ in 0..n {
            counted += u64::from(std::hint::black_box(f()));
        }
        std::hint::black_box(counted);
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}

/// A metadata state holding only what `record` makes of an empty one (ACLs, quotas): the
/// state the request-path benches decide against.
pub fn state_of(record: &myelin_cluster::MetadataRecord) -> myelin_cluster::MetadataState {
    let mut state = myelin_cluster::MetadataState::new();
    state
        .apply(myelin_cluster::MetadataOffset(0), record)
        .expect("a valid record");
    state
}

/// A figure for a check on the produce path: nanoseconds per call of `f` (`calls` calls a
/// round, the median of three rounds) against CRC-32C of one 16 KiB batch, the check every
/// produced batch gets anyway, timed in the same rounds. Target: `f` costs no more than
/// that check. `what` names `f` in the note (`decision`, `charge`).
pub fn vs_batch_crc(name: String, what: &str, calls: u64, mut f: impl FnMut() -> bool) -> Figure {
    let batch = batch_of(records_for(16 << 10));
    let covered = &batch[myelin_log::batch::ATTRIBUTES_AT..];
    let mut values = Vec::new();
    let mut checks = Vec::new();
    for _ in 0..3 {
        values.push(ns_per_call(calls, &mut f));
        checks.push(ns_per_call(calls / 100 + 1, || {
            myelin_log::crc::crc32c(std::hint::black_box(covered)) != 0
        }));
    }
    Figure {
        name,
        value: median(&values),
        ceiling: median(&checks),
        unit: "ns",
        better: Better::Lower,
        target: Some(Target::Ratio(1.0)),
        note: format!(
            "ceiling: CRC-32C of one 16 KiB batch, the check every produced batch gets; \
             ratio = ceiling / {what}"
        ),
        paired: None,
    }
}

/// The median of `v` (0 for an empty one).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Throughput: ratio = engine / ceiling.
    Higher,
    /// Latency: ratio = ceiling / engine, so that 1.0 is still "as good as the ceiling".
    Lower,
}

/// What a figure should reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// A ratio to the ceiling of at least this.
    Ratio(f64),
    /// A value (in the figure's unit) of at least this, whatever the ceiling.
    AtLeast(f64),
}

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub ceiling: f64,
    /// e.g. "MiB/s", "ns/lookup".
    pub unit: &'static str,
    pub better: Better,
    /// What the engine should reach, if it has a target.
    pub target: Option<Target>,
    /// What the ceiling was, and anything else worth knowing about the figure.
    pub note: String,
    /// The median of the per-round ratios, when each round ran the engine and the ceiling
    /// back to back: steadier than the ratio of the medians on a machine whose load
    /// drifts, so it is the ratio reported.
    pub paired: Option<f64>,
}

impl Figure {
    /// A latency figure in milliseconds, lower being better, against its ceiling.
    pub fn latency_ms(
        name: impl Into<String>,
        value: f64,
        ceiling: f64,
        target: Option<Target>,
        note: String,
    ) -> Self {
        Self {
            name: name.into(),
            value,
            ceiling,
            unit: "ms",
            better: Better::Lower,
            target,
            note,
            paired: None,
        }
    }

    /// A throughput figure from per-round MiB/s of the engine and of the ceiling, round
    /// `i` of each measured back to back: medians, and the median of the paired ratios.
    pub fn throughput(
        name: impl Into<String>,
        engine: &[f64],
        ceiling: &[f64],
        target: Option<Target>,
        note: String,
    ) -> Self {
        let ratios: Vec<f64> = engine
            .iter()
            .zip(ceiling)
            .map(|(e, c)| e / c.max(f64::MIN_POSITIVE))
            .collect();
        Self {
            name: name.into(),
            value: median(engine),
            ceiling: median(ceiling),
            unit: "MiB/s",
            better: Better::Higher,
            target,
            note,
            paired: (!ratios.is_empty()).then(|| median(&ratios)),
        }
    }

    /// The broker's CPU per GB against a client's for the same records (ratio = client /
    /// broker): a figure only when both were measured.
    pub fn cpu_vs_client(
        name: impl Into<String>,
        broker_s_per_gb: Option<f64>,
        client_s_per_gb: Option<f64>,
        target: Option<Target>,
        note: String,
    ) -> Option<Self> {
        Some(Self {
            name: name.into(),
            value: broker_s_per_gb?,
            ceiling: client_s_per_gb?,
            unit: "CPU s/GB",
            better: Better::Lower,
            target,
            note,
            paired: None,
        })
    }

    /// How much of the ceiling the engine gets: 1.0 is as good as raw `std::fs`.
    pub fn ratio(&self) -> f64 {
        if let Some(r) = self.paired {
            return r;
        }
        match self.better {
            Better::Higher => self.value / self.ceiling.max(f64::MIN_POSITIVE),
            Better::Lower => self.ceiling / self.value.max(f64::MIN_POSITIVE),
        }
    }

    /// The ratio as printed: cut (not rounded) to 3 decimals, so that a figure shown at
    /// the target has met it.
    fn ratio_text(&self) -> String {
        format!("{:.3}", (self.ratio() * 1000.0).floor() / 1000.0)
    }

    fn verdict(&self) -> &'static str {
        match self.target {
            Some(Target::Ratio(t)) if self.ratio() >= t => "met",
            Some(Target::AtLeast(t)) if self.value >= t => "met",
            Some(_) => "MISSED",
            None => "-",
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            Some(Target::Ratio(t)) => format!("ratio >= {t}"),
            Some(Target::AtLeast(t)) => format!(">= {} {}", fmt_num(t), self.unit),
            None => "-".to_string(),
        }
    }

    /// The one-line report, e.g. `append 16KiB batches: 1234 MiB/s, ceiling 1500 MiB/s,
    /// ratio 0.82 (target >= 0.8: met)`.
    pub fn line(&self) -> String {
        let target = match self.target {
            Some(_) => format!("target {}: {}", self.target_text(), self.verdict()),
            None => "no target".to_string(),
        };
        let mut s = format!(
            "{}: {} {}, ceiling {} {}, ratio {} ({target})",
            self.name,
            fmt_num(self.value),
            self.unit,
            fmt_num(self.ceiling),
            self.unit,
            self.ratio_text()
        );
        if !self.note.is_empty() {
            s.push_str(&format!("\n    {}", self.note));
        }
        s
    }
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The figures of a run: each printed as it is measured, all again as a Markdown table at
/// the end (what `docs/performance.md` quotes).
#[derive(Debug, Default)]
pub struct Report {
    figures: Vec<Figure>,
}

impl Report {
    pub fn add(&mut self, f: Figure) {
        println!("{}", f.line());
        self.figures.push(f);
    }

    /// The Markdown table of every figure so far.
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| benchmark | engine | ceiling | ratio | target | met |\n|---|---|---|---|---|---|\n",
        );
        for f in &self.figures {
            s.push_str(&format!(
                "| {} | {} {} | {} {} | {} | {} | {} |\n",
                f.name,
                fmt_num(f.value),
                f.unit,
                fmt_num(f.ceiling),
                f.unit,
                f.ratio_text(),
                f.target_text(),
                f.verdict(),
            ));
        }
        s
    }

    pub fn is_empty(&self) -> bool {
        self.figures.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_1k_records_and_validate() {
        let b = batch_of(records_for(16 << 10));
        let h = myelin_log::batch::validate_incoming(&b, 2 << 20).unwrap();
        assert_eq!(h.record_count, 16);
        assert!(b.len() > 16 << 10 && b.len() < 17 << 10, "{}", b.len());
    }

    #[test]
    fn median_and_ratio() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let f = Figure {
            name: "x".into(),
            value: 50.0,
            ceiling: 100.0,
            unit: "ns",
            better: Better::Lower,
            target: None,
            note: String::new(),
            paired: None,
        };
        assert_eq!(f.ratio(), 2.0);
        let t = Figure::throughput(
            "t",
            &[8.0, 1.0, 9.0],
            &[10.0, 2.0, 10.0],
            None,
            String::new(),
        );
        assert_eq!((t.value, t.ceiling), (8.0, 10.0));
        assert_eq!(t.ratio(), 0.8);
        assert_eq!(t.ratio_text(), "0.800");
    }
}
