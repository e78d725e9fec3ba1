//! Client quotas (KIP-13, KIP-55, KIP-124, KIP-219, KIP-599, KIP-612): how many bytes a
//! client may produce and fetch per second, how many partitions it may create or delete per
//! second and how much of the broker's request handling time it may take, set per user, per
//! client id, or per (user, client id), with defaults for each; and how many connections an
//! IP address may open per second. Set by AlterClientQuotas (KIP-546) and kept in the
//! metadata log.
//!
//! As in Kafka's `ClientQuotaManager`:
//! - **Which quota applies.** The most specific entity that has a value for the quota's
//!   key, in Kafka's order: `(user, client-id)`, `(user, <default> client-id)`, `user`,
//!   `(<default> user, client-id)`, `(<default> user, <default> client-id)`,
//!   `<default> user`, `client-id`, `<default> client-id`. The user is the principal's name
//!   (`ANONYMOUS` on an unauthenticated listener). Every client the entity covers shares
//!   one rate, except that a default entity gives each user (or client id) its own.
//! - **Measuring.** A rate over `quota.window.num` (11) samples of
//!   `quota.window.size.seconds` (1 s): the values recorded in the retained samples divided
//!   by their time span, counted as at least 10 whole samples, so a new client's first
//!   burst is spread over 10 s.
//! - **Throttling.** A request that takes the rate over the limit `T` at an observed rate
//!   `O` over a window `W` is throttled for `(O - T) / T * W`: the time without traffic
//!   that brings the rate back to the limit. The response carries it as `throttle_time_ms`
//!   (Produce and Fetch), and the broker reads no further request from the connection
//!   until it has passed (KIP-219's muting), so a client that ignores it is held back all
//!   the same. A throttled Fetch is answered without records (the bytes are not counted),
//!   and a Fetch never asks for more than the quota allows in one window. The request
//!   quota's throttle is at most one sample window, as in Kafka.
//!
//! The controller mutation quota (`controller_mutation_rate`, KIP-599) counts the partitions
//! that CreateTopics, CreatePartitions and DeleteTopics create or delete, in a token
//! bucket holding `quota.window.num - 1` windows' worth. From CreateTopics v6,
//! CreatePartitions v3 and DeleteTopics v5 it is strict: once the bucket is empty, each
//! further topic is refused with THROTTLING_QUOTA_EXCEEDED. Older versions are served
//! whatever the bucket holds, and throttled once it is empty.
//!
//! The connection creation quota (`connection_creation_rate`, KIP-612) is set on `ip`
//! entities: an address's own, else the default `ip` entity's, each address with a rate of
//! its own. A connection that takes its address over it is accepted, never served, and
//! closed once its throttle time has passed (Kafka's delayed close); it is not counted.
//!
//! The request quota (`request_percentage`, the percentage of one request handler thread)
//! counts the time the broker spends running a client's requests: the time their handlers
//! are being polled, not the time they wait for a flush or a delayed fetch. SASL requests
//! and ApiVersions are exempt. Its throttle mutes the connection; the responses'
//! `throttle_time_ms` carry only the byte-rate and mutation throttles
//! (`docs/compatibility.md`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use myelin_cluster::MetadataState;
use parking_lot::Mutex;

/// The byte rate a client may produce at (bytes of Produce requests per second).
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
/// The byte rate a client may fetch at (bytes of Fetch responses per second).
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
/// The share of one request handler thread a client may take, in percent.
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
/// The partitions a client may create or delete per second.
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
/// The connections an IP address may open per second (KIP-612; `ip` entities only).
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// Kafka's defaults: 11 samples (10 whole ones and the current one) of 1 second.
pub const DEFAULT_WINDOW_NUM: u32 = 11;
pub const DEFAULT_WINDOW_SIZE_SECONDS: u32 = 1;

/// Sensors unused for this long are dropped (Kafka: one hour).
const INACTIVE_SENSOR_EXPIRY: Duration = Duration::from_secs(3600);

