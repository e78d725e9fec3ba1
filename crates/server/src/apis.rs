//! The registration table: the one list of APIs this broker serves, with the versions each
//! handler was tested with. It drives both dispatch and the ApiVersions response, so the
//! broker never advertises a version it does not route, nor routes one it does not
//! advertise. (ADR 0002.)
//!
//! Version gating happens here, once: a handler is only ever called with a version in its
//! declared range, so `if version >= N` inside a handler is about fields, never about
//! whether the version is supported.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

use crate::context::{RequestContext, ServerContext};
use crate::error::{ConnectionError, HandlerError};
use crate::handlers;
use crate::metrics::{Metrics, RequestOutcome};
use crate::quota::QuotaType;
use crate::response::{ResponseBody, ResponseFrame};

/// A boxed, sendable future: what the table stores for every handler's work.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a handler returns once it has done the part of a request whose order matters.
///
/// Requests on a connection are handled one after another, in order, up to this point;
/// then the next request is read while a [`Reply::Later`] completes. Responses are still
/// written in request order. Produce uses `Later` to wait for the group-commit fsync, so
/// pipelined produce requests share one fsync instead of queueing behind each other.
#[derive(Debug)]
pub enum Reply<R> {
    /// The response is ready.
    Ready(R),
    /// The response completes later.
    Later(LaterReply<R>),
}

/// The completion stage of a [`Reply::Later`].
pub struct LaterReply<R>(pub BoxFuture<Result<R, HandlerError>>);

impl<R> std::fmt::Debug for LaterReply<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LaterReply(..)")
    }
}

/// One Kafka API: its request and response types, the versions it was tested with, and
/// how it is served. Implemented by each `handlers/<api>.rs`; registered in [`APIS`].
pub trait Handler: 'static {
    /// The decoded request (a `kafka-protocol` message).
    type Request: Decodable + Send + 'static;
    /// The response: a `kafka-protocol` message, or a type that frames itself
    /// ([`ResponseBody`]: Fetch around its file ranges, Produce with nothing for acks=0).
    type Response: ResponseBody;
    /// The API key.
    const KEY: ApiKey;
    /// The API's name, for logs and errors.
    const NAME: &'static str;
    /// The lowest version served, advertised in ApiVersions.
    const MIN_VERSION: i16;
    /// The highest version served, advertised in ApiVersions: the highest one tested, not
    /// the highest the codec can parse.
    const MAX_VERSION: i16;
    /// The lowest version advertised in ApiVersions, when it must be below the lowest one
    /// served: Produce is advertised from v0 as Kafka 4.0 does, because librdkafka before
    /// 2.11.1 turns compression off otherwise, and answers v0-2 through
    /// [`Handler::answer_unsupported`].
    const ADVERTISED_MIN_VERSION: i16 = Self::MIN_VERSION;
    /// Whether `Request` and `Response` read and write versions below the codec's range
    /// themselves (OffsetCommit v0-1, which Kafka 4.0 and so `kafka-protocol` 0.18 dropped).
    const BELOW_CODEC: bool = false;
    /// Whether `Request` and `Response` read and write versions above the codec's range
    /// themselves (DescribeShareGroupOffsets v1, newer than `kafka-protocol` 0.18).
    const ABOVE_CODEC: bool = false;

    /// Serves one request; the version is within `MIN_VERSION..=MAX_VERSION`.
    fn handle(
        ctx: RequestContext,
        request: Self::Request,
    ) -> impl Future<Output = Result<Reply<Self::Response>, HandlerError>> + Send;

    /// The answer to a request whose version is outside the range, as (version to encode
    /// the body at, body); `None` closes the connection, which is what Kafka does.
    fn unsupported_version(api_version: i16) -> Option<(i16, Self::Response)> {
        let _ = api_version;
        None
    }

    /// The answer to a request whose version is outside the range, given its whole frame
    /// (header included) of which only the fixed-position fields are trusted. The default
    /// encodes [`Handler::unsupported_version`]'s body; `Ok(None)` closes the connection.
    fn answer_unsupported(
        api_version: i16,
        correlation_id: i32,
        frame: &Bytes,
    ) -> Result<Option<ResponseFrame>, HandlerError> {
        let _ = frame;
        match Self::unsupported_version(api_version) {
            Some((body_version, body)) => body.into_frame(Self::NAME, correlation_id, body_version),
            None => Ok(None),
        }
    }

    /// Checks the request body before it is decoded, for what the codec does not bound
    /// itself (`kafka-protocol` 0.18 reserves capacity for an array from its wire count).
    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        let _ = (api_version, body);
        Ok(())
    }
}

