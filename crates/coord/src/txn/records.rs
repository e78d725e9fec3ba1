//! The records of `__transaction_state`, byte for byte as Kafka writes them (Kafka's
//! `TransactionLogKey` and `TransactionLogValue`), so that Kafka's tools
//! (`kafka-dump-log.sh --transaction-log-decoder`) read what Myelin writes and Myelin loads
//! what Kafka wrote. One record per transactional id; the topic is compacted, so the latest
//! record is the id's state, and a null value (a tombstone) removes the id.
//!
//! All integers big-endian. The key (one version, 0, never flexible):
//!
//! | field | type |
//! |---|---|
//! | version | int16: 0 (other versions are skipped, [`TxnRecordKey::Other`]) |
//! | transactional_id | string (int16 length) |
//!
//! The value, version 0 (what Kafka writes with the classic transaction protocol, and what we
//! write):
//!
//! | field | type |
//! |---|---|
//! | version | int16: 0 |
//! | producer_id | int64 |
//! | producer_epoch | int16 |
//! | transaction_timeout_ms | int32 |
//! | transaction_status | int8: a [`TxnState`] id (Empty 0 ... PrepareEpochFence 7) |
//! | transaction_partitions | int32 count, -1 for null (Kafka writes null in state Empty); each: topic string, then int32 count of int32 partition ids |
//! | transaction_last_update_timestamp_ms | int64 |
//! | transaction_start_timestamp_ms | int64 (-1 when no transaction has started) |
//!
//! Version 1 (Kafka 4 with `transaction.version` 1 or later) is the first flexible version:
//! the same fields with compact (unsigned varint, plus one, 0 for null) lengths and counts, an
//! empty tagged-field section after each partition entry, and a final tagged-field section
//! holding `PreviousProducerId` (tag 0, int64, default -1), `NextProducerId` (tag 1, int64,
//! default -1) and `ClientTransactionVersion` (tag 2, int16, default 0), each written only
//! when it differs from its default. We read both versions and write version 0: Myelin
//! implements the classic protocol (transaction version 1 semantics), whose records Kafka
//! 3.x writes at version 0.
//!
//! The bytes come from disk and are not trusted: every read is bounds-checked, no count is
//! used to allocate before it is checked against the bytes that remain, and every failure is
//! a [`TxnRecordError`], never a panic. Like Kafka's generated readers, decoding ignores
//! bytes after the last field and skips unknown tagged fields; unlike them it refuses a known
//! tagged field whose size does not match its type.

use bytes::Bytes;

use super::codec::{Reader, Writer};
use super::state::TxnState;

#[cfg(test)]
mod tests;

/// The key version of a transaction's record (the only one Kafka defines).
pub const TRANSACTION_LOG_KEY_VERSION: i16 = 0;
/// The value version we write: Kafka's highest non-flexible one, which Kafka 3.x writes.
pub const TRANSACTION_LOG_VALUE_VERSION: i16 = 0;
/// The highest value version we read; also the first flexible one.
pub const MAX_TRANSACTION_LOG_VALUE_VERSION: i16 = 1;

/// `PreviousProducerId` and `NextProducerId` when absent (v0, or left out of v1's tags).
const DEFAULT_PRODUCER_ID: i64 = -1;
/// `ClientTransactionVersion` when absent.
const DEFAULT_CLIENT_TRANSACTION_VERSION: i16 = 0;
const TAG_PREVIOUS_PRODUCER_ID: u32 = 0;
const TAG_NEXT_PRODUCER_ID: u32 = 1;
const TAG_CLIENT_TRANSACTION_VERSION: u32 = 2;
/// The fewest bytes one partition entry of a value takes (v1: a one-byte compact topic
/// length, a one-byte compact count, a one-byte tag section); bounds the capacity reserved
/// for an entry count read from disk.
const MIN_PARTITIONS_ENTRY_BYTES: usize = 3;

