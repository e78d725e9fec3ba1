//! Topic administration: Metadata, CreateTopics, DeleteTopics, DescribeConfigs and
//! IncrementalAlterConfigs.

use kafka_protocol::messages::{
    create_topics_request::{CreatableTopic, CreatableTopicConfig},
    delete_topics_request::DeleteTopicState,
    describe_configs_request::DescribeConfigsResource,
    incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig},
    metadata_request::MetadataRequestTopic,
    ApiKey, BrokerId, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    IncrementalAlterConfigsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{check, versions, ClientError, Connection};

/// `resource_type` of a topic in the config APIs.
pub const RESOURCE_TOPIC: i8 = 2;
/// `resource_type` of a broker in the config APIs.
pub const RESOURCE_BROKER: i8 = 4;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// A broker, as Metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

impl BrokerInfo {
    /// `HOST:PORT`, bracketing an IPv6 host.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A partition, as Metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub index: i32,
    /// Kafka error code (0 when fine).
    pub error_code: i16,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// A topic, as Metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    /// Nil when the broker does not send topic ids (Metadata before v10).
    pub topic_id: Uuid,
    /// Kafka error code (0 when fine).
    pub error_code: i16,
    pub is_internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

/// What Metadata says about the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: Vec<BrokerInfo>,
    pub topics: Vec<TopicInfo>,
}

impl ClusterMetadata {
    /// The broker with id `node_id`.
    pub fn broker(&self, node_id: i32) -> Option<&BrokerInfo> {
        self.brokers.iter().find(|b| b.node_id == node_id)
    }

    /// The topic named `name`, failing with its error code when it has one.
    pub fn topic(&self, name: &str) -> Result<&TopicInfo, ClientError> {
        let t =
            self.topics.iter().find(|t| t.name == name).ok_or_else(|| {
                ClientError::Other(format!("topic `{name}` is not in the metadata"))
            })?;
        check(t.error_code, None, || format!("looking up topic `{name}`"))?;
        Ok(t)
    }
}

/// One config of a DescribeConfigs answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub read_only: bool,
    /// Kafka's config source: 1 topic, 4 static broker, 5 default, ...
    pub source: i8,
    pub is_sensitive: bool,
}

impl ConfigEntry {
    /// Whether the value is the default (source DEFAULT_CONFIG).
    pub fn is_default(&self) -> bool {
        self.source == 5
    }
}

/// A config change of IncrementalAlterConfigs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    /// Set `name` to `value`.
    Set(String, String),
    /// Remove the override of `name` (back to the default).
    Delete(String),
}

