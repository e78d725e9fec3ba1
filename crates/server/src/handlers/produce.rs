//! Produce (key 0), v3-11, advertised from v0: append record batches to partitions.
//!
//! - acks: 0 sends no response at all (Kafka closes the connection instead when a
//!   partition failed, so that the producer refreshes its metadata); 1 and -1 (all) both
//!   answer once the append is durable: on a single node the leader is the whole ISR, and
//!   the log acknowledges only fsync'ed data by default. Any other value gets
//!   INVALID_REQUIRED_ACKS (21) for every partition.
//! - The appends happen while the request is handled, in request order; the wait for the
//!   group-commit fsync is a [`Reply::Later`], so pipelined produce requests share one
//!   fsync instead of queueing behind each other.
//! - Per partition, Kafka's checks in Kafka's order: INVALID_TOPIC_EXCEPTION (17) for a
//!   name no topic can have or an internal topic, UNKNOWN_TOPIC_OR_PARTITION (3),
//!   INVALID_RECORD (87) unless the records are exactly one magic-2 batch (v3+),
//!   UNSUPPORTED_COMPRESSION_TYPE (76) for zstd below v7, NOT_ENOUGH_REPLICAS (19) for
//!   acks=all when `min.insync.replicas` exceeds our one replica, then the log's
//!   validation: CORRUPT_MESSAGE (2) for a bad CRC or inconsistent lengths, MESSAGE_TOO_LARGE
//!   (10) above `max.message.bytes`, INVALID_RECORD for a keyless record on a compacted
//!   topic (from v8 with `record_errors` naming each such record, KIP-467), KAFKA_STORAGE_ERROR (56) for the disk: an offline log, a full disk, or less
//!   free space than `log.dir.reserved.bytes` (kept for the internal topics).
//! - Control batches (transaction markers) are refused with INVALID_RECORD, as Kafka does:
//!   only the transaction coordinator writes them. A transactional batch is appended only
//!   when its producer's transaction is open and includes the partition (Kafka's KIP-890
//!   verification), else INVALID_TXN_STATE (INVALID_PRODUCER_EPOCH for a fenced epoch).
//!   Idempotent batches are
//!   checked by the log (sequence and epoch per producer): a retried batch already written
//!   is answered with its original offsets and not written again.
//! - A topic whose `compression.type` names a codec gets every batch recompressed to it
//!   when the producer used another (Kafka's `LogValidator`); `producer` keeps the batch.
//! - Authorization (with an authorizer, as Kafka's `handleProduceRequest`): a request with
//!   a transactional id or transactional batches needs WRITE on the TRANSACTIONAL_ID, else
//!   every partition gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) and nothing is
//!   appended (acks=0: no answer). Then each topic needs WRITE, else its partitions get
//!   TOPIC_AUTHORIZATION_FAILED (29), before any other check; the decision is made once
//!   per topic.
//! - Kafka does not create topics on Produce (only Metadata does, when
//!   `auto.create.topics.enable`): producers fetch metadata first, and an unknown topic is
//!   UNKNOWN_TOPIC_OR_PARTITION, which they retry after a metadata refresh.
//! - v0-2 are advertised (librdkafka before 2.11.1 turns compression off when the
//!   advertised minimum is above 0) but answered with UNSUPPORTED_VERSION (35) for every
//!   partition, in a hand-encoded v0-2 body, since the codec starts at v3.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes};
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_cluster::{BrokerConfigScope, MetadataState, Partition};
use myelin_log::batch::{self, HEADER_LEN, MAGIC_AT, MAGIC_V2};
use myelin_log::compression::Compression;
use myelin_log::record::{records_of_batch, BatchBuilder, RecordIter};
use myelin_log::{AppendInfo, AppendOptions, BatchError, DurableWait, LogError};

use crate::apis::{Handler, LaterReply, Reply};
use crate::authz::{Authz, Operation, ResourceType};
use crate::bounds::{self, all, from, until, Field, Ty};
use crate::context::{RequestContext, ServerContext};
use crate::error::{log_error_code, HandlerError};
use crate::quota::{self, QuotaType};
use crate::response::{ResponseBody, ResponseFrame};

