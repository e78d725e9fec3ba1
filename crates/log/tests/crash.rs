//! Crash and damage tests on the real file system: a log of several segments is written and
//! closed once, then each case works on a fresh copy of those pristine files, damages them
//! as a crash or a bad disk would (torn tails, flipped bits, lost or garbage indexes, stray
//! files), reopens, and checks that the log holds exactly the valid prefix, that every read
//! and timestamp lookup answers right, and that appends continue.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use myelin_log::batch::{validate_batch, BatchIter};
use myelin_log::compression::Compression;
use myelin_log::files::{self, FileKind};
use myelin_log::io::{Fs, RealFs};
use myelin_log::record::{encode_record, records_of_batch, BatchBuilder, RecordIter};
use myelin_log::{AppendOptions, LoadReport, LoadState, Log, LogConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A temporary directory, in memory (`/dev/shm`) where there is one: these tests reopen
/// logs thousands of times, and every open after a crash syncs.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 64,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

fn opts() -> AppendOptions {
    AppendOptions {
        leader_epoch: 2,
        now_ms: 0,
    }
}

/// One record as written: offset, timestamp, value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    offset: i64,
    timestamp: i64,
    value: Vec<u8>,
}

/// One batch as written: where it is and what it holds.
#[derive(Debug, Clone)]
struct Batch {
    segment: i64,
    position: u64,
    len: u64,
    base_offset: i64,
    last_offset: i64,
}

/// The pristine log: its files, and what they hold.
struct Pristine {
    _dir: tempfile::TempDir,
    path: PathBuf,
    records: Vec<Rec>,
    batches: Vec<Batch>,
    segments: Vec<i64>,
}

impl Pristine {
    fn log_end_offset(&self) -> i64 {
        self.batches.last().map_or(0, |b| b.last_offset + 1)
    }

    /// A fresh copy of the pristine files in a new directory.
    fn copy(&self) -> (tempfile::TempDir, PathBuf) {
        let dir = scratch_dir();
        let path = dir.path().join("crash-0");
        std::fs::create_dir(&path).unwrap();
        for e in std::fs::read_dir(&self.path).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), path.join(e.file_name())).unwrap();
        }
        (dir, path)
    }

    /// The records of the first `n` batches.
    fn records_of_batches(&self, n: usize) -> Vec<Rec> {
        let end = if n == 0 {
            0
        } else {
            self.batches[n - 1].last_offset + 1
        };
        self.records
            .iter()
            .filter(|r| r.offset < end)
            .cloned()
            .collect()
    }
}

/// A batch of `n` records with timestamps that mostly rise but sometimes fall back, and
/// values of varied length.
fn make_batch(
    rng: &mut StdRng,
    n: usize,
    clock: &mut i64,
    codec: Compression,
) -> (Vec<u8>, Vec<(i64, Vec<u8>)>) {
    let mut raw = Vec::new();
    let mut recs = Vec::new();
    for i in 0..n {
        *clock += rng.gen_range(0..20);
        let ts = if rng.gen_bool(0.2) {
            *clock - rng.gen_range(0..200)
        } else {
            *clock
        };
        let len = rng.gen_range(0..40);
        let value: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        recs.push((ts, value));
        let _ = i;
    }
    let base_ts = recs[0].0;
    for (i, (ts, v)) in recs.iter().enumerate() {
        encode_record(
            &mut raw,
            0,
            ts - base_ts,
            i as i32,
            Some(b"k"),
            Some(v),
            &[],
        );
    }
    let b = BatchBuilder {
        compression: codec,
        last_offset_delta: n as i32 - 1,
        base_timestamp: base_ts,
        max_timestamp: recs.iter().map(|r| r.0).max().unwrap(),
        ..BatchBuilder::new()
    }
    .build(&raw, n as i32)
    .unwrap();
    (b, recs)
}

fn open(path: &Path, state: LoadState) -> (Log, LoadReport) {
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    Log::open(fs, path, "crash", 0, config(), state, 0).unwrap()
}

fn clean() -> LoadState {
    LoadState {
        clean_shutdown: true,
        recovery_point: None,
        log_start_offset: Some(0),
    }
}

fn unclean(recovery_point: i64) -> LoadState {
    LoadState {
        clean_shutdown: false,
        recovery_point: Some(recovery_point),
        log_start_offset: Some(0),
    }
}

