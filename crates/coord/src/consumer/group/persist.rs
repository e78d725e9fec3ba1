//! A consumer group in Kafka's `__consumer_offsets` records (key types 3-8, see
//! [`crate::records::consumer`]): the snapshot [`ConsumerGroup::records`] writes, the
//! tombstones of removed members or of the whole group, and [`ConsumerGroupBuilder`], which
//! replays records in log order as Kafka's `GroupMetadataManager.replay` methods do and
//! rebuilds the group.
//!
//! Writing: after a call that changed a group, the caller writes [`ConsumerGroup::records`]
//! (the whole group, in the order Kafka writes a heartbeat's records) together with
//! [`ConsumerGroup::tombstones_for_removed`] for the members gone since the previous write
//! (a [`ConsumerGroup::member_ids`] taken then). A deleted group is written as
//! [`ConsumerGroup::tombstones`]. Compaction then keeps one record per key: the latest.
//!
//! Loading: one [`ConsumerGroupBuilder`] per group id, fed every record of that group in log
//! order, then [`ConsumerGroupBuilder::finish`] once the partition is read. Every member's
//! session restarts at load time (members that do not come back are removed by `tick`), and
//! a member still revoking gets a fresh rebalance timeout, as Kafka's `onLoaded` schedules
//! them. A member keeps its epochs and assignment, so its next heartbeat with the epoch it
//! had goes on where it left off.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use super::ConsumerGroup;
use crate::consumer::api::{Assignment, TopicInfo, LEAVE_GROUP_MEMBER_EPOCH};
use crate::consumer::config::ConsumerGroupConfig;
use crate::consumer::member::{ConsumerMember, MemberState};
use crate::records::{
    ConsumerGroupCurrentMemberAssignmentValue, ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataValue, ConsumerGroupPartitionMetadataValue, ConsumerGroupRecord,
    ConsumerGroupTargetAssignmentMemberValue, ConsumerGroupTargetAssignmentMetadataValue,
    PartitionMetadataTopic,
};

#[cfg(test)]
mod tests;

/// The target assignment epoch Kafka's replay sets when the target assignment's metadata is
/// deleted (the group is being deleted).
const DELETED_ASSIGNMENT_EPOCH: i32 = -1;

impl ConsumerGroup {
    /// The whole group as Kafka would have written it, in the order of a heartbeat's records:
    /// the group epoch (metadata hash 0, see [`ConsumerGroupMetadataValue::metadata_hash`]),
    /// the subscribed topics' metadata, every member's metadata, every member's target
    /// assignment, the target assignment's epoch, and every member's current assignment.
    /// Replayed into a [`ConsumerGroupBuilder`] it gives this group back (less its timers,
    /// which restart at load). Members removed since an earlier snapshot need
    /// [`ConsumerGroup::tombstones_for_removed`] besides.
    pub fn records(&self) -> Vec<ConsumerGroupRecord> {
        let mut records = Vec::with_capacity(3 + 3 * self.members.len());
        records.push(ConsumerGroupRecord::Metadata {
            value: Some(ConsumerGroupMetadataValue {
                epoch: self.group_epoch,
                metadata_hash: 0,
            }),
        });
        records.push(ConsumerGroupRecord::PartitionMetadata {
            value: Some(ConsumerGroupPartitionMetadataValue {
                topics: self
                    .subscription_metadata
                    .iter()
                    .map(|(name, topic)| PartitionMetadataTopic {
                        topic_id: topic.id,
                        topic_name: name.clone(),
                        num_partitions: topic.partitions,
                        partition_racks: Vec::new(),
                    })
                    .collect(),
            }),
        });
        for member in self.members.values() {
            records.push(ConsumerGroupRecord::MemberMetadata {
                member_id: member.member_id.clone(),
                value: Some(member_metadata_value(member)),
            });
        }
        for (member_id, partitions) in &self.target_assignment {
            records.push(ConsumerGroupRecord::TargetAssignmentMember {
                member_id: member_id.clone(),
                value: Some(ConsumerGroupTargetAssignmentMemberValue {
                    partitions: partitions.clone(),
                }),
            });
        }
        records.push(ConsumerGroupRecord::TargetAssignmentMetadata {
            value: Some(ConsumerGroupTargetAssignmentMetadataValue {
                assignment_epoch: self.assignment_epoch,
            }),
        });
        for member in self.members.values() {
            records.push(ConsumerGroupRecord::CurrentMemberAssignment {
                member_id: member.member_id.clone(),
                value: Some(current_assignment_value(member)),
            });
        }
        records
    }

