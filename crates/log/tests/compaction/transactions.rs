//! Compaction of transactional and idempotent data, as Kafka's cleaner does it: the records
//! of aborted transactions go (and supersede nothing), committed ones are compacted like
//! any other, markers stay until their transaction has no data left and then until their
//! delete horizon, an open transaction is never cleaned, a producer's last batch stays
//! (empty if need be), and what a `read_committed` consumer sees survives a crash at any
//! step of a pass.

use std::collections::{BTreeSet, HashSet};

use myelin_log::AbortedTxn;

use super::*;

const DATA: i16 = 0;
const TXN: i16 = ATTR_TRANSACTIONAL;

fn txn_config() -> LogConfig {
    LogConfig {
        min_cleanable_dirty_ratio: 0.0,
        delete_retention_ms: 1_000,
        ..compact_config()
    }
}

/// A batch of keyed `records` from producer `pid` (epoch 0) starting at sequence `seq`.
fn producer_batch(pid: i64, seq: i32, records: &[In<'_>], attrs: i16) -> Vec<u8> {
    let base_ts = records[0].2;
    let mut raw = Vec::new();
    for (i, (k, v, ts)) in records.iter().enumerate() {
        encode_record(&mut raw, 0, ts - base_ts, i as i32, *k, *v, &[]);
    }
    let n = records.len() as i32;
    BatchBuilder {
        attributes: attrs,
        last_offset_delta: n - 1,
        base_timestamp: base_ts,
        max_timestamp: records.iter().map(|r| r.2).max().unwrap(),
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: seq,
        ..BatchBuilder::new()
    }
    .build(&raw, n)
    .unwrap()
}

/// A COMMIT or ABORT marker of producer `pid`, epoch 0, coordinator epoch 0.
fn marker(pid: i64, commit: bool, ts: i64) -> Vec<u8> {
    let mut raw = Vec::new();
    let key = [0, 0, 0, u8::from(commit)];
    encode_record(
        &mut raw,
        0,
        0,
        0,
        Some(&key),
        Some(&[0, 0, 0, 0, 0, 0]),
        &[],
    );
    BatchBuilder {
        attributes: ATTR_CONTROL | ATTR_TRANSACTIONAL,
        base_timestamp: ts,
        max_timestamp: ts,
        producer_id: pid,
        producer_epoch: 0,
        ..BatchBuilder::new()
    }
    .build(&raw, 1)
    .unwrap()
}

/// Is this control batch an ABORT marker?
fn is_abort(h: &BatchHeader, b: &[u8]) -> bool {
    let (_, recs) = records_of_batch(b, 1 << 20).unwrap();
    let mut it = RecordIter::new(&recs, h.record_count);
    it.next()
        .map(|r| r.unwrap().key.unwrap()[3] == 0)
        .unwrap_or(false)
}

/// What a `read_committed` consumer reading the whole log gets, as Kafka's consumer
/// computes it from the batches and the aborted transactions the log names: a producer's
/// transactional batches from the first offset of one of its aborted transactions up to its
/// ABORT marker are dropped, and so are control batches.
fn read_committed(log: &Log) -> Vec<Rec> {
    let mut aborted: Vec<AbortedTxn> =
        log.aborted_transactions(log.log_start_offset(), log.log_end_offset());
    aborted.sort_by_key(|t| t.first_offset);
    aborted.reverse();
    let mut aborting: HashSet<i64> = HashSet::new();
    let mut out = Vec::new();
    for (h, b) in batches(log) {
        if h.is_control() {
            if h.record_count > 0 && is_abort(&h, &b) {
                aborting.remove(&h.producer_id);
            }
            continue;
        }
        while aborted
            .last()
            .is_some_and(|t| t.first_offset <= h.last_offset())
        {
            aborting.insert(aborted.pop().unwrap().producer_id);
        }
        if h.is_transactional() && aborting.contains(&h.producer_id) {
            continue;
        }
        out.extend(records_of(&[(h, b)]));
    }
    out
}

fn value(recs: &[Rec], k: &[u8]) -> Vec<Vec<u8>> {
    recs.iter()
        .filter(|r| r.key.as_deref() == Some(k))
        .map(|r| r.value.clone().unwrap_or_default())
        .collect()
}

#[test]
fn aborted_records_go_committed_stay_and_markers_go_after_their_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), txn_config());
    let a1 = append_raw(
        &log,
        producer_batch(1, 0, &[(Some(b"a"), Some(b"c1"), 10)], TXN),
    );
    append_raw(&log, marker(1, true, 11));
    // Producer 2's aborted transaction writes a and b, across a roll.
    let t2 = append_raw(
        &log,
        producer_batch(2, 0, &[(Some(b"a"), Some(b"x1"), 12)], TXN),
    );
    log.roll().unwrap();
    append(&log, &[(Some(b"p"), Some(b"plain"), 13)], Compression::None);
    append_raw(
        &log,
        producer_batch(2, 1, &[(Some(b"b"), Some(b"x2"), 14)], TXN),
    );
    let abort = append_raw(&log, marker(2, false, 15));
    append_raw(
        &log,
        producer_batch(1, 1, &[(Some(b"c"), Some(b"c2"), 16)], TXN),
    );
    append_raw(&log, marker(1, true, 17));
    // Producer 2 goes on: its last record is now this batch, not the aborted ones.
    append_raw(
        &log,
        producer_batch(2, 2, &[(Some(b"d"), Some(b"d"), 18)], DATA),
    );
    log.roll().unwrap();
    append(
        &log,
        &[(Some(b"z"), Some(b"active"), 19)],
        Compression::None,
    );
    assert_eq!(
        log.aborted_transactions(0, log.log_end_offset()),
        vec![AbortedTxn {
            producer_id: 2,
            first_offset: t2,
            last_offset: abort,
            last_stable_offset: abort + 1,
        }]
    );
    let committed = read_committed(&log);
    assert_eq!(value(&committed, b"a"), vec![b"c1".to_vec()]);

    // Pass 1: the aborted records go; a's committed value is not superseded by them.
    let stats = clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    assert_eq!(stats.records_removed, 2);
    let all = read_all(&log);
    assert_eq!(value(&all, b"a"), vec![b"c1".to_vec()]);
    assert!(value(&all, b"b").is_empty());
    assert_eq!(read_committed(&log), committed);
    let aborts = |log: &Log| -> Vec<i64> {
        batches(log)
            .into_iter()
            .filter(|(h, b)| h.is_control() && h.record_count > 0 && is_abort(h, b))
            .map(|(h, _)| h.base_offset)
            .collect()
    };
    // The marker stays, and its entry: the pass met data of the transaction.
    assert_eq!(aborts(&log), vec![abort]);
    assert_eq!(log.aborted_transactions(0, log.log_end_offset()).len(), 1);
    let marker_base = *log
        .segment_base_offsets()
        .iter()
        .rfind(|b| **b <= abort)
        .unwrap();
    let txnindex = log.segment_path(marker_base, FileKind::TxnIndex);
    assert_eq!(std::fs::read(&txnindex).unwrap().len(), 34);

    // Pass 2: no data of the transaction is left; the entry goes, the marker gets a delete
    // horizon. The COMMIT markers stay: their transactions' records are still there.
    clean_if_needed(&log, 0, 20_000).unwrap().unwrap();
    assert_eq!(log.aborted_transactions(0, log.log_end_offset()), vec![]);
    assert!(!txnindex.exists(), "no entry left, no file");
    let stored = batches(&log);
    let (h, _) = stored.iter().find(|(h, _)| h.base_offset == abort).unwrap();
    assert!(h.has_delete_horizon());
    assert_eq!(h.base_timestamp, 21_000);
    let commits: Vec<&BatchHeader> = stored
        .iter()
        .filter(|(h, b)| h.is_control() && !is_abort(h, b))
        .map(|(h, _)| h)
        .collect();
    assert_eq!(commits.len(), 2);
    assert!(commits.iter().all(|h| !h.has_delete_horizon()));
    assert_eq!(read_committed(&log), committed);

    // Before the horizon it stays; after it, it goes.
    clean_if_needed(&log, 0, 20_999).unwrap();
    assert_eq!(aborts(&log), vec![abort]);
    clean_if_needed(&log, 0, 21_000).unwrap().unwrap();
    assert_eq!(aborts(&log), Vec::<i64>::new());
    assert_eq!(read_committed(&log), committed);
    // Nothing left to do: nothing is rewritten.
    assert_eq!(
        clean_if_needed(&log, 0, 30_000)
            .unwrap()
            .map(|s| (s.records_removed, s.segments_cleaned)),
        Some((0, 0))
    );
    assert_eq!(read_all(&log).first().map(|r| r.offset), Some(a1));

    // A reopen reads the same, the cleaned indexes included.
    drop(log);
    let log = open_on(
        Arc::new(RealFs),
        dir.path(),
        txn_config(),
        LoadState {
            clean_shutdown: false,
            recovery_point: Some(0),
            log_start_offset: None,
        },
    );
    assert_eq!(read_committed(&log), committed);
    assert_eq!(log.aborted_transactions(0, log.log_end_offset()), vec![]);
}

