"""confluent-kafka (librdkafka in its wheel): transactions against a Myelin broker.

1. A transactional producer commits, aborts and commits transactions on two partitions
   (every transaction's records flushed before it ends): a read_committed consumer sees
   exactly the committed records, a read_uncommitted one all of them, neither a control
   record (the offsets skip them).
2. Consume-transform-produce as a consumer group member (subscribe: a real member id and
   generation go with the offsets): the consumed offsets are sent to the transaction with
   send_offsets_to_transaction. A committed transaction moves the group's offsets; an
   aborted one neither moves them nor shows its records to read_committed consumers.

Usage: python confluent_kafka_txn.py HOST:PORT. Prints `OK confluent-kafka transactions` at
the end; any failure raises.
"""

import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka import __version__ as client_version
from confluent_kafka import libversion
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT = 30
BOOTSTRAP = sys.argv[1]
TOPIC = "py-txn"
INPUT = "py-txn-input"
OUTPUT = "py-txn-output"
GROUP = "py-txn-group"
RECORDS = 5


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def read_all(topic, partitions, isolation):
    """Every record of `topic` from the beginning to each partition's end (EOF), as
    {partition: [(offset, value), ...]}."""
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": "py-txn-assign-only",
            "isolation.level": isolation,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    records = {p: [] for p in range(partitions)}
    at_end = set()
    deadline = time.time() + TIMEOUT
    while len(at_end) < partitions:
        expect(time.time() < deadline, f"{topic} {isolation}: only {at_end} at the end: {records}")
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            expect(msg.error().code() == KafkaError._PARTITION_EOF, f"consumer error {msg.error()}")
            at_end.add(msg.partition())
            continue
        at_end.discard(msg.partition())
        records[msg.partition()].append((msg.offset(), msg.value().decode()))
    consumer.close()
    return records


def txn_records(txn, partition, base_offset):
    return [(base_offset + i, f"{txn}-{partition}-{i}") for i in range(RECORDS)]


def produce_flushed(producer, topic, txn, partition):
    reports = []
    for i in range(RECORDS):
        producer.produce(
            topic,
            key=f"{txn}-{i}".encode(),
            value=f"{txn}-{partition}-{i}".encode(),
            partition=partition,
            on_delivery=lambda err, msg: reports.append(err),
        )
    expect(producer.flush(TIMEOUT) == 0, "flush")
    expect(reports == [None] * RECORDS, f"{txn}: delivery errors {reports}")


def visibility(admin):
    admin.create_topics([NewTopic(TOPIC, num_partitions=2, replication_factor=1)])[TOPIC].result(TIMEOUT)
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": "py-txn-producer", "linger.ms": 5})
    producer.init_transactions(TIMEOUT)
    for txn, commit in [("commit1", True), ("abort2", False), ("commit3", True)]:
        producer.begin_transaction()
        for p in (0, 1):
            produce_flushed(producer, TOPIC, txn, p)
        if commit:
            producer.commit_transaction(TIMEOUT)
        else:
            producer.abort_transaction(TIMEOUT)
    # Each transaction: RECORDS records and one control record per partition.
    committed = read_all(TOPIC, 2, "read_committed")
    uncommitted = read_all(TOPIC, 2, "read_uncommitted")
    for p in (0, 1):
        want = txn_records("commit1", p, 0) + txn_records("commit3", p, 12)
        expect(committed[p] == want, f"read_committed partition {p}: {committed[p]}, want {want}")
        want = txn_records("commit1", p, 0) + txn_records("abort2", p, 6) + txn_records("commit3", p, 12)
        expect(uncommitted[p] == want, f"read_uncommitted partition {p}: {uncommitted[p]}, want {want}")
    log("read_committed sees 2 committed transactions, read_uncommitted 3")


def group_offset(consumer):
    (tp,) = consumer.committed([TopicPartition(INPUT, 0)], timeout=TIMEOUT)
    return tp.offset


def consume_transform_produce(admin):
    futures = admin.create_topics(
        [NewTopic(INPUT, num_partitions=1, replication_factor=1), NewTopic(OUTPUT, num_partitions=1, replication_factor=1)]
    )
    for f in futures.values():
        f.result(TIMEOUT)
    plain = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all"})
    for i in range(20):
        plain.produce(INPUT, key=f"k{i}".encode(), value=f"in-{i}".encode(), partition=0)
    expect(plain.flush(TIMEOUT) == 0, "flush input")

    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": GROUP,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([INPUT])
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": "py-txn-transformer", "linger.ms": 5})
    producer.init_transactions(TIMEOUT)

    def transform(n, commit):
        got = []
        deadline = time.time() + TIMEOUT
        while len(got) < n:
            expect(time.time() < deadline, f"consumed {len(got)} of {n}")
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            expect(msg.error() is None, f"consumer error {msg.error()}")
            got.append(msg)
        producer.begin_transaction()
        for msg in got:
            producer.produce(OUTPUT, key=msg.key(), value=b"T(" + msg.value() + b")", partition=0)
        positions = consumer.position(consumer.assignment())
        producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), TIMEOUT)
        if commit:
            producer.commit_transaction(TIMEOUT)
        else:
            producer.flush(TIMEOUT)
            producer.abort_transaction(TIMEOUT)
        return [m.offset() for m in got]

    expect(transform(10, True) == list(range(10)), "first 10 input offsets")
    expect(group_offset(consumer) == 10, f"committed offset after commit: {group_offset(consumer)}")
    expect(transform(10, False) == list(range(10, 20)), "next 10 input offsets")
    expect(group_offset(consumer) == 10, f"committed offset after abort: {group_offset(consumer)}")
    # Back to the committed offset, as an application does after an abort.
    consumer.seek(TopicPartition(INPUT, 0, 10))
    expect(transform(10, True) == list(range(10, 20)), "10 input offsets again")
    expect(group_offset(consumer) == 20, f"committed offset after the second commit: {group_offset(consumer)}")
    consumer.close()

    out = read_all(OUTPUT, 1, "read_committed")[0]
    want = [f"T(in-{i})" for i in range(20)]
    expect([v for _, v in out] == want, f"read_committed output: {out}")
    out = read_all(OUTPUT, 1, "read_uncommitted")[0]
    want = [f"T(in-{i})" for i in list(range(20)) + list(range(10, 20))]
    expect([v for _, v in out] == want, f"read_uncommitted output: {out}")
    log("consume-transform-produce: offsets committed with the transaction, not with the aborted one")


def main():
    log("confluent-kafka", client_version, "librdkafka", libversion()[0])
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    visibility(admin)
    consume_transform_produce(admin)
    print("OK confluent-kafka transactions", flush=True)


if __name__ == "__main__":
    main()
