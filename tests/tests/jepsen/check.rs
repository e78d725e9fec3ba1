//! The checker: what the clients were told (`clients.rs`) against what the log holds once
//! the faults stop, read from the beginning of every partition at both isolation levels.
//!
//! Every finding is an [`Issue`]: a [`Kind::Loss`] (an acknowledged record, transaction or
//! offset commit that is gone or moved) or a [`Kind::Anomaly`] (a duplicate, a reordering,
//! a torn or visible-aborted transaction, an unstable offset, a record nobody sent). With
//! full durability both fail the test; with relaxed durability losses are only counted.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::clients::{ConsumerLog, Outcome, Payload, ProducerKind, ProducerLog, PARTITIONS};

/// A record read back: partition, offset, value.
pub type Stored = (i32, i64, String);

/// Everything the checker looks at.
pub struct Run {
    pub producers: Vec<ProducerLog>,
    pub consumers: Vec<ConsumerLog>,
    /// The group's committed offsets as the monitor read them, in order, then the final ones.
    pub offset_observations: Vec<(i32, i64)>,
    /// The final committed offsets (partition, offset; -1 for none).
    pub final_offsets: Vec<(i32, i64)>,
    /// read_committed, to the last stable offset.
    pub committed: Vec<Stored>,
    /// read_uncommitted, to the high watermark.
    pub uncommitted: Vec<Stored>,
    /// Per partition: (last stable offset, high watermark).
    pub ends: Vec<(i64, i64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Loss,
    Anomaly,
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub kind: Kind,
    pub what: String,
}

/// The figures of a check.
#[derive(Debug, Default)]
pub struct Report {
    pub sent: usize,
    /// Acknowledged: delivered records outside transactions, and the records of committed
    /// transactions.
    pub acknowledged: usize,
    pub acknowledged_by_kind: BTreeMap<&'static str, usize>,
    /// Acknowledged records found exactly once, where acknowledged, in order.
    pub verified: usize,
    /// Records whose delivery failed (or was never reported) that are in the log anyway.
    pub unacknowledged_present: usize,
    pub unacknowledged_absent: usize,
    pub txns_committed: usize,
    pub txns_aborted: usize,
    pub txns_abandoned: usize,
    pub txns_unknown_visible: usize,
    pub txns_unknown_invisible: usize,
    /// Transactions whose commit or abort a kill disturbed.
    pub txns_disturbed: usize,
    pub producers_replaced: usize,
    pub consumed: usize,
    pub commits_acknowledged: usize,
    pub offset_observations: usize,
    pub stored_committed: usize,
    pub stored_uncommitted: usize,
    pub issues: Vec<Issue>,
}

impl Report {
    pub fn count(&self, kind: Kind) -> usize {
        self.issues.iter().filter(|i| i.kind == kind).count()
    }

    fn issue(&mut self, kind: Kind, what: String) {
        self.issues.push(Issue { kind, what });
    }

    /// The first `n` issues of `kind`, one a line.
    pub fn describe(&self, kind: Kind, n: usize) -> String {
        let of_kind: Vec<&Issue> = self.issues.iter().filter(|i| i.kind == kind).collect();
        let mut text: Vec<String> = of_kind.iter().take(n).map(|i| i.what.clone()).collect();
        if of_kind.len() > n {
            text.push(format!("... and {} more", of_kind.len() - n));
        }
        text.join("\n")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "records sent {}, acknowledged {} {:?}, verified {}, lost {}, anomalies {}; \
             unacknowledged records present {} (absent {}); transactions committed {}, \
             aborted {}, abandoned {}, outcome unknown {} (visible {}, invisible {}), ended across a kill {}; \
             producers replaced {}; \
             consumers read {} records, {} offset commits acknowledged, {} committed offsets \
             observed; the log holds {} records, {} of them committed",
            self.sent,
            self.acknowledged,
            self.acknowledged_by_kind,
            self.verified,
            self.count(Kind::Loss),
            self.count(Kind::Anomaly),
            self.unacknowledged_present,
            self.unacknowledged_absent,
            self.txns_committed,
            self.txns_aborted,
            self.txns_abandoned,
            self.txns_unknown_visible + self.txns_unknown_invisible,
            self.txns_unknown_visible,
            self.txns_unknown_invisible,
            self.txns_disturbed,
            self.producers_replaced,
            self.consumed,
            self.commits_acknowledged,
            self.offset_observations,
            self.stored_uncommitted,
            self.stored_committed,
        )
    }
}

