//! Third-party clients in other languages against the real `myelin` binary: the Python
//! clients (confluent-kafka, kafka-python, aiokafka), kcat (Debian's, librdkafka 2.0),
//! kafkajs and Sarama (Go, Debian's 1.22); the Python clients, kafkajs and Sarama also as
//! consumer group members that commit and resume, and the Python clients and kafkajs as
//! idempotent and transactional producers (what they wrote read back by read_committed
//! and read_uncommitted consumers). Each test runs its own broker.
//!
//! `scripts/test` installs what these need: `.venv` at the repository root with
//! `tests/python/requirements.txt`, the `kcat` Debian package, `tests/js/node_modules`
//! from `tests/js/package-lock.json`, and the `golang-go` and
//! `golang-github-shopify-sarama-dev` Debian packages. A missing one fails the test with
//! the command that installs it: nothing is skipped.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use myelin_tests::broker::{stored_batches, workspace_root, Broker};
use myelin_tests::oauth::{
    broker_flags, es256_jwk, jaas_trusting, sign_token, unix_now, JwksServer,
};
use myelin_tests::process::{check, run, venv_python};
use myelin_tests::tls::tls_files;

/// The broker flags of the consumer group tests: the first rebalance of a group without
/// waiting, and a small `__consumer_offsets` (created on the first FindCoordinator).
const GROUP_BROKER_FLAGS: [&str; 4] = [
    "--override",
    "group.initial.rebalance.delay.ms=0",
    "--override",
    "offsets.topic.num.partitions=5",
];

/// Runs tests/python/`script` against a new broker and checks its closing line.
fn python_client(script: &str, ok_line: &str) {
    python_client_with(script, ok_line, &[]);
}

/// Runs tests/python/`script` against a new broker started with `broker_flags` and checks
/// its closing line.
fn python_client_with(script: &str, ok_line: &str, broker_flags: &[&str]) {
    let python = venv_python();
    let broker = Broker::start_with(broker_flags);
    let out = run(
        Command::new(python)
            .arg(workspace_root().join("tests/python").join(script))
            .arg(broker.bootstrap())
            .env("PYTHONUNBUFFERED", "1"),
        b"",
    );
    let stdout = check(script, &out);
    assert!(
        stdout.lines().any(|l| l == ok_line),
        "{script} did not print {ok_line:?}:\n{stdout}"
    );
}

#[test]
fn python_confluent_kafka() {
    python_client("confluent_kafka_client.py", "OK confluent-kafka");
}

#[test]
fn python_kafka_python() {
    python_client("kafka_python_client.py", "OK kafka-python");
}

#[test]
fn python_aiokafka() {
    python_client("aiokafka_client.py", "OK aiokafka");
}

// Consumer groups: a group member consumes, commits and stops; a second member of the
// same group resumes after the committed offsets (the scripts check what it sees).

#[test]
fn python_confluent_kafka_group() {
    python_client_with(
        "confluent_kafka_group.py",
        "OK confluent-kafka group",
        &GROUP_BROKER_FLAGS,
    );
}

#[test]
fn python_kafka_python_group() {
    python_client_with(
        "kafka_python_group.py",
        "OK kafka-python group",
        &GROUP_BROKER_FLAGS,
    );
}

#[test]
fn python_aiokafka_group() {
    python_client_with(
        "aiokafka_group.py",
        "OK aiokafka group",
        &GROUP_BROKER_FLAGS,
    );
}

fn kcat() -> Command {
    let found = Command::new("kcat")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "kcat is not installed: run scripts/test, which installs it, or `apt-get install kcat`"
    );
    let mut cmd = Command::new("kcat");
    // Cargo's LD_LIBRARY_PATH can reach the librdkafka that rdkafka-sys built (no SSL, so
    // no SCRAM); kcat takes Debian's.
    cmd.env_remove("LD_LIBRARY_PATH");
    cmd
}

/// Consumes partition 0 of `topic` from `offset` to its end with kcat, one line per
/// record: `offset|key|value length (-1 for null)|value|headers`.
fn kcat_consume(broker: &Broker, topic: &str, offset: &str) -> Vec<String> {
    let out = run(
        kcat()
            .args(["-b", &broker.bootstrap(), "-C", "-t", topic, "-p", "0"])
            .args(["-o", offset, "-e", "-q", "-f", "%o|%k|%S|%s|%h\\n"]),
        b"",
    );
    check("kcat -C", &out).lines().map(str::to_string).collect()
}

#[test]
fn kcat_metadata_produce_and_consume_with_compression() {
    let broker = Broker::start();
    const N: usize = 100;
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let mut wrong_codec = Vec::new();
    for (codec, codec_id) in [("gzip", 1u8), ("snappy", 2), ("lz4", 3), ("zstd", 4)] {
        let topic = format!("kcat-{codec}");
        let input: String = (0..N)
            .map(|i| format!("k{i}:{codec} value {i} {}\n", "q".repeat(80)))
            .collect();
        // The topic does not exist yet: the producer's metadata request creates it.
        let out = run(
            kcat()
                .args(["-b", &broker.bootstrap(), "-P", "-t", &topic, "-p", "0"])
                .args(["-z", codec, "-K", ":", "-H", "src=kcat"])
                .args(["-X", "linger.ms=50", "-X", "acks=all"]),
            input.as_bytes(),
        );
        check(&format!("kcat -P -z {codec}"), &out);

        let lines = kcat_consume(&broker, &topic, "beginning");
        let expected: Vec<String> = (0..N)
            .map(|i| {
                let value = format!("{codec} value {i} {}", "q".repeat(80));
                format!("{i}|k{i}|{}|{value}|src=kcat", value.len())
            })
            .collect();
        assert_eq!(lines, expected, "{topic}");
        // The last 10, and from a timestamp (offsets_for_times).
        let tail = kcat_consume(&broker, &topic, "-10");
        assert_eq!(tail, expected[N - 10..], "{topic} -o -10");
        let since = kcat_consume(&broker, &topic, &format!("s@{}", started_ms - 60_000));
        assert_eq!(since, expected, "{topic} -o s@");

        let batches = stored_batches(broker.data_dir(), &topic, 0);
        assert_eq!(
            batches.iter().map(|b| b.record_count).sum::<i32>(),
            N as i32
        );
        if !batches.iter().all(|b| b.codec == codec_id) {
            wrong_codec.push(format!("{topic}: stored codecs {batches:?}"));
        }
    }

    let out = run(kcat().args(["-b", &broker.bootstrap(), "-L"]), b"");
    let metadata = check("kcat -L", &out);
    assert!(
        metadata.contains(&format!("broker 0 at {} (controller)", broker.bootstrap())),
        "{metadata}"
    );
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        assert!(
            metadata.contains(&format!("topic \"kcat-{codec}\" with 1 partitions:")),
            "{metadata}"
        );
    }
    assert!(
        wrong_codec.is_empty(),
        "kcat (librdkafka 2.0) did not send the codec it was asked for:\n{}",
        wrong_codec.join("\n")
    );
}

