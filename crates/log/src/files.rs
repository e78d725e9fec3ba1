//! File and directory names, from one place. Kafka's layout, so operators' habits carry
//! over: a partition is the directory `<topic>-<partition>` under the data directory; a
//! segment is `<base offset, 20 digits>.log` with `.index`, `.timeindex` and, when it holds
//! ABORT markers, `.txnindex` beside it.

use std::path::{Path, PathBuf};

/// The kinds of segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Log,
    Index,
    TimeIndex,
    /// The aborted-transaction index (`crate::txn_index`): only where there are entries.
    TxnIndex,
}

impl FileKind {
    /// Every kind of segment file.
    pub const ALL: [FileKind; 4] = [
        FileKind::Log,
        FileKind::Index,
        FileKind::TimeIndex,
        FileKind::TxnIndex,
    ];

    pub fn extension(self) -> &'static str {
        match self {
            FileKind::Log => ".log",
            FileKind::Index => ".index",
            FileKind::TimeIndex => ".timeindex",
            FileKind::TxnIndex => ".txnindex",
        }
    }
}

/// Suffix of a segment file scheduled for deletion.
pub const DELETED_SUFFIX: &str = ".deleted";
/// Suffix of a file the cleaner is writing (incomplete: removed at recovery).
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of a cleaned file ready to replace the originals (completed at recovery).
pub const SWAP_SUFFIX: &str = ".swap";
/// Suffix of a partition directory being deleted.
pub const DELETE_DIR_SUFFIX: &str = "-delete";

/// Written at a clean shutdown, removed at start: its absence means recovery is needed.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Per data directory: the offset below which each log is known flushed.
pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// Per data directory: each log's log start offset.
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
/// Per data directory: where each compacted log's clean section ends.
pub const CLEANER_CHECKPOINT: &str = "cleaner-offset-checkpoint";
/// Held locked (flock) while a process owns the data directory.
pub const LOCK_FILE: &str = ".lock";
/// A producer state snapshot: `<offset, 20 digits>.snapshot`, the state of every producer
/// as of the log below that offset (Kafka's `LogFileUtils.PRODUCER_SNAPSHOT_FILE_SUFFIX`).
pub const PRODUCER_SNAPSHOT_SUFFIX: &str = ".snapshot";
/// Suffix of a producer snapshot or a rebuilt `.txnindex` being written (removed at open).
pub const TMP_SUFFIX: &str = ".tmp";

/// `<base offset, 20 digits><extension>`.
pub fn segment_file_name(base_offset: i64, kind: FileKind) -> String {
    format!("{base_offset:020}{}", kind.extension())
}

pub fn segment_path(dir: &Path, base_offset: i64, kind: FileKind) -> PathBuf {
    dir.join(segment_file_name(base_offset, kind))
}

/// `path` with `suffix` appended to its file name ("" leaves it unchanged).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    if suffix.is_empty() {
        return path.to_path_buf();
    }
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Parses a segment file name: (base offset, kind, trailing suffix such as `.swap`).
pub fn parse_segment_file_name(name: &str) -> Option<(i64, FileKind, &str)> {
    if name.len() < 21 || !name.as_bytes()[..20].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let base: i64 = name[..20].parse().ok()?;
    let rest = &name[20..];
    for kind in FileKind::ALL {
        if let Some(suffix) = rest.strip_prefix(kind.extension()) {
            if suffix.is_empty() || suffix.starts_with('.') {
                return Some((base, kind, suffix));
            }
        }
    }
    None
}

/// `<offset, 20 digits>.snapshot`.
pub fn producer_snapshot_file_name(offset: i64) -> String {
    format!("{offset:020}{PRODUCER_SNAPSHOT_SUFFIX}")
}

pub fn producer_snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(producer_snapshot_file_name(offset))
}

/// Parses a producer snapshot file name: (offset, trailing suffix such as `.tmp`).
pub fn parse_producer_snapshot_file_name(name: &str) -> Option<(i64, &str)> {
    if name.len() < 20 || !name.as_bytes()[..20].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let suffix = name[20..].strip_prefix(PRODUCER_SNAPSHOT_SUFFIX)?;
    if !suffix.is_empty() && !suffix.starts_with('.') {
        return None;
    }
    Some((name[..20].parse().ok()?, suffix))
}

/// `<topic>-<partition>`.
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Parses `<topic>-<partition>`; topic names may themselves contain '-'.
pub fn parse_partition_dir_name(name: &str) -> Option<(&str, i32)> {
    let (topic, part) = name.rsplit_once('-')?;
    if topic.is_empty() || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((topic, part.parse().ok()?))
}

/// Kafka's legal topic name: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
pub fn is_valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(
            segment_file_name(42, FileKind::Log),
            "00000000000000000042.log"
        );
        assert_eq!(
            parse_segment_file_name("00000000000000000042.timeindex"),
            Some((42, FileKind::TimeIndex, ""))
        );
        assert_eq!(
            parse_segment_file_name("00000000000000000042.log.swap"),
            Some((42, FileKind::Log, ".swap"))
        );
        assert_eq!(
            parse_segment_file_name("00000000000000000042.txnindex.tmp"),
            Some((42, FileKind::TxnIndex, ".tmp"))
        );
        assert_eq!(parse_segment_file_name("00000000000000000042.logx"), None);
        assert_eq!(parse_segment_file_name("junk.log"), None);
        assert_eq!(
            producer_snapshot_file_name(42),
            "00000000000000000042.snapshot"
        );
        assert_eq!(
            parse_producer_snapshot_file_name("00000000000000000042.snapshot"),
            Some((42, ""))
        );
        assert_eq!(
            parse_producer_snapshot_file_name("00000000000000000042.snapshot.tmp"),
            Some((42, ".tmp"))
        );
        assert_eq!(
            parse_producer_snapshot_file_name("00000000000000000042.snapshots"),
            None
        );
        assert_eq!(
            parse_segment_file_name("00000000000000000042.snapshot"),
            None
        );
        assert_eq!(
            parse_partition_dir_name("my-topic-7"),
            Some(("my-topic", 7))
        );
        assert_eq!(parse_partition_dir_name("nodash"), None);
        assert_eq!(parse_partition_dir_name("t-"), None);
        assert!(is_valid_topic_name("orders.v1_x-y"));
        assert!(!is_valid_topic_name(".."));
        assert!(!is_valid_topic_name("a/b"));
        assert!(!is_valid_topic_name(&"x".repeat(250)));
    }
}
