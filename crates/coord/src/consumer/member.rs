//! A consumer group member and its reconciliation toward the target assignment (Kafka's
//! `ConsumerGroupMember` and `CurrentAssignmentBuilder`).
//!
//! ```text
//!                 revoked partitions still owned               all revoked
//!   Stable ──────────────────────────────────▶ UnrevokedPartitions ─────────▶ (next step)
//!     ▲   new target: nothing to revoke                                         │
//!     │   ───────────────────────────────▶ UnreleasedPartitions ◀───────────────┘
//!     └──── every target partition released by its previous owner ◀─┘
//! ```
//!
//! A member moves to the target epoch only once it owns nothing outside its target: it
//! first gets its assignment shrunk (the rest pending revocation) and stays at its epoch
//! until a heartbeat no longer lists the revoked partitions. Partitions of its target that
//! another member still owns are given once released.

use std::collections::BTreeSet;

use super::api::{Assignment, TopicId};

/// Where a member is in its reconciliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberState {
    /// The member owns its target assignment (or nothing more is due yet).
    Stable,
    /// The member must revoke `partitions_pending_revocation` before it moves on.
    UnrevokedPartitions,
    /// The member is at the target epoch, waiting for partitions other members still own.
    UnreleasedPartitions,
}

impl MemberState {
    /// Kafka's name (`MemberState.toString`).
    pub fn kafka_name(self) -> &'static str {
        match self {
            MemberState::Stable => "STABLE",
            MemberState::UnrevokedPartitions => "UNREVOKED_PARTITIONS",
            MemberState::UnreleasedPartitions => "UNRELEASED_PARTITIONS",
        }
    }

    /// Kafka's `MemberState.value()`, as `ConsumerGroupCurrentMemberAssignmentValue.state`
    /// stores it.
    pub fn kafka_value(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
        }
    }

    /// The state stored as `value`; None for Kafka's UNKNOWN (127) and anything else.
    pub fn from_kafka_value(value: i8) -> Option<MemberState> {
        match value {
            0 => Some(MemberState::Stable),
            1 => Some(MemberState::UnrevokedPartitions),
            2 => Some(MemberState::UnreleasedPartitions),
            _ => None,
        }
    }
}

/// A member of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMember {
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The topics the member subscribes to: the names it sent and the topics its regex
    /// matched at its last heartbeat (topics that do not exist yet are kept and get
    /// assigned once created).
    pub subscribed_topic_names: BTreeSet<String>,
    /// The names the member sent (`SubscribedTopicNames`).
    pub named_topics: BTreeSet<String>,
    /// The member's regular-expression subscription (`SubscribedTopicRegex`), if any.
    pub subscribed_topic_regex: Option<String>,
    /// The server assignor the member prefers, if it named one.
    pub server_assignor: Option<String>,
    /// How long the member may take to revoke partitions.
    pub rebalance_timeout_ms: i32,
    /// The member's epoch: the target assignment epoch it last reached; -2 after a static
    /// member's temporary leave.
    pub member_epoch: i32,
    /// The epoch before the last change; a heartbeat with it is accepted when the response
    /// that moved the member on may have been lost.
    pub previous_member_epoch: i32,
    pub state: MemberState,
    /// The partitions the member owns (and is told it owns).
    pub assigned_partitions: Assignment,
    /// Partitions the member still owns but must give up.
    pub partitions_pending_revocation: Assignment,
    /// The member's session ends at this time unless it heartbeats.
    pub(super) session_deadline_ms: i64,
    /// Set while the member must revoke: it is removed unless it leaves `member_epoch` (the
    /// second field) by this time.
    pub(super) revocation_deadline_ms: Option<(i64, i32)>,
}

impl ConsumerMember {
    pub(super) fn new(member_id: String, now_ms: i64) -> Self {
        ConsumerMember {
            member_id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed_topic_names: BTreeSet::new(),
            named_topics: BTreeSet::new(),
            subscribed_topic_regex: None,
            server_assignor: None,
            rebalance_timeout_ms: 0,
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            assigned_partitions: Assignment::new(),
            partitions_pending_revocation: Assignment::new(),
            session_deadline_ms: now_ms,
            revocation_deadline_ms: None,
        }
    }

