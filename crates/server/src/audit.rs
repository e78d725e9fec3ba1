//! The audit log: who authenticated, and who changed what, as `tracing` events with the
//! target `myelin::audit` at INFO (WARN for refusals), so that they can be routed apart
//! (`--log-level info,myelin::audit=info`, JSON output with `--log-format json`).
//!
//! Each event names the principal (`User:<name>`, or `User:ANONYMOUS` on a listener
//! without SASL), the client's address, its client id and the connection.

use crate::context::RequestContext;

/// Who a connection's client is, for events outside a request (SASL tokens after
/// SaslHandshake v0 come without a request header).
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub peer: std::net::SocketAddr,
    pub connection_id: u64,
    pub client_id: &'a str,
}

/// The outcome of one SASL exchange (success, or failure with its reason).
pub fn authentication(
    ctx: &RequestContext,
    mechanism: &str,
    user: Option<&str>,
    outcome: Result<(), &str>,
) {
    let client = Client {
        peer: ctx.peer,
        connection_id: ctx.connection_id,
        client_id: ctx.header.client_id.as_deref().unwrap_or(""),
    };
    authentication_of(&client, mechanism, user, outcome);
}

/// [`authentication`] for a client known by its connection.
pub fn authentication_of(
    client: &Client<'_>,
    mechanism: &str,
    user: Option<&str>,
    outcome: Result<(), &str>,
) {
    let Client {
        peer,
        connection_id,
        client_id,
    } = *client;
    match outcome {
        Ok(()) => tracing::info!(
            target: "myelin::audit",
            event = "authentication",
            outcome = "success",
            principal = %crate::sasl::principal(user.unwrap_or("")),
            mechanism,
            peer = %peer,
            client_id,
            connection_id,
            "authenticated"
        ),
        Err(reason) => tracing::warn!(
            target: "myelin::audit",
            event = "authentication",
            outcome = "failure",
            mechanism,
            reason,
            peer = %peer,
            client_id,
            connection_id,
            "authentication failed"
        ),
    }
}

/// A change to the cluster's resources (topics, configs, credentials, records, groups):
/// `operation` on `resource`, with its outcome (`None` for success, else the error).
pub fn change(ctx: &RequestContext, operation: &str, resource: &str, error: Option<&str>) {
    let client_id = ctx.header.client_id.as_deref().unwrap_or("");
    let principal = ctx.session.principal();
    match error {
        None => tracing::info!(
            target: "myelin::audit",
            event = "change",
            outcome = "success",
            operation,
            resource,
            principal,
            peer = %ctx.peer,
            client_id,
            connection_id = ctx.connection_id,
            "{operation} {resource}"
        ),
        Some(error) => tracing::warn!(
            target: "myelin::audit",
            event = "change",
            outcome = "refused",
            operation,
            resource,
            error,
            principal,
            peer = %ctx.peer,
            client_id,
            connection_id = ctx.connection_id,
            "{operation} {resource} refused: {error}"
        ),
    }
}

/// A request the authorizer refused: `principal` may not do `operation` on the resource
/// (Kafka's authorizer log: "Principal = ... is Denied operation = ... from host = ... on
/// resource = ...").
pub fn denial(
    ctx: &RequestContext,
    principal: &str,
    operation: &str,
    resource_type: &str,
    resource: &str,
) {
    let client_id = ctx.header.client_id.as_deref().unwrap_or("");
    let api = crate::apis::api_name(ctx.header.request_api_key);
    tracing::warn!(
        target: "myelin::audit",
        event = "authorization",
        outcome = "denied",
        principal,
        operation,
        resource_type,
        resource,
        api,
        peer = %ctx.peer,
        client_id,
        connection_id = ctx.connection_id,
        "{principal} denied {operation} on {resource_type}:{resource} ({api})"
    );
}
