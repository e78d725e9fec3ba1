//! The server's typed configuration, named after Kafka's broker configs where one exists.
//! The binary merges file, environment and flags into it; this crate only validates.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// Configuration of the Kafka wire server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `node.id`: this broker's id, reported in Metadata as the broker and the controller.
    pub node_id: i32,
    /// The host clients are told to connect to (Metadata's broker `host`), from
    /// `advertised.listeners`.
    pub advertised_host: String,
    /// The port clients are told to connect to (Metadata's broker `port`).
    pub advertised_port: u16,
    /// The cluster id reported in Metadata v2+ (`None` is sent as null).
    pub cluster_id: Option<String>,
    /// `socket.request.max.bytes`: the largest request frame accepted, checked against the
    /// 4-byte size prefix before anything is allocated. A larger prefix closes the
    /// connection.
    pub socket_request_max_bytes: usize,
    /// `max.connections`: connections served at once; further clients wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
    /// `max.connections.per.ip`: connections served at once from one IP address. A new
    /// connection from an address already at its limit is closed at once (as Kafka does);
    /// the connections already open are unaffected. Kafka's default, 2147483647.
    pub max_connections_per_ip: usize,
    /// `max.connections.per.ip.overrides`: per-address limits that replace
    /// `max_connections_per_ip`, parsed from `ip:count,ip:count` by
    /// [`parse_connections_per_ip_overrides`] (IP addresses only: Kafka also takes host
    /// names and resolves them).
    pub max_connections_per_ip_overrides: BTreeMap<IpAddr, usize>,
    /// `connections.max.idle.ms`: a connection that completes no request and finishes
    /// writing no response for this long is closed (not while a handler prepares a reply:
    /// a long poll); a frame arriving slowly (slowloris) does not reset the timer, nor does
    /// a client that pipelines requests without reading the responses.
    pub connections_max_idle: Duration,
    /// Requests read ahead of the response being written, per connection. When this many
    /// are outstanding the connection stops reading until a response is written (Kafka
    /// reads one request at a time; clients pipeline up to
    /// `max.in.flight.requests.per.connection`).
    pub max_in_flight_requests: usize,
    /// `queued.max.request.bytes`: the declared sizes of the requests being read or handled,
    /// on all connections together, may not pass this; a connection whose next request does
    /// not fit waits (reads nothing more) until memory is returned. `None` is unlimited
    /// (Kafka's -1, its default); a single request larger than the limit waits for all of
    /// it. Myelin defaults to 512 MiB.
    pub queued_max_request_bytes: Option<usize>,
    /// `max.incremental.fetch.session.cache.slots`: incremental fetch sessions (KIP-227)
    /// kept at once; 0 disables them (every fetch is then a full one).
    pub max_incremental_fetch_session_cache_slots: usize,
    /// Static broker configs by Kafka name (`num.partitions`, `log.retention.hours`,
    /// `auto.create.topics.enable`, ...), from the binary's file, environment and flags:
    /// the `STATIC_BROKER_CONFIG` layer of [`crate::configs`]. Every name must be one of
    /// [`crate::configs::BROKER_CONFIGS`]. The typed fields above win over entries of the
    /// same name here (`node.id`, `socket.request.max.bytes`, `max.connections`).
    pub broker_configs: BTreeMap<String, String>,
    /// SASL on the listener (`listeners=SASL_PLAINTEXT://...`): every connection must
    /// authenticate before anything but ApiVersions and the SASL requests. `None` for a
    /// `PLAINTEXT` listener, whose clients are `User:ANONYMOUS`.
    pub sasl: Option<crate::sasl::SaslConfig>,
    /// TLS on the listener (`SSL://` or `SASL_SSL://`): the broker's certificate and key.
    /// `None` for a plaintext listener.
    pub tls: Option<crate::tls::TlsConfig>,
    /// The ACL authorizer (`authorizer.class.name` set): `None` allows every request, as a
    /// Kafka broker without an authorizer does.
    pub authorizer: Option<crate::authz::AuthorizerConfig>,
    /// The name of the first listener (the one `advertised_host`, `advertised_port`,
    /// `sasl` and `tls` describe); `None`: its security protocol's name (`PLAINTEXT`,
    /// `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`).
    pub listener_name: Option<String>,
    /// The listeners after the first (`listeners=INTERNAL://...,EXTERNAL://...`), served by
    /// [`crate::run_all`].
    pub extra_listeners: Vec<ListenerConfig>,
}

