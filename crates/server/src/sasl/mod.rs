//! SASL authentication on a `SASL_PLAINTEXT` or `SASL_SSL` listener (KIP-43, KIP-152): the
//! mechanisms PLAIN (RFC 4616), SCRAM-SHA-256/512 (RFC 5802, RFC 7677, KIP-84) and
//! OAUTHBEARER (RFC 7628, KIP-255, [`oauthbearer`]), as Kafka's `SaslServerAuthenticator`
//! runs them, with re-authentication (KIP-368) when `connections.max.reauth.ms` gives
//! sessions a lifetime.
//!
//! A connection starts unauthenticated: it may send ApiVersions, then SaslHandshake (v1)
//! naming a mechanism, then SaslAuthenticate with that mechanism's tokens until the
//! exchange succeeds. Any other request before that closes the connection, as Kafka does.
//! A failed exchange is answered with SASL_AUTHENTICATION_FAILED after
//! `connection.failed.authentication.delay.ms` and the connection is closed.
//!
//! PLAIN checks the password against the users of the listener's JAAS config
//! (`listener.name.<listener>.plain.sasl.jaas.config`, `user_<name>="<password>"`).
//! SCRAM checks the client's proof against the credentials stored in the metadata log
//! (AlterUserScramCredentials, `kafka-configs.sh --alter --add-config
//! 'SCRAM-SHA-256=[password=...]'`): the broker keeps the salt, the iteration count and the
//! stored and server keys, never the password.

pub mod jwks;
pub mod oauthbearer;
pub mod plain;
pub mod scram;

use std::collections::BTreeMap;
use std::fmt;

use parking_lot::Mutex;

/// Kafka's `sasl.server.max.receive.size` default: the largest frame a SASL connection may
/// send before it has authenticated.
pub const MAX_RECEIVE_SIZE: usize = 524_288;

pub use scram::ScramCredential;

/// A SASL mechanism Myelin serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    OAuthBearer,
}

impl Mechanism {
    /// Every mechanism served.
    pub const ALL: [Mechanism; 4] = [
        Mechanism::Plain,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
        Mechanism::OAuthBearer,
    ];

    /// The mechanisms enabled by default, in order (OAUTHBEARER needs a JWKS first).
    pub const DEFAULT: [Mechanism; 3] = [
        Mechanism::Plain,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
    ];

    /// The mechanism's SASL name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism named `name` (SASL names are case-sensitive, as in Kafka).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The SCRAM mechanism's code in the SCRAM credential APIs (Kafka's `ScramMechanism`:
    /// 1 SHA-256, 2 SHA-512); `None` for PLAIN.
    pub fn scram_type(self) -> Option<i8> {
        match self {
            Mechanism::Plain | Mechanism::OAuthBearer => None,
            Mechanism::ScramSha256 => Some(1),
            Mechanism::ScramSha512 => Some(2),
        }
    }

    /// The SCRAM mechanism with code `code`.
    pub fn from_scram_type(code: i8) -> Option<Mechanism> {
        match code {
            1 => Some(Mechanism::ScramSha256),
            2 => Some(Mechanism::ScramSha512),
            _ => None,
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The SASL settings of a `SASL_PLAINTEXT` listener.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// `sasl.enabled.mechanisms`, in the configured order.
    pub mechanisms: Vec<Mechanism>,
    /// PLAIN's users and passwords, from the listener's JAAS config.
    pub plain_users: BTreeMap<String, String>,
    /// `connection.failed.authentication.delay.ms`: how long a failed authentication
    /// waits before its answer (Kafka's default, 100 ms), to slow down password guessing.
    pub failed_authentication_delay_ms: u64,
    /// OAUTHBEARER's token validator (`sasl.oauthbearer.jwks.endpoint.url`, ...).
    pub oauthbearer: Option<oauthbearer::OAuthConfig>,
    /// `connections.max.reauth.ms` (KIP-368): a session lasts this long (or until its
    /// OAUTHBEARER token expires, if sooner), then the client must re-authenticate on the
    /// connection or it is closed at its next request. 0 (Kafka's default): sessions
    /// never expire.
    pub max_reauth_ms: u64,
}

impl Default for SaslConfig {
    fn default() -> Self {
        Self {
            mechanisms: Mechanism::DEFAULT.to_vec(),
            plain_users: BTreeMap::new(),
            failed_authentication_delay_ms: 100,
            oauthbearer: None,
            max_reauth_ms: 0,
        }
    }
}

/// Passwords stay out of logs.
impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanisms", &self.mechanisms)
            .field("plain_users", &self.plain_users.keys().collect::<Vec<_>>())
            .field(
                "failed_authentication_delay_ms",
                &self.failed_authentication_delay_ms,
            )
            .finish()
    }
}

