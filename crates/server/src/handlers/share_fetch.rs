//! ShareFetch (key 78), v1-v2: a share group's member fetches records (KIP-932). Each record
//! it gets is *acquired* for it, locked for `share.record.lock.duration.ms`, and returned
//! with its delivery count in `AcquiredRecords`; the batches holding them are returned
//! whole, and the client keeps only the acquired offsets (a control record or an offset
//! compaction removed is acknowledged by the client as a gap).
//!
//! - **Share sessions**, by (group, member): epoch 0 opens one with the request's
//!   partitions, a positive epoch must be the session's (else INVALID_SHARE_SESSION_EPOCH,
//!   or SHARE_SESSION_NOT_FOUND) and adds and forgets partitions, -1 applies the
//!   request's acknowledgements, then closes the session and releases what the member
//!   holds.
//! - **Acknowledgements** ride on the request (ACCEPT, RELEASE, REJECT, GAP); each
//!   partition's are applied all or none, answered in `AcknowledgeErrorCode`
//!   (INVALID_RECORD_STATE for offsets the member does not hold), and are durable before
//!   the response.
//! - **Long polling**: with nothing to acquire the response waits up to `max_wait_ms`,
//!   woken by appends and rechecking every 100 ms for released or expired locks.
//! - Reads stop at the high watermark (`share.isolation.level=read_uncommitted`, Kafka's
//!   default), or at the last stable offset with `read_committed`, where the records of
//!   aborted transactions are archived instead of acquired (never delivered); at most
//!   `max_records` records are acquired per partition, whole batches at a time; in v2's
//!   `record_limit` acquire mode (KIP-1206, the consumer's `share.acquire.mode`) at most
//!   `max_records`, splitting a batch where the count is reached.
//! - **RENEW** (v2, KIP-1222): an acknowledgement of type 4 keeps the record acquired by
//!   the member and starts its lock again; a request flagged `IsRenewAck` only applies its
//!   acknowledgements and fetches nothing.
//!
//! With an authorizer: READ on the group (else GROUP_AUTHORIZATION_FAILED for the
//! request), READ on each topic (else TOPIC_AUTHORIZATION_FAILED for its partitions).
//! The bytes returned count against the client's `consumer_byte_rate` quota; records
//! acquired are sent even over it (they are locked for the member), with the throttle
//! time, and the connection is held back for it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::share_fetch_response::{
    AcquiredRecords, LeaderIdAndEpoch, PartitionData, ShareFetchableTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ShareFetchRequest, ShareFetchResponse};
use kafka_protocol::protocol::buf::{ByteBuf, ByteBufMut};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::ResponseError;
use myelin_cluster::Partition;
use myelin_coord::consumer::{TopicId, TopicMetadata};
use myelin_coord::share::partition::{AckBatch, AckError, Acquired, RecordLimit};
use myelin_coord::share::{
    read_bound, reset_offset, AckOutcome, AutoOffsetReset, SessionError, TopicIdPartition,
};
use myelin_log::batch::BatchHeader;
use tokio::time::Instant;

use crate::apis::{Handler, Reply};
use crate::authz::{Authz, Operation, ResourceType};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::{RequestContext, ServerContext};
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::ClusterTopics;
use crate::quota::{self, QuotaType};
use crate::wire;

/// The leader epoch of every partition (one broker, no elections).
const LEADER_EPOCH: i32 = 0;
/// The most bytes read for one partition of one fetch.
const PARTITION_MAX_BYTES: u64 = 1024 * 1024;
/// The most bytes of records in one response, whatever the request asks: Kafka's broker
/// `fetch.max.bytes` default (55 MiB). A share fetch's records are copied into the
/// response (acquisition decides which batches), so this bounds its memory.
const RESPONSE_MAX_BYTES: u64 = 55 * 1024 * 1024;
/// `max_records` when the request sets none.
const DEFAULT_MAX_RECORDS: usize = 500;
/// How often a waiting fetch looks again for records released or unlocked.
const RECHECK: Duration = Duration::from_millis(100);