/// Writes a log of `batches` batches over several segments and closes it.
fn pristine(batches: usize, seed: u64) -> Pristine {
    let dir = scratch_dir();
    let path = dir.path().join("crash-0");
    let mut rng = StdRng::seed_from_u64(seed);
    let (log, _) = open(&path, LoadState::default());
    let mut records = Vec::new();
    let mut clock = 1_000;
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Snappy,
    ];
    for i in 0..batches {
        let n = rng.gen_range(1..=4);
        let (b, recs) = make_batch(&mut rng, n, &mut clock, codecs[i % codecs.len()]);
        let info = log.append(&b, &opts()).unwrap();
        for (j, (ts, value)) in recs.into_iter().enumerate() {
            records.push(Rec {
                offset: info.base_offset + j as i64,
                timestamp: ts,
                value,
            });
        }
    }
    log.close(0).unwrap();
    let segments = log.segment_base_offsets();
    drop(log);
    let mut layout = Vec::new();
    for &seg in &segments {
        let bytes = std::fs::read(files::segment_path(&path, seg, FileKind::Log)).unwrap();
        let mut it = BatchIter::new(&bytes);
        for (pos, h, _) in it.by_ref() {
            layout.push(Batch {
                segment: seg,
                position: pos as u64,
                len: h.total_len() as u64,
                base_offset: h.base_offset,
                last_offset: h.last_offset(),
            });
        }
        assert_eq!(it.position(), bytes.len());
    }
    assert!(
        segments.len() >= 4,
        "want several segments, got {segments:?}"
    );
    for w in layout.windows(2) {
        assert_eq!(
            w[1].base_offset,
            w[0].last_offset + 1,
            "offsets are contiguous"
        );
    }
    Pristine {
        _dir: dir,
        path,
        records,
        batches: layout,
        segments,
    }
}

/// Every record the log returns from `from`, checking each batch on the way.
fn read_all(log: &Log, from: i64, max_bytes: u64) -> Vec<Rec> {
    let mut out: Vec<Rec> = Vec::new();
    let mut offset = from;
    loop {
        let r = log.read(offset, max_bytes, i64::MAX, true).unwrap();
        let Some(slice) = r.slice else { break };
        let bytes = slice.to_vec().unwrap();
        let mut it = BatchIter::new(&bytes);
        for (_, h, b) in it.by_ref() {
            validate_batch(b, usize::MAX).expect("a read returned a corrupt batch");
            let (_, recs) = records_of_batch(b, 1 << 24).unwrap();
            for rec in RecordIter::new(&recs, h.record_count) {
                let rec = rec.unwrap();
                let o = h.base_offset + i64::from(rec.offset_delta);
                if o < offset {
                    continue;
                }
                if let Some(prev) = out.last() {
                    assert!(o > prev.offset, "offsets go back: {} then {o}", prev.offset);
                }
                out.push(Rec {
                    offset: o,
                    timestamp: h.base_timestamp + rec.timestamp_delta,
                    value: rec.value.unwrap().to_vec(),
                });
            }
            offset = offset.max(h.last_offset() + 1);
        }
        assert_eq!(
            it.position(),
            bytes.len(),
            "a read returned a partial batch"
        );
    }
    out
}

/// The first record a one-batch read from `offset` returns at or after it.
fn read_first(log: &Log, offset: i64) -> Option<Rec> {
    let slice = log.read(offset, 1, i64::MAX, true).unwrap().slice?;
    let bytes = slice.to_vec().unwrap();
    let (_, h, b) = BatchIter::new(&bytes)
        .next()
        .expect("a read returned no whole batch");
    validate_batch(b, usize::MAX).expect("a read returned a corrupt batch");
    assert!(
        h.base_offset <= offset && offset <= h.last_offset(),
        "read({offset}) returned {h:?}"
    );
    let (_, recs) = records_of_batch(b, 1 << 24).unwrap();
    RecordIter::new(&recs, h.record_count)
        .map(|r| r.unwrap())
        .map(|r| Rec {
            offset: h.base_offset + i64::from(r.offset_delta),
            timestamp: h.base_timestamp + r.timestamp_delta,
            value: r.value.unwrap().to_vec(),
        })
        .find(|r| r.offset >= offset)
}

/// Checks that `log` holds exactly `want` (from offset 0), that every offset reads and
/// every timestamp lookup answers from it, and that appends continue after it.
fn verify(log: &Log, want: &[Rec], what: &str) {
    let leo = want.last().map_or(0, |r| r.offset + 1);
    assert_eq!(log.log_end_offset(), leo, "{what}: log end offset");
    assert_eq!(log.log_start_offset(), 0, "{what}: log start offset");
    assert_eq!(read_all(log, 0, 1 << 20), want, "{what}: records");
    for o in 0..leo {
        let got = read_first(log, o);
        assert_eq!(
            got.as_ref(),
            want.get(o as usize),
            "{what}: read from offset {o}"
        );
    }
    let mut probes: Vec<i64> = want
        .iter()
        .flat_map(|r| [r.timestamp - 1, r.timestamp, r.timestamp + 1])
        .collect();
    probes.extend([-1, 0, i64::MAX]);
    probes.sort_unstable();
    probes.dedup();
    for t in probes {
        let expect = want
            .iter()
            .find(|r| r.timestamp >= t)
            .map(|r| (r.offset, r.timestamp));
        assert_eq!(
            log.offset_for_timestamp(t).unwrap(),
            expect,
            "{what}: offset_for_timestamp({t})"
        );
    }
    let max = want.iter().map(|r| r.timestamp).max();
    let expect = max.and_then(|m| {
        want.iter()
            .find(|r| r.timestamp == m)
            .map(|r| (r.offset, r.timestamp))
    });
    assert_eq!(
        log.offset_of_max_timestamp().unwrap(),
        expect,
        "{what}: offset_of_max_timestamp"
    );
}

