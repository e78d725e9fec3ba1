//! The registry's state: what the records of `_schemas` build, the questions the REST API
//! asks of it, and the records a change must append.
//!
//! The state is only ever changed by [`Registry::apply`], from records read back from the
//! topic, in offset order: the registry's own changes are planned here, appended, and
//! applied when read back, as a Confluent Schema Registry does with its store. A record
//! that cannot be read is skipped (and counted), never fatal.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::error::RegistryError;
use crate::records::{ConfigValue, DeleteSubjectValue, Key, Record, Reference, SchemaValue};
use crate::schema::{parse, Compatibility, Parsed, SchemaType};

/// A schema stored under an id.
#[derive(Debug)]
pub struct Stored {
    pub id: i32,
    pub schema_type_name: Option<String>,
    pub text: String,
    pub references: Vec<Reference>,
    /// None when this registry cannot read it (a type it does not support, written by
    /// another registry): servable by id, not checkable.
    pub parsed: Option<Parsed>,
}

impl Stored {
    /// `schemaType` for the API: absent for Avro.
    pub fn schema_type(&self) -> Option<&str> {
        self.schema_type_name.as_deref().filter(|t| *t != "AVRO")
    }
}

/// One version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub id: i32,
    /// Soft-deleted: kept, hidden unless `deleted=true` is asked for.
    pub deleted: bool,
}

/// Which version an API call names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Number(i32),
}

impl VersionSpec {
    /// `latest`, `-1` or a positive number (Confluent's 42202 otherwise).
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        if s == "latest" || s == "-1" {
            return Ok(VersionSpec::Latest);
        }
        match s.parse::<i32>() {
            Ok(n) if n > 0 => Ok(VersionSpec::Number(n)),
            _ => Err(RegistryError::invalid_version(s)),
        }
    }
}

/// A record to append to the store: key and value (None: a tombstone).
pub type StoreRecord = (Vec<u8>, Option<Vec<u8>>);

/// A registry's or subject's mode: whether its schemas may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadWrite,
    /// Registrations and deletions are refused (42205).
    ReadOnly,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = RegistryError;
    /// `READWRITE` and `READONLY`; Confluent's `IMPORT` and `READONLY_OVERRIDE` are not
    /// supported (42204).
    fn from_str(s: &str) -> Result<Self, RegistryError> {
        match s.to_ascii_uppercase().as_str() {
            "READWRITE" => Ok(Mode::ReadWrite),
            "READONLY" => Ok(Mode::ReadOnly),
            _ => Err(RegistryError::invalid_mode(s)),
        }
    }
}

/// What registering a schema comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// Already a live version of the subject.
    Existing { id: i32, version: i32 },
    /// A new version: append `record`.
    New {
        id: i32,
        version: i32,
        record: StoreRecord,
    },
}

/// The subject a record's key or value must be registered under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectStrategy {
    /// `<topic>-key`, `<topic>-value`.
    #[default]
    TopicName,
    /// The record's fully qualified name.
    RecordName,
    /// `<topic>-<record name>`.
    TopicRecordName,
}

impl SubjectStrategy {
    /// From Confluent's class names (`io.confluent.kafka.serializers.subject.TopicNameStrategy`)
    /// or their last part.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().rsplit('.').next()? {
            "TopicNameStrategy" => Some(SubjectStrategy::TopicName),
            "RecordNameStrategy" => Some(SubjectStrategy::RecordName),
            "TopicRecordNameStrategy" => Some(SubjectStrategy::TopicRecordName),
            _ => None,
        }
    }
}

