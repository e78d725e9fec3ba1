//! The schema registry's REST API: Confluent Schema Registry's endpoints, JSON and error
//! codes, so that its serializers (confluent-kafka, the Java serdes, kafkajs's
//! `@kafkajs/confluent-schema-registry`) and tools work unchanged. The state and the
//! rules are `myelin_registry`'s; the store is the server's `_schemas` topic
//! (`myelin_server::schemas`).
//!
//! Reads bring the view up to the topic first, on a blocking thread (they may read the
//! log). Request bodies are bounded by axum's default limit (2 MiB).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use myelin_registry::{
    Compatibility, Mode, Reference, Registration, Registry, RegistryError, StoreRecord, Stored,
    VersionSpec,
};
use myelin_server::authz::{authorize, Operation, ResourceType};
use myelin_server::ServerContext;

use crate::http::Peer;
use serde::Deserialize;
use serde_json::{json, Value};

/// Confluent's content type.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

type Ctx = State<Arc<ServerContext>>;

/// Who may use the API.
#[derive(Debug, Clone)]
struct Access {
    server: Arc<ServerContext>,
    /// HTTP Basic authentication against the Kafka listeners' users.
    basic: bool,
}

/// The API's routes. With `basic`, every request authenticates with HTTP Basic as a user
/// of the Kafka listeners (PLAIN's JAAS users, SCRAM credentials); with the broker's
/// authorizer on, reading needs READ and changing needs WRITE on the store's topic.
pub(crate) fn router(server: Arc<ServerContext>, basic: bool) -> Router {
    let access = Access {
        server: server.clone(),
        basic,
    };
    routes(server).layer(middleware::from_fn_with_state(access, authenticate))
}

/// The principal of a request, or the answer refusing it.
async fn authenticate(
    State(access): State<Access>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    request: Request,
    next: Next,
) -> Response {
    let server = access.server.clone();
    let credentials = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let user = if access.basic {
        let Some((user, password)) = credentials.as_deref().and_then(|c| c.split_once(':')) else {
            return unauthorized(peer, None);
        };
        let (user, password) = (user.to_string(), password.to_string());
        let checked = server.clone();
        let name = user.clone();
        let ok = tokio::task::spawn_blocking(move || {
            myelin_server::sasl::check_password(&checked, &name, &password)
        })
        .await
        .unwrap_or(false);
        if !ok {
            return unauthorized(peer, Some(&user));
        }
        Some(user)
    } else {
        None
    };
    let principal = user.as_deref().map_or_else(
        || "User:ANONYMOUS".to_string(),
        myelin_server::sasl::principal,
    );
    if let Some(config) = &server.config.authorizer {
        let writes = is_change(request.method(), request.uri().path());
        let operation = if writes {
            Operation::Write
        } else {
            Operation::Read
        };
        let topic = server.schemas.topic();
        let state = server.metadata.state();
        if !authorize(
            &state,
            config,
            &principal,
            peer.ip(),
            operation,
            ResourceType::Topic,
            topic,
        ) {
            tracing::warn!(
                target: "myelin::audit",
                event = "denied",
                principal = %principal,
                operation = operation.name(),
                resource = %format!("Topic:{topic}"),
                peer = %peer,
                method = %request.method(),
                path = request.uri().path(),
                "schema registry request denied"
            );
            return failure(RegistryError::forbidden(format!(
                "{principal} is not authorized to {} {topic}",
                operation.name()
            )));
        }
    }
    next.run(request).await
}

/// Whether a request changes the registry (the rest only read it: GETs, lookups and
/// compatibility checks).
fn is_change(method: &Method, path: &str) -> bool {
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => false,
        Method::POST => {
            // Lookups (POST /subjects/{subject}) and compatibility checks only read.
            let lookup = path.starts_with("/subjects/") && !path.ends_with("/versions");
            let check = path.starts_with("/compatibility/");
            !(lookup || check)
        }
        _ => true,
    }
}

