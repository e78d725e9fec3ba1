//! Static broker configs, by their Kafka names, into the typed configs of the crates
//! underneath: `myelin_log::ManagerConfig` (the storage engine's own settings) and
//! `myelin_server::Config` (socket limits, and every known broker config passed on to
//! the handlers, whose config model also derives the broker-wide log defaults).
//!
//! Which names exist, their types, defaults, synonyms and validation are the server's
//! config table (`myelin_server::configs::BROKER_CONFIGS`): one place. A name it does not
//! know fails the start (Kafka only logs it): a misspelt setting is never silently ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use myelin_log::ManagerConfig;

/// A broker config that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid broker config `{name}`: {reason}")]
pub struct SettingError {
    /// The config's Kafka name.
    pub name: String,
    /// What is wrong with its value.
    pub reason: String,
}

fn invalid(name: &str, reason: impl Into<String>) -> SettingError {
    SettingError {
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// The broker's identity and addresses: set through [`crate::Broker`]'s own methods, not
/// passed on as they are.
pub const IDENTITY_CONFIGS: &[&str] = &[
    "node.id",
    "broker.id",
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "log.dirs",
    "log.dir",
];

fn parse_bool(name: &str, value: &str) -> Result<bool, SettingError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(name, format!("{value:?} is not true or false"))),
    }
}

fn parse_num<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, SettingError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(name, format!("{value:?} is not a valid number")))
}

/// Myelin's own broker configs: settings of the storage engine, not Kafka configs
/// (DescribeConfigs does not list them).
const MANAGER_ONLY_CONFIGS: &[&str] = &[
    "log.dir.reserved.bytes",
    "log.flush.threads",
    "log.flush.offset.checkpoint.interval.bytes",
];

/// `log.flush.threads` above this is taken as this: each thread is a kernel thread with
/// its own stack, and no disk gains from more fdatasyncs at once.
const MAX_FLUSH_THREADS: usize = 256;

/// Whether Myelin knows the broker config `name`.
pub fn is_known(name: &str) -> bool {
    IDENTITY_CONFIGS.contains(&name)
        || MANAGER_ONLY_CONFIGS.contains(&name)
        || kafka_only_reason(name).is_some()
        || myelin_server::configs::broker_config(name).is_some()
}

/// Kafka broker configs that a single Myelin node has no use for, each with the reason.
/// They are accepted so that a Kafka `server.properties` (KRaft, one combined node) works
/// unchanged: checked where a value could not fit one combined node, logged at start
/// ([`kafka_only_notes`]), and otherwise without effect. `controller.listener.names` also
/// takes the listeners it names out of service: Myelin speaks no controller protocol.
pub const KAFKA_ONLY_CONFIGS: &[(&str, &str)] = &[
    (
        "background.threads",
        "Myelin's background work runs on its own threads",
    ),
    (
        "controller.listener.names",
        "Myelin speaks no KRaft controller protocol: the listeners named are not served",
    ),
    (
        "controller.quorum.bootstrap.servers",
        "the metadata log is this node's own, with no quorum",
    ),
    (
        "controller.quorum.voters",
        "the metadata log is this node's own, with no quorum",
    ),
    (
        "inter.broker.listener.name",
        "one broker: there is no inter-broker traffic",
    ),
    (
        "num.io.threads",
        "Tokio's worker threads serve every request",
    ),
    (
        "num.network.threads",
        "Tokio's worker threads serve every connection",
    ),
    (
        "num.replica.alter.log.dirs.threads",
        "one data directory: no replica moves between them",
    ),
    ("num.replica.fetchers", "one broker: nothing to replicate"),
    (
        "process.roles",
        "a Myelin node is always broker and controller in one",
    ),
    (
        "sasl.mechanism.controller.protocol",
        "no controller connections",
    ),
    (
        "sasl.mechanism.inter.broker.protocol",
        "one broker: there is no inter-broker traffic",
    ),
    (
        "security.inter.broker.protocol",
        "one broker: there is no inter-broker traffic",
    ),
    (
        "share.coordinator.state.topic.min.isr",
        "one broker: __share_group_state has one replica, always in sync",
    ),
    (
        "share.coordinator.state.topic.replication.factor",
        "one broker: __share_group_state has one replica",
    ),
    (
        "socket.receive.buffer.bytes",
        "the kernel's autotuning sizes socket buffers",
    ),
    (
        "socket.send.buffer.bytes",
        "the kernel's autotuning sizes socket buffers",
    ),
    (
        "transaction.state.log.min.isr",
        "one replica: every write is acknowledged by it",
    ),
    // Replication and leadership: a cluster's, which one broker has no use for.
    (
        "auto.leader.rebalance.enable",
        "one broker leads every partition",
    ),
    (
        "leader.imbalance.check.interval.seconds",
        "one broker leads every partition",
    ),
    (
        "controlled.shutdown.enable",
        "one broker: there is no leadership to hand over",
    ),
    (
        "broker.rack",
        "one broker: no rack-aware placement, no fetching from a follower",
    ),
    (
        "replica.fetch.max.bytes",
        "one broker: nothing to replicate",
    ),
    (
        "replica.fetch.wait.max.ms",
        "one broker: nothing to replicate",
    ),
    (
        "replica.lag.time.max.ms",
        "one broker: every replica is in sync",
    ),
    (
        "replica.socket.timeout.ms",
        "one broker: nothing to replicate",
    ),
    (
        "metadata.log.dir",
        "the metadata log lives in the data directory (cluster-metadata.log)",
    ),
];

/// Why the Kafka config `name` has no effect on a Myelin node, if it is one of
/// [`KAFKA_ONLY_CONFIGS`].
pub fn kafka_only_reason(name: &str) -> Option<&'static str> {
    KAFKA_ONLY_CONFIGS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, reason)| *reason)
}

/// The start-up notes for the [`KAFKA_ONLY_CONFIGS`] among `configs`: (name, value,
/// reason).
pub fn kafka_only_notes(
    configs: &BTreeMap<String, String>,
) -> impl Iterator<Item = (&str, &str, &'static str)> {
    configs.iter().filter_map(|(name, value)| {
        kafka_only_reason(name).map(|reason| (name.as_str(), value.as_str(), reason))
    })
}

