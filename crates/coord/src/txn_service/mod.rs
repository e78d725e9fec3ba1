//! The transaction coordinator service: the pure transaction logic of [`crate::txn`], made
//! durable in the internal compacted topic `__transaction_state`, with the COMMIT/ABORT
//! markers written to the transactions' partitions.
//!
//! Transactional ids are spread over the topic's partitions as Kafka spreads them
//! ([`crate::service::partition_for`]). Each partition is a shard: a mutex over its
//! transactional ids, never held across an `.await`. A change is appended to the shard's
//! partition under the lock and the id is marked busy (other requests for it get
//! CONCURRENT_TRANSACTIONS, as in Kafka while a write is pending); once the write is durable
//! the new metadata replaces the old.
//!
//! Ending a transaction (EndTxn, an InitProducerId that fences an open one, a timeout) goes
//! PrepareCommit/PrepareAbort (durable), then one marker per partition (durable; for
//! `__consumer_offsets` partitions the group coordinator then applies or drops the pending
//! transactional offsets), then CompleteCommit/CompleteAbort. EndTxn is answered once the
//! transaction is complete: on a single node the markers are local appends, and answering
//! after them spares clients the CONCURRENT_TRANSACTIONS retries of Kafka's asynchronous
//! markers. A crash between the steps leaves the Prepare state on disk: the load and the
//! timer complete it again (markers are idempotent for the logs).

mod load;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use myelin_cluster::{Partition, PartitionManager};
use myelin_log::batch::{ATTR_CONTROL, ATTR_TRANSACTIONAL};
use parking_lot::{Mutex, RwLock};

use crate::offsets::TopicPartition;
use crate::service::internal;
use crate::service::shard::{append_records, BatchProducer, KeyValue, WriteError};
use crate::service::{partition_for, GroupCoordinator, OFFSETS_TOPIC};
use crate::txn::{
    self, AddPartitionsOutcome, EndTxnOutcome, InitOutcome, ListFilter, ProducerIdAndEpoch,
    TransactionDescription, TransactionListing, TransactionMetadata, TxnConfig, TxnError,
    TxnMarkers, TxnResult, TxnState, TRANSACTION_STATE_TOPIC,
};

/// `__transaction_state`'s `segment.bytes` (Kafka's `transaction.state.log.segment.bytes`).
const STATE_LOG_SEGMENT_BYTES: i64 = 100 * 1024 * 1024;

/// The coordinator epoch written in markers: one node, never re-elected.
const COORDINATOR_EPOCH: i32 = 0;

/// One transactional id.
#[derive(Debug)]
struct Entry {
    md: TransactionMetadata,
    /// A write (or a completion) is in flight: other requests get CONCURRENT_TRANSACTIONS.
    busy: bool,
}

/// One partition of `__transaction_state`.
#[derive(Debug)]
struct TxnShard {
    partition: Arc<Partition>,
    entries: Mutex<HashMap<String, Entry>>,
    loaded: AtomicBool,
}

/// What FindCoordinator says for a transactional id.
pub use crate::service::CoordinatorLookup;

/// The transaction coordinator of this broker.
#[derive(Debug)]
pub struct TxnCoordinator {
    partitions: Arc<PartitionManager>,
    groups: Arc<GroupCoordinator>,
    config: TxnConfig,
    shards: RwLock<Option<Arc<[Arc<TxnShard>]>>>,
    create_lock: tokio::sync::Mutex<()>,
    /// Producer id -> transactional id, for the partition leaders' check that a
    /// transactional batch belongs to an open transaction (KIP-890 part 1).
    producers: Mutex<HashMap<i64, String>>,
}

