//! Helpers of the group tests: Kafka's error codes, requests built for the version asked
//! (the codec refuses a field the version does not have), and classic group members, each
//! on its own connection, so that a JoinGroup or SyncGroup the coordinator holds back does
//! not hold back the others.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use myelin_server::Config;

use super::data::name;
use super::{bounded, Client, TestServer};

pub const NONE: i16 = 0;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
pub const ILLEGAL_GENERATION: i16 = 22;
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
pub const INVALID_GROUP_ID: i16 = 24;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const NON_EMPTY_GROUP: i16 = 68;
pub const GROUP_ID_NOT_FOUND: i16 = 69;
pub const MEMBER_ID_REQUIRED: i16 = 79;
pub const FENCED_INSTANCE_ID: i16 = 82;
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;

/// The client id every test request carries (see [`super::request_frame`]).
pub const CLIENT_ID: &str = "myelin-tests";

/// A broker for group tests: the first rebalance of a group does not wait for more members
/// (`group.initial.rebalance.delay.ms` 0) and `__consumer_offsets` has 3 partitions, plus
/// `extra` broker configs.
pub fn config(extra: &[(&str, &str)]) -> Config {
    let mut broker_configs = BTreeMap::from([
        (
            "group.initial.rebalance.delay.ms".to_string(),
            "0".to_string(),
        ),
        ("offsets.topic.num.partitions".to_string(), "3".to_string()),
    ]);
    for (k, v) in extra {
        broker_configs.insert(k.to_string(), v.to_string());
    }
    Config {
        broker_configs,
        ..Config::default()
    }
}

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

pub fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

/// FindCoordinator v3 for a group, which creates `__consumer_offsets` on first use; asserts
/// that this broker coordinates it.
pub async fn find_coordinator(client: &mut Client, group: &str) {
    let request = FindCoordinatorRequest::default()
        .with_key(s(group))
        .with_key_type(0);
    let r: FindCoordinatorResponse = client.call(ApiKey::FindCoordinator, 3, &request).await;
    assert_eq!(r.error_code, NONE, "{r:?}");
}

/// The API versions a Java client pairs with a JoinGroup version: (SyncGroup, Heartbeat,
/// LeaveGroup), each the highest one of the same Kafka release.
pub fn companions(join_version: i16) -> (i16, i16, i16) {
    match join_version {
        0 | 1 => (0, 0, 0),
        2 => (1, 1, 1),
        3 | 4 => (2, 2, 2),
        5 => (3, 3, 3),
        6 => (4, 4, 4),
        7 => (5, 4, 4),
        _ => (5, 4, 5),
    }
}

/// What a member joins with.
#[derive(Debug, Clone)]
pub struct JoinSpec {
    pub protocol_type: String,
    /// In order of preference: name and metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// `group.instance.id` (KIP-345, JoinGroup v5+).
    pub instance: Option<String>,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
}

impl JoinSpec {
    /// A member of protocol type `consumer` offering `protocols`, each with metadata naming
    /// the protocol.
    pub fn consumer(protocols: &[&str]) -> Self {
        Self::of_type(
            "consumer",
            protocols
                .iter()
                .map(|p| (*p, format!("metadata for {p}").into_bytes()))
                .collect(),
        )
    }

    /// A member of `protocol_type` offering `protocols` (name, metadata).
    pub fn of_type(protocol_type: &str, protocols: Vec<(&str, Vec<u8>)>) -> Self {
        JoinSpec {
            protocol_type: protocol_type.to_string(),
            protocols: protocols
                .into_iter()
                .map(|(n, m)| (n.to_string(), Bytes::from(m)))
                .collect(),
            instance: None,
            session_timeout_ms: 30_000,
            rebalance_timeout_ms: 30_000,
        }
    }

    pub fn instance(mut self, id: &str) -> Self {
        self.instance = Some(id.to_string());
        self
    }

    pub fn session(mut self, ms: i32) -> Self {
        self.session_timeout_ms = ms;
        self
    }

