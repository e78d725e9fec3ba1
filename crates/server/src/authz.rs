//! Authorization: Kafka's ACLs (KIP-11; prefixed patterns, KIP-290), decided as Kafka's
//! `StandardAuthorizer` decides them.
//!
//! The authorizer is on when `authorizer.class.name` names one (Kafka's
//! `org.apache.kafka.metadata.authorizer.StandardAuthorizer` or
//! `kafka.security.authorizer.AclAuthorizer`; Myelin's own is used for either). Without it
//! every request is allowed, as on a Kafka broker without an authorizer, and the ACL APIs
//! answer SECURITY_DISABLED.
//!
//! A request's principal (`User:<name>`, `User:ANONYMOUS` before authentication) may do
//! `operation` on a resource when:
//! 1. it is one of `super.users`; else
//! 2. no ACL matches the resource: only if `allow.everyone.if.no.acl.found` (default
//!    false); else
//! 3. no DENY ACL for the principal (or `User:*`), the client's host (or `*`) and the
//!    operation (or ALL) matches the resource, and an ALLOW ACL does. ALLOW for READ,
//!    WRITE, DELETE or ALTER implies DESCRIBE, and ALTER_CONFIGS implies
//!    DESCRIBE_CONFIGS.
//!
//! An ACL matches a resource of its type when its pattern is LITERAL and its name is the
//! resource's name or `*`, or PREFIXED and the resource's name starts with it.
//!
//! Denials are written to the audit log (target `myelin::audit`), except where a denial
//! only hides a resource from a listing (Metadata for every topic, ListGroups), as Kafka
//! logs them.

use std::net::IpAddr;
use std::sync::Arc;

use myelin_cluster::{AclRecord, MetadataState};

use crate::context::RequestContext;

/// The name of the one CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// The wildcard of a literal resource name, a principal's name, or a host.
pub const WILDCARD: &str = "*";

/// The principal every principal matches.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// Kafka's `ResourceType`, with its wire codes (1 is ANY, for filters only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i8)]
pub enum ResourceType {
    Topic = 2,
    Group = 3,
    Cluster = 4,
    TransactionalId = 5,
    DelegationToken = 6,
    User = 7,
}

impl ResourceType {
    /// The type with wire code `code`.
    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            2 => Self::Topic,
            3 => Self::Group,
            4 => Self::Cluster,
            5 => Self::TransactionalId,
            6 => Self::DelegationToken,
            7 => Self::User,
            _ => return None,
        })
    }

    /// Kafka's name (`Topic`, `Group`, ...), as its authorizer log writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Topic => "Topic",
            Self::Group => "Group",
            Self::Cluster => "Cluster",
            Self::TransactionalId => "TransactionalId",
            Self::DelegationToken => "DelegationToken",
            Self::User => "User",
        }
    }

    /// The operations an ACL on this type can grant, as Kafka lists them for KIP-430's
    /// `authorized_operations`.
    pub fn operations(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            Self::Topic => &[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            Self::Group => &[Read, Describe, Delete],
            Self::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            Self::TransactionalId => &[Describe, Write],
            Self::DelegationToken => &[Describe],
            Self::User => &[CreateTokens, DescribeTokens],
        }
    }
}

/// Kafka's `AclOperation`, with its wire codes (1 is ANY, for filters only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i8)]
pub enum Operation {
    All = 2,
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
    CreateTokens = 13,
    DescribeTokens = 14,
}

impl Operation {
    /// The operation with wire code `code`.
    pub fn from_code(code: i8) -> Option<Self> {
        use Operation::*;
        Some(match code {
            2 => All,
            3 => Read,
            4 => Write,
            5 => Create,
            6 => Delete,
            7 => Alter,
            8 => Describe,
            9 => ClusterAction,
            10 => DescribeConfigs,
            11 => AlterConfigs,
            12 => IdempotentWrite,
            13 => CreateTokens,
            14 => DescribeTokens,
            _ => return None,
        })
    }

    /// The operation a user names: Kafka's name in any case, with or without `_` (`Write`,
    /// `WRITE`, `DescribeConfigs`, `describe_configs`), as `kafka-acls.sh --operation`
    /// takes it.
    pub fn parse(name: &str) -> Option<Self> {
        let squash = |s: &str| s.replace(['_', '-'], "").to_ascii_lowercase();
        let wanted = squash(name);
        (2..=14)
            .filter_map(Self::from_code)
            .find(|op| squash(op.name()) == wanted)
    }

