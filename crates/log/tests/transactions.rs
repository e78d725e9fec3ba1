//! Transactions through the log as `read_committed` consumers see them: the aborted
//! transaction index of each segment (`.txnindex`), `aborted_transactions` over any range,
//! the last stable offset and reads bounded by it, the index across clean and unclean
//! reopens (rebuilt equal to the original when missing, corrupt or unsynced), truncation
//! and retention, and on the simulated disk, indexes that match the log after power losses
//! at random points.
//!
//! Every expectation comes from a model that reads the log's batches the way Kafka's
//! producer state does (`expected_aborts`), not from the index itself.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use myelin_log::batch::{BatchIter, ATTR_CONTROL, ATTR_TRANSACTIONAL};
use myelin_log::files::{self, FileKind};
use myelin_log::io::{Fs, RealFs};
use myelin_log::record::{encode_record, records_of_batch, BatchBuilder, RecordIter};
use myelin_log::sim::SimFs;
use myelin_log::{
    AbortedTxn, AppendOptions, LoadReport, LoadState, Log, LogConfig, LogManager, ManagerConfig,
    CHECKPOINT_SNAPSHOT_MIN_BYTES,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TXN: i16 = ATTR_TRANSACTIONAL;

fn opts() -> AppendOptions {
    AppendOptions {
        leader_epoch: 0,
        now_ms: 1_000,
    }
}

/// A batch of `n` records from producer `pid` (epoch 0) at sequence `seq`.
fn batch(pid: i64, seq: i32, n: usize, attrs: i16) -> Vec<u8> {
    let mut raw = Vec::new();
    for i in 0..n {
        let v = format!("p{pid}-s{seq}-{i}");
        encode_record(&mut raw, 0, 0, i as i32, None, Some(v.as_bytes()), &[]);
    }
    BatchBuilder {
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: seq,
        attributes: attrs,
        last_offset_delta: n as i32 - 1,
        base_timestamp: 1_000,
        max_timestamp: 1_000,
        ..BatchBuilder::new()
    }
    .build(&raw, n as i32)
    .unwrap()
}

/// A COMMIT or ABORT marker of producer `pid`, epoch 0.
fn marker(pid: i64, commit: bool) -> Vec<u8> {
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
        producer_id: pid,
        producer_epoch: 0,
        attributes: ATTR_CONTROL | ATTR_TRANSACTIONAL,
        ..BatchBuilder::new()
    }
    .build(&raw, 1)
    .unwrap()
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 400,
        segment_index_bytes: 4096,
        index_interval_bytes: 128,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, state: LoadState) -> (Log, LoadReport) {
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    Log::open(fs, dir, "t", 0, config(), state, 0).unwrap()
}

fn clean() -> LoadState {
    LoadState {
        clean_shutdown: true,
        recovery_point: None,
        log_start_offset: None,
    }
}

fn unclean() -> LoadState {
    LoadState {
        clean_shutdown: false,
        recovery_point: Some(0),
        log_start_offset: None,
    }
}

fn append(log: &Log, b: Vec<u8>) -> i64 {
    log.append(&b, &opts()).unwrap().base_offset
}

/// Every batch of the log from its start: (header, bytes).
fn read_batches(log: &Log) -> Vec<(myelin_log::batch::BatchHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        let bytes = r
            .slice
            .expect("batches below the log end")
            .to_vec()
            .unwrap();
        for (_, h, b) in BatchIter::new(&bytes) {
            offset = h.last_offset() + 1;
            out.push((h, b.to_vec()));
        }
    }
    out
}

/// The aborted transactions of the log as Kafka's producer state finds them, batch by
/// batch: a producer's transaction opens at its first transactional batch; an ABORT
/// marker closing one gives an entry whose last stable offset is the first offset of the
/// earliest other open transaction, or the marker's offset + 1.
fn expected_aborts(log: &Log) -> Vec<AbortedTxn> {
    let mut open: BTreeMap<i64, i64> = BTreeMap::new(); // first offset -> producer
    let mut first_of: HashMap<i64, i64> = HashMap::new();
    let mut out = Vec::new();
    for (h, b) in read_batches(log) {
        if h.producer_id < 0 {
            continue;
        }
        if !h.is_control() {
            if h.is_transactional() && !first_of.contains_key(&h.producer_id) {
                first_of.insert(h.producer_id, h.base_offset);
                open.insert(h.base_offset, h.producer_id);
            }
            continue;
        }
        let (_, recs) = records_of_batch(&b, 1 << 20).unwrap();
        let Some(r) = RecordIter::new(&recs, h.record_count).next() else {
            continue;
        };
        let abort = r.unwrap().key.unwrap()[3] == 0;
        let Some(first) = first_of.remove(&h.producer_id) else {
            continue;
        };
        if abort {
            let lso = open
                .iter()
                .find(|(_, &p)| p != h.producer_id)
                .map_or(h.base_offset + 1, |(&f, _)| f);
            out.push(AbortedTxn {
                producer_id: h.producer_id,
                first_offset: first,
                last_offset: h.base_offset,
                last_stable_offset: lso,
            });
        }
        open.remove(&first);
    }
    out
}

