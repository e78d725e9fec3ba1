//! Arbitrary bytes as records of `_schemas` and as schemas given to the registry's API
//! (`myelin_registry`): applying, parsing, checking compatibility and checking a produced
//! field must never panic. The input is split at its first two 0xff bytes into a key, a
//! value and a field (a schema text, a produced record's value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_registry::{Registry, SchemaType, SubjectStrategy, VersionSpec};

const SEED_KEY: &[u8] = br#"{"keytype":"SCHEMA","subject":"t-value","version":1,"magic":1}"#;
const SEED_VALUE: &[u8] = br#"{"subject":"t-value","version":1,"id":1,"schema":"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}","deleted":false}"#;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0xff);
    let key = parts.next().unwrap_or_default();
    let value = parts.next();
    let field = parts.next().unwrap_or_default();
    let mut registry = Registry::new();
    registry.apply(Some(SEED_KEY), Some(SEED_VALUE));
    registry.apply(Some(key), value);
    registry.apply(Some(key), None);
    for strategy in [
        SubjectStrategy::TopicName,
        SubjectStrategy::RecordName,
        SubjectStrategy::TopicRecordName,
    ] {
        let _ = registry.check_field("t", false, strategy, Some(field));
    }
    // The value as a referenced schema of the field (Avro named types defined elsewhere).
    if let (Ok(text), Some(Ok(reference))) =
        (std::str::from_utf8(field), value.map(std::str::from_utf8))
    {
        let _ = myelin_registry::schema::parse(SchemaType::Avro, text, &[reference.to_string()]);
    }
    if let Ok(text) = std::str::from_utf8(field) {
        for t in [None, Some("JSON"), Some("PROTOBUF")] {
            if let Ok(parsed) = registry.parse_request(t, text, &[]) {
                let _ = registry.incompatibilities("t-value", &parsed, None);
                let _ = registry.plan_register("t-value", &parsed, &[]);
                let _ = registry.lookup("t-value", &parsed, &[], true);
            }
        }
    }
    for s in registry.subjects(true, "") {
        for v in registry.versions(&s, true).unwrap_or_default() {
            assert!(registry.version(&s, VersionSpec::Number(v), true).is_ok());
        }
        let _ = registry.plan_delete_subject(&s, true);
    }
});
