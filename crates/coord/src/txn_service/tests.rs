//! The transaction coordinator over a real log manager in a temporary directory: state in
//! `__transaction_state`, markers in the data partitions, recovery and timeouts.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use myelin_cluster::{FileMetadataStore, MetadataRecord, MetadataStore, PartitionManager, TopicId};
use myelin_log::batch::BatchIter;
use myelin_log::record::{encode_record, records_of_batch, BatchBuilder, RecordIter};
use myelin_log::{AppendOptions, LogConfig, LogManager, ManagerConfig};

use super::*;
use crate::service::{CoordinatorSettings, GroupCoordinator};

fn open(dir: &std::path::Path) -> Arc<PartitionManager> {
    let (store, _) = FileMetadataStore::open(dir).unwrap();
    let store: Arc<dyn MetadataStore> = Arc::new(store);
    let cfg = ManagerConfig {
        background_threads: false,
        ..ManagerConfig::new(dir.join("logs"))
    };
    let (logs, _) = LogManager::open(cfg, &|_| LogConfig::default()).unwrap();
    Arc::new(PartitionManager::open(logs, store, LogConfig::default()).unwrap())
}

fn coordinator(partitions: &Arc<PartitionManager>) -> Arc<TxnCoordinator> {
    let settings = CoordinatorSettings {
        offsets_topic_partitions: 2,
        ..CoordinatorSettings::default()
    };
    let groups = GroupCoordinator::new(partitions.clone(), settings).unwrap();
    let config = TxnConfig {
        state_log_partitions: 2,
        ..TxnConfig::default()
    };
    TxnCoordinator::new(partitions.clone(), groups, config).unwrap()
}

fn create_topic(partitions: &PartitionManager, name: &str) {
    partitions
        .commit(MetadataRecord::TopicCreated {
            name: name.into(),
            topic_id: TopicId::random(),
            partitions: 1,
            configs: Default::default(),
        })
        .unwrap();
}

static NEXT_ID: AtomicI64 = AtomicI64::new(1000);