/// Parses `sasl.enabled.mechanisms`: a comma-separated list of the mechanisms above.
pub fn parse_mechanisms(value: &str) -> Result<Vec<Mechanism>, String> {
    let mut out = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let m = Mechanism::from_name(name).ok_or_else(|| {
            format!("{name} is not a SASL mechanism Myelin serves (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)")
        })?;
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err("no SASL mechanism enabled".to_string());
    }
    Ok(out)
}

/// Parses the users of a PLAIN JAAS config, Kafka's `PlainLoginModule` syntax:
/// `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin"
/// password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";`. The
/// `user_<name>` options are the users the broker accepts; `username` and `password` are
/// the broker's own (for inter-broker connections) and are ignored here.
pub fn parse_plain_jaas(value: &str) -> Result<BTreeMap<String, String>, String> {
    let (module, options) = parse_jaas(value)?;
    if !module.ends_with("PlainLoginModule") {
        return Err(format!(
            "the PLAIN mechanism takes PlainLoginModule, not {module}"
        ));
    }
    let mut users = BTreeMap::new();
    for (key, value) in options {
        if let Some(user) = key.strip_prefix("user_") {
            if user.is_empty() {
                return Err("an option user_ names no user".to_string());
            }
            users.insert(user.to_string(), value);
        }
    }
    Ok(users)
}

/// Parses one JAAS config entry, `<login module> <control flag> [key=value ...];` (a
/// value quoted with `"` or a bare word): the login module and the options.
pub fn parse_jaas(value: &str) -> Result<(String, BTreeMap<String, String>), String> {
    let value = value.trim();
    let body = value
        .strip_suffix(';')
        .ok_or("a JAAS config ends with ';'")?
        .trim();
    let (module, rest) = body
        .split_once(char::is_whitespace)
        .ok_or("a JAAS config names a login module and a control flag")?;
    let rest = rest.trim_start();
    let (flag, mut options) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if !["required", "requisite", "sufficient", "optional"].contains(&flag) {
        return Err(format!("{flag:?} is not a JAAS control flag"));
    }
    let mut parsed = BTreeMap::new();
    loop {
        options = options.trim_start();
        if options.is_empty() {
            break;
        }
        let (key, after) = options
            .split_once('=')
            .ok_or_else(|| format!("option {options:?} has no '='"))?;
        let key = key.trim();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| format!("option {key}: unterminated quote"))?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(char::is_whitespace).unwrap_or((after, ""))
        };
        parsed.insert(key.to_string(), value.to_string());
        options = remaining;
    }
    Ok((module.to_string(), parsed))
}

/// The principal of an authenticated connection: Kafka's `User:<name>`.
pub fn principal(user: &str) -> String {
    format!("User:{user}")
}

/// Where a connection's authentication stands.
#[derive(Debug, Default)]
enum Stage {
    /// No handshake yet.
    #[default]
    Start,
    /// SaslHandshake chose this mechanism; SaslAuthenticate comes next.
    Handshaken(Mechanism),
    /// A SCRAM exchange waits for the client's final message.
    ScramFirstDone(Box<scram::ServerFirst>),
    /// An OAUTHBEARER token was refused with the error challenge; the client's `%x01`
    /// comes next, then the failure (with this reason for the log).
    OAuthRefused(String),
    /// Authenticated as this user, with this mechanism, until `expires` (KIP-368; `None`:
    /// for the connection's life).
    Done {
        user: String,
        mechanism: Mechanism,
        expires: Option<std::time::Instant>,
    },
    /// The exchange failed; the connection closes once the answer is written.
    Failed,
}

