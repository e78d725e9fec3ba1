//! The records of `__consumer_offsets` that describe classic groups, KIP-848 consumer groups
//! and committed offsets, byte for byte as Kafka writes them, so that Kafka's tools
//! (`kafka-console-consumer.sh --formatter ...OffsetsMessageFormatter`, `kafka-dump-log.sh
//! --offsets-decoder`) read what Myelin writes, and Myelin loads what Kafka wrote.
//!
//! Every key and value starts with an int16 version. Keys (Kafka's `OffsetCommitKey`,
//! `GroupMetadataKey`; since Kafka 4 the version doubles as the record type):
//!
//! | key version | record | fields |
//! |---|---|---|
//! | 0, 1 | offset commit | group string, topic string, partition int32 |
//! | 2 | group metadata | group string |
//! | 3 | KIP-848 consumer group metadata | group string |
//! | 4 | consumer group partition (subscription) metadata | group string |
//! | 5 | consumer group member metadata | group string, member id string |
//! | 6 | consumer group target assignment metadata | group string |
//! | 7 | consumer group target assignment of a member | group string, member id string |
//! | 8 | consumer group current assignment of a member | group string, member id string |
//! | other | share and streams groups, regular expressions, later types | skipped ([`RecordKey::Other`]) |
//!
//! Values (`OffsetCommitValue` v0-4, `GroupMetadataValue` v0-4) are laid out field by field
//! in the functions below and in `docs/on-disk-format.md`. v4 of both is the first flexible
//! version (compact lengths, tagged fields); Kafka (3.x and 4.x) never writes it but reads it,
//! so we read it too. We write what Kafka writes: offset commit key v1, value v3 (v1 when the
//! commit carries its own expire time), group metadata key v2, value v3. The values of the
//! KIP-848 record types 3-8 (one version each, 0, flexible) are in [`consumer`], re-exported
//! here.
//!
//! A null value is a tombstone: it deletes the offset or the group. That is the record's
//! business, not the value's, so values are plain and [`decode_record`] takes an
//! `Option<&[u8]>`.
//!
//! The bytes come from disk and are not trusted: every read is bounds-checked, no length or
//! count is used to allocate before it is checked against the bytes that remain, and every
//! failure is a [`RecordError`], never a panic. Like Kafka's generated readers, decoding
//! ignores bytes after the last field and skips unknown tagged fields; like them it refuses a
//! null where the schema has no nullable version and a string longer than 32767 bytes.

use bytes::{BufMut, Bytes, BytesMut};

use crate::offsets::{CommittedOffset, TopicPartition};

pub mod consumer;
#[cfg(test)]
mod tests;

pub use self::consumer::{
    encode_consumer_group_current_member_assignment_key, encode_consumer_group_member_metadata_key,
    encode_consumer_group_metadata_key, encode_consumer_group_partition_metadata_key,
    encode_consumer_group_target_assignment_member_key,
    encode_consumer_group_target_assignment_metadata_key,
    ConsumerGroupCurrentMemberAssignmentValue, ConsumerGroupMemberMetadataValue,
    ConsumerGroupMetadataValue, ConsumerGroupPartitionMetadataValue, ConsumerGroupRecord,
    ConsumerGroupTargetAssignmentMemberValue, ConsumerGroupTargetAssignmentMetadataValue,
    PartitionMetadataTopic, PartitionRacks,
};

/// The key version Kafka writes for offset commits (`OffsetCommitKey`, record type 1).
pub const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// The key version of group metadata (`GroupMetadataKey`, record type 2).
pub const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// The offset commit value version Kafka writes: the highest non-flexible one.
pub const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// The offset commit value version Kafka writes for a commit with its own expire time: the
/// only one with an `expireTimestamp` field.
pub const OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY: i16 = 1;
/// The group metadata value version Kafka writes (`GROUP_METADATA_VALUE_VERSION`).
pub const GROUP_METADATA_VALUE_VERSION: i16 = 3;

