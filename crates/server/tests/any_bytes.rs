//! Any bytes a client can send, as a property: whatever arrives on a connection (a request
//! frame with a valid or wrong size prefix, a valid header with a random body, a random key
//! and version from the registration table or outside it, a truncated frame, garbage), the
//! broker answers with well-formed response frames carrying the request's correlation id,
//! or closes the connection, within a timeout: never a panic, never a stuck connection.
//! After every case a fresh connection still gets its ApiVersions answered.
//!
//! Structure-aware generation with shrinking (proptest); a failing case is persisted in
//! `any_bytes.proptest-regressions` beside this file and replayed first on every run. The
//! seeded 300-frame test in `connection_limits.rs` covers concurrency; this one covers the
//! shape of the input, one case at a time.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use common::TestServer;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use kafka_protocol::protocol::StrBytes;
use myelin_server::apis::APIS;
use myelin_server::Config;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// The correlation id of the ApiVersions sent after the hostile frame on the same
/// connection.
const FOLLOW_UP_ID: i32 = 0x7777_0001;
/// Idle connections (a frame that never completes) are closed after this.
const IDLE: Duration = Duration::from_millis(100);
/// What a case may take before it counts as a stuck connection.
const CASE_TIMEOUT: Duration = Duration::from_secs(5);

/// One broker for every case, on its own runtime.
fn broker() -> &'static (Runtime, TestServer) {
    static BROKER: OnceLock<(Runtime, TestServer)> = OnceLock::new();
    BROKER.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(TestServer::start(Config {
            socket_request_max_bytes: 64 * 1024,
            connections_max_idle: IDLE,
            ..Config::default()
        }));
        (rt, server)
    })
}

/// The size prefix written before the frame.
#[derive(Debug, Clone)]
enum Prefix {
    /// The frame's length.
    Exact,
    /// Shorter than the frame by this much (the rest reads as the next frame).
    Short(u8),
    /// Longer than the frame by this much (the connection waits for bytes that never come).
    Long(u16),
    /// Any value, negative and huge included.
    Any(i32),
    /// Only the first 0-3 bytes of an exact prefix, and nothing else.
    Torn(u8),
}

/// One case: a frame (without its prefix), the prefix, whether the client half-closes after
/// sending, and whether a valid ApiVersions follows on the same connection.
#[derive(Debug, Clone)]
struct Case {
    frame: Vec<u8>,
    prefix: Prefix,
    half_close: bool,
    follow_up: bool,
}

/// The header's client id.
#[derive(Debug, Clone)]
enum ClientId {
    Null,
    Text(Vec<u8>),
    /// A length the bytes may not back.
    Length(i16),
}

/// The tagged fields section of a flexible header.
#[derive(Debug, Clone)]
enum Tags {
    None,
    /// Well-formed fields (tag, bytes).
    Fields(Vec<(u8, Vec<u8>)>),
    /// Anything.
    Raw(Vec<u8>),
}

fn write_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A request header for `key` at `version` (laid out as the key's schema wants when the
/// key is served), then `body`.
fn frame(
    key: i16,
    version: i16,
    correlation_id: i32,
    client_id: &ClientId,
    tags: &Tags,
    body: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&key.to_be_bytes());
    f.extend_from_slice(&version.to_be_bytes());
    f.extend_from_slice(&correlation_id.to_be_bytes());
    match client_id {
        ClientId::Null => f.extend_from_slice(&(-1i16).to_be_bytes()),
        ClientId::Text(t) => {
            f.extend_from_slice(&(t.len() as i16).to_be_bytes());
            f.extend_from_slice(t);
        }
        ClientId::Length(n) => f.extend_from_slice(&n.to_be_bytes()),
    }
    let flexible = ApiKey::try_from(key).is_ok_and(|k| k.request_header_version(version) >= 2);
    if flexible {
        match tags {
            Tags::None => f.push(0),
            Tags::Fields(fields) => {
                write_varint(&mut f, fields.len() as u32);
                for (tag, bytes) in fields {
                    write_varint(&mut f, u32::from(*tag));
                    write_varint(&mut f, bytes.len() as u32);
                    f.extend_from_slice(bytes);
                }
            }
            Tags::Raw(raw) => f.extend_from_slice(raw),
        }
    }
    f.extend_from_slice(body);
    f
}

