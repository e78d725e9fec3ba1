//! SaslHandshake (key 17), v1, and SaslAuthenticate (key 36), v0-2 (KIP-43, KIP-152): the
//! SASL exchange of a `SASL_PLAINTEXT` listener (see [`crate::sasl`]).
//!
//! As Kafka's `SaslServerAuthenticator` and `KafkaApis` answer them:
//! - SaslHandshake names an enabled mechanism: NONE and the enabled mechanisms; another
//!   mechanism: UNSUPPORTED_SASL_MECHANISM (33) with the enabled ones, and the connection
//!   closes. v0 (tokens without Kafka framing, removed by Kafka 4.0) is not served.
//! - SaslAuthenticate carries the mechanism's tokens. A failed exchange answers
//!   SASL_AUTHENTICATION_FAILED (58) after `connection.failed.authentication.delay.ms`
//!   and closes the connection. `session_lifetime_ms` (v1+, KIP-368) is 0: sessions do not
//!   expire, as with Kafka's default `connections.max.reauth.ms`.
//! - Either request on a connection that needs no authentication (a `PLAINTEXT`
//!   listener) or that has authenticated: ILLEGAL_SASL_STATE (34).
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
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: SaslHandshakeRequest,
    ) -> Result<Reply<SaslHandshakeResponse>, HandlerError> {
        let Some(sasl) = &ctx.server.config.sasl else {
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
            return Ok(Reply::Ready(
                response.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
            ));
        };
        if !ctx.session.handshake(mechanism) {
            return Ok(Reply::Ready(
                response.with_error_code(ResponseError::IllegalSaslState.code()),
            ));
        }
        Ok(Reply::Ready(response))
    }

    fn unsupported_version(api_version: i16) -> Option<(i16, SaslHandshakeResponse)> {
        // v0's body is v1's: an error code and the mechanisms.
        (api_version == 0).then(|| {
            (
                0,
                SaslHandshakeResponse::default()
                    .with_error_code(ResponseError::UnsupportedVersion.code()),
            )
        })
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
        let Some(sasl) = &ctx.server.config.sasl else {
            return Ok(Reply::Ready(illegal()));
        };
        let mechanism = ctx.session.mechanism();
        let state = ctx.server.metadata.state();
        let credentials =
            |user: &str, m: Mechanism| crate::sasl::stored_credential(&state, user, m);
        let step = ctx
            .session
            .authenticate(&request.auth_bytes, sasl, &credentials);
        let mechanism_name = mechanism.map_or("?", Mechanism::name);
        let response = match step {
            Step::Continue(reply) => {
                SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(reply))
            }
            Step::Done { user, reply } => {
                audit::authentication(&ctx, mechanism_name, Some(&user), Ok(()));
                SaslAuthenticateResponse::default()
                    .with_auth_bytes(Bytes::from(reply))
                    .with_session_lifetime_ms(0)
            }
            Step::Failed(reason) => {
                audit::authentication(&ctx, mechanism_name, None, Err(&reason));
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