    /// Kafka's name (`READ`, `WRITE`, ...).
    pub fn name(self) -> &'static str {
        use Operation::*;
        match self {
            All => "ALL",
            Read => "READ",
            Write => "WRITE",
            Create => "CREATE",
            Delete => "DELETE",
            Alter => "ALTER",
            Describe => "DESCRIBE",
            ClusterAction => "CLUSTER_ACTION",
            DescribeConfigs => "DESCRIBE_CONFIGS",
            AlterConfigs => "ALTER_CONFIGS",
            IdempotentWrite => "IDEMPOTENT_WRITE",
            CreateTokens => "CREATE_TOKENS",
            DescribeTokens => "DESCRIBE_TOKENS",
        }
    }

    /// Whether an ALLOW ACL for `self` grants `requested`.
    fn grants(self, requested: Operation) -> bool {
        use Operation::*;
        self == All
            || self == requested
            || (requested == Describe && matches!(self, Read | Write | Delete | Alter))
            || (requested == DescribeConfigs && self == AlterConfigs)
    }
}

/// Kafka's `AclPermissionType` codes.
pub const DENY: i8 = 2;
/// Kafka's `AclPermissionType` codes.
pub const ALLOW: i8 = 3;
/// Kafka's `PatternType` codes (1 ANY and 2 MATCH are for filters only).
pub const LITERAL: i8 = 3;
/// Kafka's `PatternType` codes.
pub const PREFIXED: i8 = 4;

/// The authorizer's settings (`authorizer.class.name` set).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthorizerConfig {
    /// `super.users`: principals allowed everything, whatever the ACLs say.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`: a resource no ACL matches is open to everyone
    /// (Kafka's default, and Myelin's: false).
    pub allow_everyone_if_no_acl_found: bool,
}

/// The authorizer class names Kafka users set, which turn Myelin's on.
pub const AUTHORIZER_CLASS_NAMES: [&str; 2] = [
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "kafka.security.authorizer.AclAuthorizer",
];

/// Parses `super.users`: principals separated by `;` (`User:admin;User:broker`).
pub fn parse_super_users(value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for p in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match p.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => out.push(p.to_string()),
            _ => return Err(format!("{p:?} is not a principal of the form User:name")),
        }
    }
    Ok(out)
}

/// Whether `acl` (of the resource's type) matches a resource named `name`.
pub fn pattern_matches(acl: &AclRecord, name: &str) -> bool {
    match acl.pattern_type {
        LITERAL => acl.resource_name == name || acl.resource_name == WILDCARD,
        PREFIXED => name.starts_with(acl.resource_name.as_str()),
        _ => false,
    }
}

/// A binding as the audit log and `myelin acl` name it:
/// `Topic:LITERAL:orders User:alice@* ALLOW WRITE`.
pub fn describe_binding(acl: &AclRecord) -> String {
    let rt = ResourceType::from_code(acl.resource_type).map_or("?", ResourceType::name);
    let pattern = if acl.pattern_type == PREFIXED {
        "PREFIXED"
    } else {
        "LITERAL"
    };
    let op = Operation::from_code(acl.operation).map_or("?", Operation::name);
    let permission = if acl.permission_type == DENY {
        "DENY"
    } else {
        "ALLOW"
    };
    format!(
        "{rt}:{pattern}:{} {}@{} {permission} {op}",
        acl.resource_name, acl.principal, acl.host
    )
}

/// Whether an ACL's host matches the client's address.
fn host_matches(acl_host: &str, host: IpAddr) -> bool {
    acl_host == WILDCARD
        || acl_host
            .parse::<IpAddr>()
            .map_or(acl_host == host.to_string(), |h| h == host)
}

/// Whether an ACL's principal matches `principal`.
fn principal_matches(acl_principal: &str, principal: &str) -> bool {
    acl_principal == principal || acl_principal == WILDCARD_PRINCIPAL
}

