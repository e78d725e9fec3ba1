//! Fetch (key 1), v4-16: consumers read record batches, straight from the log files.
//!
//! - Reads stop at the high watermark (read_uncommitted) or the last stable offset
//!   (read_committed), and at `partition_max_bytes` per partition and `max_bytes` per
//!   response, except that the first partition with data returns at least one whole batch
//!   however large (KIP-74). A fetch offset inside a batch returns that whole batch.
//! - Long polling: when less than `min_bytes` is available the response waits, woken by
//!   appends to the fetched partitions, and returns as soon as `min_bytes` is there, or at
//!   `max_wait_ms` with whatever there is. Errors answer at once, as in Kafka.
//! - Incremental fetch sessions (KIP-227, v7+): [`crate::fetch_session`].
//! - Zero copy: the response is framed by hand around the stored batches, which go to the
//!   socket as file ranges ([`crate::response::Chunk::File`]); the layout is Kafka's
//!   `FetchResponse.json`, checked against the codec's encoding in the tests below.
//!
//! Per-partition errors: OFFSET_OUT_OF_RANGE (1) outside [log start, log end],
//! UNKNOWN_TOPIC_OR_PARTITION (3), UNKNOWN_TOPIC_ID (100, v13+), FENCED_LEADER_EPOCH (74) /
//! UNKNOWN_LEADER_EPOCH (75) for a current leader epoch below / above ours (v9+),
//! NOT_LEADER_OR_FOLLOWER (6) for a follower fetch (there are no followers yet), and
//! KAFKA_STORAGE_ERROR (56). With an authorizer, TOPIC_AUTHORIZATION_FAILED (29) first for
//! a topic the consumer may not READ (for every partition of a follower fetch without
//! CLUSTER_ACTION), decided once per request, session partitions included. An errored
//! partition carries high watermark, last stable offset and log start offset -1 and empty
//! records, as Kafka sends them.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::BufMut;
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, ResponseHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion};
use kafka_protocol::ResponseError;
use myelin_cluster::{Partition, TopicId};
use myelin_log::{FileSlice, LogError};
use tokio::time::Instant;

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, from, until, Field, Ty};
use crate::context::{RequestContext, ServerContext};
use crate::error::{log_error_code, HandlerError};
use crate::fetch_session::{
    FetchContext, FetchParams, PartitionKey, PartitionState, TopicRef, FINAL_EPOCH,
};
use crate::quota::{self, Charge, QuotaType};
use crate::response::{FrameBuilder, ResponseBody, ResponseFrame};

/// The Fetch handler.
#[derive(Debug)]
pub struct Fetch;

