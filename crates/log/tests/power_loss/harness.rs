//! The machinery of the power-loss tests: a randomized run of a `LogManager` on a
//! simulated disk, the model of what each partition acknowledged and what was written, and
//! the verification after every restart.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use myelin_log::batch::{validate_batch, BatchIter};
use myelin_log::compression::Compression;
use myelin_log::record::{records_of_batch, simple_batch, KeyValue, RecordIter};
use myelin_log::sim::SimFs;
use myelin_log::{AppendOptions, Log, LogConfig, LogManager, ManagerConfig, StartupReport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const TOPIC: &str = "t";
pub const DATA: &str = "/data";

/// A record as written: key and value.
pub type Rec = (Option<Vec<u8>>, Vec<u8>);

/// How appends are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `flush.messages` 1: an append is acknowledged once the group commit synced it.
    Durable,
    /// `flush.messages` and `flush.ms` huge: acknowledged when written; only explicit
    /// flushes and clean shutdowns make data durable.
    Relaxed,
}

pub fn manager_config(cfg: &LogConfig) -> ManagerConfig {
    ManagerConfig {
        default_log: cfg.clone(),
        lock_data_dir: false,
        background_threads: false,
        recovery_threads: 1,
        ..ManagerConfig::new(DATA)
    }
}

pub fn open(sim: &SimFs, cfg: &LogConfig) -> myelin_log::Result<(LogManager, StartupReport)> {
    let per_log = cfg.clone();
    LogManager::open_on(Arc::new(sim.clone()), manager_config(cfg), &move |_| {
        per_log.clone()
    })
}

/// A disk whose data directory already exists durably (as an operator would create it).
pub fn disk(torn: Option<u64>) -> SimFs {
    let sim = torn.map(SimFs::torn).unwrap_or_default();
    sim.create_dir_durable(Path::new(DATA)).unwrap();
    sim
}

/// Every record of `log` from its log start offset to its log end offset, and the base
/// offsets of the batches holding them, checking that every batch is whole and carries a
/// valid CRC, and that offsets are contiguous.
pub fn read_log(log: &Log, ctx: &str) -> (Vec<(i64, Rec)>, BTreeSet<i64>) {
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    let mut out: Vec<(i64, Rec)> = Vec::new();
    let mut bases = BTreeSet::new();
    let mut offset = start;
    while offset < end {
        let r = log
            .read(offset, 64 << 10, i64::MAX, true)
            .unwrap_or_else(|e| panic!("{ctx}: reading {} at {offset}: {e}", log.name()));
        let slice = r.slice.unwrap_or_else(|| {
            panic!(
                "{ctx}: {} has nothing at {offset}, below its log end offset {end}",
                log.name()
            )
        });
        let bytes = slice.to_vec().unwrap();
        let mut iter = BatchIter::new(&bytes);
        for (_, h, b) in iter.by_ref() {
            validate_batch(b, usize::MAX).unwrap_or_else(|e| {
                panic!(
                    "{ctx}: {} returned an invalid batch at {}: {e}",
                    log.name(),
                    h.base_offset
                )
            });
            let (_, recs) = records_of_batch(b, 1 << 24).unwrap();
            for (i, r) in RecordIter::new(&recs, h.record_count).enumerate() {
                let r = r.unwrap_or_else(|e| {
                    panic!("{ctx}: bad record in batch {}: {e}", h.base_offset)
                });
                assert_eq!(
                    r.offset_delta, i as i32,
                    "{ctx}: offset deltas of batch {}",
                    h.base_offset
                );
                let o = h.base_offset + i64::from(r.offset_delta);
                if o >= offset {
                    let value = r
                        .value
                        .unwrap_or_else(|| panic!("{ctx}: null value at {o}"))
                        .to_vec();
                    out.push((o, (r.key.map(<[u8]>::to_vec), value)));
                }
            }
            assert!(
                h.last_offset() >= offset,
                "{ctx}: batch {} does not move forward",
                h.base_offset
            );
            bases.insert(h.base_offset.max(start));
            offset = h.last_offset() + 1;
        }
        assert_eq!(
            iter.position(),
            bytes.len(),
            "{ctx}: a read returned a partial batch"
        );
    }
    for (i, (o, _)) in out.iter().enumerate() {
        assert_eq!(
            *o,
            start + i as i64,
            "{ctx}: {} offsets are not contiguous",
            log.name()
        );
    }
    assert_eq!(
        out.len() as i64,
        end - start,
        "{ctx}: {} holds {} records in [{start}, {end})",
        log.name(),
        out.len()
    );
    (out, bases)
}

