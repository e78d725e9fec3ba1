//! The ACL APIs over real TCP: SECURITY_DISABLED without an authorizer; with one,
//! CreateAcls' checks, DescribeAcls' and DeleteAcls' filters (ANY, MATCH, LITERAL,
//! PREFIXED), the CLUSTER permissions they need, ACLs taking effect at once, and ACLs kept
//! across a restart.

mod common;

use common::authz::{config, connect_as};
use common::{Client, TestServer};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use myelin_server::Config;

const ANY: i8 = 1;
const MATCH: i8 = 2;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DESCRIBE: i8 = 8;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

fn creation(rt: i8, name: &str, pattern: i8, who: &str, op: i8, perm: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(rt)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pattern)
        .with_principal(s(who))
        .with_host(s("*"))
        .with_operation(op)
        .with_permission_type(perm)
}

async fn create(client: &mut Client, creations: Vec<AclCreation>) -> Vec<i16> {
    let r: CreateAclsResponse = client
        .call(
            ApiKey::CreateAcls,
            3,
            &CreateAclsRequest::default().with_creations(creations),
        )
        .await;
    r.results.iter().map(|r| r.error_code).collect()
}

fn describe_filter(rt: i8, name: Option<&str>, pattern: i8) -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(rt)
        .with_resource_name_filter(name.map(s))
        .with_pattern_type_filter(pattern)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

/// (resource type, name, pattern, principal, operation, permission) of every ACL found.
async fn describe(
    client: &mut Client,
    request: DescribeAclsRequest,
) -> (i16, Vec<(i8, String, i8, String, i8, i8)>) {
    let r: DescribeAclsResponse = client.call(ApiKey::DescribeAcls, 3, &request).await;
    let mut out = Vec::new();
    for res in &r.resources {
        for acl in &res.acls {
            out.push((
                res.resource_type,
                res.resource_name.to_string(),
                res.pattern_type,
                acl.principal.to_string(),
                acl.operation,
                acl.permission_type,
            ));
        }
    }
    (r.error_code, out)
}

