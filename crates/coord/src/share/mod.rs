//! Share groups (KIP-932, "queues for Kafka"): members that consume the same partitions
//! together, each record delivered to one member at a time and acknowledged one by one.
//!
//! The [`ShareCoordinator`] is both of Kafka's roles on one broker: the group coordinator
//! of share groups (ShareGroupHeartbeat, membership, the assignment) and the
//! share-partition leader (ShareFetch acquires records, ShareAcknowledge settles them, share
//! sessions), with the share coordinator's persistence in the internal compacted topic
//! `__share_group_state` ([`records`]).
//!
//! - **Assignment** (Kafka's `simple` assignor): each subscribed topic's partitions are
//!   dealt round-robin to the members subscribed to it; with more members than partitions
//!   every member gets one partition and partitions are shared. There is no revocation:
//!   two members may fetch one partition at once, the share-partition keeps them apart.
//! - **Share-partitions** ([`partition`]) are created when a partition is first assigned,
//!   at the log end (`share.auto.offset.reset` latest, the default) or start (earliest),
//!   and written at once, so that a restart keeps the position.
//! - **Durability.** Each change an acknowledgement (or a release at the delivery limit)
//!   makes is written before it is answered; acquisitions are not written, so after a
//!   restart what was acquired is available again.
//! - **Membership** is kept in memory, as the coordinator keeps KIP-848 members: after a
//!   restart members get UNKNOWN_MEMBER_ID and rejoin with epoch 0. The group itself (its
//!   record) and its share-partitions survive.
//!
//! One mutex over all share groups, never held across an `.await`; records are appended
//! under it, so the log holds changes in the order they were made, and waited on without it.

pub mod partition;
pub mod records;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use myelin_cluster::{Partition, PartitionManager};
use parking_lot::{Mutex, RwLock};

use self::partition::{
    AckBatch, AckError, Acquired, Limits, RecordLimit, SharePartition, StateBatch,
};
use self::records::{PartitionStateValue, ShareKey};
use crate::consumer::{TopicId, TopicMetadata};
use crate::error::GroupError;
use crate::service::internal;
use crate::service::shard::{append_records, BatchProducer, KeyValue, Written};
use crate::service::{partition_for, CoordinatorLookup};

/// The internal topic holding share groups and share-partition states.
pub const SHARE_STATE_TOPIC: &str = "__share_group_state";

/// The share coordinator's settings: Kafka's broker configs of the same names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareSettings {
    /// `group.share.session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// `group.share.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: i32,
    /// `group.share.max.size`: the most members of one share group.
    pub max_size: usize,
    /// `group.share.max.share.sessions`: the most share sessions on the broker.
    pub max_sessions: usize,
    /// `group.share.delivery.count.limit`, `group.share.partition.max.record.locks` and
    /// `group.share.record.lock.duration.ms`.
    pub limits: Limits,
    /// `share.coordinator.state.topic.num.partitions`.
    pub state_topic_partitions: u32,
    /// `share.coordinator.state.topic.segment.bytes`.
    pub state_topic_segment_bytes: i64,
}

impl Default for ShareSettings {
    fn default() -> Self {
        ShareSettings {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: 200,
            max_sessions: 2000,
            limits: Limits::default(),
            state_topic_partitions: 50,
            state_topic_segment_bytes: 100 * 1024 * 1024,
        }
    }
}

/// Where a new share-partition starts (`share.auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoOffsetReset {
    /// At the log end (for `read_committed`, the last stable offset).
    #[default]
    Latest,
    /// At the log start.
    Earliest,
    /// `by_duration:<ISO 8601 duration>`: at the first record at most this many
    /// milliseconds old when the partition is first fetched, or at the log end when every
    /// record is older.
    ByDuration(u64),
}

/// A share group's own configs (the GROUP resource's `share.*`), in place of the broker's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShareOverrides {
    pub session_timeout_ms: Option<i32>,
    pub heartbeat_interval_ms: Option<i32>,
    pub record_lock_duration_ms: Option<i64>,
    pub delivery_count_limit: Option<i16>,
    pub auto_offset_reset: AutoOffsetReset,
    /// `share.isolation.level=read_committed`: records are delivered up to the last
    /// stable offset, and those of aborted transactions are archived, never delivered.
    pub read_committed: bool,
}

/// A topic partition by id.
pub type TopicIdPartition = (TopicId, i32);

/// ShareGroupHeartbeat, stripped of its wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareHeartbeatRequest {
    pub member_id: String,
    /// 0 to join, -1 to leave, else the member's epoch.
    pub member_epoch: i32,
    pub rack_id: Option<String>,
    /// `None` when unchanged since the last heartbeat.
    pub subscribed_topic_names: Option<Vec<String>>,
    pub client_id: String,
    pub client_host: String,
}

/// ShareGroupHeartbeat's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareHeartbeatResponse {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The member's partitions, when they changed since its last heartbeat.
    pub assignment: Option<Vec<(TopicId, Vec<i32>)>>,
}

/// A share group as ShareGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGroupDescription {
    pub group_id: String,
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: Vec<ShareMemberDescription>,
}

/// One member of a share group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareMemberDescription {
    pub member_id: String,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub assignment: Vec<(TopicId, Vec<i32>)>,
}

/// One share group, for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGroupStats {
    pub group_id: String,
    pub state: &'static str,
    pub members: usize,
    /// (topic partition, start offset, offsets in flight).
    pub partitions: Vec<(TopicIdPartition, i64, usize)>,
}

/// Why a share session cannot be used (ShareFetch, ShareAcknowledge).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the share session was not found")]
    NotFound,
    #[error("share session epoch {got} is not the session's {expected}")]
    InvalidEpoch { got: i32, expected: i32 },
    #[error("{0}")]
    InvalidRequest(String),
    #[error("the broker holds its most share sessions ({0}, group.share.max.share.sessions)")]
    LimitReached(usize),
}