    /// The metadata this member offers for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// A JoinGroup request with only the fields `version` has.
pub fn join_request(
    version: i16,
    group: &str,
    member_id: &str,
    spec: &JoinSpec,
) -> JoinGroupRequest {
    let mut r = JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(spec.session_timeout_ms)
        .with_member_id(s(member_id))
        .with_protocol_type(s(&spec.protocol_type))
        .with_protocols(
            spec.protocols
                .iter()
                .map(|(n, m)| {
                    JoinGroupRequestProtocol::default()
                        .with_name(s(n))
                        .with_metadata(m.clone())
                })
                .collect(),
        );
    // rebalance_timeout_ms: v1+.
    if version >= 1 {
        r.rebalance_timeout_ms = spec.rebalance_timeout_ms;
    }
    // group_instance_id: v5+ (KIP-345).
    if version >= 5 {
        r.group_instance_id = spec.instance.as_deref().map(s);
    }
    // reason: v8+ (KIP-800).
    if version >= 8 {
        r.reason = Some(s("test"));
    }
    r
}

pub async fn join(
    client: &mut Client,
    version: i16,
    group: &str,
    member_id: &str,
    spec: &JoinSpec,
) -> JoinGroupResponse {
    let request = join_request(version, group, member_id, spec);
    client.call(ApiKey::JoinGroup, version, &request).await
}

/// Joins as a new member: from v4, without a `group.instance.id`, the first answer is
/// MEMBER_ID_REQUIRED with the id to rejoin with (KIP-394), and this rejoins with it.
pub async fn join_new(
    client: &mut Client,
    version: i16,
    group: &str,
    spec: &JoinSpec,
) -> JoinGroupResponse {
    let first = join(client, version, group, "", spec).await;
    if version >= 4 && spec.instance.is_none() {
        assert_eq!(
            first.error_code, MEMBER_ID_REQUIRED,
            "v{version}: {first:?}"
        );
        assert!(
            first.member_id.starts_with(&format!("{CLIENT_ID}-")),
            "Kafka's member ids are the client id, a dash and a UUID: {:?}",
            first.member_id
        );
        join(client, version, group, &first.member_id, spec).await
    } else {
        first
    }
}

/// A SyncGroup request with only the fields `version` has; v5 names the protocol type and
/// name as the Java client does.
#[allow(clippy::too_many_arguments)]
pub fn sync_request(
    version: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
    protocol: Option<(&str, &str)>,
    assignments: &[(String, Bytes)],
) -> SyncGroupRequest {
    let mut r = SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(a.clone())
                })
                .collect(),
        );
    // group_instance_id: v3+.
    if version >= 3 {
        r.group_instance_id = instance.map(s);
    }
    // protocol_type and protocol_name: v5+ (KIP-559).
    if version >= 5 {
        if let Some((protocol_type, protocol_name)) = protocol {
            r.protocol_type = Some(s(protocol_type));
            r.protocol_name = Some(s(protocol_name));
        }
    }
    r
}

pub async fn heartbeat(
    client: &mut Client,
    version: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    instance: Option<&str>,
) -> i16 {
    let mut request = HeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member_id));
    // group_instance_id: v3+.
    if version >= 3 {
        request.group_instance_id = instance.map(s);
    }
    let r: HeartbeatResponse = client.call(ApiKey::Heartbeat, version, &request).await;
    r.error_code
}

pub async fn describe(
    client: &mut Client,
    version: i16,
    groups: &[&str],
) -> DescribeGroupsResponse {
    let request =
        DescribeGroupsRequest::default().with_groups(groups.iter().map(|g| gid(g)).collect());
    client.call(ApiKey::DescribeGroups, version, &request).await
}

/// The state of one group, by DescribeGroups v5.
pub async fn state_of(client: &mut Client, group: &str) -> String {
    let r = describe(client, 5, &[group]).await;
    assert_eq!(r.groups[0].error_code, NONE);
    r.groups[0].group_state.to_string()
}

