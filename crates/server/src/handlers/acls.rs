//! DescribeAcls (key 29), CreateAcls (key 30) and DeleteAcls (key 31), v1-3 (KIP-11,
//! KIP-290): the ACLs of the authorizer ([`crate::authz`]), kept in the metadata log as
//! Kafka's controller keeps them (`kafka-acls.sh`, the admin clients' `createAcls`...).
//!
//! Without an authorizer (`authorizer.class.name` unset), as on such a Kafka broker, each
//! is answered with SECURITY_DISABLED (54) and Kafka's message, "No Authorizer is
//! configured.".
//!
//! With one:
//! - DescribeAcls needs CLUSTER DESCRIBE, CreateAcls and DeleteAcls CLUSTER ALTER, else
//!   CLUSTER_AUTHORIZATION_FAILED (31);
//! - a binding to create must name a resource type, LITERAL or PREFIXED, an operation and
//!   ALLOW or DENY (not ANY or UNKNOWN), a non-empty resource name (`kafka-cluster` for the
//!   cluster), a `Type:name` principal and a host, else INVALID_REQUEST (42), as Kafka's
//!   `AclControlManager` checks them;
//! - filters match as Kafka's `AclBindingFilter`: ANY (and a null string) matches
//!   everything, the pattern type MATCH matches the literal name, the literal `*` and every
//!   prefix of the name; a filter with an UNKNOWN (0) element is refused with
//!   INVALID_REQUEST.
//!
//! Every creation and deletion is written to the audit log.

use std::collections::BTreeSet;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_cluster::{AclRecord, MetadataRecord};

use crate::apis::{Handler, Reply};
use crate::audit;
use crate::authz::{Operation, ResourceType, CLUSTER_NAME, LITERAL, PREFIXED};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{metadata_error_code, HandlerError};

/// Kafka's message for ACL requests to a broker without an authorizer.
const NO_AUTHORIZER: &str = "No Authorizer is configured.";

/// The ANY code of resource types, pattern types, operations and permission types.
const ANY: i8 = 1;
/// The MATCH pattern type (filters only).
const MATCH: i8 = 2;

/// An ACL binding or filter: resource type, name, pattern type, principal, host,
/// operation, permission type (pattern type is v1+, and v1 is the lowest served).
const BINDING: &[Field] = &[
    all(Ty::Int8),
    all(Ty::Str),
    all(Ty::Int8),
    all(Ty::Str),
    all(Ty::Str),
    all(Ty::Int8),
    all(Ty::Int8),
];

/// CreateAcls' and DeleteAcls' layout: one array of bindings or filters.
const BINDINGS: &[Field] = &[all(Ty::Structs(BINDING))];

fn security_disabled() -> (i16, Option<StrBytes>) {
    (
        ResponseError::SecurityDisabled.code(),
        Some(StrBytes::from_static_str(NO_AUTHORIZER)),
    )
}

/// Whether the ACL APIs may serve the request: an authorizer is on (else
/// SECURITY_DISABLED) and the principal may do `operation` on the cluster (else
/// CLUSTER_AUTHORIZATION_FAILED); `Err` is the error to answer with.
fn gate(ctx: &RequestContext, operation: Operation) -> Result<(), (i16, Option<StrBytes>)> {
    let authz = ctx.authz();
    if !authz.enabled() {
        return Err(security_disabled());
    }
    if !authz.allows_cluster(operation) {
        return Err((ResponseError::ClusterAuthorizationFailed.code(), None));
    }
    Ok(())
}

/// An ACL filter, as DescribeAcls and DeleteAcls carry it.
#[derive(Debug, Clone)]
struct Filter {
    resource_type: i8,
    resource_name: Option<String>,
    pattern_type: i8,
    principal: Option<String>,
    host: Option<String>,
    operation: i8,
    permission_type: i8,
}

