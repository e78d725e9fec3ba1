//! Producer ids for InitProducerId: handed out from blocks recorded in the metadata log
//! (Kafka's `ProducerIdsRecord`), so that no id is ever handed out twice, across restarts
//! and crashes included. A block is committed (fsync'ed) before any id of it is used; ids
//! of a block not used up before a restart are skipped, as in Kafka.

use std::sync::Arc;

use myelin_cluster::{MetadataError, MetadataRecord};

use crate::context::ServerContext;

/// Producer ids committed per metadata record (Kafka's `ProducerIdsBlock` size).
pub const BLOCK_SIZE: i64 = 1000;

/// The ids of the current block not yet handed out: `next..end`.
#[derive(Debug, Default)]
pub struct ProducerIds {
    block: tokio::sync::Mutex<(i64, i64)>,
}

impl ProducerIds {
    /// A new, unused producer id.
    pub async fn next(&self, server: &Arc<ServerContext>) -> Result<i64, MetadataError> {
        let mut block = self.block.lock().await;
        if block.0 >= block.1 {
            let start = server.metadata.state().next_producer_id();
            crate::topics::commit(
                server,
                MetadataRecord::ProducerIdsAllocated {
                    block_start: start,
                    block_size: BLOCK_SIZE,
                },
            )
            .await?;
            *block = (start, start + BLOCK_SIZE);
            tracing::debug!(start, size = BLOCK_SIZE, "allocated a producer id block");
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }
}
