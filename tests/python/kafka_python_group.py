"""kafka-python 3 (pure Python) as a consumer group member against a Myelin broker.

A topic of 3 partitions gets 10 records per partition. A first consumer in the group
subscribes, consumes all 30, commits synchronously, checks `committed()` and closes.
Then 5 more records per partition are produced, and a second consumer of the same group
must resume after the committed offsets: it sees exactly the 15 new records, nothing
older, and commits the end of every partition. The producer turns idempotence off
(kafka-python 3 enables it by default): idempotent producing is not what this tests.

Usage: python kafka_python_group.py HOST:PORT. Prints `OK kafka-python group` at the end;
any failure raises.
"""

import sys
import time

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

TIMEOUT = 60
BOOTSTRAP = sys.argv[1]
TOPIC = "py-kafka-python-group"
GROUP = "py-kafka-python-group"
PARTITIONS = 3


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def produce(run, first, count):
    """Produces `count` records to every partition, keyed `<run>-<partition>-<i>`."""
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", enable_idempotence=False, linger_ms=5)
    futures = []
    for p in range(PARTITIONS):
        for i in range(first, first + count):
            futures.append(producer.send(TOPIC, key=f"{run}-{p}-{i}".encode(), value=f"value {i}".encode(), partition=p))
    for f in futures:
        f.get(timeout=TIMEOUT)
    producer.close(timeout=TIMEOUT)


def consumer():
    return KafkaConsumer(
        TOPIC,
        bootstrap_servers=BOOTSTRAP,
        group_id=GROUP,
        client_id="myelin-e2e-kafka-python-group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10000,
        heartbeat_interval_ms=500,
    )


def consume(c, n):
    """Polls until `n` records arrived, then 2 s more to see that nothing else comes."""
    got = []
    deadline = time.time() + TIMEOUT
    while len(got) < n:
        expect(time.time() < deadline, f"consumed {len(got)} of {n} in {TIMEOUT} s")
        for records in c.poll(timeout_ms=500).values():
            got.extend((r.partition, r.offset, r.key.decode()) for r in records)
    quiet = time.time() + 2
    while time.time() < quiet:
        more = [r for records in c.poll(timeout_ms=200).values() for r in records]
        expect(not more, f"unexpected records: {more}")
    return sorted(got)


def committed(c):
    return {p: c.committed(TopicPartition(TOPIC, p)) for p in range(PARTITIONS)}


def main():
    log("kafka-python", kafka.__version__)
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="myelin-e2e-kafka-python-group")
    admin.create_topics({TOPIC: {"num_partitions": PARTITIONS, "replication_factor": 1}})
    admin.close()
    produce("first", 0, 10)

    c = consumer()
    got = consume(c, 30)
    expected = [(p, i, f"first-{p}-{i}") for p in range(PARTITIONS) for i in range(10)]
    expect(got == expected, f"first run: {got}")
    expect(sorted(tp.partition for tp in c.assignment()) == list(range(PARTITIONS)), "assignment")
    c.commit()
    expect(committed(c) == {p: 10 for p in range(PARTITIONS)}, f"committed after run 1: {committed(c)}")
    c.close(autocommit=False)
    log("run 1: consumed 30, committed 10 per partition")

    produce("second", 10, 5)
    c = consumer()
    got = consume(c, 15)
    expected = [(p, i, f"second-{p}-{i}") for p in range(PARTITIONS) for i in range(10, 15)]
    expect(got == expected, f"run 2 did not resume after the committed offsets: {got}")
    c.commit()
    expect(committed(c) == {p: 15 for p in range(PARTITIONS)}, f"committed after run 2: {committed(c)}")
    c.close(autocommit=False)
    log("run 2: resumed at offset 10 of each partition, consumed 15")
    print("OK kafka-python group", flush=True)


if __name__ == "__main__":
    main()
