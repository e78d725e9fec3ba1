//! Power-loss tests on the simulated disk ([`myelin_log::sim::SimFs`]): randomized runs
//! append to several partitions through the `LogManager`, acknowledge what the group commit
//! made durable, lose power at random points (between operations, in the middle of a roll,
//! a truncation, retention, a clean shutdown, a partition deletion, recovery itself), and
//! check after every restart that no acknowledged record is lost or changed, that offsets
//! stay contiguous, that nothing appears that was not written, and that appends continue.
//!
//! Every run is seeded; a failure message names its seed.

#[path = "power_loss/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::sync::Arc;

use harness::*;
use myelin_log::compression::Compression;
use myelin_log::record::{simple_batch, KeyValue};
use myelin_log::sim::{Fault, SimFs};
use myelin_log::{AppendOptions, Log, LogConfig, LogManager};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `n` seeds of the test numbered `space`, times `POWER_LOSS_SCALE` (default 1): set it to
/// run many more randomized runs than the default quick pass.
fn seeds(space: u64, n: u64) -> impl Iterator<Item = u64> {
    let scale: u64 = std::env::var("POWER_LOSS_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    (0..n * scale).map(move |i| space * 1_000_000 + i)
}

#[test]
fn durable_acks_survive_power_loss() {
    let mut acked = 0;
    for seed in seeds(1, 30) {
        acked += Run::new(seed, Mode::Durable, false).run(3).acked;
    }
    assert!(acked > 1000, "the runs acknowledged {acked} records");
}

#[test]
fn durable_acks_survive_torn_power_loss() {
    let mut acked = 0;
    for seed in seeds(2, 45) {
        acked += Run::new(seed, Mode::Durable, true).run(3).acked;
    }
    assert!(acked > 1000, "the runs acknowledged {acked} records");
}

#[test]
fn relaxed_durability_loses_only_a_suffix() {
    let mut total = Tally::default();
    for seed in seeds(3, 24) {
        let t = Run::new(seed, Mode::Relaxed, seed % 3 != 0).run(3);
        total.acked += t.acked;
        total.lost += t.lost;
    }
    eprintln!(
        "relaxed durability: {} of {} acknowledged records lost at power loss (all from the tail)",
        total.lost, total.acked
    );
}

#[test]
fn power_loss_during_a_clean_shutdown() {
    for seed in seeds(4, 4) {
        let mode = if seed % 2 == 0 {
            Mode::Durable
        } else {
            Mode::Relaxed
        };
        let calls = {
            let mut run = Run::new(seed, mode, false);
            run.steps(30);
            let before = run.sim.ops();
            assert!(run.shutdown());
            run.sim.ops() - before
        };
        for k in 0..=calls {
            let mut run = Run::new(seed, mode, false);
            run.steps(30);
            run.sim.crash_after_ops(k);
            run.shutdown();
            let (report, interrupted) = run.crash_and_restart();
            if k == calls && !interrupted {
                assert!(report.clean_shutdown, "seed {seed}: the whole shutdown ran");
            }
            let p = *run.parts.keys().next().unwrap();
            run.append(p);
        }
    }
}

#[test]
fn power_loss_during_partition_deletion_leaves_it_whole_or_gone() {
    for seed in seeds(5, 4) {
        let torn = seed % 2 == 1;
        let calls = {
            let mut run = Run::with_partitions(seed, Mode::Durable, torn, Some(2));
            run.steps(30);
            let before = run.sim.ops();
            assert!(run.mgr().delete(TOPIC, 0).unwrap());
            run.sim.ops() - before
        };
        let mut gone = 0;
        for k in 0..=calls {
            let mut run = Run::with_partitions(seed, Mode::Durable, torn, Some(2));
            run.steps(30);
            run.sim.crash_after_ops(k);
            run.maybe_deleted = Some(0);
            if let Err(e) = run.mgr().delete(TOPIC, 0) {
                run.expect_failure_allowed("delete", &e);
            }
            run.crash_and_restart();
            if !run.parts.contains_key(&0) {
                gone += 1;
            } else {
                assert!(k < calls, "seed {seed}: a finished deletion was undone");
            }
            run.steps(10);
            run.crash_and_restart();
        }
        assert!(gone >= 1, "seed {seed}");
    }
}

#[test]
fn write_and_sync_failures_take_the_log_offline_and_lose_nothing_acknowledged() {
    // Except a full disk (ENOSPC on writes), which fails the append and nothing else.
    for seed in seeds(6, 30) {
        let mut run = Run::new(seed, Mode::Durable, seed % 2 == 0);
        let steps = run.rng.gen_range(5..60);
        run.steps(steps);
        let fault = [Fault::Writes, Fault::Syncs, Fault::All][seed as usize % 3];
        run.faulty = true;
        run.sim.inject(Some(fault));
        let p = *run.parts.keys().next().unwrap();
        let acked = run.parts[&p].acked.len();
        run.append(p);
        assert_eq!(
            run.parts[&p].acked.len(),
            acked,
            "seed {seed}: an append acknowledged under {fault:?}"
        );
        let log = run.log(p);
        if fault == Fault::Writes {
            // A full disk (ENOSPC): the append is undone and the log stays online; once
            // writes succeed again it takes appends without a restart.
            assert!(
                !log.is_offline(),
                "seed {seed}: a full disk took the log offline"
            );
            run.sim.inject(None);
            run.faulty = false;
            run.append(p);
            assert!(run.parts[&p].acked.len() > acked, "seed {seed}");
            run.steps(20);
            run.crash_and_restart();
            continue;
        }
        assert!(
            log.is_offline(),
            "seed {seed}: a failed {fault:?} left the log online"
        );
        run.sim.inject(None);
        // Offline until a restart, even once the disk works again.
        let again = simple_batch(&[(None, Some(&[0u8; 8][..]))], 0, Compression::None);
        let e = run
            .mgr()
            .append(
                &log,
                &again,
                &AppendOptions {
                    leader_epoch: 1,
                    now_ms: 0,
                },
            )
            .unwrap_err();
        assert!(e.is_storage(), "seed {seed}: {e}");
        assert!(log
            .read(log.log_start_offset(), 100, i64::MAX, true)
            .is_err());
        // The other partitions carry on.
        run.offline = run
            .parts
            .keys()
            .copied()
            .filter(|q| run.log(*q).is_offline())
            .collect();
        run.faulty = false;
        run.steps(20);
        if seed % 4 < 2 {
            run.shutdown();
            let report = run.restart();
            assert!(
                !report.clean_shutdown,
                "seed {seed}: a shutdown with an offline log was taken as clean"
            );
        } else {
            run.crash_and_restart();
        }
        run.append(p);
        assert!(!run.log(p).is_offline());
    }
}

#[test]
fn concurrent_appenders_lose_nothing_acknowledged() {
    for seed in seeds(7, 16) {
        let mut rng = StdRng::seed_from_u64(seed);
        let torn = seed % 2 == 0;
        let sim = disk(torn.then_some(seed));
        let cfg = LogConfig {
            segment_bytes: rng.gen_range(800..4000),
            segment_index_bytes: 4096,
            index_interval_bytes: 128,
            ..LogConfig::default()
        };
        let (mgr, _) = open(&sim, &cfg).unwrap();
        let logs: Vec<Arc<Log>> = (0..3)
            .map(|p| mgr.get_or_create(TOPIC, p, cfg.clone()).unwrap())
            .collect();
        sim.crash_after_ops(rng.gen_range(20..400));
        // (acked, written at a known offset, written at an unknown offset)
        let seen = std::sync::Mutex::new((Vec::new(), Vec::new(), Vec::new()));
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (mgr, logs, seen, sim) = (&mgr, &logs, &seen, &sim);
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed * 100 + t);
                    for n in 0..300u64 {
                        let p = rng.gen_range(0..logs.len());
                        let recs: Vec<Rec> = (0..rng.gen_range(1..6u64))
                            .map(|i| {
                                let mut v = ((t << 48) | (n << 8) | i).to_be_bytes().to_vec();
                                v.extend((0..rng.gen_range(0..100)).map(|_| rng.gen::<u8>()));
                                (None, v)
                            })
                            .collect();
                        let kv: Vec<KeyValue<'_>> =
                            recs.iter().map(|(_, v)| (None, Some(&v[..]))).collect();
                        let buf = simple_batch(&kv, 0, Compression::ALL[rng.gen_range(0..5)]);
                        let result = mgr.append(
                            &logs[p],
                            &buf,
                            &AppendOptions {
                                leader_epoch: 0,
                                now_ms: 0,
                            },
                        );
                        // The offsets are known once the append returns them; a failed
                        // one's records may be on disk at offsets nobody learnt.
                        let (base, ok) = match result {
                            Ok((info, Some(w))) => (Some(info.base_offset), w.wait().is_ok()),
                            Ok((_, None)) => panic!("a durable log returned no wait"),
                            Err(_) => (None, false),
                        };
                        let mut seen = seen.lock().unwrap();
                        for (i, rec) in recs.into_iter().enumerate() {
                            let Some(base) = base else {
                                seen.2.push((p as i32, rec));
                                continue;
                            };
                            let o = base + i as i64;
                            seen.1.push((p as i32, o, rec.clone()));
                            if ok {
                                seen.0.push((p as i32, o, rec));
                            }
                        }
                        if !ok {
                            assert!(sim.is_crashed(), "an append failed before the power loss");
                            return;
                        }
                    }
                });
            }
        });
        let after = sim.crash();
        drop(logs);
        drop(mgr);
        let (mgr, _) = open(&after, &cfg).unwrap();
        let (acked, written, unplaced) = seen.into_inner().unwrap();
        let mut parts: BTreeMap<i32, Part> = (0..3).map(|p| (p, Part::default())).collect();
        for (p, rec) in unplaced {
            parts.get_mut(&p).unwrap().unplaced.push(rec);
        }
        for (p, o, rec) in written {
            parts
                .get_mut(&p)
                .unwrap()
                .written
                .entry(o)
                .or_default()
                .push(rec);
        }
        for (p, o, rec) in &acked {
            let prev = parts
                .get_mut(p)
                .unwrap()
                .acked
                .insert(*o, (rec.clone(), true));
            assert!(
                prev.is_none(),
                "seed {seed}: offset {o} of partition {p} acknowledged twice"
            );
        }
        for (p, part) in parts.iter_mut() {
            let log = mgr.get(TOPIC, *p).unwrap();
            let t = part.verify(&log, &format!("seed {seed} partition {p}"));
            assert_eq!(t.lost, 0);
        }
    }
}