/// Runs tests/js/`script` with node against `broker` and checks its closing line.
fn kafkajs_script(broker: &Broker, script: &str, ok_line: &str) {
    let js = workspace_root().join("tests/js");
    assert!(
        js.join("node_modules/kafkajs/package.json").is_file(),
        "kafkajs is not installed: run scripts/test, which installs it, or \
         `npm ci --prefix tests/js`"
    );
    let out = run(
        Command::new("node")
            .arg(js.join(script))
            .arg(broker.bootstrap())
            .env("KAFKAJS_NO_PARTITIONER_WARNING", "1"),
        b"",
    );
    let stdout = check(script, &out);
    assert!(stdout.lines().any(|l| l == ok_line), "{stdout}");
}

#[test]
fn kafkajs_consumer_group_resumes_after_commits() {
    let broker = Broker::start_with(&GROUP_BROKER_FLAGS);
    kafkajs_script(&broker, "kafkajs_group.js", "OK kafkajs group");
}

#[test]
fn kafkajs_admin_and_produce_read_back_by_kcat() {
    let broker = Broker::start();
    kafkajs_script(&broker, "kafkajs_client.js", "OK kafkajs");

    // kafkajs wrote records 0..100 to js-produced/0, every tenth value null.
    let lines = kcat_consume(&broker, "js-produced", "beginning");
    let expected: Vec<String> = (0..100)
        .map(|i| {
            if i % 10 == 9 {
                format!("{i}|key-{i}|-1||i={i},client=kafkajs")
            } else {
                let value = format!("kafkajs value {i}");
                format!("{i}|key-{i}|{}|{value}|i={i},client=kafkajs", value.len())
            }
        })
        .collect();
    assert_eq!(lines, expected);
    // The second half came gzip'ed.
    let batches = stored_batches(broker.data_dir(), "js-produced", 0);
    assert_eq!(
        batches
            .iter()
            .map(|b| (b.base_offset, b.codec))
            .collect::<Vec<_>>(),
        vec![(0, 0), (50, 1)]
    );
}

// Idempotent and transactional producers. The brokers have small internal topics
// (`__transaction_state` and `__consumer_offsets`, 3 partitions each) and no initial
// rebalance delay.

const TXN_BROKER_FLAGS: [&str; 6] = [
    "--override",
    "transaction.state.log.num.partitions=3",
    "--override",
    "offsets.topic.num.partitions=3",
    "--override",
    "group.initial.rebalance.delay.ms=0",
];

#[test]
fn python_confluent_kafka_transactions() {
    python_client_with(
        "confluent_kafka_txn.py",
        "OK confluent-kafka transactions",
        &TXN_BROKER_FLAGS,
    );
}

/// kafka-python 3's producer with its defaults (idempotence on), its transactions, and
/// its admin client's DescribeTransactions and ListTransactions.
#[test]
fn python_kafka_python_idempotent_and_transactions() {
    python_client_with(
        "kafka_python_idempotent.py",
        "OK kafka-python idempotent",
        &TXN_BROKER_FLAGS,
    );
}

/// aiokafka's idempotent producer and its transactions, in v0 of every transaction API.
#[test]
fn python_aiokafka_idempotent_and_transactions() {
    python_client_with(
        "aiokafka_txn.py",
        "OK aiokafka transactions",
        &TXN_BROKER_FLAGS,
    );
}

/// Consumes partition 0 of `topic` from the beginning to its end with kcat at
/// `isolation.level=<isolation>`: `offset|value` per record.
fn kcat_consume_isolated(broker: &Broker, topic: &str, isolation: &str) -> Vec<String> {
    let out = run(
        kcat()
            .args(["-b", &broker.bootstrap(), "-C", "-t", topic, "-p", "0"])
            .args(["-X", &format!("isolation.level={isolation}")])
            .args(["-o", "beginning", "-e", "-q", "-f", "%o|%s\\n"]),
        b"",
    );
    check("kcat -C", &out).lines().map(str::to_string).collect()
}

#[test]
fn kafkajs_idempotent_and_transactional_producers_read_back_by_kcat() {
    let broker = Broker::start_with(&TXN_BROKER_FLAGS);
    kafkajs_script(&broker, "kafkajs_txn.js", "OK kafkajs transactions");

    let idempotent = kcat_consume_isolated(&broker, "js-idempotent", "read_uncommitted");
    let expected: Vec<String> = (0..30).map(|i| format!("{i}|idempotent {i}")).collect();
    assert_eq!(idempotent, expected, "js-idempotent");

    // commit1 at 0-4 (its COMMIT marker at 5), abort2 at 6-10 (ABORT at 11), commit3 at
    // 12-16 (COMMIT at 17); the last transaction held only offsets.
    let txn = |name: &str, base: usize| -> Vec<String> {
        (0..5).map(|i| format!("{}|{name}-{i}", base + i)).collect()
    };
    assert_eq!(
        kcat_consume_isolated(&broker, "js-txn", "read_committed"),
        [txn("commit1", 0), txn("commit3", 12)].concat(),
        "js-txn, read_committed"
    );
    assert_eq!(
        kcat_consume_isolated(&broker, "js-txn", "read_uncommitted"),
        [txn("commit1", 0), txn("abort2", 6), txn("commit3", 12)].concat(),
        "js-txn, read_uncommitted"
    );
}

// Sarama (Go): Debian's golang-github-shopify-sarama-dev, built in GOPATH mode.

/// Builds tests/go/src/sarama_client with Debian's Go toolchain and Sarama sources
/// (`/usr/share/gocode`), into `target/go`.
fn sarama_client() -> PathBuf {
    go_program("sarama_client")
}

/// Builds tests/go/src/`name` (a Sarama program) into `target/go`.
fn go_program(name: &str) -> PathBuf {
    let gocode = PathBuf::from("/usr/share/gocode/src/github.com/Shopify/sarama");
    assert!(
        gocode.is_dir() && Command::new("go").arg("version").output().is_ok(),
        "Go or Sarama is missing: run scripts/test, which installs them, or \
         `apt-get install golang-go golang-github-shopify-sarama-dev`"
    );
    let root = workspace_root();
    let out_dir = root.join("target/go");
    let binary = out_dir.join(name);
    let gopath = format!("{}:/usr/share/gocode", root.join("tests/go").display());
    let out = run(
        Command::new("go")
            .args(["build", "-o"])
            .arg(&binary)
            .arg(name)
            .env("GO111MODULE", "off")
            .env("GOPATH", gopath)
            .env("GOCACHE", out_dir.join("cache"))
            .env("GOFLAGS", "")
            .env("GOENV", "off"),
        b"",
    );
    check(&format!("go build {name}"), &out);
    binary
}

