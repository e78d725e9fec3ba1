//! The records of a KIP-848 consumer group in `__consumer_offsets` (key versions 3-8), byte
//! for byte as Kafka's group coordinator writes them (`GroupCoordinatorRecordHelpers`), so
//! that a group Kafka wrote loads here and Kafka's tools read what Myelin writes.
//!
//! Keys are as in the parent module: an int16 record type, then classic (int16-length)
//! strings. Every value has a single version, 0, and it is flexible: strings, arrays and
//! bytes carry an unsigned varint of their length + 1 (0 for null), every struct ends with a
//! tagged-field section, and a topic id is a `uuid`, 16 bytes.
//!
//! | key | value fields after the int16 version (0) |
//! |---|---|
//! | 3 `ConsumerGroupMetadata` | epoch int32; tag 0: metadataHash int64 (Kafka 4.1+, 0 when absent) |
//! | 4 `ConsumerGroupPartitionMetadata` | topics []{topicId uuid, topicName string, numPartitions int32, partitionMetadata []{partition int32, racks []string}} |
//! | 5 `ConsumerGroupMemberMetadata` | instanceId string?, rackId string?, clientId string, clientHost string, subscribedTopicNames []string, subscribedTopicRegex string?, rebalanceTimeoutMs int32, serverAssignor string?; tag 0: classicMemberMetadata |
//! | 6 `ConsumerGroupTargetAssignmentMetadata` | assignmentEpoch int32 |
//! | 7 `ConsumerGroupTargetAssignmentMember` | topicPartitions []{topicId uuid, partitions []int32} |
//! | 8 `ConsumerGroupCurrentMemberAssignment` | memberEpoch int32, previousMemberEpoch int32, state int8, assignedPartitions []{topicId uuid, partitions []int32}, partitionsPendingRevocation (same) |
//!
//! (`?` marks a nullable string; every `[]{...}` element ends with its own tag section.)
//!
//! A null value is a tombstone, as for the other record types: [`ConsumerGroupRecord`] carries
//! the value as an `Option`. Decoding is bounded like the parent module's: no count is used
//! to size anything before it is checked against the bytes that remain.

use bytes::Bytes;

use super::{Reader, RecordError, Result, Writer};
use crate::consumer::{Assignment, TopicId};

#[cfg(test)]
mod tests;

/// `ConsumerGroupMetadataKey`: the group epoch.
pub const CONSUMER_GROUP_METADATA_KEY_VERSION: i16 = 3;
/// `ConsumerGroupPartitionMetadataKey`: the subscribed topics' metadata.
pub const CONSUMER_GROUP_PARTITION_METADATA_KEY_VERSION: i16 = 4;
/// `ConsumerGroupMemberMetadataKey`: a member's subscription and client details.
pub const CONSUMER_GROUP_MEMBER_METADATA_KEY_VERSION: i16 = 5;
/// `ConsumerGroupTargetAssignmentMetadataKey`: the target assignment's epoch.
pub const CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_KEY_VERSION: i16 = 6;
/// `ConsumerGroupTargetAssignmentMemberKey`: a member's target assignment.
pub const CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_KEY_VERSION: i16 = 7;
/// `ConsumerGroupCurrentMemberAssignmentKey`: a member's epochs and current assignment.
pub const CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_KEY_VERSION: i16 = 8;
/// The one version of every KIP-848 value; it is flexible.
pub const CONSUMER_GROUP_VALUE_VERSION: i16 = 0;

/// `ConsumerGroupMetadataValue.MetadataHash` (Kafka 4.1+, KIP-1101): tagged field 0.
const METADATA_HASH_TAG: u32 = 0;
/// `ConsumerGroupMemberMetadataValue.ClassicMemberMetadata`: tagged field 0.
const CLASSIC_MEMBER_METADATA_TAG: u32 = 0;
/// The fewest bytes a `PartitionMetadataTopic` takes: uuid, compact name, int32, compact
/// array, tag section.
const MIN_TOPIC_METADATA_BYTES: usize = 16 + 1 + 4 + 1 + 1;
/// The fewest bytes a `PartitionRacks` takes: int32, compact array, tag section.
const MIN_PARTITION_RACKS_BYTES: usize = 4 + 1 + 1;

// ----- Keys ---------------------------------------------------------------------------

