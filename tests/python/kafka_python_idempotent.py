"""kafka-python 3 (pure Python): its default idempotent producer and its transactions
against a Myelin broker.

1. `KafkaProducer` with its defaults, which enable idempotence (InitProducerId before the
   first send, sequence numbers in every batch): records to two partitions are stored once,
   in order, at the offsets the futures report.
2. A transactional producer commits, aborts (after its records are stored) and commits: a
   read_committed `KafkaConsumer` sees the committed records, a read_uncommitted one all.
   While a fourth transaction is open, `describe_transactions` (DescribeTransactions) and
   `list_transactions` (ListTransactions) show it Ongoing with its partition; once
   committed, CompleteCommit without partitions, and no longer listed as Ongoing. An
   unknown transactional id is TRANSACTIONAL_ID_NOT_FOUND.
3. Consume-transform-produce as a group member: `send_offsets_to_transaction` with the
   consumer's group metadata commits the group's offsets with the transaction.

Usage: python kafka_python_idempotent.py HOST:PORT. Prints `OK kafka-python idempotent` at
the end; any failure raises.
"""

import sys
import time

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic, TransactionState
from kafka.errors import TransactionalIdNotFoundError
from kafka.structs import OffsetAndMetadata

TIMEOUT = 30
BOOTSTRAP = sys.argv[1]
IDEMPOTENT = "py-kp-idempotent"
TXN = "py-kp-txn"
INPUT = "py-kp-input"
OUTPUT = "py-kp-output"
N = 100


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def read_all(topic, partition, isolation, expected_count):
    """The (offset, value) pairs of `topic`/`partition` from the beginning: polls until
    `expected_count` records arrived and the position is at the end offset (the last
    stable offset for read_committed)."""
    consumer = KafkaConsumer(
        bootstrap_servers=BOOTSTRAP, group_id=None, enable_auto_commit=False, isolation_level=isolation
    )
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    end = consumer.end_offsets([tp])[tp]
    got = []
    deadline = time.time() + TIMEOUT
    while len(got) < expected_count or consumer.position(tp) < end:
        expect(time.time() < deadline, f"{topic}/{partition} {isolation}: {got}")
        for records in consumer.poll(timeout_ms=200).values():
            got.extend((r.offset, r.value.decode()) for r in records)
    # Nothing past what was expected.
    for records in consumer.poll(timeout_ms=300).values():
        got.extend((r.offset, r.value.decode()) for r in records)
    consumer.close()
    return got


