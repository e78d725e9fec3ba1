//! What handlers can reach: the server's configuration and the broker's services, and the
//! per-request context passed to each handler.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::RequestHeader;
use myelin_cluster::{MetadataStore, PartitionManager};
use myelin_coord::txn_service::TxnCoordinator;
use myelin_coord::GroupCoordinator;

use crate::config::Config;
use crate::metrics::{Metrics, NoMetrics};

/// State shared by every connection of a server.
#[derive(Debug)]
pub struct ServerContext {
    /// The server's configuration, validated.
    pub config: Config,
    /// Topics, partitions and configs.
    pub metadata: Arc<dyn MetadataStore>,
    /// The partitions and their logs, kept in step with the metadata.
    pub partitions: Arc<PartitionManager>,
    /// Where connections and requests are counted ([`NoMetrics`] unless the embedder
    /// passes its own to [`ServerContext::new_with_metrics`]).
    pub metrics: Arc<dyn Metrics>,
    /// The static broker configs, normalized, with what the typed config fields and the
    /// data directory say (`crate::configs::static_broker_configs`).
    pub static_broker_configs: BTreeMap<String, String>,
    /// Serializes the admin changes that read the metadata, then commit a record computed
    /// from it (config alterations), so that concurrent requests cannot lose each other's
    /// changes. Kafka's controller serializes them the same way.
    pub(crate) admin_lock: tokio::sync::Mutex<()>,
    /// Incremental fetch sessions (KIP-227).
    pub fetch_sessions: crate::fetch_session::FetchSessionCache,
    /// The group coordinator: consumer groups and committed offsets.
    pub groups: Arc<GroupCoordinator>,
    /// Delegation tokens' settings (KIP-48); the tokens are in the metadata.
    pub tokens: crate::delegation_tokens::TokenSettings,
    /// Share groups (KIP-932): their coordinator and share-partitions.
    pub shares: Arc<myelin_coord::share::ShareCoordinator>,
    /// Producer ids for InitProducerId.
    pub producer_ids: crate::producer_ids::ProducerIds,
    /// The transaction coordinator.
    pub txns: Arc<TxnCoordinator>,
    /// `queued.max.request.bytes`, shared by every connection (`None`: unlimited).
    pub request_memory: Option<crate::memory::RequestMemory>,
    /// The listeners, the first one first ([`Config::listeners`]), with their TLS
    /// handshakes ready.
    pub listeners: Vec<Arc<crate::listener::ListenerContext>>,
    /// The rates of clients with quotas.
    pub quotas: crate::quota::QuotaManager,
    /// The schema registry's store (`_schemas`), for its REST API and the schema ID
    /// validation of produced records.
    pub schemas: Arc<crate::schemas::SchemaStore>,
}

impl ServerContext {
    /// Validates `config` and bundles it with the broker's services.
    pub fn new(
        config: Config,
        partitions: Arc<PartitionManager>,
    ) -> Result<Arc<Self>, crate::config::ConfigError> {
        Self::new_with_metrics(config, partitions, Arc::new(NoMetrics))
    }