/// A listener after the first: its name, what its clients are told, its security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The listener's name, unique among the broker's listeners.
    pub name: String,
    /// The host this listener's clients are told to connect to.
    pub advertised_host: String,
    /// The port this listener's clients are told to connect to.
    pub advertised_port: u16,
    /// SASL on this listener.
    pub sasl: Option<crate::sasl::SaslConfig>,
    /// TLS on this listener.
    pub tls: Option<crate::tls::TlsConfig>,
}

/// The name of a listener's security protocol.
pub fn protocol_name(sasl: bool, tls: bool) -> &'static str {
    match (sasl, tls) {
        (false, false) => "PLAINTEXT",
        (false, true) => "SSL",
        (true, false) => "SASL_PLAINTEXT",
        (true, true) => "SASL_SSL",
    }
}

impl Config {
    /// Every listener, the first one first.
    pub fn listeners(&self) -> Vec<ListenerConfig> {
        let first = ListenerConfig {
            name: self.listener_name.clone().unwrap_or_else(|| {
                protocol_name(self.sasl.is_some(), self.tls.is_some()).to_string()
            }),
            advertised_host: self.advertised_host.clone(),
            advertised_port: self.advertised_port,
            sasl: self.sasl.clone(),
            tls: self.tls.clone(),
        };
        std::iter::once(first)
            .chain(self.extra_listeners.iter().cloned())
            .collect()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            node_id: 0,
            advertised_host: "127.0.0.1".to_string(),
            advertised_port: 9092,
            cluster_id: None,
            socket_request_max_bytes: 100 * 1024 * 1024,
            max_connections: 10_000,
            max_connections_per_ip: i32::MAX as usize,
            max_connections_per_ip_overrides: BTreeMap::new(),
            connections_max_idle: Duration::from_millis(600_000),
            max_in_flight_requests: 32,
            queued_max_request_bytes: Some(512 * 1024 * 1024),
            max_incremental_fetch_session_cache_slots: 1000,
            broker_configs: BTreeMap::new(),
            sasl: None,
            tls: None,
            authorizer: None,
            listener_name: None,
            extra_listeners: Vec::new(),
        }
    }
}

/// A setting that cannot work.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("invalid server config `{name}`: {reason}")]
pub struct ConfigError {
    /// The Kafka name of the setting.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl Config {
    /// Checks every setting; returns the first that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |name, reason: &str| {
            Err(ConfigError {
                name,
                reason: reason.to_string(),
            })
        };
        if self.node_id < 0 {
            return fail("node.id", "must be 0 or more");
        }
        let listeners = self.listeners();
        for (i, l) in listeners.iter().enumerate() {
            if l.advertised_host.is_empty() {
                return fail("advertised.listeners", "the host is empty");
            }
            if l.name.is_empty() {
                return fail("listeners", "a listener's name is empty");
            }
            if listeners[..i].iter().any(|o| o.name == l.name) {
                return fail("listeners", "two listeners have the same name");
            }
        }
        // A request header alone takes 10 bytes; the frame size is an int32.
        if self.socket_request_max_bytes < 10 || self.socket_request_max_bytes > i32::MAX as usize {
            return fail(
                "socket.request.max.bytes",
                "must be between 10 and 2147483647",
            );
        }
        if self.max_connections == 0 {
            return fail("max.connections", "must be at least 1");
        }
        if self.max_connections_per_ip == 0 {
            return fail("max.connections.per.ip", "must be at least 1");
        }
        if self.connections_max_idle.is_zero() {
            return fail("connections.max.idle.ms", "must be at least 1");
        }
        if self.queued_max_request_bytes == Some(0) {
            return fail(
                "queued.max.request.bytes",
                "must be -1 (unlimited) or at least 1",
            );
        }
        if self.max_in_flight_requests == 0 {
            return fail("max.in.flight.requests", "must be at least 1");
        }
        self.validate_broker_configs()
    }

    /// Checks [`Self::broker_configs`]: known names, valid values, and log defaults that
    /// hold together (`log.segment.bytes` at least 14, ...).
    fn validate_broker_configs(&self) -> Result<(), ConfigError> {
        let named = |name: &str, reason: String| {
            let name = crate::configs::broker_config(name).map_or("broker config", |d| d.name);
            ConfigError { name, reason }
        };
        let statics = crate::configs::normalize_static_broker_configs(&self.broker_configs)
            .map_err(|e| match &e {
                crate::configs::ConfigsError::InvalidValue { name, .. } => {
                    named(name, e.to_string())
                }
                _ => named("", e.to_string()),
            })?;
        let empty = BTreeMap::new();
        let view = crate::configs::BrokerConfigs {
            node_id: self.node_id,
            statics: &statics,
            dynamic_default: &empty,
            dynamic_broker: &empty,
        };
        view.log_defaults()
            .map_err(|e| named("", format!("the log defaults are invalid: {e}")))?;
        if let Some(assignors) = view.value("group.consumer.assignors").value {
            myelin_coord::consumer::ConsumerGroupConfig::parse_assignors(&assignors)
                .map_err(|e| named("group.consumer.assignors", e))?;
        }
        let coordinator = view.coordinator_settings();
        coordinator
            .group
            .validate()
            .and_then(|()| coordinator.consumer.validate())
            .and_then(|()| view.txn_settings().validate())
            .map_err(|e| {
                named(
                    "",
                    format!("the group coordinator settings are invalid: {e}"),
                )
            })?;
        Ok(())
    }
}