fn encode_key(
    version: i16,
    group_field: &'static str,
    group: &str,
    member: Option<(&'static str, &str)>,
) -> Result<Bytes> {
    let mut w = Writer::new(version, false);
    w.string(group_field, group)?;
    if let Some((member_field, member_id)) = member {
        w.string(member_field, member_id)?;
    }
    Ok(w.finish())
}

/// The key of a consumer group's epoch record (type 3).
pub fn encode_consumer_group_metadata_key(group: &str) -> Result<Bytes> {
    encode_key(
        CONSUMER_GROUP_METADATA_KEY_VERSION,
        "ConsumerGroupMetadataKey.groupId",
        group,
        None,
    )
}

/// The key of a consumer group's subscription metadata record (type 4).
pub fn encode_consumer_group_partition_metadata_key(group: &str) -> Result<Bytes> {
    encode_key(
        CONSUMER_GROUP_PARTITION_METADATA_KEY_VERSION,
        "ConsumerGroupPartitionMetadataKey.groupId",
        group,
        None,
    )
}

/// The key of a member's metadata record (type 5).
pub fn encode_consumer_group_member_metadata_key(group: &str, member_id: &str) -> Result<Bytes> {
    encode_key(
        CONSUMER_GROUP_MEMBER_METADATA_KEY_VERSION,
        "ConsumerGroupMemberMetadataKey.groupId",
        group,
        Some(("ConsumerGroupMemberMetadataKey.memberId", member_id)),
    )
}

/// The key of a consumer group's target assignment epoch record (type 6).
pub fn encode_consumer_group_target_assignment_metadata_key(group: &str) -> Result<Bytes> {
    encode_key(
        CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_KEY_VERSION,
        "ConsumerGroupTargetAssignmentMetadataKey.groupId",
        group,
        None,
    )
}

/// The key of a member's target assignment record (type 7).
pub fn encode_consumer_group_target_assignment_member_key(
    group: &str,
    member_id: &str,
) -> Result<Bytes> {
    encode_key(
        CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_KEY_VERSION,
        "ConsumerGroupTargetAssignmentMemberKey.groupId",
        group,
        Some(("ConsumerGroupTargetAssignmentMemberKey.memberId", member_id)),
    )
}

/// The key of a member's current assignment record (type 8).
pub fn encode_consumer_group_current_member_assignment_key(
    group: &str,
    member_id: &str,
) -> Result<Bytes> {
    encode_key(
        CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_KEY_VERSION,
        "ConsumerGroupCurrentMemberAssignmentKey.groupId",
        group,
        Some((
            "ConsumerGroupCurrentMemberAssignmentKey.memberId",
            member_id,
        )),
    )
}

// ----- Whole records ------------------------------------------------------------------

/// One record of a KIP-848 consumer group, without its group id (which the key holds and
/// the caller knows): what the key names besides the group, and the value, None for a
/// tombstone. [`crate::consumer::ConsumerGroup::records`] produces them and
/// [`crate::consumer::ConsumerGroupBuilder::replay`] applies them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerGroupRecord {
    /// Type 3: the group epoch. A tombstone deletes the group.
    Metadata {
        value: Option<ConsumerGroupMetadataValue>,
    },
    /// Type 4: the subscribed topics' metadata. A tombstone clears it.
    PartitionMetadata {
        value: Option<ConsumerGroupPartitionMetadataValue>,
    },
    /// Type 5: a member's subscription and client details. A tombstone removes the member.
    MemberMetadata {
        member_id: String,
        value: Option<ConsumerGroupMemberMetadataValue>,
    },
    /// Type 6: the target assignment's epoch. A tombstone (written when the group is
    /// deleted) sets it to -1.
    TargetAssignmentMetadata {
        value: Option<ConsumerGroupTargetAssignmentMetadataValue>,
    },
    /// Type 7: a member's target assignment. A tombstone removes it.
    TargetAssignmentMember {
        member_id: String,
        value: Option<ConsumerGroupTargetAssignmentMemberValue>,
    },
    /// Type 8: a member's epochs, state and current assignment. A tombstone (written when
    /// the member is removed) leaves it at epoch -1 with nothing assigned.
    CurrentMemberAssignment {
        member_id: String,
        value: Option<ConsumerGroupCurrentMemberAssignmentValue>,
    },
}