/// The Produce handler.
#[derive(Debug)]
pub struct Produce;

/// Produce's request layout (Kafka's `ProduceRequest.json`) from v3, for
/// [`bounds::check`].
const SCHEMA: &[Field] = &[
    all(Ty::Str),   // transactional_id
    all(Ty::Int16), // acks
    all(Ty::Int32), // timeout_ms
    all(Ty::Structs(&[
        until(12, Ty::Str), // name
        from(13, Ty::Uuid), // topic_id
        all(Ty::Structs(PARTITION)),
    ])),
];
/// Index and records.
const PARTITION: &[Field] = &[all(Ty::Int32), all(Ty::Bytes)];

/// The v0-2 layout (no transactional_id), read only to echo its partitions.
const OLD_SCHEMA: &[Field] = &[
    all(Ty::Int16), // acks
    all(Ty::Int32), // timeout_ms
    all(Ty::Structs(&[all(Ty::Str), all(Ty::Structs(PARTITION))])),
];

/// Our leader epoch, stamped into every batch: one node, no elections yet.
const LEADER_EPOCH: i32 = 0;

/// Topics clients may not produce to (Kafka's `Topic.isInternal`).
const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state"];

/// Produce's response: none for acks=0.
#[derive(Debug)]
pub struct ProduceReply(pub Option<ProduceResponse>);

impl ResponseBody for ProduceReply {
    fn into_frame(
        self,
        api: &'static str,
        correlation_id: i32,
        version: i16,
    ) -> Result<Option<ResponseFrame>, HandlerError> {
        match self.0 {
            Some(response) => response.into_frame(api, correlation_id, version),
            None => Ok(None),
        }
    }
}

/// One partition's outcome while the request is handled.
enum Outcome {
    Failed(ResponseError, String),
    /// Refused for some of its records (Kafka's `RecordValidationException`): the batch
    /// index and message of each, for the answer's `record_errors` (v8+, KIP-467), from
    /// which the producer fails only those records and retries the others
    /// (librdkafka: `_INVALID_DIFFERENT_RECORD` for them).
    Refused(ResponseError, String, Vec<BatchIndexAndErrorMessage>),
    /// Appended; durable once `wait` (if any) resolves.
    Appended {
        partition: Arc<Partition>,
        info: AppendInfo,
        wait: Option<DurableWait>,
    },
}

impl Handler for Produce {
    type Request = ProduceRequest;
    type Response = ProduceReply;
    const KEY: ApiKey = ApiKey::Produce;
    const NAME: &'static str = "Produce";
    const MIN_VERSION: i16 = 3;
    const MAX_VERSION: i16 = 11;
    const ADVERTISED_MIN_VERSION: i16 = 0;

