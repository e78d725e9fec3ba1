//! Replaying a partition of `__consumer_offsets` into its shard (Kafka's
//! `GroupMetadataManager.loadGroupsAndOffsets`).
//!
//! Every batch from the log start to the log end is read in order; for each record the key
//! says what it is: an offset commit (applied, or removed by a tombstone) or a group's
//! metadata (the group rebuilt from it, or removed by a tombstone), or a KIP-848 consumer
//! group's (types 3-8, replayed into a builder per group, finished once the partition is
//! read). Later records win, so the result is the state after the last write whatever
//! compaction kept. Records this version does not know (share and streams groups, future
//! versions) are skipped and counted;
//! a record whose key or value does not decode is skipped with a warning rather than
//! failing the whole partition, since one unreadable group must not take every other
//! group of the partition offline.
//!
//! Transactions: the offset commits of a transactional batch become pending offsets of its
//! producer, not committed ones; a COMMIT or ABORT marker (a control batch whose record key
//! is version int16 + type int16, 0 abort and 1 commit) applies or drops that producer's
//! pending offsets, as [`super::GroupCoordinator::complete_txn_offsets`] does live. What is
//! still pending at the end stays pending: the transaction coordinator completes it after
//! its own load.

use std::collections::HashMap;

use myelin_log::producer_state::EndTxnMarker;
use myelin_log::record::RecordIter;

use super::replay::for_each_batch;
use super::shard::{ShardState, Slot};
use super::txn_offsets::PendingOffset;
use super::Shard;

use super::OFFSETS_TOPIC;
use crate::config::GroupConfig;
use crate::consumer::{ConsumerGroupBuilder, ConsumerGroupConfig};
use crate::group::ClassicGroup;
use crate::records::{self, GroupRecord};

/// What loading a shard found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoadReport {
    pub records: u64,
    pub groups: usize,
    pub offsets: usize,
    /// Transactional offsets still pending at the end.
    pub pending: usize,
    /// Records skipped: unknown types or undecodable.
    pub skipped: u64,
}

/// Replays the shard's partition into its (empty) state and marks it loaded.
pub(crate) fn load_shard(
    shard: &Shard,
    config: &GroupConfig,
    consumer_config: &ConsumerGroupConfig,
    seed: u64,
    now_ms: i64,
) -> Result<LoadReport, String> {
    // KIP-848 groups are rebuilt from all their records at the end: compaction may leave
    // them in any order.
    let mut builders: HashMap<String, ConsumerGroupBuilder> = HashMap::new();
    let log = &shard.partition().log;
    let mut report = LoadReport::default();
    let mut state = shard.lock();
    for_each_batch(log, |header, records| {
        if header.is_control() {
            if header.producer_id >= 0 {
                let marker = RecordIter::new(records, header.record_count)
                    .next()
                    .and_then(Result::ok)
                    .map(|r| EndTxnMarker::parse(r.key, r.value));
                match marker {
                    Some(Ok(m)) => {
                        state.complete_txn(header.producer_id, !m.is_abort);
                    }
                    Some(Err(e)) => tracing::warn!(
                        error = %e,
                        offset = header.base_offset,
                        "skipping an unreadable transaction marker in {OFFSETS_TOPIC}"
                    ),
                    // The cleaner emptied it: its transaction is long decided.
                    None => {}
                }
            }
            return Ok(());
        }
        // The producer whose transaction holds these records, if any.
        let txn_producer =
            (header.is_transactional() && header.producer_id >= 0).then_some(header.producer_id);
        for record in RecordIter::new(records, header.record_count) {
            let record = record.map_err(|e| e.to_string())?;
            let at = header.base_offset + i64::from(record.offset_delta);
            report.records += 1;
            let Some(key) = record.key else {
                report.skipped += 1;
                continue;
            };
            if !replay(
                &mut state,
                &mut builders,
                key,
                record.value,
                (at, txn_producer),
                (config, consumer_config),
                seed,
                now_ms,
            ) {
                report.skipped += 1;
            }
        }
        Ok(())
    })?;
    for (group_id, builder) in builders {
        if let Some(consumer) = builder.finish(now_ms) {
            let slot = state.groups.entry(group_id.clone()).or_insert_with(|| {
                Slot::new(ClassicGroup::new(&group_id, config.clone(), seed, now_ms))
            });
            slot.consumer = Some(consumer);
        }
    }
    report.groups = state.groups.len();
    report.offsets = state.groups.values().map(|s| s.group.offsets().len()).sum();
    report.pending = state.txn_offsets.len();
    drop(state);
    shard.set_loaded();
    Ok(report)
}

