"""Myelin's embedded Schema Registry and broker-side schema ID validation, driven only by
confluent-kafka: its SchemaRegistryClient, its Avro and JSON Schema serdes, and librdkafka.

Written against what a Confluent Schema Registry and a Confluent Server broker do, which
Myelin imitates: the same REST endpoints, JSON bodies, HTTP statuses and error codes, and
the same topic configs (confluent.value.schema.validation, confluent.key.schema.validation).

`before` (on a new broker and an empty registry):
1. Registry basics: no subjects at first; an Avro record registered under patients-value
   gets an id, the same id when registered again; get_schema, get_latest_version,
   get_versions and lookup_schema agree; the same schema under other-value gets the same id.
2. Compatibility: the global level is BACKWARD; a field added with a default registers as
   version 2; a field without a default, or a changed type, is refused (409) and
   test_compatibility says False; with patients-value at NONE it registers as version 3.
3. Errors: an invalid Avro schema (422/42201), an unknown subject (404/40401), version
   (404/40402), schema id (404/40403), a compatibility level that does not exist
   (422/42203), and a subject without its own level (404/40408).
4. AvroSerializer (auto-registering) produces 10 records to `patients`; AvroDeserializer
   reads them back, equal and in order.
5. Broker-side validation: on `validated` (confluent.value.schema.validation=true) the
   broker refuses with INVALID_RECORD raw bytes, a value framed for another subject, an
   unknown schema id and a truncated frame, and accepts Avro values framed for
   validated-value and a tombstone; on `validated-keys` (confluent.key.schema.validation=true)
   it refuses raw and unknown-id keys and accepts an Avro-framed key and a null key. The
   topics then hold exactly the accepted records, at consecutive offsets.
6. JSON Schema: JSONSerializer registers visits-value (schemaType JSON); three records
   produced and read back with JSONDeserializer.
7. Deletion: soft-deleting a version and a subject, permanent deletion (refused on a live
   subject), re-registration starting again at version 1; a soft-deleted schema stays
   readable by its id (gone-value is left soft-deleted).
Then it writes what it saw (subjects, versions, ids, schemas) to $SR_STATE_FILE
(default /tmp/sr_state.json).

`after` (the same broker restarted on the same data directory): the same subjects,
versions, ids and schemas; patients-value still at NONE and the global level BACKWARD;
the 10 `patients` records still deserialize (a new consumer group); validation is still
enforced; and a schema registered in a new subject gets an id above every id seen before.

Usage: python schema_registry_clients.py before|after HOST:PORT REGISTRY_URL
Prints `schema registry clients: all checks passed` at the end; on a failure it prints
`schema registry clients: FAILED: ...` and exits 1.
"""

import json
import os
import struct
import sys
import time
import traceback

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType
from confluent_kafka.schema_registry import (
    Schema,
    SchemaReference,
    SchemaRegistryClient,
    SchemaRegistryError,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

TIMEOUT = 30
STATE_FILE = os.environ.get("SR_STATE_FILE", "/tmp/sr_state.json")

# The subjects `before` leaves, which `after` expects: listed, and soft-deleted only.
LIVE_SUBJECTS = {
    "patients-value",
    "other-value",
    "validated-value",
    "validated-keys-key",
    "visits-value",
    "tmp-value",
    "address-value",
    "person-value",
}
SOFT_DELETED_SUBJECTS = {"gone-value"}

# The topics `before` creates: name -> topic configs.
TOPICS = {
    "patients": {},
    "validated": {"confluent.value.schema.validation": "true"},
    "validated-keys": {"confluent.key.schema.validation": "true"},
    "visits": {},
}

# A schema id that no registration reaches in this test (checked to be unknown first).
UNKNOWN_ID = 999999


def avro_record(name, fields):
    return json.dumps(
        {"type": "record", "name": name, "namespace": "org.myelin.test", "fields": fields}
    )


ID = {"name": "id", "type": "string"}
NAME = {"name": "name", "type": "string"}
WARD = {"name": "ward", "type": "string", "default": "general"}
PATIENT_V1 = avro_record("Patient", [ID, NAME])
# Backward compatible with v1: a field with a default.
PATIENT_V2 = avro_record("Patient", [ID, NAME, WARD])
# Backward compatible with v2, only tested, never registered.
PATIENT_V2_EMAIL = avro_record(
    "Patient", [ID, NAME, WARD, {"name": "email", "type": ["null", "string"], "default": None}]
)
# Not backward compatible with v2: a field without a default (registered as v3 under NONE).
PATIENT_NO_DEFAULT = avro_record("Patient", [ID, NAME, WARD, {"name": "age", "type": "int"}])
# Not backward compatible with v2: a field's type changed.
PATIENT_NAME_INT = avro_record("Patient", [ID, {"name": "name", "type": "int"}, WARD])
INVALID_AVRO = json.dumps(
    {"type": "record", "name": "x", "fields": [{"name": "a", "type": "nosuchtype"}]}
)
READING = avro_record(
    "Reading", [{"name": "sensor", "type": "string"}, {"name": "celsius", "type": "double"}]
)
KEY_STRING = '"string"'
TMP_V1 = avro_record("Tmp", [{"name": "a", "type": "string"}])
TMP_V2 = avro_record("Tmp", [{"name": "a", "type": "string"}, {"name": "b", "type": "int", "default": 0}])
GONE = avro_record("Gone", [{"name": "g", "type": "string"}])
AFTER_RESTART = avro_record("AfterRestart", [{"name": "at", "type": "long"}])
VISIT = json.dumps(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Visit",
        "type": "object",
        "properties": {"patient": {"type": "string"}, "room": {"type": "integer"}},
        "required": ["patient", "room"],
        "additionalProperties": False,
    }
)