/// One connection's authentication state, shared by the connection loop (which gates
/// requests on it) and the SASL handlers (which advance it). Requests are handled in the
/// order they arrive, so the handlers see the stages in order.
#[derive(Debug, Default)]
pub struct Session {
    /// Whether this connection must authenticate (a `SASL_PLAINTEXT` listener).
    required: bool,
    stage: Mutex<Stage>,
    /// SaslHandshake v0 was used: the tokens that follow come as bare size-prefixed
    /// frames, not SaslAuthenticate requests (Kafka before 1.0; Sarama's default).
    raw_tokens: std::sync::atomic::AtomicBool,
    /// The principal of the client's TLS certificate, if it presented one.
    certificate_principal: Option<String>,
    /// The listener the connection came in on (`None`: the server's first).
    listener: Option<std::sync::Arc<crate::listener::ListenerContext>>,
    /// During a re-authentication (KIP-368): the user the connection was authenticated as,
    /// whom the new exchange must authenticate again.
    reauthenticating: Mutex<Option<String>>,
    /// Until when the connection reads no further request: a client quota's throttle
    /// (KIP-219's muting of the channel).
    throttled_until: Mutex<Option<std::time::Instant>>,
    /// Authenticated with a delegation token (KIP-48): such a connection may not ask for
    /// tokens itself.
    token_authenticated: std::sync::atomic::AtomicBool,
}

/// What the connection loop does with a request of a connection that is not
/// authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Serve it.
    Pass,
    /// Close the connection: Kafka's "Unexpected Kafka request during SASL handshake".
    Close,
}

impl Session {
    /// The state of a new connection; `required` on a SASL listener.
    pub fn new(required: bool) -> Self {
        Self::with_certificate(required, None)
    }

