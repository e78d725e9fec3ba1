//! Schema ID validation over real TCP, with the schemas written to `_schemas` by Produce
//! in Confluent Schema Registry's own record format, as a Confluent Schema Registry
//! pointed at this broker writes them; and the registry's view of the topic (changes
//! planned, appended and read back) surviving a restart.

mod common;

use common::data::{create_topic, produce};
use common::{Client, TestServer};
use kafka_protocol::ResponseError;
use myelin_log::compression::Compression;
use myelin_log::record::{simple_batch, KeyValue};
use myelin_registry::{Compatibility, Registration, SubjectStrategy};
use myelin_server::Config;

const PRODUCE_VERSION: i16 = 9;

/// A record of `_schemas` as Confluent Schema Registry writes it: `subject` version 1
/// holds schema `id`.
fn schema_record(subject: &str, id: i32, schema: &str) -> (Vec<u8>, Vec<u8>) {
    let key = format!(r#"{{"keytype":"SCHEMA","subject":"{subject}","version":1,"magic":1}}"#);
    let value = serde_json::json!({
        "subject": subject, "version": 1, "id": id, "schema": schema, "deleted": false
    });
    (key.into_bytes(), value.to_string().into_bytes())
}

fn framed(id: i32, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

async fn produce_values(
    client: &mut Client,
    topic: &str,
    values: &[Option<&[u8]>],
) -> (i16, Vec<i32>, String) {
    let records: Vec<KeyValue<'_>> = values.iter().map(|v| (Some(&b"key"[..]), *v)).collect();
    produce_records(client, topic, &records).await
}

/// Produces `records` in one lz4 batch: the error code, the indexes of the records refused
/// and the error message.
async fn produce_records(
    client: &mut Client,
    topic: &str,
    records: &[KeyValue<'_>],
) -> (i16, Vec<i32>, String) {
    let r = produce(
        client,
        PRODUCE_VERSION,
        topic,
        0,
        simple_batch(records, common::data::now(), Compression::Lz4),
    )
    .await;
    let indexes = r.record_errors.iter().map(|e| e.batch_index).collect();
    let message = r
        .error_message
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    (r.error_code, indexes, message)
}

#[tokio::test]
async fn produce_is_checked_against_schemas_a_confluent_registry_wrote() {
    let server = TestServer::start(Config::default()).await;
    let mut client = server.connect().await;
    // What a Confluent Schema Registry does: its own topic, compacted, written by Produce.
    create_topic(&server, "_schemas", 1, &[("cleanup.policy", "compact")]);
    create_topic(
        &server,
        "orders",
        1,
        &[("confluent.value.schema.validation", "true")],
    );
    create_topic(
        &server,
        "by-record-name",
        1,
        &[
            ("confluent.key.schema.validation", "true"),
            (
                "confluent.key.subject.name.strategy",
                "io.confluent.kafka.serializers.subject.RecordNameStrategy",
            ),
        ],
    );
    create_topic(&server, "free", 1, &[]);
    let order = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"}]}"#;
    let records = [
        schema_record("orders-value", 1, order),
        schema_record("audit-value", 2, r#""string""#),
        schema_record("shop.Order", 3, order),
    ];
    let pairs: Vec<KeyValue<'_>> = records
        .iter()
        .map(|(k, v)| (Some(&k[..]), Some(&v[..])))
        .collect();
    let r = produce(
        &mut client,
        PRODUCE_VERSION,
        "_schemas",
        0,
        simple_batch(&pairs, common::data::now(), Compression::None),
    )
    .await;
    assert_eq!(r.error_code, 0);

    let good = framed(1, b"\x02");
    let (code, idx, _) = produce_values(&mut client, "orders", &[Some(&good), None]).await;
    assert_eq!(
        (code, idx),
        (0, vec![]),
        "a registered id and a tombstone pass"
    );

    // A batch with bad records is refused whole, each bad record named (KIP-467).
    let wrong_subject = framed(2, b"x");
    let unknown = framed(99, b"x");
    let (code, idx, message) = produce_values(
        &mut client,
        "orders",
        &[
            Some(&good),
            Some(b"plain text"),
            Some(&wrong_subject),
            Some(&unknown),
        ],
    )
    .await;
    assert_eq!(code, ResponseError::InvalidRecord.code());
    assert_eq!(idx, vec![1, 2, 3]);
    assert!(message.contains("wire format"), "{message}");

    // RecordNameStrategy on keys: the subject is the Avro full name.
    for (id, expected) in [(3, 0), (2, ResponseError::InvalidRecord.code())] {
        let key = framed(id, b"");
        let records = [(Some(&key[..]), Some(&b"any value"[..]))];
        let (code, _, _) = produce_records(&mut client, "by-record-name", &records).await;
        assert_eq!(code, expected, "key framed with schema {id}");
    }

    // A topic without validation takes anything.
    let (code, _, _) = produce_values(&mut client, "free", &[Some(b"plain text")]).await;
    assert_eq!(code, 0);

    // Only what was acknowledged is in the logs: 2 records of orders.
    let orders = server.partitions.get("orders", 0).unwrap();
    assert_eq!(orders.log.log_end_offset(), 2);

    // A schema deleted (a tombstone for its version, as Confluent writes it) no longer
    // validates.
    let key = br#"{"keytype":"SCHEMA","subject":"orders-value","version":1,"magic":1}"#;
    let r = produce(
        &mut client,
        PRODUCE_VERSION,
        "_schemas",
        0,
        simple_batch(
            &[(Some(&key[..]), None)],
            common::data::now(),
            Compression::None,
        ),
    )
    .await;
    assert_eq!(r.error_code, 0);
    let (code, _, message) = produce_values(&mut client, "orders", &[Some(&good)]).await;
    assert_eq!(code, ResponseError::InvalidRecord.code());
    assert!(
        message.contains("schema id 1 is not registered"),
        "{message}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_registrys_changes_are_durable_and_read_back_after_a_restart() {
    let server = TestServer::start(Config::default()).await;
    let ctx = server.context.clone();
    let store = ctx.schemas.clone();
    let v1 = r#"{"type":"record","name":"Visit","fields":[{"name":"ward","type":"string"}]}"#;
    let (id, version) = store
        .change(&ctx, move |r| {
            let parsed = r.parse_request(None, v1, &[])?;
            Ok(match r.plan_register("visits-value", &parsed, &[])? {
                Registration::New {
                    id,
                    version,
                    record,
                } => ((id, version), vec![record]),
                Registration::Existing { id, version } => ((id, version), vec![]),
            })
        })
        .await
        .unwrap();
    assert_eq!((id, version), (1, 1));
    store
        .change(&ctx, |r| {
            Ok((
                (),
                vec![r.plan_config(Some("visits-value"), Some(Compatibility::Full))],
            ))
        })
        .await
        .unwrap();
    // The registry created its topic as Confluent's does.
    let state = ctx.metadata.state();
    let topic = state.topic_by_name("_schemas").expect("created");
    assert_eq!(
        topic.configs.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    drop(state);
    // The old context holds the logs open.
    drop((store, ctx));

    let server = server.restart(Config::default()).await;
    let ctx = server.context.clone();
    {
        let reg = ctx.schemas.read(&ctx.partitions).unwrap();
        assert_eq!(reg.subjects(false, ""), vec!["visits-value"]);
        assert_eq!(reg.effective_config("visits-value"), Compatibility::Full);
        let framed_value = framed(1, b"\x02");
        assert!(reg
            .check_field(
                "visits",
                false,
                SubjectStrategy::TopicName,
                Some(&framed_value)
            )
            .is_ok());
    }
    server.stop().await;
}
