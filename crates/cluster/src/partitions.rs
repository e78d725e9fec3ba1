//! Partitions: the logs the metadata describes, and the offsets Kafka clients see.
//!
//! [`PartitionManager`] keeps one [`Partition`] for every partition of every live topic in
//! the committed metadata, backed by a log of the [`LogManager`]. Changing topics goes
//! through [`PartitionManager::commit`]: the record is made durable in the metadata store
//! first, then the logs are made to match (created, reconfigured, deleted). At open the
//! same reconciliation runs, so a crash between the two steps is repaired on restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use myelin_log::{AppendInfo, AppendOptions, Log, LogConfig, LogError, LogManager};
use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};

use crate::error::{MetadataError, Result};
use crate::record::{MetadataOffset, MetadataRecord, TopicId};
use crate::state::MetadataState;
use crate::store::MetadataStore;

/// One partition this broker leads.
#[derive(Debug)]
pub struct Partition {
    /// The topic's name.
    pub topic: String,
    /// The topic's id.
    pub topic_id: TopicId,
    /// The partition index.
    pub index: i32,
    /// The partition's log.
    pub log: Arc<Log>,
    /// The leader epoch: 0 on a single node, bumped by leader elections later.
    pub leader_epoch: i32,
    /// Woken whenever the high watermark may have moved (long-polling fetches wait here).
    data_arrived: tokio::sync::Notify,
}

impl Partition {
    /// The offset below which records are committed: visible to consumers. In the durable
    /// default (`flush.messages=1`) that is what has been fdatasync'ed, so a consumer never
    /// sees a record that a crash could take back; with relaxed flushing, the log end
    /// offset.
    pub fn high_watermark(&self) -> i64 {
        let leo = self.log.log_end_offset();
        if self.log.config().durable_acks() {
            self.log.recovery_point().min(leo)
        } else {
            leo
        }
    }

    /// The last stable offset: the first offset of the earliest transaction still open (or
    /// whose marker is not below the high watermark yet), else the high watermark.
    /// read_committed consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        let hw = self.high_watermark();
        self.log
            .first_unstable_offset(hw)
            .map_or(hw, |first| first.min(hw))
    }

    /// Wakes the fetches waiting on this partition.
    pub fn notify_data(&self) {
        self.data_arrived.notify_waiters();
    }

    /// A future that resolves at the next [`Self::notify_data`]. Create it before checking
    /// the condition it waits for, so that no wake-up is missed.
    pub fn data_arrived(&self) -> tokio::sync::futures::Notified<'_> {
        self.data_arrived.notified()
    }

    /// Appends `buf` (one or more record batches) and, unless durability is relaxed for
    /// this log, waits for the group-commit flush that covers it. Wakes waiting fetches
    /// once the records are visible.
    pub async fn append(
        &self,
        logs: &LogManager,
        buf: &[u8],
        now_ms: i64,
    ) -> std::result::Result<AppendInfo, LogError> {
        let opts = AppendOptions {
            leader_epoch: self.leader_epoch,
            now_ms,
        };
        let (info, wait) = logs.append(&self.log, buf, &opts)?;
        if let Some(wait) = wait {
            wait.await?;
        }
        self.notify_data();
        Ok(info)
    }
}

/// Every partition of every live topic, kept in step with the committed metadata.
#[derive(Debug)]
pub struct PartitionManager {
    logs: LogManager,
    metadata: Arc<dyn MetadataStore>,
    /// Broker-wide log defaults (`log.segment.bytes`, ...), under topic overrides.
    defaults: RwLock<LogConfig>,
    partitions: RwLock<HashMap<(String, i32), Arc<Partition>>>,
    /// One reconciliation at a time. Each reads the committed state when it starts; two
    /// running at once (a DeleteTopics commit and a CreateTopics commit on two blocking
    /// threads) could each remove what the other just created, leaving a partition over a
    /// deleted log.
    reconciling: Mutex<()>,
}

