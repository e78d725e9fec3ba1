//! Committed offsets per (group, topic, partition), kept with the group as in Kafka's
//! `GroupMetadata`: OffsetCommit validation against the group's generation and members,
//! OffsetFetch, OffsetDelete and expiry (`offsets.retention.minutes`).
//!
//! A commit is two steps so that offsets are durable before they are visible or
//! acknowledged: [`ClassicGroup::prepare_commit`] validates and stamps the offsets, the
//! server writes them to `__consumer_offsets`, then [`ClassicGroup::complete_commit`] applies
//! them (also the path for records replayed while loading). A transactional commit
//! (TxnOffsetCommit) is validated and stamped by [`ClassicGroup::prepare_txn_commit`]; the
//! service keeps its offsets pending until the producer's transaction ends and applies them
//! with `complete_commit` only if it commits.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::GroupState;
use crate::error::GroupError;
use crate::group::ClassicGroup;

/// A topic partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

/// One partition of an OffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    pub partition: TopicPartition,
    pub offset: i64,
    /// Null (Sarama, older clients) is legal.
    pub leader_epoch: Option<i32>,
    /// Null is legal and is returned as null.
    pub metadata: Option<String>,
}

/// A committed offset (the value of Kafka's offset commit record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    /// Returned by OffsetFetch unchanged, null included.
    pub metadata: Option<String>,
    pub commit_timestamp_ms: i64,
    /// Set when the commit asked for its own retention (OffsetCommit v2-4 `retention_time`
    /// other than -1): the offset expires at this time whatever the group's state.
    pub expire_timestamp_ms: Option<i64>,
}

/// The committed offsets of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupOffsets {
    offsets: BTreeMap<TopicPartition, CommittedOffset>,
}

impl GroupOffsets {
    pub fn get(&self, tp: &TopicPartition) -> Option<&CommittedOffset> {
        self.offsets.get(tp)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&TopicPartition, &CommittedOffset)> {
        self.offsets.iter()
    }
    pub fn len(&self) -> usize {
        self.offsets.len()
    }
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }
    pub(crate) fn clear(&mut self) {
        self.offsets.clear();
    }
}

/// A validated commit, to write to `__consumer_offsets` and then apply with
/// [`ClassicGroup::complete_commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    /// The offsets to write, stamped with the commit time.
    pub accepted: Vec<(TopicPartition, CommittedOffset)>,
    /// Partitions refused one by one (metadata too large).
    pub rejected: Vec<(TopicPartition, GroupError)>,
}

/// What [`ClassicGroup::expire_offsets`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredOffsets {
    /// Write a tombstone for each.
    pub partitions: Vec<TopicPartition>,
    /// The group was Empty and has no offsets left: it is now Dead; write a tombstone for
    /// its metadata and forget it.
    pub group_dead: bool,
}

impl ClassicGroup {
    /// The committed offsets.
    pub fn offsets(&self) -> &GroupOffsets {
        &self.offsets
    }

