//! One partition of `__consumer_offsets` and the groups it holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use myelin_cluster::{Partition, PartitionManager};
use myelin_log::record::{encode_record, BatchBuilder};
use myelin_log::{AppendOptions, DurableWait, LogError};
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::oneshot;

use super::txn_offsets::TxnOffsets;
use super::{route_replies, Effects, Groups};
use crate::api::{JoinResponse, Reply, SyncResponse};
use crate::config::GroupState;
use crate::consumer::ConsumerGroup;
use crate::error::GroupError;
use crate::group::ClassicGroup;
use crate::offsets::{CommittedOffset, TopicPartition};
use crate::records::ConsumerGroupRecord;
use crate::records::{self, RecordError};

/// The most bytes of records put in one batch: well under the default `max.message.bytes`
/// (1 MiB), so that a commit of many partitions is written as several batches.
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// A record to write: key and value (`None` is a tombstone).
pub(crate) type KeyValue = (Bytes, Option<Bytes>);

/// One group and the requests waiting on it.
#[derive(Debug)]
pub(crate) struct Slot {
    /// The classic group; for a KIP-848 group, an Empty classic group holding its offsets.
    pub(crate) group: ClassicGroup,
    /// Set when this is a KIP-848 consumer group.
    pub(crate) consumer: Option<ConsumerGroup>,
    /// Pending JoinGroup responses by member id.
    pub(crate) joins: HashMap<String, oneshot::Sender<Result<JoinResponse, GroupError>>>,
    /// Pending SyncGroup responses by member id.
    pub(crate) syncs: HashMap<String, oneshot::Sender<Result<SyncResponse, GroupError>>>,
    /// The offset, in this shard's partition, of the record that set each committed offset:
    /// commits are applied after their fsync, possibly out of order, and an older one must
    /// not overwrite a newer one.
    pub(crate) applied: HashMap<TopicPartition, i64>,
}

impl Slot {
    /// The earliest timer of the group, classic or consumer, if any.
    pub(crate) fn next_deadline_ms(&self) -> Option<i64> {
        let consumer = self.consumer.as_ref().and_then(|c| c.next_deadline_ms());
        [self.group.next_deadline_ms(), consumer]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn new(group: ClassicGroup) -> Self {
        Slot {
            group,
            consumer: None,
            joins: HashMap::new(),
            syncs: HashMap::new(),
            applied: HashMap::new(),
        }
    }

    /// Nothing worth keeping: Empty or Dead, no members, no offsets, never through a
    /// generation, nobody waiting.
    pub(crate) fn is_unused(&self) -> bool {
        matches!(self.group.state(), GroupState::Empty | GroupState::Dead)
            && self.group.is_empty()
            && self.group.offsets().is_empty()
            && self.group.generation_id() == 0
            && self.joins.is_empty()
            && self.syncs.is_empty()
            && self.consumer.as_ref().is_none_or(ConsumerGroup::is_empty)
    }

    /// Whether this is a KIP-848 consumer group with members.
    pub(crate) fn is_consumer_group(&self) -> bool {
        self.consumer.as_ref().is_some_and(|c| !c.is_empty())
    }

    /// Applies commits written at offsets `first_offset..`, one record each in order,
    /// skipping partitions that a later record already set.
    pub(crate) fn apply_commits(
        &mut self,
        first_offset: i64,
        commits: impl IntoIterator<Item = (TopicPartition, CommittedOffset)>,
    ) {
        self.apply_commits_at(
            (first_offset..)
                .zip(commits)
                .map(|(offset, (tp, committed))| (offset, tp, committed)),
        );
    }

    /// Applies commits, each with the offset of its record (a committed transaction's
    /// offsets are older records than the plain commits since), skipping partitions that a
    /// later record already set: Kafka keeps the commit of the latest record.
    pub(crate) fn apply_commits_at(
        &mut self,
        commits: impl IntoIterator<Item = (i64, TopicPartition, CommittedOffset)>,
    ) {
        let mut fresh = Vec::new();
        for (offset, tp, committed) in commits {
            let newer = self.applied.get(&tp).is_some_and(|&at| at > offset);
            if !newer {
                self.applied.insert(tp.clone(), offset);
                fresh.push((tp, committed));
            }
        }
        self.group.complete_commit(fresh);
    }
}

/// The groups of one shard.
#[derive(Debug, Default)]
pub(crate) struct ShardState {
    pub(crate) groups: Groups,
    /// Transactional offsets written to this partition whose transaction has not ended.
    pub(crate) txn_offsets: TxnOffsets,
}

impl ShardState {
    /// The group's slot, created with `make` when it does not exist.
    pub(crate) fn slot(
        &mut self,
        group_id: &str,
        make: impl FnOnce() -> ClassicGroup,
    ) -> &mut Slot {
        self.groups
            .entry(group_id.to_string())
            .or_insert_with(|| Slot::new(make()))
    }

