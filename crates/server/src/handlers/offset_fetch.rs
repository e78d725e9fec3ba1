//! OffsetFetch (key 9), v1-9: a group's committed offsets. v1-7 ask for one group (with
//! a null topic list from v2 meaning "every committed offset"); v8+ (KIP-709) for several
//! groups at once, each with its own topics and error.
//!
//! A group-level error (the coordinator is loading or not available) is the top-level
//! error from v2, with no partitions; v1 has no top-level error, so each requested
//! partition carries it, as in Kafka's `OffsetFetchRequest.getErrorResponse`.
//!
//! With an authorizer, as in Kafka: a group the principal may not DESCRIBE gets
//! GROUP_AUTHORIZATION_FAILED (the group's error from v8, the top-level error in v2-7, each
//! requested partition's in v1); a requested topic it may not DESCRIBE gets
//! TOPIC_AUTHORIZATION_FAILED on its partitions; asked for every offset, the topics it may
//! not DESCRIBE are left out.
//!
//! A partition without a committed offset comes back with offset -1, no leader epoch,
//! empty metadata and no error, as in Kafka; so does null metadata (Kafka stores it as the
//! empty string). With `require_stable` (v7+, KIP-447) a partition with transactional
//! offsets of the group whose transaction has not ended gets UNSTABLE_OFFSET_COMMIT (offset
//! -1, empty metadata), and the consumer retries; without it the committed offset is
//! returned, the pending one not being visible yet.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{ApiKey, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_coord::{CommittedOffset, GroupCoordinator, GroupError, TopicPartition};

use crate::apis::{Handler, Reply};
use crate::authz::{Authz, Operation, ResourceType};
use crate::bounds::{self, all, from, until, Field, Ty};
use crate::context::RequestContext;
use crate::error::{group_error_code, HandlerError};
use crate::handlers::groups::denied_topics;

/// The request's layout, for [`bounds::check`].
const SCHEMA: &[Field] = &[
    until(7, Ty::Str),                                       // group_id
    until(7, Ty::Structs(&[all(Ty::Str), all(Ty::Int32s)])), // topics
    from(
        8,
        Ty::Structs(&[
            all(Ty::Str),                                       // group_id
            from(9, Ty::Str),                                   // member_id
            from(9, Ty::Int32),                                 // member_epoch
            all(Ty::Structs(&[all(Ty::Str), all(Ty::Int32s)])), // topics
        ]),
    ), // groups
    from(7, Ty::Bool),                                       // require_stable
];

/// One group's offsets: by topic, then partition, each its committed offset or its error
/// code (UNSTABLE_OFFSET_COMMIT).
type Fetched = BTreeMap<String, Vec<(i32, Result<Option<CommittedOffset>, i16>)>>;

/// The OffsetFetch handler.
#[derive(Debug)]
pub struct OffsetFetch;

impl Handler for OffsetFetch {
    type Request = OffsetFetchRequest;
    type Response = OffsetFetchResponse;
    const KEY: ApiKey = ApiKey::OffsetFetch;
    const NAME: &'static str = "OffsetFetch";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 9;

