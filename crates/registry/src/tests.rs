//! The registry's state driven as the server drives it: plan, append (here: keep the
//! records), apply what was appended.

use proptest::prelude::*;

use crate::records::Reference;
use crate::*;

const PATIENT: &str = r#"{"type":"record","name":"Patient","namespace":"org.example","fields":[{"name":"id","type":"string"}]}"#;
const PATIENT_V2: &str = r#"{"type":"record","name":"Patient","namespace":"org.example","fields":[{"name":"id","type":"string"},{"name":"ward","type":"string","default":""}]}"#;
const PATIENT_BAD: &str = r#"{"type":"record","name":"Patient","namespace":"org.example","fields":[{"name":"id","type":"long"}]}"#;

/// A registry and the store it was built from.
#[derive(Default)]
struct Harness {
    registry: Registry,
    log: Vec<StoreRecord>,
}

impl Harness {
    fn append(&mut self, record: StoreRecord) {
        self.registry.apply(Some(&record.0), record.1.as_deref());
        self.log.push(record);
    }

    fn register(&mut self, subject: &str, text: &str) -> Result<(i32, i32), RegistryError> {
        let parsed = self.registry.parse_request(None, text, &[])?;
        match self.registry.plan_register(subject, &parsed, &[])? {
            Registration::Existing { id, version } => Ok((id, version)),
            Registration::New {
                id,
                version,
                record,
            } => {
                self.append(record);
                Ok((id, version))
            }
        }
    }

    fn replayed(&self) -> Registry {
        let mut r = Registry::new();
        for (k, v) in &self.log {
            r.apply(Some(k), v.as_deref());
        }
        r
    }
}

fn framed(id: i32, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0];
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

#[test]
fn registration_versions_ids_and_compatibility() {
    let mut h = Harness::default();
    assert_eq!(h.register("patients-value", PATIENT).unwrap(), (1, 1));
    // The same schema, spaced differently: the same version.
    let respaced = PATIENT.replace(',', ", ");
    assert_eq!(h.register("patients-value", &respaced).unwrap(), (1, 1));
    // The same schema under another subject: the same id, that subject's version 1.
    assert_eq!(h.register("other-value", PATIENT).unwrap(), (1, 1));
    // BACKWARD by default: a field with a default is fine, a changed type is not.
    assert_eq!(h.register("patients-value", PATIENT_V2).unwrap(), (2, 2));
    let e = h.register("patients-value", PATIENT_BAD).unwrap_err();
    assert_eq!((e.status, e.code), (409, 409), "{e}");
    // NONE lets it in.
    let r = h
        .registry
        .plan_config(Some("patients-value"), Some(Compatibility::None));
    h.append(r);
    assert_eq!(h.register("patients-value", PATIENT_BAD).unwrap(), (3, 3));
    assert_eq!(
        h.registry.versions("patients-value", false).unwrap(),
        vec![1, 2, 3]
    );
    assert_eq!(
        h.registry.effective_config("patients-value"),
        Compatibility::None
    );
    assert_eq!(
        h.registry.effective_config("other-value"),
        Compatibility::Backward
    );
    let (v, s) = h
        .registry
        .version("patients-value", VersionSpec::Latest, false)
        .unwrap();
    assert_eq!((v, s.id), (3, 3));
    // Invalid schemas and names.
    let e = h
        .register("patients-value", r#"{"type":"nosuchtype"}"#)
        .unwrap_err();
    assert_eq!(e.code, 42201);
    assert_eq!(h.register("", PATIENT).unwrap_err().code, 42208);
    // All of it comes back from the store.
    let r = h.replayed();
    assert_eq!(r.subjects(false, ""), vec!["other-value", "patients-value"]);
    assert_eq!(r.versions_of_id(1, false).unwrap().len(), 2);
    assert_eq!(r.effective_config("patients-value"), Compatibility::None);
    assert_eq!(r.skipped(), 0);
}

#[test]
fn transitive_levels_check_every_version() {
    let mut h = Harness::default();
    let a = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
    // b drops a (fine backward: the reader ignores it) and adds c with a default.
    let b = r#"{"type":"record","name":"R","fields":[{"name":"c","type":"int","default":0}]}"#;
    // c needs a back, without a default: incompatible with version 2 (no a), fine
    // with version 1.
    let c = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"c","type":"int","default":0}]}"#;
    h.register("r", a).unwrap();
    h.register("r", b).unwrap();
    let parsed = h.registry.parse_request(None, c, &[]).unwrap();
    assert!(!h
        .registry
        .incompatibilities("r", &parsed, None)
        .unwrap()
        .is_empty());
    assert!(h
        .registry
        .incompatibilities("r", &parsed, Some(VersionSpec::Number(1)))
        .unwrap()
        .is_empty());
    let r = h
        .registry
        .plan_config(None, Some(Compatibility::ForwardTransitive));
    h.append(r);
    // Forward transitive: old readers (1 and 2) must read c's data: 1 reads a, 2 reads c.
    assert_eq!(h.register("r", c).unwrap(), (3, 3));
}

