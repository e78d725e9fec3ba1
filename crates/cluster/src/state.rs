//! The metadata state machine: what replaying the metadata log yields.
//!
//! [`MetadataState::apply`] is deterministic and all-or-nothing: it checks a record against
//! the state first and changes nothing when the record is refused, so every replica that
//! applies the same log reaches the same state.

use std::collections::BTreeMap;

use crate::error::StateError;
use crate::record::{
    AclRecord, BrokerConfigScope, DelegationTokenRecord, MetadataOffset, MetadataRecord,
    QuotaEntityPart, QuotaValue, ScramCredentialRecord, TopicId,
};

/// Kafka's longest legal topic name.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// One topic as the metadata log describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// The topic's name; unique among live topics.
    pub name: String,
    /// The topic's id; unique among live topics.
    pub topic_id: TopicId,
    /// Partitions are numbered `0..partitions`; at least 1, at most `i32::MAX`.
    pub partitions: u32,
    /// Topic config overrides; keys absent here take the broker defaults.
    pub configs: BTreeMap<String, String>,
}

/// The cluster metadata after applying every record up to [`Self::last_applied`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataState {
    /// Live topics by id.
    topics: BTreeMap<TopicId, TopicMetadata>,
    /// The id of each live topic, by name: always the inverse of `topics`.
    topic_ids: BTreeMap<String, TopicId>,
    /// Dynamic broker config overrides; a scope with no overrides has no entry.
    broker_configs: BTreeMap<BrokerConfigScope, BTreeMap<String, String>>,
    /// Dynamic group config overrides, by group id; a group with none has no entry.
    group_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// The offset of the last record applied; `None` for the empty log.
    last_applied: Option<MetadataOffset>,
    /// The first producer id not yet allocated to a broker.
    next_producer_id: i64,
    /// SCRAM credentials by (user, mechanism).
    scram_credentials: BTreeMap<(String, String), ScramCredentialRecord>,
    /// ACL bindings, ordered by resource type first.
    acls: std::collections::BTreeSet<AclRecord>,
    /// `acls` by resource pattern, for [`MetadataState::acls_matching`]; rebuilt whenever
    /// the ACLs change.
    acl_index: AclIndex,
    /// Client quotas by entity (its parts ordered by type); an entity without quotas has
    /// no entry.
    client_quotas: BTreeMap<Vec<QuotaEntityPart>, BTreeMap<String, QuotaValue>>,
    /// Delegation tokens by id.
    delegation_tokens: BTreeMap<String, DelegationTokenRecord>,
    /// `client_quotas` by user and client id, and by IP address, for
    /// [`MetadataState::client_quota_of`] and [`MetadataState::ip_quota`]; rebuilt whenever
    /// the quotas change.
    quota_index: QuotaIndex,
}

/// One part of a client quota entity to look up: absent from the entity, the type's
/// default entity, or a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaPart<'a> {
    Absent,
    Default,
    Named(&'a str),
}

/// Values by one entity part: absent, default or named.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ByPart<T> {
    absent: Option<T>,
    default: Option<T>,
    named: std::collections::HashMap<String, T, std::hash::BuildHasherDefault<Fnv1a>>,
}

impl<T> Default for ByPart<T> {
    fn default() -> Self {
        Self {
            absent: None,
            default: None,
            named: std::collections::HashMap::default(),
        }
    }
}

/// FNV-1a: a fast hash for the quota index, whose keys are entity names an administrator
/// set (a client's names only look them up, so it cannot choose colliding keys).
#[derive(Debug, Clone, Copy)]
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

impl<T: Default> ByPart<T> {
    fn get(&self, part: QuotaPart<'_>) -> Option<&T> {
        match part {
            QuotaPart::Absent => self.absent.as_ref(),
            QuotaPart::Default => self.default.as_ref(),
            QuotaPart::Named(name) => self.named.get(name),
        }
    }

    fn entry(&mut self, name: Option<&Option<String>>) -> &mut T {
        match name {
            None => self.absent.get_or_insert_with(T::default),
            Some(None) => self.default.get_or_insert_with(T::default),
            Some(Some(n)) => self.named.entry(n.clone()).or_default(),
        }
    }
}

type Quotas = BTreeMap<String, QuotaValue>;

/// The quota entities of one user part, by client id part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotasByClient(ByPart<Quotas>);

impl QuotasByClient {
    /// The quotas of the entity with this client id part, if any.
    pub fn get(&self, client_id: QuotaPart<'_>) -> Option<&Quotas> {
        self.0.get(client_id)
    }
}

