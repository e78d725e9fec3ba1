//! The consumer group state machine (KIP-848), after Kafka's `GroupMetadataManager`
//! (`consumerGroupHeartbeat`, `consumerGroupLeave`, the session and rebalance timers) and
//! `ConsumerGroup`.
//!
//! A heartbeat does three things, in order:
//! 1. it creates or updates the member; a new member, a changed subscription, or changed
//!    metadata of the subscribed topics (a topic created, deleted or given more partitions)
//!    bumps the group epoch;
//! 2. when the group epoch is ahead of the target assignment's, the group's assignor
//!    computes a new target assignment for every member, at the group epoch;
//! 3. the member's own assignment moves one step toward its target (see [`super::member`]).
//!
//! Other members learn of a new target on their own next heartbeat. A member leaving or being
//! removed bumps the group epoch; the next heartbeat of any member computes the new target.

use std::collections::{BTreeMap, BTreeSet};

use super::api::{
    base64_url, Assignment, ConsumerGroupDescription, ConsumerGroupState, ConsumerHeartbeatRequest,
    ConsumerHeartbeatResponse, DescribedMember, DescribedTopicPartitions, RemovalReason,
    RemovedMember, TopicId, TopicInfo, TopicMetadata, JOIN_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH,
};
use super::assignor::{AssignmentSpec, MemberSpec, ServerAssignor};
use super::config::ConsumerGroupConfig;
use super::member::{ConsumerMember, MemberState, Reconciliation};
use crate::error::GroupError;

mod persist;

pub use self::persist::ConsumerGroupBuilder;

/// One consumer group (KIP-848 protocol): its members, epochs and assignments.
#[derive(Debug, Clone)]
pub struct ConsumerGroup {
    group_id: String,
    config: ConsumerGroupConfig,
    /// Deleted (DeleteGroups); the server forgets the group.
    dead: bool,
    /// Bumped whenever the target assignment must be recomputed.
    group_epoch: i32,
    /// The group epoch the target assignment was computed at.
    assignment_epoch: i32,
    members: BTreeMap<String, ConsumerMember>,
    /// `group.instance.id` -> member id.
    static_members: BTreeMap<String, String>,
    /// The target assignment, by member id.
    target_assignment: BTreeMap<String, Assignment>,
    /// Every partition some member owns (assigned or pending revocation) -> that member's
    /// id. A partition has at most one owner: a member is given a partition only once its
    /// previous owner released it.
    partition_owners: BTreeMap<(TopicId, i32), String>,
    /// Topic name -> the number of members subscribed to it.
    subscribed_topic_counts: BTreeMap<String, usize>,
    /// The subscribed topics that exist, as of the last heartbeat (Kafka's subscription
    /// metadata): a difference bumps the group epoch.
    subscription_metadata: BTreeMap<String, TopicInfo>,
    /// Feeds generated member ids (v0 joins without one): unique per coordinator incarnation.
    member_id_seed: u64,
    member_id_counter: u64,
}

/// How a heartbeat finds its member, decided before anything changes.
enum Resolution {
    /// A current member.
    Existing,
    /// A member joining.
    New,
    /// A static member rejoining under a new member id after a temporary leave: the new id
    /// takes over the old one's assignment.
    ReplaceStatic { old_member_id: String },
}

impl ConsumerGroup {
    /// A new, empty group at epoch 0. `member_id_seed` makes the member ids the coordinator
    /// generates unique across restarts: pass a random number (tests pass a constant).
    pub fn new(
        group_id: impl Into<String>,
        config: ConsumerGroupConfig,
        member_id_seed: u64,
    ) -> Self {
        ConsumerGroup {
            group_id: group_id.into(),
            config,
            dead: false,
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            target_assignment: BTreeMap::new(),
            partition_owners: BTreeMap::new(),
            subscribed_topic_counts: BTreeMap::new(),
            subscription_metadata: BTreeMap::new(),
            member_id_seed,
            member_id_counter: 0,
        }
    }