/// Checks a value of [`KAFKA_ONLY_CONFIGS`] as far as one combined node can take it.
fn check_kafka_only(name: &str, value: &str) -> Result<(), SettingError> {
    match name {
        "process.roles" => {
            let roles: Vec<&str> = value.split(',').map(str::trim).collect();
            if let Some(role) = roles
                .iter()
                .find(|r| !matches!(**r, "broker" | "controller"))
            {
                return Err(invalid(
                    name,
                    format!("{role:?} is not broker or controller"),
                ));
            }
            if !roles.contains(&"broker") {
                return Err(invalid(
                    name,
                    "a Myelin node is always a broker: a controller-only node has nothing to serve",
                ));
            }
        }
        "controller.listener.names" if value.split(',').any(|n| n.trim().is_empty()) => {
            return Err(invalid(name, "a listener name is empty"));
        }
        "num.io.threads"
        | "num.network.threads"
        | "num.replica.fetchers"
        | "background.threads"
        | "transaction.state.log.min.isr"
        | "share.coordinator.state.topic.min.isr"
        | "share.coordinator.state.topic.replication.factor"
        | "num.replica.alter.log.dirs.threads"
        | "replica.fetch.max.bytes"
        | "replica.fetch.wait.max.ms"
        | "replica.lag.time.max.ms"
        | "replica.socket.timeout.ms"
        | "leader.imbalance.check.interval.seconds" => {
            positive::<i64>(name, value)?;
        }
        "auto.leader.rebalance.enable" | "controlled.shutdown.enable" => {
            parse_bool(name, value)?;
        }
        "socket.receive.buffer.bytes" | "socket.send.buffer.bytes" => {
            parse_num::<i32>(name, value)?;
        }
        _ => {}
    }
    Ok(())
}

/// A host and port to listen on or to advertise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// A host name or an IP address (without brackets); empty means every interface.
    pub host: String,
    /// The port; 0 to listen on any free port.
    pub port: u16,
}

impl HostPort {
    /// Parses `HOST:PORT`, `[IPV6]:PORT`, or one listener in Kafka's syntax
    /// (`PLAINTEXT://HOST:PORT`; several are [`parse_listeners`]'). `name` is the config or
    /// flag named in errors.
    pub fn parse(name: &str, value: &str) -> Result<Self, SettingError> {
        let value = value.trim();
        let mut listeners = value.split(',').map(str::trim).filter(|l| !l.is_empty());
        let Some(first) = listeners.next() else {
            return Err(invalid(name, "no listener given"));
        };
        if listeners.next().is_some() {
            return Err(invalid(
                name,
                format!("{value:?} names several addresses where one is wanted"),
            ));
        }
        let address = match first.split_once("://") {
            Some((protocol, address)) => {
                ListenerProtocol::parse(protocol).ok_or_else(|| {
                    invalid(
                        name,
                        format!(
                            "listener {first:?}: the security protocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, not {protocol}"
                        ),
                    )
                })?;
                address
            }
            None => first,
        };
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| invalid(name, format!("{first:?} is not HOST:PORT")))?;
        let host = match host.strip_prefix('[') {
            Some(inner) => inner
                .strip_suffix(']')
                .ok_or_else(|| invalid(name, format!("{first:?}: unbalanced brackets")))?,
            None if host.contains(':') => {
                return Err(invalid(
                    name,
                    format!("{first:?}: write an IPv6 address in brackets, as [::1]:9092"),
                ))
            }
            None => host,
        };
        let port = port
            .parse()
            .map_err(|_| invalid(name, format!("{first:?}: {port:?} is not a port number")))?;
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }

    /// Whether the host means every interface (empty, `0.0.0.0` or `::`).
    pub fn is_wildcard(&self) -> bool {
        self.host.is_empty()
            || self
                .host
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified())
    }

    /// The host to bind: a wildcard becomes `0.0.0.0` (or `::` as given).
    pub fn bind_host(&self) -> &str {
        if self.host.is_empty() {
            "0.0.0.0"
        } else {
            &self.host
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A listener's security protocol (the scheme of `listeners`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerProtocol {
    /// No authentication: every client is `User:ANONYMOUS`.
    Plaintext,
    /// SASL authentication (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), no TLS.
    SaslPlaintext,
    /// TLS, no authentication.
    Ssl,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl ListenerProtocol {
    pub(crate) fn parse(scheme: &str) -> Option<Self> {
        [
            Self::Plaintext,
            Self::SaslPlaintext,
            Self::Ssl,
            Self::SaslSsl,
        ]
        .into_iter()
        .find(|p| scheme.eq_ignore_ascii_case(p.name()))
    }

    /// Kafka's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether clients authenticate with SASL.
    pub fn sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    /// Whether the connections are TLS.
    pub fn tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

/// One listener of `listeners`: its name, security protocol and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    /// The listener's name, upper case (`PLAINTEXT`, `INTERNAL`, ...).
    pub name: String,
    pub protocol: ListenerProtocol,
    pub address: HostPort,
}

/// `listener.security.protocol.map` (`INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL`), with Kafka's
/// default: each security protocol's name is a listener name of that protocol.
pub fn protocol_map(
    value: Option<&str>,
) -> Result<BTreeMap<String, ListenerProtocol>, SettingError> {
    const NAME: &str = "listener.security.protocol.map";
    let mut map: BTreeMap<String, ListenerProtocol> = [
        ListenerProtocol::Plaintext,
        ListenerProtocol::Ssl,
        ListenerProtocol::SaslPlaintext,
        ListenerProtocol::SaslSsl,
    ]
    .into_iter()
    .map(|p| (p.name().to_string(), p))
    .collect();
    for entry in value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| invalid(NAME, format!("{entry:?} is not NAME:PROTOCOL")))?;
        let protocol = ListenerProtocol::parse(protocol.trim()).ok_or_else(|| {
            invalid(
                NAME,
                format!("{entry:?}: the protocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
            )
        })?;
        map.insert(name.trim().to_ascii_uppercase(), protocol);
    }
    Ok(map)
}

/// Parses `listeners` or `advertised.listeners` (`config`): comma-separated
/// `NAME://HOST:PORT`, where NAME is a security protocol or a name of `map`, or a bare
/// `HOST:PORT` for `PLAINTEXT`. Names are unique.
pub fn parse_listeners(
    config: &str,
    value: &str,
    map: &BTreeMap<String, ListenerProtocol>,
) -> Result<Vec<ListenerSpec>, SettingError> {
    let mut out: Vec<ListenerSpec> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, address) = match entry.split_once("://") {
            Some((name, address)) => (name.trim().to_ascii_uppercase(), address),
            None => ("PLAINTEXT".to_string(), entry),
        };
        let protocol = *map.get(&name).ok_or_else(|| {
            invalid(
                config,
                format!(
                    "listener {entry:?}: {name} is neither a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) nor a name of listener.security.protocol.map"
                ),
            )
        })?;
        if out.iter().any(|l| l.name == name) {
            return Err(invalid(config, format!("two listeners are named {name}")));
        }
        out.push(ListenerSpec {
            address: HostPort::parse(config, address)?,
            name,
            protocol,
        });
    }
    if out.is_empty() {
        return Err(invalid(config, "no listener given"));
    }
    Ok(out)
}

