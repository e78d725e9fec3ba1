//! Consumer group administration: FindCoordinator, ListGroups, DescribeGroups,
//! OffsetFetch, OffsetCommit and DeleteGroups, and the decoding of the `consumer`
//! protocol's member assignment; share groups' ShareGroupDescribe and
//! DescribeShareGroupOffsets (KIP-932).
//!
//! Every call but ListGroups must reach the group's coordinator:
//! [`super::Cluster::coordinator`] finds it and returns a connection to it. ListGroups is
//! answered by each broker for the groups it coordinates.

use bytes::Bytes;
use kafka_protocol::messages::{
    offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
    offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    },
    ApiKey, DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId,
    ListGroupsRequest, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{check, versions, ClientError, Connection, KafkaError};

/// FindCoordinator's `key_type` of a group.
const KEY_TYPE_GROUP: i8 = 0;

fn group_id(name: &str) -> GroupId {
    GroupId(StrBytes::from_string(name.to_string()))
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// The broker coordinating a group, as FindCoordinator names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

impl CoordinatorInfo {
    /// `HOST:PORT`, bracketing an IPv6 host.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One group, as ListGroups lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// `consumer`, `connect`, ...; empty for a group that only has committed offsets.
    pub protocol_type: String,
    /// Kafka's state name (`Stable`); `None` from brokers before ListGroups v4.
    pub state: Option<String>,
    /// `classic` or `consumer` (KIP-848); `None` from brokers before ListGroups v5.
    pub group_type: Option<String>,
}

/// One member, as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub member_id: String,
    /// The static member's instance id (KIP-345), if any.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The member's metadata for the group's protocol (opaque to the coordinator).
    pub metadata: Bytes,
    /// The member's assignment (opaque; see [`decode_consumer_assignment`]); empty until
    /// the group is Stable.
    pub assignment: Bytes,
}

/// One group, as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// Kafka's state name: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable`,
    /// or `Dead` for a group that does not exist.
    pub state: String,
    pub protocol_type: String,
    /// The protocol the members agreed on (the assignor, for `consumer` groups).
    pub protocol: String,
    pub members: Vec<GroupMember>,
}

/// A share group (KIP-932), as ShareGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGroupInfo {
    pub group_id: String,
    /// `Empty` or `Stable`.
    pub state: String,
    pub group_epoch: i32,
    pub members: Vec<ShareMemberInfo>,
}

/// One member of a share group: its partitions as (topic name, partitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareMemberInfo {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// A committed offset, as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    /// -1 when nothing is committed.
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: Option<String>,
}

impl Connection {
    /// FindCoordinator for a group. Errors (COORDINATOR_NOT_AVAILABLE while the
    /// coordinator loads, ...) are returned as they are: see
    /// [`super::Cluster::coordinator`] for the retrying lookup.
    pub async fn find_coordinator(&mut self, group: &str) -> Result<CoordinatorInfo, ClientError> {
        let version = self.version(ApiKey::FindCoordinator, versions::FIND_COORDINATOR)?;
        let mut request = FindCoordinatorRequest::default();
        // key_type: v1+. Its default (0) is a group.
        if version >= 1 {
            request.key_type = KEY_TYPE_GROUP;
        }
        let context = || format!("finding the coordinator of group `{group}`");
        // v4+ (KIP-699): a batch of keys.
        if version >= 4 {
            request.coordinator_keys = vec![StrBytes::from_string(group.to_string())];
            let response = self.call(version, &request).await?;
            let c = response
                .coordinators
                .iter()
                .find(|c| c.key.as_str() == group)
                .ok_or_else(|| {
                    self.protocol(format!("FindCoordinator answered without `{group}`"))
                })?;
            check(c.error_code, c.error_message.as_ref(), context)?;
            return Ok(CoordinatorInfo {
                node_id: c.node_id.0,
                host: c.host.to_string(),
                port: c.port,
            });
        }
        request.key = StrBytes::from_string(group.to_string());
        let response = self.call(version, &request).await?;
        check(
            response.error_code,
            response.error_message.as_ref(),
            context,
        )?;
        Ok(CoordinatorInfo {
            node_id: response.node_id.0,
            host: response.host.to_string(),
            port: response.port,
        })
    }