/// The decision of the authorizer `config` over the ACLs of `state`, as the module's
/// documentation gives it.
pub fn authorize(
    state: &MetadataState,
    config: &AuthorizerConfig,
    principal: &str,
    host: IpAddr,
    operation: Operation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    if config.super_users.iter().any(|s| s == principal) {
        return true;
    }
    let mut any_match = false;
    let mut allowed = false;
    for acl in state.acls_matching(resource_type as i8, name) {
        any_match = true;
        if !principal_matches(&acl.principal, principal) || !host_matches(&acl.host, host) {
            continue;
        }
        let Some(op) = Operation::from_code(acl.operation) else {
            continue;
        };
        match acl.permission_type {
            DENY if op == Operation::All || op == operation => return false,
            ALLOW if op.grants(operation) => allowed = true,
            _ => {}
        }
    }
    if !any_match {
        return config.allow_everyone_if_no_acl_found;
    }
    allowed
}

/// Whether the principal may do `operation` on some resource of `resource_type`: an ALLOW
/// ACL grants it on some pattern, and no DENY ACL of the principal covers every resource
/// (a DENY on the literal `*`). Kafka's `authorizeByResourceType` (KIP-679), which
/// InitProducerId uses to let any principal with WRITE on a topic be idempotent.
pub fn authorize_any(
    state: &MetadataState,
    config: &AuthorizerConfig,
    principal: &str,
    host: IpAddr,
    operation: Operation,
    resource_type: ResourceType,
) -> bool {
    if config.super_users.iter().any(|s| s == principal) {
        return true;
    }
    let acls: Vec<&AclRecord> = state.acls_of_type(resource_type as i8).collect();
    let mine = |acl: &&&AclRecord| {
        principal_matches(&acl.principal, principal) && host_matches(&acl.host, host)
    };
    if acls.is_empty() {
        return config.allow_everyone_if_no_acl_found;
    }
    let denied_everywhere = acls.iter().filter(mine).any(|acl| {
        acl.permission_type == DENY
            && Operation::from_code(acl.operation)
                .is_some_and(|op| op == Operation::All || op == operation)
            && acl.pattern_type == LITERAL
            && acl.resource_name == WILDCARD
    });
    !denied_everywhere
        && acls.iter().filter(mine).any(|acl| {
            acl.permission_type == ALLOW
                && Operation::from_code(acl.operation).is_some_and(|op| op.grants(operation))
        })
}

/// One request's view of the authorizer: the principal, the client's host and the ACLs as
/// they were when the request began. Cheap to make; without an authorizer it holds nothing
/// and allows everything.
#[derive(Debug)]
pub struct Authz<'a> {
    ctx: &'a RequestContext,
    inner: Option<(Arc<MetadataState>, &'a AuthorizerConfig, String)>,
}

impl<'a> Authz<'a> {
    /// The authorizer of `ctx`'s request.
    pub fn new(ctx: &'a RequestContext) -> Self {
        let inner = ctx
            .server
            .config
            .authorizer
            .as_ref()
            .map(|config| (ctx.server.metadata.state(), config, ctx.session.principal()));
        Self { ctx, inner }
    }

    /// Whether an authorizer is configured.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether the principal may do `operation` on the resource; a denial is audited.
    pub fn allows(&self, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        let allowed = self.decide(operation, resource_type, name);
        if !allowed {
            self.audit_denial(operation, resource_type, name);
        }
        allowed
    }

    /// As [`Authz::allows`], without auditing a denial: for resources a denial only hides
    /// from a listing.
    pub fn allows_quietly(
        &self,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.decide(operation, resource_type, name)
    }