    /// When the member's session ends unless it heartbeats.
    pub fn session_deadline_ms(&self) -> i64 {
        self.session_deadline_ms
    }

    /// When the member is removed unless it has revoked its partitions pending revocation.
    pub fn revocation_deadline_ms(&self) -> Option<i64> {
        self.revocation_deadline_ms.map(|(at, _)| at)
    }

    /// Whether the member owns its target assignment of epoch `target_epoch`.
    pub fn is_reconciled_to(&self, target_epoch: i32) -> bool {
        self.state == MemberState::Stable && self.member_epoch == target_epoch
    }

    /// Kafka's `updateMemberEpoch`: the current epoch becomes the previous one.
    fn update_epoch(&mut self, epoch: i32) {
        self.previous_member_epoch = self.member_epoch;
        self.member_epoch = epoch;
    }
}

/// The inputs of one reconciliation step.
pub(super) struct Reconciliation<'a> {
    pub target_epoch: i32,
    pub target: &'a Assignment,
    /// The ids of the existing topics the member subscribes to: partitions of other topics
    /// are revoked whatever the target says.
    pub subscribed: &'a BTreeSet<TopicId>,
    /// The partitions the member reported owning (None when the heartbeat did not say).
    pub owned: Option<&'a Assignment>,
    /// Whether a member other than this one owns (or is revoking) a partition.
    pub owned_by_other: &'a dyn Fn(&TopicId, i32) -> bool,
}

impl Reconciliation<'_> {
    /// The member's next state (Kafka's `CurrentAssignmentBuilder.build`); the member itself
    /// when it cannot move.
    pub fn next(&self, member: &ConsumerMember) -> ConsumerMember {
        match member.state {
            MemberState::Stable if member.member_epoch == self.target_epoch => member.clone(),
            MemberState::UnrevokedPartitions
                if self.owns_any(&member.partitions_pending_revocation) =>
            {
                member.clone()
            }
            _ => self.compute_next(member),
        }
    }

    /// Whether the member still owns any of `revoking`. A heartbeat that does not report its
    /// partitions counts as still owning them.
    fn owns_any(&self, revoking: &Assignment) -> bool {
        match self.owned {
            None => true,
            Some(owned) => owned.intersects(revoking),
        }
    }

    fn compute_next(&self, member: &ConsumerMember) -> ConsumerMember {
        let mut assigned = Assignment::new();
        let mut revoking = Assignment::new();
        let mut pending = Assignment::new();
        let mut unreleased = false;

        let topics: BTreeSet<TopicId> = self
            .target
            .topics()
            .map(|(t, _)| *t)
            .chain(member.assigned_partitions.topics().map(|(t, _)| *t))
            .collect();
        for topic in topics {
            let subscribed = self.subscribed.contains(&topic);
            let in_target = |p: i32| subscribed && self.target.contains(&topic, p);
            // Kept: owned and still targeted. Revoked: owned and no longer targeted.
            for p in member.assigned_partitions.partitions(&topic) {
                if in_target(p) {
                    assigned.insert(topic, p);
                } else {
                    revoking.insert(topic, p);
                }
            }
            // Due: targeted, not owned, and not owned by anyone else any more (a partition
            // this member is revoking is its own to take back).
            if subscribed {
                for p in self.target.partitions(&topic) {
                    if assigned.contains(&topic, p) {
                        continue;
                    }
                    let revoking_it = member.partitions_pending_revocation.contains(&topic, p);
                    if (self.owned_by_other)(&topic, p) && !revoking_it {
                        unreleased = true;
                    } else {
                        pending.insert(topic, p);
                    }
                }
            }
        }

        let mut next = member.clone();
        if !revoking.is_empty() && self.owns_any(&revoking) {
            // Revoke first; the member stays at its epoch until it acknowledges.
            next.state = MemberState::UnrevokedPartitions;
            next.update_epoch(member.member_epoch);
            next.assigned_partitions = assigned;
            next.partitions_pending_revocation = revoking;
        } else {
            for (t, p) in pending.iter() {
                assigned.insert(t, p);
            }
            next.state = if unreleased {
                MemberState::UnreleasedPartitions
            } else {
                MemberState::Stable
            };
            next.update_epoch(self.target_epoch);
            next.assigned_partitions = assigned;
            next.partitions_pending_revocation = Assignment::new();
        }
        next
    }
}