impl Connection {
    /// Metadata of `topics` (all topics when `None`); `auto_create` asks the broker to
    /// create missing ones (when it allows it).
    pub async fn metadata(
        &mut self,
        topics: Option<&[&str]>,
        auto_create: bool,
    ) -> Result<ClusterMetadata, ClientError> {
        let version = self.version(ApiKey::Metadata, versions::METADATA)?;
        let mut request = MetadataRequest::default().with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                .collect()
        }));
        // allow_auto_topic_creation: v4+.
        if version >= 4 {
            request.allow_auto_topic_creation = auto_create;
        }
        let response = self.call(version, &request).await?;
        let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
        Ok(ClusterMetadata {
            cluster_id: response.cluster_id.map(|c| c.to_string()),
            controller_id: response.controller_id.0,
            brokers: response
                .brokers
                .iter()
                .map(|b| BrokerInfo {
                    node_id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                })
                .collect(),
            topics: response
                .topics
                .iter()
                .map(|t| TopicInfo {
                    name: t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                    topic_id: t.topic_id,
                    error_code: t.error_code,
                    is_internal: t.is_internal,
                    partitions: {
                        let mut ps: Vec<_> = t
                            .partitions
                            .iter()
                            .map(|p| PartitionInfo {
                                index: p.partition_index,
                                error_code: p.error_code,
                                leader: p.leader_id.0,
                                leader_epoch: p.leader_epoch,
                                replicas: ids(&p.replica_nodes),
                                isr: ids(&p.isr_nodes),
                            })
                            .collect();
                        ps.sort_by_key(|p| p.index);
                        ps
                    },
                })
                .collect(),
        })
    }

    /// Creates a topic. `partitions` and `replication_factor` of -1 take the broker's
    /// defaults. Returns the topic id when the broker sends it (CreateTopics v7+).
    pub async fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
        validate_only: bool,
    ) -> Result<Option<Uuid>, ClientError> {
        let version = self.version(ApiKey::CreateTopics, versions::CREATE_TOPICS)?;
        // -1 for the broker's default partitions and replication factor: v4+ (KIP-464).
        if version < 4 && (partitions < 0 || replication_factor < 0) {
            return Err(ClientError::Other(format!(
                "the broker speaks CreateTopics v{version} only: give --partitions and --replication-factor"
            )));
        }
        let topic = CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_value(Some(StrBytes::from_string(v.clone())))
                    })
                    .collect(),
            );
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(self.timeout_ms())
            .with_validate_only(validate_only);
        let response = self.call(version, &request).await?;
        let result = response
            .topics
            .iter()
            .find(|t| t.name.0.as_str() == name)
            .ok_or_else(|| self.protocol(format!("CreateTopics answered without `{name}`")))?;
        check(result.error_code, result.error_message.as_ref(), || {
            format!("creating topic `{name}`")
        })?;
        Ok((!result.topic_id.is_nil()).then_some(result.topic_id))
    }

    /// Deletes a topic by name.
    pub async fn delete_topic(&mut self, name: &str) -> Result<(), ClientError> {
        let version = self.version(ApiKey::DeleteTopics, versions::DELETE_TOPICS)?;
        let mut request = DeleteTopicsRequest::default().with_timeout_ms(self.timeout_ms());
        // topics (names or ids): v6+; topic_names before.
        if version >= 6 {
            request.topics = vec![DeleteTopicState::default().with_name(Some(topic_name(name)))];
        } else {
            request.topic_names = vec![topic_name(name)];
        }
        let response = self.call(version, &request).await?;
        let result = response
            .responses
            .iter()
            .find(|r| r.name.as_ref().is_some_and(|n| n.0.as_str() == name))
            .ok_or_else(|| self.protocol(format!("DeleteTopics answered without `{name}`")))?;
        check(result.error_code, result.error_message.as_ref(), || {
            format!("deleting topic `{name}`")
        })
    }

    /// The configs of a resource (`RESOURCE_TOPIC` or `RESOURCE_BROKER`).
    pub async fn describe_configs(
        &mut self,
        resource_type: i8,
        name: &str,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        let version = self.version(ApiKey::DescribeConfigs, versions::DESCRIBE_CONFIGS)?;
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configuration_keys(None),
        ]);
        let response = self.call(version, &request).await?;
        let result = response
            .results
            .iter()
            .find(|r| r.resource_name.as_str() == name)
            .ok_or_else(|| self.protocol(format!("DescribeConfigs answered without `{name}`")))?;
        check(result.error_code, result.error_message.as_ref(), || {
            format!("describing the configs of `{name}`")
        })?;
        let mut configs: Vec<_> = result
            .configs
            .iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.as_ref().map(|v| v.to_string()),
                read_only: c.read_only,
                source: c.config_source,
                is_sensitive: c.is_sensitive,
            })
            .collect();
        configs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(configs)
    }

    /// Changes configs of a resource with IncrementalAlterConfigs.
    pub async fn alter_configs(
        &mut self,
        resource_type: i8,
        name: &str,
        ops: &[ConfigOp],
        validate_only: bool,
    ) -> Result<(), ClientError> {
        let version = self.version(
            ApiKey::IncrementalAlterConfigs,
            versions::INCREMENTAL_ALTER_CONFIGS,
        )?;
        let configs = ops
            .iter()
            .map(|op| match op {
                // config_operation: 0 SET, 1 DELETE.
                ConfigOp::Set(k, v) => AlterableConfig::default()
                    .with_name(StrBytes::from_string(k.clone()))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_string(v.clone()))),
                ConfigOp::Delete(k) => AlterableConfig::default()
                    .with_name(StrBytes::from_string(k.clone()))
                    .with_config_operation(1)
                    .with_value(None),
            })
            .collect();
        let request = IncrementalAlterConfigsRequest::default()
            .with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name.to_string()))
                .with_configs(configs)])
            .with_validate_only(validate_only);
        let response = self.call(version, &request).await?;
        let result = response
            .responses
            .iter()
            .find(|r| r.resource_name.as_str() == name)
            .ok_or_else(|| {
                self.protocol(format!("IncrementalAlterConfigs answered without `{name}`"))
            })?;
        check(result.error_code, result.error_message.as_ref(), || {
            format!("altering the configs of `{name}`")
        })
    }

    /// The request timeout in milliseconds, for requests that carry one.
    pub(crate) fn timeout_ms(&self) -> i32 {
        i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX)
    }
}