/// The client quotas by user, then client id (each absent, default or named), and the
/// `ip` entities' by address (`None`: the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct QuotaIndex {
    users: ByPart<QuotasByClient>,
    ips: std::collections::HashMap<Option<std::net::IpAddr>, Quotas>,
}

impl QuotaIndex {
    fn build(quotas: &BTreeMap<Vec<QuotaEntityPart>, Quotas>) -> Self {
        let mut index = Self::default();
        for (entity, values) in quotas {
            let name_of = |t: &str| {
                entity
                    .iter()
                    .find(|p| p.entity_type == t)
                    .map(|p| &p.entity_name)
            };
            if let Some(ip) = name_of("ip") {
                let addr = match ip {
                    None => None,
                    // Names that are not addresses were refused when stored.
                    Some(name) => match name.parse() {
                        Ok(addr) => Some(addr),
                        Err(_) => continue,
                    },
                };
                index.ips.insert(addr, values.clone());
                continue;
            }
            *index
                .users
                .entry(name_of("user"))
                .0
                .entry(name_of("client-id")) = values.clone();
        }
        index
    }
}

/// The ACLs by resource pattern: an authorization decision looks up the few patterns that
/// can match a resource name instead of scanning every ACL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct AclIndex {
    /// (resource type, pattern type) to resource name (or prefix) to its ACLs.
    by_pattern:
        std::collections::HashMap<(i8, i8), std::collections::HashMap<String, Vec<AclRecord>>>,
    /// The distinct lengths of the PREFIXED patterns of each resource type.
    prefix_lengths: std::collections::HashMap<i8, std::collections::BTreeSet<usize>>,
}

/// The literal pattern type; the wildcard literal name.
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const WILDCARD: &str = "*";

impl AclIndex {
    fn build(acls: &std::collections::BTreeSet<AclRecord>) -> Self {
        let mut index = Self::default();
        for acl in acls {
            index
                .by_pattern
                .entry((acl.resource_type, acl.pattern_type))
                .or_default()
                .entry(acl.resource_name.clone())
                .or_default()
                .push(acl.clone());
            if acl.pattern_type == PREFIXED {
                index
                    .prefix_lengths
                    .entry(acl.resource_type)
                    .or_default()
                    .insert(acl.resource_name.len());
            }
        }
        index
    }

    fn of(&self, resource_type: i8, pattern_type: i8, name: &str) -> &[AclRecord] {
        self.by_pattern
            .get(&(resource_type, pattern_type))
            .and_then(|names| names.get(name))
            .map_or(&[], Vec::as_slice)
    }
}

impl MetadataState {
    /// The empty state: no topics, no configs.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first producer id not yet allocated (the end of the last
    /// [`MetadataRecord::ProducerIdsAllocated`] block).
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    /// The offset of the last record applied; `None` before the first.
    pub fn last_applied(&self) -> Option<MetadataOffset> {
        self.last_applied
    }

    /// The offset the next record must have.
    pub fn next_offset(&self) -> MetadataOffset {
        self.last_applied
            .map_or(MetadataOffset(0), MetadataOffset::next)
    }

    /// A live topic by id.
    pub fn topic(&self, topic_id: TopicId) -> Option<&TopicMetadata> {
        self.topics.get(&topic_id)
    }

    /// A live topic by name.
    pub fn topic_by_name(&self, name: &str) -> Option<&TopicMetadata> {
        self.topic_ids.get(name).and_then(|id| self.topics.get(id))
    }