/// The highest value version either schema knows; v4 is also the first flexible one.
const MAX_VALUE_VERSION: i16 = 4;
const FIRST_FLEXIBLE_VERSION: i16 = 4;
/// Kafka's generated code refuses strings longer than this, compact or not.
const MAX_STRING_LEN: usize = 0x7fff;
/// The fewest bytes one member of a group metadata value can take (v4: five one-byte compact
/// lengths, two int32, one empty tag buffer and the instance id's null); bounds the capacity
/// reserved for a member count read from disk.
const MIN_MEMBER_BYTES: usize = 15;
/// A null in Kafka's lengths and counts (after the compact form's minus one).
const NULL_LENGTH: i64 = -1;
/// Kafka's `RecordBatch.NO_PARTITION_LEADER_EPOCH`.
const NO_LEADER_EPOCH: i32 = -1;
/// Kafka's "no timestamp" (`OffsetCommitRequest.DEFAULT_TIMESTAMP`, and the default of
/// `currentStateTimestamp`).
const NO_TIMESTAMP: i64 = -1;

/// Why a `__consumer_offsets` key or value could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The bytes end inside a field.
    #[error("{field}: needs {needed} bytes, only {remaining} remain")]
    Truncated {
        field: &'static str,
        needed: usize,
        remaining: usize,
    },

    /// A value version this schema does not define (Kafka fails the load the same way).
    #[error("{record} version {version} is not supported (0..={max})")]
    UnsupportedVersion {
        record: &'static str,
        version: i16,
        max: i16,
    },

    /// A null where the schema does not allow one.
    #[error("{field} is null, which the schema does not allow")]
    UnexpectedNull { field: &'static str },

    /// A length or count that is negative (other than null), over Kafka's string limit, or
    /// larger than the bytes that remain.
    #[error("{field} has invalid length {len}")]
    InvalidLength { field: &'static str, len: i64 },

    /// An unsigned varint longer than five bytes or above `u32::MAX`.
    #[error("{field}: malformed unsigned varint")]
    MalformedVarint { field: &'static str },

    /// A string that is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 { field: &'static str },

    /// Encoding: a field too long for its length prefix (Kafka refuses it as well).
    #[error("{field} is {len} bytes, more than the {max} the format allows")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
}

type Result<T> = std::result::Result<T, RecordError>;

// ----- Keys ---------------------------------------------------------------------------

/// A decoded `__consumer_offsets` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    /// Key versions 0 and 1: the committed offset of one partition.
    OffsetCommit {
        group: String,
        partition: TopicPartition,
    },
    /// Key version 2: a classic group's metadata.
    GroupMetadata { group: String },
    /// Key version 3: a KIP-848 consumer group's epoch (`ConsumerGroupMetadataKey`).
    ConsumerGroupMetadata { group: String },
    /// Key version 4: the metadata of the topics a consumer group subscribes to
    /// (`ConsumerGroupPartitionMetadataKey`).
    ConsumerGroupPartitionMetadata { group: String },
    /// Key version 5: one consumer group member's subscription and client details
    /// (`ConsumerGroupMemberMetadataKey`).
    ConsumerGroupMemberMetadata { group: String, member_id: String },
    /// Key version 6: the epoch of a consumer group's target assignment
    /// (`ConsumerGroupTargetAssignmentMetadataKey`).
    ConsumerGroupTargetAssignmentMetadata { group: String },
    /// Key version 7: one member's target assignment (`ConsumerGroupTargetAssignmentMemberKey`).
    ConsumerGroupTargetAssignmentMember { group: String, member_id: String },
    /// Key version 8: one member's current assignment and epochs
    /// (`ConsumerGroupCurrentMemberAssignmentKey`).
    ConsumerGroupCurrentMemberAssignment { group: String, member_id: String },
    /// Any other version: share and streams groups, consumer group regular expressions, and
    /// types Kafka adds later. Kafka's loader skips record types it does not know; so does ours.
    Other { version: i16 },
}

/// Decodes a key. Unknown versions are [`RecordKey::Other`], not errors.
pub fn decode_key(key: &[u8]) -> Result<RecordKey> {
    let mut r = Reader::new(key, false);
    let version = r.i16("key version")?;
    Ok(match version {
        0 | 1 => {
            let group = r.string("OffsetCommitKey.group")?;
            let topic = r.string("OffsetCommitKey.topic")?;
            let partition = r.i32("OffsetCommitKey.partition")?;
            RecordKey::OffsetCommit {
                group,
                partition: TopicPartition { topic, partition },
            }
        }
        2 => RecordKey::GroupMetadata {
            group: r.string("GroupMetadataKey.group")?,
        },
        3 => RecordKey::ConsumerGroupMetadata {
            group: r.string("ConsumerGroupMetadataKey.groupId")?,
        },
        4 => RecordKey::ConsumerGroupPartitionMetadata {
            group: r.string("ConsumerGroupPartitionMetadataKey.groupId")?,
        },
        5 => RecordKey::ConsumerGroupMemberMetadata {
            group: r.string("ConsumerGroupMemberMetadataKey.groupId")?,
            member_id: r.string("ConsumerGroupMemberMetadataKey.memberId")?,
        },
        6 => RecordKey::ConsumerGroupTargetAssignmentMetadata {
            group: r.string("ConsumerGroupTargetAssignmentMetadataKey.groupId")?,
        },
        7 => RecordKey::ConsumerGroupTargetAssignmentMember {
            group: r.string("ConsumerGroupTargetAssignmentMemberKey.groupId")?,
            member_id: r.string("ConsumerGroupTargetAssignmentMemberKey.memberId")?,
        },
        8 => RecordKey::ConsumerGroupCurrentMemberAssignment {
            group: r.string("ConsumerGroupCurrentMemberAssignmentKey.groupId")?,
            member_id: r.string("ConsumerGroupCurrentMemberAssignmentKey.memberId")?,
        },
        version => RecordKey::Other { version },
    })
}

/// The key of a partition's committed offset (version 1, as Kafka writes it).
pub fn encode_offset_commit_key(group: &str, partition: &TopicPartition) -> Result<Bytes> {
    let mut w = Writer::new(OFFSET_COMMIT_KEY_VERSION, false);
    w.string("OffsetCommitKey.group", group)?;
    w.string("OffsetCommitKey.topic", &partition.topic)?;
    w.i32(partition.partition);
    Ok(w.finish())
}

/// The key of a group's metadata (version 2).
pub fn encode_group_metadata_key(group: &str) -> Result<Bytes> {
    let mut w = Writer::new(GROUP_METADATA_KEY_VERSION, false);
    w.string("GroupMetadataKey.group", group)?;
    Ok(w.finish())
}

// ----- Whole records ------------------------------------------------------------------

/// A decoded `__consumer_offsets` record, as the loader replays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    /// `value` None (a tombstone) removes the committed offset.
    OffsetCommit {
        group: String,
        partition: TopicPartition,
        value: Option<CommittedOffset>,
    },
    /// `value` None (a tombstone) removes the group (its offsets have their own tombstones).
    GroupMetadata {
        group: String,
        value: Option<GroupMetadataValue>,
    },
    /// One of a KIP-848 consumer group's records (key versions 3-8), tombstones included:
    /// replayed in log order by `consumer::ConsumerGroupBuilder`.
    ConsumerGroup {
        group: String,
        record: ConsumerGroupRecord,
    },
    /// A record type this coordinator does not load; its value is not looked at.
    Other { version: i16 },
}