fn unauthorized(peer: SocketAddr, user: Option<&str>) -> Response {
    tracing::warn!(
        target: "myelin::audit",
        event = "authentication",
        outcome = "failure",
        mechanism = "HTTP Basic",
        user = user.unwrap_or(""),
        peer = %peer,
        "schema registry authentication failed"
    );
    let mut r = failure(RegistryError::unauthorized());
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"myelin-schema-registry\""),
    );
    r
}

fn routes(server: Arc<ServerContext>) -> Router {
    Router::new()
        .route("/", get(|| async { reply(json!({})) }))
        .route(
            "/schemas/types",
            get(|| async { reply(json!(["JSON", "AVRO"])) }),
        )
        .route("/schemas", get(all_schemas))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_of_id))
        .route("/schemas/ids/{id}/versions", get(versions_of_id))
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route(
            "/subjects/{subject}/versions/{version}",
            get(version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(raw_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
        .route(
            "/config",
            get(get_global_setting::<Compatibility>)
                .put(set_global_config)
                .delete(delete_global_setting::<Compatibility>),
        )
        .route(
            "/config/{subject}",
            get(get_subject_setting::<Compatibility>)
                .put(set_subject_config)
                .delete(delete_subject_setting::<Compatibility>),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(check_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(check_version),
        )
        .route(
            "/mode",
            get(get_global_setting::<Mode>).put(set_global_mode),
        )
        .route(
            "/mode/{subject}",
            get(get_subject_setting::<Mode>)
                .put(set_subject_mode)
                .delete(delete_subject_setting::<Mode>),
        )
        .fallback(|| async { failure(RegistryError::not_found("HTTP 404 Not Found")) })
        .with_state(server)
}

fn reply(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

fn failure(e: RegistryError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::warn!(error = %e, "schema registry request failed");
    }
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        json!({"error_code": e.code, "message": e.message}).to_string(),
    )
        .into_response()
}

fn answer(r: Result<Value, RegistryError>) -> Response {
    match r {
        Ok(v) => reply(v),
        Err(e) => failure(e),
    }
}

/// The query string's parameters (the last of a name wins).
fn params(q: Option<String>) -> HashMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// A boolean parameter (`true`, `True`, `1`).
fn flag(p: &HashMap<String, String>, name: &str) -> bool {
    p.get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Runs `f` on the registry brought up to date, on a blocking thread.
async fn read<T: Send + 'static>(
    server: Arc<ServerContext>,
    f: impl FnOnce(&Registry) -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, RegistryError> {
    tokio::task::spawn_blocking(move || {
        let state = server.schemas.read(&server.partitions)?;
        f(&state)
    })
    .await
    .map_err(|e| RegistryError::store(e.to_string()))?
}

fn parse_id(id: &str) -> Result<i32, RegistryError> {
    id.parse()
        .map_err(|_| RegistryError::not_found(format!("Schema {id} not found")))
}

/// A schema as the API shows it, with the fields Confluent adds.
fn schema_json(stored: &Stored, mut extra: serde_json::Map<String, Value>) -> Value {
    extra.insert("schema".into(), json!(stored.text));
    if let Some(t) = stored.schema_type() {
        extra.insert("schemaType".into(), json!(t));
    }
    if !stored.references.is_empty() {
        extra.insert("references".into(), json!(stored.references));
    }
    Value::Object(extra)
}

fn version_json(subject: &str, version: i32, stored: &Stored) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("subject".into(), json!(subject));
    m.insert("version".into(), json!(version));
    m.insert("id".into(), json!(stored.id));
    schema_json(stored, m)
}

async fn all_schemas(State(s): Ctx, RawQuery(q): RawQuery) -> Response {
    let p = params(q);
    let deleted = flag(&p, "deleted");
    let latest = flag(&p, "latestOnly");
    let prefix = p.get("subjectPrefix").cloned().unwrap_or_default();
    answer(
        read(s, move |r| {
            let all: Vec<Value> = r
                .all_versions(&prefix, deleted, latest)
                .into_iter()
                .map(|(subject, n, stored)| version_json(subject, n, stored))
                .collect();
            Ok(json!(all))
        })
        .await,
    )
}

async fn referenced_by(
    State(s): Ctx,
    Path((subject, version)): Path<(String, String)>,
) -> Response {
    answer(
        async {
            let spec = VersionSpec::parse(&version)?;
            read(s, move |r| {
                let (n, _) = r.version(&subject, spec, false)?;
                Ok(json!(r.referenced_by(&subject, n)))
            })
            .await
        }
        .await,
    )
}

async fn schema_by_id(State(s): Ctx, Path(id): Path<String>) -> Response {
    answer(
        async {
            let id = parse_id(&id)?;
            read(s, move |r| {
                Ok(schema_json(r.schema(id)?, serde_json::Map::new()))
            })
            .await
        }
        .await,
    )
}

async fn raw_schema_by_id(State(s): Ctx, Path(id): Path<String>) -> Response {
    let r = async {
        let id = parse_id(&id)?;
        read(s, move |r| Ok(r.schema(id)?.text.clone())).await
    }
    .await;
    match r {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => failure(e),
    }
}

async fn subjects_of_id(State(s): Ctx, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let deleted = flag(&params(q), "deleted");
    answer(
        async {
            let id = parse_id(&id)?;
            read(s, move |r| {
                let mut subjects: Vec<String> = r
                    .versions_of_id(id, deleted)?
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
                subjects.dedup();
                Ok(json!(subjects))
            })
            .await
        }
        .await,
    )
}

async fn versions_of_id(State(s): Ctx, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let deleted = flag(&params(q), "deleted");
    answer(
        async {
            let id = parse_id(&id)?;
            read(s, move |r| {
                let pairs: Vec<Value> = r
                    .versions_of_id(id, deleted)?
                    .into_iter()
                    .map(|(s, v)| json!({"subject": s, "version": v}))
                    .collect();
                Ok(json!(pairs))
            })
            .await
        }
        .await,
    )
}

async fn subjects(State(s): Ctx, RawQuery(q): RawQuery) -> Response {
    let p = params(q);
    let deleted = flag(&p, "deleted");
    let prefix = p.get("subjectPrefix").cloned().unwrap_or_default();
    answer(read(s, move |r| Ok(json!(r.subjects(deleted, &prefix)))).await)
}

async fn versions(State(s): Ctx, Path(subject): Path<String>, RawQuery(q): RawQuery) -> Response {
    let deleted = flag(&params(q), "deleted");
    answer(read(s, move |r| Ok(json!(r.versions(&subject, deleted)?))).await)
}

async fn version(
    State(s): Ctx,
    Path((subject, version)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let deleted = flag(&params(q), "deleted");
    answer(
        async {
            let spec = VersionSpec::parse(&version)?;
            read(s, move |r| {
                let (n, stored) = r.version(&subject, spec, deleted)?;
                Ok(version_json(&subject, n, stored))
            })
            .await
        }
        .await,
    )
}

async fn raw_version(State(s): Ctx, Path((subject, version)): Path<(String, String)>) -> Response {
    let r = async {
        let spec = VersionSpec::parse(&version)?;
        read(s, move |r| {
            Ok(r.version(&subject, spec, false)?.1.text.clone())
        })
        .await
    }
    .await;
    match r {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => failure(e),
    }
}

/// A schema in a request body: `{"schema": ..., "schemaType": ..., "references": [...]}`
/// (other fields, such as `metadata` or `ruleSet`, are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaRequest {
    schema: String,
    #[serde(default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Option<Vec<Reference>>,
}

fn schema_request(body: &[u8]) -> Result<SchemaRequest, RegistryError> {
    request_body(body)
}

/// A JSON request body; unknown fields are ignored, as Confluent's registry ignores them.
fn request_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, RegistryError> {
    serde_json::from_slice(body)
        .map_err(|e| RegistryError::unprocessable(format!("Unrecognized request body: {e}")))
}

/// Appends the one record that `plan` makes to set a setting of the registry (`subject`
/// None) or of a subject, and audits it as `action` with `value`.
async fn store_setting(
    s: Arc<ServerContext>,
    subject: Option<String>,
    action: &'static str,
    value: &'static str,
    plan: impl FnOnce(&Registry, Option<&str>) -> StoreRecord + Send + 'static,
) -> Result<(), RegistryError> {
    let store = s.schemas.clone();
    let sub = subject.clone();
    store
        .change(&s, move |r| Ok(((), vec![plan(r, sub.as_deref())])))
        .await?;
    audit(action, subject.as_deref().unwrap_or("(global)"), value);
    Ok(())
}

async fn register(State(s): Ctx, Path(subject): Path<String>, body: Bytes) -> Response {
    let r = async {
        let req = schema_request(&body)?;
        let store = s.schemas.clone();
        let sub = subject.clone();
        let (id, version, new) = store
            .change(&s, move |r| {
                let refs = req.references.unwrap_or_default();
                let parsed = r.parse_request(req.schema_type.as_deref(), &req.schema, &refs)?;
                Ok(match r.plan_register(&sub, &parsed, &refs)? {
                    Registration::Existing { id, version } => ((id, version, false), vec![]),
                    Registration::New {
                        id,
                        version,
                        record,
                    } => ((id, version, true), vec![record]),
                })
            })
            .await?;
        if new {
            audit(
                "register",
                &subject,
                &format!("version {version}, schema id {id}"),
            );
        }
        Ok(json!({"id": id}))
    }
    .await;
    answer(r)
}

async fn lookup(
    State(s): Ctx,
    Path(subject): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let deleted = flag(&params(q), "deleted");
    answer(
        async {
            let req = schema_request(&body)?;
            read(s, move |r| {
                let refs = req.references.unwrap_or_default();
                // An unknown subject is 40401 even when the schema is invalid.
                r.versions(&subject, deleted)?;
                let parsed = r.parse_request(req.schema_type.as_deref(), &req.schema, &refs)?;
                let (n, stored) = r.lookup(&subject, &parsed, &refs, deleted)?;
                Ok(version_json(&subject, n, stored))
            })
            .await
        }
        .await,
    )
}

async fn delete_subject(
    State(s): Ctx,
    Path(subject): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let permanent = flag(&params(q), "permanent");
    let store = s.schemas.clone();
    let sub = subject.clone();
    let r = store
        .change(&s, move |r| r.plan_delete_subject(&sub, permanent))
        .await;
    if let Ok(versions) = &r {
        let how = if permanent { "permanently" } else { "soft" };
        audit(
            "delete subject",
            &subject,
            &format!("{how}: versions {versions:?}"),
        );
    }
    answer(r.map(|v| json!(v)))
}

async fn delete_version(
    State(s): Ctx,
    Path((subject, version)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let permanent = flag(&params(q), "permanent");
    let r = async {
        let spec = VersionSpec::parse(&version)?;
        let store = s.schemas.clone();
        let sub = subject.clone();
        let n = store
            .change(&s, move |r| {
                let (n, record) = r.plan_delete_version(&sub, spec, permanent)?;
                Ok((n, vec![record]))
            })
            .await?;
        let how = if permanent { "permanently" } else { "soft" };
        audit("delete version", &subject, &format!("{how}: version {n}"));
        Ok(json!(n))
    }
    .await;
    answer(r)
}

#[derive(Debug, Deserialize)]
struct ConfigRequest {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

async fn set_config(s: Arc<ServerContext>, subject: Option<String>, body: Bytes) -> Response {
    let r = async {
        let req: ConfigRequest = request_body(&body)?;
        let name = req
            .compatibility
            .or(req.compatibility_level)
            .ok_or_else(|| RegistryError::invalid_compatibility("none given"))?;
        let level: Compatibility = name
            .parse()
            .map_err(|_| RegistryError::invalid_compatibility(&name))?;
        store_setting(
            s,
            subject,
            "set compatibility",
            level.name(),
            move |r, sub| r.plan_config(sub, Some(level)),
        )
        .await?;
        Ok(json!({"compatibility": level.name()}))
    }
    .await;
    answer(r)
}

async fn set_global_config(State(s): Ctx, body: Bytes) -> Response {
    set_config(s, None, body).await
}

async fn set_subject_config(State(s): Ctx, Path(subject): Path<String>, body: Bytes) -> Response {
    set_config(s, Some(subject), body).await
}

async fn check(
    s: Arc<ServerContext>,
    subject: String,
    version: Option<String>,
    q: Option<String>,
    body: Bytes,
) -> Response {
    let verbose = flag(&params(q), "verbose");
    let r = async {
        let spec = version.as_deref().map(VersionSpec::parse).transpose()?;
        let req = schema_request(&body)?;
        read(s, move |r| {
            let refs = req.references.unwrap_or_default();
            let parsed = r.parse_request(req.schema_type.as_deref(), &req.schema, &refs)?;
            let problems = match spec {
                // Against all versions: every one, whatever the level's transitivity.
                None => {
                    let mut all = Vec::new();
                    for n in r.versions(&subject, false).unwrap_or_default() {
                        all.extend(r.incompatibilities(
                            &subject,
                            &parsed,
                            Some(VersionSpec::Number(n)),
                        )?);
                    }
                    all
                }
                Some(spec) => r.incompatibilities(&subject, &parsed, Some(spec))?,
            };
            let mut out = json!({"is_compatible": problems.is_empty()});
            if verbose {
                out["messages"] = json!(problems);
            }
            Ok(out)
        })
        .await
    }
    .await;
    answer(r)
}

async fn check_all(
    State(s): Ctx,
    Path(subject): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    check(s, subject, None, q, body).await
}

async fn check_version(
    State(s): Ctx,
    Path((subject, version)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    check(s, subject, Some(version), q, body).await
}

#[derive(Debug, Deserialize)]
struct ModeRequest {
    mode: String,
}

async fn set_mode(s: Arc<ServerContext>, subject: Option<String>, body: Bytes) -> Response {
    let r = async {
        let req: ModeRequest = request_body(&body)?;
        let mode: Mode = req.mode.parse()?;
        store_setting(s, subject, "set mode", mode.name(), move |r, sub| {
            r.plan_mode(sub, Some(mode))
        })
        .await?;
        Ok(json!({"mode": mode.name()}))
    }
    .await;
    answer(r)
}

async fn set_global_mode(State(s): Ctx, body: Bytes) -> Response {
    set_mode(s, None, body).await
}

async fn set_subject_mode(State(s): Ctx, Path(subject): Path<String>, body: Bytes) -> Response {
    set_mode(s, Some(subject), body).await
}

/// A setting of the registry or of a subject: a compatibility level or a mode.
trait Setting: Copy + Send + 'static {
    /// The field naming it in answers.
    const FIELD: &'static str;
    /// Its value where none is set.
    const DEFAULT: Self;
    /// What the audit log calls its removal.
    const DELETED: &'static str;
    fn name(self) -> &'static str;
    /// The value set for `subject` (None: the registry's).
    fn of(r: &Registry, subject: Option<&str>) -> Option<Self>;
    /// A subject without a value of its own.
    fn not_set(subject: &str) -> RegistryError;
    /// The record setting it (None: removing it).
    fn plan(r: &Registry, subject: Option<&str>, value: Option<Self>) -> StoreRecord;
}

impl Setting for Compatibility {
    const FIELD: &'static str = "compatibilityLevel";
    const DEFAULT: Self = Compatibility::DEFAULT;
    const DELETED: &'static str = "delete compatibility";
    fn name(self) -> &'static str {
        Compatibility::name(self)
    }
    fn of(r: &Registry, subject: Option<&str>) -> Option<Self> {
        r.config(subject)
    }
    fn not_set(subject: &str) -> RegistryError {
        RegistryError::subject_config_not_found(subject)
    }
    fn plan(r: &Registry, subject: Option<&str>, value: Option<Self>) -> StoreRecord {
        r.plan_config(subject, value)
    }
}

impl Setting for Mode {
    const FIELD: &'static str = "mode";
    const DEFAULT: Self = Mode::ReadWrite;
    const DELETED: &'static str = "delete mode";
    fn name(self) -> &'static str {
        Mode::name(self)
    }
    fn of(r: &Registry, subject: Option<&str>) -> Option<Self> {
        r.mode(subject)
    }
    fn not_set(subject: &str) -> RegistryError {
        RegistryError::subject_mode_not_found(subject)
    }
    fn plan(r: &Registry, subject: Option<&str>, value: Option<Self>) -> StoreRecord {
        r.plan_mode(subject, value)
    }
}

async fn get_global_setting<S: Setting>(State(s): Ctx) -> Response {
    answer(
        read(s, |r| {
            let value = S::of(r, None).unwrap_or(S::DEFAULT);
            Ok(json!({ S::FIELD: value.name() }))
        })
        .await,
    )
}

async fn get_subject_setting<S: Setting>(
    State(s): Ctx,
    Path(subject): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let to_global = flag(&params(q), "defaultToGlobal");
    answer(
        read(s, move |r| {
            let value = match S::of(r, Some(&subject)) {
                Some(v) => v,
                None if to_global => S::of(r, None).unwrap_or(S::DEFAULT),
                None => return Err(S::not_set(&subject)),
            };
            Ok(json!({ S::FIELD: value.name() }))
        })
        .await,
    )
}

/// Removes a setting; answers the value it had.
async fn delete_setting<S: Setting>(s: Arc<ServerContext>, subject: Option<String>) -> Response {
    let store = s.schemas.clone();
    let sub = subject.clone();
    let r = store
        .change(&s, move |r| {
            let previous = match (S::of(r, sub.as_deref()), &sub) {
                (Some(v), _) => v,
                (None, Some(name)) => return Err(RegistryError::subject_not_found(name)),
                (None, None) => S::DEFAULT,
            };
            Ok((previous, vec![S::plan(r, sub.as_deref(), None)]))
        })
        .await;
    if r.is_ok() {
        audit(S::DELETED, subject.as_deref().unwrap_or("(global)"), "");
    }
    answer(r.map(|v| json!({ S::FIELD: v.name() })))
}

async fn delete_global_setting<S: Setting>(State(s): Ctx) -> Response {
    delete_setting::<S>(s, None).await
}

async fn delete_subject_setting<S: Setting>(
    State(s): Ctx,
    Path(subject): Path<String>,
) -> Response {
    delete_setting::<S>(s, Some(subject)).await
}

/// An audit event for a change to the registry.
fn audit(action: &str, subject: &str, detail: &str) {
    tracing::info!(
        target: "myelin::audit",
        event = "schema registry",
        action,
        subject,
        detail,
        "schema registry change"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_changes() {
        let reads = [
            (Method::GET, "/subjects/a/versions"),
            (Method::POST, "/subjects/a"),
            (Method::POST, "/subjects/a%2Fversions"),
            (Method::POST, "/compatibility/subjects/a/versions/latest"),
            (Method::POST, "/compatibility/subjects/a/versions"),
        ];
        for (m, p) in reads {
            assert!(!is_change(&m, p), "{m} {p}");
        }
        let changes = [
            (Method::POST, "/subjects/a/versions"),
            (Method::PUT, "/config"),
            (Method::DELETE, "/subjects/a"),
            (Method::DELETE, "/config/a"),
        ];
        for (m, p) in changes {
            assert!(is_change(&m, p), "{m} {p}");
        }
    }

    #[test]
    fn query_parameters() {
        let p = params(Some("normalize=False&deleted=true&limit=-1&flag".into()));
        assert!(flag(&p, "deleted"));
        assert!(!flag(&p, "normalize"));
        assert!(!flag(&p, "flag"));
        assert!(!flag(&p, "absent"));
        assert_eq!(p.get("limit").map(String::as_str), Some("-1"));
    }
}
