//! One client connection: a reader that frames, routes and handles requests in order, and a
//! writer that sends the responses in the same order.
//!
//! ```text
//!  socket ──read_frame──▶ route ──handler (in order)──▶ [bounded queue] ──▶ writer ──▶ socket
//!                                          └─ Reply::Later: spawned, awaited by the writer in turn
//! ```
//!
//! The queue's capacity is `max_in_flight_requests`: when that many responses are waiting,
//! the reader stops reading and TCP pushes back on the client.
//!
//! A request may have no response (Produce with acks=0): its place in the queue is kept and
//! nothing is written. A response is a sequence of chunks: bytes go through the write
//! buffer, file ranges (Fetch's record batches) straight from the page cache to the socket
//! ([`crate::zero_copy`]).
//!
//! `connections.max.idle.ms`: a connection that completes no request and finishes writing
//! no response for that long is closed, after the responses already queued are written
//! (given one more idle period). The timer is not reset by bytes of an incomplete frame, so
//! a client trickling a request (slowloris) is closed as well, and a client that pipelines
//! requests but never reads the responses is closed once the writer has been stuck that
//! long. It does not run while the writer waits for a handler's reply (a long poll), nor
//! while the reader waits for `queued.max.request.bytes` ([`crate::memory`]) to hold the
//! next request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::apis::{self, Encoded, LaterReply, Reply, Route};
use crate::context::ServerContext;
use crate::error::{ConnectionError, HandlerError};
use crate::frame;
use crate::response::{Chunk, ResponseFrame};
use crate::zero_copy::FileSink;

/// A response in the queue, in request order.
enum Outgoing {
    /// Encoded and ready to write (`None`: nothing to write).
    Ready(Encoded),
    /// Being completed by a spawned task (a [`Reply::Later`]).
    Later(JoinHandle<Result<Encoded, HandlerError>>),
}

/// Why the reader stopped without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadEnd {
    /// The client closed its side between requests.
    Eof,
    /// The server is shutting down.
    Shutdown,
    /// The writer stopped (it logs why).
    WriterGone,
    /// No request completed and no response was written for `connections.max.idle.ms`.
    Idle,
    /// SASL authentication failed: the answer is written, then the connection closes.
    AuthenticationFailed,
}

/// What the idle timer of one connection needs, shared by its reader and writer.
#[derive(Debug)]
struct Activity {
    /// When the connection was accepted; the origin of `last_active_ms`.
    start: Instant,
    /// `connections.max.idle.ms`.
    max_idle: Duration,
    /// Milliseconds after `start` of the last complete request read or response written.
    last_active_ms: AtomicU64,
    /// Set while the writer waits for a [`Reply::Later`]: the connection is not idle then.
    awaiting_reply: AtomicBool,
    /// Set while the reader waits for `queued.max.request.bytes` to free memory for the
    /// next request's body: not idle either.
    awaiting_memory: AtomicBool,
}

impl Activity {
    fn new(max_idle: Duration) -> Self {
        Self {
            start: Instant::now(),
            max_idle,
            last_active_ms: AtomicU64::new(0),
            awaiting_reply: AtomicBool::new(false),
            awaiting_memory: AtomicBool::new(false),
        }
    }

    /// Records a complete request or a finished response.
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// When the connection becomes idle if nothing happens meanwhile; while a handler
    /// owes a reply it is not idle, and is looked at again `max_idle` later.
    fn deadline(&self) -> Instant {
        if self.awaiting_reply.load(Ordering::Acquire)
            || self.awaiting_memory.load(Ordering::Acquire)
        {
            return Instant::now() + self.max_idle;
        }
        let last = Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed));
        self.start + last + self.max_idle
    }
}

/// Serves one connection until the client closes it, a request is malformed, or the
/// server shuts down. Responses to requests already read are written before a clean close;
/// a protocol error closes at once.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    connection_id: u64,
    server: Arc<ServerContext>,
    listener: Arc<crate::listener::ListenerContext>,
    shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(connection_id, %peer, error = %e, "cannot set TCP_NODELAY");
    }
    let Some(acceptor) = listener.tls.clone() else {
        let (read_half, write_half) = stream.into_split();
        let session = crate::sasl::Session::on_listener(listener, None);
        let halves = (read_half, write_half);
        return serve_halves(halves, session, peer, connection_id, server, shutdown).await;
    };
    // The TLS handshake gets the idle timeout: a client that opens a connection and says
    // nothing is closed as an idle one would be.
    match tokio::time::timeout(
        server.config.connections_max_idle,
        acceptor.0.accept(stream),
    )
    .await
    {
        Ok(Ok(tls)) => {
            let principal = match crate::tls::certificate_principal(
                tls.get_ref().1.peer_certificates(),
                &acceptor.1,
            ) {
                Ok(principal) => principal,
                Err(dn) => {
                    // Kafka fails the connection when no ssl.principal.mapping.rules
                    // rule applies to the certificate.
                    let client = crate::audit::Client {
                        peer,
                        connection_id,
                        client_id: "",
                    };
                    let reason = format!("no ssl.principal.mapping.rules rule applies to {dn}");
                    crate::audit::authentication_of(
                        &client,
                        "TLS client certificate",
                        None,
                        Err(&reason),
                    );
                    server.metrics.authentication("TLS", false);
                    return;
                }
            };
            if let Some(p) = &principal {
                let client = crate::audit::Client {
                    peer,
                    connection_id,
                    client_id: "",
                };
                crate::audit::authentication_of(
                    &client,
                    "TLS client certificate",
                    Some(p.strip_prefix("User:").unwrap_or(p)),
                    Ok(()),
                );
                server.metrics.authentication("TLS", true);
            }
            let session = crate::sasl::Session::on_listener(listener, principal);
            let halves = tokio::io::split(tls);
            serve_halves(halves, session, peer, connection_id, server, shutdown).await;
        }
        Ok(Err(e)) => {
            tracing::info!(connection_id, %peer, error = %e, "TLS handshake failed");
        }
        Err(_) => {
            tracing::info!(connection_id, %peer, "TLS handshake timed out");
        }
    }
}

