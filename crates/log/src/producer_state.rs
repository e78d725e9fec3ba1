//! The state of idempotent and transactional producers in one partition, after Kafka's
//! `ProducerStateManager`, `ProducerAppendInfo`, `ProducerStateEntry` and `BatchMetadata`.
//!
//! Why the log keeps it: an idempotent producer (`enable.idempotence=true`, the default of
//! the Java client and kafka-python 3) numbers its batches per partition with a producer id,
//! an epoch and a sequence, and resends a batch whose acknowledgement it did not get. The
//! partition must recognise the resent batch and answer with the offsets it was written
//! at, without writing it again; it must refuse a batch that skips ahead (records lost in
//! between) and one from a zombie producer whose epoch was superseded. That is only
//! exactly-once if the state survives restarts and crashes exactly as the log does, so it
//! lives here, next to the records it describes: rebuilt from the log at open (from a
//! snapshot, see `producer_log.rs` and `docs/on-disk-format.md`), cut with it at
//! truncation.
//!
//! The rules are Kafka's (`ProducerAppendInfo.checkProducerEpoch`/`checkSequence`,
//! `UnifiedLog.analyzeAndValidateProducerState`), for a batch with a producer id >= 0:
//!
//! 1. A data batch whose epoch is the producer's and whose first and last sequence are
//!    those of one of the producer's last [`BATCHES_TO_RETAIN`] batches is a duplicate: the
//!    append writes nothing and answers with the original offsets and timestamp.
//! 2. An epoch lower than the producer's is refused: `InvalidProducerEpoch` (a fenced
//!    zombie). Markers follow the transaction version 0/1 rule: an equal epoch passes.
//! 3. Same epoch: the batch must start right after the producer's last sequence
//!    (`i32::MAX` wraps to 0), else `OutOfOrderSequence`. A new, higher epoch must start
//!    at sequence 0. A producer the partition does not know (never seen, expired, or its
//!    records deleted) may start at any sequence: since KIP-360 Kafka no longer answers
//!    `UNKNOWN_PRODUCER_ID` here, so neither does this log.
//! 4. Transactions: a transactional batch opens the producer's transaction at its first
//!    offset if none is open; a non-transactional data batch while one is open is
//!    `InvalidTxnState`. A control batch (a COMMIT or ABORT marker written by the
//!    transaction coordinator) closes it and yields a [`CompletedTxn`]; a marker from an
//!    older coordinator epoch is `TransactionCoordinatorFenced`.
//!
//! A coordinator of this broker appending for a producer ([`AppendOrigin::Coordinator`]:
//! the group coordinator's transactional offset commits, which carry no sequence) skips
//! rules 1 and 3; rules 2 and 4 apply.
//!
//! Batches without a producer id (-1) are not tracked. Replaying the log at open applies
//! the same updates without the checks, as Kafka does for replication: what is in the log
//! was accepted once and must be taken as it is.
//!
//! The checks of one append run on copies of the entries it touches
//! ([`ProducerStateManager::check_append`]); the log applies them
//! ([`ProducerStateManager::apply`]) only once the bytes are written, so a refused or failed
//! append changes nothing, and a request of several batches is accepted or refused whole.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::batch::BatchHeader;
use crate::error::{BatchError, LogError, Result};
use crate::record::{records_of_batch, RecordIter};

#[cfg(test)]
mod tests;

/// How many of a producer's latest batches are remembered for duplicate detection: as many
/// as a producer may have in flight (`max.in.flight.requests.per.connection` <= 5 with
/// idempotence). Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`.
pub const BATCHES_TO_RETAIN: usize = 5;
/// The epoch of a producer the partition knows nothing of (Kafka's `NO_PRODUCER_EPOCH`).
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// The sequence of a producer with no batch in its current epoch (Kafka's `NO_SEQUENCE`).
pub const NO_SEQUENCE: i32 = -1;
/// `PRODUCER_SNAPSHOT_VERSION` of Kafka's `ProducerStateManager`.
pub const SNAPSHOT_VERSION: i16 = 1;