impl Filter {
    /// Why the filter cannot match, if it has an UNKNOWN (or out-of-range) element.
    fn invalid(&self) -> Option<&'static str> {
        if !(ANY..=7).contains(&self.resource_type) {
            return Some("The filter has an unknown resource type");
        }
        if !(ANY..=PREFIXED).contains(&self.pattern_type) {
            return Some("The filter has an unknown pattern type");
        }
        if !(ANY..=14).contains(&self.operation) {
            return Some("The filter has an unknown operation");
        }
        if !(ANY..=3).contains(&self.permission_type) {
            return Some("The filter has an unknown permission type");
        }
        None
    }

    /// Kafka's `AclBindingFilter.matches`.
    fn matches(&self, acl: &AclRecord) -> bool {
        let any_or = |filter: i8, value: i8| filter == ANY || filter == value;
        let null_or =
            |filter: &Option<String>, value: &str| filter.as_deref().is_none_or(|f| f == value);
        if !any_or(self.resource_type, acl.resource_type)
            || !null_or(&self.principal, &acl.principal)
            || !null_or(&self.host, &acl.host)
            || !any_or(self.operation, acl.operation)
            || !any_or(self.permission_type, acl.permission_type)
        {
            return false;
        }
        if self.pattern_type != ANY
            && self.pattern_type != MATCH
            && self.pattern_type != acl.pattern_type
        {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if self.pattern_type == ANY || self.pattern_type == acl.pattern_type {
            return *name == acl.resource_name;
        }
        // MATCH: the ACLs that apply to a resource named `name`.
        crate::authz::pattern_matches(acl, name)
    }
}

fn opt_string(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.as_str().to_string())
}