/// Transactions over several segments: aborted ones spanning segments, one aborted
/// while another producer's is open, commits, an ABORT without data, idempotent and plain
/// batches in between. Returns the offset of each marker.
fn scenario(log: &Log) -> Vec<i64> {
    let mut markers = Vec::new();
    append(log, batch(1, 0, 3, TXN));
    append(log, batch(2, 0, 2, TXN));
    append(log, batch(-1, -1, 2, 0));
    append(log, batch(1, 3, 3, TXN));
    append(log, batch(6, 0, 1, 0)); // idempotent, not transactional
    append(log, batch(1, 6, 2, TXN));
    markers.push(append(log, marker(1, false))); // aborts across segments
    log.roll().unwrap();
    append(log, batch(3, 0, 1, TXN));
    markers.push(append(log, marker(2, true)));
    append(log, batch(4, 0, 2, TXN));
    markers.push(append(log, marker(3, false))); // while 4's is open
    markers.push(append(log, marker(5, false))); // no data: no entry
    log.roll().unwrap();
    append(log, batch(4, 2, 2, TXN));
    markers.push(append(log, marker(4, false)));
    append(log, batch(1, 8, 1, TXN));
    markers.push(append(log, marker(1, false))); // a second one of producer 1
    append(log, batch(2, 2, 1, TXN)); // left open
    markers
}

/// The `.txnindex` files of the log's directory that hold entries, by segment base: their
/// bytes (a truncation may leave an empty one).
fn txnindex_files(dir: &Path) -> BTreeMap<i64, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if let Some((base, FileKind::TxnIndex, "")) = files::parse_segment_file_name(&name) {
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            if !bytes.is_empty() {
                out.insert(base, bytes);
            }
        }
    }
    out
}

/// What the `.txnindex` files should hold: each entry with the segment of its marker.
fn expected_files(log: &Log, entries: &[AbortedTxn]) -> BTreeMap<i64, Vec<u8>> {
    let bases = log.segment_base_offsets();
    let mut out: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    for e in entries {
        let base = *bases.iter().rfind(|b| **b <= e.last_offset).unwrap();
        out.entry(base).or_default().extend_from_slice(&e.encode());
    }
    out
}

fn all_aborts(log: &Log) -> Vec<AbortedTxn> {
    log.aborted_transactions(log.log_start_offset(), log.log_end_offset())
}

#[test]
fn aborted_transactions_are_indexed_with_their_markers_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), clean());
    scenario(&log);
    assert!(log.segment_count() > 3, "{:?}", log.segment_base_offsets());
    let want = expected_aborts(&log);
    assert_eq!(want.len(), 4);
    assert!(
        want.iter()
            .any(|t| t.last_stable_offset <= t.first_offset + 2),
        "one was aborted while another producer's transaction was open: {want:?}"
    );
    assert_eq!(all_aborts(&log), want);
    // Kafka's bytes, in the segment of each marker, and no file elsewhere.
    log.flush(0).unwrap();
    assert_eq!(txnindex_files(dir.path()), expected_files(&log, &want));
    let first = &want[0];
    let base = *log
        .segment_base_offsets()
        .iter()
        .rfind(|b| **b <= first.last_offset)
        .unwrap();
    let bytes = &txnindex_files(dir.path())[&base][..34];
    let mut kafka = vec![0u8, 0];
    for v in [
        1i64,
        first.first_offset,
        first.last_offset,
        first.last_stable_offset,
    ] {
        kafka.extend_from_slice(&v.to_be_bytes());
    }
    assert_eq!(bytes, &kafka[..]);
}

