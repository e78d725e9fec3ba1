//! The group coordinator service: the pure group state machines of this crate, made
//! durable in the internal compacted topic `__consumer_offsets` and driven by async
//! requests and a timer.
//!
//! Groups are spread over the topic's partitions as Kafka spreads them (the Java hash of the
//! group id, modulo the partition count, [`partition_for`]). Each partition is a *shard*:
//! one mutex over the groups it holds, never held across an `.await`. A change that Kafka
//! makes durable (an offset commit, a generation's assignments, a group deletion) is
//! appended to the shard's partition under the lock, so the log order is the order of the
//! changes; the caller then waits for the group-commit fsync with the lock released, and
//! only then makes the change visible (offsets) or sends the answers (SyncGroup). An
//! acknowledged commit is therefore on disk, and OffsetFetch never shows an offset that a
//! crash could take back.
//!
//! At start the shards replay their partitions (the records of [`crate::records`]) before
//! any request is answered; a shard that is not loaded answers COORDINATOR_LOAD_IN_PROGRESS.
//! The topic itself is created on first use (FindCoordinator for a group), as Kafka does.
//!
//! Transactional offset commits (TxnOffsetCommit) are written as the producer's
//! transactional batches and stay pending until the transaction coordinator completes the
//! transaction in the partition: see `txn_offsets.rs`.

pub(crate) mod internal;
mod load;
pub(crate) mod replay;
pub(crate) mod shard;
mod stats;
mod txn_offsets;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use myelin_cluster::PartitionManager;
use parking_lot::RwLock;
use tokio::sync::oneshot;

use crate::api::{
    HeartbeatRequest, JoinOutcome, JoinRequest, JoinResponse, LeaveMember, LeaveResult, Reply,
    SyncOutcome, SyncRequest, SyncResponse,
};
use crate::config::{GroupConfig, GroupState};
use crate::consumer::{
    ConsumerGroup, ConsumerGroupConfig, ConsumerGroupDescription, ConsumerHeartbeatRequest,
    ConsumerHeartbeatResponse, GroupOverrides, TopicMetadata,
};
use crate::error::GroupError;
use crate::group::{ClassicGroup, Member};
use crate::offsets::{CommittedOffset, OffsetCommit, TopicPartition};

pub use self::shard::Shard;
pub use self::stats::{GroupStats, GroupSummary};

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The coordinator's settings: Kafka's broker configs of the same names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorSettings {
    /// The group state machines' settings (`group.*`, `offsets.retention.minutes`, ...).
    pub group: GroupConfig,
    /// `offsets.topic.num.partitions`, used when the topic is created; an existing topic
    /// keeps the partition count it has.
    pub offsets_topic_partitions: u32,
    /// `offsets.topic.segment.bytes`: the topic's `segment.bytes`.
    pub offsets_topic_segment_bytes: i64,
    /// `offsets.retention.check.interval.ms`: how often expired offsets are removed.
    pub offsets_retention_check_interval_ms: i64,
    /// KIP-848 consumer groups (`group.consumer.*`).
    pub consumer: ConsumerGroupConfig,
}

impl Default for CoordinatorSettings {
    fn default() -> Self {
        CoordinatorSettings {
            group: GroupConfig::default(),
            offsets_topic_partitions: 50,
            offsets_topic_segment_bytes: 100 * 1024 * 1024,
            offsets_retention_check_interval_ms: 600_000,
            consumer: ConsumerGroupConfig::default(),
        }
    }
}

/// Kafka's partition of `__consumer_offsets` for a group (and of `__transaction_state`
/// for a transactional id): `Utils.abs(key.hashCode()) % partitions`, with Java's
/// `String.hashCode` over UTF-16 code units and Kafka's `Utils.abs`, the absolute value
/// except 0 for `i32::MIN`.
pub fn partition_for(key: &str, partitions: u32) -> i32 {
    let hash = key
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    // `partitions` is at least 1 and at most i32::MAX (a topic's partition count).
    abs % i32::try_from(partitions.max(1)).unwrap_or(i32::MAX)
}

/// Where FindCoordinator sends a group's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinatorLookup {
    /// This broker coordinates the group.
    Ready,
    /// The shard is still loading: COORDINATOR_LOAD_IN_PROGRESS.
    Loading,
    /// The offsets topic cannot be created or read: COORDINATOR_NOT_AVAILABLE.
    Unavailable,
}

/// The result of one partition of an OffsetCommit.
pub type PartitionResult = (TopicPartition, Result<(), GroupError>);

/// One group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// Kafka's state name; `Dead` for a group that does not exist.
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<MemberDescription>,
}

/// One member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The member's metadata for the selected protocol (empty unless Stable/Completing).
    pub metadata: Bytes,
    /// The member's assignment (empty unless Stable).
    pub assignment: Bytes,
}

/// One group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: &'static str,
    /// `classic` or `consumer` (KIP-848), for ListGroups v5.
    pub group_type: &'static str,
}

