//! [`Broker`]: a whole single-node broker in a Rust program, and [`BrokerHandle`], the
//! running one.
//!
//! ```no_run
//! # async fn demo() -> Result<(), myelin::BrokerError> {
//! let broker = myelin::Broker::new("./myelin-data")
//!     .listen("127.0.0.1:0")
//!     .http_listen("127.0.0.1:0")
//!     .config("num.partitions", "3")
//!     .start()
//!     .await?;
//! println!("Kafka clients connect to {}", broker.kafka_addr());
//! broker.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Start-up, in order: the HTTP endpoint (so `/healthz` answers during a long recovery),
//! the data directory (created, locked, `meta.properties` read or written), the metadata
//! log, the partition logs (recovered when the last shutdown was not clean), the Kafka
//! listener; then `/readyz` turns ready. Shutdown reverses it: not ready, stop accepting,
//! finish the requests in flight, flush every log and write the clean-shutdown marker.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use myelin_cluster::{log_config_for, FileMetadataStore, MetadataStore, PartitionManager};
use myelin_coord::GroupCoordinator;
use myelin_log::{LogManager, StartupReport};
use myelin_server::ServerContext;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::http::{HttpServer, HttpState};
use crate::meta::{self, MetaError};
use crate::metrics::BrokerMetrics;
use crate::settings::{self, HostPort, SettingError};

/// The data directory used when none is given.
pub const DEFAULT_DATA_DIR: &str = "./myelin-data";
/// The Kafka listener used when none is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9092";
/// The HTTP listener the binary uses when none is given (the library has none by default).
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:9644";

