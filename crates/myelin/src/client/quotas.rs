//! Client quota administration: AlterClientQuotas and DescribeClientQuotas (KIP-546), for
//! the quotas of users and client ids (KIP-55's `producer_byte_rate`,
//! `consumer_byte_rate` and KIP-124's `request_percentage`) and of IP addresses (KIP-612's
//! `connection_creation_rate`, a whole number of new connections per second).
//!
//! A quota entity is a user, a client id, a user and a client id together, or an IP
//! address alone (entity type `ip`; brokers refuse it combined with a user or a client
//! id); any part may be the default entity (Kafka's `<default>`, a null name on the wire).

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, ApiKey, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{check, ClientError, Connection};

/// The versions of AlterClientQuotas and DescribeClientQuotas this client speaks (both
/// APIs have v0 and v1; v1 is the flexible encoding of v0).
pub const VERSIONS: std::ops::RangeInclusive<i16> = 0..=1;

/// The entity type of users (KIP-55), as the wire spells it.
pub const USER: &str = "user";
/// The entity type of client ids, as the wire spells it.
pub const CLIENT_ID: &str = "client-id";
/// The entity type of IP addresses (KIP-612), as the wire spells it.
pub const IP: &str = "ip";

/// `match_type` of a DescribeClientQuotas component: the entity named in `match`.
const MATCH_EXACT: i8 = 0;
/// `match_type`: the default entity of the type.
const MATCH_DEFAULT: i8 = 1;
/// `match_type`: any entity with a part of the type (`MATCH_TYPE_SPECIFIED`).
const MATCH_SPECIFIED: i8 = 2;

/// The name of one part of a quota entity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuotaName {
    /// The default entity (Kafka's `<default>`; a null `entity_name` on the wire).
    Default,
    /// A named user, client id or IP address.
    Named(String),
}

impl QuotaName {
    fn to_wire(&self) -> Option<StrBytes> {
        match self {
            QuotaName::Default => None,
            QuotaName::Named(n) => Some(StrBytes::from_string(n.clone())),
        }
    }

    fn from_wire(name: Option<&StrBytes>) -> Self {
        name.map_or(QuotaName::Default, |n| QuotaName::Named(n.to_string()))
    }
}

/// A quota entity: a user, a client id, or both; or an IP address alone. At least one
/// part is set in any entity sent or received. Brokers refuse an `ip` part combined with
/// another (INVALID_REQUEST); one a broker lists so is decoded as it is. Entities order by
/// user, then client id, then IP address; a missing part first, then the default, then
/// names (so IP address entities, with neither a user nor a client id, come first).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuotaEntity {
    /// The user part (`user`), if any.
    pub user: Option<QuotaName>,
    /// The client id part (`client-id`), if any.
    pub client_id: Option<QuotaName>,
    /// The IP address part (`ip`), if any: an address such as `10.0.0.1` or `::1`, as
    /// given (brokers resolve or parse it; this client sends it unchanged).
    pub ip: Option<QuotaName>,
}

impl QuotaEntity {
    /// The wire's list of (entity_type, entity_name): the user first, then the client id,
    /// then the IP address.
    fn parts(&self) -> impl Iterator<Item = (&'static str, &QuotaName)> {
        let user = self.user.as_ref().map(|n| (USER, n));
        let client = self.client_id.as_ref().map(|n| (CLIENT_ID, n));
        let ip = self.ip.as_ref().map(|n| (IP, n));
        user.into_iter().chain(client).chain(ip)
    }

    /// The entity of a response's (entity_type, entity_name) list.
    fn from_wire<'a>(
        parts: impl IntoIterator<Item = (&'a StrBytes, Option<&'a StrBytes>)>,
    ) -> Result<Self, String> {
        let mut entity = QuotaEntity {
            user: None,
            client_id: None,
            ip: None,
        };
        for (entity_type, name) in parts {
            let slot = match &**entity_type {
                USER => &mut entity.user,
                CLIENT_ID => &mut entity.client_id,
                IP => &mut entity.ip,
                other => {
                    return Err(format!(
                        "a quota entity has the entity type {other:?}; this client knows {USER:?}, {CLIENT_ID:?} and {IP:?}"
                    ))
                }
            };
            if slot.is_some() {
                return Err(format!(
                    "a quota entity names the entity type {:?} twice",
                    &**entity_type
                ));
            }
            *slot = Some(QuotaName::from_wire(name));
        }
        if entity.parts().next().is_none() {
            return Err("a quota entity has no parts".to_string());
        }
        Ok(entity)
    }
}