/// Appends one more batch and checks it lands at the log end offset and reads back.
fn append_continues(log: &Log, want: &[Rec], what: &str) {
    let leo = log.log_end_offset();
    let b = myelin_log::record::simple_batch(
        &[(Some(b"k"), Some(b"after"))],
        999_999,
        Compression::None,
    );
    let info = log.append(&b, &opts()).unwrap();
    assert_eq!(info.base_offset, leo, "{what}: append after recovery");
    let mut all = want.to_vec();
    all.push(Rec {
        offset: leo,
        timestamp: 999_999,
        value: b"after".to_vec(),
    });
    assert_eq!(
        read_all(log, 0, 1 << 20),
        all,
        "{what}: records after an append"
    );
}

fn last_log_path(p: &Pristine, path: &Path) -> PathBuf {
    files::segment_path(path, *p.segments.last().unwrap(), FileKind::Log)
}

/// (a) A torn write: the last segment cut at every byte within its last three batches.
#[test]
fn torn_tail_recovers_the_whole_batch_prefix_at_every_cut() {
    let p = pristine(60, 1);
    let last = *p.segments.last().unwrap();
    let in_last: Vec<usize> = (0..p.batches.len())
        .filter(|&i| p.batches[i].segment == last)
        .collect();
    let first = in_last[in_last.len().saturating_sub(3)];
    let from = p.batches[first].position;
    let end = p.batches.last().map(|b| b.position + b.len).unwrap();
    for (k, cut) in (from..=end).enumerate() {
        // Batches wholly below the cut survive.
        let whole = p
            .batches
            .iter()
            .take_while(|b| b.segment != last || b.position + b.len <= cut)
            .count();
        let want = p.records_of_batches(whole);
        let valid_end = p.batches[..whole]
            .last()
            .filter(|b| b.segment == last)
            .map_or(0, |b| b.position + b.len);
        // Alternate the ways of reopening: from the last segment, from the start, and as
        // if the shutdown had been clean (the index then disagrees with the log).
        let state = match k % 3 {
            0 => unclean(last),
            1 => unclean(0),
            _ => clean(),
        };
        let (_dir, path) = p.copy();
        let log_path = last_log_path(&p, &path);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&log_path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let what = format!("cut at {cut} ({state:?})");
        let (log, report) = open(&path, state);
        assert_eq!(
            report.bytes_truncated,
            cut - valid_end,
            "{what}: bytes truncated"
        );
        assert_eq!(
            std::fs::metadata(&log_path).unwrap().len(),
            valid_end,
            "{what}: file length"
        );
        verify(&log, &want, &what);
        append_continues(&log, &want, &what);
        // And the result survives a clean restart.
        log.close(0).unwrap();
        drop(log);
        let (log, report) = open(&path, clean());
        assert_eq!(
            report.segments_recovered, 0,
            "{what}: clean restart after recovery"
        );
        assert_eq!(
            log.log_end_offset(),
            want.last().map_or(0, |r| r.offset + 1) + 1
        );
    }
}

/// Positions within a batch outside the CRC that the log cannot check: the base offset
/// (bytes 0-7) and the partition leader epoch (12-15).
fn unchecked(pos_in_batch: u64) -> bool {
    pos_in_batch < 8 || (12..16).contains(&pos_in_batch)
}

