//! A snapshot of the coordinator for the metrics: groups by state, members, rebalances,
//! and every committed offset (the broker computes lag against the log end offsets).

use std::collections::BTreeMap;

use super::shard::Slot;
use crate::offsets::TopicPartition;

/// One group in a [`GroupStats`] snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub group_id: String,
    pub state: &'static str,
    pub members: usize,
    /// Committed offsets by partition.
    pub offsets: Vec<(TopicPartition, i64)>,
}

/// The coordinator's figures at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Groups by Kafka state name.
    pub groups_by_state: BTreeMap<&'static str, u64>,
    /// Members of every group.
    pub members: u64,
    /// Join phases completed since start.
    pub rebalances: u64,
    /// Every group.
    pub groups: Vec<GroupSummary>,
}

impl GroupStats {
    pub(crate) fn add(&mut self, group_id: &str, slot: &Slot) {
        let group = &slot.group;
        let (state, members) = match &slot.consumer {
            Some(c) => (c.state().kafka_name(), c.members().count()),
            None => (group.state().kafka_name(), group.members().count()),
        };
        *self.groups_by_state.entry(state).or_default() += 1;
        self.members += members as u64;
        self.groups.push(GroupSummary {
            group_id: group_id.to_string(),
            state,
            members,
            offsets: group
                .offsets()
                .iter()
                .map(|(tp, o)| (tp.clone(), o.offset))
                .collect(),
        });
    }
}