/// Decodes a record's key and, unless it is a tombstone (`value` None), its value.
pub fn decode_record(key: &[u8], value: Option<&[u8]>) -> Result<GroupRecord> {
    Ok(match decode_key(key)? {
        RecordKey::OffsetCommit { group, partition } => GroupRecord::OffsetCommit {
            group,
            partition,
            value: value.map(decode_offset_commit_value).transpose()?,
        },
        RecordKey::GroupMetadata { group } => GroupRecord::GroupMetadata {
            group,
            value: value.map(GroupMetadataValue::decode).transpose()?,
        },
        RecordKey::ConsumerGroupMetadata { group } => GroupRecord::ConsumerGroup {
            group,
            record: ConsumerGroupRecord::Metadata {
                value: value.map(ConsumerGroupMetadataValue::decode).transpose()?,
            },
        },
        RecordKey::ConsumerGroupPartitionMetadata { group } => GroupRecord::ConsumerGroup {
            group,
            record: ConsumerGroupRecord::PartitionMetadata {
                value: value
                    .map(ConsumerGroupPartitionMetadataValue::decode)
                    .transpose()?,
            },
        },
        RecordKey::ConsumerGroupMemberMetadata { group, member_id } => GroupRecord::ConsumerGroup {
            group,
            record: ConsumerGroupRecord::MemberMetadata {
                member_id,
                value: value
                    .map(ConsumerGroupMemberMetadataValue::decode)
                    .transpose()?,
            },
        },
        RecordKey::ConsumerGroupTargetAssignmentMetadata { group } => GroupRecord::ConsumerGroup {
            group,
            record: ConsumerGroupRecord::TargetAssignmentMetadata {
                value: value
                    .map(ConsumerGroupTargetAssignmentMetadataValue::decode)
                    .transpose()?,
            },
        },
        RecordKey::ConsumerGroupTargetAssignmentMember { group, member_id } => {
            GroupRecord::ConsumerGroup {
                group,
                record: ConsumerGroupRecord::TargetAssignmentMember {
                    member_id,
                    value: value
                        .map(ConsumerGroupTargetAssignmentMemberValue::decode)
                        .transpose()?,
                },
            }
        }
        RecordKey::ConsumerGroupCurrentMemberAssignment { group, member_id } => {
            GroupRecord::ConsumerGroup {
                group,
                record: ConsumerGroupRecord::CurrentMemberAssignment {
                    member_id,
                    value: value
                        .map(ConsumerGroupCurrentMemberAssignmentValue::decode)
                        .transpose()?,
                },
            }
        }
        RecordKey::Other { version } => GroupRecord::Other { version },
    })
}