/// An acknowledgement batch's layout (ShareFetch and ShareAcknowledge).
pub(crate) const ACK_BATCH: &[Field] = &[
    all(Ty::Int64), // first_offset
    all(Ty::Int64), // last_offset
    all(Ty::Int8s), // acknowledge_types
];

/// The request's group and member ids (empty when null).
pub(crate) fn group_and_member(
    group_id: &Option<kafka_protocol::messages::GroupId>,
    member_id: &Option<StrBytes>,
) -> (String, String) {
    (
        group_id
            .as_ref()
            .map(|g| g.0.to_string())
            .unwrap_or_default(),
        member_id
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default(),
    )
}

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Str),      // group_id
    all(Ty::Str),      // member_id
    all(Ty::Int32),    // share_session_epoch
    all(Ty::Int32),    // max_wait_ms
    all(Ty::Int32),    // min_bytes
    all(Ty::Int32),    // max_bytes
    all(Ty::Int32),    // max_records
    all(Ty::Int32),    // batch_size
    from(2, Ty::Int8), // share_acquire_mode
    from(2, Ty::Bool), // is_renew_ack
    all(Ty::Structs(&[
        all(Ty::Uuid),
        all(Ty::Structs(&[all(Ty::Int32), all(Ty::Structs(ACK_BATCH))])),
    ])), // topics
    all(Ty::Structs(&[all(Ty::Uuid), all(Ty::Int32s)])), // forgotten_topics_data
];

/// `ShareAcquireMode` 0: whole batches, about `max_records` records.
const BATCH_OPTIMIZED: i8 = 0;
/// `ShareAcquireMode` 1: at most `max_records` records.
const RECORD_LIMIT: i8 = 1;

/// A ShareFetch request of a version served. v1 is read by the codec (`kafka-protocol`
/// 0.18: Kafka 4.1's ShareFetch). v2 (Kafka 4.2) puts `ShareAcquireMode` (int8, KIP-1206)
/// and `IsRenewAck` (bool, KIP-1222) after `BatchSize` and is otherwise v1: the two are
/// read here and taken out, and the codec reads the rest as v1.
#[derive(Debug)]
pub struct AnyShareFetchRequest {
    pub body: ShareFetchRequest,
    /// [`BATCH_OPTIMIZED`] or [`RECORD_LIMIT`] (v1: batch-optimized).
    pub acquire_mode: i8,
    /// The acknowledgements hold RENEWs: apply them and fetch nothing (v1: false).
    pub renew_ack: bool,
}

impl Decodable for AnyShareFetchRequest {
    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> anyhow::Result<Self> {
        match version {
            1 => Ok(Self {
                body: ShareFetchRequest::decode(buf, 1)?,
                acquire_mode: BATCH_OPTIMIZED,
                renew_ack: false,
            }),
            2 => {
                // Past the ids, six int32s (session epoch to batch size), then the two.
                let body = buf.copy_to_bytes(buf.remaining());
                let (added, mut v1) =
                    wire::take_after_ids(&body, 24, 2).map_err(anyhow::Error::msg)?;
                Ok(Self {
                    body: ShareFetchRequest::decode(&mut v1, 1)?,
                    acquire_mode: added[0] as i8,
                    renew_ack: added[1] != 0,
                })
            }
            v => anyhow::bail!("ShareFetch v{v}"),
        }
    }
}

/// A ShareFetch response: v2 has v1's layout, which the codec writes.
#[derive(Debug, Default)]
pub struct AnyShareFetchResponse(pub ShareFetchResponse);

impl HeaderVersion for AnyShareFetchResponse {
    fn header_version(_version: i16) -> i16 {
        // Flexible from v0: the response header with tagged fields.
        1
    }
}

impl Encodable for AnyShareFetchResponse {
    fn encode<B: ByteBufMut>(&self, buf: &mut B, version: i16) -> anyhow::Result<()> {
        if !(1..=2).contains(&version) {
            anyhow::bail!("ShareFetch v{version}");
        }
        self.0.encode(buf, 1)
    }