/// Why a broker did not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error(transparent)]
    DataDir(#[from] MetaError),
    #[error("opening the metadata log: {0}")]
    Metadata(#[from] myelin_cluster::MetadataError),
    #[error("storage: {0}")]
    Storage(#[from] myelin_log::LogError),
    #[error(transparent)]
    Server(#[from] myelin_server::ConfigError),
    #[error("cannot bind the {what} listener to {address}: {source}")]
    Bind {
        what: &'static str,
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the broker-wide log defaults are invalid: {0}")]
    LogDefaults(String),
    #[error("a start-up task failed: {0}")]
    Task(String),
}

/// A broker to start: a builder of its settings. Every setting is a value; nothing is read
/// from the environment or files.
#[derive(Debug, Clone)]
pub struct Broker {
    data_dir: PathBuf,
    listen: String,
    advertised: Option<String>,
    http_listen: Option<String>,
    schema_registry_listen: Option<String>,
    schema_registry_basic_auth: bool,
    node_id: Option<String>,
    configs: BTreeMap<String, String>,
    shutdown_timeout: Duration,
}

impl Broker {
    /// A broker keeping its data in `data_dir`, listening on 127.0.0.1:9092, without
    /// HTTP endpoint, node id 0, every other config at its default.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: DEFAULT_LISTEN.to_string(),
            advertised: None,
            http_listen: None,
            schema_registry_listen: None,
            schema_registry_basic_auth: false,
            node_id: None,
            configs: BTreeMap::new(),
            shutdown_timeout: Duration::from_secs(30),
        }
    }

    /// The data directory (`log.dirs`).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = dir.into();
        self
    }

    /// The Kafka listener: `HOST:PORT` or `PLAINTEXT://HOST:PORT` (`listeners`). Port 0
    /// picks a free port: see [`BrokerHandle::kafka_addr`].
    pub fn listen(mut self, address: impl Into<String>) -> Self {
        self.listen = address.into();
        self
    }

    /// The address clients are told to connect to (`advertised.listeners`). Without it,
    /// the bound address; a wildcard host (`0.0.0.0`) is replaced by the host name. Port
    /// 0 means the bound port.
    pub fn advertised_listener(mut self, address: impl Into<String>) -> Self {
        self.advertised = Some(address.into());
        self
    }

    /// Serve `/metrics`, `/healthz` and `/readyz` on `HOST:PORT` (port 0 works).
    pub fn http_listen(mut self, address: impl Into<String>) -> Self {
        self.http_listen = Some(address.into());
        self
    }

    /// Serve the schema registry's REST API (Confluent Schema Registry's) on `HOST:PORT`
    /// (port 0 works). Its schemas live in the `_schemas` topic.
    pub fn schema_registry_listen(mut self, address: impl Into<String>) -> Self {
        self.schema_registry_listen = Some(address.into());
        self
    }

    /// Require HTTP Basic authentication on the schema registry's API, as a user of the
    /// Kafka listeners (a PLAIN JAAS user or a SCRAM credential). Off by default.
    pub fn schema_registry_basic_auth(mut self, on: bool) -> Self {
        self.schema_registry_basic_auth = on;
        self
    }

    /// The node id (`node.id`).
    pub fn node_id(mut self, id: i32) -> Self {
        self.node_id = Some(id.to_string());
        self
    }

    /// Sets a broker config by its Kafka name (`num.partitions`, `log.segment.bytes`,
    /// ...). `listeners`, `advertised.listeners`, `log.dirs` and `node.id` are the same as
    /// the methods of those names. Values are checked by [`Broker::start`].
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        match name.as_str() {
            "listeners" => self.listen = value,
            "advertised.listeners" => self.advertised = Some(value),
            "log.dirs" | "log.dir" => self.data_dir = PathBuf::from(value),
            "node.id" | "broker.id" => self.node_id = Some(value),
            _ => {
                self.configs.insert(name, value);
            }
        }
        self
    }

    /// Sets several broker configs (see [`Broker::config`]).
    pub fn configs<K: Into<String>, V: Into<String>>(
        mut self,
        configs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        for (k, v) in configs {
            self = self.config(k, v);
        }
        self
    }

    /// How long [`BrokerHandle::shutdown`] waits for connections to finish their
    /// requests before closing storage regardless (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Starts the broker on the current Tokio runtime. Returns once the Kafka listener
    /// accepts connections.
    pub async fn start(self) -> Result<BrokerHandle, BrokerError> {
        let protocols = settings::protocol_map(
            self.configs
                .get("listener.security.protocol.map")
                .map(String::as_str),
        )?;
        let mut listeners = settings::parse_listeners("listeners", &self.listen, &protocols)?;
        let mut advertised_listeners = self
            .advertised
            .as_deref()
            .map(|a| settings::parse_listeners("advertised.listeners", a, &protocols))
            .transpose()?
            .unwrap_or_default();
        // A Kafka server.properties of a combined node names its controller listeners:
        // Myelin speaks no controller protocol, so they are not served.
        if let Some(names) = self.configs.get("controller.listener.names") {
            let controller: Vec<String> = names
                .split(',')
                .map(|n| n.trim().to_ascii_uppercase())
                .collect();
            listeners.retain(|l| !controller.contains(&l.name.to_ascii_uppercase()));
            advertised_listeners.retain(|l| !controller.contains(&l.name.to_ascii_uppercase()));
            if listeners.is_empty() {
                return Err(SettingError {
                    name: "controller.listener.names".into(),
                    reason: "it names every listener: none would serve clients".into(),
                }
                .into());
            }
        }
        for (name, value, reason) in settings::kafka_only_notes(&self.configs) {
            tracing::info!("{name}={value} has no effect: {reason}");
        }
        // Each listener's advertised address: the entry of its name, or with one listener
        // and one entry, that entry whatever its name.
        let mut advertised_of: Vec<Option<HostPort>> = Vec::with_capacity(listeners.len());
        for l in &listeners {
            let own = advertised_listeners.iter().find(|a| a.name == l.name);
            let only = (listeners.len() == 1 && advertised_listeners.len() == 1)
                .then(|| &advertised_listeners[0]);
            advertised_of.push(own.or(only).map(|a| a.address.clone()));
        }
        if let Some(stray) = advertised_listeners
            .iter()
            .find(|a| listeners.len() > 1 && !listeners.iter().any(|l| l.name == a.name))
        {
            return Err(SettingError {
                name: "advertised.listeners".into(),
                reason: format!("{} is not a listener of `listeners`", stray.name),
            }
            .into());
        }
        let http_listen = self
            .http_listen
            .as_deref()
            .map(|a| HostPort::parse("http listener", a))
            .transpose()?;
        // `https://HOST:PORT` serves the registry over TLS with the broker's `ssl.*`
        // keystore (`listener.name.schema_registry.ssl.*` for its own).
        let registry_listen = match self.schema_registry_listen.as_deref().map(str::trim) {
            None => None,
            Some(a) => {
                let (tls, address) = match a.split_once("://") {
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
                    Some((scheme, _)) => {
                        return Err(SettingError {
                            name: "schema registry listener".into(),
                            reason: format!("{a:?}: the scheme is http or https, not {scheme}"),
                        }
                        .into())
                    }
                    None => (false, a),
                };
                let hp = HostPort::parse("schema registry listener", address)?;
                let acceptor = if tls {
                    let (_, tls) = settings::listener_security(&self.configs, "schema_registry")?;
                    let tls = tls.ok_or_else(|| SettingError {
                        name: "ssl.keystore.location".into(),
                        reason: "the schema registry's https listener needs a keystore".into(),
                    })?;
                    let acceptor = tls.acceptor().map_err(|reason| SettingError {
                        name: "ssl.keystore.location".into(),
                        reason: format!("the schema registry's https listener: {reason}"),
                    })?;
                    Some(acceptor.0)
                } else {
                    None
                };
                Some((hp, acceptor))
            }
        };
        let node_id: i32 = match &self.node_id {
            None => 0,
            Some(v) => v
                .trim()
                .parse()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| SettingError {
                    name: "node.id".into(),
                    reason: format!("{v:?} is not a number of at least 0"),
                })?,
        };
        let translated = settings::translate(&self.configs)?;
        let mut server_config = translated.server;
        server_config.node_id = node_id;
        // Each listener's security, from the global configs and its own
        // (`listener.name.<name>.<config>`).
        let mut securities = Vec::with_capacity(listeners.len());
        for l in &listeners {
            let (sasl, tls) = settings::listener_security(&self.configs, &l.name)?;
            let tls = if l.protocol.tls() {
                Some(tls.ok_or_else(|| SettingError {
                    name: "ssl.keystore.location".into(),
                    reason: format!(
                        "the {} listener needs a keystore (ssl.keystore.location: JKS, PKCS12 or PEM; or listener.name.{}.ssl.keystore.location)",
                        l.name,
                        l.name.to_ascii_lowercase()
                    ),
                })?)
            } else {
                None
            };
            let sasl = if l.protocol.sasl() {
                if sasl.plain_users.is_empty()
                    && sasl.mechanisms == [myelin_server::sasl::Mechanism::Plain]
                {
                    return Err(SettingError {
                        name: format!(
                            "listener.name.{}.plain.sasl.jaas.config",
                            l.name.to_ascii_lowercase()
                        ),
                        reason:
                            "PLAIN is the only SASL mechanism enabled and no user is configured"
                                .into(),
                    }
                    .into());
                }
                Some(sasl)
            } else {
                None
            };
            securities.push((sasl, tls));
        }
        let sasl_summaries: Vec<Option<String>> = securities
            .iter()
            .map(|(sasl, _)| {
                sasl.as_ref().map(|s| {
                    let names: Vec<&str> = s.mechanisms.iter().map(|m| m.name()).collect();
                    format!("{} ({} PLAIN users)", names.join(", "), s.plain_users.len())
                })
            })
            .collect();
        let joined = |entries: Vec<String>| entries.join(",");
        server_config.broker_configs.insert(
            "listeners".into(),
            joined(
                listeners
                    .iter()
                    .map(|l| format!("{}://{}", l.name, l.address))
                    .collect(),
            ),
        );
        if !advertised_listeners.is_empty() {
            server_config.broker_configs.insert(
                "advertised.listeners".into(),
                joined(
                    listeners
                        .iter()
                        .zip(&advertised_of)
                        .filter_map(|(l, a)| Some(format!("{}://{}", l.name, a.as_ref()?)))
                        .collect(),
                ),
            );
        }
        let (first_sasl, first_tls) = securities[0].clone();
        server_config.sasl = first_sasl;
        server_config.tls = first_tls;
        server_config.listener_name = Some(listeners[0].name.clone());
        // Every value is checked before anything is bound or opened.
        server_config.validate()?;
        let statics =
            myelin_server::configs::static_broker_configs(&server_config, Some(&self.data_dir));

        let metrics = Arc::new(BrokerMetrics::new());
        let ready = Arc::new(AtomicBool::new(false));
        let http = match &http_listen {
            Some(hp) => {
                let listener = bind("HTTP", hp).await?;
                let addr = listener.local_addr().map_err(|source| BrokerError::Bind {
                    what: "HTTP",
                    address: hp.to_string(),
                    source,
                })?;
                tracing::info!(%addr, "HTTP listener bound: /metrics /healthz /readyz");
                let state = HttpState {
                    metrics: metrics.clone(),
                    ready: ready.clone(),
                };
                Some((HttpServer::spawn(listener, state), addr))
            }
            None => None,
        };

        let data_dir = self.data_dir.clone();
        let mut manager = translated.manager;
        manager.data_dir = data_dir.clone();
        let opened = tokio::task::spawn_blocking(move || {
            open_storage(&data_dir, node_id, manager, &statics)
        })
        .await;
        let storage = match opened {
            Ok(Ok(storage)) => storage,
            Ok(Err(e)) => return Err(fail_start(http, e).await),
            Err(e) => return Err(fail_start(http, BrokerError::Task(e.to_string())).await),
        };
        metrics.set_partitions(storage.partitions.clone());

        let mut sockets = Vec::with_capacity(listeners.len());
        let mut bound_addrs = Vec::with_capacity(listeners.len());
        for l in &listeners {
            let bound = bind("Kafka", &l.address).await.and_then(|socket| {
                let addr = socket.local_addr().map_err(|source| BrokerError::Bind {
                    what: "Kafka",
                    address: l.address.to_string(),
                    source,
                })?;
                Ok((socket, addr))
            });
            match bound {
                Ok((socket, addr)) => {
                    sockets.push(socket);
                    bound_addrs.push(addr);
                }
                Err(e) => {
                    close_storage(&storage.partitions).await;
                    return Err(fail_start(http, e).await);
                }
            }
        }
        let advertised_addrs: Vec<HostPort> = listeners
            .iter()
            .zip(&advertised_of)
            .zip(&bound_addrs)
            .map(|((l, a), bound)| advertised_address(&l.address, a.as_ref(), *bound))
            .collect();
        let kafka_addr = bound_addrs[0];
        let advertised = advertised_addrs[0].clone();
        server_config.advertised_host = advertised.host.clone();
        server_config.advertised_port = advertised.port;
        server_config.extra_listeners = listeners
            .iter()
            .zip(&securities)
            .zip(&advertised_addrs)
            .skip(1)
            .map(
                |((l, (sasl, tls)), a)| myelin_server::config::ListenerConfig {
                    name: l.name.clone(),
                    advertised_host: a.host.clone(),
                    advertised_port: a.port,
                    sasl: sasl.clone(),
                    tls: tls.clone(),
                },
            )
            .collect();
        server_config.cluster_id = Some(storage.meta.cluster_id.clone());
        let ctx = match ServerContext::new_with_metrics(
            server_config,
            storage.partitions.clone(),
            metrics.clone(),
        ) {
            Ok(ctx) => ctx,
            Err(e) => {
                close_storage(&storage.partitions).await;
                return Err(fail_start(http, e.into()).await);
            }
        };
        // The group gauges read the coordinator, which the context created.
        metrics.set_groups(ctx.groups.clone());
        metrics.set_shares(ctx.shares.clone());
        let registry = match &registry_listen {
            Some((hp, acceptor)) => match bind("schema registry", hp).await {
                Ok(listener) => {
                    let addr = listener.local_addr().map_err(|source| BrokerError::Bind {
                        what: "schema registry",
                        address: hp.to_string(),
                        source,
                    })?;
                    let app = crate::schema_registry::router(
                        ctx.clone(),
                        self.schema_registry_basic_auth,
                    );
                    let served = match acceptor {
                        Some(acceptor) => {
                            let tls = crate::http::TlsListener::new(listener, acceptor.clone())
                                .map_err(|source| BrokerError::Bind {
                                    what: "schema registry",
                                    address: hp.to_string(),
                                    source,
                                })?;
                            tracing::info!("schema registry listening on https://{addr}");
                            HttpServer::serve_tls(tls, app)
                        }
                        None => {
                            tracing::info!("schema registry listening on http://{addr}");
                            HttpServer::serve(listener, app)
                        }
                    };
                    Some((served, addr))
                }
                Err(e) => {
                    close_storage(&storage.partitions).await;
                    return Err(fail_start(http, e).await);
                }
            },
            None => None,
        };
        let groups = ctx.groups.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(myelin_server::run_all(sockets, ctx, async {
            let _ = stopped.await;
        }));
        ready.store(true, Ordering::Release);
        tracing::info!(
            "kafka listener bound to {kafka_addr} (advertised as {advertised}); data in {}",
            self.data_dir.display()
        );
        for (i, l) in listeners.iter().enumerate() {
            if i > 0 {
                tracing::info!(
                    "kafka listener {} bound to {} (advertised as {})",
                    l.name,
                    bound_addrs[i],
                    advertised_addrs[i]
                );
            }
            if let Some(sasl) = &sasl_summaries[i] {
                tracing::info!(
                    "the listener {} is {}: clients authenticate with {sasl}",
                    l.name,
                    l.protocol.name()
                );
            }
        }
        let listener_addrs: Vec<(String, SocketAddr)> = listeners
            .iter()
            .map(|l| l.name.clone())
            .zip(bound_addrs.iter().copied())
            .collect();

        let (http, http_addr) = match http {
            Some((s, a)) => (Some(s), Some(a)),
            None => (None, None),
        };
        let (registry, registry_addr) = match registry {
            Some((s, a)) => (Some(s), Some(a)),
            None => (None, None),
        };
        Ok(BrokerHandle {
            kafka_addr,
            listener_addrs,
            http_addr,
            registry_addr,
            advertised,
            node_id,
            cluster_id: storage.meta.cluster_id,
            data_dir: self.data_dir,
            startup: storage.startup,
            partitions: storage.partitions,
            groups,
            metrics,
            ready,
            stop: Some(stop),
            server,
            http,
            registry,
            shutdown_timeout: self.shutdown_timeout,
            _lock: storage.lock,
        })
    }
}

