//! The coordinators' internal topics (`__consumer_offsets`, `__transaction_state`): created
//! compacted on first use, as Kafka does, and listed partition by partition at load.

use std::collections::BTreeMap;
use std::sync::Arc;

use myelin_cluster::{
    MetadataError, MetadataRecord, Partition, PartitionManager, StateError, TopicId,
};

/// The partitions of internal topic `name`, in order; `None` when the topic does not
/// exist. A gap (a partition missing from the middle) is an error.
pub(crate) fn partitions_of(
    partitions: &PartitionManager,
    name: &str,
) -> Result<Option<Vec<Arc<Partition>>>, String> {
    let parts = partitions.partitions_of(name);
    if parts.is_empty() {
        return Ok(None);
    }
    for (i, p) in parts.iter().enumerate() {
        if usize::try_from(p.index).ok() != Some(i) {
            return Err(format!(
                "{name} has a gap in its partitions at {i} (found {})",
                p.index
            ));
        }
    }
    Ok(Some(parts))
}

/// Creates internal topic `name` with `count` partitions, compacted, with `segment.bytes`
/// `segment_bytes`; a topic that exists already is fine. Blocks on the metadata commit.
pub(crate) fn create(
    partitions: &PartitionManager,
    name: &str,
    count: u32,
    segment_bytes: i64,
) -> Result<(), String> {
    let configs = BTreeMap::from([
        ("cleanup.policy".to_string(), "compact".to_string()),
        ("segment.bytes".to_string(), segment_bytes.to_string()),
        ("compression.type".to_string(), "producer".to_string()),
    ]);
    let record = MetadataRecord::TopicCreated {
        name: name.to_string(),
        topic_id: TopicId::random(),
        partitions: count.max(1),
        configs,
    };
    match partitions.commit(record) {
        Ok(_) => {
            tracing::info!(
                topic = name,
                partitions = count,
                "created an internal topic"
            );
            Ok(())
        }
        Err(MetadataError::Refused(StateError::TopicAlreadyExists { .. })) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs `create_and_attach` (blocking: a metadata commit and the load) on a blocking thread,
/// one at a time under `lock`: whether the coordinator can serve afterwards.
pub(crate) async fn ensure(
    lock: &tokio::sync::Mutex<()>,
    name: &str,
    create_and_attach: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> super::CoordinatorLookup {
    let _creating = lock.lock().await;
    match tokio::task::spawn_blocking(create_and_attach).await {
        Ok(Ok(())) => super::CoordinatorLookup::Ready,
        Ok(Err(e)) => {
            tracing::warn!(topic = name, error = %e, "cannot create an internal topic");
            super::CoordinatorLookup::Unavailable
        }
        Err(e) => {
            tracing::warn!(topic = name, error = %e, "the internal topic creation task failed");
            super::CoordinatorLookup::Unavailable
        }
    }
}