/// The typed configs that a set of broker configs yields.
#[derive(Debug, Clone)]
pub struct Translated {
    /// The storage engine's settings (its `data_dir` and `default_log` are left for the
    /// caller: the log defaults also depend on dynamic configs in the metadata).
    pub manager: ManagerConfig,
    /// The server's settings, with the known broker configs in `broker_configs`; the
    /// parts only known after binding (advertised address) and opening storage (cluster
    /// id) are left for the caller.
    pub server: myelin_server::Config,
}

/// Translates Kafka-named broker configs. Identity configs (`node.id`, `listeners`, ...)
/// are not read here: the [`crate::Broker`] resolves them.
pub fn translate(configs: &BTreeMap<String, String>) -> Result<Translated, SettingError> {
    let mut manager = ManagerConfig::new("myelin-data");
    let mut server = myelin_server::Config::default();
    let mut authorizer_on = false;
    let mut authorizer = myelin_server::authz::AuthorizerConfig::default();
    for (name, value) in configs {
        // Listener-prefixed configs (`listener.name.<listener>.<config>`: SASL's JAAS
        // configs, per-listener TLS and SASL settings) are read per listener by
        // [`listener_security`]; TLS settings likewise, and kept out of `broker_configs`
        // (keys are secrets). They are checked here all the same.
        if let Some(rest) = name.strip_prefix("listener.name.") {
            // Checked on its own now (a bad value fails the start even if no listener of
            // that name exists); read with the others per listener later.
            if let Some((listener, _)) = rest.split_once('.') {
                security_settings(
                    &BTreeMap::from([(name.clone(), value.clone())]),
                    listener,
                    false,
                )?;
            }
            continue;
        }
        if SECURITY_CONFIGS.contains(&name.as_str()) {
            check_security_config(name, value)?;
            if !SECURITY_CONFIGS_SHOWN.contains(&name.as_str()) {
                continue;
            }
        }
        match name.as_str() {
            "authorizer.class.name" => {
                let class = value.trim();
                authorizer_on = !class.is_empty();
                if authorizer_on && !myelin_server::authz::AUTHORIZER_CLASS_NAMES.contains(&class) {
                    return Err(invalid(
                        name,
                        format!(
                            "{class} is not an authorizer Myelin has: give {} (or leave it empty for none)",
                            myelin_server::authz::AUTHORIZER_CLASS_NAMES[0]
                        ),
                    ));
                }
            }
            "super.users" => {
                authorizer.super_users = myelin_server::authz::parse_super_users(value)
                    .map_err(|reason| invalid(name, reason))?
            }
            "allow.everyone.if.no.acl.found" => {
                authorizer.allow_everyone_if_no_acl_found = parse_bool(name, value)?
            }
            _ => {}
        }
        match name.as_str() {
            "log.retention.check.interval.ms" => {
                manager.retention_check_interval_ms = positive(name, value)?
            }
            "log.flush.scheduler.interval.ms" => {
                manager.flush_scheduler_interval_ms = positive(name, value)?
            }
            "log.flush.offset.checkpoint.interval.ms" => {
                manager.checkpoint_interval_ms = positive(name, value)?
            }
            "log.cleaner.enable" => manager.cleaner_enable = parse_bool(name, value)?,
            "log.cleaner.backoff.ms" => manager.cleaner_backoff_ms = positive(name, value)?,
            "producer.id.expiration.ms" => {
                manager.producer_id_expiration_ms = positive(name, value)?
            }
            "producer.id.expiration.check.interval.ms" => {
                manager.producer_id_expiration_check_interval_ms = positive(name, value)?
            }
            "num.recovery.threads.per.data.dir" => {
                manager.recovery_threads = positive::<usize>(name, value)?
            }
            "socket.request.max.bytes" => server.socket_request_max_bytes = positive(name, value)?,
            "max.connections" => server.max_connections = positive(name, value)?,
            "max.connections.per.ip" => server.max_connections_per_ip = positive(name, value)?,
            "max.connections.per.ip.overrides" => {
                server.max_connections_per_ip_overrides =
                    myelin_server::config::parse_connections_per_ip_overrides(value)
                        .map_err(|e| invalid(name, e.reason))?
            }
            "queued.max.request.bytes" => {
                server.queued_max_request_bytes = match parse_num::<i64>(name, value)? {
                    -1 => None,
                    n if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                    _ => return Err(invalid(name, format!("{value} must be -1 or at least 1"))),
                }
            }
            "connections.max.idle.ms" => {
                server.connections_max_idle =
                    std::time::Duration::from_millis(positive(name, value)?)
            }
            _ => {}
        }
        // Myelin's own: not Kafka's broker configs (DescribeConfigs omits them).
        match name.as_str() {
            "log.dir.reserved.bytes" => {
                manager.reserved_bytes = parse_num(name, value)?;
                continue;
            }
            "log.flush.threads" => {
                manager.flush_parallelism = positive::<usize>(name, value)?.min(MAX_FLUSH_THREADS);
                continue;
            }
            "log.flush.offset.checkpoint.interval.bytes" => {
                manager.checkpoint_interval_bytes = positive(name, value)?;
                continue;
            }
            _ => {}
        }
        if IDENTITY_CONFIGS.contains(&name.as_str()) {
            continue;
        }
        if kafka_only_reason(name).is_some() {
            check_kafka_only(name, value)?;
            continue;
        }
        if myelin_server::configs::broker_config(name).is_none() {
            return Err(invalid(
                name,
                "not a broker config Myelin knows (docs/configuration.md lists them)",
            ));
        }
        server.broker_configs.insert(name.clone(), value.clone());
    }
    server.authorizer = authorizer_on.then_some(authorizer);
    Ok(Translated { manager, server })
}