/// What a quota limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaType {
    Produce,
    Fetch,
    Request,
    ControllerMutation,
    ConnectionCreation,
}

impl QuotaType {
    /// The quota's key in AlterClientQuotas and DescribeClientQuotas.
    pub fn key(self) -> &'static str {
        match self {
            QuotaType::Produce => PRODUCER_BYTE_RATE,
            QuotaType::Fetch => CONSUMER_BYTE_RATE,
            QuotaType::Request => REQUEST_PERCENTAGE,
            QuotaType::ControllerMutation => CONTROLLER_MUTATION_RATE,
            QuotaType::ConnectionCreation => CONNECTION_CREATION_RATE,
        }
    }

    /// The quota of key `key`, if this broker enforces it.
    pub fn of_key(key: &str) -> Option<Self> {
        [
            QuotaType::Produce,
            QuotaType::Fetch,
            QuotaType::Request,
            QuotaType::ControllerMutation,
            QuotaType::ConnectionCreation,
        ]
        .into_iter()
        .find(|q| q.key() == key)
    }

    /// Byte rates and the connection rate are whole numbers (Kafka's LONG and INT
    /// configs); the request share and the mutation rate are DOUBLEs.
    pub fn whole_numbers(self) -> bool {
        matches!(
            self,
            QuotaType::Produce | QuotaType::Fetch | QuotaType::ConnectionCreation
        )
    }

    /// Whether the quota is set on `ip` entities (else on users and client ids).
    pub fn of_ip(self) -> bool {
        self == QuotaType::ConnectionCreation
    }

    /// A short name for metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            QuotaType::Produce => "produce",
            QuotaType::Fetch => "fetch",
            QuotaType::Request => "request",
            QuotaType::ControllerMutation => "controller_mutation",
            QuotaType::ConnectionCreation => "connection_creation",
        }
    }
}

/// The quota that applies to a client, and whose rate it counts against: Kafka's metric
/// tags, the user and client id that share one rate (empty when the entity does not name
/// that part).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub quota: QuotaType,
    pub limit: f64,
    pub user_tag: String,
    pub client_tag: String,
}

/// The quota of type `quota` that applies to `user` (the principal's name) connecting as
/// `client_id`, if any: Kafka's `DefaultQuotaCallback` order. A few hash lookups, without
/// allocation until a quota is found.
pub fn resolve(
    state: &MetadataState,
    quota: QuotaType,
    user: &str,
    client_id: &str,
) -> Option<Applied> {
    use myelin_cluster::QuotaPart::{Absent, Default, Named};
    if !state.has_client_quotas() {
        return None;
    }
    // Kafka's order: by user part (named, default, absent), then client id part (named,
    // default, absent; the absent part is last for a user, the only one without a client
    // id). Each user part is looked up once.
    let has_client = !client_id.is_empty();
    for u in [Named(user), Default] {
        let Some(of_user) = state.client_quotas_of_user(u) else {
            continue;
        };
        let value = |c| of_user.get(c).and_then(|q| q.get(quota.key()));
        let hit = if has_client {
            value(Named(client_id))
                .or_else(|| value(Default))
                .map(|v| (v, true))
                .or_else(|| value(Absent).map(|v| (v, false)))
        } else {
            value(Absent).map(|v| (v, false))
        };
        if let Some((v, by_client)) = hit {
            return Some(Applied {
                quota,
                limit: v.0,
                user_tag: user.to_string(),
                client_tag: if by_client {
                    client_id.to_string()
                } else {
                    String::new()
                },
            });
        }
    }
    if !has_client {
        return None;
    }
    let of_client = state.client_quotas_of_user(Absent)?;
    let value = of_client
        .get(Named(client_id))
        .and_then(|q| q.get(quota.key()))
        .or_else(|| of_client.get(Default).and_then(|q| q.get(quota.key())))?;
    Some(Applied {
        quota,
        limit: value.0,
        user_tag: String::new(),
        client_tag: client_id.to_string(),
    })
}