/// One change to one quota of an entity.
#[derive(Debug, Clone, PartialEq)]
pub enum QuotaOp {
    /// Sets the quota `key` (for example `producer_byte_rate`, or `connection_creation_rate`
    /// for an IP address) to `value`.
    Set { key: String, value: f64 },
    /// Removes the quota `key`: the entity falls back to a less specific one.
    Remove { key: String },
}

/// The changes to one entity's quotas.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaAlteration {
    pub entity: QuotaEntity,
    pub ops: Vec<QuotaOp>,
}

/// Whether AlterClientQuotas applies its changes or only validates them
/// (`validate_only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterMode {
    Apply,
    ValidateOnly,
}

/// How a DescribeClientQuotas filter matches one entity type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaMatch {
    /// The entity with this name (`match_type` 0).
    Exact(String),
    /// The default entity (`match_type` 1).
    Default,
    /// Any entity with a part of this type (`match_type` 2). The schema calls it "any
    /// specified name", but Kafka's KRaft brokers (`ClientQuotasImage.describe`) and
    /// Myelin match the default entity too.
    Any,
}

/// A DescribeClientQuotas filter. With `strict`, only the entities with exactly the parts
/// filtered on match; without it, entities with further parts match too. No user, no
/// client id and no IP address without `strict` matches every entity. Brokers refuse a
/// filter on `ip` together with `user` or `client-id` (INVALID_REQUEST).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuotaFilter {
    pub user: Option<QuotaMatch>,
    pub client_id: Option<QuotaMatch>,
    pub ip: Option<QuotaMatch>,
    pub strict: bool,
}

/// The quotas of one entity, in the order the broker listed them.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaEntry {
    pub entity: QuotaEntity,
    /// (key, value) pairs: `producer_byte_rate`, `consumer_byte_rate`,
    /// `request_percentage`, ...; `connection_creation_rate` for an IP address.
    pub values: Vec<(String, f64)>,
}