/// The configs [`listener_security`] reads; `translate` checks them and keeps them out of
/// `broker_configs` but for [`SECURITY_CONFIGS_SHOWN`].
const SECURITY_CONFIGS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.client.auth",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.truststore.password",
    "ssl.principal.mapping.rules",
    "ssl.enabled.protocols",
    "ssl.protocol",
    "ssl.endpoint.identification.algorithm",
    "sasl.enabled.mechanisms",
    "connection.failed.authentication.delay.ms",
    "connections.max.reauth.ms",
    "sasl.oauthbearer.jwks.endpoint.url",
    "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.expected.issuer",
    "sasl.oauthbearer.sub.claim.name",
    "sasl.oauthbearer.clock.skew.seconds",
    "sasl.oauthbearer.jwks.endpoint.refresh.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
    "sasl.oauthbearer.scope.claim.name",
];

/// The security configs DescribeConfigs shows (no secret in them).
const SECURITY_CONFIGS_SHOWN: &[&str] = &[
    "ssl.principal.mapping.rules",
    "sasl.enabled.mechanisms",
    "connection.failed.authentication.delay.ms",
    "connections.max.reauth.ms",
];

/// Checks one security config on its own, as [`listener_security`] reads it.
fn check_security_config(name: &str, value: &str) -> Result<(), SettingError> {
    security_settings(
        &BTreeMap::from([(name.to_string(), value.to_string())]),
        "",
        false,
    )
    .map(drop)
}

/// The SASL and TLS settings of the listener named `listener` (Kafka's per-listener
/// configs): every security config, with `listener.name.<listener>.<config>` (the name in
/// lower case) taking the place of `<config>`. PLAIN's users come from
/// `listener.name.<listener>.plain.sasl.jaas.config`. The TLS settings are `None` when no
/// keystore is given.
pub fn listener_security(
    configs: &BTreeMap<String, String>,
    listener: &str,
) -> Result<ListenerSecurity, SettingError> {
    security_settings(configs, listener, true)
}

/// A listener's SASL settings and TLS settings.
pub type ListenerSecurity = (
    myelin_server::sasl::SaslConfig,
    Option<myelin_server::tls::TlsConfig>,
);