/// A member of a classic group, on its own connection.
pub struct Member {
    pub client: Client,
    /// The JoinGroup version it speaks; the other APIs at [`companions`].
    pub version: i16,
    pub group: String,
    pub spec: JoinSpec,
    pub id: String,
    pub generation: i32,
    /// Its last successful JoinGroup answer.
    pub joined: JoinGroupResponse,
    /// Its assignment, once synced.
    pub assignment: Bytes,
}

impl Member {
    /// A member from its successful JoinGroup answer.
    pub fn new(
        client: Client,
        version: i16,
        group: &str,
        spec: JoinSpec,
        joined: JoinGroupResponse,
    ) -> Self {
        assert_eq!(joined.error_code, NONE, "v{version}: {joined:?}");
        Member {
            client,
            version,
            group: group.to_string(),
            spec,
            id: joined.member_id.to_string(),
            generation: joined.generation_id,
            joined,
            assignment: Bytes::new(),
        }
    }

    pub fn is_leader(&self) -> bool {
        self.joined.leader.as_str() == self.id
    }

    /// The protocol the last generation selected.
    pub fn protocol(&self) -> String {
        self.joined
            .protocol_name
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    /// Joins again with its member id (the coordinator holds the answer until the join
    /// phase completes).
    pub async fn rejoin(mut self) -> Self {
        let r = join(
            &mut self.client,
            self.version,
            &self.group,
            &self.id,
            &self.spec,
        )
        .await;
        assert_eq!(r.error_code, NONE, "rejoin of {}: {r:?}", self.id);
        assert_eq!(r.member_id.as_str(), self.id);
        self.generation = r.generation_id;
        self.joined = r;
        self
    }

    pub async fn heartbeat(&mut self) -> i16 {
        let (_, version, _) = companions(self.version);
        heartbeat(
            &mut self.client,
            version,
            &self.group,
            self.generation,
            &self.id,
            self.spec.instance.as_deref(),
        )
        .await
    }

    /// SyncGroup of this generation, with `assignments` (the leader's) or none.
    pub async fn sync(&mut self, assignments: &[(String, Bytes)]) -> SyncGroupResponse {
        let (version, _, _) = companions(self.version);
        let protocol = self.protocol();
        let request = sync_request(
            version,
            &self.group,
            self.generation,
            &self.id,
            self.spec.instance.as_deref(),
            Some((&self.spec.protocol_type, &protocol)),
            assignments,
        );
        self.client.call(ApiKey::SyncGroup, version, &request).await
    }

    /// Heartbeats until the coordinator answers REBALANCE_IN_PROGRESS (another member's
    /// join is in), as a client's heartbeat thread does.
    pub async fn wait_for_rebalance(&mut self) {
        bounded(async {
            loop {
                match self.heartbeat().await {
                    REBALANCE_IN_PROGRESS => return,
                    NONE => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                    other => panic!("heartbeat of {} while waiting: {other}", self.id),
                }
            }
        })
        .await
    }
}

/// The assignment a leader in these tests gives a member: its id, as bytes.
pub fn assignment_for(member_id: &str) -> Bytes {
    Bytes::from(format!("assignment of {member_id}"))
}

/// Runs a future on its own task (a member whose answer the coordinator holds back).
pub fn spawn<T: Send + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::spawn(f)
}

