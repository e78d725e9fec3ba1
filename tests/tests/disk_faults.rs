//! Disk faults against the real `myelin` binary (issue 7, "Disk faults"):
//!
//! - a full disk, on a small tmpfs the test mounts: client produce fails with
//!   KAFKA_STORAGE_ERROR once less than `log.dir.reserved.bytes` is free, while fetches
//!   and offset commits go on (the reserve is theirs); with the disk filled to the last
//!   byte the broker stays up, and restarts on it; once space is freed producing resumes,
//!   and every acknowledged record reads back intact. Without a reserve the append meets
//!   ENOSPC itself, is rolled back, and the log stays usable;
//! - a partition directory that vanishes: the partition goes offline (produce and fetch
//!   KAFKA_STORAGE_ERROR), the others and the broker go on;
//! - files damaged while the broker was down (SIGKILL): a bit flip, a truncated segment,
//!   garbage indexes, stray `.swap`/`.cleaned`/`.deleted` files. The broker starts and
//!   serves every record before the damage, and nothing after it.
//!
//! Mounting needs root (CI runs as root); without it the full-disk tests fail loudly.

#[path = "disk_faults/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::*;
use myelin_tests::broker::Broker;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureProducer;

const VALUE_LEN: usize = 16 * 1024;

fn assert_alive(broker: &Broker) {
    let pid = broker.pid().expect("the broker runs");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
    assert!(
        matches!(state, Some(c) if c != 'Z' && c != 'X'),
        "the broker process died:\n{}",
        broker.log()
    );
}

fn is_storage_error(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError)
    )
}

/// Produces records `from..` until one is refused; returns how many were acknowledged
/// (they are records `from..from + n`) and asserts the refusal is KAFKA_STORAGE_ERROR.
async fn produce_until_refused(producer: &FutureProducer, topic: &str, from: usize) -> usize {
    let mut i = from;
    loop {
        match produce_one(producer, topic, 0, i, VALUE_LEN).await {
            Ok(offset) => {
                assert_eq!(offset, i as i64);
                i += 1;
                assert!(i - from < 5_000, "the disk never filled");
            }
            Err(e) => {
                assert!(
                    is_storage_error(&e),
                    "record {i}: {e:?}, not KAFKA_STORAGE_ERROR"
                );
                return i - from;
            }
        }
    }
}

/// Produces record `i`, retrying for a few seconds while the broker still sees no space.
async fn produce_when_space(producer: &FutureProducer, topic: &str, i: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match produce_one(producer, topic, 0, i, VALUE_LEN).await {
            Ok(offset) => {
                assert_eq!(offset, i as i64, "record {i}");
                return;
            }
            Err(e) if is_storage_error(&e) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("record {i} after freeing space: {e:?}"),
        }
    }
}