/// The result of one partition's acknowledgements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    Done,
    Refused(AckError),
    /// The group has no state for the partition.
    UnknownPartition,
}

/// State changes appended to `__share_group_state`, not yet known durable: a request that
/// made them is answered once [`Pending::wait`] returns.
#[derive(Debug)]
pub struct Pending(Option<Written>);

impl Pending {
    /// Nothing to wait for.
    pub fn none() -> Self {
        Pending(None)
    }

    /// Waits until the changes are durable.
    pub async fn wait(self) -> Result<(), GroupError> {
        if let Some(w) = self.0 {
            w.wait().await.map_err(|e| {
                tracing::warn!(error = %e, "cannot write share group state");
                GroupError::CoordinatorNotAvailable
            })?;
        }
        Ok(())
    }
}

/// The session epoch after `epoch` (Kafka's `ShareRequestMetadata.nextEpoch`).
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

#[derive(Debug)]
struct Member {
    epoch: i32,
    subscribed: BTreeSet<String>,
    /// The partitions the member was last told (at its heartbeat).
    assignment: BTreeMap<TopicId, BTreeSet<i32>>,
    /// The partitions the assignor gave it, told at its next heartbeat.
    target: BTreeMap<TopicId, BTreeSet<i32>>,
    deadline_ms: i64,
    rack_id: Option<String>,
    client_id: String,
    client_host: String,
}

#[derive(Debug)]
struct SharePartitionSlot {
    partition: SharePartition,
    /// What was last written for it, so that only changes are written.
    written: (i64, Vec<StateBatch>),
}

#[derive(Debug, Default)]
struct Group {
    epoch: i32,
    assignment_epoch: i32,
    /// The subscribed topics' (id, partition count) when the assignment was computed.
    topics_seen: BTreeMap<String, (TopicId, i32)>,
    members: BTreeMap<String, Member>,
    partitions: HashMap<TopicIdPartition, SharePartitionSlot>,
    /// The group's limits as its configs last set them.
    limits: Limits,
}

impl Group {
    fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else {
            "Stable"
        }
    }
}

#[derive(Debug)]
struct Session {
    epoch: i32,
    partitions: BTreeSet<TopicIdPartition>,
}

#[derive(Debug, Default)]
struct State {
    groups: HashMap<String, Group>,
    /// Share sessions by (group, member).
    sessions: HashMap<(String, String), Session>,
}

impl State {
    /// The group, created empty with `limits` when it does not exist.
    fn group_mut(&mut self, group_id: &str, limits: Limits) -> &mut Group {
        self.groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group {
                limits,
                ..Group::default()
            })
    }
}

/// The share coordinator and share-partition leader of this broker.
#[derive(Debug)]
pub struct ShareCoordinator {
    partitions: Arc<PartitionManager>,
    settings: ShareSettings,
    state: Mutex<State>,
    store: RwLock<Option<Arc<[Arc<Partition>]>>>,
    create_lock: tokio::sync::Mutex<()>,
}

impl ShareCoordinator {
    /// A coordinator over `partitions`; replays `__share_group_state` now when it exists
    /// (blocking I/O: call it before serving).
    pub fn new(
        partitions: Arc<PartitionManager>,
        settings: ShareSettings,
    ) -> Result<Arc<Self>, String> {
        let coordinator = Arc::new(ShareCoordinator {
            partitions,
            settings,
            state: Mutex::new(State::default()),
            store: RwLock::new(None),
            create_lock: tokio::sync::Mutex::new(()),
        });
        coordinator.attach()?;
        Ok(coordinator)
    }

    pub fn settings(&self) -> &ShareSettings {
        &self.settings
    }

    /// Loads the state topic if it exists and is not loaded yet; whether it is loaded.
    fn attach(&self) -> Result<bool, String> {
        if self.store.read().is_some() {
            return Ok(true);
        }
        let Some(parts) = internal::partitions_of(&self.partitions, SHARE_STATE_TOPIC)? else {
            return Ok(false);
        };
        let mut state = self.state.lock();
        let mut skipped = 0u64;
        for p in &parts {
            crate::service::replay::for_each_batch(&p.log, |header, raw| {
                if header.is_control() {
                    return Ok(());
                }
                for record in myelin_log::record::RecordIter::new(raw, header.record_count) {
                    let record = record.map_err(|e| e.to_string())?;
                    let Some(key) = record.key else {
                        skipped += 1;
                        continue;
                    };
                    if let Err(e) = self.replay(&mut state, key, record.value) {
                        tracing::warn!(error = %e, "skipping an unreadable {SHARE_STATE_TOPIC} record");
                        skipped += 1;
                    }
                }
                Ok(())
            })
            .map_err(|e| format!("cannot load {SHARE_STATE_TOPIC}-{}: {e}", p.index))?;
        }
        if !state.groups.is_empty() || skipped > 0 {
            tracing::info!(
                groups = state.groups.len(),
                share_partitions = state
                    .groups
                    .values()
                    .map(|g| g.partitions.len())
                    .sum::<usize>(),
                skipped,
                "loaded share group state"
            );
        }
        drop(state);
        *self.store.write() = Some(parts.into());
        Ok(true)
    }