/// The connection creation quota of IP address `ip`, if any: its own entity's, else the
/// default `ip` entity's. Every address has a rate of its own.
pub fn resolve_ip(state: &MetadataState, ip: std::net::IpAddr) -> Option<Applied> {
    if !state.has_client_quotas() {
        return None;
    }
    let quota = QuotaType::ConnectionCreation;
    let value = [Some(ip), None]
        .into_iter()
        .find_map(|entity| state.ip_quota(entity)?.get(quota.key()))?;
    Some(Applied {
        quota,
        limit: value.0,
        user_tag: String::new(),
        client_tag: ip.to_string(),
    })
}

/// One sample of a [`Rate`].
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// When the sample started, in ms of the manager's clock.
    start_ms: u64,
    value: f64,
}

/// Kafka's `Rate` over a `SampledStat`: the values of the retained samples over their time
/// span.
#[derive(Debug, Clone)]
struct Rate {
    samples: Vec<Sample>,
    current: usize,
    last_record_ms: u64,
}

/// The sampling of every rate.
#[derive(Debug, Clone, Copy)]
struct Window {
    samples: usize,
    sample_ms: u64,
}

impl Rate {
    fn new() -> Self {
        Self {
            samples: Vec::new(),
            current: 0,
            last_record_ms: 0,
        }
    }

    fn record(&mut self, w: Window, value: f64, now_ms: u64) {
        self.last_record_ms = now_ms;
        if self.samples.is_empty() {
            self.samples.push(Sample {
                start_ms: now_ms,
                value: 0.0,
            });
            self.current = 0;
        }
        if now_ms.saturating_sub(self.samples[self.current].start_ms) >= w.sample_ms {
            self.current = (self.current + 1) % w.samples;
            let fresh = Sample {
                start_ms: now_ms,
                value: 0.0,
            };
            if self.current >= self.samples.len() {
                self.samples.push(fresh);
            } else {
                self.samples[self.current] = fresh;
            }
        }
        self.samples[self.current].value += value;
    }

    /// Resets the samples too old to count.
    fn purge(&mut self, w: Window, now_ms: u64) {
        let max_age = w.sample_ms * w.samples as u64;
        for s in &mut self.samples {
            if now_ms.saturating_sub(s.start_ms) >= max_age {
                *s = Sample {
                    start_ms: now_ms,
                    value: 0.0,
                };
            }
        }
    }

    /// The time span the rate is measured over, in ms: at least `samples - 1` whole
    /// samples.
    fn window_ms(&mut self, w: Window, now_ms: u64) -> u64 {
        self.purge(w, now_ms);
        let oldest = self
            .samples
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let mut elapsed = now_ms.saturating_sub(oldest);
        let full = elapsed / w.sample_ms;
        let min_full = (w.samples as u64).saturating_sub(1);
        if full < min_full {
            elapsed += (min_full - full) * w.sample_ms;
        }
        elapsed.max(1)
    }

    /// The rate per second, and the window it was measured over.
    fn measure(&mut self, w: Window, now_ms: u64) -> (f64, u64) {
        let window_ms = self.window_ms(w, now_ms);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        (total / (window_ms as f64 / 1000.0), window_ms)
    }
}

/// The rates of every client with a quota, and the throttle times they earn.
#[derive(Debug)]
pub struct QuotaManager {
    window: Window,
    epoch: Instant,
    sensors: Mutex<Sensors>,
}

#[derive(Debug, Default)]
struct Sensors {
    rates: Tagged<Rate>,
    /// The controller mutation quotas' token buckets.
    buckets: Tagged<Bucket>,
    last_purge_ms: u64,
}

