//! The records of the metadata log: every change to topics, partitions and configs is one
//! [`MetadataRecord`], and the [`MetadataState`](crate::MetadataState) is what replaying
//! them in order yields.
//!
//! Records are stored as JSON (see [`crate::log`] for the framing). Field names are part of
//! the on-disk format: rename one only with a serde alias that keeps reading the old name.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A topic's identity, stable across renames and distinct across delete-and-recreate
/// (Kafka's topic id, KIP-516). Never the nil UUID: Kafka reserves it for "no id".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TopicId(pub Uuid);

impl TopicId {
    /// A fresh random (v4) topic id; never nil.
    pub fn random() -> Self {
        loop {
            let id = Uuid::new_v4();
            if !id.is_nil() {
                return Self(id);
            }
        }
    }
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The position of a record in the metadata log: 0 for the first record, then one more for
/// each next record, with no holes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MetadataOffset(pub u64);

impl MetadataOffset {
    /// The offset after this one.
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for MetadataOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Whose dynamic broker configs a [`MetadataRecord::BrokerConfigAltered`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", content = "broker_id", rename_all = "snake_case")]
pub enum BrokerConfigScope {
    /// The cluster-wide default (Kafka's config resource with an empty name).
    ClusterDefault,
    /// One broker, by node id.
    Broker(i32),
}

/// One change to the cluster metadata.
///
/// Config maps are always the complete set of overrides after the change, never a delta:
/// replay then needs no history, and incremental alter requests are resolved against the
/// state before the record is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetadataRecord {
    /// A topic was created with `partitions` partitions, numbered `0..partitions`.
    TopicCreated {
        /// Kafka's rules: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
        name: String,
        topic_id: TopicId,
        /// At least 1 and at most `i32::MAX` (a Kafka partition index is an int32).
        partitions: u32,
        /// Topic config overrides (`cleanup.policy`, `retention.ms`, ...); absent keys take
        /// the broker defaults.
        configs: BTreeMap<String, String>,
    },
    /// A topic and all its partitions were deleted.
    TopicDeleted { topic_id: TopicId },
    /// Partitions were added to a topic: it now has `new_total` partitions (never fewer
    /// than before: Kafka cannot remove partitions).
    PartitionsCreated { topic_id: TopicId, new_total: u32 },
    /// A topic's config overrides were replaced by `configs`.
    TopicConfigAltered {
        topic_id: TopicId,
        configs: BTreeMap<String, String>,
    },
    /// The dynamic broker config overrides of `scope` were replaced by `configs` (empty
    /// removes them all).
    BrokerConfigAltered {
        scope: BrokerConfigScope,
        configs: BTreeMap<String, String>,
    },
    /// The dynamic configs of the group `group` (Kafka's GROUP config resource, KIP-848:
    /// `consumer.session.timeout.ms`, `consumer.heartbeat.interval.ms`) were replaced by
    /// `configs` (empty removes them all). The group need not exist: its configs are kept
    /// apart from it, as Kafka keeps them.
    GroupConfigAltered {
        group: String,
        configs: BTreeMap<String, String>,
    },
    /// Producer ids `block_start .. block_start + block_size` were handed to this broker
    /// for InitProducerId (Kafka's `ProducerIdsRecord`): ids are never reused, across
    /// restarts included. `block_start` must be the state's next producer id.
    ProducerIdsAllocated { block_start: i64, block_size: i64 },
    /// A user's SCRAM credential for `mechanism` (`SCRAM-SHA-256` or `SCRAM-SHA-512`) was
    /// set, or removed when `credential` is `None` (Kafka's `UserScramCredentialRecord` and
    /// `RemoveUserScramCredentialRecord`).
    ScramCredentialAltered {
        user: String,
        mechanism: String,
        credential: Option<ScramCredentialRecord>,
    },
    /// ACLs were added (Kafka's `AccessControlEntryRecord`, one per ACL there); an ACL
    /// already present is left as it is.
    AclsCreated { acls: Vec<AclRecord> },
    /// ACLs were removed (Kafka's `RemoveAccessControlEntryRecord`); an ACL not present
    /// is ignored.
    AclsDeleted { acls: Vec<AclRecord> },
    /// Client quotas were set (Kafka's `QuotaRecord`, one per key there): each change gives
    /// an entity's complete set of quotas after the change; an empty set removes the
    /// entity. Changes are applied in order, all or none.
    ClientQuotasAltered { changes: Vec<ClientQuotaChange> },
    /// A delegation token was created or renewed (Kafka's `DelegationTokenRecord`): its
    /// whole description after the change. Its HMAC is not stored: it is computed from the
    /// token id and `delegation.token.secret.key`.
    DelegationTokenAltered { token: DelegationTokenRecord },
    /// A delegation token was expired or removed (Kafka's `RemoveDelegationTokenRecord`);
    /// one not present is ignored.
    DelegationTokenRemoved { token_id: String },
}

/// A delegation token (KIP-48): who owns it, who asked for it, who may renew it, and when
/// it was issued, expires, and can be renewed until.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationTokenRecord {
    pub token_id: String,
    /// The owner's principal (`User:<name>`): connections authenticated with the token
    /// act as it.
    pub owner: String,
    /// The principal that created it (the owner, or one with CREATE_TOKENS on it).
    pub requester: String,
    /// Principals that may renew or expire it besides the owner.
    pub renewers: Vec<String>,
    pub issue_timestamp_ms: i64,
    pub expiry_timestamp_ms: i64,
    pub max_timestamp_ms: i64,
}

impl DelegationTokenRecord {
    /// Why this token cannot be stored, if it cannot.
    pub fn invalid(&self) -> Option<&'static str> {
        if self.token_id.is_empty() {
            return Some("the token id is empty");
        }
        if self.owner.is_empty() || self.requester.is_empty() {
            return Some("the owner or requester is empty");
        }
        if self.expiry_timestamp_ms > self.max_timestamp_ms {
            return Some("it expires after its maximum lifetime");
        }
        None
    }
}

