//! Typed errors of the log. The server maps them to Kafka error codes in one place.

use std::io;
use std::path::PathBuf;

/// Why a batch was refused. Every variant is the client's fault (bad bytes), never the disk's.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BatchError {
    #[error("batch truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("batch length field {batch_length} is smaller than a batch header")]
    BadLength { batch_length: i32 },
    #[error("batch declares {declared} bytes but {actual} were given")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("batch of {size} bytes exceeds max.message.bytes {max}")]
    TooLarge { size: usize, max: usize },
    #[error("unsupported record batch magic {0}; only v2 is stored")]
    UnsupportedMagic(i8),
    #[error("batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("record count {record_count} inconsistent with last offset delta {last_offset_delta}")]
    BadRecordCount {
        record_count: i32,
        last_offset_delta: i32,
    },
    #[error("unknown compression codec {0}")]
    UnknownCodec(i16),
    #[error("malformed records: {0}")]
    BadRecords(String),
    /// Kafka's `LogValidator.validateKey`: every keyless record of the batch, by its index
    /// in the batch (Kafka's `RecordError.batchIndex`), so that the producer fails only
    /// those (KIP-467).
    #[error("compacted topics require a key on every record: {} of the batch's records have none (indexes {:?}{})", .records.len(), &.records[..records.len().min(3)], if .records.len() > 3 { ", ..." } else { "" })]
    MissingKey { records: Vec<i32> },
    /// Well-formed records that break a rule (offsets not consecutive): Kafka's
    /// InvalidRecordException, where malformed bytes are its CorruptRecordException.
    #[error("invalid record: {0}")]
    InvalidRecord(String),
}

/// Errors of compression and decompression.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("unknown compression codec {0}")]
    Unknown(i16),
    #[error("decompressed data exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("corrupt {codec} data: {detail}")]
    Corrupt { codec: &'static str, detail: String },
    #[error("{codec} compression failed: {source}")]
    Io {
        codec: &'static str,
        #[source]
        source: io::Error,
    },
}

/// Errors of log operations.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("invalid batch: {0}")]
    InvalidBatch(#[from] BatchError),
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file system is full (ENOSPC, or EDQUOT for a quota). An append that meets it is
    /// rolled back and the log stays usable: it is the one I/O error that does not take a
    /// log offline when it comes from a write the log could undo.
    #[error("no space left for {path}: {source}")]
    NoSpace {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the log {0} is closed or offline")]
    Offline(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("corrupt index {path}: {reason}")]
    CorruptIndex { path: PathBuf, reason: String },
    #[error("compression: {0}")]
    Codec(#[from] CodecError),
    /// An idempotent producer's batch does not follow its last one: records were lost in
    /// between, or a new epoch did not start at 0 (Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER).
    #[error(
        "out of order sequence for producer {producer_id} epoch {producer_epoch}: the batch \
         starts at sequence {sequence}, the partition expects {expected}"
    )]
    OutOfOrderSequence {
        producer_id: i64,
        producer_epoch: i16,
        sequence: i32,
        expected: i32,
    },
    /// A batch or marker from an epoch older than the producer's current one: a fenced
    /// zombie (Kafka's INVALID_PRODUCER_EPOCH).
    #[error(
        "producer {producer_id} wrote with epoch {producer_epoch}, older than its current \
         epoch {current_epoch}"
    )]
    InvalidProducerEpoch {
        producer_id: i64,
        producer_epoch: i16,
        current_epoch: i16,
    },
    /// A non-transactional batch from a producer whose transaction is open (Kafka's
    /// INVALID_TXN_STATE).
    #[error(
        "producer {producer_id} wrote a non-transactional batch while its transaction from \
         offset {txn_first_offset} is open"
    )]
    InvalidTxnState {
        producer_id: i64,
        txn_first_offset: i64,
    },
    /// A transaction marker from an older transaction coordinator epoch (Kafka's
    /// TRANSACTION_COORDINATOR_FENCED).
    #[error(
        "transaction marker for producer {producer_id} from coordinator epoch \
         {coordinator_epoch}, older than {current_coordinator_epoch}"
    )]
    TransactionCoordinatorFenced {
        producer_id: i64,
        coordinator_epoch: i32,
        current_coordinator_epoch: i32,
    },
}

impl LogError {
    /// The error of an I/O call on `path`: [`LogError::NoSpace`] for a full file system
    /// (ENOSPC, EDQUOT), else [`LogError::Io`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if is_no_space(&source) {
            LogError::NoSpace { path, source }
        } else {
            LogError::Io { path, source }
        }
    }
    /// True for a full file system.
    pub fn is_no_space(&self) -> bool {
        matches!(self, LogError::NoSpace { .. })
    }
    /// True when the error comes from the disk rather than from the caller's input:
    /// the server answers these with KAFKA_STORAGE_ERROR.
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            LogError::Io { .. } | LogError::NoSpace { .. } | LogError::Offline(_)
        )
    }
}

/// True when `e` says the file system (or the user's quota) is full.
pub fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

pub type Result<T, E = LogError> = std::result::Result<T, E>;
