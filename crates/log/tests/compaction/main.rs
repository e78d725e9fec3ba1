//! Log compaction: what a cleaning pass keeps and drops, when it runs ([`passes`]), the batch
//! formats it must preserve ([`formats`]), transactions and producer state
//! ([`transactions`]), and reopening and crash safety ([`recovery`], on the simulated disk
//! crashing at every step). The helpers below are shared.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use myelin_log::batch::{validate_batch, BatchHeader, BatchIter, ATTR_CONTROL, ATTR_TRANSACTIONAL};
use myelin_log::cleaner::{clean_if_needed, clean_with_options, CleanerOptions};
use myelin_log::compression::Compression;
use myelin_log::files::{self, FileKind};
use myelin_log::io::{Fs, RealFs};
use myelin_log::record::{encode_record, records_of_batch, BatchBuilder, RecordIter};
use myelin_log::sim::SimFs;
use myelin_log::{
    AppendOptions, CleanupPolicy, LoadState, Log, LogConfig, LogManager, ManagerConfig,
};

mod formats;
mod passes;
mod recovery;
mod transactions;

/// A record as read back, with its absolute timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: i64,
}

/// A record to append: key, value, timestamp.
type In<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, i64);

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        segment_index_bytes: 4096,
        cleanup_policy: CleanupPolicy::COMPACT,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn open_on(fs: Arc<dyn Fs>, dir: &Path, cfg: LogConfig, state: LoadState) -> Log {
    Log::open(fs, dir, "t", 0, cfg, state, 0).unwrap().0
}

fn open(dir: &Path, cfg: LogConfig) -> Log {
    open_on(Arc::new(RealFs), dir, cfg, LoadState::default())
}

/// A batch of `records` with timestamp deltas from the first record's.
fn batch_of(records: &[In<'_>], codec: Compression) -> Vec<u8> {
    let base_ts = records[0].2;
    let mut raw = Vec::new();
    for (i, (k, v, ts)) in records.iter().enumerate() {
        encode_record(&mut raw, 0, ts - base_ts, i as i32, *k, *v, &[]);
    }
    let n = records.len() as i32;
    BatchBuilder {
        compression: codec,
        last_offset_delta: n - 1,
        base_timestamp: base_ts,
        max_timestamp: records.iter().map(|r| r.2).max().unwrap(),
        ..BatchBuilder::new()
    }
    .build(&raw, n)
    .unwrap()
}

fn append(log: &Log, records: &[In<'_>], codec: Compression) -> i64 {
    let b = batch_of(records, codec);
    let opts = AppendOptions {
        leader_epoch: 5,
        now_ms: records[0].2,
    };
    log.append(&b, &opts).unwrap().base_offset
}

fn append_raw(log: &Log, b: Vec<u8>) -> i64 {
    let opts = AppendOptions {
        leader_epoch: 5,
        now_ms: 0,
    };
    log.append(&b, &opts).unwrap().base_offset
}

/// Every stored batch from the log start, each validated.
fn batches(log: &Log) -> Vec<(BatchHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        let Some(slice) = r.slice else { break };
        let bytes = slice.to_vec().unwrap();
        let mut it = BatchIter::new(&bytes);
        for (_, h, b) in it.by_ref() {
            assert_eq!(validate_batch(b, usize::MAX).unwrap(), h);
            assert!(h.base_offset >= offset, "batches go forward");
            offset = h.last_offset() + 1;
            out.push((h, b.to_vec()));
        }
        assert_eq!(it.position(), bytes.len(), "a read returns whole batches");
    }
    out
}

fn records_of(batches: &[(BatchHeader, Vec<u8>)]) -> Vec<Rec> {
    let mut out = Vec::new();
    for (h, b) in batches {
        let (_, section) = records_of_batch(b, 1 << 24).unwrap();
        for r in RecordIter::new(&section, h.record_count) {
            let r = r.unwrap();
            out.push(Rec {
                offset: h.base_offset + i64::from(r.offset_delta),
                key: r.key.map(<[u8]>::to_vec),
                value: r.value.map(<[u8]>::to_vec),
                timestamp: h.base_timestamp + r.timestamp_delta,
            });
        }
    }
    out
}

fn read_all(log: &Log) -> Vec<Rec> {
    records_of(&batches(log))
}

/// What a pass keeps: a record below `rewrite_end` goes when a record with its key at a
/// higher offset lies in `mapped`.
fn compacted(recs: &[Rec], mapped: Range<i64>, rewrite_end: i64) -> Vec<Rec> {
    let mut latest: HashMap<&[u8], i64> = HashMap::new();
    for r in recs.iter().filter(|r| mapped.contains(&r.offset)) {
        if let Some(k) = &r.key {
            latest.insert(k, r.offset);
        }
    }
    recs.iter()
        .filter(|r| {
            let newer = r
                .key
                .as_deref()
                .and_then(|k| latest.get(k))
                .is_some_and(|&l| l > r.offset);
            r.offset >= rewrite_end || !newer
        })
        .cloned()
        .collect()
}

/// Timestamp lookups answer from the records the log holds (`recs`), not from records
/// compaction removed.
fn check_time_lookups(log: &Log, recs: &[Rec]) {
    let mut ts: Vec<i64> = recs
        .iter()
        .flat_map(|r| [r.timestamp - 1, r.timestamp, r.timestamp + 1])
        .collect();
    ts.sort_unstable();
    ts.dedup();
    for t in ts {
        let want = recs
            .iter()
            .find(|r| r.timestamp >= t)
            .map(|r| (r.offset, r.timestamp));
        assert_eq!(
            log.offset_for_timestamp(t).unwrap(),
            want,
            "offset_for_timestamp({t})"
        );
    }
    let max = recs.iter().map(|r| r.timestamp).max();
    let want = recs.iter().find(|r| Some(r.timestamp) == max);
    assert_eq!(
        log.offset_of_max_timestamp().unwrap(),
        want.map(|r| (r.offset, r.timestamp))
    );
}

fn active_base(log: &Log) -> i64 {
    *log.segment_base_offsets().last().unwrap()
}

fn key(i: usize) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

/// `n` single-record batches, keys cycling through `keys` keys, timestamps from `ts`.
fn append_cycling(log: &Log, n: usize, keys: usize, ts: i64) {
    for i in 0..n {
        let (k, v) = (key(i % keys), format!("value-{i}-{ts}"));
        append(
            log,
            &[(Some(&k), Some(v.as_bytes()), ts + i as i64)],
            Compression::None,
        );
    }
}
