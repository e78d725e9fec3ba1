//! `myelin-server`: the Kafka wire-protocol server.
//!
//! [`run`] serves a bound `TcpListener` until a shutdown future resolves. Each connection
//! reads size-prefixed frames ([`frame`]), routes them through the registration table
//! ([`apis::APIS`], which also is the ApiVersions answer) to one handler per API
//! ([`handlers`]), and writes responses in request order ([`connection`]).
//!
//! The binary owns flags, environment, signals and the runtime; this crate takes a
//! [`Config`] and the broker's services in a [`ServerContext`].

pub mod apis;
pub mod audit;
pub mod authz;
pub mod bounds;
pub mod config;
pub mod configs;
mod connection;
pub mod context;
pub mod delegation_tokens;
pub mod error;
pub mod fetch_session;
pub mod frame;
pub mod handlers;
pub mod keystore;
pub mod listener;
pub mod memory;
pub mod metrics;
pub mod producer_ids;
pub mod quota;
pub mod response;
pub mod sasl;
pub mod schemas;
pub mod tls;
pub mod topics;
pub mod wire;
mod zero_copy;

pub use crate::config::{Config, ConfigError};
pub use crate::context::{RequestContext, ServerContext};
pub use crate::error::{ConnectionError, HandlerError};
pub use crate::listener::{run, run_all};