    async fn handle(
        ctx: RequestContext,
        request: ProduceRequest,
    ) -> Result<Reply<ProduceReply>, HandlerError> {
        let version = ctx.api_version();
        let acks = request.acks;
        let server = &ctx.server;
        let state = server.metadata.state();
        let now_ms = myelin_log::manager::wall_clock_ms();
        // The producer byte rate counts every request's bytes, as Kafka's does; a client
        // over it is answered at once and its connection held back (acks=0 too).
        let throttle_time_ms = ctx.quota(QuotaType::Produce).map_or(0, |c| {
            quota::throttle_ms(c.record(server, ctx.request_size as f64))
        });
        let authz = ctx.authz();
        if authz.enabled() && !transactional_id_authorized(&authz, &request) {
            // Kafka fails the whole request (`ProduceRequest.getErrorResponse`), which acks=0
            // does not answer.
            if acks == 0 {
                return Ok(Reply::Ready(ProduceReply(None)));
            }
            let error = ResponseError::TransactionalIdAuthorizationFailed;
            let message = format!(
                "not authorized to write with transactional id {:?}",
                request
                    .transactional_id
                    .as_ref()
                    .map_or("", |id| id.as_str())
            );
            let topics = request
                .topic_data
                .into_iter()
                .map(|t| {
                    let partitions = t
                        .partition_data
                        .iter()
                        .map(|p| (p.index, Err((error, message.clone(), Vec::new()))))
                        .collect();
                    (t.name.0, partitions)
                })
                .collect();
            return Ok(Reply::Ready(ProduceReply(Some(respond(
                version,
                throttle_time_ms,
                topics,
            )))));
        }
        let mut outcomes: Vec<(StrBytes, Vec<(i32, Outcome)>)> = Vec::new();
        for topic in request.topic_data {
            let name = topic.name.0;
            // Decided once per topic; without an authorizer, one branch.
            let denied =
                authz.enabled() && !authz.allows(Operation::Write, ResourceType::Topic, &name);
            let mut partitions = Vec::with_capacity(topic.partition_data.len());
            for p in topic.partition_data {
                let outcome = if denied {
                    Outcome::Failed(
                        ResponseError::TopicAuthorizationFailed,
                        format!("not authorized to write to topic {}", name.as_str()),
                    )
                } else if !matches!(acks, -1..=1) {
                    Outcome::Failed(
                        ResponseError::InvalidRequiredAcks,
                        format!("acks must be -1, 0 or 1, not {acks}"),
                    )
                } else {
                    append(
                        &ctx,
                        &state,
                        name.as_str(),
                        p.index,
                        p.records,
                        acks,
                        now_ms,
                    )
                };
                partitions.push((p.index, outcome));
            }
            outcomes.push((name, partitions));
        }

        if acks == 0 {
            let failures: Vec<String> = outcomes
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |(i, o)| (t, i, o)))
                .filter_map(|(t, i, o)| match o {
                    Outcome::Failed(e, msg) | Outcome::Refused(e, msg, _) => {
                        Some(format!("{}-{i}: {e:?} ({msg})", t.as_str()))
                    }
                    Outcome::Appended { .. } => None,
                })
                .collect();
            // Nobody waits for the fsync, but fetches must still be woken once the records
            // are visible.
            for (_, partitions) in outcomes {
                for (_, outcome) in partitions {
                    if let Outcome::Appended {
                        partition, wait, ..
                    } = outcome
                    {
                        match wait {
                            Some(wait) => {
                                tokio::spawn(async move {
                                    if wait.await.is_ok() {
                                        partition.notify_data();
                                    }
                                });
                            }
                            None => partition.notify_data(),
                        }
                    }
                }
            }
            if !failures.is_empty() {
                return Err(HandlerError::CloseConnection {
                    api: Self::NAME,
                    reason: format!(
                        "acks=0 produce failed for {}; closing the connection so that the \
                         producer refreshes its metadata",
                        failures.join(", ")
                    ),
                });
            }
            return Ok(Reply::Ready(ProduceReply(None)));
        }

        let durable = outcomes.iter().any(|(_, ps)| {
            ps.iter()
                .any(|(_, o)| matches!(o, Outcome::Appended { wait: Some(_), .. }))
        });
        if !durable {
            return Ok(Reply::Ready(ProduceReply(Some(respond(
                version,
                throttle_time_ms,
                complete(outcomes, |_| Ok(())),
            )))));
        }
        Ok(Reply::Later(LaterReply(Box::pin(async move {
            // Every wait was registered with the flusher when appending: awaiting them in
            // turn costs one flush wave for all.
            let mut results = Vec::new();
            for (_, partitions) in &mut outcomes {
                for (_, outcome) in partitions.iter_mut() {
                    if let Outcome::Appended { wait, .. } = outcome {
                        let result = match wait.take() {
                            Some(wait) => wait.await,
                            None => Ok(()),
                        };
                        results.push(result);
                    }
                }
            }
            let mut results = results.into_iter();
            let topics = complete(outcomes, |_| results.next().unwrap_or(Ok(())));
            Ok(ProduceReply(Some(respond(
                version,
                throttle_time_ms,
                topics,
            ))))
        }))))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 9)
    }

    fn answer_unsupported(
        api_version: i16,
        correlation_id: i32,
        frame: &Bytes,
    ) -> Result<Option<ResponseFrame>, HandlerError> {
        Ok((0..Self::MIN_VERSION)
            .contains(&api_version)
            .then(|| old_version_error(api_version, correlation_id, frame))
            .flatten()
            .map(ResponseFrame::from))
    }
}