/// Resolves once any of `arrivals` (registered `Partition::data_arrived` waits) fires;
/// never, when there are none.
pub(crate) async fn any_arrival<F: Future<Output = ()>>(arrivals: &mut [std::pin::Pin<Box<F>>]) {
    std::future::poll_fn(|cx| {
        for n in arrivals.iter_mut() {
            if n.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await
}

/// Fetch's request layout (Kafka's `FetchRequest.json`), for [`bounds::check`].
const SCHEMA: &[Field] = &[
    until(14, Ty::Int32), // replica_id
    all(Ty::Int32),       // max_wait_ms
    all(Ty::Int32),       // min_bytes
    all(Ty::Int32),       // max_bytes
    all(Ty::Int8),        // isolation_level
    from(7, Ty::Int32),   // session_id
    from(7, Ty::Int32),   // session_epoch
    all(Ty::Structs(TOPIC)),
    from(7, Ty::Structs(FORGOTTEN_TOPIC)),
    from(11, Ty::Str), // rack_id
];
const TOPIC: &[Field] = &[
    until(12, Ty::Str), // topic
    from(13, Ty::Uuid), // topic_id
    all(Ty::Structs(PARTITION)),
];
const PARTITION: &[Field] = &[
    all(Ty::Int32),      // partition
    from(9, Ty::Int32),  // current_leader_epoch
    all(Ty::Int64),      // fetch_offset
    from(12, Ty::Int32), // last_fetched_epoch
    from(5, Ty::Int64),  // log_start_offset
    all(Ty::Int32),      // partition_max_bytes
];
const FORGOTTEN_TOPIC: &[Field] = &[
    until(12, Ty::Str), // topic
    from(13, Ty::Uuid), // topic_id
    all(Ty::Int32s),    // partitions
];

/// Our leader epoch: one node, no elections yet.
const LEADER_EPOCH: i32 = 0;

impl Handler for Fetch {
    type Request = FetchRequest;
    type Response = FetchReply;
    const KEY: ApiKey = ApiKey::Fetch;
    const NAME: &'static str = "Fetch";
    const MIN_VERSION: i16 = 4;
    const MAX_VERSION: i16 = 16;

    async fn handle(
        ctx: RequestContext,
        request: FetchRequest,
    ) -> Result<Reply<FetchReply>, HandlerError> {
        let version = ctx.api_version();
        let server = ctx.server.clone();
        let uses_topic_ids = version >= 13;
        let topic_ref = |name: &str, id: uuid::Uuid| {
            // Topics by id: v13+ (KIP-516).
            if uses_topic_ids {
                TopicRef::Id(id)
            } else {
                TopicRef::Name(name.to_string())
            }
        };
        let mut requested = Vec::new();
        for t in &request.topics {
            let topic = topic_ref(t.topic.as_str(), t.topic_id);
            for p in &t.partitions {
                requested.push((
                    PartitionKey {
                        topic: topic.clone(),
                        partition: p.partition,
                    },
                    FetchParams {
                        fetch_offset: p.fetch_offset,
                        partition_max_bytes: p.partition_max_bytes,
                        current_leader_epoch: p.current_leader_epoch,
                    },
                ));
            }
        }
        let mut forgotten = Vec::new();
        for t in &request.forgotten_topics_data {
            let topic = topic_ref(t.topic.as_str(), t.topic_id);
            forgotten.extend(t.partitions.iter().map(|&partition| PartitionKey {
                topic: topic.clone(),
                partition,
            }));
        }
        // session_id and session_epoch: v7+ (KIP-227); before, every fetch is sessionless.
        let (session_id, epoch) = if version >= 7 {
            (request.session_id, request.session_epoch)
        } else {
            (0, FINAL_EPOCH)
        };
        let context = server.fetch_sessions.new_context(
            session_id,
            epoch,
            uses_topic_ids,
            requested,
            &forgotten,
        );
        if let FetchContext::Error(code) = context {
            return Ok(Reply::Ready(FetchReply {
                error_code: code,
                session_id: 0,
                topics: Vec::new(),
                throttle_time_ms: 0,
            }));
        }
        // replica_id moved into replica_state in v15 (KIP-903).
        let replica_id = if version >= 15 {
            request.replica_state.replica_id.0
        } else {
            request.replica_id.0
        };
        let denied = denied_topics(&ctx, &context, replica_id);
        // A consumer's fetches count against its consumer byte rate (a follower's are
        // replication), and never ask for more than the quota allows in one window.
        let quota = if replica_id < 0 {
            ctx.quota(QuotaType::Fetch)
        } else {
            None
        };
        let mut max_bytes = request.max_bytes.max(0) as u64;
        if let Some(charge) = &quota {
            let window = server.quotas.max_value_in_window(&charge.applied);
            max_bytes = max_bytes.min(window.max(1.0) as u64);
        }
        let plan = ReadPlan {
            context,
            denied,
            replica_id,
            read_committed: request.isolation_level == 1,
            max_bytes,
            min_bytes: request.min_bytes.max(0) as u64,
            quota,
        };
        let first = plan.read(&server);
        let max_wait = Duration::from_millis(request.max_wait_ms.max(0) as u64);
        if max_wait.is_zero() || plan.satisfied(&first) {
            return Ok(Reply::Ready(plan.respond(&server, first)));
        }
        let deadline = Instant::now() + max_wait;
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            let reads = plan.wait(&server, deadline).await;
            Ok(plan.respond(&server, reads))
        }))))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 12)
    }
}

