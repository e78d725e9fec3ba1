//! Kafka's group configs (the GROUP config resource, type 32; KIP-848): a consumer group's
//! own session timeout and heartbeat interval, in place of the broker's
//! `group.consumer.session.timeout.ms` and `group.consumer.heartbeat.interval.ms`.
//!
//! Share groups (KIP-932) have theirs: `share.auto.offset.reset`, `share.isolation.level`,
//! `share.session.timeout.ms`, `share.heartbeat.interval.ms`,
//! `share.record.lock.duration.ms` and `share.delivery.count.limit`, in place of the
//! broker's `group.share.*`.
//!
//! As Kafka's `GroupConfig` checks them: only these names; integers of at least 1; within the broker's
//! `group.consumer.min/max.session.timeout.ms` and `group.consumer.min/max.heartbeat.
//! interval.ms`; and the session timeout, with the broker's value where the group sets
//! none, above the heartbeat interval. A refused change is INVALID_CONFIG.

use std::collections::BTreeMap;

use super::{
    BrokerConfigs, ConfigDef, ConfigSource, ConfigType, ConfigsError, Resolved, Validator,
};

/// Kafka's resource type of a group's configs.
pub const GROUP: i8 = 32;

/// The group configs Myelin knows, sorted by name.
pub const GROUP_CONFIGS: &[ConfigDef] = &[
    ConfigDef {
        name: "consumer.heartbeat.interval.ms",
        ty: ConfigType::Int,
        default: Some("5000"),
        validator: Validator::AtLeast(1),
        synonyms: &[],
        dynamic: true,
        doc: "The heartbeat interval given to the members of this consumer group (KIP-848 \
              protocol), in place of the broker's group.consumer.heartbeat.interval.ms.",
    },
    ConfigDef {
        name: "consumer.session.timeout.ms",
        ty: ConfigType::Int,
        default: Some("45000"),
        validator: Validator::AtLeast(1),
        synonyms: &[],
        dynamic: true,
        doc: "The timeout to detect client failures in this consumer group (KIP-848 \
              protocol), in place of the broker's group.consumer.session.timeout.ms.",
    },
    ConfigDef {
        name: "share.auto.offset.reset",
        ty: ConfigType::String,
        default: Some("latest"),
        validator: Validator::OneOf(&["latest", "earliest"]),
        synonyms: &[],
        dynamic: true,
        doc: "Where this share group starts consuming a partition it has no state for: \
              latest (the log end) or earliest (the log start).",
    },
    ConfigDef {
        name: "share.delivery.count.limit",
        ty: ConfigType::Int,
        default: Some("5"),
        validator: Validator::Between(2, 10),
        synonyms: &[],
        dynamic: true,
        doc: "How often this share group delivers a record before archiving it, in place \
              of the broker's group.share.delivery.count.limit.",
    },
    ConfigDef {
        name: "share.heartbeat.interval.ms",
        ty: ConfigType::Int,
        default: Some("5000"),
        validator: Validator::AtLeast(1),
        synonyms: &[],
        dynamic: true,
        doc: "The heartbeat interval given to the members of this share group, in place of \
              the broker's group.share.heartbeat.interval.ms.",
    },
    ConfigDef {
        name: "share.isolation.level",
        ty: ConfigType::String,
        default: Some("read_uncommitted"),
        validator: Validator::OneOf(&["read_committed", "read_uncommitted"]),
        synonyms: &[],
        dynamic: true,
        doc: "What this share group delivers of transactional records: read_uncommitted \
              (everything up to the high watermark) or read_committed (up to the last \
              stable offset, without the records of aborted transactions).",
    },
    ConfigDef {
        name: "share.record.lock.duration.ms",
        ty: ConfigType::Int,
        default: Some("30000"),
        validator: Validator::Between(1000, 3_600_000),
        synonyms: &[],
        dynamic: true,
        doc: "How long a record delivered to a member of this share group stays acquired \
              before it is delivered again, in place of the broker's \
              group.share.record.lock.duration.ms.",
    },
    ConfigDef {
        name: "share.session.timeout.ms",
        ty: ConfigType::Int,
        default: Some("45000"),
        validator: Validator::AtLeast(1),
        synonyms: &[],
        dynamic: true,
        doc: "The timeout to detect client failures in this share group, in place of the \
              broker's group.share.session.timeout.ms.",
    },
];

/// The broker config whose value a group config takes when the group sets none.
fn broker_default(name: &str) -> Option<&'static str> {
    match name {
        "consumer.heartbeat.interval.ms" => Some("group.consumer.heartbeat.interval.ms"),
        "consumer.session.timeout.ms" => Some("group.consumer.session.timeout.ms"),
        "share.delivery.count.limit" => Some("group.share.delivery.count.limit"),
        "share.heartbeat.interval.ms" => Some("group.share.heartbeat.interval.ms"),
        "share.record.lock.duration.ms" => Some("group.share.record.lock.duration.ms"),
        "share.session.timeout.ms" => Some("group.share.session.timeout.ms"),
        _ => None,
    }
}