/// Values by (quota, user tag, client tag), found without copying the tags: each entry is
/// filed under the hash of its tags (SipHash with a random key, so that clients cannot
/// choose collisions) and compared in full.
#[derive(Debug)]
struct Tagged<T> {
    hasher: std::collections::hash_map::RandomState,
    entries: HashMap<u64, Vec<TaggedEntry<T>>, std::hash::BuildHasherDefault<Passthrough>>,
}

#[derive(Debug)]
struct TaggedEntry<T> {
    quota: QuotaType,
    user_tag: String,
    client_tag: String,
    value: T,
}

impl<T> TaggedEntry<T> {
    fn is(&self, a: &Applied) -> bool {
        // Empty tags are common (a quota shared per user or per client id) and compared
        // without a `memcmp` call, which costs this machine over 100 ns on an empty
        // string's dangling pointer.
        let same = |x: &str, y: &str| x.len() == y.len() && (x.is_empty() || x == y);
        self.quota == a.quota
            && same(&self.user_tag, &a.user_tag)
            && same(&self.client_tag, &a.client_tag)
    }
}

impl<T> Default for Tagged<T> {
    fn default() -> Self {
        Self {
            hasher: std::collections::hash_map::RandomState::new(),
            entries: HashMap::default(),
        }
    }
}

impl<T> Tagged<T> {
    fn hash(&self, a: &Applied) -> u64 {
        use std::hash::BuildHasher;
        self.hasher
            .hash_one((a.quota, a.user_tag.as_str(), a.client_tag.as_str()))
    }

    fn get_mut(&mut self, a: &Applied) -> Option<&mut T> {
        let hash = self.hash(a);
        self.entries
            .get_mut(&hash)?
            .iter_mut()
            .find(|e| e.is(a))
            .map(|e| &mut e.value)
    }

    fn get_or_insert_with(&mut self, a: &Applied, new: impl FnOnce() -> T) -> &mut T {
        let hash = self.hash(a);
        let same_hash = self.entries.entry(hash).or_default();
        let at = match same_hash.iter().position(|e| e.is(a)) {
            Some(at) => at,
            None => {
                same_hash.push(TaggedEntry {
                    quota: a.quota,
                    user_tag: a.user_tag.clone(),
                    client_tag: a.client_tag.clone(),
                    value: new(),
                });
                same_hash.len() - 1
            }
        };
        &mut same_hash[at].value
    }

    fn retain(&mut self, keep: impl Fn(&T) -> bool) {
        for same_hash in self.entries.values_mut() {
            same_hash.retain(|e| keep(&e.value));
        }
        self.entries.retain(|_, same_hash| !same_hash.is_empty());
    }
}

/// The hasher of a map whose keys are hashes already.
#[derive(Debug, Default)]
struct Passthrough(u64);

impl std::hash::Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Kafka's `TokenBucket`: tokens refill at the quota's rate up to a burst of
/// `samples - 1` windows' worth; what is recorded is taken out, possibly below zero.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
}

impl Bucket {
    /// The tokens after refilling up to `now_ms`.
    fn refill(&mut self, limit: f64, burst: f64, now_ms: u64) -> f64 {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + limit * elapsed).min(burst);
        self.last_ms = now_ms;
        self.tokens
    }
}

impl QuotaManager {
    /// Rates over `samples` samples (`quota.window.num`) of `sample_seconds` seconds
    /// (`quota.window.size.seconds`); both at least 1.
    pub fn new(samples: u32, sample_seconds: u32) -> Self {
        Self {
            window: Window {
                samples: samples.max(1) as usize,
                sample_ms: u64::from(sample_seconds.max(1)) * 1000,
            },
            epoch: Instant::now(),
            sensors: Mutex::new(Sensors::default()),
        }
    }

    /// Milliseconds of the manager's clock at `now`.
    fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// The most that can be recorded at once without being throttled whatever came before
    /// (Kafka's `getMaxValueInQuotaWindow`): what bounds a Fetch's size.
    pub fn max_value_in_window(&self, applied: &Applied) -> f64 {
        applied.limit
            * (self.window.samples.saturating_sub(1)) as f64
            * self.window.sample_ms as f64
            / 1000.0
    }

