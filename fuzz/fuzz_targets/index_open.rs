//! Garbage in a valid log's index files: `.index`, `.timeindex` and `.txnindex` of one of
//! its segments are replaced by (or XORed with) the input, and the log is opened as after a
//! crash or a clean shutdown. Indexes are derived data: whatever they hold, the open must
//! rebuild them or refuse them, never panic, and never lose or invent a batch of the
//! (intact) `.log` files.
//!
//! Input: a flags byte (bits 0-1: which segment; bits 2-4: replace the offset, time, txn
//! index; bit 5: open as after a clean shutdown; bit 6: XOR the bytes onto the valid index
//! instead of replacing it), then for each chosen index a 2-byte length and its bytes.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use myelin_log::batch::{BatchIter, ATTR_CONTROL, ATTR_TRANSACTIONAL};
use myelin_log::compression::Compression;
use myelin_log::files::FileKind;
use myelin_log::io::{Fs, RealFs};
use myelin_log::record::{encode_record, simple_batch, BatchBuilder};
use myelin_log::{AbortedTxn, AppendOptions, AppendOrigin, LoadState, Log, LogConfig};

fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("a temporary directory")
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 1,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

fn opts(now_ms: i64) -> AppendOptions {
    AppendOptions {
        leader_epoch: 0,
        now_ms,
    }
}

fn txn_batch(pid: i64, sequence: i32, timestamp: i64) -> Vec<u8> {
    let mut raw = Vec::new();
    for i in 0..2 {
        encode_record(&mut raw, 0, 0, i, Some(b"k"), Some(b"txn"), &[]);
    }
    BatchBuilder {
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: sequence,
        attributes: ATTR_TRANSACTIONAL,
        last_offset_delta: 1,
        base_timestamp: timestamp,
        max_timestamp: timestamp,
        ..BatchBuilder::new()
    }
    .build(&raw, 2)
    .unwrap()
}

fn marker(pid: i64, commit: bool, timestamp: i64) -> Vec<u8> {
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
        base_timestamp: timestamp,
        max_timestamp: timestamp,
        ..BatchBuilder::new()
    }
    .build(&raw, 1)
    .unwrap()
}

/// The valid log every input starts from: its files, its batches by base offset, its
/// segments' base offsets and its aborted transactions.
struct Seed {
    files: Vec<(String, Vec<u8>)>,
    batches: BTreeMap<i64, Vec<u8>>,
    segments: Vec<i64>,
    end: i64,
}

fn seed() -> &'static Seed {
    static SEED: OnceLock<Seed> = OnceLock::new();
    SEED.get_or_init(|| {
        let dir = scratch_dir();
        let path = dir.path().join("fuzz-0");
        let fs: Arc<dyn Fs> = Arc::new(RealFs);
        let state = LoadState {
            clean_shutdown: true,
            recovery_point: Some(0),
            log_start_offset: Some(0),
        };
        let (log, _) = Log::open(fs, &path, "fuzz", 0, config(), state, 0).unwrap();
        let mut t = 1_700_000_000_000i64;
        let mut seq = [0i32; 3];
        for round in 0..6i64 {
            t += 10;
            let b = simple_batch(
                &[(Some(b"key"), Some(b"value")), (None, Some(b"v2"))],
                t,
                Compression::None,
            );
            log.append(&b, &opts(t)).unwrap();
            let pid = 1 + round % 2;
            let b = txn_batch(pid, seq[pid as usize], t + 1);
            seq[pid as usize] += 2;
            log.append(&b, &opts(t)).unwrap();
            let m = marker(pid, round % 3 == 0, t + 2);
            log.append_with_origin(&m, &opts(t), AppendOrigin::Coordinator)
                .unwrap();
        }
        let end = log.log_end_offset();
        let segments = log.segment_base_offsets();
        assert!(segments.len() >= 3, "{segments:?}");
        assert!(!log.aborted_transactions(0, end).is_empty());
        let batches = read_all(&log);
        log.close(t).unwrap();
        drop(log);
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let name = entry.file_name().into_string().unwrap();
                files.push((name, std::fs::read(entry.path()).unwrap()));
            }
        }
        Seed {
            files,
            batches,
            segments,
            end,
        }
    })
}