    /// OffsetCommit validation (Kafka's `validateOffsetCommit`). A commit with a negative
    /// generation is a "simple" commit, allowed while the group is Empty; otherwise a commit
    /// naming a member or a generation must come from a current member of the current
    /// generation.
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), GroupError> {
        if self.state() == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation_id < 0 && self.state() == GroupState::Empty {
            // The admin client or a consumer without group management: allowed while the
            // group has no members, whatever member id it names (Kafka does the same).
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.validate_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id() {
                return Err(self.illegal_generation(generation_id));
            }
        } else if self.state() != GroupState::Empty {
            // Only members commit to a group that has members.
            return Err(GroupError::UnknownMemberId {
                member_id: member_id.to_owned(),
            });
        }
        if self.state() == GroupState::CompletingRebalance {
            // The member must sync first; commits during PreparingRebalance (with the
            // generation being replaced) are allowed, for onPartitionsRevoked.
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// TxnOffsetCommit validation (Kafka's `validateOffsetCommit` with `isTransactional`):
    /// as [`Self::validate_offset_commit`], except that a commit naming no member, no
    /// instance and generation -1 (TxnOffsetCommit before v3, which has no such fields) is
    /// accepted whatever the group's state, and that a commit during CompletingRebalance is
    /// not refused.
    pub fn validate_txn_offset_commit(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), GroupError> {
        if self.state() == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if generation_id < 0 && self.state() == GroupState::Empty {
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.validate_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id() {
                return Err(self.illegal_generation(generation_id));
            }
        }
        Ok(())
    }

    /// Validates a TxnOffsetCommit ([`Self::validate_txn_offset_commit`]) and stamps its
    /// offsets with `now_ms`, as Kafka does: no expire time, no session renewal. The
    /// offsets are written to `__consumer_offsets` in the producer's transaction and
    /// applied with [`ClassicGroup::complete_commit`] once it commits.
    pub fn prepare_txn_commit(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        commits: Vec<OffsetCommit>,
        now_ms: i64,
    ) -> Result<CommitOutcome, GroupError> {
        self.validate_txn_offset_commit(member_id, group_instance_id, generation_id)?;
        Ok(self.stamp_commits(commits, None, now_ms))
    }

    /// Stamps accepted commits with `now_ms` (and an expire time from `retention_ms`);
    /// refuses metadata over `offset.metadata.max.bytes` partition by partition.
    fn stamp_commits(
        &self,
        commits: Vec<OffsetCommit>,
        retention_ms: Option<i64>,
        now_ms: i64,
    ) -> CommitOutcome {
        let max = self.config().offset_metadata_max_bytes;
        let mut outcome = CommitOutcome {
            accepted: Vec::with_capacity(commits.len()),
            rejected: Vec::new(),
        };
        for c in commits {
            let len = c.metadata.as_ref().map_or(0, String::len);
            if len > max {
                outcome
                    .rejected
                    .push((c.partition, GroupError::OffsetMetadataTooLarge { len, max }));
                continue;
            }
            outcome.accepted.push((
                c.partition,
                CommittedOffset {
                    offset: c.offset,
                    leader_epoch: c.leader_epoch,
                    metadata: c.metadata,
                    commit_timestamp_ms: now_ms,
                    expire_timestamp_ms: retention_ms.map(|r| now_ms.saturating_add(r)),
                },
            ));
        }
        outcome
    }

    /// Validates an OffsetCommit and stamps its offsets with `now_ms`; renews the member's
    /// session. `retention_ms` is the request's `retention_time` (None for -1, the broker's
    /// default). Nothing is visible until [`ClassicGroup::complete_commit`].
    ///
    /// A commit to a group the coordinator does not know is legal only as a simple commit
    /// (generation < 0): the server creates an Empty group for it first, else answers
    /// IllegalGeneration.
    pub fn prepare_commit(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        retention_ms: Option<i64>,
        commits: Vec<OffsetCommit>,
        now_ms: i64,
    ) -> Result<CommitOutcome, GroupError> {
        self.validate_offset_commit(member_id, group_instance_id, generation_id)?;
        if !self.is_empty() {
            self.renew(member_id, now_ms);
        }
        Ok(self.stamp_commits(commits, retention_ms, now_ms))
    }

    /// Applies offsets once written (or replayed from `__consumer_offsets` while loading).
    pub fn complete_commit(
        &mut self,
        accepted: impl IntoIterator<Item = (TopicPartition, CommittedOffset)>,
    ) {
        self.offsets.offsets.extend(accepted);
    }

    /// Removes an offset (a tombstone replayed while loading).
    pub fn remove_offset(&mut self, tp: &TopicPartition) -> Option<CommittedOffset> {
        self.offsets.offsets.remove(tp)
    }

    /// OffsetFetch: the requested partitions (None = all committed), each with its committed
    /// offset or None (the server answers offset -1, null metadata).
    pub fn fetch_offsets(
        &self,
        partitions: Option<&[TopicPartition]>,
    ) -> Vec<(TopicPartition, Option<CommittedOffset>)> {
        match partitions {
            None => self
                .offsets
                .offsets
                .iter()
                .map(|(tp, o)| (tp.clone(), Some(o.clone())))
                .collect(),
            Some(tps) => tps
                .iter()
                .map(|tp| (tp.clone(), self.offsets.offsets.get(tp).cloned()))
                .collect(),
        }
    }

    /// OffsetDelete (Kafka's `validateOffsetDelete` and `deleteOffsets`): removes committed
    /// offsets. An Empty group loses the offsets asked for. A group with members loses
    /// only those of topics its members do not subscribe to, and only when it uses the
    /// `consumer` protocol (whose subscriptions the broker can read); the partitions of
    /// subscribed topics come back in `subscribed`. Other protocol types with members
    /// get NonEmptyGroup. Returns (partitions removed, to tombstone; partitions refused).
    pub fn delete_offsets(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<(Vec<TopicPartition>, Vec<TopicPartition>), GroupError> {
        let subscribed: Option<std::collections::BTreeSet<String>> = match self.state() {
            GroupState::Dead => {
                return Err(GroupError::GroupIdNotFound {
                    group_id: self.group_id().to_owned(),
                })
            }
            GroupState::Empty => None,
            _ => {
                if self.protocol_type() != Some("consumer") {
                    return Err(GroupError::NonEmptyGroup {
                        group_id: self.group_id().to_owned(),
                    });
                }
                Some(self.subscribed_topics())
            }
        };
        let mut removed = Vec::new();
        let mut refused = Vec::new();
        for tp in partitions {
            match &subscribed {
                Some(topics) if topics.contains(&tp.topic) => refused.push(tp.clone()),
                _ => {
                    if self.offsets.offsets.remove(tp).is_some() {
                        removed.push(tp.clone());
                    }
                }
            }
        }
        Ok((removed, refused))
    }

    /// The topics the members subscribe to, read from their `consumer` protocol metadata
    /// (`ConsumerProtocolSubscription`: version, then the topic names). A member whose
    /// metadata does not parse counts as subscribed to every topic its offsets name, so
    /// that nothing in use is deleted.
    fn subscribed_topics(&self) -> std::collections::BTreeSet<String> {
        let protocol = self.protocol_name().unwrap_or("");
        let mut topics = std::collections::BTreeSet::new();
        for member in self.members() {
            match member
                .metadata(protocol)
                .and_then(|m| crate::group::subscription_topics(m))
            {
                Some(names) => topics.extend(names),
                None => topics.extend(self.offsets.offsets.keys().map(|tp| tp.topic.clone())),
            }
        }
        topics
    }

    /// Expires offsets (Kafka's `removeExpiredOffsets` and `cleanupGroupMetadata`): an offset
    /// with its own expire time expires then; otherwise the offsets of an Empty group expire
    /// `offsets.retention.minutes` after the later of the commit and the moment the group
    /// became empty. Offsets of groups with members stay (Kafka also expires a Stable
    /// consumer group's offsets of topics it no longer subscribes to; that needs the
    /// subscription, which the server may decode and handle). An Empty group left without
    /// offsets becomes Dead.
    pub fn expire_offsets(&mut self, now_ms: i64) -> ExpiredOffsets {
        self.expire_offsets_except(now_ms, &BTreeSet::new())
    }

    /// [`Self::expire_offsets`], sparing `pending`: the partitions with transactional
    /// offsets waiting for their transaction's outcome. Their committed offsets do not
    /// expire yet, and a group with any does not become Dead (Kafka's
    /// `cleanupExpiredOffsets`).
    pub fn expire_offsets_except(
        &mut self,
        now_ms: i64,
        pending: &BTreeSet<TopicPartition>,
    ) -> ExpiredOffsets {
        let retention = self.config().offsets_retention_ms;
        let empty_since = (self.state() == GroupState::Empty).then(|| self.state_timestamp_ms());
        let expired: Vec<TopicPartition> = self
            .offsets
            .offsets
            .iter()
            .filter(|(tp, _)| !pending.contains(*tp))
            .filter(|(_, o)| match (o.expire_timestamp_ms, empty_since) {
                (Some(at), _) => now_ms >= at,
                // Deliberately the later of the two, so that a fresh simple commit to a long
                // empty group is not expired at once.
                (None, Some(since)) => now_ms - since.max(o.commit_timestamp_ms) >= retention,
                (None, None) => false,
            })
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in &expired {
            self.offsets.offsets.remove(tp);
        }
        let group_dead = self.state() == GroupState::Empty
            && self.offsets.is_empty()
            && self.is_empty()
            && pending.is_empty();
        if group_dead {
            self.transition(GroupState::Dead, now_ms);
        }
        ExpiredOffsets {
            partitions: expired,
            group_dead,
        }
    }
}