    /// As [`ServerContext::new`], reporting to `metrics`.
    pub fn new_with_metrics(
        config: Config,
        partitions: Arc<PartitionManager>,
        metrics: Arc<dyn Metrics>,
    ) -> Result<Arc<Self>, crate::config::ConfigError> {
        config.validate()?;
        let metadata = partitions.store().clone();
        let static_broker_configs =
            crate::configs::static_broker_configs(&config, Some(partitions.logs().data_dir()));
        // The logs take the broker-wide defaults of the static and dynamic broker configs.
        crate::topics::apply_log_defaults(&partitions, config.node_id, &static_broker_configs)
            .map_err(|reason| crate::config::ConfigError {
                name: "log defaults",
                reason,
            })?;
        let fetch_sessions = crate::fetch_session::FetchSessionCache::new(
            config.max_incremental_fetch_session_cache_slots,
        );
        // The coordinator loads `__consumer_offsets` (if it exists) before anything is
        // served.
        let state = partitions.metadata();
        let settings =
            crate::configs::BrokerConfigs::new(config.node_id, &static_broker_configs, &state)
                .coordinator_settings();
        let txn_settings =
            crate::configs::BrokerConfigs::new(config.node_id, &static_broker_configs, &state)
                .txn_settings();
        let (window_num, window_seconds) =
            crate::configs::BrokerConfigs::new(config.node_id, &static_broker_configs, &state)
                .quota_window();
        let groups = GroupCoordinator::new(partitions.clone(), settings).map_err(|reason| {
            crate::config::ConfigError {
                name: "group coordinator",
                reason,
            }
        })?;
        let tokens =
            crate::configs::BrokerConfigs::new(config.node_id, &static_broker_configs, &state)
                .token_settings();
        let share_settings =
            crate::configs::BrokerConfigs::new(config.node_id, &static_broker_configs, &state)
                .share_settings();
        let shares = myelin_coord::share::ShareCoordinator::new(partitions.clone(), share_settings)
            .map_err(|reason| crate::config::ConfigError {
                name: "share coordinator",
                reason,
            })?;
        let txns = TxnCoordinator::new(partitions.clone(), groups.clone(), txn_settings).map_err(
            |reason| crate::config::ConfigError {
                name: "transaction coordinator",
                reason,
            },
        )?;
        let request_memory = config
            .queued_max_request_bytes
            .map(crate::memory::RequestMemory::new);
        let listeners = config
            .listeners()
            .into_iter()
            .map(|l| {
                let tls = l
                    .tls
                    .as_ref()
                    .map(crate::tls::TlsConfig::acceptor)
                    .transpose()
                    .map_err(|reason| crate::config::ConfigError {
                        name: "ssl.keystore.location",
                        reason: format!("listener {}: {reason}", l.name),
                    })?;
                Ok(Arc::new(crate::listener::ListenerContext {
                    name: l.name,
                    advertised_host: l.advertised_host,
                    advertised_port: l.advertised_port,
                    sasl: l.sasl,
                    tls,
                }))
            })
            .collect::<Result<Vec<_>, crate::config::ConfigError>>()?;
        Ok(Arc::new(Self {
            config,
            metadata,
            partitions,
            metrics,
            static_broker_configs,
            admin_lock: tokio::sync::Mutex::new(()),
            fetch_sessions,
            groups,
            tokens,
            shares,
            producer_ids: crate::producer_ids::ProducerIds::default(),
            txns,
            request_memory,
            listeners,
            quotas: crate::quota::QuotaManager::new(window_num, window_seconds),
            schemas: Arc::new(crate::schemas::SchemaStore::new(
                myelin_registry::DEFAULT_TOPIC,
            )),
        }))
    }
}

/// One request as a handler sees it, besides its decoded body.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request header: API key and version (already checked against the handler's
    /// range), correlation id, client id.
    pub header: RequestHeader,
    /// The client's address.
    pub peer: SocketAddr,
    /// Identifies the connection in logs.
    pub connection_id: u64,
    /// The server's shared state.
    pub server: Arc<ServerContext>,
    /// The connection's authentication (SASL), shared by its requests.
    pub session: Arc<crate::sasl::Session>,
    /// The request frame's size in bytes, size prefix included (what a produce quota
    /// counts).
    pub request_size: usize,
}

impl RequestContext {
    /// The request's API version, within the handler's supported range.
    pub fn api_version(&self) -> i16 {
        self.header.request_api_version
    }

    /// The listener the request came in on.
    pub fn listener(&self) -> &crate::listener::ListenerContext {
        match self.session.listener() {
            Some(l) => l,
            None => &self.server.listeners[0],
        }
    }

    /// The client quota of type `quota` that applies to this request's client, if any,
    /// to charge the request to ([`crate::quota`]).
    pub fn quota(&self, quota: crate::quota::QuotaType) -> Option<crate::quota::Charge> {
        let state = self.server.metadata.state();
        if !state.has_client_quotas() {
            return None;
        }
        let client_id = self.header.client_id.as_deref().unwrap_or("");
        crate::quota::resolve(&state, quota, &self.session.quota_user(), client_id).map(|applied| {
            crate::quota::Charge {
                applied,
                session: self.session.clone(),
            }
        })
    }

    /// What this CreateTopics, CreatePartitions or DeleteTopics request takes from the
    /// client's controller mutation quota, strict from version `strict_since` (KIP-599).
    pub fn mutations(&self, strict_since: i16) -> crate::quota::Mutations {
        crate::quota::Mutations::new(
            self.quota(crate::quota::QuotaType::ControllerMutation),
            self.api_version() >= strict_since,
        )
    }

    /// The authorizer's view of this request ([`crate::authz`]).
    pub fn authz(&self) -> crate::authz::Authz<'_> {
        crate::authz::Authz::new(self)
    }
}