/// What the test knows of one partition.
#[derive(Debug, Default)]
pub struct Part {
    /// Acknowledged records, by offset, not since discarded by truncation or retention;
    /// `true` when known durable (acknowledged in durable mode, or covered by an explicit
    /// flush or a clean shutdown).
    pub acked: BTreeMap<i64, (Rec, bool)>,
    /// Everything written at each offset since the last verification: what may legally be
    /// read there after a crash.
    pub written: HashMap<i64, Vec<Rec>>,
    /// Records of appends that failed where the offsets they were given are not known
    /// (concurrent appenders): they may be read at any offset after a crash.
    pub unplaced: Vec<Rec>,
    /// Base offsets of the batches in the log (truncation points).
    pub bases: BTreeSet<i64>,
    pub log_start: i64,
    /// Truncated since the last verification: a power loss in the middle of a truncation,
    /// or before `truncate_fully_and_start_at` is flushed, may leave it undone or half done,
    /// so the log start may land anywhere among the offsets that were discarded.
    pub truncated: bool,
}

/// What a verification found.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub acked: u64,
    pub lost: u64,
}

impl Part {
    /// Checks the log after a restart against what was acknowledged and written, then
    /// takes what it holds as the new truth (recovery made it durable).
    pub fn verify(&mut self, log: &Log, ctx: &str) -> Tally {
        let (recs, bases) = read_log(log, ctx);
        let (start, end) = (log.log_start_offset(), log.log_end_offset());
        let mut ids = HashSet::new();
        for (o, rec) in &recs {
            let legal = self.written.get(o).is_some_and(|w| w.contains(rec))
                || self.acked.get(o).is_some_and(|(a, _)| a == rec)
                || self.unplaced.contains(rec);
            assert!(
                legal,
                "{ctx}: {} holds at {o} a record never written there",
                log.name()
            );
            assert!(
                ids.insert(rec.1[..8].to_vec()),
                "{ctx}: {} holds a record twice (at {o})",
                log.name()
            );
        }
        let mut tally = Tally::default();
        for (o, (rec, durable)) in &self.acked {
            if *o < self.log_start {
                continue;
            }
            tally.acked += 1;
            let found = (*o >= start && *o < end).then(|| &recs[(*o - start) as usize].1);
            if *durable {
                let id = |r: &Rec| u64::from_be_bytes(r.1[..8].try_into().unwrap());
                assert!(
                    found == Some(rec),
                    "{ctx}: {} at {o}: record {:?} instead of {} (log [{start}, {end}), segments {:?})",
                    log.name(),
                    found.map(id),
                    id(rec),
                    log.segment_base_offsets()
                );
                assert!(
                    found == Some(rec),
                    "{ctx}: {} lost the durable acknowledged record at {o} (log [{start}, {end}), model start {})",
                    log.name(),
                    self.log_start
                );
            } else if found != Some(rec) {
                tally.lost += 1;
                // Without a truncation in between, only a suffix may be lost; after one, the
                // restart may also bring back the history from before it.
                assert!(
                    *o >= end || self.truncated,
                    "{ctx}: {} lost {o} but kept later records: a hole",
                    log.name()
                );
            }
        }
        assert!(
            start <= self.log_start
                || (self.truncated && self.acked.range(self.log_start..start).next().is_none()),
            "{ctx}: log start moved from {} to {start}",
            self.log_start
        );
        self.truncated = false;
        // What recovery kept is durable now (the restart flushed it): from here on it must
        // stay, exactly.
        self.acked = recs.into_iter().map(|(o, r)| (o, (r, true))).collect();
        self.written.clear();
        self.unplaced.clear();
        self.bases = bases;
        self.log_start = start;
        tally
    }

