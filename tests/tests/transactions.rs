//! Idempotent and transactional producers with librdkafka (the `rdkafka` crate, librdkafka
//! 2.12) against the real `myelin` binary: InitProducerId, AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit, EndTxn, read_committed fetches (the last stable offset
//! and aborted transactions), fencing, and idempotent retries.
//!
//! - What read_committed and read_uncommitted consumers see of committed and aborted
//!   transactions, and the last stable offset of an open one; transactions of two
//!   producers and plain records interleaved on one partition; read_committed in fetches
//!   of one batch.
//! - A second producer with the same `transactional.id` fences the first.
//! - The coordinator aborts a transaction that outlives `transaction.timeout.ms`.
//! - A transaction spans a broker SIGKILL and restart, and commits.
//! - Exactly-once consume-transform-produce (`txn-transformer`, a separate process) while
//!   the test SIGKILLs the loop and the broker at random points.
//! - An idempotent producer whose connections a proxy (`myelin_tests::proxy`) cuts
//!   mid-request (responses dropped, requests truncated), and whose broker is SIGKILLed
//!   with requests in flight, stores every record once and in order.
//!
//! `transactions/harness.rs` has the producers, consumers and `txn-transformer` processes.
//! Each test runs its own broker with small internal topics (`__transaction_state` and
//! `__consumer_offsets` of 3 partitions) and no initial rebalance delay. Random choices
//! print their seed; `MYELIN_E2E_SEED` replays one, `MYELIN_E2E_TXN_KILLS` sets how many
//! kills the exactly-once test makes (default 4).

#[path = "transactions/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use myelin_tests::broker::Broker;
use myelin_tests::proxy::{CutPolicy, Proxy};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use harness::{
    client_config, create_topic, producer, read_all, read_with, seed, send_all,
    transactional_producer, values, watermarks, Isolation, Transformer, BROKER_FLAGS, TIMEOUT,
};

// ---- read_committed and read_uncommitted -------------------------------------------------

/// The records of transaction `txn` in `partition`: `RECORDS` of them, with values
/// `<txn>-<partition>-<i>`.
fn txn_records(txn: &str, partition: i32) -> Vec<(i32, String, String)> {
    (0..RECORDS)
        .map(|i| {
            (
                partition,
                format!("{txn}-{i}"),
                format!("{txn}-{partition}-{i}"),
            )
        })
        .collect()
}

const RECORDS: i64 = 5;

/// What a consumer should see of transaction `txn` in `partition` when its first record
/// is at `base_offset`.
fn expected(txn: &str, partition: i32, base_offset: i64) -> Vec<(i64, String)> {
    (0..RECORDS)
        .map(|i| (base_offset + i, format!("{txn}-{partition}-{i}")))
        .collect()
}

