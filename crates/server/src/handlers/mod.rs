//! One file per Kafka API. Each declares its tested version range and is registered in
//! [`crate::apis::APIS`].

pub mod api_versions;
pub mod metadata;
