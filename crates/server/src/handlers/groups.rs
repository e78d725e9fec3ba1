//! What the group handlers share: conversions between the wire and the coordinator.

use std::collections::HashSet;

use kafka_protocol::protocol::StrBytes;
use myelin_coord::consumer::TopicMetadata;

use crate::authz::{Authz, Operation, ResourceType};
use crate::context::RequestContext;

/// The client's host as Kafka reports it in DescribeGroups (`InetAddress.toString()`:
/// a slash, then the address).
pub fn client_host(ctx: &RequestContext) -> String {
    format!("/{}", ctx.peer.ip())
}

/// The client id of the request's header (empty when null).
pub fn client_id(ctx: &RequestContext) -> String {
    ctx.header
        .client_id
        .as_ref()
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// Whether a member may heartbeat into a KIP-848 consumer group or a share group, as
/// Kafka decides it: READ on the group (GROUP_AUTHORIZATION_FAILED), then DESCRIBE on
/// every topic the heartbeat subscribes to by name (TOPIC_AUTHORIZATION_FAILED).
pub fn authorize_member<'a>(
    authz: &crate::authz::Authz<'_>,
    group_id: &str,
    subscribed: Option<impl Iterator<Item = &'a str>>,
) -> Result<(), kafka_protocol::ResponseError> {
    use crate::authz::{Operation, ResourceType};
    if !authz.allows(Operation::Read, ResourceType::Group, group_id) {
        return Err(kafka_protocol::ResponseError::GroupAuthorizationFailed);
    }
    if let Some(names) = subscribed {
        if !denied_topics(authz, Operation::Describe, names).is_empty() {
            return Err(kafka_protocol::ResponseError::TopicAuthorizationFailed);
        }
    }
    Ok(())
}

/// An owned string as a wire string.
pub fn str_of(s: String) -> StrBytes {
    StrBytes::from_string(s)
}

/// A wire string as an optional owned string.
pub fn opt_string(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

/// The cluster's topics as the KIP-848 coordinator sees them: names, ids and partition
/// counts from the committed metadata.
#[derive(Debug)]
pub struct ClusterTopics(pub std::sync::Arc<myelin_cluster::MetadataState>);

impl myelin_coord::consumer::TopicMetadata for ClusterTopics {
    fn topic(&self, name: &str) -> Option<myelin_coord::consumer::TopicInfo> {
        let t = self.0.topic_by_name(name)?;
        Some(myelin_coord::consumer::TopicInfo {
            id: myelin_coord::consumer::TopicId(*t.topic_id.0.as_bytes()),
            partitions: i32::try_from(t.partitions).unwrap_or(i32::MAX),
        })
    }

    fn topic_name(&self, id: &myelin_coord::consumer::TopicId) -> Option<&str> {
        let id = myelin_cluster::TopicId(uuid::Uuid::from_bytes(id.0));
        self.0.topic(id).map(|t| t.name.as_str())
    }

    fn topic_names(&self) -> Vec<String> {
        self.0.topics().map(|t| t.name.clone()).collect()
    }
}

/// The topics of `names` the principal may not do `operation` on, each decided (and a
/// denial audited) once, as Kafka's `filterByAuthorized`. Empty without an authorizer.
pub fn denied_topics<'n>(
    authz: &Authz<'_>,
    operation: Operation,
    names: impl IntoIterator<Item = &'n str>,
) -> HashSet<String> {
    let mut denied = HashSet::new();
    if !authz.enabled() {
        return denied;
    }
    let mut decided = HashSet::new();
    for name in names {
        if decided.insert(name) && !authz.allows(operation, ResourceType::Topic, name) {
            denied.insert(name.to_string());
        }
    }
    denied
}

/// KIP-430's `authorized_operations` of a group: the authorizer's when it is on, else
/// every group operation ([`crate::handlers::describe_groups::GROUP_OPERATIONS`]).
pub fn group_operations(authz: &Authz<'_>, group_id: &str) -> i32 {
    if authz.enabled() {
        authz.operations(ResourceType::Group, group_id)
    } else {
        crate::handlers::describe_groups::GROUP_OPERATIONS
    }
}