async fn bind(what: &'static str, hp: &HostPort) -> Result<TcpListener, BrokerError> {
    TcpListener::bind((hp.bind_host(), hp.port))
        .await
        .map_err(|source| BrokerError::Bind {
            what,
            address: hp.to_string(),
            source,
        })
}

/// Stops the HTTP server of a start that failed, and passes the error on.
async fn fail_start(http: Option<(HttpServer, SocketAddr)>, e: BrokerError) -> BrokerError {
    if let Some((s, _)) = http {
        s.stop().await;
    }
    e
}

async fn close_storage(partitions: &Arc<PartitionManager>) {
    let logs = partitions.logs().clone();
    match tokio::task::spawn_blocking(move || logs.shutdown()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "closing storage failed"),
        Err(e) => tracing::warn!(error = %e, "closing storage failed"),
    }
}

/// What clients are told: the configured advertised address (port 0 = the bound port),
/// else the bound address with a wildcard host replaced by this machine's name.
fn advertised_address(
    listen: &HostPort,
    advertised: Option<&HostPort>,
    bound: SocketAddr,
) -> HostPort {
    let mut a = advertised.cloned().unwrap_or_else(|| listen.clone());
    if a.port == 0 || advertised.is_none() {
        a.port = bound.port();
    }
    if a.is_wildcard() {
        a.host = host_name().unwrap_or_else(|| "localhost".to_string());
    }
    a
}