/// Sarama 1.22 configured for Kafka 2.1: admin (create, add partitions, describe, delete),
/// acks=all produce with every codec it sends (zstd in Produce v3 is refused as Kafka
/// refuses it), an idempotent producer, and a consumer group whose offsets (committed
/// with OffsetCommit v1, Sarama's default) a second member resumes from.
#[test]
fn go_sarama_admin_produce_consume_and_group() {
    let binary = sarama_client();
    let broker = Broker::start_with(&GROUP_BROKER_FLAGS);
    let out = run(Command::new(binary).arg(broker.bootstrap()), b"");
    let stdout = check("sarama_client", &out);
    assert!(
        stdout.lines().any(|l| l == "OK sarama"),
        "sarama_client did not print OK sarama:\n{stdout}"
    );
}

/// Whether `log` has an audit event (target `myelin::audit`) holding every one of `parts`.
/// Runs `myelin COMMAND ARGS -b BROKER EXTRA` and returns its output; fails the test if it
/// fails.
fn myelin_cli(broker: &Broker, command: &str, args: &[&str], extra: &[&std::ffi::OsStr]) -> String {
    let out = run(
        Command::new(myelin_tests::broker::myelin_binary())
            .arg(command)
            .args(args)
            .args(["-b", &broker.bootstrap()])
            .args(extra),
        b"",
    );
    check(&format!("myelin {command} {args:?}"), &out)
}

fn audited(log: &str, parts: &[&str]) -> bool {
    log.lines()
        .any(|l| l.contains("myelin::audit") && parts.iter().all(|p| l.contains(p)))
}

/// Reads partition 0 of `topic` from the beginning to its end with `kcat` (given its
/// broker and security settings already), one value per line.
fn kcat_values(mut kcat: Command, topic: &str, what: &str) -> Vec<String> {
    let out = run(
        kcat.args(["-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q"])
            .args(["-f", "%s\\n"]),
        b"",
    );
    check(what, &out).lines().map(str::to_string).collect()
}

/// A broker whose listener is `SASL_PLAINTEXT`, with one PLAIN user from its JAAS config:
/// admin/admin-secret.
const SASL_BROKER_FLAGS: [&str; 4] = [
    "--listen",
    "SASL_PLAINTEXT://127.0.0.1:0",
    "--override",
    "listener.name.sasl_plaintext.plain.sasl.jaas.config=\
     org.apache.kafka.common.security.plain.PlainLoginModule required \
     username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\";",
];

/// kcat with SASL settings (Debian's librdkafka 2.0: SCRAM needs SaslHandshake v0
/// advertised, and repeats its client nonce in its final message).
fn kcat_sasl(broker: &Broker, mechanism: &str, user: &str, password: &str) -> Command {
    let mut cmd = kcat();
    cmd.args(["-b", &broker.bootstrap()])
        .args(["-X", "security.protocol=SASL_PLAINTEXT"])
        .args(["-X", &format!("sasl.mechanisms={mechanism}")])
        .args(["-X", &format!("sasl.username={user}")])
        .args(["-X", &format!("sasl.password={password}")]);
    cmd
}

/// SASL end to end: PLAIN and SCRAM-SHA-256/512 with kafka-python, confluent-kafka,
/// aiokafka (tests/python/sasl_clients.py, which also creates the SCRAM users through
/// AlterUserScramCredentials), kafkajs and kcat; wrong credentials refused by every one;
/// the audit log names who authenticated and who failed.
#[test]
fn sasl_plain_and_scram_with_real_clients() {
    let broker = Broker::start_with(&SASL_BROKER_FLAGS);
    let out = run(
        Command::new(venv_python())
            .arg(workspace_root().join("tests/python/sasl_clients.py"))
            .arg(broker.bootstrap())
            .env("PYTHONUNBUFFERED", "1"),
        b"",
    );
    let stdout = check("sasl_clients.py", &out);
    assert!(stdout.lines().any(|l| l == "OK sasl"), "{stdout}");
    kafkajs_script(&broker, "kafkajs_sasl.js", "OK kafkajs sasl");

    // kcat as alice (SCRAM-SHA-256) reads what every client wrote, in order.
    let values = kcat_values(
        kcat_sasl(&broker, "SCRAM-SHA-256", "alice", "alice-secret"),
        "sasl-topic",
        "kcat -C as alice",
    );
    let mut expected: Vec<String> = (0..10).map(|i| format!("kp-{i}")).collect();
    expected.extend((0..10).map(|i| format!("ck-{i}")));
    expected.push("aio".into());
    expected.push("from-kafkajs".into());
    assert_eq!(values, expected);
    // kcat as bob (SCRAM-SHA-512) produces; admin (PLAIN) reads it back.
    let out = run(
        kcat_sasl(&broker, "SCRAM-SHA-512", "bob", "bob-secret").args([
            "-P",
            "-t",
            "sasl-topic",
            "-p",
            "0",
        ]),
        b"from-kcat\n",
    );
    check("kcat -P as bob", &out);
    let out = run(
        kcat_sasl(&broker, "PLAIN", "admin", "admin-secret")
            .args(["-C", "-t", "sasl-topic", "-p", "0", "-o", "-1", "-e", "-q"])
            .args(["-f", "%s\\n"]),
        b"",
    );
    assert_eq!(check("kcat -C as admin", &out).trim(), "from-kcat");
    // A wrong password: kcat cannot even read the metadata.
    let out = run(
        kcat_sasl(&broker, "SCRAM-SHA-512", "bob", "wrong").args(["-L", "-m", "3"]),
        b"",
    );
    assert!(
        !out.status.success(),
        "kcat authenticated with a wrong password"
    );

    let log = broker.log();
    for user in ["admin", "alice", "bob"] {
        assert!(
            audited(&log, &["authenticated", &format!("principal=User:{user}")]),
            "no successful authentication of {user} in the audit log:\n{log}"
        );
    }
    assert!(
        audited(&log, &["authentication failed", "SCRAM-SHA-512"]),
        "no failed authentication in the audit log"
    );
    assert!(
        audited(
            &log,
            &["set SCRAM-SHA-256 credential", "principal=\"User:admin\""]
        ),
        "no credential change in the audit log"
    );
    assert!(
        audited(
            &log,
            &["create topic \"sasl-topic\"", "principal=\"User:admin\""]
        ),
        "no topic creation in the audit log"
    );
}