/// The group coordinator of this broker.
#[derive(Debug)]
pub struct GroupCoordinator {
    partitions: Arc<PartitionManager>,
    settings: CoordinatorSettings,
    /// One shard per partition of `__consumer_offsets`, once the topic exists.
    shards: RwLock<Option<Arc<[Arc<Shard>]>>>,
    /// Serializes the creation of the offsets topic.
    create_lock: tokio::sync::Mutex<()>,
    /// Makes generated member ids unique across restarts.
    seed: u64,
    /// Rebalances completed since start (join phases ended), for the metrics.
    rebalances: AtomicU64,
}

impl GroupCoordinator {
    /// A coordinator over `partitions`. When `__consumer_offsets` exists its partitions
    /// are replayed now, before this returns (blocking I/O: call it before serving, or
    /// from a blocking thread).
    pub fn new(
        partitions: Arc<PartitionManager>,
        settings: CoordinatorSettings,
    ) -> Result<Arc<Self>, String> {
        settings.group.validate()?;
        settings.consumer.validate()?;
        let seed = u64::from_le_bytes(
            uuid::Uuid::new_v4().as_bytes()[..8]
                .try_into()
                .unwrap_or([0; 8]),
        );
        let coordinator = Arc::new(GroupCoordinator {
            partitions,
            settings,
            shards: RwLock::new(None),
            create_lock: tokio::sync::Mutex::new(()),
            seed,
            rebalances: AtomicU64::new(0),
        });
        coordinator.attach_shards()?;
        Ok(coordinator)
    }

    /// The settings.
    pub fn settings(&self) -> &CoordinatorSettings {
        &self.settings
    }

    /// The shards, when the offsets topic exists.
    fn shards(&self) -> Option<Arc<[Arc<Shard>]>> {
        self.shards.read().clone()
    }

    /// Builds and loads the shards if the offsets topic exists and they are not built yet.
    fn attach_shards(&self) -> Result<bool, String> {
        if self.shards.read().is_some() {
            return Ok(true);
        }
        let Some(parts) = internal::partitions_of(&self.partitions, OFFSETS_TOPIC)? else {
            return Ok(false);
        };
        let mut built = Vec::with_capacity(parts.len());
        let now = now_ms();
        for (i, p) in parts.into_iter().enumerate() {
            let shard = Shard::new(self.partitions.clone(), p);
            let report = load::load_shard(
                &shard,
                &self.settings.group,
                &self.settings.consumer,
                self.seed,
                now,
            )
            .map_err(|e| format!("cannot load {OFFSETS_TOPIC}-{i}: {e}"))?;
            if report.records > 0 {
                tracing::info!(
                    partition = i,
                    records = report.records,
                    groups = report.groups,
                    offsets = report.offsets,
                    pending_txn_offsets = report.pending,
                    skipped = report.skipped,
                    "loaded group coordinator state"
                );
            }
            built.push(Arc::new(shard));
        }
        *self.shards.write() = Some(built.into());
        Ok(true)
    }

    /// Creates `__consumer_offsets` (compacted, `offsets.topic.num.partitions` partitions)
    /// if it does not exist, then loads it. Kafka creates it on the first FindCoordinator
    /// for a group.
    pub async fn ensure_offsets_topic(self: &Arc<Self>) -> CoordinatorLookup {
        if self.shards.read().is_some() {
            return CoordinatorLookup::Ready;
        }
        let this = self.clone();
        internal::ensure(&self.create_lock, OFFSETS_TOPIC, move || {
            this.create_and_attach()
        })
        .await
    }

    fn create_and_attach(&self) -> Result<(), String> {
        if self.attach_shards()? {
            return Ok(());
        }
        internal::create(
            &self.partitions,
            OFFSETS_TOPIC,
            self.settings.offsets_topic_partitions,
            self.settings.offsets_topic_segment_bytes,
        )?;
        if self.attach_shards()? {
            Ok(())
        } else {
            Err(format!(
                "{OFFSETS_TOPIC} has no partitions after its creation"
            ))
        }
    }

    /// The number of partitions of the offsets topic, when it exists.
    pub fn offsets_partitions(&self) -> Option<u32> {
        self.shards()
            .map(|s| u32::try_from(s.len()).unwrap_or(u32::MAX))
    }

    /// The shard coordinating `group_id`.
    fn shard_for(&self, group_id: &str) -> Result<Arc<Shard>, GroupError> {
        let shards = self.shards().ok_or(GroupError::CoordinatorNotAvailable)?;
        let n = u32::try_from(shards.len()).unwrap_or(u32::MAX);
        let index = usize::try_from(partition_for(group_id, n)).unwrap_or(0);
        let shard = shards[index].clone();
        if !shard.is_loaded() {
            return Err(GroupError::CoordinatorLoadInProgress);
        }
        Ok(shard)
    }