/// Transactions on two partitions: `commit1` (both), `abort2` (both), `commit3` (both),
/// `abort4` (partition 0 only). Each one's records are flushed (in the log) before it ends,
/// and each end writes one control record per partition, so partition 0 holds
/// `commit1` at 0-4 (marker 5), `abort2` at 6-10 (11), `commit3` at 12-16 (17), `abort4`
/// at 18-22 (23), and partition 1 the first three the same way.
#[test]
fn read_committed_sees_committed_transactions_read_uncommitted_sees_all() {
    let broker = Broker::start_with(&BROKER_FLAGS);
    let bootstrap = broker.bootstrap();
    let topic = "txn-visibility";
    create_topic(&bootstrap, topic, 2);
    let producer = transactional_producer(&bootstrap, "txn-visibility-producer");

    let run = |txn: &str, partitions: &[i32], commit: bool| {
        producer.begin_transaction().expect("begin_transaction");
        for p in partitions {
            send_all(&producer, topic, &txn_records(txn, *p));
        }
        if commit {
            producer.commit_transaction(TIMEOUT).expect("commit");
        } else {
            producer.abort_transaction(TIMEOUT).expect("abort");
        }
    };
    run("commit1", &[0, 1], true);
    run("abort2", &[0, 1], false);

    // commit3 stays open for a while: the last stable offset is its first offset, and a
    // read_committed consumer stops there.
    producer.begin_transaction().expect("begin_transaction");
    for p in [0, 1] {
        send_all(&producer, topic, &txn_records("commit3", p));
    }
    for p in [0, 1] {
        assert_eq!(
            watermarks(&bootstrap, topic, p, Isolation::ReadUncommitted),
            (0, 17),
            "partition {p}: high watermark with commit3 open"
        );
        assert_eq!(
            watermarks(&bootstrap, topic, p, Isolation::ReadCommitted),
            (0, 12),
            "partition {p}: last stable offset with commit3 open"
        );
    }
    let open = read_all(&bootstrap, topic, 2, Isolation::ReadCommitted);
    for p in [0, 1] {
        assert_eq!(
            values(&open, p),
            expected("commit1", p, 0),
            "read_committed, partition {p}, commit3 open"
        );
    }
    producer.commit_transaction(TIMEOUT).expect("commit");

    run("abort4", &[0], false);

    let committed = read_all(&bootstrap, topic, 2, Isolation::ReadCommitted);
    let uncommitted = read_all(&bootstrap, topic, 2, Isolation::ReadUncommitted);
    for p in [0, 1] {
        let mut want = expected("commit1", p, 0);
        want.extend(expected("commit3", p, 12));
        assert_eq!(values(&committed, p), want, "read_committed, partition {p}");

        let mut want = expected("commit1", p, 0);
        want.extend(expected("abort2", p, 6));
        want.extend(expected("commit3", p, 12));
        if p == 0 {
            want.extend(expected("abort4", p, 18));
        }
        assert_eq!(
            values(&uncommitted, p),
            want,
            "read_uncommitted, partition {p}"
        );
    }
    // Every transaction is finished: the last stable offset is the high watermark, which
    // counts the control records.
    for (p, high) in [(0, 24), (1, 18)] {
        for isolation in [Isolation::ReadCommitted, Isolation::ReadUncommitted] {
            assert_eq!(
                watermarks(&bootstrap, topic, p, isolation),
                (0, high),
                "partition {p}, {}",
                isolation.name()
            );
        }
    }
}

// ---- fencing -----------------------------------------------------------------------------

/// Whether `e` is the fatal error of a fenced transactional producer.
fn is_fenced(e: &KafkaError) -> bool {
    let code = match e {
        KafkaError::Transaction(e) if e.is_fatal() => e.code(),
        other => match other.rdkafka_error_code() {
            Some(c) => c,
            None => return false,
        },
    };
    matches!(
        code,
        RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
    )
}

/// `first` commits one transaction and leaves a second open; `second`, with the same
/// transactional id, calls init_transactions, which bumps the epoch and aborts the open
/// transaction; `second` then commits its own. `first`'s next record is refused and never
/// stored, its commit fails with a fatal fenced error, and so does everything after it.
#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let broker = Broker::start_with(&BROKER_FLAGS);
    let bootstrap = broker.bootstrap();
    let topic = "txn-fencing";
    create_topic(&bootstrap, topic, 1);
    let transactional_id = "txn-fencing-producer";

    let first = transactional_producer(&bootstrap, transactional_id);
    first.begin_transaction().expect("begin_transaction");
    send_all(&first, topic, &txn_records("first1", 0));
    first.commit_transaction(TIMEOUT).expect("commit");
    first.begin_transaction().expect("begin_transaction");
    send_all(&first, topic, &txn_records("first2", 0));

    let second = transactional_producer(&bootstrap, transactional_id);
    second.begin_transaction().expect("begin_transaction");
    send_all(&second, topic, &txn_records("second1", 0));
    second.commit_transaction(TIMEOUT).expect("commit");

    // The first producer, still in its transaction as far as it knows, produces again
    // with its old epoch: the broker refuses the batch (INVALID_PRODUCER_EPOCH) and
    // librdkafka fails the record, and then the producer, fatally.
    first
        .send(
            BaseRecord::to(topic)
                .partition(0)
                .key("first3")
                .payload("first3"),
        )
        .map_err(|(e, _)| e)
        .expect("queued");
    let _ = first.flush(TIMEOUT);
    let reports = first.context().take();
    assert!(
        matches!(reports.as_slice(), [Err(_)]),
        "the fenced producer's record: {reports:?}"
    );
    let error = first
        .commit_transaction(TIMEOUT)
        .expect_err("the fenced producer's commit failed");
    assert!(
        is_fenced(&error),
        "the first producer's commit: want a fatal fenced error, got {error:?}"
    );
    // A fenced producer stays failed.
    let again = first.begin_transaction().map(|()| "began");
    assert!(
        again.as_ref().is_err_and(is_fenced),
        "begin_transaction after fencing: {again:?}"
    );

    // first1 at 0-4 (marker 5), first2 at 6-10 aborted by the coordinator (marker 11),
    // second1 at 12-16 (marker 17).
    let committed = read_all(&bootstrap, topic, 1, Isolation::ReadCommitted);
    let mut want = expected("first1", 0, 0);
    want.extend(expected("second1", 0, 12));
    assert_eq!(values(&committed, 0), want, "read_committed");
    let uncommitted = read_all(&bootstrap, topic, 1, Isolation::ReadUncommitted);
    let mut want = expected("first1", 0, 0);
    want.extend(expected("first2", 0, 6));
    want.extend(expected("second1", 0, 12));
    assert_eq!(values(&uncommitted, 0), want, "read_uncommitted");

    // The second producer keeps working.
    second.begin_transaction().expect("begin_transaction");
    send_all(&second, topic, &txn_records("second2", 0));
    second.commit_transaction(TIMEOUT).expect("commit");
    let committed = read_all(&bootstrap, topic, 1, Isolation::ReadCommitted);
    assert_eq!(
        values(&committed, 0),
        [
            expected("first1", 0, 0),
            expected("second1", 0, 12),
            expected("second2", 0, 18)
        ]
        .concat()
    );
}