/// [`listener_security`]; `whole` checks what depends on several configs (OAUTHBEARER's
/// validator), which one config alone cannot show.
fn security_settings(
    configs: &BTreeMap<String, String>,
    listener: &str,
    whole: bool,
) -> Result<ListenerSecurity, SettingError> {
    let prefix = format!("listener.name.{}.", listener.to_ascii_lowercase());
    let global = configs
        .iter()
        .filter(|(name, _)| !name.starts_with("listener.name."))
        .map(|(n, v)| (n.as_str(), n.as_str(), v));
    let own = configs
        .iter()
        .filter_map(|(name, v)| Some((name.strip_prefix(&prefix)?, name.as_str(), v)));
    let mut sasl = myelin_server::sasl::SaslConfig::default();
    let mut stores = Stores::default();
    let mut client_auth = myelin_server::tls::ClientAuth::None;
    let mut principal_mapping_rules: Option<String> = None;
    let mut oauth_settings: Vec<(&str, &str, &String)> = Vec::new();
    let mut jwks = JwksSettings::default();
    // The listener's own configs after the global ones, so that they win.
    for (name, full_name, value) in global.chain(own) {
        // SASL: the JAAS configs are Kafka's listener- and mechanism-prefixed names, kept
        // out of `broker_configs` (they hold passwords). SCRAM's JAAS config only names
        // the login module (for inter-broker connections, which Myelin has none of).
        if name == "plain.sasl.jaas.config" {
            sasl.plain_users = myelin_server::sasl::parse_plain_jaas(value)
                .map_err(|reason| invalid(full_name, reason))?;
            continue;
        }
        if name.starts_with("scram-sha-") && name.ends_with(".sasl.jaas.config") {
            continue;
        }
        // OAUTHBEARER: its JAAS config names the login module; its server callback handler
        // must be Kafka's secured validator, whose checks Myelin makes.
        if name == "oauthbearer.sasl.jaas.config" {
            jwks.jaas = Some((full_name, value));
            continue;
        }
        if name == "oauthbearer.sasl.server.callback.handler.class" {
            if !value
                .trim()
                .ends_with("OAuthBearerValidatorCallbackHandler")
            {
                return Err(invalid(
                    full_name,
                    "Myelin validates OAUTHBEARER tokens as Kafka's OAuthBearerValidatorCallbackHandler does (signed JWTs); no other handler, and no unsecured tokens",
                ));
            }
            continue;
        }
        // TLS: Kafka's key and trust stores (JKS, PKCS12 or PEM), kept out of
        // `broker_configs` (they hold secrets); read once all are known.
        match name {
            "ssl.keystore.type" => {
                stores.keystore_type = Some(store_type(full_name, value)?);
                continue;
            }
            "ssl.keystore.location" => {
                stores.keystore = Some((value.trim().to_string(), full_name.to_string()));
                continue;
            }
            "ssl.keystore.certificate.chain" => {
                stores.chain = Some(value.clone());
                continue;
            }
            "ssl.keystore.key" => {
                stores.key = Some(value.clone());
                continue;
            }
            "ssl.keystore.password" => {
                stores.keystore_password = Some(value.clone());
                continue;
            }
            "ssl.key.password" => {
                stores.key_password = Some(value.clone());
                continue;
            }
            "ssl.client.auth" => {
                client_auth = myelin_server::tls::ClientAuth::parse(value)
                    .ok_or_else(|| invalid(full_name, "none, requested or required"))?;
                continue;
            }
            "ssl.truststore.type" => {
                stores.truststore_type = Some(store_type(full_name, value)?);
                continue;
            }
            "ssl.truststore.location" => {
                stores.truststore = Some((value.trim().to_string(), full_name.to_string()));
                continue;
            }
            "ssl.truststore.certificates" => {
                stores.trusted_certificates = Some(value.clone());
                continue;
            }
            "ssl.truststore.password" => {
                stores.truststore_password = Some(value.clone());
                continue;
            }
            "ssl.principal.mapping.rules" => {
                myelin_server::tls::PrincipalMapper::parse(value)
                    .map_err(|reason| invalid(full_name, reason))?;
                principal_mapping_rules = Some(value.clone());
                continue;
            }
            "ssl.enabled.protocols" | "ssl.protocol" | "ssl.endpoint.identification.algorithm" => {
                // rustls speaks TLS 1.2 and 1.3 and nothing older; the broker verifies no
                // peer host name. Accepted for the configs that set them to the usual.
                continue;
            }
            "sasl.enabled.mechanisms" => {
                sasl.mechanisms = myelin_server::sasl::parse_mechanisms(value)
                    .map_err(|reason| invalid(full_name, reason))?
            }
            "sasl.oauthbearer.jwks.endpoint.url" => jwks.url = Some((full_name, value)),
            "sasl.oauthbearer.expected.audience"
            | "sasl.oauthbearer.expected.issuer"
            | "sasl.oauthbearer.sub.claim.name"
            | "sasl.oauthbearer.clock.skew.seconds" => {
                oauth_settings.push((name, full_name, value));
            }
            "sasl.oauthbearer.jwks.endpoint.refresh.ms" => {
                jwks.refresh_ms = Some(positive(full_name, value)?)
            }
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms" => {
                jwks.retry_backoff_ms = Some(parse_num(full_name, value)?)
            }
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms" => {
                jwks.retry_backoff_max_ms = Some(parse_num(full_name, value)?)
            }
            "sasl.oauthbearer.scope.claim.name" => {}
            "connection.failed.authentication.delay.ms" => {
                sasl.failed_authentication_delay_ms = parse_num(full_name, value)?
            }
            "connections.max.reauth.ms" => sasl.max_reauth_ms = parse_num(full_name, value)?,
            _ => {}
        }
    }
    if let Some(keys) = jwks.source(whole)? {
        sasl.oauthbearer = Some(myelin_server::sasl::oauthbearer::OAuthConfig::with_keys(
            keys,
        ));
    }
    for (name, full_name, value) in oauth_settings {
        if name == "sasl.oauthbearer.clock.skew.seconds" {
            parse_num::<u64>(full_name, value)?;
        }
        let Some(oauth) = sasl.oauthbearer.as_mut() else {
            if !whole {
                continue;
            }
            return Err(invalid(
                full_name,
                "set sasl.oauthbearer.jwks.endpoint.url first: the OAUTHBEARER validator needs its keys",
            ));
        };
        match name {
            "sasl.oauthbearer.expected.audience" => {
                oauth.expected_audience = value
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "sasl.oauthbearer.expected.issuer" => {
                oauth.expected_issuer = Some(value.trim().to_string()).filter(|i| !i.is_empty())
            }
            "sasl.oauthbearer.sub.claim.name" => oauth.sub_claim_name = value.trim().to_string(),
            _ => oauth.clock_skew_seconds = parse_num(full_name, value)?,
        }
    }
    if whole
        && sasl
            .mechanisms
            .contains(&myelin_server::sasl::Mechanism::OAuthBearer)
        && sasl.oauthbearer.is_none()
    {
        return Err(invalid(
            "sasl.enabled.mechanisms",
            "OAUTHBEARER needs sasl.oauthbearer.jwks.endpoint.url (an https:// or file:// JWKS): Myelin accepts signed tokens only",
        ));
    }
    let tls = stores.read(whole)?.map(|(identity, truststore)| {
        let mut t = myelin_server::tls::TlsConfig {
            certificate_chain_pem: identity.chain_pem,
            private_key_pem: identity.key_pem,
            client_auth,
            truststore_pem: truststore,
            principal_mapping_rules: myelin_server::tls::DEFAULT_RULES.to_string(),
        };
        if let Some(rules) = principal_mapping_rules {
            t.principal_mapping_rules = rules;
        }
        t
    });
    Ok((sasl, tls))
}

fn store_type(
    full_name: &str,
    value: &str,
) -> Result<myelin_server::keystore::StoreType, SettingError> {
    myelin_server::keystore::StoreType::parse(value)
        .ok_or_else(|| invalid(full_name, "JKS, PKCS12 or PEM"))
}

/// A listener's `sasl.oauthbearer.jwks.endpoint.*` configs and the OAUTHBEARER JAAS
/// config (whose `ssl.truststore.*` options, as in Kafka, say whom an `https://`
/// endpoint's certificate must chain to), each with its full name.
#[derive(Default)]
struct JwksSettings<'a> {
    url: Option<(&'a str, &'a String)>,
    jaas: Option<(&'a str, &'a String)>,
    refresh_ms: Option<u64>,
    retry_backoff_ms: Option<u64>,
    retry_backoff_max_ms: Option<u64>,
}

impl JwksSettings<'_> {
    /// The key source the URL names: a file read now, or an endpoint fetched now (only
    /// when `whole`: a config checked alone only has its URL checked).
    fn source(
        self,
        whole: bool,
    ) -> Result<Option<Arc<myelin_server::sasl::jwks::KeySource>>, SettingError> {
        use myelin_server::sasl::jwks::{self, HttpsOptions, KeySource};
        let Some((full_name, url)) = self.url else {
            return Ok(None);
        };
        let url = url.trim();
        if let Some(path) = url.strip_prefix("file://") {
            return KeySource::file(path)
                .map(Some)
                .map_err(|reason| invalid(full_name, reason));
        }
        jwks::check_url(url).map_err(|reason| invalid(full_name, reason))?;
        if !whole {
            return Ok(None);
        }
        let roots = match self.jaas {
            Some((jaas_name, jaas)) => jaas_truststore(jaas_name, jaas)?,
            None => None,
        };
        let roots = match roots {
            Some(roots) => roots,
            None => jwks::system_roots().map_err(|reason| invalid(full_name, reason))?,
        };
        let mut options = HttpsOptions::new(roots);
        if let Some(ms) = self.refresh_ms {
            options.refresh = Duration::from_millis(ms);
        }
        if let Some(ms) = self.retry_backoff_ms {
            options.retry_backoff = Duration::from_millis(ms);
        }
        if let Some(ms) = self.retry_backoff_max_ms {
            options.retry_backoff_max = Duration::from_millis(ms);
        }
        KeySource::https(url, options)
            .map(Some)
            .map_err(|reason| invalid(full_name, reason))
    }
}

