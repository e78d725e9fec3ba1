//! AlterUserScramCredentials (key 51) and DescribeUserScramCredentials (key 50), v0
//! (KIP-554): the SCRAM credentials that SASL/SCRAM checks, kept in the metadata log, as
//! Kafka's `ScramControlManager` keeps them. `kafka-configs.sh --alter --add-config
//! 'SCRAM-SHA-256=[iterations=8192,password=...]' --entity-type users --entity-name alice`
//! sends the first; the client salts and hashes the password, so the broker never sees it.
//!
//! AlterUserScramCredentials, per user (a user named twice in one request gets
//! DUPLICATE_RESOURCE for all of it):
//! - an unknown mechanism: UNSUPPORTED_SASL_MECHANISM (33);
//! - an empty user, salt or salted password, or iterations outside 4096..=16384:
//!   UNACCEPTABLE_CREDENTIAL (93);
//! - deleting a credential that does not exist: RESOURCE_NOT_FOUND (91).
//!
//! DescribeUserScramCredentials lists each user's mechanisms and iterations (never the
//! keys): null or empty `users` means every user with a credential; a named user without
//! one gets RESOURCE_NOT_FOUND, a user named twice DUPLICATE_RESOURCE (92).
//!
//! Every change is written to the audit log. Without an authorizer any client that may
//! connect may alter and describe credentials, as on a Kafka broker without one; with it
//! (as Kafka), AlterUserScramCredentials needs CLUSTER ALTER, else every user named gets
//! CLUSTER_AUTHORIZATION_FAILED and nothing is written, and DescribeUserScramCredentials
//! CLUSTER DESCRIBE, else CLUSTER_AUTHORIZATION_FAILED at the top level and no results.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ApiKey,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use myelin_cluster::{MetadataRecord, ScramCredentialRecord};

use crate::apis::{Handler, Reply};
use crate::audit;
use crate::authz::Operation;
use crate::bounds::{self, all, Field, Ty};
use crate::context::RequestContext;
use crate::error::{metadata_error_code, HandlerError};
use crate::sasl::scram::{ScramCredential, MAX_ITERATIONS, MIN_ITERATIONS};
use crate::sasl::Mechanism;

/// AlterUserScramCredentials' layout, for [`bounds::check`].
const ALTER_SCHEMA: &[Field] = &[
    all(Ty::Structs(&[all(Ty::Str), all(Ty::Int8)])), // deletions: name, mechanism
    all(Ty::Structs(&[
        all(Ty::Str),   // name
        all(Ty::Int8),  // mechanism
        all(Ty::Int32), // iterations
        all(Ty::Bytes), // salt
        all(Ty::Bytes), // salted_password
    ])),
];

/// DescribeUserScramCredentials' layout, for [`bounds::check`].
const DESCRIBE_SCHEMA: &[Field] = &[all(Ty::Structs(&[all(Ty::Str)]))];

/// Kafka's message for a refused request.
const NOT_AUTHORIZED: &str = "Cluster authorization failed.";

/// One change a request asks for.
enum Change {
    Delete(Mechanism),
    Upsert(Mechanism, ScramCredential),
}

type Refusal = (ResponseError, String);

/// The AlterUserScramCredentials handler.
#[derive(Debug)]
pub struct AlterUserScramCredentials;

impl Handler for AlterUserScramCredentials {
    type Request = AlterUserScramCredentialsRequest;
    type Response = AlterUserScramCredentialsResponse;
    const KEY: ApiKey = ApiKey::AlterUserScramCredentials;
    const NAME: &'static str = "AlterUserScramCredentials";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 0;

