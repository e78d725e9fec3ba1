"""TLS against a Myelin broker, with three Python clients.

Usage:
  python tls_clients.py ssl HOST:PORT CA.pem
      an SSL listener: kafka-python, confluent-kafka and aiokafka each produce 5 records
      to `tls-topic` and read all of them back, verifying the broker's certificate
      against CA.pem (and its host name, 127.0.0.1).
  python tls_clients.py sasl_ssl HOST:PORT CA.pem
      a SASL_SSL listener with the PLAIN user admin/admin-secret: kafka-python's admin
      client creates the SCRAM-SHA-512 user carol, then confluent-kafka produces and
      consumes as carol.

Prints `OK tls <mode>` at the end; any failure raises.
"""

import asyncio
import ssl
import sys
import time

import aiokafka
import confluent_kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.admin._users import ScramMechanism, UserScramCredentialUpsertion

TIMEOUT = 30
MODE, BOOTSTRAP, CA = sys.argv[1], sys.argv[2], sys.argv[3]
TOPIC = "tls-topic"


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def kp(**extra):
    """kafka-python's settings for the listener."""
    conf = dict(bootstrap_servers=BOOTSTRAP, ssl_cafile=CA, ssl_check_hostname=True)
    conf["security_protocol"] = "SSL" if MODE == "ssl" else "SASL_SSL"
    conf.update(extra)
    return conf


def ck(**extra):
    """librdkafka's settings for the listener."""
    conf = {"bootstrap.servers": BOOTSTRAP, "ssl.ca.location": CA,
            "ssl.endpoint.identification.algorithm": "https"}
    conf["security.protocol"] = "SSL" if MODE == "ssl" else "SASL_SSL"
    conf.update(extra)
    return conf


def confluent_round_trip(conf, prefix, first_offset, total):
    producer = confluent_kafka.Producer(conf)
    errors = []
    for i in range(5):
        producer.produce(TOPIC, value=b"%s-%d" % (prefix, i), partition=0,
                         on_delivery=lambda err, msg: err and errors.append(err))
    expect(producer.flush(TIMEOUT) == 0 and not errors, f"confluent-kafka produce: {errors}")
    cconf = dict(conf)
    cconf.update({"group.id": "tls-group", "enable.auto.commit": False})
    consumer = confluent_kafka.Consumer(cconf)
    consumer.assign([confluent_kafka.TopicPartition(TOPIC, 0, first_offset)])
    values = []
    deadline = time.time() + TIMEOUT
    while len(values) < total and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        expect(msg.error() is None, f"consume error {msg.error()}")
        values.append(msg.value())
    consumer.close()
    return values


def ssl_mode():
    admin = KafkaAdminClient(**kp())
    admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
    admin.close()

    producer = KafkaProducer(**kp())
    for i in range(5):
        producer.send(TOPIC, value=b"kp-%d" % i, partition=0).get(timeout=TIMEOUT)
    producer.close()
    log("kafka-python produced 5 over TLS")

    values = confluent_round_trip(ck(), b"ck", 0, 10)
    expect(values == [b"kp-%d" % i for i in range(5)] + [b"ck-%d" % i for i in range(5)],
           f"confluent-kafka read {values}")
    log("confluent-kafka produced 5 and read 10 over TLS")

    async def aio():
        context = ssl.create_default_context(cafile=CA)
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=BOOTSTRAP,
                                             security_protocol="SSL", ssl_context=context)
        await producer.start()
        try:
            for i in range(5):
                await producer.send_and_wait(TOPIC, b"aio-%d" % i, partition=0)
        finally:
            await producer.stop()
    asyncio.run(aio())
    log("aiokafka produced 5 over TLS")

    consumer = KafkaConsumer(consumer_timeout_ms=5000, **kp())
    tp = TopicPartition(TOPIC, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    values = [m.value for m in consumer]
    consumer.close()
    expect(len(values) == 15 and values[-1] == b"aio-4", f"kafka-python read {values}")
    log("kafka-python read all 15 over TLS")


def sasl_ssl_mode():
    admin = KafkaAdminClient(**kp(sasl_mechanism="PLAIN", sasl_plain_username="admin",
                                  sasl_plain_password="admin-secret"))
    result = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion("carol", ScramMechanism.SCRAM_SHA_512, "carol-secret"),
    ])
    expect(result == {"carol": None}, f"alter_user_scram_credentials: {result}")
    admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
    admin.close()
    log("admin (PLAIN over TLS) created the SCRAM user carol")
    values = confluent_round_trip(
        ck(**{"sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "carol",
              "sasl.password": "carol-secret"}), b"carol", 0, 5)
    expect(values == [b"carol-%d" % i for i in range(5)], f"read {values}")
    log("confluent-kafka as carol (SCRAM-SHA-512 over TLS) produced and read 5")


if __name__ == "__main__":
    ssl_mode() if MODE == "ssl" else sasl_ssl_mode()
    log(f"OK tls {MODE}")