    /// The ids of the current members: keep the set from one write to pass to
    /// [`ConsumerGroup::tombstones_for_removed`] at the next.
    pub fn member_ids(&self) -> BTreeSet<String> {
        self.members.keys().cloned().collect()
    }

    /// The tombstones of the members in `before` that are no longer members (left, expired,
    /// fenced, or replaced by a static member's new id), three per member in the order Kafka
    /// writes them when it removes a member: current assignment, target assignment,
    /// member metadata. Written with the next [`ConsumerGroup::records`] (before or after it).
    pub fn tombstones_for_removed(&self, before: &BTreeSet<String>) -> Vec<ConsumerGroupRecord> {
        before
            .iter()
            .filter(|id| !self.members.contains_key(*id))
            .flat_map(|id| member_tombstones(id))
            .collect()
    }

    /// Every tombstone of the group, as Kafka writes them when it deletes a group: current
    /// assignments, target assignments, the target assignment's epoch, member metadata, the
    /// subscribed topics' metadata, and last the group epoch (replaying that one deletes the
    /// group). For a group that DeleteGroups marked dead.
    pub fn tombstones(&self) -> Vec<ConsumerGroupRecord> {
        let mut records = Vec::with_capacity(3 + 3 * self.members.len());
        records.extend(self.members.keys().map(|member_id| {
            ConsumerGroupRecord::CurrentMemberAssignment {
                member_id: member_id.clone(),
                value: None,
            }
        }));
        records.extend(self.members.keys().map(|member_id| {
            ConsumerGroupRecord::TargetAssignmentMember {
                member_id: member_id.clone(),
                value: None,
            }
        }));
        records.push(ConsumerGroupRecord::TargetAssignmentMetadata { value: None });
        records.extend(
            self.members
                .keys()
                .map(|member_id| ConsumerGroupRecord::MemberMetadata {
                    member_id: member_id.clone(),
                    value: None,
                }),
        );
        records.push(ConsumerGroupRecord::PartitionMetadata { value: None });
        records.push(ConsumerGroupRecord::Metadata { value: None });
        records
    }
}

/// A member's three tombstones, in Kafka's order (`GroupMetadataManager.removeMember`).
fn member_tombstones(member_id: &str) -> [ConsumerGroupRecord; 3] {
    [
        ConsumerGroupRecord::CurrentMemberAssignment {
            member_id: member_id.to_owned(),
            value: None,
        },
        ConsumerGroupRecord::TargetAssignmentMember {
            member_id: member_id.to_owned(),
            value: None,
        },
        ConsumerGroupRecord::MemberMetadata {
            member_id: member_id.to_owned(),
            value: None,
        },
    ]
}

/// Kafka's `newConsumerGroupMemberSubscriptionRecord`: the names the member sent, sorted,
/// its regex, no classic metadata.
fn member_metadata_value(member: &ConsumerMember) -> ConsumerGroupMemberMetadataValue {
    ConsumerGroupMemberMetadataValue {
        instance_id: member.instance_id.clone(),
        rack_id: member.rack_id.clone(),
        client_id: member.client_id.clone(),
        client_host: member.client_host.clone(),
        subscribed_topic_names: member.named_topics.iter().cloned().collect(),
        subscribed_topic_regex: member.subscribed_topic_regex.clone(),
        rebalance_timeout_ms: member.rebalance_timeout_ms,
        server_assignor: member.server_assignor.clone(),
        classic_member_metadata: None,
    }
}

