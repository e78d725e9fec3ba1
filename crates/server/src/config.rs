//! The server's typed configuration, named after Kafka's broker configs where one exists.
//! The binary merges file, environment and flags into it; this crate only validates.

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
    /// Requests read ahead of the response being written, per connection. When this many
    /// are outstanding the connection stops reading until a response is written (Kafka
    /// reads one request at a time; clients pipeline up to
    /// `max.in.flight.requests.per.connection`).
    pub max_in_flight_requests: usize,
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
            max_in_flight_requests: 32,
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
        if self.advertised_host.is_empty() {
            return fail("advertised.listeners", "the host is empty");
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
        if self.max_in_flight_requests == 0 {
            return fail("max.in.flight.requests", "must be at least 1");
        }
        Ok(())
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
    }
}