/// A request's response frame once encoded; `None` when no response is due (Produce with
/// acks=0): the connection writes nothing and keeps the order of the others.
pub type Encoded = Option<ResponseFrame>;
/// Serves a request whose header has been read: decodes the body, calls the handler,
/// encodes the response frame.
type DispatchFn = fn(RequestContext, Bytes) -> BoxFuture<Result<Reply<Encoded>, HandlerError>>;
/// Builds the response frame for an out-of-range version (version, correlation id, whole
/// frame), if there is one.
type UnsupportedFn = fn(i16, i32, &Bytes) -> Result<Encoded, HandlerError>;

/// A row of the registration table.
#[derive(Clone, Copy)]
pub struct ApiEntry {
    /// The API key.
    pub key: ApiKey,
    /// The API's name.
    pub name: &'static str,
    /// Lowest version served and advertised.
    pub min_version: i16,
    /// Lowest version advertised (below `min_version` for Produce only).
    pub advertised_min_version: i16,
    /// Highest version served and advertised.
    pub max_version: i16,
    /// Versions below the codec's range are read and written by the handler's own types.
    pub below_codec: bool,
    /// Versions above the codec's range are read and written by the handler's own types.
    pub above_codec: bool,
    /// The handler, behind its decode and encode.
    dispatch: DispatchFn,
    /// The out-of-range answer.
    unsupported: UnsupportedFn,
    /// Bounds-checks and decodes a body without serving it (the fuzz target).
    decode_only: DecodeOnlyFn,
}

impl std::fmt::Debug for ApiEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (key {}) v{}..=v{}",
            self.name, self.key as i16, self.min_version, self.max_version
        )
    }
}

impl ApiEntry {
    /// Whether `version` is served.
    pub fn supports(&self, version: i16) -> bool {
        (self.min_version..=self.max_version).contains(&version)
    }
}

/// The row of handler `H`.
pub const fn entry<H: Handler>() -> ApiEntry {
    ApiEntry {
        key: H::KEY,
        name: H::NAME,
        min_version: H::MIN_VERSION,
        advertised_min_version: H::ADVERTISED_MIN_VERSION,
        max_version: H::MAX_VERSION,
        below_codec: H::BELOW_CODEC,
        above_codec: H::ABOVE_CODEC,
        dispatch: dispatch::<H>,
        unsupported: unsupported::<H>,
        decode_only: decode_only::<H>,
    }
}

