//! `myelin`: the Myelin broker as a library, and the `myelin` binary's building blocks.
//!
//! - [`Broker`] starts a whole single-node broker (storage, metadata, the Kafka listener,
//!   the HTTP endpoint with metrics and health) inside a Rust program, from settings given
//!   as values; [`BrokerHandle`] is the running broker, with its bound addresses and a
//!   graceful [`BrokerHandle::shutdown`]. With [`Broker::schema_registry_listen`] it also
//!   serves a Confluent-compatible schema registry's REST API.
//! - [`client`] is a small Kafka client (admin calls, produce, fetch) that the `myelin`
//!   commands use against any Kafka-compatible broker.
//! - [`settings`] translates Kafka-named broker configs into the typed configs of the
//!   crates underneath; [`metrics`] is the Prometheus registry.
//!
//! The binary alone knows flags, environment variables, config files and signals.

pub mod broker;
pub mod client;
mod http;
pub mod meta;
pub mod metrics;
mod schema_registry;
pub mod settings;

pub use crate::broker::{Broker, BrokerError, BrokerHandle};