/// The cluster's topics as a KIP-848 member sees them when it subscribes by regular
/// expression: only those its principal may DESCRIBE match (Kafka 4.0 filters a regex's
/// topics by the member's authorization). Lookups by name or id are not filtered.
#[derive(Debug)]
pub struct DescribableTopics<'a> {
    /// Every topic.
    pub topics: ClusterTopics,
    /// The request's authorizer.
    pub authz: &'a Authz<'a>,
}

impl TopicMetadata for DescribableTopics<'_> {
    fn topic(&self, name: &str) -> Option<myelin_coord::consumer::TopicInfo> {
        self.topics.topic(name)
    }

    fn topic_name(&self, id: &myelin_coord::consumer::TopicId) -> Option<&str> {
        self.topics.topic_name(id)
    }

    fn topic_names(&self) -> Vec<String> {
        let mut names = self.topics.topic_names();
        if self.authz.enabled() {
            names.retain(|n| {
                self.authz
                    .allows_quietly(Operation::Describe, ResourceType::Topic, n)
            });
        }
        names
    }
}

/// One partition of an offset commit (OffsetCommit, TxnOffsetCommit) as the wire gives it:
/// index, offset, leader epoch (-1 for none), metadata.
pub type WirePartition = (i32, i64, i32, Option<String>);

/// The partitions of an offset commit in request order, each with the error decided before
/// the commit (`None`: it goes to the coordinator).
pub type CommitOrder = Vec<(kafka_protocol::messages::TopicName, Vec<(i32, Option<i16>)>)>;

/// Splits an offset commit's partitions: those of a topic `refused` gives an error (an
/// authorization failure, decided first as in Kafka) get it, those of partitions this broker
/// does not host get UNKNOWN_TOPIC_OR_PARTITION, as in Kafka; the others become commits.
pub fn split_commits(
    server: &crate::context::ServerContext,
    topics: impl IntoIterator<Item = (kafka_protocol::messages::TopicName, Vec<WirePartition>)>,
    refused: impl Fn(&str) -> Option<i16>,
) -> (CommitOrder, Vec<myelin_coord::OffsetCommit>) {
    let mut order: CommitOrder = Vec::new();
    let mut commits = Vec::new();
    for (topic, partitions) in topics {
        let name = topic.0.to_string();
        if let Some(code) = refused(&name) {
            let early = partitions.iter().map(|p| (p.0, Some(code))).collect();
            order.push((topic, early));
            continue;
        }
        let mut early = Vec::with_capacity(partitions.len());
        for (index, offset, leader_epoch, metadata) in partitions {
            if server.partitions.get(&name, index).is_none() {
                let code = kafka_protocol::ResponseError::UnknownTopicOrPartition.code();
                early.push((index, Some(code)));
                continue;
            }
            early.push((index, None));
            commits.push(myelin_coord::OffsetCommit {
                partition: myelin_coord::TopicPartition::new(name.clone(), index),
                offset,
                leader_epoch: (leader_epoch >= 0).then_some(leader_epoch),
                metadata,
            });
        }
        order.push((topic, early));
    }
    (order, commits)
}

/// Every partition's error code: the early one, else the group-level error, else the
/// coordinator's answer for it.
pub fn commit_codes(
    order: CommitOrder,
    group_error: Option<i16>,
    results: Vec<myelin_coord::service::PartitionResult>,
) -> Vec<(kafka_protocol::messages::TopicName, Vec<(i32, i16)>)> {
    let results: std::collections::HashMap<myelin_coord::TopicPartition, i16> = results
        .into_iter()
        .map(|(tp, r)| {
            let code = r
                .err()
                .map_or(0, |e| crate::error::group_error_code(&e).code());
            (tp, code)
        })
        .collect();
    order
        .into_iter()
        .map(|(topic, partitions)| {
            let codes = partitions
                .into_iter()
                .map(|(index, early)| {
                    let code = early.or(group_error).unwrap_or_else(|| {
                        let tp = myelin_coord::TopicPartition::new(topic.0.to_string(), index);
                        results.get(&tp).copied().unwrap_or(0)
                    });
                    (index, code)
                })
                .collect();
            (topic, codes)
        })
        .collect()
}