    /// The slot an offset commit (plain or transactional) goes to: Kafka answers
    /// ILLEGAL_GENERATION for a generation of a group that does not exist, and a negative
    /// one (a simple commit) creates the group.
    pub(crate) fn commit_slot(
        &mut self,
        group_id: &str,
        generation_id: i32,
        make: impl FnOnce() -> ClassicGroup,
    ) -> Result<&mut Slot, GroupError> {
        if !self.groups.contains_key(group_id) && generation_id >= 0 {
            return Err(GroupError::IllegalGeneration {
                generation_id,
                current_generation_id: -1,
            });
        }
        Ok(self.slot(group_id, make))
    }

    /// Whether [`Self::forget_if_unused`] would forget the group now.
    pub(crate) fn is_unused(&self, group_id: &str) -> bool {
        self.groups.get(group_id).is_some_and(Slot::is_unused)
            && !self.txn_offsets.has_group(group_id)
    }

    /// Forgets a group that holds nothing worth keeping: Empty or Dead, no members, no
    /// offsets (pending transactional ones included), never through a generation, nobody
    /// waiting. Such a group was created by a request that failed and has no record on
    /// disk.
    pub(crate) fn forget_if_unused(&mut self, group_id: &str) {
        if self.is_unused(group_id) {
            self.groups.remove(group_id);
        }
    }
}

/// A KIP-848 group's records at one moment, to write only what a call changed.
pub(crate) struct ConsumerSnapshot {
    records: Vec<ConsumerGroupRecord>,
    member_ids: std::collections::BTreeSet<String>,
}

impl ConsumerSnapshot {
    pub(crate) fn of(group: &ConsumerGroup) -> Self {
        ConsumerSnapshot {
            records: group.records(),
            member_ids: group.member_ids(),
        }
    }

    /// The records to write after a call: tombstones of the members gone, then every
    /// record whose value changed (Kafka writes exactly those), encoded; or the group's
    /// tombstones when it was left empty and deleted.
    pub(crate) fn changes(
        self,
        group_id: &str,
        group: &ConsumerGroup,
        deleted: bool,
    ) -> Result<Vec<KeyValue>, RecordError> {
        let mut out = Vec::new();
        if deleted {
            for r in group.tombstones() {
                out.push(r.encode(group_id)?);
            }
            return Ok(out);
        }
        for r in group.tombstones_for_removed(&self.member_ids) {
            out.push(r.encode(group_id)?);
        }
        for r in group.records() {
            if !self.records.contains(&r) {
                out.push(r.encode(group_id)?);
            }
        }
        Ok(out)
    }
}

/// One partition of `__consumer_offsets`.
#[derive(Debug)]
pub struct Shard {
    manager: Arc<PartitionManager>,
    partition: Arc<Partition>,
    state: Mutex<ShardState>,
    loaded: AtomicBool,
}

/// Who a coordinator's batch is written for: nobody (plain records), or a producer's
/// transaction (transactional records, a COMMIT/ABORT marker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchProducer {
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    /// The batch attributes' transactional and control bits.
    pub(crate) attributes: i16,
}

impl BatchProducer {
    pub(crate) const NONE: BatchProducer = BatchProducer {
        producer_id: -1,
        producer_epoch: -1,
        attributes: 0,
    };
}