#[tokio::test]
async fn without_an_authorizer_the_acl_apis_answer_security_disabled() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    let codes = create(
        &mut client,
        vec![creation(TOPIC, "t", LITERAL, "User:alice", READ, ALLOW)],
    )
    .await;
    assert_eq!(codes, vec![54]);
    let (code, acls) = describe(&mut client, describe_filter(ANY, None, ANY)).await;
    assert_eq!((code, acls.len()), (54, 0));
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn acls_are_created_described_enforced_deleted_and_kept() {
    let server = TestServer::start(config()).await;
    let mut admin = connect_as(&server, "admin").await;
    let mut alice = connect_as(&server, "alice").await;

    // alice may not manage or even list ACLs.
    let codes = create(
        &mut alice,
        vec![creation(TOPIC, "t", LITERAL, "User:alice", READ, ALLOW)],
    )
    .await;
    assert_eq!(codes, vec![31], "CLUSTER_AUTHORIZATION_FAILED");
    let (code, _) = describe(&mut alice, describe_filter(ANY, None, ANY)).await;
    assert_eq!(code, 31);

    // The super user creates them; invalid bindings are refused one by one.
    let codes = create(
        &mut admin,
        vec![
            creation(TOPIC, "orders", LITERAL, "User:alice", WRITE, ALLOW),
            creation(TOPIC, "audit-", PREFIXED, "User:*", READ, ALLOW),
            creation(TOPIC, "audit-secret", LITERAL, "User:bob", READ, DENY),
            creation(GROUP, "*", LITERAL, "User:alice", READ, ALLOW),
            creation(
                CLUSTER,
                "kafka-cluster",
                LITERAL,
                "User:alice",
                DESCRIBE,
                ALLOW,
            ),
            creation(ANY, "x", LITERAL, "User:alice", READ, ALLOW),
            creation(TOPIC, "x", MATCH, "User:alice", READ, ALLOW),
            creation(TOPIC, "x", LITERAL, "alice", READ, ALLOW),
            creation(TOPIC, "", LITERAL, "User:alice", READ, ALLOW),
            creation(CLUSTER, "other", LITERAL, "User:alice", DESCRIBE, ALLOW),
            creation(TOPIC, "x", LITERAL, "User:alice", ANY, ALLOW),
        ],
    )
    .await;
    assert_eq!(codes, vec![0, 0, 0, 0, 0, 42, 42, 42, 42, 42, 42]);

    // Every ACL, grouped by resource.
    let (code, all) = describe(&mut admin, describe_filter(ANY, None, ANY)).await;
    assert_eq!(code, 0);
    assert_eq!(all.len(), 5, "{all:?}");
    // MATCH: the ACLs that apply to topic audit-secret: the prefixed one and its own.
    let (_, matching) = describe(
        &mut admin,
        describe_filter(TOPIC, Some("audit-secret"), MATCH),
    )
    .await;
    let mut names: Vec<(String, i8)> = matching.iter().map(|a| (a.1.clone(), a.2)).collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("audit-".to_string(), PREFIXED),
            ("audit-secret".to_string(), LITERAL)
        ]
    );
    // LITERAL with a name: exactly that pattern.
    let (_, literal) = describe(&mut admin, describe_filter(TOPIC, Some("audit-"), LITERAL)).await;
    assert!(literal.is_empty());
    let (_, prefixed) = describe(&mut admin, describe_filter(ANY, Some("audit-"), ANY)).await;
    assert_eq!(prefixed.len(), 1);
    // By principal.
    let mut by_bob = describe_filter(ANY, None, ANY);
    by_bob.principal_filter = Some(s("User:bob"));
    let (_, bob_acls) = describe(&mut admin, by_bob).await;
    assert_eq!(bob_acls.len(), 1);
    assert_eq!(bob_acls[0].5, DENY);
    // A filter with an UNKNOWN element.
    let (code, _) = describe(&mut admin, describe_filter(0, None, ANY)).await;
    assert_eq!(code, 42);

    // The CLUSTER DESCRIBE ACL lets alice list ACLs now, not change them.
    let (code, listed) = describe(&mut alice, describe_filter(ANY, None, ANY)).await;
    assert_eq!((code, listed.len()), (0, 5));

    // DeleteAcls: alice may not; admin deletes by filter and gets the matches back.
    let filter = |rt: i8, name: Option<&str>, pattern: i8| {
        DeleteAclsFilter::default()
            .with_resource_type_filter(rt)
            .with_resource_name_filter(name.map(s))
            .with_pattern_type_filter(pattern)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_operation(ANY)
            .with_permission_type(ANY)
    };
    let r: DeleteAclsResponse = alice
        .call(
            ApiKey::DeleteAcls,
            3,
            &DeleteAclsRequest::default().with_filters(vec![filter(ANY, None, ANY)]),
        )
        .await;
    assert_eq!(r.filter_results[0].error_code, 31);
    let r: DeleteAclsResponse = admin
        .call(
            ApiKey::DeleteAcls,
            3,
            &DeleteAclsRequest::default().with_filters(vec![
                filter(CLUSTER, None, ANY),
                filter(TOPIC, Some("nothing"), LITERAL),
                filter(TOPIC, None, 0),
            ]),
        )
        .await;
    let results: Vec<(i16, usize)> = r
        .filter_results
        .iter()
        .map(|f| (f.error_code, f.matching_acls.len()))
        .collect();
    assert_eq!(results, vec![(0, 1), (0, 0), (42, 0)]);
    assert_eq!(
        r.filter_results[0].matching_acls[0].resource_name.as_str(),
        "kafka-cluster"
    );
    // At once, alice may no longer describe ACLs.
    let (code, _) = describe(&mut alice, describe_filter(ANY, None, ANY)).await;
    assert_eq!(code, 31);

    // The ACLs are in the metadata log: a restart keeps them.
    drop((admin, alice));
    let server = server.restart(config()).await;
    let mut admin = connect_as(&server, "admin").await;
    let (_, after) = describe(&mut admin, describe_filter(ANY, None, ANY)).await;
    assert_eq!(
        after,
        all.into_iter()
            .filter(|a| a.0 != CLUSTER)
            .collect::<Vec<_>>()
    );
    drop(admin);
    server.stop().await;
}