/// Why a `__transaction_state` key or value could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnRecordError {
    /// The bytes end inside a field.
    #[error("{field}: needs {needed} bytes, only {remaining} remain")]
    Truncated {
        field: &'static str,
        needed: usize,
        remaining: usize,
    },

    /// A value version this schema does not define (Kafka fails the load the same way).
    #[error("{record} version {version} is not supported (0..={max})")]
    UnsupportedVersion {
        record: &'static str,
        version: i16,
        max: i16,
    },

    /// A null where the schema does not allow one.
    #[error("{field} is null, which the schema does not allow")]
    UnexpectedNull { field: &'static str },

    /// A length or count that is negative (other than null), over Kafka's string limit, or
    /// larger than the bytes that remain.
    #[error("{field} has invalid length {len}")]
    InvalidLength { field: &'static str, len: i64 },

    /// An unsigned varint longer than five bytes or above `u32::MAX`.
    #[error("{field}: malformed unsigned varint")]
    MalformedVarint { field: &'static str },

    /// A string that is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 { field: &'static str },

    /// A `transaction_status` that is no [`TxnState`] id (Kafka fails the load the same way).
    #[error("transaction status {status} is not a transaction state (0..=7)")]
    UnknownStatus { status: i8 },

    /// A known tagged field whose size does not match its type.
    #[error("tagged field {field} is {size} bytes, expected {expected}")]
    TaggedFieldSize {
        field: &'static str,
        size: usize,
        expected: usize,
    },

    /// Encoding: a field too long for its length prefix (Kafka refuses it as well).
    #[error("{field} is {len} bytes, more than the {max} the format allows")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
}

type Result<T> = std::result::Result<T, TxnRecordError>;

// ----- Keys ---------------------------------------------------------------------------

/// A decoded `__transaction_state` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnRecordKey {
    /// Key version 0: the state of one transactional id.
    Transaction { transactional_id: String },
    /// Any other version: Kafka's loader logs and skips keys it does not know ("a left over
    /// from an aborted upgrade"); so does ours.
    Other { version: i16 },
}

/// Decodes a key. Unknown versions are [`TxnRecordKey::Other`], not errors.
pub fn decode_key(key: &[u8]) -> Result<TxnRecordKey> {
    let mut r = Reader::new(key);
    let version = r.i16("TransactionLogKey version")?;
    Ok(match version {
        TRANSACTION_LOG_KEY_VERSION => TxnRecordKey::Transaction {
            transactional_id: r.string("TransactionLogKey.transactionalId")?,
        },
        version => TxnRecordKey::Other { version },
    })
}

/// The key of a transactional id's record (version 0).
pub fn encode_key(transactional_id: &str) -> Result<Bytes> {
    let mut w = Writer::new(TRANSACTION_LOG_KEY_VERSION, false);
    w.string("TransactionLogKey.transactionalId", transactional_id)?;
    Ok(w.finish())
}

// ----- Values -------------------------------------------------------------------------

/// The partitions of one topic in a [`TransactionLogValue`] (Kafka's `PartitionsSchema`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnTopicPartitions {
    pub topic: String,
    pub partition_ids: Vec<i32>,
}

/// A transactional id's state as stored (Kafka's `TransactionLogValue`), field for field.
/// [`super::TransactionMetadata::to_log_value`] and
/// [`super::TransactionMetadata::from_log_value`] convert to and from the coordinator's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionLogValue {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub transaction_timeout_ms: i32,
    /// `transaction_status`.
    pub status: TxnState,
    /// The partitions in the transaction, grouped by topic; Kafka writes null for state Empty
    /// and ignores the field when it loads an Empty value.
    pub partitions: Option<Vec<TxnTopicPartitions>>,
    pub last_update_timestamp_ms: i64,
    /// -1 when no transaction has started.
    pub start_timestamp_ms: i64,
    /// v1 tag 0 (-1 when absent): the producer id of the last committed transaction, kept by
    /// transaction version 2. Not written in v0.
    pub previous_producer_id: i64,
    /// v1 tag 1 (-1 when absent): the producer id last sent to the producer, kept by
    /// transaction version 2. Not written in v0.
    pub next_producer_id: i64,
    /// v1 tag 2 (0 when absent): the client's transaction version. Not written in v0.
    pub client_transaction_version: i16,
}

impl TransactionLogValue {
    /// Encodes the value as Myelin writes it (version 0; see the module docs).
    pub fn encode(&self) -> Result<Bytes> {
        self.encode_version(TRANSACTION_LOG_VALUE_VERSION)
    }

    /// Encodes the value at `version` (0 or 1). Version 0 drops the three tagged fields.
    pub fn encode_version(&self, version: i16) -> Result<Bytes> {
        check_value_version(version)?;
        let flexible = version >= 1;
        let mut w = Writer::new(version, flexible);
        w.i64(self.producer_id);
        w.i16(self.producer_epoch);
        w.i32(self.transaction_timeout_ms);
        w.i8(self.status.id());
        w.array_len(
            "TransactionLogValue.transactionPartitions",
            self.partitions.as_ref().map(Vec::len),
        )?;
        for entry in self.partitions.iter().flatten() {
            w.string("PartitionsSchema.topic", &entry.topic)?;
            w.array_len(
                "PartitionsSchema.partitionIds",
                Some(entry.partition_ids.len()),
            )?;
            for &id in &entry.partition_ids {
                w.i32(id);
            }
            w.tagged_fields(&[]);
        }
        w.i64(self.last_update_timestamp_ms);
        w.i64(self.start_timestamp_ms);
        let previous = self.previous_producer_id.to_be_bytes();
        let next = self.next_producer_id.to_be_bytes();
        let client_version = self.client_transaction_version.to_be_bytes();
        let mut tags: Vec<(u32, &[u8])> = Vec::with_capacity(3);
        if self.previous_producer_id != DEFAULT_PRODUCER_ID {
            tags.push((TAG_PREVIOUS_PRODUCER_ID, &previous));
        }
        if self.next_producer_id != DEFAULT_PRODUCER_ID {
            tags.push((TAG_NEXT_PRODUCER_ID, &next));
        }
        if self.client_transaction_version != DEFAULT_CLIENT_TRANSACTION_VERSION {
            tags.push((TAG_CLIENT_TRANSACTION_VERSION, &client_version));
        }
        w.tagged_fields(&tags);
        Ok(w.finish())
    }