/// Every batch of the log, by base offset, read from the start one batch at a time.
fn read_all(log: &Log) -> BTreeMap<i64, Vec<u8>> {
    let mut out = BTreeMap::new();
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    while offset < end {
        let r = log.read(offset, 1, i64::MAX, true).expect("read");
        let bytes = r.slice.expect("a batch below the end").to_vec().unwrap();
        let mut next = offset;
        for (_, h, b) in BatchIter::new(&bytes) {
            out.insert(h.base_offset, b.to_vec());
            next = h.last_offset() + 1;
        }
        assert!(next > offset, "no progress at {offset}");
        offset = next;
    }
    out
}

fn index_name(base: i64, kind: FileKind) -> String {
    format!("{base:020}{}", kind.extension())
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let seed = seed();
    let base = seed.segments[usize::from(flags & 3) % seed.segments.len()];
    let clean_shutdown = flags & 0x20 != 0;
    let xor = flags & 0x40 != 0;
    let mut files: BTreeMap<String, Vec<u8>> = seed.files.iter().cloned().collect();
    for (bit, kind) in [
        (0x04, FileKind::Index),
        (0x08, FileKind::TimeIndex),
        (0x10, FileKind::TxnIndex),
    ] {
        if flags & bit == 0 {
            continue;
        }
        let len = match rest {
            [a, b, tail @ ..] => {
                rest = tail;
                usize::from(u16::from_be_bytes([*a, *b])).min(rest.len())
            }
            _ => rest.len(),
        };
        let (bytes, tail) = rest.split_at(len);
        rest = tail;
        let file = files.entry(index_name(base, kind)).or_default();
        if xor {
            for (i, b) in bytes.iter().enumerate() {
                if let Some(f) = file.get_mut(i) {
                    *f ^= b;
                } else {
                    file.push(*b);
                }
            }
        } else {
            *file = bytes.to_vec();
        }
    }
    let dir = scratch_dir();
    let path: PathBuf = dir.path().join("fuzz-0");
    std::fs::create_dir(&path).unwrap();
    for (name, bytes) in &files {
        std::fs::write(path.join(name), bytes).unwrap();
    }
    let state = LoadState {
        clean_shutdown,
        recovery_point: Some(if clean_shutdown { seed.end } else { 0 }),
        log_start_offset: Some(0),
    };
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    // The `.log` files are intact: a bad index is rebuilt, never a reason to refuse the log.
    let (log, _) =
        Log::open(fs, &path, "fuzz", 0, config(), state, 0).expect("a log with bad indexes opens");
    assert_eq!(log.log_end_offset(), seed.end, "the log end offset moved");
    // Every offset reads the batch that holds it, through the (rebuilt or trusted) index.
    for (&base_offset, batch) in &seed.batches {
        let r = log.read(base_offset, 1, i64::MAX, true).expect("read");
        let bytes = r.slice.expect("a batch").to_vec().unwrap();
        let first = BatchIter::new(&bytes).next().map(|(_, _, b)| b.to_vec());
        assert_eq!(
            first.as_deref(),
            Some(&batch[..]),
            "offset {base_offset} read another batch"
        );
    }
    for t in [
        i64::MIN,
        -1,
        0,
        1_700_000_000_000,
        1_700_000_000_031,
        1_700_000_000_055,
        i64::MAX,
    ] {
        let _ = log.offset_for_timestamp(t);
    }
    let _ = log.offset_of_max_timestamp();
    let aborted: Vec<AbortedTxn> = log.aborted_transactions(0, seed.end);
    let _ = log.first_unstable_offset(seed.end);
    let _ = log.last_stable_offset(seed.end);
    drop(aborted);
    let b = simple_batch(&[(None, Some(b"x"))], 0, Compression::None);
    let info = log.append(&b, &opts(0)).expect("append after open");
    assert_eq!(info.base_offset, seed.end);
});