    /// Drops the acknowledged records `gone` selects (truncation, retention): they are
    /// no longer required, but a crash may still bring them back where they were.
    pub fn discard(&mut self, gone: impl Fn(i64) -> bool) {
        let offsets: Vec<i64> = self.acked.keys().copied().filter(|o| gone(*o)).collect();
        for o in offsets {
            if let Some((rec, _)) = self.acked.remove(&o) {
                self.written.entry(o).or_default().push(rec);
            }
        }
        self.bases.retain(|b| !gone(*b));
        self.truncated = true;
    }
}

/// One randomized run: a manager on a simulated disk, and the model of its partitions.
pub struct Run {
    pub seed: u64,
    pub rng: StdRng,
    pub mode: Mode,
    pub cfg: LogConfig,
    pub sim: SimFs,
    pub mgr: Option<LogManager>,
    pub parts: BTreeMap<i32, Part>,
    pub next_id: u64,
    pub now_ms: i64,
    /// A fault was injected: operations may fail.
    pub faulty: bool,
    pub tally: Tally,
    pub cycle: u32,
    /// A partition whose deletion may or may not have happened before a power loss.
    pub maybe_deleted: Option<i32>,
    /// Partitions taken offline by an injected fault: operations on them fail.
    pub offline: BTreeSet<i32>,
}

impl Run {
    pub fn new(seed: u64, mode: Mode, torn: bool) -> Self {
        Self::with_partitions(seed, mode, torn, None)
    }