    fn compute_size(&self, version: i16) -> anyhow::Result<usize> {
        if !(1..=2).contains(&version) {
            anyhow::bail!("ShareFetch v{version}");
        }
        self.0.compute_size(1)
    }
}

/// The ShareFetch handler.
#[derive(Debug)]
pub struct ShareFetch;

/// What one partition's fetch found.
#[derive(Debug, Default)]
struct PartitionFetch {
    error: Option<ResponseError>,
    records: Option<Bytes>,
    acquired: Vec<Acquired>,
}

impl Handler for ShareFetch {
    type Request = AnyShareFetchRequest;
    type Response = AnyShareFetchResponse;
    const KEY: ApiKey = ApiKey::ShareFetch;
    const NAME: &'static str = "ShareFetch";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 2;
    const ABOVE_CODEC: bool = true;

    async fn handle(
        ctx: RequestContext,
        request: AnyShareFetchRequest,
    ) -> Result<Reply<AnyShareFetchResponse>, HandlerError> {
        serve(ctx, request)
            .await
            .map(|r| Reply::Ready(AnyShareFetchResponse(r)))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, true)
    }
}

/// Serves one ShareFetch.
async fn serve(
    ctx: RequestContext,
    AnyShareFetchRequest {
        body: request,
        acquire_mode,
        renew_ack,
    }: AnyShareFetchRequest,
) -> Result<ShareFetchResponse, HandlerError> {
    let server = ctx.server.clone();
    // The consumer byte-rate quota (consumer_byte_rate), as for Fetch.
    let charge = ctx.quota(QuotaType::Fetch);
    let (group_id, member_id) = group_and_member(&request.group_id, &request.member_id);
    let authz = ctx.authz();
    if group_id.is_empty() {
        return Ok(top_error(
            ResponseError::InvalidRequest,
            "GroupId can't be empty.",
        ));
    }
    if !authz.allows(Operation::Read, ResourceType::Group, &group_id) {
        let e = ResponseError::GroupAuthorizationFailed;
        return Ok(top_error(e, &e.to_string()));
    }
    if acquire_mode != BATCH_OPTIMIZED && acquire_mode != RECORD_LIMIT {
        return Ok(top_error(
            ResponseError::InvalidRequest,
            &format!("Unknown ShareAcquireMode {acquire_mode}."),
        ));
    }
    let epoch = request.share_session_epoch;
    let acks = request_acks(
        request
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, p)))
            .map(|(id, p)| {
                (
                    (TopicId(*id.as_bytes()), p.partition_index),
                    p.acknowledgement_batches
                        .iter()
                        .map(|b| (b.first_offset, b.last_offset, &b.acknowledge_types)),
                )
            }),
    );
    if epoch == 0 && !acks.is_empty() {
        return Ok(top_error(
            ResponseError::InvalidRequest,
            "Acknowledge data present in the initial ShareFetch of a session.",
        ));
    }
    let added: Vec<TopicIdPartition> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (TopicId(*t.topic_id.as_bytes()), p.partition_index))
        })
        .collect();
    let forgotten: Vec<TopicIdPartition> = request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (TopicId(*t.topic_id.as_bytes()), *p))
        })
        .collect();
    let session = match server
        .shares
        .session(&group_id, &member_id, epoch, &added, &forgotten, true)
    {
        Ok(s) => s,
        Err(e) => {
            let code = session_error_code(&e);
            return Ok(top_error(code, &e.to_string()));
        }
    };
    let topics = ClusterTopics(server.metadata.state());
    let readable = readable_topics(&authz, &topics, &session);
    // Acknowledgements first, as Kafka applies them before fetching.
    let (ack_codes, pending) = match apply_acks(&server, &group_id, &member_id, &acks, &readable) {
        Ok(r) => r,
        Err(e) => return Ok(top_error(e, &e.to_string())),
    };
    let mut fetched: BTreeMap<TopicIdPartition, PartitionFetch> = BTreeMap::new();
    let pending = if epoch == -1 {
        match server.shares.close_session(&group_id, &member_id) {
            Ok(closed) => vec![pending, closed],
            Err(e) => {
                let code = group_error_code(&e);
                return Ok(top_error(code, &e.to_string()));
            }
        }
    } else if renew_ack {
        // Renewals only: what the member holds stays its own, nothing more is acquired.
        vec![pending]
    } else {
        let overrides =
            crate::configs::share_overrides(server.metadata.state().group_configs(&group_id));
        let max_records = usize::try_from(request.max_records)
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_MAX_RECORDS);
        let limit = if acquire_mode == RECORD_LIMIT {
            RecordLimit::Records(max_records)
        } else {
            RecordLimit::Batches(max_records)
        };
        let max_bytes = u64::try_from(request.max_bytes.max(1))
            .unwrap_or(1)
            .min(RESPONSE_MAX_BYTES);
        let deadline =
            Instant::now() + Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
        fetched = fetch_with_wait(
            &server,
            &topics,
            &readable,
            FetchArgs {
                group_id: &group_id,
                member_id: &member_id,
                session: &session,
                reset: overrides.auto_offset_reset,
                read_committed: overrides.read_committed,
                limit,
                max_bytes,
            },
            deadline,
        )
        .await;
        vec![pending]
    };
    for p in pending {
        if let Err(e) = p.wait().await {
            let code = group_error_code(&e);
            return Ok(top_error(code, &e.to_string()));
        }
    }
    // Every partition with records, an error or acknowledgements answered.
    let mut by_topic: BTreeMap<TopicId, Vec<PartitionData>> = BTreeMap::new();
    let mut tps: Vec<TopicIdPartition> = fetched.keys().copied().collect();
    tps.extend(ack_codes.keys().copied());
    tps.sort();
    tps.dedup();
    for tp in tps {
        let f = fetched.remove(&tp).unwrap_or_default();
        let (ack_code, ack_message) = ack_codes.get(&tp).cloned().unwrap_or((0, None));
        if f.error.is_none() && f.acquired.is_empty() && !ack_codes.contains_key(&tp) {
            continue;
        }
        let mut data = PartitionData::default()
            .with_partition_index(tp.1)
            .with_acknowledge_error_code(ack_code)
            .with_acknowledge_error_message(ack_message.map(StrBytes::from_string))
            .with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(server.config.node_id)
                    .with_leader_epoch(LEADER_EPOCH),
            )
            .with_records(Some(f.records.unwrap_or_default()))
            .with_acquired_records(
                f.acquired
                    .iter()
                    .map(|a| {
                        AcquiredRecords::default()
                            .with_first_offset(a.first_offset)
                            .with_last_offset(a.last_offset)
                            .with_delivery_count(a.delivery_count)
                    })
                    .collect(),
            );
        if let Some(e) = f.error {
            data.error_code = e.code();
            data.error_message = Some(StrBytes::from_string(e.to_string()));
        }
        by_topic.entry(tp.0).or_default().push(data);
    }
    let lock_ms = server.shares.lock_duration_ms(&group_id);
    // Records acquired are sent whatever the quota (they are locked for this member);
    // a client over it is held back for the throttle time, as Kafka does.
    let bytes: usize = by_topic
        .values()
        .flatten()
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .sum();
    let throttle_time_ms =
        charge.map_or(0, |c| quota::throttle_ms(c.record(&server, bytes as f64)));
    Ok(ShareFetchResponse::default()
        .with_throttle_time_ms(throttle_time_ms)
        .with_acquisition_lock_timeout_ms(i32::try_from(lock_ms).unwrap_or(i32::MAX))
        .with_responses(
            by_topic
                .into_iter()
                .map(|(id, partitions)| {
                    ShareFetchableTopicResponse::default()
                        .with_topic_id(uuid::Uuid::from_bytes(id.0))
                        .with_partitions(partitions)
                })
                .collect(),
        ))
}

