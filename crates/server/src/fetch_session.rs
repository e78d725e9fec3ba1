//! Incremental fetch sessions (KIP-227, Fetch v7+), after Kafka's `FetchSession.scala`.
//!
//! A consumer fetching many partitions need not list them all in every request. Its first
//! (full) fetch, with session id 0 and epoch 0, asks the broker to remember the partitions
//! and their fetch positions in a session; the response carries the session's id. Later
//! (incremental) fetches name the session and the next epoch, and list only the partitions
//! whose fetch parameters changed, or that the session should forget; the broker answers
//! only for partitions with something new: records, a moved high watermark, last stable
//! offset or log start offset, or an error.
//!
//! Request metadata, as Kafka reads it:
//!
//! | session id | epoch | meaning |
//! |---|---|---|
//! | 0 | -1 | sessionless full fetch (and every request below v7) |
//! | 0 | 0 | full fetch; create a session if the cache has room |
//! | s | -1 | close session `s`, then a sessionless full fetch |
//! | s | 0 | close session `s`, then a full fetch creating a new one |
//! | s | e > 0 | incremental fetch on `s`; `e` must be the session's next epoch |
//!
//! An unknown session gets FETCH_SESSION_ID_NOT_FOUND (70), a wrong epoch
//! INVALID_FETCH_SESSION_EPOCH (71), a session whose topic naming (ids from v13, names
//! before) differs from the request's FETCH_SESSION_TOPIC_ID_ERROR (106); the client then
//! starts over with a full fetch.
//!
//! The cache holds at most `max.incremental.fetch.session.cache.slots` sessions. When it is
//! full, a new session may take the slot of the least recently used one if that was idle
//! for [`EVICTION_MS`], otherwise of the smallest session older than [`EVICTION_MS`] if the
//! new one has more partitions; failing both, the fetch is answered without a session
//! (session id 0) and the client keeps sending full fetches.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

/// The session id meaning "no session".
pub const INVALID_SESSION_ID: i32 = 0;
/// The epoch of a full fetch that creates a session.
pub const INITIAL_EPOCH: i32 = 0;
/// The epoch of a full fetch that wants no session.
pub const FINAL_EPOCH: i32 = -1;
/// How long a session is protected from eviction (Kafka's
/// `MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`).
pub const EVICTION_MS: u64 = 120_000;

/// How a partition is named: by topic name before Fetch v13, by topic id from v13.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopicRef {
    Name(String),
    Id(Uuid),
}

/// A partition of a fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    pub topic: TopicRef,
    pub partition: i32,
}

/// What a fetch request asks of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchParams {
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    /// -1 when the client does not know it (before v9).
    pub current_leader_epoch: i32,
}

/// What a fetch found for one partition, as far as the session cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionState {
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Bytes of records returned.
    pub records_len: u64,
}

/// How a fetch request is served, decided by [`FetchSessionCache::new_context`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchContext {
    /// The request is refused as a whole with this error (70, 71 or 106).
    Error(i16),
    /// A full fetch without a session: answer every requested partition, session id 0.
    Sessionless(Vec<(PartitionKey, FetchParams)>),
    /// A full fetch that creates a session if the cache has room.
    Full {
        partitions: Vec<(PartitionKey, FetchParams)>,
        uses_topic_ids: bool,
    },
    /// An incremental fetch: read every partition of the session, in the session's order;
    /// answer only those with changes.
    Incremental {
        session_id: i32,
        partitions: Vec<(PartitionKey, FetchParams)>,
    },
}

impl FetchContext {
    /// The partitions to read, in order.
    pub fn partitions(&self) -> &[(PartitionKey, FetchParams)] {
        match self {
            FetchContext::Error(_) => &[],
            FetchContext::Sessionless(p)
            | FetchContext::Full { partitions: p, .. }
            | FetchContext::Incremental { partitions: p, .. } => p,
        }
    }
}

/// A partition remembered by a session: the client's parameters and what it was last told.
#[derive(Debug, Clone)]
struct CachedPartition {
    params: FetchParams,
    /// The high watermark last sent; -1 forces the next response to include the partition
    /// (new partitions, and partitions whose last answer was an error).
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    /// Position in the session's order: partitions that returned records move to the end,
    /// so that a partition with much data cannot starve the others of the response budget.
    seq: u64,
}

#[derive(Debug)]
struct FetchSession {
    /// The epoch the next incremental request must carry.
    next_epoch: i32,
    uses_topic_ids: bool,
    partitions: HashMap<PartitionKey, CachedPartition>,
    next_seq: u64,
    created: Instant,
    last_used: Instant,
}