/// Sarama 1.22 with SASL/PLAIN: SaslHandshake v0, then the token as a bare frame.
#[test]
fn go_sarama_sasl_plain_with_handshake_v0() {
    let binary = go_program("sarama_sasl");
    let broker = Broker::start_with(&SASL_BROKER_FLAGS);
    let out = run(Command::new(binary).arg(broker.bootstrap()), b"");
    let stdout = check("sarama_sasl", &out);
    assert!(
        stdout.lines().any(|l| l == "OK sarama sasl"),
        "sarama_sasl did not print OK sarama sasl:\n{stdout}"
    );
    let log = broker.log();
    assert!(
        audited(&log, &["authenticated", "principal=User:admin"]),
        "no authentication of admin in the audit log:\n{log}"
    );
}

/// TLS end to end: an SSL listener with kafka-python, confluent-kafka and aiokafka
/// (tests/python/tls_clients.py), kafkajs and kcat, each verifying the broker's
/// certificate; then a SASL_SSL listener where SCRAM-SHA-512 runs inside TLS.
#[test]
fn tls_listeners_with_real_clients() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, keystore) = tls_files(dir.path());
    let keystore_flag = format!("ssl.keystore.location={}", keystore.display());
    let ca_arg = ca.display().to_string();
    let python = |broker: &Broker, mode: &str| {
        let out = run(
            Command::new(venv_python())
                .arg(workspace_root().join("tests/python/tls_clients.py"))
                .args([mode, &broker.bootstrap(), &ca_arg])
                .env("PYTHONUNBUFFERED", "1"),
            b"",
        );
        let stdout = check("tls_clients.py", &out);
        assert!(
            stdout.lines().any(|l| l == format!("OK tls {mode}")),
            "{stdout}"
        );
    };

    let broker = Broker::start_with(&[
        "--listen",
        "SSL://127.0.0.1:0",
        "--override",
        "ssl.keystore.type=PEM",
        "--override",
        &keystore_flag,
    ]);
    python(&broker, "ssl");
    let js = workspace_root().join("tests/js");
    let out = run(
        Command::new("node")
            .arg(js.join("kafkajs_tls.js"))
            .args([&broker.bootstrap(), &ca_arg]),
        b"",
    );
    let stdout = check("kafkajs_tls.js", &out);
    assert!(stdout.lines().any(|l| l == "OK kafkajs tls"), "{stdout}");
    let mut tls_kcat = kcat();
    tls_kcat
        .args(["-b", &broker.bootstrap(), "-X", "security.protocol=SSL"])
        .args(["-X", &format!("ssl.ca.location={ca_arg}")]);
    let values = kcat_values(tls_kcat, "tls-topic", "kcat -C over TLS");
    assert_eq!(values.len(), 16, "{values:?}");
    assert_eq!(values.last().map(String::as_str), Some("from-kafkajs"));
    // A client that does not trust the broker's CA refuses it.
    let out = run(
        kcat().args([
            "-b",
            &broker.bootstrap(),
            "-X",
            "security.protocol=SSL",
            "-L",
            "-m",
            "3",
        ]),
        b"",
    );
    assert!(!out.status.success(), "kcat trusted an unknown CA");
    drop(broker);

    let broker = Broker::start_with(&[
        "--listen",
        "SASL_SSL://127.0.0.1:0",
        "--override",
        "ssl.keystore.type=PEM",
        "--override",
        &keystore_flag,
        "--override",
        "listener.name.sasl_ssl.plain.sasl.jaas.config=\
         org.apache.kafka.common.security.plain.PlainLoginModule required \
         user_admin=\"admin-secret\";",
    ]);
    python(&broker, "sasl_ssl");
    // kcat's SASL_SSL settings are kcat_sasl's, over TLS.
    let mut carol = kcat_sasl(&broker, "SCRAM-SHA-512", "carol", "carol-secret");
    carol.args(["-X", "security.protocol=SASL_SSL"]);
    carol.args(["-X", &format!("ssl.ca.location={ca_arg}")]);
    assert_eq!(
        kcat_values(carol, "tls-topic", "kcat -C over SASL_SSL"),
        ["carol-0", "carol-1", "carol-2", "carol-3", "carol-4"]
    );
    // Myelin's own CLI, with Kafka's client properties (`--command-config`): SCRAM over
    // TLS as carol lists and describes the topic; a wrong password is refused by name.
    for (password, ok) in [("carol-secret", true), ("wrong", false)] {
        let properties = dir.path().join(format!("client-{ok}.properties"));
        std::fs::write(
            &properties,
            format!(
                "security.protocol=SASL_SSL\n\
                 ssl.truststore.type=PEM\n\
                 ssl.truststore.location={ca_arg}\n\
                 sasl.mechanism=SCRAM-SHA-512\n\
                 sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule \
                 required username=\"carol\" password=\"{password}\";\n"
            ),
        )
        .unwrap();
        let out = run(
            Command::new(myelin_tests::broker::myelin_binary())
                .args(["topic", "describe", "tls-topic", "-b", &broker.bootstrap()])
                .arg("--command-config")
                .arg(&properties),
            b"",
        );
        if ok {
            let stdout = check("myelin topic describe over SASL_SSL", &out);
            assert!(stdout.contains("tls-topic"), "{stdout}");
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "a wrong password was accepted");
            assert!(stderr.contains("SASL_AUTHENTICATION_FAILED"), "{stderr}");
        }
    }
    drop(broker);

    // Client certificates required: kcat with alice's certificate is served, and named
    // by it in the audit log; kcat without one is refused.
    let truststore_flag = format!("ssl.truststore.location={ca_arg}");
    let broker = Broker::start_with(&[
        "--listen",
        "SSL://127.0.0.1:0",
        "--override",
        "ssl.keystore.type=PEM",
        "--override",
        &keystore_flag,
        "--override",
        "ssl.client.auth=required",
        "--override",
        "ssl.truststore.type=PEM",
        "--override",
        &truststore_flag,
    ]);
    let client_cert = dir.path().join("client.pem").display().to_string();
    let client_key = dir.path().join("client.key").display().to_string();
    let out = run(
        kcat()
            .args(["-b", &broker.bootstrap(), "-X", "security.protocol=SSL"])
            .args(["-X", &format!("ssl.ca.location={ca_arg}")])
            .args(["-X", &format!("ssl.certificate.location={client_cert}")])
            .args(["-X", &format!("ssl.key.location={client_key}")])
            .args(["-P", "-t", "mtls-topic", "-p", "0"]),
        b"signed\n",
    );
    check("kcat -P with a client certificate", &out);
    let out = run(
        kcat()
            .args(["-b", &broker.bootstrap(), "-X", "security.protocol=SSL"])
            .args(["-X", &format!("ssl.ca.location={ca_arg}"), "-L", "-m", "3"]),
        b"",
    );
    assert!(
        !out.status.success(),
        "kcat without a client certificate was served"
    );
    let log = broker.log();
    assert!(
        audited(
            &log,
            &["TLS client certificate", "principal=User:CN=alice,OU=care"]
        ),
        "no certificate principal in the audit log:\n{log}"
    );
    assert!(
        audited(
            &log,
            &[
                "auto-create topic \"mtls-topic\"",
                "principal=\"User:CN=alice,OU=care\""
            ]
        ),
        "the auto-created topic is not audited under the certificate's principal:\n{log}"
    );
}

