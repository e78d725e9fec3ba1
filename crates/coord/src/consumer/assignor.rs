//! Server-side assignors (KIP-848): given the members' subscriptions, the subscribed topics'
//! partition counts and the previous target assignment, compute the next target assignment.
//! Both are deterministic: the same input gives the same output on every broker.
//!
//! - `uniform` (Kafka's default `UniformAssignor`): spreads every subscribed partition over
//!   the members subscribed to its topic so that partition counts differ by at most one, and
//!   keeps each partition with its previous owner whenever balance allows (sticky). With
//!   heterogeneous subscriptions the balance is as good as single moves between two members
//!   can make it (Kafka's general builder can also move partitions along longer chains).
//! - `range` (`RangeAssignor`): per topic, the partitions are split into contiguous ranges
//!   over the members subscribed to it, sorted by member id; the first `partitions % members`
//!   members get one more. Members with the same subscription therefore get the same
//!   partition numbers of equally partitioned topics (co-partitioning). Not sticky.
//!
//! Rack awareness is not implemented: racks are accepted and reported, not used.

use std::collections::{BTreeMap, BTreeSet};

use super::api::{Assignment, TopicId};

/// A server-side assignor a member may name in `ServerAssignor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerAssignor {
    Uniform,
    Range,
}

impl ServerAssignor {
    /// The name members send and ConsumerGroupDescribe reports.
    pub fn name(self) -> &'static str {
        match self {
            ServerAssignor::Uniform => "uniform",
            ServerAssignor::Range => "range",
        }
    }

    pub fn from_name(name: &str) -> Option<ServerAssignor> {
        match name {
            "uniform" => Some(ServerAssignor::Uniform),
            "range" => Some(ServerAssignor::Range),
            _ => None,
        }
    }

    /// Computes a target assignment. Members absent from the result get nothing.
    pub fn assign(self, spec: &AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
        match self {
            ServerAssignor::Uniform => uniform(spec),
            ServerAssignor::Range => range(spec),
        }
    }
}

/// One member as an assignor sees it.
#[derive(Debug, Clone)]
pub struct MemberSpec<'a> {
    /// The ids of the existing topics the member subscribes to.
    pub topics: BTreeSet<TopicId>,
    /// The member's previous target assignment (stickiness); None for a new member.
    pub current: Option<&'a Assignment>,
}

/// An assignor's input.
#[derive(Debug, Clone, Default)]
pub struct AssignmentSpec<'a> {
    /// By member id.
    pub members: BTreeMap<String, MemberSpec<'a>>,
    /// The partition count of every subscribed topic.
    pub partition_counts: BTreeMap<TopicId, i32>,
}

impl AssignmentSpec<'_> {
    /// The members subscribed to each existing topic, in member id order.
    fn subscribers(&self) -> BTreeMap<TopicId, Vec<&str>> {
        let mut subscribers: BTreeMap<TopicId, Vec<&str>> = BTreeMap::new();
        for (member_id, member) in &self.members {
            for topic in &member.topics {
                if self.partition_counts.contains_key(topic) {
                    subscribers.entry(*topic).or_default().push(member_id);
                }
            }
        }
        subscribers
    }
}

fn range(spec: &AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
    let mut result: BTreeMap<String, Assignment> = spec
        .members
        .keys()
        .map(|id| (id.clone(), Assignment::new()))
        .collect();
    for (topic, members) in spec.subscribers() {
        let partitions = spec.partition_counts[&topic].max(0) as usize;
        let per_member = partitions / members.len();
        let with_extra = partitions % members.len();
        let mut next = 0usize;
        for (i, member) in members.iter().enumerate() {
            let count = per_member + usize::from(i < with_extra);
            let assignment = result.get_mut(*member).expect("every member has an entry");
            for p in next..next + count {
                assignment.insert(topic, p as i32);
            }
            next += count;
        }
    }
    result
}

