//! `myelin-log`: the storage engine that keeps each partition's events on disk.
//!
//! A partition is a directory of segments in Kafka's layout; a segment's `.log` holds
//! RecordBatch v2 bytes exactly as they arrived, so a fetch serves them without
//! re-encoding. This crate knows the 61-byte batch header and the record layout needed for
//! compaction and timestamp lookups, and nothing else of Kafka: no protocol types, no
//! async runtime. Every file operation goes through the [`io::Fs`] seam.
//!
//! Entry points: [`LogManager`] (a data directory: recovery, group commit, retention,
//! compaction) and [`Log`] (one partition: append, read, lookups, truncation). Each log
//! also keeps the state of its idempotent and transactional producers
//! ([`producer_state`]), so that a retried batch is recognised, not written twice, and an
//! index of its aborted transactions ([`txn_index`]) for `read_committed` fetches.

pub mod batch;
pub mod cleaner;
pub mod compression;
pub mod config;
pub mod crc;
pub mod error;
pub mod files;
mod flusher;
pub mod index;
pub mod io;
mod log;
pub mod manager;
mod producer_log;
pub mod producer_state;
pub mod record;
mod recovery;
pub mod scan;
mod segment;
pub mod sim;
pub mod space;
pub mod txn_index;

pub use crate::config::{CleanupPolicy, LogConfig, TimestampType};
pub use crate::error::{BatchError, CodecError, LogError, Result};
pub use crate::flusher::{DurableWait, FlushObserver};
pub use crate::log::{
    AppendInfo, AppendOptions, LoadReport, LoadState, Log, ReadResult, RetentionOutcome,
};
pub use crate::manager::{
    LogManager, ManagerConfig, StartupReport, DEFAULT_CHECKPOINT_INTERVAL_BYTES,
    DEFAULT_FLUSH_THREADS, DEFAULT_RECOVERY_THREADS,
};
pub use crate::producer_log::CHECKPOINT_SNAPSHOT_MIN_BYTES;
pub use crate::producer_state::{AppendOrigin, CompletedTxn, ProducerStateEntry};
pub use crate::segment::{FileSlice, RecoveryOutcome};
pub use crate::txn_index::AbortedTxn;