    async fn handle(
        ctx: RequestContext,
        request: OffsetFetchRequest,
    ) -> Result<Reply<OffsetFetchResponse>, HandlerError> {
        let version = ctx.api_version();
        let groups = &ctx.server.groups;
        let authz = ctx.authz();
        // require_stable: v7+ (KIP-447); false below.
        let require_stable = version >= 7 && request.require_stable;
        let mut response = OffsetFetchResponse::default();
        if version >= 8 {
            response.groups = request
                .groups
                .into_iter()
                .map(|g| {
                    let wanted = g.topics.map(|ts| {
                        ts.into_iter()
                            .flat_map(|t| {
                                let name = t.name.0.to_string();
                                t.partition_indexes
                                    .into_iter()
                                    .map(move |p| TopicPartition::new(name.clone(), p))
                            })
                            .collect::<Vec<_>>()
                    });
                    let mut group =
                        OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                    match fetch_authorized(
                        &authz,
                        groups,
                        g.group_id.0.as_str(),
                        wanted.as_deref(),
                        require_stable,
                    ) {
                        Ok(fetched) => {
                            group.topics = fetched
                                .into_iter()
                                .map(|(topic, partitions)| {
                                    OffsetFetchResponseTopics::default()
                                        .with_name(TopicName(StrBytes::from_string(topic)))
                                        .with_partitions(
                                            partitions
                                                .into_iter()
                                                .map(|(index, o)| {
                                                    let (offset, epoch, metadata, error) =
                                                        fields(o);
                                                    OffsetFetchResponsePartitions::default()
                                                        .with_partition_index(index)
                                                        .with_committed_offset(offset)
                                                        .with_committed_leader_epoch(epoch)
                                                        .with_metadata(Some(metadata))
                                                        .with_error_code(error)
                                                })
                                                .collect(),
                                        )
                                })
                                .collect();
                        }
                        Err(code) => group.error_code = code,
                    }
                    group
                })
                .collect();
            return Ok(Reply::Ready(response));
        }
        let wanted = request.topics.map(|ts| {
            ts.into_iter()
                .flat_map(|t| {
                    let name = t.name.0.to_string();
                    t.partition_indexes
                        .into_iter()
                        .map(move |p| TopicPartition::new(name.clone(), p))
                })
                .collect::<Vec<_>>()
        });
        match fetch_authorized(
            &authz,
            groups,
            request.group_id.0.as_str(),
            wanted.as_deref(),
            require_stable,
        ) {
            Ok(fetched) => {
                response.topics = fetched
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetFetchResponseTopic::default()
                            .with_name(TopicName(StrBytes::from_string(topic)))
                            .with_partitions(
                                partitions
                                    .into_iter()
                                    .map(|(index, o)| {
                                        let (offset, epoch, metadata, error) = fields(o);
                                        let mut p = OffsetFetchResponsePartition::default()
                                            .with_partition_index(index)
                                            .with_committed_offset(offset)
                                            .with_metadata(Some(metadata))
                                            .with_error_code(error);
                                        if version >= 5 {
                                            p.committed_leader_epoch = epoch;
                                        }
                                        p
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
            }
            Err(code) if version >= 2 => {
                // The top-level error (v2+), and no partitions (Kafka's
                // `OffsetFetchRequest.getErrorResponse`).
                response.error_code = code;
            }
            Err(code) => {
                // v1 has no top-level error: each requested partition carries it.
                if let Some(wanted) = &wanted {
                    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                    for tp in wanted {
                        by_topic.entry(&tp.topic).or_default().push(tp.partition);
                    }
                    response.topics = by_topic
                        .into_iter()
                        .map(|(topic, ps)| {
                            OffsetFetchResponseTopic::default()
                                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                                .with_partitions(
                                    ps.into_iter()
                                        .map(|index| {
                                            OffsetFetchResponsePartition::default()
                                                .with_partition_index(index)
                                                .with_committed_offset(-1)
                                                .with_metadata(Some(StrBytes::default()))
                                                .with_error_code(code)
                                        })
                                        .collect(),
                                )
                        })
                        .collect();
                }
            }
        }
        Ok(Reply::Ready(response))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, SCHEMA, api_version, api_version >= 6)
    }
}

/// [`fetch`] as the principal may see it (Kafka's `KafkaApis`): without DESCRIBE on the
/// group, GROUP_AUTHORIZATION_FAILED; a named topic without DESCRIBE gets
/// TOPIC_AUTHORIZATION_FAILED on each of its partitions (and is not read); with every topic
/// asked (`wanted` null), the topics it may not DESCRIBE are left out.
fn fetch_authorized(
    authz: &Authz<'_>,
    groups: &GroupCoordinator,
    group_id: &str,
    wanted: Option<&[TopicPartition]>,
    require_stable: bool,
) -> Result<Fetched, i16> {
    if !authz.allows(Operation::Describe, ResourceType::Group, group_id) {
        return Err(ResponseError::GroupAuthorizationFailed.code());
    }
    if !authz.enabled() {
        return fetch(groups, group_id, wanted, require_stable);
    }
    let Some(wanted) = wanted else {
        let mut fetched = fetch(groups, group_id, None, require_stable)?;
        fetched.retain(|topic, _| {
            authz.allows_quietly(Operation::Describe, ResourceType::Topic, topic)
        });
        return Ok(fetched);
    };
    let denied = denied_topics(
        authz,
        Operation::Describe,
        wanted.iter().map(|tp| tp.topic.as_str()),
    );
    if denied.is_empty() {
        return fetch(groups, group_id, Some(wanted), require_stable);
    }
    let (refused, allowed): (Vec<&TopicPartition>, Vec<&TopicPartition>) =
        wanted.iter().partition(|tp| denied.contains(&tp.topic));
    let allowed: Vec<TopicPartition> = allowed.into_iter().cloned().collect();
    let mut fetched = fetch(groups, group_id, Some(&allowed), require_stable)?;
    for tp in refused {
        fetched.entry(tp.topic.clone()).or_default().push((
            tp.partition,
            Err(ResponseError::TopicAuthorizationFailed.code()),
        ));
    }
    Ok(fetched)
}

/// Reads one group's offsets, grouped by topic in request order of partitions; with
/// `require_stable`, partitions with pending transactional offsets are errors.
fn fetch(
    groups: &GroupCoordinator,
    group_id: &str,
    wanted: Option<&[TopicPartition]>,
    require_stable: bool,
) -> Result<Fetched, i16> {
    let code = |e: GroupError| group_error_code(&e).code();
    let fetched: Vec<(TopicPartition, Result<Option<CommittedOffset>, i16>)> = if require_stable {
        groups
            .fetch_stable_offsets(group_id, wanted)
            .map_err(code)?
            .into_iter()
            .map(|(tp, r)| (tp, r.map_err(code)))
            .collect()
    } else {
        groups
            .fetch_offsets(group_id, wanted)
            .map_err(code)?
            .into_iter()
            .map(|(tp, o)| (tp, Ok(o)))
            .collect()
    };
    let mut out: Fetched = BTreeMap::new();
    for (tp, o) in fetched {
        out.entry(tp.topic).or_default().push((tp.partition, o));
    }
    Ok(out)
}

/// Offset, leader epoch, metadata and error code as the wire carries them; a partition in
/// error has no offset, as in Kafka.
fn fields(o: Result<Option<CommittedOffset>, i16>) -> (i64, i32, StrBytes, i16) {
    match o {
        Ok(Some(o)) => (
            o.offset,
            o.leader_epoch.unwrap_or(-1),
            StrBytes::from_string(o.metadata.unwrap_or_default()),
            0,
        ),
        Ok(None) => (-1, -1, StrBytes::default(), 0),
        Err(code) => (-1, -1, StrBytes::default(), code),
    }
}
