//! Compression codecs of Kafka's RecordBatch v2, byte-compatible with the Java client.
//!
//! The records section of a batch (everything after the 61-byte header) is compressed as a
//! whole when the codec bits of the attributes are non-zero. The stream formats are the ones
//! Kafka itself reads and writes:
//!
//! | id | name     | format                                                              |
//! |----|----------|---------------------------------------------------------------------|
//! | 0  | `none`   | the bytes themselves                                                |
//! | 1  | `gzip`   | a gzip stream (RFC 1952); several members are read one after another |
//! | 2  | `snappy` | snappy-java ("xerial") framing, or a bare raw snappy block          |
//! | 3  | `lz4`    | the standard LZ4 frame format                                       |
//! | 4  | `zstd`   | zstd frames                                                         |
//!
//! Decompression is bounded: input comes from the network or from disk and is never trusted,
//! so [`decompress`] stops with [`CodecError::TooLarge`] as soon as the output would exceed
//! its `limit`, and never allocates from a size field in the input beyond that limit.

use std::io::{Read, Write};

use crate::error::CodecError;

/// The magic that opens a snappy-java (`SnappyOutputStream`) stream.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Magic, then the int32 version and the int32 minimum compatible version.
const XERIAL_HEADER_LEN: usize = XERIAL_MAGIC.len() + 8;
/// The stream version snappy-java writes (and the compatible version it declares).
const XERIAL_VERSION: i32 = 1;
/// snappy-java's default block size: each block compresses at most this much input.
const XERIAL_BLOCK: usize = 32 * 1024;

/// A compression codec of RecordBatch v2 (attribute bits 0-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Records are stored as they are (id 0).
    None,
    /// gzip (id 1).
    Gzip,
    /// snappy (id 2).
    Snappy,
    /// lz4 (id 3).
    Lz4,
    /// zstd (id 4).
    Zstd,
}

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec with Kafka's id `id` (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn from_id(id: i16) -> Result<Self, CodecError> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(CodecError::Unknown(other)),
        }
    }

    /// Kafka's id of the codec, as stored in the attribute bits.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec's name in Kafka configuration (`compression.type`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// The codec named `name` in Kafka configuration (case-insensitive), if any.
    ///
    /// `producer` (a topic-level `compression.type` meaning "keep the producer's codec") is
    /// not a codec and gives `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Compression::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn corrupt(codec: Compression, detail: impl ToString) -> CodecError {
    CodecError::Corrupt {
        codec: codec.name(),
        detail: detail.to_string(),
    }
}

/// Decompresses `input`, a records section compressed with `codec`.
///
/// Fails with [`CodecError::TooLarge`] as soon as the output would exceed `limit` bytes, and
/// with [`CodecError::Corrupt`] on malformed input. Never panics, whatever the input.
pub fn decompress(codec: Compression, input: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(CodecError::TooLarge { limit });
            }
            Ok(input.to_vec())
        }
        Compression::Gzip => read_bounded(codec, flate2::read::MultiGzDecoder::new(input), limit),
        Compression::Lz4 => read_bounded(codec, lz4_flex::frame::FrameDecoder::new(input), limit),
        Compression::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::with_buffer(input).map_err(|e| corrupt(codec, e))?;
            read_bounded(codec, decoder, limit)
        }
        Compression::Snappy => {
            if input.starts_with(&XERIAL_MAGIC) {
                snappy_xerial_decompress(input, limit)
            } else {
                let mut out = Vec::new();
                snappy_raw_block(input, limit, &mut out)?;
                Ok(out)
            }
        }
    }
}

/// Reads a decoder to its end, at most `limit` bytes of it.
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    limit: usize,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(codec, e))?;
    if out.len() > limit {
        return Err(CodecError::TooLarge { limit });
    }
    Ok(out)
}

/// Decompresses one raw snappy block, appending it to `out`, which must stay within `limit`.
fn snappy_raw_block(block: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(block).map_err(|e| corrupt(codec, e))?;
    let start = out.len();
    match start.checked_add(len) {
        Some(end) if end <= limit => {
            out.resize(end, 0);
            let n = snap::raw::Decoder::new()
                .decompress(block, &mut out[start..])
                .map_err(|e| corrupt(codec, e))?;
            out.truncate(start + n);
            Ok(())
        }
        _ => Err(CodecError::TooLarge { limit }),
    }
}

fn read_be_i32(b: &[u8], at: usize) -> Option<i32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes(bytes.try_into().ok()?))
}