/// Kafka's check of a transactional produce: a request with a transactional id, or with
/// transactional batches, needs WRITE on that transactional id (a transactional batch
/// without an id is refused too).
fn transactional_id_authorized(authz: &Authz<'_>, request: &ProduceRequest) -> bool {
    let transactional = request.transactional_id.is_some()
        || request.topic_data.iter().any(|t| {
            t.partition_data.iter().any(|p| {
                p.records.as_ref().is_some_and(|r| {
                    r.len() >= batch::ATTRIBUTES_AT + 2
                        && i16::from_be_bytes([
                            r[batch::ATTRIBUTES_AT],
                            r[batch::ATTRIBUTES_AT + 1],
                        ]) & batch::ATTR_TRANSACTIONAL
                            != 0
                })
            })
        });
    !transactional
        || request.transactional_id.as_ref().is_some_and(|id| {
            authz.allows(Operation::Write, ResourceType::TransactionalId, id.as_str())
        })
}

/// Checks and appends one partition's records, in the order of Kafka's
/// `handleProduceRequest` and `ReplicaManager.appendToLocalLog`.
fn append(
    ctx: &RequestContext,
    state: &MetadataState,
    topic: &str,
    index: i32,
    records: Option<Bytes>,
    acks: i16,
    now_ms: i64,
) -> Outcome {
    let version = ctx.api_version();
    let server = &ctx.server;
    if let Err(e) = myelin_cluster::state::validate_topic_name(topic) {
        return Outcome::Failed(ResponseError::InvalidTopicException, e.to_string());
    }
    if INTERNAL_TOPICS.contains(&topic) {
        return Outcome::Failed(
            ResponseError::InvalidTopicException,
            format!("cannot append to internal topic {topic}"),
        );
    }
    let Some(partition) = server.partitions.get(topic, index) else {
        // Topic auto-creation belongs to Metadata, as in Kafka (see the module docs).
        return Outcome::Failed(
            ResponseError::UnknownTopicOrPartition,
            format!("this server does not host {topic}-{index}"),
        );
    };
    let records = records.unwrap_or_default();
    if let Err((error, msg)) = check_one_batch(version, &records) {
        return Outcome::Failed(error, msg);
    }
    if let Err((error, msg)) = verify_transactional(server, topic, index, &records) {
        return Outcome::Failed(error, msg);
    }
    let configs = state.topic_by_name(topic).map(|t| &t.configs);
    let setting = |name: &str| -> Option<String> {
        configs
            .and_then(|c| c.get(name))
            .or_else(|| {
                state
                    .broker_configs(BrokerConfigScope::Broker(server.config.node_id))
                    .get(name)
            })
            .or_else(|| {
                state
                    .broker_configs(BrokerConfigScope::ClusterDefault)
                    .get(name)
            })
            .cloned()
    };
    if acks == -1 {
        let min_isr: i64 = setting("min.insync.replicas")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1);
        if min_isr > 1 {
            return Outcome::Failed(
                ResponseError::NotEnoughReplicas,
                format!("{topic}-{index} has 1 in-sync replica, min.insync.replicas is {min_isr}"),
            );
        }
    }
    // Schema ID validation (Confluent Server's topic configs): each record's key or
    // value must name a schema registered for its subject. A refused batch is refused
    // whole, with every failing record listed (KIP-467).
    let validation = crate::schemas::Validation::of(configs);
    if validation.is_on() {
        if let Err(refused) =
            server
                .schemas
                .validate(&server.partitions, topic, validation, &records)
        {
            server.metrics.schema_refused(topic, refused.records.len());
            return schema_refusal(topic, index, refused);
        }
    }
    // A disk below its reserve takes no client records: the last bytes are kept for
    // offset commits and transaction markers (`log.dir.reserved.bytes`).
    if let Err(e) = server.partitions.logs().space().check_reserve() {
        return failed_append(&partition, e);
    }
    // The log writes the batches from the request frame itself (no copy): only their
    // stamped headers are copied.
    let rebuilt = match recompress_if_configured(&records, setting("compression.type"), &partition)
    {
        Ok(rebuilt) => rebuilt,
        Err(e) => return failed_append(&partition, e),
    };
    let buf: &[u8] = rebuilt.as_deref().unwrap_or(&records);
    let opts = AppendOptions {
        leader_epoch: LEADER_EPOCH,
        now_ms,
    };
    match server.partitions.logs().append(&partition.log, buf, &opts) {
        Ok((info, wait)) => {
            if wait.is_none() {
                // Relaxed durability: visible at once.
                partition.notify_data();
            }
            Outcome::Appended {
                partition,
                info,
                wait,
            }
        }
        Err(e) => failed_append(&partition, e),
    }
}

