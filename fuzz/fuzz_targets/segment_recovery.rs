//! Arbitrary bytes as a segment on disk: `00000000000000000000.log`, optionally with a
//! `.index` (the first byte chooses; the next two give the index length). The log is opened
//! as after a crash (or, with flag bit 1, as after a clean shutdown) and read from start to
//! end. Nothing may panic. After a crash every batch read back must be valid, offsets must
//! increase and an append must land at the log end offset. (A clean shutdown
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

const OPTS: AppendOptions = AppendOptions {
    leader_epoch: 0,
    now_ms: 0,
};

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
    if clean_shutdown {
        // The files are trusted as they are: whatever reads and lookups return, they must
        // not panic, and the log stays usable.
        let mut offset = log.log_start_offset();
        for _ in 0..1_000 {
            let Ok(r) = log.read(offset, 1 << 20, i64::MAX, true) else {
                break;
            };
            let Some(bytes) = r.slice.and_then(|s| s.to_vec().ok()) else {
                break;
            };
            let next = BatchIter::new(&bytes)
                .map(|(_, h, _)| h.last_offset())
                .max();
            offset = (offset + 1).max(next.unwrap_or(offset).saturating_add(1));
            if offset >= end {
                break;
            }
        }
        let _ = log.offset_for_timestamp(0);
        let _ = log.offset_of_max_timestamp();
        let _ = log.append(
            &simple_batch(&[(None, Some(b"x"))], 0, Compression::None),
            &OPTS,
        );
        return;
    }
    let mut offset = log.log_start_offset();
    let mut last: Option<i64> = None;
    while offset < end {
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
            validate_batch(b, usize::MAX).expect("a read returned an invalid batch");
            assert!(last.is_none_or(|l| h.base_offset > l), "offsets go back");
            assert!(
                h.last_offset() >= offset,
                "a read returned a batch below its offset"
            );
            last = Some(h.last_offset());
            offset = h.last_offset() + 1;
        }
        assert_eq!(
            it.position(),
            bytes.len(),
            "a read returned a partial batch"
        );
    }
    assert_eq!(offset.max(end), end, "batches past the log end offset");
    // Lookups decode records, which no CRC vouches for (the log accepts any records section
    // whose batch CRC matches): a malformed one is an error, never a panic nor an I/O error.
    for lookup in [log.offset_for_timestamp(0), log.offset_of_max_timestamp()] {
        match lookup {
            Ok(_) | Err(LogError::InvalidBatch(_)) | Err(LogError::Codec(_)) => {}
            Err(e) => panic!("timestamp lookup failed: {e}"),
        }
    }
    let b = simple_batch(&[(None, Some(b"x"))], 0, Compression::None);
    let info = log.append(&b, &OPTS).expect("append after recovery");
    assert_eq!(info.base_offset, end);
});