    fn replay(
        &self,
        state: &mut State,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), crate::records::RecordError> {
        let limits = self.settings.limits;
        match ShareKey::decode(key)? {
            None => {}
            Some(ShareKey::Group { group }) => match value {
                Some(v) => {
                    let epoch = records::decode_group_value(v)?;
                    let g = state.group_mut(&group, limits);
                    g.epoch = epoch;
                    g.assignment_epoch = epoch;
                }
                None => {
                    state.groups.remove(&group);
                }
            },
            Some(ShareKey::Partition {
                group,
                topic_id,
                partition,
            }) => match value {
                Some(v) => {
                    let v = PartitionStateValue::decode(v)?;
                    let g = state.group_mut(&group, limits);
                    let p = SharePartition::restore(v.start_offset, &v.batches, &limits);
                    let written = p.snapshot();
                    g.partitions.insert(
                        (topic_id, partition),
                        SharePartitionSlot {
                            partition: p,
                            written,
                        },
                    );
                }
                None => {
                    if let Some(g) = state.groups.get_mut(&group) {
                        g.partitions.remove(&(topic_id, partition));
                    }
                }
            },
        }
        Ok(())
    }

    /// Creates `__share_group_state` if it does not exist, then loads it.
    pub async fn ensure_state_topic(self: &Arc<Self>) -> CoordinatorLookup {
        if self.store.read().is_some() {
            return CoordinatorLookup::Ready;
        }
        let this = self.clone();
        internal::ensure(&self.create_lock, SHARE_STATE_TOPIC, move || {
            if this.attach()? {
                return Ok(());
            }
            internal::create(
                &this.partitions,
                SHARE_STATE_TOPIC,
                this.settings.state_topic_partitions,
                this.settings.state_topic_segment_bytes,
            )?;
            if this.attach()? {
                Ok(())
            } else {
                Err(format!(
                    "{SHARE_STATE_TOPIC} has no partitions after its creation"
                ))
            }
        })
        .await
    }

    /// Appends `records` for `group` to its partition of the state topic (called with the
    /// state locked).
    fn write(&self, group: &str, records: &[KeyValue], now_ms: i64) -> Result<Written, GroupError> {
        let store = self
            .store
            .read()
            .clone()
            .ok_or(GroupError::CoordinatorNotAvailable)?;
        let n = u32::try_from(store.len()).unwrap_or(u32::MAX);
        let index = usize::try_from(partition_for(group, n)).unwrap_or(0);
        let partition = store
            .get(index)
            .ok_or(GroupError::CoordinatorNotAvailable)?;
        append_records(
            self.partitions.logs(),
            partition,
            records,
            now_ms,
            BatchProducer::NONE,
        )
        .map_err(|e| {
            tracing::warn!(group, error = %e, "cannot write share group state");
            GroupError::CoordinatorNotAvailable
        })
    }

    /// Waits until `written` is durable.
    async fn wait(written: Option<Written>) -> Result<(), GroupError> {
        Pending(written).wait().await
    }

    /// The records that persist the changed share-partitions of `group`.
    fn changed_partitions(group_id: &str, group: &mut Group) -> Result<Vec<KeyValue>, GroupError> {
        let all: Vec<TopicIdPartition> = group.partitions.keys().copied().collect();
        Self::changed_partitions_of(group_id, group, &all)
    }

    /// The records that persist those of `tps` that changed.
    fn changed_partitions_of(
        group_id: &str,
        group: &mut Group,
        tps: &[TopicIdPartition],
    ) -> Result<Vec<KeyValue>, GroupError> {
        let mut out = Vec::new();
        for tp in tps {
            let Some(slot) = group.partitions.get_mut(tp) else {
                continue;
            };
            let now = slot.partition.snapshot();
            if now != slot.written {
                out.push(partition_record(group_id, tp, &now)?);
                slot.written = now;
            }
        }
        Ok(out)
    }

    // ----- Membership -------------------------------------------------------------------

    /// ShareGroupHeartbeat. Creates the state topic on first use.
    pub async fn heartbeat(
        self: &Arc<Self>,
        group_id: &str,
        request: ShareHeartbeatRequest,
        topics: &(dyn TopicMetadata + Sync),
        overrides: ShareOverrides,
    ) -> Result<ShareHeartbeatResponse, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        if self.ensure_state_topic().await != CoordinatorLookup::Ready {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let now = now_ms();
        let (response, written) = {
            let mut state = self.state.lock();
            let (response, records) =
                self.heartbeat_locked(&mut state, group_id, request, topics, overrides, now)?;
            let written = if records.is_empty() {
                None
            } else {
                Some(self.write(group_id, &records, now)?)
            };
            (response, written)
        };
        Self::wait(written).await?;
        Ok(response)
    }