/// Bytes before the entries of a snapshot: version (2), crc (4), entry count (4).
const SNAPSHOT_HEADER_LEN: usize = 10;
/// Where the CRC-covered bytes start: after the version and the crc.
const SNAPSHOT_CRC_FROM: usize = 6;
/// One snapshot entry: 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8 bytes.
const SNAPSHOT_ENTRY_LEN: usize = 46;

/// `sequence + increment`, wrapping past `i32::MAX` to 0 (Kafka's
/// `DefaultRecordBatch.incrementSequence`).
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    let (s, i) = (i64::from(sequence), i64::from(increment));
    let r = if s > i64::from(i32::MAX) - i {
        i - (i64::from(i32::MAX) - s) - 1
    } else {
        s + i
    };
    r as i32
}

/// `sequence - decrement`, wrapping below 0 to `i32::MAX` (Kafka's
/// `DefaultRecordBatch.decrementSequence`).
pub fn decrement_sequence(sequence: i32, decrement: i32) -> i32 {
    let (s, d) = (i64::from(sequence), i64::from(decrement));
    let r = if s < d {
        i64::from(i32::MAX) - (d - s) + 1
    } else {
        s - d
    };
    r as i32
}

/// Does `next` follow `last`? (0 follows `i32::MAX`.)
fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// One of a producer's recent batches, as remembered for duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp (the broker's time under LogAppendTime).
    pub max_timestamp: i64,
}

/// What the partition knows of one producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateEntry {
    pub producer_id: i64,
    /// [`NO_PRODUCER_EPOCH`] until the producer's first batch.
    pub producer_epoch: i16,
    /// The epoch of the last transaction coordinator that wrote a marker; -1 for none.
    pub coordinator_epoch: i32,
    /// The max timestamp of the producer's last batch or marker: expiry counts from it.
    pub last_timestamp: i64,
    /// The first offset of the producer's open transaction.
    pub current_txn_first_offset: Option<i64>,
    /// The latest batches of the current epoch, oldest first, at most
    /// [`BATCHES_TO_RETAIN`].
    batches: VecDeque<BatchMetadata>,
}

impl ProducerStateEntry {
    fn empty(producer_id: i64) -> Self {
        Self {
            producer_id,
            producer_epoch: NO_PRODUCER_EPOCH,
            coordinator_epoch: -1,
            last_timestamp: -1,
            current_txn_first_offset: None,
            batches: VecDeque::with_capacity(BATCHES_TO_RETAIN),
        }
    }

    /// The remembered batches of the current epoch, oldest first.
    pub fn batches(&self) -> impl ExactSizeIterator<Item = &BatchMetadata> + '_ {
        self.batches.iter()
    }

    /// The last sequence written in the current epoch, or [`NO_SEQUENCE`].
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    /// Moves to `epoch`, forgetting the batches of the old one.
    fn set_epoch(&mut self, epoch: i16) {
        if self.producer_epoch != epoch {
            self.batches.clear();
            self.producer_epoch = epoch;
        }
    }

    fn add_batch(&mut self, epoch: i16, batch: BatchMetadata) {
        self.set_epoch(epoch);
        if self.batches.len() == BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
        self.last_timestamp = batch.max_timestamp;
    }

    /// The remembered batch that `batch` repeats, if any.
    fn find_duplicate(&self, batch: &ProducerBatch) -> Option<BatchMetadata> {
        if batch.producer_epoch != self.producer_epoch {
            return None;
        }
        let (first, last) = (batch.base_sequence, batch.last_sequence());
        self.batches
            .iter()
            .find(|b| b.first_seq == first && b.last_seq == last)
            .copied()
    }
}

/// A transaction that a COMMIT or ABORT marker closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompletedTxn {
    pub producer_id: i64,
    /// The offset of the transaction's first batch in this partition.
    pub first_offset: i64,
    /// The offset of the marker.
    pub last_offset: i64,
    pub is_aborted: bool,
}

