//! The admin side of groups over real TCP: DescribeGroups, ListGroups, DeleteGroups and
//! OffsetDelete, as `kafka-consumer-groups` and AdminClient use them.

use bytes::Bytes;
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
    DescribeGroupsResponse, ListGroupsRequest, ListGroupsResponse, OffsetDeleteRequest,
    OffsetDeleteResponse,
};

use crate::common::data::{create_topic, name};
use crate::common::groups::*;
use crate::common::{bounded, Client, TestServer};

/// Kafka's `authorized_operations` of a group when no authorizer is configured: READ (3),
/// DELETE (6) and DESCRIBE (8) as bits (Kafka 4.x adds DESCRIBE_CONFIGS and ALTER_CONFIGS,
/// for group configs, which this broker does not serve).
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

/// `authorized_operations` when the request did not ask for them.
const OPERATIONS_OMITTED: i32 = i32::MIN;

/// One described member: (member id, instance id, client id, client host, metadata,
/// assignment).
type Described = (String, Option<String>, String, String, Bytes, Bytes);

fn described_members(r: &DescribeGroupsResponse, i: usize) -> Vec<Described> {
    let mut v: Vec<Described> = r.groups[i]
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.to_string(),
                m.group_instance_id.as_ref().map(|i| i.to_string()),
                m.client_id.to_string(),
                m.client_host.to_string(),
                m.member_metadata.clone(),
                m.member_assignment.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

/// (state, protocol type, protocol data) of the `i`th group of a DescribeGroups answer.
fn summary(r: &DescribeGroupsResponse, i: usize) -> (i16, &str, &str, &str) {
    let g = &r.groups[i];
    (
        g.error_code,
        g.group_state.as_str(),
        g.protocol_type.as_str(),
        g.protocol_data.as_str(),
    )
}

#[tokio::test]
async fn describe_groups_in_every_version_and_state() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "described").await;

    // CompletingRebalance: joined, not synced. Kafka shows no protocol and no metadata
    // until the group is Stable.
    let a_spec = JoinSpec::consumer(&["range"]).instance("inst-a");
    let members = add_member(&server, Vec::new(), 5, "described", a_spec).await;
    let a_id = members[0].id.clone();
    let r = describe(&mut client, 5, &["described"]).await;
    assert_eq!(
        summary(&r, 0),
        (NONE, "CompletingRebalance", "consumer", "")
    );
    let host = "/127.0.0.1".to_string();
    let client_id = CLIENT_ID.to_string();
    let bare = |id: &str, instance: Option<&str>| -> Described {
        (
            id.to_string(),
            instance.map(str::to_string),
            client_id.clone(),
            host.clone(),
            Bytes::new(),
            Bytes::new(),
        )
    };
    assert_eq!(described_members(&r, 0), [bare(&a_id, Some("inst-a"))]);

    // PreparingRebalance: a second member's join is in, the first has yet to rejoin.
    let mut members = sync_all(members).await;
    let b_spec = JoinSpec::consumer(&["range"]);
    let b_client = server.connect().await;
    let b_join = spawn(async move {
        let mut c = b_client;
        let r = join_new(&mut c, 5, "described", &b_spec).await;
        Member::new(c, 5, "described", b_spec, r)
    });
    members[0].wait_for_rebalance().await;
    let r = describe(&mut client, 5, &["described"]).await;
    assert_eq!(summary(&r, 0), (NONE, "PreparingRebalance", "consumer", ""));
    assert_eq!(r.groups[0].members.len(), 2);
    let a = members.remove(0).rejoin().await;
    let b = bounded(b_join).await.unwrap();
    let members = sync_all(vec![a, b]).await;

    // Stable, in every version, beside a group that does not exist.
    let mut expected: Vec<Described> = members
        .iter()
        .map(|m| {
            (
                m.id.clone(),
                m.spec.instance.clone(),
                client_id.clone(),
                host.clone(),
                m.spec.metadata("range"),
                assignment_for(&m.id),
            )
        })
        .collect();
    expected.sort();
    for version in 0..=5i16 {
        for include_operations in [false, true] {
            let mut request = DescribeGroupsRequest::default()
                .with_groups(vec![gid("described"), gid("no-such-group")]);
            // include_authorized_operations: v3+ (KIP-430).
            if version < 3 && include_operations {
                continue;
            }
            request.include_authorized_operations = include_operations;
            let r: DescribeGroupsResponse =
                client.call(ApiKey::DescribeGroups, version, &request).await;
            assert_eq!(r.groups.len(), 2);
            assert_eq!(r.groups[0].group_id.as_str(), "described");
            assert_eq!(summary(&r, 0), (NONE, "Stable", "consumer", "range"));
            let mut expected = expected.clone();
            if version < 4 {
                // group_instance_id: v4+.
                for e in &mut expected {
                    e.1 = None;
                }
            }
            assert_eq!(described_members(&r, 0), expected, "v{version}");
            // An unknown group is Dead, without an error.
            assert_eq!(r.groups[1].group_id.as_str(), "no-such-group");
            assert_eq!(summary(&r, 1), (NONE, "Dead", "", ""));
            assert!(r.groups[1].members.is_empty());
            let operations = if include_operations {
                GROUP_OPERATIONS
            } else {
                OPERATIONS_OMITTED
            };
            for g in &r.groups {
                assert_eq!(g.authorized_operations, operations, "v{version}");
            }
        }
    }

    // Empty: every member left; a group of offsets only is Empty too, with no protocol type.
    let mut leaver = server.connect().await;
    for m in &members {
        let request = kafka_protocol::messages::LeaveGroupRequest::default()
            .with_group_id(gid("described"))
            .with_members(vec![
                kafka_protocol::messages::leave_group_request::MemberIdentity::default()
                    .with_member_id(s(&m.id)),
            ]);
        let r: kafka_protocol::messages::LeaveGroupResponse =
            leaver.call(ApiKey::LeaveGroup, 3, &request).await;
        assert_eq!(r.members[0].error_code, NONE);
    }
    create_topic(&server, "t", 1, &[]);
    commit_simple(&mut client, 9, "offsets-only", &[("t", 0, 1, -1, None)]).await;
    let r = describe(&mut client, 5, &["described", "offsets-only"]).await;
    assert_eq!(summary(&r, 0), (NONE, "Empty", "consumer", ""));
    assert!(r.groups[0].members.is_empty());
    assert_eq!(summary(&r, 1), (NONE, "Empty", "", ""));
    server.stop().await;
}