    async fn handle(
        ctx: RequestContext,
        request: AlterUserScramCredentialsRequest,
    ) -> Result<Reply<AlterUserScramCredentialsResponse>, HandlerError> {
        if !ctx.authz().allows_cluster(Operation::Alter) {
            // Every user named, once, in name order, as Kafka answers a refused request.
            let users: BTreeSet<&str> = request
                .deletions
                .iter()
                .map(|d| d.name.as_str())
                .chain(request.upsertions.iter().map(|u| u.name.as_str()))
                .collect();
            let results = users
                .into_iter()
                .map(|user| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(StrBytes::from_string(user.to_string()))
                        .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
                        .with_error_message(Some(StrBytes::from_static_str(NOT_AUTHORIZED)))
                })
                .collect();
            return Ok(Reply::Ready(
                AlterUserScramCredentialsResponse::default().with_results(results),
            ));
        }
        // Users in the order first named, each with its change or refusal.
        let mut order: Vec<String> = Vec::new();
        let mut outcome: HashMap<String, Result<Change, Refusal>> = HashMap::new();
        let duplicate = || {
            Err((
                ResponseError::DuplicateResource,
                "A user credential cannot be altered twice in the same request".to_string(),
            ))
        };
        let _serialized = ctx.server.admin_lock.lock().await;
        let state = ctx.server.metadata.state();
        let mut add = |user: &str, change: Result<Change, Refusal>| match outcome.get(user) {
            None => {
                order.push(user.to_string());
                outcome.insert(user.to_string(), change);
            }
            Some(Err(_)) => {}
            Some(Ok(_)) => {
                outcome.insert(user.to_string(), duplicate());
            }
        };
        for d in &request.deletions {
            let user = d.name.as_str();
            let change = Mechanism::from_scram_type(d.mechanism)
                .ok_or_else(unknown_mechanism)
                .and_then(|m| {
                    if state.scram_credential(user, m.name()).is_none() {
                        Err((
                            ResponseError::ResourceNotFound,
                            "Attempt to delete a user credential that does not exist".to_string(),
                        ))
                    } else {
                        Ok(Change::Delete(m))
                    }
                });
            add(user, change);
        }
        for u in &request.upsertions {
            let user = u.name.as_str();
            let change = Mechanism::from_scram_type(u.mechanism)
                .ok_or_else(unknown_mechanism)
                .and_then(|m| {
                    let unacceptable =
                        |why: &str| Err((ResponseError::UnacceptableCredential, why.to_string()));
                    if user.is_empty() {
                        return unacceptable("Username must not be empty");
                    }
                    if u.iterations < MIN_ITERATIONS {
                        return unacceptable("Too few iterations");
                    }
                    if u.iterations > MAX_ITERATIONS {
                        return unacceptable("Too many iterations");
                    }
                    if u.salt.is_empty() || u.salted_password.is_empty() {
                        return unacceptable("The salt and the salted password must not be empty");
                    }
                    Ok(Change::Upsert(
                        m,
                        ScramCredential::from_salted_password(
                            m,
                            &u.salt,
                            &u.salted_password,
                            u.iterations,
                        ),
                    ))
                });
            add(user, change);
        }

        let mut results = Vec::with_capacity(order.len());
        for user in order {
            let (code, message) = match outcome.remove(&user) {
                Some(Ok(change)) => {
                    let (operation, record) = match change {
                        Change::Delete(m) => (
                            format!("delete {m} credential"),
                            MetadataRecord::ScramCredentialAltered {
                                user: user.clone(),
                                mechanism: m.name().to_string(),
                                credential: None,
                            },
                        ),
                        Change::Upsert(m, c) => (
                            format!("set {m} credential"),
                            MetadataRecord::ScramCredentialAltered {
                                user: user.clone(),
                                mechanism: m.name().to_string(),
                                credential: Some(ScramCredentialRecord {
                                    salt: c.salt,
                                    stored_key: c.stored_key,
                                    server_key: c.server_key,
                                    iterations: c.iterations,
                                }),
                            },
                        ),
                    };
                    let resource = format!("user {user:?}");
                    match crate::topics::commit(&ctx.server, record).await {
                        Ok(_) => {
                            audit::change(&ctx, &operation, &resource, None);
                            (0, None)
                        }
                        Err(e) => {
                            audit::change(&ctx, &operation, &resource, Some(&e.to_string()));
                            (metadata_error_code(&e).code(), Some(e.to_string()))
                        }
                    }
                }
                Some(Err((error, message))) => (error.code(), Some(message)),
                None => continue,
            };
            results.push(
                AlterUserScramCredentialsResult::default()
                    .with_user(StrBytes::from_string(user))
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string)),
            );
        }
        Ok(Reply::Ready(
            AlterUserScramCredentialsResponse::default().with_results(results),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, ALTER_SCHEMA, api_version, true)
    }
}

