//! The harness of the transaction tests: brokers' flags, librdkafka producers that keep
//! their delivery reports, consumers that read a topic to its end at either isolation
//! level, and `txn-transformer` processes.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

pub use myelin_tests::admin::create_topic;

/// The bound of every wait (a debug broker on a busy 2-core machine).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The broker flags of every test here.
pub const BROKER_FLAGS: [&str; 6] = [
    "--override",
    "transaction.state.log.num.partitions=3",
    "--override",
    "offsets.topic.num.partitions=3",
    "--override",
    "group.initial.rebalance.delay.ms=0",
];

pub fn client_config(bootstrap: &str, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", client_id);
    config
}

/// One seed per test: `MYELIN_E2E_SEED`, or a fresh one; printed either way.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("MYELIN_E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("{test}: MYELIN_E2E_SEED={seed}");
    seed
}

// ---- producers ---------------------------------------------------------------------------

/// One delivery report: partition, offset and key of an acknowledged record, or the error.
pub type Delivery = Result<(i32, i64, String), String>;

/// Keeps every delivery report.
#[derive(Default)]
pub struct Deliveries(Mutex<Vec<Delivery>>);

impl ClientContext for Deliveries {
    /// With `MYELIN_E2E_RDKAFKA_DEBUG` set (librdkafka's `debug`, for example
    /// `eos,protocol,msg`), librdkafka's log goes to stderr. It is written from
    /// librdkafka's threads, which the test harness does not capture, so it stays off
    /// otherwise: several tests provoke fatal errors on purpose.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if std::env::var_os("MYELIN_E2E_RDKAFKA_DEBUG").is_some() {
            eprintln!("librdkafka {level:?} {fac} {log_message}");
        }
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let key = |k: Option<&[u8]>| String::from_utf8_lossy(k.unwrap_or_default()).into_owned();
        self.0.lock().unwrap().push(match result {
            Ok(m) => Ok((m.partition(), m.offset(), key(m.key()))),
            Err((e, m)) => Err(format!("{}: {e}", key(m.key()))),
        });
    }
}

impl Deliveries {
    pub fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

pub type TestProducer = ThreadedProducer<Deliveries>;

pub fn producer(bootstrap: &str, client_id: &str, settings: &[(&str, &str)]) -> TestProducer {
    let mut config = client_config(bootstrap, client_id);
    config
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000");
    if let Ok(debug) = std::env::var("MYELIN_E2E_RDKAFKA_DEBUG") {
        config
            .set("debug", debug)
            .set_log_level(RDKafkaLogLevel::Debug);
    }
    for (k, v) in settings {
        config.set(*k, *v);
    }
    config
        .create_with_context(Deliveries::default())
        .expect("a producer")
}

pub fn transactional_producer(bootstrap: &str, transactional_id: &str) -> TestProducer {
    let producer = producer(
        bootstrap,
        transactional_id,
        &[("transactional.id", transactional_id)],
    );
    producer
        .init_transactions(TIMEOUT)
        .unwrap_or_else(|e| panic!("{transactional_id}: init_transactions: {e}"));
    producer
}

/// Sends `records` (partition, key, value) and waits until every one is acknowledged.
pub fn send_all(producer: &TestProducer, topic: &str, records: &[(i32, String, String)]) {
    for (partition, key, value) in records {
        producer
            .send(
                BaseRecord::to(topic)
                    .partition(*partition)
                    .key(key)
                    .payload(value),
            )
            .map_err(|(e, _)| e)
            .expect("queued");
    }
    producer.flush(TIMEOUT).expect("flush");
    let reports = producer.context().take();
    assert_eq!(reports.len(), records.len(), "{reports:?}");
    let failed: Vec<_> = reports.iter().filter(|r| r.is_err()).collect();
    assert!(failed.is_empty(), "deliveries failed: {failed:?}");
}

// ---- consumers ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    ReadCommitted,
    ReadUncommitted,
}

impl Isolation {
    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read_committed",
            Isolation::ReadUncommitted => "read_uncommitted",
        }
    }
}

/// A consumer that assigns partitions (no group membership, no commits).
pub fn consumer(bootstrap: &str, isolation: Isolation) -> BaseConsumer {
    client_config(bootstrap, "myelin-e2e-txn-reader")
        .set("group.id", "myelin-e2e-txn-assign-only")
        .set("isolation.level", isolation.name())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("a consumer")
}

/// A consumed record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: String,
}

/// Reads partitions `0..partitions` of `topic` from the beginning until each reports its
/// end (partition EOF: the high watermark for read_uncommitted, the last stable offset for
/// read_committed); returns the records by partition and offset.
pub fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: Isolation,
) -> Vec<Record> {
    read_with(&consumer(bootstrap, isolation), topic, partitions)
}

/// [`read_all`] with `consumer` (which must have `enable.partition.eof=true`).
pub fn read_with(consumer: &BaseConsumer, topic: &str, partitions: i32) -> Vec<Record> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut records = Vec::new();
    let mut at_end = BTreeSet::new();
    let deadline = Instant::now() + TIMEOUT;
    while at_end.len() < partitions as usize {
        assert!(
            Instant::now() < deadline,
            "{topic}: partitions {at_end:?} of {partitions} reached their end after \
             {TIMEOUT:?}; {} records",
            records.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("{topic}: consumer error {e}"),
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or(b"")).into();
                records.push(Record {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: text(m.key()),
                    value: text(m.payload()),
                });
            }
        }
    }
    records.sort();
    records
}

/// (low, high) watermarks of `topic`/`partition` as a consumer of `isolation` sees them:
/// librdkafka's ListOffsets carries the isolation level, so a read_committed consumer's
/// high watermark is the last stable offset.
pub fn watermarks(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    isolation: Isolation,
) -> (i64, i64) {
    consumer(bootstrap, isolation)
        .fetch_watermarks(topic, partition, TIMEOUT)
        .expect("ListOffsets answered")
}

pub fn values(records: &[Record], partition: i32) -> Vec<(i64, String)> {
    records
        .iter()
        .filter(|r| r.partition == partition)
        .map(|r| (r.offset, r.value.clone()))
        .collect()
}

/// A `txn-transformer` process and the lines it printed.
pub struct Transformer {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Transformer {
    pub fn spawn(bootstrap: &str, ends: &[i64]) -> Transformer {
        let ends: Vec<String> = ends.iter().map(i64::to_string).collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_txn-transformer"))
            .args([
                bootstrap,
                "ctp-group",
                "ctp-input",
                "ctp-output",
                "ctp-transformer",
                &ends.join(","),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("txn-transformer starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Transformer { child, lines }
    }

    /// How many input records are processed: the sum of the offsets in the last `ready`
    /// or `committed` line (0 before either).
    pub fn progress(&self) -> i64 {
        let lines = self.lines.lock().unwrap();
        let Some(offsets) = lines.iter().rev().find_map(|l| {
            l.strip_prefix("ready ")
                .or_else(|| l.strip_prefix("committed ")?.split_once(' ').map(|x| x.1))
        }) else {
            return 0;
        };
        offsets
            .split(',')
            .filter_map(|po| po.split_once(':')?.1.parse::<i64>().ok())
            .sum()
    }

    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("waitpid")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn output(&self) -> String {
        let lines = self.lines.lock().unwrap();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Transformer {
    fn drop(&mut self) {
        self.kill();
    }
}