// ---- transactions of several producers, timeouts ----------------------------------------

/// Records `<name>-0`, `<name>-1`, `<name>-2` for partition 0.
fn three(name: &str) -> Vec<(i32, String, String)> {
    (0..3)
        .map(|i| (0, format!("{name}-{i}"), format!("{name}-{i}")))
        .collect()
}

fn offsets_of(name: &str, base_offset: i64) -> Vec<(i64, String)> {
    (0..3)
        .map(|i| (base_offset + i, format!("{name}-{i}")))
        .collect()
}

/// Two transactional producers and a plain idempotent one on one partition: `a` opens a
/// transaction first (`a1` at 0-2); plain records follow (`p` at 3-5), then `b` commits a
/// whole transaction (`b1` at 6-8, COMMIT at 9). While `a`'s transaction is open the last
/// stable offset stays at its first offset, 0, and a read_committed consumer sees nothing.
/// `a` adds records (`a2` at 10-12) and aborts (ABORT at 13), then commits a new
/// transaction (`a3` at 14-16, COMMIT at 17). read_committed consumers must skip exactly
/// `a`'s aborted batches among the others (the fetch's aborted transactions), and nothing
/// of `a`'s later transaction.
#[test]
fn interleaved_transactions_and_plain_records_on_one_partition() {
    let broker = Broker::start_with(&BROKER_FLAGS);
    let bootstrap = broker.bootstrap();
    let topic = "txn-interleaved";
    create_topic(&bootstrap, topic, 1);
    let a = transactional_producer(&bootstrap, "interleaved-a");
    let b = transactional_producer(&bootstrap, "interleaved-b");
    let plain = producer(
        &bootstrap,
        "interleaved-plain",
        &[("enable.idempotence", "true")],
    );

    a.begin_transaction().expect("begin_transaction");
    send_all(&a, topic, &three("a1"));
    send_all(&plain, topic, &three("p"));
    b.begin_transaction().expect("begin_transaction");
    send_all(&b, topic, &three("b1"));
    b.commit_transaction(TIMEOUT).expect("commit");

    assert_eq!(
        watermarks(&bootstrap, topic, 0, Isolation::ReadUncommitted),
        (0, 10)
    );
    assert_eq!(
        watermarks(&bootstrap, topic, 0, Isolation::ReadCommitted),
        (0, 0),
        "the last stable offset while a1 is open"
    );
    let open = read_all(&bootstrap, topic, 1, Isolation::ReadCommitted);
    assert_eq!(values(&open, 0), vec![], "read_committed while a1 is open");

    send_all(&a, topic, &three("a2"));
    a.abort_transaction(TIMEOUT).expect("abort");
    a.begin_transaction().expect("begin_transaction");
    send_all(&a, topic, &three("a3"));
    a.commit_transaction(TIMEOUT).expect("commit");

    let committed = read_all(&bootstrap, topic, 1, Isolation::ReadCommitted);
    assert_eq!(
        values(&committed, 0),
        [
            offsets_of("p", 3),
            offsets_of("b1", 6),
            offsets_of("a3", 14)
        ]
        .concat(),
        "read_committed"
    );
    let uncommitted = read_all(&bootstrap, topic, 1, Isolation::ReadUncommitted);
    assert_eq!(
        values(&uncommitted, 0),
        [
            offsets_of("a1", 0),
            offsets_of("p", 3),
            offsets_of("b1", 6),
            offsets_of("a2", 10),
            offsets_of("a3", 14)
        ]
        .concat(),
        "read_uncommitted"
    );
    for isolation in [Isolation::ReadCommitted, Isolation::ReadUncommitted] {
        assert_eq!(
            watermarks(&bootstrap, topic, 0, isolation),
            (0, 18),
            "{}",
            isolation.name()
        );
    }
}

