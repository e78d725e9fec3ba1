//! The records of Confluent Schema Registry's store topic (`_schemas`), in its own JSON, so
//! that a Confluent Schema Registry reading the topic finds what Myelin wrote, and Myelin
//! finds what one wrote.
//!
//! Keys (JSON objects, told apart by `keytype`):
//! - `{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}`: a subject's version. Its
//!   value is a [`SchemaValue`]; a null value (tombstone) deletes the version for good.
//! - `{"keytype":"CONFIG","subject":S|null,"magic":0}`: a compatibility level, of a
//!   subject or (null) of the registry. Value [`ConfigValue`], or null to remove it.
//! - `{"keytype":"MODE","subject":S|null,"magic":0}`: a mode (`READWRITE`, `READONLY`), of
//!   a subject or of the registry. Value `{"mode":M}`, or null to remove it.
//! - `{"keytype":"DELETE_SUBJECT","subject":S,"magic":0}`: value `{"subject":S,"version":V}`,
//!   every version up to V of S soft-deleted.
//! - `{"keytype":"CLEAR_SUBJECT","subject":S,"magic":0}`: S's soft-deleted versions gone.
//! - `{"keytype":"NOOP","magic":0}`: written by a registry to find the end of the topic.

use serde::{Deserialize, Serialize};

/// A record's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "keytype")]
pub enum Key {
    #[serde(rename = "SCHEMA")]
    Schema {
        subject: String,
        version: i32,
        #[serde(default = "one")]
        magic: i32,
    },
    #[serde(rename = "CONFIG")]
    Config {
        #[serde(default)]
        subject: Option<String>,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "MODE")]
    Mode {
        #[serde(default)]
        subject: Option<String>,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "DELETE_SUBJECT")]
    DeleteSubject {
        subject: String,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "CLEAR_SUBJECT")]
    ClearSubject {
        subject: String,
        #[serde(default)]
        magic: i32,
    },
    #[serde(rename = "NOOP")]
    Noop {
        #[serde(default)]
        magic: i32,
    },
}

fn one() -> i32 {
    1
}

impl Key {
    /// The key of `subject`'s `version`.
    pub fn schema(subject: &str, version: i32) -> Self {
        Key::Schema {
            subject: subject.to_string(),
            version,
            magic: 1,
        }
    }

    /// The key of a compatibility level: of `subject`, or of the registry.
    pub fn config(subject: Option<&str>) -> Self {
        Key::Config {
            subject: subject.map(str::to_string),
            magic: 0,
        }
    }

    /// The key of a mode: of `subject`, or of the registry.
    pub fn mode(subject: Option<&str>) -> Self {
        Key::Mode {
            subject: subject.map(str::to_string),
            magic: 0,
        }
    }

    pub fn delete_subject(subject: &str) -> Self {
        Key::DeleteSubject {
            subject: subject.to_string(),
            magic: 0,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a key serializes")
    }
}

/// A reference from a schema to another subject's version (Avro named types defined
/// elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i32,
}

/// A SCHEMA record's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaValue {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    /// Absent for Avro, as Confluent writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    pub schema: String,
    #[serde(default)]
    pub deleted: bool,
}

/// A CONFIG record's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility_level: Option<String>,
}

/// A MODE record's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeValue {
    pub mode: String,
}

/// A DELETE_SUBJECT record's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteSubjectValue {
    pub subject: String,
    pub version: i32,
}

/// One record of the store, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Schema {
        subject: String,
        version: i32,
        /// None: the version deleted for good.
        value: Option<SchemaValue>,
    },
    Config {
        subject: Option<String>,
        /// None: the level removed.
        level: Option<String>,
    },
    Mode {
        subject: Option<String>,
        /// None: the mode removed.
        mode: Option<String>,
    },
    DeleteSubject {
        subject: String,
        version: i32,
    },
    ClearSubject {
        subject: String,
    },
    /// NOOP records, and CLEAR_SUBJECT or DELETE_SUBJECT tombstones: nothing to apply.
    Ignored,
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the record has no key")]
    NoKey,
    #[error("unreadable key: {0}")]
    Key(String),
    #[error("unreadable value: {0}")]
    Value(String),
}