PATIENTS = [{"id": f"p{i}", "name": f"Patient {i}", "ward": f"ward-{i % 3}"} for i in range(10)]
READINGS = [{"sensor": "s1", "celsius": 21.5}, {"sensor": "s2", "celsius": -3.25}]
VISITS = [{"patient": f"p{i}", "room": 100 + i} for i in range(3)]

# librdkafka settings for a record the broker may refuse: sent at once, alone, and its
# error reported rather than retried.
STRICT = {
    "linger.ms": 0,
    "retries": 0,
    "enable.idempotence": False,
    "message.timeout.ms": TIMEOUT * 1000,
}


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


class Registry:
    """The SchemaRegistryClient, its caches emptied before each call, so that every
    answer checked here comes from the registry and not from the client's cache."""

    def __init__(self, url):
        self.client = SchemaRegistryClient({"url": url, "timeout": TIMEOUT})

    def __call__(self):
        self.client.clear_caches()
        return self.client


def wait_for_registry(sr, url):
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return sr().get_subjects()
        except SchemaRegistryError:
            raise
        except Exception as e:  # the listener not up yet
            if time.monotonic() > deadline:
                raise AssertionError(f"registry at {url} does not answer: {e!r}")
            time.sleep(0.5)


def expect_sr_error(what, status, codes, call):
    """`call` fails with a SchemaRegistryError of this HTTP status and one of these codes."""
    codes = (codes,) if isinstance(codes, int) else tuple(codes)
    try:
        result = call()
    except SchemaRegistryError as e:
        log(f"  {what}: HTTP {e.http_status_code}, error code {e.error_code}: {e.error_message}")
        expect(e.http_status_code == status, f"{what}: HTTP {e.http_status_code}, expected {status}: {e}")
        expect(e.error_code in codes, f"{what}: error code {e.error_code}, expected {codes}: {e}")
        return
    raise AssertionError(f"{what}: succeeded with {result!r}, expected HTTP {status} {codes}")


def parsed(schema_str):
    return json.loads(schema_str)


def framed_id(data):
    """The schema id of Confluent's wire format: magic byte 0, then a big-endian int."""
    expect(data is not None and len(data) > 5 and data[0] == 0, f"not Confluent-framed: {data!r}")
    return struct.unpack(">I", data[1:5])[0]


def avro(schema_str):
    return Schema(schema_str, "AVRO")


def check_registered(sr, subject, version, schema_id, schema_str):
    """get_latest_version and get_version(subject, version) agree on what is registered."""
    for what, rs in [
        ("get_latest_version", sr().get_latest_version(subject)),
        (f"get_version {version}", sr().get_version(subject, version)),
    ]:
        expect(rs.subject == subject, f"{subject} {what}: subject {rs.subject!r}")
        expect(rs.version == version, f"{subject} {what}: version {rs.version}, expected {version}")
        expect(rs.schema_id == schema_id, f"{subject} {what}: id {rs.schema_id}, expected {schema_id}")
        expect(
            parsed(rs.schema.schema_str) == parsed(schema_str),
            f"{subject} {what}: schema {rs.schema.schema_str}, expected {schema_str}",
        )