/// The CA certificates the `ssl.truststore.*` options of an OAUTHBEARER JAAS config name
/// (Kafka's `JaasOptionsUtils`: the JWKS endpoint's trust), or None without them.
fn jaas_truststore(
    full_name: &str,
    jaas: &str,
) -> Result<Option<rustls::RootCertStore>, SettingError> {
    let (_, options) =
        myelin_server::sasl::parse_jaas(jaas).map_err(|reason| invalid(full_name, reason))?;
    let password = options
        .get("ssl.truststore.password")
        .filter(|p| !p.is_empty())
        .map(String::as_str);
    let kind = options
        .get("ssl.truststore.type")
        .map(|t| store_type(full_name, t))
        .transpose()?;
    let pem = match (
        options.get("ssl.truststore.location"),
        options.get("ssl.truststore.certificates"),
    ) {
        (Some(path), _) => {
            let bytes = read_store(path, full_name)?;
            let kind = kind.unwrap_or_else(|| myelin_server::keystore::StoreType::detect(&bytes));
            myelin_server::keystore::read_truststore(kind, &bytes, password)
                .map_err(|reason| invalid(full_name, format!("{path}: {reason}")))?
        }
        (None, Some(certificates)) => certificates.clone(),
        (None, None) => return Ok(None),
    };
    myelin_server::tls::roots_from_pem(&pem)
        .map(Some)
        .map_err(|reason| invalid(full_name, reason))
}

/// A listener's `ssl.keystore.*`, `ssl.key.password` and `ssl.truststore.*` configs, read
/// together once all are known: (location or PEM text, the config's full name).
#[derive(Default)]
struct Stores {
    keystore_type: Option<myelin_server::keystore::StoreType>,
    keystore: Option<(String, String)>,
    keystore_password: Option<String>,
    key_password: Option<String>,
    chain: Option<String>,
    key: Option<String>,
    truststore_type: Option<myelin_server::keystore::StoreType>,
    truststore: Option<(String, String)>,
    truststore_password: Option<String>,
    trusted_certificates: Option<String>,
}

impl Stores {
    /// The listener's identity and trusted CAs (as PEM), or None without a keystore. A
    /// store whose type is not given is read in the format its bytes show (Kafka assumes
    /// JKS). Not `whole` (one config checked alone), only that the files can be read:
    /// their passwords are other configs.
    #[allow(clippy::type_complexity)]
    fn read(
        self,
        whole: bool,
    ) -> Result<Option<(myelin_server::keystore::Identity, Option<String>)>, SettingError> {
        use myelin_server::keystore::{self, StoreType};
        if !whole {
            for (path, full_name) in self.keystore.iter().chain(&self.truststore) {
                read_store(path, full_name)?;
            }
            return Ok(None);
        }
        let password = |p: &Option<String>| p.clone().filter(|p| !p.is_empty());
        let (store_password, key_password) = (
            password(&self.keystore_password),
            password(&self.key_password),
        );
        let identity = match (&self.keystore, self.chain, self.key) {
            (Some((path, full_name)), None, None) => {
                let bytes = read_store(path, full_name)?;
                let kind = self
                    .keystore_type
                    .unwrap_or_else(|| StoreType::detect(&bytes));
                Some(
                    keystore::read_keystore(
                        kind,
                        &bytes,
                        store_password.as_deref(),
                        key_password.as_deref(),
                    )
                    .map_err(|reason| invalid(full_name, format!("{path}: {reason}")))?,
                )
            }
            (None, Some(chain), Some(key)) => {
                if self.keystore_type.is_some_and(|t| t != StoreType::Pem) {
                    return Err(invalid(
                        "ssl.keystore.type",
                        "ssl.keystore.certificate.chain and ssl.keystore.key are PEM",
                    ));
                }
                Some(keystore::Identity {
                    key_pem: keystore::pem_key(&key, key_password.as_deref())
                        .map_err(|reason| invalid("ssl.keystore.key", reason))?,
                    chain_pem: chain,
                })
            }
            (None, None, None) => None,
            _ => {
                return Err(invalid(
                    "ssl.keystore.location",
                    "give either ssl.keystore.location or both ssl.keystore.certificate.chain and ssl.keystore.key",
                ))
            }
        };
        let truststore = match (&self.truststore, self.trusted_certificates) {
            (Some((path, full_name)), _) => {
                let bytes = read_store(path, full_name)?;
                let kind = self
                    .truststore_type
                    .unwrap_or_else(|| StoreType::detect(&bytes));
                Some(
                    keystore::read_truststore(
                        kind,
                        &bytes,
                        password(&self.truststore_password).as_deref(),
                    )
                    .map_err(|reason| invalid(full_name, format!("{path}: {reason}")))?,
                )
            }
            (None, certificates) => certificates,
        };
        Ok(identity.map(|identity| (identity, truststore)))
    }
}

