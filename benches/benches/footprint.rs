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

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use myelin::client::{ClientConfig, Connection};
use myelin_benches::{median, BenchEnv, Better, Figure, Report, Target};

/// The budgets of the issue, on this 2-core machine.
const BINARY_BUDGET_MIB: f64 = 30.0;
const IDLE_RSS_BUDGET_MIB: f64 = 30.0;
const RESTART_BUDGET_S: f64 = 5.0;
const SCALE_RSS_BUDGET_MIB: f64 = 512.0;
const METADATA_BUDGET_MS: f64 = 50.0;

/// How long a broker may take to start or stop before the bench gives up.
const START_TIMEOUT: Duration = Duration::from_secs(300);

fn main() {
    let env = BenchEnv::from_args(Path::new(env!("CARGO_TARGET_TMPDIR")));
    let mut report = Report::default();
    let names = [
        "binary size",
        "idle RSS",
        "restart with many partitions",
        "RSS with many partitions",
        "Metadata of every topic",
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
        let broker = BrokerProcess::start(&bin, &scratch.path().join("data"));
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

    if wanted[2..].iter().any(|w| *w) {
        scale(&env, &bin, &mut report, &names[2..]);
    }

    if env.quick {
        println!("\n(quick test mode: the debug binary and few partitions; the figures only show that each scenario runs)");
    }
    println!("\n{}", report.table());
    println!("load average at the end: {}", load_average());
}

/// Creates `topics` x `per_topic` partitions, restarts the broker on them (clean stop,
/// then start), and measures the restart, the memory after it and Metadata of every topic.
fn scale(env: &BenchEnv, bin: &Path, report: &mut Report, names: &[&str]) {
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

    let broker = BrokerProcess::start(bin, &data);
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

    let start = Instant::now();
    let broker = BrokerProcess::start(bin, &data);
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
    drop(broker);

    let label = format!("{total} partitions ({topics} topics x {per_topic})");
    if env.wants(names[0]) {
        report.add(budget(
            &format!("{}, {label}", names[0]),
            restart,
            RESTART_BUDGET_S,
            "s",
            format!(
                "spawn to the `ready` log line after a clean stop; creating them took {:.2} s",
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

async fn connect(addr: SocketAddr) -> Connection {
    let config = ClientConfig {
        client_id: "myelin-bench".into(),
        request_timeout: Duration::from_secs(120),
    };
    Connection::connect(&addr.to_string(), config)
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The `myelin` binary of this bench's profile directory (`target/release` under `cargo
/// bench`, `target/debug` under `cargo test`), built first when missing or older than a
/// source of the workspace's crates, as myelin-tests' harness does. `MYELIN_BIN` overrides.
fn myelin_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("MYELIN_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("the bench executable's path");
    let mut profile_dir = exe.parent().expect("an executable has a directory");
    if profile_dir.file_name().is_some_and(|n| n == "deps") {
        profile_dir = profile_dir.parent().expect("deps/ has a parent");
    }
    let bin = profile_dir.join("myelin");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ sits in the workspace root");
    if is_fresh(&bin, root) {
        return bin;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "myelin", "--bin", "myelin"])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(profile_dir.parent().expect("the target directory"));
    // `cargo bench` builds into target/release with the bench profile; the binary that
    // ships is the release profile's.
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
    bin
}

/// Whether `bin` is newer than the manifests, `Cargo.lock` and every file of `crates/*/src`.
fn is_fresh(bin: &Path, root: &Path) -> bool {
    fn newest(path: &Path, seen: &mut std::time::SystemTime) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                newest(&entry.path(), seen);
            }
        } else if let Ok(modified) = meta.modified() {
            *seen = (*seen).max(modified);
        }
    }
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return false;
    };
    let mut seen = std::time::SystemTime::UNIX_EPOCH;
    newest(&root.join("Cargo.toml"), &mut seen);
    newest(&root.join("Cargo.lock"), &mut seen);
    for krate in std::fs::read_dir(root.join("crates"))
        .into_iter()
        .flatten()
        .flatten()
    {
        newest(&krate.path().join("Cargo.toml"), &mut seen);
        newest(&krate.path().join("src"), &mut seen);
    }
    seen <= built
}

/// A running `myelin serve` on a data directory, killed when dropped.
#[derive(Debug)]
struct BrokerProcess {
    child: Child,
    addr: SocketAddr,
}

impl BrokerProcess {
    /// Starts `myelin serve` and returns once its log says `ready`.
    fn start(bin: &Path, data_dir: &Path) -> Self {
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0", "--http-listen", "off"])
            .args(["--log-format", "text", "--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("MYELIN_")) {
                cmd.env_remove(name);
            }
        }
        let mut child = cmd.spawn().expect("the myelin binary starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        // Keeps draining the log so the broker never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut addr: Option<SocketAddr> = None;
            let mut log = Vec::new();
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if addr.is_none() {
                    addr = line
                        .split("kafka listener bound to ")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .and_then(|a| a.parse().ok());
                }
                if !sent {
                    let ready = line.contains("ready: data in");
                    log.push(line);
                    if ready {
                        sent = true;
                        let _ = tx.send(addr.ok_or_else(|| log.join("\n")));
                    }
                }
            }
            if !sent {
                let _ = tx.send(Err(log.join("\n")));
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(addr)) => Self { child, addr },
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the broker did not become ready: {other:?}");
            }
        }
    }

    /// The process's resident set (`VmRSS` of /proc/<pid>/status), in MiB.
    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status");
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("a VmRSS line");
        kib / 1024.0
    }

    /// SIGTERM, then waits for the graceful shutdown.
    fn stop(mut self) {
        // SAFETY: kill(2) on our own child, not yet waited for, so its pid still names it.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
        let deadline = Instant::now() + START_TIMEOUT;
        while self.child.try_wait().expect("waitpid").is_none() {
            assert!(Instant::now() < deadline, "the broker did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