/// A new member joins a group whose members are `members`: its join waits until every
/// current member has rejoined (each told by its heartbeat), then all of them have the new
/// generation. Returns the members in their order, the newcomer last; nobody has synced.
pub async fn add_member(
    server: &TestServer,
    members: Vec<Member>,
    version: i16,
    group: &str,
    spec: JoinSpec,
) -> Vec<Member> {
    let mut client = server.connect().await;
    if members.is_empty() {
        find_coordinator(&mut client, group).await;
        let r = join_new(&mut client, version, group, &spec).await;
        return vec![Member::new(client, version, group, spec, r)];
    }
    let newcomer = {
        let group = group.to_string();
        spawn(async move {
            let r = join_new(&mut client, version, &group, &spec).await;
            Member::new(client, version, &group, spec, r)
        })
    };
    let mut members = members;
    members[0].wait_for_rebalance().await;
    let rejoins: Vec<_> = members.into_iter().map(|m| spawn(m.rejoin())).collect();
    let mut out = Vec::with_capacity(rejoins.len() + 1);
    for r in rejoins {
        out.push(bounded(r).await.unwrap());
    }
    out.push(bounded(newcomer).await.unwrap());
    let generation = out[0].generation;
    assert!(out.iter().all(|m| m.generation == generation));
    out
}

/// Syncs every member of a generation: followers first (their answers wait for the
/// leader's), then the leader with [`assignment_for`] each member. Every member ends with
/// its assignment.
pub async fn sync_all(members: Vec<Member>) -> Vec<Member> {
    let leader_at = members
        .iter()
        .position(Member::is_leader)
        .expect("one member leads");
    let assignments: Vec<(String, Bytes)> = members[leader_at]
        .joined
        .members
        .iter()
        .map(|m| (m.member_id.to_string(), assignment_for(&m.member_id)))
        .collect();
    let mut handles = Vec::new();
    let mut leader = None;
    for (i, m) in members.into_iter().enumerate() {
        if i == leader_at {
            leader = Some(m);
            continue;
        }
        handles.push((
            i,
            spawn(async move {
                let mut m = m;
                let r = m.sync(&[]).await;
                (m, r)
            }),
        ));
    }
    let mut leader = leader.unwrap();
    let r = leader.sync(&assignments).await;
    assert_eq!(r.error_code, NONE, "leader's sync: {r:?}");
    leader.assignment = r.assignment.clone();
    let mut out: Vec<(usize, Member)> = vec![(leader_at, leader)];
    for (i, h) in handles {
        let (mut m, r) = bounded(h).await.unwrap();
        assert_eq!(r.error_code, NONE, "sync of {}: {r:?}", m.id);
        m.assignment = r.assignment.clone();
        out.push((i, m));
    }
    out.sort_by_key(|(i, _)| *i);
    let out: Vec<Member> = out.into_iter().map(|(_, m)| m).collect();
    for m in &out {
        assert_eq!(m.assignment, assignment_for(&m.id));
    }
    out
}

/// A Stable group of `specs`' members (joined one after another, then synced), all speaking
/// JoinGroup `version`.
pub async fn form_group(
    server: &TestServer,
    group: &str,
    version: i16,
    specs: &[JoinSpec],
) -> Vec<Member> {
    let mut members = Vec::new();
    for spec in specs {
        members = add_member(server, members, version, group, spec.clone()).await;
    }
    sync_all(members).await
}

/// An OffsetCommit request with only the fields `version` has: (topic, partition, offset,
/// leader epoch, metadata) each.
pub fn commit_request(
    version: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &[(&str, i32, i64, i32, Option<&str>)],
) -> OffsetCommitRequest {
    let mut by_topic: Vec<(String, Vec<OffsetCommitRequestPartition>)> = Vec::new();
    for &(topic, partition, offset, epoch, metadata) in offsets {
        let mut p = OffsetCommitRequestPartition::default()
            .with_partition_index(partition)
            .with_committed_offset(offset)
            .with_committed_metadata(metadata.map(s));
        // committed_leader_epoch: v6+ (KIP-320).
        if version >= 6 {
            p.committed_leader_epoch = epoch;
        }
        match by_topic.iter_mut().find(|(t, _)| t == topic) {
            Some((_, ps)) => ps.push(p),
            None => by_topic.push((topic.to_string(), vec![p])),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(name(&t))
                        .with_partitions(ps)
                })
                .collect(),
        )
}

/// Commits and returns (topic, partition, error) in response order.
pub async fn commit(
    client: &mut Client,
    version: i16,
    request: &OffsetCommitRequest,
) -> Vec<(String, i32, i16)> {
    let r: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, version, request).await;
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.error_code))
        })
        .collect()
}