#[test]
fn an_open_transaction_is_neither_cleaned_nor_superseding() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), txn_config());
    append_cycling(&log, 6, 2, 100);
    log.roll().unwrap();
    let open_at = append_raw(
        &log,
        producer_batch(3, 0, &[(Some(&key(0)), Some(b"in-txn"), 200)], TXN),
    );
    log.roll().unwrap();
    append_cycling(&log, 6, 2, 300);
    log.roll().unwrap();
    append_cycling(&log, 2, 2, 400);
    let before = read_all(&log);
    assert_eq!(log.last_stable_offset(log.log_end_offset()), open_at);

    let stats = clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    assert_eq!(
        stats.clean_offset, open_at,
        "cleaning stops at the transaction"
    );
    let after = read_all(&log);
    let unstable: Vec<&Rec> = before.iter().filter(|r| r.offset >= open_at).collect();
    assert_eq!(
        after
            .iter()
            .filter(|r| r.offset >= open_at)
            .collect::<Vec<_>>(),
        unstable,
        "from the open transaction on, nothing changes"
    );
    // Below it, the keys are compacted among themselves only.
    assert_eq!(after, compacted(&before, 0..open_at, open_at));

    // Once it commits, all of it is cleanable.
    append_raw(&log, marker(3, true, 500));
    log.roll().unwrap();
    let before = read_all(&log);
    let end = log.log_end_offset();
    let stats = clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    assert_eq!(stats.clean_offset, end);
    assert_eq!(read_all(&log), compacted(&before, 0..end, end));
}