impl ConsumerGroupRecord {
    /// The key version, which is the record type.
    pub fn key_version(&self) -> i16 {
        match self {
            ConsumerGroupRecord::Metadata { .. } => CONSUMER_GROUP_METADATA_KEY_VERSION,
            ConsumerGroupRecord::PartitionMetadata { .. } => {
                CONSUMER_GROUP_PARTITION_METADATA_KEY_VERSION
            }
            ConsumerGroupRecord::MemberMetadata { .. } => {
                CONSUMER_GROUP_MEMBER_METADATA_KEY_VERSION
            }
            ConsumerGroupRecord::TargetAssignmentMetadata { .. } => {
                CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA_KEY_VERSION
            }
            ConsumerGroupRecord::TargetAssignmentMember { .. } => {
                CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER_KEY_VERSION
            }
            ConsumerGroupRecord::CurrentMemberAssignment { .. } => {
                CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT_KEY_VERSION
            }
        }
    }

    /// The member the record is about (types 5, 7 and 8).
    pub fn member_id(&self) -> Option<&str> {
        match self {
            ConsumerGroupRecord::MemberMetadata { member_id, .. }
            | ConsumerGroupRecord::TargetAssignmentMember { member_id, .. }
            | ConsumerGroupRecord::CurrentMemberAssignment { member_id, .. } => Some(member_id),
            ConsumerGroupRecord::Metadata { .. }
            | ConsumerGroupRecord::PartitionMetadata { .. }
            | ConsumerGroupRecord::TargetAssignmentMetadata { .. } => None,
        }
    }

    /// Whether the record is a tombstone (its value is null).
    pub fn is_tombstone(&self) -> bool {
        match self {
            ConsumerGroupRecord::Metadata { value } => value.is_none(),
            ConsumerGroupRecord::PartitionMetadata { value } => value.is_none(),
            ConsumerGroupRecord::MemberMetadata { value, .. } => value.is_none(),
            ConsumerGroupRecord::TargetAssignmentMetadata { value } => value.is_none(),
            ConsumerGroupRecord::TargetAssignmentMember { value, .. } => value.is_none(),
            ConsumerGroupRecord::CurrentMemberAssignment { value, .. } => value.is_none(),
        }
    }

    /// The record's key in group `group`.
    pub fn encode_key(&self, group: &str) -> Result<Bytes> {
        match self {
            ConsumerGroupRecord::Metadata { .. } => encode_consumer_group_metadata_key(group),
            ConsumerGroupRecord::PartitionMetadata { .. } => {
                encode_consumer_group_partition_metadata_key(group)
            }
            ConsumerGroupRecord::MemberMetadata { member_id, .. } => {
                encode_consumer_group_member_metadata_key(group, member_id)
            }
            ConsumerGroupRecord::TargetAssignmentMetadata { .. } => {
                encode_consumer_group_target_assignment_metadata_key(group)
            }
            ConsumerGroupRecord::TargetAssignmentMember { member_id, .. } => {
                encode_consumer_group_target_assignment_member_key(group, member_id)
            }
            ConsumerGroupRecord::CurrentMemberAssignment { member_id, .. } => {
                encode_consumer_group_current_member_assignment_key(group, member_id)
            }
        }
    }

    /// The record's key in group `group` and its value (None for a tombstone), as they go
    /// into a record batch.
    pub fn encode(&self, group: &str) -> Result<(Bytes, Option<Bytes>)> {
        Ok((self.encode_key(group)?, self.encode_value()?))
    }

    /// The record's value; None for a tombstone.
    pub fn encode_value(&self) -> Result<Option<Bytes>> {
        match self {
            ConsumerGroupRecord::Metadata { value } => value.as_ref().map(|v| v.encode()),
            ConsumerGroupRecord::PartitionMetadata { value } => value.as_ref().map(|v| v.encode()),
            ConsumerGroupRecord::MemberMetadata { value, .. } => value.as_ref().map(|v| v.encode()),
            ConsumerGroupRecord::TargetAssignmentMetadata { value } => {
                value.as_ref().map(|v| v.encode())
            }
            ConsumerGroupRecord::TargetAssignmentMember { value, .. } => {
                value.as_ref().map(|v| v.encode())
            }
            ConsumerGroupRecord::CurrentMemberAssignment { value, .. } => {
                value.as_ref().map(|v| v.encode())
            }
        }
        .transpose()
    }
}

