//! The classic group state machine, after Kafka's `GroupCoordinator` / `ClassicGroup`.
//!
//! ```text
//!            join                    all joined / timer          leader's sync
//!  Empty ─────────────▶ PreparingRebalance ─────────▶ CompletingRebalance ─────▶ Stable
//!    ▲                   ▲       │ no member left                │    join/leave/expiry │
//!    └───────────────────┼───────┘                               │                      │
//!                        └───────────────────────────────────────┴──────────────────────┘
//!  Empty ── delete / offsets all expired ──▶ Dead
//! ```
//!
//! Each operation answers at once ([`JoinOutcome::Respond`], [`SyncOutcome::Respond`]) or
//! defers its answer (`Deferred`); deferred answers come back as [`Reply`] values from the
//! call that completes them. Every call also says whether Kafka would write the group's
//! metadata record (`Outcome::persist`): the server writes it to `__consumer_offsets`
//! before sending the call's replies.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::api::{
    HeartbeatRequest, JoinOutcome, JoinRequest, JoinResponse, JoinedMember, LeaveMember,
    LeaveResult, Outcome, Protocol, Reply, SyncOutcome, SyncRequest, SyncResponse,
};
use crate::config::{GroupConfig, GroupState};
use crate::error::GroupError;
use crate::offsets::GroupOffsets;

mod rebalance;
mod restore;

/// A group member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
    /// What the leader assigned this member in the current generation.
    pub assignment: Bytes,
    /// The member's session ends at this time unless it heartbeats (see
    /// [`Member::has_satisfied_heartbeat`]).
    heartbeat_deadline_ms: i64,
    /// Joined but not yet through a completed join phase: may be expired while awaiting join.
    is_new: bool,
    /// Has a JoinGroup waiting for the join phase to complete.
    awaiting_join: bool,
    /// Has a SyncGroup waiting for the leader's assignments.
    awaiting_sync: bool,
    /// Got a join response in this generation and has yet to sync within the rebalance timeout.
    pending_sync: bool,
}

impl Member {
    /// Whether the member has a JoinGroup waiting.
    pub fn is_awaiting_join(&self) -> bool {
        self.awaiting_join
    }

    /// Whether the member has a SyncGroup waiting.
    pub fn is_awaiting_sync(&self) -> bool {
        self.awaiting_sync
    }

    /// The member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| &p.metadata)
    }

    /// Kafka's `MemberMetadata.hasSatisfiedHeartbeat`: members waiting in a rebalance are
    /// alive, except new ones, which must complete their first join in time.
    fn has_satisfied_heartbeat(&self, now_ms: i64) -> bool {
        let within = now_ms < self.heartbeat_deadline_ms;
        if self.is_new {
            within
        } else if self.awaiting_join || self.awaiting_sync {
            true
        } else {
            within
        }
    }

    fn supports(&self, name: &str) -> bool {
        self.protocols.iter().any(|p| p.name == name)
    }

    /// The member's vote: its most preferred protocol among the candidates.
    fn vote<'a>(&'a self, candidates: &[&str]) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|n| candidates.contains(n))
    }
}

/// The timer of a join phase (Kafka's `DelayedJoin` / `InitialDelayedJoin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinTimer {
    /// The rebalance timeout; the phase also completes as soon as every member has joined.
    Rebalance { deadline_ms: i64 },
    /// `group.initial.rebalance.delay.ms` for an Empty group: completes only at the deadline,
    /// extended by the delay (within `remaining_ms`) while new members keep arriving.
    Initial { deadline_ms: i64, remaining_ms: i64 },
}