/// A producer opens a transaction with `transaction.timeout.ms=1000`, stores records
/// (0-2), and goes quiet: the coordinator aborts the transaction once it times out (ABORT
/// at 3), so the last stable offset moves past it and read_committed consumers never see
/// the records. The producer's late commit fails. A new producer with the same
/// transactional id then commits normally (4-6, COMMIT at 7).
#[test]
fn the_coordinator_aborts_a_transaction_that_times_out() {
    let mut flags = BROKER_FLAGS.to_vec();
    flags.extend([
        "--override",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=100",
    ]);
    let broker = Broker::start_with(&flags);
    let bootstrap = broker.bootstrap();
    let topic = "txn-timeout";
    create_topic(&bootstrap, topic, 1);
    let transactional_id = "txn-timeout-producer";
    let slow = producer(
        &bootstrap,
        transactional_id,
        &[
            ("transactional.id", transactional_id),
            ("transaction.timeout.ms", "1000"),
            ("message.timeout.ms", "1000"),
        ],
    );
    slow.init_transactions(TIMEOUT).expect("init_transactions");
    slow.begin_transaction().expect("begin_transaction");
    send_all(&slow, topic, &three("late"));

    let deadline = Instant::now() + TIMEOUT;
    loop {
        let lso = watermarks(&bootstrap, topic, 0, Isolation::ReadCommitted).1;
        if lso == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the last stable offset is {lso} {TIMEOUT:?} after the transaction timed out, \
             want 4 (past the ABORT marker at 3)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let committed = read_all(&bootstrap, topic, 1, Isolation::ReadCommitted);
    assert_eq!(values(&committed, 0), vec![], "read_committed");
    let uncommitted = read_all(&bootstrap, topic, 1, Isolation::ReadUncommitted);
    assert_eq!(values(&uncommitted, 0), offsets_of("late", 0));

    let late = slow.commit_transaction(TIMEOUT);
    eprintln!("the commit of a timed-out transaction: {late:?}");
    assert!(
        late.is_err(),
        "the commit of a timed-out transaction succeeded"
    );
    drop(slow);

    let next = transactional_producer(&bootstrap, transactional_id);
    next.begin_transaction().expect("begin_transaction");
    send_all(&next, topic, &three("next"));
    next.commit_transaction(TIMEOUT).expect("commit");
    let committed = read_all(&bootstrap, topic, 1, Isolation::ReadCommitted);
    assert_eq!(values(&committed, 0), offsets_of("next", 4));
}

/// Twenty transactions of five records on one partition, alternately committed and
/// aborted, read by read_committed consumers in fetches of about one batch
/// (`max.partition.fetch.bytes=100`: each fetch returns its first batch whatever its
/// size): each response must carry the aborted transactions its records overlap, however
/// the log is cut into fetches.
#[test]
fn read_committed_in_small_fetches_skips_every_aborted_transaction() {
    let broker = Broker::start_with(&BROKER_FLAGS);
    let bootstrap = broker.bootstrap();
    let topic = "txn-small-fetches";
    create_topic(&bootstrap, topic, 1);
    let producer = transactional_producer(&bootstrap, "small-fetches");
    let mut want = Vec::new();
    for t in 0..20 {
        let name = format!("t{t}");
        producer.begin_transaction().expect("begin_transaction");
        send_all(&producer, topic, &three(&name));
        if t % 2 == 0 {
            producer.commit_transaction(TIMEOUT).expect("commit");
            // Three records and a marker per transaction.
            want.extend(offsets_of(&name, 4 * t));
        } else {
            producer.abort_transaction(TIMEOUT).expect("abort");
        }
    }
    let consumer = client_config(&bootstrap, "myelin-e2e-small-fetches")
        .set("group.id", "myelin-e2e-txn-assign-only")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("max.partition.fetch.bytes", "100")
        .set("fetch.wait.max.ms", "10")
        .create::<BaseConsumer>()
        .expect("a consumer");
    let got = read_with(&consumer, topic, 1);
    assert_eq!(values(&got, 0), want, "read_committed in small fetches");
}

/// A transaction whose records straddle a broker crash: the producer (behind a proxy, so
/// that the restarted broker is at the same address) stores `before` (0-2), the broker is
/// SIGKILLed and restarted on its data directory, the producer stores `after` (3-5) in
/// the same transaction and commits (COMMIT at 6). The transaction coordinator and the
/// partition's producer state come back from the logs: the commit succeeds and covers
/// both halves.
#[test]
fn a_transaction_spans_a_broker_sigkill() {
    let proxy = Proxy::start(CutPolicy {
        drop_response: 0.0,
        truncate_request: 0.0,
        max_cuts: 0,
        seed: 0,
    });
    let advertised = proxy.addr().to_string();
    let mut flags = BROKER_FLAGS.to_vec();
    flags.extend(["--advertised-listen", advertised.as_str()]);
    let mut broker = Broker::start_with(&flags);
    proxy.set_upstream(broker.addr());
    let bootstrap = proxy.addr().to_string();
    let topic = "txn-across-restart";
    create_topic(&bootstrap, topic, 1);
    let producer = producer(
        &bootstrap,
        "across-restart",
        &[
            ("transactional.id", "across-restart"),
            ("reconnect.backoff.ms", "10"),
            ("reconnect.backoff.max.ms", "100"),
        ],
    );
    producer
        .init_transactions(TIMEOUT)
        .expect("init_transactions");
    producer.begin_transaction().expect("begin_transaction");
    send_all(&producer, topic, &three("before"));

    broker.kill();
    broker.restart();
    proxy.set_upstream(broker.addr());

    send_all(&producer, topic, &three("after"));
    producer
        .commit_transaction(TIMEOUT)
        .expect("commit after the restart");
    let committed = read_all(&bootstrap, topic, 1, Isolation::ReadCommitted);
    assert_eq!(
        values(&committed, 0),
        [offsets_of("before", 0), offsets_of("after", 3)].concat(),
        "read_committed"
    );
    assert_eq!(
        watermarks(&bootstrap, topic, 0, Isolation::ReadCommitted),
        (0, 7)
    );
}

// ---- exactly-once consume-transform-produce ---------------------------------------------

/// `ctp-input` (2 partitions, `PER_PARTITION` records each) is transformed into
/// `ctp-output` by `txn-transformer` processes, one at a time, with the same transactional
/// id. The test kills the transformer (SIGKILL) or the broker (SIGKILL, then restarted on
/// the same data directory, and a new transformer), choosing which at random: kill `k` of
/// `K` once the committed input offsets reach `k/(K+1)` of the input, after a further
/// random delay (so inside a transaction or between two). At the end
/// a read_committed consumer sees each input record's transform exactly once, in input
/// order per partition, and the group's committed offsets are the input's end.
#[test]
fn consume_transform_produce_is_exactly_once_across_sigkills() {
    const PER_PARTITION: i64 = 300;
    let kills: usize = std::env::var("MYELIN_E2E_TXN_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let mut rng = StdRng::seed_from_u64(seed("consume_transform_produce"));
    let mut broker = Broker::start_with(&BROKER_FLAGS);
    create_topic(&broker.bootstrap(), "ctp-input", 2);
    create_topic(&broker.bootstrap(), "ctp-output", 2);
    let input = producer(
        &broker.bootstrap(),
        "ctp-input-producer",
        &[("acks", "all")],
    );
    let records: Vec<(i32, String, String)> = (0..PER_PARTITION)
        .flat_map(|i| [0, 1].map(|p| (p, format!("k-{p}-{i}"), format!("in-{p}-{i}"))))
        .collect();
    send_all(&input, "ctp-input", &records);
    drop(input);
    let ends = [PER_PARTITION, PER_PARTITION];
    let total = 2 * PER_PARTITION;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(150);
    let mut history = Vec::new();
    let mut failures = Vec::new();
    let mut kills_done = 0;
    let mut transformer = Transformer::spawn(&broker.bootstrap(), &ends);
    loop {
        assert!(
            Instant::now() < deadline,
            "the transformers did not finish; history {history:?}; last output:\n{}",
            transformer.output()
        );
        if let Some(status) = transformer.exited() {
            if status.success() {
                break;
            }
            // An error the transformer gave up on: restart it, as an application would.
            failures.push(transformer.output());
            assert!(
                failures.len() <= 5,
                "the transformer failed {} times; outputs:\n{}",
                failures.len(),
                failures.join("\n---\n")
            );
            history.push(format!("exited {status}"));
            transformer = Transformer::spawn(&broker.bootstrap(), &ends);
            continue;
        }
        // Kill number k once the input is k/(kills+1) through, plus a random delay.
        let threshold = total * (kills_done as i64 + 1) / (kills as i64 + 1);
        if kills_done < kills && transformer.progress() >= threshold {
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..120)));
            let at = transformer.progress();
            if rng.gen_bool(0.5) {
                history.push(format!(
                    "{:?}: transformer killed at {at}",
                    started.elapsed()
                ));
                transformer.kill();
            } else {
                history.push(format!("{:?}: broker killed at {at}", started.elapsed()));
                broker.kill();
                transformer.kill();
                broker.restart();
            }
            kills_done += 1;
            transformer = Transformer::spawn(&broker.bootstrap(), &ends);
            continue;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "consume_transform_produce: {history:?}; {} failed runs",
        failures.len()
    );
    for failure in &failures {
        eprintln!("a failed transformer run:\n{failure}");
    }
    assert_eq!(
        kills_done, kills,
        "the transformers finished before every kill; history {history:?}"
    );

    let output = read_all(
        &broker.bootstrap(),
        "ctp-output",
        2,
        Isolation::ReadCommitted,
    );
    let everything = read_all(
        &broker.bootstrap(),
        "ctp-output",
        2,
        Isolation::ReadUncommitted,
    );
    eprintln!(
        "consume_transform_produce: ctp-output holds {} records, {} of them committed",
        everything.len(),
        output.len()
    );
    for p in [0, 1] {
        let got: Vec<(String, String)> = output
            .iter()
            .filter(|r| r.partition == p)
            .map(|r| (r.key.clone(), r.value.clone()))
            .collect();
        let want: Vec<(String, String)> = (0..PER_PARTITION)
            .map(|i| (format!("k-{p}-{i}"), format!("T(in-{p}-{i})")))
            .collect();
        if got != want {
            let mut seen = BTreeMap::new();
            for (_, v) in &got {
                *seen.entry(v.clone()).or_insert(0) += 1;
            }
            let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
            let missing: Vec<_> = want.iter().filter(|(_, v)| !seen.contains_key(v)).collect();
            panic!(
                "ctp-output/{p}: {} records, want {PER_PARTITION}; duplicated {duplicated:?}; \
                 missing {missing:?}; history {history:?}",
                got.len()
            );
        }
    }
    let consumer = client_config(&broker.bootstrap(), "ctp-check")
        .set("group.id", "ctp-group")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create::<BaseConsumer>()
        .expect("a consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("ctp-input", 0);
    tpl.add_partition("ctp-input", 1);
    let committed = consumer
        .committed_offsets(tpl, TIMEOUT)
        .expect("OffsetFetch answered");
    for p in [0, 1] {
        assert_eq!(
            committed.find_partition("ctp-input", p).map(|e| e.offset()),
            Some(Offset::Offset(PER_PARTITION)),
            "ctp-group's committed offset of ctp-input/{p}"
        );
    }
}

// ---- idempotent retries ------------------------------------------------------------------

/// An idempotent producer (`enable.idempotence=true`, 5 requests in flight) sends keyed
/// records to two partitions through a proxy that, for some Produce requests, drops the
/// broker's response (the records are stored, the client resends them) or forwards only
/// half the request, each time closing the connection. Every delivery succeeds with the
/// offset the record is stored at, and each partition holds every record exactly once, in
/// the order sent.
#[test]
fn an_idempotent_producer_retrying_through_cut_connections_stores_each_record_once() {
    idempotent_through_proxy("idempotent_retries", false);
}

/// The same, and the broker is SIGKILLed halfway through the records, with requests in
/// flight, and restarted on its data directory behind the same proxy: the producer's
/// retries of batches stored before the crash are recognised from the recovered producer
/// state.
#[test]
fn an_idempotent_producer_retrying_across_a_broker_sigkill_stores_each_record_once() {
    idempotent_through_proxy("idempotent_retries_sigkill", true);
}

fn idempotent_through_proxy(test: &str, kill_broker: bool) {
    const N: i64 = 3000;
    let mut rng = StdRng::seed_from_u64(seed(test));
    let proxy = Proxy::start(CutPolicy {
        drop_response: 0.12,
        truncate_request: 0.04,
        max_cuts: 10,
        seed: rng.gen(),
    });
    let advertised = proxy.addr().to_string();
    let mut flags = BROKER_FLAGS.to_vec();
    flags.extend(["--advertised-listen", advertised.as_str()]);
    let mut broker = Broker::start_with(&flags);
    proxy.set_upstream(broker.addr());
    let bootstrap = proxy.addr().to_string();
    create_topic(&bootstrap, "idempotent", 2);

    let producer = producer(
        &bootstrap,
        "myelin-e2e-idempotent",
        &[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("max.in.flight.requests.per.connection", "5"),
            ("batch.num.messages", "50"),
            ("retry.backoff.ms", "20"),
            // Reconnect at once after a cut (the default backoff doubles up to 10 s).
            ("reconnect.backoff.ms", "10"),
            ("reconnect.backoff.max.ms", "100"),
        ],
    );
    for i in 0..N {
        let partition = (i % 2) as i32;
        let (key, value) = (format!("k-{i}"), format!("v-{i}"));
        producer
            .send(
                BaseRecord::to("idempotent")
                    .partition(partition)
                    .key(&key)
                    .payload(&value),
            )
            .map_err(|(e, _)| e)
            .expect("queued");
        if i % 100 == 99 {
            // Some pacing, so that requests stay small and many.
            std::thread::sleep(Duration::from_millis(5));
        }
        if kill_broker && i == N / 2 {
            // Kill it with Produce requests in flight (forwarded, not answered).
            let deadline = Instant::now() + TIMEOUT;
            while proxy.stats().produce_in_flight.load(Ordering::Acquire) == 0 {
                assert!(
                    Instant::now() < deadline,
                    "no Produce request in flight for {TIMEOUT:?}"
                );
                std::thread::yield_now();
            }
            broker.kill();
            broker.restart();
            proxy.set_upstream(broker.addr());
        }
    }
    producer.flush(TIMEOUT).expect("flush");
    proxy.stop_cutting();
    let stats = proxy.stats();
    let load = |a: &AtomicUsize| a.load(Ordering::Relaxed);
    eprintln!(
        "{test}: {} connections, {} produce requests, {} responses dropped, \
         {} requests truncated",
        load(&stats.connections),
        load(&stats.produce_requests),
        load(&stats.dropped_responses),
        load(&stats.truncated_requests),
    );
    assert!(
        load(&stats.dropped_responses) > 0,
        "the proxy dropped no response: the test tested nothing"
    );

    let reports = producer.context().take();
    let failed: Vec<_> = reports.iter().filter(|r| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} deliveries failed, the first ones: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert_eq!(reports.len(), N as usize);
    let acked: BTreeMap<String, (i32, i64)> = reports
        .into_iter()
        .map(|r| {
            let (p, o, k) = r.unwrap();
            (k, (p, o))
        })
        .collect();

    let stored = read_all(
        &broker.addr().to_string(),
        "idempotent",
        2,
        Isolation::ReadUncommitted,
    );
    for p in [0, 1] {
        let got: Vec<(i64, String)> = values(&stored, p);
        let want: Vec<(i64, String)> = (0..N / 2)
            .map(|j| (j, format!("v-{}", 2 * j + p as i64)))
            .collect();
        if got != want {
            let mut seen = BTreeMap::new();
            for (_, v) in &got {
                *seen.entry(v.clone()).or_insert(0) += 1;
            }
            let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
            let first_difference = got.iter().zip(&want).position(|(g, w)| g != w);
            panic!(
                "idempotent/{p}: {} records, want {}; duplicated {duplicated:?}; first \
                 difference at index {first_difference:?}",
                got.len(),
                want.len()
            );
        }
    }
    // Each delivery report names the offset the record is stored at, retried or not.
    let wrong: Vec<_> = stored
        .iter()
        .filter(|r| acked.get(&r.key) != Some(&(r.partition, r.offset)))
        .map(|r| (r.key.clone(), r.partition, r.offset, acked.get(&r.key)))
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "delivery reports with other offsets than the stored ones (key, partition, \
         stored offset, acknowledged): {wrong:?}"
    );
}