    /// FindCoordinator for a group: whether this broker can coordinate it now. Creates the
    /// offsets topic on first use.
    pub async fn lookup(self: &Arc<Self>, group_id: &str) -> CoordinatorLookup {
        match self.ensure_offsets_topic().await {
            CoordinatorLookup::Ready => match self.shard_for(group_id) {
                Ok(_) => CoordinatorLookup::Ready,
                Err(GroupError::CoordinatorLoadInProgress) => CoordinatorLookup::Loading,
                Err(_) => CoordinatorLookup::Unavailable,
            },
            other => other,
        }
    }

    fn new_group(&self, group_id: &str, now: i64) -> ClassicGroup {
        ClassicGroup::new(group_id, self.settings.group.clone(), self.seed, now)
    }

    // ----- Classic protocol -------------------------------------------------------------

    /// JoinGroup: answers when the join phase completes (or at once on an error).
    pub async fn join(
        &self,
        group_id: &str,
        request: JoinRequest,
    ) -> Result<JoinResponse, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let shard = self.shard_for(group_id)?;
        let now = now_ms();
        let (immediate, pending, effects) = {
            let mut state = shard.lock();
            let is_known = state.groups.contains_key(group_id);
            if !is_known && !request.member_id.is_empty() {
                // Kafka: a member id for a group that does not exist is unknown.
                return Err(GroupError::UnknownMemberId {
                    member_id: request.member_id,
                });
            }
            let slot = state.slot(group_id, || self.new_group(group_id, now));
            if slot.is_consumer_group() {
                // A KIP-848 group with members; classic members cannot join it here.
                return Err(GroupError::InconsistentGroupProtocol);
            }
            if let Some(empty) = slot.consumer.take() {
                // The empty consumer group becomes a classic one: its records go. Their
                // fsync is covered by any later write of this shard.
                let tombstones = empty
                    .tombstones()
                    .iter()
                    .map(|r| r.encode(group_id))
                    .collect::<Result<Vec<_>, _>>();
                if let Some(Err(e)) = shard.write_changes(tombstones, now) {
                    tracing::warn!(group = group_id, error = %e, "cannot write consumer group tombstones");
                }
            }
            let generation = slot.group.generation_id();
            let outcome = slot.group.join(request, now);
            let (immediate, pending) = match outcome.response {
                JoinOutcome::Respond(r) => (Some(r), None),
                JoinOutcome::Deferred { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    if let Some(older) = slot.joins.insert(member_id, tx) {
                        let _ = older.send(Err(GroupError::RebalanceInProgress));
                    }
                    (None, Some(rx))
                }
            };
            if slot.group.generation_id() != generation {
                self.rebalances.fetch_add(1, Ordering::Relaxed);
            }
            let effects = shard.effects(&mut state, group_id, outcome.replies, outcome.persist);
            if matches!(&immediate, Some(Err(e)) if !matches!(e, GroupError::MemberIdRequired { .. }))
            {
                // A refused join (bad session timeout, ...) leaves no group behind. (A
                // member told to rejoin with its new id is pending in the group: kept.)
                state.forget_if_unused(group_id);
            }
            (immediate, pending, effects)
        };
        effects.complete().await;
        match (immediate, pending) {
            (Some(r), _) => r,
            (None, Some(rx)) => rx.await.unwrap_or(Err(GroupError::RebalanceInProgress)),
            (None, None) => Err(GroupError::CoordinatorNotAvailable),
        }
    }

    /// SyncGroup: answers once the leader's assignments are in and written.
    pub async fn sync(
        &self,
        group_id: &str,
        request: SyncRequest,
    ) -> Result<SyncResponse, GroupError> {
        let shard = self.shard_for(group_id)?;
        let now = now_ms();
        let (immediate, pending, effects) = {
            let mut state = shard.lock();
            let Some(slot) = state.groups.get_mut(group_id) else {
                return Err(GroupError::UnknownMemberId {
                    member_id: request.member_id,
                });
            };
            let generation = slot.group.generation_id();
            let outcome = slot.group.sync(request, now);
            let (immediate, pending) = match outcome.response {
                SyncOutcome::Respond(r) => (Some(r), None),
                SyncOutcome::Deferred { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    if let Some(older) = slot.syncs.insert(member_id, tx) {
                        let _ = older.send(Err(GroupError::RebalanceInProgress));
                    }
                    (None, Some(rx))
                }
            };
            if slot.group.generation_id() != generation {
                self.rebalances.fetch_add(1, Ordering::Relaxed);
            }
            let effects = shard.effects(&mut state, group_id, outcome.replies, outcome.persist);
            (immediate, pending, effects)
        };
        effects.complete().await;
        match (immediate, pending) {
            (Some(r), _) => r,
            (None, Some(rx)) => rx.await.unwrap_or(Err(GroupError::RebalanceInProgress)),
            (None, None) => Err(GroupError::CoordinatorNotAvailable),
        }
    }

    /// Heartbeat.
    pub async fn heartbeat(
        &self,
        group_id: &str,
        request: HeartbeatRequest,
    ) -> Result<(), GroupError> {
        let shard = self.shard_for(group_id)?;
        let mut state = shard.lock();
        match state.groups.get_mut(group_id) {
            Some(slot) => slot.group.heartbeat(&request, now_ms()),
            None => Err(GroupError::UnknownMemberId {
                member_id: request.member_id,
            }),
        }
    }

    /// LeaveGroup: one result per member; a group-level error as `Err`.
    pub async fn leave(
        &self,
        group_id: &str,
        members: Vec<LeaveMember>,
    ) -> Result<Vec<LeaveResult>, GroupError> {
        let shard = self.shard_for(group_id)?;
        let now = now_ms();
        let (results, effects) = {
            let mut state = shard.lock();
            let Some(slot) = state.groups.get_mut(group_id) else {
                return Ok(members
                    .into_iter()
                    .map(|m| LeaveResult {
                        result: Err(GroupError::UnknownMemberId {
                            member_id: m.member_id.clone(),
                        }),
                        member_id: m.member_id,
                        group_instance_id: m.group_instance_id,
                    })
                    .collect());
            };
            let outcome = slot.group.leave(&members, now)?;
            let effects = shard.effects(&mut state, group_id, outcome.replies, outcome.persist);
            (outcome.response, effects)
        };
        effects.complete().await;
        Ok(results)
    }

    // ----- Offsets ----------------------------------------------------------------------

    /// OffsetCommit: validates, writes the offsets durably, then makes them visible.
    /// `Err` is a group-level error for every partition.
    pub async fn commit_offsets(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        retention_ms: Option<i64>,
        commits: Vec<OffsetCommit>,
    ) -> Result<Vec<PartitionResult>, GroupError> {
        self.start_commit_offsets(
            group_id,
            member_id,
            group_instance_id,
            generation_id,
            retention_ms,
            commits,
        )?
        .finish()
        .await
    }

    /// The first half of [`Self::commit_offsets`], which returns once the offsets are
    /// validated and written (not yet durable): call it while the request is handled, so
    /// that the commits of one connection are written in the order they were sent, as
    /// Kafka handles a connection's requests one at a time. A client that commits
    /// asynchronously pipelines its commits, and the last one sent must be the one that
    /// stays. Then await [`PendingCommit::finish`].
    pub fn start_commit_offsets(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        retention_ms: Option<i64>,
        commits: Vec<OffsetCommit>,
    ) -> Result<PendingCommit, GroupError> {
        // An empty group id is legal here: Kafka accepts it for OffsetCommit and
        // OffsetFetch, for old clients.
        let shard = self.shard_for(group_id)?;
        let now = now_ms();
        let mut state = shard.lock();
        let slot = state.commit_slot(group_id, generation_id, || self.new_group(group_id, now))?;
        let outcome = match &slot.consumer {
            // KIP-848: the member epoch stands in for the generation; the offsets are
            // kept with the (empty) classic group as simple commits.
            Some(consumer) if !consumer.is_empty() => consumer
                .validate_offset_commit(member_id, generation_id)
                .and_then(|()| {
                    slot.group
                        .prepare_commit("", None, -1, retention_ms, commits, now)
                }),
            _ => slot.group.prepare_commit(
                member_id,
                group_instance_id,
                generation_id,
                retention_ms,
                commits,
                now,
            ),
        };
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                state.forget_if_unused(group_id);
                return Err(e);
            }
        };
        let written = shard::encode_all(&outcome.accepted, |(tp, o)| {
            shard::offset_record(group_id, tp, Some(o))
        })
        .and_then(|records| shard.write(&records, now));
        drop(state);
        Ok(PendingCommit {
            shard,
            group_id: group_id.to_string(),
            outcome,
            written,
        })
    }

    /// OffsetFetch for one group: the requested partitions (None = every committed one),
    /// each with its committed offset if any. A group that does not exist has none.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<Vec<(TopicPartition, Option<CommittedOffset>)>, GroupError> {
        let shard = self.shard_for(group_id)?;
        let state = shard.lock();
        Ok(match state.groups.get(group_id) {
            Some(slot) => slot.group.fetch_offsets(partitions),
            None => partitions
                .map(|tps| tps.iter().map(|tp| (tp.clone(), None)).collect())
                .unwrap_or_default(),
        })
    }

    /// OffsetDelete: removes the given partitions' offsets, durably; returns the partitions
    /// refused because the group's members subscribe to their topics
    /// (GROUP_SUBSCRIBED_TO_TOPIC each).
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<TopicPartition>, GroupError> {
        let shard = self.shard_for(group_id)?;
        let now = now_ms();
        let (refused, written) = {
            let mut state = shard.lock();
            let Some(slot) = state.groups.get_mut(group_id) else {
                return Err(GroupError::GroupIdNotFound {
                    group_id: group_id.to_string(),
                });
            };
            let (removed, refused) = match &slot.consumer {
                Some(consumer) if !consumer.is_empty() => {
                    let (subscribed, free): (Vec<_>, Vec<_>) = partitions
                        .iter()
                        .cloned()
                        .partition(|tp| consumer.is_subscribed_to_topic(&tp.topic));
                    let removed = free
                        .into_iter()
                        .filter(|tp| slot.group.remove_offset(tp).is_some())
                        .collect();
                    (removed, subscribed)
                }
                _ => slot.group.delete_offsets(partitions)?,
            };
            for tp in &removed {
                slot.applied.remove(tp);
            }
            for tp in &removed {
                // The tombstone supersedes pending transactional offsets, as its replay does.
                state.txn_offsets.remove_partition(group_id, tp);
            }
            state.forget_if_unused(group_id);
            let written =
                shard::encode_all(&removed, |tp| shard::offset_record(group_id, tp, None))
                    .and_then(|records| shard.write(&records, now));
            (refused, written)
        };
        match written {
            Ok(w) => w.wait().await.map(|_| ()),
            Err(e) => Err(e),
        }
        .map_err(|e| {
            tracing::warn!(group = group_id, error = %e, "cannot write offset tombstones");
            GroupError::CoordinatorNotAvailable
        })?;
        Ok(refused)
    }

    /// The topic `topic` was deleted: every group's offsets of its partitions, committed
    /// and pending transactional, are removed and tombstoned, as Kafka's group coordinator
    /// does (`onPartitionsDeleted`), so that a topic created again under the same name is
    /// read from where its groups' reset policy says, not from the old topic's offsets.
    /// Returns how many offsets were removed.
    pub async fn topic_deleted(&self, topic: &str) -> Result<usize, GroupError> {
        let Some(shards) = self.shards() else {
            return Ok(0);
        };
        let mut removed_count = 0;
        for shard in shards.iter() {
            let now = now_ms();
            let written = {
                let mut state = shard.lock();
                let ids: Vec<String> = state.groups.keys().cloned().collect();
                let mut records = Vec::new();
                for id in ids {
                    let mut tps: BTreeSet<TopicPartition> = state
                        .txn_offsets
                        .partitions_of(&id)
                        .into_iter()
                        .filter(|tp| tp.topic == topic)
                        .collect();
                    let Some(slot) = state.groups.get_mut(&id) else {
                        continue;
                    };
                    tps.extend(
                        slot.group
                            .offsets()
                            .iter()
                            .filter(|(tp, _)| tp.topic == topic)
                            .map(|(tp, _)| tp.clone()),
                    );
                    if tps.is_empty() {
                        continue;
                    }
                    for tp in &tps {
                        slot.group.remove_offset(tp);
                        slot.applied.remove(tp);
                    }
                    for tp in &tps {
                        state.txn_offsets.remove_partition(&id, tp);
                    }
                    state.forget_if_unused(&id);
                    removed_count += tps.len();
                    records.extend(
                        shard::encode_all(&tps, |tp| shard::offset_record(&id, tp, None))
                            .map_err(|e| {
                                tracing::warn!(group = %id, error = %e, "cannot encode offset tombstones");
                                GroupError::CoordinatorNotAvailable
                            })?,
                    );
                }
                if records.is_empty() {
                    None
                } else {
                    Some(shard.write(&records, now))
                }
            };
            if let Some(written) = written {
                match written {
                    Ok(w) => w.wait().await.map(|_| ()),
                    Err(e) => Err(e),
                }
                .map_err(|e| {
                    tracing::warn!(topic, error = %e, "cannot write the offset tombstones of a deleted topic");
                    GroupError::CoordinatorNotAvailable
                })?;
            }
        }
        Ok(removed_count)
    }

    /// DeleteGroups for one group: an Empty group's metadata and offsets (pending
    /// transactional ones included) are tombstoned.
    pub async fn delete_group(&self, group_id: &str) -> Result<(), GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let shard = self.shard_for(group_id)?;
        let now = now_ms();
        let mut expired = Vec::new();
        let written = (|| {
            let mut state = shard.lock();
            // A member whose session ended is gone before the group is judged empty.
            self.run_due_timers(&shard, &mut state, group_id, now, &mut expired);
            let Some(slot) = state.groups.get_mut(group_id) else {
                return Err(GroupError::GroupIdNotFound {
                    group_id: group_id.to_string(),
                });
            };
            let mut offsets: Vec<TopicPartition> = slot
                .group
                .offsets()
                .iter()
                .map(|(tp, _)| tp.clone())
                .collect();
            let consumer_tombstones = match slot.consumer.as_mut() {
                Some(consumer) => {
                    consumer.delete()?;
                    consumer.tombstones()
                }
                None => Vec::new(),
            };
            slot.group.delete(now)?;
            state.groups.remove(group_id);
            // Pending transactional offsets go too, with a tombstone for each partition that
            // has no committed one (Kafka's `deleteAllOffsets`).
            for tp in state.txn_offsets.remove_group(group_id) {
                if !offsets.contains(&tp) {
                    offsets.push(tp);
                }
            }
            let tombstones = offsets.iter().map(Some).chain([None]);
            Ok(shard::encode_all(tombstones, |tp| match tp {
                Some(tp) => shard::offset_record(group_id, tp, None),
                None => shard::group_record(group_id, None),
            })
            .and_then(|mut records| {
                for r in &consumer_tombstones {
                    records.push(r.encode(group_id)?);
                }
                Ok(records)
            })
            .and_then(|records| shard.write(&records, now)))
        })();
        for effects in expired {
            effects.complete().await;
        }
        let written = written?;
        match written {
            Ok(w) => w.wait().await.map(|_| ()),
            Err(e) => Err(e),
        }
        .map_err(|e| {
            tracing::warn!(group = group_id, error = %e, "cannot write group tombstones");
            GroupError::CoordinatorNotAvailable
        })
    }

    // ----- KIP-848 consumer groups -------------------------------------------------------

    /// ConsumerGroupHeartbeat (KIP-848): joins, heartbeats, reconciles and leaves a consumer
    /// group, whose assignment the broker computes. A group id held by a classic group
    /// with members is refused (GROUP_ID_NOT_FOUND, "not a consumer group", as Kafka does
    /// without online migration); an empty classic group becomes a consumer group, keeping
    /// its offsets.
    ///
    /// Membership is kept in memory: after a restart members are unknown, get
    /// UNKNOWN_MEMBER_ID and rejoin with epoch 0 (their committed offsets are durable).
    ///
    /// `overrides` are the group's dynamic configs (KIP-848's GROUP configs), in place of
    /// the broker's session timeout and heartbeat interval.
    pub async fn consumer_heartbeat(
        &self,
        group_id: &str,
        request: ConsumerHeartbeatRequest,
        topics: &(dyn TopicMetadata + Sync),
        overrides: GroupOverrides,
    ) -> Result<ConsumerHeartbeatResponse, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let shard = self.shard_for(group_id)?;
        let now = now_ms();
        let (result, written) = {
            let mut state = shard.lock();
            if !state.groups.contains_key(group_id) && request.member_epoch != 0 {
                return Err(GroupError::UnknownMemberId {
                    member_id: request.member_id,
                });
            }
            let slot = state.slot(group_id, || self.new_group(group_id, now));
            if slot.consumer.is_none() {
                if !slot.group.is_empty() || slot.group.state() != GroupState::Empty {
                    return Err(GroupError::GroupIdNotFound {
                        group_id: group_id.to_string(),
                    });
                }
                slot.consumer = Some(ConsumerGroup::new(
                    group_id,
                    self.settings.consumer.clone(),
                    self.seed,
                ));
            }
            let consumer = slot
                .consumer
                .as_mut()
                .ok_or(GroupError::CoordinatorNotAvailable)?;
            let before = shard::ConsumerSnapshot::of(consumer);
            let epoch = consumer.group_epoch();
            consumer.set_config(self.settings.consumer.with_overrides(overrides));
            let result = consumer.heartbeat(request, topics, now);
            if consumer.group_epoch() != epoch {
                self.rebalances.fetch_add(1, Ordering::Relaxed);
            }
            let deleted = slot.is_unused();
            let changes = slot
                .consumer
                .as_ref()
                .map(|c| before.changes(group_id, c, deleted))
                .unwrap_or(Ok(Vec::new()));
            let written = shard.write_changes(changes, now);
            state.forget_if_unused(group_id);
            (result, written)
        };
        // Kafka answers a heartbeat once the records it wrote are committed.
        if let Some(written) = written {
            let durable = match written {
                Ok(w) => w.wait().await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = durable {
                tracing::warn!(group = group_id, error = %e, "cannot write consumer group records");
                return Err(GroupError::CoordinatorNotAvailable);
            }
        }
        result
    }

    /// Whether a classic or KIP-848 consumer group holds `group_id` (one with anything
    /// worth keeping: members, offsets, a generation).
    pub fn holds_group(&self, group_id: &str) -> bool {
        let Ok(shard) = self.shard_for(group_id) else {
            return false;
        };
        let state = shard.lock();
        state.groups.get(group_id).is_some_and(|s| !s.is_unused())
    }

    /// ConsumerGroupDescribe (KIP-848) for one group: GROUP_ID_NOT_FOUND when it does not
    /// exist or is a classic group.
    pub fn describe_consumer_group(
        &self,
        group_id: &str,
        topics: &dyn TopicMetadata,
    ) -> Result<ConsumerGroupDescription, GroupError> {
        let shard = self.shard_for(group_id)?;
        let state = shard.lock();
        match state.groups.get(group_id).and_then(|s| s.consumer.as_ref()) {
            Some(consumer) => Ok(consumer.describe(topics)),
            None => Err(GroupError::GroupIdNotFound {
                group_id: group_id.to_string(),
            }),
        }
    }

    // ----- Admin views ------------------------------------------------------------------

    /// DescribeGroups for one group (state `Dead` when it does not exist).
    pub fn describe(&self, group_id: &str) -> Result<GroupDescription, GroupError> {
        let shard = self.shard_for(group_id)?;
        let state = shard.lock();
        if state
            .groups
            .get(group_id)
            .is_some_and(|s| s.is_consumer_group())
        {
            return Err(GroupError::GroupIdNotFound {
                group_id: group_id.to_string(),
            });
        }
        let Some(slot) = state.groups.get(group_id) else {
            return Ok(GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead.kafka_name(),
                protocol_type: String::new(),
                protocol_name: String::new(),
                members: Vec::new(),
            });
        };
        let g = &slot.group;
        let stable = g.state() == GroupState::Stable;
        let protocol = g.protocol_name().unwrap_or("");
        let members = g
            .members()
            .map(|m: &Member| MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(protocol).cloned().unwrap_or_default()
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        Ok(GroupDescription {
            group_id: group_id.to_string(),
            state: g.state().kafka_name(),
            protocol_type: g.protocol_type().unwrap_or("").to_string(),
            // Kafka shows the protocol only once the group is stable.
            protocol_name: if stable {
                protocol.to_string()
            } else {
                String::new()
            },
            members,
        })
    }

    /// ListGroups: every group of every loaded shard. `Err` when a shard is still loading.
    pub fn list(&self) -> Result<Vec<GroupListing>, GroupError> {
        let Some(shards) = self.shards() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for shard in shards.iter() {
            if !shard.is_loaded() {
                return Err(GroupError::CoordinatorLoadInProgress);
            }
            let state = shard.lock();
            out.extend(state.groups.iter().map(|(id, slot)| match &slot.consumer {
                Some(consumer) => GroupListing {
                    group_id: id.clone(),
                    protocol_type: "consumer".to_string(),
                    state: consumer.state().kafka_name(),
                    group_type: "consumer",
                },
                None => GroupListing {
                    group_id: id.clone(),
                    protocol_type: slot.group.protocol_type().unwrap_or("").to_string(),
                    state: slot.group.state().kafka_name(),
                    group_type: "classic",
                },
            }));
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    /// Counts for the metrics, and every committed offset (for lag).
    pub fn stats(&self) -> GroupStats {
        let mut stats = GroupStats {
            rebalances: self.rebalances.load(Ordering::Relaxed),
            ..GroupStats::default()
        };
        if let Some(shards) = self.shards() {
            for shard in shards.iter() {
                let state = shard.lock();
                for (id, slot) in &state.groups {
                    stats.add(id, slot);
                }
            }
        }
        stats
    }

    // ----- Time -------------------------------------------------------------------------

    /// Advances every group's timers: expires sessions, completes join phases whose timer
    /// ran out, and, every `offsets.retention.check.interval.ms`, expires offsets.
    pub async fn tick(&self, expire_offsets: bool) {
        let Some(shards) = self.shards() else {
            return;
        };
        for shard in shards.iter() {
            if !shard.is_loaded() {
                continue;
            }
            let now = now_ms();
            let mut pending = Vec::new();
            {
                let mut state = shard.lock();
                let due: Vec<String> = state
                    .groups
                    .iter()
                    .filter(|(_, s)| s.next_deadline_ms().is_some_and(|d| d <= now))
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in due {
                    self.run_due_timers(shard, &mut state, &id, now, &mut pending);
                }
                if expire_offsets {
                    pending.push(shard.expire_offsets(&mut state, now));
                }
            }
            for effects in pending {
                effects.complete().await;
            }
        }
    }

    /// Runs the timers of the group `id` that are due at `now` (sessions, join and sync
    /// deadlines of a classic group; members' sessions and revocations of a consumer
    /// group), as [`Self::tick`] does for every group; what they write and answer goes to
    /// `pending`. A request that acts on a group runs them first, so that it sees the group
    /// as Kafka's timers (run on the millisecond) would leave it, not as the last 100 ms
    /// tick did.
    fn run_due_timers(
        &self,
        shard: &shard::Shard,
        state: &mut shard::ShardState,
        id: &str,
        now: i64,
        pending: &mut Vec<Effects>,
    ) {
        let Some(slot) = state.groups.get_mut(id) else {
            return;
        };
        if let Some(consumer) = slot.consumer.as_mut() {
            if consumer.next_deadline_ms().is_some_and(|d| d <= now) {
                let before = shard::ConsumerSnapshot::of(consumer);
                for removed in consumer.tick(now) {
                    tracing::info!(
                        group = %id,
                        member = %removed.member_id,
                        reason = ?removed.reason,
                        "removed a consumer group member"
                    );
                }
                let changes = before.changes(id, consumer, false);
                if let Some(written) = shard.write_changes(changes, now) {
                    pending.push(Effects {
                        written: Some(written),
                        ..Effects::default()
                    });
                }
            }
        }
        if slot.group.next_deadline_ms().is_some_and(|d| d <= now) {
            let generation = slot.group.generation_id();
            let outcome = slot.group.tick(now);
            if slot.group.generation_id() != generation {
                self.rebalances.fetch_add(1, Ordering::Relaxed);
            }
            pending.push(shard.effects(state, id, outcome.replies, outcome.persist));
        }
    }

    /// Runs [`Self::tick`] until `shutdown` resolves: every 100 ms for the group timers,
    /// and offset expiry every `offsets.retention.check.interval.ms`.
    pub async fn run_timer(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let mut interval = tokio::time::interval(std::time::Duration::from_millis(100));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let check_every = self.settings.offsets_retention_check_interval_ms.max(1);
        let mut next_expiry = now_ms() + check_every;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = interval.tick() => {}
            }
            let now = now_ms();
            let expire = now >= next_expiry;
            if expire {
                next_expiry = now + check_every;
            }
            self.tick(expire).await;
        }
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    myelin_log::manager::wall_clock_ms()
}