#[test]
fn deletion_soft_then_permanent() {
    let mut h = Harness::default();
    h.register("tmp", PATIENT).unwrap();
    h.register("tmp", PATIENT_V2).unwrap();
    // A version must be soft-deleted before it is deleted for good.
    let e = h
        .registry
        .plan_delete_version("tmp", VersionSpec::Number(1), true)
        .unwrap_err();
    assert_eq!(e.code, 40407);
    let (n, r) = h
        .registry
        .plan_delete_version("tmp", VersionSpec::Number(1), false)
        .unwrap();
    assert_eq!(n, 1);
    h.append(r);
    assert_eq!(h.registry.versions("tmp", false).unwrap(), vec![2]);
    assert_eq!(h.registry.versions("tmp", true).unwrap(), vec![1, 2]);
    assert_eq!(
        h.registry
            .plan_delete_subject("tmp", true)
            .unwrap_err()
            .code,
        40405
    );
    let (versions, records) = h.registry.plan_delete_subject("tmp", false).unwrap();
    assert_eq!(versions, vec![2]);
    for r in records {
        h.append(r);
    }
    assert!(h.registry.subjects(false, "").is_empty());
    assert_eq!(h.registry.subjects(true, ""), vec!["tmp"]);
    assert_eq!(h.registry.versions("tmp", false).unwrap_err().code, 40401);
    let (versions, records) = h.registry.plan_delete_subject("tmp", true).unwrap();
    assert_eq!(versions, vec![1, 2]);
    for r in records {
        h.append(r);
    }
    assert!(h.registry.subjects(true, "").is_empty());
    assert_eq!(h.registry.schema(1).unwrap_err().code, 40403);
    // Numbering starts again; ids never go back.
    assert_eq!(h.register("tmp", PATIENT).unwrap(), (3, 1));
    let r = h.replayed();
    assert_eq!(r.versions("tmp", false).unwrap(), vec![1]);
    assert_eq!(
        r.version("tmp", VersionSpec::Latest, false).unwrap().1.id,
        3
    );
}

#[test]
fn references_resolve_named_types_of_other_subjects() {
    let mut h = Harness::default();
    let address = r#"{"type":"record","name":"Address","namespace":"org.example","fields":[{"name":"city","type":"string"}]}"#;
    h.register("address", address).unwrap();
    let person = r#"{"type":"record","name":"Person","namespace":"org.example","fields":[{"name":"home","type":"org.example.Address"}]}"#;
    // Without the reference the type is unknown.
    assert_eq!(h.register("person", person).unwrap_err().code, 42201);
    let refs = vec![Reference {
        name: "org.example.Address".into(),
        subject: "address".into(),
        version: 1,
    }];
    let parsed = h.registry.parse_request(None, person, &refs).unwrap();
    let Registration::New { id, record, .. } =
        h.registry.plan_register("person", &parsed, &refs).unwrap()
    else {
        panic!("a new registration")
    };
    h.append(record);
    assert_eq!(h.registry.schema(id).unwrap().references, refs);
    assert!(h.replayed().schema(id).unwrap().parsed.is_some());
    // A referenced version cannot be deleted, softly or for good, nor its subject.
    assert_eq!(h.registry.referenced_by("address", 1), vec![id]);
    let e = h
        .registry
        .plan_delete_version("address", VersionSpec::Number(1), false)
        .unwrap_err();
    assert_eq!((e.status, e.code), (422, 42206), "{e}");
    assert_eq!(
        h.registry
            .plan_delete_subject("address", false)
            .unwrap_err()
            .code,
        42206
    );
    // Once the referring schema is deleted, it can go.
    let (_, r) = h
        .registry
        .plan_delete_version("person", VersionSpec::Latest, false)
        .unwrap();
    h.append(r);
    assert!(h.registry.referenced_by("address", 1).is_empty());
    assert!(h.registry.plan_delete_subject("address", false).is_ok());
    let all = h.registry.all_versions("", false, false);
    assert_eq!(
        all.iter().map(|(s, v, _)| (*s, *v)).collect::<Vec<_>>(),
        vec![("address", 1)]
    );
}