impl TxnCoordinator {
    /// A coordinator over `partitions`. When `__transaction_state` exists it is loaded now
    /// (blocking I/O); transactions found preparing are completed by [`Self::run_timer`].
    pub fn new(
        partitions: Arc<PartitionManager>,
        groups: Arc<GroupCoordinator>,
        config: TxnConfig,
    ) -> Result<Arc<Self>, String> {
        config.validate()?;
        let coordinator = Arc::new(TxnCoordinator {
            partitions,
            groups,
            config,
            shards: RwLock::new(None),
            create_lock: tokio::sync::Mutex::new(()),
            producers: Mutex::new(HashMap::new()),
        });
        coordinator.attach_shards()?;
        Ok(coordinator)
    }

    /// The settings.
    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    fn shards(&self) -> Option<Arc<[Arc<TxnShard>]>> {
        self.shards.read().clone()
    }

    fn attach_shards(&self) -> Result<bool, String> {
        if self.shards.read().is_some() {
            return Ok(true);
        }
        let Some(parts) = internal::partitions_of(&self.partitions, TRANSACTION_STATE_TOPIC)?
        else {
            return Ok(false);
        };
        let mut built = Vec::with_capacity(parts.len());
        for (i, p) in parts.into_iter().enumerate() {
            let entries = load::load_partition(&p)
                .map_err(|e| format!("cannot load {TRANSACTION_STATE_TOPIC}-{i}: {e}"))?;
            if !entries.is_empty() {
                tracing::info!(
                    partition = i,
                    transactional_ids = entries.len(),
                    "loaded transaction state"
                );
            }
            let mut producers = self.producers.lock();
            let mut map = HashMap::with_capacity(entries.len());
            for (id, md) in entries {
                producers.insert(md.producer_id, id.clone());
                map.insert(id, Entry { md, busy: false });
            }
            built.push(Arc::new(TxnShard {
                partition: p,
                entries: Mutex::new(map),
                loaded: AtomicBool::new(true),
            }));
        }
        *self.shards.write() = Some(built.into());
        Ok(true)
    }

    /// Creates `__transaction_state` if needed (on the first FindCoordinator for a
    /// transactional id, as Kafka does).
    pub async fn lookup(self: &Arc<Self>, transactional_id: &str) -> CoordinatorLookup {
        if txn::validate_transactional_id(transactional_id).is_err() {
            return CoordinatorLookup::Unavailable;
        }
        if self.shards.read().is_some() {
            return CoordinatorLookup::Ready;
        }
        let this = self.clone();
        internal::ensure(&self.create_lock, TRANSACTION_STATE_TOPIC, move || {
            this.create_and_attach()
        })
        .await
    }

    fn create_and_attach(&self) -> Result<(), String> {
        if self.attach_shards()? {
            return Ok(());
        }
        internal::create(
            &self.partitions,
            TRANSACTION_STATE_TOPIC,
            self.config.state_log_partitions,
            STATE_LOG_SEGMENT_BYTES,
        )?;
        if self.attach_shards()? {
            Ok(())
        } else {
            Err(format!(
                "{TRANSACTION_STATE_TOPIC} has no partitions after its creation"
            ))
        }
    }

    fn shard_for(&self, transactional_id: &str) -> Result<Arc<TxnShard>, TxnError> {
        txn::validate_transactional_id(transactional_id)?;
        let shards = self.shards().ok_or(TxnError::CoordinatorNotAvailable)?;
        let n = u32::try_from(shards.len()).unwrap_or(u32::MAX);
        let index = usize::try_from(partition_for(transactional_id, n)).unwrap_or(0);
        let shard = shards[index].clone();
        if !shard.loaded.load(Ordering::Acquire) {
            return Err(TxnError::CoordinatorLoadInProgress);
        }
        Ok(shard)
    }

    // ----- Writing ---------------------------------------------------------------------