/// Every API this broker serves, ordered by API key. Add a handler here and it is both
/// routed and advertised.
pub static APIS: &[ApiEntry] = &[
    entry::<handlers::produce::Produce>(),
    entry::<handlers::fetch::Fetch>(),
    entry::<handlers::list_offsets::ListOffsets>(),
    entry::<handlers::metadata::Metadata>(),
    entry::<handlers::offset_commit::OffsetCommit>(),
    entry::<handlers::offset_fetch::OffsetFetch>(),
    entry::<handlers::find_coordinator::FindCoordinator>(),
    entry::<handlers::join_group::JoinGroup>(),
    entry::<handlers::heartbeat::Heartbeat>(),
    entry::<handlers::leave_group::LeaveGroup>(),
    entry::<handlers::sync_group::SyncGroup>(),
    entry::<handlers::describe_groups::DescribeGroups>(),
    entry::<handlers::list_groups::ListGroups>(),
    entry::<handlers::sasl::SaslHandshake>(),
    entry::<handlers::api_versions::ApiVersions>(),
    entry::<handlers::create_topics::CreateTopics>(),
    entry::<handlers::delete_topics::DeleteTopics>(),
    entry::<handlers::delete_records::DeleteRecords>(),
    entry::<handlers::init_producer_id::InitProducerId>(),
    entry::<handlers::offset_for_leader_epoch::OffsetForLeaderEpoch>(),
    entry::<handlers::add_partitions_to_txn::AddPartitionsToTxn>(),
    entry::<handlers::add_offsets_to_txn::AddOffsetsToTxn>(),
    entry::<handlers::end_txn::EndTxn>(),
    entry::<handlers::write_txn_markers::WriteTxnMarkers>(),
    entry::<handlers::txn_offset_commit::TxnOffsetCommit>(),
    entry::<handlers::acls::DescribeAcls>(),
    entry::<handlers::acls::CreateAcls>(),
    entry::<handlers::acls::DeleteAcls>(),
    entry::<handlers::describe_configs::DescribeConfigs>(),
    entry::<handlers::alter_configs::AlterConfigs>(),
    entry::<handlers::alter_replica_log_dirs::AlterReplicaLogDirs>(),
    entry::<handlers::describe_log_dirs::DescribeLogDirs>(),
    entry::<handlers::sasl::SaslAuthenticate>(),
    entry::<handlers::create_partitions::CreatePartitions>(),
    entry::<handlers::delegation_tokens::CreateDelegationToken>(),
    entry::<handlers::delegation_tokens::RenewDelegationToken>(),
    entry::<handlers::delegation_tokens::ExpireDelegationToken>(),
    entry::<handlers::delegation_tokens::DescribeDelegationToken>(),
    entry::<handlers::delete_groups::DeleteGroups>(),
    entry::<handlers::elect_leaders::ElectLeaders>(),
    entry::<handlers::incremental_alter_configs::IncrementalAlterConfigs>(),
    entry::<handlers::partition_reassignments::AlterPartitionReassignments>(),
    entry::<handlers::partition_reassignments::ListPartitionReassignments>(),
    entry::<handlers::offset_delete::OffsetDelete>(),
    entry::<handlers::client_quotas::DescribeClientQuotas>(),
    entry::<handlers::client_quotas::AlterClientQuotas>(),
    entry::<handlers::scram_credentials::DescribeUserScramCredentials>(),
    entry::<handlers::scram_credentials::AlterUserScramCredentials>(),
    entry::<handlers::describe_quorum::DescribeQuorum>(),
    entry::<handlers::describe_cluster::DescribeCluster>(),
    entry::<handlers::describe_producers::DescribeProducers>(),
    entry::<handlers::describe_transactions::DescribeTransactions>(),
    entry::<handlers::list_transactions::ListTransactions>(),
    entry::<handlers::consumer_group_heartbeat::ConsumerGroupHeartbeat>(),
    entry::<handlers::consumer_group_describe::ConsumerGroupDescribe>(),
    entry::<handlers::list_config_resources::ListConfigResources>(),
    entry::<handlers::describe_topic_partitions::DescribeTopicPartitions>(),
    entry::<handlers::share_group_heartbeat::ShareGroupHeartbeat>(),
    entry::<handlers::share_group_describe::ShareGroupDescribe>(),
    entry::<handlers::share_fetch::ShareFetch>(),
    entry::<handlers::share_acknowledge::ShareAcknowledge>(),
    entry::<handlers::share_group_offsets::DescribeShareGroupOffsets>(),
    entry::<handlers::share_group_offsets::AlterShareGroupOffsets>(),
    entry::<handlers::share_group_offsets::DeleteShareGroupOffsets>(),
];

/// The row for `api_key`, if served.
pub fn find(api_key: i16) -> Option<&'static ApiEntry> {
    APIS.iter().find(|e| e.key as i16 == api_key)
}

/// The name of API `api_key` for logs (`"unknown"` if not served).
pub fn api_name(api_key: i16) -> &'static str {
    find(api_key).map_or("unknown", |e| e.name)
}

/// Where a request frame goes.
pub enum Route {
    /// To its handler.
    Call(BoxFuture<Result<Reply<Encoded>, HandlerError>>),
    /// Answered without a handler (an out-of-range version with an error response).
    Respond(ResponseFrame),
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Call(_) => f.write_str("Route::Call(..)"),
            Route::Respond(r) => write!(f, "Route::Respond({} bytes)", r.len()),
        }
    }
}

/// Bounds-checks and decodes a request body as [`dispatch`] does, and drops it.
type DecodeOnlyFn = fn(i16, Bytes) -> Result<(), String>;