/// Parses `max.connections.per.ip.overrides`: comma-separated `ip:count` pairs (an IPv6
/// address may be bracketed, `[::1]:5`); empty for an empty string. Count 0 refuses every
/// connection from that address, as in Kafka.
pub fn parse_connections_per_ip_overrides(
    value: &str,
) -> Result<BTreeMap<IpAddr, usize>, ConfigError> {
    let bad = |entry: &str, why: &str| ConfigError {
        name: "max.connections.per.ip.overrides",
        reason: format!("`{entry}`: {why} (expected `ip:count,ip:count`)"),
    };
    let mut overrides = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (ip, count) = entry
            .rsplit_once(':')
            .ok_or_else(|| bad(entry, "no `:count`"))?;
        let ip = ip.trim().trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = ip.parse().map_err(|_| bad(entry, "not an IP address"))?;
        let count: usize = count
            .trim()
            .parse()
            .map_err(|_| bad(entry, "the count is not a number"))?;
        overrides.insert(ip, count);
    }
    Ok(overrides)
}

impl Config {
    /// The connection limit of one address: its override, else `max_connections_per_ip`.
    pub fn max_connections_for(&self, ip: IpAddr) -> usize {
        self.max_connections_per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.max_connections_per_ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_bad_values_are_named() {
        Config::default().validate().unwrap();
        let bad = Config {
            socket_request_max_bytes: 3,
            ..Config::default()
        };
        assert_eq!(bad.validate().unwrap_err().name, "socket.request.max.bytes");
        let bad = Config {
            max_in_flight_requests: 0,
            ..Config::default()
        };
        assert!(bad.validate().is_err());
        let bad = Config {
            connections_max_idle: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(bad.validate().unwrap_err().name, "connections.max.idle.ms");
    }

    #[test]
    fn per_ip_overrides_parse() {
        let o = parse_connections_per_ip_overrides(" 10.0.0.1:5, [::1]:0 ,").unwrap();
        assert_eq!(o.get(&"10.0.0.1".parse().unwrap()), Some(&5));
        assert_eq!(o.get(&"::1".parse().unwrap()), Some(&0));
        assert!(parse_connections_per_ip_overrides("").unwrap().is_empty());
        assert!(parse_connections_per_ip_overrides("host:1").is_err());
        assert!(parse_connections_per_ip_overrides("10.0.0.1").is_err());
        assert!(parse_connections_per_ip_overrides("10.0.0.1:x").is_err());
        let config = Config {
            max_connections_per_ip: 3,
            max_connections_per_ip_overrides: o,
            ..Config::default()
        };
        assert_eq!(config.max_connections_for("10.0.0.1".parse().unwrap()), 5);
        assert_eq!(config.max_connections_for("10.0.0.2".parse().unwrap()), 3);
    }

    #[test]
    fn broker_configs_are_checked() {
        let with = |name: &str, value: &str| Config {
            broker_configs: BTreeMap::from([(name.to_string(), value.to_string())]),
            ..Config::default()
        };
        with("num.partitions", "3").validate().unwrap();
        with("log.retention.hours", "24").validate().unwrap();
        assert_eq!(
            with("num.partitions", "x").validate().unwrap_err().name,
            "num.partitions"
        );
        assert!(with("no.such.config", "1").validate().is_err());
        assert!(with("log.segment.bytes", "10").validate().is_err());
    }
}