/// (b) Random bit flips in one segment: the log keeps exactly the batches before the first
/// damaged one, and never returns a byte of a damaged batch.
#[test]
fn bit_flips_cut_the_log_at_the_first_damaged_batch() {
    let p = pristine(50, 2);
    let mut rng = StdRng::seed_from_u64(0xb17f11b);
    for trial in 0..150 {
        let seg_idx = if trial % 2 == 0 {
            p.segments.len() - 1
        } else {
            rng.gen_range(0..p.segments.len())
        };
        let seg = p.segments[seg_idx];
        let in_seg: Vec<&Batch> = p.batches.iter().filter(|b| b.segment == seg).collect();
        let seg_len = in_seg.last().map_or(0, |b| b.position + b.len);
        if seg_len == 0 {
            continue;
        }
        let (_dir, path) = p.copy();
        let log_path = files::segment_path(&path, seg, FileKind::Log);
        let mut bytes = std::fs::read(&log_path).unwrap();
        let flips = rng.gen_range(1..=3);
        let mut first_bad: Option<usize> = None;
        for _ in 0..flips {
            let (pos, batch) = loop {
                let pos = rng.gen_range(0..seg_len);
                let b = p
                    .batches
                    .iter()
                    .position(|b| b.segment == seg && b.position <= pos && pos < b.position + b.len)
                    .unwrap();
                if !unchecked(pos - p.batches[b].position) {
                    break (pos, b);
                }
            };
            bytes[pos as usize] ^= 1 << rng.gen_range(0..8);
            first_bad = Some(first_bad.map_or(batch, |f| f.min(batch)));
        }
        std::fs::write(&log_path, &bytes).unwrap();
        let first_bad = first_bad.unwrap();
        let want = p.records_of_batches(first_bad);
        // Recovery must read the damaged batch whole: a recovery point at 0, at the
        // segment's base, or at the damaged batch itself (the batches before it are then
        // walked by their headers only).
        let state = match trial % 3 {
            0 => unclean(0),
            1 => unclean(seg),
            _ => unclean(p.batches[first_bad].base_offset),
        };
        let what =
            format!("trial {trial}: {flips} flips in segment {seg}, first in batch {first_bad}");
        let (log, report) = open(&path, state);
        assert!(report.bytes_truncated > 0, "{what}: nothing cut");
        verify(&log, &want, &what);
        append_continues(&log, &want, &what);
    }
}

/// Below the recovery point, the segment holding it is skipped up to the last batch its
/// offset index names there, when that entry matches the log; an index that is missing,
/// whose last entry points elsewhere, or that breaks off early gives a longer walk. Every
/// way, the log reads back whole and appends continue.
#[test]
fn the_offset_index_lets_recovery_skip_what_it_covers() {
    let p = pristine(60, 8);
    let all = p.records.clone();
    let leo = p.log_end_offset();
    let last = *p.segments.last().unwrap();
    let index_of = |path: &Path| files::segment_path(path, last, FileKind::Index);
    let open_unclean = |path: &Path, what: &str| {
        let (log, report) = open(path, unclean(leo));
        verify(&log, &all, what);
        append_continues(&log, &all, what);
        assert_eq!(report.bytes_validated, 0, "{what}");
        assert_eq!(report.bytes_truncated, 0, "{what}");
        report.bytes_skipped
    };
    let (_dir, path) = p.copy();
    let entries = std::fs::read(index_of(&path)).unwrap();
    assert!(entries.len() >= 16, "the last segment's index has entries");
    let skipped = open_unclean(&path, "intact index");
    // The whole segment up to the end of the last batch its index names.
    let (rel, pos) = {
        let e = &entries[entries.len() - 8..];
        (
            i32::from_be_bytes(e[..4].try_into().unwrap()),
            u32::from_be_bytes(e[4..].try_into().unwrap()),
        )
    };
    let named = p
        .batches
        .iter()
        .find(|b| b.segment == last && b.position == u64::from(pos))
        .unwrap();
    assert_eq!(named.last_offset, last + i64::from(rel));
    assert_eq!(skipped, named.position + named.len, "intact index");

    let (_dir, path) = p.copy();
    std::fs::remove_file(index_of(&path)).unwrap();
    // (A zero-filled file's first entry, (0, 0), may name the first batch truly.)
    let first = p.batches.iter().find(|b| b.segment == last).unwrap();
    let none = open_unclean(&path, "no index");
    assert!(
        none == 0 || (none == first.len && first.last_offset == last),
        "no index: skipped {none}"
    );

    // The last entry one byte off: it names no batch, nothing is skipped.
    let (_dir, path) = p.copy();
    let mut bad = entries.clone();
    let n = bad.len();
    bad[n - 8..n - 4].copy_from_slice(&(rel - 1).to_be_bytes());
    std::fs::write(index_of(&path), &bad).unwrap();
    let shifted = open_unclean(&path, "last entry off by one");
    assert!(
        shifted < skipped,
        "last entry off by one: skipped {shifted} of {skipped}"
    );

    // An entry half way that goes back: the prefix before it is kept.
    let (_dir, path) = p.copy();
    let mut bad = entries.clone();
    let mid = (n / 8 / 2) * 8;
    bad[mid..mid + 4].copy_from_slice(&0i32.to_be_bytes());
    std::fs::write(index_of(&path), &bad).unwrap();
    let broken = open_unclean(&path, "an entry half way going back");
    assert!(
        broken < skipped,
        "an entry half way going back: skipped {broken} of {skipped}"
    );
}

