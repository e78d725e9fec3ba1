"""confluent-kafka (librdkafka bundled in its wheel) against a Myelin broker.

Admin: create, list, describe (topics, configs, cluster), alter configs (incremental),
create partitions, delete. Produce with keys, headers, a null value and every codec;
consume with an explicit assignment (no group membership); offsets by timestamp.

Usage: python confluent_kafka_client.py HOST:PORT. Prints `OK confluent-kafka` at the end;
any failure raises.
"""

import sys
import time

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka import __version__ as client_version
from confluent_kafka import libversion
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

TIMEOUT = 30
BOOTSTRAP = sys.argv[1]
TOPIC = "py-confluent"
N = 50


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    log("confluent-kafka", client_version, "librdkafka", libversion()[0])
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})

    # CreateTopics, with a config; an existing name fails per topic.
    futures = admin.create_topics(
        [NewTopic(TOPIC, num_partitions=2, replication_factor=1, config={"retention.ms": "3600000"})],
        request_timeout=TIMEOUT,
    )
    futures[TOPIC].result(TIMEOUT)
    futures = admin.create_topics([NewTopic(TOPIC, 1, 1)], request_timeout=TIMEOUT)
    try:
        futures[TOPIC].result(TIMEOUT)
        raise AssertionError("creating an existing topic succeeded")
    except Exception as e:  # KafkaException(KafkaError)
        code = e.args[0].code()
        expect(code == KafkaError.TOPIC_ALREADY_EXISTS, f"existing topic: {e}")

    # Metadata, DescribeTopics (Metadata with topic ids), DescribeCluster.
    md = admin.list_topics(timeout=TIMEOUT)
    expect(TOPIC in md.topics, f"{TOPIC} listed: {list(md.topics)}")
    expect(len(md.topics[TOPIC].partitions) == 2, "2 partitions")
    described = admin.describe_topics(TopicCollection([TOPIC]), request_timeout=TIMEOUT)[TOPIC].result(TIMEOUT)
    expect(described.name == TOPIC and len(described.partitions) == 2, f"describe_topics: {described}")
    expect(str(described.topic_id) not in ("", "AAAAAAAAAAAAAAAAAAAAAA"), f"a topic id: {described.topic_id}")
    cluster = admin.describe_cluster(request_timeout=TIMEOUT).result(TIMEOUT)
    expect(len(cluster.nodes) == 1 and cluster.cluster_id, f"describe_cluster: {cluster}")
    log("admin: created, listed, described;", "cluster", cluster.cluster_id)

    # DescribeConfigs, IncrementalAlterConfigs, DescribeConfigs again.
    resource = ConfigResource(ResourceType.TOPIC, TOPIC)
    configs = admin.describe_configs([resource], request_timeout=TIMEOUT)[resource].result(TIMEOUT)
    expect(configs["retention.ms"].value == "3600000", f"retention.ms: {configs['retention.ms']}")
    expect(configs["cleanup.policy"].value == "delete", "cleanup.policy default")
    alter = ConfigResource(
        ResourceType.TOPIC,
        TOPIC,
        incremental_configs=[
            ConfigEntry("retention.bytes", "10485760", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ],
    )
    admin.incremental_alter_configs([alter], request_timeout=TIMEOUT)[alter].result(TIMEOUT)
    configs = admin.describe_configs([resource], request_timeout=TIMEOUT)[resource].result(TIMEOUT)
    expect(configs["retention.bytes"].value == "10485760", "retention.bytes altered")
    expect(configs["retention.ms"].value == "604800000", "retention.ms back to the default")
    broker = ConfigResource(ResourceType.BROKER, "0")
    broker_configs = admin.describe_configs([broker], request_timeout=TIMEOUT)[broker].result(TIMEOUT)
    expect("num.partitions" in broker_configs, "broker configs")
    log("admin: configs described and altered")

    # Produce: every codec, keys, headers, a null value, to partition 1.
    sent = []
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        producer = Producer(
            {"bootstrap.servers": BOOTSTRAP, "acks": "all", "compression.type": codec, "linger.ms": 5}
        )
        reports = []
        for i in range(N):
            key = f"{codec}-{i}".encode()
            value = None if i == 7 else (f"{codec} value {i} " + "x" * 100).encode()
            headers = [("codec", codec.encode()), ("i", str(i).encode())]
            producer.produce(
                TOPIC,
                key=key,
                value=value,
                partition=1,
                headers=headers,
                on_delivery=lambda err, msg: reports.append((err, msg.offset() if msg else None)),
            )
            sent.append((key, value, headers))
        expect(producer.flush(TIMEOUT) == 0, "flush")
        errors = [e for e, _ in reports if e is not None]
        expect(not errors and len(reports) == N, f"{codec}: delivery errors {errors}")
    log("produced", len(sent), "records with 5 codecs")

    # Consume with an explicit assignment from the beginning.
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": "py-confluent-assign-only",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    consumer.assign([TopicPartition(TOPIC, 1, OFFSET_BEGINNING)])
    got = []
    deadline = time.time() + TIMEOUT
    while len(got) < len(sent) and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        expect(msg.error() is None, f"consumer error {msg.error()}")
        got.append(msg)
    expect(len(got) == len(sent), f"consumed {len(got)} of {len(sent)}")
    for offset, (msg, (key, value, headers)) in enumerate(zip(got, sent)):
        expect(msg.offset() == offset, f"offset {msg.offset()} != {offset}")
        expect(msg.key() == key, f"key at {offset}")
        expect(msg.value() == value, f"value at {offset}")
        expect(msg.headers() == headers, f"headers at {offset}: {msg.headers()}")
    low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, 1), timeout=TIMEOUT)
    expect((low, high) == (0, len(sent)), f"watermarks {(low, high)}")
    # ListOffsets by timestamp: everything was produced after this test started.
    found = consumer.offsets_for_times([TopicPartition(TOPIC, 1, int((time.time() - 600) * 1000))], timeout=TIMEOUT)
    expect(found[0].offset == 0, f"offsets_for_times: {found}")
    consumer.close()
    log("consumed", len(got), "records in order")

    # CreatePartitions, DeleteTopics.
    admin.create_partitions([NewPartitions(TOPIC, 4)], request_timeout=TIMEOUT)[TOPIC].result(TIMEOUT)
    md = admin.list_topics(topic=TOPIC, timeout=TIMEOUT)
    expect(len(md.topics[TOPIC].partitions) == 4, "4 partitions")
    admin.delete_topics([TOPIC], request_timeout=TIMEOUT)[TOPIC].result(TIMEOUT)
    md = admin.list_topics(timeout=TIMEOUT)
    expect(TOPIC not in md.topics, "deleted")
    log("admin: partitions added, topic deleted")
    print("OK confluent-kafka", flush=True)


if __name__ == "__main__":
    main()