/// A simple commit (generation -1, no member: a consumer without group management or an
/// admin tool) at OffsetCommit `version`; asserts that every partition is accepted.
pub async fn commit_simple(
    client: &mut Client,
    version: i16,
    group: &str,
    offsets: &[(&str, i32, i64, i32, Option<&str>)],
) {
    let request = commit_request(version, group, -1, "", offsets);
    let results = commit(client, version, &request).await;
    assert_eq!(results.len(), offsets.len());
    assert!(results.iter().all(|r| r.2 == NONE), "{results:?}");
}

/// Topics and partitions asked for, as OffsetFetch names them.
pub type Topics<'a> = &'a [(&'a str, &'a [i32])];

/// One fetched partition: (topic, partition, offset, leader epoch, metadata, error).
pub type Fetched = (String, i32, i64, i32, Option<String>, i16);

/// OffsetFetch of one group at `version` (v8+ in the multi-group layout). `topics` None asks
/// for every committed offset (v2+). Returns the group-level error and the partitions,
/// sorted.
pub async fn fetch_offsets(
    client: &mut Client,
    version: i16,
    group: &str,
    topics: Option<Topics<'_>>,
) -> (i16, Vec<Fetched>) {
    let mut r = fetch_groups(client, version, &[(group, topics)]).await;
    r.remove(0).1
}

/// OffsetFetch of several groups: v8+ in one request; each group's error and partitions.
pub async fn fetch_groups(
    client: &mut Client,
    version: i16,
    groups: &[(&str, Option<Topics<'_>>)],
) -> Vec<(String, (i16, Vec<Fetched>))> {
    if version >= 8 {
        let request = OffsetFetchRequest::default().with_groups(
            groups
                .iter()
                .map(|(g, topics)| {
                    OffsetFetchRequestGroup::default()
                        .with_group_id(gid(g))
                        .with_topics(topics.map(|ts| {
                            ts.iter()
                                .map(|(t, ps)| {
                                    OffsetFetchRequestTopics::default()
                                        .with_name(name(t))
                                        .with_partition_indexes(ps.to_vec())
                                })
                                .collect()
                        }))
                })
                .collect(),
        );
        let r: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, version, &request).await;
        assert_eq!(r.error_code, NONE);
        return r
            .groups
            .iter()
            .map(|g| {
                let mut parts: Vec<Fetched> = g
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(|p| {
                            (
                                t.name.to_string(),
                                p.partition_index,
                                p.committed_offset,
                                p.committed_leader_epoch,
                                p.metadata.as_ref().map(|m| m.to_string()),
                                p.error_code,
                            )
                        })
                    })
                    .collect();
                parts.sort();
                (g.group_id.to_string(), (g.error_code, parts))
            })
            .collect();
    }
    assert_eq!(groups.len(), 1, "one group per request before v8");
    let (group, topics) = groups[0];
    let request = OffsetFetchRequest::default()
        .with_group_id(gid(group))
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(name(t))
                        .with_partition_indexes(ps.to_vec())
                })
                .collect()
        }));
    let r: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, version, &request).await;
    let mut parts: Vec<Fetched> = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.to_string(),
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata.as_ref().map(|m| m.to_string()),
                    p.error_code,
                )
            })
        })
        .collect();
    parts.sort();
    vec![(group.to_string(), (r.error_code, parts))]
}

/// A fetched partition as the tests write it.
pub fn fetched(topic: &str, partition: i32, offset: i64, epoch: i32, metadata: &str) -> Fetched {
    (
        topic.to_string(),
        partition,
        offset,
        epoch,
        Some(metadata.to_string()),
        NONE,
    )
}

/// A Java consumer's subscription (ConsumerProtocolSubscription v0): the member metadata of
/// protocol type `consumer`.
pub fn subscription(topics: &[&str]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1); // user_data: null
    b.to_vec()
}