fn kind_name(kind: ProducerKind) -> &'static str {
    match kind {
        ProducerKind::Idempotent => "idempotent",
        ProducerKind::NoRetry => "no-retry",
        ProducerKind::Transactional => "transactional",
        ProducerKind::CrashingTransactional => "crashing transactional",
    }
}

/// Checks a run; see the module documentation.
pub fn check(run: &Run) -> Report {
    let mut r = Report {
        stored_committed: run.committed.len(),
        stored_uncommitted: run.uncommitted.len(),
        ..Report::default()
    };
    let producers: HashMap<u32, &ProducerLog> =
        run.producers.iter().map(|p| (p.worker, p)).collect();

    // Every stored record: parsed, sent by someone, once, in order.
    let mut stored_at: HashMap<(u32, u64), Vec<(i32, i64)>> = HashMap::new();
    let mut last_seq: HashMap<(i32, u32, u32), (u64, i64)> = HashMap::new();
    let mut by_offset: HashMap<(i32, i64), &str> = HashMap::new();
    let mut uncommitted = run.uncommitted.clone();
    uncommitted.sort();
    for (p, o, value) in &uncommitted {
        by_offset.insert((*p, *o), value);
        let Some(payload) = Payload::parse(value) else {
            r.issue(
                Kind::Anomaly,
                format!("{p}@{o}: a value no client wrote: {value:?}"),
            );
            continue;
        };
        let sent = producers
            .get(&payload.worker)
            .and_then(|log| log.sent.get(&payload.seq));
        if sent != Some(&payload) {
            r.issue(
                Kind::Anomaly,
                format!("{p}@{o}: {value:?} differs from what was sent: {sent:?}"),
            );
        }
        stored_at
            .entry((payload.worker, payload.seq))
            .or_default()
            .push((*p, *o));
        let key = (*p, payload.worker, payload.session);
        if let Some((seq, at)) = last_seq.get(&key) {
            if *seq >= payload.seq {
                r.issue(
                    Kind::Anomaly,
                    format!(
                        "partition {p}: worker {} session {} q{} at offset {o} comes after \
                         q{seq} at offset {at}: not in produce order",
                        payload.worker, payload.session, payload.seq
                    ),
                );
            }
        }
        last_seq.insert(key, (payload.seq, *o));
    }
    for ((worker, seq), places) in &stored_at {
        if places.len() > 1 {
            let acked = producers[worker]
                .deliveries
                .get(seq)
                .is_some_and(|d| d.is_ok());
            r.issue(
                Kind::Anomaly,
                format!(
                    "worker {worker} q{seq} ({}) is stored {} times, at {places:?}",
                    if acked {
                        "acknowledged"
                    } else {
                        "never acknowledged"
                    },
                    places.len()
                ),
            );
        }
    }

    // What read_committed sees.
    let mut visible: HashMap<(u32, u64), (i32, i64)> = HashMap::new();
    for (p, o, value) in &run.committed {
        if let Some(payload) = Payload::parse(value) {
            if visible
                .insert((payload.worker, payload.seq), (*p, *o))
                .is_some()
            {
                r.issue(
                    Kind::Anomaly,
                    format!(
                        "read_committed returns worker {} q{} twice",
                        payload.worker, payload.seq
                    ),
                );
            }
        }
        if by_offset.get(&(*p, *o)) != Some(&value.as_str()) {
            r.issue(
                Kind::Anomaly,
                format!(
                    "read_committed returns {value:?} at {p}@{o}, read_uncommitted {:?}",
                    by_offset.get(&(*p, *o))
                ),
            );
        }
    }
    for (p, (lso, hw)) in run.ends.iter().enumerate() {
        if lso != hw {
            r.issue(
                Kind::Anomaly,
                format!(
                    "partition {p}: last stable offset {lso} below the high watermark {hw} \
                     with every transaction ended"
                ),
            );
        }
    }

    // Each producer's acknowledgements.
    for log in &run.producers {
        r.sent += log.sent.len();
        r.producers_replaced += log.replaced.len();
        r.txns_disturbed += log.disturbed_ends;
        for seq in &log.double_reports {
            r.issue(
                Kind::Anomaly,
                format!("worker {} q{seq}: two delivery reports", log.worker),
            );
        }
        let id = |seq: u64| (log.worker, seq);
        // Checks one acknowledged record; true when it is where it was acknowledged.
        let check_acked = |r: &mut Report, seq: u64, what: &str| -> bool {
            let Some(&(p, o)) = visible.get(&id(seq)) else {
                let stored = stored_at.get(&id(seq));
                r.issue(
                    Kind::Loss,
                    format!(
                        "worker {} q{seq} ({what}) is not visible to read_committed (stored \
                         at {stored:?}); delivery report {:?}",
                        log.worker,
                        log.deliveries.get(&seq)
                    ),
                );
                return false;
            };
            match log.deliveries.get(&seq) {
                Some(Ok(at)) if *at != (p, o) => {
                    r.issue(
                        Kind::Loss,
                        format!(
                            "worker {} q{seq} ({what}) acknowledged at {}@{} is at {p}@{o}",
                            log.worker, at.0, at.1
                        ),
                    );
                    false
                }
                _ => stored_at.get(&id(seq)).is_some_and(|v| v.len() == 1),
            }
        };
        if matches!(
            log.kind,
            ProducerKind::Transactional | ProducerKind::CrashingTransactional
        ) {
            for (txn, t) in &log.txns {
                let shown = t
                    .seqs
                    .iter()
                    .filter(|s| visible.contains_key(&id(**s)))
                    .count();
                let all = t.seqs.len();
                let describe = || {
                    format!(
                        "worker {} transaction {txn} ({:?}, records q{:?}): {shown} of {all} \
                         visible",
                        log.worker, t.outcome, t.seqs
                    )
                };
                match t.outcome {
                    Outcome::Committed => {
                        r.txns_committed += 1;
                        r.acknowledged += all;
                        *r.acknowledged_by_kind
                            .entry(kind_name(log.kind))
                            .or_default() += all;
                        if shown != 0 && shown != all {
                            r.issue(Kind::Anomaly, format!("torn: {}", describe()));
                        }
                        for seq in &t.seqs {
                            if check_acked(&mut r, *seq, "committed transaction") {
                                r.verified += 1;
                            }
                        }
                    }
                    Outcome::Aborted | Outcome::Abandoned => {
                        if t.outcome == Outcome::Aborted {
                            r.txns_aborted += 1;
                        } else {
                            r.txns_abandoned += 1;
                        }
                        if shown != 0 {
                            r.issue(
                                Kind::Anomaly,
                                format!("never committed but visible: {}", describe()),
                            );
                        }
                    }
                    Outcome::Unknown => {
                        if shown == 0 {
                            r.txns_unknown_invisible += 1;
                        } else if shown == all {
                            r.txns_unknown_visible += 1;
                        } else {
                            r.issue(Kind::Anomaly, format!("torn: {}", describe()));
                        }
                    }
                }
            }
            // Records outside any transaction the worker knows of.
            let known: usize = log.txns.values().map(|t| t.seqs.len()).sum();
            if known != log.sent.len() {
                r.issue(
                    Kind::Anomaly,
                    format!(
                        "worker {}: {} records sent, {known} in transactions",
                        log.worker,
                        log.sent.len()
                    ),
                );
            }
        } else {
            for seq in log.sent.keys() {
                match log.deliveries.get(seq) {
                    Some(Ok(_)) => {
                        r.acknowledged += 1;
                        *r.acknowledged_by_kind
                            .entry(kind_name(log.kind))
                            .or_default() += 1;
                        if check_acked(&mut r, *seq, "acknowledged") {
                            r.verified += 1;
                        }
                    }
                    _ => {
                        if stored_at.contains_key(&id(*seq)) {
                            r.unacknowledged_present += 1;
                        } else {
                            r.unacknowledged_absent += 1;
                        }
                    }
                }
            }
        }
    }

    // What the consumers were given must be what the log holds, committed.
    for c in &run.consumers {
        r.consumed += c.records.len();
        r.commits_acknowledged += c.acked_commits.len();
        for (p, o, value) in &c.records {
            let held = by_offset.get(&(*p, *o));
            if held != Some(&value.as_str()) {
                r.issue(
                    Kind::Loss,
                    format!(
                        "{} read {value:?} at {p}@{o}; the log holds {held:?} there",
                        c.name
                    ),
                );
            } else if let Some(payload) = Payload::parse(value) {
                if !visible.contains_key(&(payload.worker, payload.seq)) {
                    r.issue(
                        Kind::Anomaly,
                        format!(
                            "{} (read_committed) read {value:?} at {p}@{o}, which the final \
                             read_committed read does not return",
                            c.name
                        ),
                    );
                }
            }
        }
    }

    // Committed offsets: never backwards, the final ones cover every acknowledged commit
    // and stay within the log.
    r.offset_observations = run.offset_observations.len();
    let mut latest: HashMap<i32, i64> = HashMap::new();
    for (i, (p, o)) in run
        .offset_observations
        .iter()
        .chain(&run.final_offsets)
        .enumerate()
    {
        if let Some(before) = latest.get(p) {
            if o < before {
                r.issue(
                    Kind::Loss,
                    format!(
                        "the committed offset of partition {p} went back from {before} to {o} \
                         (observation {i})"
                    ),
                );
            }
        }
        latest.insert(*p, *o);
    }
    let final_offsets: HashMap<i32, i64> = run.final_offsets.iter().copied().collect();
    let mut acked_max: HashMap<i32, i64> = HashMap::new();
    for c in &run.consumers {
        for (p, o) in &c.acked_commits {
            let max = acked_max.entry(*p).or_insert(*o);
            *max = (*max).max(*o);
        }
    }
    for p in 0..PARTITIONS {
        let last = final_offsets.get(&p).copied().unwrap_or(-1);
        if let Some(max) = acked_max.get(&p) {
            if last < *max {
                r.issue(
                    Kind::Loss,
                    format!(
                        "partition {p}: final committed offset {last} below the acknowledged \
                         commit of {max}"
                    ),
                );
            }
        }
        let lso = run.ends.get(p as usize).map_or(0, |e| e.0);
        if last > lso {
            r.issue(
                Kind::Anomaly,
                format!(
                    "partition {p}: committed offset {last} beyond the last stable offset {lso}"
                ),
            );
        }
    }
    r
}

