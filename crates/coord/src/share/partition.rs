//! The state of one partition of a share group (KIP-932's *share-partition*): which records
//! of the log the group has delivered, to whom, how often, and which are done.
//!
//! Offsets below the share-partition start offset (SPSO, [`SharePartition::start_offset`])
//! are done. Every offset from there up to the end offset ([`SharePartition::end_offset`],
//! one past the last offset ever acquired) is *in flight*, in one of four states:
//!
//! | state | meaning | becomes |
//! |---|---|---|
//! | Available | may be delivered (again) | Acquired, by a fetch |
//! | Acquired | delivered to one member, under a lock with a deadline | Acknowledged (ACCEPT), Available (RELEASE, lock timeout, member gone), Archived (REJECT, GAP, or RELEASE at the delivery limit), Acquired again with a new deadline (RENEW) |
//! | Acknowledged | processed | the start offset moves past it |
//! | Archived | given up on (rejected, a gap, or delivered too often) | the start offset moves past it |
//!
//! The start offset moves past every leading Acknowledged or Archived offset. New records
//! are acquired only while fewer than `max_in_flight` offsets are in flight (Kafka's
//! `group.share.partition.max.record.locks`), so the state held here is bounded.
//!
//! Pure and deterministic: time is passed in, nothing is read or written here. The
//! coordinator persists [`SharePartition::snapshot`] after each change it must keep and
//! rebuilds with [`SharePartition::restore`]: acquisitions are not persisted (Kafka's
//! share-partition leader does not persist them either), so after a restart an acquired
//! record is available again, with the delivery count it had when last written.

use std::collections::BTreeMap;

/// Kafka's acknowledgement types (`AcknowledgeType`): the wire's `AcknowledgeTypes`.
pub const ACK_GAP: i8 = 0;
pub const ACK_ACCEPT: i8 = 1;
pub const ACK_RELEASE: i8 = 2;
pub const ACK_REJECT: i8 = 3;
/// KIP-1222: the member keeps the record and its acquisition lock starts again.
pub const ACK_RENEW: i8 = 4;

/// How many records one fetch may acquire of a share-partition (KIP-1206's acquire modes,
/// the wire's `ShareAcquireMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordLimit {
    /// About this many (`batch_optimized`, mode 0): new records whole batch by whole
    /// batch, so the last batch may take the count past it.
    Batches(usize),
    /// At most this many (`record_limit`, mode 1): a batch is split where the count is
    /// reached, and the rest of it is acquired by a later fetch.
    Records(usize),
}

impl From<usize> for RecordLimit {
    fn from(n: usize) -> Self {
        RecordLimit::Batches(n)
    }
}

/// The state of one in-flight offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordState {
    Available,
    /// Delivered to `member`, locked until `deadline_ms`.
    Acquired {
        member: String,
        deadline_ms: i64,
    },
    Acknowledged,
    Archived,
}

impl RecordState {
    /// Kafka's persisted delivery state codes (`RecordState.id`): 0 available, 1 acquired,
    /// 2 acknowledged, 4 archived.
    pub fn code(&self) -> i8 {
        match self {
            RecordState::Available => 0,
            RecordState::Acquired { .. } => 1,
            RecordState::Acknowledged => 2,
            RecordState::Archived => 4,
        }
    }

    fn is_done(&self) -> bool {
        matches!(self, RecordState::Acknowledged | RecordState::Archived)
    }
}

/// One in-flight offset.
#[derive(Debug, Clone, PartialEq, Eq)]
struct InFlight {
    state: RecordState,
    delivery_count: i16,
}

/// A run of offsets delivered in one fetch with the same delivery count: the wire's
/// `AcquiredRecords`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acquired {
    pub first_offset: i64,
    pub last_offset: i64,
    pub delivery_count: i16,
}

/// A run of offsets with one persisted state and delivery count (Kafka's `StateBatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateBatch {
    pub first_offset: i64,
    pub last_offset: i64,
    /// [`RecordState::code`]: 0, 2 or 4 (an acquisition is written as available).
    pub state: i8,
    pub delivery_count: i16,
}

/// An acknowledgement: offsets `first_offset..=last_offset`, with one type for all of them
/// or one per offset (the wire's `AcknowledgementBatch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckBatch {
    pub first_offset: i64,
    pub last_offset: i64,
    pub types: Vec<i8>,
}

/// Why an acknowledgement was refused; nothing of it was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// A batch that is malformed: reversed, overlapping the one before, or with a type
    /// count or type Kafka does not accept (INVALID_REQUEST).
    #[error("{0}")]
    InvalidRequest(String),
    /// An offset the member does not hold (INVALID_RECORD_STATE).
    #[error("offset {offset} is not acquired by this member")]
    InvalidRecordState { offset: i64 },
}

/// The highest `group.share.partition.max.record.locks` Kafka accepts (and Myelin's config
/// check): the most offsets one share-partition holds in flight.
pub const MAX_RECORD_LOCKS: i64 = 10_000;

