//! The real `myelin` binary: `serve` on port 0, found through its start-up log, stopped
//! with SIGTERM; `--version`; settings from a config file and the environment.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{bounded, http_get, myelin_bin, run_cli};
use myelin::client::{ClientConfig, Connection};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `myelin serve` and the addresses its log announced.
struct Served {
    child: Child,
    kafka: String,
    /// Every log line read so far.
    log: Vec<String>,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
}

/// Starts `myelin serve ARGS` (with `envs`) and reads its log up to the ready line, taking
/// the Kafka address from the line `kafka listener bound to HOST:PORT`.
async fn serve(args: &[&str], envs: &[(&str, &str)]) -> Served {
    let mut cmd = Command::new(myelin_bin());
    cmd.arg("serve")
        .args(args)
        .env("MYELIN_LOG_LEVEL", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary runs");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    // The address comes first; the line saying how to connect ends the start-up.
    let kafka = bounded(async {
        let mut kafka = None;
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("the broker exited:\n{}", log.join("\n")));
            log.push(line.clone());
            if let Some(rest) = line.split("kafka listener bound to ").nth(1) {
                kafka = Some(rest.split_whitespace().next().unwrap().to_string());
            }
            if line.contains("ready: data in") {
                break kafka.expect("the bound address is logged before ready");
            }
        }
    })
    .await;
    Served {
        child,
        kafka,
        log,
        lines,
    }
}

impl Served {
    /// Sends `signal` and waits for the exit; returns whether it exited 0, and the log.
    async fn stop(mut self, signal: i32) -> (bool, Vec<String>) {
        let pid = self.child.id().expect("still running") as i32;
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        let mut log = self.log;
        let status = bounded(async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                log.push(line);
            }
            self.child.wait().await.unwrap()
        })
        .await;
        (status.success(), log)
    }
}

async fn api_versions_answer(addr: &str) {
    let c = bounded(Connection::connect(addr, ClientConfig::default()))
        .await
        .unwrap();
    assert!(c
        .broker_versions(kafka_protocol::messages::ApiKey::Metadata)
        .is_some());
}