/// Applies one record written at offset `at`, in the transaction of `txn_producer` if any;
/// false when it was skipped.
#[allow(clippy::too_many_arguments)]
fn replay(
    state: &mut ShardState,
    builders: &mut HashMap<String, ConsumerGroupBuilder>,
    key: &[u8],
    value: Option<&[u8]>,
    (at, txn_producer): (i64, Option<i64>),
    (config, consumer_config): (&GroupConfig, &ConsumerGroupConfig),
    seed: u64,
    now_ms: i64,
) -> bool {
    let new_group = |id: &str| ClassicGroup::new(id, config.clone(), seed, now_ms);
    let record = match records::decode_record(key, value) {
        Ok(record) => record,
        Err(e) => {
            tracing::warn!(error = %e, offset = at, "skipping an unreadable {OFFSETS_TOPIC} record");
            return false;
        }
    };
    match record {
        GroupRecord::OffsetCommit {
            group,
            partition,
            value: Some(committed),
        } => {
            let slot = state
                .groups
                .entry(group.clone())
                .or_insert_with(|| Slot::new(new_group(&group)));
            match txn_producer {
                None => slot.apply_commits(at, [(partition, committed)]),
                Some(producer_id) => {
                    let pending = PendingOffset {
                        record_offset: at,
                        committed,
                    };
                    state
                        .txn_offsets
                        .add(producer_id, &group, partition, pending);
                }
            }
        }
        GroupRecord::OffsetCommit {
            group,
            partition,
            value: None,
        } => {
            // A tombstone supersedes pending transactional offsets too, as in Kafka.
            state.txn_offsets.remove_partition(&group, &partition);
            if let Some(slot) = state.groups.get_mut(&group) {
                slot.group.remove_offset(&partition);
                slot.applied.remove(&partition);
            }
            drop_if_empty(state, &group);
        }
        GroupRecord::GroupMetadata {
            group,
            value: Some(meta),
        } => {
            let restored =
                ClassicGroup::from_metadata_value(&group, config.clone(), seed, meta, now_ms);
            let slot = state
                .groups
                .entry(group.clone())
                .or_insert_with(|| Slot::new(new_group(&group)));
            let offsets = std::mem::take(&mut slot.group.offsets);
            slot.group = restored;
            slot.group.offsets = offsets;
        }
        GroupRecord::GroupMetadata { group, value: None } => {
            if let Some(slot) = state.groups.get_mut(&group) {
                let offsets = std::mem::take(&mut slot.group.offsets);
                slot.group = new_group(&group);
                slot.group.offsets = offsets;
                drop_if_empty(state, &group);
            }
        }
        // KIP-848 consumer group records are not loaded yet: skipped, as before.
        GroupRecord::ConsumerGroup { group, record } => {
            builders
                .entry(group.clone())
                .or_insert_with(|| ConsumerGroupBuilder::new(group, consumer_config.clone(), seed))
                .replay(record);
        }
        GroupRecord::Other { .. } => return false,
    }
    true
}

/// Forgets a group left with no members, no generation and no offsets, pending ones
/// included.
fn drop_if_empty(state: &mut ShardState, group_id: &str) {
    let empty = state.groups.get(group_id).is_some_and(|s| {
        s.group.is_empty() && s.group.offsets().is_empty() && s.group.generation_id() == 0
    }) && !state.txn_offsets.has_group(group_id);
    if empty {
        state.groups.remove(group_id);
    }
}
