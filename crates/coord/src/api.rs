//! The coordinator's requests, responses and deferred replies, stripped of their wire form:
//! the server converts Kafka's JoinGroup, SyncGroup, Heartbeat and LeaveGroup to and from
//! these.

use bytes::Bytes;

use crate::error::GroupError;

/// One protocol a member supports: a name (an assignor such as `range`, or `v0` for the
/// Schema Registry) and its opaque metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

/// A JoinGroup request, stripped of its wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// Empty for a member that has no id yet.
    pub member_id: String,
    /// KIP-345 `group.instance.id` (v5+).
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    /// v1+; the server passes the session timeout for v0, as Kafka does.
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
    /// KIP-394: true for JoinGroup v4+; an unknown member then gets MemberIdRequired.
    pub require_known_member_id: bool,
    /// KIP-814: true for JoinGroup v9+ (`skip_assignment` in the response).
    pub supports_skip_assignment: bool,
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The member's metadata for the selected protocol.
    pub metadata: Bytes,
}

/// A successful JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    /// KIP-814: the leader must not compute a new assignment.
    pub skip_assignment: bool,
    pub member_id: String,
    /// Every member, for the leader only; empty for followers.
    pub members: Vec<JoinedMember>,
}

/// What a JoinGroup call answers now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// Send this response now.
    Respond(Result<JoinResponse, GroupError>),
    /// The response comes later as a [`Reply::Join`] for this member id.
    Deferred { member_id: String },
}

/// A SyncGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    /// v5+; checked against the group's when present.
    pub protocol_type: Option<String>,
    /// v5+; checked against the group's when present.
    pub protocol_name: Option<String>,
    /// The leader's assignments by member id; empty from followers.
    pub assignments: Vec<(String, Bytes)>,
}

/// A successful SyncGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

/// What a SyncGroup call answers now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    Respond(Result<SyncResponse, GroupError>),
    /// The response comes later as a [`Reply::Sync`] for this member id.
    Deferred {
        member_id: String,
    },
}

/// A Heartbeat request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
}

/// One member of a (batched, v3+) LeaveGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveMember {
    /// May be empty when `group_instance_id` names a static member.
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// The LeaveGroup answer per member, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveResult {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub result: Result<(), GroupError>,
}

/// A deferred response, now ready to send to the member's pending request.
///
/// A member has at most one pending JoinGroup and one pending SyncGroup; when a member sends
/// a new one while one is pending, the newer replaces the older (as in Kafka) and the server
/// should drop the older request's connection wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Join {
        member_id: String,
        result: Result<JoinResponse, GroupError>,
    },
    Sync {
        member_id: String,
        result: Result<SyncResponse, GroupError>,
    },
}

/// What a call produced besides its own answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<T> {
    /// The call's own answer.
    pub response: T,
    /// Deferred answers completed by this call, to other (or the same) members' pending
    /// requests.
    pub replies: Vec<Reply>,
    /// Kafka writes the group's metadata record here (a generation's assignments agreed, a
    /// static member replaced, the group became Empty): write [`ClassicGroup`]'s current
    /// state to `__consumer_offsets` before sending `replies`.
    pub persist: bool,
}
