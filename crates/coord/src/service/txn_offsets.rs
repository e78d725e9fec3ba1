//! Transactional offset commits: the group side of transactions (Kafka's
//! `OffsetMetadataManager` pending transactional offsets).
//!
//! A transactional producer commits its consumer's offsets with TxnOffsetCommit, after
//! AddOffsetsToTxn added the group's partition of `__consumer_offsets` to its transaction.
//! The coordinator validates the group (members of a generation, when the request names
//! them), then appends the offset commit records to that partition as ONE transactional
//! batch of the producer (its id and epoch, no sequence: a coordinator append, which the
//! log checks for the epoch and in which it opens the producer's transaction), under the
//! shard lock. From that moment the offsets are *pending* for (producer id, group): never
//! shown by OffsetFetch, and reported as UNSTABLE_OFFSET_COMMIT to an OffsetFetch with
//! `require_stable` (v7+) for their partitions. The answer waits for the fsync.
//!
//! When the transaction ends, the transaction coordinator writes the COMMIT or ABORT marker
//! into the partition and then calls [`GroupCoordinator::complete_txn_offsets`]: a commit
//! applies every pending offset of that producer in that partition, each with the offset of
//! its record, so that a plain commit written after it (a later record) still wins, as in
//! Kafka; an abort drops them. Loading replays the same: a transactional batch's offsets
//! become pending, a marker resolves its producer's, and what is still pending at the end
//! stays pending until the transaction coordinator completes it after its own load.
//!
//! Pending offsets are never dropped silently: offset expiry spares a partition with
//! pending offsets and a group with any; an offset tombstone (OffsetDelete, expiry) drops
//! the partition's pending offsets, as its replay does; DeleteGroups writes a tombstone for
//! every pending partition without a committed offset and drops them (Kafka's
//! `deleteAllOffsets`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::shard::{self, BatchProducer, ShardState, WriteError};
use super::{now_ms, GroupCoordinator, PartitionResult};
use crate::error::GroupError;
use crate::offsets::{CommittedOffset, OffsetCommit, TopicPartition};
use myelin_log::batch::ATTR_TRANSACTIONAL;
use myelin_log::{BatchError, LogError};

#[cfg(test)]
mod tests;

/// A transactional offset written, waiting for its transaction's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingOffset {
    /// The offset of its record in the shard's partition: once committed it is applied
    /// only if no later record set the partition.
    pub(crate) record_offset: i64,
    pub(crate) committed: CommittedOffset,
}

/// One producer's pending offsets in one shard: by group, then partition.
type ByGroup = HashMap<String, BTreeMap<TopicPartition, PendingOffset>>;

/// The pending transactional offsets of one shard, by producer id.
#[derive(Debug, Default)]
pub(crate) struct TxnOffsets {
    by_producer: HashMap<i64, ByGroup>,
}

impl TxnOffsets {
    /// Records a pending offset; a later record of the same producer, group and partition
    /// replaces an earlier one.
    pub(crate) fn add(
        &mut self,
        producer_id: i64,
        group_id: &str,
        tp: TopicPartition,
        pending: PendingOffset,
    ) {
        let offsets = self
            .by_producer
            .entry(producer_id)
            .or_default()
            .entry(group_id.to_string())
            .or_default();
        match offsets.get(&tp) {
            Some(p) if p.record_offset > pending.record_offset => {}
            _ => {
                offsets.insert(tp, pending);
            }
        }
    }

    /// Removes and returns the producer's pending offsets.
    fn take(&mut self, producer_id: i64) -> ByGroup {
        self.by_producer.remove(&producer_id).unwrap_or_default()
    }

    /// Whether any producer has a pending offset for the group's partition.
    pub(crate) fn is_pending(&self, group_id: &str, tp: &TopicPartition) -> bool {
        self.by_producer
            .values()
            .any(|groups| groups.get(group_id).is_some_and(|o| o.contains_key(tp)))
    }

    /// Whether the group has any pending offset.
    pub(crate) fn has_group(&self, group_id: &str) -> bool {
        self.by_producer
            .values()
            .any(|groups| groups.contains_key(group_id))
    }

    /// The group's partitions with pending offsets.
    pub(crate) fn partitions_of(&self, group_id: &str) -> BTreeSet<TopicPartition> {
        self.by_producer
            .values()
            .filter_map(|groups| groups.get(group_id))
            .flat_map(|offsets| offsets.keys().cloned())
            .collect()
    }

    /// Drops every producer's pending offset of the group's partition: a tombstone
    /// written (or replayed) for it supersedes them, as in Kafka.
    pub(crate) fn remove_partition(&mut self, group_id: &str, tp: &TopicPartition) {
        for groups in self.by_producer.values_mut() {
            if let Some(offsets) = groups.get_mut(group_id) {
                offsets.remove(tp);
                if offsets.is_empty() {
                    groups.remove(group_id);
                }
            }
        }
        self.by_producer.retain(|_, groups| !groups.is_empty());
    }