    /// Records `value` against `applied`'s rate at `now` and returns the throttle time it
    /// earns (zero when the rate stays within the limit).
    pub fn record(&self, applied: &Applied, value: f64, now: Instant) -> Duration {
        self.record_at(applied, value, self.ms(now))
    }

    /// Takes back a value recorded at `now` (a throttled Fetch sends no records).
    pub fn unrecord(&self, applied: &Applied, value: f64, now: Instant) {
        let now_ms = self.ms(now);
        let mut sensors = self.sensors.lock();
        if let Some(rate) = sensors.rates.get_mut(applied) {
            rate.record(self.window, -value, now_ms);
        }
    }

    /// Takes `permits` out of `applied`'s token bucket at `now` (the controller mutation
    /// quota). `strict`: only if the bucket is not already empty. Returns whether they were
    /// taken, and the throttle time: how long until the bucket is back at zero.
    pub fn take_tokens(
        &self,
        applied: &Applied,
        permits: f64,
        strict: bool,
        now: Instant,
    ) -> (bool, Duration) {
        self.take_tokens_at(applied, permits, strict, self.ms(now))
    }

    fn take_tokens_at(
        &self,
        applied: &Applied,
        permits: f64,
        strict: bool,
        now_ms: u64,
    ) -> (bool, Duration) {
        let w = self.window;
        let burst =
            applied.limit * (w.samples.saturating_sub(1)) as f64 * w.sample_ms as f64 / 1000.0;
        let mut sensors = self.sensors.lock();
        let bucket = sensors.buckets.get_or_insert_with(applied, || Bucket {
            tokens: burst,
            last_ms: now_ms,
        });
        let tokens = bucket.refill(applied.limit, burst, now_ms);
        let throttle = |tokens: f64| {
            if tokens >= 0.0 {
                Duration::ZERO
            } else {
                let ms = (-tokens / applied.limit * 1000.0).round();
                Duration::from_millis(ms.clamp(0.0, i32::MAX as f64) as u64)
            }
        };
        if strict && tokens < 0.0 {
            return (false, throttle(tokens));
        }
        bucket.tokens = (tokens - permits).min(burst);
        // Strict: the permits that empty the bucket still go ahead, without a throttle.
        let after = if strict { 0.0 } else { bucket.tokens };
        (true, throttle(after))
    }

    fn record_at(&self, applied: &Applied, value: f64, now_ms: u64) -> Duration {
        let w = self.window;
        let mut sensors = self.sensors.lock();
        if now_ms.saturating_sub(sensors.last_purge_ms) >= w.sample_ms * 60 {
            sensors.last_purge_ms = now_ms;
            let expiry = u64::try_from(INACTIVE_SENSOR_EXPIRY.as_millis()).unwrap_or(u64::MAX);
            sensors
                .rates
                .retain(|r| now_ms.saturating_sub(r.last_record_ms) < expiry);
            sensors
                .buckets
                .retain(|b| now_ms.saturating_sub(b.last_ms) < expiry);
        }
        let rate = sensors.rates.get_or_insert_with(applied, Rate::new);
        rate.record(w, value, now_ms);
        let (observed, window_ms) = rate.measure(w, now_ms);
        if observed <= applied.limit {
            return Duration::ZERO;
        }
        let mut throttle_ms = (observed - applied.limit) / applied.limit * window_ms as f64;
        if applied.quota == QuotaType::Request {
            // Kafka's ClientRequestQuotaManager bounds it by one sample window.
            throttle_ms = throttle_ms.min(w.sample_ms as f64);
        }
        // At most what a response's int32 field holds.
        Duration::from_millis(throttle_ms.round().clamp(0.0, i32::MAX as f64) as u64)
    }
}