#[test]
fn an_idempotent_producers_last_batch_stays_empty() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), txn_config());
    let first = producer_batch(9, 0, &[(Some(b"k"), Some(b"old"), 1_234)], DATA);
    let at = append_raw(&log, first.clone());
    let older = producer_batch(8, 0, &[(Some(b"j"), Some(b"old"), 1_000)], DATA);
    let older_at = append_raw(&log, older);
    append_raw(
        &log,
        producer_batch(8, 1, &[(Some(b"j"), Some(b"new"), 1_001)], DATA),
    );
    append(
        &log,
        &[(Some(b"k"), Some(b"new"), 1_300)],
        Compression::None,
    );
    log.roll().unwrap();
    append(&log, &[(Some(b"x"), Some(b"x"), 1_400)], Compression::None);

    let stats = clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    assert_eq!(stats.records_removed, 2);
    let stored = batches(&log);
    // Producer 9's only batch keeps its header, without records and timestamp.
    let (h, _) = stored.iter().find(|(h, _)| h.base_offset == at).unwrap();
    assert_eq!(
        (
            h.record_count,
            h.producer_id,
            h.base_sequence,
            h.last_offset_delta
        ),
        (0, 9, 0, 0)
    );
    assert_eq!((h.max_timestamp, h.base_timestamp), (-1, 1_234));
    // Producer 8's older batch goes: its last one holds its state.
    assert!(stored.iter().all(|(h, _)| h.base_offset != older_at));
    check_time_lookups(&log, &read_all(&log));

    // A load that replays the cleaned log from its start still knows producer 9.
    log.flush(0).unwrap();
    drop(log);
    for name in names(dir.path()) {
        if name.ends_with(".snapshot") {
            std::fs::remove_file(dir.path().join(name)).unwrap();
        }
    }
    let (log, report) = Log::open(
        Arc::new(RealFs),
        dir.path(),
        "t",
        0,
        txn_config(),
        LoadState {
            clean_shutdown: false,
            recovery_point: Some(0),
            log_start_offset: None,
        },
        0,
    )
    .unwrap();
    assert_eq!(report.producer_snapshot, None);
    let e = log.producer_entry(9).unwrap();
    assert_eq!((e.last_seq(), e.last_timestamp), (0, 1_234));
    let retry = first;
    let info = log
        .append(
            &retry,
            &AppendOptions {
                leader_epoch: 5,
                now_ms: 0,
            },
        )
        .unwrap();
    assert!(info.duplicate);
    assert_eq!(info.base_offset, at);
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// A log with transactions on a simulated disk: committed and aborted ones spread over
/// segments, distinct keys in committed data (so that what a `read_committed` consumer
/// sees is what any pass keeps), all durable.
fn sim_txn_log(fs: &SimFs, dir: &Path) -> Log {
    fs.create_dir_durable(dir.parent().unwrap()).unwrap();
    let log = open_on(
        Arc::new(fs.clone()),
        dir,
        txn_config(),
        LoadState::default(),
    );
    let mut seq = [0i32; 4];
    let mut n = 0;
    for round in 0..4i64 {
        for pid in 1..4i64 {
            let s = &mut seq[pid as usize];
            let k = format!("k{n}");
            n += 1;
            let v = format!("v{round}-{pid}");
            let recs = [(Some(k.as_bytes()), Some(v.as_bytes()), 100 * round + pid)];
            append_raw(&log, producer_batch(pid, *s, &recs, TXN));
            *s += 1;
        }
        if round % 2 == 1 {
            log.roll().unwrap();
        }
        for pid in 1..4i64 {
            // Producer 2 always aborts, 3 every other round.
            let commit = pid == 1 || (pid == 3 && round % 2 == 0);
            append_raw(&log, marker(pid, commit, 100 * round + 50));
        }
    }
    log.roll().unwrap();
    append(
        &log,
        &[(Some(b"z"), Some(b"active"), 999)],
        Compression::None,
    );
    log.flush(0).unwrap();
    log
}

