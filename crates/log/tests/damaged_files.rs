//! Files damaged while the broker was down, that recovery must not trust: a `.swap` file
//! that is not a whole compacted segment (garbage, torn, or empty) must not replace the
//! segments it would cover.

use std::sync::Arc;

use myelin_log::compression::Compression;
use myelin_log::files::{self, FileKind};
use myelin_log::io::{Fs, RealFs};
use myelin_log::record::simple_batch;
use myelin_log::{AppendOptions, LoadState, Log, LogConfig};

fn open(dir: &std::path::Path) -> Log {
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    let state = LoadState {
        clean_shutdown: false,
        recovery_point: None,
        log_start_offset: None,
    };
    let cfg = LogConfig {
        segment_bytes: 1024,
        ..LogConfig::default()
    };
    Log::open(fs, dir, "t", 0, cfg, state, 0).unwrap().0
}

fn count_records(log: &Log) -> i64 {
    let mut offset = log.log_start_offset();
    let mut n = 0;
    loop {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        let Some(slice) = r.slice else { break };
        let bytes = slice.to_vec().unwrap();
        for (_, h, _) in myelin_log::batch::BatchIter::new(&bytes) {
            assert_eq!(h.base_offset, offset, "contiguous offsets");
            n += i64::from(h.record_count);
            offset = h.last_offset() + 1;
        }
    }
    n
}

#[test]
fn a_swap_file_that_is_not_a_whole_segment_is_removed_not_swapped_in() {
    let a_batch = simple_batch(&[(Some(b"k"), Some(b"v"))], 1, Compression::None);
    let torn = a_batch[..a_batch.len() - 3].to_vec();
    let mut flipped = a_batch.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x10;
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    for (what, content) in [
        ("garbage", garbage),
        ("torn", torn),
        ("bad crc", flipped),
        ("empty", Vec::new()),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t-0");
        let log = open(&path);
        for i in 0..60 {
            let b = simple_batch(
                &[(Some(b"k"), Some(format!("v{i}").as_bytes()))],
                i,
                Compression::None,
            );
            let opts = AppendOptions {
                leader_epoch: 0,
                now_ms: 1,
            };
            log.append(&b, &opts).unwrap();
        }
        log.flush(1).unwrap();
        let bases = log.segment_base_offsets();
        assert!(bases.len() > 2);
        drop(log);
        // A stray swap over the first two segments, with index swaps beside it.
        for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
            let p = files::with_suffix(
                &files::segment_path(&path, bases[0], kind),
                files::SWAP_SUFFIX,
            );
            std::fs::write(&p, &content).unwrap();
        }
        let log = open(&path);
        assert_eq!(
            count_records(&log),
            60,
            "{what}: every record is still there"
        );
        assert_eq!(log.segment_base_offsets(), bases, "{what}");
        let left: Vec<String> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(files::SWAP_SUFFIX))
            .collect();
        assert!(left.is_empty(), "{what}: swap files left: {left:?}");
    }
}
