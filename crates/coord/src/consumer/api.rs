//! The consumer group protocol's requests, responses and snapshots, stripped of their wire
//! form: the server converts ConsumerGroupHeartbeat (v0-1) and ConsumerGroupDescribe (v0-1)
//! to and from these. Also the topic ids, assignments and the topic metadata the
//! coordinator reads.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::member::MemberState;

/// A topic id: Kafka's 16-byte topic UUID, in wire byte order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TopicId(pub [u8; 16]);

impl TopicId {
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for TopicId {
    /// Kafka's `Uuid.toString`: URL-safe base64 without padding (22 characters).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64_url(&self.0))
    }
}

impl fmt::Debug for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicId({self})")
    }
}

/// URL-safe base64 without padding, the form Kafka prints UUIDs in (topic ids, and the
/// member ids the coordinator generates).
pub(crate) fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// Partitions per topic id: a member's assignment, its partitions pending revocation, the
/// partitions it reports owning, or its target assignment. Ordered, so that everything built
/// from it (responses, assignor input) is deterministic.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    topics: BTreeMap<TopicId, BTreeSet<i32>>,
}

impl Assignment {
    pub fn new() -> Self {
        Assignment::default()
    }

    /// Adds one partition.
    pub fn insert(&mut self, topic: TopicId, partition: i32) -> bool {
        self.topics.entry(topic).or_default().insert(partition)
    }

    /// Removes one partition; drops the topic when it has none left.
    pub fn remove(&mut self, topic: &TopicId, partition: i32) -> bool {
        let Some(partitions) = self.topics.get_mut(topic) else {
            return false;
        };
        let removed = partitions.remove(&partition);
        if partitions.is_empty() {
            self.topics.remove(topic);
        }
        removed
    }

    pub fn contains(&self, topic: &TopicId, partition: i32) -> bool {
        self.topics
            .get(topic)
            .is_some_and(|partitions| partitions.contains(&partition))
    }

    /// The partitions of one topic (empty when the topic has none).
    pub fn partitions(&self, topic: &TopicId) -> impl Iterator<Item = i32> + '_ {
        self.topics.get(topic).into_iter().flatten().copied()
    }

    /// Topics in id order, each with its partitions in order; never an empty set.
    pub fn topics(&self) -> impl Iterator<Item = (&TopicId, &BTreeSet<i32>)> {
        self.topics.iter()
    }

    /// Every (topic, partition) pair in order.
    pub fn iter(&self) -> impl Iterator<Item = (TopicId, i32)> + '_ {
        self.topics
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
    }

    /// The number of partitions.
    pub fn len(&self) -> usize {
        self.topics.values().map(BTreeSet::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Whether every partition of `self` is in `other`.
    pub fn is_subset(&self, other: &Assignment) -> bool {
        self.iter().all(|(t, p)| other.contains(&t, p))
    }

    /// Whether `self` and `other` share a partition.
    pub fn intersects(&self, other: &Assignment) -> bool {
        self.iter().any(|(t, p)| other.contains(&t, p))
    }
}

impl FromIterator<(TopicId, i32)> for Assignment {
    fn from_iter<I: IntoIterator<Item = (TopicId, i32)>>(iter: I) -> Self {
        let mut a = Assignment::new();
        for (t, p) in iter {
            a.insert(t, p);
        }
        a
    }
}

impl fmt::Debug for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.topics.iter()).finish()
    }
}

/// A topic as the coordinator needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicInfo {
    pub id: TopicId,
    /// The partition count; partitions are `0..partitions`.
    pub partitions: i32,
}

/// The cluster's topics, as the server knows them when it calls the coordinator.
///
/// Implemented by [`Topics`] (tests, small clusters) and by whatever the server keeps its
/// metadata in.
pub trait TopicMetadata {
    /// The topic called `name`, if it exists.
    fn topic(&self, name: &str) -> Option<TopicInfo>;
    /// The name of the topic with id `id`, if it exists (ConsumerGroupDescribe names topics).
    fn topic_name(&self, id: &TopicId) -> Option<&str>;
    /// Every topic's name (a regular-expression subscription is resolved against them).
    fn topic_names(&self) -> Vec<String>;
}

/// A plain [`TopicMetadata`]: topics by name and by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topics {
    by_name: BTreeMap<String, TopicInfo>,
    by_id: BTreeMap<TopicId, String>,
}

impl Topics {
    pub fn new() -> Self {
        Topics::default()
    }

    /// Adds a topic, or replaces the one of the same name (e.g. more partitions).
    pub fn insert(&mut self, name: impl Into<String>, id: TopicId, partitions: i32) {
        let name = name.into();
        if let Some(old) = self
            .by_name
            .insert(name.clone(), TopicInfo { id, partitions })
        {
            self.by_id.remove(&old.id);
        }
        self.by_id.insert(id, name);
    }

    /// Removes a topic (deleted).
    pub fn remove(&mut self, name: &str) {
        if let Some(old) = self.by_name.remove(name) {
            self.by_id.remove(&old.id);
        }
    }
}

