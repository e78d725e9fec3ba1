//! The end-to-end benchmark's parts (`benches/e2e.rs`): the broker process, the bytes on
//! the wire, our load generator and its ceilings, and librdkafka.

pub mod broker;
pub mod loadgen;
pub mod rdk;
pub mod wire;