/// Decodes snappy-java framing: the 16-byte header, then `[int32 length][raw block]`
/// repeated. Like snappy-java, a second header where a block length is expected starts a
/// concatenated stream and is skipped.
fn snappy_xerial_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let codec = Compression::Snappy;
    check_xerial_header(input)?;
    let mut pos = XERIAL_HEADER_LEN;
    let mut out = Vec::new();
    while pos < input.len() {
        let rest = &input[pos..];
        if rest.starts_with(&XERIAL_MAGIC) {
            check_xerial_header(rest)?;
            pos += XERIAL_HEADER_LEN;
            continue;
        }
        let len = read_be_i32(rest, 0).ok_or_else(|| corrupt(codec, "truncated block length"))?;
        let len = usize::try_from(len)
            .map_err(|_| corrupt(codec, format!("negative block length {len}")))?;
        let block = rest.get(4..).and_then(|r| r.get(..len)).ok_or_else(|| {
            corrupt(
                codec,
                format!(
                    "block of {len} bytes but {} remain",
                    rest.len().saturating_sub(4)
                ),
            )
        })?;
        snappy_raw_block(block, limit, &mut out)?;
        pos += 4 + len;
    }
    Ok(out)
}

fn check_xerial_header(b: &[u8]) -> Result<(), CodecError> {
    let codec = Compression::Snappy;
    let (Some(version), Some(compatible)) = (
        read_be_i32(b, XERIAL_MAGIC.len()),
        read_be_i32(b, XERIAL_MAGIC.len() + 4),
    ) else {
        return Err(corrupt(codec, "truncated snappy-java header"));
    };
    // snappy-java refuses streams whose minimum compatible version is newer than its own.
    if compatible > XERIAL_VERSION {
        return Err(corrupt(
            codec,
            format!("unsupported snappy-java stream version {version} (compatible {compatible})"),
        ));
    }
    Ok(())
}