/// The entity types a client quota may name (Kafka's `ClientQuotaEntity`).
pub const QUOTA_ENTITY_TYPES: [&str; 3] = ["user", "client-id", "ip"];

/// One part of a client quota entity: its type (`user`, `client-id` or `ip`) and name,
/// `None` for the type's default entity (Kafka's `<default>`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QuotaEntityPart {
    pub entity_type: String,
    pub entity_name: Option<String>,
}

/// A quota value: a finite number above zero. Compared bit for bit, so that records stay
/// `Eq`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for QuotaValue {}

/// The quotas of one entity after a [`MetadataRecord::ClientQuotasAltered`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientQuotaChange {
    /// The entity's parts, ordered by type, each type at most once.
    pub entity: Vec<QuotaEntityPart>,
    /// Every quota of the entity, by key (`producer_byte_rate`, ...); empty removes them
    /// all.
    pub quotas: BTreeMap<String, QuotaValue>,
}

impl ClientQuotaChange {
    /// Why this change cannot be stored, if it cannot.
    pub fn invalid(&self) -> Option<&'static str> {
        if self.entity.is_empty() {
            return Some("the entity is empty");
        }
        for pair in self.entity.windows(2) {
            if pair[0].entity_type >= pair[1].entity_type {
                return Some("the entity's types are not ordered and distinct");
            }
        }
        for part in &self.entity {
            if !QUOTA_ENTITY_TYPES.contains(&part.entity_type.as_str()) {
                return Some("an entity type is not user, client-id or ip");
            }
            if part.entity_name.as_deref() == Some("") {
                return Some("an entity name is empty");
            }
        }
        for (key, value) in &self.quotas {
            if key.is_empty() {
                return Some("a quota key is empty");
            }
            if !(value.0.is_finite() && value.0 > 0.0) {
                return Some("a quota value is not a number above zero");
            }
        }
        None
    }
}

/// One ACL binding (KIP-11, KIP-290), with Kafka's wire codes: a resource pattern and an
/// access control entry. The server gives the codes their meaning (`authz` there); the
/// metadata layer checks only that each is one a binding may hold.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclRecord {
    /// Kafka's `ResourceType`: 2 topic, 3 group, 4 cluster, 5 transactional id,
    /// 6 delegation token, 7 user.
    pub resource_type: i8,
    /// The resource name, `*` for every resource of the type (literal patterns), or the
    /// prefix (prefixed patterns).
    pub resource_name: String,
    /// Kafka's `PatternType`: 3 literal, 4 prefixed.
    pub pattern_type: i8,
    /// `User:<name>`, or `User:*` for every principal.
    pub principal: String,
    /// The client's IP address, or `*` for every host.
    pub host: String,
    /// Kafka's `AclOperation`: 2 all, 3 read, 4 write, 5 create, 6 delete, 7 alter,
    /// 8 describe, 9 cluster action, 10 describe configs, 11 alter configs,
    /// 12 idempotent write, 13 create tokens, 14 describe tokens.
    pub operation: i8,
    /// Kafka's `AclPermissionType`: 2 deny, 3 allow.
    pub permission_type: i8,
}