#[test]
fn a_data_directory_created_at_first_start_survives_power_loss() {
    let sim = SimFs::new();
    let cfg = LogConfig {
        segment_index_bytes: 4096,
        ..LogConfig::default()
    };
    let (mgr, _) = open(&sim, &cfg).unwrap();
    let log = mgr.get_or_create(TOPIC, 0, cfg.clone()).unwrap();
    let b = simple_batch(&[(None, Some(&b"acknowledged"[..]))], 0, Compression::None);
    let (_, wait) = mgr
        .append(
            &log,
            &b,
            &AppendOptions {
                leader_epoch: 0,
                now_ms: 0,
            },
        )
        .unwrap();
    wait.unwrap().wait().unwrap();
    let after = sim.crash();
    let (mgr, _) = open(&after, &cfg).unwrap();
    let log = mgr
        .get(TOPIC, 0)
        .expect("the partition holding an acknowledged record survives");
    assert_eq!(log.log_end_offset(), 1);
}

/// A truncation followed by a roll at the truncation point, the recovery point checkpoint
/// from before the truncation, then a power loss before any flush: the restart must not
/// trust what the cut segment held past the cut, nor what was appended after it (recovery
/// reads only the headers of what lies below the checkpointed recovery point, so the
/// truncation must write the lowered one before anything is appended).
#[test]
fn truncation_then_roll_under_a_stale_recovery_point_checkpoint() {
    for seed in seeds(8, 60) {
        let sim = disk(Some(seed));
        let cfg = LogConfig {
            segment_bytes: 1500,
            segment_index_bytes: 4096,
            index_interval_bytes: 100,
            flush_messages: i64::MAX,
            ..LogConfig::default()
        };
        let (mgr, _) = open(&sim, &cfg).unwrap();
        let log = mgr.get_or_create(TOPIC, 0, cfg.clone()).unwrap();
        let mut part = Part::default();
        let opts = AppendOptions {
            leader_epoch: 0,
            now_ms: 0,
        };
        let mut id = 0u64;
        let mut batch = |len: usize, part: &mut Part| {
            id += 1;
            let mut v = id.to_be_bytes().to_vec();
            v.resize(len, id as u8);
            let b = simple_batch(&[(None, Some(&v[..]))], 0, Compression::None);
            let info = mgr.append(&log, &b, &opts).unwrap().0;
            part.written
                .entry(info.base_offset)
                .or_default()
                .push((None, v.clone()));
            part.acked.insert(info.base_offset, ((None, v), false));
            info.base_offset
        };
        let bases: Vec<i64> = (0..12).map(|_| batch(300, &mut part)).collect();
        mgr.flush_to(&log, log.log_end_offset()).wait().unwrap();
        mgr.checkpoint().unwrap();
        part.acked.values_mut().for_each(|(_, d)| *d = true);
        assert!(log.segment_count() >= 3, "{:?}", log.segment_base_offsets());
        // Truncate inside the first segment, then append a batch too big to fit after the
        // cut: the log rolls at the truncation point.
        let to = bases[2];
        log.truncate_to(to).unwrap();
        part.discard(|o| o >= to);
        assert_eq!(batch(1400, &mut part), to);
        assert_eq!(log.segment_base_offsets().last(), Some(&to));
        drop(log);
        drop(mgr);
        let after = sim.crash();
        let (mgr, _) = open(&after, &cfg).unwrap();
        let log = mgr.get(TOPIC, 0).unwrap();
        part.verify(&log, &format!("seed {seed}"));
        // What follows the restart must read back too, not what the cut segment held.
        for n in 0..3u8 {
            let v = [n; 16];
            let b = simple_batch(&[(None, Some(&v[..]))], 0, Compression::None);
            let (info, _) = mgr.append(&log, &b, &opts).unwrap();
            part.acked
                .insert(info.base_offset, ((None, v.to_vec()), true));
        }
        mgr.flush_to(&log, log.log_end_offset()).wait().unwrap();
        part.verify(&log, &format!("seed {seed}, appending after the restart"));
    }
}

