//! DescribeTransactions (v0) and ListTransactions (v0-1) over the coordinator's metadata, as
//! Kafka's `handleDescribeTransactions` and `listTransactionStates` answer them (KIP-664;
//! KIP-994 for the duration filter).

use std::collections::BTreeSet;

use super::error::TxnError;
use super::ops::validate_transactional_id;
use super::records::TxnTopicPartitions;
use super::state::{TransactionMetadata, TxnState};

/// One transactional id as DescribeTransactions answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    pub transactional_id: String,
    /// Answered by name ([`TxnState::name`]).
    pub state: TxnState,
    pub transaction_timeout_ms: i32,
    /// -1 when no transaction has started.
    pub transaction_start_time_ms: i64,
    pub producer_id: i64,
    /// The response's field is an int32.
    pub producer_epoch: i16,
    /// The partitions of the open transaction, grouped by topic in topic order; while it
    /// completes, only those still waiting for their marker
    /// ([`TransactionMetadata::marker_written`]).
    pub topics: Vec<TxnTopicPartitions>,
}

/// DescribeTransactions of one transactional id: INVALID_REQUEST when it is empty,
/// TRANSACTIONAL_ID_NOT_FOUND when it is unknown (or Dead, being expired).
pub fn describe(
    transactional_id: &str,
    md: Option<&TransactionMetadata>,
) -> Result<TransactionDescription, TxnError> {
    validate_transactional_id(transactional_id)?;
    let md = md
        .filter(|md| md.state != TxnState::Dead)
        .ok_or(TxnError::TransactionalIdNotFound)?;
    let mut topics: Vec<TxnTopicPartitions> = Vec::new();
    for tp in &md.partitions {
        match topics.last_mut() {
            Some(last) if last.topic == tp.topic => last.partition_ids.push(tp.partition),
            _ => topics.push(TxnTopicPartitions {
                topic: tp.topic.clone(),
                partition_ids: vec![tp.partition],
            }),
        }
    }
    Ok(TransactionDescription {
        transactional_id: transactional_id.to_owned(),
        state: md.state,
        transaction_timeout_ms: md.txn_timeout_ms,
        transaction_start_time_ms: md.txn_start_ms,
        producer_id: md.producer_id,
        producer_epoch: md.producer_epoch,
        topics,
    })
}

/// The filters of a ListTransactions request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFilter {
    /// The known states named; meaningful only when `states_given`.
    states: BTreeSet<TxnState>,
    /// Whether the request named any state, known or not: naming only unknown states lists
    /// nothing, as in Kafka.
    states_given: bool,
    producer_ids: BTreeSet<i64>,
    /// v1 `duration_filter`: below 0, no filter.
    duration_ms: i64,
}

impl ListFilter {
    /// From the request's `state_filters`, `producer_id_filters` and (v1) `duration_filter`
    /// (-1 for v0). Returns the filter and the state names that are no state, which the
    /// response lists as `unknown_state_filters`.
    pub fn new<S: AsRef<str>>(
        state_filters: impl IntoIterator<Item = S>,
        producer_id_filters: impl IntoIterator<Item = i64>,
        duration_filter_ms: i64,
    ) -> (Self, Vec<String>) {
        let mut states = BTreeSet::new();
        let mut states_given = false;
        let mut unknown = Vec::new();
        for name in state_filters {
            let name = name.as_ref();
            states_given = true;
            match TxnState::from_name(name) {
                Some(state) => {
                    states.insert(state);
                }
                None => unknown.push(name.to_owned()),
            }
        }
        let filter = ListFilter {
            states,
            states_given,
            producer_ids: producer_id_filters.into_iter().collect(),
            duration_ms: duration_filter_ms,
        };
        (filter, unknown)
    }

    /// No filter: every transactional id.
    pub fn all() -> Self {
        ListFilter {
            states: BTreeSet::new(),
            states_given: false,
            producer_ids: BTreeSet::new(),
            duration_ms: -1,
        }
    }

    /// Whether a transactional id passes: never Dead (an id being expired); its producer id
    /// among the filters, if any; its state among the filters, if any; and with a duration
    /// filter, a transaction started more than that long before `now_ms` (Kafka compares
    /// with the start time as is, so an id with no transaction, start -1, passes).
    pub fn matches(&self, md: &TransactionMetadata, now_ms: i64) -> bool {
        md.state != TxnState::Dead
            && (self.producer_ids.is_empty() || self.producer_ids.contains(&md.producer_id))
            && (!self.states_given || self.states.contains(&md.state))
            && (self.duration_ms < 0 || now_ms.saturating_sub(md.txn_start_ms) > self.duration_ms)
    }
}

/// One transactional id as ListTransactions answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionListing {
    pub transactional_id: String,
    pub producer_id: i64,
    /// Answered by name ([`TxnState::name`]).
    pub state: TxnState,
}

/// ListTransactions over the transactional ids of the partitions this coordinator leads.
pub fn list<'a>(
    transactions: impl IntoIterator<Item = (&'a str, &'a TransactionMetadata)>,
    filter: &ListFilter,
    now_ms: i64,
) -> Vec<TransactionListing> {
    transactions
        .into_iter()
        .filter(|(_, md)| filter.matches(md, now_ms))
        .map(|(id, md)| TransactionListing {
            transactional_id: id.to_owned(),
            producer_id: md.producer_id,
            state: md.state,
        })
        .collect()
}