    fn limits_for(&self, overrides: &ShareOverrides) -> Limits {
        Limits {
            delivery_count_limit: overrides
                .delivery_count_limit
                .unwrap_or(self.settings.limits.delivery_count_limit),
            lock_duration_ms: overrides
                .record_lock_duration_ms
                .unwrap_or(self.settings.limits.lock_duration_ms),
            ..self.settings.limits
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn heartbeat_locked(
        &self,
        state: &mut State,
        group_id: &str,
        request: ShareHeartbeatRequest,
        topics: &(dyn TopicMetadata + Sync),
        overrides: ShareOverrides,
        now: i64,
    ) -> Result<(ShareHeartbeatResponse, Vec<KeyValue>), GroupError> {
        let session_timeout = i64::from(
            overrides
                .session_timeout_ms
                .unwrap_or(self.settings.session_timeout_ms),
        );
        let heartbeat_interval_ms = overrides
            .heartbeat_interval_ms
            .unwrap_or(self.settings.heartbeat_interval_ms);
        let limits = self.limits_for(&overrides);
        let mut records = Vec::new();
        let member_id = request.member_id.clone();
        if request.member_epoch == -1 {
            // Leaving: the member's records are released, its session ends.
            let Some(group) = state.groups.get_mut(group_id) else {
                return Err(GroupError::UnknownMemberId { member_id });
            };
            group.limits = limits;
            if group.members.remove(&member_id).is_none() {
                return Err(GroupError::UnknownMemberId { member_id });
            }
            for slot in group.partitions.values_mut() {
                slot.partition.release_member(&member_id, &group.limits);
            }
            group.epoch += 1;
            records.push(group_record(group_id, group.epoch)?);
            records.extend(Self::changed_partitions(group_id, group)?);
            state
                .sessions
                .remove(&(group_id.to_string(), member_id.clone()));
            return Ok((
                ShareHeartbeatResponse {
                    member_id,
                    member_epoch: -1,
                    heartbeat_interval_ms,
                    assignment: None,
                },
                records,
            ));
        }
        let new_group = !state.groups.contains_key(group_id);
        if new_group && request.member_epoch != 0 {
            return Err(GroupError::UnknownMemberId { member_id });
        }
        let group = state.group_mut(group_id, limits);
        group.limits = limits;
        // The group epoch moves once per heartbeat that changes membership, a
        // subscription or the subscribed topics.
        let mut bump = false;
        if request.member_epoch == 0 {
            let Some(names) = &request.subscribed_topic_names else {
                return Err(GroupError::InvalidRequest {
                    reason: "SubscribedTopicNames must be set in first request.".into(),
                });
            };
            if !group.members.contains_key(&member_id)
                && group.members.len() >= self.settings.max_size
            {
                return Err(GroupError::GroupMaxSizeReached {
                    max_size: self.settings.max_size,
                });
            }
            group.members.insert(
                member_id.clone(),
                Member {
                    epoch: 0,
                    subscribed: names.iter().cloned().collect(),
                    assignment: BTreeMap::new(),
                    target: BTreeMap::new(),
                    deadline_ms: now,
                    rack_id: None,
                    client_id: String::new(),
                    client_host: String::new(),
                },
            );
            bump = true;
        } else {
            let Some(member) = group.members.get_mut(&member_id) else {
                return Err(GroupError::UnknownMemberId { member_id });
            };
            if request.member_epoch != member.epoch {
                return Err(GroupError::FencedMemberEpoch {
                    member_epoch: request.member_epoch,
                    current_member_epoch: member.epoch,
                });
            }
            if let Some(names) = &request.subscribed_topic_names {
                let names: BTreeSet<String> = names.iter().cloned().collect();
                if names != member.subscribed {
                    member.subscribed = names;
                    bump = true;
                }
            }
        }
        let member = group
            .members
            .get_mut(&member_id)
            .ok_or(GroupError::CoordinatorNotAvailable)?;
        member.deadline_ms = now.saturating_add(session_timeout);
        member.rack_id = request.rack_id;
        member.client_id = request.client_id;
        member.client_host = request.client_host;
        // A subscribed topic created, deleted or grown changes the assignment too.
        let seen = subscribed_topics(group, topics);
        if seen != group.topics_seen {
            group.topics_seen = seen;
            bump = true;
        }
        if bump {
            group.epoch += 1;
            if new_group {
                records.push(group_record(group_id, group.epoch)?);
            }
        }
        if group.assignment_epoch != group.epoch {
            assign(group);
            group.assignment_epoch = group.epoch;
            records.extend(self.initialize_partitions(group_id, group, topics, overrides)?);
        }
        let member = group
            .members
            .get_mut(&member_id)
            .ok_or(GroupError::CoordinatorNotAvailable)?;
        let assignment = if member.epoch != group.assignment_epoch {
            member.epoch = group.assignment_epoch;
            member.assignment = member.target.clone();
            Some(
                member
                    .assignment
                    .iter()
                    .map(|(id, ps)| (*id, ps.iter().copied().collect()))
                    .collect(),
            )
        } else {
            None
        };
        Ok((
            ShareHeartbeatResponse {
                member_id,
                member_epoch: member.epoch,
                heartbeat_interval_ms,
                assignment,
            },
            records,
        ))
    }

    /// Creates the share-partitions the assignment names that the group has no state for,
    /// at the log's end or start; returns their records.
    fn initialize_partitions(
        &self,
        group_id: &str,
        group: &mut Group,
        topics: &(dyn TopicMetadata + Sync),
        overrides: ShareOverrides,
    ) -> Result<Vec<KeyValue>, GroupError> {
        let assigned: BTreeSet<TopicIdPartition> = group
            .members
            .values()
            .flat_map(|m| {
                m.target
                    .iter()
                    .flat_map(|(id, ps)| ps.iter().map(move |p| (*id, *p)))
            })
            .collect();
        let mut out = Vec::new();
        for tp in assigned {
            if group.partitions.contains_key(&tp) {
                continue;
            }
            let Some(start) = self.initial_offset(
                topics,
                &tp,
                overrides.auto_offset_reset,
                overrides.read_committed,
            ) else {
                continue;
            };
            let p = SharePartition::new(start);
            let written = p.snapshot();
            out.push(partition_record(group_id, &tp, &written)?);
            group.partitions.insert(
                tp,
                SharePartitionSlot {
                    partition: p,
                    written,
                },
            );
        }
        Ok(out)
    }

    fn log_partition(
        &self,
        topics: &(dyn TopicMetadata + Sync),
        tp: &TopicIdPartition,
    ) -> Option<Arc<Partition>> {
        let name = topics.topic_name(&tp.0)?;
        self.partitions.get(name, tp.1)
    }

    fn initial_offset(
        &self,
        topics: &(dyn TopicMetadata + Sync),
        tp: &TopicIdPartition,
        reset: AutoOffsetReset,
        read_committed: bool,
    ) -> Option<i64> {
        let p = self.log_partition(topics, tp)?;
        Some(reset_offset(&p, reset, read_committed))
    }

    /// Ends members whose session timed out and acquisitions whose lock expired; writes
    /// what that changed.
    pub async fn tick(&self) {
        let now = now_ms();
        let mut pending = Vec::new();
        {
            let mut state = self.state.lock();
            let State { groups, sessions } = &mut *state;
            for (group_id, group) in groups.iter_mut() {
                let expired: Vec<String> = group
                    .members
                    .iter()
                    .filter(|(_, m)| m.deadline_ms <= now)
                    .map(|(id, _)| id.clone())
                    .collect();
                let mut records = Vec::new();
                for id in &expired {
                    tracing::info!(group = %group_id, member = %id, "share group member session expired");
                    group.members.remove(id);
                    sessions.remove(&(group_id.clone(), id.clone()));
                    for slot in group.partitions.values_mut() {
                        slot.partition.release_member(id, &group.limits);
                    }
                }
                if !expired.is_empty() {
                    group.epoch += 1;
                    if let Ok(r) = group_record(group_id, group.epoch) {
                        records.push(r);
                    }
                }
                let mut touched = Vec::new();
                for (tp, slot) in group.partitions.iter_mut() {
                    if slot.partition.next_deadline_ms().is_some_and(|d| d <= now)
                        && slot.partition.expire_locks(now, &group.limits)
                    {
                        touched.push(*tp);
                    }
                }
                // A departure may have changed any partition; an expired lock only its own.
                let changed = if expired.is_empty() {
                    Self::changed_partitions_of(group_id, group, &touched)
                } else {
                    Self::changed_partitions(group_id, group)
                };
                match changed {
                    Ok(r) => records.extend(r),
                    Err(e) => {
                        tracing::warn!(group = %group_id, error = %e, "cannot encode share state")
                    }
                }
                if !records.is_empty() {
                    match self.write(group_id, &records, now) {
                        Ok(w) => pending.push(w),
                        Err(e) => {
                            tracing::warn!(group = %group_id, error = %e, "cannot write share state")
                        }
                    }
                }
            }
        }
        for w in pending {
            let _ = Self::wait(Some(w)).await;
        }
    }

    /// Runs [`Self::tick`] every 100 ms until `shutdown` resolves.
    pub async fn run_timer(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let mut interval = tokio::time::interval(std::time::Duration::from_millis(100));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = interval.tick() => {}
            }
            self.tick().await;
        }
    }

