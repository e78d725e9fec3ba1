//! [`BrokerConfigs`]: the value, source and synonyms of every config, from the four places
//! a value can come from.

use std::collections::BTreeMap;
use std::path::Path;

use myelin_cluster::{log_config_for, BrokerConfigScope, MetadataState, TopicMetadata};
use myelin_log::LogConfig;

use super::{
    broker_config, normalize_static_broker_configs, topic_config, ConfigDef, ConfigSource,
    ConfigsError, Synonym, TopicCompression, TOPIC_CONFIGS,
};
use crate::config::Config;

/// A config's value (`None`: Kafka's null) and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One entry of a DescribeConfigs synonym list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynonymValue {
    pub name: &'static str,
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// The broker's configs as one view: static configuration, the dynamic cluster-wide
/// defaults and this broker's dynamic configs, over the built-in defaults.
#[derive(Debug, Clone, Copy)]
pub struct BrokerConfigs<'a> {
    /// This broker's node id.
    pub node_id: i32,
    /// Static broker configs, normalized ([`static_broker_configs`]).
    pub statics: &'a BTreeMap<String, String>,
    /// Dynamic cluster-wide defaults.
    pub dynamic_default: &'a BTreeMap<String, String>,
    /// This broker's dynamic configs.
    pub dynamic_broker: &'a BTreeMap<String, String>,
}

/// The static broker configs of `config`, normalized, with what the typed fields and the
/// data directory say: `node.id` and `broker.id` (this node), `log.dirs`,
/// `socket.request.max.bytes` and `max.connections` when they differ from the defaults.
/// Names the table does not know are left out (`Config::validate` refuses them).
pub fn static_broker_configs(config: &Config, data_dir: Option<&Path>) -> BTreeMap<String, String> {
    let mut statics =
        normalize_static_broker_configs(&config.broker_configs).unwrap_or_else(|_| {
            config
                .broker_configs
                .iter()
                .filter_map(|(n, v)| Some((n.clone(), broker_config(n)?.normalize(v).ok()?)))
                .collect()
        });
    let defaults = Config::default();
    statics.insert("node.id".into(), config.node_id.to_string());
    statics.insert("broker.id".into(), config.node_id.to_string());
    if let Some(dir) = data_dir {
        statics.insert("log.dirs".into(), dir.to_string_lossy().into_owned());
    }
    if config.socket_request_max_bytes != defaults.socket_request_max_bytes {
        statics.insert(
            "socket.request.max.bytes".into(),
            config.socket_request_max_bytes.to_string(),
        );
    }
    if config.max_connections != defaults.max_connections {
        statics.insert("max.connections".into(), config.max_connections.to_string());
    }
    statics
}

impl<'a> BrokerConfigs<'a> {
    /// The view for node `node_id` over `statics` and the dynamic configs of `state`.
    pub fn new(
        node_id: i32,
        statics: &'a BTreeMap<String, String>,
        state: &'a MetadataState,
    ) -> Self {
        Self {
            node_id,
            statics,
            dynamic_default: state.broker_configs(BrokerConfigScope::ClusterDefault),
            dynamic_broker: state.broker_configs(BrokerConfigScope::Broker(node_id)),
        }
    }

    /// The value of a broker config set somewhere other than the defaults.
    fn configured(&self, name: &str) -> Option<(&'a str, ConfigSource)> {
        [
            (self.dynamic_broker, ConfigSource::DynamicBroker),
            (self.dynamic_default, ConfigSource::DynamicDefaultBroker),
            (self.statics, ConfigSource::StaticBroker),
        ]
        .into_iter()
        .find_map(|(map, source)| map.get(name).map(|v| (v.as_str(), source)))
    }

    /// The value of broker config `name`: dynamic per-broker, then dynamic cluster-wide,
    /// then static, then the default.
    pub fn value(&self, name: &str) -> Resolved {
        match self.configured(name) {
            Some((v, source)) => Resolved {
                value: Some(v.to_string()),
                source,
            },
            None => Resolved {
                value: broker_config(name).and_then(ConfigDef::default_value),
                source: ConfigSource::Default,
            },
        }
    }