/// Segments that recovery sealed keep their indexes trimmed across a later power loss: a
/// sealed index that comes back at its preallocated length ends in zero entries, which
/// read as a max timestamp of 0, and time retention then deletes the segment.
#[test]
fn segments_sealed_by_recovery_survive_a_second_power_loss_and_retention() {
    let sim = disk(None);
    let cfg = LogConfig {
        segment_bytes: 2000,
        segment_index_bytes: 4096,
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let now = myelin_log::manager::wall_clock_ms();
    let (mgr, _) = open(&sim, &cfg).unwrap();
    let log = mgr.get_or_create(TOPIC, 0, cfg.clone()).unwrap();
    // The recovery point checkpoint stays at 0: the restart recovers every segment.
    for i in 0..40u8 {
        let v = [i; 200];
        let b = simple_batch(&[(None, Some(&v[..]))], now, Compression::None);
        let opts = AppendOptions {
            leader_epoch: 0,
            now_ms: now,
        };
        mgr.append(&log, &b, &opts)
            .unwrap()
            .1
            .unwrap()
            .wait()
            .unwrap();
    }
    let segments = log.segment_count();
    assert!(segments > 3);
    let after = sim.crash();
    let (mgr, report) = open(&after, &cfg).unwrap();
    assert!(report.segments_recovered >= segments - 1, "{report:?}");
    drop(mgr);
    let again = after.crash();
    let (mgr, _) = open(&again, &cfg).unwrap();
    let log = mgr.get(TOPIC, 0).unwrap();
    let retention = log
        .apply_retention(myelin_log::manager::wall_clock_ms())
        .unwrap();
    assert_eq!(
        retention.segments_deleted, 0,
        "nothing is older than retention.ms"
    );
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 40));
    assert_eq!(log.offset_for_timestamp(now).unwrap(), Some((0, now)));
}