    // ----- Sessions, fetching and acknowledging ------------------------------------------

    /// Checks a ShareFetch's or ShareAcknowledge's session, and for ShareFetch (`fetch`)
    /// opens or updates it: epoch 0 opens a new session with `added` (replacing the
    /// member's old one), a positive epoch must be the session's and adds `added` and
    /// removes `forgotten`, -1 must name an existing session (closed by
    /// [`Self::close_session`] once its acknowledgements are applied). Returns the
    /// session's partitions.
    pub fn session(
        &self,
        group_id: &str,
        member_id: &str,
        epoch: i32,
        added: &[TopicIdPartition],
        forgotten: &[TopicIdPartition],
        fetch: bool,
    ) -> Result<Vec<TopicIdPartition>, SessionError> {
        if member_id.is_empty() {
            return Err(SessionError::InvalidRequest(
                "MemberId can't be empty.".into(),
            ));
        }
        let mut state = self.state.lock();
        let key = (group_id.to_string(), member_id.to_string());
        if epoch == 0 {
            if !fetch {
                return Err(SessionError::InvalidEpoch {
                    got: 0,
                    expected: -1,
                });
            }
            if !state.sessions.contains_key(&key)
                && state.sessions.len() >= self.settings.max_sessions
            {
                return Err(SessionError::LimitReached(self.settings.max_sessions));
            }
            let session = Session {
                epoch: 1,
                partitions: added.iter().copied().collect(),
            };
            let out = session.partitions.iter().copied().collect();
            state.sessions.insert(key, session);
            return Ok(out);
        }
        let Some(session) = state.sessions.get_mut(&key) else {
            return Err(SessionError::NotFound);
        };
        if epoch == -1 {
            return Ok(session.partitions.iter().copied().collect());
        }
        if epoch != session.epoch {
            return Err(SessionError::InvalidEpoch {
                got: epoch,
                expected: session.epoch,
            });
        }
        session.epoch = next_epoch(session.epoch);
        for tp in forgotten {
            session.partitions.remove(tp);
        }
        session.partitions.extend(added.iter().copied());
        Ok(session.partitions.iter().copied().collect())
    }

    /// Closes the member's session and releases what it holds (ShareFetch or
    /// ShareAcknowledge with epoch -1); returns the writes to wait for.
    pub fn close_session(&self, group_id: &str, member_id: &str) -> Result<Pending, GroupError> {
        let mut state = self.state.lock();
        state
            .sessions
            .remove(&(group_id.to_string(), member_id.to_string()));
        let Some(group) = state.groups.get_mut(group_id) else {
            return Ok(Pending(None));
        };
        for slot in group.partitions.values_mut() {
            slot.partition.release_member(member_id, &group.limits);
        }
        let records = Self::changed_partitions(group_id, group)?;
        if records.is_empty() {
            return Ok(Pending(None));
        }
        self.write(group_id, &records, now_ms())
            .map(|w| Pending(Some(w)))
    }