    /// ListGroups: the groups this broker coordinates.
    pub async fn list_groups(&mut self) -> Result<Vec<GroupListing>, ClientError> {
        let version = self.version(ApiKey::ListGroups, versions::LIST_GROUPS)?;
        let response = self.call(version, &ListGroupsRequest::default()).await?;
        check(response.error_code, None, || {
            format!("listing the groups of {}", self.address())
        })?;
        Ok(response
            .groups
            .iter()
            .map(|g| GroupListing {
                group_id: g.group_id.0.to_string(),
                protocol_type: g.protocol_type.to_string(),
                // group_state: v4+ (KIP-518); group_type: v5+ (KIP-848).
                state: (version >= 4).then(|| g.group_state.to_string()),
                group_type: (version >= 5).then(|| g.group_type.to_string()),
            })
            .collect())
    }

    /// DescribeGroups of `groups`, which this broker must coordinate; the answers in the
    /// order asked. A group that does not exist comes back `Dead` with no members.
    pub async fn describe_groups(
        &mut self,
        groups: &[&str],
    ) -> Result<Vec<GroupDescription>, ClientError> {
        let version = self.version(ApiKey::DescribeGroups, versions::DESCRIBE_GROUPS)?;
        let request = DescribeGroupsRequest::default()
            .with_groups(groups.iter().map(|g| group_id(g)).collect());
        let response = self.call(version, &request).await?;
        let mut out = Vec::with_capacity(groups.len());
        for name in groups {
            let g = response
                .groups
                .iter()
                .find(|g| g.group_id.0.as_str() == *name)
                .ok_or_else(|| {
                    self.protocol(format!("DescribeGroups answered without `{name}`"))
                })?;
            check(g.error_code, g.error_message.as_ref(), || {
                format!("describing group `{name}`")
            })?;
            out.push(GroupDescription {
                group_id: name.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
                protocol: g.protocol_data.to_string(),
                members: g
                    .members
                    .iter()
                    .map(|m| GroupMember {
                        member_id: m.member_id.to_string(),
                        group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                        client_id: m.client_id.to_string(),
                        client_host: m.client_host.to_string(),
                        metadata: m.member_metadata.clone(),
                        assignment: m.member_assignment.clone(),
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    /// ShareGroupDescribe of one group; `None` when it is not a share group
    /// (GROUP_ID_NOT_FOUND).
    pub async fn share_group_describe(
        &mut self,
        group: &str,
    ) -> Result<Option<ShareGroupInfo>, ClientError> {
        use kafka_protocol::messages::ShareGroupDescribeRequest;
        let version = self.version(ApiKey::ShareGroupDescribe, versions::SHARE_GROUP_DESCRIBE)?;
        let request = ShareGroupDescribeRequest::default().with_group_ids(vec![group_id(group)]);
        let response = self.call(version, &request).await?;
        let g = response
            .groups
            .iter()
            .find(|g| g.group_id.0.as_str() == group)
            .ok_or_else(|| {
                self.protocol(format!("ShareGroupDescribe answered without `{group}`"))
            })?;
        if g.error_code == kafka_protocol::ResponseError::GroupIdNotFound.code() {
            return Ok(None);
        }
        check(g.error_code, g.error_message.as_ref(), || {
            format!("describing share group `{group}`")
        })?;
        Ok(Some(ShareGroupInfo {
            group_id: group.to_string(),
            state: g.group_state.to_string(),
            group_epoch: g.group_epoch,
            members: g
                .members
                .iter()
                .map(|m| ShareMemberInfo {
                    member_id: m.member_id.to_string(),
                    client_id: m.client_id.to_string(),
                    client_host: m.client_host.to_string(),
                    assignment: m
                        .assignment
                        .topic_partitions
                        .iter()
                        .map(|t| (t.topic_name.0.to_string(), t.partitions.clone()))
                        .collect(),
                })
                .collect(),
        }))
    }

    /// DescribeShareGroupOffsets: the start offset of every partition `group` has state
    /// for, as (topic, partition, start offset), sorted.
    pub async fn share_group_offsets(
        &mut self,
        group: &str,
    ) -> Result<Vec<(String, i32, i64)>, ClientError> {
        use kafka_protocol::messages::describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup;
        use kafka_protocol::messages::DescribeShareGroupOffsetsRequest;
        let version = self.version(
            ApiKey::DescribeShareGroupOffsets,
            versions::DESCRIBE_SHARE_GROUP_OFFSETS,
        )?;
        let request = DescribeShareGroupOffsetsRequest::default().with_groups(vec![
            DescribeShareGroupOffsetsRequestGroup::default()
                .with_group_id(group_id(group))
                .with_topics(None),
        ]);
        let response = self.call(version, &request).await?;
        let mut out = Vec::new();
        for g in &response.groups {
            check(g.error_code, g.error_message.as_ref(), || {
                format!("describing the offsets of share group `{group}`")
            })?;
            for t in &g.topics {
                for p in &t.partitions {
                    check(p.error_code, p.error_message.as_ref(), || {
                        format!(
                            "the offset of {}-{}",
                            t.topic_name.0.as_str(),
                            p.partition_index
                        )
                    })?;
                    out.push((
                        t.topic_name.0.to_string(),
                        p.partition_index,
                        p.start_offset,
                    ));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// OffsetFetch: the offsets `group` committed, for `partitions` (topic, partitions)
    /// or, when `None`, every partition it committed. Partitions without a committed
    /// offset come back with offset -1. Sorted by topic and partition.
    pub async fn offset_fetch(
        &mut self,
        group: &str,
        partitions: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<CommittedOffset>, ClientError> {
        let mut range = versions::OFFSET_FETCH;
        if partitions.is_none() {
            // A null topic list ("every committed offset"): v2+.
            range = (*range.start()).max(2)..=*range.end();
        }
        let version = self.version(ApiKey::OffsetFetch, range)?;
        let context = || format!("fetching the committed offsets of group `{group}`");
        let mut out = Vec::new();
        // v8+ (KIP-709): a batch of groups, each with its own error.
        if version >= 8 {
            let topics = partitions.map(|ps| {
                ps.iter()
                    .map(|(t, p)| {
                        OffsetFetchRequestTopics::default()
                            .with_name(topic_name(t))
                            .with_partition_indexes(p.clone())
                    })
                    .collect()
            });
            let request =
                OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                    .with_group_id(group_id(group))
                    .with_topics(topics)]);
            let response = self.call(version, &request).await?;
            let g = response
                .groups
                .iter()
                .find(|g| g.group_id.0.as_str() == group)
                .ok_or_else(|| self.protocol(format!("OffsetFetch answered without `{group}`")))?;
            check(g.error_code, None, context)?;
            for t in &g.topics {
                for p in &t.partitions {
                    check(p.error_code, None, || {
                        format!(
                            "fetching the committed offset of group `{group}` on {}-{}",
                            t.name.0, p.partition_index
                        )
                    })?;
                    out.push(committed(
                        t.name.0.as_str(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata.as_ref(),
                    ));
                }
            }
        } else {
            let topics = partitions.map(|ps| {
                ps.iter()
                    .map(|(t, p)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(topic_name(t))
                            .with_partition_indexes(p.clone())
                    })
                    .collect()
            });
            let request = OffsetFetchRequest::default()
                .with_group_id(group_id(group))
                .with_topics(topics);
            let response = self.call(version, &request).await?;
            // error_code (group-level): v2+.
            if version >= 2 {
                check(response.error_code, None, context)?;
            }
            for t in &response.topics {
                for p in &t.partitions {
                    check(p.error_code, None, || {
                        format!(
                            "fetching the committed offset of group `{group}` on {}-{}",
                            t.name.0, p.partition_index
                        )
                    })?;
                    // committed_leader_epoch: v5+.
                    let epoch = if version >= 5 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    };
                    out.push(committed(
                        t.name.0.as_str(),
                        p.partition_index,
                        p.committed_offset,
                        epoch,
                        p.metadata.as_ref(),
                    ));
                }
            }
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    /// OffsetCommit as a *simple commit*: generation -1 and no member id, which a
    /// coordinator accepts only while the group has no members (Empty, or not existing,
    /// in which case it creates it). `offsets` are (topic, partition, offset). Fails with
    /// the first partition's error, naming how many partitions got one.
    pub async fn commit_offsets_simple(
        &mut self,
        group: &str,
        offsets: &[(String, i32, i64)],
    ) -> Result<(), ClientError> {
        let version = self.version(ApiKey::OffsetCommit, versions::OFFSET_COMMIT)?;
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for (topic, partition, offset) in offsets {
            let p = OffsetCommitRequestPartition::default()
                .with_partition_index(*partition)
                .with_committed_offset(*offset)
                .with_committed_metadata(Some(StrBytes::from_static_str("")));
            match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(vec![p]),
                ),
            }
        }
        // generation_id_or_member_epoch -1, member_id "", retention_time_ms -1 (v2-4: the
        // broker's default): the defaults.
        let request = OffsetCommitRequest::default()
            .with_group_id(group_id(group))
            .with_topics(topics);
        let response = self.call(version, &request).await?;
        let mut first: Option<KafkaError> = None;
        let mut failed = 0usize;
        for t in &response.topics {
            for p in &t.partitions {
                if p.error_code == 0 {
                    continue;
                }
                failed += 1;
                if first.is_none() {
                    first = Some(KafkaError {
                        context: format!(
                            "committing the offset of group `{group}` on {}-{}",
                            t.name.0, p.partition_index
                        ),
                        code: p.error_code,
                        message: None,
                    });
                }
            }
        }
        match first {
            None => Ok(()),
            Some(mut e) => {
                if failed > 1 {
                    e.context = format!("{} (and {} more partitions)", e.context, failed - 1);
                }
                Err(ClientError::Kafka(e))
            }
        }
    }

    /// DeleteGroups of `groups`, which this broker must coordinate: each group's result,
    /// in the order asked.
    pub async fn delete_groups(
        &mut self,
        groups: &[&str],
    ) -> Result<Vec<(String, Result<(), ClientError>)>, ClientError> {
        let version = self.version(ApiKey::DeleteGroups, versions::DELETE_GROUPS)?;
        let request = DeleteGroupsRequest::default()
            .with_groups_names(groups.iter().map(|g| group_id(g)).collect());
        let response = self.call(version, &request).await?;
        let mut out = Vec::with_capacity(groups.len());
        for name in groups {
            let r = response
                .results
                .iter()
                .find(|r| r.group_id.0.as_str() == *name)
                .ok_or_else(|| self.protocol(format!("DeleteGroups answered without `{name}`")))?;
            let result = check(r.error_code, None, || format!("deleting group `{name}`"));
            out.push((name.to_string(), result));
        }
        Ok(out)
    }
}

fn committed(
    topic: &str,
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: Option<&StrBytes>,
) -> CommittedOffset {
    CommittedOffset {
        topic: topic.to_string(),
        partition,
        offset,
        leader_epoch: (leader_epoch >= 0).then_some(leader_epoch),
        metadata: metadata.map(|m| m.to_string()),
    }
}

/// A `consumer` group member's assignment (Kafka's `ConsumerProtocolAssignment`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerAssignment {
    pub version: i16,
    /// (topic, partitions), in the order encoded.
    pub partitions: Vec<(String, Vec<i32>)>,
    /// The assignor's user data, if any.
    pub user_data: Option<Bytes>,
}

/// Decodes a `consumer` group member's assignment:
///
/// ```text
/// version               int16
/// assigned_partitions   int32 count, then per topic:
///     topic             int16 length, UTF-8
///     partitions        int32 count, then int32 each
/// user_data             int32 length (-1 null), bytes      (absent in some encoders)
/// ```
///
/// No version of it is flexible. Bytes after the known fields (a later version's) are
/// ignored. Every length is checked against what is left before anything is allocated,
/// so a bad assignment is an `Err`, never a panic or a large allocation. An empty
/// assignment (a member before its first SyncGroup) decodes to no partitions.
pub fn decode_consumer_assignment(bytes: &[u8]) -> Result<ConsumerAssignment, String> {
    if bytes.is_empty() {
        return Ok(ConsumerAssignment::default());
    }
    let mut r = Reader { buf: bytes, pos: 0 };
    let version = r.i16("version")?;
    if version < 0 {
        return Err(format!("version {version} is negative"));
    }
    let topics = r.count("assigned_partitions", 6)?;
    let mut partitions = Vec::with_capacity(topics);
    for _ in 0..topics {
        let len = r.i16("topic length")?;
        let len = usize::try_from(len).map_err(|_| format!("topic length {len} is negative"))?;
        let raw = r.take(len, "topic")?;
        let topic = std::str::from_utf8(raw)
            .map_err(|_| "a topic name is not UTF-8".to_string())?
            .to_string();
        let n = r.count("partitions", 4)?;
        let mut ps = Vec::with_capacity(n);
        for _ in 0..n {
            ps.push(r.i32("partition")?);
        }
        partitions.push((topic, ps));
    }
    let user_data = if r.remaining() == 0 {
        None
    } else {
        match r.i32("user_data length")? {
            -1 => None,
            len => {
                let len = usize::try_from(len)
                    .map_err(|_| format!("user_data length {len} is negative"))?;
                Some(Bytes::copy_from_slice(r.take(len, "user_data")?))
            }
        }
    };
    Ok(ConsumerAssignment {
        version,
        partitions,
        user_data,
    })
}

/// A bounds-checked big-endian reader.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "{what} needs {n} bytes at byte {} but only {} are left",
                self.pos,
                self.remaining()
            ));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn i16(&mut self, what: &str) -> Result<i16, String> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32, String> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An array count, checked against the bytes left at `min_size` bytes per element.
    fn count(&mut self, what: &str, min_size: usize) -> Result<usize, String> {
        let n = self.i32(what)?;
        let n = usize::try_from(n).map_err(|_| format!("{what} count {n} is negative"))?;
        if n.saturating_mul(min_size) > self.remaining() {
            return Err(format!(
                "{what} count {n} does not fit in the {} bytes left",
                self.remaining()
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes an assignment as Kafka's consumer does.
    fn encode(version: i16, topics: &[(&str, &[i32])], user_data: Option<&[u8]>) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&version.to_be_bytes());
        b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for (t, ps) in topics {
            b.extend_from_slice(&(t.len() as i16).to_be_bytes());
            b.extend_from_slice(t.as_bytes());
            b.extend_from_slice(&(ps.len() as i32).to_be_bytes());
            for p in *ps {
                b.extend_from_slice(&p.to_be_bytes());
            }
        }
        match user_data {
            None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(u) => {
                b.extend_from_slice(&(u.len() as i32).to_be_bytes());
                b.extend_from_slice(u);
            }
        }
        b
    }

    #[test]
    fn assignments_decode() {
        let bytes = encode(3, &[("orders", &[0, 2]), ("audit", &[1])], Some(b"ud"));
        let a = decode_consumer_assignment(&bytes).unwrap();
        assert_eq!(a.version, 3);
        assert_eq!(
            a.partitions,
            vec![
                ("orders".to_string(), vec![0, 2]),
                ("audit".to_string(), vec![1])
            ]
        );
        assert_eq!(a.user_data.as_deref(), Some(&b"ud"[..]));

        let a = decode_consumer_assignment(&encode(0, &[], None)).unwrap();
        assert!(a.partitions.is_empty() && a.user_data.is_none());
        assert_eq!(
            decode_consumer_assignment(&[]).unwrap(),
            ConsumerAssignment::default()
        );
        // No user_data field at all, and trailing bytes of a later version.
        let mut short = encode(1, &[("t", &[5])], None);
        short.truncate(short.len() - 4);
        assert_eq!(
            decode_consumer_assignment(&short).unwrap().partitions[0].1,
            [5]
        );
        let mut long = encode(4, &[("t", &[5])], None);
        long.extend_from_slice(&[0, 0, 0, 0, 9]);
        assert_eq!(decode_consumer_assignment(&long).unwrap().version, 4);
    }

    #[test]
    fn bad_assignments_are_errors_not_panics() {
        let bytes = encode(1, &[("orders", &[0, 1, 2]), ("x", &[7])], Some(b"data"));
        // Every truncation either decodes (cut exactly before user_data) or fails.
        for cut in 1..bytes.len() {
            let _ = decode_consumer_assignment(&bytes[..cut]);
        }
        assert!(decode_consumer_assignment(&bytes[..bytes.len() - 1]).is_err());
        // Huge counts and lengths are refused before allocating.
        let mut huge = 1i16.to_be_bytes().to_vec();
        huge.extend_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_consumer_assignment(&huge)
            .unwrap_err()
            .contains("count"));
        let mut neg = 1i16.to_be_bytes().to_vec();
        neg.extend_from_slice(&(-5i32).to_be_bytes());
        assert!(decode_consumer_assignment(&neg).is_err());
        let mut bad_len = encode(1, &[("t", &[])], None);
        bad_len[6..8].copy_from_slice(&(-2i16).to_be_bytes());
        assert!(decode_consumer_assignment(&bad_len).is_err());
        assert!(decode_consumer_assignment(&(-1i16).to_be_bytes()).is_err());
        // Arbitrary bytes never panic.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..200 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = decode_consumer_assignment(&junk);
        }
    }
}