/// Produce stops at the reserve with KAFKA_STORAGE_ERROR; reads and offset commits go on;
/// a disk full to the last byte keeps the broker up and lets it restart; freeing space
/// lets producing resume; every acknowledged record reads back intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_refuses_produce_and_keeps_reads_and_commits() {
    let started = Instant::now();
    let fs = TmpfsMount::new(24);
    let filler = Filler::new(&fs);
    let mut broker = Broker::start_in(
        fs.path().join("data"),
        &[
            "--override",
            "log.dir.reserved.bytes=1048576",
            "--override",
            "offsets.topic.num.partitions=3",
        ],
    );
    let topic = "full";
    create_topic(&broker, topic, 1, &[("segment.bytes", "1048576")]).await;
    // The group's partition of __consumer_offsets exists before the disk fills.
    commit(&broker, "g", topic, 0, 0).expect("a commit on an empty disk");
    let producer = producer(&broker);

    filler.fill_leaving(&fs, 4 << 20);
    let mut n = produce_until_refused(&producer, topic, 0).await;
    assert!(n >= 20, "only {n} records fit in 4 MiB");
    let left = fs.available();
    assert!(left > 0, "the reserve keeps the last bytes free");
    // Still refused, still nothing written.
    for _ in 0..3 {
        let e = produce_one(&producer, topic, 0, n, VALUE_LEN)
            .await
            .unwrap_err();
        assert!(is_storage_error(&e), "{e:?}");
    }
    // Reads and offset commits go on.
    assert_records(&broker, topic, 0, n, VALUE_LEN);
    for offset in [n as i64 / 2, n as i64] {
        commit(&broker, "g", topic, 0, offset).expect("an offset commit on a full disk");
    }
    assert_alive(&broker);

    // Space freed: producing resumes.
    filler.remove();
    for _ in 0..10 {
        produce_when_space(&producer, topic, n).await;
        n += 1;
    }
    assert_records(&broker, topic, 0, n, VALUE_LEN);

    // The disk full to the last byte (something else took the reserve): produce is still
    // refused, whatever a commit gets the broker stays up.
    filler.fill_up(&fs);
    let e = produce_one(&producer, topic, 0, n, VALUE_LEN)
        .await
        .unwrap_err();
    assert!(is_storage_error(&e), "{e:?}");
    let _ = commit(&broker, "g", topic, 0, n as i64);
    assert_records(&broker, topic, 0, n, VALUE_LEN);
    assert_alive(&broker);

    // Killed and restarted on the full disk: it starts and serves everything.
    drop(producer);
    broker.kill();
    filler.fill_up(&fs);
    broker.restart();
    assert_records(&broker, topic, 0, n, VALUE_LEN);
    let producer = harness::producer(&broker);
    let e = produce_one(&producer, topic, 0, n, VALUE_LEN)
        .await
        .unwrap_err();
    assert!(is_storage_error(&e), "{e:?}");
    filler.remove();
    for _ in 0..5 {
        produce_when_space(&producer, topic, n).await;
        n += 1;
    }
    commit(&broker, "g", topic, 0, n as i64).expect("a commit once space is back");
    assert_records(&broker, topic, 0, n, VALUE_LEN);
    assert_alive(&broker);
    drop(producer);
    broker.stop();
    eprintln!(
        "full disk with a reserve: {n} records, {:?}",
        started.elapsed()
    );
}

/// Without a reserve the append itself meets ENOSPC: it is rolled back (no torn batch, no
/// index entry, no half-made segment) and the partition stays online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enospc_without_reserve_is_rolled_back() {
    let started = Instant::now();
    let fs = TmpfsMount::new(16);
    let filler = Filler::new(&fs);
    let mut broker = Broker::start_in(
        fs.path().join("data"),
        &["--override", "log.dir.reserved.bytes=0"],
    );
    let topic = "enospc";
    create_topic(&broker, topic, 1, &[("segment.bytes", "262144")]).await;
    let producer = producer(&broker);
    filler.fill_leaving(&fs, 2 << 20);
    let mut n = produce_until_refused(&producer, topic, 0).await;
    assert!(n >= 10, "only {n} records fit in 2 MiB");
    for _ in 0..3 {
        let e = produce_one(&producer, topic, 0, n, VALUE_LEN)
            .await
            .unwrap_err();
        assert!(is_storage_error(&e), "{e:?}");
    }
    assert_records(&broker, topic, 0, n, VALUE_LEN);
    filler.remove();
    for _ in 0..20 {
        produce_when_space(&producer, topic, n).await;
        n += 1;
    }
    assert_records(&broker, topic, 0, n, VALUE_LEN);
    // After a crash on a full disk the files hold exactly what was acknowledged.
    drop(producer);
    filler.fill_up(&fs);
    broker.restart();
    assert_records(&broker, topic, 0, n, VALUE_LEN);
    filler.remove();
    let producer = harness::producer(&broker);
    produce_when_space(&producer, topic, n).await;
    assert_records(&broker, topic, 0, n + 1, VALUE_LEN);
    assert!(
        !broker.log().contains("taking the log offline"),
        "a full disk took a log offline:\n{}",
        broker.log()
    );
    drop(producer);
    broker.stop();
    eprintln!("ENOSPC without a reserve: {:?}", started.elapsed());
}