    /// Applies a member's acknowledgements, partition by partition (each all or nothing);
    /// returns each partition's outcome and the writes to wait for before answering.
    pub fn acknowledge(
        &self,
        group_id: &str,
        member_id: &str,
        acks: &[(TopicIdPartition, Vec<AckBatch>)],
    ) -> Result<(Vec<AckOutcome>, Pending), GroupError> {
        let mut state = self.state.lock();
        let Some(group) = state.groups.get_mut(group_id) else {
            return Ok((
                vec![AckOutcome::UnknownPartition; acks.len()],
                Pending(None),
            ));
        };
        let limits = group.limits;
        let now = now_ms();
        let mut out = Vec::with_capacity(acks.len());
        for (tp, batches) in acks {
            out.push(match group.partitions.get_mut(tp) {
                None => AckOutcome::UnknownPartition,
                Some(slot) => match slot.partition.acknowledge(member_id, batches, &limits, now) {
                    Ok(_) => AckOutcome::Done,
                    Err(e) => AckOutcome::Refused(e),
                },
            });
        }
        let tps: Vec<TopicIdPartition> = acks.iter().map(|(tp, _)| *tp).collect();
        let records = Self::changed_partitions_of(group_id, group, &tps)?;
        let written = if records.is_empty() {
            None
        } else {
            Some(self.write(group_id, &records, now_ms())?)
        };
        Ok((out, Pending(written)))
    }

    /// Where a fetch of `tp` for the group reads the log from; `None` when nothing can be
    /// acquired now (the partition holds its most records in flight). A partition the
    /// group has no state for yet is created at `start_for_new()` (where
    /// `share.auto.offset.reset` says); one whose log start moved past its start offset
    /// follows it.
    pub fn fetch_offset(
        &self,
        group_id: &str,
        tp: &TopicIdPartition,
        log_start: i64,
        start_for_new: impl FnOnce() -> i64,
    ) -> Option<i64> {
        let mut state = self.state.lock();
        let group = state.groups.get_mut(group_id)?;
        let limits = group.limits;
        let slot = group
            .partitions
            .entry(*tp)
            .or_insert_with(|| SharePartitionSlot {
                partition: SharePartition::new(start_for_new().max(log_start)),
                written: (-1, Vec::new()),
            });
        slot.partition.log_start_moved(log_start);
        slot.partition.fetch_offset(&limits)
    }

    /// The lag of the group's share-partition `tp` (KIP-1226) when the partition's high
    /// watermark is `end_offset`; None when the group has no state for it.
    pub fn lag(&self, group_id: &str, tp: &TopicIdPartition, end_offset: i64) -> Option<i64> {
        let state = self.state.lock();
        let slot = state.groups.get(group_id)?.partitions.get(tp)?;
        Some(slot.partition.lag(end_offset))
    }

    /// Acquires for the member what `batches` hold of `tp`, archiving the offsets of
    /// `aborted` instead (see [`SharePartition::acquire_committed`]).
    pub fn acquire(
        &self,
        group_id: &str,
        member_id: &str,
        tp: &TopicIdPartition,
        batches: &[(i64, i64)],
        aborted: &[(i64, i64)],
        limit: RecordLimit,
    ) -> Vec<Acquired> {
        let mut state = self.state.lock();
        let Some(group) = state.groups.get_mut(group_id) else {
            return Vec::new();
        };
        let limits = group.limits;
        match group.partitions.get_mut(tp) {
            Some(slot) => slot.partition.acquire_committed(
                member_id,
                batches,
                aborted,
                limit,
                &limits,
                now_ms(),
            ),
            None => Vec::new(),
        }
    }

    /// The record lock duration of the group, for ShareFetch's `AcquisitionLockTimeoutMs`.
    pub fn lock_duration_ms(&self, group_id: &str) -> i64 {
        self.state
            .lock()
            .groups
            .get(group_id)
            .map_or(self.settings.limits.lock_duration_ms, |g| {
                g.limits.lock_duration_ms
            })
    }