    /// The synonyms that have a value, in Kafka's order: each source from the highest
    /// (dynamic per-broker) to the lowest (default), and within a source, the names in
    /// priority order.
    fn synonym_values(&self, names: &[Synonym]) -> Vec<SynonymValue> {
        let mut out = Vec::new();
        for (map, source) in [
            (self.dynamic_broker, ConfigSource::DynamicBroker),
            (self.dynamic_default, ConfigSource::DynamicDefaultBroker),
            (self.statics, ConfigSource::StaticBroker),
        ] {
            for s in names {
                if let Some(v) = map.get(s.name) {
                    out.push(SynonymValue {
                        name: s.name,
                        value: Some(v.clone()),
                        source,
                    });
                }
            }
        }
        for s in names {
            if let Some(v) = broker_config(s.name).and_then(ConfigDef::default_value) {
                out.push(SynonymValue {
                    name: s.name,
                    value: Some(v),
                    source: ConfigSource::Default,
                });
            }
        }
        out
    }

    /// A topic config's broker-level value: the first of its broker synonyms that has a
    /// value (converted to the topic config's unit), else the topic config's default.
    pub fn topic_default(&self, def: &ConfigDef) -> Resolved {
        for s in def.synonyms {
            let r = self.value(s.name);
            if let Some(v) = r.value {
                return Resolved {
                    value: Some(scale(&v, s.scale)),
                    source: r.source,
                };
            }
        }
        Resolved {
            value: def.default_value(),
            source: ConfigSource::Default,
        }
    }

    /// A topic config's value for a topic with `overrides`.
    pub fn topic_value(&self, def: &ConfigDef, overrides: &BTreeMap<String, String>) -> Resolved {
        match overrides.get(def.name) {
            Some(v) => Resolved {
                value: Some(v.clone()),
                source: ConfigSource::DynamicTopic,
            },
            None => self.topic_default(def),
        }
    }

    /// The synonyms DescribeConfigs lists for a topic config: the topic's override, then
    /// every broker synonym with a value, in Kafka's order.
    ///
    /// Kafka drops the broker synonyms listed before the primary one (so with only
    /// `log.retention.hours` set, `retention.ms` lists none and claims DEFAULT_CONFIG);
    /// Myelin keeps them, so the source is that of the value in effect.
    pub fn topic_synonyms(
        &self,
        def: &ConfigDef,
        overrides: &BTreeMap<String, String>,
    ) -> Vec<SynonymValue> {
        let mut out = Vec::new();
        if let Some(v) = overrides.get(def.name) {
            out.push(SynonymValue {
                name: def.name,
                value: Some(v.clone()),
                source: ConfigSource::DynamicTopic,
            });
        }
        out.extend(self.synonym_values(def.synonyms));
        out
    }

    /// The synonyms DescribeConfigs lists for a broker config, as Kafka lists them: the
    /// group's values from the described name on; for the cluster-wide resource
    /// (`per_broker == false`) only the dynamic cluster-wide ones.
    pub fn broker_synonyms(&self, def: &ConfigDef, per_broker: bool) -> Vec<SynonymValue> {
        let single = [Synonym::new(def.name)];
        let group = if def.synonyms.is_empty() {
            &single[..]
        } else {
            def.synonyms
        };
        self.synonym_values(group)
            .into_iter()
            .skip_while(|s| s.name != def.name)
            .filter(|s| per_broker || s.source == ConfigSource::DynamicDefaultBroker)
            .collect()
    }