// ----- Offset commit values -----------------------------------------------------------

/// Encodes a committed offset as Kafka does: v3, or v1 when the commit has its own expire
/// time (v1 is the only version that can say so, at the price of the leader epoch).
///
/// The schema's `metadata` is not nullable: null metadata is written as `""`, as Kafka
/// stores it, and reads back as `Some("")`.
pub fn encode_offset_commit_value(offset: &CommittedOffset) -> Result<Bytes> {
    let version = if offset.expire_timestamp_ms.is_some() {
        OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY
    } else {
        OFFSET_COMMIT_VALUE_VERSION
    };
    encode_offset_commit_value_version(offset, version)
}

/// Encodes a committed offset at `version` (0..=4). Fields the version lacks are dropped,
/// as Kafka drops its "ignorable" fields: the leader epoch before v3, the expire time
/// outside v1.
pub fn encode_offset_commit_value_version(offset: &CommittedOffset, version: i16) -> Result<Bytes> {
    check_value_version("OffsetCommitValue", version)?;
    let mut w = Writer::new(version, version >= FIRST_FLEXIBLE_VERSION);
    w.i64(offset.offset);
    if version >= 3 {
        w.i32(offset.leader_epoch.unwrap_or(NO_LEADER_EPOCH));
    }
    w.string(
        "OffsetCommitValue.metadata",
        offset.metadata.as_deref().unwrap_or(""),
    )?;
    w.i64(offset.commit_timestamp_ms);
    if version == 1 {
        w.i64(offset.expire_timestamp_ms.unwrap_or(NO_TIMESTAMP));
    }
    w.tagged_fields();
    Ok(w.finish())
}

/// Decodes an offset commit value of any version 0..=4 (Kafka's `OffsetAndMetadata.fromRecord`:
/// leader epoch -1 and expire time -1 mean none).
pub fn decode_offset_commit_value(value: &[u8]) -> Result<CommittedOffset> {
    let mut r = Reader::new(value, false);
    let version = r.i16("OffsetCommitValue version")?;
    check_value_version("OffsetCommitValue", version)?;
    r.flexible = version >= FIRST_FLEXIBLE_VERSION;
    let offset = r.i64("OffsetCommitValue.offset")?;
    let leader_epoch = if version >= 3 {
        let epoch = r.i32("OffsetCommitValue.leaderEpoch")?;
        (epoch != NO_LEADER_EPOCH).then_some(epoch)
    } else {
        None
    };
    let metadata = r.string("OffsetCommitValue.metadata")?;
    let commit_timestamp_ms = r.i64("OffsetCommitValue.commitTimestamp")?;
    let expire_timestamp_ms = if version == 1 {
        let at = r.i64("OffsetCommitValue.expireTimestamp")?;
        (at != NO_TIMESTAMP).then_some(at)
    } else {
        None
    };
    r.tagged_fields("OffsetCommitValue tagged fields")?;
    Ok(CommittedOffset {
        offset,
        leader_epoch,
        metadata: Some(metadata),
        commit_timestamp_ms,
        expire_timestamp_ms,
    })
}

// ----- Group metadata values ----------------------------------------------------------

