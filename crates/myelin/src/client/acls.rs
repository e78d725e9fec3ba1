//! ACL administration: CreateAcls, DescribeAcls and DeleteAcls (KIP-11, KIP-290), with
//! Kafka's wire codes.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;

use super::{check, versions, ClientError, Connection};

/// The ANY code of resource types, pattern types, operations and permission types
/// (filters only).
pub const ANY: i8 = 1;
/// The MATCH pattern type (filters only): the ACLs that apply to a resource name.
pub const MATCH: i8 = 2;

/// One ACL binding, with Kafka's codes (the metadata log's record of one).
pub use myelin_cluster::AclRecord as Acl;

/// An ACL filter: `None` and [`ANY`] match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission_type: i8,
}

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

impl Connection {
    /// Creates `acls`; the first refused binding is the error.
    pub async fn create_acls(&mut self, acls: &[Acl]) -> Result<(), ClientError> {
        let version = self.version(ApiKey::CreateAcls, versions::ACLS)?;
        let request = CreateAclsRequest::default().with_creations(
            acls.iter()
                .map(|a| {
                    AclCreation::default()
                        .with_resource_type(a.resource_type)
                        .with_resource_name(s(&a.resource_name))
                        .with_resource_pattern_type(a.pattern_type)
                        .with_principal(s(&a.principal))
                        .with_host(s(&a.host))
                        .with_operation(a.operation)
                        .with_permission_type(a.permission_type)
                })
                .collect(),
        );
        let response = self.call(version, &request).await?;
        for (acl, result) in acls.iter().zip(&response.results) {
            check(result.error_code, result.error_message.as_ref(), || {
                format!("creating the ACL {acl:?}")
            })?;
        }
        Ok(())
    }

    /// The ACLs matching `filter`.
    pub async fn describe_acls(&mut self, filter: &AclFilter) -> Result<Vec<Acl>, ClientError> {
        let version = self.version(ApiKey::DescribeAcls, versions::ACLS)?;
        let request = DescribeAclsRequest::default()
            .with_resource_type_filter(filter.resource_type)
            .with_resource_name_filter(filter.resource_name.as_deref().map(s))
            .with_pattern_type_filter(filter.pattern_type)
            .with_principal_filter(filter.principal.as_deref().map(s))
            .with_host_filter(filter.host.as_deref().map(s))
            .with_operation(filter.operation)
            .with_permission_type(filter.permission_type);
        let response = self.call(version, &request).await?;
        check(response.error_code, response.error_message.as_ref(), || {
            "describing ACLs".to_string()
        })?;
        let mut out = Vec::new();
        for r in &response.resources {
            for a in &r.acls {
                out.push(Acl {
                    resource_type: r.resource_type,
                    resource_name: r.resource_name.to_string(),
                    pattern_type: r.pattern_type,
                    principal: a.principal.to_string(),
                    host: a.host.to_string(),
                    operation: a.operation,
                    permission_type: a.permission_type,
                });
            }
        }
        Ok(out)
    }

    /// Deletes the ACLs matching `filter` and returns them.
    pub async fn delete_acls(&mut self, filter: &AclFilter) -> Result<Vec<Acl>, ClientError> {
        let version = self.version(ApiKey::DeleteAcls, versions::ACLS)?;
        let request = DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
            .with_resource_type_filter(filter.resource_type)
            .with_resource_name_filter(filter.resource_name.as_deref().map(s))
            .with_pattern_type_filter(filter.pattern_type)
            .with_principal_filter(filter.principal.as_deref().map(s))
            .with_host_filter(filter.host.as_deref().map(s))
            .with_operation(filter.operation)
            .with_permission_type(filter.permission_type)]);
        let response = self.call(version, &request).await?;
        let Some(result) = response.filter_results.first() else {
            return Ok(Vec::new());
        };
        check(result.error_code, result.error_message.as_ref(), || {
            "deleting ACLs".to_string()
        })?;
        Ok(result
            .matching_acls
            .iter()
            .map(|m| Acl {
                resource_type: m.resource_type,
                resource_name: m.resource_name.to_string(),
                pattern_type: m.pattern_type,
                principal: m.principal.to_string(),
                host: m.host.to_string(),
                operation: m.operation,
                permission_type: m.permission_type,
            })
            .collect())
    }
}
