//! Arbitrary bytes as a segment on disk: `00000000000000000000.log`, optionally with a
//! `.index` (the first byte chooses; the next two give the index length). The log is opened
//! as after a crash (or, with flag bit 1, as after a clean shutdown) and read from start to
//! end: nothing may panic, an append must land at the log end offset, and after a crash
//! every batch read back must be valid, with offsets increasing. (A clean shutdown
//! trusts the files, as Kafka does: bytes damaged while the broker was down are served as
//! they are and the client's CRC check catches them.)
#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use myelin_log::batch::{validate_batch, BatchIter};
use myelin_log::compression::Compression;
use myelin_log::files::{segment_path, FileKind};
use myelin_log::io::{Fs, RealFs};
use myelin_log::record::simple_batch;
use myelin_log::{AppendOptions, LoadState, Log, LogConfig, LogError};

fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("a temporary directory")
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let (flags, rest) = (data[0], &data[3..]);
    let index_len = usize::from(u16::from_be_bytes([data[1], data[2]])).min(rest.len());
    let (index, log_bytes) = if flags & 1 == 1 {
        rest.split_at(index_len)
    } else {
        (&[][..], rest)
    };
    let dir = scratch_dir();
    let path = dir.path().join("fuzz-0");
    std::fs::create_dir(&path).unwrap();
    std::fs::write(segment_path(&path, 0, FileKind::Log), log_bytes).unwrap();
    if flags & 1 == 1 {
        std::fs::write(segment_path(&path, 0, FileKind::Index), index).unwrap();
    }
    let config = LogConfig {
        segment_bytes: 1 << 16,
        index_interval_bytes: 64,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    };
    let clean_shutdown = flags & 2 == 2;
    let state = LoadState {
        // Bit 1 tries a "clean" open of the damaged files too.
        clean_shutdown,
        recovery_point: Some(0),
        log_start_offset: Some(0),
    };
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    let (log, _) = Log::open(fs, &path, "fuzz", 0, config, state, 0).expect("open recovers");
    let end = log.log_end_offset();
    let mut offset = log.log_start_offset();
    let mut last: Option<i64> = None;
    // A clean open trusts damaged offsets too: read on strictly forward, a bounded number
    // of times.
    let mut reads = 0;
    while offset < end && reads < 10_000 {
        reads += 1;
        let Some(slice) = log
            .read(offset, 1 << 20, i64::MAX, true)
            .expect("read")
            .slice
        else {
            break;
        };
        let bytes = slice.to_vec().unwrap();
        let mut it = BatchIter::new(&bytes);
        for (_, h, b) in it.by_ref() {
            if !clean_shutdown {
                validate_batch(b, usize::MAX).expect("a read returned an invalid batch");
                assert!(last.is_none_or(|l| h.base_offset > l), "offsets go back");
            }
            last = Some(h.last_offset());
            offset = (offset + 1).max(h.last_offset().saturating_add(1));
        }
        assert_eq!(
            it.position(),
            bytes.len(),
            "a read returned a partial batch"
        );
    }
    // Lookups decode records, which no CRC vouches for: a malformed records section is an
    // error, never a panic or an I/O failure.
    for lookup in [log.offset_for_timestamp(0), log.offset_of_max_timestamp()] {
        match lookup {
            Ok(_) | Err(LogError::InvalidBatch(_)) | Err(LogError::Codec(_)) => {}
            Err(e) => panic!("timestamp lookup failed: {e}"),
        }
    }
    let mut b = simple_batch(&[(None, Some(b"x"))], 0, Compression::None);
    let opts = AppendOptions {
        leader_epoch: 0,
        now_ms: 0,
    };
    let info = log.append(&mut b, &opts).expect("append after recovery");
    assert_eq!(info.base_offset, end);
});
