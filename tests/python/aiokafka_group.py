"""aiokafka (asyncio) as a consumer group member against a Myelin broker.

A topic of 3 partitions gets 10 records per partition. A first consumer in the group
subscribes, consumes all 30, commits, checks `committed()` and stops. Then 5 more records
per partition are produced, and a second consumer of the same group must resume after the
committed offsets: it sees exactly the 15 new records, nothing older, and commits the end
of every partition.

Usage: python aiokafka_group.py HOST:PORT. Prints `OK aiokafka group` at the end; any
failure raises.
"""

import asyncio
import sys
import time

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

TIMEOUT = 60
BOOTSTRAP = sys.argv[1]
TOPIC = "py-aiokafka-group"
GROUP = "py-aiokafka-group"
PARTITIONS = 3


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


async def produce(run, first, count):
    """Produces `count` records to every partition, keyed `<run>-<partition>-<i>`."""
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for p in range(PARTITIONS):
            for i in range(first, first + count):
                key = f"{run}-{p}-{i}".encode()
                futures.append(await producer.send(TOPIC, key=key, value=f"value {i}".encode(), partition=p))
        for f in futures:
            await f
    finally:
        await producer.stop()


def consumer():
    return AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=BOOTSTRAP,
        group_id=GROUP,
        client_id="myelin-e2e-aiokafka-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10000,
        heartbeat_interval_ms=500,
    )


async def consume(c, n):
    """Fetches until `n` records arrived, then 2 s more to see that nothing else comes."""
    got = []
    deadline = time.time() + TIMEOUT
    while len(got) < n:
        expect(time.time() < deadline, f"consumed {len(got)} of {n} in {TIMEOUT} s")
        for records in (await c.getmany(timeout_ms=500)).values():
            got.extend((r.partition, r.offset, r.key.decode()) for r in records)
    quiet = time.time() + 2
    while time.time() < quiet:
        more = [r for records in (await c.getmany(timeout_ms=200)).values() for r in records]
        expect(not more, f"unexpected records: {more}")
    return sorted(got)


async def committed(c):
    return {p: await c.committed(TopicPartition(TOPIC, p)) for p in range(PARTITIONS)}


async def main():
    log("aiokafka", aiokafka.__version__)
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="myelin-e2e-aiokafka-group")
    await admin.start()
    try:
        created = await admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)])
        errors = [t for t in created.to_object()["topic_errors"] if t["error_code"] != 0]
        expect(not errors, f"create: {created}")
    finally:
        await admin.close()
    await produce("first", 0, 10)

    c = consumer()
    await c.start()
    try:
        got = await consume(c, 30)
        expected = [(p, i, f"first-{p}-{i}") for p in range(PARTITIONS) for i in range(10)]
        expect(got == expected, f"first run: {got}")
        expect(sorted(tp.partition for tp in c.assignment()) == list(range(PARTITIONS)), "assignment")
        await c.commit()
        now = await committed(c)
        expect(now == {p: 10 for p in range(PARTITIONS)}, f"committed after run 1: {now}")
    finally:
        await c.stop()
    log("run 1: consumed 30, committed 10 per partition")

    await produce("second", 10, 5)
    c = consumer()
    await c.start()
    try:
        got = await consume(c, 15)
        expected = [(p, i, f"second-{p}-{i}") for p in range(PARTITIONS) for i in range(10, 15)]
        expect(got == expected, f"run 2 did not resume after the committed offsets: {got}")
        await c.commit()
        now = await committed(c)
        expect(now == {p: 15 for p in range(PARTITIONS)}, f"committed after run 2: {now}")
    finally:
        await c.stop()
    log("run 2: resumed at offset 10 of each partition, consumed 15")
    print("OK aiokafka group", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
