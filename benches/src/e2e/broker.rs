//! The broker under test: the real `myelin` binary started as a child process by the
//! end-to-end tests' harness (`myelin_tests::broker`: the binary of this bench's profile,
//! rebuilt when older than the sources; `MYELIN_BIN` overrides), or any broker at
//! `MYELIN_BENCH_BOOTSTRAP`; and what `/proc` says about a process's CPU and memory.
//! Shared by the end-to-end, footprint and soak benches.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use myelin_tests::broker::Broker;

/// A running `myelin serve`, killed when dropped.
#[derive(Debug)]
pub struct BrokerProcess {
    broker: Broker,
    pub addr: SocketAddr,
}

impl BrokerProcess {
    /// Starts `bin serve` on `data_dir` with `overrides` (`--override NAME=VALUE`) and
    /// returns once its log says `ready`.
    pub fn start(bin: &Path, data_dir: &Path, overrides: &[(&str, &str)]) -> Self {
        let args: Vec<String> = overrides
            .iter()
            .flat_map(|(k, v)| ["--override".to_string(), format!("{k}={v}")])
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let broker = Broker::start_binary(bin.to_path_buf(), data_dir.to_path_buf(), &args);
        let addr = broker.addr();
        Self { broker, addr }
    }

    pub fn pid(&self) -> u32 {
        self.broker.pid().expect("the broker runs")
    }

    /// The process's resident set (`VmRSS` of /proc/<pid>/status), in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/<pid>/status");
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("a VmRSS line");
        kib / 1024.0
    }

    /// The number the broker's log last gave as `key=N` (a `tracing` field), if any.
    pub fn logged_number(&self, key: &str) -> Option<u64> {
        let needle = format!("{key}=");
        let log = self.broker.log();
        let at = log.rfind(&needle)? + needle.len();
        let digits: String = log[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    }

    /// SIGKILL: no shutdown at all, as a crash.
    pub fn kill(&mut self) {
        self.broker.kill();
    }

    /// SIGTERM, then waits for the graceful shutdown.
    pub fn stop(mut self) {
        self.broker.stop();
    }
}

/// CPU seconds (user + system) `/proc/<pid>/stat` reports; `pid` "self" for this process.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields count from after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime) are the 12th and 13th after the name.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ticks / hz.max(1.0))
}

/// `VmHWM` (peak resident set) of `/proc/<pid>/status`, in MiB.
pub fn peak_rss_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(kib / 1024.0)
}

/// The `myelin` binary of this bench's profile directory (`target/release` under `cargo
/// bench`, `target/debug` under `cargo test`), built first when missing or older than a
/// source of the workspace's crates. `MYELIN_BIN` overrides.
pub fn myelin_binary() -> PathBuf {
    myelin_tests::broker::myelin_binary().to_path_buf()
}

/// Waits until `f` is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