fn decode_only<H: Handler>(version: i16, mut body: Bytes) -> Result<(), String> {
    H::check_request(version, &body)?;
    H::Request::decode(&mut body, version)
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

/// Parses a request frame (without its size prefix) and decodes its body exactly as the
/// server would before calling the handler, but calls nothing: what the `request_decode`
/// fuzz target drives. Never panics; an `Err` is what the server answers with a close or
/// an error response.
pub fn decode_frame(mut frame: Bytes) -> Result<(), String> {
    if frame.len() < 8 {
        return Err("shorter than a request header".into());
    }
    let api_key = (&frame[0..2]).get_i16();
    let api_version = (&frame[2..4]).get_i16();
    let entry = find(api_key).ok_or_else(|| format!("unknown API key {api_key}"))?;
    if !entry.supports(api_version) {
        return Err(format!("{} v{api_version} is not served", entry.name));
    }
    let header_version = entry.key.request_header_version(api_version);
    RequestHeader::decode(&mut frame, header_version).map_err(|e| format!("{e:#}"))?;
    (entry.decode_only)(api_version, frame)
}

/// Reads a request frame's header and routes it. An error closes the connection.
pub fn route(
    server: &Arc<ServerContext>,
    mut frame: Bytes,
    peer: SocketAddr,
    connection_id: u64,
    session: &Arc<crate::sasl::Session>,
) -> Result<Route, ConnectionError> {
    if frame.len() < 8 {
        return Err(ConnectionError::MalformedHeader(format!(
            "{} bytes is shorter than a request header",
            frame.len()
        )));
    }
    let api_key = (&frame[0..2]).get_i16();
    let api_version = (&frame[2..4]).get_i16();
    let correlation_id = (&frame[4..8]).get_i32();
    let Some(entry) = find(api_key) else {
        return Err(ConnectionError::UnknownApiKey {
            api_key,
            api_version,
        });
    };
    // On a SASL listener, nothing but ApiVersions and the SASL exchange before
    // authentication (Kafka's `SaslServerAuthenticator` closes the connection).
    if session.gate(api_key) == crate::sasl::Gate::Close {
        return Err(ConnectionError::Unauthenticated { api: entry.name });
    }
    if !entry.supports(api_version) {
        // Only the fixed-position fields are trusted: the rest of the header's layout
        // depends on the version we do not serve.
        return match (entry.unsupported)(api_version, correlation_id, &frame)? {
            Some(response) => Ok(Route::Respond(response)),
            None => Err(ConnectionError::UnsupportedVersion {
                api: entry.name,
                api_version,
                min: entry.min_version,
                max: entry.max_version,
            }),
        };
    }
    let frame_len = frame.len();
    let header_version = entry.key.request_header_version(api_version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| ConnectionError::MalformedHeader(format!("{e:#}")))?;
    let request_size = frame_len + 4;
    let ctx = RequestContext {
        header,
        peer,
        connection_id,
        server: server.clone(),
        session: session.clone(),
        request_size,
    };
    // The request quota counts the time spent running the handler (Kafka exempts the
    // requests a connection needs before it can do anything).
    let charge = if REQUEST_QUOTA_EXEMPT.contains(&entry.key) {
        None
    } else {
        ctx.quota(QuotaType::Request)
    };
    let metrics = server.metrics.clone();
    let handled = (entry.dispatch)(ctx, frame);
    let handled = match charge {
        Some(charge) => charge_time(charge, server.clone(), handled),
        None => handled,
    };
    Ok(Route::Call(observe(entry, metrics, handled)))
}

/// The APIs the request quota does not count.
const REQUEST_QUOTA_EXEMPT: [ApiKey; 3] = [
    ApiKey::ApiVersions,
    ApiKey::SaslHandshake,
    ApiKey::SaslAuthenticate,
];

/// A future that adds the time spent polling it to `busy` (nanoseconds).
struct Timed<F> {
    inner: F,
    busy: Arc<AtomicU64>,
}

impl<F: Future + Unpin> Future for Timed<F> {
    type Output = F::Output;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let started = Instant::now();
        let polled = Pin::new(&mut self.inner).poll(cx);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.busy.fetch_add(nanos, Ordering::Relaxed);
        polled
    }
}

/// Charges the time spent running a request's handler (both stages of a
/// [`Reply::Later`]) to the client's request quota, as a percentage of one thread for the
/// time: Kafka's `request_percentage`.
fn charge_time(
    charge: crate::quota::Charge,
    server: Arc<ServerContext>,
    handled: BoxFuture<Result<Reply<Encoded>, HandlerError>>,
) -> BoxFuture<Result<Reply<Encoded>, HandlerError>> {
    let busy = Arc::new(AtomicU64::new(0));
    let percent = |busy: &AtomicU64| busy.load(Ordering::Relaxed) as f64 * 100.0 / 1e9;
    Box::pin(async move {
        let first = Timed {
            inner: handled,
            busy: busy.clone(),
        }
        .await;
        match first {
            Ok(Reply::Later(LaterReply(later))) => {
                Ok(Reply::Later(LaterReply(Box::pin(async move {
                    let done = Timed {
                        inner: later,
                        busy: busy.clone(),
                    }
                    .await;
                    charge.record(&server, percent(&busy));
                    done
                }))))
            }
            other => {
                charge.record(&server, percent(&busy));
                other
            }
        }
    })
}