/// The log config of a topic: `defaults` with the topic's overrides applied. Overrides
/// that are not log configs (`compression.type`, `min.insync.replicas`, ...) are the
/// server's business and ignored here.
pub fn log_config_for(
    defaults: &LogConfig,
    overrides: &BTreeMap<String, String>,
) -> std::result::Result<LogConfig, LogError> {
    let mut cfg = defaults.clone();
    for (name, value) in overrides {
        if LogConfig::NAMES.contains(&name.as_str()) {
            cfg.set(name, value)?;
        }
    }
    cfg.validate()?;
    Ok(cfg)
}

impl PartitionManager {
    /// Builds the partitions of the committed metadata over `logs`, creating missing logs
    /// and deleting logs of topics that no longer exist.
    pub fn open(
        logs: LogManager,
        metadata: Arc<dyn MetadataStore>,
        defaults: LogConfig,
    ) -> Result<Self> {
        let pm = Self {
            logs,
            metadata,
            defaults: RwLock::new(defaults),
            partitions: RwLock::new(HashMap::new()),
            reconciling: Mutex::new(()),
        };
        pm.reconcile()?;
        Ok(pm)
    }

    /// The log manager underneath.
    pub fn logs(&self) -> &LogManager {
        &self.logs
    }

    /// The committed metadata.
    pub fn metadata(&self) -> Arc<MetadataState> {
        self.metadata.state()
    }