/// The limits a share-partition works under (Kafka's `group.share.*` configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `group.share.delivery.count.limit`: a record delivered this often is archived
    /// instead of being made available again.
    pub delivery_count_limit: i16,
    /// `group.share.partition.max.record.locks`: the most offsets in flight.
    pub max_in_flight: i64,
    /// `group.share.record.lock.duration.ms`: how long an acquisition lasts.
    pub lock_duration_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            delivery_count_limit: 5,
            max_in_flight: 2000,
            lock_duration_ms: 30_000,
        }
    }
}

/// One share-partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePartition {
    start_offset: i64,
    /// Every offset of `start_offset..end_offset` has an entry.
    in_flight: BTreeMap<i64, InFlight>,
    end_offset: i64,
    /// No lock expires before this (a lower bound, exact after [`Self::expire_locks`]),
    /// so that the coordinator's timer looks at a partition only when one may have.
    lock_hint: Option<i64>,
}

impl SharePartition {
    /// A share-partition that starts delivering at `start_offset`.
    pub fn new(start_offset: i64) -> Self {
        let start = start_offset.max(0);
        SharePartition {
            start_offset: start,
            in_flight: BTreeMap::new(),
            end_offset: start,
            lock_hint: None,
        }
    }

    /// Rebuilt from what [`Self::snapshot`] returned. What lies between batches is
    /// available; batches beyond [`MAX_RECORD_LOCKS`] offsets past the start (more than any
    /// valid `group.share.partition.max.record.locks` lets in flight) are ignored, so that a
    /// damaged record cannot make the state grow without bound.
    pub fn restore(start_offset: i64, batches: &[StateBatch], limits: &Limits) -> Self {
        let mut p = SharePartition::new(start_offset);
        let cap = p
            .start_offset
            .saturating_add(limits.max_in_flight.max(MAX_RECORD_LOCKS));
        for b in batches {
            let first = b.first_offset.max(p.end_offset);
            let last = b.last_offset.min(cap - 1);
            if first > last {
                continue;
            }
            let state = match b.state {
                2 => RecordState::Acknowledged,
                4 => RecordState::Archived,
                _ => RecordState::Available,
            };
            for offset in p.end_offset..first {
                p.in_flight.insert(offset, available(0));
            }
            for offset in first..=last {
                p.in_flight.insert(
                    offset,
                    InFlight {
                        state: state.clone(),
                        delivery_count: b.delivery_count.max(0),
                    },
                );
            }
            p.end_offset = last + 1;
        }
        p.advance_start();
        p
    }

    /// The share-partition start offset: every offset below it is done.
    pub fn start_offset(&self) -> i64 {
        self.start_offset
    }

    /// One past the last offset ever acquired (at least the start offset).
    pub fn end_offset(&self) -> i64 {
        self.end_offset
    }

    /// Offsets in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The state of `offset`, when it is in flight.
    pub fn state_of(&self, offset: i64) -> Option<(&RecordState, i16)> {
        self.in_flight
            .get(&offset)
            .map(|r| (&r.state, r.delivery_count))
    }

    /// Where a fetch for this partition reads the log from: the first available offset in
    /// flight, else the end offset when there is room for more, else nothing to acquire.
    pub fn fetch_offset(&self, limits: &Limits) -> Option<i64> {
        if let Some((&offset, _)) = self
            .in_flight
            .iter()
            .find(|(_, r)| r.state == RecordState::Available)
        {
            return Some(offset);
        }
        (self.end_offset - self.start_offset < limits.max_in_flight.max(1))
            .then_some(self.end_offset)
    }

    /// The records below `end_offset` (the partition's high watermark) at or past the
    /// start offset that are not done with yet (not acknowledged nor archived): those not
    /// yet delivered, in flight, or available again (KIP-1226's share-partition lag).
    pub fn lag(&self, end_offset: i64) -> i64 {
        let done = self
            .in_flight
            .range(self.start_offset..end_offset.max(self.start_offset))
            .filter(|(_, r)| r.state.is_done())
            .count();
        (end_offset - self.start_offset - i64::try_from(done).unwrap_or(i64::MAX)).max(0)
    }

    /// The log's start offset moved to `log_start` (retention, DeleteRecords): what lies
    /// below it cannot be delivered any more.
    pub fn log_start_moved(&mut self, log_start: i64) -> bool {
        if log_start <= self.start_offset {
            return false;
        }
        self.in_flight = self.in_flight.split_off(&log_start);
        self.start_offset = log_start;
        self.end_offset = self.end_offset.max(log_start);
        self.advance_start();
        true
    }

    /// Acquires for `member` the offsets of `batches` (the log's batches from
    /// [`Self::fetch_offset`] on, as `(base offset, last offset)` in order), up to about
    /// `max_records`: available in-flight offsets one by one, new ones whole batch by whole
    /// batch (an offset between two batches, left by compaction, is acquired with the
    /// batch after it; the client acknowledges it as a gap), never more than
    /// `max_in_flight` offsets in flight (a batch that crosses the bound is taken up to it).
    /// Returns the runs acquired.
    pub fn acquire(
        &mut self,
        member: &str,
        batches: &[(i64, i64)],
        limit: impl Into<RecordLimit>,
        limits: &Limits,
        now_ms: i64,
    ) -> Vec<Acquired> {
        self.acquire_committed(member, batches, &[], limit, limits, now_ms)
    }

