//! Running the third-party client programs of the end-to-end tests: their output, bounded
//! in time, and the failure that shows all of it.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long one client script may run.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs `cmd` with `stdin`, kills it past `SCRIPT_TIMEOUT`, and returns its output.
pub fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitpid") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {SCRIPT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Panics with everything the command printed unless it succeeded.
pub fn check(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The Python of the repository's `.venv` (with tests/python/requirements.txt), which
/// `scripts/test` creates.
pub fn venv_python() -> std::path::PathBuf {
    let python = crate::broker::workspace_root().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/test, which creates it, or \
         `python3 -m venv .venv && .venv/bin/pip install -r tests/python/requirements.txt`",
        python.display()
    );
    python
}
