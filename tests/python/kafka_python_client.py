"""kafka-python 3 (pure Python) against a Myelin broker.

kafka-python infers the broker's release from the ApiVersions it advertises and gates
features on that guess; its producer enables idempotence by default (InitProducerId),
which this broker does not offer yet, so it is turned off here.

Admin: create, list, describe topics, describe and alter configs, create partitions,
delete. Produce with keys, headers and a null value (gzip and uncompressed); consume with
an explicit assignment (no group).

Usage: python kafka_python_client.py HOST:PORT. Prints `OK kafka-python` at the end; any
failure raises.
"""

import sys
import time

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions
from kafka.errors import TopicAlreadyExistsError

TIMEOUT = 30
BOOTSTRAP = sys.argv[1]
TOPIC = "py-kafka-python"
N = 50


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="myelin-e2e-kafka-python")
    log("kafka-python", kafka.__version__, "guesses the broker is Kafka", admin._manager.broker_version)

    admin.create_topics(
        {TOPIC: {"num_partitions": 2, "replication_factor": 1, "configs": {"retention.ms": "3600000"}}}
    )
    try:
        admin.create_topics({TOPIC: {"num_partitions": 1, "replication_factor": 1}})
        raise AssertionError("creating an existing topic succeeded")
    except TopicAlreadyExistsError:
        pass
    expect(TOPIC in admin.list_topics(), "listed")
    (described,) = admin.describe_topics([TOPIC])
    expect(described["name"] == TOPIC and len(described["partitions"]) == 2, f"describe_topics: {described}")
    cluster = admin.describe_cluster()
    expect(cluster["cluster_id"] and len(cluster["brokers"]) == 1, f"describe_cluster: {cluster}")
    log("admin: created, listed, described; cluster", cluster["cluster_id"])

    resource = ConfigResource(ConfigResourceType.TOPIC, TOPIC)
    configs = admin.describe_configs([resource], config_filter="all")["topic"][TOPIC]
    expect(configs["retention.ms"]["value"] == "3600000", f"retention.ms: {configs['retention.ms']}")
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, TOPIC, {"retention.bytes": "10485760"})])
    configs = admin.describe_configs([resource], config_filter="all")["topic"][TOPIC]
    expect(configs["retention.bytes"]["value"] == "10485760", "retention.bytes altered")
    expect(configs["retention.ms"]["value"] == "3600000", "retention.ms kept")
    log("admin: configs described and altered")

    sent = []
    for codec in [None, "gzip"]:
        producer = KafkaProducer(
            bootstrap_servers=BOOTSTRAP,
            acks="all",
            compression_type=codec,
            enable_idempotence=False,
            linger_ms=5,
        )
        futures = []
        for i in range(N):
            key = f"{codec}-{i}".encode()
            value = None if i == 3 else f"{codec} value {i} {'y' * 100}".encode()
            headers = [("codec", str(codec).encode()), ("i", str(i).encode())]
            futures.append(producer.send(TOPIC, key=key, value=value, headers=headers, partition=1))
            sent.append((key, value, headers))
        offsets = [f.get(timeout=TIMEOUT).offset for f in futures]
        expect(offsets == list(range(offsets[0], offsets[0] + N)), f"{codec}: offsets {offsets}")
        producer.close(timeout=TIMEOUT)
    log("produced", len(sent), "records")

    consumer = KafkaConsumer(
        bootstrap_servers=BOOTSTRAP, group_id=None, enable_auto_commit=False, consumer_timeout_ms=1000
    )
    tp = TopicPartition(TOPIC, 1)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = []
    deadline = time.time() + TIMEOUT
    while len(got) < len(sent) and time.time() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(records)
    expect(len(got) == len(sent), f"consumed {len(got)} of {len(sent)}")
    for offset, (msg, (key, value, headers)) in enumerate(zip(got, sent)):
        expect(msg.offset == offset, f"offset {msg.offset} != {offset}")
        expect(msg.key == key and msg.value == value, f"record at {offset}: {msg}")
        expect(list(msg.headers) == headers, f"headers at {offset}: {msg.headers}")
    expect(consumer.end_offsets([tp])[tp] == len(sent), "end offset")
    expect(consumer.beginning_offsets([tp])[tp] == 0, "beginning offset")
    found = consumer.offsets_for_times({tp: int((time.time() - 600) * 1000)})
    expect(found[tp].offset == 0, f"offsets_for_times: {found}")
    consumer.close()
    log("consumed", len(got), "records in order")

    admin.create_partitions({TOPIC: NewPartitions(total_count=3)})
    (described,) = admin.describe_topics([TOPIC])
    expect(len(described["partitions"]) == 3, "3 partitions")
    admin.delete_topics([TOPIC])
    expect(TOPIC not in admin.list_topics(), "deleted")
    admin.close()
    log("admin: partitions added, topic deleted")
    print("OK kafka-python", flush=True)


if __name__ == "__main__":
    main()