/// Appends `records` to `partition`, in batches of at most [`MAX_BATCH_BYTES`], for
/// `producer`, as a coordinator appends (Kafka's `AppendOrigin.COORDINATOR`: a producer's
/// batch carries no sequence). A transactional batch is never split: its records get
/// consecutive offsets, and Kafka writes one batch per TxnOffsetCommit. The caller
/// serializes appends that must keep an order.
pub(crate) fn append_records(
    logs: &myelin_log::LogManager,
    partition: &Arc<Partition>,
    records: &[KeyValue],
    now_ms: i64,
    producer: BatchProducer,
) -> Result<Written, WriteError> {
    let mut first_offset = None;
    let mut waits = Vec::new();
    let mut raw = Vec::new();
    let mut count: i32 = 0;
    let mut flush = |raw: &mut Vec<u8>, count: &mut i32| -> Result<(), LogError> {
        if *count == 0 {
            return Ok(());
        }
        let builder = BatchBuilder {
            base_timestamp: now_ms,
            max_timestamp: now_ms,
            last_offset_delta: *count - 1,
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            attributes: producer.attributes,
            ..BatchBuilder::new()
        };
        let batch = builder.build(raw, *count).map_err(LogError::from)?;
        let opts = AppendOptions {
            leader_epoch: partition.leader_epoch,
            now_ms,
        };
        let (info, wait) = logs.append_from_coordinator(&partition.log, &batch, &opts)?;
        first_offset.get_or_insert(info.base_offset);
        match wait {
            Some(w) => waits.push(w),
            None => partition.notify_data(),
        }
        raw.clear();
        *count = 0;
        Ok(())
    };
    for (key, value) in records {
        encode_record(&mut raw, 0, 0, count, Some(key), value.as_deref(), &[]);
        count += 1;
        if raw.len() >= MAX_BATCH_BYTES && producer.producer_id < 0 {
            flush(&mut raw, &mut count)?;
        }
    }
    flush(&mut raw, &mut count)?;
    Ok(Written {
        first_offset: first_offset.unwrap_or(-1),
        partition: partition.clone(),
        waits,
    })
}

/// Records appended, not yet known durable.
#[derive(Debug)]
pub(crate) struct Written {
    first_offset: i64,
    partition: Arc<Partition>,
    waits: Vec<DurableWait>,
}

impl Written {
    /// The offset of the first record (-1 when nothing was written), known at once.
    pub(crate) fn first_offset(&self) -> i64 {
        self.first_offset
    }

    /// Waits until the records are durable; returns the offset of the first.
    pub(crate) async fn wait(self) -> Result<i64, WriteError> {
        let any = !self.waits.is_empty();
        for w in self.waits {
            w.await?;
        }
        if any {
            self.partition.notify_data();
        }
        Ok(self.first_offset)
    }
}

impl Shard {
    pub(crate) fn new(manager: Arc<PartitionManager>, partition: Arc<Partition>) -> Self {
        Shard {
            manager,
            partition,
            state: Mutex::new(ShardState::default()),
            loaded: AtomicBool::new(false),
        }
    }

    /// The partition index.
    pub fn index(&self) -> i32 {
        self.partition.index
    }