async fn allocate() -> Result<i64, TxnError> {
    Ok(NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// Appends one transactional record for the producer, as its Produce would.
async fn produce(partitions: &PartitionManager, topic: &str, pid: i64, epoch: i16, seq: i32) {
    let mut raw = Vec::new();
    encode_record(&mut raw, 0, 0, 0, None, Some(b"v"), &[]);
    let now = myelin_log::manager::wall_clock_ms();
    let batch = BatchBuilder {
        attributes: ATTR_TRANSACTIONAL,
        base_timestamp: now,
        max_timestamp: now,
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        ..BatchBuilder::new()
    }
    .build(&raw, 1)
    .unwrap();
    let p = partitions.get(topic, 0).unwrap();
    let opts = AppendOptions {
        leader_epoch: 0,
        now_ms: now,
    };
    let (_, wait) = partitions.logs().append(&p.log, &batch, &opts).unwrap();
    if let Some(w) = wait {
        w.await.unwrap();
    }
}

/// The control records (is commit, producer id) of a partition, in order.
fn markers(partitions: &PartitionManager, topic: &str) -> Vec<(bool, i64)> {
    let p = partitions.get(topic, 0).unwrap();
    let end = p.log.log_end_offset();
    let read = p.log.read(0, 1 << 20, end, true).unwrap();
    let Some(slice) = read.slice else {
        return Vec::new();
    };
    let buf = slice.to_vec().unwrap();
    let mut out = Vec::new();
    for (_, h, batch) in BatchIter::new(&buf) {
        if !h.is_control() {
            continue;
        }
        let (_, records) = records_of_batch(batch, 1 << 20).unwrap();
        for r in RecordIter::new(&records, h.record_count) {
            let key = r.unwrap().key.unwrap().to_vec();
            out.push((key[3] == 1, h.producer_id));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_and_abort_write_markers_and_move_the_lso() {
    let dir = tempfile::tempdir().unwrap();
    let partitions = open(dir.path());
    create_topic(&partitions, "orders");
    let txns = coordinator(&partitions);
    assert_eq!(txns.lookup("tx").await, CoordinatorLookup::Ready);
    let (pid, epoch) = txns
        .init_producer_id("tx", 60_000, None, allocate)
        .await
        .unwrap();
    assert_eq!(epoch, 0);
    let tp = TopicPartition::new("orders", 0);
    // Not yet in the transaction: a transactional batch would be refused.
    assert!(txns.verify_produce(pid, epoch, &tp).is_err());
    txns.add_partitions("tx", pid, epoch, vec![tp.clone()])
        .await
        .unwrap();
    txns.verify_produce(pid, epoch, &tp).unwrap();
    produce(&partitions, "orders", pid, epoch, 0).await;
    let p = partitions.get("orders", 0).unwrap();
    assert_eq!(
        p.last_stable_offset(),
        0,
        "the open transaction holds the LSO"
    );
    txns.end_txn("tx", pid, epoch, TxnResult::Commit)
        .await
        .unwrap();
    assert_eq!(markers(&partitions, "orders"), [(true, pid)]);
    assert_eq!(p.last_stable_offset(), p.high_watermark());
    assert_eq!(txns.describe("tx").unwrap().state, TxnState::CompleteCommit);
    // A retried EndTxn is answered OK and writes nothing more.
    txns.end_txn("tx", pid, epoch, TxnResult::Commit)
        .await
        .unwrap();
    assert_eq!(markers(&partitions, "orders").len(), 1);

    // The next transaction aborts.
    txns.add_partitions("tx", pid, epoch, vec![tp.clone()])
        .await
        .unwrap();
    produce(&partitions, "orders", pid, epoch, 1).await;
    txns.end_txn("tx", pid, epoch, TxnResult::Abort)
        .await
        .unwrap();
    assert_eq!(markers(&partitions, "orders"), [(true, pid), (false, pid)]);
    let listed = txns.list(&ListFilter::all());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, TxnState::CompleteAbort);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_producer_fences_the_first_and_its_open_transaction_is_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let partitions = open(dir.path());
    create_topic(&partitions, "orders");
    let txns = coordinator(&partitions);
    txns.lookup("tx").await;
    let (pid, epoch) = txns
        .init_producer_id("tx", 60_000, None, allocate)
        .await
        .unwrap();
    let tp = TopicPartition::new("orders", 0);
    txns.add_partitions("tx", pid, epoch, vec![tp.clone()])
        .await
        .unwrap();
    produce(&partitions, "orders", pid, epoch, 0).await;
    // The zombie's successor: its first InitProducerId aborts the open transaction and asks
    // it to retry; the retry gets a newer epoch.
    let first = txns.init_producer_id("tx", 60_000, None, allocate).await;
    assert!(
        matches!(first, Err(TxnError::ConcurrentTransactions { .. })),
        "{first:?}"
    );
    let (pid2, epoch2) = txns
        .init_producer_id("tx", 60_000, None, allocate)
        .await
        .unwrap();
    assert_eq!(pid2, pid);
    assert!(epoch2 > epoch);
    assert_eq!(markers(&partitions, "orders"), [(false, pid)]);
    // The old producer is fenced.
    let fenced = txns.end_txn("tx", pid, epoch, TxnResult::Commit).await;
    assert!(
        matches!(fenced, Err(TxnError::ProducerFenced { .. })),
        "{fenced:?}"
    );
    let fenced = txns.add_partitions("tx", pid, epoch, vec![tp]).await;
    assert!(
        matches!(fenced, Err(TxnError::ProducerFenced { .. })),
        "{fenced:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_reopen_and_timed_out_transactions_are_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let partitions = open(dir.path());
    create_topic(&partitions, "orders");
    let (pid, epoch) = {
        let txns = coordinator(&partitions);
        txns.lookup("slow").await;
        let (pid, epoch) = txns
            .init_producer_id("slow", 1, None, allocate)
            .await
            .unwrap();
        txns.add_partitions("slow", pid, epoch, vec![TopicPartition::new("orders", 0)])
            .await
            .unwrap();
        produce(&partitions, "orders", pid, epoch, 0).await;
        (pid, epoch)
    };
    // A new coordinator loads the open transaction; its 1 ms timeout has passed.
    let txns = coordinator(&partitions);
    let described = txns.describe("slow").unwrap();
    assert_eq!(described.state, TxnState::Ongoing);
    assert_eq!(described.producer_id, pid);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    txns.tick(false).await;
    let described = txns.describe("slow").unwrap();
    assert_eq!(described.state, TxnState::CompleteAbort);
    assert!(
        described.producer_epoch > epoch,
        "the abort fences the producer"
    );
    assert_eq!(markers(&partitions, "orders"), [(false, pid)]);
    let p = partitions.get("orders", 0).unwrap();
    assert_eq!(p.last_stable_offset(), p.high_watermark());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_prepared_before_a_crash_completes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let partitions = open(dir.path());
    create_topic(&partitions, "orders");
    let (pid, epoch) = {
        let txns = coordinator(&partitions);
        txns.lookup("crashy").await;
        let (pid, epoch) = txns
            .init_producer_id("crashy", 60_000, None, allocate)
            .await
            .unwrap();
        txns.add_partitions("crashy", pid, epoch, vec![TopicPartition::new("orders", 0)])
            .await
            .unwrap();
        produce(&partitions, "orders", pid, epoch, 0).await;
        // EndTxn got as far as the durable PrepareCommit, then the broker died: no markers.
        let shard = txns.shard_for("crashy").unwrap();
        let previous = shard.entries.lock().get("crashy").unwrap().md.clone();
        let prepared =
            match txn::end_txn(Some(&previous), pid, epoch, TxnResult::Commit, 0).unwrap() {
                EndTxnOutcome::Prepare(md) => md,
                other => panic!("{other:?}"),
            };
        txns.write(&shard, "crashy", Some(previous), prepared)
            .await
            .unwrap();
        (pid, epoch)
    };
    assert!(markers(&partitions, "orders").is_empty());
    let txns = coordinator(&partitions);
    assert_eq!(
        txns.describe("crashy").unwrap().state,
        TxnState::PrepareCommit
    );
    // The timer's first pass finishes the commit: marker written, state complete, LSO
    // released.
    txns.tick(false).await;
    assert_eq!(markers(&partitions, "orders"), [(true, pid)]);
    assert_eq!(
        txns.describe("crashy").unwrap().state,
        TxnState::CompleteCommit
    );
    let p = partitions.get("orders", 0).unwrap();
    assert_eq!(p.last_stable_offset(), p.high_watermark());
    // The producer goes on with the same epoch.
    txns.add_partitions("crashy", pid, epoch, vec![TopicPartition::new("orders", 0)])
        .await
        .unwrap();
}