/// [`serve`] over the two halves of a connection (plaintext or TLS).
async fn serve_halves<R: tokio::io::AsyncRead + Unpin + Send, W: FileSink>(
    (read_half, write_half): (R, W),
    session: crate::sasl::Session,
    peer: SocketAddr,
    connection_id: u64,
    server: Arc<ServerContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    server.metrics.connection_opened();
    let session = Arc::new(session);
    let (tx, rx) = mpsc::channel(server.config.max_in_flight_requests);
    let activity = Activity::new(server.config.connections_max_idle);
    let reader = read_requests(
        BufReader::new(read_half),
        &server,
        Client {
            peer,
            connection_id,
            session: &session,
        },
        tx,
        &mut shutdown,
        &activity,
    );
    let writer = write_responses(BufWriter::new(write_half), rx, &activity);
    tokio::pin!(reader);
    tokio::pin!(writer);

    let outcome = tokio::select! {
        end = &mut reader => match end {
            Ok(ReadEnd::Idle) => {
                tracing::debug!(connection_id, %peer, "closing idle connection");
                // What is queued, the flush and the close get one more idle period, so a
                // client that stopped reading cannot hold the connection.
                tokio::time::timeout(activity.max_idle, &mut writer)
                    .await
                    .unwrap_or(Ok(()))
            }
            // The reader's queue sender is gone: the writer drains what was queued.
            Ok(_) => (&mut writer).await,
            Err(e) => Err(e),
        },
        written = &mut writer => written,
    };
    match outcome {
        Ok(()) => tracing::debug!(connection_id, %peer, "connection closed"),
        Err(ConnectionError::Io(e)) => {
            tracing::debug!(connection_id, %peer, error = %e, "connection closed on I/O error")
        }
        Err(e) => tracing::info!(connection_id, %peer, error = %e, "closing connection"),
    }
    server.metrics.connection_closed();
}

/// Who is at the other end of a connection.
#[derive(Clone, Copy)]
struct Client<'a> {
    peer: SocketAddr,
    connection_id: u64,
    session: &'a Arc<crate::sasl::Session>,
}