    /// Decodes a value of version 0 or 1.
    pub fn decode(value: &[u8]) -> Result<Self> {
        let mut r = Reader::new(value);
        let version = r.i16("TransactionLogValue version")?;
        check_value_version(version)?;
        r.flexible = version >= 1;
        let producer_id = r.i64("TransactionLogValue.producerId")?;
        let producer_epoch = r.i16("TransactionLogValue.producerEpoch")?;
        let transaction_timeout_ms = r.i32("TransactionLogValue.transactionTimeoutMs")?;
        let status = r.i8("TransactionLogValue.transactionStatus")?;
        let status = TxnState::from_id(status).ok_or(TxnRecordError::UnknownStatus { status })?;
        let partitions = match r.nullable_array_len("TransactionLogValue.transactionPartitions")? {
            None => None,
            Some(count) => {
                let mut entries =
                    Vec::with_capacity(count.min(r.remaining() / MIN_PARTITIONS_ENTRY_BYTES));
                for _ in 0..count {
                    let topic = r.string("PartitionsSchema.topic")?;
                    let n = r.array_len("PartitionsSchema.partitionIds")?;
                    let mut partition_ids = Vec::with_capacity(n.min(r.remaining() / 4));
                    for _ in 0..n {
                        partition_ids.push(r.i32("PartitionsSchema.partitionIds")?);
                    }
                    r.tagged_fields("PartitionsSchema tagged fields", |_, _| Ok(()))?;
                    entries.push(TxnTopicPartitions {
                        topic,
                        partition_ids,
                    });
                }
                Some(entries)
            }
        };
        let last_update_timestamp_ms =
            r.i64("TransactionLogValue.transactionLastUpdateTimestampMs")?;
        let start_timestamp_ms = r.i64("TransactionLogValue.transactionStartTimestampMs")?;
        let mut previous_producer_id = DEFAULT_PRODUCER_ID;
        let mut next_producer_id = DEFAULT_PRODUCER_ID;
        let mut client_transaction_version = DEFAULT_CLIENT_TRANSACTION_VERSION;
        r.tagged_fields("TransactionLogValue tagged fields", |tag, bytes| {
            match tag {
                TAG_PREVIOUS_PRODUCER_ID => {
                    previous_producer_id =
                        i64::from_be_bytes(fixed("TransactionLogValue.previousProducerId", bytes)?);
                }
                TAG_NEXT_PRODUCER_ID => {
                    next_producer_id =
                        i64::from_be_bytes(fixed("TransactionLogValue.nextProducerId", bytes)?);
                }
                TAG_CLIENT_TRANSACTION_VERSION => {
                    client_transaction_version = i16::from_be_bytes(fixed(
                        "TransactionLogValue.clientTransactionVersion",
                        bytes,
                    )?);
                }
                // A tag added after Kafka 4: skipped, as Kafka skips unknown tags.
                _ => {}
            }
            Ok(())
        })?;
        Ok(TransactionLogValue {
            producer_id,
            producer_epoch,
            transaction_timeout_ms,
            status,
            partitions,
            last_update_timestamp_ms,
            start_timestamp_ms,
            previous_producer_id,
            next_producer_id,
            client_transaction_version,
        })
    }
}

/// A fixed-size tagged field's bytes.
fn fixed<const N: usize>(field: &'static str, bytes: &[u8]) -> Result<[u8; N]> {
    bytes
        .try_into()
        .map_err(|_| TxnRecordError::TaggedFieldSize {
            field,
            size: bytes.len(),
            expected: N,
        })
}

fn check_value_version(version: i16) -> Result<()> {
    if (0..=MAX_TRANSACTION_LOG_VALUE_VERSION).contains(&version) {
        Ok(())
    } else {
        Err(TxnRecordError::UnsupportedVersion {
            record: "TransactionLogValue",
            version,
            max: MAX_TRANSACTION_LOG_VALUE_VERSION,
        })
    }
}

// ----- Whole records ------------------------------------------------------------------

/// A decoded `__transaction_state` record, as the loader replays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnRecord {
    /// `value` None (a tombstone) removes the transactional id.
    Transaction {
        transactional_id: String,
        value: Option<TransactionLogValue>,
    },
    /// A key version this coordinator does not load; its value is not looked at.
    Other { version: i16 },
}

/// Decodes a record's key and, unless it is a tombstone (`value` None), its value.
pub fn decode_record(key: &[u8], value: Option<&[u8]>) -> Result<TxnRecord> {
    Ok(match decode_key(key)? {
        TxnRecordKey::Transaction { transactional_id } => TxnRecord::Transaction {
            transactional_id,
            value: value.map(TransactionLogValue::decode).transpose()?,
        },
        TxnRecordKey::Other { version } => TxnRecord::Other { version },
    })
}