    /// Drops the group's pending offsets; returns their partitions.
    pub(crate) fn remove_group(&mut self, group_id: &str) -> BTreeSet<TopicPartition> {
        let mut out = BTreeSet::new();
        for groups in self.by_producer.values_mut() {
            if let Some(offsets) = groups.remove(group_id) {
                out.extend(offsets.into_keys());
            }
        }
        self.by_producer.retain(|_, groups| !groups.is_empty());
        out
    }

    /// Drops what a write that failed added: the producer's pending offsets of the group
    /// at exactly these record offsets.
    fn remove_written(
        &mut self,
        producer_id: i64,
        group_id: &str,
        written: &[(TopicPartition, i64)],
    ) {
        let Some(groups) = self.by_producer.get_mut(&producer_id) else {
            return;
        };
        if let Some(offsets) = groups.get_mut(group_id) {
            for (tp, at) in written {
                if offsets.get(tp).is_some_and(|p| p.record_offset == *at) {
                    offsets.remove(tp);
                }
            }
            if offsets.is_empty() {
                groups.remove(group_id);
            }
        }
        if groups.is_empty() {
            self.by_producer.remove(&producer_id);
        }
    }

    /// How many offsets are pending.
    pub(crate) fn len(&self) -> usize {
        self.by_producer
            .values()
            .flat_map(HashMap::values)
            .map(BTreeMap::len)
            .sum()
    }
}

impl ShardState {
    /// Ends the producer's transaction in this shard: on commit its pending offsets are
    /// applied (each only if no later record set its partition), on abort dropped. Groups
    /// left holding nothing are forgotten. Returns how many offsets were pending.
    pub(crate) fn complete_txn(&mut self, producer_id: i64, commit: bool) -> usize {
        let mut resolved = 0;
        for (group_id, offsets) in self.txn_offsets.take(producer_id) {
            resolved += offsets.len();
            if commit {
                if let Some(slot) = self.groups.get_mut(&group_id) {
                    slot.apply_commits_at(
                        offsets
                            .into_iter()
                            .map(|(tp, p)| (p.record_offset, tp, p.committed)),
                    );
                }
            }
            self.forget_if_unused(&group_id);
        }
        resolved
    }
}