    pub(crate) fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }

    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub(crate) fn set_loaded(&self) {
        self.loaded.store(true, Ordering::Release);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ShardState> {
        self.state.lock()
    }

    /// Appends `records` to the partition, in batches of at most [`MAX_BATCH_BYTES`].
    /// Called with the shard locked, so that the log holds changes in the order they were
    /// made. Nothing to write is `Ok` with no waits.
    pub(crate) fn write(&self, records: &[KeyValue], now_ms: i64) -> Result<Written, WriteError> {
        append_records(
            self.manager.logs(),
            &self.partition,
            records,
            now_ms,
            BatchProducer::NONE,
        )
    }

    /// Appends `records` as one transactional batch of `producer` (TxnOffsetCommit).
    /// Called with the shard locked, as [`Self::write`].
    pub(crate) fn write_transactional(
        &self,
        records: &[KeyValue],
        producer: BatchProducer,
        now_ms: i64,
    ) -> Result<Written, WriteError> {
        append_records(
            self.manager.logs(),
            &self.partition,
            records,
            now_ms,
            producer,
        )
    }

    /// Appends encoded changes, if there are any.
    pub(crate) fn write_changes(
        &self,
        changes: Result<Vec<KeyValue>, RecordError>,
        now_ms: i64,
    ) -> Option<Result<Written, WriteError>> {
        match changes {
            Ok(records) if records.is_empty() => None,
            Ok(records) => Some(self.write(&records, now_ms)),
            Err(e) => Some(Err(WriteError::Encode(e))),
        }
    }

    /// Collects the effects of a state change of `group_id`: the replies to route to
    /// waiting requests and, when Kafka would persist the group, its metadata record
    /// appended now. Forgets the group if it ended up Dead.
    pub(crate) fn effects(
        &self,
        state: &mut ShardState,
        group_id: &str,
        replies: Vec<Reply>,
        persist: bool,
    ) -> Effects {
        let mut effects = Effects::default();
        let Some(slot) = state.groups.get_mut(group_id) else {
            return effects;
        };
        route_replies(slot, replies, &mut effects);
        if persist {
            let group = (slot.group.state() != GroupState::Dead).then_some(&slot.group);
            effects.written = Some(
                group_record(group_id, group)
                    .map_err(WriteError::from)
                    .and_then(|record| self.write(&[record], super::now_ms())),
            );
        }
        if slot.group.state() == GroupState::Dead {
            state.groups.remove(group_id);
        }
        effects
    }

    /// Expires offsets of every group (Kafka's `cleanupGroupMetadata`), writing tombstones
    /// for the offsets removed and for groups left dead. A partition with pending
    /// transactional offsets keeps its committed offset, and a group with any is not
    /// removed, as in Kafka.
    pub(crate) fn expire_offsets(&self, state: &mut ShardState, now_ms: i64) -> Effects {
        let mut records = Vec::new();
        let mut dead = Vec::new();
        let ShardState {
            groups,
            txn_offsets,
        } = state;
        for (id, slot) in groups.iter_mut() {
            if slot.is_consumer_group() {
                // Offsets of a consumer group with members do not expire.
                continue;
            }
            let pending = txn_offsets.partitions_of(id);
            let expired = slot.group.expire_offsets_except(now_ms, &pending);
            for tp in &expired.partitions {
                slot.applied.remove(tp);
                records.push(offset_record(id, tp, None));
            }
            if expired.group_dead {
                records.push(group_record(id, None));
                if let Some(consumer) = &slot.consumer {
                    records.extend(consumer.tombstones().iter().map(|r| r.encode(id)));
                }
                dead.push(id.clone());
            }
        }
        for id in dead {
            state.groups.remove(&id);
        }
        if !records.is_empty() {
            tracing::info!(
                partition = self.index(),
                tombstones = records.len(),
                "expired committed offsets"
            );
        }
        let written = (!records.is_empty()).then(|| {
            records
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map_err(WriteError::from)
                .and_then(|records| self.write(&records, now_ms))
        });
        Effects {
            written,
            ..Effects::default()
        }
    }
}

/// The offset commit record of `group_id` for `tp` (`None`: a tombstone).
pub(crate) fn offset_record(
    group_id: &str,
    tp: &TopicPartition,
    value: Option<&CommittedOffset>,
) -> Result<KeyValue, RecordError> {
    Ok((
        records::encode_offset_commit_key(group_id, tp)?,
        value.map(records::encode_offset_commit_value).transpose()?,
    ))
}

/// The group metadata record of `group_id` (`None`: a tombstone).
pub(crate) fn group_record(
    group_id: &str,
    group: Option<&ClassicGroup>,
) -> Result<KeyValue, RecordError> {
    Ok((
        records::encode_group_metadata_key(group_id)?,
        group.map(|g| g.metadata_value().encode()).transpose()?,
    ))
}

/// Encodes records with `encode` and appends them; an encoding failure (a field longer
/// than the schema allows) writes nothing.
pub(crate) fn encode_all<T>(
    items: impl IntoIterator<Item = T>,
    encode: impl Fn(T) -> Result<KeyValue, RecordError>,
) -> Result<Vec<KeyValue>, WriteError> {
    items
        .into_iter()
        .map(encode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(WriteError::Encode)
}

/// Why records could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("cannot encode a record: {0}")]
    Encode(#[from] RecordError),
    #[error(transparent)]
    Log(#[from] LogError),
}