def idempotent(admin):
    admin.create_topics([NewTopic(IDEMPOTENT, num_partitions=2, replication_factor=1)])
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=5)
    expect(producer.config["enable_idempotence"], "idempotence is on by default")
    futures = [
        producer.send(IDEMPOTENT, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=i % 2) for i in range(N)
    ]
    offsets = [f.get(timeout=TIMEOUT).offset for f in futures]
    for p in (0, 1):
        expect(offsets[p::2] == list(range(N // 2)), f"partition {p}: offsets {offsets[p::2]}")
    pid = producer._transaction_manager.producer_id_and_epoch
    expect(pid.producer_id >= 0 and pid.epoch >= 0, f"a producer id: {pid}")
    producer.close(timeout=TIMEOUT)
    for p in (0, 1):
        got = read_all(IDEMPOTENT, p, "read_uncommitted", N // 2)
        want = [(j, f"v{2 * j + p}") for j in range(N // 2)]
        expect(got == want, f"partition {p}: {got}")
    log("idempotent producer", pid, "stored", N, "records once, in order")


def transactions(admin):
    admin.create_topics([NewTopic(TXN, num_partitions=1, replication_factor=1)])
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, transactional_id="py-kp-txn-producer", linger_ms=5)
    producer.init_transactions()
    for txn, commit in [("commit1", True), ("abort2", False), ("commit3", True)]:
        producer.begin_transaction()
        futures = [producer.send(TXN, value=f"{txn}-{i}".encode(), partition=0) for i in range(5)]
        producer.flush(timeout=TIMEOUT)
        for f in futures:
            f.get(timeout=TIMEOUT)
        if commit:
            producer.commit_transaction()
        else:
            producer.abort_transaction()
    # A fourth transaction stays open while the admin client looks at it
    # (DescribeTransactions, ListTransactions), then commits.
    producer.begin_transaction()
    producer.send(TXN, value=b"commit4-0", partition=0).get(timeout=TIMEOUT)
    pid = producer._transaction_manager.producer_id_and_epoch
    (desc,) = admin.describe_transactions(["py-kp-txn-producer"]).values()
    expect(desc.state == TransactionState.ONGOING, f"describe_transactions: {desc}")
    expect((desc.producer_id, desc.producer_epoch) == (pid.producer_id, pid.epoch), f"{desc} vs {pid}")
    expect(desc.topic_partitions == {TopicPartition(TXN, 0)}, f"describe_transactions: {desc}")
    listed = [t for ts in admin.list_transactions().values() for t in ts]
    mine = [t for t in listed if t.transactional_id == "py-kp-txn-producer"]
    expect(
        [(t.producer_id, t.state) for t in mine] == [(pid.producer_id, TransactionState.ONGOING)],
        f"list_transactions: {listed}",
    )
    producer.commit_transaction()
    (desc,) = admin.describe_transactions(["py-kp-txn-producer"]).values()
    expect(desc.state == TransactionState.COMPLETE_COMMIT, f"describe_transactions after commit: {desc}")
    expect(desc.topic_partitions == set(), f"describe_transactions after commit: {desc}")
    ongoing = [t for ts in admin.list_transactions(state_filters=["Ongoing"]).values() for t in ts]
    expect(ongoing == [], f"list_transactions(Ongoing) after commit: {ongoing}")
    try:
        admin.describe_transactions(["py-kp-no-such-id"])
        raise AssertionError("describe_transactions of an unknown id succeeded")
    except TransactionalIdNotFoundError:
        pass
    producer.close(timeout=TIMEOUT)

    def txn(name, base):
        return [(base + i, f"{name}-{i}") for i in range(5)]

    commit4 = [(18, "commit4-0")]
    got = read_all(TXN, 0, "read_committed", 11)
    expect(got == txn("commit1", 0) + txn("commit3", 12) + commit4, f"read_committed: {got}")
    got = read_all(TXN, 0, "read_uncommitted", 16)
    expect(got == txn("commit1", 0) + txn("abort2", 6) + txn("commit3", 12) + commit4, f"read_uncommitted: {got}")
    log("transactions: read_committed sees 3 of 4; described and listed while open")


def consume_transform_produce(admin):
    admin.create_topics(
        [NewTopic(INPUT, num_partitions=1, replication_factor=1), NewTopic(OUTPUT, num_partitions=1, replication_factor=1)]
    )
    plain = KafkaProducer(bootstrap_servers=BOOTSTRAP)
    for f in [plain.send(INPUT, value=f"in-{i}".encode(), partition=0) for i in range(10)]:
        f.get(timeout=TIMEOUT)
    plain.close(timeout=TIMEOUT)

    consumer = KafkaConsumer(
        INPUT,
        bootstrap_servers=BOOTSTRAP,
        group_id="py-kp-group",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    got = []
    deadline = time.time() + TIMEOUT
    while len(got) < 10:
        expect(time.time() < deadline, f"consumed {got}")
        for records in consumer.poll(timeout_ms=200).values():
            got.extend(records)
    expect([r.offset for r in got] == list(range(10)), f"input offsets {[r.offset for r in got]}")
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, transactional_id="py-kp-transformer", linger_ms=5)
    producer.init_transactions()
    producer.begin_transaction()
    for r in got:
        producer.send(OUTPUT, value=b"T(" + r.value + b")", partition=0)
    tp = TopicPartition(INPUT, 0)
    metadata = consumer.group_metadata()
    expect(metadata.generation_id > 0 and metadata.member_id, f"a group member: {metadata}")
    producer.send_offsets_to_transaction({tp: OffsetAndMetadata(10, "", -1)}, metadata)
    producer.commit_transaction()
    producer.close(timeout=TIMEOUT)
    committed = consumer.committed(tp)
    expect(committed == 10, f"committed offset {committed}")
    consumer.close()
    out = read_all(OUTPUT, 0, "read_committed", 10)
    expect([v for _, v in out] == [f"T(in-{i})" for i in range(10)], f"output {out}")
    log("consume-transform-produce: offsets committed with the transaction")


def main():
    log("kafka-python", kafka.__version__)
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="myelin-e2e-kafka-python")
    idempotent(admin)
    transactions(admin)
    consume_transform_produce(admin)
    admin.close()
    print("OK kafka-python idempotent", flush=True)


if __name__ == "__main__":
    main()