    /// The broker-wide log defaults: every log config at its broker-level value.
    pub fn log_defaults(&self) -> Result<LogConfig, ConfigsError> {
        let mut cfg = LogConfig::default();
        for name in LogConfig::NAMES {
            let Some(def) = topic_config(name) else {
                continue;
            };
            if let Some(v) = self.topic_default(def).value {
                cfg.set(name, &v)
                    .map_err(|e| ConfigsError::Inconsistent(e.to_string()))?;
            }
        }
        cfg.validate()
            .map_err(|e| ConfigsError::Inconsistent(e.to_string()))?;
        Ok(cfg)
    }

    /// Checks normalized topic overrides together, against these broker values: the log
    /// config they give must be valid, and `min.compaction.lag.ms` must not exceed
    /// `max.compaction.lag.ms` (Kafka's `LogConfig.validateValues`).
    pub fn check_topic_configs(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<(), ConfigsError> {
        let long = |name: &str| {
            topic_config(name)
                .and_then(|d| self.topic_value(d, overrides).value)
                .and_then(|v| v.parse::<i64>().ok())
        };
        if let (Some(min), Some(max)) =
            (long("min.compaction.lag.ms"), long("max.compaction.lag.ms"))
        {
            if min > max {
                return Err(ConfigsError::Inconsistent(format!(
                    "conflict topic config setting min.compaction.lag.ms ({min}) > \
                     max.compaction.lag.ms ({max})"
                )));
            }
        }
        let defaults = self.log_defaults()?;
        log_config_for(&defaults, overrides)
            .map_err(|e| ConfigsError::Inconsistent(e.to_string()))?;
        Ok(())
    }

    /// Every topic config's value and source for a topic with `overrides`, by name.
    pub fn topic_values<'s>(
        &'s self,
        overrides: &'s BTreeMap<String, String>,
    ) -> impl Iterator<Item = (&'static ConfigDef, Resolved)> + 's {
        TOPIC_CONFIGS
            .iter()
            .map(move |def| (def, self.topic_value(def, overrides)))
    }

    /// The value of topic config `name` for `topic` (`None` for an unknown name or a null
    /// value).
    pub fn topic_config_value(&self, topic: &TopicMetadata, name: &str) -> Option<String> {
        topic_config(name).and_then(|d| self.topic_value(d, &topic.configs).value)
    }

    /// `topic`'s `compression.type`.
    pub fn topic_compression(&self, topic: &TopicMetadata) -> TopicCompression {
        self.topic_config_value(topic, "compression.type")
            .and_then(|v| TopicCompression::parse(&v))
            .unwrap_or(TopicCompression::Producer)
    }

    /// `topic`'s `min.insync.replicas`.
    pub fn topic_min_insync_replicas(&self, topic: &TopicMetadata) -> i32 {
        self.topic_config_value(topic, "min.insync.replicas")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1)
    }

    fn broker_bool(&self, name: &str, default: bool) -> bool {
        self.value(name).value.map_or(default, |v| v == "true")
    }