/// The topics of the fetch (the session's included) the principal may not read, answered
/// TOPIC_AUTHORIZATION_FAILED: empty without an authorizer. As Kafka's `handleFetchRequest`,
/// a consumer needs READ on each topic (an unknown topic id stays UNKNOWN_TOPIC_ID), a
/// follower CLUSTER_ACTION on the cluster, else all its partitions are refused.
fn denied_topics(
    ctx: &RequestContext,
    context: &FetchContext,
    replica_id: i32,
) -> HashSet<TopicRef> {
    let authz = ctx.authz();
    let mut denied = HashSet::new();
    if !authz.enabled() {
        return denied;
    }
    let partitions = context.partitions();
    if replica_id >= 0 {
        if !authz.allows_cluster(Operation::ClusterAction) {
            denied.extend(partitions.iter().map(|(key, _)| key.topic.clone()));
        }
        return denied;
    }
    let state = ctx.server.metadata.state();
    let mut decided: HashSet<&TopicRef> = HashSet::new();
    for (key, _) in partitions {
        if !decided.insert(&key.topic) {
            continue;
        }
        let name = match &key.topic {
            TopicRef::Name(name) => name.as_str(),
            TopicRef::Id(id) => match state.topic(TopicId(*id)) {
                Some(t) => t.name.as_str(),
                None => continue,
            },
        };
        if !authz.allows(Operation::Read, ResourceType::Topic, name) {
            denied.insert(key.topic.clone());
        }
    }
    denied
}

/// What one fetch reads, decided when its request was handled.
#[derive(Debug)]
struct ReadPlan {
    context: FetchContext,
    /// Topics answered TOPIC_AUTHORIZATION_FAILED ([`denied_topics`]).
    denied: HashSet<TopicRef>,
    replica_id: i32,
    read_committed: bool,
    max_bytes: u64,
    min_bytes: u64,
    /// The consumer byte rate the response counts against, if the client has one.
    quota: Option<Charge>,
}

/// What one partition read found.
#[derive(Debug, Clone)]
struct PartitionRead {
    error_code: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    records: Option<FileSlice>,
    /// The partition read, its fetch offset and the bound of the read, when it succeeded.
    source: Option<(Arc<Partition>, i64, i64)>,
}

impl PartitionRead {
    fn error(error: ResponseError) -> Self {
        Self {
            error_code: error.code(),
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            records: None,
            source: None,
        }
    }

    fn records_len(&self) -> u64 {
        self.records.as_ref().map_or(0, |s| s.len)
    }

    /// Whether records below the bound lie in a later segment than the ones returned: a
    /// read takes batches from one segment only, so waiting cannot add them to this
    /// response (Kafka's `DelayedFetch` completes at once in this case too).
    fn continues_in_a_later_segment(&self) -> bool {
        match (&self.records, &self.source) {
            (Some(_), Some((partition, fetch_offset, bound))) => partition
                .log
                .segment_base_offsets()
                .iter()
                .any(|&base| base > *fetch_offset && base < *bound),
            _ => false,
        }
    }
}

impl ReadPlan {
    /// The partition named by `key`, or the error to answer for it.
    fn resolve(
        &self,
        server: &ServerContext,
        key: &PartitionKey,
    ) -> Result<Arc<Partition>, ResponseError> {
        let (name, unknown) = match &key.topic {
            TopicRef::Name(name) => (name.clone(), ResponseError::UnknownTopicOrPartition),
            TopicRef::Id(id) => {
                let state = server.metadata.state();
                match state.topic(TopicId(*id)) {
                    Some(t) => (t.name.clone(), ResponseError::UnknownTopicOrPartition),
                    None => return Err(ResponseError::UnknownTopicId),
                }
            }
        };
        server.partitions.get(&name, key.partition).ok_or(unknown)
    }

    /// Reads every partition of the plan once, in order, within the response budget.
    fn read(&self, server: &ServerContext) -> Vec<PartitionRead> {
        let mut limit = self.max_bytes;
        // KIP-74: the first partition with data returns at least one batch.
        let mut min_one = true;
        let mut out = Vec::with_capacity(self.context.partitions().len());
        for (key, params) in self.context.partitions() {
            let read = if !self.denied.is_empty() && self.denied.contains(&key.topic) {
                PartitionRead::error(ResponseError::TopicAuthorizationFailed)
            } else {
                match self.resolve(server, key) {
                    Err(e) => PartitionRead::error(e),
                    Ok(p) => self.read_partition(p, params, limit, min_one),
                }
            };
            let len = read.records_len();
            if len > 0 {
                min_one = false;
                limit = limit.saturating_sub(len);
            }
            out.push(read);
        }
        out
    }

