//! `log-writer <data-dir> [partitions]`: opens a `LogManager` on `data-dir` (the real file
//! system, durable acknowledgements) and appends batches to every partition from one thread
//! each, forever. After each acknowledged append it prints one line per record,
//! `ack <partition> <offset> <crc32c of the value>`, and flushes stdout, so that a test
//! that kills it at any moment knows exactly what was acknowledged.
//!
//! Exits with status 2 on any storage error, and quietly when stdout is closed.

use std::io::Write;
use std::process::ExitCode;

use myelin_log::compression::Compression;
use myelin_log::record::{simple_batch, KeyValue};
use myelin_log::{AppendOptions, LogConfig, LogManager, ManagerConfig};
use myelin_tests::{value_crc, Ack};

/// A small deterministic generator: value lengths and batch shapes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 16 * 1024,
        segment_index_bytes: 4096,
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: log-writer <data-dir> [partitions]");
        return ExitCode::from(64);
    };
    let partitions: i32 = args.next().and_then(|p| p.parse().ok()).unwrap_or(3);
    let cfg = config();
    let per_log = cfg.clone();
    let manager_config = ManagerConfig {
        default_log: cfg.clone(),
        ..ManagerConfig::new(&dir)
    };
    let mgr = match LogManager::open(manager_config, &move |_| per_log.clone()) {
        Ok((mgr, _)) => mgr,
        Err(e) => {
            eprintln!("log-writer: opening {dir}: {e}");
            return ExitCode::from(2);
        }
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let run = format!("{}-{started}", std::process::id());
    let threads: Vec<_> = (0..partitions)
        .map(|p| {
            let (mgr, cfg, run) = (mgr.clone(), cfg.clone(), run.clone());
            std::thread::spawn(move || write_forever(&mgr, &cfg, p, &run, started ^ (p as u64 + 1)))
        })
        .collect();
    let mut status = ExitCode::SUCCESS;
    for t in threads {
        if !matches!(t.join(), Ok(true)) {
            status = ExitCode::from(2);
        }
    }
    status
}

/// Appends to partition `p` until an error (false) or until stdout is closed (true).
fn write_forever(mgr: &LogManager, cfg: &LogConfig, p: i32, run: &str, seed: u64) -> bool {
    let log = match mgr.get_or_create("events", p, cfg.clone()) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("log-writer: partition {p}: {e}");
            return false;
        }
    };
    let mut rng = XorShift(seed | 1);
    let codecs = Compression::ALL;
    for seq in 0u64.. {
        let values: Vec<Vec<u8>> = (0..1 + rng.below(4))
            .map(|i| {
                let mut v = format!("{run}:{p}:{seq}.{i};").into_bytes();
                let len = rng.below(300) as usize;
                let fill = rng.next() as u8;
                v.extend((0..len).map(|j| fill.wrapping_add((j % 7) as u8)));
                v
            })
            .collect();
        let records: Vec<KeyValue<'_>> = values.iter().map(|v| (None, Some(&v[..]))).collect();
        let codec = codecs[rng.below(codecs.len() as u64) as usize];
        let batch = simple_batch(&records, seq as i64, codec);
        let opts = AppendOptions {
            leader_epoch: 0,
            now_ms: myelin_log::manager::wall_clock_ms(),
        };
        let acked = mgr
            .append(&log, &batch, &opts)
            .and_then(|(info, wait)| wait.map_or(Ok(()), |w| w.wait()).map(|()| info));
        let info = match acked {
            Ok(info) => info,
            Err(e) => {
                eprintln!("log-writer: append to partition {p}: {e}");
                return false;
            }
        };
        let mut lines = String::new();
        for (i, v) in values.iter().enumerate() {
            let ack = Ack {
                partition: p,
                offset: info.base_offset + i as i64,
                crc: value_crc(v),
            };
            lines.push_str(&format!("{ack}\n"));
        }
        let mut out = std::io::stdout().lock();
        if out
            .write_all(lines.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return true;
        }
    }
    true
}
