"""confluent-kafka (librdkafka bundled in its wheel) as a consumer group member against a
Myelin broker.

A topic of 3 partitions gets 10 records per partition. A first consumer in the group
subscribes, consumes all 30, commits synchronously, checks `committed()` and closes.
Then 5 more records per partition are produced, and a second consumer of the same group
must resume after the committed offsets: it sees exactly the 15 new records, nothing
older, and commits the end of every partition.

Usage: python confluent_kafka_group.py HOST:PORT. Prints `OK confluent-kafka group` at the
end; any failure raises.
"""

import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka import __version__ as client_version
from confluent_kafka import libversion
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT = 60
BOOTSTRAP = sys.argv[1]
TOPIC = "py-confluent-group"
GROUP = "py-confluent-group"
PARTITIONS = 3


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def produce(run, first, count):
    """Produces `count` records to every partition, keyed `<run>-<partition>-<i>`."""
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "linger.ms": 5})
    reports = []
    for p in range(PARTITIONS):
        for i in range(first, first + count):
            producer.produce(
                TOPIC,
                key=f"{run}-{p}-{i}".encode(),
                value=f"value {i}".encode(),
                partition=p,
                on_delivery=lambda err, msg: reports.append((err, msg.partition(), msg.offset())),
            )
    expect(producer.flush(TIMEOUT) == 0, "flush")
    errors = [r for r in reports if r[0] is not None]
    expect(not errors and len(reports) == PARTITIONS * count, f"delivery errors {errors}")


def consumer():
    return Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": GROUP,
            "client.id": "myelin-e2e-confluent-group",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        }
    )


def consume(c, n):
    """Polls until `n` records arrived, then 2 s more to see that nothing else comes."""
    got = []
    deadline = time.time() + TIMEOUT
    while len(got) < n:
        expect(time.time() < deadline, f"consumed {len(got)} of {n} in {TIMEOUT} s")
        msg = c.poll(0.5)
        if msg is None:
            continue
        expect(msg.error() is None, f"consumer error {msg.error()}")
        got.append((msg.partition(), msg.offset(), msg.key().decode()))
    quiet = time.time() + 2
    while time.time() < quiet:
        msg = c.poll(0.2)
        expect(msg is None or msg.error() is not None, f"an unexpected record: {msg and msg.key()}")
    return sorted(got)


def committed(c):
    tps = c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=TIMEOUT)
    for tp in tps:
        expect(tp.error is None, f"committed: {tp}")
    return {tp.partition: tp.offset for tp in tps}


def main():
    log("confluent-kafka", client_version, "librdkafka", libversion()[0])
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    futures = admin.create_topics([NewTopic(TOPIC, num_partitions=PARTITIONS, replication_factor=1)])
    futures[TOPIC].result(TIMEOUT)
    produce("first", 0, 10)

    c = consumer()
    c.subscribe([TOPIC])
    got = consume(c, 30)
    expected = [(p, i, f"first-{p}-{i}") for p in range(PARTITIONS) for i in range(10)]
    expect(got == expected, f"first run: {got}")
    expect(sorted(tp.partition for tp in c.assignment()) == list(range(PARTITIONS)), "assignment")
    c.commit(asynchronous=False)
    expect(committed(c) == {p: 10 for p in range(PARTITIONS)}, f"committed after run 1: {committed(c)}")
    c.close()
    log("run 1: consumed 30, committed 10 per partition")

    produce("second", 10, 5)
    c = consumer()
    c.subscribe([TOPIC])
    got = consume(c, 15)
    expected = [(p, i, f"second-{p}-{i}") for p in range(PARTITIONS) for i in range(10, 15)]
    expect(got == expected, f"run 2 did not resume after the committed offsets: {got}")
    c.commit(asynchronous=False)
    expect(committed(c) == {p: 15 for p in range(PARTITIONS)}, f"committed after run 2: {committed(c)}")
    c.close()
    log("run 2: resumed at offset 10 of each partition, consumed 15")
    print("OK confluent-kafka group", flush=True)


if __name__ == "__main__":
    main()
