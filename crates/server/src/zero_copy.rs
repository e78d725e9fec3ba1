//! Writing log file ranges to a client socket without copying them through user space.
//!
//! A Fetch response's record batches are ranges of segment files ([`FileSlice`]). On Linux
//! they go from the page cache to the socket with `sendfile(2)`, on the socket's raw
//! descriptor: the socket is non-blocking, so a partial write or `EAGAIN` waits for tokio's
//! writable readiness and continues where the kernel stopped. Files without a descriptor
//! (the simulated disk of the tests), other systems, and file systems that refuse
//! `sendfile` fall back to reading into a reused buffer and writing that.
//!
//! The range was read below the high watermark, so its bytes never change; the file stays
//! open while the slice holds it, even if retention deletes the segment meanwhile. A file
//! truncated under the read (a log truncation) ends the range early: the frame's size is
//! already on the wire, so the connection is closed.

use std::future::Future;
use std::io;

use myelin_log::FileSlice;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;

/// The buffer of the copying fallback.
const COPY_CHUNK: usize = 64 * 1024;

/// A sink that can take file ranges as well as bytes.
pub(crate) trait FileSink: AsyncWrite + Unpin + Send {
    /// Writes the whole of `slice`, bypassing any buffer of the sink (the caller flushes
    /// first). `scratch` is a buffer to reuse if the bytes must be copied.
    fn write_file<'a>(
        &'a mut self,
        slice: &'a FileSlice,
        scratch: &'a mut Vec<u8>,
    ) -> impl Future<Output = io::Result<()>> + Send + 'a;
}

impl FileSink for OwnedWriteHalf {
    async fn write_file(&mut self, slice: &FileSlice, scratch: &mut Vec<u8>) -> io::Result<()> {
        let mut sent = 0;
        #[cfg(target_os = "linux")]
        if let Some(fd) = slice.file.raw_fd() {
            sent = linux::sendfile_all(self.as_ref(), fd, slice.position, slice.len).await?;
        }
        copy_range(self, slice, sent, scratch).await
    }
}

/// A TLS connection's writer: the bytes must pass through the TLS stream, so file ranges are
/// read and copied (Kafka does the same over TLS).
impl FileSink for tokio::io::WriteHalf<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    async fn write_file(&mut self, slice: &FileSlice, scratch: &mut Vec<u8>) -> io::Result<()> {
        copy_range(self, slice, 0, scratch).await
    }
}

/// Writes `slice` from byte `from` on by reading it into `scratch`.
pub(crate) async fn copy_range<W: AsyncWrite + Unpin + ?Sized>(
    writer: &mut W,
    slice: &FileSlice,
    from: u64,
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    let mut pos = from;
    if pos < slice.len && scratch.len() < COPY_CHUNK {
        scratch.resize(COPY_CHUNK, 0);
    }
    while pos < slice.len {
        let n = (slice.len - pos).min(COPY_CHUNK as u64) as usize;
        // A positional read of data below the high watermark: from the page cache in the
        // common case, as Kafka's network threads also read it.
        slice
            .file
            .read_exact_at(&mut scratch[..n], slice.position + pos)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    truncated()
                } else {
                    e
                }
            })?;
        writer.write_all(&scratch[..n]).await?;
        pos += n as u64;
    }
    Ok(())
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "a log file ended inside a range being sent (truncated under the fetch)",
    )
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::{AsRawFd, RawFd};

    use tokio::io::Interest;
    use tokio::net::TcpStream;

    /// Linux moves at most this much per `sendfile` call.
    const MAX_PER_CALL: u64 = 0x7fff_f000;

    /// Sends `len` bytes of `file` from `position` to `stream`. Returns how many were sent:
    /// all of them, or fewer when the file system refuses `sendfile` (the caller copies the
    /// rest).
    pub(super) async fn sendfile_all(
        stream: &TcpStream,
        file: RawFd,
        position: u64,
        len: u64,
    ) -> io::Result<u64> {
        let socket = stream.as_raw_fd();
        let mut sent = 0;
        while sent < len {
            stream.writable().await?;
            let count = (len - sent).min(MAX_PER_CALL) as usize;
            let mut offset = libc::off_t::try_from(position + sent)
                .map_err(|_| io::Error::other("file offset exceeds off_t"))?;
            let result = stream.try_io(Interest::WRITABLE, || {
                // SAFETY: `socket` is the descriptor of `stream` and `file` that of a file
                // kept open by the caller's `FileSlice` for the whole call; `offset` is a
                // valid, exclusively borrowed off_t. sendfile reads `file` at `offset`
                // (without moving its file position) and writes to `socket`; it touches no
                // memory of this process besides `offset`.
                let n = unsafe { libc::sendfile(socket, file, &mut offset, count) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as u64)
                }
            });
            match result {
                Ok(0) => return Err(super::truncated()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
                    ) =>
                {
                    // This file cannot be sent from: the caller copies the rest.
                    return Ok(sent);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use myelin_log::io::{Fs, OpenMode, RealFs};
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (OwnedWriteHalf, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (_, write) = server.into_split();
        (write, client)
    }

    fn file_with(dir: &tempfile::TempDir, content: &[u8]) -> Arc<dyn myelin_log::io::FsFile> {
        let f = RealFs
            .open(&dir.path().join("seg"), OpenMode::ReadWriteCreate)
            .unwrap();
        f.write_all_at(content, 0).unwrap();
        f
    }

    /// Several MiB through a socket whose buffer fills: sendfile's partial writes and
    /// EAGAIN resume where they stopped.
    #[tokio::test]
    async fn large_ranges_arrive_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..6_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let file = file_with(&dir, &content);
        let (mut write, mut read) = pair().await;
        let slice = FileSlice {
            file,
            position: 1_000,
            len: 5_000_000,
        };
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; 5_000_000];
            read.read_exact(&mut got).await.unwrap();
            got
        });
        let mut scratch = Vec::new();
        write.write_file(&slice, &mut scratch).await.unwrap();
        assert!(scratch.is_empty(), "sent without copying");
        assert_eq!(reader.await.unwrap(), &content[1_000..5_001_000]);
    }

    #[tokio::test]
    async fn a_range_past_the_end_of_the_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let file = file_with(&dir, b"0123456789");
        let (mut write, _read) = pair().await;
        let slice = FileSlice {
            file,
            position: 4,
            len: 10,
        };
        let err = write.write_file(&slice, &mut Vec::new()).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn the_copying_fallback_writes_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let file = file_with(&dir, &content);
        let slice = FileSlice {
            file,
            position: 10,
            len: 150_000,
        };
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        copy_range(&mut out, &slice, 0, &mut scratch).await.unwrap();
        assert_eq!(out, &content[10..150_010]);
        let mut out = Vec::new();
        copy_range(&mut out, &slice, 149_000, &mut scratch)
            .await
            .unwrap();
        assert_eq!(out, &content[149_010..150_010]);
    }
}
