//! `myelin-registry`: a Confluent-compatible schema registry, as pure logic.
//!
//! Schemas live in the Kafka topic `_schemas`, in Confluent Schema Registry's own record
//! format ([`records`]), so the broker's registry and a Confluent Schema Registry can read
//! each other's store. [`Registry`] is the state those records build: subjects, versions,
//! ids and compatibility levels. It answers the REST API's questions, plans the records a
//! change appends (applied when read back, in offset order), checks compatibility
//! ([`schema`]: Avro by Avro's schema resolution, JSON schemas by [`json_compat`]) and checks
//! produced records' schema ids for the broker ([`Registry::check_field`]).
//!
//! No I/O here: the server reads and appends the topic.

pub mod error;
pub mod json_compat;
pub mod records;
pub mod schema;
pub mod state;

#[cfg(test)]
mod tests;

pub use crate::error::RegistryError;
pub use crate::records::Reference;
pub use crate::schema::{Compatibility, Parsed, SchemaType};
pub use crate::state::{
    FieldChecker, Mode, Registration, Registry, StoreRecord, Stored, SubjectStrategy, VersionSpec,
};

/// The topic Confluent Schema Registry keeps its schemas in (`kafkastore.topic`).
pub const DEFAULT_TOPIC: &str = "_schemas";