/// INVALID_RECORD for a batch that failed schema ID validation, in the words of Confluent
/// Server's `RecordSchemaValidator`.
fn schema_refusal(topic: &str, index: i32, refused: crate::schemas::Refused) -> Outcome {
    tracing::debug!(
        topic,
        partition = index,
        records = refused.records.len(),
        "batch refused by schema validation"
    );
    let record_errors = refused
        .records
        .iter()
        .map(|(i, why)| {
            BatchIndexAndErrorMessage::default()
                .with_batch_index(*i)
                .with_batch_index_error_message(Some(StrBytes::from_string(format!(
                    "Log record at index {i} is rejected by the record interceptor (schema validation): {why}"
                ))))
        })
        .collect();
    let first = refused.records.first().map_or("", |(_, why)| why.as_str());
    Outcome::Refused(
        ResponseError::InvalidRecord,
        format!(
            "One or more records have been rejected by schema validation of {topic}-{index}: {first}"
        ),
        record_errors,
    )
}

fn failed_append(partition: &Partition, e: LogError) -> Outcome {
    let code = log_error_code(&e);
    if e.is_storage() {
        tracing::warn!(topic = %partition.topic, partition = partition.index, error = %e, "append failed");
    } else {
        tracing::debug!(topic = %partition.topic, partition = partition.index, error = %e, "batch refused");
    }
    match &e {
        LogError::InvalidBatch(BatchError::MissingKey { records }) => {
            // Kafka's words, for each keyless record.
            let message = format!(
                "Compacted topic cannot accept message without key in topic partition {}-{}.",
                partition.topic, partition.index
            );
            let record_errors = records
                .iter()
                .map(|&i| {
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(i)
                        .with_batch_index_error_message(Some(StrBytes::from_string(
                            message.clone(),
                        )))
                })
                .collect();
            Outcome::Refused(code, e.to_string(), record_errors)
        }
        _ => Outcome::Failed(code, e.to_string()),
    }
}

/// Kafka's `ProduceRequest.validateRecords` for v3+: exactly one batch, of magic 2, and no
/// zstd below v7 (KIP-110). The batch's own validation is the log's.
fn check_one_batch(version: i16, records: &[u8]) -> Result<(), (ResponseError, String)> {
    let invalid = |msg: String| Err((ResponseError::InvalidRecord, msg));
    if records.len() <= MAGIC_AT {
        return invalid(format!(
            "produce requests v{version} must have one record batch per partition"
        ));
    }
    let magic = records[MAGIC_AT] as i8;
    if magic != MAGIC_V2 {
        return invalid(format!(
            "produce requests v{version} only take record batches of magic 2, not {magic}"
        ));
    }
    if let Some(total) = batch::peek_total_len(records) {
        if total >= HEADER_LEN as i64 && (total as u64) < records.len() as u64 {
            return invalid(format!(
                "produce requests v{version} take exactly one record batch per partition"
            ));
        }
    }
    // The codec, transactional and control bits are in the attributes, past the magic.
    if records.len() >= batch::ATTRIBUTES_AT + 2 {
        let attributes = i16::from_be_bytes([
            records[batch::ATTRIBUTES_AT],
            records[batch::ATTRIBUTES_AT + 1],
        ]);
        if attributes & batch::ATTR_CONTROL != 0 {
            // Kafka's LogValidator: markers are the transaction coordinator's to write.
            return invalid("clients are not allowed to write control records".into());
        }
        if version < 7 && attributes & batch::ATTR_CODEC_MASK == Compression::Zstd.id() {
            return Err((
                ResponseError::UnsupportedCompressionType,
                format!("produce requests v{version} may not use zstd (v7+ may)"),
            ));
        }
    }
    Ok(())
}