/// Kafka's `newConsumerGroupCurrentAssignmentRecord`.
fn current_assignment_value(member: &ConsumerMember) -> ConsumerGroupCurrentMemberAssignmentValue {
    ConsumerGroupCurrentMemberAssignmentValue {
        member_epoch: member.member_epoch,
        previous_member_epoch: member.previous_member_epoch,
        state: member.state.kafka_value(),
        assigned_partitions: member.assigned_partitions.clone(),
        partitions_pending_revocation: member.partitions_pending_revocation.clone(),
    }
}

/// Rebuilds a [`ConsumerGroup`] from its records, replayed in log order (Kafka's
/// `GroupMetadataManager.replay` for record types 3-8), then [`ConsumerGroupBuilder::finish`].
///
/// Records apply as Kafka applies them: a record with a value creates the group (and, for a
/// member's metadata or current assignment, the member) if needed and overwrites what its key
/// names; a member metadata tombstone removes the member, a current assignment tombstone
/// leaves the member at epoch -1 with nothing assigned, a target assignment member tombstone
/// removes that member's target, a target assignment metadata tombstone sets its epoch to -1,
/// a partition metadata tombstone clears the subscribed topics' metadata, and a group
/// metadata tombstone deletes the group. Where Kafka refuses records out of its own write
/// order (a member or group tombstone while assignments remain) and fails the load, the
/// builder goes on: the tombstone removes what remains. Derived state (who owns which
/// partition, the subscribed topics) is computed once, at `finish`, so records that
/// compaction left in any order are fine.
#[derive(Debug, Clone)]
pub struct ConsumerGroupBuilder {
    group_id: String,
    config: ConsumerGroupConfig,
    member_id_seed: u64,
    /// A record with a value created the group and no group tombstone deleted it since.
    exists: bool,
    group_epoch: i32,
    assignment_epoch: i32,
    members: BTreeMap<String, ConsumerMember>,
    /// `group.instance.id` -> member id, the latest member metadata record winning.
    static_members: BTreeMap<String, String>,
    target_assignment: BTreeMap<String, Assignment>,
    subscription_metadata: BTreeMap<String, TopicInfo>,
}