/// A classic group's metadata (Kafka's `GroupMetadataValue`): the current generation and
/// its members with their assignments. Written when a generation's assignment is agreed and
/// when the group becomes Empty; see `ClassicGroup::metadata_value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    /// `consumer`, `connect`, `sr`...; empty when the group never had one.
    pub protocol_type: String,
    pub generation: i32,
    /// The selected protocol (assignor); None for an Empty group.
    pub protocol: Option<String>,
    /// The leader's member id; None for an Empty group.
    pub leader: Option<String>,
    /// When the group entered its current state (v2+, -1 on disk for none): the base of
    /// offset expiry for an Empty group.
    pub current_state_timestamp_ms: Option<i64>,
    pub members: Vec<MemberMetadata>,
}

/// One member in a [`GroupMetadataValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    pub member_id: String,
    /// KIP-345 `group.instance.id` (v3+).
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// v1+; a v0 value reads back with the session timeout here, as Kafka loads it.
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's selected protocol.
    pub subscription: Bytes,
    /// What the leader assigned the member in this generation.
    pub assignment: Bytes,
}

impl GroupMetadataValue {
    /// Encodes the value as Kafka writes it (v3).
    pub fn encode(&self) -> Result<Bytes> {
        self.encode_version(GROUP_METADATA_VALUE_VERSION)
    }

    /// Encodes the value at `version` (0..=4). Fields the version lacks are dropped (the
    /// state timestamp before v2, rebalance timeouts before v1, instance ids before v3).
    pub fn encode_version(&self, version: i16) -> Result<Bytes> {
        check_value_version("GroupMetadataValue", version)?;
        let mut w = Writer::new(version, version >= FIRST_FLEXIBLE_VERSION);
        w.string("GroupMetadataValue.protocolType", &self.protocol_type)?;
        w.i32(self.generation);
        w.nullable_string("GroupMetadataValue.protocol", self.protocol.as_deref())?;
        w.nullable_string("GroupMetadataValue.leader", self.leader.as_deref())?;
        if version >= 2 {
            w.i64(self.current_state_timestamp_ms.unwrap_or(NO_TIMESTAMP));
        }
        w.array_len("GroupMetadataValue.members", self.members.len())?;
        for m in &self.members {
            w.string("MemberMetadata.memberId", &m.member_id)?;
            if version >= 3 {
                w.nullable_string(
                    "MemberMetadata.groupInstanceId",
                    m.group_instance_id.as_deref(),
                )?;
            }
            w.string("MemberMetadata.clientId", &m.client_id)?;
            w.string("MemberMetadata.clientHost", &m.client_host)?;
            if version >= 1 {
                w.i32(m.rebalance_timeout_ms);
            }
            w.i32(m.session_timeout_ms);
            w.bytes("MemberMetadata.subscription", &m.subscription)?;
            w.bytes("MemberMetadata.assignment", &m.assignment)?;
            w.tagged_fields();
        }
        w.tagged_fields();
        Ok(w.finish())
    }

    /// Decodes a group metadata value of any version 0..=4.
    pub fn decode(value: &[u8]) -> Result<Self> {
        let mut r = Reader::new(value, false);
        let version = r.i16("GroupMetadataValue version")?;
        check_value_version("GroupMetadataValue", version)?;
        r.flexible = version >= FIRST_FLEXIBLE_VERSION;
        let protocol_type = r.string("GroupMetadataValue.protocolType")?;
        let generation = r.i32("GroupMetadataValue.generation")?;
        let protocol = r.nullable_string("GroupMetadataValue.protocol")?;
        let leader = r.nullable_string("GroupMetadataValue.leader")?;
        let current_state_timestamp_ms = if version >= 2 {
            let at = r.i64("GroupMetadataValue.currentStateTimestamp")?;
            (at != NO_TIMESTAMP).then_some(at)
        } else {
            None
        };
        let count = r.array_len("GroupMetadataValue.members")?;
        let mut members = Vec::with_capacity(count.min(r.remaining() / MIN_MEMBER_BYTES));
        for _ in 0..count {
            let member_id = r.string("MemberMetadata.memberId")?;
            let group_instance_id = if version >= 3 {
                r.nullable_string("MemberMetadata.groupInstanceId")?
            } else {
                None
            };
            let client_id = r.string("MemberMetadata.clientId")?;
            let client_host = r.string("MemberMetadata.clientHost")?;
            let rebalance_timeout_ms = if version >= 1 {
                Some(r.i32("MemberMetadata.rebalanceTimeout")?)
            } else {
                None
            };
            let session_timeout_ms = r.i32("MemberMetadata.sessionTimeout")?;
            let subscription = r.bytes("MemberMetadata.subscription")?;
            let assignment = r.bytes("MemberMetadata.assignment")?;
            r.tagged_fields("MemberMetadata tagged fields")?;
            members.push(MemberMetadata {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                // Kafka's loader: a v0 member's rebalance timeout is its session timeout.
                rebalance_timeout_ms: rebalance_timeout_ms.unwrap_or(session_timeout_ms),
                session_timeout_ms,
                subscription,
                assignment,
            });
        }
        r.tagged_fields("GroupMetadataValue tagged fields")?;
        Ok(GroupMetadataValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp_ms,
            members,
        })
    }
}