/// One classic group: membership, generation, the rebalance protocol and committed offsets.
#[derive(Debug, Clone)]
pub struct ClassicGroup {
    group_id: String,
    config: GroupConfig,
    state: GroupState,
    /// When the group entered its current state (Kafka's `currentStateTimestamp`).
    state_timestamp_ms: i64,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader_id: Option<String>,
    members: BTreeMap<String, Member>,
    /// `group.instance.id` -> member id.
    static_members: BTreeMap<String, String>,
    /// KIP-394: member ids handed out with MemberIdRequired, not yet joined, and the time
    /// their session ends.
    pending_members: BTreeMap<String, i64>,
    join_timer: Option<JoinTimer>,
    /// A member joined during the initial delay (extends [`JoinTimer::Initial`]).
    new_member_added: bool,
    /// Members that got a join response must sync before this time.
    sync_deadline_ms: Option<i64>,
    /// Feeds generated member ids: unique per coordinator incarnation.
    member_id_seed: u64,
    member_id_counter: u64,
    /// Committed offsets (see [`crate::offsets`]).
    pub(crate) offsets: GroupOffsets,
}

impl ClassicGroup {
    /// A new Empty group. `member_id_seed` makes generated member ids unique across
    /// coordinator restarts: pass a random number (tests pass a constant).
    pub fn new(
        group_id: impl Into<String>,
        config: GroupConfig,
        member_id_seed: u64,
        now_ms: i64,
    ) -> Self {
        ClassicGroup {
            group_id: group_id.into(),
            config,
            state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            join_timer: None,
            new_member_added: false,
            sync_deadline_ms: None,
            member_id_seed,
            member_id_counter: 0,
            offsets: GroupOffsets::default(),
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }
    pub fn state(&self) -> GroupState {
        self.state
    }
    /// When the group entered its current state.
    pub fn state_timestamp_ms(&self) -> i64 {
        self.state_timestamp_ms
    }
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }
    /// The selected protocol of the current generation.
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }
    pub fn leader_id(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }
    pub fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.get(member_id)
    }
    /// The member id currently holding a `group.instance.id`.
    pub fn static_member_id(&self, group_instance_id: &str) -> Option<&str> {
        self.static_members
            .get(group_instance_id)
            .map(String::as_str)
    }
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Marks an Empty group Dead (DeleteGroups): `NonEmptyGroup` while it has members. The
    /// server then writes tombstones for the group's metadata and offsets and forgets it.
    pub fn delete(&mut self, now_ms: i64) -> Result<(), GroupError> {
        match self.state {
            GroupState::Dead => Err(GroupError::GroupIdNotFound {
                group_id: self.group_id.clone(),
            }),
            GroupState::Empty if self.members.is_empty() => {
                self.offsets.clear();
                self.transition(GroupState::Dead, now_ms);
                Ok(())
            }
            _ => Err(GroupError::NonEmptyGroup {
                group_id: self.group_id.clone(),
            }),
        }
    }

    // ----- JoinGroup ------------------------------------------------------------------

    /// JoinGroup (Kafka's `handleJoinGroup`).
    pub fn join(&mut self, req: JoinRequest, now_ms: i64) -> Outcome<JoinOutcome> {
        let mut out = Effects::default();
        let response = self.join_inner(req, now_ms, &mut out);
        out.finish(response)
    }

    fn join_inner(&mut self, req: JoinRequest, now_ms: i64, out: &mut Effects) -> JoinOutcome {
        let fail = |e| JoinOutcome::Respond(Err(e));
        if self.group_id.is_empty() {
            return fail(GroupError::InvalidGroupId);
        }
        let (min_ms, max_ms) = (
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        );
        if req.session_timeout_ms < min_ms || req.session_timeout_ms > max_ms {
            return fail(GroupError::InvalidSessionTimeout {
                session_timeout_ms: req.session_timeout_ms,
                min_ms,
                max_ms,
            });
        }
        if self.state == GroupState::Dead {
            return fail(GroupError::CoordinatorNotAvailable);
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            return fail(GroupError::InconsistentGroupProtocol);
        }
        if req.member_id.is_empty() {
            self.join_new_member(req, now_ms, out)
        } else {
            self.join_current_member(req, now_ms, out)
        }
    }

    /// Kafka's `doNewMemberJoinGroup`.
    fn join_new_member(&mut self, req: JoinRequest, now_ms: i64, out: &mut Effects) -> JoinOutcome {
        let known_static = req
            .group_instance_id
            .as_ref()
            .and_then(|id| self.static_members.get(id).cloned());
        if known_static.is_none() && self.is_full() {
            return JoinOutcome::Respond(Err(GroupError::GroupMaxSizeReached {
                max_size: self.config.max_size,
            }));
        }
        let new_member_id =
            self.generate_member_id(req.group_instance_id.as_deref().unwrap_or(&req.client_id));
        match (&req.group_instance_id, known_static) {
            (Some(instance_id), Some(old_member_id)) => {
                let instance_id = instance_id.clone();
                self.rejoin_static_member(
                    req,
                    &instance_id,
                    &old_member_id,
                    new_member_id,
                    now_ms,
                    out,
                )
            }
            (None, _) if req.require_known_member_id => {
                // KIP-394: hand out the id; the member joins for real when it comes back with it.
                let deadline = now_ms + i64::from(req.session_timeout_ms);
                self.pending_members.insert(new_member_id.clone(), deadline);
                JoinOutcome::Respond(Err(GroupError::MemberIdRequired {
                    member_id: new_member_id,
                }))
            }
            _ => self.add_member_and_rebalance(req, new_member_id, now_ms, out),
        }
    }

    /// Kafka's `doCurrentMemberJoinGroup`.
    fn join_current_member(
        &mut self,
        req: JoinRequest,
        now_ms: i64,
        out: &mut Effects,
    ) -> JoinOutcome {
        if self.pending_members.contains_key(&req.member_id) {
            if self.is_full() {
                self.pending_members.remove(&req.member_id);
                return JoinOutcome::Respond(Err(GroupError::GroupMaxSizeReached {
                    max_size: self.config.max_size,
                }));
            }
            let member_id = req.member_id.clone();
            return self.add_member_and_rebalance(req, member_id, now_ms, out);
        }
        if let Err(e) = self.validate_member(&req.member_id, req.group_instance_id.as_deref()) {
            return JoinOutcome::Respond(Err(e));
        }
        let member_id = req.member_id.clone();
        let member = &self.members[&member_id];
        let matches = member.protocols == req.protocols;
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member(&member_id, &req, now_ms);
                self.member_mut(&member_id).awaiting_join = true;
                self.try_complete_join(now_ms, out);
                JoinOutcome::Deferred { member_id }
            }
            GroupState::CompletingRebalance if matches => {
                // The member lost its join response: repeat it.
                self.renew(&member_id, now_ms);
                JoinOutcome::Respond(Ok(self.join_response(&member_id, false)))
            }
            GroupState::Stable if matches && !self.is_leader(&member_id) => {
                self.renew(&member_id, now_ms);
                JoinOutcome::Respond(Ok(self.join_response(&member_id, false)))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                // New metadata, or the leader rejoining: a new generation.
                self.update_member(&member_id, &req, now_ms);
                self.member_mut(&member_id).awaiting_join = true;
                self.prepare_rebalance(now_ms, out);
                self.try_complete_join(now_ms, out);
                JoinOutcome::Deferred { member_id }
            }
            GroupState::Empty | GroupState::Dead => {
                JoinOutcome::Respond(Err(GroupError::UnknownMemberId { member_id }))
            }
        }
    }

    /// Kafka's `updateStaticMemberAndRebalance`: a known `group.instance.id` joins without a
    /// member id (a restarted static member). The old member id is fenced.
    fn rejoin_static_member(
        &mut self,
        req: JoinRequest,
        instance_id: &str,
        old_member_id: &str,
        new_member_id: String,
        now_ms: i64,
        out: &mut Effects,
    ) -> JoinOutcome {
        let leader_before = self.leader_id.clone().unwrap_or_default();
        self.replace_static_member(instance_id, old_member_id, &new_member_id, out);
        {
            let m = self.member_mut(&new_member_id);
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
        }
        self.update_member(&new_member_id, &req, now_ms);
        self.renew(&new_member_id, now_ms);
        out.persist = true;
        match self.state {
            GroupState::Stable => {
                if self.select_protocol().as_deref() == self.protocol_name.as_deref() {
                    // Same protocol next generation: keep the assignment, no rebalance. Before
                    // KIP-814 the leader id is the old one, so a restarted leader does not
                    // reassign; from v9 it learns it leads and is told to skip the assignment.
                    let is_leader = self.is_leader(&new_member_id);
                    let skip = is_leader && req.supports_skip_assignment;
                    let mut resp = self.join_response(&new_member_id, skip);
                    if !skip {
                        resp.members.clear();
                        resp.leader = leader_before;
                    }
                    resp.skip_assignment = skip;
                    JoinOutcome::Respond(Ok(resp))
                } else {
                    self.member_mut(&new_member_id).awaiting_join = true;
                    self.prepare_rebalance(now_ms, out);
                    self.try_complete_join(now_ms, out);
                    JoinOutcome::Deferred {
                        member_id: new_member_id,
                    }
                }
            }
            GroupState::CompletingRebalance | GroupState::PreparingRebalance => {
                // In CompletingRebalance the leader may have assigned to the old member id:
                // rebalance again so that the new id gets an assignment.
                self.member_mut(&new_member_id).awaiting_join = true;
                if self.state == GroupState::CompletingRebalance {
                    self.prepare_rebalance(now_ms, out);
                }
                self.try_complete_join(now_ms, out);
                JoinOutcome::Deferred {
                    member_id: new_member_id,
                }
            }
            GroupState::Empty | GroupState::Dead => {
                JoinOutcome::Respond(Err(GroupError::UnknownMemberId {
                    member_id: new_member_id,
                }))
            }
        }
    }

    fn replace_static_member(
        &mut self,
        instance_id: &str,
        old_member_id: &str,
        new_member_id: &str,
        out: &mut Effects,
    ) {
        let Some(mut member) = self.members.remove(old_member_id) else {
            return;
        };
        let fenced = GroupError::FencedInstanceId {
            group_instance_id: instance_id.to_owned(),
            member_id: old_member_id.to_owned(),
        };
        if member.awaiting_join {
            member.awaiting_join = false;
            out.replies.push(Reply::Join {
                member_id: old_member_id.to_owned(),
                result: Err(fenced.clone()),
            });
        }
        if member.awaiting_sync {
            member.awaiting_sync = false;
            out.replies.push(Reply::Sync {
                member_id: old_member_id.to_owned(),
                result: Err(fenced),
            });
        }
        member.member_id = new_member_id.to_owned();
        self.members.insert(new_member_id.to_owned(), member);
        if self.is_leader(old_member_id) {
            self.leader_id = Some(new_member_id.to_owned());
        }
        self.static_members
            .insert(instance_id.to_owned(), new_member_id.to_owned());
    }

    /// Kafka's `addMemberAndRebalance`.
    fn add_member_and_rebalance(
        &mut self,
        req: JoinRequest,
        member_id: String,
        now_ms: i64,
        out: &mut Effects,
    ) -> JoinOutcome {
        if self.state == GroupState::PreparingRebalance && self.generation_id == 0 {
            self.new_member_added = true;
        }
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(instance_id) = &req.group_instance_id {
            self.static_members
                .insert(instance_id.clone(), member_id.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member_id.clone());
        }
        self.pending_members.remove(&member_id);
        self.members.insert(
            member_id.clone(),
            Member {
                member_id: member_id.clone(),
                group_instance_id: req.group_instance_id,
                client_id: req.client_id,
                client_host: req.client_host,
                session_timeout_ms: req.session_timeout_ms,
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                protocol_type: req.protocol_type,
                protocols: req.protocols,
                assignment: Bytes::new(),
                heartbeat_deadline_ms: now_ms + self.config.new_member_join_timeout_ms,
                is_new: true,
                awaiting_join: true,
                awaiting_sync: false,
                pending_sync: false,
            },
        );
        self.maybe_prepare_rebalance(now_ms, out);
        self.try_complete_join(now_ms, out);
        JoinOutcome::Deferred { member_id }
    }

    fn update_member(&mut self, member_id: &str, req: &JoinRequest, _now_ms: i64) {
        let m = self.member_mut(member_id);
        m.protocols = req.protocols.clone();
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
    }

    // ----- SyncGroup ------------------------------------------------------------------

    /// SyncGroup (Kafka's `handleSyncGroup`). The leader's sync completes every waiting
    /// member's sync, the leader's included, as replies, with `persist` set.
    pub fn sync(&mut self, req: SyncRequest, now_ms: i64) -> Outcome<SyncOutcome> {
        let mut out = Effects::default();
        let response = self.sync_inner(req, now_ms, &mut out);
        out.finish(response)
    }

    fn sync_inner(&mut self, req: SyncRequest, now_ms: i64, out: &mut Effects) -> SyncOutcome {
        let fail = |e| SyncOutcome::Respond(Err(e));
        if self.state == GroupState::Dead {
            return fail(GroupError::CoordinatorNotAvailable);
        }
        if let Err(e) = self.validate_member(&req.member_id, req.group_instance_id.as_deref()) {
            return fail(e);
        }
        if req.generation_id != self.generation_id {
            return fail(self.illegal_generation(req.generation_id));
        }
        // v5: the protocol type and name must match the group's when given.
        if req.protocol_type.is_some() && req.protocol_type != self.protocol_type {
            return fail(GroupError::InconsistentGroupProtocol);
        }
        if req.protocol_name.is_some() && req.protocol_name != self.protocol_name {
            return fail(GroupError::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::Empty => fail(GroupError::UnknownMemberId {
                member_id: req.member_id,
            }),
            GroupState::PreparingRebalance => fail(GroupError::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                let member_id = req.member_id.clone();
                self.renew(&member_id, now_ms);
                {
                    let m = self.member_mut(&member_id);
                    m.awaiting_sync = true;
                    m.pending_sync = false;
                }
                if self.is_leader(&member_id) {
                    let mut given: BTreeMap<String, Bytes> = req.assignments.into_iter().collect();
                    for m in self.members.values_mut() {
                        m.assignment = given.remove(&m.member_id).unwrap_or_default();
                    }
                    self.transition(GroupState::Stable, now_ms);
                    out.persist = true;
                    self.propagate_assignments(out);
                }
                SyncOutcome::Deferred { member_id }
            }
            GroupState::Stable => {
                let member_id = req.member_id;
                self.renew(&member_id, now_ms);
                let m = self.member_mut(&member_id);
                m.pending_sync = false;
                let assignment = m.assignment.clone();
                self.clear_sync_deadline_if_done();
                SyncOutcome::Respond(Ok(SyncResponse {
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment,
                }))
            }
            GroupState::Dead => fail(GroupError::CoordinatorNotAvailable),
        }
    }

    fn propagate_assignments(&mut self, out: &mut Effects) {
        let (protocol_type, protocol_name) =
            (self.protocol_type.clone(), self.protocol_name.clone());
        for m in self.members.values_mut() {
            if m.awaiting_sync {
                m.awaiting_sync = false;
                out.replies.push(Reply::Sync {
                    member_id: m.member_id.clone(),
                    result: Ok(SyncResponse {
                        protocol_type: protocol_type.clone(),
                        protocol_name: protocol_name.clone(),
                        assignment: m.assignment.clone(),
                    }),
                });
            }
        }
        self.clear_sync_deadline_if_done();
    }

    fn clear_sync_deadline_if_done(&mut self) {
        if self.members.values().all(|m| !m.pending_sync) {
            self.sync_deadline_ms = None;
        }
    }

    // ----- Heartbeat ------------------------------------------------------------------

    /// Heartbeat (Kafka's `handleHeartbeat`): renews the member's session.
    pub fn heartbeat(&mut self, req: &HeartbeatRequest, now_ms: i64) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        self.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != self.generation_id {
            return Err(self.illegal_generation(req.generation_id));
        }
        match self.state {
            GroupState::Empty => Err(GroupError::UnknownMemberId {
                member_id: req.member_id.clone(),
            }),
            GroupState::PreparingRebalance => {
                self.renew(&req.member_id, now_ms);
                Err(GroupError::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.renew(&req.member_id, now_ms);
                Ok(())
            }
            GroupState::Dead => Err(GroupError::CoordinatorNotAvailable),
        }
    }

    // ----- LeaveGroup -----------------------------------------------------------------

    /// LeaveGroup (Kafka's `handleLeaveGroup`), members in a batch (v3+); one result per
    /// member. A group-level error (Dead) comes back as `Err`.
    pub fn leave(
        &mut self,
        leaving: &[LeaveMember],
        now_ms: i64,
    ) -> Result<Outcome<Vec<LeaveResult>>, GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let mut out = Effects::default();
        let mut results = Vec::with_capacity(leaving.len());
        for lm in leaving {
            let result = self.leave_one(lm, now_ms, &mut out);
            results.push(LeaveResult {
                member_id: lm.member_id.clone(),
                group_instance_id: lm.group_instance_id.clone(),
                result,
            });
        }
        Ok(out.finish(results))
    }

    fn leave_one(
        &mut self,
        lm: &LeaveMember,
        now_ms: i64,
        out: &mut Effects,
    ) -> Result<(), GroupError> {
        let member_id = match (&lm.group_instance_id, lm.member_id.is_empty()) {
            (Some(instance_id), true) => match self.static_members.get(instance_id) {
                Some(id) => id.clone(),
                None => {
                    return Err(GroupError::UnknownMemberId {
                        member_id: String::new(),
                    })
                }
            },
            _ => lm.member_id.clone(),
        };
        if self.pending_members.remove(&member_id).is_some() {
            self.try_complete_join(now_ms, out);
            return Ok(());
        }
        self.validate_member(&member_id, lm.group_instance_id.as_deref())?;
        self.remove_member_and_update_group(&member_id, now_ms, out);
        Ok(())
    }

    // ----- Helpers --------------------------------------------------------------------

    /// Kafka's `supportsProtocols`.
    pub(super) fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| self.members.values().all(|m| m.supports(&p.name)))
    }

    /// The protocol for the next generation: among those every member supports, the one most
    /// members prefer (Kafka's `selectProtocol`); ties go to the leader's preference.
    pub(super) fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|n| self.members.values().all(|m| m.supports(n)))
            .collect();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(v) = m.vote(&candidates) {
                *votes.entry(v).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        let leader_order: Vec<&str> = self
            .leader_id
            .as_ref()
            .and_then(|l| self.members.get(l))
            .map(|m| m.protocols.iter().map(|p| p.name.as_str()).collect())
            .unwrap_or_default();
        let tied: Vec<&str> = votes
            .iter()
            .filter(|(_, c)| **c == best)
            .map(|(n, _)| *n)
            .collect();
        let chosen = leader_order
            .iter()
            .find(|n| tied.contains(n))
            .copied()
            .or_else(|| tied.first().copied())?;
        Some(chosen.to_owned())
    }

    pub(super) fn join_response(&self, member_id: &str, include_members: bool) -> JoinResponse {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let leader = self.leader_id.clone().unwrap_or_default();
        let members = if include_members || leader == member_id {
            self.members
                .values()
                .map(|m| JoinedMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m.metadata(&protocol).cloned().unwrap_or_default(),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResponse {
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            skip_assignment: false,
            member_id: member_id.to_owned(),
            members,
        }
    }

    /// Kafka's `validateCurrentMember`: a static member whose instance id moved to another
    /// member id is fenced; an id the group does not know is unknown.
    pub(crate) fn validate_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        if let Some(instance_id) = group_instance_id {
            if let Some(current) = self.static_members.get(instance_id) {
                if current != member_id {
                    return Err(GroupError::FencedInstanceId {
                        group_instance_id: instance_id.to_owned(),
                        member_id: member_id.to_owned(),
                    });
                }
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId {
                member_id: member_id.to_owned(),
            });
        }
        Ok(())
    }

    pub(crate) fn illegal_generation(&self, generation_id: i32) -> GroupError {
        GroupError::IllegalGeneration {
            generation_id,
            current_generation_id: self.generation_id,
        }
    }

    /// Renews a member's session (heartbeat, sync, commit).
    pub(crate) fn renew(&mut self, member_id: &str, now_ms: i64) {
        if let Some(m) = self.members.get_mut(member_id) {
            let deadline = now_ms + i64::from(m.session_timeout_ms);
            if !m.is_new || deadline > m.heartbeat_deadline_ms {
                m.heartbeat_deadline_ms = deadline;
            }
        }
    }

    pub(super) fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    pub(super) fn is_full(&self) -> bool {
        self.members.len() + self.pending_members.len() >= self.config.max_size
    }

    /// The group's rebalance timeout: the largest of its members'.
    pub(super) fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    pub(super) fn member_mut(&mut self, member_id: &str) -> &mut Member {
        self.members
            .get_mut(member_id)
            .expect("caller checked membership")
    }

    pub(super) fn generate_member_id(&mut self, prefix: &str) -> String {
        self.member_id_counter += 1;
        // Kafka: `clientId-UUID` (or `group.instance.id-UUID`); this has the same shape.
        let n = self.member_id_seed ^ self.member_id_counter.rotate_left(32);
        let id = format!(
            "{prefix}-{:08x}-{:04x}-{:04x}-{:016x}",
            (n >> 32) as u32,
            (n >> 16) as u16,
            n as u16,
            self.member_id_counter
        );
        id
    }

    pub(crate) fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }
}

