//! What `group-member` (in `src/bin`) prints: one line per event of a consumer group
//! member, parsed back by the tests that drive it (`tests/groups.rs`).
//!
//! `group-member` is one librdkafka consumer in a group, in its own process, so that a test
//! can end it in the three ways a real member ends: closing it (EOF on its stdin: the
//! consumer closes, which sends LeaveGroup for a dynamic member and nothing for a static
//! one), or killing it with SIGKILL (no goodbye at all: the coordinator notices only when
//! the session times out). It processes every record by printing it, then commits the
//! record's offset synchronously and prints the outcome, so the test knows exactly which
//! records a member processed without committing.

use std::fmt;

/// One line of `group-member` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberEvent {
    /// After every rebalance callback (assign, revoke, or lost): the member's whole
    /// assignment now, and the generation and member id librdkafka holds at that moment
    /// (-1 and `-` in the callbacks of a closing consumer).
    /// `assignment <generation> <member id> <partitions, comma-separated, or ->`
    Assignment {
        generation: i32,
        member_id: String,
        partitions: Vec<i32>,
    },
    /// The member processed a record: `record <partition> <offset> <key>`.
    Record {
        partition: i32,
        offset: i64,
        key: String,
    },
    /// A synchronous commit of `next_offset` (the processed offset + 1) succeeded:
    /// `committed <partition> <next offset>`.
    Committed { partition: i32, next_offset: i64 },
    /// A synchronous commit failed: `commit-failed <partition> <next offset> <error>`.
    CommitFailed {
        partition: i32,
        next_offset: i64,
        error: String,
    },
    /// The rebalance callback reported an error: `rebalance-error <error>`.
    RebalanceError(String),
    /// `poll` returned an error: `error <error>`.
    Error(String),
    /// The consumer closed after EOF on stdin: `closed`.
    Closed,
}

fn partitions_field(partitions: &[i32]) -> String {
    if partitions.is_empty() {
        "-".to_string()
    } else {
        partitions
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl MemberEvent {
    /// Parses one line of `group-member` output; None for anything else.
    pub fn parse(line: &str) -> Option<MemberEvent> {
        let line = line.trim_end_matches(['\r', '\n']);
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        let mut words = rest.splitn(3, ' ');
        let event = match kind {
            "assignment" => {
                let generation = words.next()?.parse().ok()?;
                let member_id = words.next()?.to_string();
                let partitions = match words.next()? {
                    "-" => Vec::new(),
                    list => list
                        .split(',')
                        .map(|p| p.parse().ok())
                        .collect::<Option<_>>()?,
                };
                MemberEvent::Assignment {
                    generation,
                    member_id,
                    partitions,
                }
            }
            "record" => MemberEvent::Record {
                partition: words.next()?.parse().ok()?,
                offset: words.next()?.parse().ok()?,
                key: words.next()?.to_string(),
            },
            "committed" => {
                let event = MemberEvent::Committed {
                    partition: words.next()?.parse().ok()?,
                    next_offset: words.next()?.parse().ok()?,
                };
                if words.next().is_some() {
                    return None;
                }
                event
            }
            "commit-failed" => MemberEvent::CommitFailed {
                partition: words.next()?.parse().ok()?,
                next_offset: words.next()?.parse().ok()?,
                error: words.next().unwrap_or_default().to_string(),
            },
            "rebalance-error" => MemberEvent::RebalanceError(rest.to_string()),
            "error" => MemberEvent::Error(rest.to_string()),
            "closed" if rest.is_empty() => MemberEvent::Closed,
            _ => return None,
        };
        Some(event)
    }
}

impl fmt::Display for MemberEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberEvent::Assignment {
                generation,
                member_id,
                partitions,
            } => write!(
                f,
                "assignment {generation} {member_id} {}",
                partitions_field(partitions)
            ),
            MemberEvent::Record {
                partition,
                offset,
                key,
            } => write!(f, "record {partition} {offset} {key}"),
            MemberEvent::Committed {
                partition,
                next_offset,
            } => write!(f, "committed {partition} {next_offset}"),
            MemberEvent::CommitFailed {
                partition,
                next_offset,
                error,
            } => write!(f, "commit-failed {partition} {next_offset} {error}"),
            MemberEvent::RebalanceError(e) => write!(f, "rebalance-error {e}"),
            MemberEvent::Error(e) => write!(f, "error {e}"),
            MemberEvent::Closed => write!(f, "closed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let events = [
            MemberEvent::Assignment {
                generation: 3,
                member_id: "rdkafka-1f2e".to_string(),
                partitions: vec![0, 4, 5],
            },
            MemberEvent::Assignment {
                generation: -1,
                member_id: "-".to_string(),
                partitions: vec![],
            },
            MemberEvent::Record {
                partition: 2,
                offset: 41,
                key: "k-17".to_string(),
            },
            MemberEvent::Committed {
                partition: 2,
                next_offset: 42,
            },
            MemberEvent::CommitFailed {
                partition: 2,
                next_offset: 42,
                error: "Broker: Specified group generation id is not valid".to_string(),
            },
            MemberEvent::RebalanceError("Local: something".to_string()),
            MemberEvent::Error("Broker: transport failure".to_string()),
            MemberEvent::Closed,
        ];
        for event in events {
            assert_eq!(MemberEvent::parse(&event.to_string()), Some(event));
        }
        assert_eq!(MemberEvent::parse("running 1 test"), None);
        assert_eq!(MemberEvent::parse("committed 1 2 3"), None);
        assert_eq!(MemberEvent::parse("record 1 x k"), None);
    }
}
