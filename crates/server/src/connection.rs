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

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::apis::{self, LaterReply, Reply, Route};
use crate::context::ServerContext;
use crate::error::{ConnectionError, HandlerError};
use crate::frame;

/// A response in the queue, in request order.
enum Outgoing {
    /// Encoded and ready to write.
    Ready(Bytes),
    /// Being completed by a spawned task (a [`Reply::Later`]).
    Later(JoinHandle<Result<Bytes, HandlerError>>),
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
}

/// Serves one connection until the client closes it, a request is malformed, or the
/// server shuts down. Responses to requests already read are written before a clean close;
/// a protocol error closes at once.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    connection_id: u64,
    server: Arc<ServerContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(connection_id, %peer, error = %e, "cannot set TCP_NODELAY");
    }
    let (read_half, write_half) = stream.into_split();
    let (tx, rx) = mpsc::channel(server.config.max_in_flight_requests);
    let reader = read_requests(
        BufReader::new(read_half),
        &server,
        peer,
        connection_id,
        tx,
        &mut shutdown,
    );
    let writer = write_responses(BufWriter::new(write_half), rx);
    tokio::pin!(reader);
    tokio::pin!(writer);

    let outcome = tokio::select! {
        end = &mut reader => match end {
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
}

async fn read_requests<R: AsyncRead + Unpin>(
    mut reader: R,
    server: &Arc<ServerContext>,
    peer: SocketAddr,
    connection_id: u64,
    tx: mpsc::Sender<Outgoing>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<ReadEnd, ConnectionError> {
    let max = server.config.socket_request_max_bytes;
    loop {
        let frame = tokio::select! {
            biased;
            // A dropped sender means the server is gone: shut down as well.
            _ = shutdown.wait_for(|&stop| stop) => return Ok(ReadEnd::Shutdown),
            frame = frame::read_frame(&mut reader, max) => frame?,
        };
        let Some(frame) = frame else {
            return Ok(ReadEnd::Eof);
        };
        let outgoing = match apis::route(server, frame, peer, connection_id)? {
            Route::Respond(response) => Outgoing::Ready(response),
            Route::Call(handler) => match handler.await? {
                Reply::Ready(response) => Outgoing::Ready(response),
                Reply::Later(LaterReply(completion)) => Outgoing::Later(tokio::spawn(completion)),
            },
        };
        if tx.send(outgoing).await.is_err() {
            return Ok(ReadEnd::WriterGone);
        }
    }
}

async fn write_responses<W: AsyncWrite + Unpin>(
    mut writer: BufWriter<W>,
    mut rx: mpsc::Receiver<Outgoing>,
) -> Result<(), ConnectionError> {
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
                writer.flush().await?;
                task.await
                    .map_err(|e| HandlerError::Task(e.to_string()))??
            }
        };
        writer.write_all(&response).await?;
    }
    writer.flush().await?;
    writer.shutdown().await?;
    Ok(())
}
