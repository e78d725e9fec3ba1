//! DescribeClientQuotas (key 48) and AlterClientQuotas (key 49), v0-1 (KIP-546): the
//! client quotas of users and client ids, kept in the metadata log as Kafka's controller
//! keeps them (`ClientQuotaControlManager`), and enforced by [`crate::quota`].
//! `kafka-configs.sh --alter --add-config producer_byte_rate=1048576 --entity-type users
//! --entity-name alice` sends the second.
//!
//! An entity is a set of (type, name) parts: `user`, `client-id`, or both, or `ip` alone;
//! a null name is the type's default entity (`<default>`). AlterClientQuotas answers each entry:
//! - INVALID_REQUEST for an empty entity, a type named twice, an empty name, an unknown
//!   type, an `ip` entity with another part or a name that is not an IP address, a key
//!   named twice, a key that is not `producer_byte_rate`, `consumer_byte_rate`,
//!   `request_percentage` or `controller_mutation_rate` (users and client ids) or
//!   `connection_creation_rate` (`ip`), a byte or connection rate that is not a whole
//!   number, or a value that is not a number above zero;
//! - INVALID_REQUEST "Ignoring duplicate entity" for an entity given twice (each time).
//!
//! The valid entries are stored in one record, all or none; removing a key that is not
//! set is not an error. `validate_only` checks without storing.
//!
//! DescribeClientQuotas filters entities as Kafka's `ClientQuotasImage.describe` does:
//! each component names a type and matches one name (match type 0), the default entity
//! (1) or any entity of that type (2); `strict` keeps only entities with no other parts;
//! no components and not strict lists every entity. A malformed filter is INVALID_REQUEST,
//! an unknown type UNSUPPORTED_VERSION, at the top level.
//!
//! With the authorizer on (as Kafka): AlterClientQuotas needs ALTER_CONFIGS on the
//! cluster, else every entry gets CLUSTER_AUTHORIZATION_FAILED and nothing is stored;
//! DescribeClientQuotas needs DESCRIBE_CONFIGS on the cluster, else
//! CLUSTER_AUTHORIZATION_FAILED at the top level. Every change is written to the audit
//! log.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::alter_client_quotas_request::EntryData as AlterEntry;
use kafka_protocol::messages::alter_client_quotas_response::{
    EntityData as AlterEntity, EntryData as AlterResult,
};
use kafka_protocol::messages::describe_client_quotas_response::{
    EntityData as DescribeEntity, EntryData as DescribeEntry, ValueData,
};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, ApiKey, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_cluster::{
    ClientQuotaChange, MetadataRecord, MetadataState, QuotaEntityPart, QuotaValue,
};

use crate::apis::{Handler, Reply};
use crate::audit;
use crate::authz::Operation;
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{metadata_error_code, HandlerError};
use crate::quota::QuotaType;

const USER: &str = "user";
const CLIENT_ID: &str = "client-id";
const IP: &str = "ip";

/// Match types of a DescribeClientQuotas component.
const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_SPECIFIED: i8 = 2;

/// AlterClientQuotas' layout, for [`bounds::check`].
const ALTER_SCHEMA: &[Field] = &[
    all(Ty::Structs(&[
        all(Ty::Structs(&[all(Ty::Str), all(Ty::Str)])), // entity: type, name
        all(Ty::Structs(&[
            all(Ty::Str),   // key
            all(Ty::Int64), // value (a float64: the same 8 bytes)
            all(Ty::Bool),  // remove
        ])),
    ])),
    all(Ty::Bool), // validate_only
];

/// DescribeClientQuotas' layout, for [`bounds::check`].
const DESCRIBE_SCHEMA: &[Field] = &[
    all(Ty::Structs(&[all(Ty::Str), all(Ty::Int8), all(Ty::Str)])), // type, match type, match
    all(Ty::Bool),                                                  // strict
];

/// Kafka's message for a refused request.
const NOT_AUTHORIZED: &str = "Cluster authorization failed.";