/// The registry's state.
#[derive(Debug, Default)]
pub struct Registry {
    schemas: BTreeMap<i32, Arc<Stored>>,
    /// The id of each stored schema, by type, kept text and references.
    identities: HashMap<Identity, i32>,
    /// Each stored schema's identity, and how many versions (of any subject) hold it: a
    /// schema no version holds is forgotten.
    uses: HashMap<i32, (Identity, usize)>,
    subjects: BTreeMap<String, BTreeMap<i32, Version>>,
    /// None: the registry's own level.
    configs: BTreeMap<Option<String>, Compatibility>,
    /// Modes (`READONLY`, ...); None: the registry's own.
    modes: BTreeMap<Option<String>, Mode>,
    max_id: i32,
    skipped: u64,
}

/// What makes two schemas the same: type, kept text and references.
type Identity = (Option<String>, String, Vec<Reference>);

fn type_key(t: Option<&str>) -> Option<String> {
    t.filter(|t| !t.eq_ignore_ascii_case("AVRO"))
        .map(|t| t.to_ascii_uppercase())
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records skipped because they could not be read or applied.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Applies one record of the store, read back at its offset.
    pub fn apply(&mut self, key: Option<&[u8]>, value: Option<&[u8]>) {
        match Record::decode(key, value) {
            Ok(r) => {
                if self.apply_record(r).is_err() {
                    self.skipped += 1;
                }
            }
            Err(_) => self.skipped += 1,
        }
    }

    fn apply_record(&mut self, record: Record) -> Result<(), ()> {
        match record {
            Record::Schema {
                subject,
                version,
                value: Some(v),
            } => {
                if v.id <= 0 || version <= 0 {
                    return Err(());
                }
                self.max_id = self.max_id.max(v.id);
                if !self.schemas.contains_key(&v.id) {
                    let parsed = self.parse_stored(&v);
                    let stored = Stored {
                        id: v.id,
                        schema_type_name: v.schema_type.clone(),
                        text: v.schema.clone(),
                        references: v.references.clone(),
                        parsed,
                    };
                    let identity_text = stored
                        .parsed
                        .as_ref()
                        .map_or_else(|| v.schema.clone(), |p| p.text.clone());
                    let identity = (
                        type_key(v.schema_type.as_deref()),
                        identity_text,
                        v.references,
                    );
                    self.identities.entry(identity.clone()).or_insert(v.id);
                    self.uses.insert(v.id, (identity, 0));
                    self.schemas.insert(v.id, Arc::new(stored));
                }
                if let Some((_, n)) = self.uses.get_mut(&v.id) {
                    *n += 1;
                }
                let previous = self.subjects.entry(subject).or_default().insert(
                    version,
                    Version {
                        id: v.id,
                        deleted: v.deleted,
                    },
                );
                if let Some(p) = previous {
                    self.release(p.id);
                }
            }
            Record::Schema {
                subject,
                version,
                value: None,
            } => {
                let Some(versions) = self.subjects.get_mut(&subject) else {
                    return Ok(());
                };
                let removed = versions.remove(&version);
                if versions.is_empty() {
                    self.subjects.remove(&subject);
                }
                if let Some(v) = removed {
                    self.release(v.id);
                }
            }
            Record::Config { subject, level } => match level {
                Some(l) => {
                    let l: Compatibility = l.parse().map_err(|_| ())?;
                    self.configs.insert(subject, l);
                }
                None => {
                    self.configs.remove(&subject);
                }
            },
            Record::Mode { subject, mode } => match mode {
                Some(m) => {
                    let m: Mode = m.parse().map_err(|_| ())?;
                    self.modes.insert(subject, m);
                }
                None => {
                    self.modes.remove(&subject);
                }
            },
            Record::DeleteSubject { subject, version } => {
                if let Some(versions) = self.subjects.get_mut(&subject) {
                    for (_, v) in versions.range_mut(..=version) {
                        v.deleted = true;
                    }
                }
            }
            Record::ClearSubject { subject } => {
                let Some(versions) = self.subjects.get_mut(&subject) else {
                    return Ok(());
                };
                let gone: Vec<i32> = versions
                    .iter()
                    .filter(|(_, v)| v.deleted)
                    .map(|(_, v)| v.id)
                    .collect();
                versions.retain(|_, v| !v.deleted);
                if versions.is_empty() {
                    self.subjects.remove(&subject);
                }
                for id in gone {
                    self.release(id);
                }
            }
            Record::Ignored => {}
        }
        Ok(())
    }

    fn parse_stored(&self, v: &SchemaValue) -> Option<Parsed> {
        let t = SchemaType::parse(v.schema_type.as_deref()).ok()?;
        let refs = self.reference_texts(&v.references).ok()?;
        parse(t, &v.schema, &refs).ok()
    }

    /// The texts of the schemas `references` name, in order.
    fn reference_texts(&self, references: &[Reference]) -> Result<Vec<String>, RegistryError> {
        references
            .iter()
            .map(|r| {
                self.subjects
                    .get(&r.subject)
                    .and_then(|vs| vs.get(&r.version))
                    .and_then(|v| self.schemas.get(&v.id))
                    .map(|s| s.text.clone())
                    .ok_or_else(|| {
                        RegistryError::invalid_schema(format!(
                            "reference {} to {} version {} not found",
                            r.name, r.subject, r.version
                        ))
                    })
            })
            .collect()
    }

    /// One version less holds `id`; the schema is forgotten when none does.
    fn release(&mut self, id: i32) {
        let Some((_, n)) = self.uses.get_mut(&id) else {
            return;
        };
        *n = n.saturating_sub(1);
        if *n == 0 {
            if let Some((identity, _)) = self.uses.remove(&id) {
                if self.identities.get(&identity) == Some(&id) {
                    self.identities.remove(&identity);
                    // Another id of the same schema (written by another registry) stands
                    // in for it.
                    let other = self
                        .uses
                        .iter()
                        .filter(|(_, (i, _))| *i == identity)
                        .map(|(other, _)| *other)
                        .min();
                    if let Some(other) = other {
                        self.identities.insert(identity, other);
                    }
                }
            }
            self.schemas.remove(&id);
        }
    }

    /// Whether the indexes agree with the subjects: every stored schema is held by as
    /// many versions as its count says, and every version's schema is stored.
    #[cfg(test)]
    pub(crate) fn consistent(&self) -> bool {
        let mut held: HashMap<i32, usize> = HashMap::new();
        for v in self.subjects.values().flat_map(|vs| vs.values()) {
            *held.entry(v.id).or_default() += 1;
        }
        held.len() == self.schemas.len()
            && held.len() == self.uses.len()
            && held.iter().all(|(id, n)| {
                self.schemas.contains_key(id) && self.uses.get(id).map(|u| u.1) == Some(*n)
            })
            && self
                .identities
                .values()
                .all(|id| self.schemas.contains_key(id))
    }

    // ---- reads ----

    pub fn schema(&self, id: i32) -> Result<&Arc<Stored>, RegistryError> {
        self.schemas
            .get(&id)
            .ok_or_else(|| RegistryError::schema_not_found(id))
    }

    /// The (subject, version) pairs that hold `id`.
    pub fn versions_of_id(
        &self,
        id: i32,
        deleted: bool,
    ) -> Result<Vec<(String, i32)>, RegistryError> {
        self.schema(id)?;
        Ok(self
            .subjects
            .iter()
            .flat_map(|(s, vs)| {
                vs.iter()
                    .filter(move |(_, v)| v.id == id && (deleted || !v.deleted))
                    .map(move |(n, _)| (s.clone(), *n))
            })
            .collect())
    }

    /// Subjects with a live version (or any version, with `deleted`), optionally only
    /// those starting with `prefix`.
    pub fn subjects(&self, deleted: bool, prefix: &str) -> Vec<String> {
        self.subjects
            .iter()
            .filter(|(s, vs)| s.starts_with(prefix) && vs.values().any(|v| deleted || !v.deleted))
            .map(|(s, _)| s.clone())
            .collect()
    }

    fn live(&self, subject: &str, deleted: bool) -> Result<Vec<(i32, Version)>, RegistryError> {
        let vs: Vec<(i32, Version)> = self
            .subjects
            .get(subject)
            .map(|vs| {
                vs.iter()
                    .filter(|(_, v)| deleted || !v.deleted)
                    .map(|(n, v)| (*n, *v))
                    .collect()
            })
            .unwrap_or_default();
        if vs.is_empty() {
            return Err(RegistryError::subject_not_found(subject));
        }
        Ok(vs)
    }

    pub fn versions(&self, subject: &str, deleted: bool) -> Result<Vec<i32>, RegistryError> {
        Ok(self
            .live(subject, deleted)?
            .into_iter()
            .map(|(n, _)| n)
            .collect())
    }

    /// A subject's version and its schema.
    pub fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
        deleted: bool,
    ) -> Result<(i32, &Arc<Stored>), RegistryError> {
        let vs = self.live(subject, deleted)?;
        let (n, v) = match spec {
            VersionSpec::Latest => *vs.last().expect("live versions are not empty"),
            VersionSpec::Number(n) => *vs
                .iter()
                .find(|(m, _)| *m == n)
                .ok_or_else(|| RegistryError::version_not_found(n))?,
        };
        Ok((n, self.schema(v.id)?))
    }

    /// The ids of the live schemas that refer to `subject`'s `version` (Avro named types
    /// defined there), in order.
    pub fn referenced_by(&self, subject: &str, version: i32) -> Vec<i32> {
        let mut ids: Vec<i32> = self
            .subjects
            .values()
            .flat_map(|vs| vs.values())
            .filter(|v| !v.deleted)
            .filter(|v| {
                self.schemas.get(&v.id).is_some_and(|s| {
                    s.references
                        .iter()
                        .any(|r| r.subject == subject && r.version == version)
                })
            })
            .map(|v| v.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Every live version of every subject (or, with `deleted`, every version), in
    /// subject then version order, optionally only subjects starting with `prefix`; with
    /// `latest_only`, each subject's latest.
    pub fn all_versions(
        &self,
        prefix: &str,
        deleted: bool,
        latest_only: bool,
    ) -> Vec<(&str, i32, &Arc<Stored>)> {
        let mut out = Vec::new();
        for (subject, vs) in self.subjects.iter().filter(|(s, _)| s.starts_with(prefix)) {
            let live: Vec<(&i32, &Version)> =
                vs.iter().filter(|(_, v)| deleted || !v.deleted).collect();
            let chosen = if latest_only {
                &live[live.len().saturating_sub(1)..]
            } else {
                &live[..]
            };
            for (n, v) in chosen {
                if let Some(stored) = self.schemas.get(&v.id) {
                    out.push((subject.as_str(), **n, stored));
                }
            }
        }
        out
    }

    /// The mode set for `subject` (None: the registry's own).
    pub fn mode(&self, subject: Option<&str>) -> Option<Mode> {
        self.modes.get(&subject.map(str::to_string)).copied()
    }

    /// The mode that applies to `subject`: its own, else the registry's, else READWRITE.
    pub fn effective_mode(&self, subject: &str) -> Mode {
        self.mode(Some(subject))
            .or_else(|| self.mode(None))
            .unwrap_or(Mode::ReadWrite)
    }

    /// Refuses a change to `subject` in READONLY mode.
    fn writable(&self, subject: &str) -> Result<(), RegistryError> {
        match self.effective_mode(subject) {
            Mode::ReadWrite => Ok(()),
            Mode::ReadOnly => Err(RegistryError::read_only(subject)),
        }
    }

    /// Sets (or with None removes) a mode.
    pub fn plan_mode(&self, subject: Option<&str>, mode: Option<Mode>) -> StoreRecord {
        let value = mode.map(|m| {
            serde_json::to_vec(&crate::records::ModeValue {
                mode: m.name().to_string(),
            })
            .expect("a value serializes")
        });
        (Key::mode(subject).encode(), value)
    }

    /// The compatibility level set for `subject` (None: the registry's own).
    pub fn config(&self, subject: Option<&str>) -> Option<Compatibility> {
        self.configs.get(&subject.map(str::to_string)).copied()
    }

    /// The level that applies to `subject`.
    pub fn effective_config(&self, subject: &str) -> Compatibility {
        self.config(Some(subject))
            .or_else(|| self.config(None))
            .unwrap_or(Compatibility::DEFAULT)
    }

    /// Checks and parses a schema given to the API.
    pub fn parse_request(
        &self,
        schema_type: Option<&str>,
        text: &str,
        references: &[Reference],
    ) -> Result<Parsed, RegistryError> {
        let t = SchemaType::parse(schema_type)
            .map_err(|e| RegistryError::invalid_schema(e.to_string()))?;
        let refs = self.reference_texts(references)?;
        parse(t, text, &refs).map_err(|e| RegistryError::invalid_schema(e.to_string()))
    }

    fn find(&self, parsed: &Parsed, references: &[Reference]) -> Option<i32> {
        self.identities
            .get(&(
                parsed.schema_type.stored(),
                parsed.text.clone(),
                references.to_vec(),
            ))
            .copied()
    }

    /// The version of `subject` that holds this schema.
    pub fn lookup(
        &self,
        subject: &str,
        parsed: &Parsed,
        references: &[Reference],
        deleted: bool,
    ) -> Result<(i32, &Arc<Stored>), RegistryError> {
        self.live(subject, deleted)?;
        let id = self
            .find(parsed, references)
            .ok_or_else(RegistryError::schema_not_found_in_subject)?;
        let n = self
            .version_holding(subject, id, deleted)
            .ok_or_else(RegistryError::schema_not_found_in_subject)?;
        Ok((n, self.schema(id)?))
    }

    /// The latest version of `subject` (live, or any with `deleted`) that holds schema `id`.
    fn version_holding(&self, subject: &str, id: i32, deleted: bool) -> Option<i32> {
        self.subjects
            .get(subject)?
            .iter()
            .rev()
            .find(|(_, v)| v.id == id && (deleted || !v.deleted))
            .map(|(n, _)| *n)
    }

    /// Why `parsed` is not compatible with the versions of `subject` its level checks
    /// (or with `against` only); empty when it is.
    pub fn incompatibilities(
        &self,
        subject: &str,
        parsed: &Parsed,
        against: Option<VersionSpec>,
    ) -> Result<Vec<String>, RegistryError> {
        let level = self.effective_config(subject);
        let live = match self.live(subject, false) {
            Ok(vs) => vs,
            Err(_) if against.is_none() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let checked: Vec<(i32, Version)> = match against {
            Some(spec) => {
                let (n, _) = self.version(subject, spec, false)?;
                live.into_iter().filter(|(m, _)| *m == n).collect()
            }
            None if level.transitive() => live,
            None => live.last().copied().into_iter().collect(),
        };
        let mut problems = Vec::new();
        for (n, v) in checked {
            let old = self.schema(v.id)?;
            let Some(old_parsed) = &old.parsed else {
                problems.push(format!(
                    "version {n} cannot be read by this registry to check it"
                ));
                continue;
            };
            if let Err(e) = level.check(parsed, old_parsed) {
                problems.push(format!("{level} with version {n}: {e}"));
            }
        }
        Ok(problems)
    }

    // ---- changes ----

    /// What registering `parsed` under `subject` takes.
    pub fn plan_register(
        &self,
        subject: &str,
        parsed: &Parsed,
        references: &[Reference],
    ) -> Result<Registration, RegistryError> {
        validate_subject(subject)?;
        let existing = self.find(parsed, references);
        // Already a live version: a lookup, answered even in READONLY mode.
        if let Some(id) = existing {
            if let Some(version) = self.version_holding(subject, id, false) {
                return Ok(Registration::Existing { id, version });
            }
        }
        self.writable(subject)?;
        let problems = self.incompatibilities(subject, parsed, None)?;
        if !problems.is_empty() {
            return Err(RegistryError::incompatible(subject, &problems));
        }
        let version = self
            .subjects
            .get(subject)
            .and_then(|vs| vs.keys().next_back())
            .map_or(1, |v| v + 1);
        let id = match existing {
            Some(id) => id,
            None => self
                .max_id
                .checked_add(1)
                .ok_or_else(|| RegistryError::store("schema ids are exhausted"))?,
        };
        let value = SchemaValue {
            subject: subject.to_string(),
            version,
            id,
            schema_type: parsed.schema_type.stored(),
            references: references.to_vec(),
            schema: parsed.text.clone(),
            deleted: false,
        };
        Ok(Registration::New {
            id,
            version,
            record: schema_record(&value),
        })
    }

    /// Deletes one version: soft first, then (`permanent`) for good.
    pub fn plan_delete_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<(i32, StoreRecord), RegistryError> {
        let (n, stored) = self.version(subject, spec, permanent)?;
        self.writable(subject)?;
        if !self.referenced_by(subject, n).is_empty() {
            return Err(RegistryError::referenced(subject, n));
        }
        let deleted = self.subjects[subject][&n].deleted;
        if permanent {
            if !deleted {
                return Err(RegistryError::version_not_soft_deleted(subject, n));
            }
            return Ok((n, (Key::schema(subject, n).encode(), None)));
        }
        let value = SchemaValue {
            subject: subject.to_string(),
            version: n,
            id: stored.id,
            schema_type: stored.schema_type_name.clone(),
            references: stored.references.clone(),
            schema: stored.text.clone(),
            deleted: true,
        };
        Ok((n, schema_record(&value)))
    }

    /// Deletes a subject: soft first (one DELETE_SUBJECT record), then (`permanent`) each
    /// version for good.
    pub fn plan_delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<(Vec<i32>, Vec<StoreRecord>), RegistryError> {
        let all = self.live(subject, true)?;
        self.writable(subject)?;
        if let Some((n, _)) = all
            .iter()
            .find(|(n, _)| !self.referenced_by(subject, *n).is_empty())
        {
            return Err(RegistryError::referenced(subject, *n));
        }
        if permanent {
            if all.iter().any(|(_, v)| !v.deleted) {
                return Err(RegistryError::subject_not_soft_deleted(subject));
            }
            let versions: Vec<i32> = all.iter().map(|(n, _)| *n).collect();
            let mut records: Vec<StoreRecord> = versions
                .iter()
                .map(|n| (Key::schema(subject, *n).encode(), None))
                .collect();
            if self.config(Some(subject)).is_some() {
                records.push((Key::config(Some(subject)).encode(), None));
            }
            return Ok((versions, records));
        }
        let live: Vec<i32> = self
            .live(subject, false)?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let last = *all.last().map(|(n, _)| n).expect("not empty");
        let value = DeleteSubjectValue {
            subject: subject.to_string(),
            version: last,
        };
        Ok((
            live,
            vec![(
                Key::delete_subject(subject).encode(),
                Some(serde_json::to_vec(&value).expect("a value serializes")),
            )],
        ))
    }

    /// Sets (or with None removes) a compatibility level.
    pub fn plan_config(&self, subject: Option<&str>, level: Option<Compatibility>) -> StoreRecord {
        let value = level.map(|l| {
            serde_json::to_vec(&ConfigValue {
                compatibility_level: Some(l.name().to_string()),
            })
            .expect("a value serializes")
        });
        (Key::config(subject).encode(), value)
    }

    // ---- the broker's validation ----

    /// Checks a record's key or value as Confluent Server's schema ID validation does:
    /// the Confluent wire format (magic byte 0, then a 4-byte schema id), an id this
    /// registry holds, registered (live) under the subject the strategy names. A null
    /// field passes (tombstones).
    pub fn check_field(
        &self,
        topic: &str,
        is_key: bool,
        strategy: SubjectStrategy,
        field: Option<&[u8]>,
    ) -> Result<(), String> {
        let Some(bytes) = field else { return Ok(()) };
        let what = if is_key { "key" } else { "value" };
        if bytes.len() < 5 || bytes[0] != 0 {
            return Err(format!(
                "the {what} has no schema id: it is not in the Confluent wire format (magic byte 0 and a 4-byte schema id)"
            ));
        }
        let id = i32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        let Some(stored) = self.schemas.get(&id) else {
            return Err(format!("the {what}'s schema id {id} is not registered"));
        };
        let suffix = || {
            stored
                .parsed
                .as_ref()
                .and_then(Parsed::record_name)
                .ok_or_else(|| format!("the {what}'s schema {id} has no record name for the subject naming strategy"))
        };
        let subject = match strategy {
            SubjectStrategy::TopicName => format!("{topic}-{what}"),
            SubjectStrategy::RecordName => suffix()?,
            SubjectStrategy::TopicRecordName => format!("{topic}-{}", suffix()?),
        };
        let registered = self
            .subjects
            .get(&subject)
            .is_some_and(|vs| vs.values().any(|v| v.id == id && !v.deleted));
        if registered {
            Ok(())
        } else {
            Err(format!(
                "the {what}'s schema id {id} is not registered under subject {subject}"
            ))
        }
    }
}

impl Registry {
    /// A checker of the keys (`is_key`) or values of one produce request's records for
    /// `topic`: [`Registry::check_field`], remembering the decision for the last schema id
    /// it saw, so that records sharing a schema (the usual batch) cost one lookup.
    pub fn field_checker<'a>(
        &'a self,
        topic: &'a str,
        is_key: bool,
        strategy: SubjectStrategy,
    ) -> FieldChecker<'a> {
        FieldChecker {
            registry: self,
            topic,
            is_key,
            strategy,
            last: None,
        }
    }
}

