//! SIGKILL durability, end to end: `log-writer` appends to a data directory on the real file
//! system and prints every acknowledged record; the test kills it with SIGKILL at a random
//! point, restarts it on the same directory, five times, then opens the directory itself
//! and checks that every acknowledged record is there exactly once, in order, with its
//! exact value, and that offsets are contiguous.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use myelin_log::batch::{validate_batch, BatchIter};
use myelin_log::record::{records_of_batch, RecordIter};
use myelin_log::{Log, LogConfig, LogManager, ManagerConfig};
use myelin_tests::{value_crc, value_id, Ack};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PARTITIONS: i32 = 3;
const CYCLES: usize = 5;

fn spawn_writer(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_log-writer"))
        .arg(dir)
        .arg(PARTITIONS.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn log-writer")
}

fn sigkill(child: &Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on the pid of a child we have not yet waited for, so the pid is
    // still ours; no memory is involved.
    let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
}

/// Runs the writer until it has acknowledged at least `target` records, kills it, and
/// returns every acknowledgement it printed (including those printed after the target was
/// reached and before it died).
fn one_life(dir: &Path, target: usize) -> Vec<Ack> {
    let mut child = spawn_writer(dir);
    let stdout = child.stdout.take().expect("piped stdout");
    // A writer that hangs must not hang the test: past the deadline it is killed, and the
    // missing acknowledgements fail the test below.
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (done, pid) = (done.clone(), child.id() as libc::pid_t);
        std::thread::spawn(move || {
            for _ in 0..300 {
                if done.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // SAFETY: as in `sigkill`; the child is reaped only after this thread is joined.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        })
    };
    let mut reader = BufReader::new(stdout);
    let mut acks = Vec::new();
    let mut line = String::new();
    while acks.len() < target {
        line.clear();
        if reader
            .read_line(&mut line)
            .expect("read the writer's stdout")
            == 0
        {
            break;
        }
        acks.push(Ack::parse(&line).unwrap_or_else(|| panic!("unexpected output: {line:?}")));
    }
    sigkill(&child);
    // What it printed before dying was acknowledged too; a torn last line was not.
    let mut rest = String::new();
    reader
        .read_to_string(&mut rest)
        .expect("read the writer's stdout");
    for l in rest.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        acks.push(Ack::parse(l).unwrap_or_else(|| panic!("unexpected output: {l:?}")));
    }
    let status = child.wait().expect("wait for the writer");
    done.store(true, Ordering::Release);
    watchdog.join().unwrap();
    assert!(
        acks.len() >= target,
        "the writer stopped after {} acknowledgements ({status})",
        acks.len()
    );
    acks
}

/// Every record of `log`: (offset, value), checking batch CRCs and offset continuity.
fn read_all(log: &Log) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let slice = log
            .read(offset, 1 << 20, i64::MAX, true)
            .unwrap()
            .slice
            .unwrap_or_else(|| panic!("{}: nothing at {offset}", log.name()));
        let bytes = slice.to_vec().unwrap();
        for (_, h, b) in BatchIter::new(&bytes) {
            validate_batch(b, usize::MAX).unwrap();
            let (_, records) = records_of_batch(b, 1 << 24).unwrap();
            for r in RecordIter::new(&records, h.record_count) {
                let r = r.unwrap();
                let o = h.base_offset + i64::from(r.offset_delta);
                if o >= offset {
                    out.push((o, r.value.unwrap_or_default().to_vec()));
                }
            }
            offset = h.last_offset() + 1;
        }
    }
    out
}

#[test]
fn acknowledged_records_survive_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut rng = StdRng::seed_from_u64(0x5161_7c11);
    let mut acked: HashMap<(i32, i64), u32> = HashMap::new();
    for cycle in 0..CYCLES {
        let target = rng.gen_range(20..400);
        for ack in one_life(&data, target) {
            let prev = acked.insert((ack.partition, ack.offset), ack.crc);
            assert!(
                prev.is_none(),
                "cycle {cycle}: partition {} offset {} acknowledged twice: the first was lost",
                ack.partition,
                ack.offset
            );
        }
    }

    let cfg = LogConfig::default();
    let per_log = cfg.clone();
    let (mgr, report) = LogManager::open(
        ManagerConfig {
            background_threads: false,
            ..ManagerConfig::new(&data)
        },
        &move |_| per_log.clone(),
    )
    .unwrap();
    assert!(
        !report.clean_shutdown,
        "a killed writer cannot have shut down cleanly"
    );
    let mut by_partition: BTreeMap<i32, Vec<(i64, u32)>> = BTreeMap::new();
    for ((p, o), crc) in &acked {
        by_partition.entry(*p).or_default().push((*o, *crc));
    }
    assert_eq!(
        by_partition.len(),
        PARTITIONS as usize,
        "every partition acknowledged records"
    );
    for (p, mut acks) in by_partition {
        acks.sort_unstable();
        let log = mgr
            .get("events", p)
            .unwrap_or_else(|| panic!("partition {p} is gone"));
        let records = read_all(&log);
        assert_eq!(log.log_start_offset(), 0);
        let mut ids = HashMap::new();
        for (i, (o, value)) in records.iter().enumerate() {
            assert_eq!(*o, i as i64, "partition {p}: offsets are not contiguous");
            let id = value_id(value)
                .unwrap_or_else(|| panic!("partition {p} offset {o}: a value without an id"));
            assert!(
                id.contains(&format!(":{p}:")),
                "partition {p} offset {o} holds {id}, written elsewhere"
            );
            if let Some(first) = ids.insert(id.to_string(), *o) {
                panic!("partition {p}: record {id} is stored twice, at {first} and {o}");
            }
        }
        for (o, crc) in &acks {
            let (_, value) = records.get(*o as usize).unwrap_or_else(|| {
                panic!(
                    "partition {p}: acknowledged offset {o} is lost (log end {})",
                    records.len()
                )
            });
            assert_eq!(
                value_crc(value),
                *crc,
                "partition {p}: acknowledged offset {o} changed"
            );
        }
        // Acknowledgements come in offset order per partition: the last one bounds the log.
        let last = acks.last().map(|(o, _)| *o).unwrap_or(-1);
        assert!(log.log_end_offset() > last);
    }
    mgr.shutdown().unwrap();
}
