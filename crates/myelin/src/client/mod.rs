//! A small Kafka client: what the `myelin` commands need to administer topics, produce and
//! consume against any Kafka-compatible broker.
//!
//! [`Connection`] is one TCP connection: it negotiates versions with ApiVersions at
//! connect, then sends one request at a time and reads its response. Each API is spoken at
//! the highest version both sides support within the range this client was tested with
//! ([`versions`]). Kafka error codes become [`ClientError::Kafka`], printed with Kafka's
//! error names (`UNKNOWN_TOPIC_OR_PARTITION`), and the broker's message when it sent one.
//!
//! [`admin`] has the topic calls, [`data`] produce, offsets and fetch, [`groups`] the
//! consumer group calls, [`records`] the record batch encoding on top of `myelin_log`'s
//! batch code.

pub mod acls;
pub mod admin;
pub mod data;
pub mod groups;
pub mod quotas;
pub mod records;
pub mod security;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::ResponseError;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;

/// The version ranges this client speaks, per API: what it was tested with.
pub mod versions {
    use std::ops::RangeInclusive;

    pub const API_VERSIONS: RangeInclusive<i16> = 0..=3;
    pub const METADATA: RangeInclusive<i16> = 1..=12;
    pub const CREATE_TOPICS: RangeInclusive<i16> = 2..=7;
    pub const DELETE_TOPICS: RangeInclusive<i16> = 1..=6;
    pub const DESCRIBE_CONFIGS: RangeInclusive<i16> = 1..=4;
    pub const INCREMENTAL_ALTER_CONFIGS: RangeInclusive<i16> = 0..=1;
    pub const LIST_OFFSETS: RangeInclusive<i16> = 1..=8;
    pub const PRODUCE: RangeInclusive<i16> = 3..=11;
    pub const FETCH: RangeInclusive<i16> = 4..=16;
    pub const FIND_COORDINATOR: RangeInclusive<i16> = 0..=4;
    pub const LIST_GROUPS: RangeInclusive<i16> = 0..=5;
    pub const DESCRIBE_GROUPS: RangeInclusive<i16> = 0..=5;
    pub const OFFSET_FETCH: RangeInclusive<i16> = 1..=9;
    pub const OFFSET_COMMIT: RangeInclusive<i16> = 2..=9;
    pub const DELETE_GROUPS: RangeInclusive<i16> = 0..=2;
    pub const SHARE_GROUP_DESCRIBE: RangeInclusive<i16> = 1..=1;
    pub const DESCRIBE_SHARE_GROUP_OFFSETS: RangeInclusive<i16> = 0..=0;
    pub const ACLS: RangeInclusive<i16> = 1..=3;
}

/// A connection's bytes: plaintext or TLS.
trait ByteStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + fmt::Debug> ByteStream for T {}

/// The largest response frame accepted.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// What went wrong talking to a broker.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connection to {address} failed: {source}")]
    Io {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{address} did not answer {api} within {timeout:?}")]
    Timeout {
        address: String,
        api: &'static str,
        timeout: Duration,
    },
    #[error("{address}: {reason}")]
    Protocol { address: String, reason: String },
    #[error("{address} does not support {api} in a version this client speaks ({ours}; the broker offers {theirs})")]
    NoCommonVersion {
        address: String,
        api: &'static str,
        ours: String,
        theirs: String,
    },
    #[error("{0}")]
    Kafka(KafkaError),
    #[error("{0}")]
    Other(String),
}

/// A Kafka error code in a response, with what it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaError {
    /// What was asked (for example "creating topic `orders`").
    pub context: String,
    /// The Kafka error code.
    pub code: i16,
    /// The broker's message, when it sent one.
    pub message: Option<String>,
}