/// Reports a request's latency, outcome and response size to the server's metrics once
/// its response is ready (for a [`Reply::Later`], once the completion has finished).
fn observe(
    entry: &'static ApiEntry,
    metrics: Arc<dyn Metrics>,
    handled: BoxFuture<Result<Reply<Encoded>, HandlerError>>,
) -> BoxFuture<Result<Reply<Encoded>, HandlerError>> {
    let started = Instant::now();
    // `response_len` is `None` when the handler failed.
    let done = move |metrics: &dyn Metrics, response_len: Option<usize>| {
        let outcome = match response_len {
            Some(len) => {
                metrics.bytes_sent(len);
                RequestOutcome::Answered
            }
            None => RequestOutcome::Failed,
        };
        metrics.request_completed(entry.key as i16, entry.name, started.elapsed(), outcome);
    };
    Box::pin(async move {
        match handled.await {
            Ok(Reply::Ready(response)) => {
                done(metrics.as_ref(), Some(encoded_len(&response)));
                Ok(Reply::Ready(response))
            }
            Ok(Reply::Later(LaterReply(later))) => {
                Ok(Reply::Later(LaterReply(Box::pin(async move {
                    let result = later.await;
                    done(metrics.as_ref(), result.as_ref().ok().map(encoded_len));
                    result
                }))))
            }
            Err(e) => {
                done(metrics.as_ref(), None);
                Err(e)
            }
        }
    })
}

/// Bytes of an encoded response on the wire (0 when none is sent).
fn encoded_len(response: &Encoded) -> usize {
    response.as_ref().map_or(0, |r| r.len() as usize)
}

fn dispatch<H: Handler>(
    ctx: RequestContext,
    mut body: Bytes,
) -> BoxFuture<Result<Reply<Encoded>, HandlerError>> {
    Box::pin(async move {
        let version = ctx.api_version();
        let correlation_id = ctx.header.correlation_id;
        let decode_error = |reason: String| HandlerError::Decode {
            api: H::NAME,
            api_version: version,
            reason,
        };
        H::check_request(version, &body).map_err(decode_error)?;
        let request =
            H::Request::decode(&mut body, version).map_err(|e| decode_error(format!("{e:#}")))?;
        if !body.is_empty() {
            // Kafka ignores bytes after the body too.
            tracing::debug!(
                api = H::NAME,
                version,
                trailing = body.len(),
                "ignoring bytes after the request body"
            );
        }
        Ok(match H::handle(ctx, request).await? {
            Reply::Ready(response) => {
                Reply::Ready(response.into_frame(H::NAME, correlation_id, version)?)
            }
            Reply::Later(LaterReply(later)) => Reply::Later(LaterReply(Box::pin(async move {
                let response = later.await?;
                response.into_frame(H::NAME, correlation_id, version)
            }))),
        })
    })
}

fn unsupported<H: Handler>(
    api_version: i16,
    correlation_id: i32,
    frame: &Bytes,
) -> Result<Encoded, HandlerError> {
    H::answer_unsupported(api_version, correlation_id, frame)
}

/// A whole response frame: size, header (at the version the response's schema names for
/// `version`), body. For handlers whose response is a `kafka-protocol` message.
pub fn encode_response<H: Handler>(
    correlation_id: i32,
    version: i16,
    body: &H::Response,
) -> Result<Bytes, HandlerError>
where
    H::Response: Encodable + HeaderVersion,
{
    crate::response::encode_message(H::NAME, correlation_id, version, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_ordered_without_duplicates() {
        for pair in APIS.windows(2) {
            assert!(
                (pair[0].key as i16) < (pair[1].key as i16),
                "{:?} must come before {:?}",
                pair[0],
                pair[1]
            );
        }
    }

    /// Every advertised version can be decoded and encoded by the codec.
    #[test]
    fn advertised_ranges_are_within_the_codec() {
        for e in APIS {
            let codec = e.key.valid_versions();
            assert!(e.min_version <= e.max_version, "{e:?}");
            assert!(
                (e.below_codec || codec.min <= e.min_version)
                    && (e.above_codec || e.max_version <= codec.max),
                "{e:?} exceeds the codec's {codec}"
            );
        }
    }

    #[test]
    fn api_versions_is_registered_with_v0_to_v4() {
        let e = find(ApiKey::ApiVersions as i16).unwrap();
        assert_eq!((e.min_version, e.max_version), (0, 4));
        assert_eq!(e.advertised_min_version, 0);
        // Produce is advertised from v0 (librdkafka < 2.11.1), served from v3.
        let p = find(ApiKey::Produce as i16).unwrap();
        assert_eq!((p.advertised_min_version, p.min_version), (0, 3));
        assert!(find(-1).is_none());
    }
}