    /// Appends `md` for `id` (the shard locked by the caller); the entry is marked busy.
    fn begin_write(
        &self,
        shard: &TxnShard,
        entries: &mut HashMap<String, Entry>,
        id: &str,
        md: &TransactionMetadata,
    ) -> Result<crate::service::shard::Written, TxnError> {
        let record: KeyValue = (
            txn::encode_key(id).map_err(|_| TxnError::InvalidRequest {
                reason: "the transactional id is too long",
            })?,
            Some(
                md.to_log_value()
                    .encode()
                    .map_err(|e| TxnError::IllegalState {
                        reason: format!("the transaction metadata cannot be encoded: {e}"),
                    })?,
            ),
        );
        let written = append_records(
            self.partitions.logs(),
            &shard.partition,
            &[record],
            now_ms(),
            BatchProducer::NONE,
        )
        .map_err(|e| {
            tracing::warn!(transactional_id = id, error = %e, "cannot write transaction state");
            TxnError::CoordinatorNotAvailable
        })?;
        match entries.get_mut(id) {
            Some(e) => e.busy = true,
            None => {
                // A new id: a placeholder that refuses concurrent requests until written.
                entries.insert(
                    id.to_string(),
                    Entry {
                        md: md.clone(),
                        busy: true,
                    },
                );
            }
        }
        Ok(written)
    }

    /// Waits for a write begun by [`Self::begin_write`]; on success `md` becomes the id's
    /// metadata, on failure the old one stays (a new id is forgotten).
    async fn finish_write(
        &self,
        shard: &TxnShard,
        id: &str,
        previous: Option<TransactionMetadata>,
        md: TransactionMetadata,
        written: crate::service::shard::Written,
    ) -> Result<(), TxnError> {
        let durable = written.wait().await;
        let mut entries = shard.entries.lock();
        match durable {
            Ok(_) => {
                self.producers.lock().insert(md.producer_id, id.to_string());
                entries.insert(id.to_string(), Entry { md, busy: false });
                Ok(())
            }
            Err(e) => {
                tracing::warn!(transactional_id = id, error = %e, "transaction state write failed");
                match previous {
                    Some(md) => {
                        entries.insert(id.to_string(), Entry { md, busy: false });
                    }
                    None => {
                        entries.remove(id);
                    }
                }
                Err(TxnError::CoordinatorNotAvailable)
            }
        }
    }

    /// Writes `md` for `id` and waits for it: the whole of a simple state change.
    async fn write(
        &self,
        shard: &TxnShard,
        id: &str,
        previous: Option<TransactionMetadata>,
        md: TransactionMetadata,
    ) -> Result<(), TxnError> {
        let written = {
            let mut entries = shard.entries.lock();
            self.begin_write(shard, &mut entries, id, &md)?
        };
        self.finish_write(shard, id, previous, md, written).await
    }

    /// The id's metadata, refusing while a write is in flight.
    fn current(
        entries: &HashMap<String, Entry>,
        id: &str,
    ) -> Result<Option<TransactionMetadata>, TxnError> {
        match entries.get(id) {
            Some(e) if e.busy => Err(TxnError::ConcurrentTransactions { state: e.md.state }),
            Some(e) => Ok(Some(e.md.clone())),
            None => Ok(None),
        }
    }

    // ----- InitProducerId ----------------------------------------------------------------