/// Before any group lookup there is no `__consumer_offsets`: the group APIs answer
/// COORDINATOR_NOT_AVAILABLE, and clients look the coordinator up again.
#[tokio::test]
async fn without_the_offsets_topic_the_coordinator_is_not_available() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    let request = DescribeGroupsRequest::default()
        .with_groups(vec![gid("g")])
        .with_include_authorized_operations(true);
    let r: DescribeGroupsResponse = client.call(ApiKey::DescribeGroups, 5, &request).await;
    // Kafka's DescribeGroupsResponse.groupError: no state, no operations.
    assert_eq!(summary(&r, 0), (COORDINATOR_NOT_AVAILABLE, "", "", ""));
    assert_eq!(r.groups[0].authorized_operations, OPERATIONS_OMITTED);
    let topics: &[(&str, &[i32])] = &[("t", &[0])];
    // OffsetFetch v2+: a top-level error and no partitions; v1: the error on each partition.
    for version in 2..=7 {
        let (error, parts) = fetch_offsets(&mut client, version, "g", Some(topics)).await;
        assert_eq!(
            (error, parts),
            (COORDINATOR_NOT_AVAILABLE, vec![]),
            "v{version}"
        );
    }
    let (_, parts) = fetch_offsets(&mut client, 1, "g", Some(topics)).await;
    assert_eq!(
        parts,
        [(
            "t".to_string(),
            0,
            -1,
            -1,
            Some(String::new()),
            COORDINATOR_NOT_AVAILABLE
        )]
    );
    let r: ListGroupsResponse = client
        .call(ApiKey::ListGroups, 5, &ListGroupsRequest::default())
        .await;
    assert_eq!((r.error_code, r.groups.len()), (NONE, 0));
    server.stop().await;
}

