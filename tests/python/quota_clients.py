"""Client quotas on a Myelin broker, obeyed by real clients.

Before this runs, the test sets (with `myelin quota alter`):
- client-id quota-producer: producer_byte_rate=500000 (500 kB/s);
- client-id quota-consumer: consumer_byte_rate=1000000 (1 MB/s).

The broker runs with quota.window.num=3: a rate is measured over at least 2 one-second
windows, so a client first gets two seconds' worth at once; past that the broker throttles
it (throttle_time_ms, and the connection muted).

- confluent-kafka produces 1.3 MB as quota-producer: every message is delivered, and
  librdkafka reports the broker's throttling (throttle_cb with a throttle time above 0).
- confluent-kafka produces as quota-free: never throttled.
- kafka-python consumes the 2.6 MB as quota-consumer: every message, in order, and
  kafka-python logs the broker's throttling.

Usage: python quota_clients.py HOST:PORT. Prints `OK quotas` at the end; any failure
raises.
"""

import logging
import sys
import time

import confluent_kafka
import confluent_kafka.admin
from kafka import KafkaConsumer, TopicPartition

TOPIC = "quota-topic"
COUNT = 1300
VALUE = b"v" * 1000
TIMEOUT = 60
BOOTSTRAP = sys.argv[1]


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def produce(client_id, first):
    throttles = []
    errors = []

    def on_throttle(event):
        throttles.append(event.throttle_time)

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)

    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "client.id": client_id,
            "acks": "all",
            "throttle_cb": on_throttle,
            "linger.ms": 20,
        }
    )
    started = time.monotonic()
    for i in range(COUNT):
        producer.produce(TOPIC, key=b"%d" % (first + i), value=VALUE, on_delivery=on_delivery)
        producer.poll(0)
    left = producer.flush(TIMEOUT)
    # Throttle events are served by poll.
    producer.poll(0.5)
    log(
        f"{client_id}: {COUNT} messages in {time.monotonic() - started:.1f} s, "
        f"throttled {len(throttles)} times: {throttles[:5]}"
    )
    expect(left == 0, f"{client_id}: {left} messages not delivered")
    expect(not errors, f"{client_id}: delivery errors {errors[:3]}")
    return throttles


class Throttles(logging.Handler):
    """kafka-python logs "... throttled by broker (N ms)" for each throttled response."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen = []

    def emit(self, record):
        message = record.getMessage()
        if "throttled by broker" in message:
            self.seen.append(message)


def consume(client_id, expected):
    handler = Throttles()
    logging.getLogger("kafka").addHandler(handler)
    consumer = KafkaConsumer(
        bootstrap_servers=BOOTSTRAP,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    tp = TopicPartition(TOPIC, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    keys = []
    deadline = time.monotonic() + TIMEOUT
    started = time.monotonic()
    while len(keys) < expected and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            for r in records:
                expect(r.value == VALUE, f"record {r.offset} has another value")
                keys.append(int(r.key))
    consumer.close()
    logging.getLogger("kafka").removeHandler(handler)
    log(
        f"{client_id}: {len(keys)} messages in {time.monotonic() - started:.1f} s, "
        f"throttled {len(handler.seen)} times: {handler.seen[:2]}"
    )
    expect(keys == list(range(expected)), f"{client_id}: got {len(keys)} messages, not in order")
    return handler.seen


def main():
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": BOOTSTRAP})
    for f in admin.create_topics(
        [confluent_kafka.admin.NewTopic(TOPIC, num_partitions=1, replication_factor=1)]
    ).values():
        f.result(TIMEOUT)

    throttles = produce("quota-producer", 0)
    expect(throttles, "quota-producer: librdkafka reported no throttling")
    expect(all(t >= 0 for t in throttles) and max(throttles) > 0, f"throttle times {throttles}")

    free = produce("quota-free", COUNT)
    expect(not [t for t in free if t > 0], f"quota-free was throttled: {free}")

    seen = consume("quota-consumer", 2 * COUNT)
    expect(seen, "quota-consumer: kafka-python saw no throttling")
    log("OK quotas")


if __name__ == "__main__":
    main()