    /// [`Self::acquire`], but the offsets of `aborted` (ranges `(first, last)` in order:
    /// the records of aborted transactions, for a `read_committed` share group) are
    /// archived instead, as Kafka's share-partition archives them: never delivered, their
    /// delivery count unchanged, and done.
    pub fn acquire_committed(
        &mut self,
        member: &str,
        batches: &[(i64, i64)],
        aborted: &[(i64, i64)],
        limit: impl Into<RecordLimit>,
        limits: &Limits,
        now_ms: i64,
    ) -> Vec<Acquired> {
        let (max_records, split_batches) = match limit.into() {
            RecordLimit::Batches(n) => (n.max(1), false),
            RecordLimit::Records(n) => (n.max(1), true),
        };
        let is_aborted = |offset: i64| {
            let i = aborted.partition_point(|&(_, last)| last < offset);
            aborted.get(i).is_some_and(|&(first, _)| first <= offset)
        };
        let deadline_ms = now_ms.saturating_add(limits.lock_duration_ms);
        let cap = self
            .start_offset
            .saturating_add(limits.max_in_flight.max(1));
        let mut got: Vec<Acquired> = Vec::new();
        let mut count = 0usize;
        let take = |offset: i64, delivery_count: i16, got: &mut Vec<Acquired>| match got.last_mut()
        {
            Some(run) if run.last_offset + 1 == offset && run.delivery_count == delivery_count => {
                run.last_offset = offset;
            }
            _ => got.push(Acquired {
                first_offset: offset,
                last_offset: offset,
                delivery_count,
            }),
        };
        for &(base, last) in batches {
            if count >= max_records || last < base {
                break;
            }
            // Offsets already in flight: the available ones, one by one.
            let upto = last.min(self.end_offset - 1);
            if base.max(self.start_offset) <= upto {
                for (&offset, r) in self.in_flight.range_mut(base.max(self.start_offset)..=upto) {
                    if count >= max_records {
                        break;
                    }
                    if r.state == RecordState::Available && is_aborted(offset) {
                        r.state = RecordState::Archived;
                    } else if r.state == RecordState::Available
                        && r.delivery_count >= limits.delivery_count_limit
                    {
                        // Delivered as often as allowed (before a restart, or under a
                        // higher limit): archived, not delivered again.
                        r.state = RecordState::Archived;
                    } else if r.state == RecordState::Available {
                        r.delivery_count = r.delivery_count.saturating_add(1);
                        r.state = RecordState::Acquired {
                            member: member.to_string(),
                            deadline_ms,
                        };
                        take(offset, r.delivery_count, &mut got);
                        count += 1;
                    }
                }
            }
            // New offsets: the whole rest of the batch, while there is room.
            if last >= self.end_offset {
                if self.end_offset >= cap || count >= max_records {
                    break;
                }
                // Never past the bound: the rest of a batch that crosses it waits, as
                // does the rest past the record limit in `record_limit` mode.
                let mut upto_new = last.min(cap - 1);
                if split_batches {
                    let room = i64::try_from(max_records - count).unwrap_or(i64::MAX);
                    upto_new = upto_new.min(self.end_offset.saturating_add(room) - 1);
                }
                for offset in self.end_offset..=upto_new {
                    if is_aborted(offset) {
                        self.in_flight.insert(
                            offset,
                            InFlight {
                                state: RecordState::Archived,
                                delivery_count: 0,
                            },
                        );
                        continue;
                    }
                    self.in_flight.insert(
                        offset,
                        InFlight {
                            state: RecordState::Acquired {
                                member: member.to_string(),
                                deadline_ms,
                            },
                            delivery_count: 1,
                        },
                    );
                    take(offset, 1, &mut got);
                    count += 1;
                }
                self.end_offset = upto_new + 1;
            }
        }
        if !got.is_empty() {
            self.lock_hint = Some(self.lock_hint.map_or(deadline_ms, |h| h.min(deadline_ms)));
        }
        self.advance_start();
        got
    }