    /// Every live topic, ordered by name.
    pub fn topics(&self) -> impl Iterator<Item = &TopicMetadata> + '_ {
        self.topic_ids.values().filter_map(|id| self.topics.get(id))
    }

    /// The number of live topics.
    pub fn topic_count(&self) -> usize {
        self.topics.len()
    }

    /// The dynamic config overrides of the group `group` (empty when none are set).
    pub fn group_configs(&self, group: &str) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.group_configs.get(group).unwrap_or(&EMPTY)
    }

    /// Every group with config overrides, in name order.
    pub fn groups_with_configs(&self) -> impl Iterator<Item = &str> {
        self.group_configs.keys().map(String::as_str)
    }

    /// The dynamic broker config overrides of `scope` (empty when none are set).
    pub fn broker_configs(&self, scope: BrokerConfigScope) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.broker_configs.get(&scope).unwrap_or(&EMPTY)
    }

    /// The delegation token `token_id`, if it exists (expired or not).
    pub fn delegation_token(&self, token_id: &str) -> Option<&DelegationTokenRecord> {
        self.delegation_tokens.get(token_id)
    }

    /// Every delegation token, by id.
    pub fn delegation_tokens(&self) -> impl Iterator<Item = &DelegationTokenRecord> + '_ {
        self.delegation_tokens.values()
    }

    /// The SCRAM credential of `user` for `mechanism` (`SCRAM-SHA-256`, `SCRAM-SHA-512`).
    pub fn scram_credential(&self, user: &str, mechanism: &str) -> Option<&ScramCredentialRecord> {
        self.scram_credentials
            .get(&(user.to_string(), mechanism.to_string()))
    }

    /// Every SCRAM credential, as (user, mechanism, credential), by user then mechanism.
    pub fn scram_credentials(
        &self,
    ) -> impl Iterator<Item = (&str, &str, &ScramCredentialRecord)> + '_ {
        self.scram_credentials
            .iter()
            .map(|((u, m), c)| (u.as_str(), m.as_str(), c))
    }

    /// Every ACL binding, ordered by resource type, then resource name.
    pub fn acls(&self) -> impl Iterator<Item = &AclRecord> + '_ {
        self.acls.iter()
    }

    /// The ACL bindings of resource type `resource_type`, ordered by resource name.
    pub fn acls_of_type(&self, resource_type: i8) -> impl Iterator<Item = &AclRecord> + '_ {
        self.acls
            .iter()
            .skip_while(move |a| a.resource_type < resource_type)
            .take_while(move |a| a.resource_type == resource_type)
    }

    /// The ACL bindings that match a resource of type `resource_type` named `name`: LITERAL
    /// ones of that name or `*`, and PREFIXED ones whose prefix the name starts with
    /// (Kafka's matching of resource patterns). A few hash lookups, whatever the number of
    /// ACLs.
    pub fn acls_matching<'a>(
        &'a self,
        resource_type: i8,
        name: &'a str,
    ) -> impl Iterator<Item = &'a AclRecord> + 'a {
        let index = &self.acl_index;
        let literal = index.of(resource_type, LITERAL, name).iter();
        let wildcard = if name == WILDCARD {
            [].iter()
        } else {
            index.of(resource_type, LITERAL, WILDCARD).iter()
        };
        let prefixed = index
            .prefix_lengths
            .get(&resource_type)
            .into_iter()
            .flat_map(|lengths| lengths.range(..=name.len()))
            .filter(move |len| name.is_char_boundary(**len))
            .flat_map(move |len| index.of(resource_type, PREFIXED, &name[..*len]).iter());
        literal.chain(wildcard).chain(prefixed)
    }

    /// Every client quota entity with its quotas, ordered by entity.
    pub fn client_quotas(
        &self,
    ) -> impl Iterator<Item = (&[QuotaEntityPart], &BTreeMap<String, QuotaValue>)> + '_ {
        self.client_quotas.iter().map(|(e, q)| (e.as_slice(), q))
    }

    /// The quotas of the entity with `user` and `client_id` parts, if it has any: a lookup
    /// without allocation, for the request path.
    pub fn client_quota_of(
        &self,
        user: QuotaPart<'_>,
        client_id: QuotaPart<'_>,
    ) -> Option<&Quotas> {
        self.client_quotas_of_user(user)?.get(client_id)
    }

    /// The entities with the `user` part, by client id part: the first step of
    /// [`MetadataState::client_quota_of`], for callers that try several client id parts of
    /// one user.
    pub fn client_quotas_of_user(&self, user: QuotaPart<'_>) -> Option<&QuotasByClient> {
        self.quota_index.users.get(user)
    }

    /// The quotas of the `ip` entity of address `ip` (`None`: the default entity).
    pub fn ip_quota(&self, ip: Option<std::net::IpAddr>) -> Option<&Quotas> {
        self.quota_index.ips.get(&ip)
    }

    /// Whether any client quota is set.
    pub fn has_client_quotas(&self) -> bool {
        !self.client_quotas.is_empty()
    }

    /// The quotas of `entity` (its parts ordered by type); empty when none are set.
    pub fn client_quota(&self, entity: &[QuotaEntityPart]) -> &BTreeMap<String, QuotaValue> {
        static EMPTY: BTreeMap<String, QuotaValue> = BTreeMap::new();
        self.client_quotas.get(entity).unwrap_or(&EMPTY)
    }

    /// Whether any ACL binding exists.
    pub fn has_acls(&self) -> bool {
        !self.acls.is_empty()
    }

    /// Checks that `record` can be applied to this state, without changing it.
    pub fn validate(&self, record: &MetadataRecord) -> Result<(), StateError> {
        match record {
            MetadataRecord::TopicCreated {
                name,
                topic_id,
                partitions,
                configs: _,
            } => {
                validate_topic_name(name)?;
                if topic_id.0.is_nil() {
                    return Err(StateError::NilTopicId);
                }
                validate_partition_count(*partitions)?;
                if self.topic_ids.contains_key(name) {
                    return Err(StateError::TopicAlreadyExists { name: name.clone() });
                }
                if let Some(existing) = self.topics.get(topic_id) {
                    return Err(StateError::TopicIdInUse {
                        topic_id: *topic_id,
                        name: existing.name.clone(),
                    });
                }
                // Kafka refuses names that differ only in '.' versus '_': both map to the
                // same metric name.
                let canonical = collision_key(name);
                if let Some(existing) = self
                    .topic_ids
                    .keys()
                    .find(|existing| collision_key(existing) == canonical)
                {
                    return Err(StateError::TopicNameCollision {
                        name: name.clone(),
                        existing: existing.clone(),
                    });
                }
                Ok(())
            }
            MetadataRecord::TopicDeleted { topic_id }
            | MetadataRecord::TopicConfigAltered { topic_id, .. } => {
                self.require_topic(*topic_id).map(|_| ())
            }
            MetadataRecord::PartitionsCreated {
                topic_id,
                new_total,
            } => {
                let topic = self.require_topic(*topic_id)?;
                validate_partition_count(*new_total)?;
                if *new_total <= topic.partitions {
                    return Err(StateError::PartitionsNotIncreased {
                        name: topic.name.clone(),
                        current: topic.partitions,
                        requested: *new_total,
                    });
                }
                Ok(())
            }
            MetadataRecord::BrokerConfigAltered { .. } => Ok(()),
            MetadataRecord::GroupConfigAltered { group, .. } => {
                if group.is_empty() {
                    return Err(StateError::EmptyGroupId);
                }
                Ok(())
            }
            MetadataRecord::DelegationTokenAltered { token } => match token.invalid() {
                Some(reason) => Err(StateError::InvalidDelegationToken {
                    token_id: token.token_id.clone(),
                    reason,
                }),
                None => Ok(()),
            },
            MetadataRecord::DelegationTokenRemoved { .. } => Ok(()),
            MetadataRecord::ClientQuotasAltered { changes } => {
                for change in changes {
                    if let Some(reason) = change.invalid() {
                        return Err(StateError::InvalidClientQuota {
                            change: format!("{change:?}"),
                            reason,
                        });
                    }
                }
                Ok(())
            }
            MetadataRecord::AclsCreated { acls } | MetadataRecord::AclsDeleted { acls } => {
                for acl in acls {
                    if let Some(reason) = acl.invalid() {
                        return Err(StateError::InvalidAcl {
                            acl: format!("{acl:?}"),
                            reason,
                        });
                    }
                }
                Ok(())
            }
            MetadataRecord::ScramCredentialAltered {
                user,
                mechanism,
                credential,
            } => {
                let invalid = |reason| {
                    Err(StateError::InvalidScramCredential {
                        user: user.clone(),
                        mechanism: mechanism.clone(),
                        reason,
                    })
                };
                if user.is_empty() {
                    return invalid("the user name is empty");
                }
                if !crate::record::SCRAM_MECHANISMS.contains(&mechanism.as_str()) {
                    return invalid("not a SCRAM mechanism");
                }
                if let Some(c) = credential {
                    if c.iterations <= 0 || c.stored_key.is_empty() || c.server_key.is_empty() {
                        return invalid("no iterations or no keys");
                    }
                }
                Ok(())
            }
            MetadataRecord::ProducerIdsAllocated {
                block_start,
                block_size,
            } => {
                if *block_start != self.next_producer_id
                    || *block_size <= 0
                    || block_start.checked_add(*block_size).is_none()
                {
                    return Err(StateError::ProducerIdBlock {
                        block_start: *block_start,
                        block_size: *block_size,
                        next: self.next_producer_id,
                    });
                }
                Ok(())
            }
        }
    }

    /// Applies `record`, which has offset `offset`. All or nothing: a refused record leaves
    /// the state unchanged. `offset` must be [`Self::next_offset`]; the log guarantees it,
    /// and a mismatch is a bug (checked in debug builds).
    pub fn apply(
        &mut self,
        offset: MetadataOffset,
        record: &MetadataRecord,
    ) -> Result<(), StateError> {
        debug_assert_eq!(offset, self.next_offset(), "metadata offsets have no holes");
        self.validate(record)?;
        match record {
            MetadataRecord::TopicCreated {
                name,
                topic_id,
                partitions,
                configs,
            } => {
                self.topic_ids.insert(name.clone(), *topic_id);
                self.topics.insert(
                    *topic_id,
                    TopicMetadata {
                        name: name.clone(),
                        topic_id: *topic_id,
                        partitions: *partitions,
                        configs: configs.clone(),
                    },
                );
            }
            MetadataRecord::TopicDeleted { topic_id } => {
                if let Some(topic) = self.topics.remove(topic_id) {
                    self.topic_ids.remove(&topic.name);
                }
            }
            MetadataRecord::PartitionsCreated {
                topic_id,
                new_total,
            } => {
                if let Some(topic) = self.topics.get_mut(topic_id) {
                    topic.partitions = *new_total;
                }
            }
            MetadataRecord::TopicConfigAltered { topic_id, configs } => {
                if let Some(topic) = self.topics.get_mut(topic_id) {
                    topic.configs = configs.clone();
                }
            }
            MetadataRecord::BrokerConfigAltered { scope, configs } => {
                if configs.is_empty() {
                    self.broker_configs.remove(scope);
                } else {
                    self.broker_configs.insert(*scope, configs.clone());
                }
            }
            MetadataRecord::GroupConfigAltered { group, configs } => {
                if configs.is_empty() {
                    self.group_configs.remove(group);
                } else {
                    self.group_configs.insert(group.clone(), configs.clone());
                }
            }
            MetadataRecord::ProducerIdsAllocated {
                block_start,
                block_size,
            } => {
                self.next_producer_id = block_start + block_size;
            }
            MetadataRecord::ScramCredentialAltered {
                user,
                mechanism,
                credential,
            } => {
                let key = (user.clone(), mechanism.clone());
                match credential {
                    Some(c) => {
                        self.scram_credentials.insert(key, c.clone());
                    }
                    None => {
                        self.scram_credentials.remove(&key);
                    }
                }
            }
            MetadataRecord::AclsCreated { acls } => {
                self.acls.extend(acls.iter().cloned());
                self.acl_index = AclIndex::build(&self.acls);
            }
            MetadataRecord::AclsDeleted { acls } => {
                for acl in acls {
                    self.acls.remove(acl);
                }
                self.acl_index = AclIndex::build(&self.acls);
            }
            MetadataRecord::ClientQuotasAltered { changes } => {
                for change in changes {
                    if change.quotas.is_empty() {
                        self.client_quotas.remove(&change.entity);
                    } else {
                        self.client_quotas
                            .insert(change.entity.clone(), change.quotas.clone());
                    }
                }
                self.quota_index = QuotaIndex::build(&self.client_quotas);
            }
            MetadataRecord::DelegationTokenAltered { token } => {
                self.delegation_tokens
                    .insert(token.token_id.clone(), token.clone());
            }
            MetadataRecord::DelegationTokenRemoved { token_id } => {
                self.delegation_tokens.remove(token_id);
            }
        }
        self.last_applied = Some(offset);
        Ok(())
    }

    fn require_topic(&self, topic_id: TopicId) -> Result<&TopicMetadata, StateError> {
        self.topics
            .get(&topic_id)
            .ok_or(StateError::UnknownTopicId { topic_id })
    }
}

