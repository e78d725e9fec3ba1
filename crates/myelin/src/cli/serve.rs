//! `myelin serve`: run a broker until SIGTERM or SIGINT.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use myelin::Broker;

use super::config_file::{self, Layer, LogFormat, ServeSettings};
use super::{parse_key_value, telemetry};

/// `myelin serve` flags. Each also reads an environment variable; a flag beats the
/// environment, which beats the config file.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// The data directory [env: MYELIN_DATA_DIR] [default: ./myelin-data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The Kafka listeners, HOST:PORT or NAME://HOST:PORT, comma-separated (NAME: a
    /// security protocol, or a name of listener.security.protocol.map); port 0 picks a
    /// free port
    /// [env: MYELIN_LISTEN] [default: 127.0.0.1:9092]
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// The address clients are told to connect to, if not the listener's
    /// (`advertised.listeners`) [env: MYELIN_ADVERTISED_LISTEN]
    #[arg(long, value_name = "HOST:PORT")]
    pub advertised_listen: Option<String>,
    /// The HTTP endpoint (/metrics, /healthz, /readyz), or `off`
    /// [env: MYELIN_HTTP_LISTEN] [default: 127.0.0.1:9644]
    #[arg(long, value_name = "HOST:PORT")]
    pub http_listen: Option<String>,
    /// Serve the schema registry's REST API (Confluent Schema Registry's) on HOST:PORT,
    /// or `off` [env: MYELIN_SCHEMA_REGISTRY_LISTEN] [default: off]
    #[arg(long, value_name = "HOST:PORT")]
    pub schema_registry_listen: Option<String>,
    /// The schema registry API's authentication: NONE, or BASIC (HTTP Basic, as a user of
    /// the Kafka listeners: PLAIN's JAAS users and SCRAM credentials)
    /// [env: MYELIN_SCHEMA_REGISTRY_AUTHENTICATION] [default: NONE]
    #[arg(long, value_name = "METHOD")]
    pub schema_registry_authentication: Option<String>,
    /// A TOML file of Kafka broker configs (`listeners`, `log.dirs`, `num.partitions`,
    /// ...) [env: MYELIN_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// This broker's node id (`node.id`) [env: MYELIN_NODE_ID] [default: 0]
    #[arg(long, value_name = "ID")]
    pub node_id: Option<i32>,
    /// Set any broker config, as in the config file (repeatable)
    #[arg(long = "override", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub overrides: Vec<(String, String)>,
    /// Log output [env: MYELIN_LOG_FORMAT] [default: text]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter: a level (`info`, `debug`) or `tracing` directives
    /// (`info,myelin_server=debug`) [env: MYELIN_LOG_LEVEL, else RUST_LOG]
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
}

impl ServeArgs {
    fn layer(&self) -> Result<Layer> {
        let mut layer =
            Layer::from_configs("--override", self.overrides.iter().cloned().collect())?;
        let set = |slot: &mut Option<String>, v: Option<String>| {
            if v.is_some() {
                *slot = v;
            }
        };
        set(
            &mut layer.data_dir,
            self.data_dir.as_ref().map(|d| d.display().to_string()),
        );
        set(&mut layer.listen, self.listen.clone());
        set(&mut layer.advertised, self.advertised_listen.clone());
        set(&mut layer.http_listen, self.http_listen.clone());
        set(
            &mut layer.schema_registry_listen,
            self.schema_registry_listen.clone(),
        );
        set(
            &mut layer.schema_registry_authentication,
            self.schema_registry_authentication.clone(),
        );
        set(&mut layer.node_id, self.node_id.map(|n| n.to_string()));
        set(
            &mut layer.log_format,
            self.log_format
                .map(|f| format!("{f:?}").to_ascii_lowercase()),
        );
        set(&mut layer.log_level, self.log_level.clone());
        Ok(layer)
    }

    /// Merges the config file, the environment `vars` and the flags.
    pub fn settings(&self, vars: &HashMap<String, String>) -> Result<ServeSettings> {
        let path = self
            .config
            .clone()
            .or_else(|| vars.get("MYELIN_CONFIG").map(PathBuf::from));
        let file = match &path {
            Some(p) => Layer::from_configs(&p.display().to_string(), config_file::load_file(p)?)?,
            None => Layer::default(),
        };
        config_file::resolve(file, Layer::from_env(vars), self.layer()?)
    }
}

/// Runs the broker until a signal, then shuts it down cleanly.
pub async fn run(args: ServeArgs) -> Result<()> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    let settings = args.settings(&vars)?;
    telemetry::init(settings.log_format, settings.log_level.as_deref())?;
    // Installed before anything starts: a signal during start-up is held, and shuts the
    // broker down as soon as it is up, instead of killing it half-started.
    let mut signals = Signals::new()?;
    raise_open_file_limit();

    let mut broker = Broker::new(&settings.data_dir)
        .listen(settings.listen.clone())
        .configs(settings.broker_configs.clone());
    if let Some(a) = &settings.advertised {
        broker = broker.advertised_listener(a.clone());
    }
    if let Some(h) = &settings.http_listen {
        broker = broker.http_listen(h.clone());
    }
    if let Some(r) = &settings.schema_registry_listen {
        broker = broker
            .schema_registry_listen(r.clone())
            .schema_registry_basic_auth(settings.schema_registry_basic_auth);
    }
    if let Some(n) = &settings.node_id {
        broker = broker.config("node.id", n.clone());
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        data_dir = %settings.data_dir.display(),
        "starting myelin"
    );
    let handle = broker.start().await.context("the broker did not start")?;
    let addr = handle.advertised().to_string();
    tracing::info!(
        "ready: data in {}; connect with `kcat -b {addr} -L` or `myelin topic list -b {addr}`{}",
        std::fs::canonicalize(handle.data_dir())
            .unwrap_or_else(|_| handle.data_dir().to_path_buf())
            .display(),
        handle
            .http_addr()
            .map(|a| format!("; metrics at http://{a}/metrics"))
            .unwrap_or_default()
    );

    let signal = signals.next().await;
    tracing::info!(
        signal,
        "shutting down gracefully (a second signal exits at once)"
    );
    let shutdown = handle.shutdown();
    tokio::pin!(shutdown);
    tokio::select! {
        done = &mut shutdown => done.context("shutdown failed")?,
        second = signals.next() => {
            tracing::warn!(signal = second, "second signal: exiting without a clean shutdown");
            std::process::exit(130);
        }
    }
    Ok(())
}

/// SIGTERM and SIGINT, caught from creation on.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    /// Resolves at the next signal (or one received since the last call), with its name.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Raises the soft limit of open files to the hard limit: a broker with many partitions
/// keeps a descriptor per active segment in use, plus one per connection.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass; no other memory is involved.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot read the open file limit");
        return;
    }
    if limit.rlim_cur >= limit.rlim_max {
        tracing::debug!(limit = limit.rlim_cur, "open file limit");
        return;
    }
    let before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: setrlimit reads the struct we pass; no other memory is involved.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot raise the open file limit");
    } else {
        tracing::info!(from = before, to = limit.rlim_cur, "open file limit raised");
    }
}
