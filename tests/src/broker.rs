//! The real `myelin` binary as a child process, for the end-to-end tests with third-party
//! clients.
//!
//! [`myelin_binary`] finds the binary that cargo built for the `myelin` package. Cargo
//! hands `CARGO_BIN_EXE_<name>` only to the integration tests of the package that owns the
//! binary, and artifact dependencies are not on stable, so the harness looks in the target
//! directory of its own profile. `cargo test --workspace` (scripts/test, CI) has just built
//! it there. When the binary is missing or older than a source file of the workspace's
//! crates (a `cargo test -p myelin-tests` after an edit), the harness first runs
//! `cargo build -p myelin --bin myelin`, so it never runs a stale broker; it does not run
//! cargo when the binary is fresh, because `-p myelin` resolves features differently from
//! `--workspace` and would rebuild the crates for nothing. `MYELIN_BIN` overrides it all.
//!
//! [`Broker`] runs `myelin serve` on a data directory with the Kafka listener on
//! `127.0.0.1:0`, reads the bound address from the start-up log (the line
//! `kafka listener bound to HOST:PORT`), and waits for the line `ready: data in ...`.
//! [`Broker::kill`] sends SIGKILL, [`Broker::stop`] SIGTERM, [`Broker::restart`] starts the
//! binary again on the same data directory. Dropping a `Broker` kills the process; when the
//! test is panicking, the broker's log is printed first.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a broker may take to start or to stop (a debug build on a busy 2-core machine,
/// or a release build with 10,000 partitions, in the benches).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The workspace root (the directory of the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// The `myelin` binary of the profile this test was built with, built if needed.
pub fn myelin_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("MYELIN_BIN") {
            return PathBuf::from(bin);
        }
        // A test runs as target/<profile>/deps/<name>-<hash>; a bin as target/<profile>/<name>.
        let exe = std::env::current_exe().expect("the test executable's path");
        let mut profile_dir = exe.parent().expect("an executable has a directory");
        if profile_dir.file_name().is_some_and(|n| n == "deps") {
            profile_dir = profile_dir.parent().expect("deps/ has a parent");
        }
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a profile directory name")
            .to_string();
        let target_dir = profile_dir.parent().expect("the target directory");
        let bin = profile_dir.join("myelin");
        if is_fresh(&bin) {
            return bin;
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "myelin", "--bin", "myelin"])
            .arg("--manifest-path")
            .arg(workspace_root().join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(status.success(), "{cmd:?} failed: {status}");
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
}

/// Whether `bin` exists and is newer than every source of the crates it is built from:
/// the manifests, `Cargo.lock`, and every file under `crates/*/src`.
fn is_fresh(bin: &Path) -> bool {
    fn newest(path: &Path, newest_seen: &mut std::time::SystemTime) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                newest(&entry.path(), newest_seen);
            }
        } else if let Ok(modified) = meta.modified() {
            *newest_seen = (*newest_seen).max(modified);
        }
    }
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return false;
    };
    let root = workspace_root();
    let mut newest_source = std::time::SystemTime::UNIX_EPOCH;
    newest(&root.join("Cargo.toml"), &mut newest_source);
    newest(&root.join("Cargo.lock"), &mut newest_source);
    for krate in std::fs::read_dir(root.join("crates"))
        .into_iter()
        .flatten()
        .flatten()
    {
        newest(&krate.path().join("Cargo.toml"), &mut newest_source);
        newest(&krate.path().join("src"), &mut newest_source);
    }
    newest_source <= built
}

/// A running `myelin serve`.
#[derive(Debug)]
pub struct Broker {
    /// The `myelin` binary it runs.
    bin: PathBuf,
    child: Option<Child>,
    addr: SocketAddr,
    data_dir: PathBuf,
    /// Extra `serve` flags, kept for restarts.
    args: Vec<String>,
    /// Every log line of every run of this broker, oldest first.
    log: Arc<Mutex<Vec<String>>>,
    /// Owns the data directory when the broker made it; removed on drop.
    _temp: Option<tempfile::TempDir>,
}

impl Broker {
    /// A broker on a new temporary data directory.
    pub fn start() -> Broker {
        Broker::start_with(&[])
    }

    /// A broker on a new temporary data directory, with extra `serve` flags (for example
    /// `["--override", "num.partitions=3"]`).
    pub fn start_with(args: &[&str]) -> Broker {
        let temp = tempfile::Builder::new()
            .prefix("myelin-e2e-")
            .tempdir()
            .expect("a temporary directory");
        let mut broker = Broker::start_in(temp.path().join("data"), args);
        broker._temp = Some(temp);
        broker
    }

    /// A broker on `data_dir` (created if absent; kept on drop).
    pub fn start_in(data_dir: PathBuf, args: &[&str]) -> Broker {
        Broker::start_binary(myelin_binary().to_path_buf(), data_dir, args)
    }

    /// A broker running the binary `bin` on `data_dir` (created if absent; kept on drop):
    /// for the benches, which measure the release build.
    pub fn start_binary(bin: PathBuf, data_dir: PathBuf, args: &[&str]) -> Broker {
        let log = Arc::new(Mutex::new(Vec::new()));
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (child, addr) = spawn(&bin, &data_dir, &args, &log);
        Broker {
            bin,
            child: Some(child),
            addr,
            data_dir,
            args,
            log,
            _temp: None,
        }
    }