#[test]
fn aborted_transactions_answer_every_range() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), clean());
    scenario(&log);
    let want = expected_aborts(&log);
    let end = log.log_end_offset();
    for start in 0..=end {
        for upper in start..=end + 1 {
            let overlapping: Vec<AbortedTxn> = want
                .iter()
                .filter(|t| t.last_offset >= start && t.first_offset < upper)
                .copied()
                .collect();
            assert_eq!(
                log.aborted_transactions(start, upper),
                overlapping,
                "[{start}, {upper})"
            );
        }
    }
}

#[test]
fn the_last_stable_offset_bounds_read_committed_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), clean());
    append(&log, batch(-1, -1, 2, 0));
    let first = append(&log, batch(1, 0, 2, TXN));
    let plain = append(&log, batch(-1, -1, 2, 0));
    let end = log.log_end_offset();
    assert_eq!(log.last_stable_offset(end), first);
    assert_eq!(
        log.last_stable_offset(1),
        1,
        "never above the high watermark"
    );
    // A read_committed fetch: only batches that start below the last stable offset.
    let lso = log.last_stable_offset(end);
    let r = log.read(0, 1 << 20, lso, true).unwrap();
    let bytes = r.slice.unwrap().to_vec().unwrap();
    let got: Vec<i64> = BatchIter::new(&bytes)
        .map(|(_, h, _)| h.base_offset)
        .collect();
    assert_eq!(got, vec![0]);
    assert!(log.read(first, 1 << 20, lso, true).unwrap().slice.is_none());
    assert_eq!(log.aborted_transactions(0, lso), vec![]);
    // Aborted: stable once the high watermark passes the marker.
    let abort = append(&log, marker(1, false));
    assert_eq!(
        log.last_stable_offset(abort),
        first,
        "decided, not yet stable"
    );
    assert_eq!(log.last_stable_offset(abort + 1), abort + 1);
    let lso = log.last_stable_offset(abort + 1);
    let r = log.read(first, 1 << 20, lso, true).unwrap();
    let bytes = r.slice.unwrap().to_vec().unwrap();
    let got: Vec<i64> = BatchIter::new(&bytes)
        .map(|(_, h, _)| h.base_offset)
        .collect();
    assert_eq!(got, vec![first, plain, abort]);
    assert_eq!(
        log.aborted_transactions(first, lso),
        vec![AbortedTxn {
            producer_id: 1,
            first_offset: first,
            last_offset: abort,
            last_stable_offset: abort + 1,
        }]
    );
    // A fetch past the marker is told nothing of it.
    assert_eq!(log.aborted_transactions(abort + 1, abort + 1), vec![]);
}

#[test]
fn reopening_clean_or_unclean_gives_the_same_index() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), clean());
    scenario(&log);
    let want = expected_aborts(&log);
    log.close(0).unwrap();
    let files_before = txnindex_files(dir.path());
    let bases = log.segment_base_offsets();
    drop(log);

    let (log, report) = open(dir.path(), clean());
    assert_eq!(
        (all_aborts(&log), report.txn_indexes_rebuilt),
        (want.clone(), 0)
    );
    drop(log);
    // Unclean: every segment scanned; the indexes already match.
    let (log, report) = open(dir.path(), unclean());
    assert_eq!(report.segments_recovered, bases.len());
    assert_eq!(
        (all_aborts(&log), report.txn_indexes_rebuilt),
        (want.clone(), 0)
    );
    assert_eq!(txnindex_files(dir.path()), files_before);
    drop(log);

    // Lost files are rebuilt from the log, equal to the originals.
    for base in files_before.keys() {
        std::fs::remove_file(files::segment_path(dir.path(), *base, FileKind::TxnIndex)).unwrap();
    }
    let (log, report) = open(dir.path(), unclean());
    assert_eq!(report.txn_indexes_rebuilt, files_before.len());
    assert_eq!(all_aborts(&log), want);
    assert_eq!(txnindex_files(dir.path()), files_before);
    log.close(0).unwrap();
    drop(log);

    // After a clean shutdown, a file of odd length, one with a wrong version and one with
    // an entry outside its segment are rebuilt; so is one whose producer snapshots are
    // gone (the replay then starts at the log start).
    let paths: Vec<PathBuf> = files_before
        .keys()
        .map(|b| files::segment_path(dir.path(), *b, FileKind::TxnIndex))
        .collect();
    assert!(paths.len() >= 3, "{paths:?}");
    let mut odd = std::fs::read(&paths[0]).unwrap();
    odd.push(0);
    std::fs::write(&paths[0], odd).unwrap();
    let mut version = std::fs::read(&paths[1]).unwrap();
    version[1] = 7;
    std::fs::write(&paths[1], version).unwrap();
    let mut outside = std::fs::read(&paths[2]).unwrap();
    outside[18..26].copy_from_slice(&i64::MAX.to_be_bytes());
    std::fs::write(&paths[2], outside).unwrap();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "snapshot") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let (log, report) = open(dir.path(), clean());
    assert_eq!(report.txn_indexes_rebuilt, 3);
    assert_eq!(all_aborts(&log), want);
    assert_eq!(txnindex_files(dir.path()), files_before);
    log.close(0).unwrap();
    drop(log);

    // As in Kafka, after a clean shutdown a missing file is a segment without aborted
    // transactions (segments written before the index existed have none): only a scan,
    // after a crash, brings it back.
    std::fs::remove_file(&paths[0]).unwrap();
    let (log, _) = open(dir.path(), clean());
    let lost = files_before.values().next().unwrap().len() / 34;
    assert_eq!(all_aborts(&log).len(), want.len() - lost);
    drop(log);
    let (log, _) = open(dir.path(), unclean());
    assert_eq!(all_aborts(&log), want);
}

