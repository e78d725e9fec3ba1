//! [`MetadataStore`]: where the broker reads and changes cluster metadata, and
//! [`FileMetadataStore`], its single-node implementation over the [`MetadataLog`] file.
//!
//! A replicated store (a Raft log shared by the controllers) implements the same trait
//! later; the server only ever sees the trait.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::error::{MetadataError, Result};
use crate::log::MetadataLog;
use crate::record::{MetadataOffset, MetadataRecord};
use crate::state::MetadataState;

/// The committed cluster metadata and the one way to change it.
///
/// Invariants every implementation keeps (checked by [`crate::conformance`]):
///
/// - Commits are serialized: records get consecutive offsets starting at 0, with no holes,
///   in the order their commits took effect.
/// - A record is validated against the state it will follow; a refused record
///   ([`MetadataError::Refused`]) is not written, takes no offset, and changes nothing.
/// - [`commit`](Self::commit) returns only once the record is durable (fsync'ed locally, or
///   persisted by a quorum for a replicated store) and applied: a [`state`](Self::state)
///   call that starts after `commit` returns sees it.
/// - A snapshot returned by `state` never changes; later commits publish new snapshots.
/// - After a restart the state is exactly what the committed records yield.
///
/// `commit` may block on disk or network I/O: async callers run it on a blocking thread
/// (`tokio::task::spawn_blocking`). `state` never blocks on I/O.
pub trait MetadataStore: Send + Sync + fmt::Debug {
    /// The committed state: a consistent snapshot, cheap to take.
    fn state(&self) -> Arc<MetadataState>;

    /// Validates, persists and applies `record`; returns its offset.
    fn commit(&self, record: MetadataRecord) -> Result<MetadataOffset>;
}

/// What [`FileMetadataStore::open`] found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreReport {
    /// Records replayed.
    pub records: usize,
    /// Bytes cut from the end of the log as a torn tail.
    pub truncated_bytes: u64,
    /// Whether the log file was created by this open.
    pub created: bool,
}

/// The single-node [`MetadataStore`]: the metadata log file in the data directory, replayed
/// into a [`MetadataState`] at open.
#[derive(Debug)]
pub struct FileMetadataStore {
    /// The log; its lock serializes commits (validate, append, apply, publish).
    log: Mutex<MetadataLog>,
    /// The latest published snapshot. Replaced, never mutated, so readers hold no lock
    /// beyond cloning the `Arc`.
    state: RwLock<Arc<MetadataState>>,
}

impl FileMetadataStore {
    /// Opens the metadata log in `data_dir` (creating it if absent) and replays it.
    ///
    /// Fails with [`MetadataError::Corrupt`] when a record that was written whole cannot be
    /// decoded or applied, or when damage lies before the tail.
    pub fn open(data_dir: &Path) -> Result<(Self, StoreReport)> {
        let (log, replay) = MetadataLog::open(data_dir)?;
        let mut state = MetadataState::new();
        for (offset, record) in &replay.records {
            state
                .apply(*offset, record)
                .map_err(|e| MetadataError::Corrupt {
                    path: log.path().to_path_buf(),
                    position: 0,
                    reason: format!(
                        "record {offset} ({}) does not apply to the state before it: {e}",
                        record.kind()
                    ),
                })?;
        }
        let report = StoreReport {
            records: replay.records.len(),
            truncated_bytes: replay.truncated_bytes,
            created: replay.created,
        };
        tracing::info!(
            path = %log.path().display(),
            records = report.records,
            topics = state.topic_count(),
            truncated_bytes = report.truncated_bytes,
            "metadata log replayed"
        );
        Ok((
            Self {
                log: Mutex::new(log),
                state: RwLock::new(Arc::new(state)),
            },
            report,
        ))
    }
}

impl MetadataStore for FileMetadataStore {
    fn state(&self) -> Arc<MetadataState> {
        self.state.read().clone()
    }

    fn commit(&self, record: MetadataRecord) -> Result<MetadataOffset> {
        let mut log = self.log.lock();
        // Apply to a copy first: a refused record is never written. Copying the whole
        // state per commit is fine for metadata, which changes rarely.
        let mut next = MetadataState::clone(&self.state.read());
        let offset = log.next_offset();
        next.apply(offset, &record)?;
        log.append(&record)?;
        *self.state.write() = Arc::new(next);
        tracing::debug!(%offset, kind = record.kind(), "metadata record committed");
        Ok(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TopicId;
    use std::collections::BTreeMap;
    use uuid::Uuid;

    #[test]
    fn conformance_file_store() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = FileMetadataStore::open(dir.path()).unwrap();
        crate::conformance::check_store(&store);
    }

    #[test]
    fn conformance_file_store_durability() {
        let dir = tempfile::tempdir().unwrap();
        crate::conformance::check_durable(&mut || {
            Box::new(FileMetadataStore::open(dir.path()).unwrap().0)
        });
    }

    #[test]
    fn replay_after_reopen_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (store, report) = FileMetadataStore::open(dir.path()).unwrap();
        assert!(report.created);
        let id = TopicId(Uuid::from_u128(42));
        store
            .commit(MetadataRecord::TopicCreated {
                name: "orders".into(),
                topic_id: id,
                partitions: 2,
                configs: BTreeMap::new(),
            })
            .unwrap();
        store
            .commit(MetadataRecord::PartitionsCreated {
                topic_id: id,
                new_total: 4,
            })
            .unwrap();
        let before = store.state();
        drop(store);

        // A torn third record.
        let path = dir.path().join(crate::log::METADATA_LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0, 0, 0, 40, 1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();

        let (store, report) = FileMetadataStore::open(dir.path()).unwrap();
        assert_eq!(report.records, 2);
        assert_eq!(report.truncated_bytes, 7);
        assert_eq!(*store.state(), *before);
        assert_eq!(store.state().topic_by_name("orders").unwrap().partitions, 4);
        assert_eq!(
            store
                .commit(MetadataRecord::TopicDeleted { topic_id: id })
                .unwrap(),
            MetadataOffset(2)
        );
    }
}