// ----- Values -------------------------------------------------------------------------

/// A writer for a KIP-848 value: version 0, flexible.
fn value_writer() -> Writer {
    Writer::new(CONSUMER_GROUP_VALUE_VERSION, true)
}

/// A reader past a KIP-848 value's version, which must be 0 (Kafka fails the load on a
/// version it does not know; so do we, for this record).
fn value_reader<'a>(
    record: &'static str,
    version_field: &'static str,
    value: &'a [u8],
) -> Result<Reader<'a>> {
    let mut r = Reader::new(value, false);
    let version = r.i16(version_field)?;
    if version != CONSUMER_GROUP_VALUE_VERSION {
        return Err(RecordError::UnsupportedVersion {
            record,
            version,
            max: CONSUMER_GROUP_VALUE_VERSION,
        });
    }
    r.flexible = true;
    Ok(r)
}

/// `ConsumerGroupMetadataValue` (type 3): the group epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerGroupMetadataValue {
    pub epoch: i32,
    /// Kafka 4.1+ (KIP-1101): a hash of the subscribed topics' metadata, which Kafka compares
    /// with its own on the next heartbeat to detect a metadata change. Tagged field 0, left
    /// out when 0 (the default: unknown). Myelin writes 0: it detects changes from the
    /// partition metadata record instead, and a Kafka broker reading 0 recomputes the hash
    /// and bumps the group epoch once.
    pub metadata_hash: i64,
}

impl ConsumerGroupMetadataValue {
    pub fn encode(&self) -> Result<Bytes> {
        let mut w = value_writer();
        w.i32(self.epoch);
        let hash = self.metadata_hash.to_be_bytes();
        let tagged: &[(u32, &[u8])] = if self.metadata_hash == 0 {
            &[]
        } else {
            &[(METADATA_HASH_TAG, &hash)]
        };
        w.tagged_fields_with("ConsumerGroupMetadataValue tagged fields", tagged)?;
        Ok(w.finish())
    }

    pub fn decode(value: &[u8]) -> Result<Self> {
        let mut r = value_reader(
            "ConsumerGroupMetadataValue",
            "ConsumerGroupMetadataValue version",
            value,
        )?;
        let epoch = r.i32("ConsumerGroupMetadataValue.epoch")?;
        let mut metadata_hash = 0;
        r.tagged_fields_with("ConsumerGroupMetadataValue tagged fields", |tag, bytes| {
            if tag == METADATA_HASH_TAG {
                metadata_hash = i64::from_be_bytes(bytes.try_into().map_err(|_| {
                    RecordError::InvalidLength {
                        field: "ConsumerGroupMetadataValue.metadataHash",
                        len: bytes.len() as i64,
                    }
                })?);
            }
            Ok(())
        })?;
        Ok(ConsumerGroupMetadataValue {
            epoch,
            metadata_hash,
        })
    }
}

/// `ConsumerGroupPartitionMetadataValue` (type 4): the subscribed topics that exist, as the
/// group last saw them; a change bumps the group epoch. Kafka 4.1+ replaces it with the
/// metadata hash but still reads it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupPartitionMetadataValue {
    pub topics: Vec<PartitionMetadataTopic>,
}

/// One topic of a [`ConsumerGroupPartitionMetadataValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadataTopic {
    pub topic_id: TopicId,
    pub topic_name: String,
    pub num_partitions: i32,
    /// The racks of each partition (rack-aware assignment before Kafka 4.0; empty when no
    /// partition has rack information, and always empty from Myelin).
    pub partition_racks: Vec<PartitionRacks>,
}

/// The racks of one partition's replicas, in a [`PartitionMetadataTopic`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRacks {
    pub partition: i32,
    pub racks: Vec<String>,
}