/// (group id, protocol type, state, type) of a ListGroups answer, sorted.
async fn list(
    client: &mut Client,
    version: i16,
    states: &[&str],
    types: &[&str],
) -> Vec<(String, String, String, String)> {
    let mut request = ListGroupsRequest::default();
    // states_filter: v4+ (KIP-518); types_filter: v5+ (KIP-848).
    if version >= 4 {
        request.states_filter = states.iter().map(|x| s(x)).collect();
    }
    if version >= 5 {
        request.types_filter = types.iter().map(|x| s(x)).collect();
    }
    let r: ListGroupsResponse = client.call(ApiKey::ListGroups, version, &request).await;
    assert_eq!(r.error_code, NONE);
    let mut v: Vec<_> = r
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.to_string(),
                g.protocol_type.to_string(),
                g.group_state.to_string(),
                g.group_type.to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn list_groups_in_every_version_with_filters() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "lg").await;
    create_topic(&server, "t", 1, &[]);
    commit_simple(&mut client, 9, "lg-simple", &[("t", 0, 1, -1, None)]).await;
    let _stable = form_group(&server, "lg-stable", 9, &[JoinSpec::consumer(&["range"])]).await;
    let connect = JoinSpec::of_type("connect", vec![("sessioned", b"{}".to_vec())]);
    let _completing = add_member(&server, Vec::new(), 9, "lg-connect", connect).await;
    let row = |id: &str, protocol_type: &str, state: &str, version: i16| {
        (
            id.to_string(),
            protocol_type.to_string(),
            // group_state: v4+; group_type: v5+.
            if version >= 4 {
                state.to_string()
            } else {
                String::new()
            },
            if version >= 5 {
                "classic".to_string()
            } else {
                String::new()
            },
        )
    };
    for version in 0..=5i16 {
        let all = vec![
            row("lg-connect", "connect", "CompletingRebalance", version),
            row("lg-simple", "", "Empty", version),
            row("lg-stable", "consumer", "Stable", version),
        ];
        assert_eq!(
            list(&mut client, version, &[], &[]).await,
            all,
            "v{version}"
        );
        if version >= 4 {
            let stable = vec![all[2].clone()];
            assert_eq!(list(&mut client, version, &["Stable"], &[]).await, stable);
            // Kafka compares states without regard to case.
            let r = list(&mut client, version, &["empty", "COMPLETINGREBALANCE"], &[]).await;
            assert_eq!(r, vec![all[0].clone(), all[1].clone()]);
            assert_eq!(list(&mut client, version, &["Dead"], &[]).await, vec![]);
        }
        if version >= 5 {
            assert_eq!(list(&mut client, version, &[], &["classic"]).await, all);
            assert_eq!(list(&mut client, version, &[], &["Consumer"]).await, vec![]);
            let r = list(&mut client, version, &["stable"], &["Classic"]).await;
            assert_eq!(r, vec![all[2].clone()]);
        }
    }
    server.stop().await;
}

async fn delete_groups(client: &mut Client, version: i16, groups: &[&str]) -> Vec<(String, i16)> {
    let request =
        DeleteGroupsRequest::default().with_groups_names(groups.iter().map(|g| gid(g)).collect());
    let r: DeleteGroupsResponse = client.call(ApiKey::DeleteGroups, version, &request).await;
    r.results
        .iter()
        .map(|g| (g.group_id.to_string(), g.error_code))
        .collect()
}

