//! The metadata log file: an append-only sequence of checksummed records.
//!
//! # Byte layout
//!
//! One file, `<data dir>/cluster-metadata.log` ([`METADATA_LOG_FILE`]). It is a plain file,
//! so `myelin-log`, which treats each directory of the data directory as a partition,
//! leaves it alone. All integers are big-endian.
//!
//! The file starts with a 16-byte header:
//!
//! | at | field | type | value |
//! |---|---|---|---|
//! | 0 | magic | 8 bytes | `MYLNMETA` |
//! | 8 | format version | u32 | 1 |
//! | 12 | reserved | u32 | 0 |
//!
//! Then records, end to end, each a 16-byte frame header and a payload:
//!
//! | at | field | type | notes |
//! |---|---|---|---|
//! | 0 | length | u32 | bytes of payload, at most [`MAX_RECORD_BYTES`] |
//! | 4 | crc | u32 | CRC-32C (Castagnoli) of bytes 0..4 (length), then bytes 8..16+length |
//! | 8 | offset | u64 | the record's [`MetadataOffset`]: 0 for the first, then +1, no holes |
//! | 16 | payload | length bytes | the [`MetadataRecord`] as UTF-8 JSON (see `record.rs`) |
//!
//! # Durability and recovery
//!
//! [`MetadataLog::append`] writes one frame with a single positional write and fdatasyncs
//! the file before it returns; creating the file also fsyncs the directory. So after a crash
//! only the last record can be incomplete. On open, records are read in order and the first
//! bad one (short, oversized, wrong checksum or wrong offset) is handled as follows:
//!
//! - if it is the last thing in the file (its frame header or payload runs past the end of
//!   the file, or its payload ends exactly at the end), or everything from it to the end of
//!   the file is zero bytes (a file whose size grew before its data reached the disk), it is
//!   a torn tail: the file is cut at its first byte, and the cut is synced;
//! - otherwise the file is damaged in a way a crash cannot explain, and opening fails with
//!   [`MetadataError::Corrupt`] rather than silently dropping committed metadata.
//!
//! A record whose checksum is right but whose payload is not a record this version
//! understands is also [`MetadataError::Corrupt`]: it was written whole, perhaps by a newer
//! version, and is never cut.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{MetadataError, Result};
use crate::record::{MetadataOffset, MetadataRecord};

/// The file name of the metadata log inside the data directory.
pub const METADATA_LOG_FILE: &str = "cluster-metadata.log";
/// The first 8 bytes of the file.
pub const MAGIC: [u8; 8] = *b"MYLNMETA";
/// The format version in the file header.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes of the file header.
pub const FILE_HEADER_LEN: u64 = 16;
/// Bytes of a record's frame header (length, crc, offset).
pub const FRAME_HEADER_LEN: usize = 16;
/// The largest payload accepted, written or read. A length above it is never allocated.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// What opening the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Every record in the file, in offset order.
    pub records: Vec<(MetadataOffset, MetadataRecord)>,
    /// Bytes cut from the end of the file as a torn tail (0 when it ended cleanly).
    pub truncated_bytes: u64,
    /// Whether the file was created (or its torn header rewritten) by this open.
    pub created: bool,
}

/// The metadata log file, open for appending.
#[derive(Debug)]
pub struct MetadataLog {
    /// The open file; every write is positional at `end_position`.
    file: File,
    /// The file's path, for errors.
    path: PathBuf,
    /// The offset the next appended record gets.
    next_offset: MetadataOffset,
    /// Byte length of the valid part of the file: where the next frame is written.
    end_position: u64,
    /// Set when a write or sync failed: the tail is in an unknown state until reopened.
    poisoned: bool,
}

impl MetadataLog {
    /// Opens (or creates) the metadata log in `dir`, replays its records and cuts a torn
    /// tail. See the module documentation for what is cut and what is refused.
    pub fn open(dir: &Path) -> Result<(Self, Replay)> {
        let path = dir.join(METADATA_LOG_FILE);
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| MetadataError::io(&path, e))?;
        let file_len = file
            .metadata()
            .map_err(|e| MetadataError::io(&path, e))?
            .len();