    /// Replaces the group's settings (the broker's, with the group's dynamic configs in
    /// place): the session timeout and heartbeat interval given from the next heartbeat on.
    pub fn set_config(&mut self, config: ConsumerGroupConfig) {
        self.config = config;
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }
    pub fn config(&self) -> &ConsumerGroupConfig {
        &self.config
    }
    pub fn group_epoch(&self) -> i32 {
        self.group_epoch
    }
    /// The epoch of the current target assignment.
    pub fn assignment_epoch(&self) -> i32 {
        self.assignment_epoch
    }
    pub fn members(&self) -> impl Iterator<Item = &ConsumerMember> {
        self.members.values()
    }
    pub fn member(&self, member_id: &str) -> Option<&ConsumerMember> {
        self.members.get(member_id)
    }
    /// The member id currently holding a `group.instance.id`.
    pub fn static_member_id(&self, instance_id: &str) -> Option<&str> {
        self.static_members.get(instance_id).map(String::as_str)
    }
    /// A member's target assignment (None for a member the assignor gave nothing to yet).
    pub fn target_assignment(&self, member_id: &str) -> Option<&Assignment> {
        self.target_assignment.get(member_id)
    }
    /// The subscribed topics that exist, by name.
    pub fn subscription_metadata(&self) -> &BTreeMap<String, TopicInfo> {
        &self.subscription_metadata
    }
    /// Whether some member subscribes to `topic` (OffsetDelete answers
    /// GROUP_SUBSCRIBED_TO_TOPIC then).
    pub fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        self.subscribed_topic_counts.contains_key(topic)
    }
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Kafka's `ConsumerGroup.state`: computed from the epochs and the members.
    pub fn state(&self) -> ConsumerGroupState {
        if self.dead {
            ConsumerGroupState::Dead
        } else if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| !m.is_reconciled_to(self.assignment_epoch))
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The assignor the group uses: the one most members prefer (ties: the earlier in
    /// `group.consumer.assignors`), else the first configured.
    pub fn preferred_assignor(&self) -> ServerAssignor {
        let mut votes: BTreeMap<ServerAssignor, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(a) = m
                .server_assignor
                .as_deref()
                .and_then(|n| self.config.assignor(n))
            {
                *votes.entry(a).or_default() += 1;
            }
        }
        let best = votes.values().copied().max().unwrap_or(0);
        self.config
            .assignors
            .iter()
            .copied()
            .find(|a| best > 0 && votes.get(a) == Some(&best))
            .unwrap_or_else(|| self.config.default_assignor())
    }

    /// Marks an empty group Dead (DeleteGroups): `NonEmptyGroup` while it has members.
    pub fn delete(&mut self) -> Result<(), GroupError> {
        if self.dead {
            return Err(GroupError::GroupIdNotFound {
                group_id: self.group_id.clone(),
            });
        }
        if !self.members.is_empty() {
            return Err(GroupError::NonEmptyGroup {
                group_id: self.group_id.clone(),
            });
        }
        self.dead = true;
        Ok(())
    }

    // ----- ConsumerGroupHeartbeat -------------------------------------------------------

    /// ConsumerGroupHeartbeat: joins (epoch 0), leaves (-1, or -2 for a static member's
    /// temporary leave) or heartbeats (the member's epoch), with the cluster's current
    /// topics. Nothing changes when it fails.
    pub fn heartbeat(
        &mut self,
        req: ConsumerHeartbeatRequest,
        topics: &dyn TopicMetadata,
        now_ms: i64,
    ) -> Result<ConsumerHeartbeatResponse, GroupError> {
        if self.dead {
            return Err(GroupError::GroupIdNotFound {
                group_id: self.group_id.clone(),
            });
        }
        self.validate_request(&req)?;
        match req.member_epoch {
            LEAVE_GROUP_MEMBER_EPOCH | LEAVE_GROUP_STATIC_MEMBER_EPOCH => self.leave(&req),
            _ => self.regular_heartbeat(req, topics, now_ms),
        }
    }

    /// Kafka's `throwIfConsumerGroupHeartbeatRequestIsInvalid`.
    fn validate_request(&self, req: &ConsumerHeartbeatRequest) -> Result<(), GroupError> {
        let invalid = |reason: &str| {
            Err(GroupError::InvalidRequest {
                reason: reason.to_owned(),
            })
        };
        if (req.member_epoch > 0 || req.member_epoch == LEAVE_GROUP_MEMBER_EPOCH)
            && req.member_id.is_empty()
        {
            return invalid("MemberId can't be empty.");
        }
        if req.instance_id.as_deref() == Some("") {
            return invalid("InstanceId can't be empty.");
        }
        if req.rack_id.as_deref() == Some("") {
            return invalid("RackId can't be empty.");
        }
        match req.member_epoch {
            JOIN_GROUP_MEMBER_EPOCH => {
                if req.rebalance_timeout_ms == -1 {
                    return invalid("RebalanceTimeoutMs must be provided in first request.");
                }
                if !req
                    .topic_partitions
                    .as_ref()
                    .is_some_and(Assignment::is_empty)
                {
                    return invalid("TopicPartitions must be empty when (re-)joining.");
                }
                if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
                    return invalid(
                        "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null \
                         when (re-)joining.",
                    );
                }
            }
            LEAVE_GROUP_STATIC_MEMBER_EPOCH if req.instance_id.is_none() => {
                return invalid("InstanceId can't be null.");
            }
            e if e < LEAVE_GROUP_STATIC_MEMBER_EPOCH => return invalid("MemberEpoch is invalid."),
            _ => {}
        }
        if let Some(regex) = req.subscribed_topic_regex.as_deref() {
            compile_topic_regex(regex)?;
        }
        if let Some(name) = &req.server_assignor {
            if self.config.assignor(name).is_none() {
                return Err(GroupError::UnsupportedAssignor {
                    name: name.clone(),
                    supported: self
                        .config
                        .assignors
                        .iter()
                        .map(|a| a.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        Ok(())
    }

    /// Kafka's `consumerGroupLeave`.
    fn leave(
        &mut self,
        req: &ConsumerHeartbeatRequest,
    ) -> Result<ConsumerHeartbeatResponse, GroupError> {
        let member_id = match &req.instance_id {
            None => {
                if !self.members.contains_key(&req.member_id) {
                    return Err(GroupError::UnknownMemberId {
                        member_id: req.member_id.clone(),
                    });
                }
                req.member_id.clone()
            }
            Some(instance_id) => self.static_member_for(instance_id, &req.member_id)?,
        };
        if req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            // The static member keeps its partitions (others wait for them) until it rejoins
            // or its session ends; what it was revoking is released now.
            let mut next = self.members[&member_id].clone();
            next.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH;
            next.partitions_pending_revocation = Assignment::new();
            next.revocation_deadline_ms = None;
            self.replace_member_state(next);
        } else {
            self.remove_member(&member_id);
        }
        Ok(ConsumerHeartbeatResponse {
            member_id: req.member_id.clone(),
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        })
    }

    /// The member holding `instance_id`, which must be `member_id` (Kafka's
    /// `throwIfStaticMemberIsUnknown` and `throwIfInstanceIdIsFenced`).
    fn static_member_for(&self, instance_id: &str, member_id: &str) -> Result<String, GroupError> {
        match self.static_members.get(instance_id) {
            None => Err(GroupError::UnknownMemberId {
                member_id: member_id.to_owned(),
            }),
            Some(owner) if owner != member_id => Err(GroupError::FencedInstanceId {
                group_instance_id: instance_id.to_owned(),
                member_id: member_id.to_owned(),
            }),
            Some(owner) => Ok(owner.clone()),
        }
    }

    /// Kafka's `throwIfConsumerGroupMemberEpochIsInvalid`, for epochs other than 0: the
    /// member's epoch, or its previous epoch when it owns no more than it is assigned (the
    /// response that moved it on may have been lost).
    fn validate_member_epoch(
        member: &ConsumerMember,
        epoch: i32,
        owned: Option<&Assignment>,
    ) -> Result<(), GroupError> {
        let fenced = || {
            Err(GroupError::FencedMemberEpoch {
                member_epoch: epoch,
                current_member_epoch: member.member_epoch,
            })
        };
        if epoch > member.member_epoch {
            return fenced();
        }
        if epoch < member.member_epoch {
            let owns_subset = owned.is_some_and(|o| o.is_subset(&member.assigned_partitions));
            if epoch != member.previous_member_epoch || !owns_subset {
                return fenced();
            }
        }
        Ok(())
    }

    /// Finds (or admits) the heartbeat's member without changing anything.
    fn resolve_member(
        &self,
        member_id: &str,
        req: &ConsumerHeartbeatRequest,
    ) -> Result<Resolution, GroupError> {
        let joining = req.member_epoch == JOIN_GROUP_MEMBER_EPOCH;
        if let Some(member) = self.members.get(member_id) {
            if joining {
                // A known member id rejoining is always that member: it may not take another
                // instance id (KAFKA-19233 lets a fenced member rejoin with epoch 0 and get its
                // current state back; a static member is handled in place likewise).
                if let Some(instance_id) = &req.instance_id {
                    if member.instance_id.as_ref() != Some(instance_id) {
                        return Err(GroupError::InvalidRequest {
                            reason: format!(
                                "member {member_id:?} cannot rejoin with another instance id"
                            ),
                        });
                    }
                }
            } else {
                if let Some(instance_id) = &req.instance_id {
                    self.static_member_for(instance_id, member_id)?;
                }
                Self::validate_member_epoch(
                    member,
                    req.member_epoch,
                    req.topic_partitions.as_ref(),
                )?;
            }
            return Ok(Resolution::Existing);
        }
        if !joining {
            if let Some(instance_id) = &req.instance_id {
                self.static_member_for(instance_id, member_id)?;
            }
            return Err(GroupError::UnknownMemberId {
                member_id: member_id.to_owned(),
            });
        }
        if let Some(old) = req
            .instance_id
            .as_ref()
            .and_then(|i| self.static_members.get(i))
        {
            // Replace the previous instance only if it left with epoch -2.
            if self.members[old].member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
                return Err(GroupError::UnreleasedInstanceId {
                    group_instance_id: req.instance_id.clone().unwrap_or_default(),
                    member_id: old.clone(),
                });
            }
            return Ok(Resolution::ReplaceStatic {
                old_member_id: old.clone(),
            });
        }
        if self.members.len() >= self.config.max_size {
            return Err(GroupError::GroupMaxSizeReached {
                max_size: self.config.max_size,
            });
        }
        Ok(Resolution::New)
    }

    /// Kafka's regular `consumerGroupHeartbeat`.
    fn regular_heartbeat(
        &mut self,
        req: ConsumerHeartbeatRequest,
        topics: &dyn TopicMetadata,
        now_ms: i64,
    ) -> Result<ConsumerHeartbeatResponse, GroupError> {
        let mut member_id = req.member_id.clone();
        if member_id.is_empty() {
            // v0 join: the coordinator names the member.
            member_id = self.generate_member_id();
        }
        let resolution = self.resolve_member(&member_id, &req)?;

        // 1. Create or update the member.
        let mut bump = self.group_epoch == 0;
        match resolution {
            Resolution::New => {
                self.members.insert(
                    member_id.clone(),
                    ConsumerMember::new(member_id.clone(), now_ms),
                );
                bump = true;
            }
            Resolution::ReplaceStatic { old_member_id } => {
                self.replace_static_member(&old_member_id, &member_id);
            }
            Resolution::Existing => {
                let member = self.members.get_mut(&member_id).expect("resolved");
                if req.member_epoch == JOIN_GROUP_MEMBER_EPOCH
                    && member.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH
                {
                    // A static member back from a temporary leave under its own id.
                    member.member_epoch = 0;
                    member.previous_member_epoch = 0;
                }
            }
        }
        let before = self.members[&member_id].assigned_partitions.clone();
        {
            let member = self.members.get_mut(&member_id).expect("resolved");
            if let Some(names) = &req.subscribed_topic_names {
                member.named_topics = names.iter().cloned().collect();
            }
            if let Some(regex) = &req.subscribed_topic_regex {
                member.subscribed_topic_regex = (!regex.is_empty()).then(|| regex.clone());
            }
        }
        // The member's topics: its names, and what its regex matches now (Kafka resolves
        // regexes as topics come and go; here at each of the member's heartbeats).
        let subscription = self.subscription_of(&member_id, topics)?;
        if subscription != self.members[&member_id].subscribed_topic_names {
            self.set_subscription(&member_id, subscription);
            bump = true;
        }
        {
            let member = self.members.get_mut(&member_id).expect("resolved");
            if let Some(instance_id) = &req.instance_id {
                member.instance_id = Some(instance_id.clone());
                self.static_members
                    .insert(instance_id.clone(), member_id.clone());
            }
            if let Some(rack_id) = &req.rack_id {
                member.rack_id = Some(rack_id.clone());
            }
            if req.rebalance_timeout_ms != -1 {
                member.rebalance_timeout_ms = req.rebalance_timeout_ms;
            }
            if let Some(assignor) = &req.server_assignor {
                member.server_assignor = Some(assignor.clone());
            }
            member.client_id.clone_from(&req.client_id);
            member.client_host.clone_from(&req.client_host);
        }
        if self.refresh_subscription_metadata(topics) {
            bump = true;
        }
        if bump {
            self.group_epoch += 1;
        }

        // 2. A new target assignment when the group epoch moved past it.
        if self.group_epoch > self.assignment_epoch {
            self.compute_target_assignment();
        }

        // 3. The member's next step toward its target.
        self.reconcile(&member_id, req.topic_partitions.as_ref(), now_ms);

        let member = self.members.get_mut(&member_id).expect("resolved");
        member.session_deadline_ms =
            now_ms.saturating_add(i64::from(self.config.session_timeout_ms));
        let full_request = req.member_epoch == JOIN_GROUP_MEMBER_EPOCH
            || (req.rebalance_timeout_ms != -1
                && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
                && req.topic_partitions.is_some());
        let assignment = (full_request || member.assigned_partitions != before)
            .then(|| member.assigned_partitions.clone());
        Ok(ConsumerHeartbeatResponse {
            member_id,
            member_epoch: member.member_epoch,
            heartbeat_interval_ms: self.config.heartbeat_interval_ms,
            assignment,
        })
    }

    /// Reconciles one member toward its target (Kafka's `maybeReconcile`): updates the
    /// partition owners and the member's revocation timer when it moved.
    fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now_ms: i64) {
        let member = &self.members[member_id];
        if member.is_reconciled_to(self.assignment_epoch) {
            return;
        }
        let empty = Assignment::new();
        let subscribed: BTreeSet<TopicId> = member
            .subscribed_topic_names
            .iter()
            .filter_map(|name| self.subscription_metadata.get(name).map(|t| t.id))
            .collect();
        let owners = &self.partition_owners;
        let owned_by_other = |topic: &TopicId, p: i32| {
            owners
                .get(&(*topic, p))
                .is_some_and(|owner| owner != member_id)
        };
        let step = Reconciliation {
            target_epoch: self.assignment_epoch,
            target: self.target_assignment.get(member_id).unwrap_or(&empty),
            subscribed: &subscribed,
            owned,
            owned_by_other: &owned_by_other,
        };
        let mut next = step.next(member);
        if next == *member {
            return;
        }
        next.revocation_deadline_ms = (next.state == MemberState::UnrevokedPartitions).then(|| {
            let at = now_ms.saturating_add(i64::from(next.rebalance_timeout_ms));
            (at, next.member_epoch)
        });
        self.replace_member_state(next);
    }

    // ----- Timers -----------------------------------------------------------------------

    /// Removes the members whose session ended (no heartbeat within
    /// `group.consumer.session.timeout.ms`) and those that did not revoke partitions within
    /// their rebalance timeout. Each removal bumps the group epoch.
    pub fn tick(&mut self, now_ms: i64) -> Vec<RemovedMember> {
        let expired: Vec<(String, RemovalReason)> = self
            .members
            .values()
            .filter_map(|m| {
                if now_ms >= m.session_deadline_ms {
                    return Some((m.member_id.clone(), RemovalReason::SessionTimeout));
                }
                let (at, epoch) = m.revocation_deadline_ms?;
                (now_ms >= at
                    && m.state == MemberState::UnrevokedPartitions
                    && m.member_epoch == epoch)
                    .then(|| (m.member_id.clone(), RemovalReason::RebalanceTimeout))
            })
            .collect();
        expired
            .into_iter()
            .filter_map(|(member_id, reason)| {
                let member = self.remove_member(&member_id)?;
                Some(RemovedMember {
                    member_id,
                    instance_id: member.instance_id,
                    reason,
                })
            })
            .collect()
    }

    /// The earliest time at which [`ConsumerGroup::tick`] has something to do.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.members
            .values()
            .flat_map(|m| [Some(m.session_deadline_ms), m.revocation_deadline_ms()])
            .flatten()
            .min()
    }

    // ----- ConsumerGroupDescribe, OffsetCommit, OffsetFetch -----------------------------

    /// A ConsumerGroupDescribe snapshot. Topics are named from `topics`; partitions of a
    /// topic that no longer exists are left out, as Kafka does.
    pub fn describe(&self, topics: &dyn TopicMetadata) -> ConsumerGroupDescription {
        let name_of = |id: &TopicId| -> Option<String> {
            topics.topic_name(id).map(str::to_owned).or_else(|| {
                self.subscription_metadata
                    .iter()
                    .find(|(_, t)| t.id == *id)
                    .map(|(name, _)| name.clone())
            })
        };
        let describe = |a: &Assignment| -> Vec<DescribedTopicPartitions> {
            a.topics()
                .filter_map(|(id, ps)| {
                    Some(DescribedTopicPartitions {
                        topic_id: *id,
                        topic_name: name_of(id)?,
                        partitions: ps.iter().copied().collect(),
                    })
                })
                .collect()
        };
        let empty = Assignment::new();
        ConsumerGroupDescription {
            group_id: self.group_id.clone(),
            state: self.state(),
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            assignor_name: self.preferred_assignor().name().to_owned(),
            members: self
                .members
                .values()
                .map(|m| DescribedMember {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.member_epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.named_topics.iter().cloned().collect(),
                    subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                    state: m.state,
                    assignment: describe(&m.assigned_partitions),
                    target_assignment: describe(
                        self.target_assignment.get(&m.member_id).unwrap_or(&empty),
                    ),
                })
                .collect(),
        }
    }

    /// OffsetCommit v9+ validation for this group (Kafka's `ConsumerGroup.validateOffsetCommit`):
    /// a commit without a member (epoch < 0) is accepted only while the group has no members;
    /// otherwise the member must exist and send its current epoch.
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        member_epoch: i32,
    ) -> Result<(), GroupError> {
        if self.dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if member_epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        self.validate_member_and_epoch(member_id, member_epoch)
    }

    /// OffsetFetch v9+ validation (Kafka's `ConsumerGroup.validateOffsetFetch`): a fetch
    /// without a member id and epoch (admin clients) is accepted; otherwise as a commit.
    pub fn validate_offset_fetch(
        &self,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), GroupError> {
        match member_id {
            None if member_epoch < 0 => Ok(()),
            _ => self.validate_member_and_epoch(member_id.unwrap_or_default(), member_epoch),
        }
    }

    fn validate_member_and_epoch(
        &self,
        member_id: &str,
        member_epoch: i32,
    ) -> Result<(), GroupError> {
        let member = self
            .members
            .get(member_id)
            .ok_or_else(|| GroupError::UnknownMemberId {
                member_id: member_id.to_owned(),
            })?;
        if member.member_epoch != member_epoch {
            return Err(GroupError::StaleMemberEpoch {
                member_epoch,
                current_member_epoch: member.member_epoch,
            });
        }
        Ok(())
    }

    // ----- Membership bookkeeping -------------------------------------------------------

    /// Replaces a member's state, keeping the partition owners in step.
    fn replace_member_state(&mut self, next: ConsumerMember) {
        let member_id = next.member_id.clone();
        if let Some(old) = self.members.get(&member_id) {
            for tp in old
                .assigned_partitions
                .iter()
                .chain(old.partitions_pending_revocation.iter())
            {
                self.partition_owners.remove(&tp);
            }
        }
        for tp in next
            .assigned_partitions
            .iter()
            .chain(next.partitions_pending_revocation.iter())
        {
            let previous = self.partition_owners.insert(tp, member_id.clone());
            debug_assert!(
                previous.is_none(),
                "{tp:?} given to {member_id} while {previous:?} owns it"
            );
        }
        self.members.insert(member_id, next);
    }

    /// Removes a member (Kafka's `consumerGroupFenceMember`): its partitions become free, its
    /// target goes, and the group epoch is bumped so that the next heartbeat reassigns.
    fn remove_member(&mut self, member_id: &str) -> Option<ConsumerMember> {
        let member = self.members.remove(member_id)?;
        for tp in member
            .assigned_partitions
            .iter()
            .chain(member.partitions_pending_revocation.iter())
        {
            self.partition_owners.remove(&tp);
        }
        self.target_assignment.remove(member_id);
        if let Some(instance_id) = &member.instance_id {
            if self.static_members.get(instance_id).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance_id);
            }
        }
        for name in &member.subscribed_topic_names {
            self.unsubscribe_one(name);
        }
        self.group_epoch += 1;
        Some(member)
    }

    /// A static member rejoining under a new id takes over the old member's state,
    /// assignment and target (Kafka's `replaceMember`), at epoch 0; the group epoch stays.
    fn replace_static_member(&mut self, old_member_id: &str, new_member_id: &str) {
        let old = self.members.remove(old_member_id).expect("resolved");
        for tp in old
            .assigned_partitions
            .iter()
            .chain(old.partitions_pending_revocation.iter())
        {
            self.partition_owners.insert(tp, new_member_id.to_owned());
        }
        if let Some(target) = self.target_assignment.remove(old_member_id) {
            self.target_assignment
                .insert(new_member_id.to_owned(), target);
        }
        if let Some(instance_id) = &old.instance_id {
            self.static_members
                .insert(instance_id.clone(), new_member_id.to_owned());
        }
        let new = ConsumerMember {
            member_id: new_member_id.to_owned(),
            member_epoch: 0,
            previous_member_epoch: 0,
            revocation_deadline_ms: None,
            ..old
        };
        self.members.insert(new_member_id.to_owned(), new);
    }

    /// The topics `member_id` subscribes to: the names it sent, and the topics other than
    /// Kafka's internal ones whose whole name its regex matches.
    fn subscription_of(
        &self,
        member_id: &str,
        topics: &dyn TopicMetadata,
    ) -> Result<BTreeSet<String>, GroupError> {
        let member = &self.members[member_id];
        let mut names = member.named_topics.clone();
        if let Some(regex) = &member.subscribed_topic_regex {
            let regex = compile_topic_regex(regex)?;
            names.extend(
                topics
                    .topic_names()
                    .into_iter()
                    .filter(|name| regex_may_match(&regex, name)),
            );
        }
        Ok(names)
    }

    fn set_subscription(&mut self, member_id: &str, names: BTreeSet<String>) {
        let member = self.members.get_mut(member_id).expect("resolved");
        let old = std::mem::replace(&mut member.subscribed_topic_names, names.clone());
        for name in &old {
            self.unsubscribe_one(name);
        }
        for name in names {
            *self.subscribed_topic_counts.entry(name).or_default() += 1;
        }
    }

    fn unsubscribe_one(&mut self, name: &str) {
        if let Some(count) = self.subscribed_topic_counts.get_mut(name) {
            *count -= 1;
            if *count == 0 {
                self.subscribed_topic_counts.remove(name);
                // No member reads it any more: not a metadata change worth a new epoch.
                self.subscription_metadata.remove(name);
            }
        }
    }

    /// Looks the subscribed topics up again; true when they changed (created, deleted,
    /// repartitioned, or a newly subscribed topic exists).
    fn refresh_subscription_metadata(&mut self, topics: &dyn TopicMetadata) -> bool {
        let fresh: BTreeMap<String, TopicInfo> = self
            .subscribed_topic_counts
            .keys()
            .filter_map(|name| topics.topic(name).map(|t| (name.clone(), t)))
            .collect();
        if fresh == self.subscription_metadata {
            return false;
        }
        self.subscription_metadata = fresh;
        true
    }

    /// Runs the group's assignor at the group epoch (Kafka's `TargetAssignmentBuilder`).
    fn compute_target_assignment(&mut self) {
        let partition_counts: BTreeMap<TopicId, i32> = self
            .subscription_metadata
            .values()
            .map(|t| (t.id, t.partitions))
            .collect();
        let members: BTreeMap<String, MemberSpec<'_>> = self
            .members
            .values()
            .map(|m| {
                let topics = m
                    .subscribed_topic_names
                    .iter()
                    .filter_map(|name| self.subscription_metadata.get(name).map(|t| t.id))
                    .collect();
                let spec = MemberSpec {
                    topics,
                    current: self.target_assignment.get(&m.member_id),
                };
                (m.member_id.clone(), spec)
            })
            .collect();
        let spec = AssignmentSpec {
            members,
            partition_counts,
        };
        let target = self.preferred_assignor().assign(&spec);
        self.target_assignment = target;
        self.assignment_epoch = self.group_epoch;
    }

    fn generate_member_id(&mut self) -> String {
        loop {
            self.member_id_counter += 1;
            let hi = splitmix64(self.member_id_seed ^ self.member_id_counter.rotate_left(17));
            let lo = splitmix64(hi ^ self.member_id_counter);
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&hi.to_be_bytes());
            bytes[8..].copy_from_slice(&lo.to_be_bytes());
            // Kafka's `Uuid.randomUuid().toString()` has this shape (22 URL-safe base64 chars).
            let id = base64_url(&bytes);
            if !self.members.contains_key(&id) {
                return id;
            }
        }
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Kafka's internal topics, which a regular-expression subscription never matches (as a
/// Java consumer's pattern subscription leaves them out by default).
const INTERNAL_TOPICS: [&str; 2] = ["__consumer_offsets", "__transaction_state"];

/// Whether a compiled subscription regex takes `topic`: never an internal topic.
fn regex_may_match(regex: &regex::Regex, topic: &str) -> bool {
    !INTERNAL_TOPICS.contains(&topic) && regex.is_match(topic)
}

/// Compiles a `SubscribedTopicRegex` to match whole topic names (Kafka's RE2/J
/// `Pattern.matcher(topic).matches()`), its compiled form bounded to 1 MiB.
fn compile_topic_regex(regex: &str) -> Result<regex::Regex, GroupError> {
    regex::RegexBuilder::new(&format!("^(?:{regex})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| GroupError::InvalidRegularExpression {
            regex: regex.to_owned(),
            reason: e.to_string(),
        })
}