def snapshot(sr):
    """Every listed subject, with each version's id, type and (parsed) schema."""
    out = {}
    for subject in sorted(sr().get_subjects()):
        entries = []
        for version in sr().get_versions(subject):
            rs = sr().get_version(subject, version)
            expect(
                rs.subject == subject and rs.version == version,
                f"get_version({subject}, {version}) answered {rs.subject} {rs.version}",
            )
            entries.append(
                {
                    "version": version,
                    "id": rs.schema_id,
                    "type": rs.schema.schema_type,
                    "schema": parsed(rs.schema.schema_str),
                }
            )
        out[subject] = entries
    return out


def check_subjects(sr):
    live = sr().get_subjects()
    expect(len(live) == len(set(live)), f"subjects listed twice: {live}")
    expect(set(live) == LIVE_SUBJECTS, f"subjects {sorted(live)}, expected {sorted(LIVE_SUBJECTS)}")
    every = set(sr().get_subjects(deleted=True))
    expect(
        every == LIVE_SUBJECTS | SOFT_DELETED_SUBJECTS,
        f"subjects with deleted=true {sorted(every)}, expected "
        f"{sorted(LIVE_SUBJECTS | SOFT_DELETED_SUBJECTS)}",
    )


# Kafka side.


def producer(**extra):
    conf = {"bootstrap.servers": BOOTSTRAP, "acks": "all"}
    conf.update(extra)
    return Producer(conf)


def send(p, topic, key, value, what):
    """Produce one record alone (its own produce call and flush); its delivery report."""
    reports = []
    p.produce(topic, key=key, value=value, on_delivery=lambda err, msg: reports.append((err, msg)))
    left = p.flush(TIMEOUT)
    expect(left == 0 and len(reports) == 1, f"{what}: no delivery report within {TIMEOUT} s")
    return reports[0]


def accept(p, topic, key, value, what):
    err, msg = send(p, topic, key, value, what)
    expect(err is None, f"{what}: refused by the broker: {err}")
    log(f"  {what}: accepted at offset {msg.offset()}")
    return msg.offset()


def refuse(p, topic, key, value, what):
    err, msg = send(p, topic, key, value, what)
    expect(err is not None, f"{what}: accepted at offset {msg.offset()}, expected INVALID_RECORD")
    expect(
        err.code() == KafkaError.INVALID_RECORD,
        f"{what}: delivery error {err.name()} ({err.str()}), expected INVALID_RECORD",
    )
    log(f"  {what}: refused, {err.name()}: {err.str()}")


def consume(topic, group, count):
    """Every record of single-partition `topic` from the start, in a new consumer group;
    exactly `count` of them, at offsets 0 to count - 1."""
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    got = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + TIMEOUT
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            expect(msg.error() is None, f"{topic}: consumer error {msg.error()}")
            got.append(msg)
        # A little longer, to see any record past the expected ones.
        settle = time.monotonic() + 1.5
        while time.monotonic() < settle:
            msg = consumer.poll(0.3)
            if msg is not None:
                expect(msg.error() is None, f"{topic}: consumer error {msg.error()}")
                got.append(msg)
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT)
    finally:
        consumer.close()
    expect(len(got) == count, f"{topic}: consumed {len(got)} records, expected {count}")
    expect([m.offset() for m in got] == list(range(count)), f"{topic}: offsets {[m.offset() for m in got]}")
    expect((low, high) == (0, count), f"{topic}: watermarks {(low, high)}, expected (0, {count})")
    return got


def check_topic_configs(admin):
    for topic, configs in TOPICS.items():
        if not configs:
            continue
        resource = ConfigResource(ResourceType.TOPIC, topic)
        described = admin.describe_configs([resource], request_timeout=TIMEOUT)[resource].result(TIMEOUT)
        for name, value in configs.items():
            expect(name in described, f"{topic}: {name} not described")
            expect(described[name].value == value, f"{topic}: {name}={described[name].value}, expected {value}")


def read_patients(sr, group):
    deserializer = AvroDeserializer(sr.client)
    ctx = SerializationContext("patients", MessageField.VALUE)
    got = []
    for msg in consume("patients", group, len(PATIENTS)):
        got.append(deserializer(msg.value(), ctx))
    expect(got == PATIENTS, f"patients read back as {got}")


# The two runs.