/// Bodies: random bytes, or bytes biased to the small values that make counts, lengths,
/// nulls (-1 as 0xff) and booleans meaningful.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..256),
        prop::collection::vec(prop_oneof![0u8..4, Just(0xff)], 0..64),
    ]
}

fn client_id() -> impl Strategy<Value = ClientId> {
    prop_oneof![
        Just(ClientId::Null),
        prop::collection::vec(any::<u8>(), 0..12).prop_map(ClientId::Text),
        any::<i16>().prop_map(ClientId::Length),
    ]
}

fn tags() -> impl Strategy<Value = Tags> {
    prop_oneof![
        Just(Tags::None),
        prop::collection::vec(
            (any::<u8>(), prop::collection::vec(any::<u8>(), 0..8)),
            1..3
        )
        .prop_map(Tags::Fields),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Tags::Raw),
    ]
}

/// A frame without its size prefix.
fn frame_bytes() -> impl Strategy<Value = Vec<u8>> {
    let served = (0..APIS.len()).prop_flat_map(|i| {
        let e = &APIS[i];
        (
            Just(e.key as i16),
            prop_oneof![
                4 => e.min_version..=e.max_version,
                1 => any::<i16>(),
                1 => Just(e.max_version + 1),
            ],
        )
    });
    let key_version = prop_oneof![
        6 => served,
        1 => (0i16..100, 0i16..20),
        1 => (any::<i16>(), any::<i16>()),
    ];
    prop_oneof![
        6 => (key_version, any::<i32>(), client_id(), tags(), body()).prop_map(
            |((key, version), correlation_id, client_id, tags, body)| {
                frame(key, version, correlation_id, &client_id, &tags, &body)
            }
        ),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
}

fn prefix() -> impl Strategy<Value = Prefix> {
    prop_oneof![
        6 => Just(Prefix::Exact),
        1 => (1u8..16).prop_map(Prefix::Short),
        1 => (1u16..200).prop_map(Prefix::Long),
        1 => any::<i32>().prop_map(Prefix::Any),
        1 => (0u8..4).prop_map(Prefix::Torn),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (frame_bytes(), prefix(), any::<bool>(), any::<bool>()).prop_map(
        |(frame, prefix, half_close, follow_up)| Case {
            frame,
            prefix,
            half_close,
            follow_up,
        },
    )
}

/// A valid ApiVersions v3 request frame, prefix included.
fn api_versions_frame(correlation_id: i32) -> Vec<u8> {
    common::request_frame(
        ApiKey::ApiVersions,
        3,
        correlation_id,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("myelin-tests"))
            .with_client_software_version(StrBytes::from_static_str("0.1.0")),
    )
    .to_vec()
}

/// The bytes a case writes, and the correlation ids its responses may carry, in order.
fn wire(case: &Case) -> (Vec<u8>, Vec<i32>) {
    let len = case.frame.len() as i32;
    let mut out = Vec::new();
    let torn = match case.prefix {
        Prefix::Exact => {
            out.extend_from_slice(&len.to_be_bytes());
            None
        }
        Prefix::Short(n) => {
            out.extend_from_slice(&(len - i32::from(n)).max(0).to_be_bytes());
            None
        }
        Prefix::Long(n) => {
            out.extend_from_slice(&(len + i32::from(n)).to_be_bytes());
            None
        }
        Prefix::Any(v) => {
            out.extend_from_slice(&v.to_be_bytes());
            None
        }
        Prefix::Torn(n) => Some(usize::from(n)),
    };
    if let Some(n) = torn {
        return (len.to_be_bytes()[..n].to_vec(), Vec::new());
    }
    out.extend_from_slice(&case.frame);
    let mut ids = Vec::new();
    // A response to the frame carries the correlation id its header holds.
    let framed = i32::from_be_bytes(out[..4].try_into().unwrap());
    if case.frame.len() >= 8 && framed >= 8 && framed <= len {
        ids.push(i32::from_be_bytes(case.frame[4..8].try_into().unwrap()));
    }
    if case.follow_up && matches!(case.prefix, Prefix::Exact) {
        out.extend_from_slice(&api_versions_frame(FOLLOW_UP_ID));
        ids.push(FOLLOW_UP_ID);
    }
    (out, ids)
}

/// Sends a case on a fresh connection and reads until the connection closes or every
/// response it may get has arrived. Err describes a broken property.
async fn run(addr: std::net::SocketAddr, case: &Case) -> Result<(), String> {
    let (bytes, ids) = wire(case);
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    // The server may close before everything is written: a failed write is an outcome too.
    let _ = stream.write_all(&bytes).await;
    if case.half_close {
        let _ = stream.shutdown().await;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let mut responses = Vec::new();
    loop {
        // Every whole frame received so far must be well formed.
        while got.len() >= 4 {
            let size = i32::from_be_bytes(got[..4].try_into().unwrap());
            if size < 4 {
                return Err(format!("a response frame of {size} bytes"));
            }
            if got.len() < 4 + size as usize {
                break;
            }
            let correlation_id = i32::from_be_bytes(got[4..8].try_into().unwrap());
            responses.push(correlation_id);
            got.drain(..4 + size as usize);
        }
        // With an exact prefix, the responses are to the frames sent, in order (a frame may
        // get none: acks=0, or a close). A longer prefix leaves the frame incomplete: no
        // response. A shorter or random one makes the rest of the bytes further frames,
        // whose correlation ids are anyone's.
        match case.prefix {
            Prefix::Exact => {
                let mut expected = ids.iter();
                if !responses.iter().all(|id| expected.any(|e| e == id)) {
                    return Err(format!(
                        "responses with correlation ids {responses:?}, sent {ids:?}"
                    ));
                }
            }
            Prefix::Long(_) | Prefix::Torn(_) if !responses.is_empty() => {
                return Err(format!("responses {responses:?} to an incomplete frame"));
            }
            _ => {}
        }
        if !ids.is_empty() && responses.ends_with(&ids[ids.len() - 1..]) {
            return Ok(()); // Answered up to the last request sent.
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return Ok(()), // Closed.
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A normal ApiVersions on a fresh connection is answered. A close before the answer is
/// retried twice: on a loaded machine the 100 ms idle timer may fire before the
/// connection's task first reads; a broken broker fails all three.
async fn still_answers(addr: std::net::SocketAddr) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..3 {
        match api_versions_once(addr).await {
            Ok(body)
                if body.len() >= 6 && body[..4] == 42i32.to_be_bytes() && body[4..6] == [0, 0] =>
            {
                return Ok(())
            }
            Ok(body) => return Err(format!("ApiVersions answered {body:?}")),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("ApiVersions got no answer: {last}"))
}

async fn api_versions_once(addr: std::net::SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(&api_versions_frame(42)).await?;
    let size = stream.read_i32().await?;
    let mut body = vec![0; size.max(0) as usize];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

proptest! {
    #![proptest_config(ProptestConfig {
        // MYELIN_ANY_BYTES_CASES overrides it for a longer run.
        cases: std::env::var("MYELIN_ANY_BYTES_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1024),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_bytes_end_in_responses_or_a_close_and_the_broker_still_answers(case in case()) {
        let (rt, server) = broker();
        let addr = server.addr;
        let outcome = rt.block_on(async {
            match tokio::time::timeout(CASE_TIMEOUT, run(addr, &case)).await {
                Ok(r) => r,
                Err(_) => Err(format!("neither answered nor closed within {CASE_TIMEOUT:?}")),
            }
        });
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
        let after = rt.block_on(async {
            tokio::time::timeout(CASE_TIMEOUT, still_answers(addr))
                .await
                .unwrap_or_else(|_| Err("ApiVersions got no answer".into()))
        });
        prop_assert!(after.is_ok(), "after the case: {}", after.unwrap_err());
    }
}
