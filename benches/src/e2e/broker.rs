//! The broker under test: the real `myelin` binary started as a child process (the same
//! launcher logic as `tests/src/broker.rs`, which benches do not depend on), or any broker
//! at `MYELIN_BENCH_BOOTSTRAP`; and what `/proc` says about a process's CPU and memory.
//! Shared by the end-to-end, footprint and soak benches.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a broker may take to start or stop (10,000 partitions on a loaded machine
/// take a while) before the bench gives up.
const START_TIMEOUT: Duration = Duration::from_secs(300);

/// A running `myelin serve`, killed when dropped.
#[derive(Debug)]
pub struct BrokerProcess {
    child: Child,
    pub addr: SocketAddr,
}

impl BrokerProcess {
    /// Starts `bin serve` on `data_dir` with `overrides` (`--override NAME=VALUE`) and
    /// returns once its log says `ready`.
    pub fn start(bin: &Path, data_dir: &Path, overrides: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0", "--http-listen", "off"])
            .args(["--log-format", "text", "--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in overrides {
            cmd.arg("--override").arg(format!("{k}={v}"));
        }
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("MYELIN_")) {
                cmd.env_remove(name);
            }
        }
        let mut child = cmd.spawn().expect("the myelin binary starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
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
                } else if line.contains("ERROR") || line.contains("WARN") {
                    eprintln!("broker: {line}");
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

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's resident set (`VmRSS` of /proc/<pid>/status), in MiB.
    pub fn rss_mib(&self) -> f64 {
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

    /// SIGKILL: no shutdown at all, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the graceful shutdown.
    pub fn stop(mut self) {
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
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
    bin
}

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