fn uniform(spec: &AssignmentSpec<'_>) -> BTreeMap<String, Assignment> {
    let subscribers = spec.subscribers();
    let mut result: BTreeMap<String, Assignment> = spec
        .members
        .keys()
        .map(|id| (id.clone(), Assignment::new()))
        .collect();
    let mut counts: BTreeMap<&str, usize> =
        spec.members.keys().map(|id| (id.as_str(), 0)).collect();
    let mut taken: BTreeSet<(TopicId, i32)> = BTreeSet::new();

    // 1. Stickiness: every member keeps the partitions of its previous target that still
    //    exist and that it still subscribes to.
    for (member_id, member) in &spec.members {
        let Some(current) = member.current else {
            continue;
        };
        for (topic, p) in current.iter() {
            let exists = spec
                .partition_counts
                .get(&topic)
                .is_some_and(|count| (0..*count).contains(&p));
            if exists && member.topics.contains(&topic) && taken.insert((topic, p)) {
                result.get_mut(member_id).expect("entry").insert(topic, p);
                *counts.get_mut(member_id.as_str()).expect("entry") += 1;
            }
        }
    }

    // 2. Every unowned partition goes to the least loaded member subscribed to its topic,
    //    the most constrained partitions (fewest subscribers) first.
    let mut unassigned: Vec<(usize, TopicId, i32)> = Vec::new();
    for (topic, members) in &subscribers {
        for p in 0..spec.partition_counts[topic] {
            if !taken.contains(&(*topic, p)) {
                unassigned.push((members.len(), *topic, p));
            }
        }
    }
    unassigned.sort_unstable();
    for (_, topic, p) in unassigned {
        let member = least_loaded(&subscribers[&topic], &counts, None).expect("a subscriber");
        result.get_mut(member).expect("entry").insert(topic, p);
        *counts.get_mut(member).expect("entry") += 1;
    }

    // 3. Balance: move single partitions from the most loaded members to eligible members
    //    with at least two fewer, until no such move exists. Each move lowers the sum of
    //    squared counts, so this ends; with homogeneous subscriptions it ends with counts
    //    differing by at most one, having moved no more partitions than necessary.
    loop {
        let mut donors: Vec<(&str, usize)> = counts.iter().map(|(m, c)| (*m, *c)).collect();
        donors.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut moved = false;
        'donors: for (donor, donor_count) in donors {
            if donor_count < 2 {
                break;
            }
            // Highest partitions first: the low ones stay where they are.
            let owned: Vec<(TopicId, i32)> = result[donor].iter().collect();
            for (topic, p) in owned.into_iter().rev() {
                let Some(receiver) = least_loaded(&subscribers[&topic], &counts, Some(donor))
                else {
                    continue;
                };
                if counts[receiver] + 2 <= donor_count {
                    result.get_mut(donor).expect("entry").remove(&topic, p);
                    result.get_mut(receiver).expect("entry").insert(topic, p);
                    *counts.get_mut(donor).expect("entry") -= 1;
                    *counts.get_mut(receiver).expect("entry") += 1;
                    moved = true;
                    break 'donors;
                }
            }
        }
        if !moved {
            break;
        }
    }
    result
}