    fn read_partition(
        &self,
        p: Arc<Partition>,
        params: &FetchParams,
        limit: u64,
        min_one: bool,
    ) -> PartitionRead {
        if self.replica_id >= 0 {
            // A follower fetch: this broker has no followers yet.
            return PartitionRead::error(ResponseError::NotLeaderOrFollower);
        }
        // current_leader_epoch (v9+, KIP-320): -1 when the client does not know it.
        let requested_epoch = params.current_leader_epoch;
        if requested_epoch != -1 && requested_epoch < LEADER_EPOCH {
            return PartitionRead::error(ResponseError::FencedLeaderEpoch);
        }
        if requested_epoch > LEADER_EPOCH {
            return PartitionRead::error(ResponseError::UnknownLeaderEpoch);
        }
        let high_watermark = p.high_watermark();
        let last_stable_offset = p.last_stable_offset();
        let bound = if self.read_committed {
            last_stable_offset
        } else {
            high_watermark
        };
        let max = (params.partition_max_bytes.max(0) as u64).min(limit);
        match p.log.read(params.fetch_offset, max, bound, min_one) {
            Ok(r) => PartitionRead {
                error_code: 0,
                high_watermark,
                last_stable_offset,
                log_start_offset: r.log_start_offset,
                records: r.slice,
                source: Some((p, params.fetch_offset, bound)),
            },
            Err(e @ LogError::OffsetOutOfRange { .. }) => {
                tracing::debug!(topic = %p.topic, partition = p.index, error = %e, "fetch out of range");
                PartitionRead::error(ResponseError::OffsetOutOfRange)
            }
            Err(e) => {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "fetch failed");
                PartitionRead::error(log_error_code(&e))
            }
        }
    }

    /// Kafka answers at once when there is enough data, any error, or data that only a
    /// later fetch can return.
    fn satisfied(&self, reads: &[PartitionRead]) -> bool {
        reads.is_empty()
            || reads.iter().any(|r| r.error_code != 0)
            || reads.iter().map(PartitionRead::records_len).sum::<u64>() >= self.min_bytes
            || reads
                .iter()
                .any(PartitionRead::continues_in_a_later_segment)
    }

    /// Reads until [`Self::satisfied`] or `deadline`, waking on appends to the partitions.
    async fn wait(&self, server: &ServerContext, deadline: Instant) -> Vec<PartitionRead> {
        loop {
            // Register for wake-ups before reading, so that no append between the read
            // and the wait is missed (a `Notified` sees notifications once created).
            let partitions: Vec<Arc<Partition>> = self
                .context
                .partitions()
                .iter()
                .filter_map(|(key, _)| self.resolve(server, key).ok())
                .collect();
            let mut arrivals: Vec<_> = partitions
                .iter()
                .map(|p| Box::pin(p.data_arrived()))
                .collect();
            let reads = self.read(server);
            if self.satisfied(&reads) || Instant::now() >= deadline {
                return reads;
            }
            tokio::select! {
                () = any_arrival(&mut arrivals) => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// The response for `reads` (one per partition of the plan), updating the session.
    fn respond(&self, server: &ServerContext, reads: Vec<PartitionRead>) -> FetchReply {
        if let Some(charge) = &self.quota {
            // As Kafka: a response that takes the client over its quota is not sent; an
            // empty one is (the session unchanged, none created), with the throttle time.
            let size = response_size(&reads) as f64;
            let throttle = charge.record(server, size);
            if !throttle.is_zero() {
                charge.unrecord(server, size);
                let session_id = match &self.context {
                    FetchContext::Incremental { session_id, .. } => *session_id,
                    _ => 0,
                };
                return FetchReply {
                    error_code: 0,
                    session_id,
                    topics: Vec::new(),
                    throttle_time_ms: quota::throttle_ms(throttle),
                };
            }
        }
        let partitions = self.context.partitions();
        let state_of = |r: &PartitionRead| PartitionState {
            error_code: r.error_code,
            high_watermark: r.high_watermark,
            last_stable_offset: r.last_stable_offset,
            log_start_offset: r.log_start_offset,
            records_len: r.records_len(),
        };
        let (session_id, include) = match &self.context {
            FetchContext::Full { uses_topic_ids, .. } => {
                let answered: Vec<_> = partitions
                    .iter()
                    .zip(&reads)
                    .map(|((k, p), r)| (k.clone(), *p, state_of(r)))
                    .collect();
                let id = server
                    .fetch_sessions
                    .create_session(*uses_topic_ids, &answered);
                (id, vec![true; reads.len()])
            }
            FetchContext::Incremental { session_id, .. } => {
                let results: Vec<_> = partitions
                    .iter()
                    .zip(&reads)
                    .map(|((k, _), r)| (k.clone(), state_of(r)))
                    .collect();
                let include = server
                    .fetch_sessions
                    .incremental_response(*session_id, &results);
                (*session_id, include)
            }
            FetchContext::Sessionless(_) | FetchContext::Error(_) => (0, vec![true; reads.len()]),
        };
        let mut topics: Vec<TopicReply> = Vec::new();
        for (((key, _), read), include) in partitions.iter().zip(reads).zip(include) {
            if !include {
                continue;
            }
            let aborted_transactions = if read.error_code == 0 && self.read_committed {
                // Kafka sends the aborted transactions overlapping the records returned (an
                // empty list when none) to read_committed consumers, and null otherwise.
                Some(match (&read.source, &read.records) {
                    (Some((p, fetch_offset, bound)), Some(_)) => p
                        .log
                        .aborted_transactions(*fetch_offset, *bound)
                        .into_iter()
                        .map(|a| (a.producer_id, a.first_offset))
                        .collect(),
                    _ => Vec::new(),
                })
            } else {
                None
            };
            let partition = PartitionReply {
                partition_index: key.partition,
                error_code: read.error_code,
                high_watermark: read.high_watermark,
                last_stable_offset: read.last_stable_offset,
                log_start_offset: read.log_start_offset,
                aborted_transactions,
                records: read.records,
            };
            // Consecutive partitions of a topic share its entry, as in Kafka's response.
            match topics.last_mut() {
                Some(t) if t.topic == key.topic => t.partitions.push(partition),
                _ => topics.push(TopicReply {
                    topic: key.topic.clone(),
                    partitions: vec![partition],
                }),
            }
        }
        FetchReply {
            error_code: 0,
            session_id,
            topics,
            throttle_time_ms: 0,
        }
    }
}

/// About the size of a Fetch response carrying `reads`: what a consumer byte rate counts.
/// The records, and a bound on each partition's fields.
fn response_size(reads: &[PartitionRead]) -> u64 {
    const RESPONSE_OVERHEAD: u64 = 32;
    const PARTITION_OVERHEAD: u64 = 64;
    reads.iter().fold(RESPONSE_OVERHEAD, |size, r| {
        size + PARTITION_OVERHEAD + r.records_len()
    })
}

/// A Fetch response, framed around its partitions' file ranges.
#[derive(Debug, Clone)]
pub struct FetchReply {
    /// The top-level error (v7+): a fetch session error, else 0.
    pub error_code: i16,
    /// The fetch session (v7+), 0 for none.
    pub session_id: i32,
    pub topics: Vec<TopicReply>,
    /// How long the client is held back for going over its consumer byte rate.
    pub throttle_time_ms: i32,
}

/// One topic of a [`FetchReply`].
#[derive(Debug, Clone)]
pub struct TopicReply {
    /// By name before v13, by id from v13.
    pub topic: TopicRef,
    pub partitions: Vec<PartitionReply>,
}

/// One partition of a [`FetchReply`].
#[derive(Debug, Clone)]
pub struct PartitionReply {
    pub partition_index: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// `(producer_id, first_offset)` of aborted transactions; `None` is sent as null.
    pub aborted_transactions: Option<Vec<(i64, i64)>>,
    /// Whole batches from the log; `None` is sent as empty records.
    pub records: Option<FileSlice>,
}

impl ResponseBody for FetchReply {
    fn into_frame(
        self,
        api: &'static str,
        correlation_id: i32,
        version: i16,
    ) -> Result<Option<ResponseFrame>, HandlerError> {
        let encode_error = |reason: String| HandlerError::Encode {
            api,
            api_version: version,
            reason,
        };
        let flexible = version >= 12;
        let mut frame = FrameBuilder::new(64 + 64 * self.topics.len());
        ResponseHeader::default()
            .with_correlation_id(correlation_id)
            .encode(frame.buf(), FetchResponse::header_version(version))
            .map_err(|e| encode_error(format!("{e:#}")))?;
        let buf = frame.buf();
        buf.put_i32(self.throttle_time_ms);
        if version >= 7 {
            // error_code and session_id: v7+ (KIP-227).
            buf.put_i16(self.error_code);
            buf.put_i32(self.session_id);
        }
        put_len(buf, flexible, self.topics.len(), 4);
        for topic in self.topics {
            let buf = frame.buf();
            match &topic.topic {
                // topic_id replaces the name from v13 (KIP-516).
                TopicRef::Id(id) if version >= 13 => buf.put_slice(id.as_bytes()),
                TopicRef::Name(name) if version < 13 => {
                    put_len(buf, flexible, name.len(), 2);
                    buf.put_slice(name.as_bytes());
                }
                other => {
                    return Err(encode_error(format!(
                        "topic {other:?} cannot be named in a v{version} response"
                    )))
                }
            }
            put_len(buf, flexible, topic.partitions.len(), 4);
            for p in topic.partitions {
                let buf = frame.buf();
                buf.put_i32(p.partition_index);
                buf.put_i16(p.error_code);
                buf.put_i64(p.high_watermark);
                buf.put_i64(p.last_stable_offset);
                // log_start_offset: v5+ (KIP-107).
                if version >= 5 {
                    buf.put_i64(p.log_start_offset);
                }
                match &p.aborted_transactions {
                    None => put_null(buf, flexible, 4),
                    Some(list) => {
                        put_len(buf, flexible, list.len(), 4);
                        for (producer_id, first_offset) in list {
                            buf.put_i64(*producer_id);
                            buf.put_i64(*first_offset);
                            if flexible {
                                buf.put_u8(0); // tagged fields
                            }
                        }
                    }
                }
                // preferred_read_replica: v11+ (KIP-392); -1 = fetch from the leader.
                if version >= 11 {
                    buf.put_i32(-1);
                }
                let records_len = p.records.as_ref().map_or(0, |s| s.len);
                let records_len = usize::try_from(records_len)
                    .ok()
                    .filter(|&n| n <= i32::MAX as usize)
                    .ok_or_else(|| encode_error(format!("{records_len} bytes of records")))?;
                put_len(buf, flexible, records_len, 4);
                if let Some(slice) = p.records {
                    frame.push_file(slice);
                }
                if flexible {
                    frame.buf().put_u8(0); // partition tagged fields
                }
            }
            if flexible {
                frame.buf().put_u8(0); // topic tagged fields
            }
        }
        if flexible {
            // Top-level tagged fields; node_endpoints (v16+) only accompany
            // NOT_LEADER_OR_FOLLOWER answers, which carry a new leader: none here.
            frame.buf().put_u8(0);
        }
        frame
            .finish()
            .map(Some)
            .map_err(|size| HandlerError::ResponseTooLarge {
                api,
                api_version: version,
                size,
            })
    }
}

/// A length or count: int16/int32 (`width` 2 or 4), or an unsigned varint of length + 1 in
/// flexible versions.
pub(crate) fn put_len(buf: &mut impl BufMut, flexible: bool, len: usize, width: usize) {
    if flexible {
        put_unsigned_varint(buf, len as u64 + 1);
    } else if width == 2 {
        buf.put_i16(len as i16);
    } else {
        buf.put_i32(len as i32);
    }
}

pub(crate) fn put_null(buf: &mut impl BufMut, flexible: bool, width: usize) {
    if flexible {
        buf.put_u8(0);
    } else if width == 2 {
        buf.put_i16(-1);
    } else {
        buf.put_i32(-1);
    }
}

fn put_unsigned_varint(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, FetchableTopicResponse, PartitionData,
    };
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;
    use myelin_log::io::{Fs, OpenMode, RealFs};

    /// The hand-framed response equals the codec's encoding of the same response, with the
    /// file ranges' bytes as records, in every version served.
    #[test]
    fn framing_matches_the_codec() {
        let dir = tempfile::tempdir().unwrap();
        let file = RealFs
            .open(&dir.path().join("seg"), OpenMode::ReadWriteCreate)
            .unwrap();
        let content: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        file.write_all_at(&content, 0).unwrap();
        let slice = |position: u64, len: u64| FileSlice {
            file: file.clone(),
            position,
            len,
        };
        let id = uuid::Uuid::from_u128(0xabc);
        for version in 4..=16i16 {
            let topic = |n: &str| {
                if version >= 13 {
                    TopicRef::Id(id)
                } else {
                    TopicRef::Name(n.to_string())
                }
            };
            let reply = FetchReply {
                throttle_time_ms: 250,
                error_code: if version >= 7 { 71 } else { 0 },
                session_id: if version >= 7 { 12345 } else { 0 },
                topics: vec![
                    TopicReply {
                        topic: topic("orders"),
                        partitions: vec![
                            PartitionReply {
                                partition_index: 0,
                                error_code: 0,
                                high_watermark: 10,
                                last_stable_offset: 10,
                                log_start_offset: 2,
                                aborted_transactions: Some(vec![(7, 3)]),
                                records: Some(slice(10, 200)),
                            },
                            PartitionReply {
                                partition_index: 1,
                                error_code: 1,
                                high_watermark: -1,
                                last_stable_offset: -1,
                                log_start_offset: -1,
                                aborted_transactions: None,
                                records: None,
                            },
                        ],
                    },
                    TopicReply {
                        topic: topic("audit"),
                        partitions: vec![PartitionReply {
                            partition_index: 4,
                            error_code: 0,
                            high_watermark: 5,
                            last_stable_offset: 5,
                            log_start_offset: 0,
                            aborted_transactions: Some(vec![]),
                            records: Some(slice(0, 1)),
                        }],
                    },
                ],
            };
            let ours = reply
                .clone()
                .into_frame("Fetch", 99, version)
                .unwrap()
                .unwrap()
                .to_vec()
                .unwrap();

            let codec_partition = |p: &PartitionReply| {
                let mut d = PartitionData::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(p.error_code)
                    .with_high_watermark(p.high_watermark)
                    .with_last_stable_offset(p.last_stable_offset)
                    .with_aborted_transactions(p.aborted_transactions.as_ref().map(|l| {
                        l.iter()
                            .map(|(pid, first)| {
                                AbortedTransaction::default()
                                    .with_producer_id((*pid).into())
                                    .with_first_offset(*first)
                            })
                            .collect()
                    }))
                    .with_records(Some(Bytes::from(
                        p.records
                            .as_ref()
                            .map_or(Vec::new(), |s| s.to_vec().unwrap()),
                    )));
                if version >= 5 {
                    d.log_start_offset = p.log_start_offset;
                }
                d
            };
            let codec = FetchResponse::default()
                .with_throttle_time_ms(reply.throttle_time_ms)
                .with_error_code(reply.error_code)
                .with_session_id(reply.session_id)
                .with_responses(
                    reply
                        .topics
                        .iter()
                        .map(|t| {
                            let mut r = FetchableTopicResponse::default().with_partitions(
                                t.partitions.iter().map(codec_partition).collect(),
                            );
                            match &t.topic {
                                TopicRef::Id(id) => r.topic_id = *id,
                                TopicRef::Name(n) => {
                                    r.topic = TopicName(StrBytes::from_string(n.clone()))
                                }
                            }
                            r
                        })
                        .collect(),
                );
            let expected = crate::response::encode_message("Fetch", 99, version, &codec).unwrap();
            assert_eq!(ours, expected.to_vec(), "v{version}");
        }
    }

    #[test]
    fn request_shape_accepts_codec_requests_and_refuses_lies() {
        use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
        for version in 4..=16i16 {
            let mut topic = FetchTopic::default().with_partitions(vec![
                FetchPartition::default().with_partition(3),
                FetchPartition::default().with_partition(4),
            ]);
            if version >= 13 {
                topic.topic_id = uuid::Uuid::from_u128(1);
            } else {
                topic.topic = TopicName(StrBytes::from_static_str("t"));
            }
            let mut request = FetchRequest::default().with_topics(vec![topic]);
            if version >= 7 {
                let mut f = ForgottenTopic::default().with_partitions(vec![1, 2]);
                if version >= 13 {
                    f.topic_id = uuid::Uuid::from_u128(2);
                } else {
                    f.topic = TopicName(StrBytes::from_static_str("f"));
                }
                request.forgotten_topics_data = vec![f];
            }
            let mut body = bytes::BytesMut::new();
            request.encode(&mut body, version).unwrap();
            Fetch::check_request(version, &body).unwrap();
            for cut in 0..body.len() {
                assert!(
                    Fetch::check_request(version, &body[..cut]).is_err(),
                    "v{version} cut at {cut}"
                );
            }
        }
    }
}