/// An entity's parts as the request gave them, for the answer.
fn echo(entry: &AlterEntry) -> Vec<AlterEntity> {
    entry
        .entity
        .iter()
        .map(|e| {
            AlterEntity::default()
                .with_entity_type(e.entity_type.clone())
                .with_entity_name(e.entity_name.clone())
        })
        .collect()
}

/// A readable name of an entity, for messages and the audit log.
fn describe_entity(parts: &[QuotaEntityPart]) -> String {
    parts
        .iter()
        .map(|p| {
            format!(
                "{}={}",
                p.entity_type,
                p.entity_name.as_deref().unwrap_or("<default>")
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The entity of an entry, its parts ordered by type, or why it is refused.
fn entity_of(entry: &AlterEntry) -> Result<Vec<QuotaEntityPart>, String> {
    if entry.entity.is_empty() {
        return Err("Invalid empty client quota entity".into());
    }
    let mut parts: Vec<QuotaEntityPart> = Vec::with_capacity(entry.entity.len());
    for e in &entry.entity {
        let entity_type = e.entity_type.as_str();
        if parts.iter().any(|p| p.entity_type == entity_type) {
            return Err(format!(
                "Invalid empty client quota entity, duplicate entity entry {entity_type}"
            ));
        }
        match entity_type {
            USER | CLIENT_ID | IP => {}
            other => return Err(format!("Unhandled client quota entity type: {other}")),
        }
        let name = e.entity_name.as_ref().map(|n| n.as_str().to_string());
        if name.as_deref() == Some("") {
            return Err(format!("Empty {entity_type} not supported"));
        }
        // Addresses only: Kafka also resolves host names.
        if let (IP, Some(ip)) = (entity_type, &name) {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(format!("{ip} is not a valid IP or resolvable host."));
            }
        }
        parts.push(QuotaEntityPart {
            entity_type: entity_type.to_string(),
            entity_name: name,
        });
    }
    // An ip entity stands alone.
    if parts.len() > 1 && parts.iter().any(|p| p.entity_type == IP) {
        return Err("Invalid empty client quota entity".into());
    }
    parts.sort();
    Ok(parts)
}

/// The entity's quotas after the entry's operations, or why they are refused.
fn apply_ops(
    entry: &AlterEntry,
    of_ip: bool,
    current: &BTreeMap<String, QuotaValue>,
) -> Result<BTreeMap<String, QuotaValue>, String> {
    let mut next = current.clone();
    let mut seen = BTreeSet::new();
    for op in &entry.ops {
        let key = op.key.as_str();
        if !seen.insert(key) {
            return Err(format!("Duplicate quota key {key}"));
        }
        if op.remove {
            next.remove(key);
            continue;
        }
        // An ip entity takes the connection rate only; users and client ids the others.
        let Some(quota) = QuotaType::of_key(key).filter(|q| q.of_ip() == of_ip) else {
            return Err(format!("Invalid configuration key {key}"));
        };
        let value = op.value;
        if !(value.is_finite() && value > 0.0) {
            return Err(format!(
                "Configuration {key} must be a number above zero, not {value}"
            ));
        }
        if quota.whole_numbers() && (value.round() - value).abs() > 1e-6 {
            return Err(format!("Configuration {key} must be a Long value"));
        }
        next.insert(key.to_string(), QuotaValue(value));
    }
    Ok(next)
}

/// The AlterClientQuotas handler.
#[derive(Debug)]
pub struct AlterClientQuotas;

impl Handler for AlterClientQuotas {
    type Request = AlterClientQuotasRequest;
    type Response = AlterClientQuotasResponse;
    const KEY: ApiKey = ApiKey::AlterClientQuotas;
    const NAME: &'static str = "AlterClientQuotas";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: AlterClientQuotasRequest,
    ) -> Result<Reply<AlterClientQuotasResponse>, HandlerError> {
        let answer = |entry: &AlterEntry, error: Option<(ResponseError, String)>| {
            let (code, message) = match error {
                Some((e, m)) => (e.code(), Some(StrBytes::from_string(m))),
                None => (0, None),
            };
            AlterResult::default()
                .with_entity(echo(entry))
                .with_error_code(code)
                .with_error_message(message)
        };
        if !ctx.authz().allows_cluster(Operation::AlterConfigs) {
            let entries = request
                .entries
                .iter()
                .map(|e| {
                    answer(
                        e,
                        Some((
                            ResponseError::ClusterAuthorizationFailed,
                            NOT_AUTHORIZED.to_string(),
                        )),
                    )
                })
                .collect();
            return Ok(Reply::Ready(
                AlterClientQuotasResponse::default().with_entries(entries),
            ));
        }
        let _serialized = ctx.server.admin_lock.lock().await;
        let state = ctx.server.metadata.state();
        let entities: Vec<Result<Vec<QuotaEntityPart>, String>> =
            request.entries.iter().map(entity_of).collect();
        // An entity given twice is refused every time (Kafka: "Ignoring duplicate entity").
        let mut times_given: BTreeMap<&[QuotaEntityPart], usize> = BTreeMap::new();
        for entity in entities.iter().flatten() {
            *times_given.entry(entity).or_default() += 1;
        }
        // Each entry's entity and new quotas, or its refusal.
        let outcomes: Vec<Result<ClientQuotaChange, String>> = request
            .entries
            .iter()
            .zip(&entities)
            .map(|(entry, entity)| {
                let entity = entity.clone()?;
                if times_given.get(entity.as_slice()).is_some_and(|&n| n > 1) {
                    return Err(format!(
                        "Ignoring duplicate entity {}",
                        describe_entity(&entity)
                    ));
                }
                let of_ip = entity.iter().any(|p| p.entity_type == IP);
                let quotas = apply_ops(entry, of_ip, state.client_quota(&entity))?;
                Ok(ClientQuotaChange { entity, quotas })
            })
            .collect();
        let changes: Vec<ClientQuotaChange> = outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok())
            .filter(|c| state.client_quota(&c.entity) != &c.quotas)
            .cloned()
            .collect();
        let commit_error = if request.validate_only || changes.is_empty() {
            None
        } else {
            crate::topics::commit(
                &ctx.server,
                MetadataRecord::ClientQuotasAltered {
                    changes: changes.clone(),
                },
            )
            .await
            .err()
            .map(|e| (metadata_error_code(&e), e.to_string()))
        };
        if !request.validate_only {
            for change in &changes {
                let quotas = change
                    .quotas
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.0))
                    .collect::<Vec<_>>()
                    .join(",");
                audit::change(
                    &ctx,
                    "alter client quotas",
                    &format!("{} to [{quotas}]", describe_entity(&change.entity)),
                    commit_error.as_ref().map(|(_, m)| m.as_str()),
                );
            }
        }
        let entries = request
            .entries
            .iter()
            .zip(outcomes)
            .map(|(entry, outcome)| match outcome {
                Err(why) => answer(entry, Some((ResponseError::InvalidRequest, why))),
                Ok(_) => answer(entry, commit_error.clone()),
            })
            .collect();
        Ok(Reply::Ready(
            AlterClientQuotasResponse::default().with_entries(entries),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v1 (KIP-482).
        bounds::check(body, ALTER_SCHEMA, api_version, api_version >= 1)
    }
}

/// A DescribeClientQuotas filter: the names each type must have (`None`: the default
/// entity), and the types that must merely be present.
#[derive(Debug, Default)]
struct Filter {
    exact: BTreeMap<String, Option<String>>,
    specified: BTreeSet<String>,
    strict: bool,
}

impl Filter {
    /// Kafka's checks of the components, with the error each failure answers.
    fn parse(request: &DescribeClientQuotasRequest) -> Result<Self, (ResponseError, String)> {
        let invalid = |m: String| Err((ResponseError::InvalidRequest, m));
        let mut filter = Filter {
            strict: request.strict,
            ..Filter::default()
        };
        for c in &request.components {
            let entity_type = c.entity_type.as_str();
            if entity_type.is_empty() {
                return invalid("Invalid empty entity type.".into());
            }
            if filter.exact.contains_key(entity_type) || filter.specified.contains(entity_type) {
                return invalid(format!(
                    "Entity type {entity_type} cannot appear more than once in the filter."
                ));
            }
            if ![USER, CLIENT_ID, IP].contains(&entity_type) {
                return Err((
                    ResponseError::UnsupportedVersion,
                    format!("Unsupported entity type {entity_type}"),
                ));
            }
            let name = c._match.as_ref().map(|m| m.as_str().to_string());
            match c.match_type {
                MATCH_EXACT => {
                    if name.is_none() {
                        return invalid(
                            "Request specified MATCH_TYPE_EXACT, but set match string to null."
                                .into(),
                        );
                    }
                    filter.exact.insert(entity_type.to_string(), name);
                }
                MATCH_DEFAULT => {
                    if name.is_some() {
                        return invalid(
                            "Request specified MATCH_TYPE_DEFAULT, but also specified a match \
                             string."
                                .into(),
                        );
                    }
                    filter.exact.insert(entity_type.to_string(), None);
                }
                MATCH_SPECIFIED => {
                    if name.is_some() {
                        return invalid(
                            "Request specified MATCH_TYPE_SPECIFIED, but also specified a \
                             match string."
                                .into(),
                        );
                    }
                    filter.specified.insert(entity_type.to_string());
                }
                other => return invalid(format!("Unknown match type {other}")),
            }
        }
        let names = |t: &str| filter.exact.contains_key(t) || filter.specified.contains(t);
        if names(IP) && (names(USER) || names(CLIENT_ID)) {
            return invalid(
                "Invalid entity filter component combination. IP filter component should \
                 not be used with user or clientId filter component."
                    .into(),
            );
        }
        Ok(filter)
    }

    fn matches(&self, entity: &[QuotaEntityPart]) -> bool {
        let name_of = |t: &str| {
            entity
                .iter()
                .find(|p| p.entity_type == t)
                .map(|p| &p.entity_name)
        };
        let exact = self
            .exact
            .iter()
            .all(|(t, n)| name_of(t).is_some_and(|found| found == n));
        let specified = self.specified.iter().all(|t| name_of(t).is_some());
        let strict = !self.strict || entity.len() == self.exact.len() + self.specified.len();
        exact && specified && strict
    }
}

/// Every entity `filter` matches, with its quotas, ordered by entity.
fn describe(state: &MetadataState, filter: &Filter) -> Vec<DescribeEntry> {
    state
        .client_quotas()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, quotas)| {
            DescribeEntry::default()
                .with_entity(
                    entity
                        .iter()
                        .map(|p| {
                            DescribeEntity::default()
                                .with_entity_type(StrBytes::from_string(p.entity_type.clone()))
                                .with_entity_name(p.entity_name.clone().map(StrBytes::from_string))
                        })
                        .collect(),
                )
                .with_values(
                    quotas
                        .iter()
                        .map(|(k, v)| {
                            ValueData::default()
                                .with_key(StrBytes::from_string(k.clone()))
                                .with_value(v.0)
                        })
                        .collect(),
                )
        })
        .collect()
}