/// KIP-890 part 1 (Kafka's transaction verification): a transactional batch is appended
/// only when its producer's transaction is open and includes the partition, so that a late
/// or stray batch cannot open a transaction that nobody ends (it would hold the last stable
/// offset back for ever).
fn verify_transactional(
    server: &ServerContext,
    topic: &str,
    index: i32,
    records: &[u8],
) -> Result<(), (ResponseError, String)> {
    if records.len() < batch::RECORDS_AT {
        return Ok(()); // the log reports the truncation
    }
    let attributes = i16::from_be_bytes([
        records[batch::ATTRIBUTES_AT],
        records[batch::ATTRIBUTES_AT + 1],
    ]);
    if attributes & batch::ATTR_TRANSACTIONAL == 0 {
        return Ok(());
    }
    let mut pid = [0u8; 8];
    pid.copy_from_slice(&records[batch::PRODUCER_ID_AT..batch::PRODUCER_ID_AT + 8]);
    let producer_id = i64::from_be_bytes(pid);
    let producer_epoch = i16::from_be_bytes([
        records[batch::PRODUCER_EPOCH_AT],
        records[batch::PRODUCER_EPOCH_AT + 1],
    ]);
    let tp = myelin_coord::TopicPartition::new(topic, index);
    server
        .txns
        .verify_produce(producer_id, producer_epoch, &tp)
        .map_err(|e| {
            let code = match crate::error::txn_error_code(&e, true) {
                ResponseError::InvalidProducerEpoch => ResponseError::InvalidProducerEpoch,
                _ => ResponseError::InvalidTxnState,
            };
            (
                code,
                format!("the transactional batch of producer {producer_id} is not in an open transaction with {topic}-{index}: {e}"),
            )
        })
}

/// The codec a topic's `compression.type` asks for, `None` for `producer` (keep the
/// producer's). Kafka names no compression `uncompressed`.
fn target_codec(setting: Option<&str>) -> Option<Compression> {
    match setting.map(str::trim) {
        None | Some("producer") => None,
        Some(s) if s.eq_ignore_ascii_case("uncompressed") => Some(Compression::None),
        Some(s) => Compression::from_name(s),
    }
}

/// Rebuilds the batch with the topic's codec when it differs from the producer's. The batch
/// is validated whole first, so a bad CRC is reported as such, and every record is parsed.
fn recompress_if_configured(
    records: &[u8],
    setting: Option<String>,
    partition: &Partition,
) -> Result<Option<Vec<u8>>, LogError> {
    let Some(target) = target_codec(setting.as_deref()) else {
        return Ok(None);
    };
    if records.len() < HEADER_LEN {
        return Ok(None); // the log reports the truncation
    }
    let codec = i16::from_be_bytes([
        records[batch::ATTRIBUTES_AT],
        records[batch::ATTRIBUTES_AT + 1],
    ]) & batch::ATTR_CODEC_MASK;
    if codec == target.id() {
        return Ok(None);
    }
    let max = partition.log.config().max_message_bytes;
    let h = batch::validate_incoming(records, usize::MAX)?;
    if h.is_control() {
        return Ok(None);
    }
    // The same bound on decompressed size as the log's own record scans.
    let limit = max.max(1 << 20).saturating_mul(64);
    let (_, raw): (_, Cow<'_, [u8]>) = records_of_batch(records, limit)?;
    for r in RecordIter::new(&raw, h.record_count) {
        r?;
    }
    let rebuilt = BatchBuilder {
        base_offset: h.base_offset,
        partition_leader_epoch: h.partition_leader_epoch,
        attributes: h.attributes,
        compression: target,
        last_offset_delta: h.last_offset_delta,
        base_timestamp: h.base_timestamp,
        max_timestamp: h.max_timestamp,
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
    }
    .build(&raw, h.record_count)?;
    Ok(Some(rebuilt))
}

/// A partition's answer: the append, or the error and its message.
type PartitionResult = Result<AppendInfo, (ResponseError, String, Vec<BatchIndexAndErrorMessage>)>;
/// Answers by topic, in request order.
type TopicResults = Vec<(StrBytes, Vec<(i32, PartitionResult)>)>;

/// Resolves each appended partition's outcome with its durability result, in order.
fn complete(
    outcomes: Vec<(StrBytes, Vec<(i32, Outcome)>)>,
    mut durable: impl FnMut(&Partition) -> Result<(), LogError>,
) -> TopicResults {
    outcomes
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, outcome)| {
                    let result = match outcome {
                        Outcome::Failed(e, msg) => Err((e, msg, Vec::new())),
                        Outcome::Refused(e, msg, records) => Err((e, msg, records)),
                        Outcome::Appended {
                            partition, info, ..
                        } => match durable(&partition) {
                            Ok(()) => {
                                partition.notify_data();
                                Ok(info)
                            }
                            Err(e) => {
                                tracing::warn!(topic = %partition.topic, partition = partition.index,
                                    error = %e, "flush failed: the append is not acknowledged");
                                Err((log_error_code(&e), e.to_string(), Vec::new()))
                            }
                        },
                    };
                    (index, result)
                })
                .collect();
            (topic, partitions)
        })
        .collect()
}

