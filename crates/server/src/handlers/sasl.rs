//! SaslHandshake (key 17), v1, and SaslAuthenticate (key 36), v0-2 (KIP-43, KIP-152): the
//! SASL exchange of a `SASL_PLAINTEXT` listener (see [`crate::sasl`]).
//!
//! As Kafka's `SaslServerAuthenticator` and `KafkaApis` answer them:
//! - SaslHandshake names an enabled mechanism: NONE and the enabled mechanisms; another
//!   mechanism: UNSUPPORTED_SASL_MECHANISM (33) with the enabled ones, and the connection
//!   closes. After v0 the client sends its tokens as bare size-prefixed frames, answered
//!   the same way (the connection loop runs them, [`raw_token`]); a failure there closes
//!   the connection, the only answer v0 has. librdkafka before 2.x needs v0 advertised to
//!   use SASL at all; Sarama sends v0 by default.
//! - SaslAuthenticate carries the mechanism's tokens. A failed exchange answers
//!   SASL_AUTHENTICATION_FAILED (58) after `connection.failed.authentication.delay.ms`
//!   and closes the connection. `session_lifetime_ms` (v1+, KIP-368) is 0 (sessions do not
//!   expire, Kafka's default) unless `connections.max.reauth.ms` is set: then the session
//!   lasts that long, or until its OAUTHBEARER token expires if sooner, and the client
//!   re-authenticates on the connection (SaslHandshake v1 and SaslAuthenticate again, same
//!   mechanism and user) before an expired session's next request would close it.
//! - Either request on a connection that needs no authentication (a `PLAINTEXT`
//!   listener), or that has authenticated without a session lifetime:
//!   ILLEGAL_SASL_STATE (34).
//!
//! Every outcome is written to the audit log (target `myelin::audit`).

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply};
use crate::audit;
use crate::context::RequestContext;
use crate::error::HandlerError;
use crate::sasl::{Mechanism, Step};

/// The SaslHandshake handler.
#[derive(Debug)]
pub struct SaslHandshake;

impl Handler for SaslHandshake {
    type Request = SaslHandshakeRequest;
    type Response = SaslHandshakeResponse;
    const KEY: ApiKey = ApiKey::SaslHandshake;
    const NAME: &'static str = "SaslHandshake";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: SaslHandshakeRequest,
    ) -> Result<Reply<SaslHandshakeResponse>, HandlerError> {
        let Some(sasl) = &ctx.listener().sasl else {
            return Ok(Reply::Ready(
                SaslHandshakeResponse::default()
                    .with_error_code(ResponseError::IllegalSaslState.code()),
            ));
        };
        let enabled: Vec<StrBytes> = sasl
            .mechanisms
            .iter()
            .map(|m| StrBytes::from_static_str(m.name()))
            .collect();
        let response = SaslHandshakeResponse::default().with_mechanisms(enabled);
        let wanted = request.mechanism.as_str();
        let Some(mechanism) = Mechanism::from_name(wanted).filter(|m| sasl.mechanisms.contains(m))
        else {
            ctx.session.fail();
            audit::authentication(&ctx, wanted, None, Err("mechanism not enabled"));
            ctx.server.metrics.authentication("unsupported", false);
            return Ok(Reply::Ready(
                response.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
            ));
        };
        let started = if ctx.api_version() == 0 {
            ctx.session.handshake_raw(mechanism)
        } else {
            ctx.session.handshake(mechanism)
        };
        if !started {
            return Ok(Reply::Ready(
                response.with_error_code(ResponseError::IllegalSaslState.code()),
            ));
        }
        Ok(Reply::Ready(response))
    }
}

/// A bare SASL token after SaslHandshake v0: the answer as a bare size-prefixed frame, or
/// `Err` (the reason) when the exchange failed and the connection must close.
pub fn raw_token(
    server: &crate::context::ServerContext,
    session: &crate::sasl::Session,
    client: &audit::Client<'_>,
    token: &[u8],
) -> Result<Vec<u8>, String> {
    let Some(sasl) = session.sasl() else {
        return Err("no SASL on this listener".to_string());
    };
    let mechanism = session.mechanism();
    let mechanism_name = mechanism.map_or("?", Mechanism::name);
    let state = server.metadata.state();
    let credentials = crate::sasl::StoredCredentials {
        state: &state,
        tokens: &server.tokens,
    };
    match session.authenticate(token, sasl, &credentials) {
        Step::Continue(reply) => Ok(reply),
        Step::Done { user, reply, .. } => {
            audit::authentication_of(client, mechanism_name, Some(&user), Ok(()));
            server.metrics.authentication(mechanism_name, true);
            Ok(reply)
        }
        Step::Failed(reason) => {
            audit::authentication_of(client, mechanism_name, None, Err(&reason));
            server.metrics.authentication(mechanism_name, false);
            Err(reason)
        }
        Step::Illegal => Err("no SASL exchange under way".to_string()),
    }
}

/// The SaslAuthenticate handler.
#[derive(Debug)]
pub struct SaslAuthenticate;

impl Handler for SaslAuthenticate {
    type Request = SaslAuthenticateRequest;
    type Response = SaslAuthenticateResponse;
    const KEY: ApiKey = ApiKey::SaslAuthenticate;
    const NAME: &'static str = "SaslAuthenticate";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 2;

    async fn handle(
        ctx: RequestContext,
        request: SaslAuthenticateRequest,
    ) -> Result<Reply<SaslAuthenticateResponse>, HandlerError> {
        let illegal = || {
            SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::IllegalSaslState.code())
                .with_error_message(Some(StrBytes::from_static_str(
                    "SaslAuthenticate request received after successful authentication",
                )))
        };
        let Some(sasl) = &ctx.listener().sasl else {
            return Ok(Reply::Ready(illegal()));
        };
        let mechanism = ctx.session.mechanism();
        let state = ctx.server.metadata.state();
        let credentials = crate::sasl::StoredCredentials {
            state: &state,
            tokens: &ctx.server.tokens,
        };
        let step = ctx
            .session
            .authenticate(&request.auth_bytes, sasl, &credentials);
        let mechanism_name = mechanism.map_or("?", Mechanism::name);
        let response = match step {
            Step::Continue(reply) => {
                SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(reply))
            }
            Step::Done {
                user,
                reply,
                session_lifetime_ms,
            } => {
                audit::authentication(&ctx, mechanism_name, Some(&user), Ok(()));
                ctx.server.metrics.authentication(mechanism_name, true);
                SaslAuthenticateResponse::default()
                    .with_auth_bytes(Bytes::from(reply))
                    .with_session_lifetime_ms(session_lifetime_ms)
            }
            Step::Failed(reason) => {
                audit::authentication(&ctx, mechanism_name, None, Err(&reason));
                ctx.server.metrics.authentication(mechanism_name, false);
                tokio::time::sleep(Duration::from_millis(sasl.failed_authentication_delay_ms))
                    .await;
                let message = match mechanism {
                    Some(Mechanism::Plain) | None => {
                        "Authentication failed: Invalid username or password".to_string()
                    }
                    Some(m) => format!(
                        "Authentication failed during authentication due to invalid credentials with SASL mechanism {m}"
                    ),
                };
                SaslAuthenticateResponse::default()
                    .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                    .with_error_message(Some(StrBytes::from_string(message)))
            }
            Step::Illegal => illegal(),
        };
        Ok(Reply::Ready(response))
    }
}
