//! The accept loop: one task per connection, at most `max.connections` at once and
//! `max.connections.per.ip` from one address, and a graceful shutdown that waits for every
//! connection task to finish.
//!
//! Shutdown follows tokio's mini-redis: the caller passes a future that resolves when the
//! server should stop; a `watch` channel tells every connection; each connection task holds
//! a clone of an `mpsc::Sender` and `run` returns once all of them have been dropped.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::connection;
use crate::context::ServerContext;

/// What the accept loops of a server share: the connection limits and the connection ids.
#[derive(Debug)]
struct Shared {
    /// Shared by every connection.
    server: Arc<ServerContext>,
    /// One permit per connection being served, on every listener; when none is left,
    /// accepting waits.
    limit_connections: Arc<Semaphore>,
    /// The id given to the next connection, for logs.
    next_connection_id: AtomicU64,
    /// Open connections per client address, for `max.connections.per.ip`.
    per_ip: Arc<PerIpCounts>,
    /// Connections closed at once because their address was at its limit, for logs.
    rejected_per_ip: AtomicU64,
    /// Connections over their address's `connection_creation_rate`, held until their
    /// delayed close (KIP-612).
    throttled: Arc<std::sync::atomic::AtomicUsize>,
}

/// At most this many connections wait for their delayed close at once; more are closed at
/// once.
const MAX_THROTTLED_CONNECTIONS: usize = 1024;

/// One listener's identity, as its connections and their requests see it: its name, the
/// address Metadata gives its clients, and its security (Kafka's per-listener configs).
#[derive(Debug)]
pub struct ListenerContext {
    /// The listener's name (`PLAINTEXT`, `SASL_SSL`, or a name of
    /// `listener.security.protocol.map`).
    pub name: String,
    /// The host clients of this listener are told to connect to.
    pub advertised_host: String,
    /// The port clients of this listener are told to connect to.
    pub advertised_port: u16,
    /// SASL on this listener: every connection must authenticate.
    pub sasl: Option<crate::sasl::SaslConfig>,
    /// TLS on this listener.
    pub tls: Option<crate::tls::Acceptor>,
}

/// Open connections per client address. An address's entry is removed when its last
/// connection closes, so the map holds only addresses with open connections.
#[derive(Debug, Default)]
struct PerIpCounts(Mutex<HashMap<IpAddr, usize>>);

impl PerIpCounts {
    /// Counts a new connection from `ip` unless `limit` are already open; the guard
    /// uncounts it when dropped.
    fn try_open(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<PerIpGuard> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= limit {
            if *count == 0 {
                counts.remove(&ip);
            }
            return None;
        }
        *count += 1;
        Some(PerIpGuard {
            counts: self.clone(),
            ip,
        })
    }
}

/// One connection counted in [`PerIpCounts`].
#[derive(Debug)]
struct PerIpGuard {
    counts: Arc<PerIpCounts>,
    ip: IpAddr,
}

