//! The rebalance protocol of [`ClassicGroup`]: timers, join phases, member removal
//! (Kafka's `prepareRebalance`, `DelayedJoin`, `InitialDelayedJoin`, `onCompleteJoin`,
//! `removeMemberAndUpdateGroup`, heartbeat expiry).

use bytes::Bytes;

use super::{ClassicGroup, Effects, JoinTimer};
use crate::api::{Outcome, Reply};
use crate::config::GroupState;
use crate::error::GroupError;

impl ClassicGroup {
    // ----- Time -----------------------------------------------------------------------

    /// Advances the group's timers to `now_ms`: expires members and KIP-394 pending members
    /// whose session ended, completes a join phase whose timer ran out, and removes members
    /// that did not sync within the rebalance timeout. Returns the replies to send.
    pub fn tick(&mut self, now_ms: i64) -> Outcome<()> {
        let mut out = Effects::default();
        let expired_pending: Vec<String> = self
            .pending_members
            .iter()
            .filter(|(_, deadline)| now_ms >= **deadline)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired_pending {
            self.pending_members.remove(&id);
            self.try_complete_join(now_ms, &mut out);
        }
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.has_satisfied_heartbeat(now_ms))
            .map(|m| m.member_id.clone())
            .collect();
        for id in expired {
            if self.members.contains_key(&id) {
                self.remove_member_and_update_group(&id, now_ms, &mut out);
            }
        }
        if self.state == GroupState::PreparingRebalance {
            if let Some(timer) = self.join_timer {
                self.on_join_timer(timer, now_ms, &mut out);
            }
        }
        if let Some(deadline) = self.sync_deadline_ms {
            if now_ms >= deadline {
                self.sync_deadline_ms = None;
                if matches!(
                    self.state,
                    GroupState::CompletingRebalance | GroupState::Stable
                ) {
                    let laggards: Vec<String> = self
                        .members
                        .values()
                        .filter(|m| m.pending_sync)
                        .map(|m| m.member_id.clone())
                        .collect();
                    for id in laggards {
                        if self.members.contains_key(&id) {
                            self.remove_member_and_update_group(&id, now_ms, &mut out);
                        }
                    }
                }
            }
        }
        out.finish(())
    }

    /// The earliest time at which [`ClassicGroup::tick`] has something to do, if any: the
    /// server schedules its next tick for this group no later than this.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let members = self.members.values().map(|m| m.heartbeat_deadline_ms);
        let pending = self.pending_members.values().copied();
        let join = match self.join_timer {
            Some(JoinTimer::Rebalance { deadline_ms })
            | Some(JoinTimer::Initial { deadline_ms, .. }) => Some(deadline_ms),
            None => None,
        };
        members
            .chain(pending)
            .chain(join)
            .chain(self.sync_deadline_ms)
            .min()
    }

    pub(super) fn on_join_timer(&mut self, timer: JoinTimer, now_ms: i64, out: &mut Effects) {
        match timer {
            JoinTimer::Rebalance { deadline_ms } if now_ms >= deadline_ms => {
                self.complete_join(now_ms, out)
            }
            JoinTimer::Initial {
                deadline_ms,
                remaining_ms,
            } if now_ms >= deadline_ms => {
                if self.new_member_added && remaining_ms > 0 {
                    // Kafka's InitialDelayedJoin: members keep arriving, wait another delay.
                    self.new_member_added = false;
                    let delay = self.config.initial_rebalance_delay_ms.min(remaining_ms);
                    self.join_timer = Some(JoinTimer::Initial {
                        deadline_ms: now_ms + delay,
                        remaining_ms: (remaining_ms - delay).max(0),
                    });
                    if delay == 0 {
                        self.complete_join(now_ms, out);
                    }
                } else {
                    self.complete_join(now_ms, out);
                }
            }
            _ => {}
        }
    }

    // ----- The rebalance protocol -----------------------------------------------------

    pub(super) fn maybe_prepare_rebalance(&mut self, now_ms: i64, out: &mut Effects) {
        if matches!(
            self.state,
            GroupState::Empty | GroupState::Stable | GroupState::CompletingRebalance
        ) {
            self.prepare_rebalance(now_ms, out);
        }
    }

    /// Kafka's `prepareRebalance`.
    pub(super) fn prepare_rebalance(&mut self, now_ms: i64, out: &mut Effects) {
        if self.state == GroupState::CompletingRebalance {
            // Waiting syncs learn that the assignment is void.
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
                if m.awaiting_sync {
                    m.awaiting_sync = false;
                    out.replies.push(Reply::Sync {
                        member_id: m.member_id.clone(),
                        result: Err(GroupError::RebalanceInProgress),
                    });
                }
            }
        }
        for m in self.members.values_mut() {
            m.pending_sync = false;
        }
        self.sync_deadline_ms = None;
        let rebalance_timeout = self.rebalance_timeout_ms();
        self.join_timer = Some(if self.state == GroupState::Empty {
            let delay = self.config.initial_rebalance_delay_ms;
            JoinTimer::Initial {
                deadline_ms: now_ms + delay,
                remaining_ms: (rebalance_timeout - delay).max(0),
            }
        } else {
            JoinTimer::Rebalance {
                deadline_ms: now_ms + rebalance_timeout,
            }
        });
        self.transition(GroupState::PreparingRebalance, now_ms);
    }

    /// Completes the join phase early when every member has rejoined (Kafka's
    /// `DelayedJoin.tryComplete`); the initial delay always runs its course, except a zero one.
    pub(super) fn try_complete_join(&mut self, now_ms: i64, out: &mut Effects) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        match self.join_timer {
            Some(JoinTimer::Rebalance { .. }) if self.has_all_members_joined() => {
                self.complete_join(now_ms, out)
            }
            Some(timer @ JoinTimer::Initial { .. }) => self.on_join_timer(timer, now_ms, out),
            Some(JoinTimer::Rebalance { .. }) | None => {}
        }
    }

    pub(super) fn has_all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join)
    }

    /// Kafka's `onCompleteJoin`.
    pub(super) fn complete_join(&mut self, now_ms: i64, out: &mut Effects) {
        self.join_timer = None;
        // Dynamic members that did not rejoin in time are gone; static ones keep their
        // place until their session expires.
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id, out);
        }
        if self.state == GroupState::Dead {
            return;
        }
        if !self.maybe_elect_joined_leader() && !self.members.is_empty() {
            // Only static members that have not rejoined remain: wait another round.
            self.join_timer = Some(JoinTimer::Rebalance {
                deadline_ms: now_ms + self.rebalance_timeout_ms(),
            });
            return;
        }
        self.generation_id += 1;
        self.new_member_added = false;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty, now_ms);
            out.persist = true;
            return;
        }
        self.protocol_name = self.select_protocol();
        self.transition(GroupState::CompletingRebalance, now_ms);
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let resp = self.join_response(&id, false);
            let m = self.member_mut(&id);
            // Static members that did not rejoin get no response and no pending sync.
            if !m.awaiting_join {
                continue;
            }
            m.awaiting_join = false;
            m.is_new = false;
            m.pending_sync = true;
            m.heartbeat_deadline_ms = now_ms + i64::from(m.session_timeout_ms);
            out.replies.push(Reply::Join {
                member_id: id,
                result: Ok(resp),
            });
        }
        self.sync_deadline_ms = Some(now_ms + self.rebalance_timeout_ms());
    }

    pub(super) fn maybe_elect_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader_id.clone() else {
            return false;
        };
        if self.members.get(&leader).is_some_and(|m| m.awaiting_join) {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join) {
            Some(m) => {
                self.leader_id = Some(m.member_id.clone());
                true
            }
            None => false,
        }
    }

    /// Kafka's `removeMemberAndUpdateGroup`.
    pub(super) fn remove_member_and_update_group(
        &mut self,
        member_id: &str,
        now_ms: i64,
        out: &mut Effects,
    ) {
        self.remove_member(member_id, out);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now_ms, out);
                // With no member left the join phase completes at once (into Empty).
                self.try_complete_join(now_ms, out);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, out),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Removes a member, failing its pending requests with UnknownMemberId.
    pub(super) fn remove_member(&mut self, member_id: &str, out: &mut Effects) {
        let Some(m) = self.members.remove(member_id) else {
            return;
        };
        let unknown = GroupError::UnknownMemberId {
            member_id: member_id.to_owned(),
        };
        if m.awaiting_join {
            out.replies.push(Reply::Join {
                member_id: member_id.to_owned(),
                result: Err(unknown.clone()),
            });
        }
        if m.awaiting_sync {
            out.replies.push(Reply::Sync {
                member_id: member_id.to_owned(),
                result: Err(unknown),
            });
        }
        if let Some(instance_id) = &m.group_instance_id {
            if self.static_members.get(instance_id).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance_id);
            }
        }
        if self.is_leader(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
    }
}
