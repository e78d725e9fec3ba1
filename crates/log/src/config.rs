//! Per-log configuration, with Kafka's topic config names and defaults.
//!
//! One deliberate deviation, documented in `docs/compatibility.md`: `flush.messages`
//! defaults to 1, so an append is acknowledged only once fdatasync'ed (group commit makes
//! this cheap). Kafka's default leaves flushing to the OS.

use crate::error::{LogError, Result};

/// `cleanup.policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: Self = Self {
        delete: true,
        compact: false,
    };
    pub const COMPACT: Self = Self {
        delete: false,
        compact: true,
    };

    /// Parses Kafka's list syntax: `delete`, `compact`, `compact,delete`, `delete,compact`.
    pub fn parse(s: &str) -> Result<Self> {
        let mut p = Self {
            delete: false,
            compact: false,
        };
        for part in s.split(',').map(str::trim) {
            match part {
                "delete" => p.delete = true,
                "compact" => p.compact = true,
                other => {
                    return Err(LogError::Config(format!(
                        "invalid cleanup.policy value {other:?}: expected delete and/or compact"
                    )))
                }
            }
        }
        if !p.delete && !p.compact {
            return Err(LogError::Config("cleanup.policy is empty".into()));
        }
        Ok(p)
    }

    pub fn name(&self) -> &'static str {
        match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            _ => "delete",
        }
    }
}

/// `message.timestamp.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// The configuration of one log, named as Kafka's topic configs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment when an append would grow it past this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first batch is older than this.
    pub segment_ms: i64,
    /// `segment.index.bytes`: the size an active segment's index is preallocated to.
    pub segment_index_bytes: usize,
    /// `index.interval.bytes`: bytes of log between two offset index entries.
    pub index_interval_bytes: u64,
    /// `max.message.bytes`: the largest batch accepted, in bytes.
    pub max_message_bytes: usize,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `retention.ms`: -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: -1 keeps any size.
    pub retention_bytes: i64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long compaction keeps tombstones.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are not compacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a log with dirty records older than this is compacted
    /// whatever its dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `flush.messages`: flush after this many records. 1 (Myelin's default) means every
    /// append is flushed before it is acknowledged.
    pub flush_messages: i64,
    /// `flush.ms`: flush at least this often.
    pub flush_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            retention_ms: 7 * 24 * 3_600_000,
            retention_bytes: -1,
            cleanup_policy: CleanupPolicy::DELETE,
            delete_retention_ms: 24 * 3_600_000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            flush_messages: 1,
            flush_ms: i64::MAX,
        }
    }
}

fn parse_i64(name: &str, v: &str) -> Result<i64> {
    v.trim()
        .parse()
        .map_err(|_| LogError::Config(format!("{name}: {v:?} is not a number")))
}

impl LogConfig {
    /// The Kafka names this type understands.
    pub const NAMES: &'static [&'static str] = &[
        "segment.bytes",
        "segment.ms",
        "segment.index.bytes",
        "index.interval.bytes",
        "max.message.bytes",
        "message.timestamp.type",
        "retention.ms",
        "retention.bytes",
        "cleanup.policy",
        "delete.retention.ms",
        "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms",
        "max.compaction.lag.ms",
        "flush.messages",
        "flush.ms",
    ];

    /// True when appends are acknowledged only after they are durable.
    pub fn durable_acks(&self) -> bool {
        self.flush_messages <= 1
    }

    /// Sets one config by its Kafka name. Unknown names are an error; the result is not
    /// validated as a whole until [`LogConfig::validate`].
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        match name {
            "segment.bytes" => self.segment_bytes = parse_i64(name, value)?.max(0) as u64,
            "segment.ms" => self.segment_ms = parse_i64(name, value)?,
            "segment.index.bytes" => {
                self.segment_index_bytes = parse_i64(name, value)?.max(0) as usize
            }
            "index.interval.bytes" => {
                self.index_interval_bytes = parse_i64(name, value)?.max(0) as u64
            }
            "max.message.bytes" => self.max_message_bytes = parse_i64(name, value)?.max(0) as usize,
            "message.timestamp.type" => {
                self.message_timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    v => {
                        return Err(LogError::Config(format!(
                            "message.timestamp.type: {v:?} is not CreateTime or LogAppendTime"
                        )))
                    }
                }
            }
            "retention.ms" => self.retention_ms = parse_i64(name, value)?,
            "retention.bytes" => self.retention_bytes = parse_i64(name, value)?,
            "cleanup.policy" => self.cleanup_policy = CleanupPolicy::parse(value)?,
            "delete.retention.ms" => self.delete_retention_ms = parse_i64(name, value)?,
            "min.cleanable.dirty.ratio" => {
                self.min_cleanable_dirty_ratio = value
                    .trim()
                    .parse()
                    .map_err(|_| LogError::Config(format!("{name}: {value:?} is not a number")))?
            }
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = parse_i64(name, value)?,
            "max.compaction.lag.ms" => self.max_compaction_lag_ms = parse_i64(name, value)?,
            "flush.messages" => self.flush_messages = parse_i64(name, value)?,
            "flush.ms" => self.flush_ms = parse_i64(name, value)?,
            other => return Err(LogError::Config(format!("unknown log config {other:?}"))),
        }
        Ok(())
    }

    /// Checks ranges as Kafka's topic config validation does.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(LogError::Config(m));
        if self.segment_bytes < 14 {
            return bad(format!(
                "segment.bytes must be at least 14, got {}",
                self.segment_bytes
            ));
        }
        if self.segment_bytes > i32::MAX as u64 {
            return bad("segment.bytes must fit a 32-bit file position".into());
        }
        if self.segment_ms < 1 {
            return bad("segment.ms must be at least 1".into());
        }
        if self.segment_index_bytes < 8 {
            return bad("segment.index.bytes must be at least 8".into());
        }
        if self.max_message_bytes < crate::batch::HEADER_LEN {
            return bad(format!(
                "max.message.bytes must be at least {}",
                crate::batch::HEADER_LEN
            ));
        }
        if self.retention_ms < -1 || self.retention_bytes < -1 {
            return bad("retention.ms and retention.bytes must be -1 or more".into());
        }
        if self.delete_retention_ms < 0 || self.min_compaction_lag_ms < 0 {
            return bad("delete.retention.ms and min.compaction.lag.ms must be 0 or more".into());
        }
        if self.max_compaction_lag_ms < 1 {
            return bad("max.compaction.lag.ms must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return bad("min.cleanable.dirty.ratio must be between 0 and 1".into());
        }
        if self.flush_messages < 1 || self.flush_ms < 0 {
            return bad("flush.messages must be at least 1 and flush.ms at least 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_parse_and_validate() {
        let mut c = LogConfig::default();
        c.set("cleanup.policy", "compact,delete").unwrap();
        c.set("retention.ms", "-1").unwrap();
        c.set("message.timestamp.type", "LogAppendTime").unwrap();
        c.set("flush.messages", "1000").unwrap();
        assert_eq!(c.cleanup_policy.name(), "compact,delete");
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        assert!(!c.durable_acks());
        c.validate().unwrap();
        assert!(c.set("cleanup.policy", "shred").is_err());
        assert!(c.set("no.such.config", "1").is_err());
        c.set("segment.bytes", "10").unwrap();
        assert!(c.validate().is_err());
        assert!(LogConfig::default().durable_acks());
    }
}
