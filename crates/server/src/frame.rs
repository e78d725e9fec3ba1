//! Kafka's framing: every request and response is a 4-byte big-endian size, then that many
//! bytes.
//!
//! Reading is bounded twice over: the size is checked against `socket.request.max.bytes`
//! before anything is allocated, and then either the declared size was reserved from
//! `queued.max.request.bytes` ([`crate::memory`]) and is allocated at once, or the buffer
//! grows with the bytes that actually arrive (at most doubling), so that without the pool a
//! client that announces 100 MiB and sends nothing holds kilobytes, not the announced size.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::ConnectionError;

/// The first allocation for a frame body; later growth doubles, up to the declared size.
const INITIAL_CHUNK: usize = 16 * 1024;

/// Reads one frame's body. `Ok(None)` when the peer closed the connection cleanly between
/// frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_size: usize,
) -> Result<Option<Bytes>, ConnectionError> {
    match read_size(reader, max_size).await? {
        Some(size) => read_body(reader, size, false).await.map(Some),
        None => Ok(None),
    }
}

/// Reads a frame's 4-byte size prefix and checks it against `max_size` (a negative size is
/// too large as well). `Ok(None)` when the peer closed the connection cleanly between
/// frames.
pub async fn read_size<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_size: usize,
) -> Result<Option<usize>, ConnectionError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < prefix.len() {
        let n = reader.read(&mut prefix[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(ConnectionError::TruncatedFrame { size: 4, read: got });
        }
        got += n;
    }
    let size = i32::from_be_bytes(prefix);
    if size < 0 || size as usize > max_size {
        return Err(ConnectionError::FrameTooLarge {
            size: size.into(),
            max: max_size,
        });
    }
    Ok(Some(size as usize))
}

/// Reads a frame body of `size` bytes (already checked by [`read_size`]). With `reserved`
/// (the size is held in the request memory pool) the buffer is allocated whole; otherwise
/// it grows with what arrives, each growth copying what came before (a 1 MB request was
/// copied once more that way: `docs/performance.md`, "Third round").
pub async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    size: usize,
    reserved: bool,
) -> Result<Bytes, ConnectionError> {
    let first = if reserved {
        size
    } else {
        size.min(INITIAL_CHUNK)
    };
    let mut body: Vec<u8> = Vec::with_capacity(first);
    while body.len() < size {
        if body.len() == body.capacity() {
            // Grow with what arrived, never past the declared size.
            let target = (body.capacity() * 2).clamp(INITIAL_CHUNK, size);
            body.reserve_exact(target - body.len());
        }
        let spare = body.capacity() - body.len();
        let want = spare.min(size - body.len());
        let n = (&mut *reader).take(want as u64).read_buf(&mut body).await?;
        if n == 0 {
            return Err(ConnectionError::TruncatedFrame {
                size,
                read: body.len(),
            });
        }
    }
    Ok(Bytes::from(body))
}

/// Starts a response frame: reserves the 4-byte size, to be filled by [`finish_frame`].
pub fn start_frame(capacity: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(4 + capacity);
    buf.extend_from_slice(&[0; 4]);
    buf
}

/// Writes the size of a frame started by [`start_frame`]. `None` if it exceeds an int32.
pub fn finish_frame(mut buf: BytesMut) -> Option<Bytes> {
    let size = i32::try_from(buf.len() - 4).ok()?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Some(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[tokio::test]
    async fn reads_frames_back_to_back() {
        let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let mut input = frame(b"hello");
        input.extend(frame(&big));
        input.extend(frame(b""));
        let mut r = &input[..];
        assert_eq!(
            &read_frame(&mut r, 1 << 20).await.unwrap().unwrap()[..],
            b"hello"
        );
        assert_eq!(read_frame(&mut r, 1 << 20).await.unwrap().unwrap(), big);
        assert!(read_frame(&mut r, 1 << 20)
            .await
            .unwrap()
            .unwrap()
            .is_empty());
        assert!(read_frame(&mut r, 1 << 20).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn size_is_checked_before_reading_the_body() {
        // The body never arrives: the size alone must fail the read.
        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(&1025i32.to_be_bytes()).await.unwrap();
        let err = read_frame(&mut server, 1024).await.unwrap_err();
        assert!(matches!(
            err,
            ConnectionError::FrameTooLarge {
                size: 1025,
                max: 1024
            }
        ));
        client.write_all(&(-1i32).to_be_bytes()).await.unwrap();
        let err = read_frame(&mut server, 1024).await.unwrap_err();
        assert!(matches!(
            err,
            ConnectionError::FrameTooLarge { size: -1, .. }
        ));
    }

    #[tokio::test]
    async fn body_cut_short_is_an_error() {
        let mut input = (100 * 1024 * 1024i32).to_be_bytes().to_vec();
        input.extend_from_slice(&[1; 10]);
        let mut r = &input[..];
        let err = read_frame(&mut r, 100 * 1024 * 1024).await.unwrap_err();
        assert!(matches!(
            err,
            ConnectionError::TruncatedFrame { read: 10, .. }
        ));
    }

    /// A body arriving in small pieces reads whole, into a buffer allocated at once
    /// (reserved) or grown as it arrives.
    #[tokio::test]
    async fn bodies_larger_than_the_first_chunk_read_whole_in_both_modes() {
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for reserved in [false, true] {
            let (mut client, mut server) = tokio::io::duplex(4096);
            let sent = body.clone();
            let writer = tokio::spawn(async move {
                for piece in sent.chunks(1000) {
                    client.write_all(piece).await.unwrap();
                }
            });
            let got = read_body(&mut server, body.len(), reserved).await.unwrap();
            writer.await.unwrap();
            assert_eq!(&got[..], &body[..], "reserved: {reserved}");
        }
    }

    #[tokio::test]
    async fn truncated_prefix() {
        let mut r = &[0u8, 0][..];
        assert!(matches!(
            read_frame(&mut r, 1024).await.unwrap_err(),
            ConnectionError::TruncatedFrame { size: 4, read: 2 }
        ));
    }

    #[test]
    fn response_frames_carry_their_size() {
        let mut buf = start_frame(3);
        buf.extend_from_slice(b"abc");
        assert_eq!(&finish_frame(buf).unwrap()[..], b"\0\0\0\x03abc");
    }
}