/// See [`Registry::field_checker`].
#[derive(Debug)]
pub struct FieldChecker<'a> {
    registry: &'a Registry,
    topic: &'a str,
    is_key: bool,
    strategy: SubjectStrategy,
    last: Option<(i32, Result<(), String>)>,
}

impl FieldChecker<'_> {
    /// The decision for one record's field, as [`Registry::check_field`] gives it.
    pub fn check(&mut self, field: Option<&[u8]>) -> Result<(), String> {
        let id = match field {
            Some(b) if b.len() >= 5 && b[0] == 0 => i32::from_be_bytes([b[1], b[2], b[3], b[4]]),
            // Null, or not in the wire format: nothing to remember.
            _ => {
                return self
                    .registry
                    .check_field(self.topic, self.is_key, self.strategy, field)
            }
        };
        if let Some((last, decision)) = &self.last {
            if *last == id {
                return decision.clone();
            }
        }
        let decision = self
            .registry
            .check_field(self.topic, self.is_key, self.strategy, field);
        self.last = Some((id, decision.clone()));
        decision
    }
}

/// The SCHEMA record of `value`.
fn schema_record(value: &SchemaValue) -> StoreRecord {
    (
        Key::schema(&value.subject, value.version).encode(),
        Some(serde_json::to_vec(value).expect("a value serializes")),
    )
}

/// Subjects are non-empty, at most 255 characters and printable (Confluent refuses
/// control characters).
fn validate_subject(subject: &str) -> Result<(), RegistryError> {
    if subject.is_empty() || subject.chars().count() > 255 || subject.chars().any(char::is_control)
    {
        return Err(RegistryError::invalid_subject(subject));
    }
    Ok(())
}