/// A client's quota, to charge its requests to: the throttle they earn holds its
/// connection back.
#[derive(Debug)]
pub struct Charge {
    pub applied: Applied,
    pub session: std::sync::Arc<crate::sasl::Session>,
}

impl Charge {
    /// Records `value` now; when that puts the client over its quota, holds its connection
    /// back and returns for how long.
    pub fn record(&self, server: &crate::context::ServerContext, value: f64) -> Duration {
        let throttle = server.quotas.record(&self.applied, value, Instant::now());
        if !throttle.is_zero() {
            self.session.throttle(throttle);
            server
                .metrics
                .client_throttled(self.applied.quota.name(), throttle);
            tracing::debug!(
                quota = self.applied.quota.name(),
                user = %self.applied.user_tag,
                client_id = %self.applied.client_tag,
                throttle_ms = throttle.as_millis() as u64,
                "client quota exceeded"
            );
        }
        throttle
    }

    /// Takes back a value [`Charge::record`] recorded.
    pub fn unrecord(&self, server: &crate::context::ServerContext, value: f64) {
        server.quotas.unrecord(&self.applied, value, Instant::now());
    }
}

/// What a CreateTopics, CreatePartitions or DeleteTopics request takes from its client's
/// controller mutation quota, topic by topic.
#[derive(Debug)]
pub struct Mutations {
    charge: Option<Charge>,
    strict: bool,
    throttle: Duration,
}

/// Kafka's message for a topic refused by the controller mutation quota.
pub const THROTTLED_MESSAGE: &str = "The throttling quota has been exceeded.";

impl Mutations {
    /// The quota `charge` (if the client has one), strict from the versions KIP-599 made
    /// strict.
    pub fn new(charge: Option<Charge>, strict: bool) -> Self {
        Self {
            charge,
            strict,
            throttle: Duration::ZERO,
        }
    }

    /// Whether a topic that creates or deletes `partitions` partitions may go ahead (then
    /// they are counted).
    pub fn admit(&mut self, server: &crate::context::ServerContext, partitions: u32) -> bool {
        let Some(charge) = &self.charge else {
            return true;
        };
        let (admitted, throttle) = server.quotas.take_tokens(
            &charge.applied,
            f64::from(partitions),
            self.strict,
            Instant::now(),
        );
        self.throttle = self.throttle.max(throttle);
        admitted
    }

    /// The response's `throttle_time_ms`; a throttled client's connection is held back
    /// for as long.
    pub fn finish(&self, server: &crate::context::ServerContext) -> i32 {
        if let (Some(charge), false) = (&self.charge, self.throttle.is_zero()) {
            charge.session.throttle(self.throttle);
            server
                .metrics
                .client_throttled(charge.applied.quota.name(), self.throttle);
        }
        throttle_ms(self.throttle)
    }
}

