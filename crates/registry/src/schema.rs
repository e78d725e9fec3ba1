//! Schemas: their types, parsing, the form kept and compared, and compatibility.

use std::fmt;
use std::str::FromStr;

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema as Avro;

/// A schema's format. Protobuf is not supported (there is no Protobuf parser here to
/// check one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SchemaType {
    Avro,
    Json,
}

impl SchemaType {
    /// The name in the API and in `_schemas` (`schemaType`).
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
        }
    }

    /// `schemaType` as stored: absent for Avro.
    pub fn stored(self) -> Option<String> {
        match self {
            SchemaType::Avro => None,
            t => Some(t.name().to_string()),
        }
    }

    /// From `schemaType`, absent meaning Avro.
    pub fn parse(name: Option<&str>) -> Result<Self, SchemaError> {
        match name {
            None => Ok(SchemaType::Avro),
            Some(n) => n.parse(),
        }
    }
}

impl FromStr for SchemaType {
    type Err = SchemaError;
    fn from_str(s: &str) -> Result<Self, SchemaError> {
        match s.to_ascii_uppercase().as_str() {
            "AVRO" => Ok(SchemaType::Avro),
            "JSON" => Ok(SchemaType::Json),
            "PROTOBUF" => Err(SchemaError::Invalid(
                "PROTOBUF schemas are not supported by this registry".into(),
            )),
            _ => Err(SchemaError::Invalid(format!("unknown schema type {s}"))),
        }
    }
}

impl fmt::Display for SchemaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a schema was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("Invalid schema: {0}")]
    Invalid(String),
}

/// A schema checked and put in the form the registry keeps: compact JSON with its object
/// keys sorted, so that the same schema written with other spacing or key order is the
/// same schema (and gets the same id).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub schema_type: SchemaType,
    /// The kept text.
    pub text: String,
    avro: Option<Avro>,
    json: Option<serde_json::Value>,
}

/// Parses `text` as a schema of `schema_type`; `references` are the texts of the schemas
/// it refers to, in order (Avro named types defined elsewhere).
pub fn parse(
    schema_type: SchemaType,
    text: &str,
    references: &[String],
) -> Result<Parsed, SchemaError> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| SchemaError::Invalid(format!("not JSON: {e}")))?;
    let kept = serde_json::to_string(&json).expect("a JSON value serializes");
    match schema_type {
        SchemaType::Avro => {
            // apache-avro panics on some malformed names instead of returning an error:
            // they are refused here first.
            check_avro_names(&json)?;
            for r in references {
                let r: serde_json::Value = serde_json::from_str(r)
                    .map_err(|e| SchemaError::Invalid(format!("a reference is not JSON: {e}")))?;
                check_avro_names(&r)?;
            }
            let avro = if references.is_empty() {
                Avro::parse_str(&kept)
            } else {
                Avro::parse_str_with_list(&kept, references).map(|(s, _)| s)
            }
            .map_err(|e| SchemaError::Invalid(e.to_string()))?;
            Ok(Parsed {
                schema_type,
                text: kept,
                avro: Some(avro),
                json: None,
            })
        }
        SchemaType::Json => {
            if !(json.is_object() || json.is_boolean()) {
                return Err(SchemaError::Invalid(
                    "a JSON schema is an object or a boolean".into(),
                ));
            }
            Ok(Parsed {
                schema_type,
                text: kept,
                avro: None,
                json: Some(json),
            })
        }
    }
}