/// The content of a COMMIT or ABORT control record (Kafka's `EndTransactionMarker`).
///
/// Key: version int16 (0), type int16 (0 ABORT, 1 COMMIT). Value: version int16 (0; a
/// later version is read as 0, its extra bytes ignored, as Kafka does), coordinatorEpoch
/// int32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    pub is_abort: bool,
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// Reads a marker from a control record's key and value.
    pub fn parse(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Self, BatchError> {
        let bad = |m: String| BatchError::InvalidRecord(m);
        let key = key.ok_or_else(|| bad("control record without a key".into()))?;
        if key.len() < 4 {
            return Err(bad(format!(
                "control record key of {} bytes: at least 4 are needed",
                key.len()
            )));
        }
        let version = i16::from_be_bytes([key[0], key[1]]);
        if version < 0 {
            return Err(bad(format!("control record key version {version}")));
        }
        let is_abort = match i16::from_be_bytes([key[2], key[3]]) {
            0 => true,
            1 => false,
            t => {
                return Err(bad(format!(
                    "control record type {t} is not a transaction marker"
                )))
            }
        };
        let value = value.ok_or_else(|| bad("transaction marker without a value".into()))?;
        if value.len() < 6 {
            return Err(bad(format!(
                "transaction marker value of {} bytes: at least 6 are needed",
                value.len()
            )));
        }
        let version = i16::from_be_bytes([value[0], value[1]]);
        if version < 0 {
            return Err(bad(format!("transaction marker value version {version}")));
        }
        let coordinator_epoch = i32::from_be_bytes([value[2], value[3], value[4], value[5]]);
        Ok(Self {
            is_abort,
            coordinator_epoch,
        })
    }
}

/// What a batch is to the producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// Records.
    Data,
    /// A COMMIT or ABORT marker.
    Marker(EndTxnMarker),
    /// A control batch with no records (the cleaner removed its marker): changes nothing.
    EmptyControl,
}

/// The fields of a batch with a producer id that the producer state reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub is_transactional: bool,
    pub kind: BatchKind,
}

impl ProducerBatch {
    /// From a data batch's header (its offsets as the header says), None without a
    /// producer id. A control batch needs [`ProducerBatch::from_batch`].
    ///
    /// A batch the cleaner emptied carries no max timestamp (so that no timestamp lookup
    /// stops at it) and keeps the original one as its base timestamp: that is the
    /// producer's last timestamp, which its expiry counts from.
    pub fn from_header(h: &BatchHeader) -> Option<Self> {
        let max_timestamp = if h.record_count == 0 && h.max_timestamp < 0 {
            h.base_timestamp
        } else {
            h.max_timestamp
        };
        (h.producer_id >= 0).then(|| Self {
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
            max_timestamp,
            is_transactional: h.is_transactional(),
            kind: BatchKind::Data,
        })
    }

    /// From a whole batch: for a control batch, its first record is read as a transaction
    /// marker (decompressing within `limit` bytes). None without a producer id.
    pub fn from_batch(batch: &[u8], limit: usize) -> Result<Option<Self>, BatchError> {
        let h = BatchHeader::parse(batch)?;
        let Some(mut b) = Self::from_header(&h) else {
            return Ok(None);
        };
        if h.is_control() {
            let (h, records) = records_of_batch(batch, limit)?;
            b.kind = match RecordIter::new(&records, h.record_count).next() {
                None => BatchKind::EmptyControl,
                Some(r) => {
                    let r = r?;
                    BatchKind::Marker(EndTxnMarker::parse(r.key, r.value)?)
                }
            };
        }
        Ok(Some(b))
    }

    /// The sequence of the batch's last record.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            return NO_SEQUENCE;
        }
        let delta = self.last_offset.saturating_sub(self.base_offset);
        increment_sequence(
            self.base_sequence,
            delta.clamp(0, i64::from(i32::MAX)) as i32,
        )
    }

    fn metadata(&self) -> BatchMetadata {
        BatchMetadata {
            first_seq: self.base_sequence,
            last_seq: self.last_sequence(),
            first_offset: self.base_offset,
            last_offset: self.last_offset,
            max_timestamp: self.max_timestamp,
        }
    }
}