/// The group config `name`, if Kafka has one by that name that Myelin serves.
pub fn group_config(name: &str) -> Option<&'static ConfigDef> {
    GROUP_CONFIGS.iter().find(|d| d.name == name)
}

impl BrokerConfigs<'_> {
    /// Every group config of a group with the overrides `configs`: its value in effect and
    /// where it comes from (the group's own: DYNAMIC_GROUP_CONFIG; else the broker's
    /// `group.consumer.*` value, reported as the default, as Kafka reports it).
    pub fn group_values<'a>(
        &'a self,
        configs: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = (&'static ConfigDef, Resolved)> + 'a {
        GROUP_CONFIGS.iter().map(move |def| {
            let resolved = match configs.get(def.name) {
                Some(v) => Resolved {
                    value: Some(v.clone()),
                    source: ConfigSource::DynamicGroup,
                },
                None => Resolved {
                    value: match broker_default(def.name) {
                        Some(broker) => self.value(broker).value,
                        None => def.default.map(str::to_string),
                    },
                    source: ConfigSource::Default,
                },
            };
            (def, resolved)
        })
    }

    /// Normalizes and checks a group's complete set of overrides, as Kafka's
    /// `GroupConfig.validate` does.
    pub fn check_group_configs(
        &self,
        configs: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ConfigsError> {
        let mut normalized = BTreeMap::new();
        for (name, value) in configs {
            let def = group_config(name)
                .ok_or_else(|| ConfigsError::UnknownGroupConfig { name: name.clone() })?;
            normalized.insert(name.clone(), def.normalize(value)?);
        }
        let int = |name: &str| -> i64 {
            self.value(name)
                .value
                .and_then(|v| v.parse().ok())
                .unwrap_or_default()
        };
        let effective = |name: &str| -> i64 {
            normalized
                .get(name)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| broker_default(name).map(int).unwrap_or_default())
        };
        let heartbeat = effective("consumer.heartbeat.interval.ms");
        let session = effective("consumer.session.timeout.ms");
        let bounds = [
            (
                "consumer.heartbeat.interval.ms",
                heartbeat,
                "heartbeat.interval.ms",
            ),
            ("consumer.session.timeout.ms", session, "session.timeout.ms"),
        ];
        for (name, value, broker) in bounds {
            if !normalized.contains_key(name) {
                continue;
            }
            let (min, max) = (
                format!("group.consumer.min.{broker}"),
                format!("group.consumer.max.{broker}"),
            );
            if value < int(&min) {
                return Err(ConfigsError::Inconsistent(format!(
                    "{name} must be greater than or equal to {min}"
                )));
            }
            if value > int(&max) {
                return Err(ConfigsError::Inconsistent(format!(
                    "{name} must be less than or equal to {max}"
                )));
            }
        }
        let consumer_set = normalized.keys().any(|k| k.starts_with("consumer."));
        if consumer_set && session <= heartbeat {
            return Err(ConfigsError::Inconsistent(
                "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"
                    .to_string(),
            ));
        }
        Ok(normalized)
    }
}

/// The coordinator's view of a group's overrides.
pub fn group_overrides(
    configs: &BTreeMap<String, String>,
) -> myelin_coord::consumer::GroupOverrides {
    let int = |name: &str| configs.get(name).and_then(|v| v.parse().ok());
    myelin_coord::consumer::GroupOverrides {
        session_timeout_ms: int("consumer.session.timeout.ms"),
        heartbeat_interval_ms: int("consumer.heartbeat.interval.ms"),
    }
}

/// The share coordinator's view of a share group's overrides.
pub fn share_overrides(configs: &BTreeMap<String, String>) -> myelin_coord::share::ShareOverrides {
    let int = |name: &str| configs.get(name).and_then(|v| v.parse().ok());
    myelin_coord::share::ShareOverrides {
        session_timeout_ms: int("share.session.timeout.ms"),
        heartbeat_interval_ms: int("share.heartbeat.interval.ms"),
        record_lock_duration_ms: configs
            .get("share.record.lock.duration.ms")
            .and_then(|v| v.parse().ok()),
        delivery_count_limit: configs
            .get("share.delivery.count.limit")
            .and_then(|v| v.parse().ok()),
        auto_offset_reset: match configs.get("share.auto.offset.reset").map(String::as_str) {
            Some("earliest") => myelin_coord::share::AutoOffsetReset::Earliest,
            _ => myelin_coord::share::AutoOffsetReset::Latest,
        },
        read_committed: configs
            .get("share.isolation.level")
            .is_some_and(|v| v == "read_committed"),
    }
}