/// The DescribeClientQuotas handler.
#[derive(Debug)]
pub struct DescribeClientQuotas;

impl Handler for DescribeClientQuotas {
    type Request = DescribeClientQuotasRequest;
    type Response = DescribeClientQuotasResponse;
    const KEY: ApiKey = ApiKey::DescribeClientQuotas;
    const NAME: &'static str = "DescribeClientQuotas";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 1;

    async fn handle(
        ctx: RequestContext,
        request: DescribeClientQuotasRequest,
    ) -> Result<Reply<DescribeClientQuotasResponse>, HandlerError> {
        let refuse = |error: ResponseError, message: String| {
            Reply::Ready(
                DescribeClientQuotasResponse::default()
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(message)))
                    .with_entries(None),
            )
        };
        if !ctx.authz().allows_cluster(Operation::DescribeConfigs) {
            return Ok(refuse(
                ResponseError::ClusterAuthorizationFailed,
                NOT_AUTHORIZED.to_string(),
            ));
        }
        let filter = match Filter::parse(&request) {
            Ok(filter) => filter,
            Err((error, message)) => return Ok(refuse(error, message)),
        };
        let entries = describe(&ctx.server.metadata.state(), &filter);
        Ok(Reply::Ready(
            DescribeClientQuotasResponse::default()
                .with_error_message(None)
                .with_entries(Some(entries)),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        // Flexible from v1 (KIP-482).
        bounds::check(body, DESCRIBE_SCHEMA, api_version, api_version >= 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::alter_client_quotas_request::{EntityData, OpData};
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
    use myelin_cluster::MetadataOffset;

    fn entry(parts: &[(&str, Option<&str>)], ops: &[(&str, f64, bool)]) -> AlterEntry {
        AlterEntry::default()
            .with_entity(
                parts
                    .iter()
                    .map(|(t, n)| {
                        EntityData::default()
                            .with_entity_type(StrBytes::from_string(t.to_string()))
                            .with_entity_name(n.map(|n| StrBytes::from_string(n.to_string())))
                    })
                    .collect(),
            )
            .with_ops(
                ops.iter()
                    .map(|(k, v, remove)| {
                        OpData::default()
                            .with_key(StrBytes::from_string(k.to_string()))
                            .with_value(*v)
                            .with_remove(*remove)
                    })
                    .collect(),
            )
    }

    #[test]
    fn entities_are_checked_and_ordered() {
        assert!(entity_of(&entry(&[("ip", Some("10.0.0.1"))], &[])).is_ok());
        assert!(entity_of(&entry(&[("ip", Some("::1"))], &[])).is_ok());
        assert!(entity_of(&entry(&[("ip", None)], &[])).is_ok());
        let ok = entity_of(&entry(&[("user", Some("a")), ("client-id", None)], &[])).unwrap();
        assert_eq!(ok[0].entity_type, "client-id");
        assert_eq!(ok[1].entity_name.as_deref(), Some("a"));
        for bad in [
            entry(&[], &[]),
            entry(&[("user", Some("a")), ("user", Some("b"))], &[]),
            entry(&[("user", Some(""))], &[]),
            entry(&[("group", Some("g"))], &[]),
            entry(&[("ip", Some("not-an-address"))], &[]),
            entry(&[("ip", Some("10.0.0.1")), ("user", Some("a"))], &[]),
        ] {
            assert!(entity_of(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn operations_are_checked() {
        let none = BTreeMap::new();
        let set =
            |ops: &[(&str, f64, bool)]| apply_ops(&entry(&[("user", None)], ops), false, &none);
        let set_ip =
            |ops: &[(&str, f64, bool)]| apply_ops(&entry(&[("ip", None)], ops), true, &none);
        assert!(set_ip(&[("connection_creation_rate", 10.0, false)]).is_ok());
        assert!(set_ip(&[("connection_creation_rate", 10.5, false)]).is_err());
        assert!(set_ip(&[("producer_byte_rate", 10.0, false)]).is_err());
        let got = set(&[
            ("producer_byte_rate", 1024.0, false),
            ("request_percentage", 12.5, false),
            ("controller_mutation_rate", 0.5, false),
        ])
        .unwrap();
        assert_eq!(got["controller_mutation_rate"], QuotaValue(0.5));
        assert_eq!(got["producer_byte_rate"], QuotaValue(1024.0));
        assert_eq!(got["request_percentage"], QuotaValue(12.5));
        // Removing what is not set is fine.
        assert!(set(&[("consumer_byte_rate", 0.0, true)])
            .unwrap()
            .is_empty());
        for bad in [
            vec![("producer_byte_rate", 1.5, false)],
            vec![("producer_byte_rate", 0.0, false)],
            vec![("consumer_byte_rate", -5.0, false)],
            vec![("consumer_byte_rate", f64::NAN, false)],
            vec![("connection_creation_rate", 10.0, false)],
            vec![("no_such_quota", 10.0, false)],
            vec![
                ("producer_byte_rate", 10.0, false),
                ("producer_byte_rate", 0.0, true),
            ],
        ] {
            assert!(set(&bad).is_err(), "{bad:?}");
        }
    }

    fn component(t: &str, match_type: i8, m: Option<&str>) -> ComponentData {
        ComponentData::default()
            .with_entity_type(StrBytes::from_string(t.to_string()))
            .with_match_type(match_type)
            .with_match(m.map(|m| StrBytes::from_string(m.to_string())))
    }

    #[test]
    fn describe_filters_as_kafka_does() {
        let mut state = MetadataState::new();
        let part = |t: &str, n: Option<&str>| QuotaEntityPart {
            entity_type: t.into(),
            entity_name: n.map(Into::into),
        };
        let entities = [
            vec![part("user", Some("alice"))],
            vec![part("user", None)],
            vec![part("client-id", Some("app")), part("user", Some("alice"))],
            vec![part("client-id", Some("app"))],
        ];
        let changes = entities
            .iter()
            .map(|e| ClientQuotaChange {
                entity: e.clone(),
                quotas: BTreeMap::from([("producer_byte_rate".into(), QuotaValue(1.0))]),
            })
            .collect();
        state
            .apply(
                MetadataOffset(0),
                &MetadataRecord::ClientQuotasAltered { changes },
            )
            .unwrap();
        let found = |components: Vec<ComponentData>, strict: bool| {
            let request = DescribeClientQuotasRequest::default()
                .with_components(components)
                .with_strict(strict);
            let filter = Filter::parse(&request).unwrap();
            describe(&state, &filter).len()
        };
        assert_eq!(found(vec![], false), 4);
        assert_eq!(found(vec![], true), 0);
        assert_eq!(
            found(vec![component("user", MATCH_EXACT, Some("alice"))], false),
            2
        );
        assert_eq!(
            found(vec![component("user", MATCH_EXACT, Some("alice"))], true),
            1
        );
        assert_eq!(
            found(vec![component("user", MATCH_DEFAULT, None)], false),
            1
        );
        assert_eq!(
            found(vec![component("user", MATCH_SPECIFIED, None)], false),
            3
        );
        assert_eq!(
            found(vec![component("client-id", MATCH_SPECIFIED, None)], true),
            1
        );
        assert_eq!(
            found(
                vec![
                    component("user", MATCH_SPECIFIED, None),
                    component("client-id", MATCH_EXACT, Some("app"))
                ],
                true
            ),
            1
        );
        for (bad, error) in [
            (
                vec![component("user", MATCH_EXACT, None)],
                ResponseError::InvalidRequest,
            ),
            (
                vec![component("user", MATCH_DEFAULT, Some("a"))],
                ResponseError::InvalidRequest,
            ),
            (
                vec![component("user", 7, None)],
                ResponseError::InvalidRequest,
            ),
            (
                vec![
                    component("user", MATCH_DEFAULT, None),
                    component("user", MATCH_SPECIFIED, None),
                ],
                ResponseError::InvalidRequest,
            ),
            (
                vec![
                    component("ip", MATCH_DEFAULT, None),
                    component("user", MATCH_SPECIFIED, None),
                ],
                ResponseError::InvalidRequest,
            ),
            (
                vec![component("group", MATCH_DEFAULT, None)],
                ResponseError::UnsupportedVersion,
            ),
        ] {
            let request = DescribeClientQuotasRequest::default().with_components(bad);
            assert_eq!(Filter::parse(&request).unwrap_err().0, error);
        }
    }
}
