//! `myelin-coord`: the group coordinator's logic.
//!
//! [`ClassicGroup`] is the classic (pre-KIP-848) group state machine with Kafka's semantics:
//! Empty, PreparingRebalance, CompletingRebalance, Stable, Dead; JoinGroup (KIP-394 member
//! ids, KIP-345 static membership), SyncGroup, Heartbeat, LeaveGroup, and a [`ClassicGroup::tick`]
//! that expires sessions and completes timed-out join phases. Committed offsets live beside
//! the group ([`offsets`]), as they do in Kafka's `GroupMetadata`.
//!
//! Everything here is pure, synchronous and deterministic: no I/O, no tokio, no clock. Time is
//! passed in as `now_ms` (milliseconds since the Unix epoch), so tests drive time without
//! sleeping. Protocol metadata and assignments are opaque bytes: groups of protocol type
//! `consumer`, `sr` (Schema Registry) and `connect` behave the same.
//!
//! No Kafka wire types here: the server converts requests and responses at its boundary and
//! maps [`GroupError`] to Kafka error codes in one place.
//!
//! Responses that Kafka defers (a JoinGroup waits for the rebalance, a follower's SyncGroup
//! waits for the leader's) come back later as [`Reply`] values, from whichever call completed
//! them: another member's join, the leader's sync, a leave, or `tick`.

pub mod api;
pub mod config;
pub mod consumer;
pub mod error;
pub mod group;
pub mod offsets;
pub mod records;
pub mod service;
pub mod share;
pub mod txn;
pub mod txn_service;

#[cfg(test)]
mod tests;

pub use crate::api::{
    HeartbeatRequest, JoinOutcome, JoinRequest, JoinResponse, JoinedMember, LeaveMember,
    LeaveResult, Outcome, Protocol, Reply, SyncOutcome, SyncRequest, SyncResponse,
};
pub use crate::config::{GroupConfig, GroupState};
pub use crate::error::GroupError;
pub use crate::group::{ClassicGroup, Member};
pub use crate::offsets::{
    CommitOutcome, CommittedOffset, ExpiredOffsets, GroupOffsets, OffsetCommit, TopicPartition,
};
pub use crate::service::{
    partition_for, CoordinatorLookup, CoordinatorSettings, GroupCoordinator, GroupDescription,
    GroupListing, GroupStats, GroupSummary, MemberDescription, OFFSETS_TOPIC,
};
