//! The config model: Kafka's topic and broker configs, their sources and synonyms, and
//! their validation.
//!
//! Two tables ([`TOPIC_CONFIGS`], [`BROKER_CONFIGS`]) hold every config Myelin knows, with
//! Kafka's names, types, defaults and documentation. A config's value comes from, in
//! rising precedence (Kafka's `ConfigSource`):
//!
//! | source | where it lives |
//! |---|---|
//! | `DEFAULT_CONFIG` (5) | the table |
//! | `STATIC_BROKER_CONFIG` (4) | [`crate::Config::broker_configs`] (file, environment, flags) |
//! | `DYNAMIC_DEFAULT_BROKER_CONFIG` (3) | `MetadataState::broker_configs(ClusterDefault)` |
//! | `DYNAMIC_BROKER_CONFIG` (2) | `MetadataState::broker_configs(Broker(node_id))` |
//! | `DYNAMIC_TOPIC_CONFIG` (1) | the topic's overrides (`TopicMetadata::configs`) |
//!
//! A topic config without an override takes the value of its broker synonyms, in Kafka's
//! order (`retention.ms` ← `log.retention.ms`, `log.retention.minutes`,
//! `log.retention.hours`), converted to the topic config's unit. [`BrokerConfigs`] resolves
//! all of this; [`BrokerConfigs::log_defaults`] turns it into the `LogConfig` the storage
//! engine applies under each topic's overrides.
//!
//! Values are stored normalized (parsed and printed back, as Kafka's describe shows them):
//! `" 1000 "` is stored as `1000`, `TRUE` as `true`.

mod broker;
mod group;
mod resolve;
mod topic;

use std::collections::BTreeMap;

use myelin_log::compression::Compression;

pub use self::broker::BROKER_CONFIGS;
pub use self::group::{group_config, group_overrides, share_overrides, GROUP_CONFIGS};
pub use self::resolve::{static_broker_configs, BrokerConfigs, Resolved, SynonymValue};
pub use self::topic::TOPIC_CONFIGS;

/// Kafka's config resource types (`ConfigResource.Type`), as sent in the admin requests.
pub mod resource_type {
    /// A topic: the resource name is the topic's name.
    pub const TOPIC: i8 = 2;
    /// A broker: the resource name is its node id, or empty for the cluster-wide defaults.
    pub const BROKER: i8 = 4;
    /// A broker's log4j loggers (KIP-412). Myelin logs through `tracing` and has none.
    pub const BROKER_LOGGER: i8 = 8;
    /// A group (KIP-848): the resource name is the group id.
    pub const GROUP: i8 = super::group::GROUP;
}

/// The type of a config, as DescribeConfigs v3+ reports it (`config_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ConfigType {
    /// Kafka's code (`DescribeConfigsResponse.ConfigType`).
    pub fn code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }

    /// Kafka's name of the type, as in its "Not a number of type LONG" messages.
    fn kafka_name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Short => "SHORT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::List => "LIST",
            ConfigType::Class => "CLASS",
            ConfigType::Password => "PASSWORD",
        }
    }
}

/// Where a config's value comes from (Kafka's `DescribeConfigsResponse.ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigSource {
    /// A topic's override.
    DynamicTopic,
    /// A dynamic config of this broker.
    DynamicBroker,
    /// A dynamic cluster-wide default.
    DynamicDefaultBroker,
    /// The broker's static configuration.
    StaticBroker,
    /// The built-in default.
    Default,
    /// A group's own config (KIP-848).
    DynamicGroup,
}

impl ConfigSource {
    /// Kafka's code.
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::DynamicTopic => 1,
            ConfigSource::DynamicBroker => 2,
            ConfigSource::DynamicDefaultBroker => 3,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
            ConfigSource::DynamicGroup => 8,
        }
    }
}

