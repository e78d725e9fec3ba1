//! Group coordinator settings and the group states.

/// Group coordinator settings (Kafka's broker configs of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an Empty group
    /// waits for more members, extended (up to the rebalance timeout) while members arrive.
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `group.max.size`.
    pub max_size: usize,
    /// How long a new member may take to rejoin before it is removed (Kafka's
    /// `GroupCoordinator.NewMemberJoinTimeoutMs`, 5 minutes).
    pub new_member_join_timeout_ms: i64,
    /// `offsets.retention.minutes`, in milliseconds.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_size: usize::MAX,
            new_member_join_timeout_ms: 300_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1_000,
            offset_metadata_max_bytes: 4_096,
        }
    }
}

impl GroupConfig {
    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), String> {
        if self.initial_rebalance_delay_ms < 0 {
            return Err("group.initial.rebalance.delay.ms must be >= 0".into());
        }
        if self.min_session_timeout_ms <= 0
            || self.min_session_timeout_ms > self.max_session_timeout_ms
        {
            return Err(
                "group.min.session.timeout.ms must be > 0 and <= group.max.session.timeout.ms"
                    .into(),
            );
        }
        if self.max_size == 0 {
            return Err("group.max.size must be >= 1".into());
        }
        if self.offsets_retention_ms <= 0 {
            return Err("offsets.retention.minutes must be >= 1".into());
        }
        Ok(())
    }
}

/// The classic group states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupState {
    /// No members; offsets may remain.
    Empty,
    /// Members are (re)joining; JoinGroup responses are held back.
    PreparingRebalance,
    /// Join responses sent; waiting for the leader's SyncGroup with the assignments.
    CompletingRebalance,
    /// Assignments handed out; members heartbeat.
    Stable,
    /// The group is being removed.
    Dead,
}

impl GroupState {
    /// The name Kafka reports in DescribeGroups and ListGroups.
    pub fn kafka_name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}