/// A plain batch of one record of `len` bytes.
fn big_plain(len: usize) -> Vec<u8> {
    let mut raw = Vec::new();
    encode_record(&mut raw, 0, 0, 0, None, Some(&vec![0x33; len]), &[]);
    BatchBuilder {
        base_timestamp: 1_000,
        max_timestamp: 1_000,
        ..BatchBuilder::new()
    }
    .build(&raw, 1)
    .unwrap()
}

#[test]
fn a_crash_rebuilds_the_index_only_from_where_recovery_read_headers() {
    let cfg = LogConfig {
        segment_bytes: 1 << 30,
        segment_index_bytes: 1 << 20,
        ..config()
    };
    let open_at = |dir: &Path, rp: i64| {
        let state = LoadState {
            clean_shutdown: false,
            recovery_point: Some(rp),
            log_start_offset: None,
        };
        Log::open(Arc::new(RealFs), dir, "t", 0, cfg.clone(), state, 0).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open_at(dir.path(), 0);
    // Below the recovery point: two aborted transactions, one committed, one left open,
    // then over a MiB of plain batches and a checkpoint's producer snapshot.
    append(&log, batch(1, 0, 3, TXN));
    append(&log, batch(2, 0, 2, TXN));
    append(&log, marker(1, false));
    append(&log, batch(3, 0, 1, TXN));
    append(&log, marker(2, true));
    append(&log, batch(4, 0, 2, TXN));
    append(&log, marker(3, false));
    append(&log, batch(5, 0, 1, TXN)); // open across the recovery point
    append(&log, big_plain(600 << 10));
    append(&log, big_plain(600 << 10));
    log.flush(0).unwrap();
    log.snapshot_producers(CHECKPOINT_SNAPSHOT_MIN_BYTES);
    let snapshot = log.log_end_offset();
    append(&log, batch(-1, -1, 2, 0));
    log.flush(0).unwrap();
    let rp = log.log_end_offset();
    // Past it: producer 5's and 4's aborted, 1's second one.
    append(&log, marker(5, false));
    append(&log, batch(1, 3, 1, TXN));
    append(&log, marker(4, false));
    append(&log, marker(1, false));
    log.flush(0).unwrap();
    let want = expected_aborts(&log);
    assert_eq!(want.len(), 5, "{want:?}");
    assert_eq!(log.segment_base_offsets(), vec![0]);
    let files_before = txnindex_files(dir.path());
    let end = log.log_end_offset();
    drop(log); // a crash

    // The producer state replays from the snapshot, not from the segment's start: the
    // entries below where recovery began to read headers are the file's.
    let (log, report) = open_at(dir.path(), rp);
    assert!(report.bytes_skipped > 0, "{report:?}");
    assert_eq!(report.producer_snapshot, Some(snapshot));
    // The four with a producer id past it.
    assert_eq!(report.producer_batches_replayed, 4, "{report:?}");
    assert_eq!(
        (all_aborts(&log), report.txn_indexes_rebuilt),
        (want.clone(), 0)
    );
    assert_eq!(log.log_end_offset(), end);
    drop(log);

    // The entries past it lost (as unsynced writes are): rebuilt from the replay, those
    // below kept from the file.
    let path = files::segment_path(dir.path(), 0, FileKind::TxnIndex);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..2 * 34]).unwrap();
    let (log, report) = open_at(dir.path(), rp);
    assert_eq!(report.producer_snapshot, Some(snapshot));
    assert_eq!(
        (all_aborts(&log), report.txn_indexes_rebuilt),
        (want.clone(), 1)
    );
    assert_eq!(txnindex_files(dir.path()), files_before);
    drop(log);

    // A torn tail (part of an entry, zeros) past the kept ones: the same.
    let mut torn = bytes[..2 * 34].to_vec();
    torn.extend_from_slice(&[0u8; 34 + 10]);
    std::fs::write(&path, &torn).unwrap();
    let (log, report) = open_at(dir.path(), rp);
    assert_eq!(
        (all_aborts(&log), report.txn_indexes_rebuilt),
        (want.clone(), 1)
    );
    assert_eq!(txnindex_files(dir.path()), files_before);
}