    /// Whether the principal may do `operation` on the cluster; a denial is audited.
    pub fn allows_cluster(&self, operation: Operation) -> bool {
        self.allows(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// Whether the principal may do `operation` on some resource of `resource_type`
    /// ([`authorize_any`]).
    pub fn allows_any(&self, operation: Operation, resource_type: ResourceType) -> bool {
        match &self.inner {
            None => true,
            Some((state, config, principal)) => authorize_any(
                state,
                config,
                principal,
                self.ctx.peer.ip(),
                operation,
                resource_type,
            ),
        }
    }

    /// KIP-430's `authorized_operations` of a resource: a bit (`1 << code`) for each
    /// operation of [`ResourceType::operations`] the principal may do.
    pub fn operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        resource_type
            .operations()
            .iter()
            .filter(|op| self.decide(**op, resource_type, name))
            .fold(0, |bits, op| bits | 1 << (*op as i8))
    }

    fn decide(&self, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        match &self.inner {
            None => true,
            Some((state, config, principal)) => authorize(
                state,
                config,
                principal,
                self.ctx.peer.ip(),
                operation,
                resource_type,
                name,
            ),
        }
    }

    fn audit_denial(&self, operation: Operation, resource_type: ResourceType, name: &str) {
        let principal = self.inner.as_ref().map_or("", |(_, _, p)| p.as_str());
        crate::audit::denial(
            self.ctx,
            principal,
            operation.name(),
            resource_type.name(),
            name,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use myelin_cluster::{MetadataOffset, MetadataRecord};

    fn acl(
        rt: ResourceType,
        name: &str,
        pattern: i8,
        who: &str,
        op: Operation,
        perm: i8,
    ) -> AclRecord {
        AclRecord {
            resource_type: rt as i8,
            resource_name: name.to_string(),
            pattern_type: pattern,
            principal: who.to_string(),
            host: WILDCARD.to_string(),
            operation: op as i8,
            permission_type: perm,
        }
    }

    fn state(acls: Vec<AclRecord>) -> MetadataState {
        let mut s = MetadataState::new();
        s.apply(MetadataOffset(0), &MetadataRecord::AclsCreated { acls })
            .unwrap();
        s
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn check(
        s: &MetadataState,
        config: &AuthorizerConfig,
        who: &str,
        op: Operation,
        rt: ResourceType,
        name: &str,
    ) -> bool {
        authorize(s, config, who, LOCAL, op, rt, name)
    }

    #[test]
    fn allow_deny_and_implied_operations() {
        use Operation::*;
        use ResourceType::*;
        let s = state(vec![
            acl(Topic, "orders", LITERAL, "User:alice", Write, ALLOW),
            acl(Topic, "audit-", PREFIXED, "User:*", Read, ALLOW),
            acl(Topic, "audit-secret", LITERAL, "User:bob", All, DENY),
            acl(Topic, "cfg", LITERAL, "User:alice", AlterConfigs, ALLOW),
        ]);
        let c = AuthorizerConfig::default();
        assert!(check(&s, &c, "User:alice", Write, Topic, "orders"));
        // WRITE implies DESCRIBE, not READ.
        assert!(check(&s, &c, "User:alice", Describe, Topic, "orders"));
        assert!(!check(&s, &c, "User:alice", Read, Topic, "orders"));
        assert!(!check(&s, &c, "User:bob", Write, Topic, "orders"));
        // Prefixed, wildcard principal.
        assert!(check(&s, &c, "User:bob", Read, Topic, "audit-log"));
        assert!(check(&s, &c, "User:bob", Describe, Topic, "audit-log"));
        // DENY wins over the prefixed ALLOW.
        assert!(!check(&s, &c, "User:bob", Read, Topic, "audit-secret"));
        assert!(check(&s, &c, "User:carol", Read, Topic, "audit-secret"));
        // ALTER_CONFIGS implies DESCRIBE_CONFIGS.
        assert!(check(&s, &c, "User:alice", DescribeConfigs, Topic, "cfg"));
        // No ACL: denied, unless allow.everyone.if.no.acl.found.
        assert!(!check(&s, &c, "User:alice", Read, Topic, "other"));
        assert!(!check(&s, &c, "User:alice", Read, Group, "g"));
        let open = AuthorizerConfig {
            allow_everyone_if_no_acl_found: true,
            ..Default::default()
        };
        assert!(check(&s, &open, "User:alice", Read, Topic, "other"));
        // ...but a resource with ACLs stays closed to the others.
        assert!(!check(&s, &open, "User:bob", Write, Topic, "orders"));
        // Super users pass everything.
        let sup = AuthorizerConfig {
            super_users: vec!["User:admin".into()],
            ..Default::default()
        };
        assert!(check(&s, &sup, "User:admin", Read, Topic, "audit-secret"));
        assert_eq!(
            s.acls_of_type(Topic as i8).count(),
            4,
            "acls_of_type finds every topic ACL"
        );
    }

    #[test]
    fn hosts_and_any_resource() {
        use Operation::*;
        use ResourceType::*;
        let mut remote = acl(Topic, "t", LITERAL, "User:alice", Write, ALLOW);
        remote.host = "10.0.0.1".into();
        let s = state(vec![remote]);
        let c = AuthorizerConfig::default();
        assert!(!check(&s, &c, "User:alice", Write, Topic, "t"));
        assert!(authorize(
            &s,
            &c,
            "User:alice",
            "10.0.0.1".parse().unwrap(),
            Write,
            Topic,
            "t"
        ));
        // KIP-679: WRITE on some topic.
        let s = state(vec![acl(Topic, "t", LITERAL, "User:alice", Write, ALLOW)]);
        assert!(authorize_any(&s, &c, "User:alice", LOCAL, Write, Topic));
        assert!(!authorize_any(&s, &c, "User:bob", LOCAL, Write, Topic));
        let s = state(vec![
            acl(Topic, "t", LITERAL, "User:alice", Write, ALLOW),
            acl(Topic, "*", LITERAL, "User:alice", Write, DENY),
        ]);
        assert!(!authorize_any(&s, &c, "User:alice", LOCAL, Write, Topic));
    }

    #[test]
    fn operations_parse_as_kafka_acls_takes_them() {
        assert_eq!(Operation::parse("Write"), Some(Operation::Write));
        assert_eq!(
            Operation::parse("DESCRIBE_CONFIGS"),
            Some(Operation::DescribeConfigs)
        );
        assert_eq!(
            Operation::parse("IdempotentWrite"),
            Some(Operation::IdempotentWrite)
        );
        assert_eq!(Operation::parse("all"), Some(Operation::All));
        assert_eq!(Operation::parse("any"), None);
        assert_eq!(Operation::parse("frobnicate"), None);
    }

    #[test]
    fn super_users_parse() {
        assert_eq!(
            parse_super_users("User:admin; User:CN=broker,O=x ;").unwrap(),
            vec!["User:admin".to_string(), "User:CN=broker,O=x".to_string()]
        );
        assert!(parse_super_users("admin").is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const NAMES: [&str; 4] = ["orders", "ord", "audit", "*"];
        const WHO: [&str; 3] = ["User:alice", "User:bob", "User:*"];

        fn any_acl() -> impl Strategy<Value = AclRecord> {
            (
                2i8..=4,
                0usize..NAMES.len(),
                3i8..=4,
                0usize..WHO.len(),
                2i8..=11,
                2i8..=3,
            )
                .prop_map(|(rt, name, pattern, who, op, perm)| AclRecord {
                    resource_type: rt,
                    resource_name: NAMES[name].to_string(),
                    pattern_type: pattern,
                    principal: WHO[who].to_string(),
                    host: WILDCARD.to_string(),
                    operation: op,
                    permission_type: perm,
                })
        }

        fn decide(acls: &[AclRecord], who: &str, op: i8, rt: i8, name: &str) -> bool {
            let s = state(acls.to_vec());
            authorize(
                &s,
                &AuthorizerConfig {
                    super_users: vec!["User:root".into()],
                    allow_everyone_if_no_acl_found: false,
                },
                who,
                LOCAL,
                Operation::from_code(op).unwrap(),
                ResourceType::from_code(rt).unwrap(),
                name,
            )
        }

        proptest! {
            /// More ALLOW ACLs never take a permission away, more DENY ACLs never give
            /// one, a super user is never refused, and a DENY of ALL for the principal on
            /// the literal name always refuses.
            #[test]
            fn decisions_are_monotonic(
                acls in proptest::collection::vec(any_acl(), 0..12),
                extra in any_acl(),
                who in 0usize..2,
                op in 3i8..=11,
                rt in 2i8..=4,
                name in 0usize..3,
            ) {
                let (who, name) = (WHO[who], NAMES[name]);
                let before = decide(&acls, who, op, rt, name);
                let mut more = acls.clone();
                more.push(extra.clone());
                let after = decide(&more, who, op, rt, name);
                if extra.permission_type == ALLOW {
                    prop_assert!(!before || after, "an ALLOW took a permission away");
                } else {
                    prop_assert!(before || !after, "a DENY gave a permission");
                }
                prop_assert!(decide(&acls, "User:root", op, rt, name));
                let mut denied = acls.clone();
                denied.push(AclRecord {
                    resource_type: rt,
                    resource_name: name.to_string(),
                    pattern_type: LITERAL,
                    principal: who.to_string(),
                    host: WILDCARD.to_string(),
                    operation: Operation::All as i8,
                    permission_type: DENY,
                });
                prop_assert!(!decide(&denied, who, op, rt, name));
            }
        }
    }
}