    /// Applies `acks` from `member` at `now_ms`: all of them or, on an error, none.
    /// Returns whether anything changed that must be persisted (every applied
    /// acknowledgement does but RENEW, which only moves a lock's deadline).
    pub fn acknowledge(
        &mut self,
        member: &str,
        acks: &[AckBatch],
        limits: &Limits,
        now_ms: i64,
    ) -> Result<bool, AckError> {
        // Check everything first.
        let mut previous_last: Option<i64> = None;
        for ack in acks {
            if ack.last_offset < ack.first_offset {
                return Err(AckError::InvalidRequest(format!(
                    "acknowledgement batch {}..{} is reversed",
                    ack.first_offset, ack.last_offset
                )));
            }
            if previous_last.is_some_and(|p| ack.first_offset <= p) {
                return Err(AckError::InvalidRequest(
                    "acknowledgement batches overlap or are out of order".into(),
                ));
            }
            previous_last = Some(ack.last_offset);
            let len = ack.last_offset - ack.first_offset + 1;
            let n = i64::try_from(ack.types.len()).unwrap_or(i64::MAX);
            if n != 1 && n != len {
                return Err(AckError::InvalidRequest(format!(
                    "acknowledgement batch {}..{} has {} types",
                    ack.first_offset, ack.last_offset, n
                )));
            }
            if let Some(t) = ack
                .types
                .iter()
                .find(|t| !(ACK_GAP..=ACK_RENEW).contains(*t))
            {
                return Err(AckError::InvalidRequest(format!(
                    "unknown acknowledgement type {t}"
                )));
            }
            for offset in ack.first_offset..=ack.last_offset {
                match self.in_flight.get(&offset) {
                    Some(InFlight {
                        state: RecordState::Acquired { member: m, .. },
                        ..
                    }) if m == member => {}
                    _ => return Err(AckError::InvalidRecordState { offset }),
                }
            }
        }
        let mut changed = false;
        for ack in acks {
            for (i, offset) in (ack.first_offset..=ack.last_offset).enumerate() {
                let t = if ack.types.len() == 1 {
                    ack.types[0]
                } else {
                    ack.types[i]
                };
                if let Some(r) = self.in_flight.get_mut(&offset) {
                    if t == ACK_RENEW {
                        r.state = RecordState::Acquired {
                            member: member.to_string(),
                            deadline_ms: now_ms.saturating_add(limits.lock_duration_ms),
                        };
                        continue;
                    }
                    r.state = match t {
                        ACK_ACCEPT => RecordState::Acknowledged,
                        ACK_RELEASE if r.delivery_count < limits.delivery_count_limit => {
                            RecordState::Available
                        }
                        _ => RecordState::Archived,
                    };
                    changed = true;
                }
            }
        }
        self.advance_start();
        Ok(changed)
    }

    /// Makes every record `member` holds available again (or archived at the delivery
    /// limit): the member left, its session closed or ended. Whether anything changed.
    pub fn release_member(&mut self, member: &str, limits: &Limits) -> bool {
        let mut changed = false;
        for r in self.in_flight.values_mut() {
            if matches!(&r.state, RecordState::Acquired { member: m, .. } if m == member) {
                r.state = released(r.delivery_count, limits);
                changed = true;
            }
        }
        self.advance_start();
        changed
    }

    /// Ends the acquisitions whose lock expired by `now_ms`. Whether anything changed.
    pub fn expire_locks(&mut self, now_ms: i64, limits: &Limits) -> bool {
        if self.lock_hint.is_none_or(|h| h > now_ms) {
            return false;
        }
        let mut changed = false;
        let mut next: Option<i64> = None;
        for r in self.in_flight.values_mut() {
            if let RecordState::Acquired { deadline_ms, .. } = &r.state {
                if *deadline_ms <= now_ms {
                    r.state = released(r.delivery_count, limits);
                    changed = true;
                } else {
                    next = Some(next.map_or(*deadline_ms, |n| n.min(*deadline_ms)));
                }
            }
        }
        self.lock_hint = next;
        self.advance_start();
        changed
    }

    /// No acquisition's lock expires before this; `None` when nothing is locked since the
    /// last [`Self::expire_locks`]. A lower bound: a lock settled early still counts.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.lock_hint
    }

    /// Moves the start offset to `offset` and forgets everything in flight
    /// (AlterShareGroupOffsets, with no member in the group).
    pub fn reset(&mut self, offset: i64) {
        *self = SharePartition::new(offset);
    }

    /// The state to persist: the start offset, and the in-flight offsets as runs of one
    /// state and delivery count (acquired ones as available).
    pub fn snapshot(&self) -> (i64, Vec<StateBatch>) {
        let mut out: Vec<StateBatch> = Vec::new();
        for (&offset, r) in &self.in_flight {
            let state = match r.state {
                RecordState::Acquired { .. } => 0,
                ref s => s.code(),
            };
            match out.last_mut() {
                Some(b)
                    if b.last_offset + 1 == offset
                        && b.state == state
                        && b.delivery_count == r.delivery_count =>
                {
                    b.last_offset = offset;
                }
                _ => out.push(StateBatch {
                    first_offset: offset,
                    last_offset: offset,
                    state,
                    delivery_count: r.delivery_count,
                }),
            }
        }
        (self.start_offset, out)
    }

    fn advance_start(&mut self) {
        while let Some(entry) = self.in_flight.first_entry() {
            if !entry.get().state.is_done() {
                break;
            }
            let offset = *entry.key();
            entry.remove();
            self.start_offset = offset + 1;
        }
        if self.in_flight.is_empty() {
            self.start_offset = self.start_offset.max(self.end_offset);
            self.end_offset = self.start_offset;
        }
    }
}

fn available(delivery_count: i16) -> InFlight {
    InFlight {
        state: RecordState::Available,
        delivery_count,
    }
}