        let mut created = false;
        if file_len < FILE_HEADER_LEN {
            // New, or torn while being created: no record can follow an incomplete header.
            let mut header = [0u8; FILE_HEADER_LEN as usize];
            header[..8].copy_from_slice(&MAGIC);
            header[8..12].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
            file.set_len(0).map_err(|e| MetadataError::io(&path, e))?;
            file.write_all_at(&header, 0)
                .map_err(|e| MetadataError::io(&path, e))?;
            file.sync_all().map_err(|e| MetadataError::io(&path, e))?;
            if !existed {
                sync_dir(dir)?;
            }
            created = true;
        }

        let mut log = MetadataLog {
            file,
            path,
            next_offset: MetadataOffset(0),
            end_position: FILE_HEADER_LEN,
            poisoned: false,
        };
        if created {
            let replay = Replay {
                records: Vec::new(),
                truncated_bytes: 0,
                created,
            };
            return Ok((log, replay));
        }

        let (records, truncated_bytes) = log.recover(file_len)?;
        Ok((
            log,
            Replay {
                records,
                truncated_bytes,
                created,
            },
        ))
    }

    /// The offset the next appended record gets.
    pub fn next_offset(&self) -> MetadataOffset {
        self.next_offset
    }

    /// The path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` and makes it durable (fdatasync) before returning its offset.
    ///
    /// On a write or sync failure the log is poisoned: the error is returned, and so is
    /// [`MetadataError::Poisoned`] for every later append, until the log is reopened. A
    /// write that fails for a full disk (ENOSPC, EDQUOT) is cut off again instead, and the
    /// log stays usable.
    pub fn append(&mut self, record: &MetadataRecord) -> Result<MetadataOffset> {
        if self.poisoned {
            return Err(MetadataError::Poisoned {
                path: self.path.clone(),
                offset: self.next_offset,
            });
        }
        let payload = serde_json::to_vec(record).map_err(MetadataError::Encode)?;
        let offset = self.next_offset;
        let frame = encode_frame(offset, &payload)?;
        if let Err(e) = self.file.write_all_at(&frame, self.end_position) {
            // A later append must not follow a partial frame. On a full disk (nothing of
            // it synced, cut off again) the log stays usable: appends succeed once space
            // is freed. Any other failure poisons it (reopening cuts the partial frame).
            let cut = self.file.set_len(self.end_position);
            if !(myelin_log::error::is_no_space(&e) && cut.is_ok()) {
                self.poisoned = true;
            }
            return Err(MetadataError::io(&self.path, e));
        }
        if let Err(e) = self.file.sync_data() {
            // What a failed fdatasync leaves is unknown (the kernel may have dropped the
            // dirty pages): never retried.
            self.poisoned = true;
            let _ = self.file.set_len(self.end_position);
            return Err(MetadataError::io(&self.path, e));
        }
        self.end_position += frame.len() as u64;
        self.next_offset = offset.next();
        Ok(offset)
    }

    /// Reads every record after the header; cuts a torn tail.
    fn recover(&mut self, file_len: u64) -> Result<(Vec<(MetadataOffset, MetadataRecord)>, u64)> {
        let mut header = [0u8; FILE_HEADER_LEN as usize];
        self.file
            .read_exact_at(&mut header, 0)
            .map_err(|e| MetadataError::io(&self.path, e))?;
        if header[..8] != MAGIC || header[8..12] != FORMAT_VERSION.to_be_bytes() {
            return Err(MetadataError::NotAMetadataLog {
                path: self.path.clone(),
            });
        }

        let mut reader = io::BufReader::new(&self.file);
        io::Seek::seek(&mut reader, io::SeekFrom::Start(FILE_HEADER_LEN))
            .map_err(|e| MetadataError::io(&self.path, e))?;
        let mut records = Vec::new();
        let mut position = FILE_HEADER_LEN;
        let mut expected = MetadataOffset(0);
        let bad = loop {
            match read_frame(&mut reader, position, file_len, expected)
                .map_err(|e| MetadataError::io(&self.path, e))?
            {
                Frame::End => break None,
                Frame::Bad { reason, extent } => break Some((reason, extent)),
                Frame::Good { payload } => {
                    let record: MetadataRecord =
                        serde_json::from_slice(&payload).map_err(|e| MetadataError::Corrupt {
                            path: self.path.clone(),
                            position,
                            reason: format!(
                                "record {expected} has a valid checksum but cannot be decoded: {e}"
                            ),
                        })?;
                    records.push((expected, record));
                    position += (FRAME_HEADER_LEN + payload.len()) as u64;
                    expected = expected.next();
                }
            }
        };

        let mut truncated = 0;
        if let Some((reason, extent)) = bad {
            let is_tail = extent >= file_len || self.zeros_from(position, file_len)?;
            if !is_tail {
                return Err(MetadataError::Corrupt {
                    path: self.path.clone(),
                    position,
                    reason: format!("{reason}, and more data follows"),
                });
            }
            truncated = file_len - position;
            tracing::warn!(
                path = %self.path.display(),
                position,
                truncated,
                reason,
                "cutting a torn tail from the metadata log"
            );
            self.file
                .set_len(position)
                .and_then(|()| self.file.sync_all())
                .map_err(|e| MetadataError::io(&self.path, e))?;
        }
        self.end_position = position;
        self.next_offset = expected;
        Ok((records, truncated))
    }

    /// Whether every byte in `from..to` is zero.
    fn zeros_from(&self, from: u64, to: u64) -> Result<bool> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut at = from;
        while at < to {
            let n = buf.len().min((to - at) as usize);
            self.file
                .read_exact_at(&mut buf[..n], at)
                .map_err(|e| MetadataError::io(&self.path, e))?;
            if buf[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
        Ok(true)
    }
}

