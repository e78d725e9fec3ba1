//! ApiVersions (key 18), v0-4: the versions of every API this broker serves, straight from
//! the registration table. KIP-511 rules:
//!
//! - A request version we do not know gets UNSUPPORTED_VERSION (35) with the versions of
//!   ApiVersions we support, in a v0 body, so the client can retry with one of them. Like
//!   Kafka, the list then holds only the ApiVersions entry.
//! - The response header is always v0 (no tagged fields), even for flexible versions: the
//!   client cannot know the broker's header version before this response.
//! - v3+ requests carry the client's software name and version; values outside Kafka's
//!   pattern get INVALID_REQUEST (42).

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::ResponseError;

use crate::apis::{Handler, Reply, APIS};
use crate::context::RequestContext;
use crate::error::HandlerError;

/// The ApiVersions handler.
#[derive(Debug)]
pub struct ApiVersions;

impl Handler for ApiVersions {
    type Request = ApiVersionsRequest;
    type Response = ApiVersionsResponse;
    const KEY: ApiKey = ApiKey::ApiVersions;
    const NAME: &'static str = "ApiVersions";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 4;

    async fn handle(
        ctx: RequestContext,
        request: ApiVersionsRequest,
    ) -> Result<Reply<ApiVersionsResponse>, HandlerError> {
        // v3+ (KIP-511): client_software_name and client_software_version.
        if ctx.api_version() >= 3
            && !(is_valid_software_field(&request.client_software_name)
                && is_valid_software_field(&request.client_software_version))
        {
            tracing::info!(
                peer = %ctx.peer,
                name = ?request.client_software_name.as_str(),
                version = ?request.client_software_version.as_str(),
                "ApiVersions with an invalid client software name or version"
            );
            return Ok(Reply::Ready(
                ApiVersionsResponse::default()
                    .with_error_code(ResponseError::InvalidRequest.code()),
            ));
        }
        Ok(Reply::Ready(
            ApiVersionsResponse::default().with_api_keys(advertised_versions()),
        ))
    }

    fn unsupported_version(_api_version: i16) -> Option<(i16, ApiVersionsResponse)> {
        let own = ApiVersion::default()
            .with_api_key(Self::KEY as i16)
            .with_min_version(Self::MIN_VERSION)
            .with_max_version(Self::MAX_VERSION);
        Some((
            0,
            ApiVersionsResponse::default()
                .with_error_code(ResponseError::UnsupportedVersion.code())
                .with_api_keys(vec![own]),
        ))
    }
}

/// Every API in the registration table with its advertised range, ordered by key.
pub fn advertised_versions() -> Vec<ApiVersion> {
    APIS.iter()
        .map(|e| {
            ApiVersion::default()
                .with_api_key(e.key as i16)
                .with_min_version(e.advertised_min_version)
                .with_max_version(e.max_version)
        })
        .collect()
}

/// Kafka's pattern for the KIP-511 fields: `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn is_valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_field_pattern() {
        for ok in [
            "a",
            "librdkafka",
            "2.0.2",
            "apache-kafka-java",
            "3.9.0-SNAPSHOT",
            "x1",
        ] {
            assert!(is_valid_software_field(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", ".a", "a.", "a b", "a_b", "a/b", "é"] {
            assert!(!is_valid_software_field(bad), "{bad}");
        }
    }

    #[test]
    fn advertised_list_is_the_table() {
        let list = advertised_versions();
        assert_eq!(list.len(), APIS.len());
        let own = list
            .iter()
            .find(|v| v.api_key == ApiKey::ApiVersions as i16)
            .unwrap();
        assert_eq!((own.min_version, own.max_version), (0, 4));
    }
}