/// Compresses `input` with `codec` in the format Kafka's Java client writes.
pub fn compress(codec: Compression, input: &[u8]) -> Result<Vec<u8>, CodecError> {
    let io_err = |source| CodecError::Io {
        codec: codec.name(),
        source,
    };
    match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(input.len() / 2 + 32),
                flate2::Compression::default(),
            );
            enc.write_all(input).map_err(io_err)?;
            enc.finish().map_err(io_err)
        }
        Compression::Lz4 => {
            // The default frame: 64 KiB independent blocks, no checksums, no content size,
            // as Kafka's KafkaLZ4BlockOutputStream writes.
            let mut enc =
                lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(input.len() / 2 + 32));
            enc.write_all(input).map_err(io_err)?;
            enc.finish().map_err(|e| io_err(std::io::Error::other(e)))
        }
        // Level 3 is Kafka's default zstd level.
        Compression::Zstd => zstd::stream::encode_all(input, 3).map_err(io_err),
        Compression::Snappy => {
            let blocks = input.len().div_ceil(XERIAL_BLOCK);
            let mut out = Vec::with_capacity(
                XERIAL_HEADER_LEN + blocks * 4 + snap::raw::max_compress_len(input.len()),
            );
            out.extend_from_slice(&XERIAL_MAGIC);
            out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
            out.extend_from_slice(&XERIAL_VERSION.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            let mut buf = vec![0u8; snap::raw::max_compress_len(XERIAL_BLOCK.min(input.len()))];
            for chunk in input.chunks(XERIAL_BLOCK) {
                let n = enc
                    .compress(chunk, &mut buf)
                    .map_err(|e| io_err(std::io::Error::other(e)))?;
                // n <= max_compress_len(32 KiB), far below i32::MAX.
                let len = i32::try_from(n).map_err(|e| io_err(std::io::Error::other(e)))?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&buf[..n]);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn samples() -> Vec<Vec<u8>> {
        let mut rng_bytes = Vec::with_capacity(1 << 20);
        let mut x: u32 = 0x1234_5678;
        for i in 0..(1 << 20) {
            // Half pseudo-random, half repetitive: exercises literals and copies.
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            rng_bytes.push(if i % 2048 < 1024 {
                (x >> 24) as u8
            } else {
                b'a'
            });
        }
        vec![Vec::new(), b"hello, kafka".to_vec(), rng_bytes]
    }

    #[test]
    fn ids_and_names_round_trip() {
        for c in Compression::ALL {
            assert_eq!(Compression::from_id(c.id()).unwrap(), c);
            assert_eq!(Compression::from_name(c.name()), Some(c));
        }
        assert_eq!(Compression::from_name("ZSTD"), Some(Compression::Zstd));
        assert_eq!(Compression::from_name("producer"), None);
        assert!(matches!(
            Compression::from_id(5),
            Err(CodecError::Unknown(5))
        ));
        assert!(matches!(
            Compression::from_id(-1),
            Err(CodecError::Unknown(-1))
        ));
    }

    #[test]
    fn every_codec_round_trips() {
        for c in Compression::ALL {
            for input in samples() {
                let packed = compress(c, &input).unwrap();
                let unpacked = decompress(c, &packed, input.len()).unwrap();
                assert!(unpacked == input, "{c} failed on {} bytes", input.len());
            }
        }
    }

    #[test]
    fn snappy_writes_xerial_framing_in_32k_blocks() {
        let input = vec![7u8; 100 * 1024];
        let packed = compress(Compression::Snappy, &input).unwrap();
        assert_eq!(&packed[..8], &XERIAL_MAGIC);
        assert_eq!(&packed[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        let mut pos = 16;
        let mut blocks = Vec::new();
        while pos < packed.len() {
            let len = read_be_i32(&packed, pos).unwrap() as usize;
            let block = &packed[pos + 4..pos + 4 + len];
            blocks.push(snap::raw::decompress_len(block).unwrap());
            pos += 4 + len;
        }
        assert_eq!(blocks, vec![32768, 32768, 32768, 4096]);
        // Header only (what snappy-java writes for an empty stream) is empty.
        assert!(decompress(Compression::Snappy, &packed[..16], 10)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn raw_and_concatenated_snappy_decode() {
        let input = b"librdkafka writes raw snappy blocks, raw snappy blocks".repeat(20);
        let raw = snap::raw::Encoder::new().compress_vec(&input).unwrap();
        assert_eq!(
            decompress(Compression::Snappy, &raw, input.len()).unwrap(),
            input
        );
        assert!(matches!(
            decompress(Compression::Snappy, &raw, input.len() - 1),
            Err(CodecError::TooLarge { .. })
        ));
        let mut twice = compress(Compression::Snappy, &input).unwrap();
        twice.extend_from_slice(&compress(Compression::Snappy, &input).unwrap());
        let out = decompress(Compression::Snappy, &twice, 1 << 20).unwrap();
        assert_eq!(out, [input.clone(), input].concat());
    }

    #[test]
    fn multi_member_gzip_decodes() {
        let mut two = compress(Compression::Gzip, b"first ").unwrap();
        two.extend_from_slice(&compress(Compression::Gzip, b"second").unwrap());
        assert_eq!(
            decompress(Compression::Gzip, &two, 100).unwrap(),
            b"first second"
        );
    }

    #[test]
    fn limit_is_enforced() {
        let bomb = vec![0u8; 10 << 20];
        for c in Compression::ALL {
            let packed = compress(c, &bomb).unwrap();
            match decompress(c, &packed, 1 << 20) {
                Err(CodecError::TooLarge { limit }) => assert_eq!(limit, 1 << 20),
                other => panic!("{c}: expected TooLarge, got {:?}", other.map(|v| v.len())),
            }
            // Exactly at the limit is fine.
            assert_eq!(decompress(c, &packed, 10 << 20).unwrap().len(), 10 << 20);
        }
    }

    #[test]
    fn snappy_size_fields_are_not_trusted() {
        // A raw block claiming 4 GiB of output: refused before allocating.
        let claim = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert!(matches!(
            decompress(Compression::Snappy, &claim, 1 << 20),
            Err(CodecError::TooLarge { .. })
        ));
        // A xerial block length beyond the input, and a negative one.
        let mut framed = compress(Compression::Snappy, b"abc").unwrap();
        framed[16..20].copy_from_slice(&1000i32.to_be_bytes());
        assert!(matches!(
            decompress(Compression::Snappy, &framed, 100),
            Err(CodecError::Corrupt { .. })
        ));
        framed[16..20].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(matches!(
            decompress(Compression::Snappy, &framed, 100),
            Err(CodecError::Corrupt { .. })
        ));
        // A truncated header.
        assert!(decompress(Compression::Snappy, &framed[..12], 100).is_err());
    }

    #[test]
    fn garbage_is_an_error_for_every_codec() {
        let garbage = b"\xfe\xfd this is definitely not compressed data \x00\x01\x02\xff".repeat(3);
        for c in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert!(
                decompress(c, &garbage, 1 << 20).is_err(),
                "{c} accepted garbage"
            );
            // Truncations of valid data never panic (and mostly fail).
            let packed = compress(c, &b"some records ".repeat(100)).unwrap();
            for cut in 0..packed.len() {
                let _ = decompress(c, &packed[..cut], 1 << 20);
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512),
                                    limit in 0usize..4096) {
            for c in Compression::ALL {
                if let Ok(out) = decompress(c, &data, limit) {
                    prop_assert!(out.len() <= limit);
                }
            }
            // Also behind a valid snappy-java header, to reach the block loop.
            let mut framed = compress(Compression::Snappy, b"").unwrap();
            framed.extend_from_slice(&data);
            let _ = decompress(Compression::Snappy, &framed, limit);
        }
    }
}