    /// InitProducerId with a transactional id. `allocate` hands out a fresh producer id; it
    /// is awaited only when one is needed.
    pub async fn init_producer_id<F, Fut>(
        &self,
        transactional_id: &str,
        transaction_timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
        allocate: F,
    ) -> Result<(i64, i16), TxnError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<i64, TxnError>>,
    {
        let shard = self.shard_for(transactional_id)?;
        let needs_id = {
            let entries = shard.entries.lock();
            let existing = Self::current(&entries, transactional_id)?;
            txn::init_needs_producer_id(existing.as_ref(), expected)
        };
        let fresh = if needs_id {
            Some(allocate().await?)
        } else {
            None
        };
        let (previous, outcome, written) = {
            let mut entries = shard.entries.lock();
            let previous = Self::current(&entries, transactional_id)?;
            let outcome = txn::init_producer_id(
                previous.as_ref(),
                transaction_timeout_ms,
                self.config.max_timeout_ms,
                expected,
                || {
                    // The state moved between the two looks (another request got in): the
                    // client retries.
                    fresh.ok_or(TxnError::ConcurrentTransactions {
                        state: TxnState::Empty,
                    })
                },
                now_ms(),
            )?;
            let md = match &outcome {
                InitOutcome::Initialized(md) | InitOutcome::AbortOngoing(md) => md.clone(),
            };
            let written = self.begin_write(&shard, &mut entries, transactional_id, &md)?;
            (previous, outcome, written)
        };
        match outcome {
            InitOutcome::Initialized(md) => {
                let answer = (md.producer_id, md.producer_epoch);
                self.finish_write(&shard, transactional_id, previous, md, written)
                    .await?;
                Ok(answer)
            }
            InitOutcome::AbortOngoing(md) => {
                // The open transaction is aborted under a bumped epoch (fencing the old
                // producer); the producer retries and gets the next epoch.
                self.finish_write(&shard, transactional_id, previous, md.clone(), written)
                    .await?;
                self.complete(&shard, transactional_id).await;
                Err(TxnError::ConcurrentTransactions {
                    state: TxnState::PrepareAbort,
                })
            }
        }
    }

    // ----- AddPartitionsToTxn, AddOffsetsToTxn -------------------------------------------