/// Kafka's checks of a binding to create; the message is Kafka's where it has one.
fn validate_creation(acl: &AclRecord) -> Result<(), String> {
    if ResourceType::from_code(acl.resource_type).is_none() {
        return Err(format!("Invalid resourceType {}", acl.resource_type));
    }
    if acl.pattern_type != LITERAL && acl.pattern_type != PREFIXED {
        return Err(format!("Invalid patternType {}", acl.pattern_type));
    }
    if Operation::from_code(acl.operation).is_none() {
        return Err(format!("Invalid operation {}", acl.operation));
    }
    if acl.permission_type != crate::authz::ALLOW && acl.permission_type != crate::authz::DENY {
        return Err(format!("Invalid permissionType {}", acl.permission_type));
    }
    if acl.resource_name.is_empty() {
        return Err("Resource name should not be empty".to_string());
    }
    if acl.resource_type == ResourceType::Cluster as i8 && acl.resource_name != CLUSTER_NAME {
        return Err(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    if acl.invalid().is_some() {
        return Err(format!(
            "Could not parse principal from `{}` (no colon is present separating the principal type from the principal name)",
            acl.principal
        ));
    }
    Ok(())
}

/// The DescribeAcls handler.
#[derive(Debug)]
pub struct DescribeAcls;

impl Handler for DescribeAcls {
    type Request = DescribeAclsRequest;
    type Response = DescribeAclsResponse;
    const KEY: ApiKey = ApiKey::DescribeAcls;
    const NAME: &'static str = "DescribeAcls";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 3;

    async fn handle(
        ctx: RequestContext,
        request: DescribeAclsRequest,
    ) -> Result<Reply<DescribeAclsResponse>, HandlerError> {
        let error = |(code, message): (i16, Option<StrBytes>)| {
            Ok(Reply::Ready(
                DescribeAclsResponse::default()
                    .with_error_code(code)
                    .with_error_message(message),
            ))
        };
        if let Err(e) = gate(&ctx, Operation::Describe) {
            return error(e);
        }
        let filter = Filter {
            resource_type: request.resource_type_filter,
            resource_name: opt_string(&request.resource_name_filter),
            pattern_type: request.pattern_type_filter,
            principal: opt_string(&request.principal_filter),
            host: opt_string(&request.host_filter),
            operation: request.operation,
            permission_type: request.permission_type,
        };
        if let Some(why) = filter.invalid() {
            return error((
                ResponseError::InvalidRequest.code(),
                Some(StrBytes::from_static_str(why)),
            ));
        }
        let state = ctx.server.metadata.state();
        // The state orders ACLs by resource type, name and pattern type: one resource's
        // ACLs are adjacent.
        let mut resources: Vec<DescribeAclsResource> = Vec::new();
        for acl in state.acls().filter(|acl| filter.matches(acl)) {
            let same = resources.last().is_some_and(|r| {
                r.resource_type == acl.resource_type
                    && r.resource_name.as_str() == acl.resource_name
                    && r.pattern_type == acl.pattern_type
            });
            if !same {
                resources.push(
                    DescribeAclsResource::default()
                        .with_resource_type(acl.resource_type)
                        .with_resource_name(StrBytes::from_string(acl.resource_name.clone()))
                        .with_pattern_type(acl.pattern_type),
                );
            }
            if let Some(r) = resources.last_mut() {
                r.acls.push(
                    AclDescription::default()
                        .with_principal(StrBytes::from_string(acl.principal.clone()))
                        .with_host(StrBytes::from_string(acl.host.clone()))
                        .with_operation(acl.operation)
                        .with_permission_type(acl.permission_type),
                );
            }
        }
        Ok(Reply::Ready(
            DescribeAclsResponse::default().with_resources(resources),
        ))
    }
}

/// The CreateAcls handler.
#[derive(Debug)]
pub struct CreateAcls;

impl Handler for CreateAcls {
    type Request = CreateAclsRequest;
    type Response = CreateAclsResponse;
    const KEY: ApiKey = ApiKey::CreateAcls;
    const NAME: &'static str = "CreateAcls";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 3;

    async fn handle(
        ctx: RequestContext,
        request: CreateAclsRequest,
    ) -> Result<Reply<CreateAclsResponse>, HandlerError> {
        let answer_all = |(code, message): (i16, Option<StrBytes>)| {
            let results = request
                .creations
                .iter()
                .map(|_| {
                    AclCreationResult::default()
                        .with_error_code(code)
                        .with_error_message(message.clone())
                })
                .collect();
            Ok(Reply::Ready(
                CreateAclsResponse::default().with_results(results),
            ))
        };
        if let Err(e) = gate(&ctx, Operation::Alter) {
            return answer_all(e);
        }
        let checked: Vec<Result<AclRecord, String>> = request
            .creations
            .iter()
            .map(|c| {
                let acl = AclRecord {
                    resource_type: c.resource_type,
                    resource_name: c.resource_name.as_str().to_string(),
                    pattern_type: c.resource_pattern_type,
                    principal: c.principal.as_str().to_string(),
                    host: c.host.as_str().to_string(),
                    operation: c.operation,
                    permission_type: c.permission_type,
                };
                validate_creation(&acl).map(|()| acl)
            })
            .collect();
        let valid: Vec<AclRecord> = checked.iter().filter_map(|c| c.clone().ok()).collect();
        // One record for every valid binding: they are stored together or not at all.
        let committed = if valid.is_empty() {
            Ok(())
        } else {
            let _serialized = ctx.server.admin_lock.lock().await;
            crate::topics::commit(
                &ctx.server,
                MetadataRecord::AclsCreated {
                    acls: valid.clone(),
                },
            )
            .await
            .map(drop)
        };
        let commit_error = committed
            .as_ref()
            .err()
            .map(|e| (metadata_error_code(e).code(), e.to_string()));
        for acl in &valid {
            audit::change(
                &ctx,
                "create ACL",
                &crate::authz::describe_binding(acl),
                commit_error.as_ref().map(|(_, m)| m.as_str()),
            );
        }
        let results = checked
            .into_iter()
            .map(|c| match (c, &commit_error) {
                (Err(why), _) => AclCreationResult::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_string(why))),
                (Ok(_), Some((code, message))) => AclCreationResult::default()
                    .with_error_code(*code)
                    .with_error_message(Some(StrBytes::from_string(message.clone()))),
                (Ok(_), None) => AclCreationResult::default(),
            })
            .collect();
        Ok(Reply::Ready(
            CreateAclsResponse::default().with_results(results),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v2 (KIP-482).
        bounds::check(body, BINDINGS, api_version, api_version >= 2)
    }
}

/// The DeleteAcls handler.
#[derive(Debug)]
pub struct DeleteAcls;

impl Handler for DeleteAcls {
    type Request = DeleteAclsRequest;
    type Response = DeleteAclsResponse;
    const KEY: ApiKey = ApiKey::DeleteAcls;
    const NAME: &'static str = "DeleteAcls";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 3;

    async fn handle(
        ctx: RequestContext,
        request: DeleteAclsRequest,
    ) -> Result<Reply<DeleteAclsResponse>, HandlerError> {
        let answer_all = |(code, message): (i16, Option<StrBytes>)| {
            let filter_results = request
                .filters
                .iter()
                .map(|_| {
                    DeleteAclsFilterResult::default()
                        .with_error_code(code)
                        .with_error_message(message.clone())
                })
                .collect();
            Ok(Reply::Ready(
                DeleteAclsResponse::default().with_filter_results(filter_results),
            ))
        };
        if let Err(e) = gate(&ctx, Operation::Alter) {
            return answer_all(e);
        }
        let _serialized = ctx.server.admin_lock.lock().await;
        let state = ctx.server.metadata.state();
        let mut doomed: BTreeSet<AclRecord> = BTreeSet::new();
        let matched: Vec<Result<Vec<AclRecord>, &'static str>> = request
            .filters
            .iter()
            .map(|f| {
                let filter = Filter {
                    resource_type: f.resource_type_filter,
                    resource_name: opt_string(&f.resource_name_filter),
                    pattern_type: f.pattern_type_filter,
                    principal: opt_string(&f.principal_filter),
                    host: opt_string(&f.host_filter),
                    operation: f.operation,
                    permission_type: f.permission_type,
                };
                if let Some(why) = filter.invalid() {
                    return Err(why);
                }
                let acls: Vec<AclRecord> = state
                    .acls()
                    .filter(|acl| filter.matches(acl))
                    .cloned()
                    .collect();
                doomed.extend(acls.iter().cloned());
                Ok(acls)
            })
            .collect();
        let commit_error = if doomed.is_empty() {
            None
        } else {
            let acls: Vec<AclRecord> = doomed.into_iter().collect();
            let committed = crate::topics::commit(
                &ctx.server,
                MetadataRecord::AclsDeleted { acls: acls.clone() },
            )
            .await;
            let error = committed
                .err()
                .map(|e| (metadata_error_code(&e).code(), e.to_string()));
            for acl in &acls {
                audit::change(
                    &ctx,
                    "delete ACL",
                    &crate::authz::describe_binding(acl),
                    error.as_ref().map(|(_, m)| m.as_str()),
                );
            }
            error
        };
        let filter_results = matched
            .into_iter()
            .map(|m| match m {
                Err(why) => DeleteAclsFilterResult::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_static_str(why))),
                Ok(acls) => {
                    let (code, message) = commit_error.as_ref().map_or((0, None), |(c, m)| {
                        (*c, Some(StrBytes::from_string(m.clone())))
                    });
                    DeleteAclsFilterResult::default()
                        .with_error_code(code)
                        .with_error_message(message)
                        .with_matching_acls(
                            acls.into_iter()
                                .map(|acl| {
                                    DeleteAclsMatchingAcl::default()
                                        .with_resource_type(acl.resource_type)
                                        .with_resource_name(StrBytes::from_string(
                                            acl.resource_name,
                                        ))
                                        .with_pattern_type(acl.pattern_type)
                                        .with_principal(StrBytes::from_string(acl.principal))
                                        .with_host(StrBytes::from_string(acl.host))
                                        .with_operation(acl.operation)
                                        .with_permission_type(acl.permission_type)
                                })
                                .collect(),
                        )
                }
            })
            .collect();
        Ok(Reply::Ready(
            DeleteAclsResponse::default().with_filter_results(filter_results),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v2 (KIP-482).
        bounds::check(body, BINDINGS, api_version, api_version >= 2)
    }
}
