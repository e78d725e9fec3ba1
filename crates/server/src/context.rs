//! What handlers can reach: the server's configuration and the broker's services, and the
//! per-request context passed to each handler.

use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::RequestHeader;
use myelin_cluster::{MetadataStore, PartitionManager};

use crate::config::Config;

/// State shared by every connection of a server.
#[derive(Debug)]
pub struct ServerContext {
    /// The server's configuration, validated.
    pub config: Config,
    /// Topics, partitions and configs.
    pub metadata: Arc<dyn MetadataStore>,
    /// The partitions and their logs, kept in step with the metadata.
    pub partitions: Arc<PartitionManager>,
}

impl ServerContext {
    /// Validates `config` and bundles it with the broker's services.
    pub fn new(
        config: Config,
        partitions: Arc<PartitionManager>,
    ) -> Result<Arc<Self>, crate::config::ConfigError> {
        config.validate()?;
        let metadata = partitions.store().clone();
        Ok(Arc::new(Self {
            config,
            metadata,
            partitions,
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
}

impl RequestContext {
    /// The request's API version, within the handler's supported range.
    pub fn api_version(&self) -> i16 {
        self.header.request_api_version
    }
}