/// A SASL_PLAINTEXT broker with the ACL authorizer on: PLAIN users admin (a super user),
/// alice and bob.
const ACL_BROKER_FLAGS: [&str; 8] = [
    "--listen",
    "SASL_PLAINTEXT://127.0.0.1:0",
    "--override",
    "listener.name.sasl_plaintext.plain.sasl.jaas.config=\
     org.apache.kafka.common.security.plain.PlainLoginModule required \
     username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" \
     user_alice=\"alice-secret\" user_bob=\"bob-secret\";",
    "--override",
    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "--override",
    "super.users=User:admin",
];

/// ACLs end to end: confluent-kafka's and kafka-python's admin clients create, describe and
/// delete them, and confluent-kafka, kafka-python, kafkajs and kcat are allowed or refused
/// by them (tests/python/acl_clients.py, tests/js/kafkajs_acl.js); denials and ACL changes
/// are in the audit log.
#[test]
fn acls_with_real_clients() {
    let broker = Broker::start_with(&ACL_BROKER_FLAGS);
    let out = run(
        Command::new(venv_python())
            .arg(workspace_root().join("tests/python/acl_clients.py"))
            .arg(broker.bootstrap())
            .env("PYTHONUNBUFFERED", "1"),
        b"",
    );
    let stdout = check("acl_clients.py", &out);
    assert!(stdout.lines().any(|l| l == "OK acls"), "{stdout}");
    kafkajs_script(&broker, "kafkajs_acl.js", "OK kafkajs acl");

    // kcat as alice: her prefixed READ ACL lets her see and read acl-orders, with what
    // alice and (while his WRITE ACL stood) bob wrote.
    let values = kcat_values(
        kcat_sasl(&broker, "PLAIN", "alice", "alice-secret"),
        "acl-orders",
        "kcat -C as alice",
    );
    let mut expected: Vec<String> = (0..5).map(|i| format!("order-{i}")).collect();
    expected.push("from-bob".into());
    assert_eq!(values, expected);
    // kcat as bob, who has no ACL left: the topic is not even listed.
    let out = run(
        kcat_sasl(&broker, "PLAIN", "bob", "bob-secret").args(["-L", "-t", "acl-orders"]),
        b"",
    );
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listing.contains("Topic authorization failed") || !out.status.success(),
        "kcat -L as bob: {listing}"
    );

    // Myelin's own CLI as admin (`--command-config`): bob gets READ back on a prefix, then
    // reads with kcat, then loses it again.
    let dir = tempfile::tempdir().unwrap();
    let properties = dir.path().join("admin.properties");
    std::fs::write(
        &properties,
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n\
         sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
         username=\"admin\" password=\"admin-secret\";\n",
    )
    .unwrap();
    let myelin_acl = |args: &[&str]| {
        myelin_cli(
            &broker,
            "acl",
            args,
            &["--command-config".as_ref(), properties.as_os_str()],
        )
    };
    let added = myelin_acl(&[
        "add",
        "--allow-principal",
        "User:bob",
        "--operation",
        "Read",
        "--topic",
        "acl-",
        "--resource-pattern-type",
        "prefixed",
    ]);
    assert_eq!(
        added.trim(),
        "added Topic:PREFIXED:acl- User:bob@* ALLOW READ"
    );
    let listed = myelin_acl(&["list", "--principal", "User:bob"]);
    assert_eq!(listed.trim(), "Topic:PREFIXED:acl- User:bob@* ALLOW READ");
    let matching = myelin_acl(&[
        "list",
        "--topic",
        "acl-orders",
        "--resource-pattern-type",
        "match",
    ]);
    assert!(
        matching
            .lines()
            .any(|l| l == "Topic:PREFIXED:acl- User:bob@* ALLOW READ")
            && matching
                .lines()
                .any(|l| l == "Topic:LITERAL:acl-orders User:alice@* ALLOW WRITE"),
        "{matching}"
    );
    let values = kcat_values(
        kcat_sasl(&broker, "PLAIN", "bob", "bob-secret"),
        "acl-orders",
        "kcat -C as bob",
    );
    assert_eq!(values, expected);
    let removed = myelin_acl(&[
        "remove",
        "--topic",
        "acl-",
        "--resource-pattern-type",
        "prefixed",
        "--allow-principal",
        "User:bob",
    ]);
    assert_eq!(
        removed.trim(),
        "removed Topic:PREFIXED:acl- User:bob@* ALLOW READ"
    );
    assert_eq!(myelin_acl(&["list", "--principal", "User:bob"]).trim(), "");

    let log = broker.log();
    assert!(
        audited(
            &log,
            &[
                "create ACL",
                "Topic:PREFIXED:acl-",
                "principal=\"User:admin\""
            ]
        ),
        "no ACL creation in the audit log:\n{log}"
    );
    assert!(
        audited(&log, &["delete ACL", "User:bob"]),
        "no ACL deletion in the audit log"
    );
    assert!(
        audited(&log, &["User:bob denied WRITE on Topic:acl-orders"]),
        "no denial in the audit log"
    );
}