/// One step of reading the file.
enum Frame {
    /// The file ended exactly at a frame boundary.
    End,
    /// A whole, checksummed frame with the expected offset.
    Good { payload: Vec<u8> },
    /// A frame that is not whole or not valid. `extent` is where it claims to end (past the
    /// end of the file when it is incomplete).
    Bad { reason: String, extent: u64 },
}

/// Reads the frame at `position` (where `reader` stands). I/O errors are real errors; bad
/// bytes are a [`Frame::Bad`], never a panic or an allocation of an unchecked length.
fn read_frame(
    reader: &mut impl Read,
    position: u64,
    file_len: u64,
    expected: MetadataOffset,
) -> io::Result<Frame> {
    let remaining = file_len - position;
    if remaining == 0 {
        return Ok(Frame::End);
    }
    if remaining < FRAME_HEADER_LEN as u64 {
        return Ok(Frame::Bad {
            reason: format!("incomplete frame header ({remaining} of {FRAME_HEADER_LEN} bytes)"),
            extent: position + FRAME_HEADER_LEN as u64,
        });
    }
    let mut header = [0u8; FRAME_HEADER_LEN];
    reader.read_exact(&mut header)?;
    let length = u32::from_be_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let stored_crc = u32::from_be_bytes(header[4..8].try_into().expect("4 bytes"));
    let offset = MetadataOffset(u64::from_be_bytes(
        header[8..16].try_into().expect("8 bytes"),
    ));
    let extent = position + (FRAME_HEADER_LEN + length) as u64;
    if length > MAX_RECORD_BYTES {
        return Ok(Frame::Bad {
            reason: format!("record length {length} exceeds {MAX_RECORD_BYTES}"),
            extent,
        });
    }
    if extent > file_len {
        return Ok(Frame::Bad {
            reason: format!("incomplete record: {length} bytes declared, the file ends first"),
            extent,
        });
    }
    // `length` is now bounded by both the limit and the bytes actually in the file.
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload)?;
    let computed = frame_crc(&header, &payload);
    if computed != stored_crc {
        return Ok(Frame::Bad {
            reason: format!(
                "checksum mismatch: stored {stored_crc:#010x}, computed {computed:#010x}"
            ),
            extent,
        });
    }
    if offset != expected {
        return Ok(Frame::Bad {
            reason: format!("record has offset {offset}, expected {expected}"),
            extent,
        });
    }
    Ok(Frame::Good { payload })
}