/// Batches of every size below the recovery point: after a small one recovery reads on
/// sequentially, past a large one it reads the next header alone. Either way the indexes it
/// rebuilds answer every read and timestamp lookup, exactly the batches past the recovery
/// point are validated, and appends continue.
#[test]
fn recovery_walks_small_and_large_batches_alike() {
    let dir = scratch_dir();
    let path = dir.path().join("crash-0");
    let cfg = LogConfig {
        segment_bytes: 2 << 20,
        index_interval_bytes: 4096,
        segment_index_bytes: 1 << 16,
        ..LogConfig::default()
    };
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    let open_with = |path: &Path, state: LoadState| {
        Log::open(fs.clone(), path, "crash", 0, cfg.clone(), state, 0).unwrap()
    };
    let (log, _) = open_with(&path, LoadState::default());
    let mut rng = StdRng::seed_from_u64(0x5a11b16);
    let mut records = Vec::new();
    // (last offset, bytes) of each batch, in order.
    let mut batches: Vec<(i64, u64)> = Vec::new();
    for i in 0..150i64 {
        // Runs of small and large batches, and single ones of each between.
        let large = match i % 50 {
            0..=9 => false,
            10..=19 => true,
            _ => rng.gen_bool(0.3),
        };
        let len = if large {
            rng.gen_range(33_000..90_000)
        } else {
            rng.gen_range(1..3_000)
        };
        let value: Vec<u8> = (0..len).map(|j| (i as usize * 7 + j) as u8).collect();
        let b = myelin_log::record::simple_batch(
            &[(None, Some(&value[..]))],
            1_000 + i,
            Compression::None,
        );
        let info = log.append(&b, &opts()).unwrap();
        records.push(Rec {
            offset: info.base_offset,
            timestamp: 1_000 + i,
            value,
        });
        batches.push((info.base_offset, b.len() as u64));
    }
    log.close(0).unwrap();
    let segments = log.segment_base_offsets();
    drop(log);
    assert!(segments.len() >= 3, "want several segments: {segments:?}");
    let leo = records.len() as i64;
    for rp in (0..=leo).step_by(7).chain([leo - 1, leo]) {
        let copy = scratch_dir();
        let to = copy.path().join("crash-0");
        std::fs::create_dir(&to).unwrap();
        for e in std::fs::read_dir(&path).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
        let (log, report) = open_with(&to, unclean(rp));
        let past: u64 = batches
            .iter()
            .filter(|(last, _)| *last >= rp)
            .map(|(_, len)| len)
            .sum();
        let what = format!("recovery point {rp}");
        assert_eq!(report.bytes_validated, past, "{what}");
        assert_eq!(report.bytes_truncated, 0, "{what}");
        verify(&log, &records, &what);
        append_continues(&log, &records, &what);
    }
}

/// A batch header below the recovery point that the walk reads and that fails its checks
/// (a length past the file, a bad magic, a negative record count, offsets going back) ends
/// the header walk: the batch is then read whole, fails validation, and the log is cut
/// there, as a full scan would cut it. (The batches the offset index lets recovery skip are
/// trusted, as the segments before the one holding the recovery point are: the index is
/// removed here, so that the walk reads every header.)
#[test]
fn a_damaged_header_below_the_recovery_point_cuts_the_log_there() {
    let p = pristine(40, 7);
    let mut rng = StdRng::seed_from_u64(0x4eade5);
    for trial in 0..60 {
        // A batch past the first of its segment, so that the walk has trusted some.
        let bad = loop {
            let b = rng.gen_range(1..p.batches.len());
            if p.batches[b].segment == p.batches[b - 1].segment {
                break b;
            }
        };
        let batch = &p.batches[bad];
        let (_dir, path) = p.copy();
        let log_path = files::segment_path(&path, batch.segment, FileKind::Log);
        let mut bytes = std::fs::read(&log_path).unwrap();
        let at = batch.position as usize;
        let how = match trial % 4 {
            0 => {
                // batchLength: far past the end of the file.
                bytes[at + 8..at + 12].copy_from_slice(&i32::MAX.to_be_bytes());
                "length"
            }
            1 => {
                bytes[at + 16] = 1;
                "magic"
            }
            2 => {
                bytes[at + 57..at + 61].copy_from_slice(&(-5i32).to_be_bytes());
                "record count"
            }
            _ => {
                // A base offset below the batch before it.
                bytes[at..at + 8].copy_from_slice(&(batch.base_offset - 1).to_be_bytes());
                "base offset"
            }
        };
        std::fs::write(&log_path, &bytes).unwrap();
        let what = format!(
            "trial {trial}: {how} of batch {bad} at offset {}",
            batch.base_offset
        );
        // The recovery point at the segment's base (nothing walked) or at its last offset
        // (every batch of the segment but its last below it).
        let seg_last = p
            .batches
            .iter()
            .filter(|b| b.segment == batch.segment)
            .map(|b| b.last_offset)
            .max()
            .unwrap();
        let rp = if trial % 2 == 0 {
            batch.segment
        } else {
            seg_last
        };
        std::fs::remove_file(files::segment_path(&path, batch.segment, FileKind::Index)).unwrap();
        let (log, report) = open(&path, unclean(rp));
        assert!(report.bytes_truncated > 0, "{what}: nothing cut");
        let want = p.records_of_batches(bad);
        verify(&log, &want, &what);
        append_continues(&log, &want, &what);
    }
}