    fn broker_int(&self, name: &str, default: i32) -> i32 {
        self.value(name)
            .value
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    fn broker_long(&self, name: &str, default: i64) -> i64 {
        self.value(name)
            .value
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// The transaction coordinator's settings (`transaction.*`, `transactional.id.*`).
    pub fn txn_settings(&self) -> myelin_coord::txn::TxnConfig {
        let d = myelin_coord::txn::TxnConfig::default();
        myelin_coord::txn::TxnConfig {
            max_timeout_ms: self.broker_int("transaction.max.timeout.ms", d.max_timeout_ms),
            transactional_id_expiration_ms: self.broker_long(
                "transactional.id.expiration.ms",
                d.transactional_id_expiration_ms,
            ),
            abort_timed_out_transactions_interval_ms: self.broker_long(
                "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                d.abort_timed_out_transactions_interval_ms,
            ),
            remove_expired_transactional_ids_interval_ms: self.broker_long(
                "transaction.remove.expired.transaction.cleanup.interval.ms",
                d.remove_expired_transactional_ids_interval_ms,
            ),
            state_log_partitions: u32::try_from(
                self.broker_int("transaction.state.log.num.partitions", 50),
            )
            .unwrap_or(50),
        }
    }

    /// The group coordinator's settings (`group.*`, `offsets.*`).
    pub fn coordinator_settings(&self) -> myelin_coord::CoordinatorSettings {
        let defaults = myelin_coord::CoordinatorSettings::default();
        let group = myelin_coord::GroupConfig {
            initial_rebalance_delay_ms: self.broker_long(
                "group.initial.rebalance.delay.ms",
                defaults.group.initial_rebalance_delay_ms,
            ),
            min_session_timeout_ms: self.broker_int(
                "group.min.session.timeout.ms",
                defaults.group.min_session_timeout_ms,
            ),
            max_session_timeout_ms: self.broker_int(
                "group.max.session.timeout.ms",
                defaults.group.max_session_timeout_ms,
            ),
            max_size: usize::try_from(self.broker_int("group.max.size", i32::MAX))
                .unwrap_or(usize::MAX),
            offsets_retention_ms: self
                .broker_long("offsets.retention.minutes", 10_080)
                .saturating_mul(60_000),
            offset_metadata_max_bytes: usize::try_from(
                self.broker_int("offset.metadata.max.bytes", 4096),
            )
            .unwrap_or(4096),
            ..defaults.group.clone()
        };
        let consumer_defaults = myelin_coord::consumer::ConsumerGroupConfig::default();
        let consumer = myelin_coord::consumer::ConsumerGroupConfig {
            session_timeout_ms: self.broker_int(
                "group.consumer.session.timeout.ms",
                consumer_defaults.session_timeout_ms,
            ),
            heartbeat_interval_ms: self.broker_int(
                "group.consumer.heartbeat.interval.ms",
                consumer_defaults.heartbeat_interval_ms,
            ),
            max_size: usize::try_from(self.broker_int("group.consumer.max.size", i32::MAX))
                .unwrap_or(usize::MAX),
            assignors: self
                .value("group.consumer.assignors")
                .value
                .and_then(|v| myelin_coord::consumer::ConsumerGroupConfig::parse_assignors(&v).ok())
                .unwrap_or(consumer_defaults.assignors),
        };
        myelin_coord::CoordinatorSettings {
            consumer,
            group,
            offsets_topic_partitions: u32::try_from(
                self.broker_int("offsets.topic.num.partitions", 50),
            )
            .unwrap_or(50),
            offsets_topic_segment_bytes: self.broker_long(
                "offsets.topic.segment.bytes",
                defaults.offsets_topic_segment_bytes,
            ),
            offsets_retention_check_interval_ms: self.broker_long(
                "offsets.retention.check.interval.ms",
                defaults.offsets_retention_check_interval_ms,
            ),
        }
    }

    /// Delegation tokens' settings (`delegation.token.*`).
    pub fn token_settings(&self) -> crate::delegation_tokens::TokenSettings {
        let secret = ["delegation.token.secret.key", "delegation.token.master.key"]
            .iter()
            .find_map(|name| self.value(name).value.filter(|v| !v.is_empty()));
        crate::delegation_tokens::TokenSettings {
            secret,
            max_lifetime_ms: self.broker_long("delegation.token.max.lifetime.ms", 604_800_000),
            expiry_time_ms: self.broker_long("delegation.token.expiry.time.ms", 86_400_000),
            expiry_check_interval_ms: self
                .broker_long("delegation.token.expiry.check.interval.ms", 3_600_000),
        }
    }

    /// The share coordinator's settings (`group.share.*`, `share.coordinator.*`).
    pub fn share_settings(&self) -> myelin_coord::share::ShareSettings {
        let d = myelin_coord::share::ShareSettings::default();
        myelin_coord::share::ShareSettings {
            session_timeout_ms: self
                .broker_int("group.share.session.timeout.ms", d.session_timeout_ms),
            heartbeat_interval_ms: self
                .broker_int("group.share.heartbeat.interval.ms", d.heartbeat_interval_ms),
            max_size: usize::try_from(self.broker_int("group.share.max.size", 200)).unwrap_or(200),
            max_sessions: usize::try_from(self.broker_int("group.share.max.share.sessions", 2000))
                .unwrap_or(2000),
            limits: myelin_coord::share::partition::Limits {
                delivery_count_limit: i16::try_from(self.broker_int(
                    "group.share.delivery.count.limit",
                    i32::from(d.limits.delivery_count_limit),
                ))
                .unwrap_or(d.limits.delivery_count_limit),
                max_in_flight: self.broker_long(
                    "group.share.partition.max.record.locks",
                    d.limits.max_in_flight,
                ),
                lock_duration_ms: self.broker_long(
                    "group.share.record.lock.duration.ms",
                    d.limits.lock_duration_ms,
                ),
            },
            state_topic_partitions: u32::try_from(
                self.broker_int("share.coordinator.state.topic.num.partitions", 50),
            )
            .unwrap_or(50),
            state_topic_segment_bytes: self.broker_long(
                "share.coordinator.state.topic.segment.bytes",
                d.state_topic_segment_bytes,
            ),
        }
    }

    /// `quota.window.num` and `quota.window.size.seconds`: client quota rates are measured
    /// over this many samples of this many seconds.
    pub fn quota_window(&self) -> (u32, u32) {
        let positive = |name, default: u32| {
            u32::try_from(self.broker_int(name, default as i32))
                .ok()
                .filter(|&v| v >= 1)
                .unwrap_or(default)
        };
        (
            positive("quota.window.num", crate::quota::DEFAULT_WINDOW_NUM),
            positive(
                "quota.window.size.seconds",
                crate::quota::DEFAULT_WINDOW_SIZE_SECONDS,
            ),
        )
    }

    /// `auto.create.topics.enable`.
    pub fn auto_create_topics_enable(&self) -> bool {
        self.broker_bool("auto.create.topics.enable", true)
    }

    /// `delete.topic.enable`.
    pub fn delete_topic_enable(&self) -> bool {
        self.broker_bool("delete.topic.enable", true)
    }

    /// `num.partitions`.
    pub fn num_partitions(&self) -> i32 {
        self.broker_int("num.partitions", 1)
    }

    /// `default.replication.factor`.
    pub fn default_replication_factor(&self) -> i32 {
        self.broker_int("default.replication.factor", 1)
    }
}

/// `value × scale`, for a value in a coarser unit (hours to milliseconds); a value that
/// does not parse (never: values are normalized) is returned as it is.
fn scale(value: &str, scale: i64) -> String {
    if scale == 1 {
        return value.to_string();
    }
    match value.parse::<i64>() {
        Ok(v) => v.saturating_mul(scale).to_string(),
        Err(_) => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configs::TopicCompression;
    use myelin_log::compression::Compression;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn view<'a>(
        statics: &'a BTreeMap<String, String>,
        dynamic_default: &'a BTreeMap<String, String>,
        dynamic_broker: &'a BTreeMap<String, String>,
    ) -> BrokerConfigs<'a> {
        BrokerConfigs {
            node_id: 0,
            statics,
            dynamic_default,
            dynamic_broker,
        }
    }

    #[test]
    fn built_in_defaults_give_the_storage_engines_defaults() {
        let empty = BTreeMap::new();
        let v = view(&empty, &empty, &empty);
        assert_eq!(v.log_defaults().unwrap(), LogConfig::default());
        // Every topic config's broker-level default is its own table default.
        for def in TOPIC_CONFIGS {
            assert_eq!(
                v.topic_default(def).value.as_deref(),
                def.default,
                "{}",
                def.name
            );
        }
    }

    #[test]
    fn broker_defaults_the_storage_engine_sets_are_the_ones_described() {
        let described = |name: &str| broker_config(name).unwrap().default_value();
        assert_eq!(
            described("num.recovery.threads.per.data.dir"),
            Some(myelin_log::DEFAULT_RECOVERY_THREADS.to_string())
        );
        assert_eq!(
            described("log.flush.offset.checkpoint.interval.ms"),
            Some(
                myelin_log::ManagerConfig::new("d")
                    .checkpoint_interval_ms
                    .to_string()
            )
        );
    }

    #[test]
    fn retention_follows_kafkas_synonyms() {
        let empty = BTreeMap::new();
        let retention = topic_config("retention.ms").unwrap();
        let statics = map(&[("log.retention.hours", "24")]);
        let v = view(&statics, &empty, &empty);
        assert_eq!(
            v.topic_default(retention),
            Resolved {
                value: Some("86400000".into()),
                source: ConfigSource::StaticBroker
            }
        );
        // minutes beat hours, ms beats both, whatever the source.
        let dynamic = map(&[("log.retention.minutes", "2")]);
        let v = view(&statics, &dynamic, &empty);
        assert_eq!(v.topic_default(retention).value.as_deref(), Some("120000"));
        let broker = map(&[("log.retention.ms", "5")]);
        let v = view(&statics, &dynamic, &broker);
        let r = v.topic_default(retention);
        assert_eq!(
            (r.value.as_deref(), r.source),
            (Some("5"), ConfigSource::DynamicBroker)
        );
        let names: Vec<_> = v
            .topic_synonyms(retention, &map(&[("retention.ms", "7")]))
            .into_iter()
            .map(|s| (s.name, s.source.code()))
            .collect();
        assert_eq!(
            names,
            [
                ("retention.ms", 1),
                ("log.retention.ms", 2),
                ("log.retention.minutes", 3),
                ("log.retention.hours", 4),
                ("log.retention.hours", 5)
            ]
        );
        assert_eq!(v.log_defaults().unwrap().retention_ms, 5);
    }

    #[test]
    fn broker_synonyms_start_at_the_described_name() {
        let empty = BTreeMap::new();
        let statics = map(&[("log.retention.ms", "1000")]);
        let v = view(&statics, &empty, &empty);
        let hours = broker_config("log.retention.hours").unwrap();
        let got: Vec<_> = v
            .broker_synonyms(hours, true)
            .into_iter()
            .map(|s| (s.name, s.source))
            .collect();
        assert_eq!(got, [("log.retention.hours", ConfigSource::Default)]);
        let ms = broker_config("log.retention.ms").unwrap();
        assert_eq!(v.broker_synonyms(ms, true).len(), 2);
        assert!(v.broker_synonyms(ms, false).is_empty());
    }

    #[test]
    fn topic_checks_use_the_effective_values() {
        let empty = BTreeMap::new();
        let v = view(&empty, &empty, &empty);
        v.check_topic_configs(&map(&[("cleanup.policy", "compact")]))
            .unwrap();
        let err = v
            .check_topic_configs(&map(&[
                ("min.compaction.lag.ms", "10"),
                ("max.compaction.lag.ms", "5"),
            ]))
            .unwrap_err();
        assert!(
            err.to_string().contains("conflict topic config setting"),
            "{err}"
        );
        assert!(v
            .check_topic_configs(&map(&[("segment.bytes", "10")]))
            .is_err());
    }

    #[test]
    fn typed_accessors() {
        let empty = BTreeMap::new();
        let statics = map(&[("compression.type", "lz4"), ("num.partitions", "3")]);
        let v = view(&statics, &empty, &empty);
        let topic = TopicMetadata {
            name: "t".into(),
            topic_id: myelin_cluster::TopicId::random(),
            partitions: 1,
            configs: BTreeMap::new(),
        };
        assert_eq!(
            v.topic_compression(&topic),
            TopicCompression::Codec(Compression::Lz4)
        );
        assert_eq!(v.num_partitions(), 3);
        assert!(v.auto_create_topics_enable());
        assert_eq!(v.topic_min_insync_replicas(&topic), 1);
    }
}