impl FetchSession {
    fn ordered(&self) -> Vec<(PartitionKey, FetchParams)> {
        let mut v: Vec<_> = self.partitions.iter().collect();
        v.sort_by_key(|(_, c)| c.seq);
        v.into_iter().map(|(k, c)| (k.clone(), c.params)).collect()
    }

    fn add_or_update(&mut self, key: PartitionKey, params: FetchParams) {
        match self.partitions.get_mut(&key) {
            Some(c) => c.params = params,
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.partitions.insert(
                    key,
                    CachedPartition {
                        params,
                        high_watermark: -1,
                        last_stable_offset: -1,
                        log_start_offset: -1,
                        seq,
                    },
                );
            }
        }
    }
}

/// Kafka's epoch sequence: 1, 2, ..., i32::MAX, then 1 again.
fn next_epoch(epoch: i32) -> i32 {
    if epoch < 0 {
        epoch
    } else if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// The broker's fetch sessions.
#[derive(Debug)]
pub struct FetchSessionCache {
    max_slots: usize,
    sessions: Mutex<HashMap<i32, FetchSession>>,
}

impl FetchSessionCache {
    /// An empty cache of at most `max_slots` sessions (0 disables sessions).
    pub fn new(max_slots: usize) -> Self {
        Self {
            max_slots,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The number of sessions held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, FetchSession>> {
        // A panic while holding the lock leaves plain data behind: keep serving.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Decides how a request is served, updating its session (Kafka's
    /// `FetchManager.newContext`). `requested` are the request's partitions in order,
    /// `forgotten` those it asks the session to drop; `uses_topic_ids` is true from v13.
    pub fn new_context(
        &self,
        session_id: i32,
        epoch: i32,
        uses_topic_ids: bool,
        requested: Vec<(PartitionKey, FetchParams)>,
        forgotten: &[PartitionKey],
    ) -> FetchContext {
        let is_full = epoch == INITIAL_EPOCH || epoch == FINAL_EPOCH;
        let mut sessions = self.lock();
        if is_full {
            if session_id != INVALID_SESSION_ID {
                // Any session named by a full fetch is closed.
                sessions.remove(&session_id);
            }
            let partitions = dedup(requested);
            return if epoch == FINAL_EPOCH {
                FetchContext::Sessionless(partitions)
            } else {
                FetchContext::Full {
                    partitions,
                    uses_topic_ids,
                }
            };
        }
        let Some(session) = sessions.get_mut(&session_id) else {
            return FetchContext::Error(70);
        };
        if session.next_epoch != epoch {
            return FetchContext::Error(71);
        }
        if session.uses_topic_ids != uses_topic_ids {
            return FetchContext::Error(106);
        }
        for (key, params) in requested {
            session.add_or_update(key, params);
        }
        for key in forgotten {
            session.partitions.remove(key);
        }
        if session.partitions.is_empty() {
            sessions.remove(&session_id);
            return FetchContext::Sessionless(Vec::new());
        }
        session.last_used = Instant::now();
        session.next_epoch = next_epoch(session.next_epoch);
        FetchContext::Incremental {
            session_id,
            partitions: session.ordered(),
        }
    }

    /// Creates the session of a full fetch from what it answered (Kafka's
    /// `FetchSessionCache.maybeCreateSession`); returns its id, or 0 when the cache has no
    /// slot for it.
    pub fn create_session(
        &self,
        uses_topic_ids: bool,
        answered: &[(PartitionKey, FetchParams, PartitionState)],
    ) -> i32 {
        if self.max_slots == 0 {
            return INVALID_SESSION_ID;
        }
        let now = Instant::now();
        let mut sessions = self.lock();
        if sessions.len() >= self.max_slots && !try_evict(&mut sessions, answered.len(), now) {
            return INVALID_SESSION_ID;
        }
        let id = loop {
            let candidate = (Uuid::new_v4().as_u128() as u32 & 0x7fff_ffff) as i32;
            if candidate != INVALID_SESSION_ID && !sessions.contains_key(&candidate) {
                break candidate;
            }
        };
        let mut session = FetchSession {
            next_epoch: next_epoch(INITIAL_EPOCH),
            uses_topic_ids,
            partitions: HashMap::with_capacity(answered.len()),
            next_seq: 0,
            created: now,
            last_used: now,
        };
        for (key, params, state) in answered {
            session.add_or_update(key.clone(), *params);
            if let Some(c) = session.partitions.get_mut(key) {
                remember(c, state);
            }
        }
        sessions.insert(id, session);
        id
    }

    /// Filters an incremental fetch's results down to what the client must hear about
    /// (Kafka's `CachedPartition.maybeUpdateResponseData`), remembering what it is told.
    /// Returns, for each entry of `results`, whether to include it.
    pub fn incremental_response(
        &self,
        session_id: i32,
        results: &[(PartitionKey, PartitionState)],
    ) -> Vec<bool> {
        let mut sessions = self.lock();
        let Some(session) = sessions.get_mut(&session_id) else {
            // Evicted while the fetch waited: answer everything; the next request learns
            // that the session is gone.
            return vec![true; results.len()];
        };
        let mut include = Vec::with_capacity(results.len());
        for (key, state) in results {
            let Some(c) = session.partitions.get_mut(key) else {
                include.push(true);
                continue;
            };
            let must_respond = state.records_len > 0
                || state.error_code != 0
                || c.high_watermark != state.high_watermark
                || c.last_stable_offset != state.last_stable_offset
                || c.log_start_offset != state.log_start_offset;
            remember(c, state);
            if state.records_len > 0 {
                c.seq = session.next_seq;
                session.next_seq += 1;
            }
            include.push(must_respond);
        }
        include
    }
}

/// Records what a response told the client about a partition.
fn remember(c: &mut CachedPartition, state: &PartitionState) {
    if state.error_code != 0 {
        // Re-sent once the error goes away.
        c.high_watermark = -1;
    } else {
        c.high_watermark = state.high_watermark;
    }
    c.last_stable_offset = state.last_stable_offset;
    c.log_start_offset = state.log_start_offset;
}

/// Frees a slot for a new session of `size` partitions, if the rules allow it.
fn try_evict(sessions: &mut HashMap<i32, FetchSession>, size: usize, now: Instant) -> bool {
    let eviction = Duration::from_millis(EVICTION_MS);
    let stale = sessions
        .iter()
        .min_by_key(|(_, s)| s.last_used)
        .filter(|(_, s)| now.saturating_duration_since(s.last_used) > eviction)
        .map(|(id, _)| *id);
    if let Some(id) = stale {
        sessions.remove(&id);
        return true;
    }
    // Sessions past their protection, smallest first (then lowest id, as Kafka orders
    // them); the new session must be strictly larger.
    let smallest = sessions
        .iter()
        .filter(|(_, s)| s.last_used.saturating_duration_since(s.created) > eviction)
        .min_by_key(|(id, s)| (s.partitions.len(), **id))
        .map(|(id, s)| (*id, s.partitions.len()));
    match smallest {
        Some((id, existing)) if size > existing => {
            sessions.remove(&id);
            true
        }
        _ => false,
    }
}

/// Keeps the first position and the last parameters of a partition named twice, as Kafka's
/// `LinkedHashMap` of a request's partitions does.
fn dedup(requested: Vec<(PartitionKey, FetchParams)>) -> Vec<(PartitionKey, FetchParams)> {
    let mut index: HashMap<PartitionKey, usize> = HashMap::with_capacity(requested.len());
    let mut out: Vec<(PartitionKey, FetchParams)> = Vec::with_capacity(requested.len());
    for (key, params) in requested {
        match index.get(&key) {
            Some(&i) => out[i].1 = params,
            None => {
                index.insert(key.clone(), out.len());
                out.push((key, params));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: &str, p: i32) -> PartitionKey {
        PartitionKey {
            topic: TopicRef::Name(t.to_string()),
            partition: p,
        }
    }

    fn params(offset: i64) -> FetchParams {
        FetchParams {
            fetch_offset: offset,
            partition_max_bytes: 1024,
            current_leader_epoch: -1,
        }
    }

    fn state(hw: i64, records_len: u64) -> PartitionState {
        PartitionState {
            error_code: 0,
            high_watermark: hw,
            last_stable_offset: hw,
            log_start_offset: 0,
            records_len,
        }
    }

    fn open(cache: &FetchSessionCache, keys: &[PartitionKey]) -> i32 {
        let requested: Vec<_> = keys.iter().map(|k| (k.clone(), params(0))).collect();
        let ctx = cache.new_context(0, INITIAL_EPOCH, false, requested.clone(), &[]);
        assert!(matches!(ctx, FetchContext::Full { .. }));
        let answered: Vec<_> = requested
            .into_iter()
            .map(|(k, p)| (k, p, state(0, 0)))
            .collect();
        cache.create_session(false, &answered)
    }

    #[test]
    fn epochs_and_errors() {
        let cache = FetchSessionCache::new(10);
        let id = open(&cache, &[key("a", 0), key("b", 0)]);
        assert_ne!(id, 0);
        // Wrong epoch, unknown session, topic-id mismatch.
        assert_eq!(
            cache.new_context(id, 2, false, vec![], &[]),
            FetchContext::Error(71)
        );
        assert_eq!(
            cache.new_context(id + 1, 1, false, vec![], &[]),
            FetchContext::Error(70)
        );
        assert_eq!(
            cache.new_context(id, 1, true, vec![], &[]),
            FetchContext::Error(106)
        );
        // Epoch 1, then 2: the session's partitions in order.
        let ctx = cache.new_context(id, 1, false, vec![], &[]);
        assert_eq!(ctx.partitions().len(), 2);
        let ctx = cache.new_context(id, 2, false, vec![(key("c", 1), params(5))], &[key("a", 0)]);
        let names: Vec<_> = ctx.partitions().iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(names, vec![key("b", 0), key("c", 1)]);
        // Forgetting everything closes the session.
        let ctx = cache.new_context(id, 3, false, vec![], &[key("b", 0), key("c", 1)]);
        assert_eq!(ctx, FetchContext::Sessionless(vec![]));
        assert!(cache.is_empty());
        // A full fetch naming a session closes it.
        let id = open(&cache, &[key("a", 0)]);
        let ctx = cache.new_context(id, FINAL_EPOCH, false, vec![(key("a", 0), params(1))], &[]);
        assert!(matches!(ctx, FetchContext::Sessionless(ref p) if p.len() == 1));
        assert!(cache.is_empty());
    }

    #[test]
    fn incremental_responses_carry_only_changes() {
        let cache = FetchSessionCache::new(10);
        let (a, b) = (key("a", 0), key("b", 0));
        let id = open(&cache, &[a.clone(), b.clone()]);
        cache.new_context(id, 1, false, vec![], &[]);
        // Nothing changed.
        let r = [(a.clone(), state(0, 0)), (b.clone(), state(0, 0))];
        assert_eq!(cache.incremental_response(id, &r), vec![false, false]);
        // Data on b, a high watermark move on a.
        let r = [(a.clone(), state(3, 0)), (b.clone(), state(0, 100))];
        assert_eq!(cache.incremental_response(id, &r), vec![true, true]);
        // b returned data: it moved behind a.
        let ctx = cache.new_context(id, 2, false, vec![], &[]);
        assert_eq!(ctx.partitions()[1].0, b);
        // An error is always sent, and the partition again once the error is gone.
        let mut err = state(-1, 0);
        err.error_code = 3;
        assert_eq!(
            cache.incremental_response(id, &[(a.clone(), err)]),
            vec![true]
        );
        assert_eq!(
            cache.incremental_response(id, &[(a.clone(), state(3, 0))]),
            vec![true]
        );
        assert_eq!(
            cache.incremental_response(id, &[(a, state(3, 0))]),
            vec![false]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_cache_evicts_by_kafka_rules() {
        let cache = FetchSessionCache::new(2);
        let one = open(&cache, &[key("a", 0)]);
        let two = open(&cache, &[key("a", 0), key("b", 0)]);
        // Full, nothing stale or old: no session.
        assert_eq!(open(&cache, &[key("c", 0)]), 0);
        // After 100 s of use the sessions are old but not idle: a larger session evicts
        // the smallest, a smaller one does not.
        tokio::time::advance(Duration::from_secs(100)).await;
        cache.new_context(two, 1, false, vec![], &[]);
        cache.new_context(one, 1, false, vec![], &[]);
        tokio::time::advance(Duration::from_secs(30)).await;
        cache.new_context(two, 2, false, vec![], &[]);
        cache.new_context(one, 2, false, vec![], &[]);
        assert_eq!(open(&cache, &[key("c", 0)]), 0);
        let three = open(&cache, &[key("c", 0), key("d", 0), key("e", 0)]);
        assert_ne!(three, 0);
        assert_eq!(
            cache.new_context(one, 3, false, vec![], &[]),
            FetchContext::Error(70)
        );
        // An idle session is evicted by anyone.
        tokio::time::advance(Duration::from_secs(121)).await;
        cache.new_context(three, 1, false, vec![], &[]);
        assert_ne!(open(&cache, &[key("f", 0)]), 0);
        assert_eq!(
            cache.new_context(two, 3, false, vec![], &[]),
            FetchContext::Error(70)
        );
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn epochs_wrap_to_one() {
        assert_eq!(next_epoch(0), 1);
        assert_eq!(next_epoch(i32::MAX), 1);
        assert_eq!(next_epoch(-1), -1);
    }
}
