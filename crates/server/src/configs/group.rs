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
        validator: Validator::ShareOffsetReset,
        synonyms: &[],
        dynamic: true,
        doc: "Where this share group starts consuming a partition it has no state for: \
              latest (the log end), earliest (the log start), or by_duration:<ISO 8601 \
              duration> (the first record at most that old, e.g. by_duration:PT1H).",
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
        auto_offset_reset: configs
            .get("share.auto.offset.reset")
            .and_then(|v| share_offset_reset(v))
            .unwrap_or_default(),
        read_committed: configs
            .get("share.isolation.level")
            .is_some_and(|v| v == "read_committed"),
    }
}

/// A `share.auto.offset.reset` value, as Kafka's `ShareGroupAutoOffsetResetStrategy`
/// reads it: `earliest`, `latest`, or `by_duration:` and a non-negative ISO 8601 duration
/// (Java's `Duration.parse`: `PnDTnHnMn.nS`). None for anything else.
pub fn share_offset_reset(value: &str) -> Option<myelin_coord::share::AutoOffsetReset> {
    use myelin_coord::share::AutoOffsetReset;
    match value {
        "earliest" => Some(AutoOffsetReset::Earliest),
        "latest" => Some(AutoOffsetReset::Latest),
        _ => iso_duration_ms(value.strip_prefix("by_duration:")?).map(AutoOffsetReset::ByDuration),
    }
}

/// Milliseconds of an ISO 8601 duration as Java's `Duration.parse` takes it (`P1D`,
/// `PT1H30M`, `PT0.5S`; days of 24 hours), without signs; None if it is not one or
/// overflows.
fn iso_duration_ms(text: &str) -> Option<u64> {
    let upper = text.to_ascii_uppercase();
    let rest = upper.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut ms: u64 = 0;
    let mut parts = 0;
    if !date.is_empty() {
        let days: u64 = date.strip_suffix('D')?.parse().ok()?;
        if !date[..date.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        ms = days.checked_mul(86_400_000)?;
        parts += 1;
    }
    if let Some(mut time) = time {
        for (unit, scale) in [('H', 3_600_000u64), ('M', 60_000)] {
            if let Some(i) = time.find(unit) {
                let digits = &time[..i];
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                ms = ms.checked_add(digits.parse::<u64>().ok()?.checked_mul(scale)?)?;
                time = &time[i + 1..];
                parts += 1;
            }
        }
        if !time.is_empty() {
            let seconds = time.strip_suffix('S')?;
            let (whole, fraction) = seconds
                .split_once(['.', ','])
                .map_or((seconds, ""), |(w, f)| (w, f));
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 9 {
                return None;
            }
            let millis = format!("{fraction:0<3}");
            ms = ms
                .checked_add(whole.parse::<u64>().ok()?.checked_mul(1000)?)?
                .checked_add(millis[..3].parse::<u64>().ok()?)?;
            parts += 1;
        }
    }
    (parts > 0).then_some(ms)
}

#[cfg(test)]
mod share_reset_tests {
    use super::*;
    use myelin_coord::share::AutoOffsetReset;

    #[test]
    fn share_offset_resets_read_as_kafka_reads_them() {
        assert_eq!(
            share_offset_reset("earliest"),
            Some(AutoOffsetReset::Earliest)
        );
        assert_eq!(share_offset_reset("latest"), Some(AutoOffsetReset::Latest));
        for (text, ms) in [
            ("PT1H", 3_600_000),
            ("P1D", 86_400_000),
            ("P2DT3H4M", 2 * 86_400_000 + 3 * 3_600_000 + 4 * 60_000),
            ("PT0.5S", 500),
            ("PT20.345S", 20_345),
            ("pt15m", 900_000),
            ("PT0S", 0),
            ("PT1,25S", 1_250),
        ] {
            assert_eq!(
                share_offset_reset(&format!("by_duration:{text}")),
                Some(AutoOffsetReset::ByDuration(ms)),
                "{text}"
            );
        }
        for bad in [
            "by_duration",
            "by_duration:",
            "by_duration:P",
            "by_duration:PT",
            "by_duration:1H",
            "by_duration:PT-1H",
            "by_duration:-PT1H",
            "by_duration:PT1H2",
            "by_duration:PTH",
            "by_duration:PT1.S1",
            "by_duration:P1W",
            "by_duration:PT0.1234567890S",
            "by_duration:P99999999999999999D",
            "none",
            "Earliest",
        ] {
            assert_eq!(share_offset_reset(bad), None, "{bad}");
        }
    }
}
