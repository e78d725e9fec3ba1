//! `Log::read` bounds against a reference computed from the batches themselves: whole
//! batches from the one holding the offset, at most `max_bytes` (at least one), none
//! starting at or past `max_offset`. Large reads jump over batches by the offset index
//! (`Segment::skip_indexed`), short ones walk headers: both must give the same slices,
//! whatever the index density.

use std::sync::Arc;

use myelin_log::compression::Compression;
use myelin_log::io::{Fs, RealFs};
use myelin_log::record::simple_batch;
use myelin_log::{AppendOptions, LoadState, Log, LogConfig};

/// (position, length, base offset, last offset) of every batch, in order.
type Layout = Vec<(u64, u64, i64, i64)>;

fn build(index_interval_bytes: u64) -> (tempfile::TempDir, Log, Layout) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        index_interval_bytes,
        flush_messages: i64::MAX,
        ..LogConfig::default()
    };
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    let log = Log::open(fs, dir.path(), "t", 0, cfg, LoadState::default(), 0)
        .unwrap()
        .0;
    let mut layout = Vec::new();
    let mut pos = 0u64;
    for i in 0..120usize {
        // 1 to 4 records of 10 to 400 bytes: batches of uneven sizes.
        let n = 1 + i % 4;
        let values: Vec<Vec<u8>> = (0..n)
            .map(|j| vec![j as u8; 10 + (i * 37 + j * 91) % 390])
            .collect();
        let kvs: Vec<_> = values.iter().map(|v| (None, Some(&v[..]))).collect();
        let b = simple_batch(&kvs, 1_000 + i as i64, Compression::None);
        let opts = AppendOptions {
            leader_epoch: 0,
            now_ms: 1_000 + i as i64,
        };
        let info = log.append(&b, &opts).unwrap();
        layout.push((pos, b.len() as u64, info.base_offset, info.last_offset));
        pos += b.len() as u64;
    }
    (dir, log, layout)
}

/// The slice (position, length) a read should return.
fn expected(layout: &Layout, offset: i64, max_bytes: u64, max_offset: i64) -> Option<(u64, u64)> {
    let first = layout.iter().position(|b| b.3 >= offset)?;
    let (start, len, base, _) = layout[first];
    if base >= max_offset {
        return None;
    }
    let mut total = len;
    for &(_, len, base, _) in &layout[first + 1..] {
        if base >= max_offset || total + len > max_bytes {
            break;
        }
        total += len;
    }
    Some((start, total))
}

#[test]
fn reads_take_exactly_the_whole_batches_within_the_bounds() {
    // 1: every batch indexed; 700: about every third; 1 MiB: none.
    for interval in [1u64, 700, 1 << 20] {
        let (_dir, log, layout) = build(interval);
        let leo = log.log_end_offset();
        let sizes = [1u64, 61, 300, 1_000, 2_500, 8_000, 20_000, 1 << 20];
        for offset in 0..leo {
            for &max_bytes in &sizes {
                for max_offset in [offset + 1, offset + 5, offset + 40, leo] {
                    let got = log
                        .read(offset, max_bytes, max_offset, true)
                        .unwrap()
                        .slice
                        .map(|s| (s.position, s.len));
                    assert_eq!(
                        got,
                        expected(&layout, offset, max_bytes, max_offset),
                        "interval {interval}, read({offset}, {max_bytes}, {max_offset})"
                    );
                }
            }
        }
    }
}
