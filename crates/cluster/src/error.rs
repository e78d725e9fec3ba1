//! Typed errors of the metadata layer. The server maps them to Kafka error codes in one
//! place; nothing here knows those codes.

use std::io;
use std::path::{Path, PathBuf};

use crate::record::{MetadataOffset, TopicId};

/// Why a record cannot be applied to the current state. Returned before anything is
/// written: a refused record takes no offset.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StateError {
    #[error("a group config record names no group")]
    EmptyGroupId,
    #[error("topic {name:?} already exists")]
    TopicAlreadyExists { name: String },
    #[error("topic id {topic_id} is already used by topic {name:?}")]
    TopicIdInUse { topic_id: TopicId, name: String },
    #[error("the nil UUID is not a valid topic id")]
    NilTopicId,
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName { name: String, reason: &'static str },
    #[error(
        "topic name {name:?} collides with existing topic {existing:?} ('.' and '_' collide in metric names)"
    )]
    TopicNameCollision { name: String, existing: String },
    #[error("invalid partition count {count}: must be between 1 and {}", i32::MAX)]
    InvalidPartitionCount { count: u32 },
    #[error("no topic has id {topic_id}")]
    UnknownTopicId { topic_id: TopicId },
    #[error("topic {name:?} has {current} partitions; it cannot be changed to {requested}")]
    PartitionsNotIncreased {
        name: String,
        current: u32,
        requested: u32,
    },
    #[error("producer id block {block_start}+{block_size} does not start at the next free id {next} or is empty")]
    ProducerIdBlock {
        block_start: i64,
        block_size: i64,
        next: i64,
    },
    #[error("invalid SCRAM credential for user {user:?}, mechanism {mechanism}: {reason}")]
    InvalidScramCredential {
        user: String,
        mechanism: String,
        reason: &'static str,
    },
    #[error("invalid delegation token {token_id:?}: {reason}")]
    InvalidDelegationToken {
        token_id: String,
        reason: &'static str,
    },
    #[error("invalid ACL {acl}: {reason}")]
    InvalidAcl { acl: String, reason: &'static str },
    #[error("invalid client quota change {change}: {reason}")]
    InvalidClientQuota {
        change: String,
        reason: &'static str,
    },
}

/// Errors of the metadata log and stores.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a Myelin metadata log (bad magic or version)")]
    NotAMetadataLog { path: PathBuf },
    /// Damage that is not a torn tail: a bad record followed by more data, or a record with
    /// a valid checksum that cannot be decoded or applied. Never cut automatically, since
    /// cutting would silently drop committed metadata.
    #[error("metadata log {path} is corrupt at byte {position}: {reason}")]
    Corrupt {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    #[error("metadata record of {size} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge { size: usize, max: usize },
    /// The logs could not be brought in line with the metadata.
    #[error("log storage: {0}")]
    Storage(String),
    #[error("cannot encode metadata record: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("metadata record refused: {0}")]
    Refused(#[from] StateError),
    /// An earlier write or fsync failed; the file's tail is in an unknown state, so no more
    /// appends are taken until the log is reopened (which replays what is durable).
    #[error(
        "metadata log {path} failed at offset {offset} and takes no more appends until reopened"
    )]
    Poisoned {
        path: PathBuf,
        offset: MetadataOffset,
    },
}

impl MetadataError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        MetadataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = MetadataError> = std::result::Result<T, E>;