/// Flips anywhere, including the fields outside the CRC: whatever the log keeps is valid,
/// with offsets increasing, and it stays usable.
#[test]
fn bit_flips_anywhere_never_yield_invalid_batches() {
    let p = pristine(40, 3);
    let mut rng = StdRng::seed_from_u64(0xf1175);
    for trial in 0..100 {
        let (_dir, path) = p.copy();
        let log_path = last_log_path(&p, &path);
        let mut bytes = std::fs::read(&log_path).unwrap();
        for _ in 0..rng.gen_range(1..=4) {
            let pos = rng.gen_range(0..bytes.len());
            bytes[pos] ^= 1 << rng.gen_range(0..8);
        }
        std::fs::write(&log_path, &bytes).unwrap();
        let (log, _) = open(&path, unclean(*p.segments.last().unwrap()));
        let held = read_all(&log, 0, 1 << 20);
        // Everything before the damaged segment is intact.
        let before = p
            .records
            .iter()
            .filter(|r| r.offset < *p.segments.last().unwrap())
            .count();
        assert_eq!(held[..before], p.records[..before], "trial {trial}");
        assert!(log.log_end_offset() >= held.last().map_or(0, |r| r.offset + 1));
        let leo = log.log_end_offset();
        let b = myelin_log::record::simple_batch(&[(Some(b"k"), Some(b"x"))], 1, Compression::None);
        assert_eq!(
            log.append(&b, &opts()).unwrap().base_offset,
            leo,
            "trial {trial}"
        );
    }
}

/// How an index file is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    Delete,
    Garbage,
    Zeros,
    OddLength,
    Empty,
}

fn damage(path: &Path, how: Damage, rng: &mut StdRng) {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as usize;
    match how {
        Damage::Delete => std::fs::remove_file(path).unwrap(),
        Damage::Garbage => {
            let n = len.max(24) + rng.gen_range(0..13);
            let g: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            std::fs::write(path, g).unwrap();
        }
        Damage::Zeros => std::fs::write(path, vec![0u8; len.max(24)]).unwrap(),
        Damage::OddLength => {
            let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            let cut = if len > 13 {
                len - rng.gen_range(1..7)
            } else {
                len + 5
            };
            f.set_len(cut as u64).unwrap();
        }
        Damage::Empty => std::fs::write(path, []).unwrap(),
    }
}

/// (c) Lost, garbage or cut indexes, of the active segment, of a sealed one, or of all,
/// with a clean and an unclean reopen: every read and lookup still answers right.
#[test]
fn damaged_indexes_are_rebuilt_and_every_lookup_answers_right() {
    let p = pristine(60, 4);
    let mut rng = StdRng::seed_from_u64(0x1dec5);
    let all = p.records.clone();
    let kinds = [FileKind::Index, FileKind::TimeIndex];
    for how in [
        Damage::Delete,
        Damage::Garbage,
        Damage::Zeros,
        Damage::OddLength,
        Damage::Empty,
    ] {
        for which in ["active", "sealed", "all"] {
            for kind in [Some(FileKind::Index), Some(FileKind::TimeIndex), None] {
                for clean_reopen in [true, false] {
                    let (_dir, path) = p.copy();
                    let segs: Vec<i64> = match which {
                        "active" => vec![*p.segments.last().unwrap()],
                        "sealed" => vec![p.segments[1]],
                        _ => p.segments.clone(),
                    };
                    for seg in segs {
                        for k in kinds.iter().filter(|k| kind.is_none_or(|x| x == **k)) {
                            damage(&files::segment_path(&path, seg, *k), how, &mut rng);
                        }
                    }
                    let what = format!("{how:?} {which} {kind:?} clean={clean_reopen}");

                    let state = if clean_reopen {
                        clean()
                    } else {
                        unclean(p.log_end_offset())
                    };
                    let (log, _) = open(&path, state);
                    verify(&log, &all, &what);
                    append_continues(&log, &all, &what);
                    // After a clean restart the repaired indexes answer the same.
                    log.close(0).unwrap();
                    drop(log);
                    let (log, _) = open(&path, clean());
                    let mut with_append = all.clone();
                    with_append.push(Rec {
                        offset: p.log_end_offset(),
                        timestamp: 999_999,
                        value: b"after".to_vec(),
                    });
                    verify(&log, &with_append, &format!("{what}, restarted"));
                }
            }
        }
    }
}