#[tokio::test]
async fn delete_groups_in_every_version() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "dg").await;
    create_topic(&server, "t", 2, &[]);
    let both: &[(&str, &[i32])] = &[("t", &[0, 1])];
    for version in 0..=2i16 {
        let (empty, stable, unknown) = (
            format!("dg-empty-v{version}"),
            format!("dg-stable-v{version}"),
            format!("dg-unknown-v{version}"),
        );
        commit_simple(
            &mut client,
            9,
            &empty,
            &[("t", 0, 5, -1, Some("m")), ("t", 1, 6, -1, None)],
        )
        .await;
        let members = form_group(&server, &stable, 9, &[JoinSpec::consumer(&["range"])]).await;
        assert_eq!(
            delete_groups(&mut client, version, &[&empty, &stable, &unknown]).await,
            [
                (empty.clone(), NONE),
                (stable.clone(), NON_EMPTY_GROUP),
                (unknown.clone(), GROUP_ID_NOT_FOUND),
            ],
            "v{version}"
        );
        // The deleted group and its offsets are gone.
        let (error, parts) = fetch_offsets(&mut client, 9, &empty, Some(both)).await;
        assert_eq!(error, NONE);
        assert_eq!(
            parts,
            [fetched("t", 0, -1, -1, ""), fetched("t", 1, -1, -1, "")]
        );
        assert_eq!(
            fetch_offsets(&mut client, 9, &empty, None).await,
            (NONE, vec![])
        );
        let r = describe(&mut client, 5, &[&empty]).await;
        assert_eq!(summary(&r, 0), (NONE, "Dead", "", ""));
        let listed: Vec<String> = list(&mut client, 5, &[], &[])
            .await
            .into_iter()
            .map(|g| g.0)
            .collect();
        assert!(!listed.contains(&empty));
        assert_eq!(
            delete_groups(&mut client, version, &[&empty]).await,
            [(empty.clone(), GROUP_ID_NOT_FOUND)]
        );
        // The group id can be used again.
        commit_simple(&mut client, 9, &empty, &[("t", 0, 7, -1, None)]).await;
        let (_, parts) = fetch_offsets(&mut client, 9, &empty, None).await;
        assert_eq!(parts, [fetched("t", 0, 7, -1, "")]);
        // Once its member has left, the other group can be deleted.
        let m = &members[0];
        let request = kafka_protocol::messages::LeaveGroupRequest::default()
            .with_group_id(gid(&stable))
            .with_member_id(s(&m.id));
        let r: kafka_protocol::messages::LeaveGroupResponse =
            client.call(ApiKey::LeaveGroup, 0, &request).await;
        assert_eq!(r.error_code, NONE);
        assert_eq!(
            delete_groups(&mut client, version, &[&stable]).await,
            [(stable.clone(), NONE)]
        );
    }
    server.stop().await;
}