fn sim_txn_reopen(fs: SimFs, dir: &Path) -> Log {
    open_on(Arc::new(fs), dir, txn_config(), LoadState::default())
}

#[test]
fn a_crash_at_any_step_of_a_pass_keeps_what_read_committed_consumers_see() {
    // Its own directory name: the cleaner allows one pass per directory at a time, and the
    // other crash test runs beside this one.
    let dir = PathBuf::from("/data/txn-0");
    let fs = SimFs::new();
    let log = sim_txn_log(&fs, &dir);
    let committed = read_committed(&log);
    assert!(log.aborted_transactions(0, log.log_end_offset()).len() >= 6);
    let ops_before = fs.ops();
    let stats = clean_if_needed(&log, 0, 10_000).unwrap().unwrap();
    assert!(stats.records_removed >= 6, "{stats:?}");
    let total_ops = fs.ops() - ops_before;
    let cleaned = read_all(&log);
    let cleaned_aborts = log.aborted_transactions(0, log.log_end_offset());
    drop(log);
    let log = sim_txn_reopen(fs.crash(), &dir);
    assert_eq!(read_all(&log), cleaned, "a finished pass is durable");
    assert_eq!(
        log.aborted_transactions(0, log.log_end_offset()),
        cleaned_aborts
    );

    let mut outcomes = BTreeSet::new();
    for torn in [None, Some(3u64)] {
        for n in 0..=total_ops {
            let fs = torn.map_or_else(SimFs::new, SimFs::torn);
            let log = sim_txn_log(&fs, &dir);
            fs.crash_after_ops(n);
            let finished = clean_if_needed(&log, 0, 10_000).is_ok();
            drop(log);
            let what = format!("crash after {n} of {total_ops} ops, torn {torn:?}");
            let log = sim_txn_reopen(fs.crash(), &dir);
            assert_eq!(read_committed(&log), committed, "{what}");
            outcomes.insert(read_all(&log).len());
            if finished {
                assert_eq!(read_all(&log), cleaned, "{what}");
            }
            clean_if_needed(&log, 0, 10_000).unwrap();
            assert_eq!(read_all(&log), cleaned, "{what}: after a new pass");
            assert_eq!(read_committed(&log), committed, "{what}: after a new pass");
        }
    }
    assert!(
        outcomes.len() > 2,
        "crashes left different logs: {outcomes:?}"
    );
}