#[test]
fn the_brokers_check_of_schema_ids() {
    let mut h = Harness::default();
    let (id, _) = h.register("orders-value", PATIENT).unwrap();
    let (other, _) = h.register("audit-value", r#""string""#).unwrap();
    let (keyed, _) = h.register("orders-key", r#""string""#).unwrap();
    assert_eq!(other, keyed);
    let r = &h.registry;
    let check =
        |field: Option<&[u8]>| r.check_field("orders", false, SubjectStrategy::TopicName, field);
    assert!(check(Some(&framed(id, b"\x02a"))).is_ok());
    assert!(check(None).is_ok(), "tombstones pass");
    assert!(check(Some(b"not avro"))
        .unwrap_err()
        .contains("wire format"));
    assert!(check(Some(&[0, 0, 0])).is_err());
    assert!(check(Some(&framed(999, b"")))
        .unwrap_err()
        .contains("999 is not registered"));
    assert!(check(Some(&framed(other, b"")))
        .unwrap_err()
        .contains("under subject orders-value"));
    assert!(r
        .check_field(
            "orders",
            true,
            SubjectStrategy::TopicName,
            Some(&framed(keyed, b""))
        )
        .is_ok());
    // Record names: the Avro full name, with or without the topic.
    let mut h2 = Harness::default();
    let (rid, _) = h2.register("org.example.Patient", PATIENT).unwrap();
    let (tid, _) = h2
        .register("orders-org.example.Patient", PATIENT_V2)
        .unwrap();
    let r2 = &h2.registry;
    let passes = |strategy, id| {
        r2.check_field("orders", false, strategy, Some(&framed(id, b"")))
            .is_ok()
    };
    assert!(passes(SubjectStrategy::RecordName, rid));
    assert!(passes(SubjectStrategy::TopicRecordName, tid));
    assert!(!passes(SubjectStrategy::TopicRecordName, rid));
    assert_eq!(
        SubjectStrategy::parse("io.confluent.kafka.serializers.subject.RecordNameStrategy"),
        Some(SubjectStrategy::RecordName)
    );
    assert_eq!(SubjectStrategy::parse("Nonsense"), None);
}

#[test]
fn read_only_mode_refuses_changes_not_lookups() {
    let mut h = Harness::default();
    h.register("a-value", PATIENT).unwrap();
    let r = h.registry.plan_mode(None, Some(Mode::ReadOnly));
    h.append(r);
    assert_eq!(h.registry.effective_mode("a-value"), Mode::ReadOnly);
    // The same schema again is a lookup: answered.
    assert_eq!(h.register("a-value", PATIENT).unwrap(), (1, 1));
    let e = h.register("a-value", PATIENT_V2).unwrap_err();
    assert_eq!((e.status, e.code), (422, 42205), "{e}");
    assert_eq!(h.register("b-value", PATIENT).unwrap_err().code, 42205);
    assert_eq!(
        h.registry
            .plan_delete_version("a-value", VersionSpec::Latest, false)
            .unwrap_err()
            .code,
        42205
    );
    assert_eq!(
        h.registry
            .plan_delete_subject("a-value", false)
            .unwrap_err()
            .code,
        42205
    );
    // A subject's own mode wins over the registry's.
    let r = h.registry.plan_mode(Some("a-value"), Some(Mode::ReadWrite));
    h.append(r);
    assert_eq!(h.register("a-value", PATIENT_V2).unwrap(), (2, 2));
    assert_eq!(h.register("b-value", PATIENT).unwrap_err().code, 42205);
    assert_eq!(h.replayed().effective_mode("b-value"), Mode::ReadOnly);
    assert_eq!(h.replayed().effective_mode("a-value"), Mode::ReadWrite);
    assert_eq!("IMPORT".parse::<Mode>().unwrap_err().code, 42204);
}

#[test]
fn soft_deleted_versions_do_not_validate() {
    let mut h = Harness::default();
    let (id, _) = h.register("t-value", PATIENT).unwrap();
    let (_, r) = h
        .registry
        .plan_delete_version("t-value", VersionSpec::Latest, false)
        .unwrap();
    h.append(r);
    assert!(h
        .registry
        .check_field(
            "t",
            false,
            SubjectStrategy::TopicName,
            Some(&framed(id, b""))
        )
        .is_err());
}

proptest! {
    /// Whatever bytes sit in the store, applying them neither panics nor leaves a
    /// version pointing at a schema that is not there.
    #[test]
    fn arbitrary_records_are_applied_or_skipped(
        records in proptest::collection::vec(
            (proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
             proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40))),
            0..20),
    ) {
        let mut r = Registry::new();
        for (k, v) in &records {
            r.apply(k.as_deref(), v.as_deref());
            prop_assert!(r.consistent());
        }
        for s in r.subjects(true, "") {
            for v in r.versions(&s, true).unwrap() {
                prop_assert!(r.version(&s, VersionSpec::Number(v), true).is_ok());
            }
        }
    }

    /// Any field bytes: the check answers, never panics.
    #[test]
    fn arbitrary_fields_are_checked(field in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut h = Harness::default();
        h.register("t-value", PATIENT).unwrap();
        let _ = h.registry.check_field("t", false, SubjectStrategy::RecordName, Some(&field));
        let _ = h.registry.check_field("t", false, SubjectStrategy::TopicName, Some(&field));
    }
}