/// A deferred answer and where it goes.
type Delivery<T> = (
    oneshot::Sender<Result<T, GroupError>>,
    Result<T, GroupError>,
);

/// Deferred answers to deliver and records written for them, from one state change.
#[derive(Debug, Default)]
#[must_use = "deliver the answers with Effects::complete"]
pub(crate) struct Effects {
    joins: Vec<Delivery<JoinResponse>>,
    syncs: Vec<Delivery<SyncResponse>>,
    written: Option<Result<shard::Written, shard::WriteError>>,
}

impl Effects {
    /// Waits for the records to be durable, then delivers the answers. When the write
    /// failed, SyncGroup answers become COORDINATOR_NOT_AVAILABLE (the assignment was not
    /// stored) and the members rejoin.
    async fn complete(self) {
        let failed = match self.written {
            None => false,
            Some(Ok(w)) => match w.wait().await {
                Ok(_) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot write group metadata");
                    true
                }
            },
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot write group metadata");
                true
            }
        };
        for (tx, r) in self.joins {
            let _ = tx.send(r);
        }
        for (tx, r) in self.syncs {
            let r = if failed {
                Err(GroupError::CoordinatorNotAvailable)
            } else {
                r
            };
            let _ = tx.send(r);
        }
    }
}

/// Routes replies to their waiting senders.
fn route_replies(slot: &mut shard::Slot, replies: Vec<Reply>, effects: &mut Effects) {
    for reply in replies {
        match reply {
            Reply::Join { member_id, result } => {
                if let Some(tx) = slot.joins.remove(&member_id) {
                    effects.joins.push((tx, result));
                }
            }
            Reply::Sync { member_id, result } => {
                if let Some(tx) = slot.syncs.remove(&member_id) {
                    effects.syncs.push((tx, result));
                }
            }
        }
    }
}

