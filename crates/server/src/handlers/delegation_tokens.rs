//! The delegation token APIs (KIP-48, KIP-373): CreateDelegationToken (key 38, v1-3),
//! RenewDelegationToken (39, v1-2), ExpireDelegationToken (40, v1-2) and
//! DescribeDelegationToken (41, v1-3). See [`crate::delegation_tokens`].
//!
//! As in Kafka:
//! - Without `delegation.token.secret.key`: DELEGATION_TOKEN_AUTH_DISABLED.
//! - Create, renew and expire only over a connection authenticated by SASL (not with a
//!   token) or by a client certificate: else DELEGATION_TOKEN_REQUEST_NOT_ALLOWED.
//! - Create: the owner is the requester, or (v3) another user given CREATE_TOKENS on
//!   `User:<owner>` (else DELEGATION_TOKEN_AUTHORIZATION_FAILED); renewers must be `User`
//!   principals (INVALID_PRINCIPAL_TYPE). The token lives `delegation.token.expiry.time.ms`
//!   and at most `max_lifetime_ms` (when positive) and `delegation.token.max.lifetime.ms`.
//! - Renew and expire: by the HMAC; only the owner or a renewer
//!   (DELEGATION_TOKEN_OWNER_MISMATCH); an unknown HMAC is DELEGATION_TOKEN_NOT_FOUND, an
//!   expired token DELEGATION_TOKEN_EXPIRED. Renewal pushes the expiry to now plus the
//!   period (`delegation.token.expiry.time.ms` when negative), never past the maximum;
//!   expiry with a negative period removes the token at once.
//! - Describe: the tokens (of the owners asked for, or all) that the principal owns,
//!   requested or may renew, or may DESCRIBE (the DELEGATION_TOKEN resource of the id) or
//!   DESCRIBE_TOKENS (the USER resource of the owner).

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::describe_delegation_token_response::{
    DescribedDelegationToken, DescribedDelegationTokenRenewer,
};
use kafka_protocol::messages::{
    ApiKey, CreateDelegationTokenRequest, CreateDelegationTokenResponse,
    DescribeDelegationTokenRequest, DescribeDelegationTokenResponse, ExpireDelegationTokenRequest,
    ExpireDelegationTokenResponse, RenewDelegationTokenRequest, RenewDelegationTokenResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_cluster::{DelegationTokenRecord, MetadataRecord};

use crate::apis::{Handler, Reply};
use crate::authz::{Operation, ResourceType};
use crate::bounds::{self, all, from, Field, Ty};
use crate::context::{RequestContext, ServerContext};
use crate::delegation_tokens::{new_token_id, split_principal};
use crate::error::HandlerError;

fn now_ms() -> i64 {
    myelin_log::manager::wall_clock_ms()
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Why the connection may not manage tokens, if it may not.
fn refused(ctx: &RequestContext) -> Option<ResponseError> {
    if ctx.server.tokens.secret.is_none() {
        return Some(ResponseError::DelegationTokenAuthDisabled);
    }
    if !ctx.session.authenticated() || ctx.session.token_authenticated() {
        return Some(ResponseError::DelegationTokenRequestNotAllowed);
    }
    None
}

/// Commits `record` on a blocking thread (the metadata log fsyncs).
async fn commit(server: &Arc<ServerContext>, record: MetadataRecord) -> Result<(), ResponseError> {
    let metadata = server.metadata.clone();
    match tokio::task::spawn_blocking(move || metadata.commit(record)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot write a delegation token to the metadata log");
            Err(crate::error::metadata_error_code(&e))
        }
        Err(_) => Err(ResponseError::UnknownServerError),
    }
}

// ----- CreateDelegationToken --------------------------------------------------------------

const CREATE_SCHEMA: &[Field] = &[
    from(3, Ty::Str),                                // owner_principal_type
    from(3, Ty::Str),                                // owner_principal_name
    all(Ty::Structs(&[all(Ty::Str), all(Ty::Str)])), // renewers
    all(Ty::Int64),                                  // max_lifetime_ms
];

/// The CreateDelegationToken handler.
#[derive(Debug)]
pub struct CreateDelegationToken;

impl Handler for CreateDelegationToken {
    type Request = CreateDelegationTokenRequest;
    type Response = CreateDelegationTokenResponse;
    const KEY: ApiKey = ApiKey::CreateDelegationToken;
    const NAME: &'static str = "CreateDelegationToken";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 3;

    async fn handle(
        ctx: RequestContext,
        request: CreateDelegationTokenRequest,
    ) -> Result<Reply<CreateDelegationTokenResponse>, HandlerError> {
        let requester = ctx.session.principal();
        let (requester_type, requester_name) = split_principal(&requester);
        let fail = |e: ResponseError| {
            Ok(Reply::Ready(
                CreateDelegationTokenResponse::default()
                    .with_error_code(e.code())
                    .with_principal_type(s(requester_type))
                    .with_principal_name(s(requester_name))
                    .with_token_requester_principal_type(s(requester_type))
                    .with_token_requester_principal_name(s(requester_name)),
            ))
        };
        if let Some(e) = refused(&ctx) {
            return fail(e);
        }
        // The owner (v3, KIP-373): the requester unless another user is named.
        let owner = match (&request.owner_principal_type, &request.owner_principal_name) {
            (Some(t), Some(n)) if !n.is_empty() => {
                if t.as_str() != "User" {
                    return fail(ResponseError::InvalidPrincipalType);
                }
                format!("User:{}", n.as_str())
            }
            _ => requester.clone(),
        };
        if owner != requester
            && !ctx
                .authz()
                .allows(Operation::CreateTokens, ResourceType::User, &owner)
        {
            return fail(ResponseError::DelegationTokenAuthorizationFailed);
        }
        let mut renewers = Vec::with_capacity(request.renewers.len());
        for r in &request.renewers {
            if r.principal_type.as_str() != "User" {
                return fail(ResponseError::InvalidPrincipalType);
            }
            renewers.push(format!("User:{}", r.principal_name.as_str()));
        }
        let settings = &ctx.server.tokens;
        let now = now_ms();
        let max_lifetime = if request.max_lifetime_ms > 0 {
            request.max_lifetime_ms.min(settings.max_lifetime_ms)
        } else {
            settings.max_lifetime_ms
        };
        let max_timestamp_ms = now.saturating_add(max_lifetime);
        let token = DelegationTokenRecord {
            token_id: new_token_id(),
            owner: owner.clone(),
            requester: requester.clone(),
            renewers,
            issue_timestamp_ms: now,
            expiry_timestamp_ms: now
                .saturating_add(settings.expiry_time_ms)
                .min(max_timestamp_ms),
            max_timestamp_ms,
        };
        let hmac = settings.hmac(&token.token_id).unwrap_or_default();
        if let Err(e) = commit(
            &ctx.server,
            MetadataRecord::DelegationTokenAltered {
                token: token.clone(),
            },
        )
        .await
        {
            return fail(e);
        }
        tracing::info!(token_id = %token.token_id, owner = %owner, requester = %requester, "created a delegation token");
        crate::audit::change(
            &ctx,
            "create",
            &format!("delegation token {} of {owner}", token.token_id),
            None,
        );
        let (owner_type, owner_name) = split_principal(&owner);
        Ok(Reply::Ready(
            CreateDelegationTokenResponse::default()
                .with_principal_type(s(owner_type))
                .with_principal_name(s(owner_name))
                .with_token_requester_principal_type(s(requester_type))
                .with_token_requester_principal_name(s(requester_name))
                .with_issue_timestamp_ms(token.issue_timestamp_ms)
                .with_expiry_timestamp_ms(token.expiry_timestamp_ms)
                .with_max_timestamp_ms(token.max_timestamp_ms)
                .with_token_id(s(&token.token_id))
                .with_hmac(Bytes::from(hmac)),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, CREATE_SCHEMA, api_version, api_version >= 2)
    }
}

// ----- RenewDelegationToken and ExpireDelegationToken -------------------------------------

const HMAC_SCHEMA: &[Field] = &[
    all(Ty::Bytes), // hmac
    all(Ty::Int64), // renew_period_ms / expiry_time_period_ms
];

/// What a renewal or an expiry does to the token.
enum Change {
    Renew(i64),
    Expire(i64),
}

/// Renews or expires the token whose HMAC is `hmac`: the error, or its new expiry time.
async fn change(ctx: &RequestContext, hmac: &[u8], change: Change) -> Result<i64, ResponseError> {
    if let Some(e) = refused(ctx) {
        return Err(e);
    }
    let server = &ctx.server;
    let state = server.metadata.state();
    let token = server
        .tokens
        .token_by_hmac(&state, hmac)
        .cloned()
        .ok_or(ResponseError::DelegationTokenNotFound)?;
    let principal = ctx.session.principal();
    if token.owner != principal && !token.renewers.contains(&principal) {
        return Err(ResponseError::DelegationTokenOwnerMismatch);
    }
    let now = now_ms();
    if token.expiry_timestamp_ms < now {
        return Err(ResponseError::DelegationTokenExpired);
    }
    let (record, expiry, what) = match change {
        Change::Renew(period) => {
            let period = if period < 0 {
                server.tokens.expiry_time_ms
            } else {
                period
            };
            let expiry = now.saturating_add(period).min(token.max_timestamp_ms);
            let record = MetadataRecord::DelegationTokenAltered {
                token: DelegationTokenRecord {
                    expiry_timestamp_ms: expiry,
                    ..token.clone()
                },
            };
            (record, expiry, "renew")
        }
        Change::Expire(period) if period < 0 => (
            MetadataRecord::DelegationTokenRemoved {
                token_id: token.token_id.clone(),
            },
            now,
            "expire",
        ),
        Change::Expire(period) => {
            let expiry = now.saturating_add(period).min(token.max_timestamp_ms);
            let record = MetadataRecord::DelegationTokenAltered {
                token: DelegationTokenRecord {
                    expiry_timestamp_ms: expiry,
                    ..token.clone()
                },
            };
            (record, expiry, "expire")
        }
    };
    commit(server, record).await?;
    tracing::info!(token_id = %token.token_id, expiry, "{what}d a delegation token");
    crate::audit::change(
        ctx,
        what,
        &format!("delegation token {} of {}", token.token_id, token.owner),
        None,
    );
    Ok(expiry)
}

/// The RenewDelegationToken handler.
#[derive(Debug)]
pub struct RenewDelegationToken;

impl Handler for RenewDelegationToken {
    type Request = RenewDelegationTokenRequest;
    type Response = RenewDelegationTokenResponse;
    const KEY: ApiKey = ApiKey::RenewDelegationToken;
    const NAME: &'static str = "RenewDelegationToken";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 2;

    async fn handle(
        ctx: RequestContext,
        request: RenewDelegationTokenRequest,
    ) -> Result<Reply<RenewDelegationTokenResponse>, HandlerError> {
        let response = match change(&ctx, &request.hmac, Change::Renew(request.renew_period_ms))
            .await
        {
            Ok(expiry) => RenewDelegationTokenResponse::default().with_expiry_timestamp_ms(expiry),
            Err(e) => RenewDelegationTokenResponse::default().with_error_code(e.code()),
        };
        Ok(Reply::Ready(response))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, HMAC_SCHEMA, api_version, api_version >= 2)
    }
}

/// The ExpireDelegationToken handler.
#[derive(Debug)]
pub struct ExpireDelegationToken;

impl Handler for ExpireDelegationToken {
    type Request = ExpireDelegationTokenRequest;
    type Response = ExpireDelegationTokenResponse;
    const KEY: ApiKey = ApiKey::ExpireDelegationToken;
    const NAME: &'static str = "ExpireDelegationToken";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 2;

    async fn handle(
        ctx: RequestContext,
        request: ExpireDelegationTokenRequest,
    ) -> Result<Reply<ExpireDelegationTokenResponse>, HandlerError> {
        let response = match change(
            &ctx,
            &request.hmac,
            Change::Expire(request.expiry_time_period_ms),
        )
        .await
        {
            Ok(expiry) => ExpireDelegationTokenResponse::default().with_expiry_timestamp_ms(expiry),
            Err(e) => ExpireDelegationTokenResponse::default().with_error_code(e.code()),
        };
        Ok(Reply::Ready(response))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, HMAC_SCHEMA, api_version, api_version >= 2)
    }
}

