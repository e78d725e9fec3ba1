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
use myelin_tests::broker::{wait_for, Broker};
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
    // The metadata log meets the full disk too; it stays usable once space is back.
    // (A topic record is small: the last page of the metadata log may still hold a few.)
    let mut refused = false;
    for k in 0..60 {
        if !try_create_topic(&broker, &format!("during-full-{k}")).await {
            refused = true;
            break;
        }
    }
    assert!(refused, "60 topics created on a full disk");
    filler.remove();
    assert!(
        try_create_topic(&broker, "after-full").await,
        "CreateTopics once space is freed:\n{}",
        broker.log()
    );
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
    let log = broker.log();
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        !log.contains("taking the log offline"),
        "a full disk took a log offline:\n{log}"
    );
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
    // A graceful stop on a full disk (the shutdown cannot write its checkpoints) and a
    // start after it: nothing lost, nothing invented.
    filler.fill_up(&fs);
    let status = broker.stop();
    eprintln!("SIGTERM on a full disk: {status}");
    filler.remove();
    broker.restart();
    assert_records(&broker, topic, 0, n + 1, VALUE_LEN);
    broker.stop();
    eprintln!("ENOSPC without a reserve: {:?}", started.elapsed());
}

/// The batches of a segment file: (position, base offset, total length).
fn batches_of(path: &std::path::Path) -> Vec<(usize, i64, usize)> {
    let bytes = std::fs::read(path).expect("a segment");
    let mut out = Vec::new();
    let mut at = 0;
    while at + 61 <= bytes.len() {
        let base = i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap());
        let len = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        if len <= 0 || at + 12 + len as usize > bytes.len() {
            break;
        }
        out.push((at, base, 12 + len as usize));
        at += 12 + len as usize;
    }
    out
}

/// The files of a partition with `ext`, oldest segment first.
fn files_with(dir: &std::path::Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    v.sort();
    v
}

/// Files damaged while the broker was down (killed with SIGKILL): a flipped bit, a
/// truncated segment, garbage indexes, stray `.swap`/`.cleaned`/`.deleted` files. The
/// broker starts and serves every record before the damage, exactly, and nothing after
/// it; new records continue the offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_files_at_start() {
    const PER_PARTITION: usize = 120;
    const LEN: usize = 300;
    let started = Instant::now();
    let mut broker = Broker::start();
    let topic = "damaged";
    create_topic(&broker, topic, 4, &[("segment.bytes", "8192")]).await;
    let producer = producer(&broker);
    let mut tasks = Vec::new();
    for p in 0..4 {
        let producer = producer.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_PARTITION {
                let offset = produce_one(&producer, topic, p, p as usize * 1000 + i, LEN)
                    .await
                    .expect("produce");
                assert_eq!(offset, i as i64);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    drop(producer);
    broker.kill();

    let data_dir = broker.data_dir().to_path_buf();
    let dir = |p: i32| data_dir.join(format!("{topic}-{p}"));
    let mut expected = [PER_PARTITION as i64; 4];
    // 0: a bit flipped in a batch in the middle of the last segment.
    let last = files_with(&dir(0), ".log").pop().unwrap();
    let batches = batches_of(&last);
    assert!(batches.len() >= 4, "{batches:?}");
    let (pos, base, _) = batches[batches.len() / 2];
    let mut bytes = std::fs::read(&last).unwrap();
    bytes[pos + 61 + 10] ^= 0x04;
    std::fs::write(&last, &bytes).unwrap();
    expected[0] = base;
    // 1: the last segment cut inside its last batch.
    let last = files_with(&dir(1), ".log").pop().unwrap();
    let (pos, base, _) = *batches_of(&last).last().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(pos as u64 + 20)
        .unwrap();
    expected[1] = base;
    // 2: every offset and time index overwritten with garbage.
    let indexes = [
        files_with(&dir(2), ".index"),
        files_with(&dir(2), ".timeindex"),
    ]
    .concat();
    assert!(indexes.len() >= 4);
    for (n, index) in indexes.iter().enumerate() {
        let len = std::fs::metadata(index).unwrap().len().max(96) as usize;
        let garbage: Vec<u8> = (0..len).map(|i| (i * 31 + n * 7 + 13) as u8).collect();
        std::fs::write(index, garbage).unwrap();
    }
    // 3: stray files of an unfinished compaction and deletion.
    let segments = files_with(&dir(3), ".log");
    assert!(segments.len() >= 2);
    let garbage: Vec<u8> = (0..3000u32).map(|i| (i * 7919 % 253) as u8).collect();
    for (file, content) in [
        (format!("{}.swap", segments[0].display()), &garbage[..]),
        (
            format!("{}.swap", segments[0].with_extension("index").display()),
            &garbage[..96],
        ),
        (format!("{}.cleaned", segments[1].display()), &garbage[..]),
        (format!("{}.deleted", segments[0].display()), &garbage[..]),
    ] {
        std::fs::write(file, content).unwrap();
    }

    broker.restart();
    for p in 0..4 {
        let got = read_all(&broker, topic, p);
        assert_eq!(
            got.len() as i64,
            expected[p as usize],
            "partition {p}: every record before the damage, nothing after"
        );
        for (i, (offset, v)) in got.iter().enumerate() {
            assert_eq!(*offset, i as i64, "partition {p}");
            assert!(
                *v == value(p as usize * 1000 + i, LEN),
                "partition {p}: record {i}"
            );
        }
    }
    // New records continue where the kept ones end.
    let producer = harness::producer(&broker);
    for p in 0..4 {
        let offset = produce_one(&producer, topic, p, 999, LEN)
            .await
            .expect("produce");
        assert_eq!(offset, expected[p as usize], "partition {p}");
    }
    let strays: Vec<_> = [".swap", ".cleaned", ".deleted"]
        .iter()
        .flat_map(|ext| files_with(&dir(3), ext))
        .collect();
    assert!(strays.is_empty(), "stray files left: {strays:?}");
    drop(producer);
    broker.stop();
    eprintln!("damaged files at start: {:?}", started.elapsed());
}

/// A partition's directory removed under the running broker: within seconds the
/// partition is offline (produce KAFKA_STORAGE_ERROR; Metadata LEADER_NOT_AVAILABLE with
/// no leader), while the broker and the other partition go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_partition_directory_goes_offline_alone() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::types::RDKafkaRespErr;
    const LEN: usize = 100;
    let started = Instant::now();
    let mut broker = Broker::start();
    let topic = "vanish";
    create_topic(&broker, topic, 2, &[]).await;
    let producer = producer(&broker);
    for p in 0..2 {
        for i in 0..5 {
            produce_one(&producer, topic, p, p as usize * 1000 + i, LEN)
                .await
                .expect("produce");
        }
    }
    std::fs::remove_dir_all(broker.data_dir().join(format!("{topic}-0"))).unwrap();
    // Taken offline by the next directory check (every 2 s).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match produce_one(&producer, topic, 0, 99, LEN).await {
            Err(e) if is_storage_error(&e) => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "partition 0 still takes records: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let metadata_client: BaseConsumer = client_config(&broker).create().unwrap();
    let md = metadata_client
        .fetch_metadata(Some(topic), TIMEOUT)
        .expect("Metadata answers");
    let t = &md.topics()[0];
    let p0 = t.partitions().iter().find(|p| p.id() == 0).unwrap();
    assert_eq!(
        p0.error(),
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
    );
    assert_eq!(p0.leader(), -1);
    let p1 = t.partitions().iter().find(|p| p.id() == 1).unwrap();
    assert_eq!(p1.error(), None);
    // The other partition goes on.
    for i in 5..10 {
        let offset = produce_one(&producer, topic, 1, 1000 + i, LEN)
            .await
            .expect("produce to the healthy partition");
        assert_eq!(offset, i as i64);
    }
    let got = read_all(&broker, topic, 1);
    assert_eq!(got.len(), 10);
    for (i, (_, v)) in got.iter().enumerate() {
        assert!(*v == value(1000 + i, LEN));
    }
    assert_alive(&broker);
    wait_for("the vanished-directory warning", TIMEOUT, || {
        broker
            .log()
            .contains("the partition's directory is gone")
            .then_some(())
    });
    drop(producer);
    broker.stop();
    eprintln!("vanished partition directory: {:?}", started.elapsed());
}

