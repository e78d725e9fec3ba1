//! A conformance suite every [`MetadataStore`] implementation runs: the invariants stated on
//! the trait, checked through the trait alone. The file store runs it in its unit tests; a
//! replicated store runs the same functions.
//!
//! The checks panic (they are meant for tests).

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::error::{MetadataError, StateError};
use crate::record::{BrokerConfigScope, MetadataOffset, MetadataRecord, TopicId};
use crate::store::MetadataStore;

fn topic_id(n: u128) -> TopicId {
    TopicId(Uuid::from_u128(
        0xc0f0_0000_0000_0000_0000_0000_0000_0000 | n,
    ))
}

fn created(name: &str, id: TopicId, partitions: u32) -> MetadataRecord {
    MetadataRecord::TopicCreated {
        name: name.to_string(),
        topic_id: id,
        partitions,
        configs: BTreeMap::from([("cleanup.policy".to_string(), "delete".to_string())]),
    }
}

/// Checks the commit invariants on an empty store.
pub fn check_store(store: &dyn MetadataStore) {
    let empty = store.state();
    assert_eq!(empty.last_applied(), None, "a new store starts empty");
    assert_eq!(empty.topic_count(), 0);

    // Consecutive offsets from 0.
    let a = store.commit(created("conf-a", topic_id(1), 3)).unwrap();
    let b = store.commit(created("conf-b", topic_id(2), 1)).unwrap();
    assert_eq!((a, b), (MetadataOffset(0), MetadataOffset(1)));

    // Snapshots are immutable; a commit is visible once it returns.
    assert_eq!(empty.topic_count(), 0, "an old snapshot changed");
    let s = store.state();
    assert_eq!(s.last_applied(), Some(MetadataOffset(1)));
    assert_eq!(s.topic_by_name("conf-a").unwrap().partitions, 3);

    // Refused records take no offset and change nothing.
    let err = store.commit(created("conf-a", topic_id(3), 1)).unwrap_err();
    assert!(
        matches!(
            err,
            MetadataError::Refused(StateError::TopicAlreadyExists { .. })
        ),
        "{err}"
    );
    let err = store
        .commit(MetadataRecord::TopicDeleted {
            topic_id: topic_id(99),
        })
        .unwrap_err();
    assert!(matches!(
        err,
        MetadataError::Refused(StateError::UnknownTopicId { .. })
    ));
    assert_eq!(*store.state(), *s, "a refused record changed the state");

    // Every record kind applies.
    let next = store
        .commit(MetadataRecord::PartitionsCreated {
            topic_id: topic_id(1),
            new_total: 6,
        })
        .unwrap();
    assert_eq!(next, MetadataOffset(2), "a refused record took an offset");
    store
        .commit(MetadataRecord::TopicConfigAltered {
            topic_id: topic_id(2),
            configs: BTreeMap::from([("retention.ms".to_string(), "60000".to_string())]),
        })
        .unwrap();
    store
        .commit(MetadataRecord::BrokerConfigAltered {
            scope: BrokerConfigScope::ClusterDefault,
            configs: BTreeMap::from([("num.partitions".to_string(), "3".to_string())]),
        })
        .unwrap();
    store
        .commit(MetadataRecord::TopicDeleted {
            topic_id: topic_id(1),
        })
        .unwrap();
    let s = store.state();
    assert_eq!(s.last_applied(), Some(MetadataOffset(5)));
    assert!(s.topic(topic_id(1)).is_none());
    assert_eq!(
        s.topic(topic_id(2)).unwrap().configs.get("retention.ms"),
        Some(&"60000".to_string())
    );
    assert_eq!(
        s.broker_configs(BrokerConfigScope::ClusterDefault)
            .get("num.partitions"),
        Some(&"3".to_string())
    );
}

/// Checks that a reopened store has exactly the committed state. `open` opens the same
/// store each time (the previous instance is dropped first); the first open must be empty.
pub fn check_durable(open: &mut dyn FnMut() -> Box<dyn MetadataStore>) {
    let store = open();
    assert_eq!(
        store.state().last_applied(),
        None,
        "the first open is empty"
    );
    store.commit(created("dur-a", topic_id(10), 2)).unwrap();
    store
        .commit(MetadataRecord::PartitionsCreated {
            topic_id: topic_id(10),
            new_total: 3,
        })
        .unwrap();
    let _ = store.commit(created("dur-a", topic_id(11), 1)).unwrap_err();
    let committed = store.state();
    drop(store);

    let store = open();
    assert_eq!(
        *store.state(),
        *committed,
        "replay differs from the committed state"
    );
    // The sequence continues without a hole.
    assert_eq!(
        store.commit(created("dur-b", topic_id(11), 1)).unwrap(),
        MetadataOffset(2)
    );
    let committed = store.state();
    drop(store);
    assert_eq!(*open().state(), *committed);
}
