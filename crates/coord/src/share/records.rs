//! The records of `__share_group_state`, where the share coordinator keeps what it must not
//! lose: which share groups exist, and each share-partition's start offset and in-flight
//! states. The topic is compacted: the latest record of a key is the state.
//!
//! The layout is Myelin's own (Kafka's share coordinator writes `ShareSnapshot` and
//! `ShareUpdate` records to a topic of the same name; a Kafka data directory's copy is not
//! read). Keys start with an int16 type, values with an int16 version (0); a null value is
//! a tombstone:
//!
//! | key type | record | key fields | value fields |
//! |---|---|---|---|
//! | 0 | share-partition state | group string, topic id uuid, partition int32 | start offset int64, state epoch int32, batches: count int32, each first offset int64, last offset int64, state int8, delivery count int16 |
//! | 1 | share group | group string | group epoch int32 |
//!
//! Strings are int16 length then UTF-8 bytes. The bytes come from disk and are not trusted:
//! every read is bounds-checked and an error is a [`RecordError`], never a panic.

use bytes::Bytes;

use super::partition::StateBatch;
use crate::consumer::TopicId;
use crate::records::{Reader, RecordError, Writer};

const PARTITION_STATE: i16 = 0;
const GROUP: i16 = 1;
const VALUE_VERSION: i16 = 0;
/// The bytes one state batch takes.
const BATCH_BYTES: usize = 8 + 8 + 1 + 2;

/// A decoded key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareKey {
    Partition {
        group: String,
        topic_id: TopicId,
        partition: i32,
    },
    Group {
        group: String,
    },
}

/// A share-partition's persisted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStateValue {
    pub start_offset: i64,
    pub state_epoch: i32,
    pub batches: Vec<StateBatch>,
}

impl ShareKey {
    pub fn encode(&self) -> Result<Bytes, RecordError> {
        match self {
            ShareKey::Partition {
                group,
                topic_id,
                partition,
            } => {
                let mut w = Writer::new(PARTITION_STATE, false);
                w.string("group", group)?;
                w.uuid(topic_id.as_bytes());
                w.i32(*partition);
                Ok(w.finish())
            }
            ShareKey::Group { group } => {
                let mut w = Writer::new(GROUP, false);
                w.string("group", group)?;
                Ok(w.finish())
            }
        }
    }

    /// The key; `Ok(None)` for a type this version does not know (skipped at load).
    pub fn decode(key: &[u8]) -> Result<Option<ShareKey>, RecordError> {
        let mut r = Reader::new(key, false);
        match r.i16("key type")? {
            PARTITION_STATE => Ok(Some(ShareKey::Partition {
                group: r.string("group")?,
                topic_id: TopicId(r.uuid("topic id")?),
                partition: r.i32("partition")?,
            })),
            GROUP => Ok(Some(ShareKey::Group {
                group: r.string("group")?,
            })),
            _ => Ok(None),
        }
    }
}

impl PartitionStateValue {
    pub fn encode(&self) -> Result<Bytes, RecordError> {
        let mut w = Writer::new(VALUE_VERSION, false);
        w.i64(self.start_offset);
        w.i32(self.state_epoch);
        w.array_len("batches", self.batches.len())?;
        for b in &self.batches {
            w.i64(b.first_offset);
            w.i64(b.last_offset);
            w.i8(b.state);
            w.i16(b.delivery_count);
        }
        Ok(w.finish())
    }

    pub fn decode(value: &[u8]) -> Result<Self, RecordError> {
        let mut r = Reader::new(value, false);
        check_version(r.i16("version")?)?;
        let start_offset = r.i64("start offset")?;
        let state_epoch = r.i32("state epoch")?;
        let n = r.array_len("batches")?;
        if n.saturating_mul(BATCH_BYTES) > r.remaining() {
            return Err(RecordError::InvalidLength {
                field: "batches",
                len: i64::try_from(n).unwrap_or(i64::MAX),
            });
        }
        let mut batches = Vec::with_capacity(n);
        for _ in 0..n {
            batches.push(StateBatch {
                first_offset: r.i64("first offset")?,
                last_offset: r.i64("last offset")?,
                state: r.i8("state")?,
                delivery_count: r.i16("delivery count")?,
            });
        }
        Ok(PartitionStateValue {
            start_offset,
            state_epoch,
            batches,
        })
    }
}

/// A share group's value: its group epoch.
pub fn encode_group_value(epoch: i32) -> Bytes {
    let mut w = Writer::new(VALUE_VERSION, false);
    w.i32(epoch);
    w.finish()
}

pub fn decode_group_value(value: &[u8]) -> Result<i32, RecordError> {
    let mut r = Reader::new(value, false);
    check_version(r.i16("version")?)?;
    r.i32("group epoch")
}

fn check_version(version: i16) -> Result<(), RecordError> {
    if version == VALUE_VERSION {
        Ok(())
    } else {
        Err(RecordError::UnsupportedVersion {
            record: "share state",
            version,
            max: VALUE_VERSION,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_every_truncation_is_an_error() {
        let key = ShareKey::Partition {
            group: "g".into(),
            topic_id: TopicId([7; 16]),
            partition: 3,
        };
        let value = PartitionStateValue {
            start_offset: 42,
            state_epoch: 1,
            batches: vec![
                StateBatch {
                    first_offset: 42,
                    last_offset: 45,
                    state: 2,
                    delivery_count: 1,
                },
                StateBatch {
                    first_offset: 46,
                    last_offset: 46,
                    state: 0,
                    delivery_count: 3,
                },
            ],
        };
        let k = key.encode().unwrap();
        let v = value.encode().unwrap();
        assert_eq!(ShareKey::decode(&k).unwrap(), Some(key));
        assert_eq!(PartitionStateValue::decode(&v).unwrap(), value);
        for n in 0..v.len() {
            assert!(PartitionStateValue::decode(&v[..n]).is_err(), "{n}");
        }
        for n in 0..k.len() {
            assert!(ShareKey::decode(&k[..n]).is_err(), "{n}");
        }
        let g = ShareKey::Group { group: "g".into() };
        assert_eq!(ShareKey::decode(&g.encode().unwrap()).unwrap(), Some(g));
        assert_eq!(decode_group_value(&encode_group_value(9)).unwrap(), 9);
        // An unknown key type is skipped, not an error.
        assert_eq!(ShareKey::decode(&[0, 9, 0, 0]).unwrap(), None);
        // A batch count larger than the bytes is refused before allocating.
        let mut lie = v.to_vec();
        lie[14..18].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(PartitionStateValue::decode(&lie).is_err());
    }
}