fn marker(dir: &Path) -> bool {
    dir.join(".kafka_cleanshutdown").exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_port_zero_then_sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.display().to_string();
    let served = serve(
        &[
            "--data-dir",
            &data_arg,
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ],
        &[],
    )
    .await;
    api_versions_answer(&served.kafka).await;
    let log = served.log.join("\n");
    assert!(
        log.contains(&data.display().to_string()),
        "the log says where data lives:\n{log}"
    );
    assert!(
        log.contains("kcat -b"),
        "the log says how to connect:\n{log}"
    );
    let http: std::net::SocketAddr = log
        .split("metrics at http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no metrics address in\n{log}"));
    assert_eq!(http_get(http, "/readyz").await.0, 200);
    assert!(!marker(&data));

    let (ok, log) = served.stop(libc::SIGTERM).await;
    assert!(ok, "a clean exit after SIGTERM:\n{}", log.join("\n"));
    assert!(marker(&data), "SIGTERM writes the clean-shutdown marker");
    assert!(data.join("meta.properties").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_also_shuts_down_cleanly_and_json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data_arg = dir.path().display().to_string();
    let served = serve(
        &[
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "off",
            "--log-format",
            "json",
        ],
        &[("MYELIN_DATA_DIR", data_arg.as_str())],
    )
    .await;
    api_versions_answer(&served.kafka).await;
    let (ok, log) = served.stop(libc::SIGINT).await;
    assert!(ok, "{}", log.join("\n"));
    assert!(marker(dir.path()), "MYELIN_DATA_DIR was used");
    for line in &log {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not a JSON line: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_sets_kafka_names_and_a_flag_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("myelin.toml");
    let data = dir.path().join("from-file");
    std::fs::write(
        &file,
        format!(
            "listeners = \"PLAINTEXT://127.0.0.1:1\"\n\
             log.dirs = {:?}\n\
             node.id = 4\n\
             num.partitions = 2\n\
             myelin.http.listen = \"off\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let file_arg = file.display().to_string();
    // The file's listener (port 1) is overridden by the environment, and that by the flag.
    let served = serve(
        &["--config", &file_arg, "--listen", "127.0.0.1:0"],
        &[("MYELIN_LISTEN", "127.0.0.1:2")],
    )
    .await;
    let mut c = bounded(Connection::connect(&served.kafka, ClientConfig::default()))
        .await
        .unwrap();
    let md = bounded(c.metadata(None, false)).await.unwrap();
    assert_eq!(md.brokers[0].node_id, 4, "node.id from the file");
    drop(c);
    let (ok, log) = served.stop(libc::SIGTERM).await;
    assert!(ok, "{}", log.join("\n"));
    assert!(marker(&data), "log.dirs from the file");
}

/// Kafka 4.0's own `config/server.properties` (one combined KRaft node) starts a broker
/// unchanged but for its ports (0 here) and directory: read as Java properties, the KRaft
/// and threading configs accepted and logged as having no effect, the CONTROLLER listener
/// left out (Myelin speaks no controller protocol).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkas_server_properties_start_a_broker() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.properties");
    let data = dir.path().join("kraft-combined-logs");
    std::fs::write(
        &file,
        format!(
            "############################# Server Basics #############################\n\
             process.roles=broker,controller\n\
             node.id=1\n\
             controller.quorum.bootstrap.servers=localhost:9093\n\
             ############################# Socket Server Settings #############################\n\
             listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0\n\
             inter.broker.listener.name=PLAINTEXT\n\
             controller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n\
             num.network.threads=3\n\
             num.io.threads=8\n\
             socket.send.buffer.bytes=102400\n\
             socket.receive.buffer.bytes=102400\n\
             socket.request.max.bytes=104857600\n\
             ############################# Log Basics #############################\n\
             log.dirs={}\n\
             num.partitions=1\n\
             num.recovery.threads.per.data.dir=1\n\
             offsets.topic.replication.factor=1\n\
             share.coordinator.state.topic.replication.factor=1\n\
             share.coordinator.state.topic.min.isr=1\n\
             transaction.state.log.replication.factor=1\n\
             transaction.state.log.min.isr=1\n\
             log.retention.hours=168\n\
             log.segment.bytes=1073741824\n\
             log.retention.check.interval.ms=300000\n\
             # Often added by operators: replication and rack settings of a cluster.\n\
             broker.rack=rack-a\n\
             controlled.shutdown.enable=true\n\
             replica.lag.time.max.ms=30000\n",
            data.display()
        ),
    )
    .unwrap();
    let file_arg = file.display().to_string();
    let served = serve(&["--config", &file_arg, "--http-listen", "off"], &[]).await;
    let mut c = bounded(Connection::connect(&served.kafka, ClientConfig::default()))
        .await
        .unwrap();
    let md = bounded(c.metadata(None, false)).await.unwrap();
    assert_eq!(md.brokers[0].node_id, 1, "node.id from the file");
    drop(c);
    let (ok, log) = served.stop(libc::SIGTERM).await;
    let log = log.join("\n");
    assert!(ok, "{log}");
    assert!(marker(&data), "log.dirs from the file");
    assert_eq!(
        log.matches("listener bound to").count(),
        1,
        "only the PLAINTEXT listener is served:\n{log}"
    );
    for name in [
        "process.roles",
        "num.io.threads",
        "controller.listener.names",
    ] {
        assert!(
            log.contains(&format!("{name}=")) && log.contains("has no effect"),
            "{name} is not noted:\n{log}"
        );
    }
}

#[tokio::test]
async fn version_and_bad_usage() {
    let out = run_cli(&["--version"], b"").await;
    assert!(out.success);
    assert_eq!(
        out.stdout.trim(),
        format!("myelin {}", env!("CARGO_PKG_VERSION"))
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let out = run_cli(
        &[
            "serve",
            "--data-dir",
            &data,
            "--listen",
            "SSL://127.0.0.1:0",
        ],
        b"",
    )
    .await;
    assert!(!out.success, "an SSL listener without a keystore");
    assert!(
        out.stderr.contains("ssl.keystore.location"),
        "{}",
        out.stderr
    );
    let out = run_cli(
        &[
            "serve",
            "--data-dir",
            &data,
            "--listen",
            "KERBEROS://127.0.0.1:0",
        ],
        b"",
    )
    .await;
    assert!(!out.success, "an unknown security protocol");
    assert!(out.stderr.contains("listeners"), "{}", out.stderr);

    // A client command against nothing fails with a readable message.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = unused.local_addr().unwrap().to_string();
    drop(unused);
    let out = run_cli(&["topic", "list", "-b", &addr], b"").await;
    assert!(!out.success);
    assert!(
        out.stderr.contains(&format!("cannot connect to {addr}")),
        "{}",
        out.stderr
    );
}