/// The frame of one record: header and payload.
fn encode_frame(offset: MetadataOffset, payload: &[u8]) -> Result<Vec<u8>> {
    if payload.len() > MAX_RECORD_BYTES {
        return Err(MetadataError::RecordTooLarge {
            size: payload.len(),
            max: MAX_RECORD_BYTES,
        });
    }
    let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(&offset.0.to_be_bytes());
    frame.extend_from_slice(payload);
    let crc = frame_crc(&frame[..FRAME_HEADER_LEN], payload);
    frame[4..8].copy_from_slice(&crc.to_be_bytes());
    Ok(frame)
}

/// CRC-32C of the length, the offset and the payload (everything but the crc field).
fn frame_crc(header: &[u8], payload: &[u8]) -> u32 {
    myelin_log::crc::crc32c_of(&[&header[0..4], &header[8..16], payload])
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| MetadataError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TopicId;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use uuid::Uuid;

    fn record(n: u32) -> MetadataRecord {
        MetadataRecord::TopicCreated {
            name: format!("topic-{n}"),
            topic_id: TopicId(Uuid::from_u128(n as u128 + 1)),
            partitions: n + 1,
            configs: BTreeMap::new(),
        }
    }

    fn write_records(dir: &Path, n: u32) -> u64 {
        let (mut log, replay) = MetadataLog::open(dir).unwrap();
        assert!(replay.created);
        for i in 0..n {
            assert_eq!(log.append(&record(i)).unwrap(), MetadataOffset(i as u64));
        }
        file_len(dir)
    }

    fn file_len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join(METADATA_LOG_FILE))
            .unwrap()
            .len()
    }

    fn append_bytes(dir: &Path, bytes: &[u8]) {
        use std::io::Write;
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.join(METADATA_LOG_FILE))
            .unwrap();
        f.write_all(bytes).unwrap();
    }

    fn expected_records(n: u32) -> Vec<(MetadataOffset, MetadataRecord)> {
        (0..n)
            .map(|i| (MetadataOffset(i as u64), record(i)))
            .collect()
    }

    #[test]
    fn replays_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let len = write_records(dir.path(), 5);
        let (mut log, replay) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(replay.records, expected_records(5));
        assert_eq!(replay.truncated_bytes, 0);
        assert!(!replay.created);
        assert_eq!(file_len(dir.path()), len);
        // Appends continue the sequence.
        assert_eq!(log.append(&record(5)).unwrap(), MetadataOffset(5));
        drop(log);
        let (_, replay) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(replay.records, expected_records(6));
    }

    #[test]
    fn empty_and_torn_header() {
        let dir = tempfile::tempdir().unwrap();
        let (_, replay) = MetadataLog::open(dir.path()).unwrap();
        assert!(replay.records.is_empty());
        assert_eq!(file_len(dir.path()), FILE_HEADER_LEN);
        // A header torn during creation is rewritten.
        std::fs::write(dir.path().join(METADATA_LOG_FILE), b"MYLN").unwrap();
        let (mut log, replay) = MetadataLog::open(dir.path()).unwrap();
        assert!(replay.created);
        log.append(&record(0)).unwrap();
        drop(log);
        let (_, replay) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(replay.records, expected_records(1));
    }

    #[test]
    fn refuses_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(METADATA_LOG_FILE), [7u8; 64]).unwrap();
        assert!(matches!(
            MetadataLog::open(dir.path()),
            Err(MetadataError::NotAMetadataLog { .. })
        ));
    }

    /// Every prefix of the last record is a torn tail: cut, and the earlier records kept.
    #[test]
    fn cuts_torn_tail_at_every_length() {
        let dir = tempfile::tempdir().unwrap();
        let full = write_records(dir.path(), 3);
        let two = {
            let d = tempfile::tempdir().unwrap();
            write_records(d.path(), 2)
        };
        let bytes = std::fs::read(dir.path().join(METADATA_LOG_FILE)).unwrap();
        for cut in two + 1..full {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join(METADATA_LOG_FILE), &bytes[..cut as usize]).unwrap();
            let (mut log, replay) = MetadataLog::open(d.path()).unwrap();
            assert_eq!(replay.records, expected_records(2), "cut at {cut}");
            assert_eq!(replay.truncated_bytes, cut - two);
            assert_eq!(file_len(d.path()), two);
            // The log continues where the valid prefix ended.
            assert_eq!(log.append(&record(2)).unwrap(), MetadataOffset(2));
            drop(log);
            let (_, replay) = MetadataLog::open(d.path()).unwrap();
            assert_eq!(replay.records, expected_records(3));
        }
    }

    #[test]
    fn cuts_zero_filled_and_garbage_tails() {
        for tail in [
            vec![0u8; 4096],
            vec![0xff; 3],
            b"not a frame at all!!".to_vec(),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let len = write_records(dir.path(), 2);
            append_bytes(dir.path(), &tail);
            let (_, replay) = MetadataLog::open(dir.path()).unwrap();
            assert_eq!(replay.records, expected_records(2));
            assert_eq!(replay.truncated_bytes, tail.len() as u64);
            assert_eq!(file_len(dir.path()), len);
        }
    }

    #[test]
    fn damage_before_the_tail_is_corruption_not_a_cut() {
        let dir = tempfile::tempdir().unwrap();
        write_records(dir.path(), 3);
        let path = dir.path().join(METADATA_LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        // Flip a payload byte of the first record.
        let at = FILE_HEADER_LEN as usize + FRAME_HEADER_LEN + 3;
        bytes[at] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let err = MetadataLog::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, MetadataError::Corrupt { position, .. } if position == FILE_HEADER_LEN),
            "{err}"
        );
        // Nothing was cut.
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn undecodable_payload_with_valid_crc_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        write_records(dir.path(), 1);
        let frame = encode_frame(MetadataOffset(1), br#"{"type":"from_the_future"}"#).unwrap();
        append_bytes(dir.path(), &frame);
        assert!(matches!(
            MetadataLog::open(dir.path()),
            Err(MetadataError::Corrupt { .. })
        ));
    }

    #[test]
    fn wrong_offset_is_refused_unless_at_tail() {
        let dir = tempfile::tempdir().unwrap();
        write_records(dir.path(), 1);
        let payload = serde_json::to_vec(&record(1)).unwrap();
        // A frame with a skipped offset at the very end is a tail (cut) ...
        append_bytes(
            dir.path(),
            &encode_frame(MetadataOffset(7), &payload).unwrap(),
        );
        let (_, replay) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(replay.records, expected_records(1));
        // ... but followed by a good frame it is corruption.
        append_bytes(
            dir.path(),
            &encode_frame(MetadataOffset(7), &payload).unwrap(),
        );
        append_bytes(
            dir.path(),
            &encode_frame(MetadataOffset(8), &payload).unwrap(),
        );
        assert!(matches!(
            MetadataLog::open(dir.path()),
            Err(MetadataError::Corrupt { .. })
        ));
    }

    #[test]
    fn huge_declared_length_is_not_allocated() {
        let dir = tempfile::tempdir().unwrap();
        write_records(dir.path(), 1);
        let mut frame = encode_frame(MetadataOffset(1), b"{}").unwrap();
        frame[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        append_bytes(dir.path(), &frame);
        let (_, replay) = MetadataLog::open(dir.path()).unwrap();
        assert_eq!(replay.records, expected_records(1));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Arbitrary bytes after valid records never panic, and never lose a valid record:
        /// open either keeps every record written or refuses the file as corrupt.
        #[test]
        fn arbitrary_tail_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let dir = tempfile::tempdir().unwrap();
            let len = write_records(dir.path(), 2);
            append_bytes(dir.path(), &tail);
            match MetadataLog::open(dir.path()) {
                Ok((_, replay)) => {
                    prop_assert_eq!(&replay.records[..2], &expected_records(2)[..]);
                    prop_assert!(file_len(dir.path()) >= len);
                }
                Err(MetadataError::Corrupt { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected error {}", e),
            }
        }

        /// Arbitrary bytes as the whole file never panic.
        #[test]
        fn arbitrary_file_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(METADATA_LOG_FILE), &bytes).unwrap();
            let _ = MetadataLog::open(dir.path());
        }
    }
}