impl ConsumerGroupBuilder {
    /// A builder for group `group_id`, which [`ConsumerGroupBuilder::finish`] gives the
    /// settings and member id seed of [`ConsumerGroup::new`].
    pub fn new(
        group_id: impl Into<String>,
        config: ConsumerGroupConfig,
        member_id_seed: u64,
    ) -> Self {
        ConsumerGroupBuilder {
            group_id: group_id.into(),
            config,
            member_id_seed,
            exists: false,
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            target_assignment: BTreeMap::new(),
            subscription_metadata: BTreeMap::new(),
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// Whether the records so far leave a group (a record with a value since the last group
    /// tombstone).
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// Applies the next record of the group, in log order.
    pub fn replay(&mut self, record: ConsumerGroupRecord) {
        match record {
            ConsumerGroupRecord::Metadata { value: Some(value) } => {
                self.exists = true;
                self.group_epoch = value.epoch;
            }
            ConsumerGroupRecord::Metadata { value: None } => self.delete(),
            ConsumerGroupRecord::PartitionMetadata { value: Some(value) } => {
                self.exists = true;
                self.subscription_metadata = value
                    .topics
                    .into_iter()
                    .map(|t| {
                        let info = TopicInfo {
                            id: t.topic_id,
                            partitions: t.num_partitions,
                        };
                        (t.topic_name, info)
                    })
                    .collect();
            }
            ConsumerGroupRecord::PartitionMetadata { value: None } => {
                self.subscription_metadata.clear();
            }
            ConsumerGroupRecord::MemberMetadata {
                member_id,
                value: Some(value),
            } => {
                self.exists = true;
                self.apply_member_metadata(member_id, value);
            }
            ConsumerGroupRecord::MemberMetadata {
                member_id,
                value: None,
            } => {
                if let Some(member) = self.members.remove(&member_id) {
                    self.forget_instance(&member);
                }
                self.target_assignment.remove(&member_id);
            }
            ConsumerGroupRecord::TargetAssignmentMetadata { value: Some(value) } => {
                self.exists = true;
                self.assignment_epoch = value.assignment_epoch;
            }
            ConsumerGroupRecord::TargetAssignmentMetadata { value: None } => {
                if self.exists {
                    self.assignment_epoch = DELETED_ASSIGNMENT_EPOCH;
                }
            }
            ConsumerGroupRecord::TargetAssignmentMember {
                member_id,
                value: Some(value),
            } => {
                self.exists = true;
                self.target_assignment.insert(member_id, value.partitions);
            }
            ConsumerGroupRecord::TargetAssignmentMember {
                member_id,
                value: None,
            } => {
                self.target_assignment.remove(&member_id);
            }
            ConsumerGroupRecord::CurrentMemberAssignment {
                member_id,
                value: Some(value),
            } => {
                self.exists = true;
                self.apply_current_assignment(member_id, value);
            }
            ConsumerGroupRecord::CurrentMemberAssignment {
                member_id,
                value: None,
            } => {
                if let Some(member) = self.members.get_mut(&member_id) {
                    member.member_epoch = LEAVE_GROUP_MEMBER_EPOCH;
                    member.previous_member_epoch = LEAVE_GROUP_MEMBER_EPOCH;
                    member.assigned_partitions = Assignment::new();
                    member.partitions_pending_revocation = Assignment::new();
                }
            }
        }
    }

    /// A group tombstone: the group and whatever it still held are gone; a later record with
    /// a value starts a new group at epoch 0.
    fn delete(&mut self) {
        self.exists = false;
        self.group_epoch = 0;
        self.assignment_epoch = 0;
        self.members.clear();
        self.static_members.clear();
        self.target_assignment.clear();
        self.subscription_metadata.clear();
    }

    fn member_entry(&mut self, member_id: String) -> &mut ConsumerMember {
        self.members
            .entry(member_id.clone())
            .or_insert_with(|| ConsumerMember::new(member_id, 0))
    }

    /// Kafka's `ConsumerGroupMember.Builder.updateWith(ConsumerGroupMemberMetadataValue)`.
    /// Classic-protocol metadata is not kept.
    fn apply_member_metadata(
        &mut self,
        member_id: String,
        value: ConsumerGroupMemberMetadataValue,
    ) {
        let member = self.member_entry(member_id.clone());
        let previous_instance = std::mem::replace(&mut member.instance_id, value.instance_id);
        member.rack_id = value.rack_id;
        member.client_id = value.client_id;
        member.client_host = value.client_host;
        member.named_topics = value.subscribed_topic_names.into_iter().collect();
        // The regex's topics join the subscription at the member's next heartbeat.
        member.subscribed_topic_names = member.named_topics.clone();
        member.subscribed_topic_regex = value.subscribed_topic_regex.filter(|r| !r.is_empty());
        member.rebalance_timeout_ms = value.rebalance_timeout_ms;
        member.server_assignor = value.server_assignor;
        let instance_id = member.instance_id.clone();
        if let Some(previous) = previous_instance {
            if self.static_members.get(&previous) == Some(&member_id) {
                self.static_members.remove(&previous);
            }
        }
        if let Some(instance_id) = instance_id {
            self.static_members.insert(instance_id, member_id);
        }
    }

    /// Kafka's `ConsumerGroupMember.Builder.updateWith(ConsumerGroupCurrentMemberAssignmentValue)`.
    fn apply_current_assignment(
        &mut self,
        member_id: String,
        value: ConsumerGroupCurrentMemberAssignmentValue,
    ) {
        let member = self.member_entry(member_id);
        member.member_epoch = value.member_epoch;
        member.previous_member_epoch = value.previous_member_epoch;
        member.state = MemberState::from_kafka_value(value.state).unwrap_or_else(|| {
            // A state this version does not know (Kafka's UNKNOWN): one from which the next
            // heartbeat recomputes where the member is.
            if value.partitions_pending_revocation.is_empty() {
                MemberState::UnreleasedPartitions
            } else {
                MemberState::UnrevokedPartitions
            }
        });
        member.assigned_partitions = value.assigned_partitions;
        member.partitions_pending_revocation = value.partitions_pending_revocation;
    }

    fn forget_instance(&mut self, member: &ConsumerMember) {
        if let Some(instance_id) = &member.instance_id {
            if self.static_members.get(instance_id) == Some(&member.member_id) {
                self.static_members.remove(instance_id);
            }
        }
    }

    /// The group the records describe, or None if they leave none (never created, or
    /// deleted). Every member's session ends at `now_ms` plus the session timeout, and a
    /// member revoking partitions must have revoked them by `now_ms` plus its rebalance
    /// timeout (Kafka's `onLoaded`).
    ///
    /// Also settles what the records may leave inconsistent: a member left at epoch -1 by a
    /// current assignment tombstone without its metadata tombstone is dropped (its removal
    /// was cut short), targets of members that do not exist are dropped, the subscribed
    /// topics' metadata keeps only topics some member subscribes to, and a partition that
    /// two members claim stays with the first in member id order (the other gets it through
    /// reconciliation, if ever).
    pub fn finish(mut self, now_ms: i64) -> Option<ConsumerGroup> {
        if !self.exists {
            return None;
        }
        self.members
            .retain(|_, m| m.member_epoch != LEAVE_GROUP_MEMBER_EPOCH);
        let members = &self.members;
        self.target_assignment
            .retain(|member_id, _| members.contains_key(member_id));
        self.static_members.retain(|instance_id, member_id| {
            members
                .get(member_id)
                .is_some_and(|m| m.instance_id.as_deref() == Some(instance_id.as_str()))
        });
        for member in self.members.values() {
            if let Some(instance_id) = &member.instance_id {
                self.static_members
                    .entry(instance_id.clone())
                    .or_insert_with(|| member.member_id.clone());
            }
        }

        let mut group = ConsumerGroup::new(self.group_id, self.config, self.member_id_seed);
        group.group_epoch = self.group_epoch;
        group.assignment_epoch = self.assignment_epoch;
        let session_timeout = i64::from(group.config.session_timeout_ms);
        for (member_id, mut member) in self.members {
            // A regex's topics as they were written: those of the subscribed topics'
            // metadata that it matches (the member's next heartbeat matches it again).
            if let Some(regex) = member
                .subscribed_topic_regex
                .as_deref()
                .and_then(|r| super::compile_topic_regex(r).ok())
            {
                let matched = self
                    .subscription_metadata
                    .keys()
                    .filter(|name| super::regex_may_match(&regex, name))
                    .cloned();
                member.subscribed_topic_names.extend(matched);
            }
            for name in &member.subscribed_topic_names {
                *group
                    .subscribed_topic_counts
                    .entry(name.clone())
                    .or_default() += 1;
            }
            for owned in [
                &mut member.assigned_partitions,
                &mut member.partitions_pending_revocation,
            ] {
                let claimed: Vec<_> = owned.iter().collect();
                for tp in claimed {
                    match group.partition_owners.entry(tp) {
                        Entry::Occupied(_) => {
                            owned.remove(&tp.0, tp.1);
                        }
                        Entry::Vacant(free) => {
                            free.insert(member_id.clone());
                        }
                    }
                }
            }
            member.session_deadline_ms = now_ms.saturating_add(session_timeout);
            member.revocation_deadline_ms = (member.state == MemberState::UnrevokedPartitions)
                .then(|| {
                    let at = now_ms.saturating_add(i64::from(member.rebalance_timeout_ms));
                    (at, member.member_epoch)
                });
            group.members.insert(member_id, member);
        }
        let counts = &group.subscribed_topic_counts;
        self.subscription_metadata
            .retain(|name, _| counts.contains_key(name));
        group.subscription_metadata = self.subscription_metadata;
        group.static_members = self.static_members;
        group.target_assignment = self.target_assignment;
        Some(group)
    }
}