    /// The metadata store (for handlers that commit their own records).
    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.metadata
    }

    /// The broker-wide log defaults.
    pub fn defaults(&self) -> LogConfig {
        self.defaults.read().clone()
    }

    /// Replaces the broker-wide log defaults and reconfigures every log.
    pub fn set_defaults(&self, defaults: LogConfig) -> Result<()> {
        *self.defaults.write() = defaults;
        self.reconcile()
    }

    /// The partition, if its topic exists.
    pub fn get(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        self.partitions
            .read()
            .get(&(topic.to_string(), index))
            .cloned()
    }

    /// The partitions of `topic`, by index.
    pub fn partitions_of(&self, topic: &str) -> Vec<Arc<Partition>> {
        let mut v: Vec<_> = self
            .partitions
            .read()
            .values()
            .filter(|p| p.topic == topic)
            .cloned()
            .collect();
        v.sort_by_key(|p| p.index);
        v
    }

    /// Every partition.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().values().cloned().collect()
    }

    /// Commits `record` to the metadata store (durably), then brings the logs in line.
    /// Blocks on I/O: call it from a blocking thread in async code.
    pub fn commit(&self, record: MetadataRecord) -> Result<MetadataOffset> {
        let offset = self.metadata.commit(record)?;
        self.reconcile()?;
        Ok(offset)
    }

    /// Makes the partitions match the committed metadata.
    pub fn reconcile(&self) -> Result<()> {
        let _one_at_a_time = self.reconciling.lock();
        let state = self.metadata.state();
        let defaults = self.defaults();
        let mut wanted: HashSet<(String, i32)> = HashSet::new();
        for topic in state.topics() {
            let cfg = log_config_for(&defaults, &topic.configs)
                .map_err(|e| MetadataError::Storage(e.to_string()))?;
            for index in 0..topic.partitions as i32 {
                let key = (topic.name.clone(), index);
                wanted.insert(key.clone());
                let existing = self.partitions.read().get(&key).cloned();
                match existing {
                    Some(p) if p.topic_id == topic.topic_id => {
                        if *p.log.config() != cfg {
                            p.log
                                .update_config(cfg.clone())
                                .map_err(|e| MetadataError::Storage(e.to_string()))?;
                        }
                    }
                    stale => {
                        if stale.is_some() {
                            // The same name now belongs to a new topic: the old log goes.
                            self.logs
                                .delete(&topic.name, index)
                                .map_err(|e| MetadataError::Storage(e.to_string()))?;
                        }
                        let log = self
                            .logs
                            .get_or_create(&topic.name, index, cfg.clone())
                            .map_err(|e| MetadataError::Storage(e.to_string()))?;
                        if *log.config() != cfg {
                            log.update_config(cfg.clone())
                                .map_err(|e| MetadataError::Storage(e.to_string()))?;
                        }
                        let p = Arc::new(Partition {
                            topic: topic.name.clone(),
                            topic_id: topic.topic_id,
                            index,
                            log,
                            leader_epoch: 0,
                            data_arrived: tokio::sync::Notify::new(),
                        });
                        self.partitions.write().insert(key, p);
                    }
                }
            }
        }
        // Partitions and logs of topics that are gone.
        let gone: Vec<(String, i32)> = self
            .partitions
            .read()
            .keys()
            .filter(|k| !wanted.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(p) = self.partitions.write().remove(&key) {
                p.notify_data();
            }
            self.logs
                .delete(&key.0, key.1)
                .map_err(|e| MetadataError::Storage(e.to_string()))?;
            info!(topic = %key.0, partition = key.1, "deleted the log of a deleted topic");
        }
        for log in self.logs.logs() {
            let key = (log.topic().to_string(), log.partition());
            if !wanted.contains(&key) {
                warn!(topic = %key.0, partition = key.1, "removing a log no topic owns");
                self.logs
                    .delete(&key.0, key.1)
                    .map_err(|e| MetadataError::Storage(e.to_string()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FileMetadataStore;
    use myelin_log::ManagerConfig;

    fn open(dir: &std::path::Path) -> Arc<PartitionManager> {
        let (store, _) = FileMetadataStore::open(dir).unwrap();
        let cfg = ManagerConfig {
            background_threads: false,
            ..ManagerConfig::new(dir.join("logs"))
        };
        let (logs, _) = LogManager::open(cfg, &|_| LogConfig::default()).unwrap();
        Arc::new(PartitionManager::open(logs, Arc::new(store), LogConfig::default()).unwrap())
    }

    fn create(pm: &PartitionManager, name: &str) -> TopicId {
        let topic_id = TopicId::random();
        pm.commit(MetadataRecord::TopicCreated {
            name: name.to_string(),
            topic_id,
            partitions: 4,
            configs: BTreeMap::new(),
        })
        .unwrap();
        topic_id
    }

    /// DeleteTopics and CreateTopics commit on separate blocking threads. Found by
    /// librdkafka's test suite: a reconciliation for a deletion that read the state before
    /// a creation was committed removed the new topic's logs as owned by no topic, and its
    /// partitions answered every produce with "the log is closed or offline".
    #[test]
    fn concurrent_creations_and_deletions_leave_every_partition_on_a_live_log() {
        let dir = tempfile::tempdir().unwrap();
        let pm = open(dir.path());
        std::thread::scope(|s| {
            s.spawn(|| {
                for k in 0..40 {
                    let id = create(&pm, &format!("gone-{k}"));
                    pm.commit(MetadataRecord::TopicDeleted { topic_id: id })
                        .unwrap();
                }
            });
            s.spawn(|| {
                for k in 0..40 {
                    create(&pm, &format!("kept-{k}"));
                }
            });
        });
        let state = pm.metadata();
        let mut partitions: Vec<(String, i32)> = pm
            .all()
            .iter()
            .map(|p| {
                assert!(
                    !p.log.is_offline(),
                    "{}-{} is on a deleted log",
                    p.topic,
                    p.index
                );
                (p.topic.clone(), p.index)
            })
            .collect();
        partitions.sort();
        let mut expected: Vec<(String, i32)> = state
            .topics()
            .flat_map(|t| (0..t.partitions as i32).map(move |i| (t.name.clone(), i)))
            .collect();
        expected.sort();
        assert_eq!(expected.len(), 40 * 4);
        assert_eq!(partitions, expected);
        let mut logs: Vec<(String, i32)> = pm
            .logs()
            .logs()
            .iter()
            .map(|l| (l.topic().to_string(), l.partition()))
            .collect();
        logs.sort();
        assert_eq!(logs, expected);
        for (topic, index) in &expected {
            let p = pm.get(topic, *index).unwrap();
            assert!(Arc::ptr_eq(&p.log, &pm.logs().get(topic, *index).unwrap()));
        }
    }
}