fn respond(version: i16, throttle_time_ms: i32, topics: TopicResults) -> ProduceResponse {
    let responses = topics
        .into_iter()
        .map(|(name, partitions)| {
            let partition_responses = partitions
                .into_iter()
                .map(|(index, result)| {
                    let mut r = PartitionProduceResponse::default().with_index(index);
                    match result {
                        Ok(info) => {
                            r.base_offset = info.base_offset;
                            r.log_append_time_ms = info.log_append_time_ms;
                            // log_start_offset: v5+ (KIP-107).
                            if version >= 5 {
                                r.log_start_offset = info.log_start_offset;
                            }
                        }
                        Err((error, message, record_errors)) => {
                            r.error_code = error.code();
                            r.base_offset = -1;
                            r.log_append_time_ms = -1;
                            if version >= 5 {
                                r.log_start_offset = -1;
                            }
                            // error_message and record_errors: v8+ (KIP-467).
                            if version >= 8 {
                                r.error_message = Some(StrBytes::from_string(message));
                                r.record_errors = record_errors;
                            }
                        }
                    }
                    r
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(kafka_protocol::messages::TopicName(name))
                .with_partition_responses(partition_responses)
        })
        .collect();
    ProduceResponse::default()
        .with_responses(responses)
        .with_throttle_time_ms(throttle_time_ms)
}

/// The UNSUPPORTED_VERSION answer to a v0-2 request, echoing its partitions in the v0-2
/// layout: `[topic name, [index int32, error_code int16, base_offset int64,
/// (v2) log_append_time int64]]`, then (v1+) `throttle_time_ms int32`, after a v0 response
/// header. `None` (the connection closes) when the request cannot be read or has acks=0,
/// where Kafka would send nothing either.
fn old_version_error(version: i16, correlation_id: i32, frame: &Bytes) -> Option<Bytes> {
    // Request header v1: api_key, api_version, correlation_id, client_id (nullable string).
    let mut buf = frame.clone();
    if buf.remaining() < 10 {
        return None;
    }
    buf.advance(8);
    let client_id_len = buf.get_i16();
    if client_id_len < -1 {
        return None;
    }
    if client_id_len > 0 {
        let n = client_id_len as usize;
        if buf.remaining() < n {
            return None;
        }
        buf.advance(n);
    }
    bounds::check(&buf, OLD_SCHEMA, version, false).ok()?;
    let acks = buf.get_i16();
    if acks == 0 {
        return None;
    }
    buf.advance(4); // timeout
    let mut out = crate::frame::start_frame(64);
    out.put_i32(correlation_id);
    let topics = buf.get_i32().max(0);
    out.put_i32(topics);
    for _ in 0..topics {
        let name_len = buf.get_i16().max(0) as usize;
        out.put_i16(name_len as i16);
        out.put_slice(&buf[..name_len]);
        buf.advance(name_len);
        let partitions = buf.get_i32().max(0);
        out.put_i32(partitions);
        for _ in 0..partitions {
            out.put_i32(buf.get_i32());
            let records = buf.get_i32().max(0) as usize;
            buf.advance(records);
            out.put_i16(ResponseError::UnsupportedVersion.code());
            out.put_i64(-1); // base_offset
            if version >= 2 {
                out.put_i64(-1); // log_append_time
            }
        }
    }
    if version >= 1 {
        out.put_i32(0); // throttle_time_ms
    }
    crate::frame::finish_frame(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::Encodable;
    use myelin_log::record::simple_batch;

    #[test]
    fn request_shape_accepts_codec_requests() {
        for version in 3..=11i16 {
            let request =
                ProduceRequest::default().with_topic_data(vec![TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(Bytes::from_static(b"abc"))),
                        PartitionProduceData::default()
                            .with_index(1)
                            .with_records(None),
                    ])]);
            let mut body = BytesMut::new();
            request.encode(&mut body, version).unwrap();
            Produce::check_request(version, &body).unwrap();
            for cut in 0..body.len() {
                assert!(
                    Produce::check_request(version, &body[..cut]).is_err(),
                    "v{version} {cut}"
                );
            }
        }
    }

    #[test]
    fn one_batch_of_magic_two() {
        let b = simple_batch(&[(None, Some(b"v"))], 0, Compression::None);
        assert!(check_one_batch(3, &b).is_ok());
        let mut two = b.clone();
        two.extend_from_slice(&b);
        assert_eq!(
            check_one_batch(3, &two).unwrap_err().0,
            ResponseError::InvalidRecord
        );
        assert_eq!(
            check_one_batch(3, &[]).unwrap_err().0,
            ResponseError::InvalidRecord
        );
        let mut old = b.clone();
        old[MAGIC_AT] = 1;
        assert_eq!(
            check_one_batch(3, &old).unwrap_err().0,
            ResponseError::InvalidRecord
        );
        let z = simple_batch(&[(None, Some(b"v"))], 0, Compression::Zstd);
        assert_eq!(
            check_one_batch(6, &z).unwrap_err().0,
            ResponseError::UnsupportedCompressionType
        );
        assert!(check_one_batch(7, &z).is_ok());
        // A truncated batch is the log's to report (CORRUPT_MESSAGE).
        assert!(check_one_batch(3, &b[..b.len() - 1]).is_ok());
    }

    #[test]
    fn compression_type_names() {
        assert_eq!(target_codec(None), None);
        assert_eq!(target_codec(Some("producer")), None);
        assert_eq!(target_codec(Some("uncompressed")), Some(Compression::None));
        assert_eq!(target_codec(Some("zstd")), Some(Compression::Zstd));
        assert_eq!(target_codec(Some("lz4")), Some(Compression::Lz4));
    }

    #[test]
    fn old_versions_echo_every_partition() {
        let mut frame = BytesMut::new();
        frame.put_i16(0);
        frame.put_i16(2);
        frame.put_i32(77);
        frame.put_i16(-1); // null client id
        frame.put_i16(1); // acks
        frame.put_i32(1000);
        frame.put_i32(1);
        frame.put_i16(1);
        frame.put_slice(b"t");
        frame.put_i32(2);
        for index in [4, 5] {
            frame.put_i32(index);
            frame.put_i32(2);
            frame.put_slice(b"xx");
        }
        let frame = frame.freeze();
        let out = old_version_error(2, 77, &frame).unwrap();
        let mut expected = BytesMut::new();
        expected.put_i32(0);
        expected.put_i32(77);
        expected.put_i32(1);
        expected.put_i16(1);
        expected.put_slice(b"t");
        expected.put_i32(2);
        for index in [4, 5] {
            expected.put_i32(index);
            expected.put_i16(35);
            expected.put_i64(-1);
            expected.put_i64(-1);
        }
        expected.put_i32(0);
        let size = (expected.len() - 4) as i32;
        expected[..4].copy_from_slice(&size.to_be_bytes());
        assert_eq!(out, expected.freeze());
        // Truncated anywhere: no answer, the connection closes.
        for cut in 0..frame.len() {
            assert!(
                old_version_error(2, 77, &frame.slice(..cut)).is_none(),
                "{cut}"
            );
        }
        // acks=0: no answer.
        let mut zero = frame.to_vec();
        zero[10..12].copy_from_slice(&0i16.to_be_bytes());
        assert!(old_version_error(2, 77, &Bytes::from(zero)).is_none());
    }
}