    /// The Kafka listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address as clients take it (`bootstrap.servers`).
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// The schema registry's URL (`--schema-registry-listen`), as the broker logged it.
    pub fn schema_registry_url(&self) -> String {
        let log = self.log();
        log.lines()
            .rev()
            .find_map(|l| l.split("schema registry listening on ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no schema registry address in the log:\n{log}"))
            .to_string()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The broker's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the broker logged so far, across restarts.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Kills the process with SIGKILL and waits for it: no clean shutdown.
    pub fn kill(&mut self) {
        if let Some(status) = self.signal_and_wait(libc::SIGKILL) {
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(libc::SIGKILL),
                "the broker exited before it was killed: {status}"
            );
        }
    }

    /// Sends SIGTERM and waits for the graceful shutdown; returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal_and_wait(libc::SIGTERM)
            .expect("the broker was running")
    }

    /// Starts the binary again on the same data directory with the same flags, on a new
    /// port (clients of the previous run cannot reach it by accident). Kills the running
    /// process first, if any.
    pub fn restart(&mut self) {
        self.kill();
        let (child, addr) = spawn(&self.bin, &self.data_dir, &self.args, &self.log);
        self.child = Some(child);
        self.addr = addr;
    }

    fn signal_and_wait(&mut self, signal: libc::c_int) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) on the pid of our own child, which has not been waited for, so
        // the pid still names it; no memory is involved.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("waitpid") {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the broker did not exit within {START_TIMEOUT:?} of signal {signal}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- myelin log ({}) ----\n{}\n---- end of myelin log ----",
                self.data_dir.display(),
                self.log()
            );
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `myelin serve` and waits until its log says it is ready; returns the process
/// and the bound Kafka address. A thread keeps reading the log into `log`.
fn spawn(
    bin: &Path,
    data_dir: &Path,
    args: &[String],
    log: &Arc<Mutex<Vec<String>>>,
) -> (Child, SocketAddr) {
    let level = std::env::var("MYELIN_E2E_LOG").unwrap_or_else(|_| "info".to_string());
    let mut cmd = Command::new(bin);
    cmd.arg("serve").arg("--data-dir").arg(data_dir);
    // A test may name its own listener (`--listen SASL_PLAINTEXT://127.0.0.1:0`).
    if !args.iter().any(|a| a == "--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    cmd.args(["--http-listen", "off"])
        .args(["--log-format", "text", "--log-level", &level])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Settings of the developer's own shell must not leak into the test broker.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("MYELIN_")) {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd.spawn().expect("the myelin binary starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    let lines = log.clone();
    let echo = std::env::var_os("MYELIN_E2E_ECHO").is_some();
    std::thread::spawn(move || {
        let mut addr: Option<SocketAddr> = None;
        let mut ready_sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if echo {
                eprintln!("[myelin] {line}");
            }
            if addr.is_none() {
                addr = line
                    .split("kafka listener bound to ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|a| a.parse().ok());
            }
            let ready = !ready_sent && line.contains("ready: data in");
            lines.lock().unwrap().push(line);
            if ready {
                ready_sent = true;
                let _ = tx.send(addr);
            }
        }
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(Some(addr)) => {
            // Ready means bound and accepting; check it from the outside anyway.
            if let Err(e) = std::net::TcpStream::connect_timeout(&addr, START_TIMEOUT) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the broker is ready but {addr} refuses connections: {e}");
            }
            (child, addr)
        }
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the broker's log has no `kafka listener bound to` line before ready:\n{}",
                log.lock().unwrap().join("\n")
            )
        }
        Err(_) => {
            let _ = child.kill();
            let status = child.wait();
            panic!(
                "the broker was not ready within {START_TIMEOUT:?} ({status:?}):\n{}",
                log.lock().unwrap().join("\n")
            )
        }
    }
}

/// Polls `check` every 50 ms until it returns Some, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One record batch as stored in a partition's segment files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBatch {
    pub base_offset: i64,
    /// Bits 0-2 of the attributes: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub codec: u8,
    pub record_count: i32,
    /// The whole batch, header included.
    pub size: usize,
}

/// The batches stored for `topic`/`partition` under `data_dir` (Kafka's layout: the
/// directory `<topic>-<partition>`, segments `<base offset>.log`, batches back to back),
/// read straight from the files: what the broker wrote, not what it serves.
pub fn stored_batches(data_dir: &Path, topic: &str, partition: i32) -> Vec<StoredBatch> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    let mut batches = Vec::new();
    for segment in segments {
        let bytes = std::fs::read(&segment).expect("a readable segment");
        let mut at = 0;
        while at + 61 <= bytes.len() {
            let field = |from: usize, len: usize| &bytes[at + from..at + from + len];
            let base_offset = i64::from_be_bytes(field(0, 8).try_into().unwrap());
            let length = i32::from_be_bytes(field(8, 4).try_into().unwrap());
            if length <= 0 {
                break; // preallocated zeros past the end of the data
            }
            let size = 12 + length as usize;
            let attributes = i16::from_be_bytes(field(21, 2).try_into().unwrap());
            let record_count = i32::from_be_bytes(field(57, 4).try_into().unwrap());
            batches.push(StoredBatch {
                base_offset,
                codec: (attributes & 0x7) as u8,
                record_count,
                size,
            });
            at += size;
        }
    }
    batches
}