/// This machine's host name, as Kafka advertises it for a wildcard listener.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

struct Storage {
    meta: meta::MetaProperties,
    partitions: Arc<PartitionManager>,
    startup: StartupReport,
    lock: File,
}

/// Opens the data directory; blocking.
fn open_storage(
    data_dir: &Path,
    node_id: i32,
    mut manager: myelin_log::ManagerConfig,
    statics: &BTreeMap<String, String>,
) -> Result<Storage, BrokerError> {
    meta::create_dir_durably(data_dir)?;
    // Locked before anything is read, so a second broker on the same directory fails
    // before it touches a file. The log manager then leaves locking to us.
    let lock = meta::lock_dir(data_dir)?;
    let meta = meta::load_or_create(data_dir, node_id)?;
    let (store, report) = FileMetadataStore::open(data_dir)?;
    if report.truncated_bytes > 0 {
        tracing::warn!(
            bytes = report.truncated_bytes,
            "metadata log had a torn tail: truncated"
        );
    }
    let store: Arc<dyn MetadataStore> = Arc::new(store);
    let state = store.state();
    // The broker-wide log defaults: static configs under the dynamic ones committed to
    // the metadata log (AlterConfigs on the broker).
    let defaults = myelin_server::configs::BrokerConfigs::new(node_id, statics, &state)
        .log_defaults()
        .map_err(|e| BrokerError::LogDefaults(e.to_string()))?;
    manager.default_log = defaults.clone();
    manager.lock_data_dir = false;
    // Each log opens with its topic's config, so recovery and the background threads
    // never run a topic with the broker defaults.
    let config_for = |topic: &str| {
        state
            .topic_by_name(topic)
            .and_then(|t| log_config_for(&defaults, &t.configs).ok())
            .unwrap_or_else(|| defaults.clone())
    };
    let (logs, startup) = LogManager::open(manager, &config_for)?;
    tracing::info!(
        data_dir = %data_dir.display(),
        clean_shutdown = startup.clean_shutdown,
        logs = startup.logs,
        segments_recovered = startup.segments_recovered,
        bytes_truncated = startup.bytes_truncated,
        "storage opened"
    );
    let partitions = match PartitionManager::open(logs.clone(), store, defaults) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            let _ = logs.shutdown();
            return Err(e.into());
        }
    };
    Ok(Storage {
        meta,
        partitions,
        startup,
        lock,
    })
}