impl KafkaError {
    /// The error's name as Kafka spells it (`TOPIC_ALREADY_EXISTS`).
    pub fn name(&self) -> String {
        error_name(self.code)
    }
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.context, self.name(), self.code)?;
        if let Some(m) = self.message.as_deref().filter(|m| !m.is_empty()) {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

/// Kafka's name for an error code: `UNKNOWN_TOPIC_OR_PARTITION` for 3.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(ResponseError::Unknown(c)) => format!("UNKNOWN_ERROR_CODE_{c}"),
        Some(e) => {
            // The crate names its variants in CamelCase after Kafka's SCREAMING_SNAKE names.
            let camel = e.to_string();
            let mut out = String::with_capacity(camel.len() + 8);
            for (i, ch) in camel.chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(ch.to_ascii_uppercase());
            }
            out
        }
    }
}

/// `Err` with a [`KafkaError`] unless `code` is 0.
pub fn check(
    code: i16,
    message: Option<&StrBytes>,
    context: impl FnOnce() -> String,
) -> Result<(), ClientError> {
    if code == 0 {
        return Ok(());
    }
    Err(ClientError::Kafka(KafkaError {
        context: context(),
        code,
        message: message.map(|m| m.to_string()),
    }))
}

/// Settings of a connection.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Sent in every request header.
    pub client_id: String,
    /// How long a connect or a request may take (a fetch adds its own max wait).
    pub request_timeout: Duration,
    /// TLS and SASL (`security.protocol` and the rest); PLAINTEXT by default.
    pub security: security::Security,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            client_id: "myelin-cli".to_string(),
            request_timeout: Duration::from_secs(30),
            security: security::Security::default(),
        }
    }
}

