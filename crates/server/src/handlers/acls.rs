//! DescribeAcls (key 29), CreateAcls (key 30) and DeleteAcls (key 31), v1-3: Myelin has no
//! authorizer, so, like a Kafka broker without `authorizer.class.name`, it advertises the
//! ACL APIs and answers each with SECURITY_DISABLED (54) and Kafka's message, "No
//! Authorizer is configured.": a clear answer to `kafka-acls.sh` and the admin clients
//! instead of a closed connection.
//!
//! DescribeAcls carries the error at the top level; CreateAcls once per creation;
//! DeleteAcls once per filter, with no matching ACLs.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::HandlerError;

/// Kafka's message for ACL requests to a broker without an authorizer.
const NO_AUTHORIZER: &str = "No Authorizer is configured.";

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
        _ctx: RequestContext,
        _request: DescribeAclsRequest,
    ) -> Result<Reply<DescribeAclsResponse>, HandlerError> {
        let (code, message) = security_disabled();
        Ok(Reply::Ready(
            DescribeAclsResponse::default()
                .with_error_code(code)
                .with_error_message(message),
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
        _ctx: RequestContext,
        request: CreateAclsRequest,
    ) -> Result<Reply<CreateAclsResponse>, HandlerError> {
        let (code, message) = security_disabled();
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
        _ctx: RequestContext,
        request: DeleteAclsRequest,
    ) -> Result<Reply<DeleteAclsResponse>, HandlerError> {
        let (code, message) = security_disabled();
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
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v2 (KIP-482).
        bounds::check(body, BINDINGS, api_version, api_version >= 2)
    }
}
