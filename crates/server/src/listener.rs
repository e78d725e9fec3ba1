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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::connection;
use crate::context::ServerContext;

/// Accepts connections and hands each to its own task.
#[derive(Debug)]
struct Listener {
    /// The bound socket.
    listener: TcpListener,
    /// Shared by every connection.
    server: Arc<ServerContext>,
    /// One permit per connection being served; when none is left, accepting waits.
    limit_connections: Arc<Semaphore>,
    /// Set to `true` to tell every connection to stop reading and close.
    notify_shutdown: watch::Sender<bool>,
    /// Cloned into each connection task; `run` waits for every clone to be dropped.
    shutdown_complete: mpsc::Sender<()>,
    /// The id given to the next connection, for logs.
    next_connection_id: u64,
    /// Open connections per client address, for `max.connections.per.ip`.
    per_ip: Arc<PerIpCounts>,
    /// Connections closed at once because their address was at its limit, for logs.
    rejected_per_ip: u64,
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

/// Serves the Kafka protocol on `listener` until `shutdown` resolves, then stops accepting,
/// tells every connection to close (each first writes the responses it owes) and returns
/// once all are closed.
pub async fn run(listener: TcpListener, server: Arc<ServerContext>, shutdown: impl Future) {
    let (notify_shutdown, _) = watch::channel(false);
    let (shutdown_complete, mut all_closed) = mpsc::channel::<()>(1);
    let mut l = Listener {
        limit_connections: Arc::new(Semaphore::new(server.config.max_connections)),
        listener,
        server,
        notify_shutdown,
        shutdown_complete,
        next_connection_id: 0,
        per_ip: Arc::default(),
        rejected_per_ip: 0,
    };
    if let Ok(addr) = l.listener.local_addr() {
        tracing::info!(%addr, "Kafka listener accepting connections");
    }
    // The group coordinator's timers (session expiry, join phases, offset expiry) run
    // while the listener does.
    let mut timer_stop = l.notify_shutdown.subscribe();
    let timer = tokio::spawn(l.server.groups.clone().run_timer(async move {
        let _ = timer_stop.changed().await;
    }));
    // The transaction coordinator's: completions after a crash, timeouts, id expiry.
    let mut txn_timer_stop = l.notify_shutdown.subscribe();
    let txn_timer = tokio::spawn(l.server.txns.clone().run_timer(async move {
        let _ = txn_timer_stop.changed().await;
    }));
    tokio::select! {
        () = l.accept_loop() => {}
        _ = shutdown => tracing::info!("Kafka listener shutting down"),
    }
    let Listener {
        notify_shutdown,
        shutdown_complete,
        ..
    } = l;
    notify_shutdown.send_replace(true);
    drop(shutdown_complete);
    // Every connection task holds a sender: `recv` returns `None` once all are gone.
    let _ = all_closed.recv().await;
    drop(notify_shutdown);
    let _ = timer.await;
    let _ = txn_timer.await;
    tracing::info!("Kafka listener stopped");
}

impl Listener {
    /// Accepts forever. Accept errors (out of file descriptors, a connection reset before
    /// it was accepted) are logged and retried with a capped backoff.
    async fn accept_loop(&mut self) {
        let mut backoff = Duration::from_millis(10);
        loop {
            let Ok(permit) = self.limit_connections.clone().acquire_owned().await else {
                return; // The semaphore is never closed.
            };
            let (stream, peer) = match self.listener.accept().await {
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
            let Some(per_ip) = self
                .per_ip
                .try_open(ip, self.server.config.max_connections_for(ip))
            else {
                // Kafka closes it at once (TooManyConnectionsException); the permit goes
                // back with it.
                self.rejected_per_ip += 1;
                tracing::debug!(
                    %peer,
                    rejected_total = self.rejected_per_ip,
                    "connection closed: max.connections.per.ip reached for its address"
                );
                drop(stream);
                continue;
            };
            let connection_id = self.next_connection_id;
            self.next_connection_id += 1;
            tracing::debug!(connection_id, %peer, "connection accepted");
            let server = self.server.clone();
            let shutdown = self.notify_shutdown.subscribe();
            let done = self.shutdown_complete.clone();
            tokio::spawn(async move {
                connection::serve(stream, peer, connection_id, server, shutdown).await;
                drop(per_ip);
                drop(permit);
                drop(done);
            });
        }
    }
}