/// A store file's bytes, bounded: a store is a few certificates.
fn read_store(path: &str, full_name: &str) -> Result<Vec<u8>, SettingError> {
    use std::io::Read;
    let limit = myelin_server::keystore::MAX_STORE_BYTES as u64;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| invalid(full_name, format!("cannot read {path}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(invalid(
            full_name,
            format!("{path} is larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(
    name: &str,
    value: &str,
) -> Result<T, SettingError> {
    let n: T = parse_num(name, value)?;
    if n <= T::default() {
        return Err(invalid(name, format!("{value} must be at least 1")));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn settings_go_to_their_configs() {
        let t = translate(&configs(&[
            ("socket.request.max.bytes", "1000"),
            ("max.connections", "7"),
            ("max.connections.per.ip", "4"),
            ("max.connections.per.ip.overrides", "10.0.0.1:9"),
            ("connections.max.idle.ms", "1500"),
            ("queued.max.request.bytes", "4096"),
            ("log.cleaner.enable", "false"),
            ("log.retention.check.interval.ms", "5000"),
            ("num.partitions", "3"),
            ("log.segment.bytes", "1048576"),
            ("node.id", "3"),
        ]))
        .unwrap();
        assert_eq!(t.server.socket_request_max_bytes, 1000);
        assert_eq!(t.server.max_connections, 7);
        assert_eq!(t.server.max_connections_per_ip, 4);
        assert_eq!(t.server.max_connections_for("10.0.0.1".parse().unwrap()), 9);
        assert_eq!(
            t.server.connections_max_idle,
            std::time::Duration::from_millis(1500)
        );
        assert_eq!(t.server.queued_max_request_bytes, Some(4096));
        assert!(!t.manager.cleaner_enable);
        assert_eq!(t.manager.retention_check_interval_ms, 5000);
        assert_eq!(t.server.broker_configs["num.partitions"], "3");
        assert_eq!(t.server.broker_configs["log.segment.bytes"], "1048576");
        assert!(!t.server.broker_configs.contains_key("node.id"));
    }

    #[test]
    fn jwks_endpoints_are_https_and_fetched_only_for_a_listener() {
        let url = "sasl.oauthbearer.jwks.endpoint.url";
        // Checked alone (as the broker's configs are read): the URL only, no fetch.
        check_security_config(url, "https://idp.invalid/realms/care/certs").unwrap();
        let err = check_security_config(url, "http://idp.invalid/certs").unwrap_err();
        assert_eq!(err.name, url);
        assert!(err.reason.contains("https only"), "{err}");
        assert!(check_security_config(url, "ldap://idp.invalid/certs").is_err());
        let err = check_security_config(url, "file:///nonexistent/jwks.json").unwrap_err();
        assert!(err.reason.contains("cannot read"), "{err}");
        assert!(check_security_config("sasl.oauthbearer.jwks.endpoint.refresh.ms", "0").is_err());
        assert!(
            check_security_config("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", "soon")
                .is_err()
        );
        // A listener's settings fetch it: nothing listens on port 1, so the start fails
        // (no retries: their budget is 0).
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
        let configs = BTreeMap::from([
            (url.to_string(), "https://127.0.0.1:1/jwks".to_string()),
            (
                "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms".to_string(),
                "0".to_string(),
            ),
            (
                "listener.name.sasl.oauthbearer.sasl.jaas.config".to_string(),
                format!(
                    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ssl.truststore.location=\"{}\" ssl.truststore.type=PEM;",
                    ca.display()
                ),
            ),
        ]);
        let err = listener_security(&configs, "SASL").unwrap_err();
        assert!(
            err.reason
                .contains("cannot fetch the JWKS at https://127.0.0.1:1/jwks"),
            "{err}"
        );
        // A trust store the JAAS options name must be readable.
        let mut bad = configs.clone();
        bad.insert(
            "listener.name.sasl.oauthbearer.sasl.jaas.config".to_string(),
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ssl.truststore.location=\"/nonexistent.pem\";".to_string(),
        );
        let err = listener_security(&bad, "SASL").unwrap_err();
        assert!(err.reason.contains("/nonexistent.pem"), "{err}");
    }

    #[test]
    fn listeners_with_names_and_their_own_security() {
        let map = protocol_map(Some("INTERNAL:PLAINTEXT, external:SASL_PLAINTEXT")).unwrap();
        let ls = parse_listeners(
            "listeners",
            "INTERNAL://127.0.0.1:9092,EXTERNAL://0.0.0.0:9094,SSL://[::1]:9093",
            &map,
        )
        .unwrap();
        let names: Vec<(&str, ListenerProtocol, u16)> = ls
            .iter()
            .map(|l| (l.name.as_str(), l.protocol, l.address.port))
            .collect();
        assert_eq!(
            names,
            [
                ("INTERNAL", ListenerProtocol::Plaintext, 9092),
                ("EXTERNAL", ListenerProtocol::SaslPlaintext, 9094),
                ("SSL", ListenerProtocol::Ssl, 9093)
            ]
        );
        // A bare address is PLAINTEXT.
        assert_eq!(
            parse_listeners("listeners", "127.0.0.1:9092", &map).unwrap()[0].protocol,
            ListenerProtocol::Plaintext
        );
        for bad in [
            "",
            "OTHER://h:1",
            "PLAINTEXT://h:1,PLAINTEXT://h:2",
            "PLAINTEXT://nope",
        ] {
            assert!(parse_listeners("listeners", bad, &map).is_err(), "{bad}");
        }
        assert!(protocol_map(Some("X:NOPE")).is_err());
        assert!(protocol_map(Some("X")).is_err());

        // Per-listener settings win over the global ones, for their listener only.
        let c = configs(&[
            ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
            ("listener.name.external.sasl.enabled.mechanisms", "PLAIN"),
            (
                "listener.name.external.plain.sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"a\";",
            ),
        ]);
        let (external, tls) = listener_security(&c, "EXTERNAL").unwrap();
        assert_eq!(external.mechanisms, [myelin_server::sasl::Mechanism::Plain]);
        assert_eq!(external.plain_users.len(), 1);
        assert!(tls.is_none());
        let (internal, _) = listener_security(&c, "INTERNAL").unwrap();
        assert_eq!(
            internal.mechanisms,
            [myelin_server::sasl::Mechanism::ScramSha512]
        );
        assert!(internal.plain_users.is_empty());
        // A bad per-listener value is refused, naming the config.
        let err = listener_security(
            &configs(&[("listener.name.external.ssl.client.auth", "sometimes")]),
            "external",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("listener.name.external.ssl.client.auth"),
            "{err}"
        );
        // translate accepts the listener-prefixed configs and keeps secrets out.
        let t = translate(&c).unwrap();
        assert!(!t
            .server
            .broker_configs
            .keys()
            .any(|k| k.starts_with("listener.name.")));
    }

    #[test]
    fn the_authorizer_is_on_with_kafkas_class_names() {
        let t = translate(&configs(&[])).unwrap();
        assert_eq!(t.server.authorizer, None);
        let t = translate(&configs(&[
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:admin;User:ops"),
            ("allow.everyone.if.no.acl.found", "true"),
        ]))
        .unwrap();
        let authorizer = t.server.authorizer.unwrap();
        assert_eq!(authorizer.super_users, vec!["User:admin", "User:ops"]);
        assert!(authorizer.allow_everyone_if_no_acl_found);
        let t = translate(&configs(&[("authorizer.class.name", "")])).unwrap();
        assert_eq!(t.server.authorizer, None);
        assert!(translate(&configs(&[("authorizer.class.name", "com.example.Mine")])).is_err());
        assert!(translate(&configs(&[("super.users", "admin")])).is_err());
        assert!(translate(&configs(&[("ssl.principal.mapping.rules", "NOTARULE")])).is_err());
        assert!(translate(&configs(&[(
            "ssl.principal.mapping.rules",
            "RULE:^CN=([^,]*),.*$/$1/L,DEFAULT"
        )]))
        .is_ok());
    }

    #[test]
    fn flush_threads_is_a_manager_setting_not_a_kafka_config() {
        let t = translate(&configs(&[("log.flush.threads", "3")])).unwrap();
        assert_eq!(t.manager.flush_parallelism, 3);
        assert!(!t.server.broker_configs.contains_key("log.flush.threads"));
        assert!(is_known("log.flush.threads"));
        let t = translate(&configs(&[("log.flush.threads", "100000")])).unwrap();
        assert_eq!(t.manager.flush_parallelism, MAX_FLUSH_THREADS);
        assert_eq!(
            translate(&configs(&[])).unwrap().manager.flush_parallelism,
            myelin_log::DEFAULT_FLUSH_THREADS
        );
        for bad in ["0", "-1", "many"] {
            let err = translate(&configs(&[("log.flush.threads", bad)])).unwrap_err();
            assert_eq!(err.name, "log.flush.threads");
        }
    }

    #[test]
    fn the_checkpoint_byte_interval_is_a_manager_setting_not_a_kafka_config() {
        let name = "log.flush.offset.checkpoint.interval.bytes";
        let t = translate(&configs(&[(name, "1048576")])).unwrap();
        assert_eq!(t.manager.checkpoint_interval_bytes, 1 << 20);
        assert!(!t.server.broker_configs.contains_key(name));
        assert!(is_known(name));
        assert_eq!(
            translate(&configs(&[]))
                .unwrap()
                .manager
                .checkpoint_interval_bytes,
            myelin_log::DEFAULT_CHECKPOINT_INTERVAL_BYTES
        );
        for bad in ["0", "-1", "lots"] {
            let err = translate(&configs(&[(name, bad)])).unwrap_err();
            assert_eq!(err.name, name);
        }
    }

    #[test]
    fn the_free_space_reserve_is_a_manager_setting_not_a_kafka_config() {
        let t = translate(&configs(&[("log.dir.reserved.bytes", "1048576")])).unwrap();
        assert_eq!(t.manager.reserved_bytes, 1 << 20);
        assert!(!t
            .server
            .broker_configs
            .contains_key("log.dir.reserved.bytes"));
        assert!(is_known("log.dir.reserved.bytes"));
        let t = translate(&configs(&[("log.dir.reserved.bytes", "0")])).unwrap();
        assert_eq!(t.manager.reserved_bytes, 0);
        assert_eq!(
            translate(&configs(&[])).unwrap().manager.reserved_bytes,
            myelin_log::space::DEFAULT_RESERVED_BYTES
        );
        for bad in ["-1", "lots"] {
            let err = translate(&configs(&[("log.dir.reserved.bytes", bad)])).unwrap_err();
            assert_eq!(err.name, "log.dir.reserved.bytes");
        }
    }

    #[test]
    fn bad_values_name_the_config() {
        for (name, value) in [
            ("socket.request.max.bytes", "-1"),
            ("log.cleaner.enable", "1"),
            ("max.connections.per.ip.overrides", "somehost:3"),
            ("connections.max.idle.ms", "0"),
            ("queued.max.request.bytes", "0"),
            ("log.flush.scheduler.interval.ms", "0"),
            ("some.unknown.thing", "x"),
        ] {
            let err = translate(&configs(&[(name, value)])).unwrap_err();
            assert_eq!(err.name, name, "{name}={value}: {err}");
        }
    }

    #[test]
    fn listeners_parse_as_kafka_writes_them() {
        let hp = HostPort::parse("listeners", "PLAINTEXT://127.0.0.1:9092").unwrap();
        assert_eq!((hp.host.as_str(), hp.port), ("127.0.0.1", 9092));
        let hp = HostPort::parse("listeners", "localhost:0").unwrap();
        assert_eq!((hp.host.as_str(), hp.port), ("localhost", 0));
        let hp = HostPort::parse("listeners", "PLAINTEXT://[::1]:9093").unwrap();
        assert_eq!((hp.host.as_str(), hp.port), ("::1", 9093));
        assert_eq!(hp.to_string(), "[::1]:9093");
        let hp = HostPort::parse("listeners", "PLAINTEXT://:9092").unwrap();
        assert!(hp.is_wildcard());
        assert_eq!(hp.bind_host(), "0.0.0.0");
        assert!(HostPort::parse("listeners", "0.0.0.0:1")
            .unwrap()
            .is_wildcard());
        for bad in [
            "GSSAPI://h:1",
            "a:1,b:2",
            "nohost",
            "h:99999",
            "::1:9092",
            "",
        ] {
            assert!(HostPort::parse("listeners", bad).is_err(), "{bad}");
        }
        // The security protocols, as Kafka spells them (any case).
        for (listener, protocol) in [
            ("h:1", ListenerProtocol::Plaintext),
            ("PLAINTEXT://h:1", ListenerProtocol::Plaintext),
            ("SSL://h:1", ListenerProtocol::Ssl),
            ("sasl_plaintext://h:1", ListenerProtocol::SaslPlaintext),
            ("SASL_SSL://h:1", ListenerProtocol::SaslSsl),
        ] {
            assert!(HostPort::parse("listeners", listener).is_ok(), "{listener}");
            let parsed = parse_listeners("listeners", listener, &protocol_map(None).unwrap());
            assert_eq!(parsed.unwrap()[0].protocol, protocol, "{listener}");
        }
        assert!(ListenerProtocol::SaslSsl.sasl() && ListenerProtocol::SaslSsl.tls());
        assert!(!ListenerProtocol::Ssl.sasl() && !ListenerProtocol::SaslPlaintext.tls());
    }
}