/// A running broker. Call [`BrokerHandle::shutdown`] to stop it cleanly; dropping the
/// handle stops the listener but leaves the logs to be recovered at the next start.
#[derive(Debug)]
pub struct BrokerHandle {
    kafka_addr: SocketAddr,
    listener_addrs: Vec<(String, SocketAddr)>,
    http_addr: Option<SocketAddr>,
    registry_addr: Option<SocketAddr>,
    advertised: HostPort,
    node_id: i32,
    cluster_id: String,
    data_dir: PathBuf,
    startup: StartupReport,
    partitions: Arc<PartitionManager>,
    groups: Arc<GroupCoordinator>,
    metrics: Arc<BrokerMetrics>,
    ready: Arc<AtomicBool>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    http: Option<HttpServer>,
    registry: Option<HttpServer>,
    shutdown_timeout: Duration,
    /// The data directory's lock, released when the handle goes.
    _lock: File,
}

impl BrokerHandle {
    /// The address the Kafka listener is bound to.
    pub fn kafka_addr(&self) -> SocketAddr {
        self.kafka_addr
    }

    /// The address the schema registry's REST API is bound to, if it is served.
    pub fn schema_registry_addr(&self) -> Option<SocketAddr> {
        self.registry_addr
    }

    /// Every Kafka listener, by name, with the address it is bound to; the first is
    /// [`BrokerHandle::kafka_addr`].
    pub fn listener_addrs(&self) -> &[(String, SocketAddr)] {
        &self.listener_addrs
    }