/// The entity as errors name it: `user alice, client-id <default>`, `ip 10.0.0.1`,
/// `ip <default>`.
pub fn entity_text(entity: &QuotaEntity) -> String {
    entity
        .parts()
        .map(|(t, n)| match n {
            QuotaName::Default => format!("{t} <default>"),
            QuotaName::Named(n) => format!("{t} {n}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn alter_request(alterations: &[QuotaAlteration], mode: AlterMode) -> AlterClientQuotasRequest {
    let s = |x: &str| StrBytes::from_string(x.to_string());
    AlterClientQuotasRequest::default()
        .with_entries(
            alterations
                .iter()
                .map(|a| {
                    EntryData::default()
                        .with_entity(
                            a.entity
                                .parts()
                                .map(|(t, n)| {
                                    EntityData::default()
                                        .with_entity_type(s(t))
                                        .with_entity_name(n.to_wire())
                                })
                                .collect(),
                        )
                        .with_ops(
                            a.ops
                                .iter()
                                .map(|op| match op {
                                    QuotaOp::Set { key, value } => OpData::default()
                                        .with_key(s(key))
                                        .with_value(*value)
                                        .with_remove(false),
                                    QuotaOp::Remove { key } => OpData::default()
                                        .with_key(s(key))
                                        .with_value(0.0)
                                        .with_remove(true),
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
        .with_validate_only(mode == AlterMode::ValidateOnly)
}

fn describe_request(filter: &QuotaFilter) -> DescribeClientQuotasRequest {
    let component = |entity_type: &str, m: &QuotaMatch| {
        let (match_type, name) = match m {
            QuotaMatch::Exact(n) => (MATCH_EXACT, Some(StrBytes::from_string(n.clone()))),
            QuotaMatch::Default => (MATCH_DEFAULT, None),
            QuotaMatch::Any => (MATCH_SPECIFIED, None),
        };
        ComponentData::default()
            .with_entity_type(StrBytes::from_string(entity_type.to_string()))
            .with_match_type(match_type)
            .with_match(name)
    };
    let user = filter.user.as_ref().map(|m| component(USER, m));
    let client = filter.client_id.as_ref().map(|m| component(CLIENT_ID, m));
    let ip = filter.ip.as_ref().map(|m| component(IP, m));
    DescribeClientQuotasRequest::default()
        .with_components(user.into_iter().chain(client).chain(ip).collect())
        .with_strict(filter.strict)
}

/// The entries of a DescribeClientQuotas response (error code 0), ordered by entity.
fn describe_entries(response: &DescribeClientQuotasResponse) -> Result<Vec<QuotaEntry>, String> {
    let mut out = Vec::new();
    for e in response.entries.iter().flatten() {
        let entity = QuotaEntity::from_wire(
            e.entity
                .iter()
                .map(|p| (&p.entity_type, p.entity_name.as_ref())),
        )?;
        out.push(QuotaEntry {
            entity,
            values: e
                .values
                .iter()
                .map(|v| (v.key.to_string(), v.value))
                .collect(),
        });
    }
    out.sort_by(|a, b| a.entity.cmp(&b.entity));
    Ok(out)
}

impl Connection {
    /// The version of `key` to speak, with the API named in the error when there is none.
    fn quota_version(&self, key: ApiKey, name: &'static str) -> Result<i16, ClientError> {
        self.version(key, VERSIONS).map_err(|e| match e {
            ClientError::NoCommonVersion {
                address,
                ours,
                theirs,
                ..
            } => ClientError::NoCommonVersion {
                address,
                api: name,
                ours,
                theirs,
            },
            other => other,
        })
    }

    /// Alters the quotas of the entities in `alterations` (or, with
    /// [`AlterMode::ValidateOnly`], only has the broker validate the changes). The first
    /// entity the broker refused is the error ([`ClientError::Kafka`], with the broker's
    /// message: INVALID_REQUEST for a quota key it does not know).
    pub async fn alter_client_quotas(
        &mut self,
        alterations: &[QuotaAlteration],
        mode: AlterMode,
    ) -> Result<(), ClientError> {
        let version = self.quota_version(ApiKey::AlterClientQuotas, "AlterClientQuotas")?;
        let response = self
            .call(version, &alter_request(alterations, mode))
            .await?;
        for entry in &response.entries {
            check(entry.error_code, entry.error_message.as_ref(), || {
                let entity = QuotaEntity::from_wire(
                    entry
                        .entity
                        .iter()
                        .map(|p| (&p.entity_type, p.entity_name.as_ref())),
                );
                match entity {
                    Ok(e) => format!("altering the quotas of {}", entity_text(&e)),
                    Err(_) => "altering client quotas".to_string(),
                }
            })?;
        }
        Ok(())
    }

    /// The quotas of the entities matching `filter`, ordered by entity (see
    /// [`QuotaEntity`]).
    pub async fn describe_client_quotas(
        &mut self,
        filter: &QuotaFilter,
    ) -> Result<Vec<QuotaEntry>, ClientError> {
        let version = self.quota_version(ApiKey::DescribeClientQuotas, "DescribeClientQuotas")?;
        let response = self.call(version, &describe_request(filter)).await?;
        check(response.error_code, response.error_message.as_ref(), || {
            "describing client quotas".to_string()
        })?;
        describe_entries(&response).map_err(|reason| self.protocol(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::describe_client_quotas_response;
    use kafka_protocol::protocol::{Decodable, Encodable};

    fn named(n: &str) -> QuotaName {
        QuotaName::Named(n.to_string())
    }

    /// Encodes and decodes `r` at every version, so that the nulls that reach the wire
    /// are what is checked (a nullable string left at its default would be `""`).
    fn round_trips<R: Encodable + Decodable + PartialEq + std::fmt::Debug>(r: &R) -> Vec<R> {
        VERSIONS
            .map(|v| {
                let mut buf = BytesMut::new();
                r.encode(&mut buf, v).unwrap();
                let back = R::decode(&mut buf.freeze(), v).unwrap();
                assert_eq!(&back, r, "v{v}");
                back
            })
            .collect()
    }

    /// An entry's entity parts as (type, name).
    fn parts_of(entry: &EntryData) -> Vec<(String, Option<StrBytes>)> {
        entry
            .entity
            .iter()
            .map(|p| (p.entity_type.to_string(), p.entity_name.clone()))
            .collect()
    }

    /// An entry's operations as (key, value, remove).
    fn ops_of(entry: &EntryData) -> Vec<(String, f64, bool)> {
        entry
            .ops
            .iter()
            .map(|o| (o.key.to_string(), o.value, o.remove))
            .collect()
    }

    #[test]
    fn alterations_put_the_user_first_and_null_for_the_default() {
        let request = alter_request(
            &[QuotaAlteration {
                entity: QuotaEntity {
                    user: Some(QuotaName::Default),
                    client_id: Some(named("c1")),
                    ip: None,
                },
                ops: vec![
                    QuotaOp::Set {
                        key: "producer_byte_rate".into(),
                        value: 1024.5,
                    },
                    QuotaOp::Remove {
                        key: "request_percentage".into(),
                    },
                ],
            }],
            AlterMode::ValidateOnly,
        );
        for r in round_trips(&request) {
            assert!(r.validate_only);
            let entry = &r.entries[0];
            assert_eq!(
                parts_of(entry),
                vec![
                    ("user".to_string(), None),
                    (
                        "client-id".to_string(),
                        Some(StrBytes::from_static_str("c1"))
                    ),
                ]
            );
            assert_eq!(
                ops_of(entry),
                vec![
                    ("producer_byte_rate".to_string(), 1024.5, false),
                    ("request_percentage".to_string(), 0.0, true),
                ]
            );
        }
    }

    #[test]
    fn ip_alterations_name_the_address_or_null_for_the_default() {
        let ip = |name: QuotaName| QuotaAlteration {
            entity: QuotaEntity {
                user: None,
                client_id: None,
                ip: Some(name),
            },
            ops: vec![QuotaOp::Set {
                key: "connection_creation_rate".into(),
                value: 5.0,
            }],
        };
        let request = alter_request(
            &[ip(named("10.0.0.1")), ip(QuotaName::Default)],
            AlterMode::Apply,
        );
        for r in round_trips(&request) {
            assert!(!r.validate_only);
            let entities: Vec<_> = r.entries.iter().map(parts_of).collect();
            assert_eq!(
                entities,
                vec![
                    vec![(
                        "ip".to_string(),
                        Some(StrBytes::from_static_str("10.0.0.1"))
                    )],
                    vec![("ip".to_string(), None)],
                ]
            );
            assert_eq!(
                ops_of(&r.entries[0]),
                vec![("connection_creation_rate".to_string(), 5.0, false)]
            );
        }
    }

    #[test]
    fn filters_become_components_with_null_matches() {
        let parts = |f: &QuotaFilter| {
            let r = describe_request(f);
            round_trips(&r);
            let c: Vec<_> = r
                .components
                .iter()
                .map(|c| (c.entity_type.to_string(), c.match_type, c._match.clone()))
                .collect();
            (c, r.strict)
        };
        assert_eq!(parts(&QuotaFilter::default()), (vec![], false));
        assert_eq!(
            parts(&QuotaFilter {
                user: Some(QuotaMatch::Exact("alice".into())),
                client_id: Some(QuotaMatch::Default),
                ip: None,
                strict: true,
            }),
            (
                vec![
                    ("user".into(), 0, Some(StrBytes::from_static_str("alice"))),
                    ("client-id".into(), 1, None),
                ],
                true
            )
        );
        assert_eq!(
            parts(&QuotaFilter {
                user: None,
                client_id: Some(QuotaMatch::Any),
                ip: None,
                strict: false,
            }),
            (vec![("client-id".into(), 2, None)], false)
        );
        let ip = |m: QuotaMatch| QuotaFilter {
            ip: Some(m),
            strict: true,
            ..QuotaFilter::default()
        };
        assert_eq!(
            parts(&ip(QuotaMatch::Exact("::1".into()))),
            (
                vec![("ip".into(), 0, Some(StrBytes::from_static_str("::1")))],
                true
            )
        );
        assert_eq!(
            parts(&ip(QuotaMatch::Default)),
            (vec![("ip".into(), 1, None)], true)
        );
        assert_eq!(
            parts(&ip(QuotaMatch::Any)),
            (vec![("ip".into(), 2, None)], true)
        );
    }

    fn response_entry(
        parts: &[(&'static str, Option<&'static str>)],
        values: &[(&'static str, f64)],
    ) -> describe_client_quotas_response::EntryData {
        describe_client_quotas_response::EntryData::default()
            .with_entity(
                parts
                    .iter()
                    .map(|(t, n)| {
                        describe_client_quotas_response::EntityData::default()
                            .with_entity_type(StrBytes::from_static_str(t))
                            .with_entity_name(n.map(StrBytes::from_static_str))
                    })
                    .collect(),
            )
            .with_values(
                values
                    .iter()
                    .map(|(k, v)| {
                        describe_client_quotas_response::ValueData::default()
                            .with_key(StrBytes::from_static_str(k))
                            .with_value(*v)
                    })
                    .collect(),
            )
    }

    #[test]
    fn described_entries_are_decoded_and_ordered_by_entity() {
        let response = DescribeClientQuotasResponse::default().with_entries(Some(vec![
            response_entry(
                &[("client-id", Some("c1")), ("user", Some("alice"))],
                &[("consumer_byte_rate", 2048.0), ("producer_byte_rate", 1.0)],
            ),
            response_entry(&[("user", None)], &[("request_percentage", 50.0)]),
            response_entry(&[("client-id", Some("c0"))], &[("producer_byte_rate", 7.0)]),
        ]));
        let entries = describe_entries(&response).unwrap();
        let entities: Vec<_> = entries.iter().map(|e| entity_text(&e.entity)).collect();
        assert_eq!(
            entities,
            vec!["client-id c0", "user <default>", "user alice, client-id c1"]
        );
        assert_eq!(
            entries[2].values,
            vec![
                ("consumer_byte_rate".to_string(), 2048.0),
                ("producer_byte_rate".to_string(), 1.0)
            ]
        );
        let none = DescribeClientQuotasResponse::default().with_entries(None);
        assert_eq!(describe_entries(&none).unwrap(), vec![]);
    }

    #[test]
    fn described_ip_entities_are_decoded_and_ordered_first() {
        let response = DescribeClientQuotasResponse::default().with_entries(Some(vec![
            response_entry(&[("user", Some("alice"))], &[("producer_byte_rate", 1.0)]),
            response_entry(
                &[("ip", Some("10.0.0.1"))],
                &[("connection_creation_rate", 5.0)],
            ),
            response_entry(&[("client-id", None)], &[("producer_byte_rate", 2.0)]),
            response_entry(&[("ip", None)], &[("connection_creation_rate", 100.0)]),
        ]));
        let entries = describe_entries(&response).unwrap();
        let entities: Vec<_> = entries.iter().map(|e| entity_text(&e.entity)).collect();
        assert_eq!(
            entities,
            vec![
                "ip <default>",
                "ip 10.0.0.1",
                "client-id <default>",
                "user alice"
            ]
        );
        assert_eq!(
            entries[1],
            QuotaEntry {
                entity: QuotaEntity {
                    user: None,
                    client_id: None,
                    ip: Some(named("10.0.0.1")),
                },
                values: vec![("connection_creation_rate".to_string(), 5.0)],
            }
        );
        assert_eq!(entries[0].entity.ip, Some(QuotaName::Default));
    }

    #[test]
    fn unknown_or_repeated_entity_types_are_errors() {
        let response = |parts| {
            DescribeClientQuotasResponse::default()
                .with_entries(Some(vec![response_entry(parts, &[])]))
        };
        let err = describe_entries(&response(&[("group", Some("g1"))])).unwrap_err();
        assert!(err.contains("\"group\""), "{err}");
        let err =
            describe_entries(&response(&[("ip", Some("10.0.0.1")), ("group", None)])).unwrap_err();
        assert!(err.contains("\"group\""), "{err}");
        let err = describe_entries(&response(&[("user", Some("a")), ("user", None)])).unwrap_err();
        assert!(err.contains("twice"), "{err}");
        let err =
            describe_entries(&response(&[("ip", Some("10.0.0.1")), ("ip", None)])).unwrap_err();
        assert!(err.contains("\"ip\" twice"), "{err}");
        assert!(describe_entries(&response(&[])).is_err());
    }
}