impl AclRecord {
    /// Why this binding cannot be stored, if it cannot.
    pub fn invalid(&self) -> Option<&'static str> {
        if !(2..=7).contains(&self.resource_type) {
            return Some("invalid resource type");
        }
        if !(3..=4).contains(&self.pattern_type) {
            return Some("invalid pattern type");
        }
        if !(2..=14).contains(&self.operation) {
            return Some("invalid operation");
        }
        if !(2..=3).contains(&self.permission_type) {
            return Some("invalid permission type");
        }
        if self.resource_name.is_empty() {
            return Some("the resource name is empty");
        }
        match self.principal.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {}
            _ => return Some("the principal is not of the form Type:name"),
        }
        if self.host.is_empty() {
            return Some("the host is empty");
        }
        None
    }
}

/// A stored SCRAM credential (RFC 5802): never the password, only what checks a proof.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredentialRecord {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

/// The keys stay out of logs.
impl fmt::Debug for ScramCredentialRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentialRecord")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The SCRAM mechanisms a [`MetadataRecord::ScramCredentialAltered`] may name.
pub const SCRAM_MECHANISMS: [&str; 2] = ["SCRAM-SHA-256", "SCRAM-SHA-512"];

impl MetadataRecord {
    /// A short name for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            MetadataRecord::TopicCreated { .. } => "topic_created",
            MetadataRecord::TopicDeleted { .. } => "topic_deleted",
            MetadataRecord::PartitionsCreated { .. } => "partitions_created",
            MetadataRecord::TopicConfigAltered { .. } => "topic_config_altered",
            MetadataRecord::BrokerConfigAltered { .. } => "broker_config_altered",
            MetadataRecord::ProducerIdsAllocated { .. } => "producer_ids_allocated",
            MetadataRecord::ScramCredentialAltered { .. } => "scram_credential_altered",
            MetadataRecord::AclsCreated { .. } => "acls_created",
            MetadataRecord::AclsDeleted { .. } => "acls_deleted",
            MetadataRecord::ClientQuotasAltered { .. } => "client_quotas_altered",
            MetadataRecord::GroupConfigAltered { .. } => "group_config_altered",
            MetadataRecord::DelegationTokenAltered { .. } => "delegation_token_altered",
            MetadataRecord::DelegationTokenRemoved { .. } => "delegation_token_removed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON shape is the on-disk format: this pins it.
    #[test]
    fn json_shape_is_stable() {
        let id = TopicId(Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef));
        let rec = MetadataRecord::TopicCreated {
            name: "orders".into(),
            topic_id: id,
            partitions: 3,
            configs: BTreeMap::from([("cleanup.policy".into(), "compact".into())]),
        };
        assert_eq!(
            serde_json::to_string(&rec).unwrap(),
            r#"{"type":"topic_created","name":"orders","topic_id":"01234567-89ab-cdef-0123-456789abcdef","partitions":3,"configs":{"cleanup.policy":"compact"}}"#
        );
        let rec = MetadataRecord::BrokerConfigAltered {
            scope: BrokerConfigScope::Broker(1),
            configs: BTreeMap::new(),
        };
        assert_eq!(
            serde_json::to_string(&rec).unwrap(),
            r#"{"type":"broker_config_altered","scope":{"scope":"broker","broker_id":1},"configs":{}}"#
        );
        let rec = MetadataRecord::BrokerConfigAltered {
            scope: BrokerConfigScope::ClusterDefault,
            configs: BTreeMap::new(),
        };
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            json,
            r#"{"type":"broker_config_altered","scope":{"scope":"cluster_default"},"configs":{}}"#
        );
        assert_eq!(serde_json::from_str::<MetadataRecord>(&json).unwrap(), rec);
        let rec = MetadataRecord::ScramCredentialAltered {
            user: "alice".into(),
            mechanism: "SCRAM-SHA-256".into(),
            credential: Some(ScramCredentialRecord {
                salt: vec![1],
                stored_key: vec![2],
                server_key: vec![3],
                iterations: 4096,
            }),
        };
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            json,
            r#"{"type":"scram_credential_altered","user":"alice","mechanism":"SCRAM-SHA-256","credential":{"salt":[1],"stored_key":[2],"server_key":[3],"iterations":4096}}"#
        );
        assert_eq!(serde_json::from_str::<MetadataRecord>(&json).unwrap(), rec);
        let rec = MetadataRecord::DelegationTokenAltered {
            token: DelegationTokenRecord {
                token_id: "t1".into(),
                owner: "User:alice".into(),
                requester: "User:alice".into(),
                renewers: vec!["User:bob".into()],
                issue_timestamp_ms: 1,
                expiry_timestamp_ms: 2,
                max_timestamp_ms: 3,
            },
        };
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            json,
            r#"{"type":"delegation_token_altered","token":{"token_id":"t1","owner":"User:alice","requester":"User:alice","renewers":["User:bob"],"issue_timestamp_ms":1,"expiry_timestamp_ms":2,"max_timestamp_ms":3}}"#
        );
        assert_eq!(serde_json::from_str::<MetadataRecord>(&json).unwrap(), rec);
        let rec = MetadataRecord::DelegationTokenRemoved {
            token_id: "t1".into(),
        };
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            json,
            r#"{"type":"delegation_token_removed","token_id":"t1"}"#
        );
        assert_eq!(serde_json::from_str::<MetadataRecord>(&json).unwrap(), rec);
        let rec = MetadataRecord::AclsCreated {
            acls: vec![AclRecord {
                resource_type: 2,
                resource_name: "orders".into(),
                pattern_type: 3,
                principal: "User:alice".into(),
                host: "*".into(),
                operation: 4,
                permission_type: 3,
            }],
        };
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            json,
            r#"{"type":"acls_created","acls":[{"resource_type":2,"resource_name":"orders","pattern_type":3,"principal":"User:alice","host":"*","operation":4,"permission_type":3}]}"#
        );
        assert_eq!(serde_json::from_str::<MetadataRecord>(&json).unwrap(), rec);
        let rec = MetadataRecord::ClientQuotasAltered {
            changes: vec![ClientQuotaChange {
                entity: vec![
                    QuotaEntityPart {
                        entity_type: "client-id".into(),
                        entity_name: None,
                    },
                    QuotaEntityPart {
                        entity_type: "user".into(),
                        entity_name: Some("alice".into()),
                    },
                ],
                quotas: BTreeMap::from([("producer_byte_rate".into(), QuotaValue(1024.0))]),
            }],
        };
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            json,
            r#"{"type":"client_quotas_altered","changes":[{"entity":[{"entity_type":"client-id","entity_name":null},{"entity_type":"user","entity_name":"alice"}],"quotas":{"producer_byte_rate":1024.0}}]}"#
        );
        assert_eq!(serde_json::from_str::<MetadataRecord>(&json).unwrap(), rec);
    }

    #[test]
    fn quota_changes_are_checked() {
        let part = |t: &str, n: Option<&str>| QuotaEntityPart {
            entity_type: t.into(),
            entity_name: n.map(Into::into),
        };
        let change = |entity, value| ClientQuotaChange {
            entity,
            quotas: BTreeMap::from([("producer_byte_rate".into(), QuotaValue(value))]),
        };
        assert_eq!(change(vec![part("user", Some("a"))], 1.0).invalid(), None);
        assert_eq!(change(vec![part("user", None)], 0.5).invalid(), None);
        assert!(change(vec![], 1.0).invalid().is_some());
        assert!(change(vec![part("user", Some(""))], 1.0)
            .invalid()
            .is_some());
        assert!(change(vec![part("group", Some("g"))], 1.0)
            .invalid()
            .is_some());
        assert!(
            change(vec![part("user", None), part("client-id", None)], 1.0)
                .invalid()
                .is_some()
        );
        assert!(
            change(vec![part("user", None), part("user", Some("b"))], 1.0)
                .invalid()
                .is_some()
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(change(vec![part("user", None)], bad).invalid().is_some());
        }
    }

    #[test]
    fn random_topic_ids_are_not_nil() {
        assert!(!TopicId::random().0.is_nil());
    }
}