fn value<T: for<'de> Deserialize<'de>>(v: &[u8]) -> Result<T, RecordError> {
    serde_json::from_slice(v).map_err(|e| RecordError::Value(e.to_string()))
}

impl Record {
    /// Decodes a record of the store.
    pub fn decode(key: Option<&[u8]>, val: Option<&[u8]>) -> Result<Self, RecordError> {
        let key = key.ok_or(RecordError::NoKey)?;
        let key: Key = serde_json::from_slice(key).map_err(|e| RecordError::Key(e.to_string()))?;
        Ok(match key {
            Key::Schema {
                subject, version, ..
            } => {
                let value: Option<SchemaValue> = val.map(value).transpose()?;
                if let Some(v) = &value {
                    if v.subject != subject || v.version != version {
                        return Err(RecordError::Value(format!(
                            "the value names {}/{}, the key {subject}/{version}",
                            v.subject, v.version
                        )));
                    }
                }
                Record::Schema {
                    subject,
                    version,
                    value,
                }
            }
            Key::Config { subject, .. } => {
                let level = match val {
                    None => None,
                    Some(v) => value::<ConfigValue>(v)?.compatibility_level,
                };
                Record::Config { subject, level }
            }
            Key::DeleteSubject { subject, .. } => match val {
                None => Record::Ignored,
                Some(v) => {
                    let v: DeleteSubjectValue = value(v)?;
                    Record::DeleteSubject {
                        subject,
                        version: v.version,
                    }
                }
            },
            Key::ClearSubject { subject, .. } => match val {
                None => Record::Ignored,
                Some(_) => Record::ClearSubject { subject },
            },
            Key::Mode { subject, .. } => Record::Mode {
                subject,
                mode: val.map(value::<ModeValue>).transpose()?.map(|m| m.mode),
            },
            Key::Noop { .. } => Record::Ignored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_confluents_json() {
        assert_eq!(
            String::from_utf8(Key::schema("orders-value", 3).encode()).unwrap(),
            r#"{"keytype":"SCHEMA","subject":"orders-value","version":3,"magic":1}"#
        );
        assert_eq!(
            String::from_utf8(Key::config(None).encode()).unwrap(),
            r#"{"keytype":"CONFIG","subject":null,"magic":0}"#
        );
        assert_eq!(
            String::from_utf8(Key::delete_subject("a").encode()).unwrap(),
            r#"{"keytype":"DELETE_SUBJECT","subject":"a","magic":0}"#
        );
    }

    #[test]
    fn decodes_what_confluent_writes() {
        let r = Record::decode(
            Some(br#"{"keytype":"SCHEMA","subject":"t-value","version":1,"magic":1}"#),
            Some(br#"{"subject":"t-value","version":1,"id":21,"schema":"\"string\"","deleted":false}"#),
        )
        .unwrap();
        let Record::Schema { value: Some(v), .. } = r else {
            panic!("{r:?}")
        };
        assert_eq!((v.id, v.schema_type, v.deleted), (21, None, false));
        let r = Record::decode(
            Some(br#"{"keytype":"CONFIG","subject":"t-value","magic":0}"#),
            Some(br#"{"compatibilityLevel":"FULL","alias":null}"#),
        )
        .unwrap();
        assert_eq!(
            r,
            Record::Config {
                subject: Some("t-value".into()),
                level: Some("FULL".into())
            }
        );
        assert_eq!(
            Record::decode(Some(br#"{"keytype":"NOOP","magic":0}"#), None).unwrap(),
            Record::Ignored
        );
        let r = Record::decode(
            Some(br#"{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}"#),
            Some(br#"{"subject":"s","version":4}"#),
        )
        .unwrap();
        assert_eq!(
            r,
            Record::DeleteSubject {
                subject: "s".into(),
                version: 4
            }
        );
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        assert_eq!(Record::decode(None, None), Err(RecordError::NoKey));
        assert!(Record::decode(Some(b"{"), None).is_err());
        assert!(Record::decode(Some(br#"{"keytype":"WHAT"}"#), None).is_err());
        assert!(Record::decode(
            Some(br#"{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}"#),
            Some(br#"{"subject":"b","version":1,"id":1,"schema":"x"}"#),
        )
        .is_err());
    }
}