/// What values a config accepts beyond its type (Kafka's `ConfigDef.Validator`s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validator {
    /// Any value of the type.
    None,
    /// A number at least this.
    AtLeast(i64),
    /// A number in this range, inclusive.
    Between(i64, i64),
    /// A double between 0 and 1.
    Ratio,
    /// One of these strings (case-sensitive, as Kafka's `ValidString`).
    OneOf(&'static [&'static str]),
    /// A list whose every element is one of these (Kafka's `ValidList`); not empty.
    ListOf(&'static [&'static str]),
    /// gzip levels: 1 to 9, or -1 for the codec's default.
    GzipLevel,
    /// `*`, or a list of `partition:broker` pairs.
    ThrottledReplicas,
    /// Only `false`: the feature does not exist here (the reason says why).
    FalseOnly(&'static str),
    /// `share.auto.offset.reset`: earliest, latest or `by_duration:<ISO 8601 duration>`.
    ShareOffsetReset,
}

/// A broker config that a topic config takes its default from; `scale` converts the broker
/// config's unit to the topic config's (`log.retention.hours` × 3600000 = `retention.ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synonym {
    /// The broker config's name.
    pub name: &'static str,
    /// Multiplier from the broker config's unit to the topic config's.
    pub scale: i64,
}

impl Synonym {
    /// A synonym in the same unit.
    pub const fn new(name: &'static str) -> Self {
        Self { name, scale: 1 }
    }

    /// A synonym in another unit.
    pub const fn scaled(name: &'static str, scale: i64) -> Self {
        Self { name, scale }
    }
}

/// One config: its Kafka name, type, default, validation and documentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfigDef {
    /// Kafka's name.
    pub name: &'static str,
    /// The type.
    pub ty: ConfigType,
    /// The default, normalized; `None` is Kafka's null (unset, another config decides).
    pub default: Option<&'static str>,
    /// What values are accepted.
    pub validator: Validator,
    /// A topic config: the broker configs it defaults to, highest priority first. A broker
    /// config: its synonym group (`log.retention.ms`, `.minutes`, `.hours`), or empty.
    pub synonyms: &'static [Synonym],
    /// A broker config: whether it can be changed at run time. Topic configs always can.
    pub dynamic: bool,
    /// The documentation, as DescribeConfigs v3+ returns it.
    pub doc: &'static str,
}

/// Why a config name or value was refused. Each message is Kafka's where Kafka has one.
/// The server maps these to INVALID_CONFIG for topics and INVALID_REQUEST for brokers
/// (`crate::error`), as Kafka does.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConfigsError {
    #[error("Unknown topic config name: {name}")]
    UnknownTopicConfig { name: String },
    #[error("Unknown broker config name: {name}")]
    UnknownBrokerConfig { name: String },
    #[error("Unknown group config name: {name}")]
    UnknownGroupConfig { name: String },
    #[error("Invalid value {value} for configuration {name}: {reason}")]
    InvalidValue {
        name: String,
        value: String,
        reason: String,
    },
    #[error("Null value not supported for topic configs: {names}")]
    NullValue { names: String },
    #[error("Cannot update these configs dynamically: {names}")]
    NotDynamic { names: String },
    #[error("Can't {operation} to key {name} because its type is not LIST.")]
    NotAList {
        operation: &'static str,
        name: String,
    },
    /// The values are valid one by one but not together.
    #[error("{0}")]
    Inconsistent(String),
}

/// The topic config `name`, if Kafka has one by that name.
pub fn topic_config(name: &str) -> Option<&'static ConfigDef> {
    find(TOPIC_CONFIGS, name)
}

/// The broker config `name`, if Myelin knows it.
pub fn broker_config(name: &str) -> Option<&'static ConfigDef> {
    find(BROKER_CONFIGS, name)
}