impl TopicMetadata for Topics {
    fn topic(&self, name: &str) -> Option<TopicInfo> {
        self.by_name.get(name).copied()
    }
    fn topic_name(&self, id: &TopicId) -> Option<&str> {
        self.by_id.get(id).map(String::as_str)
    }
    fn topic_names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }
}

/// The epoch a member sends to join (or rejoin after being fenced).
pub const JOIN_GROUP_MEMBER_EPOCH: i32 = 0;
/// The epoch a member sends to leave the group.
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// The epoch a static member sends to leave temporarily (it keeps its partitions until its
/// session times out or it rejoins with the same `group.instance.id`).
pub const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// A ConsumerGroupHeartbeat request (v0-1), stripped of its wire form. Fields Kafka sends
/// only when they changed are `Option`s (null on the wire) or -1.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerHeartbeatRequest {
    /// v0: empty on the first join, the coordinator generates one. v1+ (KIP-1082): the
    /// client generates it and it is never empty; the server rejects an empty id in v1+ with
    /// INVALID_REQUEST before calling the coordinator.
    pub member_id: String,
    /// 0 to join, -1 to leave, -2 for a static member's temporary leave; otherwise the
    /// member's current epoch.
    pub member_epoch: i32,
    /// `group.instance.id`: null unless it is a static member's join (or it changed).
    pub instance_id: Option<String>,
    /// The rack: null unless it changed.
    pub rack_id: Option<String>,
    /// -1 unless it changed; required on join.
    pub rebalance_timeout_ms: i32,
    /// Null unless changed; required on join (or `subscribed_topic_regex`).
    pub subscribed_topic_names: Option<Vec<String>>,
    /// A regular-expression subscription (RE2 syntax, matched against whole topic names;
    /// internal topics never match), null unless changed; empty removes it. One that does
    /// not compile is refused with `GroupError::InvalidRegularExpression`.
    pub subscribed_topic_regex: Option<String>,
    /// The server-side assignor the member prefers (`uniform`, `range`): null unless it
    /// changed. Unknown names are refused with UNSUPPORTED_ASSIGNOR.
    pub server_assignor: Option<String>,
    /// The partitions the member owns: null unless they changed; empty on join. A member
    /// acknowledges a revocation by no longer listing the revoked partitions.
    pub topic_partitions: Option<Assignment>,
    /// From the request header.
    pub client_id: String,
    /// The client's address, as the server prints it (Kafka: `/127.0.0.1`).
    pub client_host: String,
}

/// A successful ConsumerGroupHeartbeat response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerHeartbeatResponse {
    pub member_id: String,
    /// The member's epoch after this heartbeat (-1 or -2 after a leave).
    pub member_epoch: i32,
    /// `group.consumer.heartbeat.interval.ms`; 0 in a leave's response.
    pub heartbeat_interval_ms: i32,
    /// The member's assigned partitions, sent (as Kafka does) when the request was a full
    /// one (a join, or rebalance timeout, topic names and owned partitions all present) or
    /// when they changed; null otherwise.
    pub assignment: Option<Assignment>,
}

/// Why the coordinator removed a member on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// No heartbeat within `group.consumer.session.timeout.ms`.
    SessionTimeout,
    /// Did not acknowledge a revocation within its rebalance timeout.
    RebalanceTimeout,
}

/// A member removed by [`super::ConsumerGroup::tick`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub reason: RemovalReason,
}

/// The states of a consumer group (KIP-848), as ConsumerGroupDescribe and ListGroups report
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConsumerGroupState {
    /// No members.
    Empty,
    /// The group epoch moved past the target assignment's: a new target is due.
    Assigning,
    /// Some member has not reached the target assignment yet.
    Reconciling,
    /// Every member owns its target assignment.
    Stable,
    /// The group was deleted.
    Dead,
}

impl ConsumerGroupState {
    /// The name Kafka reports.
    pub fn kafka_name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
            ConsumerGroupState::Dead => "Dead",
        }
    }
}

/// Partitions of one topic in a ConsumerGroupDescribe member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedTopicPartitions {
    pub topic_id: TopicId,
    pub topic_name: String,
    pub partitions: Vec<i32>,
}

/// One member in a ConsumerGroupDescribe response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    /// Sorted.
    pub subscribed_topic_names: Vec<String>,
    /// The member's regular-expression subscription, if any (the topics it matches are
    /// not in `subscribed_topic_names`, which are the names the member sent).
    pub subscribed_topic_regex: Option<String>,
    /// The member's reconciliation state (not on the wire; for logs and tests).
    pub state: MemberState,
    /// The partitions the member owns now.
    pub assignment: Vec<DescribedTopicPartitions>,
    /// The partitions the member owns once reconciled.
    pub target_assignment: Vec<DescribedTopicPartitions>,
}

/// A ConsumerGroupDescribe snapshot of a group. Every member uses the consumer protocol
/// (ConsumerGroupDescribe v1 `MemberType` 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    pub group_id: String,
    pub state: ConsumerGroupState,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    /// The server assignor the group uses.
    pub assignor_name: String,
    /// In member id order.
    pub members: Vec<DescribedMember>,
}