#[test]
fn truncation_drops_the_entries_of_the_markers_it_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), clean());
    let markers = scenario(&log);
    let want = expected_aborts(&log);
    log.flush(0).unwrap();
    // Cut at the third aborting marker: the entries from there go, on disk too.
    let cut = want[2].last_offset;
    log.truncate_to(cut).unwrap();
    let kept: Vec<AbortedTxn> = want
        .iter()
        .filter(|t| t.last_offset < cut)
        .copied()
        .collect();
    assert_eq!(all_aborts(&log), kept);
    assert_eq!(expected_aborts(&log), kept);
    assert_eq!(txnindex_files(dir.path()), expected_files(&log, &kept));
    // Written again after the cut, the next abort is indexed where it now lands.
    append(&log, batch(7, 0, 2, TXN));
    append(&log, marker(7, false));
    let now = expected_aborts(&log);
    assert_eq!(now.len(), kept.len() + 1);
    assert_eq!(all_aborts(&log), now);
    log.flush(0).unwrap();
    assert_eq!(txnindex_files(dir.path()), expected_files(&log, &now));
    drop(log);
    let (log, report) = open(dir.path(), unclean());
    assert_eq!((all_aborts(&log), report.txn_indexes_rebuilt), (now, 0));
    assert!(markers.len() > 4);
}

#[test]
fn retention_takes_the_index_with_its_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), clean());
    scenario(&log);
    let want = expected_aborts(&log);
    log.flush(0).unwrap();
    let start = want[1].last_offset;
    let base = *log
        .segment_base_offsets()
        .iter()
        .rfind(|b| **b <= start)
        .unwrap();
    log.advance_log_start_offset(base).unwrap();
    assert!(log.apply_retention(0).unwrap().segments_deleted > 0);
    let left: Vec<AbortedTxn> = want
        .iter()
        .filter(|t| t.last_offset >= base)
        .copied()
        .collect();
    assert_eq!(all_aborts(&log), left);
    assert_eq!(txnindex_files(dir.path()), expected_files(&log, &left));
}

// ----- power loss ----------------------------------------------------------------------

const DATA: &str = "/data";

fn sim_open(sim: &SimFs, cfg: &LogConfig) -> Option<(LogManager, myelin_log::StartupReport)> {
    let mc = ManagerConfig {
        default_log: cfg.clone(),
        lock_data_dir: false,
        background_threads: false,
        recovery_threads: 1,
        ..ManagerConfig::new(DATA)
    };
    let per_log = cfg.clone();
    LogManager::open_on(Arc::new(sim.clone()), mc, &move |_| per_log.clone()).ok()
}

/// Checks the log's entries against the model, and each segment's `.txnindex`, volatile
/// and durable, against them.
fn verify_sim(sim: &SimFs, log: &Log, ctx: &str) -> usize {
    let want = expected_aborts(log);
    assert_eq!(all_aborts(log), want, "{ctx}");
    let mut by_base = expected_files(log, &want);
    for base in log.segment_base_offsets() {
        let path = files::segment_path(log.dir(), base, FileKind::TxnIndex);
        let expected = by_base.remove(&base).unwrap_or_default();
        match sim.read_file(&path) {
            Ok(bytes) => {
                assert_eq!(bytes, expected, "{ctx}: {}", path.display());
                assert_eq!(
                    sim.durable_content(&path).unwrap(),
                    expected,
                    "{ctx}: durable"
                );
            }
            Err(_) => assert!(expected.is_empty(), "{ctx}: {} missing", path.display()),
        }
    }
    want.len()
}

