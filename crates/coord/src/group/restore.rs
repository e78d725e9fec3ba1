//! A [`ClassicGroup`] to and from its `__consumer_offsets` metadata record
//! ([`GroupMetadataValue`]), after Kafka's `GroupCoordinatorRecordHelpers.newGroupMetadataRecord`
//! and `GroupMetadata.loadGroup`.
//!
//! The record holds only what survives a coordinator move: the generation, the selected
//! protocol, the leader and each member with its subscription for that protocol and its
//! assignment. Everything in flight (joins and syncs waiting, timers, KIP-394 pending
//! member ids) is lost, as in Kafka: waiting clients time out and rejoin. Committed offsets
//! have records of their own and are replayed with `complete_commit` / `remove_offset`.

use std::collections::BTreeMap;

use super::{ClassicGroup, Member};
use crate::api::Protocol;
use crate::config::{GroupConfig, GroupState};
use crate::offsets::GroupOffsets;
use crate::records::{GroupMetadataValue, MemberMetadata};

/// Kafka's `currentStateTimestampOrDefault`: what a group without a known state time holds.
/// Offset expiry takes the later of it and a commit's time, so -1 means "the commit's".
const NO_STATE_TIMESTAMP: i64 = -1;

impl ClassicGroup {
    /// The group's metadata record as Kafka writes it: the current generation, protocol
    /// type (`""` if none), selected protocol, leader and state time, and every member with
    /// its metadata for the selected protocol as `subscription` and its assignment.
    ///
    /// The server writes it whenever a call returns `persist` (the group is then Stable or
    /// Empty), with [`crate::records::encode_group_metadata_key`] as the key.
    pub fn metadata_value(&self) -> GroupMetadataValue {
        let protocol = self.protocol_name.as_deref();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation_id,
            protocol: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp_ms: (self.state_timestamp_ms != NO_STATE_TIMESTAMP)
                .then_some(self.state_timestamp_ms),
            members: self
                .members
                .values()
                .map(|m| MemberMetadata {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    // Kafka refuses to write a member without metadata for the selected
                    // protocol; it cannot happen here (every member supports it), and an
                    // empty subscription is the harmless answer if it ever did.
                    subscription: protocol
                        .and_then(|p| m.metadata(p))
                        .cloned()
                        .unwrap_or_default(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// A group loaded from its metadata record (Kafka's `GroupMetadata.loadGroup` and
    /// `onGroupLoaded`). With members it comes back Stable at the recorded generation, each
    /// member knowing only the selected protocol (with its recorded subscription) and its
    /// assignment, its session starting now: members that do not heartbeat within their
    /// session timeout are expired by [`ClassicGroup::tick`], which starts a rebalance.
    /// Without members it comes back Empty, keeping its generation and protocol type.
    ///
    /// Offsets are not in this record; replay them afterwards. `member_id_seed` is as for
    /// [`ClassicGroup::new`].
    pub fn from_metadata_value(
        group_id: impl Into<String>,
        config: GroupConfig,
        member_id_seed: u64,
        value: GroupMetadataValue,
        now_ms: i64,
    ) -> ClassicGroup {
        let protocol_type = Some(value.protocol_type).filter(|t| !t.is_empty());
        let state = if value.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        let protocol_name = value.protocol.unwrap_or_default();
        let mut members = BTreeMap::new();
        let mut static_members = BTreeMap::new();
        for m in value.members {
            if let Some(instance_id) = &m.group_instance_id {
                static_members.insert(instance_id.clone(), m.member_id.clone());
            }
            members.insert(
                m.member_id.clone(),
                Member {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocol_type: protocol_type.clone().unwrap_or_default(),
                    protocols: vec![Protocol {
                        name: protocol_name.clone(),
                        metadata: m.subscription,
                    }],
                    assignment: m.assignment,
                    heartbeat_deadline_ms: now_ms.saturating_add(i64::from(m.session_timeout_ms)),
                    is_new: false,
                    awaiting_join: false,
                    awaiting_sync: false,
                    pending_sync: false,
                },
            );
        }
        // Kafka adopts the first member as leader when the record names none. A leader that
        // is not a member (never written by Kafka) is treated the same, so that the group's
        // leader is always one of its members.
        let leader_id = match value.leader {
            Some(leader) if members.contains_key(&leader) => Some(leader),
            _ => members.keys().next().cloned(),
        };
        ClassicGroup {
            group_id: group_id.into(),
            config,
            state,
            state_timestamp_ms: value
                .current_state_timestamp_ms
                .unwrap_or(NO_STATE_TIMESTAMP),
            generation_id: value.generation,
            protocol_type,
            protocol_name: (!members.is_empty()).then_some(protocol_name),
            leader_id,
            members,
            static_members,
            pending_members: BTreeMap::new(),
            join_timer: None,
            new_member_added: false,
            sync_deadline_ms: None,
            member_id_seed,
            member_id_counter: 0,
            offsets: GroupOffsets::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::records::{GroupMetadataValue, MemberMetadata};
    use crate::*;

    const SESSION: i32 = 10_000;
    const REBALANCE: i32 = 30_000;

    fn config() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: 0,
            ..GroupConfig::default()
        }
    }

    fn join_req(member_id: &str, instance: Option<&str>) -> JoinRequest {
        JoinRequest {
            member_id: member_id.to_owned(),
            group_instance_id: instance.map(str::to_owned),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: SESSION,
            rebalance_timeout_ms: REBALANCE,
            protocol_type: "consumer".into(),
            protocols: vec![
                Protocol {
                    name: "cooperative-sticky".into(),
                    metadata: Bytes::from_static(b"sticky-sub"),
                },
                Protocol {
                    name: "range".into(),
                    metadata: Bytes::from_static(b"range-sub"),
                },
            ],
            require_known_member_id: false,
            supports_skip_assignment: false,
        }
    }

    fn hb(member_id: &str, generation_id: i32) -> HeartbeatRequest {
        HeartbeatRequest {
            member_id: member_id.into(),
            group_instance_id: None,
            generation_id,
        }
    }

    fn joined_id(out: &Outcome<JoinOutcome>) -> String {
        match &out.response {
            JoinOutcome::Deferred { member_id } => member_id.clone(),
            other => panic!("expected a deferred join, got {other:?}"),
        }
    }

    /// A Stable group of generation 2: a dynamic leader and a static follower.
    fn stable_group() -> (ClassicGroup, String, String) {
        let mut g = ClassicGroup::new("g", config(), 7, 0);
        let a = joined_id(&g.join(join_req("", None), 0));
        assert_eq!(g.state(), GroupState::CompletingRebalance);
        let b = joined_id(&g.join(join_req("", Some("instance-b")), 10));
        assert_eq!(g.state(), GroupState::PreparingRebalance);
        g.join(join_req(&a, None), 20);
        assert_eq!(g.state(), GroupState::CompletingRebalance);
        assert_eq!(g.generation_id(), 2);
        let out = g.sync(
            SyncRequest {
                member_id: a.clone(),
                group_instance_id: None,
                generation_id: 2,
                protocol_type: None,
                protocol_name: None,
                assignments: vec![
                    (a.clone(), Bytes::from_static(b"assign-a")),
                    (b.clone(), Bytes::from_static(b"assign-b")),
                ],
            },
            30,
        );
        assert!(out.persist);
        assert_eq!(g.state(), GroupState::Stable);
        (g, a, b)
    }

    #[test]
    fn metadata_value_is_what_kafka_writes() {
        let (g, a, b) = stable_group();
        let v = g.metadata_value();
        assert_eq!(v.protocol_type, "consumer");
        assert_eq!(v.generation, 2);
        assert_eq!(v.protocol.as_deref(), Some("cooperative-sticky"));
        assert_eq!(v.leader.as_deref(), Some(a.as_str()));
        assert_eq!(v.current_state_timestamp_ms, Some(30));
        assert_eq!(v.members.len(), 2);
        let mb = v.members.iter().find(|m| m.member_id == b).unwrap();
        assert_eq!(
            mb,
            &MemberMetadata {
                member_id: b.clone(),
                group_instance_id: Some("instance-b".into()),
                client_id: "client".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: REBALANCE,
                session_timeout_ms: SESSION,
                // The metadata for the selected protocol only.
                subscription: Bytes::from_static(b"sticky-sub"),
                assignment: Bytes::from_static(b"assign-b"),
            }
        );
    }

    #[test]
    fn restored_stable_group_accepts_its_members_and_expires_the_absent() {
        let (g, a, b) = stable_group();
        let bytes = g.metadata_value().encode().unwrap();
        let value = GroupMetadataValue::decode(&bytes).unwrap();
        let t0 = 1_000_000;
        let mut r = ClassicGroup::from_metadata_value("g", config(), 8, value, t0);
        assert_eq!(r.state(), GroupState::Stable);
        assert_eq!(r.generation_id(), 2);
        assert_eq!(r.leader_id(), Some(a.as_str()));
        assert_eq!(r.protocol_type(), Some("consumer"));
        assert_eq!(r.protocol_name(), Some("cooperative-sticky"));
        assert_eq!(r.static_member_id("instance-b"), Some(b.as_str()));
        assert_eq!(r.state_timestamp_ms(), 30);
        assert_eq!(
            r.member(&b).unwrap().metadata("cooperative-sticky"),
            Some(&Bytes::from_static(b"sticky-sub"))
        );
        // Writing it again gives the same record.
        assert_eq!(r.metadata_value(), g.metadata_value());

        // The members heartbeat at the generation they know; the follower's SyncGroup (a
        // lost response, retried) returns its assignment.
        assert_eq!(r.heartbeat(&hb(&a, 2), t0 + 1_000), Ok(()));
        assert_eq!(
            r.heartbeat(&hb(&a, 1), t0 + 1_000),
            Err(r.illegal_generation(1))
        );
        let out = r.sync(
            SyncRequest {
                member_id: b.clone(),
                group_instance_id: Some("instance-b".into()),
                generation_id: 2,
                protocol_type: Some("consumer".into()),
                protocol_name: Some("cooperative-sticky".into()),
                assignments: vec![],
            },
            t0 + 2_000,
        );
        assert_eq!(
            out.response,
            SyncOutcome::Respond(Ok(SyncResponse {
                protocol_type: Some("consumer".into()),
                protocol_name: Some("cooperative-sticky".into()),
                assignment: Bytes::from_static(b"assign-b"),
            }))
        );
        // Only the leader keeps heartbeating: the follower's session (from its sync at
        // t0 + 2 s) ends and tick removes it, starting a rebalance.
        assert_eq!(r.heartbeat(&hb(&a, 2), t0 + 9_000), Ok(()));
        assert!(r.tick(t0 + 11_999).replies.is_empty());
        assert!(r.member(&b).is_some());
        assert_eq!(r.heartbeat(&hb(&a, 2), t0 + 11_999), Ok(()));
        r.tick(t0 + 12_000);
        assert!(r.member(&b).is_none());
        assert_eq!(r.static_member_id("instance-b"), None);
        assert_eq!(r.state(), GroupState::PreparingRebalance);
        assert_eq!(
            r.heartbeat(&hb(&a, 2), t0 + 12_001),
            Err(GroupError::RebalanceInProgress)
        );
    }

    #[test]
    fn restored_members_that_never_return_are_expired_into_an_empty_group() {
        let (g, a, b) = stable_group();
        let t0 = 500;
        let mut r = ClassicGroup::from_metadata_value("g", config(), 8, g.metadata_value(), t0);
        assert_eq!(r.next_deadline_ms(), Some(t0 + i64::from(SESSION)));
        r.tick(t0 + i64::from(SESSION) - 1);
        assert_eq!(r.members().count(), 2);
        let out = r.tick(t0 + i64::from(SESSION));
        assert!(out.persist);
        assert!(r.member(&a).is_none() && r.member(&b).is_none());
        assert_eq!(r.state(), GroupState::Empty);
        assert_eq!(r.generation_id(), 3);
        assert_eq!(r.protocol_name(), None);
        // And that Empty group restores as Empty, keeping its generation and protocol type.
        let v = r.metadata_value();
        assert!(v.members.is_empty() && v.protocol.is_none() && v.leader.is_none());
        let e = ClassicGroup::from_metadata_value("g", config(), 9, v, t0 + 20_000);
        assert_eq!(e.state(), GroupState::Empty);
        assert_eq!(e.generation_id(), 3);
        assert_eq!(e.protocol_type(), Some("consumer"));
        assert_eq!(e.state_timestamp_ms(), t0 + i64::from(SESSION));
        assert_eq!(e.next_deadline_ms(), None);
    }

    #[test]
    fn restored_group_rebalances_when_a_member_rejoins() {
        let (g, a, b) = stable_group();
        let mut r = ClassicGroup::from_metadata_value("g", config(), 8, g.metadata_value(), 0);
        // The leader rejoins with both protocols: a new generation; the follower must rejoin.
        let out = r.join(join_req(&a, None), 100);
        assert_eq!(
            out.response,
            JoinOutcome::Deferred {
                member_id: a.clone()
            }
        );
        assert_eq!(r.state(), GroupState::PreparingRebalance);
        assert_eq!(
            r.heartbeat(&hb(&b, 2), 200),
            Err(GroupError::RebalanceInProgress)
        );
        let out = r.join(join_req(&b, Some("instance-b")), 300);
        assert_eq!(r.state(), GroupState::CompletingRebalance);
        assert_eq!(r.generation_id(), 3);
        assert_eq!(out.replies.len(), 2);
    }

    #[test]
    fn a_record_without_a_leader_or_state_time_loads() {
        let value = GroupMetadataValue {
            protocol_type: "connect".into(),
            generation: 9,
            protocol: Some("sessioned".into()),
            leader: None,
            current_state_timestamp_ms: None,
            members: vec![MemberMetadata {
                member_id: "m-1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/10.0.0.1".into(),
                rebalance_timeout_ms: 60_000,
                session_timeout_ms: 10_000,
                subscription: Bytes::from_static(b"s"),
                assignment: Bytes::from_static(b"a"),
            }],
        };
        let r = ClassicGroup::from_metadata_value("connect-cluster", config(), 1, value, 0);
        assert_eq!(r.state(), GroupState::Stable);
        assert_eq!(r.leader_id(), Some("m-1"));
        assert_eq!(r.state_timestamp_ms(), -1);
        assert_eq!(r.metadata_value().current_state_timestamp_ms, None);
    }
}