fn unknown_mechanism() -> Refusal {
    (
        ResponseError::UnsupportedSaslMechanism,
        "Unknown SCRAM mechanism".to_string(),
    )
}

/// The DescribeUserScramCredentials handler.
#[derive(Debug)]
pub struct DescribeUserScramCredentials;

impl Handler for DescribeUserScramCredentials {
    type Request = DescribeUserScramCredentialsRequest;
    type Response = DescribeUserScramCredentialsResponse;
    const KEY: ApiKey = ApiKey::DescribeUserScramCredentials;
    const NAME: &'static str = "DescribeUserScramCredentials";
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 0;

    async fn handle(
        ctx: RequestContext,
        request: DescribeUserScramCredentialsRequest,
    ) -> Result<Reply<DescribeUserScramCredentialsResponse>, HandlerError> {
        if !ctx.authz().allows_cluster(Operation::Describe) {
            return Ok(Reply::Ready(
                DescribeUserScramCredentialsResponse::default()
                    .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
                    .with_error_message(Some(StrBytes::from_static_str(NOT_AUTHORIZED))),
            ));
        }
        let state = ctx.server.metadata.state();
        let mut by_user: BTreeMap<&str, Vec<CredentialInfo>> = BTreeMap::new();
        for (user, mechanism, c) in state.scram_credentials() {
            let Some(code) = Mechanism::from_name(mechanism).and_then(Mechanism::scram_type) else {
                continue;
            };
            by_user.entry(user).or_default().push(
                CredentialInfo::default()
                    .with_mechanism(code)
                    .with_iterations(c.iterations),
            );
        }
        let found = |user: &str, infos: Vec<CredentialInfo>| {
            DescribeUserScramCredentialsResult::default()
                .with_user(StrBytes::from_string(user.to_string()))
                .with_credential_infos(infos)
        };
        let results = match request.users.as_deref() {
            None | Some([]) => by_user
                .iter()
                .map(|(user, infos)| found(user, infos.clone()))
                .collect(),
            Some(users) => {
                let mut count: HashMap<&str, usize> = HashMap::new();
                for u in users {
                    *count.entry(u.name.as_str()).or_default() += 1;
                }
                let mut seen = std::collections::HashSet::new();
                users
                    .iter()
                    .map(|u| u.name.as_str())
                    .filter(|u| seen.insert(*u))
                    .map(|user| {
                        let error = |e: ResponseError, message: String| {
                            DescribeUserScramCredentialsResult::default()
                                .with_user(StrBytes::from_string(user.to_string()))
                                .with_error_code(e.code())
                                .with_error_message(Some(StrBytes::from_string(message)))
                        };
                        if count[user] > 1 {
                            error(
                                ResponseError::DuplicateResource,
                                format!("Cannot describe SCRAM credentials for the same user twice in a single request: {user}"),
                            )
                        } else if let Some(infos) = by_user.get(user) {
                            found(user, infos.clone())
                        } else {
                            error(
                                ResponseError::ResourceNotFound,
                                format!("Attempt to describe a user credential that does not exist: {user}"),
                            )
                        }
                    })
                    .collect()
            }
        };
        Ok(Reply::Ready(
            DescribeUserScramCredentialsResponse::default().with_results(results),
        ))
    }

    fn check_request(api_version: i16, body: &[u8]) -> Result<(), String> {
        bounds::check(body, DESCRIBE_SCHEMA, api_version, true)
    }
}