#[test]
fn indexes_match_the_log_after_power_losses() {
    let scale: u64 = std::env::var("POWER_LOSS_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (mut aborts, mut rebuilt) = (0, 0);
    for seed in 0..64 * scale {
        let (a, r) = power_loss_run(seed);
        aborts += a;
        rebuilt += r;
    }
    eprintln!("aborted transactions checked: {aborts}, indexes rebuilt at restarts: {rebuilt}");
    assert!(aborts > 0 && rebuilt > 0, "{aborts} {rebuilt}");
}

/// One seeded run: three transactional producers committing and aborting, a plain writer,
/// rolls and checkpoints, power lost at a random point of each cycle. Returns the aborted
/// transactions checked and the indexes rebuilt.
fn power_loss_run(seed: u64) -> (usize, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sim = if seed % 2 == 1 {
        SimFs::torn(seed)
    } else {
        SimFs::new()
    };
    sim.create_dir_durable(Path::new(DATA)).unwrap();
    let cfg = LogConfig {
        segment_bytes: rng.gen_range(400..1500),
        segment_index_bytes: 4096,
        index_interval_bytes: 128,
        ..LogConfig::default()
    };
    let (mgr, _) = sim_open(&sim, &cfg).unwrap();
    mgr.get_or_create("t", 0, cfg.clone()).unwrap();
    drop(mgr);
    let (mut checked, mut rebuilt) = (0, 0);
    for cycle in 0..5 {
        let ctx = format!("seed {seed} cycle {cycle}");
        let (mgr, report) = sim_open(&sim, &cfg).unwrap_or_else(|| panic!("{ctx}: restart failed"));
        rebuilt += report.txn_indexes_rebuilt;
        let log = mgr.get("t", 0).unwrap();
        checked += verify_sim(&sim, &log, &ctx);
        if !rng.gen_bool(0.2) {
            sim.crash_after_ops(rng.gen_range(5..400));
        }
        for _ in 0..rng.gen_range(20..100) {
            if sim.is_crashed() {
                break;
            }
            let b = match rng.gen_range(0..12) {
                0 => {
                    let _ = log.roll();
                    continue;
                }
                1 => {
                    // A checkpoint, with the producer snapshot it takes of a log written
                    // since its last one (here after any append).
                    log.snapshot_producers(1);
                    let _ = mgr.checkpoint();
                    continue;
                }
                2 => batch(-1, -1, rng.gen_range(1..4), 0),
                _ => {
                    // The producer's state as the log knows it: what it may write next.
                    let pid = rng.gen_range(1..4);
                    let e = log.producer_entry(pid);
                    let in_txn = e
                        .as_ref()
                        .is_some_and(|e| e.current_txn_first_offset.is_some());
                    let next_seq = e.map_or(0, |e| e.last_seq() + 1);
                    match rng.gen_range(0..4) {
                        0 | 1 => batch(pid, next_seq, rng.gen_range(1..4), TXN),
                        // An ABORT more often than a COMMIT; sometimes of nothing.
                        2 => marker(pid, false),
                        _ if in_txn => marker(pid, true),
                        _ => marker(pid, false),
                    }
                }
            };
            match mgr.append(&log, &b, &opts()) {
                Ok((_, wait)) => {
                    if let Some(w) = wait {
                        if w.wait().is_err() {
                            break;
                        }
                    }
                }
                Err(e) => {
                    assert!(
                        sim.is_crashed(),
                        "{ctx}: an append failed without a power loss: {e}"
                    );
                    break;
                }
            }
        }
        if !sim.is_crashed() && rng.gen_bool(0.3) {
            sim.crash_after_ops(rng.gen_range(0..40));
            let _ = mgr.shutdown();
        }
        drop(log);
        drop(mgr);
        sim = sim.crash();
    }
    // A last restart checks what the last cycle left.
    let (mgr, report) = sim_open(&sim, &cfg).unwrap();
    rebuilt += report.txn_indexes_rebuilt;
    checked += verify_sim(&sim, &mgr.get("t", 0).unwrap(), &format!("seed {seed} end"));
    (checked, rebuilt)
}