    /// The address the HTTP endpoint is bound to, if there is one.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The address clients are told to connect to (`HOST:PORT`).
    pub fn advertised(&self) -> &HostPort {
        &self.advertised
    }

    /// The node id.
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The cluster id, from `meta.properties`.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// What opening storage found (whether the last shutdown was clean, what recovery
    /// did).
    pub fn startup_report(&self) -> &StartupReport {
        &self.startup
    }

    /// The partitions (and through them the metadata and the log manager).
    pub fn partitions(&self) -> &Arc<PartitionManager> {
        &self.partitions
    }

    /// The group coordinator: consumer groups and their committed offsets.
    pub fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<BrokerMetrics> {
        &self.metrics
    }

    /// Stops gracefully: not ready, stop accepting, let every connection finish the
    /// requests it has read (up to the shutdown timeout), flush every log, write the
    /// checkpoints and the clean-shutdown marker, stop the HTTP endpoint.
    pub async fn shutdown(mut self) -> Result<(), BrokerError> {
        tracing::info!("shutting down");
        self.ready.store(false, Ordering::Release);
        if let Some(registry) = self.registry.take() {
            registry.stop().await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let server = &mut self.server;
        match tokio::time::timeout(self.shutdown_timeout, &mut *server).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the Kafka listener task failed"),
            Err(_) => {
                tracing::warn!(
                    timeout = ?self.shutdown_timeout,
                    "connections did not finish in time: closing storage under them"
                );
                server.abort();
            }
        }
        let logs = self.partitions.logs().clone();
        let closed = tokio::task::spawn_blocking(move || logs.shutdown())
            .await
            .map_err(|e| BrokerError::Task(e.to_string()))?;
        if let Some(http) = self.http.take() {
            http.stop().await;
        }
        closed?;
        tracing::info!(data_dir = %self.data_dir.display(), "shut down cleanly");
        Ok(())
    }
}

impl Drop for BrokerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_defaults_to_the_bound_port() {
        let bound: SocketAddr = "127.0.0.1:41234".parse().unwrap();
        let listen = HostPort::parse("l", "127.0.0.1:0").unwrap();
        let a = advertised_address(&listen, None, bound);
        assert_eq!(a.to_string(), "127.0.0.1:41234");
        let adv = HostPort::parse("a", "PLAINTEXT://broker.example:0").unwrap();
        let a = advertised_address(&listen, Some(&adv), bound);
        assert_eq!(a.to_string(), "broker.example:41234");
        let wild = HostPort::parse("l", "0.0.0.0:9092").unwrap();
        let a = advertised_address(&wild, None, bound);
        assert!(!a.is_wildcard());
        assert_eq!(a.port, 41234);
    }
}