/// An operation on the registry, as the REST API would plan it.
#[derive(Debug, Clone)]
enum Op {
    Register(usize, usize),
    SoftDeleteVersion(usize),
    HardDeleteVersion(usize),
    SoftDeleteSubject(usize),
    HardDeleteSubject(usize),
    SetNone(usize),
}

const SUBJECTS: [&str; 3] = ["a-value", "b-value", "c-key"];
const SCHEMAS: [&str; 4] = [
    r#""string""#,
    r#"{"type":"record","name":"R","fields":[{"name":"x","type":"int"}]}"#,
    r#"{"type":"record","name":"R","fields":[{"name":"x","type":"int"},{"name":"y","type":"int","default":0}]}"#,
    r#"{"type":"record","name":"R","fields":[{"name":"x","type":"long"}]}"#,
];

fn op() -> impl Strategy<Value = Op> {
    let s = 0..SUBJECTS.len();
    prop_oneof![
        (s.clone(), 0..SCHEMAS.len()).prop_map(|(a, b)| Op::Register(a, b)),
        s.clone().prop_map(Op::SoftDeleteVersion),
        s.clone().prop_map(Op::HardDeleteVersion),
        s.clone().prop_map(Op::SoftDeleteSubject),
        s.clone().prop_map(Op::HardDeleteSubject),
        s.prop_map(Op::SetNone),
    ]
}

proptest! {
    /// Any sequence of the API's changes keeps the indexes consistent, never reuses an id
    /// for another schema, and replays from the store to the same answers.
    #[test]
    fn changes_replay_to_the_same_registry(ops in proptest::collection::vec(op(), 0..40)) {
        let mut h = Harness::default();
        let mut seen: std::collections::HashMap<i32, String> = std::collections::HashMap::new();
        for op in ops {
            let r = &h.registry;
            let records: Vec<StoreRecord> = match op {
                Op::Register(s, i) => {
                    if let Ok((id, _)) = h.register(SUBJECTS[s], SCHEMAS[i]) {
                        let text = h.registry.schema(id).unwrap().text.clone();
                        let before = seen.insert(id, text.clone());
                        prop_assert!(before.is_none() || before == Some(text), "id {} reused", id);
                    }
                    vec![]
                }
                Op::SoftDeleteVersion(s) => r.plan_delete_version(SUBJECTS[s], VersionSpec::Latest, false).map(|(_, x)| vec![x]).unwrap_or_default(),
                Op::HardDeleteVersion(s) => r.versions(SUBJECTS[s], true).ok().and_then(|vs| vs.first().copied())
                    .and_then(|v| r.plan_delete_version(SUBJECTS[s], VersionSpec::Number(v), true).ok())
                    .map(|(_, x)| vec![x]).unwrap_or_default(),
                Op::SoftDeleteSubject(s) => r.plan_delete_subject(SUBJECTS[s], false).map(|(_, x)| x).unwrap_or_default(),
                Op::HardDeleteSubject(s) => r.plan_delete_subject(SUBJECTS[s], true).map(|(_, x)| x).unwrap_or_default(),
                Op::SetNone(s) => vec![r.plan_config(Some(SUBJECTS[s]), Some(Compatibility::None))],
            };
            for rec in records {
                h.append(rec);
            }
            prop_assert!(h.registry.consistent());
        }
        let replayed = h.replayed();
        prop_assert!(replayed.consistent());
        prop_assert_eq!(replayed.subjects(true, ""), h.registry.subjects(true, ""));
        for s in h.registry.subjects(true, "") {
            let a = h.registry.versions(&s, true).unwrap();
            prop_assert_eq!(&replayed.versions(&s, true).unwrap(), &a);
            for v in a {
                let x = h.registry.version(&s, VersionSpec::Number(v), true).unwrap().1.id;
                let y = replayed.version(&s, VersionSpec::Number(v), true).unwrap().1.id;
                prop_assert_eq!(x, y);
            }
        }
    }
}