/// (top-level error, [(topic, partition, error)]) of an OffsetDelete.
async fn offset_delete(
    client: &mut Client,
    group: &str,
    topics: &[(&str, &[i32])],
) -> (i16, Vec<(String, i32, i16)>) {
    let request = OffsetDeleteRequest::default()
        .with_group_id(gid(group))
        .with_topics(
            topics
                .iter()
                .map(|(t, ps)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(name(t))
                        .with_partitions(
                            ps.iter()
                                .map(|p| {
                                    OffsetDeleteRequestPartition::default().with_partition_index(*p)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let r: OffsetDeleteResponse = client.call(ApiKey::OffsetDelete, 0, &request).await;
    let parts = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.error_code))
        })
        .collect();
    (r.error_code, parts)
}

fn parts(v: &[(&str, i32, i16)]) -> Vec<(String, i32, i16)> {
    v.iter().map(|(t, p, e)| (t.to_string(), *p, *e)).collect()
}

#[tokio::test]
async fn offset_delete_removes_offsets_of_an_empty_group() {
    let server = TestServer::start(config(&[])).await;
    let mut client = server.connect().await;
    find_coordinator(&mut client, "od").await;
    create_topic(&server, "t", 3, &[]);
    create_topic(&server, "u", 1, &[]);
    let offsets = [
        ("t", 0, 10, -1, None),
        ("t", 1, 11, -1, None),
        ("u", 0, 12, -1, None),
    ];
    commit_simple(&mut client, 9, "od-empty", &offsets).await;
    let r = offset_delete(&mut client, "od-empty", &[("t", &[0, 2]), ("nope", &[0])]).await;
    assert_eq!(
        r,
        (
            NONE,
            parts(&[
                ("t", 0, NONE),
                ("t", 2, NONE),
                ("nope", 0, UNKNOWN_TOPIC_OR_PARTITION)
            ])
        )
    );
    let (_, fetched_now) = fetch_offsets(&mut client, 9, "od-empty", None).await;
    assert_eq!(
        fetched_now,
        [fetched("t", 1, 11, -1, ""), fetched("u", 0, 12, -1, "")]
    );

    assert_eq!(
        offset_delete(&mut client, "no-such-group", &[("t", &[0])]).await,
        (GROUP_ID_NOT_FOUND, vec![])
    );
    assert_eq!(
        offset_delete(&mut client, "", &[("t", &[0])]).await,
        (INVALID_GROUP_ID, vec![])
    );
    server.stop().await;
}

/// A consumer group with members keeps the offsets of the topics it subscribes to.
#[tokio::test]
async fn offset_delete_refuses_topics_an_active_consumer_group_subscribes_to() {
    let server = TestServer::start(config(&[])).await;
    create_topic(&server, "t", 2, &[]);
    let spec = JoinSpec::of_type("consumer", vec![("range", subscription(&["t"]))]);
    let mut members = form_group(&server, "od-active", 9, &[spec]).await;
    let m = &mut members[0];
    let request = commit_request(
        9,
        "od-active",
        m.generation,
        &m.id,
        &[("t", 0, 3, -1, None)],
    );
    assert_eq!(
        commit(&mut m.client, 9, &request).await,
        [("t".into(), 0, NONE)]
    );
    let r = offset_delete(&mut m.client, "od-active", &[("t", &[0, 1])]).await;
    assert_eq!(
        r,
        (
            NONE,
            parts(&[
                ("t", 0, GROUP_SUBSCRIBED_TO_TOPIC),
                ("t", 1, GROUP_SUBSCRIBED_TO_TOPIC)
            ])
        )
    );
    let (_, kept) = fetch_offsets(&mut m.client, 9, "od-active", None).await;
    assert_eq!(kept, [fetched("t", 0, 3, -1, "")]);
    server.stop().await;
}

/// Kafka deletes the offsets of topics that an active `consumer` group does not subscribe
/// to (`ClassicGroup.isSubscribedToTopic`, from the members' ConsumerProtocolSubscription).
#[tokio::test]
async fn offset_delete_removes_unsubscribed_topics_of_an_active_consumer_group() {
    let server = TestServer::start(config(&[])).await;
    create_topic(&server, "t", 1, &[]);
    create_topic(&server, "u", 1, &[]);
    let spec = JoinSpec::of_type("consumer", vec![("range", subscription(&["t"]))]);
    let mut members = form_group(&server, "od-partial", 9, &[spec]).await;
    let m = &mut members[0];
    let request = commit_request(
        9,
        "od-partial",
        m.generation,
        &m.id,
        &[("t", 0, 3, -1, None), ("u", 0, 4, -1, None)],
    );
    assert_eq!(commit(&mut m.client, 9, &request).await.len(), 2);
    let r = offset_delete(&mut m.client, "od-partial", &[("t", &[0]), ("u", &[0])]).await;
    assert_eq!(
        r,
        (
            NONE,
            parts(&[("t", 0, GROUP_SUBSCRIBED_TO_TOPIC), ("u", 0, NONE)])
        )
    );
    let (_, kept) = fetch_offsets(&mut m.client, 9, "od-partial", None).await;
    assert_eq!(kept, [fetched("t", 0, 3, -1, "")]);
    server.stop().await;
}

/// Kafka refuses OffsetDelete on a group with members whose protocol type is not
/// `consumer` (Connect, Schema Registry) with the group-level NON_EMPTY_GROUP
/// (`ClassicGroup.validateDeleteOffsets`).
#[tokio::test]
async fn offset_delete_on_an_active_non_consumer_group_is_non_empty_group() {
    let server = TestServer::start(config(&[])).await;
    create_topic(&server, "t", 1, &[]);
    let spec = JoinSpec::of_type("connect", vec![("sessioned", b"{}".to_vec())]);
    let mut members = form_group(&server, "od-connect", 9, &[spec]).await;
    let r = offset_delete(&mut members[0].client, "od-connect", &[("t", &[0])]).await;
    assert_eq!(r, (NON_EMPTY_GROUP, vec![]));
    server.stop().await;
}
