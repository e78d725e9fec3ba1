//! Topic creation through librdkafka's admin client, as the end-to-end tests need it before
//! their clients start.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

/// How long CreateTopics may take (a debug broker on a busy 2-core machine).
const TIMEOUT: Duration = Duration::from_secs(60);

/// An admin client of the broker at `bootstrap` (IPv4, as the broker listens).
pub fn admin_client(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("client.id", "myelin-e2e-admin")
        .create()
        .expect("an admin client")
}

/// Creates `name` with `partitions` (replication factor 1) and the topic `configs` over
/// `admin`, and asserts that it worked.
pub async fn create_topic_with(
    admin: &AdminClient<DefaultClientContext>,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) {
    let created = try_create_topic_with(admin, name, partitions, configs).await;
    assert!(created, "CreateTopics refused {name}");
}

/// As [`create_topic_with`], returning whether the topic was created instead of asserting
/// it (for tests where the broker may refuse, on a full disk for example). CreateTopics
/// must be answered either way.
pub async fn try_create_topic_with(
    admin: &AdminClient<DefaultClientContext>,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> bool {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = admin
        .create_topics(
            &[topic],
            &AdminOptions::new().request_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("CreateTopics answered");
    results == vec![Ok(name.to_string())]
}

/// [`create_topic_with`] from synchronous code, on a runtime of its own (not from inside
/// an async test: there, await `create_topic_with`).
pub fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(create_topic_with(
        &admin_client(bootstrap),
        name,
        partitions,
        &[],
    ));
}
