//! Hooks through which the server reports what it does, for the embedder to count.
//!
//! The server calls a [`Metrics`] held by the [`crate::ServerContext`] at a few points:
//! connections opened and closed, request bytes read, response bytes written, and each
//! request's API and latency. It knows no metrics library: the `myelin` crate implements
//! the trait over a Prometheus registry, and [`NoMetrics`] (the default) ignores every
//! call. Implementations are called on the request path and must not block.

use std::fmt;
use std::time::Duration;

/// How a request ended, as far as the connection is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A response was encoded (possibly carrying Kafka error codes: those are answers,
    /// not failures), or none was due (Produce with acks=0).
    Answered,
    /// The handler failed (undecodable request, encode error): the connection closes.
    Failed,
}

/// Receives the server's events. Every method has an empty default.
pub trait Metrics: Send + Sync + fmt::Debug {
    /// A connection was accepted.
    fn connection_opened(&self) {}

    /// A connection closed, for whatever reason.
    fn connection_closed(&self) {}

    /// A request frame of `bytes` bytes (size prefix included) was read.
    fn bytes_received(&self, bytes: usize) {
        let _ = bytes;
    }

    /// A response frame of `bytes` bytes (size prefix included) is being written.
    fn bytes_sent(&self, bytes: usize) {
        let _ = bytes;
    }

    /// A client authenticated (SASL, or a TLS client certificate) with `mechanism`
    /// (`success`), or failed to (SASL).
    fn authentication(&self, mechanism: &str, success: bool) {
        let _ = (mechanism, success);
    }

    /// A client went over its `quota` (`produce`, `fetch`, `request`) and its connection
    /// is held back for `throttle`.
    fn client_throttled(&self, quota: &'static str, throttle: Duration) {
        let _ = (quota, throttle);
    }

    /// Schema ID validation refused a batch for `topic`, with `records` bad records.
    fn schema_refused(&self, topic: &str, records: usize) {
        let _ = (topic, records);
    }

    /// A request of API `api_key` (named `api`) finished after `elapsed`, from the end
    /// of reading its frame to its response being ready to write.
    fn request_completed(
        &self,
        api_key: i16,
        api: &'static str,
        elapsed: Duration,
        outcome: RequestOutcome,
    ) {
        let _ = (api_key, api, elapsed, outcome);
    }
}

/// Counts nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl Metrics for NoMetrics {}
