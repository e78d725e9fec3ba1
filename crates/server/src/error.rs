//! The server's errors, and the one place where errors of the other crates become Kafka
//! error codes.

use std::io;

use kafka_protocol::ResponseError;
use myelin_cluster::{MetadataError, StateError};
use myelin_coord::txn::TxnError;
use myelin_coord::GroupError;
use myelin_log::{BatchError, CodecError, LogError};

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
    #[error("unexpected {api} request during SASL authentication")]
    Unauthenticated { api: &'static str },
    #[error("SASL authentication failed: {reason}")]
    AuthenticationFailed { reason: String },
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
    /// The request was served but the client must reconnect: Kafka closes the connection
    /// of an acks=0 producer whose append failed, so that it refreshes its metadata.
    #[error("{api}: {reason}")]
    CloseConnection { api: &'static str, reason: String },
}

/// The Kafka error for a group coordinator refusal.
pub fn group_error_code(error: &GroupError) -> ResponseError {
    match error {
        GroupError::UnknownMemberId { .. } => ResponseError::UnknownMemberId,
        GroupError::IllegalGeneration { .. } => ResponseError::IllegalGeneration,
        GroupError::MemberIdRequired { .. } => ResponseError::MemberIdRequired,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::FencedInstanceId { .. } => ResponseError::FencedInstanceId,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        GroupError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
        GroupError::GroupIdNotFound { .. } => ResponseError::GroupIdNotFound,
        GroupError::NonEmptyGroup { .. } => ResponseError::NonEmptyGroup,
        GroupError::InvalidGroupId => ResponseError::InvalidGroupId,
        GroupError::InvalidSessionTimeout { .. } => ResponseError::InvalidSessionTimeout,
        GroupError::GroupMaxSizeReached { .. } => ResponseError::GroupMaxSizeReached,
        GroupError::OffsetMetadataTooLarge { .. } => ResponseError::OffsetMetadataTooLarge,
        GroupError::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        GroupError::FencedMemberEpoch { .. } => ResponseError::FencedMemberEpoch,
        GroupError::StaleMemberEpoch { .. } => ResponseError::StaleMemberEpoch,
        GroupError::UnreleasedInstanceId { .. } => ResponseError::UnreleasedInstanceId,
        GroupError::UnsupportedAssignor { .. } => ResponseError::UnsupportedAssignor,
        GroupError::InvalidRequest { .. } => ResponseError::InvalidRequest,
        GroupError::InvalidRegularExpression { .. } => ResponseError::InvalidRegularExpression,
        GroupError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        GroupError::UnstableOffsetCommit => ResponseError::UnstableOffsetCommit,
    }
}

/// The Kafka error for a transaction coordinator refusal. `fenced_is_epoch`: the request
/// version predates PRODUCER_FENCED (KIP-588), which is then answered as
/// INVALID_PRODUCER_EPOCH.
pub fn txn_error_code(error: &TxnError, fenced_is_epoch: bool) -> ResponseError {
    match error {
        TxnError::InvalidRequest { .. } => ResponseError::InvalidRequest,
        TxnError::InvalidTransactionTimeout { .. } => ResponseError::InvalidTransactionTimeout,
        TxnError::ConcurrentTransactions { .. } => ResponseError::ConcurrentTransactions,
        TxnError::ProducerFenced { .. } if fenced_is_epoch => ResponseError::InvalidProducerEpoch,
        TxnError::ProducerFenced { .. } => ResponseError::ProducerFenced,
        TxnError::InvalidProducerIdMapping { .. } => ResponseError::InvalidProducerIdMapping,
        TxnError::InvalidTxnState { .. } => ResponseError::InvalidTxnState,
        TxnError::TransactionalIdNotFound => ResponseError::TransactionalIdNotFound,
        TxnError::TransactionAbortable => ResponseError::TransactionAbortable,
        TxnError::CoordinatorLoadInProgress => ResponseError::CoordinatorLoadInProgress,
        TxnError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        TxnError::IllegalState { .. } => ResponseError::UnknownServerError,
    }
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
        StateError::ProducerIdBlock { .. } => ResponseError::UnknownServerError,
        StateError::InvalidScramCredential { .. } => ResponseError::UnacceptableCredential,
        StateError::InvalidAcl { .. }
        | StateError::InvalidClientQuota { .. }
        | StateError::InvalidDelegationToken { .. }
        | StateError::EmptyGroupId => ResponseError::InvalidRequest,
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

/// The Kafka error for a refused topic config (CreateTopics, AlterConfigs and
/// IncrementalAlterConfigs on a topic): INVALID_CONFIG, as Kafka's controller answers both
/// unknown names and bad values.
pub fn topic_config_error_code(error: &crate::configs::ConfigsError) -> ResponseError {
    let _ = error;
    ResponseError::InvalidConfig
}

/// The Kafka error for a refused broker config (AlterConfigs and IncrementalAlterConfigs on
/// a broker): INVALID_REQUEST, as Kafka answers (KAFKA-13609 keeps it for compatibility),
/// except an APPEND or SUBTRACT on a config that is not a list: INVALID_CONFIG.
pub fn broker_config_error_code(error: &crate::configs::ConfigsError) -> ResponseError {
    match error {
        crate::configs::ConfigsError::NotAList { .. } => ResponseError::InvalidConfig,
        _ => ResponseError::InvalidRequest,
    }
}

/// The Kafka error for a batch the log refused (Produce).
pub fn batch_error_code(error: &BatchError) -> ResponseError {
    match error {
        BatchError::TooLarge { .. } => ResponseError::MessageTooLarge,
        // Kafka's `ProduceRequest.validateRecords`: v3+ takes magic 2 only.
        BatchError::UnsupportedMagic(_) => ResponseError::InvalidRecord,
        // Kafka's `LogValidator`: "Compacted topic cannot accept message without key".
        BatchError::MissingKey { .. } | BatchError::InvalidRecord(_) => {
            ResponseError::InvalidRecord
        }
        BatchError::Truncated { .. }
        | BatchError::BadLength { .. }
        | BatchError::LengthMismatch { .. }
        | BatchError::CrcMismatch { .. }
        | BatchError::BadRecordCount { .. }
        | BatchError::UnknownCodec(_)
        | BatchError::BadRecords(_) => ResponseError::CorruptMessage,
    }
}

/// The Kafka error for a failed log operation (Produce, Fetch, ListOffsets, DeleteRecords).
pub fn log_error_code(error: &LogError) -> ResponseError {
    match error {
        LogError::InvalidBatch(e) => batch_error_code(e),
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::Io { .. }
        | LogError::NoSpace { .. }
        | LogError::Offline(_)
        | LogError::CorruptIndex { .. } => ResponseError::KafkaStorageError,
        // Records that do not decompress, or decompress past the bound: the client's bytes.
        LogError::Codec(CodecError::Unknown(_) | CodecError::Corrupt { .. })
        | LogError::Codec(CodecError::TooLarge { .. }) => ResponseError::CorruptMessage,
        LogError::Codec(CodecError::Io { .. }) | LogError::Config(_) => {
            ResponseError::UnknownServerError
        }
        LogError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
        LogError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
        LogError::InvalidTxnState { .. } => ResponseError::InvalidTxnState,
        LogError::TransactionCoordinatorFenced { .. } => {
            ResponseError::TransactionCoordinatorFenced
        }
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

    #[test]
    fn log_errors_map_to_kafka_codes() {
        let batch = |e: BatchError| log_error_code(&LogError::InvalidBatch(e)).code();
        assert_eq!(
            batch(BatchError::CrcMismatch {
                stored: 1,
                computed: 2
            }),
            2
        );
        assert_eq!(batch(BatchError::TooLarge { size: 2, max: 1 }), 10);
        assert_eq!(batch(BatchError::MissingKey { records: vec![0] }), 87);
        assert_eq!(
            log_error_code(&LogError::OffsetOutOfRange {
                offset: 9,
                log_start_offset: 0,
                log_end_offset: 1
            })
            .code(),
            1
        );
        assert_eq!(log_error_code(&LogError::Offline("t-0".into())).code(), 56);
    }

    #[test]
    fn config_refusals_map_to_kafka_codes() {
        let e = crate::configs::ConfigsError::UnknownTopicConfig { name: "x".into() };
        assert_eq!(topic_config_error_code(&e).code(), 40);
        assert_eq!(broker_config_error_code(&e).code(), 42);
    }
}