/// Two listeners on one broker, as a deployment with an internal and an external network
/// has them: INTERNAL (PLAINTEXT) and EXTERNAL (SASL_PLAINTEXT, its own JAAS users), named
/// by `listener.security.protocol.map`. kcat on each sees the broker at that listener's
/// address, writes through one and reads through the other; without credentials the
/// EXTERNAL listener refuses it.
#[test]
fn two_listeners_with_their_own_security() {
    let broker = Broker::start_with(&[
        "--listen",
        "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
        "--override",
        "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT",
        "--override",
        "listener.name.external.plain.sasl.jaas.config=\
         org.apache.kafka.common.security.plain.PlainLoginModule required \
         user_alice=\"alice-secret\";",
        "--override",
        "num.partitions=1",
    ]);
    let log = broker.log();
    let external: String = log
        .lines()
        .find_map(|l| {
            l.split("kafka listener EXTERNAL bound to ")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no EXTERNAL listener in the log:\n{log}"));
    let internal = broker.bootstrap();
    assert_ne!(internal, external);

    // Each listener's Metadata names the broker at that listener's address.
    let listing = |cmd: &mut Command| {
        let out = run(cmd.args(["-L", "-J"]), b"");
        check("kcat -L", &out)
    };
    let internal_listing = listing(kcat().args(["-b", &internal]));
    assert!(
        internal_listing.contains(&format!("\"name\":\"{internal}\"")),
        "{internal_listing}"
    );
    let external_kcat = || {
        let mut cmd = kcat();
        cmd.args(["-b", &external])
            .args(["-X", "security.protocol=SASL_PLAINTEXT"])
            .args(["-X", "sasl.mechanisms=PLAIN"])
            .args(["-X", "sasl.username=alice"])
            .args(["-X", "sasl.password=alice-secret"]);
        cmd
    };
    let external_listing = listing(&mut external_kcat());
    assert!(
        external_listing.contains(&format!("\"name\":\"{external}\"")),
        "{external_listing}"
    );

    // Written through INTERNAL, read through EXTERNAL.
    let out = run(
        kcat().args(["-b", &internal, "-P", "-t", "two-listeners"]),
        b"one\ntwo\n",
    );
    check("kcat -P on INTERNAL", &out);
    let values = kcat_values(external_kcat(), "two-listeners", "kcat -C on EXTERNAL");
    assert_eq!(values, ["one", "two"]);

    // EXTERNAL without credentials: refused.
    let out = run(kcat().args(["-b", &external, "-L", "-m", "3"]), b"");
    assert!(
        !out.status.success(),
        "kcat read EXTERNAL's metadata without authenticating"
    );
}

/// SASL/OAUTHBEARER with signed JWTs: the test is the identity provider (an ES256 key, its
/// JWKS in a file the broker reads, tokens signed with it). confluent-kafka produces and
/// kafka-python consumes with a valid token (tests/python/oauth_clients.py), kafkajs
/// produces with one; a token of an unknown key, an expired one and kcat's unsecured
/// (unsigned) one are refused. The audit log names the token's subject.
#[test]
fn oauthbearer_with_signed_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        format!(r#"{{"keys":[{}]}}"#, es256_jwk(&key, "idp-1")),
    )
    .unwrap();
    let sign = |key: &rcgen::KeyPair, exp: u64| sign_token(key, "idp-1", exp);
    let now = unix_now();
    let good = sign(&key, now + 600);
    let unknown_key = sign(&rcgen::KeyPair::generate().unwrap(), now + 600);
    let expired = sign(&key, now - 600);

    let jwks_url = format!(
        "sasl.oauthbearer.jwks.endpoint.url=file://{}",
        jwks.display()
    );
    let broker = Broker::start_with(&[
        "--listen",
        "SASL_PLAINTEXT://127.0.0.1:0",
        "--override",
        "sasl.enabled.mechanisms=OAUTHBEARER",
        "--override",
        "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class=\
         org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
        "--override",
        &jwks_url,
        "--override",
        "sasl.oauthbearer.expected.audience=myelin",
        "--override",
        "sasl.oauthbearer.expected.issuer=https://idp.example",
    ]);
    oauth_clients(&broker, &good, &unknown_key);

    // kafkajs with the valid token, then with the expired one.
    let js = workspace_root().join("tests/js");
    let out = run(
        Command::new("node")
            .arg(js.join("kafkajs_oauth.js"))
            .args([&broker.bootstrap(), &good, &expired])
            .env("KAFKAJS_NO_PARTITIONER_WARNING", "1"),
        b"",
    );
    let stdout = check("kafkajs_oauth.js", &out);
    assert!(stdout.lines().any(|l| l == "OK kafkajs oauth"), "{stdout}");

    // kcat (librdkafka 2.0) can only make unsecured, unsigned tokens: refused.
    let out = run(
        kcat()
            .args(["-b", &broker.bootstrap(), "-L", "-m", "3"])
            .args(["-X", "security.protocol=SASL_PLAINTEXT"])
            .args(["-X", "sasl.mechanisms=OAUTHBEARER"])
            .args(["-X", "enable.sasl.oauthbearer.unsecure.jwt=true"])
            .args(["-X", "sasl.oauthbearer.config=principal=admin"]),
        b"",
    );
    assert!(!out.status.success(), "an unsigned token was accepted");

    let log = broker.log();
    assert!(
        audited(
            &log,
            &["authenticated", "principal=User:svc-notify", "OAUTHBEARER"]
        ),
        "no OAUTHBEARER authentication in the audit log:\n{log}"
    );
    assert!(
        audited(&log, &["authentication failed", "OAUTHBEARER"]),
        "no refused token in the audit log"
    );
}

/// tests/python/oauth_clients.py against `broker`: confluent-kafka produces and kafka-python
/// consumes with the `good` token; the `bad` one is refused to both.
fn oauth_clients(broker: &Broker, good: &str, bad: &str) {
    let out = run(
        Command::new(venv_python())
            .arg(workspace_root().join("tests/python/oauth_clients.py"))
            .args([&broker.bootstrap(), good, bad])
            .env("PYTHONUNBUFFERED", "1"),
        b"",
    );
    let stdout = check("oauth_clients.py", &out);
    assert!(stdout.lines().any(|l| l == "OK oauth"), "{stdout}");
}

/// confluent-kafka produces one record with `token` (tests/python/oauth_clients.py
/// --produce); fails the test if it cannot.
fn produce_with_token(broker: &Broker, token: &str, what: &str) {
    let out = run(
        Command::new(venv_python())
            .arg(workspace_root().join("tests/python/oauth_clients.py"))
            .args([&broker.bootstrap(), "--produce", token])
            .env("PYTHONUNBUFFERED", "1"),
        b"",
    );
    let stdout = check(&format!("oauth_clients.py --produce, {what}"), &out);
    assert!(stdout.lines().any(|l| l == "OK produced"), "{stdout}");
}

/// SASL/OAUTHBEARER with the JWKS fetched from the identity provider's `https://` endpoint
/// (tests/python/jwks_server.py, with a certificate of the test's CA), as Kafka's
/// `RefreshingHttpsJwks` keeps it:
/// - an `http://` endpoint, and an endpoint whose certificate the broker does not trust
///   (no trust store in the OAUTHBEARER JAAS config: the system's CAs), stop the start;
/// - with the CA given as the JAAS config's `ssl.truststore.location`, confluent-kafka and
///   kafka-python authenticate with tokens of the endpoint's key (oauth_clients.py), and a
///   token of a key the broker does not know is refused;
/// - the provider rotates its keys: the first token of the new key id is refused and makes
///   the broker fetch the JWKS at once, and librdkafka's retried connection then gets in;
///   no further fetch follows per token;
/// - confluent-kafka's OIDC login (`sasl.oauthbearer.method=oidc`) gets a token from the
///   provider's token endpoint, and the broker takes it;
/// - with `sasl.oauthbearer.jwks.endpoint.refresh.ms` short, the JWKS is fetched again on
///   that schedule, and when the endpoint fails the keys held are kept: tokens still work.
#[test]
fn oauthbearer_with_an_https_jwks_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, keystore) = tls_files(dir.path());
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    let (key, next_key) = (
        rcgen::KeyPair::generate().unwrap(),
        rcgen::KeyPair::generate().unwrap(),
    );
    std::fs::write(
        site.join("jwks.json"),
        format!(r#"{{"keys":[{}]}}"#, es256_jwk(&key, "idp-1")),
    )
    .unwrap();
    let server = JwksServer::start(&site, &keystore);
    let exp = unix_now() + 600;
    let good = sign_token(&key, "idp-1", exp);
    let unknown_key = sign_token(&rcgen::KeyPair::generate().unwrap(), "idp-1", exp);
    let rotated = sign_token(&next_key, "idp-2", exp);

    let jaas = jaas_trusting(&ca);
    // Retries at start within half a second, so that the refused starts end soon.
    let flags = |url: &str, extra: &[&str]| -> Vec<String> {
        let mut extra = extra.to_vec();
        extra.push("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms=500");
        broker_flags(url, &extra)
    };

    // Refused at start: plain http, and a certificate no system CA signed (the system's
    // CAs being, through SSL_CERT_FILE, one CA that did not sign it).
    let data = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other_key = rcgen::KeyPair::generate().unwrap();
    std::fs::write(&other_ca, params.self_signed(&other_key).unwrap().pem()).unwrap();
    let http_url = server.url().replace("https://", "http://");
    for (url, extra, why) in [
        (http_url.as_str(), vec![jaas.as_str()], "https only"),
        (server.url().as_str(), vec![], "cannot fetch the JWKS"),
    ] {
        let out = run(
            Command::new(myelin_tests::broker::myelin_binary())
                .args(["serve", "--http-listen", "off", "--data-dir"])
                .arg(data.path())
                .args(flags(url, &extra))
                .env("SSL_CERT_FILE", &other_ca),
            b"",
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "the broker started with {url}:\n{stderr}"
        );
        assert!(stderr.contains(why), "no {why:?} in:\n{stderr}");
    }

    let broker_flags = flags(&server.url(), &[jaas.as_str()]);
    let broker = Broker::start_with(&broker_flags.iter().map(String::as_str).collect::<Vec<_>>());
    let fetched_at_start = server.count();
    assert!(fetched_at_start >= 1, "the broker did not fetch the JWKS");
    oauth_clients(&broker, &good, &unknown_key);
    assert_eq!(
        server.count(),
        fetched_at_start,
        "tokens of known key ids made the broker fetch the JWKS"
    );

    // The provider rotates its keys: the new key id is fetched on demand.
    std::fs::write(
        site.join("jwks.json"),
        format!(
            r#"{{"keys":[{},{}]}}"#,
            es256_jwk(&key, "idp-1"),
            es256_jwk(&next_key, "idp-2")
        ),
    )
    .unwrap();
    produce_with_token(&broker, &rotated, "the new key");
    let fetched = server.count();
    assert_eq!(
        fetched,
        fetched_at_start + 1,
        "{:?}",
        server.requests.lock().unwrap()
    );
    let log = broker.log();
    assert!(
        log.contains("a token names a key id the JWKS lacks"),
        "no on-demand refresh in the log:\n{log}"
    );
    produce_with_token(&broker, &rotated, "the new key again");
    produce_with_token(&broker, &good, "the old key");
    assert_eq!(
        server.count(),
        fetched,
        "known key ids made the broker fetch again"
    );

    // librdkafka's own OIDC login: confluent-kafka gets its token from the provider's
    // token endpoint (client credentials) and the broker checks it against the JWKS.
    std::fs::write(
        site.join("token.json"),
        format!(r#"{{"access_token":"{rotated}","token_type":"bearer","expires_in":600}}"#),
    )
    .unwrap();
    let out = run(
        Command::new(venv_python())
            .arg(workspace_root().join("tests/python/oauth_clients.py"))
            .args([&broker.bootstrap(), "--oidc", &server.token_url()])
            .arg(&ca)
            .env("PYTHONUNBUFFERED", "1"),
        b"",
    );
    let stdout = check("oauth_clients.py --oidc", &out);
    assert!(stdout.lines().any(|l| l == "OK produced"), "{stdout}");
    assert!(
        server.answered("POST /token"),
        "confluent-kafka did not ask the token endpoint"
    );
    drop(broker);

    // A short refresh interval: fetched again and again; a failing endpoint leaves the
    // keys as they were.
    let mut flags_refresh = flags(&server.url(), &[jaas.as_str()]);
    flags_refresh.extend([
        "--override".to_string(),
        "sasl.oauthbearer.jwks.endpoint.refresh.ms=300".to_string(),
    ]);
    let broker = Broker::start_with(&flags_refresh.iter().map(String::as_str).collect::<Vec<_>>());
    let before = server.count();
    myelin_tests::broker::wait_for(
        "two scheduled JWKS refreshes",
        std::time::Duration::from_secs(30),
        || (server.count() >= before + 2).then_some(()),
    );
    std::fs::write(site.join("status"), "503").unwrap();
    myelin_tests::broker::wait_for(
        "a failed JWKS refresh in the broker's log",
        std::time::Duration::from_secs(30),
        || {
            broker
                .log()
                .contains("OAUTHBEARER JWKS refresh failed; the keys held are kept")
                .then_some(())
        },
    );
    produce_with_token(&broker, &rotated, "while the endpoint fails");
    assert!(
        server
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.ends_with(" 503")),
        "the endpoint never answered 503"
    );
}