/// A producer's last record, which compaction keeps so that the producer state survives a
/// replay of the cleaned log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastRecord {
    /// The last offset of the producer's last data batch; None when it has none in its
    /// current epoch (its last record is then a transaction marker of that epoch).
    pub last_data_offset: Option<i64>,
    pub producer_epoch: i16,
}

/// The verdict on one append's batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendCheck {
    /// A batch repeats one already written: write nothing, answer with this one's offsets
    /// and timestamp.
    Duplicate(BatchMetadata),
    /// Every batch passed: apply this once the bytes are written.
    Valid(ProducerAppend),
}

/// The producer state changes of one validated append, not yet applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerAppend {
    /// The updated entries of the producers the append names.
    entries: Vec<ProducerStateEntry>,
    txns: TxnChanges,
}

/// The transactions an append opens and closes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TxnChanges {
    /// (first offset, producer id).
    started: Vec<(i64, i64)>,
    completed: Vec<CompletedTxn>,
}

impl ProducerAppend {
    /// The transactions the append's markers close.
    pub fn completed_txns(&self) -> &[CompletedTxn] {
        &self.txns.completed
    }
}

/// Who appends (Kafka's `AppendOrigin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer: every rule applies.
    Client,
    /// A coordinator of this broker writing for a producer (the group coordinator's
    /// transactional offset commits, with no sequence): no sequence check and no duplicate
    /// detection; the epoch, transaction and coordinator epoch rules still apply.
    Coordinator,
}

/// Whether an update comes from an append (checked as its origin requires) or from the log
/// itself (replayed as it is, like Kafka's REPLICATION origin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Append(AppendOrigin),
    Replay,
}

/// Every producer of one partition, and its open and recently completed transactions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerStateEntry>,
    /// Open transactions: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
    /// Completed transactions whose marker may still be at or above the high watermark:
    /// by first offset. They stay unstable until the high watermark passes the marker.
    unstable: BTreeMap<i64, CompletedTxn>,
}