/// One connection to a broker, with the versions it supports.
#[derive(Debug)]
pub struct Connection {
    address: String,
    stream: BufWriter<Box<dyn ByteStream>>,
    config: ClientConfig,
    next_correlation_id: i32,
    /// The broker's supported range of each API key it listed.
    broker_versions: BTreeMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to the first of the comma-separated `HOST:PORT` addresses that answers,
    /// and negotiates versions.
    pub async fn connect(bootstrap: &str, config: ClientConfig) -> Result<Self, ClientError> {
        let mut last = None;
        for address in bootstrap
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match Self::connect_one(address, config.clone()).await {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Other("no bootstrap server given".into())))
    }

    async fn connect_one(address: &str, config: ClientConfig) -> Result<Self, ClientError> {
        let connect = TcpStream::connect(address);
        let stream = match tokio::time::timeout(config.request_timeout, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => {
                return Err(ClientError::Connect {
                    address: address.to_string(),
                    source,
                })
            }
            Err(_) => {
                return Err(ClientError::Connect {
                    address: address.to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
                })
            }
        };
        let _ = stream.set_nodelay(true);
        let other = |reason: String| ClientError::Other(format!("{address}: {reason}"));
        let stream: Box<dyn ByteStream> = match config.security.connector().map_err(other)? {
            None => Box::new(stream),
            Some(connector) => {
                let host = address
                    .rsplit_once(':')
                    .map_or(address, |(h, _)| h)
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let name = rustls_pki_types::ServerName::try_from(host.to_string())
                    .map_err(|e| other(format!("{host} is not a TLS server name: {e}")))?;
                let handshake = connector.connect(name, stream);
                match tokio::time::timeout(config.request_timeout, handshake).await {
                    Ok(Ok(tls)) => Box::new(tls),
                    Ok(Err(source)) => {
                        return Err(ClientError::Connect {
                            address: address.to_string(),
                            source,
                        })
                    }
                    Err(_) => return Err(other("the TLS handshake timed out".into())),
                }
            }
        };
        let mut c = Self {
            address: address.to_string(),
            stream: BufWriter::new(stream),
            config,
            next_correlation_id: 0,
            broker_versions: BTreeMap::new(),
        };
        c.negotiate().await?;
        if let Some((mechanism, user, password)) = c.config.security.sasl.clone() {
            c.authenticate(mechanism, &user, &password).await?;
        }
        Ok(c)
    }

    /// SASL: SaslHandshake v1, then the mechanism's tokens in SaslAuthenticate requests.
    async fn authenticate(
        &mut self,
        mechanism: myelin_server::sasl::Mechanism,
        user: &str,
        password: &str,
    ) -> Result<(), ClientError> {
        use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};
        use myelin_server::sasl::scram::ScramClient;
        use myelin_server::sasl::Mechanism;
        let handshake: SaslHandshakeResponse = self
            .call(
                1,
                &SaslHandshakeRequest::default()
                    .with_mechanism(StrBytes::from_static_str(mechanism.name())),
            )
            .await?;
        check(handshake.error_code, None, || {
            format!("SASL handshake for {mechanism} with {}", self.address)
        })?;
        let version = self.version(ApiKey::SaslAuthenticate, 0..=2)?;
        let context = format!("SASL {mechanism} authentication as {user}");
        match mechanism {
            Mechanism::Plain => {
                let token = format!("\0{user}\0{password}").into_bytes();
                self.sasl_step(version, token, &context).await?;
            }
            Mechanism::OAuthBearer => {
                return Err(self.protocol(
                    "the myelin client speaks PLAIN and SCRAM, not OAUTHBEARER".to_string(),
                ))
            }
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                let mut scram = ScramClient::new(mechanism, user, password);
                let server_first = self
                    .sasl_step(version, scram.first_message(), &context)
                    .await?;
                let last = scram
                    .final_message(&server_first)
                    .map_err(|reason| self.protocol(reason))?;
                let server_final = self.sasl_step(version, last, &context).await?;
                scram
                    .verify_server_final(&server_final)
                    .map_err(|reason| self.protocol(reason))?;
            }
        }
        Ok(())
    }

    /// One SaslAuthenticate round trip: the broker's answer token.
    async fn sasl_step(
        &mut self,
        version: i16,
        token: Vec<u8>,
        context: &str,
    ) -> Result<Bytes, ClientError> {
        use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
        let request = SaslAuthenticateRequest::default().with_auth_bytes(token.into());
        let r: SaslAuthenticateResponse = self.call(version, &request).await?;
        check(r.error_code, r.error_message.as_ref(), || {
            context.to_string()
        })?;
        Ok(r.auth_bytes)
    }

    /// The address connected to.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The broker's supported range of `key`, if it listed one.
    pub fn broker_versions(&self, key: ApiKey) -> Option<(i16, i16)> {
        self.broker_versions.get(&(key as i16)).copied()
    }

    /// ApiVersions: at v3 first; a broker that does not know v3 answers with an
    /// UNSUPPORTED_VERSION v0 body listing its range (KIP-511), and the client retries
    /// at the highest version both know.
    async fn negotiate(&mut self) -> Result<(), ClientError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("myelin"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut version = *versions::API_VERSIONS.end();
        for _ in 0..2 {
            let frame = self
                .round_trip(ApiKey::ApiVersions, version, &request)
                .await?;
            let response =
                decode_api_versions(frame, version).map_err(|reason| self.protocol(reason))?;
            if response.error_code == ResponseError::UnsupportedVersion.code() {
                let theirs = response
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                    .map(|k| k.max_version)
                    .unwrap_or(0);
                if theirs < version {
                    version = theirs.max(0);
                    continue;
                }
            }
            check(response.error_code, None, || {
                format!("ApiVersions v{version} with {}", self.address)
            })?;
            self.broker_versions = response
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect();
            return Ok(());
        }
        Err(self.protocol("ApiVersions negotiation did not converge".into()))
    }

    fn protocol(&self, reason: String) -> ClientError {
        ClientError::Protocol {
            address: self.address.clone(),
            reason,
        }
    }

    /// The highest version of `key` within `ours` that the broker supports.
    pub fn version(
        &self,
        key: ApiKey,
        ours: std::ops::RangeInclusive<i16>,
    ) -> Result<i16, ClientError> {
        let no_common = |theirs: String| ClientError::NoCommonVersion {
            address: self.address.clone(),
            api: api_name(key),
            ours: format!("v{}-{}", ours.start(), ours.end()),
            theirs,
        };
        let Some((min, max)) = self.broker_versions(key) else {
            return Err(no_common("none".into()));
        };
        let high = max.min(*ours.end());
        if high < min.max(*ours.start()) {
            return Err(no_common(format!("v{min}-{max}")));
        }
        Ok(high)
    }

    /// Sends `request` at `version` and returns the decoded response.
    pub async fn call<R: Request>(
        &mut self,
        version: i16,
        request: &R,
    ) -> Result<R::Response, ClientError> {
        let key = api_key(R::KEY)?;
        let mut frame = self.round_trip(key, version, request).await?;
        let header_version = R::Response::header_version(version);
        kafka_protocol::messages::ResponseHeader::decode(&mut frame, header_version)
            .map_err(|e| self.protocol(format!("{} response header: {e:#}", api_name(key))))?;
        R::Response::decode(&mut frame, version)
            .map_err(|e| self.protocol(format!("{} v{version} response: {e:#}", api_name(key))))
    }

    /// Sends `request` and reads no response (Produce with acks=0).
    pub async fn send_only<R: Request>(
        &mut self,
        version: i16,
        request: &R,
    ) -> Result<(), ClientError> {
        let key = api_key(R::KEY)?;
        self.write_request(key, version, request).await.map(drop)
    }

    async fn write_request<R: Encodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &R,
    ) -> Result<i32, ClientError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.config.client_id.clone())));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, key.request_header_version(version))
            .and_then(|()| request.encode(&mut buf, version))
            .map_err(|e| {
                self.protocol(format!("cannot encode {} v{version}: {e:#}", api_name(key)))
            })?;
        let size = i32::try_from(buf.len() - 4)
            .map_err(|_| self.protocol("request larger than 2 GiB".into()))?;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        let io = |source| ClientError::Io {
            address: self.address.clone(),
            source,
        };
        self.stream.write_all(&buf).await.map_err(io)?;
        self.stream
            .flush()
            .await
            .map_err(|source| ClientError::Io {
                address: self.address.clone(),
                source,
            })?;
        Ok(correlation_id)
    }

    /// Writes a request and reads its response frame, checking the correlation id
    /// (which is the first four bytes of every response header). Returns the frame with
    /// the header still in it.
    async fn round_trip<R: Encodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &R,
    ) -> Result<Bytes, ClientError> {
        let timeout = self.config.request_timeout;
        let address = self.address.clone();
        let exchange = async {
            let correlation_id = self.write_request(key, version, request).await?;
            let frame = self.read_frame().await?;
            if frame.len() < 4 {
                return Err(self.protocol("response shorter than its header".into()));
            }
            let got = (&frame[..4]).get_i32();
            if got != correlation_id {
                return Err(self.protocol(format!(
                    "response correlation id {got} does not match the request's {correlation_id}"
                )));
            }
            Ok(frame)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout {
                address,
                api: api_name(key),
                timeout,
            }),
        }
    }

    /// Raises the timeout of the requests that follow (a fetch waits on the broker).
    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.config.request_timeout = timeout;
    }

    async fn read_frame(&mut self) -> Result<Bytes, ClientError> {
        let address = self.address.clone();
        let io = |source| ClientError::Io {
            address: address.clone(),
            source,
        };
        let stream = self.stream.get_mut();
        let size = stream.read_i32().await.map_err(io)?;
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= MAX_RESPONSE_BYTES)
            .ok_or_else(|| self.protocol(format!("response size {size} is out of range")))?;
        let mut body = vec![0u8; size];
        self.stream
            .get_mut()
            .read_exact(&mut body)
            .await
            .map_err(io)?;
        Ok(Bytes::from(body))
    }
}