    pub fn with_partitions(seed: u64, mode: Mode, torn: bool, partitions: Option<i32>) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut cfg = LogConfig {
            segment_bytes: rng.gen_range(600..4000),
            segment_index_bytes: if rng.gen_bool(0.3) { 64 } else { 4096 },
            index_interval_bytes: rng.gen_range(64..512),
            retention_ms: -1,
            retention_bytes: if rng.gen_bool(0.3) {
                rng.gen_range(3000..12000)
            } else {
                -1
            },
            ..LogConfig::default()
        };
        if mode == Mode::Relaxed {
            cfg.flush_messages = i64::MAX;
            cfg.flush_ms = i64::MAX;
        }
        let sim = disk(torn.then_some(seed ^ 0x5eed));
        let (mgr, _) = open(&sim, &cfg).unwrap();
        let mut parts = BTreeMap::new();
        for p in 0..partitions.unwrap_or_else(|| rng.gen_range(1..=3)) {
            mgr.get_or_create(TOPIC, p, cfg.clone()).unwrap();
            parts.insert(p, Part::default());
        }
        Self {
            seed,
            rng,
            mode,
            cfg,
            sim,
            mgr: Some(mgr),
            parts,
            next_id: 0,
            now_ms: 1_000,
            faulty: false,
            tally: Tally::default(),
            cycle: 0,
            maybe_deleted: None,
            offline: BTreeSet::new(),
        }
    }

    /// Prints what a run does when `POWER_LOSS_TRACE` is set: to replay a failing seed.
    pub fn trace(&self, what: impl FnOnce() -> String) {
        if std::env::var_os("POWER_LOSS_TRACE").is_some() {
            eprintln!("[{}] ops {} {}", self.ctx(), self.sim.ops(), what());
        }
    }

    pub fn ctx(&self) -> String {
        format!("seed {} ({:?}) cycle {}", self.seed, self.mode, self.cycle)
    }

    pub fn mgr(&self) -> &LogManager {
        self.mgr.as_ref().expect("the manager is open")
    }

    pub fn log(&self, p: i32) -> Arc<Log> {
        self.mgr()
            .get(TOPIC, p)
            .unwrap_or_else(|| panic!("{}: partition {p} is gone", self.ctx()))
    }

    /// An operation failed: fine only after a power loss or an injected fault.
    pub fn expect_failure_allowed(&self, what: &str, e: &dyn std::fmt::Display) {
        assert!(
            self.sim.is_crashed() || self.faulty,
            "{}: {what} failed without a fault: {e}",
            self.ctx()
        );
    }

    pub fn record(&mut self) -> Rec {
        let id = self.next_id;
        self.next_id += 1;
        let mut value = id.to_be_bytes().to_vec();
        let len = self.rng.gen_range(0..200);
        if self.rng.gen_bool(0.5) {
            value.extend(std::iter::repeat_n(self.rng.gen::<u8>(), len));
        } else {
            value.extend((0..len).map(|_| self.rng.gen::<u8>()));
        }
        let key = self.rng.gen_bool(0.5).then(|| {
            (0..self.rng.gen_range(1..8))
                .map(|_| self.rng.gen())
                .collect()
        });
        (key, value)
    }

    /// Appends one or two random batches to partition `p` and waits for the ack.
    pub fn append(&mut self, p: i32) {
        let log = self.log(p);
        let mut buf = Vec::new();
        let mut batches = Vec::new();
        for _ in 0..if self.rng.gen_bool(0.2) { 2 } else { 1 } {
            let recs: Vec<Rec> = (0..self.rng.gen_range(1..=12))
                .map(|_| self.record())
                .collect();
            let codec = if self.rng.gen_bool(0.3) {
                Compression::ALL[self.rng.gen_range(1..5)]
            } else {
                Compression::None
            };
            let kv: Vec<KeyValue<'_>> = recs
                .iter()
                .map(|(k, v)| (k.as_deref(), Some(&v[..])))
                .collect();
            buf.extend(simple_batch(&kv, self.now_ms, codec));
            batches.push(recs);
        }
        self.now_ms += 1;
        let opts = AppendOptions {
            leader_epoch: 1,
            now_ms: self.now_ms,
        };
        // The offsets the log gives these batches (one appender, no producer ids): from its
        // end offset on, in order. Registered before the outcome is known, as what may be
        // on disk.
        let mut next = log.log_end_offset();
        let result = self.mgr().append(&log, &buf, &opts);
        let part = self.parts.get_mut(&p).unwrap();
        let mut stamped = Vec::new();
        for recs in &batches {
            stamped.push(next);
            for (i, rec) in recs.iter().enumerate() {
                part.written
                    .entry(next + i as i64)
                    .or_default()
                    .push(rec.clone());
            }
            next += recs.len() as i64;
        }
        let (info, wait) = match result {
            Ok(r) => r,
            Err(e) => return self.expect_failure_allowed("append", &e),
        };
        let total: usize = batches.iter().map(Vec::len).sum();
        assert_eq!(info.record_count, total as i64, "{}", self.ctx());
        assert_eq!(stamped[0], info.base_offset, "{}", self.ctx());
        let durable = match (self.mode, wait) {
            (Mode::Durable, Some(w)) => match w.wait() {
                Ok(()) => true,
                Err(e) => return self.expect_failure_allowed("the durable wait", &e),
            },
            (Mode::Durable, None) => panic!("{}: a durable log returned no wait", self.ctx()),
            (Mode::Relaxed, None) => false,
            (Mode::Relaxed, Some(_)) => panic!("{}: a relaxed log returned a wait", self.ctx()),
        };
        self.trace(|| {
            format!(
                "append p{p} [{}, {}] durable {durable}",
                info.base_offset, info.last_offset
            )
        });
        let part = self.parts.get_mut(&p).unwrap();
        for (base, recs) in stamped.iter().zip(&batches) {
            part.bases.insert(*base);
            for (i, rec) in recs.iter().enumerate() {
                part.acked.insert(base + i as i64, (rec.clone(), durable));
            }
        }
    }

    /// Random operations until `n` are done or the power is lost.
    pub fn steps(&mut self, n: usize) {
        for _ in 0..n {
            if self.sim.is_crashed() {
                break;
            }
            self.step();
        }
    }

    /// One random operation, on a partition that is online.
    pub fn step(&mut self) {
        let online: Vec<i32> = self
            .parts
            .keys()
            .copied()
            .filter(|p| !self.offline.contains(p))
            .collect();
        if online.is_empty() {
            return;
        }
        let p = online[self.rng.gen_range(0..online.len())];
        let log = self.log(p);
        let op = self.rng.gen_range(0..100);
        self.trace(|| {
            format!(
                "op {op} on p{p}: log [{}, {}) segments {:?}",
                log.log_start_offset(),
                log.log_end_offset(),
                log.segment_base_offsets()
            )
        });
        match op {
            0..=71 => self.append(p),
            72..=75 => {
                if let Err(e) = log.roll() {
                    self.expect_failure_allowed("roll", &e);
                }
            }
            76..=79 if self.mode == Mode::Durable => {
                // Truncation to a batch boundary, as a follower truncates to an epoch end.
                let part = &self.parts[&p];
                let candidates: Vec<i64> = part
                    .bases
                    .range(part.log_start..)
                    .copied()
                    .chain([log.log_end_offset()])
                    .collect();
                let to = candidates[self.rng.gen_range(0..candidates.len())];
                self.trace(|| format!("truncate p{p} to {to}"));
                let result = log.truncate_to(to);
                self.parts.get_mut(&p).unwrap().discard(|o| o >= to);
                if let Err(e) = result {
                    self.expect_failure_allowed("truncate_to", &e);
                }
            }
            80..=81 if self.mode == Mode::Durable => {
                let at = log.log_end_offset() + self.rng.gen_range(0..50);
                self.trace(|| format!("truncate p{p} fully, start at {at}"));
                let result = log.truncate_fully_and_start_at(at);
                let part = self.parts.get_mut(&p).unwrap();
                part.discard(|_| true);
                part.log_start = at;
                if let Err(e) = result {
                    self.expect_failure_allowed("truncate_fully_and_start_at", &e);
                }
            }
            82..=86 => {
                let (start, end) = (log.log_start_offset(), log.log_end_offset());
                let to = self.rng.gen_range(start..=end);
                self.trace(|| format!("advance p{p} log start to {to}, retention"));
                match log.advance_log_start_offset(to) {
                    Ok(s) => assert_eq!(s, to.max(start), "{}", self.ctx()),
                    Err(e) => self.expect_failure_allowed("advance_log_start_offset", &e),
                }
                self.mgr().run_retention(self.now_ms);
                let mgr = self.mgr.as_ref().unwrap();
                for (p, part) in self.parts.iter_mut() {
                    let Some(log) = mgr.get(TOPIC, *p) else {
                        continue;
                    };
                    let start = log.log_start_offset();
                    part.log_start = part.log_start.max(start);
                    let lso = part.log_start;
                    part.discard(|o| o < lso);
                }
            }
            87..=90 => {
                if let Err(e) = self.mgr().checkpoint() {
                    self.expect_failure_allowed("checkpoint", &e);
                }
            }
            91..=93 => {
                // An explicit flush: everything below the log end offset is durable after it.
                let end = log.log_end_offset();
                match self.mgr().flush_to(&log, end).wait() {
                    Ok(()) => {
                        for (o, (_, durable)) in self.parts.get_mut(&p).unwrap().acked.iter_mut() {
                            *durable |= *o < end;
                        }
                    }
                    Err(e) => self.expect_failure_allowed("flush_to", &e),
                }
            }
            94 => {
                // Delete the partition, and create an empty one of the same name.
                self.trace(|| format!("delete and recreate p{p}"));
                drop(log);
                match self.mgr().delete(TOPIC, p) {
                    Ok(found) => {
                        assert!(found, "{}", self.ctx());
                        self.parts.insert(p, Part::default());
                        if let Err(e) = self.mgr().get_or_create(TOPIC, p, self.cfg.clone()) {
                            self.expect_failure_allowed("get_or_create", &e);
                            self.maybe_deleted = Some(p);
                            self.offline.insert(p);
                        }
                    }
                    Err(e) => {
                        self.expect_failure_allowed("delete", &e);
                        self.maybe_deleted = Some(p);
                        self.offline.insert(p);
                    }
                }
            }
            _ => self.append(p),
        }
    }

    /// A clean shutdown: everything acknowledged before it is durable.
    pub fn shutdown(&mut self) -> bool {
        match self.mgr().shutdown() {
            Ok(()) => {
                if !self.faulty && !self.sim.is_crashed() {
                    for part in self.parts.values_mut() {
                        part.acked.values_mut().for_each(|(_, d)| *d = true);
                    }
                }
                true
            }
            Err(e) => {
                self.expect_failure_allowed("shutdown", &e);
                false
            }
        }
    }

    /// Loses power (if it was not lost already), restarts, possibly crashing again during
    /// recovery, and verifies every partition. Returns the report of the restart that
    /// finished, and whether an earlier one was cut short by another power loss.
    pub fn crash_and_restart(&mut self) -> (StartupReport, bool) {
        self.trace(|| "power loss".to_string());
        let mut after = self.sim.crash();
        self.mgr = None;
        let mut interrupted = false;
        let report = loop {
            if self.rng.gen_bool(0.2) {
                // Lose power again in the middle of recovery.
                after.crash_after_ops(self.rng.gen_range(0..30));
            }
            match open(&after, &self.cfg) {
                Ok((mgr, report)) if !after.is_crashed() => {
                    after.cancel_crash();
                    self.mgr = Some(mgr);
                    break report;
                }
                Ok(_) => {}
                Err(e) => assert!(after.is_crashed(), "{}: reopening failed: {e}", self.ctx()),
            }
            interrupted = true;
            after = after.crash();
        };
        self.sim = after;
        self.verify();
        (report, interrupted)
    }

    /// Restarts on the same disk without a power loss (after a shutdown, or a fault).
    pub fn restart(&mut self) -> StartupReport {
        self.mgr = None;
        let (mgr, report) =
            open(&self.sim, &self.cfg).unwrap_or_else(|e| panic!("{}: reopening: {e}", self.ctx()));
        self.mgr = Some(mgr);
        self.verify();
        report
    }

    pub fn verify(&mut self) {
        self.faulty = false;
        self.offline.clear();
        let ctx = self.ctx();
        let mut tally = Tally::default();
        if let Some(p) = self.maybe_deleted.take() {
            if self.mgr().get(TOPIC, p).is_none() {
                // Deleted: nothing of it may remain.
                self.parts.remove(&p);
                let prefix = format!("{TOPIC}-{p}");
                let left: Vec<_> = self
                    .sim
                    .files_under(Path::new(DATA))
                    .into_iter()
                    .filter(|f| {
                        f.components()
                            .any(|c| c.as_os_str().to_string_lossy().starts_with(&prefix))
                    })
                    .collect();
                assert!(
                    left.is_empty(),
                    "{ctx}: a deleted partition left files: {left:?}"
                );
            }
        }
        for (p, part) in self.parts.iter_mut() {
            let log = self.mgr.as_ref().unwrap().get(TOPIC, *p);
            let log =
                log.unwrap_or_else(|| panic!("{ctx}: partition {p} is gone after the restart"));
            assert!(!log.is_offline(), "{ctx}");
            let t = part.verify(&log, &format!("{ctx} partition {p}"));
            tally.acked += t.acked;
            tally.lost += t.lost;
        }
        if self.mode == Mode::Durable {
            assert_eq!(tally.lost, 0, "{ctx}");
        }
        self.tally.acked += tally.acked;
        self.tally.lost += tally.lost;
    }

    /// Cycles of random operations, each ending in a power loss at a random point (or a
    /// clean shutdown), a restart and a verification.
    pub fn run(mut self, cycles: u32) -> Tally {
        for cycle in 0..cycles {
            self.cycle = cycle;
            let steps = self.rng.gen_range(20..100);
            if self.rng.gen_bool(0.5) {
                self.sim
                    .crash_after_ops(self.rng.gen_range(0..steps as u64 * 6));
            }
            self.steps(steps);
            if !self.sim.is_crashed() && self.rng.gen_bool(0.15) {
                // A clean shutdown, then power off: the restart must find it clean.
                let clean = self.shutdown();
                let lost_power_during = self.sim.is_crashed();
                let (report, interrupted) = self.crash_and_restart();
                if clean && !lost_power_during && !interrupted {
                    assert!(
                        report.clean_shutdown,
                        "{}: a clean shutdown was not seen",
                        self.ctx()
                    );
                }
            } else {
                self.crash_and_restart();
            }
            // Appends work after the restart.
            let Some(&p) = self.parts.keys().next() else {
                break;
            };
            self.append(p);
            assert!(
                !self.parts[&p].acked.is_empty() || self.mode == Mode::Relaxed,
                "{}",
                self.ctx()
            );
        }
        self.tally
    }
}
