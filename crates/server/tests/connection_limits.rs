//! Hostile network input over real TCP: `max.connections.per.ip` (and its overrides),
//! `connections.max.idle.ms` (silent and slowloris connections closed, active ones kept),
//! random bytes on fresh connections, each of which must end in a response frame or a
//! closed connection, never a hang, and `queued.max.request.bytes` holding requests back
//! until memory is returned.
//!
//! The idle tests run on real time with a short idle setting: paused time auto-advances
//! whenever the runtime waits on socket I/O, which would expire connections that are
//! merely waiting for loopback bytes. Nothing asserts on a duration; `bounded` only fails
//! a test that would otherwise hang.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{bounded, Client, TestServer};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// An ApiVersions v3 request (v3+ carries the client's software name and version, KIP-511).
fn api_versions_request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("myelin-tests"))
        .with_client_software_version(StrBytes::from_static_str("0.1.0"))
}

/// An ApiVersions v3 round trip; panics unless it is answered with no error.
async fn api_versions(client: &mut Client) {
    let response: ApiVersionsResponse = client
        .call(ApiKey::ApiVersions, 3, &api_versions_request())
        .await;
    assert_eq!(response.error_code, 0);
}

/// Connects until the server serves the connection (a closed connection's per-IP slot is
/// freed when its task ends, shortly after the client closes).
async fn connect_served(server: &TestServer) -> Client {
    bounded(async {
        loop {
            let mut client = server.connect().await;
            let frame = common::request_frame(ApiKey::ApiVersions, 3, 77, &api_versions_request());
            if client.stream.write_all(&frame).await.is_ok() {
                if let Ok(size) = client.stream.read_i32().await {
                    let mut body = vec![0; size as usize];
                    client.stream.read_exact(&mut body).await.unwrap();
                    return client;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

#[tokio::test]
async fn connections_beyond_the_per_ip_limit_are_closed_and_the_first_keep_working() {
    let server = TestServer::start(Config {
        max_connections_per_ip: 2,
        ..Config::default()
    })
    .await;
    let mut first = server.connect().await;
    let mut second = server.connect().await;
    // Both are counted once they have been served.
    api_versions(&mut first).await;
    api_versions(&mut second).await;

    for _ in 0..3 {
        let mut extra = server.connect().await;
        extra.expect_closed().await;
    }
    api_versions(&mut first).await;
    api_versions(&mut second).await;

    // A slot freed by a close is given to the next connection.
    drop(first);
    let mut third = connect_served(&server).await;
    api_versions(&mut third).await;
    api_versions(&mut second).await;
    drop((second, third));
    server.stop().await;
}

#[tokio::test]
async fn a_per_ip_override_replaces_the_limit() {
    let server = TestServer::start(Config {
        max_connections_per_ip: 5,
        max_connections_per_ip_overrides: BTreeMap::from([("127.0.0.1".parse().unwrap(), 1)]),
        ..Config::default()
    })
    .await;
    let mut first = server.connect().await;
    api_versions(&mut first).await;
    let mut extra = server.connect().await;
    extra.expect_closed().await;
    api_versions(&mut first).await;
    drop(first);
    server.stop().await;
}

#[tokio::test]
async fn per_ip_limits_come_from_broker_configs() {
    let mut settings = BTreeMap::new();
    settings.insert("max.connections.per.ip".to_string(), "1".to_string());
    // The server's typed config is what the listener reads; the binary fills it from
    // these names (crates/myelin/src/settings.rs). The names must also be known broker
    // configs, so that they validate and DescribeConfigs can report them.
    let config = Config {
        max_connections_per_ip: 1,
        broker_configs: settings,
        ..Config::default()
    };
    config.validate().unwrap();
    let server = TestServer::start(config).await;
    let mut first = server.connect().await;
    api_versions(&mut first).await;
    server.connect().await.expect_closed().await;
    drop(first);
    server.stop().await;
}

#[tokio::test]
async fn idle_and_slowloris_connections_are_closed_active_ones_stay() {
    let idle = Duration::from_millis(400);
    let server = TestServer::start(Config {
        connections_max_idle: idle,
        ..Config::default()
    })
    .await;

    let mut silent = server.connect().await;
    let mut served_then_silent = server.connect().await;
    api_versions(&mut served_then_silent).await;

    // Slowloris: a frame announcing 1000 bytes, trickled a byte at a time, each gap well
    // under the idle time. The bytes do not reset the timer.
    let mut slow = server.connect().await;
    let trickle = tokio::spawn(async move {
        let mut bytes = 1000i32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0; 996]);
        for byte in bytes {
            if slow.stream.write_all(&[byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(idle / 8).await;
        }
        slow
    });

    // Active: a request every eighth of the idle time, for three idle periods.
    let mut active = server.connect().await;
    for _ in 0..24 {
        api_versions(&mut active).await;
        tokio::time::sleep(idle / 8).await;
    }

    silent.expect_closed().await;
    served_then_silent.expect_closed().await;
    let mut slow = bounded(trickle).await.unwrap();
    slow.expect_closed().await;
    api_versions(&mut active).await;
    drop(active);
    server.stop().await;
}

#[tokio::test]
async fn pending_responses_are_written_before_an_idle_close() {
    let idle = Duration::from_millis(300);
    let server = TestServer::start(Config {
        connections_max_idle: idle,
        ..Config::default()
    })
    .await;
    let mut client = server.connect().await;
    // Three pipelined requests, then silence: all three answers, in order, then the close.
    for correlation_id in 1..=3 {
        client
            .send(
                ApiKey::ApiVersions,
                3,
                correlation_id,
                &api_versions_request(),
            )
            .await;
    }
    for correlation_id in 1..=3 {
        let (got, response): (i32, ApiVersionsResponse) = client
            .read(ApiKey::ApiVersions.response_header_version(3), 3)
            .await;
        assert_eq!((got, response.error_code), (correlation_id, 0));
    }
    client.expect_closed().await;
    server.stop().await;
}

/// A small deterministic generator (xorshift64*), so that a failing case can be replayed
/// from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One hostile input: a size prefix (exact, short, long, negative, huge or random), a
/// request header with a random API key and version, random bytes after it; and whether
/// the client half-closes after sending.
fn hostile_input(rng: &mut Rng) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    if rng.below(4) > 0 {
        // A plausible header: api key (mostly a known one), version, correlation id,
        // client id length.
        let key = if rng.below(4) > 0 {
            rng.below(80) as i16
        } else {
            rng.next() as i16
        };
        let version = if rng.below(2) == 0 {
            rng.below(16) as i16
        } else {
            rng.next() as i16
        };
        body.extend_from_slice(&key.to_be_bytes());
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&(rng.next() as i32).to_be_bytes());
        let client_id_len = match rng.below(3) {
            0 => -1i16,
            1 => rng.below(8) as i16,
            _ => rng.next() as i16,
        };
        body.extend_from_slice(&client_id_len.to_be_bytes());
    }
    let tail = match rng.below(3) {
        0 => rng.below(8),
        1 => rng.below(64),
        _ => rng.below(2048),
    } as usize;
    body.extend(rng.bytes(tail));
    let len = body.len() as i32;
    let prefix = match rng.below(8) {
        0..=3 => len,
        4 => len + 1 + rng.below(100) as i32,
        5 => len.saturating_sub(1 + rng.below(4) as i32).max(0),
        6 => -(rng.below(1 << 20) as i32) - 1,
        _ => rng.next() as i32,
    };
    let mut input = prefix.to_be_bytes().to_vec();
    input.extend(body);
    // Sometimes only part of the prefix.
    if rng.below(20) == 0 {
        input.truncate(rng.below(4) as usize);
    }
    (input, rng.below(2) == 0)
}

/// Sends one input on a fresh connection; returns once a whole response frame arrived or
/// the connection was closed. Hanging here is the failure `bounded` reports.
async fn run_case(addr: std::net::SocketAddr, input: Vec<u8>, half_close: bool) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may close before everything is written: a failed write is an outcome too.
    let _ = stream.write_all(&input).await;
    if half_close {
        let _ = stream.shutdown().await;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if got.len() >= 4 {
                    let size = i32::from_be_bytes(got[..4].try_into().unwrap());
                    assert!(size >= 0, "a response frame with size {size}");
                    if got.len() >= 4 + size as usize {
                        return; // A complete response frame.
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn random_bytes_end_in_a_response_or_a_close_and_the_server_still_answers() {
    let server = TestServer::start(Config {
        socket_request_max_bytes: 64 * 1024,
        connections_max_idle: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    const CASES: u64 = 300;
    const CONCURRENT: u64 = 50;
    for batch in 0..CASES / CONCURRENT {
        let mut cases = JoinSet::new();
        for i in 0..CONCURRENT {
            let seed = batch * CONCURRENT + i + 1;
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let (input, half_close) = hostile_input(&mut rng);
            let addr = server.addr;
            cases.spawn(async move {
                tokio::time::timeout(Duration::from_secs(5), run_case(addr, input, half_close))
                    .await
                    .unwrap_or_else(|_| panic!("case with seed {seed} hung"));
            });
        }
        while let Some(done) = bounded(cases.join_next()).await {
            done.unwrap();
        }
    }
    let mut client = server.connect().await;
    api_versions(&mut client).await;
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_its_responses_is_closed_as_idle() {
    let idle = Duration::from_millis(200);
    let server = TestServer::start(Config {
        connections_max_idle: idle,
        ..Config::default()
    })
    .await;
    // A small receive buffer, so that the responses back up into the server's writer.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let (mut read_half, mut write_half) = stream.into_split();
    // Far more responses (about 450 bytes each) than the socket buffers hold.
    const REQUESTS: usize = 20_000;
    let frame = common::request_frame(ApiKey::ApiVersions, 3, 1, &api_versions_request());
    let pipeline: Vec<u8> = frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * REQUESTS)
        .collect();
    let sender = tokio::spawn(async move {
        // The server stops reading (and then closes): a failed write is expected.
        let _ = write_half.write_all(&pipeline).await;
        write_half
    });
    // Not reading for many idle periods: the writer is stuck, the reader's queue is full,
    // and no request completes.
    tokio::time::sleep(idle * 10).await;
    let mut responses = 0;
    bounded(async {
        loop {
            let Ok(size) = read_half.read_i32().await else {
                return;
            };
            let mut body = vec![0; size as usize];
            if read_half.read_exact(&mut body).await.is_err() {
                return;
            }
            responses += 1;
        }
    })
    .await;
    assert!(
        responses < REQUESTS,
        "all {REQUESTS} pipelined requests were answered: the connection was never closed"
    );
    drop(bounded(sender).await.unwrap());
    let mut client = server.connect().await;
    api_versions(&mut client).await;
    drop(client);
    server.stop().await;
}

/// A Metadata v12 request naming `n` unknown topics: a valid request of about `n * 40`
/// bytes, answered with UNKNOWN_TOPIC_OR_PARTITION for each.
fn large_metadata_request(n: usize) -> kafka_protocol::messages::MetadataRequest {
    use kafka_protocol::messages::{metadata_request::MetadataRequestTopic, TopicName};
    let topics = (0..n)
        .map(|i| {
            MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(
                format!("no-such-topic-padding-padding-{i:06}"),
            ))))
        })
        .collect();
    kafka_protocol::messages::MetadataRequest::default()
        .with_topics(Some(topics))
        .with_allow_auto_topic_creation(false)
}

/// Reads one Metadata v12 response and checks its correlation id and topic count.
async fn expect_metadata(client: &mut Client, correlation_id: i32, topics: usize) {
    let (got, response): (i32, kafka_protocol::messages::MetadataResponse) = client
        .read(ApiKey::Metadata.response_header_version(12), 12)
        .await;
    assert_eq!(got, correlation_id);
    assert_eq!(response.topics.len(), topics);
}

#[tokio::test]
async fn queued_max_request_bytes_holds_further_requests_until_memory_is_returned() {
    const POOL: usize = 16 * 1024;
    let server = TestServer::start(Config {
        queued_max_request_bytes: Some(POOL),
        ..Config::default()
    })
    .await;
    let memory = server.context.request_memory.as_ref().unwrap();
    assert_eq!(memory.capacity(), POOL);

    // The holder announces an 11 KiB request and sends half of it: its declared size is
    // taken from the pool before the body is read.
    let request = large_metadata_request(280);
    let frame = common::request_frame(ApiKey::Metadata, 12, 1, &request);
    assert!(
        frame.len() > POOL / 2 && frame.len() < POOL,
        "{}",
        frame.len()
    );
    let mut holder = server.connect().await;
    let half = frame.len() / 2;
    holder.send_raw(&frame[..half]).await;
    let taken = frame.len() - 4;
    bounded(async {
        while memory.available() != POOL - taken {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    // A second client's request of the same size does not fit in what is left: it is not
    // read, so not answered, while the holder holds its memory.
    let mut waiter = server.connect().await;
    waiter.send(ApiKey::Metadata, 12, 2, &request).await;
    let early = tokio::time::timeout(Duration::from_millis(300), waiter.stream.read_i32()).await;
    assert!(
        early.is_err(),
        "answered a request the pool had no room for"
    );

    // The holder completes its request: both are answered and the pool is whole again.
    holder.send_raw(&frame[half..]).await;
    expect_metadata(&mut holder, 1, 280).await;
    expect_metadata(&mut waiter, 2, 280).await;
    bounded(async {
        while memory.available() != POOL {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;

    // A request larger than the whole pool takes all of it and is still served.
    let larger = large_metadata_request(600);
    waiter.send(ApiKey::Metadata, 12, 3, &larger).await;
    expect_metadata(&mut waiter, 3, 600).await;
    api_versions(&mut holder).await;
    assert_eq!(memory.available(), POOL);
    server.stop().await;
}

#[tokio::test]
async fn thousands_of_idle_connections_do_not_hold_up_an_active_client() {
    const IDLE: usize = 2_000;
    let server = TestServer::start(Config::default()).await;
    // Open them all and leave them silent (each is served by the broker: its task waits on
    // a read).
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(server.connect().await);
    }
    // A well-behaved client is answered at once, again and again.
    let mut active = server.connect().await;
    for _ in 0..50 {
        api_versions(&mut active).await;
    }
    // The silent ones are still served when they speak, every hundredth of them.
    for client in idle.iter_mut().step_by(100) {
        api_versions(client).await;
    }
    // And when they all go, the broker goes on.
    drop(idle);
    api_versions(&mut active).await;
    let mut late = server.connect().await;
    api_versions(&mut late).await;
    server.stop().await;
}
