//! Response frames: what the connection writes for one request.
//!
//! Most responses are one buffer encoded by the codec. A Fetch response is not: the record
//! batches it carries are stored as they arrived, so the frame is built around them as
//! ranges of the log files ([`Chunk::File`]) that the writer sends with `sendfile`, never
//! copying them through user space (see `zero_copy.rs`).

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ResponseHeader;
use kafka_protocol::protocol::{Encodable, HeaderVersion};
use myelin_log::FileSlice;

use crate::error::HandlerError;

/// A part of a response frame.
#[derive(Debug, Clone)]
pub enum Chunk {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A range of a log file, written without copying it into memory when the file has a
    /// descriptor.
    File(FileSlice),
}

impl Chunk {
    /// The chunk's length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Chunk::Bytes(b) => b.len() as u64,
            Chunk::File(f) => f.len,
        }
    }

    /// Whether the chunk is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A whole response frame, size prefix included, as a sequence of chunks.
#[derive(Debug, Clone)]
pub struct ResponseFrame {
    chunks: Vec<Chunk>,
}

impl ResponseFrame {
    /// The chunks, in order; the first starts with the 4-byte size.
    pub fn chunks(&self) -> &[Chunk] {
        &self.chunks
    }

    /// The frame's length on the wire, size prefix included.
    pub fn len(&self) -> u64 {
        self.chunks.iter().map(Chunk::len).sum()
    }

    /// Whether the frame is empty (never, for a built frame).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole frame in memory, file ranges read (for tests and diagnostics).
    pub fn to_vec(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len() as usize);
        for chunk in &self.chunks {
            match chunk {
                Chunk::Bytes(b) => out.extend_from_slice(b),
                Chunk::File(f) => f.read_into(&mut out)?,
            }
        }
        Ok(out)
    }
}

impl From<Bytes> for ResponseFrame {
    /// A frame already encoded whole, size prefix included.
    fn from(frame: Bytes) -> Self {
        Self {
            chunks: vec![Chunk::Bytes(frame)],
        }
    }
}

/// Builds a frame from bytes and file ranges; the size prefix is written by
/// [`FrameBuilder::finish`].
#[derive(Debug)]
pub struct FrameBuilder {
    /// Finished parts: memory parts stay mutable until the size is known.
    parts: Vec<Part>,
    /// The memory part being written.
    current: BytesMut,
}

#[derive(Debug)]
enum Part {
    Memory(BytesMut),
    File(FileSlice),
}

impl FrameBuilder {
    /// A frame whose first memory part has room for `capacity` bytes after the size.
    pub fn new(capacity: usize) -> Self {
        let mut current = BytesMut::with_capacity(4 + capacity);
        current.put_i32(0);
        Self {
            parts: Vec::new(),
            current,
        }
    }

    /// The memory part being written: encode into it.
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.current
    }

    /// Appends a file range after what was written so far.
    pub fn push_file(&mut self, slice: FileSlice) {
        if slice.len == 0 {
            return;
        }
        let written = self.current.split();
        self.parts.push(Part::Memory(written));
        self.parts.push(Part::File(slice));
    }

    /// Writes the size prefix. Fails when the frame exceeds an int32.
    pub fn finish(mut self) -> Result<ResponseFrame, usize> {
        if !self.current.is_empty() {
            let rest = self.current.split();
            self.parts.push(Part::Memory(rest));
        }
        let total: u64 = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Memory(b) => b.len() as u64,
                Part::File(f) => f.len,
            })
            .sum();
        let size = total - 4;
        let size_i32 = i32::try_from(size).map_err(|_| size as usize)?;
        // `new` wrote the prefix's placeholder: the first part is always in memory.
        if let Some(Part::Memory(first)) = self.parts.first_mut() {
            first[..4].copy_from_slice(&size_i32.to_be_bytes());
        }
        let chunks = self
            .parts
            .into_iter()
            .map(|p| match p {
                Part::Memory(b) => Chunk::Bytes(b.freeze()),
                Part::File(f) => Chunk::File(f),
            })
            .collect();
        Ok(ResponseFrame { chunks })
    }
}

/// What a handler's response becomes on the wire.
///
/// Every `kafka-protocol` response message is encoded by the codec (the blanket
/// implementation). A handler that frames its response itself (Fetch, around the stored
/// batches) or sometimes sends none (Produce with acks=0) has its own response type.
pub trait ResponseBody: Send + 'static {
    /// The frame for this response to request `correlation_id` of `version`: size, header,
    /// body. `None` sends nothing.
    fn into_frame(
        self,
        api: &'static str,
        correlation_id: i32,
        version: i16,
    ) -> Result<Option<ResponseFrame>, HandlerError>;
}

impl<T: Encodable + HeaderVersion + Send + 'static> ResponseBody for T {
    fn into_frame(
        self,
        api: &'static str,
        correlation_id: i32,
        version: i16,
    ) -> Result<Option<ResponseFrame>, HandlerError> {
        encode_message(api, correlation_id, version, &self).map(|b| Some(b.into()))
    }
}

/// A whole response frame encoded by the codec: size, header (at the version the response's
/// schema names for `version`), body.
pub fn encode_message<R: Encodable + HeaderVersion>(
    api: &'static str,
    correlation_id: i32,
    version: i16,
    body: &R,
) -> Result<Bytes, HandlerError> {
    // The codec reports errors as `anyhow::Error`; the server keeps only their text.
    let encode_error = |reason: String| HandlerError::Encode {
        api,
        api_version: version,
        reason,
    };
    let header_version = R::header_version(version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_size = header
        .compute_size(header_version)
        .map_err(|e| encode_error(format!("{e:#}")))?;
    let body_size = body
        .compute_size(version)
        .map_err(|e| encode_error(format!("{e:#}")))?;
    let mut buf = crate::frame::start_frame(header_size + body_size);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| encode_error(format!("{e:#}")))?;
    body.encode(&mut buf, version)
        .map_err(|e| encode_error(format!("{e:#}")))?;
    let size = buf.len() - 4;
    crate::frame::finish_frame(buf).ok_or(HandlerError::ResponseTooLarge {
        api,
        api_version: version,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use myelin_log::io::{Fs, OpenMode, RealFs};

    #[test]
    fn frames_splice_file_ranges_between_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = RealFs.open(&path, OpenMode::ReadWriteCreate).unwrap();
        file.write_all_at(b"0123456789", 0).unwrap();

        let mut b = FrameBuilder::new(8);
        b.buf().put_slice(b"ab");
        b.push_file(FileSlice {
            file: file.clone(),
            position: 2,
            len: 3,
        });
        b.push_file(FileSlice {
            file: file.clone(),
            position: 0,
            len: 0,
        });
        b.buf().put_slice(b"c");
        b.push_file(FileSlice {
            file,
            position: 9,
            len: 1,
        });
        let frame = b.finish().unwrap();
        assert_eq!(frame.chunks().len(), 4);
        assert_eq!(frame.len(), 4 + 7);
        assert_eq!(frame.to_vec().unwrap(), b"\0\0\0\x07ab234c9");

        let empty = FrameBuilder::new(0).finish().unwrap();
        assert_eq!(empty.to_vec().unwrap(), b"\0\0\0\0");
    }
}
