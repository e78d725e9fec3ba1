//! The coordinator's errors, named after the Kafka conditions they stand for. The mapping to
//! Kafka's numeric error codes lives in the server, in one place.

/// Why the group coordinator refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// The member id is not (or no longer) a member of the group (UNKNOWN_MEMBER_ID).
    #[error("member id {member_id:?} is not a member of the group")]
    UnknownMemberId { member_id: String },

    /// The request names a generation other than the group's current one (ILLEGAL_GENERATION).
    #[error(
        "generation {generation_id} is not the group's current generation {current_generation_id}"
    )]
    IllegalGeneration {
        generation_id: i32,
        current_generation_id: i32,
    },

    /// KIP-394: a new member must rejoin with the member id the coordinator generated for it
    /// (MEMBER_ID_REQUIRED). The JoinGroup response carries `member_id`.
    #[error("the member must rejoin with the generated member id {member_id:?}")]
    MemberIdRequired { member_id: String },

    /// The group is rebalancing; the member must (re)join (REBALANCE_IN_PROGRESS).
    #[error("the group is rebalancing")]
    RebalanceInProgress,

    /// KIP-345: another member id now holds this `group.instance.id` (FENCED_INSTANCE_ID).
    #[error("member id {member_id:?} was fenced: group.instance.id {group_instance_id:?} belongs to a newer member")]
    FencedInstanceId {
        group_instance_id: String,
        member_id: String,
    },

    /// The member's protocol type or protocols are incompatible with the group's
    /// (INCONSISTENT_GROUP_PROTOCOL).
    #[error("protocol type or protocols incompatible with the group's")]
    InconsistentGroupProtocol,

    /// The group is being removed (state Dead); the client looks up the coordinator again
    /// (COORDINATOR_NOT_AVAILABLE).
    #[error("the group is being removed")]
    CoordinatorNotAvailable,

    /// The coordinator is still loading this group's partition of `__consumer_offsets`
    /// (COORDINATOR_LOAD_IN_PROGRESS).
    #[error("the coordinator is still loading the group's state")]
    CoordinatorLoadInProgress,

    /// The group does not exist (GROUP_ID_NOT_FOUND).
    #[error("group {group_id:?} does not exist")]
    GroupIdNotFound { group_id: String },

    /// The group still has members (NON_EMPTY_GROUP).
    #[error("group {group_id:?} still has members")]
    NonEmptyGroup { group_id: String },

    /// The group id is empty (INVALID_GROUP_ID).
    #[error("the group id is empty")]
    InvalidGroupId,

    /// The session timeout is outside `group.min.session.timeout.ms` ..=
    /// `group.max.session.timeout.ms` (INVALID_SESSION_TIMEOUT).
    #[error("session timeout {session_timeout_ms} ms is outside {min_ms}..={max_ms} ms")]
    InvalidSessionTimeout {
        session_timeout_ms: i32,
        min_ms: i32,
        max_ms: i32,
    },

    /// The group already has `group.max.size` members (GROUP_MAX_SIZE_REACHED).
    #[error("the group already has its maximum of {max_size} members")]
    GroupMaxSizeReached { max_size: usize },

    /// A commit's metadata is longer than `offset.metadata.max.bytes`
    /// (OFFSET_METADATA_TOO_LARGE).
    #[error("offset metadata of {len} bytes exceeds the limit of {max} bytes")]
    OffsetMetadataTooLarge { len: usize, max: usize },

    /// OffsetDelete of a topic that the group's members still consume
    /// (GROUP_SUBSCRIBED_TO_TOPIC).
    #[error("the group is subscribed to the topic")]
    GroupSubscribedToTopic,

    /// KIP-848: the heartbeat's member epoch is neither the member's current epoch nor
    /// (with owned partitions it is still assigned) its previous one; the member must give
    /// up its partitions and rejoin with epoch 0 (FENCED_MEMBER_EPOCH).
    #[error("member epoch {member_epoch} is fenced; the member's epoch is {current_member_epoch}")]
    FencedMemberEpoch {
        member_epoch: i32,
        current_member_epoch: i32,
    },

    /// KIP-848: an OffsetCommit or OffsetFetch names a member epoch other than the member's
    /// current one (STALE_MEMBER_EPOCH).
    #[error("member epoch {member_epoch} is stale; the member's epoch is {current_member_epoch}")]
    StaleMemberEpoch {
        member_epoch: i32,
        current_member_epoch: i32,
    },

    /// KIP-848: a static member joins with a `group.instance.id` that another member still
    /// holds, having not left with epoch -2 (UNRELEASED_INSTANCE_ID).
    #[error("group.instance.id {group_instance_id:?} is still held by member {member_id:?}")]
    UnreleasedInstanceId {
        group_instance_id: String,
        member_id: String,
    },

    /// KIP-848: the member asks for a server assignor the broker does not offer
    /// (UNSUPPORTED_ASSIGNOR).
    #[error("server assignor {name:?} is not supported; supported assignors: {supported}")]
    UnsupportedAssignor { name: String, supported: String },

    /// KIP-848: a `SubscribedTopicRegex` that is not a regular expression
    /// (INVALID_REGULAR_EXPRESSION).
    #[error("SubscribedTopicRegex `{regex}` is not a valid regular expression: {reason}")]
    InvalidRegularExpression { regex: String, reason: String },

    /// The request is malformed for its API (INVALID_REQUEST); `reason` is Kafka's message.
    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },

    /// A TxnOffsetCommit from a producer epoch older than the one `__consumer_offsets`
    /// last saw for the producer: a fenced zombie (INVALID_PRODUCER_EPOCH).
    #[error("producer {producer_id} epoch {producer_epoch} is fenced by a newer epoch")]
    InvalidProducerEpoch {
        producer_id: i64,
        producer_epoch: i16,
    },

    /// OffsetFetch with `require_stable`: the partition has transactional offsets whose
    /// transaction has not ended (UNSTABLE_OFFSET_COMMIT; the client retries).
    #[error("the partition has pending transactional offsets")]
    UnstableOffsetCommit,
}
