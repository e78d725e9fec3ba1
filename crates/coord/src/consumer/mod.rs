//! The consumer group protocol of KIP-848 (ConsumerGroupHeartbeat, ConsumerGroupDescribe),
//! as pure logic: [`ConsumerGroup`].
//!
//! The coordinator owns the assignment. Members heartbeat with their epoch, subscription and
//! owned partitions; the group keeps a group epoch (bumped when membership, subscriptions or
//! the subscribed topics' metadata change), a target assignment computed by a server-side
//! assignor ([`ServerAssignor`]: `uniform` or `range`) at that epoch, and moves each member
//! toward its target one heartbeat at a time: partitions to revoke first, then new ones once
//! their previous owner released them (see [`member`]).
//!
//! Like the rest of this crate: no I/O, no clock (`now_ms` comes in), no Kafka wire types.
//! Topic ids are [`TopicId`]s (16-byte UUIDs); the server passes the cluster's topics as a
//! [`TopicMetadata`] and maps [`crate::GroupError`] to Kafka error codes.
//!
//! Not implemented: regular-expression subscriptions (`SubscribedTopicRegex` is refused with
//! INVALID_REQUEST), client-side assignors, rack-aware assignment, members using the classic
//! protocol inside a consumer group (online upgrade and downgrade), per-group dynamic configs,
//! and Kafka 4.1's metadata hash (written as 0, see [`crate::records::consumer`]).
//!
//! Persistence: [`ConsumerGroup::records`] is the group as Kafka's `__consumer_offsets`
//! records (types 3-8), [`ConsumerGroup::tombstones_for_removed`] and
//! [`ConsumerGroup::tombstones`] remove members and groups, and [`ConsumerGroupBuilder`]
//! replays records into a group (see `group/persist.rs`).

pub mod api;
pub mod assignor;
pub mod config;
pub mod group;
pub mod member;

#[cfg(test)]
mod tests;

pub use self::api::{
    Assignment, ConsumerGroupDescription, ConsumerGroupState, ConsumerHeartbeatRequest,
    ConsumerHeartbeatResponse, DescribedMember, DescribedTopicPartitions, RemovalReason,
    RemovedMember, TopicId, TopicInfo, TopicMetadata, Topics, JOIN_GROUP_MEMBER_EPOCH,
    LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH,
};
pub use self::assignor::{AssignmentSpec, MemberSpec, ServerAssignor};
pub use self::config::{ConsumerGroupConfig, GroupOverrides};
pub use self::group::{ConsumerGroup, ConsumerGroupBuilder};
pub use self::member::{ConsumerMember, MemberState};
