//! Helpers: an in-process broker on port 0, a raw HTTP GET, and the `myelin` binary run
//! as a child process.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use myelin::{Broker, BrokerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fails a test that would otherwise hang; never part of what is asserted.
pub async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("no answer within 60 s")
}

/// A broker on 127.0.0.1:0 with HTTP on 127.0.0.1:0, data in `dir`.
pub fn broker(dir: &Path) -> Broker {
    Broker::new(dir)
        .listen("127.0.0.1:0")
        .http_listen("127.0.0.1:0")
}

pub async fn start(dir: &Path) -> BrokerHandle {
    bounded(broker(dir).start())
        .await
        .expect("the broker starts")
}

/// GETs `path` and returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    bounded(async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("a status code");
        (status, body.to_string())
    })
    .await
}

/// The `myelin` binary.
pub fn myelin_bin() -> &'static str {
    env!("CARGO_BIN_EXE_myelin")
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `myelin ARGS` with `stdin` as its input and waits for it.
pub async fn run_cli(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = tokio::process::Command::new(myelin_bin())
        .args(args)
        .env_remove("MYELIN_BOOTSTRAP_SERVER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let out = bounded(child.wait_with_output()).await.unwrap();
    Output {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `myelin ARGS -b ADDR` and asserts that it succeeds; returns its standard output.
pub async fn cli_ok(addr: SocketAddr, args: &[&str], stdin: &[u8]) -> String {
    let addr = addr.to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--bootstrap-server", addr.as_str()]);
    let out = run_cli(&all, stdin).await;
    assert!(
        out.success,
        "myelin {all:?} failed:\n{}\n{}",
        out.stdout, out.stderr
    );
    out.stdout
}