def before(sr):
    log("1. registry basics")
    expect(sr().get_subjects() == [], f"a new registry lists subjects: {sr().get_subjects()}")
    id1 = sr().register_schema("patients-value", avro(PATIENT_V1))
    expect(isinstance(id1, int) and id1 > 0, f"register: id {id1!r}")
    again = sr().register_schema("patients-value", avro(PATIENT_V1))
    expect(again == id1, f"the same schema registered again: id {again}, expected {id1}")
    expect(sr().get_versions("patients-value") == [1], f"versions {sr().get_versions('patients-value')}")
    schema = sr().get_schema(id1)
    expect(schema.schema_type == "AVRO", f"get_schema({id1}): type {schema.schema_type}")
    expect(parsed(schema.schema_str) == parsed(PATIENT_V1), f"get_schema({id1}): {schema.schema_str}")
    check_registered(sr, "patients-value", 1, id1, PATIENT_V1)
    found = sr().lookup_schema("patients-value", avro(PATIENT_V1))
    expect(
        (found.subject, found.version, found.schema_id) == ("patients-value", 1, id1),
        f"lookup_schema: {found.subject} {found.version} {found.schema_id}",
    )
    other = sr().register_schema("other-value", avro(PATIENT_V1))
    expect(other == id1, f"the same schema in other-value: id {other}, expected {id1}")
    check_registered(sr, "other-value", 1, id1, PATIENT_V1)
    expect(sorted(sr().get_subjects()) == ["other-value", "patients-value"], f"subjects {sr().get_subjects()}")
    log(f"  Patient v1: id {id1} in patients-value and other-value")

    log("2. compatibility")
    expect(sr().get_compatibility() == "BACKWARD", f"global level {sr().get_compatibility()}")
    expect(sr().test_compatibility("patients-value", avro(PATIENT_V2)) is True, "v2 (a default) tested incompatible")
    id2 = sr().register_schema("patients-value", avro(PATIENT_V2))
    expect(id2 > id1, f"v2: id {id2}, expected above {id1}")
    expect(sr().get_versions("patients-value") == [1, 2], f"versions {sr().get_versions('patients-value')}")
    check_registered(sr, "patients-value", 2, id2, PATIENT_V2)
    expect(
        sr().test_compatibility("patients-value", avro(PATIENT_V2_EMAIL)) is True,
        "an optional field with a default tested incompatible",
    )
    for what, bad in [("a field without a default", PATIENT_NO_DEFAULT), ("a changed type", PATIENT_NAME_INT)]:
        expect(sr().test_compatibility("patients-value", avro(bad)) is False, f"{what} tested compatible")
        expect_sr_error(
            f"registering {what} under BACKWARD",
            409,
            (40901, 409),
            lambda bad=bad: sr().register_schema("patients-value", avro(bad)),
        )
    expect(sr().get_versions("patients-value") == [1, 2], f"versions {sr().get_versions('patients-value')}")
    answer = sr().set_compatibility(subject_name="patients-value", level="NONE")
    expect(
        isinstance(answer, dict) and answer.get("compatibility") == "NONE",
        f"set_compatibility answered {answer!r}",
    )
    expect(sr().get_compatibility("patients-value") == "NONE", "patients-value level")
    expect(sr().get_compatibility() == "BACKWARD", f"global level {sr().get_compatibility()}")
    # A subject's level removed: it falls back to the registry's.
    sr().set_compatibility(subject_name="other-value", level="FULL")
    removed = sr().delete_config("other-value")
    expect(removed.compatibility_level == "FULL", f"delete_config answered {removed!r}")
    expect_sr_error("a removed level", 404, 40408, lambda: sr().get_compatibility("other-value"))
    expect(
        sr().test_compatibility("patients-value", avro(PATIENT_NO_DEFAULT)) is True,
        "under NONE, a field without a default tested incompatible",
    )
    id3 = sr().register_schema("patients-value", avro(PATIENT_NO_DEFAULT))
    expect(id3 > id2, f"v3: id {id3}, expected above {id2}")
    expect(sr().get_versions("patients-value") == [1, 2, 3], f"versions {sr().get_versions('patients-value')}")
    check_registered(sr, "patients-value", 3, id3, PATIENT_NO_DEFAULT)
    log(f"  patients-value: v2 id {id2}, incompatible ones refused, NONE, v3 id {id3}")

    log("3. errors")
    expect_sr_error(
        "an invalid Avro schema",
        422,
        42201,
        lambda: sr().register_schema("invalid-value", avro(INVALID_AVRO)),
    )
    expect("invalid-value" not in sr().get_subjects(deleted=True), "a refused schema left its subject")
    expect_sr_error("versions of an unknown subject", 404, 40401, lambda: sr().get_versions("no-such-subject"))
    expect_sr_error("latest of an unknown subject", 404, 40401, lambda: sr().get_latest_version("no-such-subject"))
    expect_sr_error("an unknown version", 404, 40402, lambda: sr().get_version("patients-value", 42))
    expect_sr_error("an unknown schema id", 404, 40403, lambda: sr().get_schema(UNKNOWN_ID))
    expect_sr_error(
        "looking up a schema not in the subject",
        404,
        40403,
        lambda: sr().lookup_schema("patients-value", avro(READING)),
    )
    expect_sr_error(
        "a compatibility level that does not exist",
        422,
        42203,
        lambda: sr().set_compatibility(subject_name="patients-value", level="SOMETIMES"),
    )
    expect(sr().get_compatibility("patients-value") == "NONE", "patients-value level after a bad update")
    expect_sr_error(
        "the level of a subject without its own",
        404,
        40408,
        lambda: sr().get_compatibility("other-value"),
    )

    log("4. Avro through the broker")
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=1, replication_factor=1, config=c) for t, c in TOPICS.items()],
        request_timeout=TIMEOUT,
    )
    for future in futures.values():
        future.result(TIMEOUT)
    check_topic_configs(admin)
    serializer = AvroSerializer(sr.client, PATIENT_V2)
    ctx = SerializationContext("patients", MessageField.VALUE)
    p = producer(**{"linger.ms": 5})
    reports = []
    for record in PATIENTS:
        value = serializer(record, ctx)
        expect(framed_id(value) == id2, f"patients serialized with id {framed_id(value)}, expected {id2}")
        p.produce(
            "patients",
            key=record["id"].encode(),
            value=value,
            on_delivery=lambda err, msg: reports.append((err, msg.offset() if msg else None)),
        )
    expect(p.flush(TIMEOUT) == 0, "patients: not all delivered")
    expect(len(reports) == len(PATIENTS) and all(e is None for e, _ in reports), f"patients: {reports}")
    expect([o for _, o in reports] == list(range(len(PATIENTS))), f"patients offsets {reports}")
    # The serializer's registration found v2: no new version.
    expect(sr().get_versions("patients-value") == [1, 2, 3], f"versions {sr().get_versions('patients-value')}")
    read_patients(sr, "sr-patients-before")
    log(f"  {len(PATIENTS)} patients produced with id {id2}, read back equal and in order")

    log("5. broker-side schema ID validation")
    strict = producer(**STRICT)
    vctx = SerializationContext("validated", MessageField.VALUE)
    reading_serializer = AvroSerializer(sr.client, READING)
    accepted = []

    def take(key, value, what):
        offset = accept(strict, "validated", key, value, what)
        expect(offset == len(accepted), f"{what}: offset {offset}, expected {len(accepted)}")
        accepted.append((key, value))

    refuse(strict, "validated", b"raw", b"not avro", "raw bytes")
    first = reading_serializer(READINGS[0], vctx)
    take(b"r0", first, "an Avro value for validated-value")
    reading_id = framed_id(first)
    expect(sr().get_latest_version("validated-value").schema_id == reading_id, "validated-value registered")
    check_registered(sr, "validated-value", 1, reading_id, READING)
    # Framed for patients-value: its id is not registered under validated-value.
    patient_serializer = AvroSerializer(sr.client, PATIENT_V1, conf={"auto.register.schemas": False})
    foreign = patient_serializer(
        {"id": "p-x", "name": "Nobody"}, SerializationContext("patients", MessageField.VALUE)
    )
    expect(framed_id(foreign) == id1, f"framed for patients-value with {framed_id(foreign)}, expected {id1}")
    refuse(strict, "validated", b"foreign", foreign, "a value framed for patients-value")
    refuse(
        strict,
        "validated",
        b"unknown",
        b"\x00" + struct.pack(">I", UNKNOWN_ID) + first[5:],
        f"a value framed with unknown id {UNKNOWN_ID}",
    )
    refuse(strict, "validated", b"short", b"\x00\x00\x00", "a truncated frame")
    take(b"tombstone", None, "a tombstone")
    take(b"r1", reading_serializer(READINGS[1], vctx), "a second Avro value")
    reading_deserializer = AvroDeserializer(sr.client)
    got = consume("validated", "sr-validated-before", len(accepted))
    expect([(m.key(), m.value()) for m in got] == accepted, "validated: not exactly the accepted records")
    values = [reading_deserializer(m.value(), vctx) for m in got if m.value() is not None]
    expect(values == READINGS, f"validated values read back as {values}")
    log(f"  validated holds exactly the {len(accepted)} accepted records")

    kctx = SerializationContext("validated-keys", MessageField.KEY)
    key_serializer = AvroSerializer(sr.client, KEY_STRING)
    refuse(strict, "validated-keys", b"raw-key", b"plain value 0", "a raw key")
    key = key_serializer("patient-key-1", kctx)
    expect(accept(strict, "validated-keys", key, b"plain value 1", "an Avro key for validated-keys-key") == 0, "offset")
    expect(accept(strict, "validated-keys", None, b"plain value 2", "a null key") == 1, "offset")
    refuse(
        strict,
        "validated-keys",
        b"\x00" + struct.pack(">I", UNKNOWN_ID) + key[5:],
        b"plain value 3",
        f"a key framed with unknown id {UNKNOWN_ID}",
    )
    key_id = framed_id(key)
    expect(sr().get_latest_version("validated-keys-key").schema_id == key_id, "validated-keys-key registered")
    got = consume("validated-keys", "sr-validated-keys-before", 2)
    expect(
        [(m.key(), m.value()) for m in got] == [(key, b"plain value 1"), (None, b"plain value 2")],
        "validated-keys: not exactly the accepted records",
    )
    expect(AvroDeserializer(sr.client)(got[0].key(), kctx) == "patient-key-1", "validated-keys: the key read back")

    log("6. JSON Schema")
    json_serializer = JSONSerializer(VISIT, sr.client)
    jctx = SerializationContext("visits", MessageField.VALUE)
    p = producer()
    reports = []
    for visit in VISITS:
        p.produce(
            "visits",
            key=visit["patient"].encode(),
            value=json_serializer(visit, jctx),
            on_delivery=lambda err, msg: reports.append(err),
        )
    expect(p.flush(TIMEOUT) == 0 and reports == [None] * len(VISITS), f"visits: delivery {reports}")
    latest = sr().get_latest_version("visits-value")
    expect(latest.schema.schema_type == "JSON", f"visits-value type {latest.schema.schema_type}")
    expect(latest.version == 1, f"visits-value version {latest.version}")
    expect(parsed(latest.schema.schema_str) == parsed(VISIT), f"visits-value schema {latest.schema.schema_str}")
    expect(sr().get_schema(latest.schema_id).schema_type == "JSON", "get_schema of a JSON schema: type")
    json_deserializer = JSONDeserializer(None, schema_registry_client=sr.client)
    got = []
    for msg in consume("visits", "sr-visits-before", len(VISITS)):
        expect(framed_id(msg.value()) == latest.schema_id, "visits framed with another id")
        got.append(json_deserializer(msg.value(), jctx))
    expect(got == VISITS, f"visits read back as {got}")
    log(f"  visits-value id {latest.schema_id}, {len(VISITS)} visits read back")
    # The closed content model takes a new optional property (BACKWARD), not a new
    # required one; the registry says why.
    visit = json.loads(VISIT)
    visit["properties"]["note"] = {"type": "string"}
    optional_note = Schema(json.dumps(visit), "JSON")
    visit["required"] = ["patient", "room", "note"]
    required_note = Schema(json.dumps(visit), "JSON")
    expect(sr().test_compatibility("visits-value", optional_note), "an optional property tests compatible")
    expect(not sr().test_compatibility("visits-value", required_note), "a required property tests incompatible")
    expect_sr_error(
        "a new required property",
        409,
        (40901, 409),
        lambda: sr().register_schema("visits-value", required_note),
    )
    note_id = sr().register_schema("visits-value", optional_note)
    expect(sr().get_versions("visits-value") == [1, 2], "visits-value versions after a compatible change")
    log(f"  visits-value v2 (id {note_id}) adds an optional note")

    log("7. deletion")
    tmp1 = sr().register_schema("tmp-value", avro(TMP_V1))
    tmp2 = sr().register_schema("tmp-value", avro(TMP_V2))
    expect(sr().get_versions("tmp-value") == [1, 2], f"tmp-value versions {sr().get_versions('tmp-value')}")
    deleted = sr().delete_version("tmp-value", 1)
    expect(deleted == 1, f"delete_version answered {deleted!r}")
    expect(sr().get_versions("tmp-value") == [2], f"tmp-value versions {sr().get_versions('tmp-value')}")
    expect(sr().get_versions("tmp-value", deleted=True) == [1, 2], "tmp-value versions with deleted=true")
    expect_sr_error("a soft-deleted version", 404, 40402, lambda: sr().get_version("tmp-value", 1))
    expect(parsed(sr().get_schema(tmp1).schema_str) == parsed(TMP_V1), "a soft-deleted schema by its id")
    expect_sr_error(
        "permanently deleting a subject not soft-deleted first",
        404,
        40405,
        lambda: sr().delete_subject("other-value", permanent=True),
    )
    expect(sr().get_versions("other-value") == [1], "other-value after a refused permanent delete")
    deleted = sr().delete_subject("tmp-value")
    expect(deleted == [2], f"delete_subject answered {deleted!r}")
    expect("tmp-value" not in sr().get_subjects(), "tmp-value listed after its deletion")
    expect("tmp-value" in sr().get_subjects(deleted=True), "tmp-value not listed with deleted=true")
    expect_sr_error("versions of a soft-deleted subject", 404, 40401, lambda: sr().get_versions("tmp-value"))
    deleted = sr().delete_subject("tmp-value", permanent=True)
    expect(sorted(deleted) == [1, 2], f"permanent delete_subject answered {deleted!r}")
    expect("tmp-value" not in sr().get_subjects(deleted=True), "tmp-value listed after a permanent delete")
    tmp3 = sr().register_schema("tmp-value", avro(TMP_V1))
    expect(sr().get_versions("tmp-value") == [1], f"tmp-value anew: versions {sr().get_versions('tmp-value')}")
    check_registered(sr, "tmp-value", 1, tmp3, TMP_V1)
    gone = sr().register_schema("gone-value", avro(GONE))
    deleted = sr().delete_subject("gone-value")
    expect(deleted == [1], f"delete_subject(gone-value) answered {deleted!r}")
    expect(parsed(sr().get_schema(gone).schema_str) == parsed(GONE), "a soft-deleted subject's schema by its id")
    log(f"  tmp-value: ids {tmp1}, {tmp2}, then {tmp3} at version 1 again; gone-value soft-deleted (id {gone})")

    # References: a Person whose field is an Address defined in another subject.
    address = avro_record("Address", [{"name": "city", "type": "string"}])
    address_id = sr().register_schema("address-value", avro(address))
    person_schema = json.dumps(
        {
            "type": "record",
            "name": "Person",
            "namespace": "org.myelin.test",
            "fields": [{"name": "home", "type": "org.myelin.test.Address"}],
        }
    )
    expect_sr_error(
        "a schema naming a type it does not reference",
        422,
        42201,
        lambda: sr().register_schema("person-value", avro(person_schema)),
    )
    person = Schema(
        person_schema,
        "AVRO",
        [SchemaReference("org.myelin.test.Address", "address-value", 1)],
    )
    person_id = sr().register_schema("person-value", person)
    expect(person_id not in (address_id,), f"person id {person_id}")
    got = sr().get_schema(person_id)
    expect(
        [(r.name, r.subject, r.version) for r in got.references]
        == [("org.myelin.test.Address", "address-value", 1)],
        f"person's references: {got.references}",
    )
    referenced = sr().get_referenced_by("address-value", 1)
    expect(referenced == [person_id], f"address-value 1 referenced by {referenced}")
    expect_sr_error(
        "deleting a referenced version",
        422,
        42206,
        lambda: sr().delete_version("address-value", 1),
    )
    expect_sr_error(
        "deleting a referenced subject",
        422,
        42206,
        lambda: sr().delete_subject("address-value"),
    )
    log(f"  person-value (id {person_id}) refers to address-value 1 (id {address_id})")

    # READONLY: patients-value takes no new schema, and still answers lookups.
    expect(sr().get_global_mode() == "READWRITE", "the registry's mode")
    expect_sr_error("a subject without a mode of its own", 404, 40409, lambda: sr().get_mode("patients-value"))
    expect(sr().update_mode("patients-value", "READONLY") == "READONLY", "update_mode")
    expect(sr().get_mode("patients-value") == "READONLY", "patients-value's mode")
    expect_sr_error(
        "registering in a READONLY subject",
        422,
        42205,
        lambda: sr().register_schema("patients-value", avro(PATIENT_V2_EMAIL)),
    )
    expect(sr().lookup_schema("patients-value", avro(PATIENT_V2)).version == 2, "a lookup in READONLY")
    expect_sr_error("an unsupported mode", 422, 42204, lambda: sr().update_mode("other-value", "IMPORT"))
    log("  patients-value is READONLY")

    check_subjects(sr)
    snap = snapshot(sr)
    expect(
        [(e["version"], e["id"]) for e in snap["patients-value"]] == [(1, id1), (2, id2), (3, id3)],
        f"patients-value: {snap['patients-value']}",
    )
    ids = {e["id"] for entries in snap.values() for e in entries}
    ids |= {id1, id2, id3, reading_id, key_id, latest.schema_id, tmp1, tmp2, tmp3, gone}
    ids |= {address_id, person_id, note_id}
    state = {
        "patients_ids": [id1, id2, id3],
        "gone_id": gone,
        "all_ids": sorted(ids),
        "snapshot": snap,
    }
    with open(STATE_FILE, "w") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    log(f"  {len(snap)} subjects, ids {sorted(ids)}; state written to {STATE_FILE}")