/// The member of `candidates` with the fewest partitions (ties: lowest member id), other
/// than `except`.
fn least_loaded<'a>(
    candidates: &[&'a str],
    counts: &BTreeMap<&str, usize>,
    except: Option<&str>,
) -> Option<&'a str> {
    candidates
        .iter()
        .copied()
        .filter(|m| Some(*m) != except)
        .min_by_key(|m| (counts[m], *m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(n: u8) -> TopicId {
        TopicId([n; 16])
    }

    fn spec<'a>(
        members: &[(&str, &[u8], Option<&'a Assignment>)],
        topics: &[(u8, i32)],
    ) -> AssignmentSpec<'a> {
        AssignmentSpec {
            members: members
                .iter()
                .map(|(id, ts, current)| {
                    (
                        (*id).to_owned(),
                        MemberSpec {
                            topics: ts.iter().map(|t| topic(*t)).collect(),
                            current: *current,
                        },
                    )
                })
                .collect(),
            partition_counts: topics.iter().map(|(t, n)| (topic(*t), *n)).collect(),
        }
    }

    fn counts(result: &BTreeMap<String, Assignment>) -> Vec<usize> {
        result.values().map(Assignment::len).collect()
    }

    /// Every partition of the subscribed topics is assigned exactly once.
    fn assert_complete(result: &BTreeMap<String, Assignment>, topics: &[(u8, i32)]) {
        let mut seen = BTreeSet::new();
        for a in result.values() {
            for tp in a.iter() {
                assert!(seen.insert(tp), "{tp:?} assigned twice in {result:?}");
            }
        }
        let expected: usize = topics.iter().map(|(_, n)| *n as usize).sum();
        assert_eq!(seen.len(), expected, "{result:?}");
    }

    #[test]
    fn range_splits_each_topic_in_ranges_by_member_id() {
        let topics = [(1, 3), (2, 3)];
        let s = spec(&[("b", &[1, 2], None), ("a", &[1, 2], None)], &topics);
        let r = ServerAssignor::Range.assign(&s);
        assert_complete(&r, &topics);
        let a: Assignment = [(topic(1), 0), (topic(1), 1), (topic(2), 0), (topic(2), 1)]
            .into_iter()
            .collect();
        let b: Assignment = [(topic(1), 2), (topic(2), 2)].into_iter().collect();
        assert_eq!(r["a"], a);
        assert_eq!(r["b"], b);
    }

    #[test]
    fn range_only_counts_subscribers_of_each_topic() {
        let topics = [(1, 4), (2, 2)];
        let s = spec(&[("a", &[1], None), ("b", &[1, 2], None)], &topics);
        let r = ServerAssignor::Range.assign(&s);
        assert_complete(&r, &topics);
        assert_eq!(r["a"].partitions(&topic(1)).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(r["b"].partitions(&topic(1)).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(r["b"].partitions(&topic(2)).collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn uniform_balances_across_topics() {
        let topics = [(1, 3), (2, 3)];
        let s = spec(&[("a", &[1, 2], None), ("b", &[1, 2], None)], &topics);
        let r = ServerAssignor::Uniform.assign(&s);
        assert_complete(&r, &topics);
        assert_eq!(counts(&r), vec![3, 3]);
        // Range would give a 4 and b 2.
        assert_eq!(counts(&ServerAssignor::Range.assign(&s)), vec![4, 2]);
    }

    #[test]
    fn uniform_is_balanced_for_many_shapes() {
        for members in 1..=7usize {
            for partitions in [1, 5, 8, 13, 30] {
                let ids: Vec<String> = (0..members).map(|i| format!("m{i}")).collect();
                let topics = [(1, partitions), (2, partitions / 2 + 1)];
                let entries: Vec<(&str, &[u8], Option<&Assignment>)> = ids
                    .iter()
                    .map(|id| (id.as_str(), &[1u8, 2][..], None))
                    .collect();
                let r = ServerAssignor::Uniform.assign(&spec(&entries, &topics));
                assert_complete(&r, &topics);
                let c = counts(&r);
                let (min, max) = (c.iter().min().unwrap(), c.iter().max().unwrap());
                assert!(max - min <= 1, "{members} members, {partitions}: {c:?}");
            }
        }
    }

    #[test]
    fn uniform_is_sticky_when_a_member_joins_and_leaves() {
        let topics = [(1, 6)];
        let two =
            ServerAssignor::Uniform.assign(&spec(&[("a", &[1], None), ("b", &[1], None)], &topics));
        assert_eq!(counts(&two), vec![3, 3]);

        // A third member takes one partition from each; nothing else moves.
        let three = ServerAssignor::Uniform.assign(&spec(
            &[
                ("a", &[1], Some(&two["a"])),
                ("b", &[1], Some(&two["b"])),
                ("c", &[1], None),
            ],
            &topics,
        ));
        assert_complete(&three, &topics);
        assert_eq!(counts(&three), vec![2, 2, 2]);
        assert!(three["a"].is_subset(&two["a"]));
        assert!(three["b"].is_subset(&two["b"]));

        // Then a leaves: its partitions are spread, b and c keep theirs.
        let after = ServerAssignor::Uniform.assign(&spec(
            &[
                ("b", &[1], Some(&three["b"])),
                ("c", &[1], Some(&three["c"])),
            ],
            &topics,
        ));
        assert_complete(&after, &topics);
        assert_eq!(counts(&after), vec![3, 3]);
        assert!(three["b"].is_subset(&after["b"]));
        assert!(three["c"].is_subset(&after["c"]));
    }

    #[test]
    fn uniform_is_deterministic_and_stable_under_recomputation() {
        let topics = [(1, 7), (2, 5)];
        let members: [(&str, &[u8], Option<&Assignment>); 3] = [
            ("x", &[1, 2], None),
            ("y", &[1, 2], None),
            ("z", &[1, 2], None),
        ];
        let first = ServerAssignor::Uniform.assign(&spec(&members, &topics));
        assert_eq!(
            first,
            ServerAssignor::Uniform.assign(&spec(&members, &topics))
        );
        // Recomputing from its own output changes nothing.
        let again = ServerAssignor::Uniform.assign(&spec(
            &[
                ("x", &[1, 2], Some(&first["x"])),
                ("y", &[1, 2], Some(&first["y"])),
                ("z", &[1, 2], Some(&first["z"])),
            ],
            &topics,
        ));
        assert_eq!(first, again);
    }

    #[test]
    fn uniform_with_heterogeneous_subscriptions() {
        // a reads topic 1 only; b and c read both.
        let topics = [(1, 6), (2, 6)];
        let s = spec(
            &[
                ("a", &[1], None),
                ("b", &[1, 2], None),
                ("c", &[1, 2], None),
            ],
            &topics,
        );
        let r = ServerAssignor::Uniform.assign(&s);
        assert_complete(&r, &topics);
        assert_eq!(counts(&r), vec![4, 4, 4]);
        assert_eq!(r["a"].partitions(&topic(2)).count(), 0);
    }

    #[test]
    fn uniform_drops_partitions_of_unsubscribed_topics() {
        let topics = [(1, 2), (2, 2)];
        let old: Assignment = [(topic(1), 0), (topic(2), 0), (topic(2), 1)]
            .into_iter()
            .collect();
        let r = ServerAssignor::Uniform.assign(&spec(
            &[("a", &[1], Some(&old)), ("b", &[2], None)],
            &topics,
        ));
        assert_complete(&r, &topics);
        assert_eq!(r["a"].partitions(&topic(2)).count(), 0);
        assert_eq!(r["b"].partitions(&topic(2)).count(), 2);
    }
}