impl ConsumerGroupPartitionMetadataValue {
    pub fn encode(&self) -> Result<Bytes> {
        let mut w = value_writer();
        w.array_len(
            "ConsumerGroupPartitionMetadataValue.topics",
            self.topics.len(),
        )?;
        for t in &self.topics {
            w.uuid(t.topic_id.as_bytes());
            w.string("TopicMetadata.topicName", &t.topic_name)?;
            w.i32(t.num_partitions);
            w.array_len("TopicMetadata.partitionMetadata", t.partition_racks.len())?;
            for p in &t.partition_racks {
                w.i32(p.partition);
                write_strings(&mut w, "PartitionMetadata.racks", &p.racks)?;
                w.tagged_fields();
            }
            w.tagged_fields();
        }
        w.tagged_fields();
        Ok(w.finish())
    }

    pub fn decode(value: &[u8]) -> Result<Self> {
        let mut r = value_reader(
            "ConsumerGroupPartitionMetadataValue",
            "ConsumerGroupPartitionMetadataValue version",
            value,
        )?;
        let count = r.array_len("ConsumerGroupPartitionMetadataValue.topics")?;
        let mut topics = Vec::with_capacity(count.min(r.remaining() / MIN_TOPIC_METADATA_BYTES));
        for _ in 0..count {
            let topic_id = TopicId(r.uuid("TopicMetadata.topicId")?);
            let topic_name = r.string("TopicMetadata.topicName")?;
            let num_partitions = r.i32("TopicMetadata.numPartitions")?;
            let count = r.array_len("TopicMetadata.partitionMetadata")?;
            let mut partition_racks =
                Vec::with_capacity(count.min(r.remaining() / MIN_PARTITION_RACKS_BYTES));
            for _ in 0..count {
                let partition = r.i32("PartitionMetadata.partition")?;
                let racks = read_strings(&mut r, "PartitionMetadata.racks")?;
                r.tagged_fields("PartitionMetadata tagged fields")?;
                partition_racks.push(PartitionRacks { partition, racks });
            }
            r.tagged_fields("TopicMetadata tagged fields")?;
            topics.push(PartitionMetadataTopic {
                topic_id,
                topic_name,
                num_partitions,
                partition_racks,
            });
        }
        r.tagged_fields("ConsumerGroupPartitionMetadataValue tagged fields")?;
        Ok(ConsumerGroupPartitionMetadataValue { topics })
    }
}

/// `ConsumerGroupMemberMetadataValue` (type 5): what a member sent about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupMemberMetadataValue {
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Sorted, as Kafka writes them.
    pub subscribed_topic_names: Vec<String>,
    /// A regular-expression subscription (Kafka 4.0+). Myelin refuses them, so it writes
    /// null; a group Kafka wrote with one loads without it.
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    /// The server assignor the member named, if any.
    pub server_assignor: Option<String>,
    /// Tagged field 0, as read: the metadata of a member that uses the classic protocol
    /// inside a consumer group (Kafka's online upgrade). Myelin has no such members and
    /// writes none; one read from Kafka's records is kept as bytes so that it is written
    /// back unchanged, and the member loads as a consumer-protocol member.
    pub classic_member_metadata: Option<Bytes>,
}

impl ConsumerGroupMemberMetadataValue {
    pub fn encode(&self) -> Result<Bytes> {
        let mut w = value_writer();
        w.nullable_string(
            "ConsumerGroupMemberMetadataValue.instanceId",
            self.instance_id.as_deref(),
        )?;
        w.nullable_string(
            "ConsumerGroupMemberMetadataValue.rackId",
            self.rack_id.as_deref(),
        )?;
        w.string("ConsumerGroupMemberMetadataValue.clientId", &self.client_id)?;
        w.string(
            "ConsumerGroupMemberMetadataValue.clientHost",
            &self.client_host,
        )?;
        write_strings(
            &mut w,
            "ConsumerGroupMemberMetadataValue.subscribedTopicNames",
            &self.subscribed_topic_names,
        )?;
        w.nullable_string(
            "ConsumerGroupMemberMetadataValue.subscribedTopicRegex",
            self.subscribed_topic_regex.as_deref(),
        )?;
        w.i32(self.rebalance_timeout_ms);
        w.nullable_string(
            "ConsumerGroupMemberMetadataValue.serverAssignor",
            self.server_assignor.as_deref(),
        )?;
        let tagged: Vec<(u32, &[u8])> = self
            .classic_member_metadata
            .iter()
            .map(|b| (CLASSIC_MEMBER_METADATA_TAG, &b[..]))
            .collect();
        w.tagged_fields_with("ConsumerGroupMemberMetadataValue tagged fields", &tagged)?;
        Ok(w.finish())
    }

