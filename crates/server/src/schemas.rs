//! The schema registry's store: the `_schemas` topic, read into a [`Registry`] and written
//! by the registry's REST API, and the schema ID validation of produced records
//! (Confluent Server's `confluent.key.schema.validation` and
//! `confluent.value.schema.validation` topic configs).
//!
//! The state is a view of the topic, as a Confluent Schema Registry's is: it is brought up
//! to the topic's high watermark before each answer and each validation, so records that
//! a Confluent Schema Registry (or anything else) appends to `_schemas` count as soon as
//! they are committed. The REST API's changes are planned against the view, appended
//! (durable before they are answered), and then read back like any other record. Changes
//! are serialized by one lock, as a single Confluent primary serializes them.

use std::collections::BTreeMap;
use std::sync::Arc;

use myelin_cluster::{MetadataRecord, Partition, PartitionManager, TopicId};
use myelin_log::batch::BatchIter;
use myelin_log::compression::Compression;
use myelin_log::record::{read_varint, records_of_batch, simple_batch, KeyValue, RecordIter};
use myelin_log::AppendOptions;
use myelin_registry::{Registry, RegistryError, StoreRecord, SubjectStrategy};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::context::ServerContext;

/// The most bytes a compressed batch of the topic may inflate to.
const MAX_INFLATED: usize = 64 * 1024 * 1024;
/// Errors listed per refused batch, as Kafka lists at most a few.
const MAX_RECORD_ERRORS: usize = 20;

/// Where the view stands in the topic.
#[derive(Debug, Default)]
struct Position {
    /// The topic the view was read from (a topic deleted and created again is read anew).
    topic_id: Option<TopicId>,
    /// The next offset to apply.
    next: i64,
}

/// The registry's state and the topic it comes from.
#[derive(Debug)]
pub struct SchemaStore {
    topic: String,
    state: RwLock<Registry>,
    position: Mutex<Position>,
    /// Serializes the REST API's changes.
    writes: tokio::sync::Mutex<()>,
}

/// Which fields of a topic's records are checked, and against which subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Validation {
    pub key: Option<SubjectStrategy>,
    pub value: Option<SubjectStrategy>,
}

impl Validation {
    /// From a topic's configs (absent: off).
    pub fn of(configs: Option<&BTreeMap<String, String>>) -> Self {
        let Some(c) = configs else {
            return Self::default();
        };
        let on = |name: &str| c.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let strategy = |name: &str| {
            c.get(name)
                .and_then(|s| SubjectStrategy::parse(s))
                .unwrap_or_default()
        };
        Validation {
            key: on("confluent.key.schema.validation")
                .then(|| strategy("confluent.key.subject.name.strategy")),
            value: on("confluent.value.schema.validation")
                .then(|| strategy("confluent.value.subject.name.strategy")),
        }
    }

    pub fn is_on(&self) -> bool {
        self.key.is_some() || self.value.is_some()
    }
}

/// A batch refused by validation: each failing record's index in the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub records: Vec<(i32, String)>,
}

