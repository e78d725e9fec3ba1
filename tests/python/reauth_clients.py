"""KIP-368 re-authentication against a Myelin broker with connections.max.reauth.ms set
(the test sets 1500 ms): confluent-kafka (librdkafka re-authenticates its connections
before their sessions expire) produces a record every 0.3 s for 6 s on its connections,
and every record is delivered; kafka-python then reads them all.

Usage: python reauth_clients.py HOST:PORT. Prints `OK reauth` at the end; any failure
raises.
"""

import sys
import time

import confluent_kafka
from kafka import KafkaConsumer

BOOTSTRAP = sys.argv[1]
TOPIC = "reauth-topic"
COUNT = 20


def log(*args):
    print(*args, flush=True)


def main():
    delivered = []
    producer = confluent_kafka.Producer({
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": "admin",
        "sasl.password": "admin-secret",
    })
    for i in range(COUNT):
        producer.produce(TOPIC, f"r-{i}".encode(), on_delivery=lambda err, msg: delivered.append(err))
        producer.poll(0.3)
    assert producer.flush(30) == 0, "the produce did not finish"
    assert delivered == [None] * COUNT, f"deliveries: {delivered}"
    log("confluent-kafka delivered", COUNT, "records across several session lifetimes")

    consumer = KafkaConsumer(TOPIC, auto_offset_reset="earliest", consumer_timeout_ms=10000,
                             bootstrap_servers=BOOTSTRAP, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="PLAIN", sasl_plain_username="admin",
                             sasl_plain_password="admin-secret")
    values = [m.value.decode() for m in consumer]
    consumer.close()
    assert values == [f"r-{i}" for i in range(COUNT)], f"read {values}"
    log("OK reauth")


main()