fn check_value_version(record: &'static str, version: i16) -> Result<()> {
    if (0..=MAX_VALUE_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(RecordError::UnsupportedVersion {
            record,
            version,
            max: MAX_VALUE_VERSION,
        })
    }
}

// ----- Primitive types ----------------------------------------------------------------

/// A bounds-checked cursor over untrusted bytes, for Kafka's primitive types in their
/// classic (`flexible` false: int16/int32 lengths, -1 for null) or flexible form (unsigned
/// varint lengths plus one, 0 for null; tagged fields).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    flexible: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], flexible: bool) -> Self {
        Reader { buf, flexible }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8]> {
        if n > self.buf.len() {
            return Err(RecordError::Truncated {
                field,
                needed: n,
                remaining: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    pub(crate) fn i8(&mut self, field: &'static str) -> Result<i8> {
        self.array(field).map(i8::from_be_bytes)
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16> {
        self.array(field).map(i16::from_be_bytes)
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32> {
        self.array(field).map(i32::from_be_bytes)
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64> {
        self.array(field).map(i64::from_be_bytes)
    }

    /// Kafka's unsigned varint: at most five bytes, at most `u32::MAX`.
    pub(crate) fn uvarint(&mut self, field: &'static str) -> Result<u32> {
        let mut value: u64 = 0;
        for i in 0..5 {
            let [b] = self.array::<1>(field)?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(value).map_err(|_| RecordError::MalformedVarint { field });
            }
        }
        Err(RecordError::MalformedVarint { field })
    }

    /// A length or count prefix; None is null.
    pub(crate) fn length(&mut self, field: &'static str, wide: bool) -> Result<Option<usize>> {
        let len = if self.flexible {
            i64::from(self.uvarint(field)?) - 1
        } else if wide {
            i64::from(self.i32(field)?)
        } else {
            i64::from(self.i16(field)?)
        };
        match len {
            NULL_LENGTH => Ok(None),
            len if len < 0 => Err(RecordError::InvalidLength { field, len }),
            // Checked here, before anyone sizes a buffer or a loop by it.
            len if len as u64 > self.remaining() as u64 => {
                Err(RecordError::InvalidLength { field, len })
            }
            len => Ok(Some(len as usize)),
        }
    }

    pub(crate) fn nullable_string(&mut self, field: &'static str) -> Result<Option<String>> {
        let Some(len) = self.length(field, false)? else {
            return Ok(None);
        };
        if len > MAX_STRING_LEN {
            return Err(RecordError::InvalidLength {
                field,
                len: len as i64,
            });
        }
        let raw = self.take(field, len)?;
        std::str::from_utf8(raw)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| RecordError::InvalidUtf8 { field })
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String> {
        self.nullable_string(field)?
            .ok_or(RecordError::UnexpectedNull { field })
    }

    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<Bytes> {
        let len = self
            .length(field, true)?
            .ok_or(RecordError::UnexpectedNull { field })?;
        Ok(Bytes::copy_from_slice(self.take(field, len)?))
    }

    /// A non-nullable array's element count, at most the bytes that remain (every element
    /// takes at least one byte), as Kafka's generated readers check.
    pub(crate) fn array_len(&mut self, field: &'static str) -> Result<usize> {
        self.length(field, true)?
            .ok_or(RecordError::UnexpectedNull { field })
    }

    /// Kafka's `uuid`: 16 bytes, most significant first (a topic id).
    pub(crate) fn uuid(&mut self, field: &'static str) -> Result<[u8; 16]> {
        self.array(field)
    }

    /// Skips a flexible version's tagged fields: all are unknown to the schemas of records
    /// 0-2. Each costs at least two bytes, so the loop ends with the input.
    pub(crate) fn tagged_fields(&mut self, field: &'static str) -> Result<()> {
        self.tagged_fields_with(field, |_, _| Ok(()))
    }

    /// Reads a flexible version's tagged fields, handing each (tag, its bytes) to `field_of`,
    /// which decodes the tags its schema knows and ignores the others (Kafka's generated
    /// readers skip unknown tags). The bytes were checked against the input, like any length.
    pub(crate) fn tagged_fields_with(
        &mut self,
        field: &'static str,
        mut field_of: impl FnMut(u32, &'a [u8]) -> Result<()>,
    ) -> Result<()> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint(field)?;
        for _ in 0..count {
            let tag = self.uvarint(field)?;
            let size = self.uvarint(field)? as usize;
            let bytes = self.take(field, size)?;
            field_of(tag, bytes)?;
        }
        Ok(())
    }
}

/// Writes Kafka's primitive types, classic or flexible, after the int16 version.
pub(crate) struct Writer {
    buf: BytesMut,
    flexible: bool,
}

impl Writer {
    pub(crate) fn new(version: i16, flexible: bool) -> Self {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i16(version);
        Writer { buf, flexible }
    }

    pub(crate) fn finish(self) -> Bytes {
        self.buf.freeze()
    }

    pub(crate) fn i8(&mut self, v: i8) {
        self.buf.put_i8(v);
    }

    pub(crate) fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }

    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }

    pub(crate) fn uuid(&mut self, v: &[u8; 16]) {
        self.buf.put_slice(v);
    }

    pub(crate) fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    /// A length prefix; None is null. `max` is what the classic prefix can hold.
    pub(crate) fn length(
        &mut self,
        field: &'static str,
        len: Option<usize>,
        wide: bool,
        max: usize,
    ) -> Result<()> {
        if let Some(len) = len {
            // A compact length is stored plus one in a u32.
            let limit = if self.flexible {
                max.min(u32::MAX as usize - 1)
            } else {
                max
            };
            if len > limit {
                return Err(RecordError::TooLong {
                    field,
                    len,
                    max: limit,
                });
            }
        }
        match (self.flexible, len) {
            (true, None) => self.uvarint(0),
            (true, Some(len)) => self.uvarint(len as u32 + 1),
            (false, None) if wide => self.buf.put_i32(-1),
            (false, None) => self.buf.put_i16(-1),
            (false, Some(len)) if wide => self.buf.put_i32(len as i32),
            (false, Some(len)) => self.buf.put_i16(len as i16),
        }
        Ok(())
    }

    pub(crate) fn nullable_string(&mut self, field: &'static str, s: Option<&str>) -> Result<()> {
        self.length(field, s.map(str::len), false, MAX_STRING_LEN)?;
        if let Some(s) = s {
            self.buf.put_slice(s.as_bytes());
        }
        Ok(())
    }

    pub(crate) fn string(&mut self, field: &'static str, s: &str) -> Result<()> {
        self.nullable_string(field, Some(s))
    }

    pub(crate) fn bytes(&mut self, field: &'static str, b: &[u8]) -> Result<()> {
        self.length(field, Some(b.len()), true, i32::MAX as usize)?;
        self.buf.put_slice(b);
        Ok(())
    }

    pub(crate) fn array_len(&mut self, field: &'static str, n: usize) -> Result<()> {
        self.length(field, Some(n), true, i32::MAX as usize)
    }

    /// An empty tagged-field section (flexible versions only).
    pub(crate) fn tagged_fields(&mut self) {
        if self.flexible {
            self.uvarint(0);
        }
    }

    /// A tagged-field section holding `fields` (tag, encoded field), in increasing tag order
    /// as Kafka requires; fields at their default are left out by the caller, as Kafka's
    /// generated writers leave them out. Flexible versions only.
    pub(crate) fn tagged_fields_with(
        &mut self,
        field: &'static str,
        fields: &[(u32, &[u8])],
    ) -> Result<()> {
        debug_assert!(
            self.flexible,
            "{field}: tagged fields in a non-flexible version"
        );
        debug_assert!(
            fields.windows(2).all(|w| w[0].0 < w[1].0),
            "{field}: tags out of order"
        );
        self.uvarint(fields.len() as u32);
        for (tag, bytes) in fields {
            let size = u32::try_from(bytes.len()).map_err(|_| RecordError::TooLong {
                field,
                len: bytes.len(),
                max: u32::MAX as usize,
            })?;
            self.uvarint(*tag);
            self.uvarint(size);
            self.buf.put_slice(bytes);
        }
        Ok(())
    }
}
