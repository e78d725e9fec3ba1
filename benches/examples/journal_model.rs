//! A model of durable produce outside the broker, to weigh a shared journal against the
//! file-per-partition group commit Myelin has (twelfth round of `docs/performance.md`,
//! ADR 0007).
//!
//! `clients` threads each append one request of `request` bytes to partition
//! `client mod partitions` and wait until it is durable, then append the next (closed loop,
//! as the bench's generator with its requests in flight), or append at a fixed aggregate
//! rate and time each request from when it was due (the bench's half-the-peak run).
//! Two ways to make appends durable:
//! - *per file*: the request is written to its partition's file, and one flusher thread per
//!   file fdatasyncs it, covering every request written before the call (group commit);
//! - *journal*: the request is written to its partition's file and to one journal file,
//!   and one flusher thread fdatasyncs the journal; the partition files are left to the
//!   kernel's writeback (a broker would sync them at its checkpoint);
//! - *journal only*, peak only: as *journal*, with the partition files not written at all,
//!   a bound on the journal's cost without the second copy of every byte.
//!
//! It also runs the bench's ceiling: one file, `clients x request` bytes then fdatasync.
//!
//! `cargo run --release -p myelin-benches --example journal_model -- DIR [PARTITIONS]
//! [REQUEST_KIB] [SECONDS] [ROUNDS]` (defaults 16, 16, 3, 3). DIR should be on the disk
//! under test; the files are left in it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

const CLIENTS: usize = 64;

fn create(path: &Path) -> File {
    let _ = std::fs::remove_file(path);
    OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()))
}

/// One file written by many threads and fdatasync'd by one.
struct Synced {
    file: Mutex<File>,
    /// Appends written so far.
    written: AtomicU64,
    /// Appends durable so far.
    durable: Mutex<u64>,
    done: Condvar,
    work: Condvar,
}

impl Synced {
    fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            file: Mutex::new(create(&path)),
            written: AtomicU64::new(0),
            durable: Mutex::new(0),
            done: Condvar::new(),
            work: Condvar::new(),
        })
    }

    /// Appends `bytes`; returns the append's sequence number.
    fn append(&self, bytes: &[u8]) -> u64 {
        let seq = {
            let mut f = self.file.lock();
            f.write_all(bytes).expect("append");
            self.written.fetch_add(1, Ordering::SeqCst) + 1
        };
        let _g = self.durable.lock();
        self.work.notify_one();
        seq
    }

    fn wait_durable(&self, seq: u64) {
        let mut d = self.durable.lock();
        while *d < seq {
            self.done.wait(&mut d);
        }
    }

    fn start_flusher(
        self: &Arc<Self>,
        stop: Arc<AtomicBool>,
        syncs: Arc<AtomicU64>,
    ) -> JoinHandle<()> {
        let this = Arc::clone(self);
        std::thread::spawn(move || {
            let fd = this.file.lock().try_clone().expect("clone fd");
            while !stop.load(Ordering::Relaxed) {
                let upto = {
                    let mut d = this.durable.lock();
                    loop {
                        let w = this.written.load(Ordering::SeqCst);
                        if w > *d || stop.load(Ordering::Relaxed) {
                            break w;
                        }
                        this.work.wait_for(&mut d, Duration::from_millis(10));
                    }
                };
                if upto == *this.durable.lock() {
                    continue;
                }
                fd.sync_data().expect("fdatasync");
                syncs.fetch_add(1, Ordering::Relaxed);
                *this.durable.lock() = upto;
                this.done.notify_all();
            }
            *this.durable.lock() = u64::MAX;
            this.done.notify_all();
        })
    }
}

fn cpu_seconds() -> f64 {
    // SAFETY: rusage is plain integers, for which all zeroes is a valid value.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid rusage for getrusage to fill.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn sync_all() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

struct Outcome {
    mib_per_s: f64,
    syncs_per_s: f64,
    cpu_s_per_gb: f64,
    /// Sorted latencies in microseconds (fixed-rate runs only).
    latencies: Vec<u64>,
}

struct Shape {
    partitions: usize,
    request: usize,
    run: Duration,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    PerFile,
    Journal,
    JournalOnly,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::PerFile => "per file",
            Mode::Journal => "journal",
            Mode::JournalOnly => "journal only",
        }
    }
}

