//! A broker with SASL PLAIN and the ACL authorizer on, for the authorization tests: users
//! `admin` (a super user), `alice`, `bob` and `carol`, each with the password
//! `<name>-secret`; ACLs granted straight into the metadata log.

use std::collections::BTreeMap;

use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use myelin_cluster::{AclRecord, MetadataRecord};
use myelin_server::authz::{AuthorizerConfig, Operation, ResourceType, ALLOW, DENY, LITERAL};
use myelin_server::sasl::SaslConfig;
use myelin_server::Config;

use super::{Client, TestServer};

/// The users of [`config`].
pub const USERS: [&str; 4] = ["admin", "alice", "bob", "carol"];

/// SASL PLAIN with [`USERS`], the authorizer on, `User:admin` a super user.
pub fn config() -> Config {
    Config {
        sasl: Some(SaslConfig {
            plain_users: USERS
                .iter()
                .map(|u| (u.to_string(), format!("{u}-secret")))
                .collect::<BTreeMap<_, _>>(),
            failed_authentication_delay_ms: 10,
            ..SaslConfig::default()
        }),
        authorizer: Some(AuthorizerConfig {
            super_users: vec!["User:admin".to_string()],
            allow_everyone_if_no_acl_found: false,
        }),
        ..Config::default()
    }
}

/// A connection authenticated as `user` (one of [`USERS`]) with PLAIN.
pub async fn connect_as(server: &TestServer, user: &str) -> Client {
    let mut client = server.connect().await;
    plain_login(&mut client, user, &format!("{user}-secret")).await;
    client
}

/// Authenticates `client` as `user` with PLAIN (SaslHandshake v1, SaslAuthenticate v2).
pub async fn plain_login(client: &mut Client, user: &str, password: &str) {
    let r: SaslHandshakeResponse = client
        .call(
            ApiKey::SaslHandshake,
            1,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        )
        .await;
    assert_eq!(r.error_code, 0, "handshake as {user}");
    let r: SaslAuthenticateResponse = client
        .call(
            ApiKey::SaslAuthenticate,
            2,
            &SaslAuthenticateRequest::default()
                .with_auth_bytes(format!("\0{user}\0{password}").into_bytes().into()),
        )
        .await;
    assert_eq!(
        r.error_code, 0,
        "authenticate as {user}: {:?}",
        r.error_message
    );
}

/// An ACL for every host: `permission` (ALLOW or DENY) of `operation` on the literal
/// resource `name` for `User:<user>` (`*` for every user).
pub fn acl(
    resource_type: ResourceType,
    name: &str,
    user: &str,
    operation: Operation,
    permission: i8,
) -> AclRecord {
    AclRecord {
        resource_type: resource_type as i8,
        resource_name: name.to_string(),
        pattern_type: LITERAL,
        principal: format!("User:{user}"),
        host: "*".to_string(),
        operation: operation as i8,
        permission_type: permission,
    }
}

/// [`acl`] with ALLOW.
pub fn allow(
    resource_type: ResourceType,
    name: &str,
    user: &str,
    operation: Operation,
) -> AclRecord {
    acl(resource_type, name, user, operation, ALLOW)
}

/// [`acl`] with DENY.
pub fn deny(
    resource_type: ResourceType,
    name: &str,
    user: &str,
    operation: Operation,
) -> AclRecord {
    acl(resource_type, name, user, operation, DENY)
}

/// Adds `acls` to the metadata log, as CreateAcls would.
pub fn grant(server: &TestServer, acls: Vec<AclRecord>) {
    server
        .metadata
        .commit(MetadataRecord::AclsCreated { acls })
        .unwrap();
}
