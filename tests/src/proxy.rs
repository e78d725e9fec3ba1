//! A TCP proxy between Kafka clients and a broker that cuts connections at chosen points
//! of the Kafka framing, so that a client must retry requests the broker may already have
//! served (the idempotent producer tests).
//!
//! Start the proxy first, then the broker with `--advertised-listen` set to the proxy's
//! address, so that every connection a client opens (the bootstrap one and the ones it
//! learns from Metadata and FindCoordinator) goes through the proxy. The proxy connects
//! each accepted client to [`Proxy::set_upstream`]'s address (the broker's bound listener).
//!
//! It reads whole frames (a 4-byte big-endian length, then that many bytes): requests start
//! with the API key (int16), the API version (int16) and the correlation id (int32);
//! responses with the correlation id. For each Produce request (API key 0) a [`CutPolicy`]
//! decides, at random and at most `max_cuts` times in all, to do one of:
//!
//! - [`Cut::DropResponse`]: forward the request, and when the broker's response to it
//!   arrives, close both connections instead of forwarding it. The broker has served the
//!   request (its records are in the log) but the client never learns it: it must resend
//!   the same batch, which an idempotent broker answers with the original offsets.
//! - [`Cut::TruncateRequest`]: forward only the first half of the request's bytes, then
//!   close both connections: the broker never sees a whole request.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What the proxy does to one Produce request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    DropResponse,
    TruncateRequest,
}

/// How often the proxy cuts, and how many times at most.
#[derive(Debug, Clone, Copy)]
pub struct CutPolicy {
    /// Probability that one Produce request gets [`Cut::DropResponse`].
    pub drop_response: f64,
    /// Probability that one Produce request gets [`Cut::TruncateRequest`].
    pub truncate_request: f64,
    /// The total number of cuts, after which every request passes.
    pub max_cuts: usize,
    /// Seeds the random choices (printed by the tests so that a failure can be replayed).
    pub seed: u64,
}

/// Counts of what the proxy saw and did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub connections: AtomicUsize,
    pub produce_requests: AtomicUsize,
    pub dropped_responses: AtomicUsize,
    pub truncated_requests: AtomicUsize,
    /// Produce requests forwarded to the broker whose responses have not come back, on
    /// connections still open.
    pub produce_in_flight: AtomicUsize,
}

#[derive(Debug)]
struct Shared {
    upstream: Mutex<Option<SocketAddr>>,
    policy: CutPolicy,
    rng: Mutex<StdRng>,
    cuts: AtomicUsize,
    stats: ProxyStats,
    stop: AtomicBool,
}

impl Shared {
    fn decide(&self) -> Option<Cut> {
        let roll: f64 = self.rng.lock().unwrap().gen();
        let cut = if roll < self.policy.drop_response {
            Cut::DropResponse
        } else if roll < self.policy.drop_response + self.policy.truncate_request {
            Cut::TruncateRequest
        } else {
            return None;
        };
        // Count the cut only if the budget allows it.
        self.cuts
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.policy.max_cuts).then_some(n + 1)
            })
            .ok()
            .map(|_| cut)
    }
}

/// A running proxy; stops accepting when dropped (open connections end with their peers).
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Binds `127.0.0.1:0` and starts accepting. Connections accepted before
    /// [`Proxy::set_upstream`] are closed.
    pub fn start(policy: CutPolicy) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the proxy binds");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream: Mutex::new(None),
            policy,
            rng: Mutex::new(StdRng::seed_from_u64(policy.seed)),
            cuts: AtomicUsize::new(0),
            stats: ProxyStats::default(),
            stop: AtomicBool::new(false),
        });
        {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if shared.stop.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let upstream = *shared.upstream.lock().unwrap();
                    let Some(upstream) = upstream else { continue };
                    let Ok(server) = TcpStream::connect(upstream) else {
                        continue;
                    };
                    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                    serve(client, server, shared.clone());
                }
            });
        }
        Proxy { addr, shared }
    }

    /// The address clients connect to (the broker's `--advertised-listen`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where accepted connections go: the broker's bound listener.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self.shared.upstream.lock().unwrap() = Some(upstream);
    }

    pub fn stats(&self) -> &ProxyStats {
        &self.shared.stats
    }

    /// Stops cutting: every request and response passes from now on.
    pub fn stop_cutting(&self) {
        self.shared
            .cuts
            .store(self.shared.policy.max_cuts, Ordering::Release);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wake the accept loop so that it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Reads one frame (length prefix included); None at EOF or on any error.
fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let size = i32::from_be_bytes(len);
    if !(0..=256 << 20).contains(&size) {
        return None;
    }
    let mut frame = vec![0u8; 4 + size as usize];
    frame[..4].copy_from_slice(&len);
    stream.read_exact(&mut frame[4..]).ok()?;
    Some(frame)
}

fn close(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

/// Forwards frames both ways between `client` and `server` on two threads.
fn serve(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // Correlation ids of requests whose responses are to be dropped.
    let doomed: Arc<Mutex<HashSet<i32>>> = Arc::default();
    // Correlation ids of Produce requests forwarded and not answered yet.
    let pending: Arc<Mutex<HashSet<i32>>> = Arc::default();
    let clone = |s: &TcpStream| s.try_clone().expect("a socket clone");
    {
        let (mut from, mut to) = (clone(&client), clone(&server));
        let (doomed, pending, shared) = (doomed.clone(), pending.clone(), shared.clone());
        std::thread::spawn(move || {
            let result: io::Result<()> = (|| {
                while let Some(frame) = read_frame(&mut from) {
                    if frame.len() < 12 {
                        break;
                    }
                    let api_key = i16::from_be_bytes([frame[4], frame[5]]);
                    let correlation_id =
                        i32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
                    if api_key == 0 {
                        shared
                            .stats
                            .produce_requests
                            .fetch_add(1, Ordering::Relaxed);
                        match shared.decide() {
                            Some(Cut::DropResponse) => {
                                doomed.lock().unwrap().insert(correlation_id);
                            }
                            Some(Cut::TruncateRequest) => {
                                shared
                                    .stats
                                    .truncated_requests
                                    .fetch_add(1, Ordering::Relaxed);
                                to.write_all(&frame[..frame.len() / 2])?;
                                break;
                            }
                            None => {}
                        }
                        if pending.lock().unwrap().insert(correlation_id) {
                            shared
                                .stats
                                .produce_in_flight
                                .fetch_add(1, Ordering::AcqRel);
                        }
                    }
                    to.write_all(&frame)?;
                }
                Ok(())
            })();
            let _ = result;
            close(&from, &to);
        });
    }
    {
        let (mut from, mut to) = (server, client);
        std::thread::spawn(move || {
            let result: io::Result<()> = (|| {
                while let Some(frame) = read_frame(&mut from) {
                    if frame.len() < 8 {
                        break;
                    }
                    let correlation_id =
                        i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                    if pending.lock().unwrap().remove(&correlation_id) {
                        shared
                            .stats
                            .produce_in_flight
                            .fetch_sub(1, Ordering::AcqRel);
                    }
                    if doomed.lock().unwrap().remove(&correlation_id) {
                        shared
                            .stats
                            .dropped_responses
                            .fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    to.write_all(&frame)?;
                }
                Ok(())
            })();
            let _ = result;
            close(&from, &to);
            // The connection is gone: its unanswered requests will never be answered.
            let mut pending = pending.lock().unwrap();
            shared
                .stats
                .produce_in_flight
                .fetch_sub(pending.len(), Ordering::AcqRel);
            pending.clear();
        });
    }
}