impl GroupCoordinator {
    /// TxnOffsetCommit (Kafka's `commitTransactionalOffset`): validates the group, appends
    /// the offsets to the group's partition of `__consumer_offsets` as one transactional
    /// batch of the producer, waits for the fsync, and keeps them pending for (producer id,
    /// group) until [`Self::complete_txn_offsets`]: OffsetFetch does not show them.
    ///
    /// Validation is Kafka's transactional one: a group that does not exist is created
    /// (Empty) for generation -1 and refused with ILLEGAL_GENERATION otherwise; a request
    /// naming a member, an instance or a generation (TxnOffsetCommit v3) must come from a
    /// member of the current generation (a KIP-848 member: its current epoch; a stale one
    /// is ILLEGAL_GENERATION); one naming none of them (v0-2) is accepted whatever the
    /// group's state. Metadata over `offset.metadata.max.bytes` is refused per partition.
    ///
    /// `Err` is an error for every partition: the group's refusal, INVALID_PRODUCER_EPOCH
    /// when the log has seen a newer epoch of the producer (a zombie), or
    /// COORDINATOR_NOT_AVAILABLE when the records could not be written. The
    /// `transactional_id` is only logged: whether the partition is part of the producer's
    /// transaction is the transaction coordinator's to know.
    #[allow(clippy::too_many_arguments)]
    pub async fn txn_commit_offsets(
        &self,
        group_id: &str,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        commits: Vec<OffsetCommit>,
    ) -> Result<Vec<PartitionResult>, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        if producer_id < 0 || producer_epoch < 0 {
            return Err(GroupError::InvalidRequest {
                reason: format!(
                    "TxnOffsetCommit needs a producer id and epoch, not {producer_id} and \
                     {producer_epoch}"
                ),
            });
        }
        let shard = self.shard_for(group_id)?;
        let now = now_ms();
        let (outcome, written) = {
            let mut state = shard.lock();
            let slot =
                state.commit_slot(group_id, generation_id, || self.new_group(group_id, now))?;
            let outcome = match &slot.consumer {
                Some(consumer) if !consumer.is_empty() => {
                    // KIP-848: the member epoch stands in for the generation; the offsets
                    // are kept with the (empty) classic group.
                    let anonymous =
                        generation_id < 0 && member_id.is_empty() && group_instance_id.is_none();
                    let valid = if anonymous {
                        Ok(())
                    } else {
                        consumer
                            .validate_offset_commit(member_id, generation_id)
                            .map_err(|e| match e {
                                // Kafka answers a transactional commit's stale epoch so.
                                GroupError::StaleMemberEpoch {
                                    member_epoch,
                                    current_member_epoch,
                                } => GroupError::IllegalGeneration {
                                    generation_id: member_epoch,
                                    current_generation_id: current_member_epoch,
                                },
                                e => e,
                            })
                    };
                    valid.and_then(|()| slot.group.prepare_txn_commit("", None, -1, commits, now))
                }
                _ => slot.group.prepare_txn_commit(
                    member_id,
                    group_instance_id,
                    generation_id,
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
            if outcome.accepted.is_empty() {
                state.forget_if_unused(group_id);
                (outcome, None)
            } else {
                let producer = BatchProducer {
                    producer_id,
                    producer_epoch,
                    attributes: ATTR_TRANSACTIONAL,
                };
                let written = shard::encode_all(&outcome.accepted, |(tp, o)| {
                    shard::offset_record(group_id, tp, Some(o))
                })
                .and_then(|records| shard.write_transactional(&records, producer, now));
                match &written {
                    Ok(w) => {
                        // Pending from the append on, under the lock that orders it: a
                        // marker completed after this sees them.
                        for ((tp, o), at) in outcome.accepted.iter().zip(w.first_offset()..) {
                            let pending = PendingOffset {
                                record_offset: at,
                                committed: o.clone(),
                            };
                            state
                                .txn_offsets
                                .add(producer_id, group_id, tp.clone(), pending);
                        }
                    }
                    Err(_) => state.forget_if_unused(group_id),
                }
                (outcome, Some(written))
            }
        };
        if let Some(written) = written {
            let (first_offset, durable) = match written {
                Ok(w) => (w.first_offset(), w.wait().await.map(|_| ())),
                Err(e) => (-1, Err(e)),
            };
            if let Err(e) = durable {
                tracing::warn!(
                    group = group_id,
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    error = %e,
                    "cannot write transactional offsets"
                );
                if first_offset >= 0 {
                    let written: Vec<(TopicPartition, i64)> = outcome
                        .accepted
                        .iter()
                        .map(|(tp, _)| tp.clone())
                        .zip(first_offset..)
                        .collect();
                    let mut state = shard.lock();
                    state
                        .txn_offsets
                        .remove_written(producer_id, group_id, &written);
                    state.forget_if_unused(group_id);
                }
                return Err(txn_write_error(e, producer_id, producer_epoch));
            }
        }
        let mut results: Vec<PartitionResult> = outcome
            .accepted
            .into_iter()
            .map(|(tp, _)| (tp, Ok(())))
            .collect();
        results.extend(outcome.rejected.into_iter().map(|(tp, e)| (tp, Err(e))));
        Ok(results)
    }

    /// Ends a producer's transaction in one partition of `__consumer_offsets`, once the
    /// transaction coordinator's COMMIT (`commit`) or ABORT marker there is durable: a
    /// commit makes every group's pending offsets of that producer in the partition visible
    /// (each unless a later record set its partition), an abort drops them. Returns how
    /// many offsets were pending; 0 when there were none (a marker for a transaction that
    /// committed no offsets here, or one already completed) or the partition is not
    /// coordinated here.
    pub fn complete_txn_offsets(
        &self,
        offsets_partition: i32,
        producer_id: i64,
        commit: bool,
    ) -> usize {
        let Some(shards) = self.shards() else {
            return 0;
        };
        let Some(shard) = usize::try_from(offsets_partition)
            .ok()
            .and_then(|i| shards.get(i))
        else {
            return 0;
        };
        let resolved = shard.lock().complete_txn(producer_id, commit);
        if resolved > 0 {
            tracing::debug!(
                partition = offsets_partition,
                producer_id,
                commit,
                offsets = resolved,
                "completed transactional offsets"
            );
        }
        resolved
    }

    /// OffsetFetch with `require_stable` (v7+, KIP-447): as [`Self::fetch_offsets`], but a
    /// partition with pending transactional offsets of the group is
    /// `Err(UnstableOffsetCommit)`, so that the consumer waits for the transaction to end
    /// rather than start from an offset about to change.
    #[allow(clippy::type_complexity)]
    pub fn fetch_stable_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<Vec<(TopicPartition, Result<Option<CommittedOffset>, GroupError>)>, GroupError>
    {
        let shard = self.shard_for(group_id)?;
        let state = shard.lock();
        let fetched = match state.groups.get(group_id) {
            Some(slot) => slot.group.fetch_offsets(partitions),
            None => partitions
                .map(|tps| tps.iter().map(|tp| (tp.clone(), None)).collect())
                .unwrap_or_default(),
        };
        Ok(fetched
            .into_iter()
            .map(|(tp, o)| {
                let r = if state.txn_offsets.is_pending(group_id, &tp) {
                    Err(GroupError::UnstableOffsetCommit)
                } else {
                    Ok(o)
                };
                (tp, r)
            })
            .collect())
    }
}

/// The group error for a failed transactional write (Kafka's `handleOperationException`
/// for TxnOffsetCommit): a fenced epoch is the producer's own error, a batch too large
/// for the partition a malformed request; anything else makes the client look up the
/// coordinator again.
fn txn_write_error(e: WriteError, producer_id: i64, producer_epoch: i16) -> GroupError {
    match e {
        WriteError::Log(LogError::InvalidProducerEpoch { .. }) => {
            GroupError::InvalidProducerEpoch {
                producer_id,
                producer_epoch,
            }
        }
        WriteError::Log(LogError::InvalidBatch(e @ BatchError::TooLarge { .. })) => {
            GroupError::InvalidRequest {
                reason: e.to_string(),
            }
        }
        _ => GroupError::CoordinatorNotAvailable,
    }
}