impl SchemaStore {
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            state: RwLock::new(Registry::new()),
            position: Mutex::new(Position::default()),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// The topic the schemas are kept in.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn partition(&self, partitions: &PartitionManager) -> Option<Arc<Partition>> {
        partitions.get(&self.topic, 0)
    }

    /// Brings the view up to the topic's high watermark and returns it. Reading the topic
    /// is blocking I/O (page cache, normally), done by the caller's thread.
    pub fn read(
        &self,
        partitions: &PartitionManager,
    ) -> Result<RwLockReadGuard<'_, Registry>, RegistryError> {
        self.catch_up(partitions)?;
        Ok(self.state.read())
    }

    fn catch_up(&self, partitions: &PartitionManager) -> Result<(), RegistryError> {
        let mut pos = self.position.lock();
        let Some(partition) = self.partition(partitions) else {
            if pos.topic_id.is_some() {
                *pos = Position::default();
                *self.state.write() = Registry::new();
            }
            return Ok(());
        };
        let log = &partition.log;
        if pos.topic_id != Some(partition.topic_id) || pos.next < log.log_start_offset() {
            // Another topic of the name, or records gone from under the view (retention):
            // read it all again.
            *pos = Position {
                topic_id: Some(partition.topic_id),
                next: log.log_start_offset(),
            };
            *self.state.write() = Registry::new();
        }
        let end = partition.high_watermark();
        if pos.next >= end {
            return Ok(());
        }
        let from = pos.next;
        let mut state = self.state.write();
        let read =
            myelin_log::scan::for_each_batch(log, from, end, MAX_INFLATED, |header, records| {
                if header.is_control() {
                    return Ok(());
                }
                for record in RecordIter::new(records, header.record_count) {
                    let Ok(record) = record else { break };
                    // A batch read whole may begin before the view's position.
                    if header.base_offset + i64::from(record.offset_delta) >= from {
                        state.apply(record.key, record.value);
                    }
                }
                Ok(())
            });
        match read {
            Ok(next) => {
                pos.next = next;
                Ok(())
            }
            Err(e) => {
                // Part of the read may be applied: the next read starts over.
                *pos = Position::default();
                *state = Registry::new();
                Err(RegistryError::store(format!("reading {}: {e}", self.topic)))
            }
        }
    }

    /// Checks the records of `batch` (one whole batch, as Produce takes it) for `topic`,
    /// against the view brought up to date.
    pub fn validate(
        &self,
        partitions: &PartitionManager,
        topic: &str,
        validation: Validation,
        batch: &[u8],
    ) -> Result<(), Refused> {
        let state = self.read(partitions).map_err(|e| Refused {
            records: vec![(0, e.message)],
        })?;
        check_batch(&state, topic, validation, batch)
    }

    /// Plans a change against the current state and appends its records, durably; then
    /// the view reads them back. Returns what `plan` answered. Changes are serialized.
    pub async fn change<T: Send + 'static>(
        self: &Arc<Self>,
        server: &Arc<ServerContext>,
        plan: impl FnOnce(&Registry) -> Result<(T, Vec<StoreRecord>), RegistryError> + Send + 'static,
    ) -> Result<T, RegistryError> {
        let _serial = self.writes.lock().await;
        self.ensure_topic(server).await?;
        let store = self.clone();
        let partitions = server.partitions.clone();
        let (answer, wait) = tokio::task::spawn_blocking(move || {
            let (answer, records) = {
                let state = store.read(&partitions)?;
                plan(&state)?
            };
            if records.is_empty() {
                return Ok((answer, None));
            }
            let partition = store.partition(&partitions).ok_or_else(|| {
                RegistryError::store(format!("{} is not hosted here", store.topic))
            })?;
            let pairs: Vec<KeyValue<'_>> = records
                .iter()
                .map(|(k, v)| (Some(k.as_slice()), v.as_deref()))
                .collect();
            let now_ms = now_ms();
            let batch = simple_batch(&pairs, now_ms, Compression::None);
            let opts = AppendOptions {
                leader_epoch: partition.leader_epoch,
                now_ms,
            };
            let (_, wait) = partitions
                .logs()
                .append_from_coordinator(&partition.log, &batch, &opts)
                .map_err(|e| RegistryError::store(e.to_string()))?;
            if wait.is_none() {
                partition.notify_data();
            }
            Ok::<_, RegistryError>((answer, wait.map(|w| (w, partition))))
        })
        .await
        .map_err(|e| RegistryError::store(e.to_string()))??;
        if let Some((wait, partition)) = wait {
            wait.await
                .map_err(|e| RegistryError::store(e.to_string()))?;
            partition.notify_data();
        }
        Ok(answer)
    }

    /// Creates the topic as Confluent Schema Registry does: one partition, compacted.
    async fn ensure_topic(&self, server: &Arc<ServerContext>) -> Result<(), RegistryError> {
        if server.metadata.state().topic_by_name(&self.topic).is_some() {
            return Ok(());
        }
        let record = MetadataRecord::TopicCreated {
            name: self.topic.clone(),
            topic_id: TopicId::random(),
            partitions: 1,
            configs: BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]),
        };
        match crate::topics::commit(server, record).await {
            Ok(_) => {
                tracing::info!(topic = %self.topic, "created the schema registry's topic");
                Ok(())
            }
            Err(_) if server.metadata.state().topic_by_name(&self.topic).is_some() => Ok(()),
            Err(e) => Err(RegistryError::store(format!(
                "cannot create {}: {e}",
                self.topic
            ))),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Checks the records of `batch` for `topic` against `registry` (see
/// [`SchemaStore::validate`]): every whole batch in it, decompressed, each record's key
/// and value as `validation` says.
pub fn check_batch(
    registry: &Registry,
    topic: &str,
    validation: Validation,
    batch: &[u8],
) -> Result<(), Refused> {
    let fail = |why: String| Refused {
        records: vec![(0, why)],
    };
    let mut keys = validation
        .key
        .map(|strategy| registry.field_checker(topic, true, strategy));
    let mut values = validation
        .value
        .map(|strategy| registry.field_checker(topic, false, strategy));
    let mut refused = Vec::new();
    for (_, _, b) in BatchIter::new(batch) {
        let (header, records) =
            records_of_batch(b, MAX_INFLATED).map_err(|e| fail(e.to_string()))?;
        if header.is_control() {
            continue;
        }
        let mut pos = 0;
        for i in 0..header.record_count.max(0) {
            let (key, value) = record_fields(&records, &mut pos)
                .ok_or_else(|| fail(format!("record {i} of the batch is malformed")))?;
            let decision = match (&mut keys, &mut values) {
                (Some(k), v) => k
                    .check(key)
                    .and_then(|()| v.as_mut().map_or(Ok(()), |v| v.check(value))),
                (None, Some(v)) => v.check(value),
                (None, None) => Ok(()),
            };
            if let Err(why) = decision {
                if refused.len() < MAX_RECORD_ERRORS {
                    refused.push((i, why));
                }
            }
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Refused { records: refused })
    }
}

/// The key and value of the record at `*pos` in a records section, advancing past it: the
/// record's length, then (skipped) its attributes, timestamp and offset deltas, then the
/// key and the value. Only what that needs is checked (every length within the record and
/// the section); the log checks the whole record when it appends the batch. None when the
/// record is malformed.
fn record_fields<'a>(records: &'a [u8], pos: &mut usize) -> Option<KeyValue<'a>> {
    let mut p = *pos;
    let len = usize::try_from(read_varint(records, &mut p).ok()?).ok()?;
    let end = p.checked_add(len)?;
    let record = records.get(..end)?;
    p += 1; // attributes
    skip_varint(record, &mut p, 10)?; // timestamp delta
    skip_varint(record, &mut p, 5)?; // offset delta
    let key = nullable(record, &mut p)?;
    let value = nullable(record, &mut p)?;
    *pos = end;
    Some((key, value))
}