/// `rate` = 0: closed loop; otherwise requests per second over all clients.
fn run(dir: &Path, shape: &Shape, mode: Mode, rate: f64) -> Outcome {
    let journal = mode != Mode::PerFile;
    let stop = Arc::new(AtomicBool::new(false));
    let syncs = Arc::new(AtomicU64::new(0));
    let files: Vec<_> = (0..shape.partitions)
        .map(|i| Synced::new(dir.join(format!("partition-{i}"))))
        .collect();
    let journal_file = Synced::new(dir.join("journal"));
    let flushers: Vec<_> = if journal {
        vec![journal_file.start_flusher(stop.clone(), syncs.clone())]
    } else {
        files
            .iter()
            .map(|f| f.start_flusher(stop.clone(), syncs.clone()))
            .collect()
    };
    let completed = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let file = files[c % shape.partitions].clone();
            let (journal_file, stop, completed) =
                (journal_file.clone(), stop.clone(), completed.clone());
            let bytes = vec![c as u8; shape.request];
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut k = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let due = if rate > 0.0 {
                        let due = start
                            + Duration::from_secs_f64(
                                (k as f64 * CLIENTS as f64 + c as f64) / rate,
                            );
                        k += 1;
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                        due
                    } else {
                        Instant::now()
                    };
                    let seq = if mode == Mode::JournalOnly {
                        0
                    } else {
                        file.append(&bytes)
                    };
                    if journal {
                        let seq = journal_file.append(&bytes);
                        journal_file.wait_durable(seq);
                    } else {
                        file.wait_durable(seq);
                    }
                    completed.fetch_add(1, Ordering::Relaxed);
                    latencies.push(due.elapsed().as_micros() as u64);
                }
                latencies
            })
        })
        .collect();
    std::thread::sleep(shape.run);
    let n = completed.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    stop.store(true, Ordering::Relaxed);
    for f in flushers {
        f.join().expect("flusher");
    }
    let mut latencies: Vec<u64> = clients
        .into_iter()
        .flat_map(|h| h.join().expect("client"))
        .collect();
    latencies.sort_unstable();
    let bytes = n as f64 * shape.request as f64;
    Outcome {
        mib_per_s: bytes / elapsed / 1048576.0,
        syncs_per_s: syncs.load(Ordering::Relaxed) as f64 / elapsed,
        cpu_s_per_gb: cpu / (bytes / 1e9),
        latencies,
    }
}

fn ceiling(dir: &Path, wave: usize, run: Duration) -> f64 {
    let mut f = create(&dir.join("ceiling"));
    let bytes = vec![1u8; wave];
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < run {
        f.write_all(&bytes).expect("write");
        f.sync_data().expect("fdatasync");
        n += wave;
    }
    n as f64 / start.elapsed().as_secs_f64() / 1048576.0
}

fn quantile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)] as f64 / 1e3
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1).map(PathBuf::from) else {
        eprintln!("usage: journal_model DIR [PARTITIONS] [REQUEST_KIB] [SECONDS] [ROUNDS]");
        std::process::exit(2);
    };
    let arg = |i: usize, default: usize| {
        args.get(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let shape = Shape {
        partitions: arg(2, 16).max(1),
        request: arg(3, 16) * 1024,
        run: Duration::from_secs(arg(4, 3) as u64),
    };
    std::fs::create_dir_all(&dir).expect("creating DIR");
    println!(
        "{} partitions, {} KiB requests, {CLIENTS} clients, {} s per run",
        shape.partitions,
        shape.request / 1024,
        shape.run.as_secs()
    );
    for round in 0..arg(5, 3) {
        sync_all();
        let c = ceiling(&dir, CLIENTS * shape.request, Duration::from_secs(1));
        let mut peaks = [0.0; 3];
        for (i, mode) in [Mode::PerFile, Mode::Journal, Mode::JournalOnly]
            .into_iter()
            .enumerate()
        {
            sync_all();
            let o = run(&dir, &shape, mode, 0.0);
            peaks[i] = o.mib_per_s;
            println!(
                "round {round}: {:12} peak {:6.0} MiB/s ({:.2} of the ceiling {c:.0}), {:6.0} fdatasyncs/s, {:.2} CPU s/GB",
                mode.name(),
                o.mib_per_s,
                o.mib_per_s / c,
                o.syncs_per_s,
                o.cpu_s_per_gb
            );
        }
        let half = peaks[0].min(peaks[1]) * 1048576.0 / shape.request as f64 / 2.0;
        for mode in [Mode::PerFile, Mode::Journal] {
            sync_all();
            let o = run(&dir, &shape, mode, half);
            println!(
                "round {round}: {:12} at {half:.0} requests/s: p50 {:.2} p99 {:.2} p99.9 {:.2} ms, {:.2} CPU s/GB",
                mode.name(),
                quantile_ms(&o.latencies, 0.5),
                quantile_ms(&o.latencies, 0.99),
                quantile_ms(&o.latencies, 0.999),
                o.cpu_s_per_gb
            );
        }
    }
}
