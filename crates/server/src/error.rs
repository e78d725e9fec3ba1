//! The server's errors, and the one place where errors of the other crates become Kafka
//! error codes.

use std::io;

use kafka_protocol::ResponseError;
use myelin_cluster::{MetadataError, StateError};

/// Why a connection is closed without answering. Each is logged once, with the peer.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("request size {size} is negative or exceeds socket.request.max.bytes {max}")]
    FrameTooLarge { size: i64, max: usize },
    #[error("the peer closed the connection inside a {size}-byte request after {read} bytes")]
    TruncatedFrame { size: usize, read: usize },
    #[error("malformed request header: {0}")]
    MalformedHeader(String),
    #[error("unknown or unsupported API key {api_key} (version {api_version})")]
    UnknownApiKey { api_key: i16, api_version: i16 },
    #[error("{api} v{api_version} is outside the supported range {min}..={max} and no error response exists for it")]
    UnsupportedVersion {
        api: &'static str,
        api_version: i16,
        min: i16,
        max: i16,
    },
    #[error(transparent)]
    Handler(#[from] HandlerError),
}

/// Why a handler produced no response. The connection is closed, as Kafka does when it
/// cannot parse a request.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("cannot decode {api} v{api_version} request: {reason}")]
    Decode {
        api: &'static str,
        api_version: i16,
        reason: String,
    },
    #[error("cannot encode {api} v{api_version} response: {reason}")]
    Encode {
        api: &'static str,
        api_version: i16,
        reason: String,
    },
    #[error("{api} v{api_version} request is invalid: {reason}")]
    InvalidRequest {
        api: &'static str,
        api_version: i16,
        reason: String,
    },
    #[error("{api} v{api_version} response of {size} bytes exceeds the int32 frame size")]
    ResponseTooLarge {
        api: &'static str,
        api_version: i16,
        size: usize,
    },
    #[error("the task completing the response failed: {0}")]
    Task(String),
}

/// The Kafka error for a metadata record the state machine refused.
pub fn state_error_code(error: &StateError) -> ResponseError {
    match error {
        StateError::TopicAlreadyExists { .. } => ResponseError::TopicAlreadyExists,
        StateError::TopicIdInUse { .. } | StateError::NilTopicId => {
            ResponseError::InvalidTopicException
        }
        StateError::InvalidTopicName { .. } | StateError::TopicNameCollision { .. } => {
            ResponseError::InvalidTopicException
        }
        StateError::InvalidPartitionCount { .. } | StateError::PartitionsNotIncreased { .. } => {
            ResponseError::InvalidPartitions
        }
        StateError::UnknownTopicId { .. } => ResponseError::UnknownTopicId,
    }
}

/// The Kafka error for a failed metadata commit.
pub fn metadata_error_code(error: &MetadataError) -> ResponseError {
    match error {
        MetadataError::Refused(e) => state_error_code(e),
        MetadataError::RecordTooLarge { .. } => ResponseError::InvalidRequest,
        MetadataError::Io { .. }
        | MetadataError::Poisoned { .. }
        | MetadataError::NotAMetadataLog { .. }
        | MetadataError::Corrupt { .. }
        | MetadataError::Encode(_)
        | MetadataError::Storage(_) => ResponseError::KafkaStorageError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use myelin_cluster::TopicId;

    #[test]
    fn refusals_map_to_kafka_codes() {
        let code = |e: StateError| metadata_error_code(&MetadataError::Refused(e)).code();
        assert_eq!(
            code(StateError::TopicAlreadyExists { name: "t".into() }),
            36
        );
        assert_eq!(code(StateError::InvalidPartitionCount { count: 0 }), 37);
        assert_eq!(
            code(StateError::UnknownTopicId {
                topic_id: TopicId::random()
            }),
            100
        );
        assert_eq!(
            code(StateError::InvalidTopicName {
                name: String::new(),
                reason: "empty"
            }),
            17
        );
    }
}