/// A partition deleted and created again under the same name must not inherit the old
/// one's checkpointed log start offset or recovery point.
#[test]
fn a_partition_created_again_after_deletion_does_not_inherit_its_checkpoints() {
    let sim = disk(None);
    let cfg = LogConfig {
        segment_index_bytes: 4096,
        ..LogConfig::default()
    };
    let opts = AppendOptions {
        leader_epoch: 0,
        now_ms: 0,
    };
    let append = |mgr: &LogManager, log: &Arc<Log>, n: u8| {
        for i in 0..n {
            let b = simple_batch(&[(None, Some(&[i; 8][..]))], 0, Compression::None);
            mgr.append(log, &b, &opts)
                .unwrap()
                .1
                .unwrap()
                .wait()
                .unwrap();
        }
    };
    let (mgr, _) = open(&sim, &cfg).unwrap();
    let log = mgr.get_or_create(TOPIC, 0, cfg.clone()).unwrap();
    append(&mgr, &log, 50);
    log.advance_log_start_offset(40).unwrap();
    mgr.checkpoint().unwrap();
    assert!(mgr.delete(TOPIC, 0).unwrap());
    let log = mgr.get_or_create(TOPIC, 0, cfg.clone()).unwrap();
    append(&mgr, &log, 10);
    let after = sim.crash();
    let (mgr, _) = open(&after, &cfg).unwrap();
    let log = mgr.get(TOPIC, 0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 10));
}