fn find(table: &'static [ConfigDef], name: &str) -> Option<&'static ConfigDef> {
    table
        .binary_search_by(|d| d.name.cmp(name))
        .ok()
        .map(|i| &table[i])
}

impl ConfigDef {
    /// The default value, normalized; `None` when Kafka's default is null.
    pub fn default_value(&self) -> Option<String> {
        self.default.map(str::to_string)
    }

    /// Parses `raw` as this config's type, checks it against the validator, and returns it
    /// printed back the way Kafka prints a parsed value.
    pub fn normalize(&self, raw: &str) -> Result<String, ConfigsError> {
        let invalid = |reason: String| ConfigsError::InvalidValue {
            name: self.name.to_string(),
            value: raw.to_string(),
            reason,
        };
        let trimmed = raw.trim();
        let not_a_number = || invalid(format!("Not a number of type {}", self.ty.kafka_name()));
        let value = match self.ty {
            ConfigType::Boolean => {
                if trimmed.eq_ignore_ascii_case("true") {
                    "true".to_string()
                } else if trimmed.eq_ignore_ascii_case("false") {
                    "false".to_string()
                } else {
                    return Err(invalid(
                        "Expected value to be either true or false".to_string(),
                    ));
                }
            }
            ConfigType::Short => trimmed
                .parse::<i16>()
                .map_err(|_| not_a_number())?
                .to_string(),
            ConfigType::Int => trimmed
                .parse::<i32>()
                .map_err(|_| not_a_number())?
                .to_string(),
            ConfigType::Long => trimmed
                .parse::<i64>()
                .map_err(|_| not_a_number())?
                .to_string(),
            ConfigType::Double => {
                let v: f64 = trimmed.parse().map_err(|_| not_a_number())?;
                if !v.is_finite() {
                    return Err(not_a_number());
                }
                java_double(v)
            }
            ConfigType::List => {
                if trimmed.is_empty() {
                    String::new()
                } else {
                    trimmed
                        .split(',')
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join(",")
                }
            }
            ConfigType::String | ConfigType::Class | ConfigType::Password => trimmed.to_string(),
        };
        self.check(&value).map_err(invalid)?;
        Ok(value)
    }

    /// Checks a parsed, normalized value against the validator; the error is the reason.
    fn check(&self, value: &str) -> Result<(), String> {
        let number = || value.parse::<i64>().unwrap_or(0);
        match self.validator {
            Validator::None => Ok(()),
            Validator::AtLeast(min) => {
                if number() < min {
                    return Err(format!("Value must be at least {min}"));
                }
                Ok(())
            }
            Validator::Between(min, max) => {
                let n = number();
                if n < min {
                    return Err(format!("Value must be no less than {min}"));
                }
                if n > max {
                    return Err(format!("Value must be no more than {max}"));
                }
                Ok(())
            }
            Validator::Ratio => {
                let v: f64 = value.parse().unwrap_or(-1.0);
                if v < 0.0 {
                    return Err("Value must be no less than 0".to_string());
                }
                if v > 1.0 {
                    return Err("Value must be no more than 1".to_string());
                }
                Ok(())
            }
            Validator::OneOf(valid) => {
                if valid.contains(&value) {
                    Ok(())
                } else {
                    Err(format!("String must be one of: {}", valid.join(", ")))
                }
            }
            Validator::ListOf(valid) => {
                if value.is_empty() {
                    return Err(format!(
                        "Empty list; a list of one or more of: {}",
                        valid.join(", ")
                    ));
                }
                match value.split(',').find(|v| !valid.contains(v)) {
                    None => Ok(()),
                    Some(_) => Err(format!("String must be one of: {}", valid.join(", "))),
                }
            }
            Validator::GzipLevel => {
                let n = number();
                if n == -1 || (1..=9).contains(&n) {
                    Ok(())
                } else {
                    Err("Value must be between 1 and 9, or -1 for the default".to_string())
                }
            }
            Validator::ThrottledReplicas => {
                let replica = |s: &str| {
                    let mut parts = s.split(':');
                    let ok = |p: Option<&str>| {
                        p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    };
                    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
                };
                if value.is_empty() || value == "*" || value.split(',').all(replica) {
                    Ok(())
                } else {
                    Err(
                        "must be the literal '*' or a list of replicas in the following format: \
                         [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                            .to_string(),
                    )
                }
            }
            Validator::FalseOnly(reason) => {
                if value == "false" {
                    Ok(())
                } else {
                    Err(reason.to_string())
                }
            }
            Validator::ShareOffsetReset => match group::share_offset_reset(value) {
                Some(_) => Ok(()),
                None => Err(
                    "The value must be either 'earliest', 'latest' or of the format \
                     'by_duration:<PnDTnHnMn.nS.>'."
                        .to_string(),
                ),
            },
        }
    }
}

/// A double printed as Java's `Double.toString` prints the common cases (`0.5`, `1.0`).
fn java_double(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e7 {
        format!("{v:.1}")
    } else {
        v.to_string()
    }
}

/// Normalizes the topic configs of a CreateTopics or AlterConfigs request: every name must
/// be a topic config and every value valid for it. As Kafka, null values are refused first
/// (all of them named), then unknown names. A later entry for the same name wins.
pub fn normalize_topic_configs<'a>(
    entries: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<BTreeMap<String, String>, ConfigsError> {
    let entries: Vec<_> = entries.into_iter().collect();
    let nulls: Vec<&str> = entries
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !nulls.is_empty() {
        return Err(ConfigsError::NullValue {
            names: nulls.join(","),
        });
    }
    let mut out = BTreeMap::new();
    for (name, value) in entries {
        let def = topic_config(name).ok_or_else(|| ConfigsError::UnknownTopicConfig {
            name: name.to_string(),
        })?;
        out.insert(name.to_string(), def.normalize(value.unwrap_or_default())?);
    }
    Ok(out)
}

/// Normalizes dynamic broker configs: every name must be a broker config that can change at
/// run time (Kafka names all the others in one error), and every value valid.
pub fn normalize_dynamic_broker_configs<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<BTreeMap<String, String>, ConfigsError> {
    let entries: Vec<_> = entries.into_iter().collect();
    if let Some((name, _)) = entries.iter().find(|(n, _)| broker_config(n).is_none()) {
        return Err(ConfigsError::UnknownBrokerConfig {
            name: name.to_string(),
        });
    }
    let fixed: Vec<&str> = entries
        .iter()
        .filter(|(n, _)| broker_config(n).is_some_and(|d| !d.dynamic))
        .map(|(n, _)| *n)
        .collect();
    if !fixed.is_empty() {
        return Err(ConfigsError::NotDynamic {
            names: fixed.join(", "),
        });
    }
    let mut out = BTreeMap::new();
    for (name, value) in entries {
        let def = broker_config(name).expect("checked above");
        out.insert(name.to_string(), def.normalize(value)?);
    }
    Ok(out)
}

/// Normalizes static broker configs (file, environment, flags): every name must be a
/// broker config Myelin knows; read-only ones are fine here.
pub fn normalize_static_broker_configs(
    configs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ConfigsError> {
    let mut out = BTreeMap::new();
    for (name, value) in configs {
        let def = broker_config(name)
            .ok_or_else(|| ConfigsError::UnknownBrokerConfig { name: name.clone() })?;
        out.insert(name.clone(), def.normalize(value)?);
    }
    Ok(out)
}

/// A topic's `compression.type`: what the broker does with the batches it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicCompression {
    /// `producer`: keep the batches as the producer compressed them.
    Producer,
    /// `uncompressed`, `gzip`, `snappy`, `lz4`, `zstd`: store batches with this codec,
    /// recompressing those that arrive with another.
    Codec(Compression),
}

impl TopicCompression {
    /// Parses a normalized `compression.type` value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "producer" => Some(TopicCompression::Producer),
            "uncompressed" => Some(TopicCompression::Codec(Compression::None)),
            other => Compression::from_name(other)
                .filter(|c| *c != Compression::None)
                .map(TopicCompression::Codec),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for table in [TOPIC_CONFIGS, BROKER_CONFIGS] {
            for pair in table.windows(2) {
                assert!(
                    pair[0].name < pair[1].name,
                    "{} / {}",
                    pair[0].name,
                    pair[1].name
                );
            }
        }
    }

    #[test]
    fn defaults_are_valid_and_normalized() {
        for def in TOPIC_CONFIGS.iter().chain(BROKER_CONFIGS) {
            if let Some(d) = def.default_value() {
                assert_eq!(def.normalize(&d).as_deref(), Ok(d.as_str()), "{}", def.name);
            }
            assert!(!def.doc.is_empty(), "{}", def.name);
        }
    }

    #[test]
    fn every_synonym_is_a_broker_config() {
        for def in TOPIC_CONFIGS.iter().chain(BROKER_CONFIGS) {
            for s in def.synonyms {
                assert!(
                    broker_config(s.name).is_some(),
                    "{} -> {}",
                    def.name,
                    s.name
                );
            }
        }
        // Every log config the storage engine applies is a topic config with a default.
        for name in myelin_log::LogConfig::NAMES {
            assert!(
                topic_config(name).is_some_and(|d| d.default.is_some()),
                "{name}"
            );
        }
    }

    #[test]
    fn values_parse_as_kafka_parses_them() {
        let def = |n| topic_config(n).unwrap();
        assert_eq!(def("retention.ms").normalize(" 1000 ").unwrap(), "1000");
        assert_eq!(def("preallocate").normalize("TRUE").unwrap(), "true");
        assert_eq!(
            def("cleanup.policy").normalize("compact, delete").unwrap(),
            "compact,delete"
        );
        assert_eq!(
            def("min.cleanable.dirty.ratio").normalize("1").unwrap(),
            "1.0"
        );
        let err = def("retention.ms").normalize("abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value abc for configuration retention.ms: Not a number of type LONG"
        );
        assert_eq!(
            def("retention.ms").normalize("-2").unwrap_err().to_string(),
            "Invalid value -2 for configuration retention.ms: Value must be at least -1"
        );
        assert!(def("compression.type").normalize("none").is_err());
        assert!(def("cleanup.policy").normalize("compact,shred").is_err());
        assert!(def("cleanup.policy").normalize("").is_err());
        assert!(def("max.message.bytes").normalize("3000000000").is_err());
        assert!(def("compression.gzip.level").normalize("0").is_err());
        assert!(def("compression.gzip.level").normalize("-1").is_ok());
        assert!(def("remote.storage.enable").normalize("true").is_err());
        let throttled = def("leader.replication.throttled.replicas");
        for ok in ["", "*", "0:1", "0:1,1:1"] {
            assert!(throttled.normalize(ok).is_ok(), "{ok}");
        }
        for bad in ["x", "0:", "0:1:2", "0:a"] {
            assert!(throttled.normalize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn topic_configs_refuse_nulls_then_unknown_names() {
        let err =
            normalize_topic_configs([("retention.ms", None), ("nope", Some("1"))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Null value not supported for topic configs: retention.ms"
        );
        let err = normalize_topic_configs([("nope", Some("1"))]).unwrap_err();
        assert_eq!(err.to_string(), "Unknown topic config name: nope");
        let ok =
            normalize_topic_configs([("retention.ms", Some("5")), ("retention.ms", Some("6"))])
                .unwrap();
        assert_eq!(ok["retention.ms"], "6");
    }

    #[test]
    fn dynamic_broker_configs_are_checked() {
        assert!(normalize_dynamic_broker_configs([("log.retention.ms", "5")]).is_ok());
        assert_eq!(
            normalize_dynamic_broker_configs([
                ("num.partitions", "5"),
                ("log.retention.hours", "1")
            ])
            .unwrap_err()
            .to_string(),
            "Cannot update these configs dynamically: num.partitions, log.retention.hours"
        );
        assert!(matches!(
            normalize_dynamic_broker_configs([("no.such", "5")]),
            Err(ConfigsError::UnknownBrokerConfig { .. })
        ));
    }

    #[test]
    fn compression_types() {
        assert_eq!(
            TopicCompression::parse("producer"),
            Some(TopicCompression::Producer)
        );
        assert_eq!(
            TopicCompression::parse("uncompressed"),
            Some(TopicCompression::Codec(Compression::None))
        );
        assert_eq!(
            TopicCompression::parse("zstd"),
            Some(TopicCompression::Codec(Compression::Zstd))
        );
        assert_eq!(TopicCompression::parse("none"), None);
    }
}