/// The checker itself: a clean run has no issue, and each planted fault is found.
#[test]
fn the_checker_finds_planted_faults() {
    use super::clients::Txn;

    let value = |worker, seq, txn| {
        Payload {
            worker,
            session: 0,
            seq,
            txn,
        }
        .encode()
    };
    // Worker 0 (idempotent): q1-q3 acknowledged at 0@0-2, q4 failed and absent. Worker 1
    // (transactional): transaction 1 (q1, q2) committed at 1@0-1, 2 (q3) aborted at 1@2
    // (its marker at 1@3), 3 (q4, q5) of unknown outcome, absent.
    let clean = || {
        let mut idempotent = ProducerLog {
            worker: 0,
            kind: ProducerKind::Idempotent,
            sent: BTreeMap::new(),
            deliveries: HashMap::new(),
            double_reports: Vec::new(),
            txns: BTreeMap::new(),
            replaced: Vec::new(),
            disturbed_ends: 0,
        };
        for seq in 1..=4 {
            idempotent
                .sent
                .insert(seq, Payload::parse(&value(0, seq, None)).unwrap());
            let report = if seq < 4 {
                Ok((0, seq as i64 - 1))
            } else {
                Err("timed out".to_string())
            };
            idempotent.deliveries.insert(seq, report);
        }
        let mut txns = ProducerLog {
            worker: 1,
            kind: ProducerKind::Transactional,
            sent: BTreeMap::new(),
            deliveries: HashMap::new(),
            double_reports: Vec::new(),
            txns: BTreeMap::new(),
            replaced: Vec::new(),
            disturbed_ends: 0,
        };
        for (txn, seqs, outcome) in [
            (1, vec![1, 2], Outcome::Committed),
            (2, vec![3], Outcome::Aborted),
            (3, vec![4, 5], Outcome::Unknown),
        ] {
            for seq in &seqs {
                txns.sent
                    .insert(*seq, Payload::parse(&value(1, *seq, Some(txn))).unwrap());
            }
            txns.txns.insert(txn, Txn { seqs, outcome });
        }
        let committed: Vec<Stored> = vec![
            (0, 0, value(0, 1, None)),
            (0, 1, value(0, 2, None)),
            (0, 2, value(0, 3, None)),
            (1, 0, value(1, 1, Some(1))),
            (1, 1, value(1, 2, Some(1))),
        ];
        let mut uncommitted = committed.clone();
        uncommitted.push((1, 2, value(1, 3, Some(2))));
        let mut ends = vec![(3, 3), (4, 4)];
        ends.resize(PARTITIONS as usize, (0, 0));
        Run {
            producers: vec![idempotent, txns],
            consumers: vec![ConsumerLog {
                name: "c".to_string(),
                records: committed[..2].to_vec(),
                acked_commits: vec![(0, 1), (0, 2)],
                failed_commits: 0,
                errors: 0,
            }],
            offset_observations: vec![(0, -1), (0, 1), (0, 2)],
            final_offsets: vec![(0, 2)],
            committed,
            uncommitted,
            ends,
        }
    };
    let report = check(&clean());
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!((report.acknowledged, report.verified), (5, 5));

    type Plant<'a> = Box<dyn Fn(&mut Run) + 'a>;
    let planted: Vec<(&str, Kind, Plant<'_>)> = vec![
        (
            "stored 2 times",
            Kind::Anomaly,
            Box::new(|r| {
                r.uncommitted.push((2, 0, value(0, 4, None)));
                r.uncommitted.push((3, 0, value(0, 4, None)));
            }),
        ),
        (
            "not in produce order",
            Kind::Anomaly,
            Box::new(|r| {
                r.committed.swap(0, 1);
                r.committed[0].1 = 0;
                r.committed[1].1 = 1;
                r.uncommitted = r.committed.clone();
                r.uncommitted.push((1, 2, value(1, 3, Some(2))));
                r.consumers.clear();
            }),
        ),
        (
            "torn",
            Kind::Anomaly,
            Box::new(|r| {
                r.committed.retain(|s| s.0 != 1 || s.1 != 1);
            }),
        ),
        (
            "never committed but visible",
            Kind::Anomaly,
            Box::new(|r| r.committed.push((1, 2, value(1, 3, Some(2))))),
        ),
        (
            "torn",
            Kind::Anomaly,
            Box::new(|r| {
                r.uncommitted.push((1, 4, value(1, 4, Some(3))));
                r.committed.push((1, 4, value(1, 4, Some(3))));
                r.ends[1] = (5, 5);
            }),
        ),
        (
            "not visible to read_committed",
            Kind::Loss,
            Box::new(|r| {
                r.committed.retain(|s| s.0 != 0 || s.1 != 2);
                r.uncommitted.retain(|s| s.0 != 0 || s.1 != 2);
            }),
        ),
        (
            "acknowledged at 0@7 is at 0@1",
            Kind::Loss,
            Box::new(|r| {
                r.producers[0].deliveries.insert(2, Ok((0, 7)));
            }),
        ),
        (
            "went back from 2 to 1",
            Kind::Loss,
            Box::new(|r| r.offset_observations.push((0, 1))),
        ),
        (
            "below the acknowledged commit",
            Kind::Loss,
            Box::new(|r| r.consumers[0].acked_commits.push((0, 3))),
        ),
        (
            "beyond the last stable offset",
            Kind::Anomaly,
            Box::new(|r| r.final_offsets = vec![(0, 9)]),
        ),
        (
            "last stable offset 3 below the high watermark 5",
            Kind::Anomaly,
            Box::new(|r| r.ends[0] = (3, 5)),
        ),
        (
            "the log holds",
            Kind::Loss,
            Box::new(|r| r.consumers[0].records.push((0, 5, value(0, 9, None)))),
        ),
        (
            "a value no client wrote",
            Kind::Anomaly,
            Box::new(|r| r.uncommitted.push((2, 0, "garbage".to_string()))),
        ),
    ];
    for (want, kind, plant) in planted {
        let mut run = clean();
        plant(&mut run);
        let report = check(&run);
        assert!(
            report
                .issues
                .iter()
                .any(|i| i.kind == kind && i.what.contains(want)),
            "planted {want:?} ({kind:?}), found {:?}",
            report.issues
        );
    }
}