/// Kafka's topic name rule: 1-249 characters of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), StateError> {
    let invalid = |reason| {
        Err(StateError::InvalidTopicName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("the name is empty");
    }
    if name == "." || name == ".." {
        return invalid("'.' and '..' are reserved");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return invalid("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return invalid("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

fn validate_partition_count(count: u32) -> Result<(), StateError> {
    if count == 0 || count > i32::MAX as u32 {
        return Err(StateError::InvalidPartitionCount { count });
    }
    Ok(())
}

fn collision_key(name: &str) -> String {
    name.replace('.', "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn id(n: u128) -> TopicId {
        TopicId(Uuid::from_u128(n))
    }

    fn created(name: &str, topic_id: TopicId, partitions: u32) -> MetadataRecord {
        MetadataRecord::TopicCreated {
            name: name.into(),
            topic_id,
            partitions,
            configs: BTreeMap::new(),
        }
    }

    fn apply(state: &mut MetadataState, record: MetadataRecord) -> Result<(), StateError> {
        let offset = state.next_offset();
        state.apply(offset, &record)
    }

    #[test]
    fn client_quotas_are_set_replaced_and_removed_all_or_none() {
        use crate::record::ClientQuotaChange;
        let mut s = MetadataState::new();
        let user = |n: Option<&str>| {
            vec![QuotaEntityPart {
                entity_type: "user".into(),
                entity_name: n.map(Into::into),
            }]
        };
        let change = |entity: Vec<QuotaEntityPart>, quotas: &[(&str, f64)]| ClientQuotaChange {
            entity,
            quotas: quotas
                .iter()
                .map(|(k, v)| (k.to_string(), QuotaValue(*v)))
                .collect(),
        };
        let alter = |changes| MetadataRecord::ClientQuotasAltered { changes };
        apply(
            &mut s,
            alter(vec![
                change(user(Some("alice")), &[("producer_byte_rate", 1024.0)]),
                change(user(None), &[("consumer_byte_rate", 2048.0)]),
            ]),
        )
        .unwrap();
        assert_eq!(s.client_quotas().count(), 2);
        assert_eq!(
            s.client_quota(&user(Some("alice")))["producer_byte_rate"],
            QuotaValue(1024.0)
        );
        apply(
            &mut s,
            alter(vec![change(
                user(Some("alice")),
                &[("request_percentage", 50.0)],
            )]),
        )
        .unwrap();
        assert_eq!(
            s.client_quota(&user(Some("alice")))
                .keys()
                .collect::<Vec<_>>(),
            ["request_percentage"]
        );
        // One bad change refuses the whole record.
        let before = s.clone();
        let refused = alter(vec![
            change(user(None), &[]),
            change(user(Some("bob")), &[("producer_byte_rate", -1.0)]),
        ]);
        assert!(matches!(
            s.apply(s.next_offset(), &refused),
            Err(StateError::InvalidClientQuota { .. })
        ));
        assert_eq!(s, before);
        apply(&mut s, alter(vec![change(user(None), &[])])).unwrap();
        assert!(s.client_quota(&user(None)).is_empty());
        assert_eq!(s.client_quotas().count(), 1);
        // The index finds what the entities hold, by user and client id, and by address.
        let both = vec![
            QuotaEntityPart {
                entity_type: "client-id".into(),
                entity_name: None,
            },
            QuotaEntityPart {
                entity_type: "user".into(),
                entity_name: Some("bob".into()),
            },
        ];
        let ip = |n: Option<&str>| {
            vec![QuotaEntityPart {
                entity_type: "ip".into(),
                entity_name: n.map(Into::into),
            }]
        };
        apply(
            &mut s,
            alter(vec![
                change(both, &[("producer_byte_rate", 7.0)]),
                change(ip(Some("10.0.0.1")), &[("connection_creation_rate", 3.0)]),
                change(ip(None), &[("connection_creation_rate", 4.0)]),
            ]),
        )
        .unwrap();
        use QuotaPart::*;
        let of = |u, c| {
            s.client_quota_of(u, c)
                .map(|q| q.keys().cloned().collect::<Vec<_>>())
        };
        assert_eq!(
            of(Named("alice"), Absent),
            Some(vec!["request_percentage".into()])
        );
        assert_eq!(
            of(Named("bob"), Default),
            Some(vec!["producer_byte_rate".into()])
        );
        assert_eq!(of(Named("bob"), Absent), None);
        assert_eq!(of(Default, Absent), None);
        assert_eq!(of(Absent, Named("alice")), None);
        let addr = "10.0.0.1".parse().ok();
        assert_eq!(
            s.ip_quota(addr).unwrap()["connection_creation_rate"],
            QuotaValue(3.0)
        );
        assert_eq!(
            s.ip_quota(None).unwrap()["connection_creation_rate"],
            QuotaValue(4.0)
        );
        assert!(s.ip_quota("10.0.0.2".parse().ok()).is_none());
    }

    #[test]
    fn scram_credentials_are_set_replaced_and_removed() {
        let mut s = MetadataState::new();
        let credential = |iterations| ScramCredentialRecord {
            salt: vec![1; 16],
            stored_key: vec![2; 32],
            server_key: vec![3; 32],
            iterations,
        };
        let alter = |user: &str, mechanism: &str, c: Option<ScramCredentialRecord>| {
            MetadataRecord::ScramCredentialAltered {
                user: user.into(),
                mechanism: mechanism.into(),
                credential: c,
            }
        };
        apply(
            &mut s,
            alter("alice", "SCRAM-SHA-256", Some(credential(4096))),
        )
        .unwrap();
        apply(
            &mut s,
            alter("alice", "SCRAM-SHA-512", Some(credential(8192))),
        )
        .unwrap();
        apply(
            &mut s,
            alter("alice", "SCRAM-SHA-256", Some(credential(5000))),
        )
        .unwrap();
        let listed: Vec<_> = s
            .scram_credentials()
            .map(|(u, m, c)| (u.to_string(), m.to_string(), c.iterations))
            .collect();
        assert_eq!(
            listed,
            [
                ("alice".into(), "SCRAM-SHA-256".into(), 5000),
                ("alice".into(), "SCRAM-SHA-512".into(), 8192)
            ]
        );
        apply(&mut s, alter("alice", "SCRAM-SHA-256", None)).unwrap();
        assert!(s.scram_credential("alice", "SCRAM-SHA-256").is_none());
        assert_eq!(
            s.scram_credential("alice", "SCRAM-SHA-512")
                .unwrap()
                .iterations,
            8192
        );
        for bad in [
            alter("", "SCRAM-SHA-256", Some(credential(4096))),
            alter("bob", "PLAIN", Some(credential(4096))),
            alter("bob", "SCRAM-SHA-256", Some(credential(0))),
        ] {
            assert!(matches!(
                apply(&mut s, bad),
                Err(StateError::InvalidScramCredential { .. })
            ));
        }
    }

    #[test]
    fn producer_id_blocks_follow_each_other() {
        let mut s = MetadataState::new();
        assert_eq!(s.next_producer_id(), 0);
        let block = |start, size| MetadataRecord::ProducerIdsAllocated {
            block_start: start,
            block_size: size,
        };
        apply(&mut s, block(0, 1000)).unwrap();
        assert_eq!(s.next_producer_id(), 1000);
        // A block that overlaps, skips ahead, is empty or overflows is refused.
        for bad in [
            block(0, 1000),
            block(2000, 10),
            block(1000, 0),
            block(1000, i64::MAX),
        ] {
            assert!(matches!(
                apply(&mut s, bad),
                Err(StateError::ProducerIdBlock { .. })
            ));
        }
        apply(&mut s, block(1000, 1000)).unwrap();
        assert_eq!(s.next_producer_id(), 2000);
    }

    #[test]
    fn topic_lifecycle() {
        let mut s = MetadataState::new();
        assert_eq!(s.next_offset(), MetadataOffset(0));
        apply(&mut s, created("orders", id(1), 3)).unwrap();
        apply(&mut s, created("audit", id(2), 1)).unwrap();
        assert_eq!(s.last_applied(), Some(MetadataOffset(1)));
        let names: Vec<_> = s.topics().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["audit", "orders"]);

        apply(
            &mut s,
            MetadataRecord::PartitionsCreated {
                topic_id: id(1),
                new_total: 5,
            },
        )
        .unwrap();
        assert_eq!(s.topic_by_name("orders").unwrap().partitions, 5);

        let configs = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        apply(
            &mut s,
            MetadataRecord::TopicConfigAltered {
                topic_id: id(1),
                configs: configs.clone(),
            },
        )
        .unwrap();
        assert_eq!(s.topic(id(1)).unwrap().configs, configs);

        apply(&mut s, MetadataRecord::TopicDeleted { topic_id: id(1) }).unwrap();
        assert!(s.topic_by_name("orders").is_none());
        assert!(s.topic(id(1)).is_none());
        assert_eq!(s.topic_count(), 1);
        // The name is free again, under a new id.
        apply(&mut s, created("orders", id(3), 1)).unwrap();
        assert_eq!(s.topic_by_name("orders").unwrap().topic_id, id(3));
    }

    #[test]
    fn refused_records_change_nothing() {
        let mut s = MetadataState::new();
        apply(&mut s, created("orders", id(1), 3)).unwrap();
        let before = s.clone();
        let cases = [
            (
                created("orders", id(2), 1),
                StateError::TopicAlreadyExists {
                    name: "orders".into(),
                },
            ),
            (
                created("other", id(1), 1),
                StateError::TopicIdInUse {
                    topic_id: id(1),
                    name: "orders".into(),
                },
            ),
            (
                created("nil", TopicId(Uuid::nil()), 1),
                StateError::NilTopicId,
            ),
            (
                created("zero", id(5), 0),
                StateError::InvalidPartitionCount { count: 0 },
            ),
            (
                created("huge", id(5), u32::MAX),
                StateError::InvalidPartitionCount { count: u32::MAX },
            ),
            (
                MetadataRecord::TopicDeleted { topic_id: id(9) },
                StateError::UnknownTopicId { topic_id: id(9) },
            ),
            (
                MetadataRecord::PartitionsCreated {
                    topic_id: id(1),
                    new_total: 3,
                },
                StateError::PartitionsNotIncreased {
                    name: "orders".into(),
                    current: 3,
                    requested: 3,
                },
            ),
            (
                MetadataRecord::TopicConfigAltered {
                    topic_id: id(9),
                    configs: BTreeMap::new(),
                },
                StateError::UnknownTopicId { topic_id: id(9) },
            ),
        ];
        for (record, expected) in cases {
            assert_eq!(apply(&mut s, record.clone()), Err(expected), "{record:?}");
            assert_eq!(s, before, "{record:?} changed the state");
        }
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        for good in ["a", "orders.v1", "A_b-c", &"x".repeat(249)] {
            validate_topic_name(good).unwrap();
        }
        for bad in ["", ".", "..", "a b", "a/b", "tópico", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
        let mut s = MetadataState::new();
        apply(&mut s, created("a.b", id(1), 1)).unwrap();
        assert_eq!(
            apply(&mut s, created("a_b", id(2), 1)),
            Err(StateError::TopicNameCollision {
                name: "a_b".into(),
                existing: "a.b".into()
            })
        );
    }

    #[test]
    fn group_configs_replace_and_clear_and_need_a_group() {
        let mut s = MetadataState::new();
        let configs = BTreeMap::from([(
            "consumer.session.timeout.ms".to_string(),
            "50000".to_string(),
        )]);
        let altered =
            |group: &str, configs: &BTreeMap<String, String>| MetadataRecord::GroupConfigAltered {
                group: group.to_string(),
                configs: configs.clone(),
            };
        apply(&mut s, altered("payments", &configs)).unwrap();
        assert_eq!(s.group_configs("payments"), &configs);
        assert!(s.group_configs("other").is_empty());
        assert_eq!(s.groups_with_configs().collect::<Vec<_>>(), ["payments"]);
        assert_eq!(
            s.validate(&altered("", &configs)),
            Err(StateError::EmptyGroupId)
        );
        apply(&mut s, altered("payments", &BTreeMap::new())).unwrap();
        assert!(s.group_configs("payments").is_empty());
        assert_eq!(s.groups_with_configs().count(), 0);
    }

    #[test]
    fn broker_configs_replace_and_clear() {
        let mut s = MetadataState::new();
        let scope = BrokerConfigScope::Broker(0);
        let configs = BTreeMap::from([("log.retention.ms".to_string(), "5".to_string())]);
        apply(
            &mut s,
            MetadataRecord::BrokerConfigAltered {
                scope,
                configs: configs.clone(),
            },
        )
        .unwrap();
        assert_eq!(s.broker_configs(scope), &configs);
        assert!(s
            .broker_configs(BrokerConfigScope::ClusterDefault)
            .is_empty());
        apply(
            &mut s,
            MetadataRecord::BrokerConfigAltered {
                scope,
                configs: BTreeMap::new(),
            },
        )
        .unwrap();
        assert!(s.broker_configs(scope).is_empty());
        assert_eq!(s, {
            let mut expected = MetadataState::new();
            expected.last_applied = Some(MetadataOffset(1));
            expected
        });
    }

    mod acl_index {
        use super::*;
        use proptest::prelude::*;

        const NAMES: [&str; 7] = ["orders", "ord", "o", "orders-eu", "*", "audit", "é-x"];

        fn any_acl() -> impl Strategy<Value = AclRecord> {
            (2i8..=3, 0usize..NAMES.len(), 3i8..=4, 0usize..2, 2i8..=3).prop_map(
                |(rt, name, pattern, who, perm)| AclRecord {
                    resource_type: rt,
                    resource_name: NAMES[name].to_string(),
                    pattern_type: pattern,
                    principal: ["User:alice", "User:*"][who].to_string(),
                    host: "*".to_string(),
                    operation: 3,
                    permission_type: perm,
                },
            )
        }

        proptest! {
            /// The index finds exactly the ACLs Kafka's pattern matching finds by
            /// scanning them all, across creations and deletions.
            #[test]
            fn finds_what_a_scan_finds(
                created in proptest::collection::vec(any_acl(), 0..20),
                deleted in proptest::collection::vec(any_acl(), 0..10),
                rt in 2i8..=3,
                name in prop_oneof![
                    (0usize..NAMES.len()).prop_map(|i| NAMES[i].to_string()),
                    "[a-zé*-]{0,10}",
                ],
            ) {
                let mut state = MetadataState::new();
                apply(&mut state, MetadataRecord::AclsCreated { acls: created }).unwrap();
                apply(&mut state, MetadataRecord::AclsDeleted { acls: deleted }).unwrap();
                let mut found: Vec<&AclRecord> = state.acls_matching(rt, &name).collect();
                found.sort();
                let scanned: Vec<&AclRecord> = state
                    .acls_of_type(rt)
                    .filter(|a| match a.pattern_type {
                        LITERAL => a.resource_name == name || a.resource_name == WILDCARD,
                        _ => name.starts_with(a.resource_name.as_str()),
                    })
                    .collect();
                prop_assert_eq!(found, scanned);
            }
        }
    }
}