/// Moves `*p` past a varint of at most `max` bytes.
#[inline]
fn skip_varint(buf: &[u8], p: &mut usize, max: usize) -> Option<()> {
    for _ in 0..max {
        let b = *buf.get(*p)?;
        *p += 1;
        if b & 0x80 == 0 {
            return Some(());
        }
    }
    None
}

/// A length-prefixed field: -1 is null.
#[inline]
fn nullable<'a>(buf: &'a [u8], p: &mut usize) -> Option<Option<&'a [u8]>> {
    let len = read_varint(buf, p).ok()?;
    if len == -1 {
        return Some(None);
    }
    let len = usize::try_from(len).ok()?;
    let field = buf.get(*p..p.checked_add(len)?)?;
    *p += len;
    Some(Some(field))
}

#[cfg(test)]
mod tests {
    use myelin_log::record::{encode_record, parse_record};
    use proptest::prelude::*;

    use super::*;

    type Field = Option<Vec<u8>>;

    proptest! {
        /// The fields found are the ones the full parser finds, headers or not.
        #[test]
        fn fields_are_the_parsers(
            records in proptest::collection::vec(
                (any::<Field>(), any::<Field>(), any::<i64>(), proptest::collection::vec((any::<Vec<u8>>(), any::<Field>()), 0..3)),
                0..8,
            ),
        ) {
            let mut raw = Vec::new();
            for (i, (k, v, ts, headers)) in records.iter().enumerate() {
                let headers: Vec<(&[u8], Option<&[u8]>)> =
                    headers.iter().map(|(hk, hv)| (&hk[..], hv.as_deref())).collect();
                encode_record(&mut raw, 0, *ts, i as i32, k.as_deref(), v.as_deref(), &headers);
            }
            let (mut pos, mut full) = (0, 0);
            for _ in &records {
                let (k, v) = record_fields(&raw, &mut pos).expect("a well-formed record");
                let r = parse_record(&raw, &mut full).unwrap();
                prop_assert_eq!((k, v), (r.key, r.value));
                prop_assert_eq!(pos, full);
            }
            prop_assert_eq!(pos, raw.len());
        }

        /// Any bytes: an answer, never a panic, never a position past the input.
        #[test]
        fn any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut pos = 0;
            while record_fields(&bytes, &mut pos).is_some() {
                prop_assert!(pos <= bytes.len());
                if pos == bytes.len() {
                    break;
                }
            }
        }
    }
}