/// A throttle time as a response's `throttle_time_ms`.
pub fn throttle_ms(throttle: Duration) -> i32 {
    i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use myelin_cluster::{
        ClientQuotaChange, MetadataOffset, MetadataRecord, QuotaEntityPart, QuotaValue,
    };
    use std::collections::BTreeMap;

    fn part(t: &str, n: Option<&str>) -> QuotaEntityPart {
        QuotaEntityPart {
            entity_type: t.into(),
            entity_name: n.map(Into::into),
        }
    }

    fn state(quotas: Vec<(Vec<QuotaEntityPart>, &str, f64)>) -> MetadataState {
        let mut s = MetadataState::new();
        let changes = quotas
            .into_iter()
            .map(|(mut entity, key, value)| {
                entity.sort();
                ClientQuotaChange {
                    entity,
                    quotas: BTreeMap::from([(key.to_string(), QuotaValue(value))]),
                }
            })
            .collect();
        s.apply(
            MetadataOffset(0),
            &MetadataRecord::ClientQuotasAltered { changes },
        )
        .unwrap();
        s
    }

    fn applied(limit: f64, user: &str, client: &str) -> Applied {
        Applied {
            quota: QuotaType::Produce,
            limit,
            user_tag: user.into(),
            client_tag: client.into(),
        }
    }

    #[test]
    fn the_most_specific_entity_wins_in_kafkas_order() {
        let p = PRODUCER_BYTE_RATE;
        let levels: Vec<(Vec<QuotaEntityPart>, &str, f64)> = vec![
            (
                vec![part("user", Some("alice")), part("client-id", Some("app"))],
                p,
                1.0,
            ),
            (
                vec![part("user", Some("alice")), part("client-id", None)],
                p,
                2.0,
            ),
            (vec![part("user", Some("alice"))], p, 3.0),
            (
                vec![part("user", None), part("client-id", Some("app"))],
                p,
                4.0,
            ),
            (vec![part("user", None), part("client-id", None)], p, 5.0),
            (vec![part("user", None)], p, 6.0),
            (vec![part("client-id", Some("app"))], p, 7.0),
            (vec![part("client-id", None)], p, 8.0),
        ];
        let tags = [
            ("alice", "app"),
            ("alice", "app"),
            ("alice", ""),
            ("alice", "app"),
            ("alice", "app"),
            ("alice", ""),
            ("", "app"),
            ("", "app"),
        ];
        // With levels i.. set, level i applies.
        for i in 0..levels.len() {
            let s = state(levels[i..].to_vec());
            let got = resolve(&s, QuotaType::Produce, "alice", "app").unwrap();
            assert_eq!(got.limit, (i + 1) as f64, "levels from {i}");
            assert_eq!((got.user_tag.as_str(), got.client_tag.as_str()), tags[i]);
        }
        // Another key, another user or client id do not match the exact entities.
        let s = state(levels[..1].to_vec());
        assert_eq!(resolve(&s, QuotaType::Fetch, "alice", "app"), None);
        assert_eq!(resolve(&s, QuotaType::Produce, "bob", "app"), None);
        assert_eq!(resolve(&s, QuotaType::Produce, "alice", "other"), None);
        // Without a client id only user quotas apply.
        let s = state(levels[1..].to_vec());
        assert_eq!(
            resolve(&s, QuotaType::Produce, "alice", "").unwrap().limit,
            3.0
        );
        let s = state(levels[6..].to_vec());
        assert_eq!(resolve(&s, QuotaType::Produce, "alice", ""), None);
        assert_eq!(
            resolve(&MetadataState::new(), QuotaType::Produce, "a", "b"),
            None
        );
    }

    #[test]
    fn a_first_burst_is_spread_over_ten_windows() {
        let m = QuotaManager::new(11, 1);
        let a = applied(1000.0, "alice", "");
        // 10 s of quota at once: exactly at the limit.
        assert_eq!(m.record_at(&a, 10_000.0, 0), Duration::ZERO);
        // 10 s more: the rate is 2000/s over a 10 s window; 10 s without traffic brings
        // it back.
        assert_eq!(m.record_at(&a, 10_000.0, 0), Duration::from_secs(10));
    }

    #[test]
    fn a_steady_rate_at_the_limit_is_not_throttled_and_above_it_is() {
        let m = QuotaManager::new(11, 1);
        let a = applied(1000.0, "alice", "app");
        for t in 0..30u64 {
            assert_eq!(m.record_at(&a, 900.0, t * 1000), Duration::ZERO, "t={t}");
        }
        let b = applied(1000.0, "bob", "app");
        let throttled = (0..30u64)
            .map(|t| m.record_at(&b, 2000.0, t * 1000))
            .filter(|d| !d.is_zero())
            .count();
        assert!(throttled > 10, "{throttled} of 30 throttled");
    }

    #[test]
    fn old_samples_stop_counting() {
        let m = QuotaManager::new(11, 1);
        let a = applied(1000.0, "alice", "");
        assert!(!m.record_at(&a, 50_000.0, 0).is_zero());
        // After 11 windows the burst has aged out.
        assert_eq!(m.record_at(&a, 1000.0, 11_000), Duration::ZERO);
    }

    #[test]
    fn unrecording_takes_a_value_back() {
        let m = QuotaManager::new(11, 1);
        let a = applied(1000.0, "alice", "");
        let now = Instant::now();
        assert_eq!(m.record(&a, 10_000.0, now), Duration::ZERO);
        assert!(!m.record(&a, 10_000.0, now).is_zero());
        m.unrecord(&a, 10_000.0, now);
        m.unrecord(&a, 10_000.0, now);
        assert_eq!(m.record(&a, 10_000.0, now), Duration::ZERO);
    }

    #[test]
    fn the_request_quota_throttles_for_at_most_one_window() {
        let m = QuotaManager::new(11, 1);
        let a = Applied {
            quota: QuotaType::Request,
            ..applied(10.0, "alice", "")
        };
        assert_eq!(m.record_at(&a, 1000.0, 0), Duration::from_secs(1));
    }

    #[test]
    fn the_mutation_bucket_is_strict_or_permissive() {
        let m = QuotaManager::new(11, 1);
        let a = Applied {
            quota: QuotaType::ControllerMutation,
            ..applied(2.0, "alice", "")
        };
        // A burst of 10 windows: 20 partitions. Strict: what empties the bucket goes
        // ahead; the next is refused, with the time until it is back at zero.
        assert_eq!(m.take_tokens_at(&a, 15.0, true, 0), (true, Duration::ZERO));
        assert_eq!(m.take_tokens_at(&a, 10.0, true, 0), (true, Duration::ZERO));
        assert_eq!(
            m.take_tokens_at(&a, 1.0, true, 0),
            (false, Duration::from_millis(2500))
        );
        // After 2.5 s at 2 per second the bucket is at zero again.
        assert_eq!(
            m.take_tokens_at(&a, 1.0, true, 2500),
            (true, Duration::ZERO)
        );
        // Permissive: always goes ahead, throttled once the bucket is below zero.
        let b = Applied {
            user_tag: "bob".into(),
            ..a.clone()
        };
        assert_eq!(
            m.take_tokens_at(&b, 24.0, false, 0),
            (true, Duration::from_secs(2))
        );
        // The bucket never holds more than the burst.
        let c = Applied {
            user_tag: "carol".into(),
            ..a
        };
        assert_eq!(
            m.take_tokens_at(&c, 20.0, false, 1_000_000),
            (true, Duration::ZERO)
        );
        assert_eq!(
            m.take_tokens_at(&c, 1.0, false, 1_000_000),
            (true, Duration::from_millis(500))
        );
    }

    #[test]
    fn an_address_takes_its_own_quota_else_the_default() {
        let ip = |n: Option<&str>| vec![part("ip", n)];
        let key = CONNECTION_CREATION_RATE;
        let s = state(vec![
            (ip(Some("10.0.0.7")), key, 2.0),
            (ip(None), key, 50.0),
        ]);
        let mine = resolve_ip(&s, "10.0.0.7".parse().unwrap()).unwrap();
        assert_eq!((mine.limit, mine.client_tag.as_str()), (2.0, "10.0.0.7"));
        let other = resolve_ip(&s, "10.0.0.8".parse().unwrap()).unwrap();
        assert_eq!((other.limit, other.client_tag.as_str()), (50.0, "10.0.0.8"));
        let s = state(vec![(ip(Some("::1")), key, 2.0)]);
        assert!(resolve_ip(&s, "::1".parse().unwrap()).is_some());
        assert_eq!(resolve_ip(&s, "127.0.0.1".parse().unwrap()), None);
    }

    #[test]
    fn fetches_are_bounded_by_what_one_window_allows() {
        let m = QuotaManager::new(11, 1);
        assert_eq!(m.max_value_in_window(&applied(1000.0, "a", "")), 10_000.0);
    }
}
