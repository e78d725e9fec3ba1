//! `txn-transformer <bootstrap> <group> <input> <output> <transactional id> <end offsets>`:
//! a consume-transform-produce loop with librdkafka's transactional producer, in its own
//! process so that the exactly-once test (`tests/transactions.rs`) can SIGKILL it at any
//! point, and restart it.
//!
//! `<end offsets>` is the input's end offset per partition, comma-separated (`400,400`):
//! the loop stops when it has consumed every partition up to it.
//!
//! It first calls `init_transactions` with its transactional id, which fences a previous
//! instance and aborts whatever transaction that one left open; then it reads the group's
//! committed offsets (OffsetFetch, `require_stable` since the consumer is
//! read_committed) and assigns every input partition from them (no group membership: the
//! consumer group metadata sent with the offsets has generation -1 and no member id).
//! Each transaction takes up to `BATCH` records, produces `T(<value>)` under the same key
//! to the same partition of the output topic, sleeps a little (the transaction stays open
//! long enough for a kill to land inside it), sends the consumed offsets to the
//! transaction and commits.
//!
//! It prints one line per step on stdout: `ready <partition>:<offset>,...` (the committed
//! offsets it starts from), `committed <records> <partition>:<next offset>,...` after each
//! commit, `done` at the end. Any error prints `error <what>: <error>` and exits with
//! status 1: the test restarts it, as an application would.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// Records per transaction, at most.
const BATCH: usize = 20;
/// How long a transaction stays open after its records are produced.
const DWELL: Duration = Duration::from_millis(25);
/// The timeout of each transactional call.
const TIMEOUT: Duration = Duration::from_secs(60);

fn offsets_field(next: &BTreeMap<i32, i64>) -> String {
    next.iter()
        .map(|(p, o)| format!("{p}:{o}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn fail(what: &str, error: impl std::fmt::Display) -> ExitCode {
    println!("error {what}: {error}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, group, input, output, transactional_id, ends] = args.as_slice() else {
        eprintln!(
            "usage: txn-transformer <bootstrap> <group> <input> <output> <transactional id> \
             <end offsets>"
        );
        return ExitCode::from(2);
    };
    let Ok(ends) = ends
        .split(',')
        .map(str::parse::<i64>)
        .collect::<Result<Vec<i64>, _>>()
    else {
        eprintln!("end offsets: not numbers: {ends}");
        return ExitCode::from(2);
    };

    let mut common = ClientConfig::new();
    common
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4");
    let producer: ThreadedProducer<DefaultProducerContext> = match common
        .clone()
        .set("client.id", format!("{transactional_id}-producer"))
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", "60000")
        .set("message.timeout.ms", "60000")
        .set("linger.ms", "5")
        .create()
    {
        Ok(p) => p,
        Err(e) => return fail("creating the producer", e),
    };
    if let Err(e) = producer.init_transactions(TIMEOUT) {
        return fail("init_transactions", e);
    }

    let consumer: BaseConsumer = match common
        .clone()
        .set("client.id", format!("{transactional_id}-consumer"))
        .set("group.id", group)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .create()
    {
        Ok(c) => c,
        Err(e) => return fail("creating the consumer", e),
    };
    let mut tpl = TopicPartitionList::new();
    for p in 0..ends.len() as i32 {
        tpl.add_partition(input, p);
    }
    let committed = match consumer.committed_offsets(tpl, TIMEOUT) {
        Ok(c) => c,
        Err(e) => return fail("committed_offsets", e),
    };
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in 0..ends.len() as i32 {
        let offset = match committed.find_partition(input, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            Some(Offset::Invalid) | None => 0,
            Some(other) => return fail("committed_offsets", format!("{p}: {other:?}")),
        };
        next.insert(p, offset);
        assignment
            .add_partition_offset(input, p, Offset::Offset(offset))
            .expect("a valid offset");
    }
    if let Err(e) = consumer.assign(&assignment) {
        return fail("assign", e);
    }
    println!("ready {}", offsets_field(&next));

    let done = |next: &BTreeMap<i32, i64>| next.iter().all(|(p, o)| *o >= ends[*p as usize]);
    loop {
        if done(&next) {
            println!("done");
            return ExitCode::SUCCESS;
        }
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => batch.push(m.detach()),
                Some(Err(e)) => return fail("poll", e),
                None => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        if let Err(e) = producer.begin_transaction() {
            return fail("begin_transaction", e);
        }
        for m in &batch {
            let value = format!("T({})", String::from_utf8_lossy(m.payload().unwrap_or(b"")));
            let record = BaseRecord::to(output)
                .partition(m.partition())
                .key(m.key().unwrap_or(b""))
                .payload(&value);
            if let Err((e, _)) = producer.send(record) {
                return fail("send", e);
            }
            next.insert(m.partition(), m.offset() + 1);
        }
        std::thread::sleep(DWELL);
        let mut offsets = TopicPartitionList::new();
        for (p, o) in &next {
            offsets
                .add_partition_offset(input, *p, Offset::Offset(*o))
                .expect("a valid offset");
        }
        let Some(metadata) = consumer.group_metadata() else {
            return fail("group_metadata", "none");
        };
        if let Err(e) = producer.send_offsets_to_transaction(&offsets, &metadata, TIMEOUT) {
            return fail("send_offsets_to_transaction", e);
        }
        if let Err(e) = producer.commit_transaction(TIMEOUT) {
            return fail("commit_transaction", e);
        }
        println!("committed {} {}", batch.len(), offsets_field(&next));
    }
}