fn names_in(path: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// (d) Stray files: `.cleaned` and `.deleted` leftovers and indexes without a log are
/// removed; a `.swap` (a finished compaction) replaces the segments it covers.
#[test]
fn stray_files_are_removed_and_swaps_completed_at_open() {
    let p = pristine(40, 5);
    let all = p.records.clone();
    for clean_reopen in [true, false] {
        let (_dir, path) = p.copy();
        let seg = p.segments[1];
        let junk = [
            files::with_suffix(
                &files::segment_path(&path, seg, FileKind::Log),
                files::CLEANED_SUFFIX,
            ),
            files::with_suffix(
                &files::segment_path(&path, seg, FileKind::Index),
                files::CLEANED_SUFFIX,
            ),
            files::with_suffix(
                &files::segment_path(&path, p.segments[0], FileKind::Log),
                files::DELETED_SUFFIX,
            ),
            files::with_suffix(
                &files::segment_path(&path, p.segments[0], FileKind::TimeIndex),
                files::DELETED_SUFFIX,
            ),
            files::segment_path(&path, 77_777, FileKind::Index),
            files::segment_path(&path, 77_777, FileKind::TimeIndex),
            files::segment_path(&path, 1, FileKind::Index),
        ];
        for j in &junk {
            std::fs::write(j, b"leftover bytes that are no index").unwrap();
        }
        let state = if clean_reopen {
            clean()
        } else {
            unclean(p.log_end_offset())
        };
        let (log, report) = open(&path, state);
        assert_eq!(
            report.stray_files_removed,
            junk.len(),
            "clean={clean_reopen}"
        );
        for j in &junk {
            assert!(!j.exists(), "{} survived the open", j.display());
        }
        assert_eq!(log.segment_base_offsets(), p.segments);
        verify(&log, &all, &format!("stray files, clean={clean_reopen}"));
        append_continues(&log, &all, "stray files");
    }

    // A swap of two segments merged into one (as the cleaner writes it, here with nothing
    // removed), with and without its indexes.
    for with_indexes in [false, true] {
        let (_dir, path) = p.copy();
        let (a, b) = (p.segments[1], p.segments[2]);
        let mut merged = std::fs::read(files::segment_path(&path, a, FileKind::Log)).unwrap();
        merged.extend(std::fs::read(files::segment_path(&path, b, FileKind::Log)).unwrap());
        let swap_log = files::with_suffix(
            &files::segment_path(&path, a, FileKind::Log),
            files::SWAP_SUFFIX,
        );
        std::fs::write(&swap_log, &merged).unwrap();
        if with_indexes {
            // The old segment's indexes describe the start of the merged log exactly.
            for k in [FileKind::Index, FileKind::TimeIndex] {
                std::fs::copy(
                    files::segment_path(&path, a, k),
                    files::with_suffix(&files::segment_path(&path, a, k), files::SWAP_SUFFIX),
                )
                .unwrap();
            }
        }
        let (log, report) = open(&path, unclean(0));
        assert_eq!(report.swaps_completed, 1);
        let mut want_segs = p.segments.clone();
        want_segs.retain(|s| *s != b);
        assert_eq!(log.segment_base_offsets(), want_segs);
        assert!(
            names_in(&path)
                .iter()
                .all(|n| !n.ends_with(files::SWAP_SUFFIX)),
            "swap files left: {:?}",
            names_in(&path)
        );
        verify(&log, &all, &format!("swap, indexes={with_indexes}"));
        append_continues(&log, &all, "swap");
    }

    // An index swap with no log swap is a leftover too.
    let (_dir, path) = p.copy();
    let orphan = files::with_suffix(
        &files::segment_path(&path, p.segments[1], FileKind::Index),
        files::SWAP_SUFFIX,
    );
    std::fs::write(&orphan, [0u8; 16]).unwrap();
    let (log, _) = open(&path, clean());
    assert!(
        !orphan.exists(),
        "an index .swap without its log survived the open"
    );
    verify(&log, &all, "orphan index swap");
}

/// (e) After a crash only the segments from the one holding the recovery point are
/// scanned, and of those only the batches at or past the recovery point are read whole and
/// validated: the indexes rebuilt from the headers of those below answer every lookup.
#[test]
fn recovery_reads_whole_only_what_lies_past_the_recovery_point() {
    let p = pristine(60, 6);
    let all = p.records.clone();
    let leo = p.log_end_offset();
    for rp in 0..=leo {
        let (_dir, path) = p.copy();
        let holding = p.segments.iter().rposition(|s| *s <= rp).unwrap();
        let (log, report) = open(&path, unclean(rp));
        assert_eq!(
            report.segments_recovered,
            p.segments.len() - holding,
            "recovery point {rp}"
        );
        let past: u64 = p
            .batches
            .iter()
            .filter(|b| b.last_offset >= rp)
            .map(|b| b.len)
            .sum();
        assert_eq!(report.bytes_validated, past, "recovery point {rp}");
        assert_eq!(report.bytes_truncated, 0);
        assert_eq!(log.recovery_point(), leo);
        if rp % 3 == 0 {
            verify(&log, &all, &format!("recovery point {rp}"));
        }
    }
    let (_dir, path) = p.copy();
    let (_, report) = open(
        &path,
        LoadState {
            clean_shutdown: false,
            recovery_point: None,
            log_start_offset: None,
        },
    );
    assert_eq!(
        report.segments_recovered,
        p.segments.len(),
        "no checkpoint: everything"
    );
    let (_dir, path) = p.copy();
    let (_, report) = open(&path, clean());
    assert_eq!(report.segments_recovered, 0, "clean shutdown: nothing");
}

/// A crash just after a roll created the next segment: an empty `.log` at the log end
/// offset beside preallocated, zero-filled indexes.
#[test]
fn crash_right_after_a_roll_keeps_the_log_and_appends_continue() {
    let p = pristine(30, 7);
    let all = p.records.clone();
    let leo = p.log_end_offset();
    for clean_reopen in [false, true] {
        let (_dir, path) = p.copy();
        std::fs::write(files::segment_path(&path, leo, FileKind::Log), []).unwrap();
        for k in [FileKind::Index, FileKind::TimeIndex] {
            std::fs::write(files::segment_path(&path, leo, k), vec![0u8; 4096]).unwrap();
        }
        let state = if clean_reopen { clean() } else { unclean(leo) };
        let what = format!("empty segment at {leo}, clean={clean_reopen}");
        let (log, _) = open(&path, state);
        verify(&log, &all, &what);
        append_continues(&log, &all, &what);
        log.close(0).unwrap();
        drop(log);
        let (log, _) = open(&path, unclean(0));
        assert_eq!(log.log_end_offset(), leo + 1, "{what}: after a restart");
    }
}

/// After a power loss, an index slot whose entry never reached the disk reads as zeros.
/// When the segment's first batch holds one record (so it ends at the base offset), a
/// zeroed first slot reads as an offset entry that is true (that batch, at position 0)
/// and as a time entry that is not (timestamp 0). Recovery must not keep it: the batches
/// it walks next add entries after it, which hide it from the check at the end of
/// recovery, and the next truncation back to that batch finds it last, fails its index
/// check and takes the log offline (a power-loss test found this).
#[test]
fn a_zeroed_time_index_slot_is_not_kept_by_recovery() {
    let dir = scratch_dir();
    let path = dir.path().join("crash-0");
    let open = |state| {
        let fs: Arc<dyn Fs> = Arc::new(RealFs);
        let cfg = LogConfig {
            index_interval_bytes: 300,
            ..config()
        };
        Log::open(fs, &path, "crash", 0, cfg, state, 0).unwrap().0
    };
    let batch = |ts: i64| {
        myelin_log::record::simple_batch(&[(None, Some(&[7u8; 100][..]))], ts, Compression::None)
    };
    let log = open(LoadState::default());
    // Indexed: the third batch only (300 bytes after the start).
    for ts in [5_000, 6_000, 7_000] {
        log.append(&batch(ts), &opts()).unwrap();
    }
    drop(log); // a power loss that kept the log but not the index entries
    for (kind, len) in [(FileKind::Index, 8), (FileKind::TimeIndex, 12)] {
        let index = files::segment_path(&path, 0, kind);
        let mut bytes = std::fs::read(&index).unwrap();
        assert!(
            bytes[..len].iter().any(|b| *b != 0),
            "{kind:?} has an entry"
        );
        bytes[..len].fill(0);
        std::fs::write(&index, bytes).unwrap();
    }
    // The recovery point past the first batch.
    let log = open(unclean(1));
    assert_eq!(log.log_end_offset(), 3);
    log.truncate_to(2).unwrap();
    assert!(!log.is_offline());
    assert_eq!(log.log_end_offset(), 2);
    log.truncate_to(1).unwrap();
    assert_eq!(log.log_end_offset(), 1);
}