    pub fn decode(value: &[u8]) -> Result<Self> {
        let mut r = value_reader(
            "ConsumerGroupMemberMetadataValue",
            "ConsumerGroupMemberMetadataValue version",
            value,
        )?;
        let instance_id = r.nullable_string("ConsumerGroupMemberMetadataValue.instanceId")?;
        let rack_id = r.nullable_string("ConsumerGroupMemberMetadataValue.rackId")?;
        let client_id = r.string("ConsumerGroupMemberMetadataValue.clientId")?;
        let client_host = r.string("ConsumerGroupMemberMetadataValue.clientHost")?;
        let subscribed_topic_names = read_strings(
            &mut r,
            "ConsumerGroupMemberMetadataValue.subscribedTopicNames",
        )?;
        let subscribed_topic_regex =
            r.nullable_string("ConsumerGroupMemberMetadataValue.subscribedTopicRegex")?;
        let rebalance_timeout_ms = r.i32("ConsumerGroupMemberMetadataValue.rebalanceTimeoutMs")?;
        let server_assignor =
            r.nullable_string("ConsumerGroupMemberMetadataValue.serverAssignor")?;
        let mut classic_member_metadata = None;
        r.tagged_fields_with(
            "ConsumerGroupMemberMetadataValue tagged fields",
            |tag, bytes| {
                if tag == CLASSIC_MEMBER_METADATA_TAG {
                    classic_member_metadata = Some(Bytes::copy_from_slice(bytes));
                }
                Ok(())
            },
        )?;
        Ok(ConsumerGroupMemberMetadataValue {
            instance_id,
            rack_id,
            client_id,
            client_host,
            subscribed_topic_names,
            subscribed_topic_regex,
            rebalance_timeout_ms,
            server_assignor,
            classic_member_metadata,
        })
    }
}

/// `ConsumerGroupTargetAssignmentMetadataValue` (type 6): the epoch the target assignment
/// was computed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerGroupTargetAssignmentMetadataValue {
    pub assignment_epoch: i32,
}

impl ConsumerGroupTargetAssignmentMetadataValue {
    pub fn encode(&self) -> Result<Bytes> {
        let mut w = value_writer();
        w.i32(self.assignment_epoch);
        w.tagged_fields();
        Ok(w.finish())
    }

    pub fn decode(value: &[u8]) -> Result<Self> {
        let mut r = value_reader(
            "ConsumerGroupTargetAssignmentMetadataValue",
            "ConsumerGroupTargetAssignmentMetadataValue version",
            value,
        )?;
        let assignment_epoch =
            r.i32("ConsumerGroupTargetAssignmentMetadataValue.assignmentEpoch")?;
        r.tagged_fields("ConsumerGroupTargetAssignmentMetadataValue tagged fields")?;
        Ok(ConsumerGroupTargetAssignmentMetadataValue { assignment_epoch })
    }
}

/// `ConsumerGroupTargetAssignmentMemberValue` (type 7): one member's target assignment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupTargetAssignmentMemberValue {
    pub partitions: Assignment,
}

impl ConsumerGroupTargetAssignmentMemberValue {
    pub fn encode(&self) -> Result<Bytes> {
        let mut w = value_writer();
        write_assignment(
            &mut w,
            "ConsumerGroupTargetAssignmentMemberValue.topicPartitions",
            &self.partitions,
        )?;
        w.tagged_fields();
        Ok(w.finish())
    }

    pub fn decode(value: &[u8]) -> Result<Self> {
        let mut r = value_reader(
            "ConsumerGroupTargetAssignmentMemberValue",
            "ConsumerGroupTargetAssignmentMemberValue version",
            value,
        )?;
        let partitions = read_assignment(
            &mut r,
            "ConsumerGroupTargetAssignmentMemberValue.topicPartitions",
        )?;
        r.tagged_fields("ConsumerGroupTargetAssignmentMemberValue tagged fields")?;
        Ok(ConsumerGroupTargetAssignmentMemberValue { partitions })
    }
}