    /// [`Session::new`] for a TLS connection whose client certificate names `principal`.
    pub fn with_certificate(required: bool, principal: Option<String>) -> Self {
        Self {
            required,
            stage: Mutex::new(Stage::Start),
            raw_tokens: std::sync::atomic::AtomicBool::new(false),
            certificate_principal: principal,
            listener: None,
            reauthenticating: Mutex::new(None),
            throttled_until: Mutex::new(None),
            token_authenticated: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Holds the connection's next request back for `throttle` from now (or longer, when
    /// it is held back longer already).
    pub fn throttle(&self, throttle: std::time::Duration) {
        if throttle.is_zero() {
            return;
        }
        let until = std::time::Instant::now() + throttle;
        let mut current = self.throttled_until.lock();
        if current.is_none_or(|c| c < until) {
            *current = Some(until);
        }
    }

    /// Until when the next request must wait, if it must; clears it.
    pub fn take_throttle(&self) -> Option<std::time::Instant> {
        self.throttled_until.lock().take()
    }

    /// The user name client quotas count against: the principal's name (`ANONYMOUS`
    /// before authentication), as Kafka's quota manager takes it.
    pub fn quota_user(&self) -> String {
        let principal = self.principal();
        match principal.split_once(':') {
            Some((_, name)) => name.to_string(),
            None => principal,
        }
    }

    /// The state of a new connection on `listener` (which must authenticate when the
    /// listener has SASL), whose client certificate, if any, names `principal`.
    pub fn on_listener(
        listener: std::sync::Arc<crate::listener::ListenerContext>,
        principal: Option<String>,
    ) -> Self {
        Self {
            listener: Some(listener.clone()),
            ..Self::with_certificate(listener.sasl.is_some(), principal)
        }
    }

    /// The listener the connection came in on (`None`: the server's first).
    pub fn listener(&self) -> Option<&std::sync::Arc<crate::listener::ListenerContext>> {
        self.listener.as_ref()
    }

    /// The SASL settings of the connection's listener.
    pub fn sasl(&self) -> Option<&SaslConfig> {
        self.listener.as_ref().and_then(|l| l.sasl.as_ref())
    }

    /// Whether the next frame is a bare SASL token (after SaslHandshake v0, until the
    /// exchange ends).
    pub fn expects_raw_token(&self) -> bool {
        self.raw_tokens.load(std::sync::atomic::Ordering::Acquire)
            && matches!(
                &*self.stage.lock(),
                Stage::Handshaken(_) | Stage::ScramFirstDone(_) | Stage::OAuthRefused(_)
            )
    }

    /// SaslHandshake v0 chose `mechanism`: as [`Session::handshake`], and the tokens come
    /// as bare frames.
    pub fn handshake_raw(&self, mechanism: Mechanism) -> bool {
        // Bare tokens (v0) cannot re-authenticate.
        if !matches!(*self.stage.lock(), Stage::Start) {
            return false;
        }
        let ok = self.handshake(mechanism);
        if ok {
            self.raw_tokens
                .store(true, std::sync::atomic::Ordering::Release);
        }
        ok
    }

    /// Whether a request with `api_key` may be served now.
    pub fn gate(&self, api_key: i16) -> Gate {
        const SASL_HANDSHAKE: i16 = 17;
        const API_VERSIONS: i16 = 18;
        const SASL_AUTHENTICATE: i16 = 36;
        if !self.required {
            return Gate::Pass;
        }
        match &*self.stage.lock() {
            // An expired session may only re-authenticate (KIP-368): Kafka closes the
            // connection at any other request.
            Stage::Done {
                expires: Some(at), ..
            } if std::time::Instant::now() >= *at => {
                if api_key == SASL_HANDSHAKE {
                    Gate::Pass
                } else {
                    Gate::Close
                }
            }
            Stage::Done { .. } => Gate::Pass,
            Stage::Failed => Gate::Close,
            Stage::Start => {
                if api_key == API_VERSIONS || api_key == SASL_HANDSHAKE {
                    Gate::Pass
                } else {
                    Gate::Close
                }
            }
            Stage::Handshaken(_) | Stage::ScramFirstDone(_) | Stage::OAuthRefused(_) => {
                if api_key == SASL_AUTHENTICATE {
                    Gate::Pass
                } else {
                    Gate::Close
                }
            }
        }
    }

    /// Whether the connection must authenticate and has not yet.
    pub fn authenticating(&self) -> bool {
        self.required && !matches!(&*self.stage.lock(), Stage::Done { .. })
    }

    /// The authenticated user, if any.
    pub fn user(&self) -> Option<String> {
        match &*self.stage.lock() {
            Stage::Done { user, .. } => Some(user.clone()),
            _ => None,
        }
    }

    /// The principal requests are made as: `User:<name>` once authenticated with SASL, else
    /// the client certificate's (`User:CN=...`), else `User:ANONYMOUS` (as Kafka names
    /// them).
    pub fn principal(&self) -> String {
        match (self.user(), &self.certificate_principal) {
            (Some(user), _) => principal(&user),
            (None, Some(certificate)) => certificate.clone(),
            (None, None) => principal("ANONYMOUS"),
        }
    }

    /// Whether the connection authenticated with a delegation token.
    pub fn token_authenticated(&self) -> bool {
        self.user().is_some()
            && self
                .token_authenticated
                .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the principal was authenticated by SASL or a client certificate (Kafka
    /// gives delegation tokens to no other: not on PLAINTEXT, not to one-way TLS's
    /// ANONYMOUS).
    pub fn authenticated(&self) -> bool {
        self.user().is_some() || self.certificate_principal.is_some()
    }

    /// The mechanism of the exchange under way, if any.
    pub fn mechanism(&self) -> Option<Mechanism> {
        match &*self.stage.lock() {
            Stage::Handshaken(m) => Some(*m),
            Stage::ScramFirstDone(first) => Some(first.mechanism()),
            Stage::OAuthRefused(_) => Some(Mechanism::OAuthBearer),
            _ => None,
        }
    }

    /// Whether the connection failed to authenticate and must close.
    pub fn failed(&self) -> bool {
        matches!(&*self.stage.lock(), Stage::Failed)
    }

    /// SaslHandshake chose `mechanism` (already checked to be enabled). `false` when the
    /// connection is not waiting for a handshake.
    pub fn handshake(&self, mechanism: Mechanism) -> bool {
        let mut stage = self.stage.lock();
        match &*stage {
            Stage::Start => {}
            // A re-authentication (KIP-368): only of a session with a lifetime, with the
            // mechanism it was made with.
            Stage::Done {
                user,
                mechanism: first,
                expires: Some(_),
            } if *first == mechanism => {
                *self.reauthenticating.lock() = Some(user.clone());
            }
            _ => return false,
        }
        *stage = Stage::Handshaken(mechanism);
        true
    }

    /// Fails the exchange: the connection closes once the answer is written.
    pub fn fail(&self) {
        *self.stage.lock() = Stage::Failed;
    }

    /// One SaslAuthenticate token: what the exchange answers.
    pub fn authenticate(
        &self,
        token: &[u8],
        config: &SaslConfig,
        credentials: &dyn scram::Credentials,
    ) -> Step {
        let mut stage = self.stage.lock();
        let current = std::mem::take(&mut *stage);
        let (next, step) = match current {
            Stage::Handshaken(Mechanism::Plain) => match plain::verify(token, config) {
                Ok(user) => self.done(Mechanism::Plain, user, None, Vec::new(), config),
                Err(reason) => (Stage::Failed, Step::Failed(reason)),
            },
            Stage::Handshaken(Mechanism::OAuthBearer) => {
                match config
                    .oauthbearer
                    .as_ref()
                    .map(|c| oauthbearer::verify_with_expiry(token, c))
                {
                    Some(Ok((user, expires))) => {
                        self.done(Mechanism::OAuthBearer, user, expires, Vec::new(), config)
                    }
                    // Kafka's answer: the error challenge, then the failure.
                    Some(Err(reason)) => (
                        Stage::OAuthRefused(reason),
                        Step::Continue(oauthbearer::INVALID_TOKEN_CHALLENGE.to_vec()),
                    ),
                    None => (
                        Stage::Failed,
                        Step::Failed("OAUTHBEARER has no token validator".to_string()),
                    ),
                }
            }
            Stage::OAuthRefused(reason) => {
                let reason = if token == oauthbearer::ERROR_ACKNOWLEDGEMENT {
                    reason
                } else {
                    format!("{reason}; the client did not acknowledge the error with %x01")
                };
                (Stage::Failed, Step::Failed(reason))
            }
            Stage::Handshaken(m) => match scram::ServerFirst::start(m, token, credentials) {
                Ok(first) => {
                    let reply = first.message().as_bytes().to_vec();
                    (
                        Stage::ScramFirstDone(Box::new(first)),
                        Step::Continue(reply),
                    )
                }
                Err(reason) => (Stage::Failed, Step::Failed(reason)),
            },
            Stage::ScramFirstDone(first) => {
                let mechanism = first.mechanism();
                let with_token = first.token_authenticated();
                let expires = first.credential_expires();
                match first.finish(token) {
                    Ok((user, reply)) => {
                        self.token_authenticated
                            .store(with_token, std::sync::atomic::Ordering::Release);
                        self.done(mechanism, user, expires, reply.into_bytes(), config)
                    }
                    Err(reason) => (Stage::Failed, Step::Failed(reason)),
                }
            }
            other => {
                let illegal = Step::Illegal;
                (other, illegal)
            }
        };
        *stage = next;
        step
    }

    /// A successful exchange of `mechanism` for `user`: the session and its lifetime
    /// (KIP-368: `connections.max.reauth.ms`, or less if the credential, an OAUTHBEARER
    /// token, expires sooner), or a failure when a re-authentication names another user.
    fn done(
        &self,
        mechanism: Mechanism,
        user: String,
        credential_expires: Option<u64>,
        reply: Vec<u8>,
        config: &SaslConfig,
    ) -> (Stage, Step) {
        if let Some(previous) = self.reauthenticating.lock().take() {
            if previous != user {
                return (
                    Stage::Failed,
                    Step::Failed(format!(
                        "Cannot change principals during re-authentication from User:{previous}: User:{user}"
                    )),
                );
            }
        }
        let lifetime_ms = session_lifetime_ms(config.max_reauth_ms, credential_expires);
        let expires = (lifetime_ms > 0)
            .then(|| std::time::Instant::now() + std::time::Duration::from_millis(lifetime_ms));
        (
            Stage::Done {
                user: user.clone(),
                mechanism,
                expires,
            },
            Step::Done {
                user,
                reply,
                session_lifetime_ms: i64::try_from(lifetime_ms).unwrap_or(i64::MAX),
            },
        )
    }
}

/// A session's lifetime in milliseconds (KIP-368): 0 without `connections.max.reauth.ms`;
/// else that, or less when the credential expires sooner (at least 1 ms, so that it
/// still expires).
pub fn session_lifetime_ms(max_reauth_ms: u64, credential_expires: Option<u64>) -> u64 {
    if max_reauth_ms == 0 {
        return 0;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    match credential_expires {
        Some(exp_secs) => max_reauth_ms
            .min(exp_secs.saturating_mul(1000).saturating_sub(now))
            .max(1),
        None => max_reauth_ms,
    }
}

/// The outcome of one SaslAuthenticate token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The exchange goes on: send these bytes back.
    Continue(Vec<u8>),
    /// Authenticated as `user`; send `reply` back (SCRAM's server-final message), with the
    /// session's lifetime (0: no expiry).
    Done {
        user: String,
        reply: Vec<u8>,
        session_lifetime_ms: i64,
    },
    /// Authentication failed, with the reason for the log (the client gets Kafka's
    /// generic message).
    Failed(String),
    /// No exchange is under way (SaslAuthenticate without a handshake, or after one
    /// ended): ILLEGAL_SASL_STATE.
    Illegal,
}

/// The credentials a SCRAM login is checked against: users' in the metadata, and
/// delegation tokens' (KIP-48).
#[derive(Debug)]
pub struct StoredCredentials<'a> {
    pub state: &'a myelin_cluster::MetadataState,
    pub tokens: &'a crate::delegation_tokens::TokenSettings,
}

impl scram::Credentials for StoredCredentials<'_> {
    fn user(&self, user: &str, mechanism: Mechanism) -> Option<ScramCredential> {
        stored_credential(self.state, user, mechanism)
    }

    fn token(
        &self,
        token_id: &str,
        mechanism: Mechanism,
    ) -> Option<(ScramCredential, String, u64)> {
        let now_ms = myelin_log::manager::wall_clock_ms();
        let (credential, owner) = self
            .tokens
            .scram_credential(self.state, token_id, mechanism, now_ms)?;
        let expiry_ms = self.state.delegation_token(token_id)?.expiry_timestamp_ms;
        Some((
            credential,
            owner,
            u64::try_from(expiry_ms / 1000).unwrap_or(0),
        ))
    }
}

/// The SCRAM credential of `user` for `mechanism` stored in the metadata.
pub fn stored_credential(
    state: &myelin_cluster::MetadataState,
    user: &str,
    mechanism: Mechanism,
) -> Option<ScramCredential> {
    mechanism.scram_type()?;
    state
        .scram_credential(user, mechanism.name())
        .map(|c| ScramCredential {
            salt: c.salt.clone(),
            stored_key: c.stored_key.clone(),
            server_key: c.server_key.clone(),
            iterations: c.iterations,
        })
}

/// Whether `password` is `user`'s, by the credentials the Kafka listeners take: a PLAIN
/// user of any listener's JAAS config, or a SCRAM credential in the metadata (checked by
/// computing the salted password with the stored salt and iterations). For the users of
/// other protocols (the schema registry's HTTP Basic authentication). Blocking: SCRAM's
/// iterations take milliseconds.
pub fn check_password(server: &crate::ServerContext, user: &str, password: &str) -> bool {
    if user.is_empty() || password.is_empty() {
        return false;
    }
    let plain = server
        .listeners
        .iter()
        .filter_map(|l| l.sasl.as_ref())
        .filter_map(|s| s.plain_users.get(user))
        .any(|p| constant_time_eq(p.as_bytes(), password.as_bytes()));
    if plain {
        return true;
    }
    let state = server.metadata.state();
    [Mechanism::ScramSha256, Mechanism::ScramSha512]
        .into_iter()
        .filter_map(|m| stored_credential(&state, user, m).map(|c| (m, c)))
        .any(|(m, c)| {
            let salted = scram::salted_password(m, password.as_bytes(), &c.salt, c.iterations);
            let derived = ScramCredential::from_salted_password(m, &c.salt, &salted, c.iterations);
            constant_time_eq(&derived.stored_key, &c.stored_key)
        })
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanisms_parse_in_order_without_duplicates() {
        assert_eq!(
            parse_mechanisms("SCRAM-SHA-512, PLAIN,SCRAM-SHA-512").unwrap(),
            vec![Mechanism::ScramSha512, Mechanism::Plain]
        );
        assert!(parse_mechanisms("GSSAPI").is_err());
        assert!(
            parse_mechanisms("plain").is_err(),
            "names are case-sensitive"
        );
        assert!(parse_mechanisms(" , ").is_err());
    }

    #[test]
    fn plain_jaas_users() {
        let jaas = r#"org.apache.kafka.common.security.plain.PlainLoginModule required
            username="admin" password="admin-secret"
            user_admin="admin-secret" user_alice="with space; and = signs";"#;
        let users = parse_plain_jaas(jaas).unwrap();
        assert_eq!(
            users.into_iter().collect::<Vec<_>>(),
            vec![
                ("admin".to_string(), "admin-secret".to_string()),
                ("alice".to_string(), "with space; and = signs".to_string())
            ]
        );
        for bad in [
            "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"x\"",
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "org.apache.kafka.common.security.plain.PlainLoginModule maybe;",
            "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"x;",
        ] {
            assert!(parse_plain_jaas(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_gate_opens_only_after_authentication() {
        let config = SaslConfig {
            plain_users: BTreeMap::from([("alice".to_string(), "pw".to_string())]),
            ..SaslConfig::default()
        };
        let none = |_: &str, _: Mechanism| None;
        let s = Session::new(true);
        assert_eq!(s.gate(18), Gate::Pass, "ApiVersions");
        assert_eq!(s.gate(17), Gate::Pass, "SaslHandshake");
        assert_eq!(s.gate(3), Gate::Close, "Metadata before the handshake");
        assert_eq!(
            s.gate(36),
            Gate::Close,
            "SaslAuthenticate before the handshake"
        );
        assert!(s.handshake(Mechanism::Plain));
        assert!(!s.handshake(Mechanism::Plain), "one handshake");
        assert_eq!(s.gate(3), Gate::Close);
        assert_eq!(s.gate(36), Gate::Pass);
        assert_eq!(
            s.authenticate(b"\0alice\0pw", &config, &none),
            Step::Done {
                user: "alice".into(),
                reply: vec![],
                session_lifetime_ms: 0,
            }
        );
        assert_eq!(s.gate(3), Gate::Pass);
        assert_eq!(s.principal(), "User:alice");
        assert_eq!(
            s.authenticate(b"\0alice\0pw", &config, &none),
            Step::Illegal
        );

        let s = Session::new(true);
        assert!(s.handshake(Mechanism::Plain));
        assert!(matches!(
            s.authenticate(b"\0alice\0wrong", &config, &none),
            Step::Failed(_)
        ));
        assert!(s.failed());
        assert_eq!(s.gate(18), Gate::Close);

        let open = Session::new(false);
        assert_eq!(open.gate(3), Gate::Pass);
        assert_eq!(open.principal(), "User:ANONYMOUS");

        // A client certificate names the principal, unless SASL names another.
        let tls = Session::with_certificate(false, Some("User:CN=alice".into()));
        assert_eq!(tls.principal(), "User:CN=alice");
        let both = Session::with_certificate(true, Some("User:CN=alice".into()));
        assert!(both.handshake(Mechanism::Plain));
        both.authenticate(b"\0alice\0pw", &config, &none);
        assert_eq!(both.principal(), "User:alice");
    }

    #[test]
    fn session_lifetimes_follow_kip_368() {
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(session_lifetime_ms(0, Some(now_s + 10)), 0, "disabled");
        assert_eq!(session_lifetime_ms(60_000, None), 60_000);
        let token = session_lifetime_ms(3_600_000, Some(now_s + 10));
        assert!(
            (8_000..=10_000).contains(&token),
            "{token}: the token's expiry wins"
        );
        assert_eq!(session_lifetime_ms(60_000, Some(now_s + 3_600)), 60_000);
        assert_eq!(
            session_lifetime_ms(60_000, Some(1)),
            1,
            "already expired: at once"
        );
    }
}
