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
use std::sync::Arc;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};

use crate::context::{RequestContext, ServerContext};
use crate::error::{ConnectionError, HandlerError};
use crate::frame;
use crate::handlers;

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
    /// The response (a `kafka-protocol` message).
    type Response: Encodable + HeaderVersion + Send + 'static;
    /// The API key.
    const KEY: ApiKey;
    /// The API's name, for logs and errors.
    const NAME: &'static str;
    /// The lowest version served, advertised in ApiVersions.
    const MIN_VERSION: i16;
    /// The highest version served, advertised in ApiVersions: the highest one tested, not
    /// the highest the codec can parse.
    const MAX_VERSION: i16;

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

    /// Checks the request body before it is decoded, for what the codec does not bound
    /// itself (`kafka-protocol` 0.18 reserves capacity for an array from its wire count).
    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        let _ = (api_version, body);
        Ok(())
    }
}

/// Serves a request whose header has been read: decodes the body, calls the handler,
/// encodes the response frame.
type DispatchFn = fn(RequestContext, Bytes) -> BoxFuture<Result<Reply<Bytes>, HandlerError>>;
/// Builds the response frame for an out-of-range version, if there is one.
type UnsupportedFn = fn(i16, i32) -> Option<Result<Bytes, HandlerError>>;

/// A row of the registration table.
#[derive(Clone, Copy)]
pub struct ApiEntry {
    /// The API key.
    pub key: ApiKey,
    /// The API's name.
    pub name: &'static str,
    /// Lowest version served and advertised.
    pub min_version: i16,
    /// Highest version served and advertised.
    pub max_version: i16,
    /// The handler, behind its decode and encode.
    dispatch: DispatchFn,
    /// The out-of-range answer.
    unsupported: UnsupportedFn,
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
        max_version: H::MAX_VERSION,
        dispatch: dispatch::<H>,
        unsupported: unsupported::<H>,
    }
}

/// Every API this broker serves, ordered by API key. Add a handler here and it is both
/// routed and advertised.
pub static APIS: &[ApiEntry] = &[
    entry::<handlers::metadata::Metadata>(),
    entry::<handlers::api_versions::ApiVersions>(),
];

/// The row for `api_key`, if served.
pub fn find(api_key: i16) -> Option<&'static ApiEntry> {
    APIS.iter().find(|e| e.key as i16 == api_key)
}

/// Where a request frame goes.
pub enum Route {
    /// To its handler.
    Call(BoxFuture<Result<Reply<Bytes>, HandlerError>>),
    /// Answered without a handler (an out-of-range version with an error response).
    Respond(Bytes),
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Route::Call(_) => f.write_str("Route::Call(..)"),
            Route::Respond(b) => write!(f, "Route::Respond({} bytes)", b.len()),
        }
    }
}

/// Reads a request frame's header and routes it. An error closes the connection.
pub fn route(
    server: &Arc<ServerContext>,
    mut frame: Bytes,
    peer: SocketAddr,
    connection_id: u64,
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
    if !entry.supports(api_version) {
        // Only the fixed-position fields are trusted: the rest of the header's layout
        // depends on the version we do not serve.
        return match (entry.unsupported)(api_version, correlation_id) {
            Some(response) => Ok(Route::Respond(response?)),
            None => Err(ConnectionError::UnsupportedVersion {
                api: entry.name,
                api_version,
                min: entry.min_version,
                max: entry.max_version,
            }),
        };
    }
    let header_version = entry.key.request_header_version(api_version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| ConnectionError::MalformedHeader(format!("{e:#}")))?;
    let ctx = RequestContext {
        header,
        peer,
        connection_id,
        server: server.clone(),
    };
    Ok(Route::Call((entry.dispatch)(ctx, frame)))
}

fn dispatch<H: Handler>(
    ctx: RequestContext,
    mut body: Bytes,
) -> BoxFuture<Result<Reply<Bytes>, HandlerError>> {
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
                Reply::Ready(encode_response::<H>(correlation_id, version, &response)?)
            }
            Reply::Later(LaterReply(later)) => Reply::Later(LaterReply(Box::pin(async move {
                let response = later.await?;
                encode_response::<H>(correlation_id, version, &response)
            }))),
        })
    })
}

fn unsupported<H: Handler>(
    api_version: i16,
    correlation_id: i32,
) -> Option<Result<Bytes, HandlerError>> {
    let (body_version, body) = H::unsupported_version(api_version)?;
    Some(encode_response::<H>(correlation_id, body_version, &body))
}

/// A whole response frame: size, header (at the version the response's schema names for
/// `version`), body.
pub fn encode_response<H: Handler>(
    correlation_id: i32,
    version: i16,
    body: &H::Response,
) -> Result<Bytes, HandlerError> {
    // The codec reports errors as `anyhow::Error`; the server keeps only their text.
    let encode_error = |reason: String| HandlerError::Encode {
        api: H::NAME,
        api_version: version,
        reason,
    };
    let header_version = <H::Response as HeaderVersion>::header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_size = header
        .compute_size(header_version)
        .map_err(|e| encode_error(format!("{e:#}")))?;
    let body_size = body
        .compute_size(version)
        .map_err(|e| encode_error(format!("{e:#}")))?;
    let mut buf = frame::start_frame(header_size + body_size);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| encode_error(format!("{e:#}")))?;
    body.encode(&mut buf, version)
        .map_err(|e| encode_error(format!("{e:#}")))?;
    let size = buf.len() - 4;
    frame::finish_frame(buf).ok_or(HandlerError::ResponseTooLarge {
        api: H::NAME,
        api_version: version,
        size,
    })
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
                codec.min <= e.min_version && e.max_version <= codec.max,
                "{e:?} exceeds the codec's {codec}"
            );
        }
    }

    #[test]
    fn api_versions_is_registered_with_v0_to_v4() {
        let e = find(ApiKey::ApiVersions as i16).unwrap();
        assert_eq!((e.min_version, e.max_version), (0, 4));
        assert!(find(ApiKey::Produce as i16).is_none());
        assert!(find(-1).is_none());
    }
}