fn released(delivery_count: i16, limits: &Limits) -> RecordState {
    if delivery_count >= limits.delivery_count_limit {
        RecordState::Archived
    } else {
        RecordState::Available
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn ack(first: i64, last: i64, t: i8) -> AckBatch {
        AckBatch {
            first_offset: first,
            last_offset: last,
            types: vec![t],
        }
    }

    fn run(first_offset: i64, last_offset: i64, delivery_count: i16) -> Acquired {
        Acquired {
            first_offset,
            last_offset,
            delivery_count,
        }
    }

    #[test]
    fn renew_restarts_the_lock_and_keeps_the_record() {
        let l = limits();
        let mut p = SharePartition::new(0);
        p.acquire("a", &[(0, 4)], 10, &l, 0);
        // Renewed 20 s into a 30 s lock: it now runs to 50 s. Nothing to persist.
        assert_eq!(
            p.acknowledge("a", &[ack(0, 1, ACK_RENEW)], &l, 20_000),
            Ok(false)
        );
        // At 30 s the others expire; the renewed ones are still the member's.
        assert!(p.expire_locks(l.lock_duration_ms, &l));
        assert_eq!(
            p.state_of(0),
            Some((
                &RecordState::Acquired {
                    member: "a".into(),
                    deadline_ms: 20_000 + l.lock_duration_ms
                },
                1
            ))
        );
        assert_eq!(p.state_of(2), Some((&RecordState::Available, 1)));
        // Only the holder renews; a record no one holds cannot be renewed.
        assert_eq!(
            p.acknowledge("b", &[ack(0, 0, ACK_RENEW)], &l, 21_000),
            Err(AckError::InvalidRecordState { offset: 0 })
        );
        assert_eq!(
            p.acknowledge("a", &[ack(2, 2, ACK_RENEW)], &l, 21_000),
            Err(AckError::InvalidRecordState { offset: 2 })
        );
        // Past the renewed deadline the lock ends as any other.
        assert!(p.expire_locks(20_000 + l.lock_duration_ms, &l));
        assert_eq!(p.state_of(0), Some((&RecordState::Available, 1)));
        // A type past RENEW is refused.
        p.acquire("a", &[(0, 4)], 10, &l, 0);
        assert!(matches!(
            p.acknowledge("a", &[ack(0, 0, ACK_RENEW + 1)], &l, 0),
            Err(AckError::InvalidRequest(_))
        ));
    }

    #[test]
    fn record_limit_splits_a_batch_where_batch_optimized_takes_it_whole() {
        let l = limits();
        let mut whole = SharePartition::new(0);
        assert_eq!(
            whole.acquire("a", &[(0, 9)], RecordLimit::Batches(3), &l, 0),
            vec![run(0, 9, 1)]
        );
        let mut p = SharePartition::new(0);
        assert_eq!(
            p.acquire("a", &[(0, 9)], RecordLimit::Records(3), &l, 0),
            vec![run(0, 2, 1)]
        );
        assert_eq!(p.end_offset(), 3);
        // The same batch, read again from its base: the next three.
        assert_eq!(
            p.acquire("b", &[(0, 9)], RecordLimit::Records(3), &l, 0),
            vec![run(3, 5, 1)]
        );
        // Released records count against the limit as new ones do.
        p.acknowledge("a", &[ack(0, 2, ACK_RELEASE)], &l, 0)
            .unwrap();
        assert_eq!(
            p.acquire("c", &[(0, 9)], RecordLimit::Records(4), &l, 0),
            vec![run(0, 2, 2), run(6, 6, 1)]
        );
        assert_eq!(p.end_offset(), 7);
    }

    #[test]
    fn the_lag_counts_what_is_not_done_below_the_end() {
        let l = limits();
        let mut p = SharePartition::new(0);
        assert_eq!(p.lag(20), 20);
        p.acquire("a", &[(0, 9)], 100, &l, 0);
        // Acquired records are not done: still lag.
        assert_eq!(p.lag(20), 20);
        p.acknowledge("a", &[ack(0, 4, 1), ack(7, 7, 3)], &l, 0)
            .unwrap();
        // 0-4 accepted (the start moved to 5), 7 rejected (archived).
        assert_eq!(p.start_offset(), 5);
        assert_eq!(p.lag(20), 14);
        // Only what lies below the end counts; never negative.
        assert_eq!(p.lag(8), 2);
        assert_eq!(p.lag(3), 0);
    }

    #[test]
    fn read_committed_archives_the_records_of_aborted_transactions() {
        let l = limits();
        let mut p = SharePartition::new(0);
        // Batches 0-4 (committed), 5 (marker), 6-10 (aborted), 11 (marker), 12-14.
        let batches = [(0, 4), (5, 5), (6, 10), (11, 11), (12, 14)];
        let got = p.acquire_committed("a", &batches, &[(6, 10)], 100, &l, 0);
        let runs: Vec<(i64, i64, i16)> = got
            .iter()
            .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
            .collect();
        assert_eq!(runs, [(0, 5, 1), (11, 14, 1)]);
        assert_eq!(p.state_of(8), Some((&RecordState::Archived, 0)));
        // Once everything before them is done, the archived records are done too.
        p.acknowledge("a", &[ack(0, 5, 1), ack(11, 14, 1)], &l, 0)
            .unwrap();
        assert_eq!(p.start_offset(), 15);
        assert_eq!(p.in_flight(), 0);

        // Records already in flight and available again (released) are archived when an
        // acquisition finds them aborted, never delivered again.
        let mut p = SharePartition::new(0);
        p.acquire("a", &[(0, 9)], 100, &l, 0);
        p.acknowledge("a", &[ack(0, 9, 2)], &l, 0).unwrap();
        let got = p.acquire_committed("b", &[(0, 9)], &[(3, 5)], 100, &l, 0);
        let runs: Vec<(i64, i64)> = got
            .iter()
            .map(|a| (a.first_offset, a.last_offset))
            .collect();
        assert_eq!(runs, [(0, 2), (6, 9)]);
        assert_eq!(p.state_of(4), Some((&RecordState::Archived, 1)));
        // Nothing aborted: as acquire.
        let mut q = SharePartition::new(0);
        let got = q.acquire_committed("a", &[(0, 3)], &[], 100, &l, 0);
        assert_eq!((got[0].first_offset, got[0].last_offset), (0, 3));
    }

    #[test]
    fn acquires_whole_batches_and_moves_the_start_on_accept() {
        let mut p = SharePartition::new(10);
        assert_eq!(p.fetch_offset(&limits()), Some(10));
        let got = p.acquire("a", &[(10, 14), (15, 19)], 3, &limits(), 0);
        // The first batch is taken whole although it holds more than max_records.
        assert_eq!(
            got,
            vec![Acquired {
                first_offset: 10,
                last_offset: 14,
                delivery_count: 1
            }]
        );
        assert_eq!(p.end_offset(), 15);
        assert_eq!(p.fetch_offset(&limits()), Some(15));
        // Another member gets the next batch, not the same records.
        let got = p.acquire("b", &[(15, 19)], 10, &limits(), 0);
        assert_eq!((got[0].first_offset, got[0].last_offset), (15, 19));
        assert!(p
            .acknowledge("a", &[ack(10, 14, ACK_ACCEPT)], &limits(), 0)
            .unwrap());
        assert_eq!(p.start_offset(), 15);
        assert!(p
            .acknowledge("b", &[ack(15, 19, ACK_ACCEPT)], &limits(), 0)
            .unwrap());
        assert_eq!((p.start_offset(), p.in_flight()), (20, 0));
    }

    #[test]
    fn only_the_holder_may_acknowledge_and_a_refused_ack_changes_nothing() {
        let mut p = SharePartition::new(0);
        p.acquire("a", &[(0, 4)], 10, &limits(), 0);
        let before = p.clone();
        assert_eq!(
            p.acknowledge("b", &[ack(0, 0, ACK_ACCEPT)], &limits(), 0),
            Err(AckError::InvalidRecordState { offset: 0 })
        );
        // A batch that reaches past what is held is refused whole, its first part too.
        assert_eq!(
            p.acknowledge("a", &[ack(3, 5, ACK_ACCEPT)], &limits(), 0),
            Err(AckError::InvalidRecordState { offset: 5 })
        );
        assert!(matches!(
            p.acknowledge(
                "a",
                &[ack(0, 1, ACK_ACCEPT), ack(1, 2, ACK_ACCEPT)],
                &limits(),
                0
            ),
            Err(AckError::InvalidRequest(_))
        ));
        assert!(matches!(
            p.acknowledge(
                "a",
                &[AckBatch {
                    first_offset: 0,
                    last_offset: 2,
                    types: vec![1, 1]
                }],
                &limits(),
                0
            ),
            Err(AckError::InvalidRequest(_))
        ));
        assert!(matches!(
            p.acknowledge("a", &[ack(0, 0, 9)], &limits(), 0),
            Err(AckError::InvalidRequest(_))
        ));
        assert_eq!(p, before);
        // Acknowledged once, an offset cannot be acknowledged again.
        p.acknowledge("a", &[ack(0, 0, ACK_ACCEPT)], &limits(), 0)
            .unwrap();
        assert_eq!(
            p.acknowledge("a", &[ack(0, 0, ACK_ACCEPT)], &limits(), 0),
            Err(AckError::InvalidRecordState { offset: 0 })
        );
    }

    #[test]
    fn released_records_are_redelivered_with_a_higher_count_until_the_limit() {
        let l = Limits {
            delivery_count_limit: 2,
            ..limits()
        };
        let mut p = SharePartition::new(0);
        p.acquire("a", &[(0, 2)], 10, &l, 0);
        // Per-offset types: accept 0, release 1, reject 2.
        p.acknowledge(
            "a",
            &[AckBatch {
                first_offset: 0,
                last_offset: 2,
                types: vec![ACK_ACCEPT, ACK_RELEASE, ACK_REJECT],
            }],
            &l,
            0,
        )
        .unwrap();
        assert_eq!(p.start_offset(), 1);
        assert_eq!(p.fetch_offset(&l), Some(1));
        let got = p.acquire("b", &[(0, 2)], 10, &l, 0);
        assert_eq!(
            got,
            vec![Acquired {
                first_offset: 1,
                last_offset: 1,
                delivery_count: 2
            }]
        );
        // At the limit, a release archives it and the start moves past everything.
        p.acknowledge("b", &[ack(1, 1, ACK_RELEASE)], &l, 0)
            .unwrap();
        assert_eq!((p.start_offset(), p.in_flight()), (3, 0));
    }

    #[test]
    fn lock_timeouts_and_departures_release_acquisitions() {
        let l = limits();
        let mut p = SharePartition::new(0);
        p.acquire("a", &[(0, 1)], 10, &l, 1_000);
        p.acquire("b", &[(2, 3)], 10, &l, 5_000);
        assert_eq!(p.next_deadline_ms(), Some(31_000));
        assert!(!p.expire_locks(30_999, &l));
        assert!(p.expire_locks(31_000, &l));
        assert_eq!(p.state_of(0), Some((&RecordState::Available, 1)));
        assert!(p.release_member("b", &l));
        assert_eq!(p.state_of(3), Some((&RecordState::Available, 1)));
        assert!((0..4).all(|o| !matches!(p.state_of(o), Some((RecordState::Acquired { .. }, _)))));
        assert_eq!(p.fetch_offset(&l), Some(0));
    }

    #[test]
    fn in_flight_records_are_bounded() {
        let l = Limits {
            max_in_flight: 10,
            ..limits()
        };
        let mut p = SharePartition::new(0);
        let got = p.acquire("a", &[(0, 5), (6, 11), (12, 20)], 100, &l, 0);
        // The second batch crosses the bound: taken up to it.
        assert_eq!(got.last().unwrap().last_offset, 9);
        assert_eq!(p.fetch_offset(&l), None);
        assert!(p.acquire("b", &[(6, 11), (12, 20)], 100, &l, 0).is_empty());
        p.acknowledge("a", &[ack(0, 5, ACK_ACCEPT)], &l, 0).unwrap();
        assert_eq!(p.fetch_offset(&l), Some(10));
        let got = p.acquire("b", &[(6, 11), (12, 20)], 100, &l, 0);
        assert_eq!(
            got,
            vec![Acquired {
                first_offset: 10,
                last_offset: 15,
                delivery_count: 1
            }]
        );
    }

    #[test]
    fn gaps_between_batches_are_acquired_for_the_client_to_skip() {
        let mut p = SharePartition::new(0);
        let got = p.acquire("a", &[(0, 1), (5, 6)], 100, &limits(), 0);
        assert_eq!(
            got,
            vec![Acquired {
                first_offset: 0,
                last_offset: 6,
                delivery_count: 1
            }]
        );
        p.acknowledge(
            "a",
            &[
                ack(0, 1, ACK_ACCEPT),
                ack(2, 4, ACK_GAP),
                ack(5, 6, ACK_ACCEPT),
            ],
            &limits(),
            0,
        )
        .unwrap();
        assert_eq!(p.start_offset(), 7);
    }

    #[test]
    fn snapshots_restore_what_was_decided_and_free_acquisitions() {
        let l = limits();
        let mut p = SharePartition::new(100);
        p.acquire("a", &[(100, 109)], 100, &l, 0);
        p.acknowledge(
            "a",
            &[ack(101, 102, ACK_ACCEPT), ack(105, 105, ACK_RELEASE)],
            &l,
            0,
        )
        .unwrap();
        let (start, batches) = p.snapshot();
        assert_eq!(start, 100);
        let q = SharePartition::restore(start, &batches, &l);
        assert_eq!(q.start_offset(), 100);
        assert_eq!(q.end_offset(), 110);
        assert_eq!(q.state_of(100), Some((&RecordState::Available, 1)));
        assert_eq!(q.state_of(101), Some((&RecordState::Acknowledged, 1)));
        assert_eq!(q.state_of(105), Some((&RecordState::Available, 1)));
        // Restored, the acknowledged offsets are not delivered again.
        let mut q = q;
        let got = q.acquire("b", &[(100, 109)], 100, &l, 0);
        assert_eq!(
            got.iter()
                .map(|a| (a.first_offset, a.last_offset))
                .collect::<Vec<_>>(),
            vec![(100, 100), (103, 109)]
        );
    }

    #[test]
    fn the_log_start_moving_drops_what_it_passed() {
        let l = limits();
        let mut p = SharePartition::new(0);
        p.acquire("a", &[(0, 9)], 100, &l, 0);
        assert!(p.log_start_moved(5));
        assert_eq!(
            (p.start_offset(), p.end_offset(), p.in_flight()),
            (5, 10, 5)
        );
        assert!(p.log_start_moved(20));
        assert_eq!(
            (p.start_offset(), p.end_offset(), p.in_flight()),
            (20, 20, 0)
        );
        assert!(!p.log_start_moved(3));
    }

    mod model {
        //! Random sequences of fetches, acknowledgements, departures, lock expiries and
        //! restarts, checked against what a share consumer relies on.

        use std::collections::{BTreeMap, BTreeSet};

        use proptest::prelude::*;

        use super::super::*;

        #[derive(Debug, Clone)]
        enum Op {
            Acquire {
                member: u8,
                max: usize,
            },
            Ack {
                member: u8,
                first: i64,
                len: i64,
                ty: i8,
            },
            Leave {
                member: u8,
            },
            Tick {
                ms: i64,
            },
            Restart,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => (0u8..3, 1usize..8).prop_map(|(member, max)| Op::Acquire { member, max }),
                4 => (0u8..3, 0i64..40, 1i64..6, 0i8..4)
                    .prop_map(|(member, first, len, ty)| Op::Ack { member, first, len, ty }),
                1 => (0u8..3).prop_map(|member| Op::Leave { member }),
                1 => (0i64..1500).prop_map(|ms| Op::Tick { ms }),
                1 => Just(Op::Restart),
            ]
        }

        /// The log: batches of 1 to 4 offsets from 0 to 39, with a gap left by compaction.
        fn log() -> Vec<(i64, i64)> {
            vec![
                (0, 3),
                (4, 4),
                (5, 8),
                (12, 15),
                (16, 16),
                (17, 20),
                (21, 39),
            ]
        }

        proptest! {
            #[test]
            fn a_share_partition_keeps_its_promises(ops in proptest::collection::vec(op(), 1..80)) {
                let limits = Limits { delivery_count_limit: 3, max_in_flight: 12, lock_duration_ms: 1000 };
                let mut p = SharePartition::new(0);
                let mut now = 0i64;
                // Who holds each offset, each offset's deliveries, and what is done.
                let mut held: BTreeMap<i64, u8> = BTreeMap::new();
                let mut counts: BTreeMap<i64, i16> = BTreeMap::new();
                let mut done: BTreeSet<i64> = BTreeSet::new();
                let log = log();
                for op in ops {
                    match op {
                        Op::Acquire { member, max } => {
                            let name = member.to_string();
                            let Some(from) = p.fetch_offset(&limits) else { continue };
                            let batches: Vec<(i64, i64)> =
                                log.iter().copied().filter(|&(_, last)| last >= from).collect();
                            for a in p.acquire(&name, &batches, max, &limits, now) {
                                for o in a.first_offset..=a.last_offset {
                                    prop_assert!(!held.contains_key(&o), "{o} delivered while held");
                                    prop_assert!(!done.contains(&o), "{o} delivered when done");
                                    let c = counts.entry(o).or_insert(0);
                                    *c += 1;
                                    prop_assert_eq!(*c, a.delivery_count);
                                    prop_assert!(a.delivery_count <= limits.delivery_count_limit);
                                    held.insert(o, member);
                                }
                            }
                        }
                        Op::Ack { member, first, len, ty } => {
                            let ack = AckBatch { first_offset: first, last_offset: first + len - 1, types: vec![ty] };
                            let holds = (first..first + len).all(|o| held.get(&o) == Some(&member));
                            let r = p.acknowledge(&member.to_string(), &[ack], &limits, 0);
                            prop_assert_eq!(r.is_ok(), holds, "ack {}..+{} by {}", first, len, member);
                            if holds {
                                for o in first..first + len {
                                    held.remove(&o);
                                    let count = counts.get(&o).copied().unwrap_or(0);
                                    if ty != ACK_RELEASE || count >= limits.delivery_count_limit {
                                        done.insert(o);
                                    }
                                }
                            }
                        }
                        Op::Leave { member } => {
                            p.release_member(&member.to_string(), &limits);
                            let gone: Vec<i64> = held.iter().filter(|(_, m)| **m == member).map(|(o, _)| *o).collect();
                            for o in gone {
                                held.remove(&o);
                                if counts[&o] >= limits.delivery_count_limit {
                                    done.insert(o);
                                }
                            }
                        }
                        Op::Tick { ms } => {
                            now += ms;
                            p.expire_locks(now, &limits);
                            // Every lock taken at least a lock's duration ago has ended.
                            held.retain(|o, _| matches!(p.state_of(*o), Some((RecordState::Acquired { .. }, _))));
                            for (o, c) in &counts {
                                if !held.contains_key(o) && *c >= limits.delivery_count_limit {
                                    done.insert(*o);
                                }
                            }
                        }
                        Op::Restart => {
                            let (start, batches) = p.snapshot();
                            let q = SharePartition::restore(start, &batches, &limits);
                            prop_assert_eq!(q.start_offset(), p.start_offset());
                            prop_assert_eq!(q.end_offset(), p.end_offset());
                            for o in p.start_offset()..p.end_offset() {
                                let (before, count) = p.state_of(o).unwrap();
                                let (after, again) = q.state_of(o).unwrap();
                                prop_assert_eq!(count, again);
                                match before {
                                    RecordState::Acquired { .. } => prop_assert_eq!(after, &RecordState::Available),
                                    other => prop_assert_eq!(after, other),
                                }
                            }
                            p = q;
                            // Unsettled deliveries end with the restart; those at the limit
                            // are archived when next met.
                            for o in std::mem::take(&mut held).into_keys() {
                                if counts[&o] >= limits.delivery_count_limit {
                                    done.insert(o);
                                }
                            }
                        }
                    }
                    // The in-flight offsets are exactly start..end, the first not done,
                    // bounded; everything below the start is done.
                    prop_assert!(p.start_offset() <= p.end_offset());
                    prop_assert_eq!(p.in_flight() as i64, p.end_offset() - p.start_offset());
                    prop_assert!(p.in_flight() as i64 <= limits.max_in_flight);
                    if p.in_flight() > 0 {
                        let (first, _) = p.state_of(p.start_offset()).unwrap();
                        prop_assert!(!matches!(first, RecordState::Acknowledged | RecordState::Archived));
                    }
                    for o in 0..p.start_offset() {
                        prop_assert!(done.contains(&o) || !counts.contains_key(&o), "{o} passed but not done");
                    }
                }
            }
        }
    }
}