/// A response with only a top-level error.
fn top_error(e: ResponseError, message: &str) -> ShareFetchResponse {
    ShareFetchResponse::default()
        .with_error_code(e.code())
        .with_error_message(Some(StrBytes::from_string(message.to_string())))
}

/// The wire's error for a share session that cannot be used.
pub(crate) fn session_error_code(e: &SessionError) -> ResponseError {
    match e {
        SessionError::NotFound => ResponseError::ShareSessionNotFound,
        SessionError::InvalidEpoch { .. } => ResponseError::InvalidShareSessionEpoch,
        SessionError::InvalidRequest(_) => ResponseError::InvalidRequest,
        SessionError::LimitReached(_) => ResponseError::ShareSessionLimitReached,
    }
}

/// The acknowledgements of a request, by partition (partitions without any left out).
pub(crate) fn request_acks<'a, B>(
    partitions: impl Iterator<Item = (TopicIdPartition, B)>,
) -> Vec<(TopicIdPartition, Vec<AckBatch>)>
where
    B: Iterator<Item = (i64, i64, &'a Vec<i8>)>,
{
    partitions
        .map(|(tp, batches)| {
            (
                tp,
                batches
                    .map(|(first, last, types)| AckBatch {
                        first_offset: first,
                        last_offset: last,
                        types: types.clone(),
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, b)| !b.is_empty())
        .collect()
}

/// The partitions whose topic exists and the principal may READ, from `tps`.
pub(crate) fn readable_topics(
    authz: &Authz<'_>,
    topics: &ClusterTopics,
    tps: &[TopicIdPartition],
) -> BTreeMap<TopicId, Result<String, ResponseError>> {
    let mut out = BTreeMap::new();
    for (id, _) in tps {
        out.entry(*id)
            .or_insert_with(|| match topics.topic_name(id) {
                None => Err(ResponseError::UnknownTopicOrPartition),
                Some(name) if !authz.allows(Operation::Read, ResourceType::Topic, name) => {
                    Err(ResponseError::TopicAuthorizationFailed)
                }
                Some(name) => Ok(name.to_string()),
            });
    }
    out
}

/// The acknowledgement error code (and message) of each partition acknowledged.
pub(crate) type AckCodes = BTreeMap<TopicIdPartition, (i16, Option<String>)>;

/// Applies the acknowledgements of partitions the principal may read; the others get the
/// topic's error. Returns each partition's code and the writes to wait for.
pub(crate) fn apply_acks(
    server: &ServerContext,
    group_id: &str,
    member_id: &str,
    acks: &[(TopicIdPartition, Vec<AckBatch>)],
    readable: &BTreeMap<TopicId, Result<String, ResponseError>>,
) -> Result<(AckCodes, myelin_coord::share::Pending), ResponseError> {
    let mut codes = AckCodes::new();
    let mut allowed = Vec::new();
    for (tp, batches) in acks {
        let topic = readable
            .get(&tp.0)
            .cloned()
            .unwrap_or(Err(ResponseError::UnknownTopicOrPartition));
        match topic {
            Ok(_) => allowed.push((*tp, batches.clone())),
            Err(e) => {
                codes.insert(*tp, (e.code(), Some(e.to_string())));
            }
        }
    }
    if allowed.is_empty() {
        return Ok((codes, myelin_coord::share::Pending::none()));
    }
    let (outcomes, pending) = server
        .shares
        .acknowledge(group_id, member_id, &allowed)
        .map_err(|e| group_error_code(&e))?;
    for ((tp, _), outcome) in allowed.iter().zip(outcomes) {
        let code = match outcome {
            AckOutcome::Done => (0, None),
            AckOutcome::Refused(e @ AckError::InvalidRequest(_)) => {
                (ResponseError::InvalidRequest.code(), Some(e.to_string()))
            }
            AckOutcome::Refused(e @ AckError::InvalidRecordState { .. }) => (
                ResponseError::InvalidRecordState.code(),
                Some(e.to_string()),
            ),
            AckOutcome::UnknownPartition => (
                ResponseError::InvalidRecordState.code(),
                Some("the share group has no state for this partition".to_string()),
            ),
        };
        codes.insert(*tp, code);
    }
    Ok((codes, pending))
}

/// What a fetch is for.
struct FetchArgs<'a> {
    group_id: &'a str,
    member_id: &'a str,
    session: &'a [TopicIdPartition],
    reset: AutoOffsetReset,
    /// `share.isolation.level=read_committed`.
    read_committed: bool,
    limit: RecordLimit,
    max_bytes: u64,
}

/// Fetches the session's partitions until something is acquired or `deadline`.
async fn fetch_with_wait(
    server: &Arc<ServerContext>,
    topics: &ClusterTopics,
    readable: &BTreeMap<TopicId, Result<String, ResponseError>>,
    args: FetchArgs<'_>,
    deadline: Instant,
) -> BTreeMap<TopicIdPartition, PartitionFetch> {
    loop {
        let partitions: Vec<Arc<Partition>> = args
            .session
            .iter()
            .filter_map(|(id, index)| {
                let name = topics.topic_name(id)?;
                server.partitions.get(name, *index)
            })
            .collect();
        // Registered before reading, so that no append between the read and the wait is
        // missed.
        let mut arrivals: Vec<_> = partitions
            .iter()
            .map(|p| Box::pin(p.data_arrived()))
            .collect();
        let fetched = fetch_once(server, readable, &args);
        let got = fetched
            .values()
            .any(|f| f.error.is_some() || !f.acquired.is_empty());
        let now = Instant::now();
        if got || now >= deadline || args.session.is_empty() {
            return fetched;
        }
        tokio::select! {
            () = crate::handlers::fetch::any_arrival(&mut arrivals) => {}
            () = tokio::time::sleep_until(deadline.min(now + RECHECK)) => {}
        }
    }
}

/// One pass over the session's partitions: acquires what each has.
fn fetch_once(
    server: &ServerContext,
    readable: &BTreeMap<TopicId, Result<String, ResponseError>>,
    args: &FetchArgs<'_>,
) -> BTreeMap<TopicIdPartition, PartitionFetch> {
    let mut out = BTreeMap::new();
    let mut budget = args.max_bytes;
    for tp in args.session {
        let topic = readable
            .get(&tp.0)
            .cloned()
            .unwrap_or(Err(ResponseError::UnknownTopicOrPartition));
        let fetch = match topic {
            Err(e) => PartitionFetch {
                error: Some(e),
                ..PartitionFetch::default()
            },
            Ok(name) => match server.partitions.get(&name, tp.1) {
                None => PartitionFetch {
                    error: Some(ResponseError::UnknownTopicOrPartition),
                    ..PartitionFetch::default()
                },
                Some(p) if budget > 0 => fetch_partition(server, &p, tp, args, &mut budget),
                Some(_) => PartitionFetch::default(),
            },
        };
        out.insert(*tp, fetch);
    }
    out
}

/// Reads one partition from where the share-partition would deliver next and acquires
/// what it can of it.
fn fetch_partition(
    server: &ServerContext,
    p: &Partition,
    tp: &TopicIdPartition,
    args: &FetchArgs<'_>,
    budget: &mut u64,
) -> PartitionFetch {
    let bound = read_bound(p, args.read_committed);
    let log_start = p.log.log_start_offset();
    // Where a partition the group has no state for starts (share.auto.offset.reset).
    let start_for_new = || reset_offset(p, args.reset, args.read_committed);
    let Some(from) = server
        .shares
        .fetch_offset(args.group_id, tp, log_start, start_for_new)
    else {
        return PartitionFetch::default();
    };
    if from >= bound {
        return PartitionFetch::default();
    }
    let max = PARTITION_MAX_BYTES.min(*budget);
    let bytes = match p.log.read(from.max(log_start), max, bound, true) {
        Ok(r) => match r.slice.map(|s| s.to_vec()).transpose() {
            Ok(b) => b.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "share fetch read failed");
                return PartitionFetch {
                    error: Some(ResponseError::KafkaStorageError),
                    ..PartitionFetch::default()
                };
            }
        },
        Err(e) => {
            tracing::debug!(topic = %p.topic, partition = p.index, error = %e, "share fetch read failed");
            return PartitionFetch::default();
        }
    };
    // The whole batches read, as (base offset, last offset, byte range), and for
    // read_committed the data batches of aborted transactions, which are archived: a
    // transactional batch of a producer whose transaction was aborted between its first
    // offset and its ABORT marker, as a read_committed consumer skips them.
    let aborted_txns = if args.read_committed {
        p.log.aborted_transactions(from, bound)
    } else {
        Vec::new()
    };
    let mut batches = Vec::new();
    let mut aborted = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let Ok(header) = BatchHeader::parse(&bytes[pos..]) else {
            break;
        };
        let end = pos.saturating_add(header.total_len());
        if end > bytes.len() || header.base_offset >= bound {
            break;
        }
        if header.is_transactional()
            && !header.is_control()
            && aborted_txns.iter().any(|a| {
                a.producer_id == header.producer_id
                    && a.first_offset <= header.base_offset
                    && header.base_offset <= a.last_offset
            })
        {
            aborted.push((header.base_offset, header.last_offset()));
        }
        batches.push((header.base_offset, header.last_offset(), pos..end));
        pos = end;
    }
    let ranges: Vec<(i64, i64)> = batches.iter().map(|(b, l, _)| (*b, *l)).collect();
    let acquired = server.shares.acquire(
        args.group_id,
        args.member_id,
        tp,
        &ranges,
        &aborted,
        args.limit,
    );
    if acquired.is_empty() {
        return PartitionFetch::default();
    }
    let mut records = Vec::new();
    for (base, last, range) in &batches {
        if acquired
            .iter()
            .any(|a| a.first_offset <= *last && *base <= a.last_offset)
        {
            records.extend_from_slice(&bytes[range.clone()]);
        }
    }
    *budget = budget.saturating_sub(records.len() as u64);
    PartitionFetch {
        error: None,
        records: Some(Bytes::from(records)),
        acquired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_requests_carry_the_acquire_mode_and_the_renew_flag() {
        let request = ShareFetchRequest::default()
            .with_group_id(Some(kafka_protocol::messages::GroupId(
                StrBytes::from_static_str("g"),
            )))
            .with_member_id(Some(StrBytes::from_static_str("m")))
            .with_share_session_epoch(1)
            .with_max_records(3)
            .with_batch_size(3);
        let mut v1 = bytes::BytesMut::new();
        request.encode(&mut v1, 1).unwrap();
        // "g" (2 bytes), "m" (2), six int32s (24), then the mode and the flag.
        let mut v2 = v1[..28].to_vec();
        v2.extend_from_slice(&[RECORD_LIMIT as u8, 1]);
        v2.extend_from_slice(&v1[28..]);
        bounds::check(&v2, SCHEMA, 2, true).unwrap();
        let read = AnyShareFetchRequest::decode(&mut bytes::Bytes::from(v2), 2).unwrap();
        assert_eq!(read.body, request);
        assert_eq!(read.acquire_mode, RECORD_LIMIT);
        assert!(read.renew_ack);
        let read = AnyShareFetchRequest::decode(&mut v1.clone().freeze(), 1).unwrap();
        assert_eq!(
            (read.acquire_mode, read.renew_ack),
            (BATCH_OPTIMIZED, false)
        );
        assert!(
            AnyShareFetchRequest::decode(&mut bytes::Bytes::from(v1[..29].to_vec()), 2).is_err()
        );
        // v2's response is v1's.
        let response =
            AnyShareFetchResponse(ShareFetchResponse::default().with_throttle_time_ms(5));
        let (mut a, mut b) = (bytes::BytesMut::new(), bytes::BytesMut::new());
        response.encode(&mut a, 2).unwrap();
        response.0.encode(&mut b, 1).unwrap();
        assert_eq!(a, b);
    }
}