/// KIP-368: with `connections.max.reauth.ms`, librdkafka (confluent-kafka) re-authenticates
/// its connections before their sessions expire, so a producer working across several
/// session lifetimes loses nothing (tests/python/reauth_clients.py); the audit log shows a
/// connection authenticated more than once.
#[test]
fn sessions_are_renewed_by_reauthentication() {
    let mut flags = SASL_BROKER_FLAGS.to_vec();
    flags.extend(["--override", "connections.max.reauth.ms=1500"]);
    let broker = Broker::start_with(&flags);
    let out = run(
        Command::new(venv_python())
            .arg(workspace_root().join("tests/python/reauth_clients.py"))
            .arg(broker.bootstrap())
            .env("PYTHONUNBUFFERED", "1"),
        b"",
    );
    let stdout = check("reauth_clients.py", &out);
    assert!(stdout.lines().any(|l| l == "OK reauth"), "{stdout}");

    // Some connection of librdkafka authenticated again on the same connection.
    let log = broker.log();
    let mut per_connection: std::collections::BTreeMap<String, usize> = Default::default();
    for line in log.lines().filter(|l| {
        l.contains("myelin::audit")
            && l.contains("authenticated")
            && l.contains("client_id=\"rdkafka\"")
    }) {
        if let Some(id) = line
            .split("connection_id=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
        {
            *per_connection.entry(id.to_string()).or_default() += 1;
        }
    }
    assert!(
        per_connection.values().any(|n| *n >= 2),
        "no connection re-authenticated: {per_connection:?}\n{log}"
    );
}

/// Client quotas (KIP-13, KIP-546) set with `myelin quota` and obeyed by real clients:
/// confluent-kafka's producer and kafka-python's consumer are throttled at their client
/// ids' byte rates and lose nothing; another client id is not throttled. Then the quotas
/// are removed, and the audit log has the changes.
#[test]
fn client_quotas_with_real_clients() {
    // Rates over 3 samples of a second (Kafka: 11), so that a client's first burst allowance
    // is 2 s of quota, not 10.
    let broker = Broker::start_with(&["--override", "quota.window.num=3"]);
    let myelin_quota = |args: &[&str]| myelin_cli(&broker, "quota", args, &[]);
    let set = myelin_quota(&[
        "alter",
        "--client-id",
        "quota-producer",
        "--add-config",
        "producer_byte_rate=500000",
    ]);
    assert_eq!(
        set.trim(),
        "Completed updating config for client-id quota-producer."
    );
    myelin_quota(&[
        "alter",
        "--client-id",
        "quota-consumer",
        "--add-config",
        "consumer_byte_rate=1000000",
    ]);
    let described = myelin_quota(&["describe", "--client-any"]);
    assert_eq!(
        described.lines().collect::<Vec<_>>(),
        [
            "Quota configs for client-id 'quota-consumer' are consumer_byte_rate=1000000.0",
            "Quota configs for client-id 'quota-producer' are producer_byte_rate=500000.0",
        ],
        "{described}"
    );

    let out = run(
        Command::new(venv_python())
            .arg(workspace_root().join("tests/python/quota_clients.py"))
            .arg(broker.bootstrap())
            .env("PYTHONUNBUFFERED", "1"),
        b"",
    );
    let stdout = check("quota_clients.py", &out);
    assert!(stdout.lines().any(|l| l == "OK quotas"), "{stdout}");

    for client in ["quota-producer", "quota-consumer"] {
        myelin_quota(&[
            "alter",
            "--client-id",
            client,
            "--delete-config",
            "producer_byte_rate,consumer_byte_rate",
        ]);
    }
    assert_eq!(myelin_quota(&["describe"]).trim(), "");
    let log = broker.log();
    assert!(
        audited(
            &log,
            &[
                "alter client quotas",
                "client-id=quota-producer to [producer_byte_rate=500000]"
            ]
        ),
        "no quota change in the audit log:\n{log}"
    );
}

/// The schema registry's REST API address from the broker's log (the last start's).
#[test]
fn schema_registry_with_real_clients() {
    // confluent-kafka's SchemaRegistryClient, Avro and JSON serializers against the
    // broker's registry; then broker-side schema ID validation refusing what they did not
    // serialize; then, after a SIGKILL, everything the registry acknowledged is there.
    let state = tempfile::tempdir().unwrap();
    let state_file = state.path().join("sr_state.json");
    let mut broker = Broker::start_with(&["--schema-registry-listen", "127.0.0.1:0"]);
    let run_script = |broker: &Broker, mode: &str| {
        let out = run(
            Command::new(venv_python())
                .arg(workspace_root().join("tests/python/schema_registry_clients.py"))
                .arg(mode)
                .arg(broker.bootstrap())
                .arg(broker.schema_registry_url())
                .env("SR_STATE_FILE", &state_file)
                .env("PYTHONUNBUFFERED", "1"),
            b"",
        );
        let stdout = check("schema_registry_clients.py", &out);
        assert!(
            stdout
                .lines()
                .any(|l| l == "schema registry clients: all checks passed"),
            "{mode}: {stdout}"
        );
    };
    run_script(&broker, "before");
    broker.restart();
    run_script(&broker, "after");
    // kafkajs with @kafkajs/confluent-schema-registry: Avro and JSON through the same
    // registry, and the broker's validation refusing what it did not encode.
    let js = workspace_root().join("tests/js");
    let out = run(
        Command::new("node")
            .arg(js.join("kafkajs_schema_registry.js"))
            .arg(broker.bootstrap())
            .arg(broker.schema_registry_url())
            .env("KAFKAJS_NO_PARTITIONER_WARNING", "1"),
        b"",
    );
    let stdout = check("kafkajs_schema_registry.js", &out);
    assert!(
        stdout.lines().any(|l| l == "OK kafkajs schema registry"),
        "{stdout}"
    );
    let log = broker.log();
    assert!(
        audited(&log, &["schema registry", "register", "patients-value"]),
        "no registration in the audit log:\n{log}"
    );
}

/// The schema registry over HTTPS (the broker's PEM keystore) behind HTTP Basic
/// authentication, as the Kafka listeners' users (PLAIN from the JAAS config, SCRAM from
/// the metadata), with the ACL authorizer deciding who reads and who changes it (READ and
/// WRITE on `_schemas`); refusals are audited.
#[test]
fn schema_registry_authentication_and_acls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, keystore) = tls_files(dir.path());
    let keystore_flag = format!("ssl.keystore.location={}", keystore.display());
    let mut flags = ACL_BROKER_FLAGS.to_vec();
    flags.extend([
        "--schema-registry-listen",
        "https://127.0.0.1:0",
        "--schema-registry-authentication",
        "BASIC",
        "--override",
        "ssl.keystore.type=PEM",
        "--override",
        &keystore_flag,
    ]);
    let broker = Broker::start_with(&flags);
    let url = broker.schema_registry_url();
    assert!(url.starts_with("https://"), "{url}");
    let out = run(
        Command::new(venv_python())
            .arg(workspace_root().join("tests/python/schema_registry_auth.py"))
            .arg(broker.bootstrap())
            .arg(&url)
            .arg(&ca)
            .env("PYTHONUNBUFFERED", "1"),
        b"",
    );
    let stdout = check("schema_registry_auth.py", &out);
    assert!(
        stdout.lines().any(|l| l == "OK schema registry auth"),
        "{stdout}"
    );
    let log = broker.log();
    assert!(
        audited(&log, &["schema registry authentication failed", "admin"]),
        "no failed authentication in the audit log:\n{log}"
    );
    assert!(
        audited(&log, &["schema registry request denied", "User:bob"]),
        "no denial in the audit log:\n{log}"
    );
}