/// Replies and the persist flag, collected during one call.
#[derive(Debug, Default)]
struct Effects {
    replies: Vec<Reply>,
    persist: bool,
}

impl Effects {
    fn finish<T>(self, response: T) -> Outcome<T> {
        Outcome {
            response,
            replies: self.replies,
            persist: self.persist,
        }
    }
}

/// The topic names of a `ConsumerProtocolSubscription` (any version 0-3: an int16 version,
/// then an int32 count of int16-length strings; later fields are not needed). `None` when
/// the bytes do not hold that much.
pub(crate) fn subscription_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut p = metadata.get(2..)?;
    let count = i32::from_be_bytes(p.get(..4)?.try_into().ok()?);
    p = &p[4..];
    // Each name takes at least its 2-byte length: bound the count before allocating.
    let count = usize::try_from(count).ok().filter(|&c| c <= p.len() / 2)?;
    let mut topics = Vec::with_capacity(count);
    for _ in 0..count {
        let len = i16::from_be_bytes(p.get(..2)?.try_into().ok()?);
        let len = usize::try_from(len).ok()?;
        let name = p.get(2..2 + len)?;
        topics.push(String::from_utf8(name.to_vec()).ok()?);
        p = &p[2 + len..];
    }
    Some(topics)
}

#[cfg(test)]
mod subscription_tests {
    use super::subscription_topics;

    #[test]
    fn consumer_subscriptions_name_their_topics() {
        // v1: version 1, topics ["a", "bc"], user data null, owned partitions [].
        let mut m = vec![0, 1, 0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c'];
        m.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        assert_eq!(subscription_topics(&m), Some(vec!["a".into(), "bc".into()]));
        assert_eq!(subscription_topics(&m[..9]), None, "cut inside a name");
        assert_eq!(subscription_topics(&[0, 1, 0x7f, 0xff, 0xff, 0xff]), None);
        assert_eq!(subscription_topics(b""), None);
    }
}