    // ----- Admin views -------------------------------------------------------------------
    /// A snapshot for the metrics: each share group's state, members, and per
    /// share-partition its start offset and the offsets in flight.
    pub fn stats(&self) -> Vec<ShareGroupStats> {
        let state = self.state.lock();
        let mut out: Vec<ShareGroupStats> = state
            .groups
            .iter()
            .map(|(id, g)| {
                let mut partitions: Vec<(TopicIdPartition, i64, usize)> = g
                    .partitions
                    .iter()
                    .map(|(tp, slot)| {
                        (
                            *tp,
                            slot.partition.start_offset(),
                            slot.partition.in_flight(),
                        )
                    })
                    .collect();
                partitions.sort_by_key(|(tp, _, _)| *tp);
                ShareGroupStats {
                    group_id: id.clone(),
                    state: g.state_name(),
                    members: g.members.len(),
                    partitions,
                }
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// Whether `group_id` is a share group.
    pub fn exists(&self, group_id: &str) -> bool {
        self.state.lock().groups.contains_key(group_id)
    }

    /// Every share group and its state name.
    pub fn list(&self) -> Vec<(String, &'static str)> {
        let state = self.state.lock();
        let mut out: Vec<_> = state
            .groups
            .iter()
            .map(|(id, g)| (id.clone(), g.state_name()))
            .collect();
        out.sort();
        out
    }

    /// ShareGroupDescribe: GROUP_ID_NOT_FOUND when it is not a share group.
    pub fn describe(&self, group_id: &str) -> Result<ShareGroupDescription, GroupError> {
        let state = self.state.lock();
        let group = state
            .groups
            .get(group_id)
            .ok_or_else(|| GroupError::GroupIdNotFound {
                group_id: group_id.to_string(),
            })?;
        Ok(ShareGroupDescription {
            group_id: group_id.to_string(),
            state: group.state_name(),
            group_epoch: group.epoch,
            assignment_epoch: group.assignment_epoch,
            members: group
                .members
                .iter()
                .map(|(id, m)| ShareMemberDescription {
                    member_id: id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed.iter().cloned().collect(),
                    assignment: m
                        .assignment
                        .iter()
                        .map(|(id, ps)| (*id, ps.iter().copied().collect()))
                        .collect(),
                })
                .collect(),
        })
    }

    /// The start offsets of the group's share-partitions (DescribeShareGroupOffsets):
    /// `None` for a group that is not a share group; each partition's start offset, or
    /// `None` when the group has no state for it. `tps` empty means all of them.
    pub fn start_offsets(
        &self,
        group_id: &str,
        tps: &[TopicIdPartition],
    ) -> Option<Vec<(TopicIdPartition, Option<i64>)>> {
        let state = self.state.lock();
        let group = state.groups.get(group_id)?;
        if tps.is_empty() {
            let mut all: Vec<_> = group
                .partitions
                .iter()
                .map(|(tp, s)| (*tp, Some(s.partition.start_offset())))
                .collect();
            all.sort_by_key(|(tp, _)| *tp);
            return Some(all);
        }
        Some(
            tps.iter()
                .map(|tp| {
                    (
                        *tp,
                        group.partitions.get(tp).map(|s| s.partition.start_offset()),
                    )
                })
                .collect(),
        )
    }

    /// AlterShareGroupOffsets: sets the start offsets of an empty share group (creating it,
    /// as Kafka does), forgetting what was in flight.
    pub async fn alter_offsets(
        &self,
        group_id: &str,
        offsets: &[(TopicIdPartition, i64)],
    ) -> Result<(), GroupError> {
        let written = {
            let mut state = self.state.lock();
            let limits = self.settings.limits;
            let new_group = !state.groups.contains_key(group_id);
            let group = state.group_mut(group_id, limits);
            if !group.members.is_empty() {
                return Err(GroupError::NonEmptyGroup {
                    group_id: group_id.to_string(),
                });
            }
            let mut records = Vec::new();
            if new_group {
                records.push(group_record(group_id, group.epoch)?);
            }
            for (tp, offset) in offsets {
                let slot = group
                    .partitions
                    .entry(*tp)
                    .or_insert_with(|| SharePartitionSlot {
                        partition: SharePartition::new(*offset),
                        written: (-1, Vec::new()),
                    });
                slot.partition.reset(*offset);
            }
            records.extend(Self::changed_partitions(group_id, group)?);
            if records.is_empty() {
                None
            } else {
                Some(self.write(group_id, &records, now_ms())?)
            }
        };
        Self::wait(written).await
    }

    /// DeleteShareGroupOffsets: forgets the group's state of every partition of `topics`
    /// (an empty group only).
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        topics: &[TopicId],
    ) -> Result<(), GroupError> {
        let written = {
            let mut state = self.state.lock();
            let group =
                state
                    .groups
                    .get_mut(group_id)
                    .ok_or_else(|| GroupError::GroupIdNotFound {
                        group_id: group_id.to_string(),
                    })?;
            if !group.members.is_empty() {
                return Err(GroupError::NonEmptyGroup {
                    group_id: group_id.to_string(),
                });
            }
            let gone: Vec<TopicIdPartition> = group
                .partitions
                .keys()
                .filter(|(id, _)| topics.contains(id))
                .copied()
                .collect();
            let mut records = Vec::new();
            for tp in gone {
                group.partitions.remove(&tp);
                records.push((partition_key(group_id, &tp)?, None));
            }
            if records.is_empty() {
                None
            } else {
                Some(self.write(group_id, &records, now_ms())?)
            }
        };
        Self::wait(written).await
    }

    /// The topic `topic` was deleted: every share group's state of its partitions is
    /// removed and tombstoned in `__share_group_state` (Kafka's group coordinator deletes
    /// it through the share coordinator), so that a topic created again under the name
    /// starts afresh. Returns how many share-partitions were removed.
    pub async fn topic_deleted(&self, topic: TopicId) -> Result<usize, GroupError> {
        let mut written = Vec::new();
        let mut removed = 0;
        {
            let mut state = self.state.lock();
            let now = now_ms();
            for (group_id, group) in state.groups.iter_mut() {
                let gone: Vec<TopicIdPartition> = group
                    .partitions
                    .keys()
                    .filter(|(id, _)| *id == topic)
                    .copied()
                    .collect();
                if gone.is_empty() {
                    continue;
                }
                let mut records = Vec::new();
                for tp in gone {
                    group.partitions.remove(&tp);
                    records.push((partition_key(group_id, &tp)?, None));
                }
                removed += records.len();
                written.push(self.write(group_id, &records, now)?);
            }
        }
        for w in written {
            Self::wait(Some(w)).await?;
        }
        Ok(removed)
    }

    /// DeleteGroups for a share group: NON_EMPTY_GROUP while it has members; otherwise the
    /// group and all its share-partitions are deleted. `Ok(false)` when it is not a share
    /// group.
    pub async fn delete_group(&self, group_id: &str) -> Result<bool, GroupError> {
        let written = {
            let mut state = self.state.lock();
            let Some(group) = state.groups.get(group_id) else {
                return Ok(false);
            };
            if !group.members.is_empty() {
                return Err(GroupError::NonEmptyGroup {
                    group_id: group_id.to_string(),
                });
            }
            let mut records = Vec::new();
            for tp in group.partitions.keys() {
                records.push((partition_key(group_id, tp)?, None));
            }
            records.push((group_key(group_id)?, None));
            let written = self.write(group_id, &records, now_ms())?;
            state.groups.remove(group_id);
            state.sessions.retain(|(g, _), _| g != group_id);
            written
        };
        Self::wait(Some(written)).await?;
        Ok(true)
    }
}

/// The subscribed topics of the group's members that exist, with id and partition count.
fn subscribed_topics(
    group: &Group,
    topics: &(dyn TopicMetadata + Sync),
) -> BTreeMap<String, (TopicId, i32)> {
    group
        .members
        .values()
        .flat_map(|m| m.subscribed.iter())
        .filter_map(|name| {
            topics
                .topic(name)
                .map(|t| (name.clone(), (t.id, t.partitions)))
        })
        .collect()
}

/// Kafka's `simple` share assignor: each topic's partitions dealt round-robin to the
/// members subscribed to it, in member id order; with more members than partitions, member
/// `i` gets partition `i % partitions`.
fn assign(group: &mut Group) {
    let topics = group.topics_seen.clone();
    for m in group.members.values_mut() {
        m.target.clear();
    }
    for (name, (id, count)) in topics {
        let members: Vec<String> = group
            .members
            .iter()
            .filter(|(_, m)| m.subscribed.contains(&name))
            .map(|(k, _)| k.clone())
            .collect();
        if members.is_empty() || count <= 0 {
            continue;
        }
        let n = members.len();
        let parts = usize::try_from(count).unwrap_or(0);
        let mut give = |member: &str, p: usize| {
            if let Some(m) = group.members.get_mut(member) {
                m.target
                    .entry(id)
                    .or_default()
                    .insert(i32::try_from(p).unwrap_or(i32::MAX));
            }
        };
        if n <= parts {
            for p in 0..parts {
                give(&members[p % n], p);
            }
        } else {
            for (i, member) in members.iter().enumerate() {
                give(member, i % parts);
            }
        }
    }
}

fn group_key(group_id: &str) -> Result<Bytes, GroupError> {
    ShareKey::Group {
        group: group_id.to_string(),
    }
    .encode()
    .map_err(encode_error)
}

fn group_record(group_id: &str, epoch: i32) -> Result<KeyValue, GroupError> {
    Ok((
        group_key(group_id)?,
        Some(records::encode_group_value(epoch)),
    ))
}

fn partition_key(group_id: &str, tp: &TopicIdPartition) -> Result<Bytes, GroupError> {
    ShareKey::Partition {
        group: group_id.to_string(),
        topic_id: tp.0,
        partition: tp.1,
    }
    .encode()
    .map_err(encode_error)
}

fn partition_record(
    group_id: &str,
    tp: &TopicIdPartition,
    (start_offset, batches): &(i64, Vec<StateBatch>),
) -> Result<KeyValue, GroupError> {
    let value = PartitionStateValue {
        start_offset: *start_offset,
        state_epoch: 0,
        batches: batches.clone(),
    }
    .encode()
    .map_err(encode_error)?;
    Ok((partition_key(group_id, tp)?, Some(value)))
}

fn encode_error(e: crate::records::RecordError) -> GroupError {
    GroupError::InvalidRequest {
        reason: e.to_string(),
    }
}

fn now_ms() -> i64 {
    myelin_log::manager::wall_clock_ms()
}

/// How far a share group reads `p`: the high watermark, or for `read_committed` the last
/// stable offset (no record of a transaction still open).
pub fn read_bound(p: &Partition, read_committed: bool) -> i64 {
    if read_committed {
        p.last_stable_offset()
    } else {
        p.high_watermark()
    }
}

/// Where a share-partition the group has no state for starts (`share.auto.offset.reset`):
/// the log start (earliest); the high watermark, or the last stable offset for
/// `read_committed` (latest); or the first record at most the duration old, else as
/// latest (by_duration).
pub fn reset_offset(p: &Partition, reset: AutoOffsetReset, read_committed: bool) -> i64 {
    let latest = || read_bound(p, read_committed);
    match reset {
        AutoOffsetReset::Latest => latest(),
        AutoOffsetReset::Earliest => p.log.log_start_offset(),
        AutoOffsetReset::ByDuration(ms) => {
            let since = now_ms().saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX));
            match p.log.offset_for_timestamp(since) {
                Ok(Some((offset, _))) => offset.min(latest()),
                Ok(None) => latest(),
                Err(e) => {
                    tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "share-partition start by timestamp failed; starting at the end");
                    latest()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(subscribed: &[&str]) -> Member {
        Member {
            epoch: 0,
            subscribed: subscribed.iter().map(|s| s.to_string()).collect(),
            assignment: BTreeMap::new(),
            target: BTreeMap::new(),
            deadline_ms: 0,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
        }
    }

    fn assigned(group: &Group, m: &str) -> Vec<i32> {
        group.members[m]
            .target
            .values()
            .flat_map(|ps| ps.iter().copied())
            .collect()
    }

    #[test]
    fn the_simple_assignor_deals_partitions_and_shares_them_when_members_outnumber_them() {
        let id = TopicId([1; 16]);
        let mut g = Group::default();
        g.topics_seen.insert("t".into(), (id, 4));
        g.members.insert("a".into(), member(&["t"]));
        g.members.insert("b".into(), member(&["t"]));
        assign(&mut g);
        assert_eq!(assigned(&g, "a"), vec![0, 2]);
        assert_eq!(assigned(&g, "b"), vec![1, 3]);
        for m in ["c", "d", "e"] {
            g.members.insert(m.into(), member(&["t"]));
        }
        assign(&mut g);
        // Five members, four partitions: each member one, partition 0 shared.
        assert_eq!(assigned(&g, "a"), vec![0]);
        assert_eq!(assigned(&g, "e"), vec![0]);
        assert_eq!(assigned(&g, "d"), vec![3]);
        // A member subscribed to nothing that exists gets nothing.
        g.members.insert("z".into(), member(&["other"]));
        assign(&mut g);
        assert!(assigned(&g, "z").is_empty());
    }
}