/// Whether `name` is an Avro name or full name: dot-separated parts of
/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_avro_name(name: &str) -> bool {
    name.split('.').all(|part| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Checks every name, namespace, alias and type reference of an Avro schema (not its
/// default values, which are data), so that the parser is only given well-formed ones.
fn check_avro_names(schema: &serde_json::Value) -> Result<(), SchemaError> {
    use serde_json::Value;
    /// Nesting deeper than this is refused (and would not be a schema anyone writes).
    const MAX_DEPTH: usize = 64;
    fn name(v: &Value, what: &str) -> Result<(), SchemaError> {
        match v {
            Value::String(n) if is_avro_name(n) => Ok(()),
            other => Err(SchemaError::Invalid(format!("invalid {what}: {other}"))),
        }
    }
    fn walk(v: &Value, depth: usize) -> Result<(), SchemaError> {
        if depth > MAX_DEPTH {
            return Err(SchemaError::Invalid(
                "the schema is nested too deeply".into(),
            ));
        }
        match v {
            Value::String(_) => name(v, "type name"),
            Value::Array(branches) => branches.iter().try_for_each(|b| walk(b, depth + 1)),
            Value::Object(o) => {
                if let Some(n) = o.get("name") {
                    name(n, "name")?;
                }
                if let Some(ns) = o.get("namespace") {
                    if ns.as_str() != Some("") {
                        name(ns, "namespace")?;
                    }
                }
                if let Some(aliases) = o.get("aliases").and_then(Value::as_array) {
                    aliases.iter().try_for_each(|a| name(a, "alias"))?;
                }
                if let Some(t) = o.get("type") {
                    walk(t, depth + 1)?;
                }
                for key in ["items", "values"] {
                    if let Some(t) = o.get(key) {
                        walk(t, depth + 1)?;
                    }
                }
                if let Some(fields) = o.get("fields").and_then(Value::as_array) {
                    for f in fields {
                        if let Some(n) = f.get("name") {
                            name(n, "field name")?;
                        }
                        if let Some(aliases) = f.get("aliases").and_then(Value::as_array) {
                            aliases.iter().try_for_each(|a| name(a, "alias"))?;
                        }
                        if let Some(t) = f.get("type") {
                            walk(t, depth + 1)?;
                        }
                    }
                }
                Ok(())
            }
            other => Err(SchemaError::Invalid(format!("not an Avro schema: {other}"))),
        }
    }
    walk(schema, 0)
}

impl Parsed {
    /// The fully qualified record name that `RecordNameStrategy` makes a subject of: an
    /// Avro named type's full name, a JSON schema's `title`.
    pub fn record_name(&self) -> Option<String> {
        if let Some(avro) = &self.avro {
            return avro.name().map(|n| n.fullname(None));
        }
        self.json
            .as_ref()
            .and_then(|j| j.get("title"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
    }

    /// Whether data written with `writer` can be read with this schema. Avro follows
    /// Avro's schema resolution; a JSON schema reads what validates under it, which
    /// [`crate::json_compat::subsumes`] decides conservatively.
    pub fn can_read(&self, writer: &Parsed) -> Result<(), String> {
        if self.schema_type != writer.schema_type {
            return Err(format!(
                "the schema types differ: {} and {}",
                self.schema_type, writer.schema_type
            ));
        }
        match (&self.avro, &writer.avro) {
            (Some(reader), Some(writer)) => {
                SchemaCompatibility::can_read(writer, reader).map_err(|e| e.to_string())
            }
            _ => match (&self.json, &writer.json) {
                (Some(reader), Some(writer)) if crate::json_compat::subsumes(reader, writer) => {
                    Ok(())
                }
                _ => Err(
                    "a document valid under the writer's JSON schema may not be valid \
                     under the reader's (with the default open content model a new property \
                     is not compatible: close it with \"additionalProperties\": false)"
                        .to_string(),
                ),
            },
        }
    }
}

/// A compatibility level, as Confluent names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compatibility {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Compatibility {
    pub const DEFAULT: Compatibility = Compatibility::Backward;

    pub fn name(self) -> &'static str {
        match self {
            Compatibility::None => "NONE",
            Compatibility::Backward => "BACKWARD",
            Compatibility::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Compatibility::Forward => "FORWARD",
            Compatibility::ForwardTransitive => "FORWARD_TRANSITIVE",
            Compatibility::Full => "FULL",
            Compatibility::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Whether every earlier version is checked, not only the latest.
    pub fn transitive(self) -> bool {
        matches!(
            self,
            Compatibility::BackwardTransitive
                | Compatibility::ForwardTransitive
                | Compatibility::FullTransitive
        )
    }

    /// Checks `new` against one earlier version.
    pub fn check(self, new: &Parsed, old: &Parsed) -> Result<(), String> {
        let backward = || new.can_read(old).map_err(|e| format!("backward: {e}"));
        let forward = || old.can_read(new).map_err(|e| format!("forward: {e}"));
        match self {
            Compatibility::None => Ok(()),
            Compatibility::Backward | Compatibility::BackwardTransitive => backward(),
            Compatibility::Forward | Compatibility::ForwardTransitive => forward(),
            Compatibility::Full | Compatibility::FullTransitive => {
                backward()?;
                forward()
            }
        }
    }
}

impl FromStr for Compatibility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "NONE" => Compatibility::None,
            "BACKWARD" => Compatibility::Backward,
            "BACKWARD_TRANSITIVE" => Compatibility::BackwardTransitive,
            "FORWARD" => Compatibility::Forward,
            "FORWARD_TRANSITIVE" => Compatibility::ForwardTransitive,
            "FULL" => Compatibility::Full,
            "FULL_TRANSITIVE" => Compatibility::FullTransitive,
            _ => return Err(format!("Invalid compatibility level: {s}")),
        })
    }
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"type":"record","name":"Patient","namespace":"org.example",
        "fields":[{"name":"id","type":"string"}]}"#;
    const V2_DEFAULT: &str = r#"{"type":"record","name":"Patient","namespace":"org.example",
        "fields":[{"name":"id","type":"string"},{"name":"ward","type":"string","default":"none"}]}"#;
    const V2_NO_DEFAULT: &str = r#"{"type":"record","name":"Patient","namespace":"org.example",
        "fields":[{"name":"id","type":"string"},{"name":"ward","type":"string"}]}"#;

    fn avro(text: &str) -> Parsed {
        parse(SchemaType::Avro, text, &[]).unwrap()
    }

    #[test]
    fn the_kept_form_ignores_spacing_and_key_order() {
        let a = avro(r#"{"type": "record", "name": "A", "fields": []}"#);
        let b = avro(r#"{"fields":[],"name":"A","type":"record"}"#);
        assert_eq!(a.text, b.text);
        assert_eq!(a.record_name().as_deref(), Some("A"));
        assert_eq!(
            avro(V1).record_name().as_deref(),
            Some("org.example.Patient")
        );
        assert_eq!(avro(r#""string""#).record_name(), None);
    }

    #[test]
    fn invalid_schemas_are_refused() {
        for bad in [
            "nope",
            r#"{"type":"record","name":"x","fields":[{"name":"a","type":"nosuchtype"}]}"#,
            r#"{"type":"enum","name":"e"}"#,
        ] {
            assert!(parse(SchemaType::Avro, bad, &[]).is_err(), "{bad}");
        }
        // Names apache-avro would panic on are refused first.
        for bad in [
            r#"{"type":"record","name":"8R","fields":[]}"#,
            r#"{"type":"a-b"}"#,
            r#"["int","x y"]"#,
            r#"{"type":"record","name":"R","aliases":["1"],"fields":[]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"-"}}]}"#,
        ] {
            assert!(parse(SchemaType::Avro, bad, &[]).is_err(), "{bad}");
        }
        // Defaults are data: any string goes.
        assert!(parse(
            SchemaType::Avro,
            r#"{"type":"record","name":"R","namespace":"","fields":[{"name":"f","type":"string","default":"a-b c"}]}"#,
            &[]
        )
        .is_ok());
        assert!(parse(SchemaType::Json, "[1]", &[]).is_err());
        assert!(parse(SchemaType::Json, r#"{"type":"object"}"#, &[]).is_ok());
        assert!("PROTOBUF".parse::<SchemaType>().is_err());
    }

    #[test]
    fn levels_follow_avro_resolution() {
        let (v1, v2, bad) = (avro(V1), avro(V2_DEFAULT), avro(V2_NO_DEFAULT));
        // A new field with a default: the new reader reads old data (backward), and the
        // old reader ignores the new field (forward).
        assert!(Compatibility::Backward.check(&v2, &v1).is_ok());
        assert!(Compatibility::Full.check(&v2, &v1).is_ok());
        // Without a default, old data cannot be read with the new schema.
        assert!(Compatibility::Backward.check(&bad, &v1).is_err());
        assert!(Compatibility::Forward.check(&bad, &v1).is_ok());
        assert!(Compatibility::Full.check(&bad, &v1).is_err());
        assert!(Compatibility::None.check(&bad, &v1).is_ok());
        let int = avro(
            r#"{"type":"record","name":"Patient","namespace":"org.example","fields":[{"name":"id","type":"int"}]}"#,
        );
        assert!(Compatibility::Backward.check(&int, &v1).is_err());
    }

    #[test]
    fn json_changes_by_content_model() {
        let json = |t: &str| parse(SchemaType::Json, t, &[]).unwrap();
        let a = json(r#"{"type":"object","title":"Visit","properties":{"id":{"type":"string"}}}"#);
        let b = json(r#"{"properties":{"id":{"type":"string"}},"title":"Visit","type":"object"}"#);
        let open_added = json(
            r#"{"type":"object","title":"Visit","properties":{"id":{"type":"string"},"n":{"type":"integer"}}}"#,
        );
        let closed = json(
            r#"{"type":"object","properties":{"id":{"type":"string"}},"additionalProperties":false}"#,
        );
        let closed_added = json(
            r#"{"type":"object","properties":{"id":{"type":"string"},"n":{"type":"integer"}},"additionalProperties":false}"#,
        );
        assert_eq!(a.record_name().as_deref(), Some("Visit"));
        assert!(Compatibility::Backward.check(&b, &a).is_ok());
        assert!(Compatibility::Backward.check(&open_added, &a).is_err());
        assert!(Compatibility::Forward.check(&open_added, &a).is_ok());
        assert!(Compatibility::Backward
            .check(&closed_added, &closed)
            .is_ok());
        assert!(Compatibility::Full.check(&closed_added, &closed).is_err());
        assert!(Compatibility::Backward.check(&avro(V1), &a).is_err());
    }

    #[test]
    fn level_names() {
        for l in [
            "NONE",
            "backward",
            "BACKWARD_TRANSITIVE",
            "FORWARD",
            "FORWARD_TRANSITIVE",
            "FULL",
            "FULL_TRANSITIVE",
        ] {
            let c: Compatibility = l.parse().unwrap();
            assert_eq!(c.name(), l.to_ascii_uppercase());
        }
        assert!("SIDEWAYS".parse::<Compatibility>().is_err());
    }
}