// ----- DescribeDelegationToken ------------------------------------------------------------

const DESCRIBE_SCHEMA: &[Field] = &[all(Ty::Structs(&[all(Ty::Str), all(Ty::Str)]))];

/// The DescribeDelegationToken handler.
#[derive(Debug)]
pub struct DescribeDelegationToken;

impl Handler for DescribeDelegationToken {
    type Request = DescribeDelegationTokenRequest;
    type Response = DescribeDelegationTokenResponse;
    const KEY: ApiKey = ApiKey::DescribeDelegationToken;
    const NAME: &'static str = "DescribeDelegationToken";
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 3;

    async fn handle(
        ctx: RequestContext,
        request: DescribeDelegationTokenRequest,
    ) -> Result<Reply<DescribeDelegationTokenResponse>, HandlerError> {
        let settings = &ctx.server.tokens;
        if settings.secret.is_none() {
            return Ok(Reply::Ready(
                DescribeDelegationTokenResponse::default()
                    .with_error_code(ResponseError::DelegationTokenAuthDisabled.code()),
            ));
        }
        if !ctx.session.authenticated() || ctx.session.token_authenticated() {
            return Ok(Reply::Ready(
                DescribeDelegationTokenResponse::default()
                    .with_error_code(ResponseError::DelegationTokenRequestNotAllowed.code()),
            ));
        }
        let version = ctx.api_version();
        let principal = ctx.session.principal();
        let owners: Option<Vec<String>> = request.owners.as_ref().map(|owners| {
            owners
                .iter()
                .map(|o| {
                    format!(
                        "{}:{}",
                        o.principal_type.as_str(),
                        o.principal_name.as_str()
                    )
                })
                .collect()
        });
        let authz = ctx.authz();
        let state = ctx.server.metadata.state();
        let tokens = state
            .delegation_tokens()
            .filter(|t| owners.as_ref().is_none_or(|o| o.contains(&t.owner)))
            .filter(|t| {
                t.owner == principal
                    || t.requester == principal
                    || t.renewers.contains(&principal)
                    || authz.allows_quietly(
                        Operation::Describe,
                        ResourceType::DelegationToken,
                        &t.token_id,
                    )
                    || (version >= 3
                        && authz.allows_quietly(
                            Operation::DescribeTokens,
                            ResourceType::User,
                            &t.owner,
                        ))
            })
            .map(|t| {
                let (owner_type, owner_name) = split_principal(&t.owner);
                let (requester_type, requester_name) = split_principal(&t.requester);
                let mut out = DescribedDelegationToken::default()
                    .with_principal_type(s(owner_type))
                    .with_principal_name(s(owner_name))
                    .with_issue_timestamp(t.issue_timestamp_ms)
                    .with_expiry_timestamp(t.expiry_timestamp_ms)
                    .with_max_timestamp(t.max_timestamp_ms)
                    .with_token_id(s(&t.token_id))
                    .with_hmac(Bytes::from(settings.hmac(&t.token_id).unwrap_or_default()))
                    .with_renewers(
                        t.renewers
                            .iter()
                            .map(|r| {
                                let (rt, rn) = split_principal(r);
                                DescribedDelegationTokenRenewer::default()
                                    .with_principal_type(s(rt))
                                    .with_principal_name(s(rn))
                            })
                            .collect(),
                    );
                if version >= 3 {
                    out.token_requester_principal_type = s(requester_type);
                    out.token_requester_principal_name = s(requester_name);
                }
                out
            })
            .collect();
        Ok(Reply::Ready(
            DescribeDelegationTokenResponse::default().with_tokens(tokens),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, DESCRIBE_SCHEMA, api_version, api_version >= 2)
    }
}

/// Removes the tokens that expired (Kafka's expiry check, every
/// `delegation.token.expiry.check.interval.ms`); returns how many.
pub fn remove_expired(server: &ServerContext) -> usize {
    let now = now_ms();
    let state = server.metadata.state();
    let expired: Vec<String> = state
        .delegation_tokens()
        .filter(|t| t.expiry_timestamp_ms < now)
        .map(|t| t.token_id.clone())
        .collect();
    let mut removed = 0;
    for token_id in expired {
        match server
            .metadata
            .commit(MetadataRecord::DelegationTokenRemoved {
                token_id: token_id.clone(),
            }) {
            Ok(_) => {
                tracing::info!(token_id = %token_id, "removed an expired delegation token");
                removed += 1;
            }
            Err(e) => {
                tracing::warn!(token_id = %token_id, error = %e, "cannot remove an expired delegation token")
            }
        }
    }
    removed
}