/// The disk fails under the running broker (an ext4 file system shut down: every I/O
/// fails with EIO, as on a dead device): Produce gets KAFKA_STORAGE_ERROR, the partitions
/// that met the error go offline (Metadata: LEADER_NOT_AVAILABLE, leader -1), the broker
/// stays up and answers Metadata. With the disk back and a restart, every record
/// acknowledged before the failure is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_disk_takes_partitions_offline_and_the_broker_stays_up() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::types::RDKafkaRespErr;
    const LEN: usize = 100;
    let started = Instant::now();
    let mut disk = Ext4Mount::new(32);
    let mut broker = Broker::start_in(disk.path().join("data"), &[]);
    let topic = "dead";
    create_topic(&broker, topic, 2, &[]).await;
    let producer = producer(&broker);
    for p in 0..2 {
        for i in 0..5 {
            produce_one(&producer, topic, p, p as usize * 1000 + i, LEN)
                .await
                .expect("produce");
        }
    }
    disk.shut_down();
    for p in 0..2 {
        let e = produce_one(&producer, topic, p, 99, LEN)
            .await
            .expect_err("produce to a dead disk");
        assert!(is_storage_error(&e), "partition {p}: {e:?}");
    }
    let metadata_client: BaseConsumer = client_config(&broker).create().unwrap();
    let md = metadata_client
        .fetch_metadata(Some(topic), TIMEOUT)
        .expect("Metadata answers on a dead disk");
    for p in md.topics()[0].partitions() {
        assert_eq!(
            p.error(),
            Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE),
            "partition {}",
            p.id()
        );
        assert_eq!(p.leader(), -1);
    }
    assert_alive(&broker);
    // The log lines arrive through a reader thread: give it a moment.
    wait_for("the offline warning", TIMEOUT, || {
        broker
            .log()
            .contains("taking the log offline")
            .then_some(())
    });
    assert!(!broker.log().contains("panicked"), "{}", broker.log());

    drop(producer);
    broker.kill();
    disk.remount();
    broker.restart();
    for p in 0..2 {
        let got = read_all(&broker, topic, p);
        assert_eq!(
            got.len(),
            5,
            "partition {p}: the records acknowledged before"
        );
        for (i, (offset, v)) in got.iter().enumerate() {
            assert_eq!(*offset, i as i64);
            assert!(*v == value(p as usize * 1000 + i, LEN));
        }
    }
    broker.stop();
    eprintln!("failed disk: {:?}", started.elapsed());
}
