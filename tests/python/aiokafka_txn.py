"""aiokafka (asyncio): idempotent and transactional producers against a Myelin broker, in
the oldest versions of the transaction APIs (aiokafka sends InitProducerId, AddPartitionsToTxn,
AddOffsetsToTxn, TxnOffsetCommit and EndTxn at v0).

1. An idempotent producer (`enable_idempotence=True`) stores records once, in order.
2. A transactional producer commits (`async with producer.transaction()`), aborts (after
   its records are stored) and commits again, the last with offsets for a group
   (`send_offsets_to_transaction`): read_committed consumers see the committed records,
   read_uncommitted ones all, and the group's offset is the one the committed transaction
   sent, not the one an aborted transaction sent.

Usage: python aiokafka_txn.py HOST:PORT. Prints `OK aiokafka transactions` at the end; any
failure raises.
"""

import asyncio
import sys
import time

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

TIMEOUT = 30
BOOTSTRAP = sys.argv[1]
IDEMPOTENT = "py-aio-idempotent"
TXN = "py-aio-txn"
INPUT = "py-aio-input"
GROUP = "py-aio-group"


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


async def read_all(topic, isolation, expected_count):
    """The (offset, value) pairs of partition 0 from the beginning, until `expected_count`
    arrived and the position is at the end offset (the last stable offset for
    read_committed), then whatever arrives in a further 300 ms."""
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None, isolation_level=isolation)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        got = []
        deadline = time.time() + TIMEOUT
        while len(got) < expected_count or await consumer.position(tp) < end:
            expect(time.time() < deadline, f"{topic} {isolation}: {got}")
            for records in (await consumer.getmany(timeout_ms=200)).values():
                got.extend((r.offset, r.value.decode()) for r in records)
        for records in (await consumer.getmany(timeout_ms=300)).values():
            got.extend((r.offset, r.value.decode()) for r in records)
        return got
    finally:
        await consumer.stop()


async def main():
    log("aiokafka", aiokafka.__version__)
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    await admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in (IDEMPOTENT, TXN, INPUT)])
    await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(IDEMPOTENT, value=f"v{i}".encode(), partition=0) for i in range(50)]
        offsets = [(await f).offset for f in futures]
        expect(offsets == list(range(50)), f"idempotent offsets {offsets}")
    finally:
        await producer.stop()
    got = await read_all(IDEMPOTENT, "read_uncommitted", 50)
    expect(got == [(i, f"v{i}") for i in range(50)], f"idempotent records {got}")
    log("idempotent producer: 50 records once, in order")

    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, transactional_id="py-aio-txn-producer", linger_ms=5)
    await producer.start()
    try:

        async def send5(txn):
            for i in range(5):
                await (await producer.send(TXN, value=f"{txn}-{i}".encode(), partition=0))

        async with producer.transaction():
            await send5("commit1")
        await producer.begin_transaction()
        await send5("abort2")
        await producer.send_offsets_to_transaction({TopicPartition(INPUT, 0): 99}, GROUP)
        await producer.abort_transaction()
        async with producer.transaction():
            await send5("commit3")
            await producer.send_offsets_to_transaction({TopicPartition(INPUT, 0): 7}, GROUP)
    finally:
        await producer.stop()

    def txn(name, base):
        return [(base + i, f"{name}-{i}") for i in range(5)]

    got = await read_all(TXN, "read_committed", 10)
    expect(got == txn("commit1", 0) + txn("commit3", 12), f"read_committed: {got}")
    got = await read_all(TXN, "read_uncommitted", 15)
    expect(got == txn("commit1", 0) + txn("abort2", 6) + txn("commit3", 12), f"read_uncommitted: {got}")

    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=GROUP, enable_auto_commit=False)
    await consumer.start()
    try:
        committed = await consumer.committed(TopicPartition(INPUT, 0))
        expect(committed == 7, f"the group's committed offset: {committed}")
    finally:
        await consumer.stop()
    log("transactions: read_committed sees 2 of 3; the committed transaction's offsets only")
    print("OK aiokafka transactions", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