/// Groups by id, for a shard.
type Groups = HashMap<String, shard::Slot>;

#[cfg(test)]
mod tests;

/// Offsets written by [`GroupService::start_commit_offsets`], visible once durable.
#[must_use = "the offsets are visible only once `finish` has run"]
pub struct PendingCommit {
    shard: Arc<Shard>,
    group_id: String,
    outcome: crate::offsets::CommitOutcome,
    written: Result<shard::Written, shard::WriteError>,
}

impl std::fmt::Debug for PendingCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCommit")
            .field("group_id", &self.group_id)
            .field("accepted", &self.outcome.accepted.len())
            .finish_non_exhaustive()
    }
}

impl PendingCommit {
    /// Waits until the offsets are durable, then makes them visible: each partition's
    /// result (`Err` per partition when the write failed).
    pub async fn finish(self) -> Result<Vec<PartitionResult>, GroupError> {
        let Self {
            shard,
            group_id,
            outcome,
            written,
        } = self;
        let written = match written {
            Ok(w) => w.wait().await,
            Err(e) => Err(e),
        };
        let mut results: Vec<PartitionResult> = Vec::new();
        match written {
            Ok(first_offset) => {
                let mut state = shard.lock();
                if let Some(slot) = state.groups.get_mut(&group_id) {
                    slot.apply_commits(first_offset, outcome.accepted.iter().cloned());
                }
                results.extend(outcome.accepted.into_iter().map(|(tp, _)| (tp, Ok(()))));
            }
            Err(e) => {
                tracing::warn!(group = %group_id, error = %e, "cannot write offsets");
                results.extend(
                    outcome
                        .accepted
                        .into_iter()
                        .map(|(tp, _)| (tp, Err(GroupError::CoordinatorNotAvailable))),
                );
            }
        }
        results.extend(outcome.rejected.into_iter().map(|(tp, e)| (tp, Err(e))));
        Ok(results)
    }
}