/// `ConsumerGroupCurrentMemberAssignmentValue` (type 8): where a member is in its
/// reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupCurrentMemberAssignmentValue {
    pub member_epoch: i32,
    /// The epoch a member may still heartbeat with if the response that moved it on was lost.
    pub previous_member_epoch: i32,
    /// Kafka's `MemberState.value()`: 0 STABLE, 1 UNREVOKED_PARTITIONS, 2
    /// UNRELEASED_PARTITIONS (127 UNKNOWN, and anything else, read as is).
    pub state: i8,
    pub assigned_partitions: Assignment,
    pub partitions_pending_revocation: Assignment,
}

impl ConsumerGroupCurrentMemberAssignmentValue {
    pub fn encode(&self) -> Result<Bytes> {
        let mut w = value_writer();
        w.i32(self.member_epoch);
        w.i32(self.previous_member_epoch);
        w.i8(self.state);
        write_assignment(
            &mut w,
            "ConsumerGroupCurrentMemberAssignmentValue.assignedPartitions",
            &self.assigned_partitions,
        )?;
        write_assignment(
            &mut w,
            "ConsumerGroupCurrentMemberAssignmentValue.partitionsPendingRevocation",
            &self.partitions_pending_revocation,
        )?;
        w.tagged_fields();
        Ok(w.finish())
    }

    pub fn decode(value: &[u8]) -> Result<Self> {
        let mut r = value_reader(
            "ConsumerGroupCurrentMemberAssignmentValue",
            "ConsumerGroupCurrentMemberAssignmentValue version",
            value,
        )?;
        let member_epoch = r.i32("ConsumerGroupCurrentMemberAssignmentValue.memberEpoch")?;
        let previous_member_epoch =
            r.i32("ConsumerGroupCurrentMemberAssignmentValue.previousMemberEpoch")?;
        let state = r.i8("ConsumerGroupCurrentMemberAssignmentValue.state")?;
        let assigned_partitions = read_assignment(
            &mut r,
            "ConsumerGroupCurrentMemberAssignmentValue.assignedPartitions",
        )?;
        let partitions_pending_revocation = read_assignment(
            &mut r,
            "ConsumerGroupCurrentMemberAssignmentValue.partitionsPendingRevocation",
        )?;
        r.tagged_fields("ConsumerGroupCurrentMemberAssignmentValue tagged fields")?;
        Ok(ConsumerGroupCurrentMemberAssignmentValue {
            member_epoch,
            previous_member_epoch,
            state,
            assigned_partitions,
            partitions_pending_revocation,
        })
    }
}

// ----- Shared pieces ------------------------------------------------------------------

/// A `[]string`: compact count, then compact strings.
fn write_strings(w: &mut Writer, field: &'static str, strings: &[String]) -> Result<()> {
    w.array_len(field, strings.len())?;
    for s in strings {
        w.string(field, s)?;
    }
    Ok(())
}

fn read_strings(r: &mut Reader<'_>, field: &'static str) -> Result<Vec<String>> {
    let count = r.array_len(field)?;
    // Every string takes at least its one-byte length.
    let mut strings = Vec::with_capacity(count.min(r.remaining()));
    for _ in 0..count {
        strings.push(r.string(field)?);
    }
    Ok(strings)
}

/// Partitions by topic (`[]TopicPartitions`): compact count of topics, then per topic its
/// id (uuid), a compact array of int32 partitions and a tag section. Topics in id order,
/// partitions ascending.
fn write_assignment(w: &mut Writer, field: &'static str, assignment: &Assignment) -> Result<()> {
    w.array_len(field, assignment.topics().count())?;
    for (topic, partitions) in assignment.topics() {
        w.uuid(topic.as_bytes());
        w.array_len(field, partitions.len())?;
        for p in partitions {
            w.i32(*p);
        }
        w.tagged_fields();
    }
    Ok(())
}

/// Reads partitions by topic. Like Kafka's `fromRecord`, a topic listed twice merges and a
/// partition listed twice counts once; a topic with no partitions is no entry at all.
fn read_assignment(r: &mut Reader<'_>, field: &'static str) -> Result<Assignment> {
    let topics = r.array_len(field)?;
    let mut assignment = Assignment::new();
    for _ in 0..topics {
        let topic = TopicId(r.uuid(field)?);
        let partitions = r.array_len(field)?;
        for _ in 0..partitions {
            assignment.insert(topic, r.i32(field)?);
        }
        r.tagged_fields(field)?;
    }
    Ok(assignment)
}