async fn read_requests<R: AsyncRead + Unpin>(
    mut reader: R,
    server: &Arc<ServerContext>,
    client: Client<'_>,
    tx: mpsc::Sender<Outgoing>,
    shutdown: &mut watch::Receiver<bool>,
    activity: &Activity,
) -> Result<ReadEnd, ConnectionError> {
    let socket_request_max_bytes = server.config.socket_request_max_bytes;
    loop {
        // A client over its quota: no further request is read until its throttle has
        // passed (KIP-219), whatever the client itself does.
        if let Some(until) = client.session.take_throttle() {
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|&stop| stop) => return Ok(ReadEnd::Shutdown),
                () = tokio::time::sleep_until(until.into()) => {}
            }
            activity.touch();
        }
        // Until a SASL client has authenticated, its frames are bounded by Kafka's
        // `sasl.server.max.receive.size` (512 KiB), not `socket.request.max.bytes`: a client
        // with no credentials cannot make the broker reserve 100 MiB.
        let max = if client.session.authenticating() {
            socket_request_max_bytes.min(crate::sasl::MAX_RECEIVE_SIZE)
        } else {
            socket_request_max_bytes
        };
        // One read per frame, kept across idle checks so that no byte read is lost. The
        // body is read once its declared size is reserved from `queued.max.request.bytes`;
        // waiting for that memory is the broker's doing, not idleness.
        let read = async {
            let Some(size) = frame::read_size(&mut reader, max).await? else {
                return Ok(None);
            };
            let reservation = match &server.request_memory {
                Some(memory) => {
                    activity.awaiting_memory.store(true, Ordering::Release);
                    let reservation = memory.reserve(size).await;
                    activity.awaiting_memory.store(false, Ordering::Release);
                    Some(reservation)
                }
                None => None,
            };
            let body = frame::read_body(&mut reader, size, reservation.is_some()).await?;
            Ok::<_, ConnectionError>(Some((body, reservation)))
        };
        tokio::pin!(read);
        let frame = loop {
            let deadline = activity.deadline();
            tokio::select! {
                biased;
                // A dropped sender means the server is gone: shut down as well.
                _ = shutdown.wait_for(|&stop| stop) => return Ok(ReadEnd::Shutdown),
                frame = &mut read => break frame?,
                () = tokio::time::sleep_until(deadline) => {
                    if activity.deadline() <= Instant::now() {
                        return Ok(ReadEnd::Idle);
                    }
                }
            }
        };
        let Some((frame, reservation)) = frame else {
            return Ok(ReadEnd::Eof);
        };
        activity.touch();
        server.metrics.bytes_received(frame.len() + 4);
        // After SaslHandshake v0 the SASL tokens come as bare frames.
        if client.session.expects_raw_token() {
            let who = crate::audit::Client {
                peer: client.peer,
                connection_id: client.connection_id,
                client_id: "",
            };
            let reply = match crate::handlers::sasl::raw_token(server, client.session, &who, &frame)
            {
                Ok(reply) => reply,
                Err(reason) => {
                    // v0 has no error answer: the close is it, after the same delay.
                    let delay = client
                        .session
                        .sasl()
                        .map_or(0, |s| s.failed_authentication_delay_ms);
                    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                    return Err(ConnectionError::AuthenticationFailed { reason });
                }
            };
            let mut raw = crate::response::FrameBuilder::new(reply.len());
            raw.buf().extend_from_slice(&reply);
            let raw = raw
                .finish()
                .map_err(|size| ConnectionError::AuthenticationFailed {
                    reason: format!("a SASL token of {size} bytes"),
                })?;
            drop(reservation);
            if tx.send(Outgoing::Ready(Some(raw))).await.is_err() {
                return Ok(ReadEnd::WriterGone);
            }
            continue;
        }
        let outgoing = match apis::route(
            server,
            frame,
            client.peer,
            client.connection_id,
            client.session,
        )? {
            Route::Respond(response) => Outgoing::Ready(Some(response)),
            Route::Call(handler) => match handler.await? {
                Reply::Ready(response) => Outgoing::Ready(response),
                Reply::Later(LaterReply(completion)) => Outgoing::Later(tokio::spawn(completion)),
            },
        };
        // The request has been handled: its bytes go back to the pool.
        drop(reservation);
        // A full queue (the client is not reading its responses) does not stop the timer.
        let send = tx.send(outgoing);
        tokio::pin!(send);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|&stop| stop) => return Ok(ReadEnd::Shutdown),
                sent = &mut send => match sent {
                    Ok(()) => break,
                    Err(_) => return Ok(ReadEnd::WriterGone),
                },
                () = tokio::time::sleep_until(activity.deadline()) => {
                    if activity.deadline() <= Instant::now() {
                        return Ok(ReadEnd::Idle);
                    }
                }
            }
        }
        // A failed SASL authentication: its answer is queued; then the connection closes.
        if client.session.failed() {
            return Ok(ReadEnd::AuthenticationFailed);
        }
    }
}

async fn write_responses<W: FileSink>(
    mut writer: BufWriter<W>,
    mut rx: mpsc::Receiver<Outgoing>,
    activity: &Activity,
) -> Result<(), ConnectionError> {
    // The buffer of file ranges that cannot be sent with sendfile, reused.
    let mut scratch = Vec::new();
    loop {
        // Flush only when nothing else is queued, so pipelined responses share a write.
        let next = match rx.try_recv() {
            Ok(next) => next,
            Err(mpsc::error::TryRecvError::Empty) => {
                writer.flush().await?;
                match rx.recv().await {
                    Some(next) => next,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        let response = match next {
            Outgoing::Ready(response) => response,
            Outgoing::Later(task) => {
                // What is buffered goes out before a wait, not before a reply that is
                // already there (durable answers completed by one flush share a write).
                if !task.is_finished() {
                    writer.flush().await?;
                }
                activity.awaiting_reply.store(true, Ordering::Release);
                let reply = task.await;
                activity.awaiting_reply.store(false, Ordering::Release);
                // The wait is activity: the idle time counts from the reply.
                activity.touch();
                reply.map_err(|e| HandlerError::Task(e.to_string()))??
            }
        };
        if let Some(frame) = response {
            write_frame(&mut writer, &frame, &mut scratch).await?;
        }
        activity.touch();
    }
    writer.flush().await?;
    writer.shutdown().await?;
    Ok(())
}

/// Writes one response frame: bytes through the buffer, file ranges past it (after a
/// flush, so that the order holds).
async fn write_frame<W: FileSink>(
    writer: &mut BufWriter<W>,
    frame: &ResponseFrame,
    scratch: &mut Vec<u8>,
) -> std::io::Result<()> {
    for chunk in frame.chunks() {
        match chunk {
            Chunk::Bytes(bytes) => writer.write_all(bytes).await?,
            Chunk::File(slice) => {
                writer.flush().await?;
                writer.get_mut().write_file(slice, scratch).await?;
            }
        }
    }
    Ok(())
}
