//! 10,000 partitions open within a small open-file limit and without reading every
//! segment. One test per file: it lowers this process's RLIMIT_NOFILE.

use std::sync::Arc;

use myelin_log::compression::Compression;
use myelin_log::record::simple_batch;
use myelin_log::{AppendOptions, LogConfig, LogManager, ManagerConfig};

const PARTITIONS: i32 = 10_000;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A directory on tmpfs when there is one: creating 10,000 logs fsyncs 20,000 times.
fn scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

#[test]
fn ten_thousand_partitions_open_within_1024_descriptors() {
    let dir = scratch();
    let cfg = || ManagerConfig {
        background_threads: false,
        ..ManagerConfig::new(dir.path())
    };
    let small = LogConfig {
        segment_index_bytes: 4096,
        ..LogConfig::default()
    };
    {
        let (mgr, _) = LogManager::open(cfg(), &|_| small.clone()).unwrap();
        for p in 0..PARTITIONS {
            let log = mgr.get_or_create("many", p, small.clone()).unwrap();
            if p % 100 == 0 {
                let b = simple_batch(&[(Some(b"k"), Some(b"v"))], 1, Compression::None);
                let (_, wait) = mgr
                    .append(
                        &log,
                        &b,
                        &AppendOptions {
                            leader_epoch: 0,
                            now_ms: 1,
                        },
                    )
                    .unwrap();
                wait.unwrap().wait().unwrap();
            }
        }
        mgr.shutdown().unwrap();
    }

    // Lower the soft limit to the common default, then reopen everything.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read a plain struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max.min(1024);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    let (mgr, report) = LogManager::open(cfg(), &|_| small.clone()).unwrap();
    assert!(report.clean_shutdown);
    assert_eq!(report.logs, PARTITIONS as usize);
    assert_eq!(report.segments_recovered, 0, "a clean start scans nothing");
    assert!(
        open_fds() < 200,
        "open descriptors after start: {}",
        open_fds()
    );
    let logs = mgr.logs();
    assert_eq!(logs.len(), PARTITIONS as usize);
    let with_data = logs.iter().filter(|l| l.log_end_offset() == 1).count();
    assert_eq!(with_data, 100);
    // Appends still work everywhere we touch.
    let log: Arc<_> = mgr.get("many", 4242).unwrap();
    let b = simple_batch(&[(Some(b"k"), Some(b"w"))], 2, Compression::None);
    let (info, wait) = mgr
        .append(
            &log,
            &b,
            &AppendOptions {
                leader_epoch: 0,
                now_ms: 2,
            },
        )
        .unwrap();
    wait.unwrap().wait().unwrap();
    assert_eq!(info.base_offset, 0);
    mgr.shutdown().unwrap();
}
