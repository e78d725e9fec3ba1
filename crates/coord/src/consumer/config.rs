//! Settings of consumer groups (Kafka's `group.consumer.*` broker configs).

use super::assignor::ServerAssignor;

/// Consumer group settings (Kafka's broker configs of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupConfig {
    /// `group.consumer.session.timeout.ms`: a member that does not heartbeat for this long is
    /// removed.
    pub session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`: how often members heartbeat.
    pub heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`.
    pub max_size: usize,
    /// `group.consumer.assignors`: the server assignors members may choose; the first is the
    /// default.
    pub assignors: Vec<ServerAssignor>,
}

impl Default for ConsumerGroupConfig {
    fn default() -> Self {
        ConsumerGroupConfig {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: usize::MAX,
            assignors: vec![ServerAssignor::Uniform, ServerAssignor::Range],
        }
    }
}

/// A group's dynamic configs (Kafka's GROUP config resource, KIP-848), each in place of
/// the broker's `group.consumer.*` value when set. Applied at each heartbeat, so a change
/// reaches every member at its next one, as in Kafka.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupOverrides {
    /// `consumer.session.timeout.ms`.
    pub session_timeout_ms: Option<i32>,
    /// `consumer.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: Option<i32>,
}

impl ConsumerGroupConfig {
    /// These settings with a group's overrides in place of the broker's values.
    pub fn with_overrides(&self, overrides: GroupOverrides) -> ConsumerGroupConfig {
        ConsumerGroupConfig {
            session_timeout_ms: overrides
                .session_timeout_ms
                .unwrap_or(self.session_timeout_ms),
            heartbeat_interval_ms: overrides
                .heartbeat_interval_ms
                .unwrap_or(self.heartbeat_interval_ms),
            ..self.clone()
        }
    }

    /// Parses `group.consumer.assignors` (`"uniform,range"`). Kafka also accepts assignor class
    /// names; the two built-in classes map to their short names.
    pub fn parse_assignors(value: &str) -> Result<Vec<ServerAssignor>, String> {
        let mut assignors = Vec::new();
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let assignor = match name {
                "org.apache.kafka.coordinator.group.assignor.UniformAssignor" => {
                    ServerAssignor::Uniform
                }
                "org.apache.kafka.coordinator.group.assignor.RangeAssignor" => {
                    ServerAssignor::Range
                }
                _ => ServerAssignor::from_name(name).ok_or_else(|| {
                    format!("group.consumer.assignors: unknown assignor {name:?}")
                })?,
            };
            if !assignors.contains(&assignor) {
                assignors.push(assignor);
            }
        }
        Ok(assignors)
    }

    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), String> {
        if self.session_timeout_ms <= 0 {
            return Err("group.consumer.session.timeout.ms must be > 0".into());
        }
        if self.heartbeat_interval_ms <= 0 {
            return Err("group.consumer.heartbeat.interval.ms must be > 0".into());
        }
        if self.heartbeat_interval_ms >= self.session_timeout_ms {
            return Err(
                "group.consumer.heartbeat.interval.ms must be < group.consumer.session.timeout.ms"
                    .into(),
            );
        }
        if self.max_size == 0 {
            return Err("group.consumer.max.size must be >= 1".into());
        }
        if self.assignors.is_empty() {
            return Err("group.consumer.assignors must name at least one assignor".into());
        }
        Ok(())
    }

    /// The assignor of a group whose members name none.
    pub fn default_assignor(&self) -> ServerAssignor {
        self.assignors
            .first()
            .copied()
            .unwrap_or(ServerAssignor::Uniform)
    }

    /// The configured assignor called `name`.
    pub fn assignor(&self, name: &str) -> Option<ServerAssignor> {
        self.assignors.iter().copied().find(|a| a.name() == name)
    }
}