impl Drop for PerIpGuard {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Serves the Kafka protocol on `listener` (the server's first listener) until `shutdown`
/// resolves, then stops accepting, tells every connection to close (each first writes the
/// responses it owes) and returns once all are closed.
pub async fn run(listener: TcpListener, server: Arc<ServerContext>, shutdown: impl Future) {
    run_all(vec![listener], server, shutdown).await
}

/// [`run`] on several sockets: socket *i* serves the server's listener *i*
/// ([`ServerContext::listeners`]), all sharing the connection limits.
pub async fn run_all(sockets: Vec<TcpListener>, server: Arc<ServerContext>, shutdown: impl Future) {
    let (notify_shutdown, _) = watch::channel(false);
    let (shutdown_complete, mut all_closed) = mpsc::channel::<()>(1);
    let shared = Arc::new(Shared {
        limit_connections: Arc::new(Semaphore::new(server.config.max_connections)),
        server: server.clone(),
        next_connection_id: AtomicU64::new(0),
        per_ip: Arc::default(),
        rejected_per_ip: AtomicU64::new(0),
        throttled: Arc::default(),
    });
    if sockets.len() > server.listeners.len() {
        tracing::error!(
            sockets = sockets.len(),
            listeners = server.listeners.len(),
            "more sockets than configured listeners: the extra ones are not served"
        );
    }
    let mut accepting = tokio::task::JoinSet::new();
    for (socket, listener) in sockets.into_iter().zip(server.listeners.iter().cloned()) {
        if let Ok(addr) = socket.local_addr() {
            tracing::info!(%addr, listener = %listener.name, "Kafka listener accepting connections");
        }
        accepting.spawn(accept_loop(
            shared.clone(),
            socket,
            listener,
            notify_shutdown.subscribe(),
            shutdown_complete.clone(),
        ));
    }
    // The group coordinator's timers (session expiry, join phases, offset expiry) run
    // while the listeners do.
    let mut timer_stop = notify_shutdown.subscribe();
    let timer = tokio::spawn(server.groups.clone().run_timer(async move {
        let _ = timer_stop.changed().await;
    }));
    // The transaction coordinator's: completions after a crash, timeouts, id expiry.
    let mut txn_timer_stop = notify_shutdown.subscribe();
    let txn_timer = tokio::spawn(server.txns.clone().run_timer(async move {
        let _ = txn_timer_stop.changed().await;
    }));
    // Expired delegation tokens are removed every delegation.token.expiry.check.interval.ms.
    let mut token_timer_stop = notify_shutdown.subscribe();
    let token_server = server.clone();
    let token_timer = tokio::spawn(async move {
        if token_server.tokens.secret.is_none() {
            return;
        }
        let every = std::time::Duration::from_millis(
            u64::try_from(token_server.tokens.expiry_check_interval_ms.max(1)).unwrap_or(1),
        );
        loop {
            tokio::select! {
                _ = token_timer_stop.changed() => return,
                () = tokio::time::sleep(every) => {}
            }
            let s = token_server.clone();
            let _ = tokio::task::spawn_blocking(move || {
                crate::handlers::delegation_tokens::remove_expired(&s)
            })
            .await;
        }
    });
    // The share coordinator's: member sessions and record locks.
    let mut share_timer_stop = notify_shutdown.subscribe();
    let share_timer = tokio::spawn(server.shares.clone().run_timer(async move {
        let _ = share_timer_stop.changed().await;
    }));
    shutdown.await;
    tracing::info!("Kafka listener shutting down");
    // The accept loops hold senders of `shutdown_complete`: stop them before waiting for
    // the connections.
    accepting.shutdown().await;
    notify_shutdown.send_replace(true);
    drop(shutdown_complete);
    // Every connection task holds a sender: `recv` returns `None` once all are gone.
    let _ = all_closed.recv().await;
    drop(notify_shutdown);
    let _ = timer.await;
    let _ = txn_timer.await;
    let _ = share_timer.await;
    let _ = token_timer.await;
    tracing::info!("Kafka listener stopped");
}

/// How long a new connection from `ip` is held before it is closed, when it takes the
/// address over its `connection_creation_rate`; it is then not counted.
fn connection_throttle(server: &ServerContext, ip: IpAddr) -> Option<Duration> {
    let applied = crate::quota::resolve_ip(&server.metadata.state(), ip)?;
    let now = std::time::Instant::now();
    let throttle = server.quotas.record(&applied, 1.0, now);
    if throttle.is_zero() {
        return None;
    }
    server.quotas.unrecord(&applied, 1.0, now);
    server
        .metrics
        .client_throttled(applied.quota.name(), throttle);
    Some(throttle)
}

/// Accepts forever on `socket`, for `listener`. Accept errors (out of file descriptors, a
/// connection reset before it was accepted) are logged and retried with a capped backoff.
async fn accept_loop(
    shared: Arc<Shared>,
    socket: TcpListener,
    listener: Arc<ListenerContext>,
    shutdown: watch::Receiver<bool>,
    shutdown_complete: mpsc::Sender<()>,
) {
    let mut backoff = Duration::from_millis(10);
    loop {
        let Ok(permit) = shared.limit_connections.clone().acquire_owned().await else {
            return; // The semaphore is never closed.
        };
        let (stream, peer) = match socket.accept().await {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let ip = peer.ip();
        let Some(per_ip) = shared
            .per_ip
            .try_open(ip, shared.server.config.max_connections_for(ip))
        else {
            // Kafka closes it at once (TooManyConnectionsException); the permit goes back
            // with it.
            let rejected = shared.rejected_per_ip.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::debug!(
                %peer,
                rejected_total = rejected,
                "connection closed: max.connections.per.ip reached for its address"
            );
            drop(stream);
            continue;
        };
        // An address over its connection creation quota (KIP-612): the connection is not
        // served, and closed once the throttle time has passed (Kafka's delayed close),
        // which slows a client that reconnects in a loop.
        if let Some(throttle) = connection_throttle(&shared.server, ip) {
            drop(per_ip);
            drop(permit);
            tracing::debug!(%peer, throttle_ms = throttle.as_millis() as u64,
                "connection closed after a delay: connection_creation_rate reached for its address");
            let held = shared.throttled.clone();
            if held.fetch_add(1, Ordering::Relaxed) < MAX_THROTTLED_CONNECTIONS {
                tokio::spawn(async move {
                    tokio::time::sleep(throttle).await;
                    drop(stream);
                    held.fetch_sub(1, Ordering::Relaxed);
                });
            } else {
                held.fetch_sub(1, Ordering::Relaxed);
                drop(stream);
            }
            continue;
        }
        let connection_id = shared.next_connection_id.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(connection_id, %peer, listener = %listener.name, "connection accepted");
        let server = shared.server.clone();
        let shutdown = shutdown.clone();
        let done = shutdown_complete.clone();
        let listener = listener.clone();
        tokio::spawn(async move {
            connection::serve(stream, peer, connection_id, server, listener, shutdown).await;
            drop(per_ip);
            drop(permit);
            drop(done);
        });
    }
}
