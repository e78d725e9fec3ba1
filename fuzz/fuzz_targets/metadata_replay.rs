//! The cluster metadata log as the broker replays it at start (`myelin-cluster`): record
//! payloads decoded and applied to the state, and whole files opened by
//! `FileMetadataStore::open`. Nothing may panic or allocate from an unchecked length; a
//! record refused by the state leaves it unchanged; what decodes encodes back to the same;
//! a file that opens replays to the state its records build, and opens again the same.
//!
//! Input: a mode byte, then
//! - bit 0 clear: record payloads (JSON) separated by `0xff`; each is framed with a right
//!   checksum and offset, so replay reaches the decoder and the state. With bit 2 set, the
//!   last piece is appended raw (a torn or damaged tail).
//! - bit 0 set: the file's bytes after its 16-byte header (bit 1 set: the whole file).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use myelin_cluster::log::{FILE_HEADER_LEN, FORMAT_VERSION, MAGIC, METADATA_LOG_FILE};
use myelin_cluster::{
    BrokerConfigScope, FileMetadataStore, MetadataLog, MetadataRecord, MetadataState, MetadataStore,
};

fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("a temporary directory")
}

fn header() -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    h.extend_from_slice(&[0; 4]);
    assert_eq!(h.len() as u64, FILE_HEADER_LEN);
    h
}

fn frame(offset: u64, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let off = offset.to_be_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&len), &off), payload);
    let mut f = len.to_vec();
    f.extend_from_slice(&crc.to_be_bytes());
    f.extend_from_slice(&off);
    f.extend_from_slice(payload);
    f
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // What the framed records build when applied one by one: `None` once one is refused
    // or cannot be decoded (the file is then corrupt and must not open).
    let mut expected: Option<MetadataState> = Some(MetadataState::new());
    let file = if mode & 1 == 1 {
        expected = None;
        if mode & 2 == 2 {
            rest.to_vec()
        } else {
            let mut f = header();
            f.extend_from_slice(rest);
            f
        }
    } else {
        let mut pieces: Vec<&[u8]> = rest.split(|&b| b == 0xff).collect();
        let tail = if mode & 4 == 4 { pieces.pop() } else { None };
        let mut f = header();
        let mut state = MetadataState::new();
        for (i, payload) in pieces.iter().enumerate() {
            f.extend_from_slice(&frame(i as u64, payload));
            let Ok(record) = serde_json::from_slice::<MetadataRecord>(payload) else {
                expected = None;
                continue;
            };
            // What decodes encodes and decodes back to the same record.
            let json = serde_json::to_vec(&record).expect("a record encodes");
            let again: MetadataRecord = serde_json::from_slice(&json).expect("decodes back");
            assert_eq!(again, record);
            let _ = record.kind();
            // Validate and apply agree; a refused record changes nothing.
            let before = state.clone();
            let valid = state.validate(&record);
            let applied = state.apply(state.next_offset(), &record);
            assert_eq!(valid.is_ok(), applied.is_ok(), "{record:?}");
            if applied.is_err() {
                assert_eq!(state, before, "a refused record changed the state");
                expected = None;
            }
        }
        if expected.is_some() {
            expected = Some(state);
        }
        if let Some(tail) = tail {
            f.extend_from_slice(tail);
        }
        f
    };

    let dir = scratch_dir();
    let path = dir.path().join(METADATA_LOG_FILE);
    std::fs::write(&path, &file).unwrap();
    match FileMetadataStore::open(dir.path()) {
        Ok((store, report)) => {
            let state = store.state();
            if let Some(want) = &expected {
                if report.truncated_bytes == 0 && mode & 4 == 0 {
                    assert_eq!(&*state, want, "replay built another state");
                }
            }
            // The store stays usable: a record commits after replay, and a reopen replays
            // the same records plus that one.
            let record = MetadataRecord::BrokerConfigAltered {
                scope: BrokerConfigScope::ClusterDefault,
                configs: [("log.retention.ms".to_string(), "1000".to_string())].into(),
            };
            store.commit(record).expect("commit after replay");
            let after = store.state();
            drop(store);
            let (again, report) = FileMetadataStore::open(dir.path()).expect("reopen");
            assert_eq!(report.truncated_bytes, 0, "a reopen cut more");
            assert_eq!(again.state(), after, "a reopen replayed another state");
        }
        Err(e) => {
            assert!(
                expected.is_none() || mode & 4 == 4,
                "a log of valid records that apply was refused: {e}"
            );
            // Refused: a corrupt file stays refused, never half-replayed.
            if let Ok((_, replay)) = MetadataLog::open(dir.path()) {
                let _ = replay.records.len();
            }
        }
    }
});