/// A bootstrap connection plus connections to the partition leaders it names, by node id.
#[derive(Debug)]
pub struct Cluster {
    bootstrap: Connection,
    config: ClientConfig,
    brokers: std::collections::HashMap<i32, Connection>,
}

impl Cluster {
    /// Connects to a bootstrap server (see [`Connection::connect`]).
    pub async fn connect(bootstrap: &str, config: ClientConfig) -> Result<Self, ClientError> {
        Ok(Self {
            bootstrap: Connection::connect(bootstrap, config.clone()).await?,
            config,
            brokers: std::collections::HashMap::new(),
        })
    }

    /// The bootstrap connection: for metadata and admin requests.
    pub fn bootstrap(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// A connection to broker `node_id` of `metadata` (the bootstrap connection when the
    /// broker advertises the address it was reached at).
    pub async fn broker(
        &mut self,
        metadata: &admin::ClusterMetadata,
        node_id: i32,
    ) -> Result<&mut Connection, ClientError> {
        let broker = metadata.broker(node_id).ok_or_else(|| {
            ClientError::Other(format!(
                "the metadata names no broker with node id {node_id}"
            ))
        })?;
        let address = broker.address();
        self.connection_to(node_id, &address).await
    }

    /// A connection to the coordinator of `group` (FindCoordinator on the bootstrap
    /// connection). While the coordinator is not ready (the first lookup creates
    /// `__consumer_offsets`; a coordinator loads it at start) the lookup is retried for up
    /// to the request timeout.
    pub async fn coordinator(&mut self, group: &str) -> Result<&mut Connection, ClientError> {
        // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR.
        const RETRIABLE: [i16; 3] = [14, 15, 16];
        let deadline = tokio::time::Instant::now() + self.config.request_timeout;
        let found = loop {
            match self.bootstrap.find_coordinator(group).await {
                Err(ClientError::Kafka(e))
                    if RETRIABLE.contains(&e.code) && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => break other?,
            }
        };
        self.connection_to(found.node_id, &found.address()).await
    }

    /// The bootstrap connection when it is to `address`, else a (cached) connection to
    /// broker `node_id` at `address`.
    async fn connection_to(
        &mut self,
        node_id: i32,
        address: &str,
    ) -> Result<&mut Connection, ClientError> {
        if address == self.bootstrap.address() {
            return Ok(&mut self.bootstrap);
        }
        if self
            .brokers
            .get(&node_id)
            .is_some_and(|c| c.address() != address)
        {
            self.brokers.remove(&node_id);
        }
        if !self.brokers.contains_key(&node_id) {
            let c = Connection::connect(address, self.config.clone()).await?;
            self.brokers.insert(node_id, c);
        }
        Ok(self.brokers.get_mut(&node_id).expect("inserted above"))
    }
}

/// The ApiVersions response in `frame` (header v0, always): decoded at `version`, or at v0
/// when the broker answered a version it does not know with a v0 body.
fn decode_api_versions(frame: Bytes, version: i16) -> Result<ApiVersionsResponse, String> {
    let mut body = frame.slice(4..);
    match ApiVersionsResponse::decode(&mut body.clone(), version) {
        Ok(r) => Ok(r),
        Err(first) if version > 0 => ApiVersionsResponse::decode(&mut body, 0)
            .map_err(|_| format!("ApiVersions v{version} response: {first:#}")),
        Err(e) => Err(format!("ApiVersions response: {e:#}")),
    }
}

fn api_key(key: i16) -> Result<ApiKey, ClientError> {
    ApiKey::try_from(key).map_err(|_| ClientError::Other(format!("unknown API key {key}")))
}

/// The API's name, as Kafka writes it (`CreateTopics`).
pub fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::DeleteGroups => "DeleteGroups",
        _ => "request",
    }
}

/// A topic id as Kafka prints it: unpadded base64url of its 16 bytes.
pub fn topic_id_string(id: &uuid::Uuid) -> String {
    crate::meta::base64url(id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(17), "INVALID_TOPIC_EXCEPTION");
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(9999), "UNKNOWN_ERROR_CODE_9999");
        let e = KafkaError {
            context: "creating topic `a`".into(),
            code: 36,
            message: Some("Topic 'a' already exists.".into()),
        };
        assert_eq!(
            e.to_string(),
            "creating topic `a`: TOPIC_ALREADY_EXISTS (36): Topic 'a' already exists."
        );
    }
}
