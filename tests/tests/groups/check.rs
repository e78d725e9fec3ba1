//! What the members of a group processed, checked against what was produced.

use std::collections::{BTreeMap, HashMap};

use myelin_tests::group_member::MemberEvent;

use crate::harness::{describe_all, Acked, Member};

/// Whether a member committed past a record it processed before it lost the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commit {
    Past,
    NotPast,
    /// The member was killed after it processed the record and before it printed the
    /// outcome of its commit: the commit may or may not have reached the broker.
    InDoubt,
}

/// One processing of a record by a member.
#[derive(Debug)]
struct Processing {
    #[allow(dead_code)] // read through Debug, in failure messages
    member: String,
    key: String,
    commit: Commit,
}

/// Checks the members' output against what was produced:
///
/// - every acknowledged record was processed, with its key, and nothing else was;
/// - a member processes a partition's records in offset order without gaps while it owns
///   the partition, and processes records only of partitions it owns;
/// - each record was processed exactly once by a member that then committed past it;
///   every other processing of it was by a member that lost the partition (closed, was
///   killed, or was rebalanced away) before a commit past it succeeded, so its offset was
///   at or after that member's last commit on the partition. The one exception is the last
///   record of a killed member that died waiting for its commit: that commit may have
///   landed, and then nobody processes the record again.
///
/// Returns how many records were processed more than once.
pub fn check_processing(members: &[&Member], acked: &[Acked]) -> usize {
    let mut processings: HashMap<(i32, i64), Vec<Processing>> = HashMap::new();
    let mut problems = Vec::new();
    for m in members {
        // The records processed in the current ownership of each partition, and the
        // highest commit in it.
        let mut owned: BTreeMap<i32, (Vec<(i64, String)>, i64)> = BTreeMap::new();
        let events = m.events();
        let in_doubt = match events.last() {
            Some(MemberEvent::Record {
                partition, offset, ..
            }) if m.killed => Some((*partition, *offset)),
            _ => None,
        };
        let mut end_ownership = |owned_records: (Vec<(i64, String)>, i64), p: i32| {
            let (records, committed) = owned_records;
            for (o, key) in records {
                let commit = if committed > o {
                    Commit::Past
                } else if in_doubt == Some((p, o)) {
                    Commit::InDoubt
                } else {
                    Commit::NotPast
                };
                processings.entry((p, o)).or_default().push(Processing {
                    member: m.name.clone(),
                    key,
                    commit,
                });
            }
        };
        for event in events {
            match event {
                MemberEvent::Assignment { partitions, .. } => {
                    let lost: Vec<i32> = owned
                        .keys()
                        .filter(|p| !partitions.contains(p))
                        .copied()
                        .collect();
                    for p in lost {
                        end_ownership(owned.remove(&p).unwrap(), p);
                    }
                    for p in partitions {
                        owned.entry(p).or_insert_with(|| (Vec::new(), -1));
                    }
                }
                MemberEvent::Record {
                    partition,
                    offset,
                    key,
                } => match owned.get_mut(&partition) {
                    None => problems.push(format!(
                        "{} processed {partition}/{offset} without owning partition {partition}",
                        m.name
                    )),
                    Some((records, _)) => {
                        if let Some((last, _)) = records.last() {
                            if offset != last + 1 {
                                problems.push(format!(
                                    "{} processed {partition}/{offset} after {partition}/{last}",
                                    m.name
                                ));
                            }
                        }
                        records.push((offset, key));
                    }
                },
                MemberEvent::Committed {
                    partition,
                    next_offset,
                } => {
                    if let Some((_, committed)) = owned.get_mut(&partition) {
                        *committed = (*committed).max(next_offset);
                    }
                }
                _ => {}
            }
        }
        for (p, ownership) in std::mem::take(&mut owned) {
            end_ownership(ownership, p);
        }
    }

    let produced: HashMap<(i32, i64), &str> = acked
        .iter()
        .map(|(p, o, k)| ((*p, *o), k.as_str()))
        .collect();
    assert_eq!(produced.len(), acked.len(), "an offset acknowledged twice");
    let mut duplicates = 0;
    for (&(p, o), key) in &produced {
        let Some(list) = processings.get(&(p, o)) else {
            problems.push(format!("{p}/{o} ({key}) was never processed"));
            continue;
        };
        if list.iter().any(|x| x.key != *key) {
            problems.push(format!("{p}/{o} holds {key}, processed as {list:?}"));
        }
        if list.len() > 1 {
            duplicates += 1;
        }
        let past = list.iter().filter(|x| x.commit == Commit::Past).count();
        let in_doubt = list.iter().filter(|x| x.commit == Commit::InDoubt).count();
        if past > 1 || past + in_doubt == 0 {
            problems.push(format!(
                "{p}/{o} ({key}) processed {} times, {past} of them committed past by the \
                 processing member: {list:?}",
                list.len()
            ));
        }
    }
    for (p, o) in processings.keys() {
        if !produced.contains_key(&(*p, *o)) {
            problems.push(format!("{p}/{o} was processed but never acknowledged"));
        }
    }
    problems.sort();
    assert!(
        problems.is_empty(),
        "{} problems (first 30):\n{}\n{}",
        problems.len(),
        problems[..problems.len().min(30)].join("\n"),
        describe_all(members)
    );
    duplicates
}

/// The end offset of each partition according to the acknowledgements.
pub fn end_offsets(acked: &[Acked], partitions: i32) -> BTreeMap<i32, i64> {
    let mut ends: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
    for (p, o, _) in acked {
        let end = ends.get_mut(p).expect("a partition of the topic");
        *end = (*end).max(o + 1);
    }
    ends
}