    /// AddPartitionsToTxn for one transactional id (the partitions exist: the handler
    /// checks).
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TopicPartition>,
    ) -> Result<(), TxnError> {
        let shard = self.shard_for(transactional_id)?;
        let (previous, md, written) = {
            let mut entries = shard.entries.lock();
            let previous = Self::current(&entries, transactional_id)?;
            match txn::add_partitions(
                previous.as_ref(),
                producer_id,
                producer_epoch,
                partitions,
                now_ms(),
            )? {
                AddPartitionsOutcome::AlreadyIncluded => return Ok(()),
                AddPartitionsOutcome::Write(md) => {
                    let written = self.begin_write(&shard, &mut entries, transactional_id, &md)?;
                    (previous, md, written)
                }
            }
        };
        self.finish_write(&shard, transactional_id, previous, md, written)
            .await
    }

    /// AddPartitionsToTxn v4 `verify_only`: whether each partition is in the open
    /// transaction.
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TopicPartition>,
    ) -> Result<BTreeMap<TopicPartition, Result<(), TxnError>>, TxnError> {
        let shard = self.shard_for(transactional_id)?;
        let entries = shard.entries.lock();
        let md = entries.get(transactional_id).map(|e| &e.md);
        txn::verify_partitions(md, producer_id, producer_epoch, partitions)
    }

    /// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction.
    pub async fn add_offsets(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        group_id: &str,
    ) -> Result<(), TxnError> {
        if self.groups.lookup(group_id).await != CoordinatorLookup::Ready {
            return Err(TxnError::CoordinatorNotAvailable);
        }
        let n = self
            .groups
            .offsets_partitions()
            .ok_or(TxnError::CoordinatorNotAvailable)?;
        let tp = TopicPartition::new(OFFSETS_TOPIC, partition_for(group_id, n));
        self.add_partitions(transactional_id, producer_id, producer_epoch, vec![tp])
            .await
    }

    /// Whether producer `producer_id` at `producer_epoch` may append a transactional batch
    /// to `tp`: its transaction is open and includes the partition (KIP-890 part 1: a
    /// late batch must not open a transaction of its own).
    pub fn verify_produce(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        tp: &TopicPartition,
    ) -> Result<(), TxnError> {
        let id = self.producers.lock().get(&producer_id).cloned().ok_or(
            TxnError::InvalidProducerIdMapping {
                producer_id,
                current_producer_id: None,
            },
        )?;
        let shard = self.shard_for(&id)?;
        let entries = shard.entries.lock();
        let md = entries.get(&id).map(|e| &e.md);
        let verified = txn::verify_partitions(md, producer_id, producer_epoch, vec![tp.clone()])?;
        verified.into_values().next().unwrap_or(Ok(()))
    }

    // ----- EndTxn ------------------------------------------------------------------------

    /// EndTxn: answered once the transaction is complete (markers written).
    pub async fn end_txn(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        result: TxnResult,
    ) -> Result<(), TxnError> {
        let shard = self.shard_for(transactional_id)?;
        let (previous, md, written) = {
            let mut entries = shard.entries.lock();
            let previous = Self::current(&entries, transactional_id)?;
            match txn::end_txn(
                previous.as_ref(),
                producer_id,
                producer_epoch,
                result,
                now_ms(),
            )? {
                EndTxnOutcome::AlreadyCompleted => return Ok(()),
                EndTxnOutcome::Prepare(md) => {
                    let written = self.begin_write(&shard, &mut entries, transactional_id, &md)?;
                    (previous, md, written)
                }
            }
        };
        self.finish_write(&shard, transactional_id, previous, md, written)
            .await?;
        if self.complete(&shard, transactional_id).await {
            Ok(())
        } else {
            // Prepared and durable: the timer finishes it; the client retries EndTxn.
            Err(TxnError::ConcurrentTransactions {
                state: result.prepare_state(),
            })
        }
    }

    /// Completes a prepared transaction: markers, then Complete*. Returns whether it is
    /// complete; on failure the Prepare state stays and the timer tries again.
    async fn complete(&self, shard: &TxnShard, id: &str) -> bool {
        let markers = {
            let mut entries = shard.entries.lock();
            let Some(entry) = entries.get_mut(id) else {
                return true;
            };
            if entry.busy {
                return false;
            }
            let Some(markers) = txn::pending_completion(&entry.md) else {
                return true;
            };
            entry.busy = true;
            markers
        };
        let marked = self.write_markers(&markers).await;
        let previous = {
            let mut entries = shard.entries.lock();
            let Some(entry) = entries.get_mut(id) else {
                return true;
            };
            entry.busy = false;
            entry.md.clone()
        };
        if let Err(e) = marked {
            tracing::warn!(transactional_id = id, error = %e, "cannot write transaction markers; will retry");
            return false;
        }
        let done = match txn::complete(&previous, now_ms()) {
            Ok(md) => md,
            Err(e) => {
                tracing::warn!(transactional_id = id, error = %e, "cannot complete the transaction");
                return false;
            }
        };
        match self.write(shard, id, Some(previous), done).await {
            Ok(()) => true,
            Err(_) => false,
        }
    }

    /// Writes the COMMIT or ABORT marker to every partition of the transaction and waits
    /// for them; `__consumer_offsets` partitions then apply or drop the producer's pending
    /// offsets. A partition whose topic was deleted is skipped, as in Kafka.
    async fn write_markers(&self, markers: &TxnMarkers) -> Result<(), WriteError> {
        let commit = markers.result == TxnResult::Commit;
        let outcomes = self
            .append_markers(
                markers.producer_id,
                markers.producer_epoch,
                commit,
                COORDINATOR_EPOCH,
                &markers.partitions,
            )
            .await;
        // A partition that no longer exists is skipped.
        outcomes.into_iter().flatten().collect()
    }

    /// WriteTxnMarkers (as `Admin.abortTransaction` sends it, KIP-664, for a hanging
    /// transaction the coordinator does not know): a COMMIT or ABORT marker of
    /// `producer_id` at `producer_epoch` and `coordinator_epoch` to each partition, each
    /// waited for and reported on its own. The log refuses a marker of an older producer
    /// epoch or coordinator epoch, as Kafka's does; `__consumer_offsets` partitions then
    /// apply or drop the producer's pending offsets.
    pub async fn write_admin_markers(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        partitions: &[TopicPartition],
    ) -> Vec<MarkerOutcome> {
        let outcomes = self
            .append_markers(
                producer_id,
                producer_epoch,
                commit,
                coordinator_epoch,
                partitions,
            )
            .await;
        partitions
            .iter()
            .zip(outcomes)
            .map(|(tp, outcome)| match outcome {
                None => MarkerOutcome::UnknownTopicOrPartition,
                Some(Ok(())) => {
                    tracing::info!(
                        producer_id,
                        producer_epoch,
                        commit,
                        topic = %tp.topic,
                        partition = tp.partition,
                        "wrote a transaction marker for WriteTxnMarkers"
                    );
                    MarkerOutcome::Written
                }
                Some(Err(WriteError::Log(e))) => MarkerOutcome::Refused(e),
                Some(Err(e)) => MarkerOutcome::Failed(e.to_string()),
            })
            .collect()
    }

    /// Appends the marker to every partition, then waits for each: one outcome per
    /// partition, in order (`None` for a partition that does not exist). Once a marker is
    /// durable on a `__consumer_offsets` partition, the producer's pending offsets there
    /// are applied or dropped.
    async fn append_markers(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        partitions: &[TopicPartition],
    ) -> Vec<Option<Result<(), WriteError>>> {
        let record = marker_record(commit, coordinator_epoch);
        let producer = BatchProducer {
            producer_id,
            producer_epoch,
            attributes: ATTR_TRANSACTIONAL | ATTR_CONTROL,
        };
        let appended: Vec<_> = partitions
            .iter()
            .map(|tp| {
                let partition = self.partitions.get(&tp.topic, tp.partition)?;
                Some(append_records(
                    self.partitions.logs(),
                    &partition,
                    std::slice::from_ref(&record),
                    now_ms(),
                    producer,
                ))
            })
            .collect();
        let mut out = Vec::with_capacity(partitions.len());
        for (tp, written) in partitions.iter().zip(appended) {
            out.push(match written {
                None => None,
                Some(written) => Some(match written {
                    Ok(w) => w.wait().await.map(|_| {
                        if tp.topic == OFFSETS_TOPIC {
                            self.groups
                                .complete_txn_offsets(tp.partition, producer_id, commit);
                        }
                    }),
                    Err(e) => Err(e),
                }),
            });
        }
        out
    }

    // ----- Describe, list ------------------------------------------------------------------

    /// DescribeTransactions for one id.
    pub fn describe(&self, transactional_id: &str) -> Result<TransactionDescription, TxnError> {
        let shard = self.shard_for(transactional_id)?;
        let entries = shard.entries.lock();
        txn::describe(
            transactional_id,
            entries.get(transactional_id).map(|e| &e.md),
        )
    }

    /// ListTransactions: every id of every loaded shard that matches.
    pub fn list(&self, filter: &ListFilter) -> Vec<TransactionListing> {
        let Some(shards) = self.shards() else {
            return Vec::new();
        };
        let now = now_ms();
        let mut out = Vec::new();
        for shard in shards.iter() {
            let entries = shard.entries.lock();
            out.extend(txn::list(
                entries.iter().map(|(id, e)| (id.as_str(), &e.md)),
                filter,
                now,
            ));
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    // ----- Time --------------------------------------------------------------------------

    /// One pass of the timer: completes prepared transactions (after a crash, or a failed
    /// marker write), aborts timed-out ones (bumping the epoch, which fences the producer),
    /// and, when `expire_ids`, removes transactional ids idle past
    /// `transactional.id.expiration.ms`.
    pub async fn tick(&self, expire_ids: bool) {
        let Some(shards) = self.shards() else {
            return;
        };
        let now = now_ms();
        for shard in shards.iter() {
            let (prepared, timed_out, expired) = {
                let entries = shard.entries.lock();
                let mut prepared = Vec::new();
                let mut timed_out = Vec::new();
                let mut expired = Vec::new();
                for (id, e) in entries.iter().filter(|(_, e)| !e.busy) {
                    if txn::pending_completion(&e.md).is_some() {
                        prepared.push(id.clone());
                    } else if txn::timed_out(&e.md, now) {
                        timed_out.push(id.clone());
                    } else if expire_ids
                        && txn::transactional_id_expired(
                            &e.md,
                            now,
                            self.config.transactional_id_expiration_ms,
                        )
                    {
                        expired.push(id.clone());
                    }
                }
                (prepared, timed_out, expired)
            };
            for id in prepared {
                self.complete(shard, &id).await;
            }
            for id in timed_out {
                let md = {
                    let entries = shard.entries.lock();
                    match entries.get(&id) {
                        Some(e) if !e.busy && txn::timed_out(&e.md, now) => e.md.clone(),
                        _ => continue,
                    }
                };
                let Ok(aborting) = txn::abort_timed_out(&md, now) else {
                    continue;
                };
                tracing::info!(transactional_id = %id, producer_id = md.producer_id, "aborting a timed-out transaction");
                if self.write(shard, &id, Some(md), aborting).await.is_ok() {
                    self.complete(shard, &id).await;
                }
            }
            for id in expired {
                self.remove(shard, &id).await;
            }
        }
    }

    /// Tombstones an expired transactional id.
    async fn remove(&self, shard: &TxnShard, id: &str) {
        let written = {
            let mut entries = shard.entries.lock();
            match entries.get(id) {
                Some(e) if !e.busy => {}
                _ => return,
            }
            let Ok(key) = txn::encode_key(id) else {
                return;
            };
            let written = append_records(
                self.partitions.logs(),
                &shard.partition,
                &[(key, None)],
                now_ms(),
                BatchProducer::NONE,
            );
            if let Some(e) = entries.get_mut(id) {
                e.busy = true;
            }
            written
        };
        let ok = match written {
            Ok(w) => w.wait().await.is_ok(),
            Err(_) => false,
        };
        let mut entries = shard.entries.lock();
        if ok {
            if let Some(e) = entries.remove(id) {
                self.producers.lock().remove(&e.md.producer_id);
            }
            tracing::info!(transactional_id = id, "expired a transactional id");
        } else if let Some(e) = entries.get_mut(id) {
            e.busy = false;
        }
    }

    /// Runs [`Self::tick`] every second until `shutdown` resolves (the abort check follows
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` at most once a second;
    /// id expiry `transaction.remove.expired.transaction.cleanup.interval.ms`).
    pub async fn run_timer(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let period = self
            .config
            .abort_timed_out_transactions_interval_ms
            .clamp(100, 1_000);
        let mut interval =
            tokio::time::interval(std::time::Duration::from_millis(period.unsigned_abs()));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let expire_every = self
            .config
            .remove_expired_transactional_ids_interval_ms
            .max(1);
        let mut next_expiry = now_ms() + expire_every;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = interval.tick() => {}
            }
            let now = now_ms();
            let expire = now >= next_expiry;
            if expire {
                next_expiry = now + expire_every;
            }
            self.tick(expire).await;
        }
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    myelin_log::manager::wall_clock_ms()
}

#[cfg(test)]
mod tests;

/// A COMMIT or ABORT marker: the control record's key (version 0, type 1 commit or 0
/// abort) and value (version 0, the coordinator epoch), as Kafka's `EndTransactionMarker`.
fn marker_record(commit: bool, coordinator_epoch: i32) -> KeyValue {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes()); // version
    key.extend_from_slice(&i16::from(commit).to_be_bytes()); // 0 abort, 1 commit
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes()); // version
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    (Bytes::from(key), Some(Bytes::from(value)))
}

/// What became of one partition's marker of [`TxnCoordinator::write_admin_markers`].
#[derive(Debug)]
pub enum MarkerOutcome {
    /// Written and durable.
    Written,
    /// No such partition.
    UnknownTopicOrPartition,
    /// The log refused it (an older producer or coordinator epoch, a full or failed disk).
    Refused(myelin_log::LogError),
    /// It could not be written for another reason.
    Failed(String),
}
