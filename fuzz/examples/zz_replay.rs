use std::sync::Arc;
use myelin_log::files::{segment_path, FileKind};
use myelin_log::io::{Fs, RealFs};
use myelin_log::{LoadState, Log, LogConfig};
fn main() {
    let data = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    let (flags, rest) = (data[0], &data[3..]);
    let index_len = usize::from(u16::from_be_bytes([data[1], data[2]])).min(rest.len());
    let (index, log_bytes) = if flags & 1 == 1 { rest.split_at(index_len) } else { (&[][..], rest) };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz-0");
    std::fs::create_dir(&path).unwrap();
    std::fs::write(segment_path(&path, 0, FileKind::Log), log_bytes).unwrap();
    if flags & 1 == 1 { std::fs::write(segment_path(&path, 0, FileKind::Index), index).unwrap(); }
    let config = LogConfig { segment_bytes: 1 << 16, index_interval_bytes: 64, segment_index_bytes: 4096, ..LogConfig::default() };
    let state = LoadState { clean_shutdown: flags & 2 == 2, recovery_point: Some(0), log_start_offset: Some(0) };
    let fs: Arc<dyn Fs> = Arc::new(RealFs);
    let (log, report) = Log::open(fs, &path, "fuzz", 0, config, state, 0).unwrap();
    println!("{report:?} lso {} leo {}", log.log_start_offset(), log.log_end_offset());
    let r = log.read(log.log_start_offset(), 1 << 20, i64::MAX, true).unwrap();
    println!("slice {:?}", r.slice.as_ref().map(|s| (s.position, s.len)));
}
