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

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

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
    server.metrics.connection_opened();
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
    server.metrics.connection_closed();
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
        server.metrics.bytes_received(frame.len() + 4);
        let outgoing = match apis::route(server, frame, peer, connection_id)? {
            Route::Respond(response) => Outgoing::Ready(Some(response)),
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

async fn write_responses<W: FileSink>(
    mut writer: BufWriter<W>,
    mut rx: mpsc::Receiver<Outgoing>,
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
                writer.flush().await?;
                task.await
                    .map_err(|e| HandlerError::Task(e.to_string()))??
            }
        };
        if let Some(frame) = response {
            write_frame(&mut writer, &frame, &mut scratch).await?;
        }
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
