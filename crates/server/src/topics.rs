//! Topic and config changes shared by the admin handlers, Metadata auto-creation and
//! Produce: committing metadata records off the async threads, creating topics, and
//! keeping the logs' broker-wide defaults in step with the broker configs.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use myelin_cluster::{
    MetadataError, MetadataOffset, MetadataRecord, PartitionManager, StateError, TopicId,
};

use crate::configs::BrokerConfigs;
use crate::context::ServerContext;
use crate::error::metadata_error_code;

/// The most partitions one CreateTopics or CreatePartitions request may add. Each partition
/// is a directory of files created inside the commit; Kafka's controller likewise refuses
/// operations of more than 10,000 records, with POLICY_VIOLATION and
/// [`EXCESSIVE_BATCH_MESSAGE`].
pub const MAX_NEW_PARTITIONS: u32 = 10_000;

/// Kafka's message for an operation over [`MAX_NEW_PARTITIONS`].
pub const EXCESSIVE_BATCH_MESSAGE: &str = "Unable to perform excessively large batch operation.";

/// Topics created by the group and transaction coordinators with their own settings, never
/// by auto-creation.
pub const INTERNAL_TOPICS: &[&str] = &["__consumer_offsets", "__transaction_state"];

/// Commits `record` through the partition manager on a blocking thread: durable in the
/// metadata log, then the logs brought in line. After a broker config change the logs also
/// take the new broker-wide defaults.
pub async fn commit(
    server: &Arc<ServerContext>,
    record: MetadataRecord,
) -> Result<MetadataOffset, MetadataError> {
    let server = server.clone();
    tokio::task::spawn_blocking(move || {
        let broker_change = matches!(record, MetadataRecord::BrokerConfigAltered { .. });
        let offset = server.partitions.commit(record)?;
        if broker_change {
            apply_log_defaults(
                &server.partitions,
                server.config.node_id,
                &server.static_broker_configs,
            )
            .map_err(MetadataError::Storage)?;
        }
        Ok(offset)
    })
    .await
    .map_err(|e| MetadataError::Storage(format!("the metadata commit task failed: {e}")))?
}

/// Gives the logs the broker-wide defaults that the static configs `statics` and the
/// committed dynamic broker configs resolve to, if they changed. Blocks on I/O (every log
/// whose config changes is reconfigured).
pub fn apply_log_defaults(
    partitions: &PartitionManager,
    node_id: i32,
    statics: &BTreeMap<String, String>,
) -> Result<(), String> {
    let state = partitions.metadata();
    let defaults = BrokerConfigs::new(node_id, statics, &state)
        .log_defaults()
        .map_err(|e| e.to_string())?;
    if defaults != partitions.defaults() {
        partitions
            .set_defaults(defaults)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What [`auto_create_topic`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCreated {
    /// The topic was created now, with `num.partitions` partitions.
    Created(TopicId),
    /// The topic existed already (possibly created concurrently by another request).
    Existed(TopicId),
}

/// Creates topic `name` as Kafka's auto-creation does (Metadata requests with
/// `allow_auto_topic_creation`; a Produce handler may call it too): with `num.partitions`
/// partitions, `default.replication.factor` replicas and no config overrides, when
/// `auto.create.topics.enable` is true.
///
/// Errors: UNKNOWN_TOPIC_OR_PARTITION when auto-creation is off or the topic is internal
/// (`__consumer_offsets`, `__transaction_state`: their coordinators create them);
/// INVALID_TOPIC_EXCEPTION for an illegal name or one colliding with an existing topic;
/// INVALID_REPLICATION_FACTOR when `default.replication.factor` exceeds the one broker;
/// KAFKA_STORAGE_ERROR when the metadata cannot be written.
pub async fn auto_create_topic(
    server: &Arc<ServerContext>,
    name: &str,
) -> Result<AutoCreated, ResponseError> {
    let state = server.metadata.state();
    if let Some(t) = state.topic_by_name(name) {
        return Ok(AutoCreated::Existed(t.topic_id));
    }
    let view = BrokerConfigs::new(server.config.node_id, &server.static_broker_configs, &state);
    if !view.auto_create_topics_enable() || INTERNAL_TOPICS.contains(&name) {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    if myelin_cluster::state::validate_topic_name(name).is_err() {
        return Err(ResponseError::InvalidTopicException);
    }
    if view.default_replication_factor() > 1 {
        return Err(ResponseError::InvalidReplicationFactor);
    }
    let partitions = u32::try_from(view.num_partitions().max(1)).unwrap_or(1);
    let topic_id = TopicId::random();
    let record = MetadataRecord::TopicCreated {
        name: name.to_string(),
        topic_id,
        partitions,
        configs: BTreeMap::new(),
    };
    match commit(server, record).await {
        Ok(_) => {
            tracing::info!(topic = name, partitions, %topic_id, "auto-created topic");
            Ok(AutoCreated::Created(topic_id))
        }
        Err(MetadataError::Refused(StateError::TopicAlreadyExists { .. })) => {
            match server.metadata.state().topic_by_name(name) {
                Some(t) => Ok(AutoCreated::Existed(t.topic_id)),
                // Created and deleted again meanwhile.
                None => Err(ResponseError::UnknownTopicOrPartition),
            }
        }
        Err(e) => {
            tracing::warn!(topic = name, error = %e, "cannot auto-create topic");
            Err(metadata_error_code(&e))
        }
    }
}
