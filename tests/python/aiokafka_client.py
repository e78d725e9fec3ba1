"""aiokafka (asyncio) against a Myelin broker.

Admin: create, list, describe topics, describe and alter configs, create partitions,
delete records, delete topics (aiokafka returns the raw responses: their error codes are
checked here). Produce with keys, headers and a null value (gzip and uncompressed);
consume with an explicit assignment (no group).

Usage: python aiokafka_client.py HOST:PORT. Prints `OK aiokafka` at the end; any failure
raises.
"""

import asyncio
import sys
import time

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

TIMEOUT = 30
BOOTSTRAP = sys.argv[1]
TOPIC = "py-aiokafka"
N = 50


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def errors_of(response):
    """Every (name, error_code) of a topic-level admin response, whatever its version."""
    d = response.to_object()
    for key in ("topic_errors", "topic_error_codes", "results", "responses", "resources"):
        if key in d:
            out = []
            for item in d[key]:
                name = item.get("topic") or item.get("name") or item.get("resource_name")
                out.append((name, item["error_code"]))
            return out
    raise AssertionError(f"no per-topic errors in {d}")


async def main():
    log("aiokafka", aiokafka.__version__)
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="myelin-e2e-aiokafka")
    await admin.start()
    try:
        created = await admin.create_topics(
            [NewTopic(TOPIC, num_partitions=2, replication_factor=1, topic_configs={"retention.ms": "3600000"})]
        )
        expect(errors_of(created) == [(TOPIC, 0)], f"create: {created}")
        again = await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
        expect(errors_of(again) == [(TOPIC, 36)], f"create again (TOPIC_ALREADY_EXISTS): {again}")
        expect(TOPIC in await admin.list_topics(), "listed")
        (described,) = await admin.describe_topics([TOPIC])
        expect(described["error_code"] == 0 and len(described["partitions"]) == 2, f"describe: {described}")
        cluster = await admin.describe_cluster()
        expect(cluster["cluster_id"] and len(cluster["brokers"]) == 1, f"describe_cluster: {cluster}")
        log("admin: created, listed, described; cluster", cluster["cluster_id"])

        resource = ConfigResource(ConfigResourceType.TOPIC, TOPIC)

        async def topic_configs():
            (response,) = await admin.describe_configs([resource])
            (res,) = response.to_object()["resources"]
            expect(res["error_code"] == 0, f"describe_configs: {res}")
            return {c["config_names"]: c["config_value"] for c in res["config_entries"]}

        configs = await topic_configs()
        expect(configs["retention.ms"] == "3600000", f"retention.ms {configs.get('retention.ms')}")
        # AlterConfigs (not incremental): the whole set of overrides is replaced.
        (altered,) = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, TOPIC, {"retention.bytes": "10485760"})]
        )
        expect(errors_of(altered) == [(TOPIC, 0)], f"alter: {altered}")
        configs = await topic_configs()
        expect(configs["retention.bytes"] == "10485760", "retention.bytes altered")
        expect(configs["retention.ms"] == "604800000", "retention.ms back to the default")
        log("admin: configs described and altered")

        sent = []
        for codec in [None, "gzip"]:
            producer = AIOKafkaProducer(
                bootstrap_servers=BOOTSTRAP, acks="all", compression_type=codec, linger_ms=5
            )
            await producer.start()
            try:
                futures = []
                for i in range(N):
                    key = f"{codec}-{i}".encode()
                    value = None if i == 4 else f"{codec} value {i} {'z' * 100}".encode()
                    headers = [("codec", str(codec).encode()), ("i", str(i).encode())]
                    futures.append(await producer.send(TOPIC, key=key, value=value, headers=headers, partition=1))
                    sent.append((key, value, headers))
                offsets = [(await f).offset for f in futures]
                expect(offsets == list(range(offsets[0], offsets[0] + N)), f"{codec}: offsets {offsets}")
            finally:
                await producer.stop()
        log("produced", len(sent), "records")

        consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(TOPIC, 1)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            got = []
            deadline = time.time() + TIMEOUT
            while len(got) < len(sent) and time.time() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    got.extend(records)
            expect(len(got) == len(sent), f"consumed {len(got)} of {len(sent)}")
            for offset, (msg, (key, value, headers)) in enumerate(zip(got, sent)):
                expect(msg.offset == offset, f"offset {msg.offset} != {offset}")
                expect(msg.key == key and msg.value == value, f"record at {offset}: {msg}")
                expect(list(msg.headers) == headers, f"headers at {offset}: {msg.headers}")
            expect((await consumer.end_offsets([tp]))[tp] == len(sent), "end offset")
            found = await consumer.offsets_for_times({tp: int((time.time() - 600) * 1000)})
            expect(found[tp].offset == 0, f"offsets_for_times: {found}")
        finally:
            await consumer.stop()
        log("consumed", len(got), "records in order")

        low = await admin.delete_records({TopicPartition(TOPIC, 1): RecordsToDelete(10)})
        expect(low == {TopicPartition(TOPIC, 1): 10}, f"delete_records: {low}")
        grown = await admin.create_partitions({TOPIC: NewPartitions(total_count=3)})
        expect(errors_of(grown) == [(TOPIC, 0)], f"create_partitions: {grown}")
        (described,) = await admin.describe_topics([TOPIC])
        expect(len(described["partitions"]) == 3, "3 partitions")
        deleted = await admin.delete_topics([TOPIC])
        expect(errors_of(deleted) == [(TOPIC, 0)], f"delete: {deleted}")
        expect(TOPIC not in await admin.list_topics(), "deleted")
        log("admin: records deleted, partitions added, topic deleted")
    finally:
        await admin.close()
    print("OK aiokafka", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