def after(sr):
    with open(STATE_FILE) as f:
        state = json.load(f)

    log("registry after the restart")
    check_subjects(sr)
    snap = snapshot(sr)
    for subject in sorted(set(snap) | set(state["snapshot"])):
        expect(
            snap.get(subject) == state["snapshot"].get(subject),
            f"{subject}: now {snap.get(subject)}, before the restart {state['snapshot'].get(subject)}",
        )
    id1, id2, id3 = state["patients_ids"]
    expect(sr().get_versions("patients-value") == [1, 2, 3], f"versions {sr().get_versions('patients-value')}")
    for version, schema_id, schema_str in [(1, id1, PATIENT_V1), (2, id2, PATIENT_V2), (3, id3, PATIENT_NO_DEFAULT)]:
        expect(parsed(sr().get_schema(schema_id).schema_str) == parsed(schema_str), f"get_schema({schema_id})")
    check_registered(sr, "patients-value", 3, id3, PATIENT_NO_DEFAULT)
    expect(sr().get_compatibility("patients-value") == "NONE", "patients-value level after the restart")
    expect(sr().get_mode("patients-value") == "READONLY", "patients-value's mode after the restart")
    expect(sr().get_compatibility() == "BACKWARD", f"global level {sr().get_compatibility()}")
    expect_sr_error("the level of a subject without its own", 404, 40408, lambda: sr().get_compatibility("other-value"))
    gone = sr().get_schema(state["gone_id"])
    expect(parsed(gone.schema_str) == parsed(GONE), "a soft-deleted subject's schema by its id")
    log(f"  {len(snap)} subjects with the same versions, ids and schemas; levels kept")

    log("broker after the restart")
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    check_topic_configs(admin)
    read_patients(sr, "sr-patients-after")
    log(f"  the {len(PATIENTS)} patients still deserialize")
    strict = producer(**STRICT)
    refuse(strict, "validated", b"raw", b"not avro", "raw bytes")
    reading = AvroSerializer(sr.client, READING, conf={"auto.register.schemas": False})
    accept(
        strict,
        "validated",
        b"r2",
        reading({"sensor": "s3", "celsius": 0.5}, SerializationContext("validated", MessageField.VALUE)),
        "an Avro value for validated-value",
    )

    log("a new registration")
    new_id = sr().register_schema("after-restart-value", avro(AFTER_RESTART))
    expect(new_id > max(state["all_ids"]), f"new id {new_id}, not above every id seen before {state['all_ids']}")
    check_registered(sr, "after-restart-value", 1, new_id, AFTER_RESTART)
    log(f"  after-restart-value: id {new_id}")


def main():
    global BOOTSTRAP
    if len(sys.argv) != 4 or sys.argv[1] not in ("before", "after"):
        print("usage: schema_registry_clients.py before|after HOST:PORT REGISTRY_URL", file=sys.stderr)
        sys.exit(2)
    mode, BOOTSTRAP, url = sys.argv[1:]
    log(f"schema registry clients: {mode}, broker {BOOTSTRAP}, registry {url}")
    try:
        sr = Registry(url)
        wait_for_registry(sr, url)
        if mode == "before":
            before(sr)
        else:
            after(sr)
    except Exception as e:
        traceback.print_exc()
        log(f"schema registry clients: FAILED ({mode}): {e}")
        sys.exit(1)
    log("schema registry clients: all checks passed")


BOOTSTRAP = None

if __name__ == "__main__":
    main()
