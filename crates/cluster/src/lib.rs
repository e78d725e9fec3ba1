//! `myelin-cluster`: the cluster metadata layer.
//!
//! Topics, their partitions and configs are a state machine ([`MetadataState`]) over an
//! ordered log of [`MetadataRecord`]s, from day one: on a single node the log is a local
//! file ([`MetadataLog`], behind [`FileMetadataStore`]); a replicated log replaces it later
//! behind the same [`MetadataStore`] trait.
//!
//! No Kafka wire types here: the server converts at its boundary.

pub mod conformance;
pub mod error;
pub mod log;
pub mod partitions;
pub mod record;
pub mod state;
pub mod store;

pub use crate::error::{MetadataError, Result, StateError};
pub use crate::log::{MetadataLog, Replay};
pub use crate::partitions::{log_config_for, Partition, PartitionManager};
pub use crate::record::{
    AclRecord, BrokerConfigScope, ClientQuotaChange, DelegationTokenRecord, MetadataOffset,
    MetadataRecord, QuotaEntityPart, QuotaValue, ScramCredentialRecord, TopicId,
    QUOTA_ENTITY_TYPES, SCRAM_MECHANISMS,
};
pub use crate::state::{MetadataState, QuotaPart, QuotasByClient, TopicMetadata};
pub use crate::store::{FileMetadataStore, MetadataStore, StoreReport};