impl ProducerStateManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// Producers known.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty() && self.unstable.is_empty()
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    /// Every producer known, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &ProducerStateEntry> + '_ {
        self.producers.values()
    }

    /// Checks the batches of one append, in order, against the state and against each
    /// other. The batches carry the offsets the append would give them.
    pub fn check_append(&self, batches: &[ProducerBatch]) -> Result<AppendCheck> {
        self.check_append_from(batches, AppendOrigin::Client)
    }

    /// [`Self::check_append`] for an append from `origin`.
    pub fn check_append_from(
        &self,
        batches: &[ProducerBatch],
        origin: AppendOrigin,
    ) -> Result<AppendCheck> {
        let mut next = ProducerAppend::default();
        for b in batches {
            if b.kind == BatchKind::EmptyControl {
                continue;
            }
            let current = self.producers.get(&b.producer_id);
            if b.kind == BatchKind::Data && origin == AppendOrigin::Client {
                // Against what is written, as Kafka does: a retry repeats a batch the
                // partition acknowledged (or wrote without acknowledging), never one of
                // the same request.
                if let Some(dup) = current.and_then(|e| e.find_duplicate(b)) {
                    return Ok(AppendCheck::Duplicate(dup));
                }
            }
            let known_epoch = current.map_or(NO_PRODUCER_EPOCH, |e| e.producer_epoch);
            let at = match next
                .entries
                .iter()
                .position(|e| e.producer_id == b.producer_id)
            {
                Some(i) => i,
                None => {
                    next.entries.push(
                        current
                            .cloned()
                            .unwrap_or_else(|| ProducerStateEntry::empty(b.producer_id)),
                    );
                    next.entries.len() - 1
                }
            };
            update(
                &mut next.entries[at],
                b,
                known_epoch,
                Origin::Append(origin),
                &mut next.txns,
            )?;
        }
        Ok(AppendCheck::Valid(next))
    }

    /// Applies a validated append once its bytes are written. Returns the transactions it
    /// completed.
    pub fn apply(&mut self, append: ProducerAppend) -> Vec<CompletedTxn> {
        self.apply_with_lso(append)
            .into_iter()
            .map(|(txn, _)| txn)
            .collect()
    }

    /// [`Self::apply`], each completed transaction with the last stable offset right after
    /// its marker, as Kafka computes it for the aborted-transaction index
    /// (`ProducerStateManager.lastStableOffset(completedTxn)`): the first offset of the
    /// earliest transaction of another producer still open at that point (one completed
    /// later in the same append counts as open), else the marker's offset + 1.
    pub fn apply_with_lso(&mut self, append: ProducerAppend) -> Vec<(CompletedTxn, i64)> {
        for e in append.entries {
            self.producers.insert(e.producer_id, e);
        }
        for (first, producer_id) in append.txns.started {
            self.ongoing.insert(first, producer_id);
        }
        let mut out = Vec::with_capacity(append.txns.completed.len());
        for txn in append.txns.completed {
            let lso = self
                .ongoing
                .iter()
                .find(|(_, &pid)| pid != txn.producer_id)
                .map_or(txn.last_offset.saturating_add(1), |(&first, _)| first);
            self.ongoing.remove(&txn.first_offset);
            self.unstable.insert(txn.first_offset, txn);
            out.push((txn, lso));
        }
        out
    }

    /// Applies one batch read back from the log, without checks.
    pub fn replay(&mut self, batch: &ProducerBatch) -> Option<CompletedTxn> {
        self.replay_with_lso(batch).map(|(txn, _)| txn)
    }

    /// [`Self::replay`], the completed transaction with the last stable offset right after
    /// its marker (see [`Self::apply_with_lso`]).
    pub fn replay_with_lso(&mut self, batch: &ProducerBatch) -> Option<(CompletedTxn, i64)> {
        if batch.kind == BatchKind::EmptyControl {
            return None;
        }
        let mut entry = self
            .producers
            .remove(&batch.producer_id)
            .unwrap_or_else(|| ProducerStateEntry::empty(batch.producer_id));
        let mut next = ProducerAppend::default();
        let known = entry.producer_epoch;
        // Replay never fails: every check is skipped.
        let _ = update(&mut entry, batch, known, Origin::Replay, &mut next.txns);
        next.entries.push(entry);
        self.apply_with_lso(next).pop()
    }

    /// What the cleaner must keep of each producer (Kafka's `lastRecordsOfActiveProducers`):
    /// the last offset of its last data batch in its current epoch, and its epoch.
    pub fn last_records(&self) -> HashMap<i64, LastRecord> {
        self.producers
            .iter()
            .map(|(&pid, e)| {
                let last = LastRecord {
                    last_data_offset: e.batches.back().map(|b| b.last_offset),
                    producer_epoch: e.producer_epoch,
                };
                (pid, last)
            })
            .collect()
    }

    /// The first offset that is not yet stable given `high_watermark`: the first offset of
    /// the earliest open transaction, or of a completed one whose marker is at or above the
    /// high watermark (its outcome is not yet durable). The last stable offset is
    /// `min(this, high_watermark)`.
    pub fn first_unstable_offset(&self, high_watermark: i64) -> Option<i64> {
        let ongoing = self.ongoing.keys().next().copied();
        let completed = self
            .unstable
            .values()
            .find(|t| t.last_offset >= high_watermark)
            .map(|t| t.first_offset);
        match (ongoing, completed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forgets completed transactions whose marker is below `offset` (a high watermark
    /// never goes back below durable data).
    pub fn forget_completed_below(&mut self, offset: i64) {
        self.unstable.retain(|_, t| t.last_offset >= offset);
    }

    /// Removes producers idle for `expiration_ms` (`producer.id.expiration.ms`): whose
    /// last timestamp is that old, and that have no open transaction. Returns how many.
    pub fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    /// Encodes the state as a Kafka producer snapshot (version 1), entries by producer id:
    ///
    /// | field | type |
    /// |---|---|
    /// | version | int16 (1) |
    /// | crc | uint32: CRC-32C of every byte after it |
    /// | entry count | int32 |
    /// | per entry: producer_id | int64 |
    /// | epoch | int16 |
    /// | last_sequence | int32 (-1 for none) |
    /// | last_offset | int64 (-1 for none) |
    /// | offset_delta | int32: last offset − first offset of the last batch |
    /// | timestamp | int64: the entry's last timestamp |
    /// | coordinator_epoch | int32 |
    /// | current_txn_first_offset | int64 (-1 for none) |
    ///
    /// Only the last batch of each producer is kept, as in Kafka.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut ids: Vec<i64> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        let mut b = Vec::with_capacity(SNAPSHOT_HEADER_LEN + ids.len() * SNAPSHOT_ENTRY_LEN);
        b.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&(ids.len() as i32).to_be_bytes());
        for id in ids {
            let e = &self.producers[&id];
            let last = e.batches.back();
            b.extend_from_slice(&id.to_be_bytes());
            b.extend_from_slice(&e.producer_epoch.to_be_bytes());
            b.extend_from_slice(&e.last_seq().to_be_bytes());
            b.extend_from_slice(&last.map_or(-1, |l| l.last_offset).to_be_bytes());
            let delta = last.map_or(0, |l| {
                (l.last_offset - l.first_offset).clamp(0, i64::from(i32::MAX)) as i32
            });
            b.extend_from_slice(&delta.to_be_bytes());
            b.extend_from_slice(&e.last_timestamp.to_be_bytes());
            b.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            let txn = e.current_txn_first_offset.unwrap_or(-1);
            b.extend_from_slice(&txn.to_be_bytes());
        }
        let crc = crate::crc::crc32c(&b[SNAPSHOT_CRC_FROM..]);
        b[2..6].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// Decodes a snapshot written by [`Self::encode_snapshot`] (or by Kafka). Every length
    /// is checked against the bytes before use; anything off is an error, never a panic.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<Self, SnapshotError> {
        let corrupt = |m: String| Err(SnapshotError(m));
        if bytes.len() < SNAPSHOT_HEADER_LEN {
            return corrupt(format!("{} bytes: shorter than the header", bytes.len()));
        }
        let version = i16::from_be_bytes([bytes[0], bytes[1]]);
        if version != SNAPSHOT_VERSION {
            return corrupt(format!("unknown version {version}"));
        }
        let stored = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
        let computed = crate::crc::crc32c(&bytes[SNAPSHOT_CRC_FROM..]);
        if stored != computed {
            return corrupt(format!(
                "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ));
        }
        let count = i32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
        let body = &bytes[SNAPSHOT_HEADER_LEN..];
        match usize::try_from(count) {
            Ok(n) if n.checked_mul(SNAPSHOT_ENTRY_LEN) == Some(body.len()) => {}
            _ => {
                return corrupt(format!(
                    "{count} entries do not fill the {} bytes after the header",
                    body.len()
                ))
            }
        }
        let mut state = Self::new();
        for e in body.chunks_exact(SNAPSHOT_ENTRY_LEN) {
            let i64_at = |at: usize| i64::from_be_bytes(e[at..at + 8].try_into().expect("8"));
            let i32_at = |at: usize| i32::from_be_bytes(e[at..at + 4].try_into().expect("4"));
            let producer_id = i64_at(0);
            let epoch = i16::from_be_bytes([e[8], e[9]]);
            let last_seq = i32_at(10);
            let last_offset = i64_at(14);
            let offset_delta = i32_at(22);
            let timestamp = i64_at(26);
            let coordinator_epoch = i32_at(34);
            let txn = i64_at(38);
            if producer_id < 0 || offset_delta < 0 {
                return corrupt(format!(
                    "entry of producer {producer_id} with offset delta {offset_delta}"
                ));
            }
            let mut entry = ProducerStateEntry::empty(producer_id);
            entry.producer_epoch = epoch;
            entry.coordinator_epoch = coordinator_epoch;
            entry.last_timestamp = timestamp;
            entry.current_txn_first_offset = (txn >= 0).then_some(txn);
            if last_offset >= 0 {
                entry.batches.push_back(BatchMetadata {
                    first_seq: decrement_sequence(last_seq, offset_delta),
                    last_seq,
                    first_offset: last_offset.saturating_sub(i64::from(offset_delta)),
                    last_offset,
                    max_timestamp: timestamp,
                });
            }
            if let Some(first) = entry.current_txn_first_offset {
                if state.ongoing.insert(first, producer_id).is_some() {
                    return corrupt(format!("two transactions start at offset {first}"));
                }
            }
            if state.producers.insert(producer_id, entry).is_some() {
                return corrupt(format!("producer {producer_id} appears twice"));
            }
        }
        Ok(state)
    }
}

/// A snapshot that does not decode: the loader skips it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt producer snapshot: {0}")]
pub struct SnapshotError(pub String);

/// Applies one batch to `entry`, checking it first when it comes from a client.
/// `known_epoch` is the epoch the partition had for the producer before this append
/// ([`NO_PRODUCER_EPOCH`] for an unknown producer).
fn update(
    entry: &mut ProducerStateEntry,
    b: &ProducerBatch,
    known_epoch: i16,
    origin: Origin,
    next: &mut TxnChanges,
) -> Result<()> {
    let checked = origin != Origin::Replay;
    if b.kind == BatchKind::EmptyControl {
        return Ok(());
    }
    if checked && b.producer_epoch < entry.producer_epoch {
        return Err(LogError::InvalidProducerEpoch {
            producer_id: b.producer_id,
            producer_epoch: b.producer_epoch,
            current_epoch: entry.producer_epoch,
        });
    }
    match b.kind {
        BatchKind::EmptyControl => {}
        BatchKind::Data => {
            if origin == Origin::Append(AppendOrigin::Client) {
                check_sequence(entry, b, known_epoch)?;
            }
            entry.add_batch(b.producer_epoch, b.metadata());
            match entry.current_txn_first_offset {
                Some(first) if !b.is_transactional && checked => {
                    return Err(LogError::InvalidTxnState {
                        producer_id: b.producer_id,
                        txn_first_offset: first,
                    });
                }
                None if b.is_transactional => {
                    entry.current_txn_first_offset = Some(b.base_offset);
                    next.started.push((b.base_offset, b.producer_id));
                }
                _ => {}
            }
        }
        BatchKind::Marker(m) => {
            if checked && entry.coordinator_epoch > m.coordinator_epoch {
                return Err(LogError::TransactionCoordinatorFenced {
                    producer_id: b.producer_id,
                    coordinator_epoch: m.coordinator_epoch,
                    current_coordinator_epoch: entry.coordinator_epoch,
                });
            }
            // Only a marker that ends data is a completed transaction: an empty one moves
            // neither the last stable offset nor the aborted-transaction index.
            if let Some(first) = entry.current_txn_first_offset.take() {
                next.completed.push(CompletedTxn {
                    producer_id: b.producer_id,
                    first_offset: first,
                    last_offset: b.base_offset,
                    is_aborted: m.is_abort,
                });
            }
            entry.set_epoch(b.producer_epoch);
            entry.coordinator_epoch = m.coordinator_epoch;
            entry.last_timestamp = b.max_timestamp;
        }
    }
    Ok(())
}

/// Kafka's `ProducerAppendInfo.checkSequence` for a client's data batch.
fn check_sequence(entry: &ProducerStateEntry, b: &ProducerBatch, known_epoch: i16) -> Result<()> {
    let first = b.base_sequence;
    let refuse = |expected: i32| {
        Err(LogError::OutOfOrderSequence {
            producer_id: b.producer_id,
            producer_epoch: b.producer_epoch,
            sequence: first,
            expected,
        })
    };
    if b.producer_epoch != entry.producer_epoch {
        // A new epoch starts over at 0; an unknown producer may start anywhere.
        if first != 0 && entry.producer_epoch != NO_PRODUCER_EPOCH {
            return refuse(0);
        }
        return Ok(());
    }
    let last = entry.last_seq();
    if known_epoch == NO_PRODUCER_EPOCH || in_sequence(last, first) {
        return Ok(());
    }
    refuse(increment_sequence(last, 1).max(0))
}
