//! Kafka's group configs (the GROUP config resource, type 32; KIP-848): a consumer group's
//! own session timeout and heartbeat interval, in place of the broker's
//! `group.consumer.session.timeout.ms` and `group.consumer.heartbeat.interval.ms`.
//!
//! As Kafka's `GroupConfig` checks them: only these names (share groups' `share.*` configs
//! are refused, as Myelin has no share groups); integers of at least 1; within the broker's
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
];

/// The broker config whose value a group config takes when the group sets none.
fn broker_default(name: &str) -> &'static str {
    match name {
        "consumer.heartbeat.interval.ms" => "group.consumer.heartbeat.interval.ms",
        _ => "group.consumer.session.timeout.ms",
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
                    value: self.value(broker_default(def.name)).value,
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
                .unwrap_or_else(|| int(broker_default(name)))
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
        if !normalized.is_empty() && session <= heartbeat {
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
