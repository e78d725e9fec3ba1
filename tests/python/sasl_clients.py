"""SASL against a Myelin broker's SASL_PLAINTEXT listener, with three Python clients.

The broker has one PLAIN user from its JAAS config, admin/admin-secret. As admin,
kafka-python's admin client creates SCRAM credentials (AlterUserScramCredentials: the
client salts and hashes the password) for alice (SCRAM-SHA-256) and bob (SCRAM-SHA-512),
reads them back (DescribeUserScramCredentials) and creates a topic. Then:
- kafka-python produces as alice (SCRAM-SHA-256) and consumes as bob (SCRAM-SHA-512);
- confluent-kafka (librdkafka) produces as bob and consumes as alice;
- aiokafka produces as alice;
- a wrong password, a user without a credential for the mechanism, and a SCRAM user on
  PLAIN each fail to authenticate, in kafka-python and in confluent-kafka.

Usage: python sasl_clients.py HOST:PORT. Prints `OK sasl` at the end; any failure raises.
"""

import asyncio
import sys
import time

import aiokafka
import confluent_kafka
from confluent_kafka.admin import AdminClient as ConfluentAdmin
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.admin._users import ScramMechanism, UserScramCredentialUpsertion
import kafka.errors

TIMEOUT = 30
BOOTSTRAP = sys.argv[1]
TOPIC = "sasl-topic"


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def kp_auth(mechanism, user, password):
    """kafka-python's SASL settings."""
    return dict(
        bootstrap_servers=BOOTSTRAP,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_plain_username=user,
        sasl_plain_password=password,
    )


def ck_auth(mechanism, user, password):
    """librdkafka's SASL settings."""
    return {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }


def admin_creates_users_and_topic():
    admin = KafkaAdminClient(client_id="sasl-admin", **kp_auth("PLAIN", "admin", "admin-secret"))
    result = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion("alice", ScramMechanism.SCRAM_SHA_256, "alice-secret"),
        UserScramCredentialUpsertion("bob", ScramMechanism.SCRAM_SHA_512, "bob-secret",
                                     iterations=8192),
    ])
    expect(result == {"alice": None, "bob": None}, f"alter_user_scram_credentials: {result}")
    described = admin.describe_user_scram_credentials()
    expect(described["alice"]["credential_infos"]
           == [{"mechanism": ScramMechanism.SCRAM_SHA_256, "iterations": 4096}], described)
    expect(described["bob"]["credential_infos"]
           == [{"mechanism": ScramMechanism.SCRAM_SHA_512, "iterations": 8192}], described)
    admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
    admin.close()
    log("admin (PLAIN) created SCRAM users alice and bob and topic", TOPIC)


def kafka_python_round_trip():
    producer = KafkaProducer(**kp_auth("SCRAM-SHA-256", "alice", "alice-secret"))
    for i in range(10):
        producer.send(TOPIC, value=b"kp-%d" % i, partition=0).get(timeout=TIMEOUT)
    producer.close()
    consumer = KafkaConsumer(consumer_timeout_ms=5000, **kp_auth("SCRAM-SHA-512", "bob", "bob-secret"))
    tp = TopicPartition(TOPIC, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    values = [m.value for m in consumer]
    consumer.close()
    expect(values == [b"kp-%d" % i for i in range(10)], f"kafka-python read {values}")
    log("kafka-python: alice (SCRAM-SHA-256) produced, bob (SCRAM-SHA-512) consumed 10")


def confluent_round_trip():
    producer = confluent_kafka.Producer(ck_auth("SCRAM-SHA-512", "bob", "bob-secret"))
    errors = []
    for i in range(10):
        producer.produce(TOPIC, value=b"ck-%d" % i, partition=0,
                         on_delivery=lambda err, msg: err and errors.append(err))
    expect(producer.flush(TIMEOUT) == 0, "confluent-kafka flush")
    expect(not errors, f"delivery errors {errors}")
    conf = ck_auth("SCRAM-SHA-256", "alice", "alice-secret")
    conf.update({"group.id": "sasl-group", "enable.auto.commit": False})
    consumer = confluent_kafka.Consumer(conf)
    consumer.assign([confluent_kafka.TopicPartition(TOPIC, 0, 10)])
    values = []
    deadline = time.time() + TIMEOUT
    while len(values) < 10 and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        expect(msg.error() is None, f"consume error {msg.error()}")
        values.append(msg.value())
    consumer.close()
    expect(values == [b"ck-%d" % i for i in range(10)], f"confluent-kafka read {values}")
    log("confluent-kafka: bob (SCRAM-SHA-512) produced, alice (SCRAM-SHA-256) consumed 10")


async def aiokafka_produce():
    producer = aiokafka.AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_plain_username="alice",
        sasl_plain_password="alice-secret",
    )
    await producer.start()
    try:
        meta = await producer.send_and_wait(TOPIC, b"aio", partition=0)
        expect(meta.offset == 20, f"aiokafka offset {meta.offset}")
    finally:
        await producer.stop()
    log("aiokafka: alice (SCRAM-SHA-256) produced at offset 20")


def refused():
    bad = [
        ("SCRAM-SHA-256", "alice", "wrong"),
        ("SCRAM-SHA-512", "alice", "alice-secret"),  # alice has no SHA-512 credential
        ("PLAIN", "bob", "bob-secret"),  # bob is a SCRAM user, not a PLAIN one
        ("PLAIN", "admin", "wrong"),
    ]
    for n, (mechanism, user, password) in enumerate(bad):
        # kafka-python gives up bootstrapping when every attempt fails to authenticate
        # (two cases: each takes the whole bootstrap timeout).
        if n < 2:
            try:
                admin = KafkaAdminClient(request_timeout_ms=3000, bootstrap_timeout_ms=3000,
                                         **kp_auth(mechanism, user, password))
                admin.close()
            except (kafka.errors.SaslAuthenticationFailedError,
                    kafka.errors.KafkaTimeoutError) as e:
                log("kafka-python refused", mechanism, user, "-", type(e).__name__)
            else:
                raise AssertionError(f"kafka-python authenticated {user} with {mechanism}")

        conf = ck_auth(mechanism, user, password)
        errors = []
        conf["error_cb"] = errors.append
        conf["log_level"] = 0  # librdkafka logs each failed attempt; the error_cb is checked
        admin = ConfluentAdmin(conf)
        try:
            admin.list_topics(timeout=3)
        except confluent_kafka.KafkaException:
            pass
        else:
            raise AssertionError(f"confluent-kafka authenticated {user} with {mechanism}")
        admin.poll(1)  # serves the error callbacks
        codes = {e.code() for e in errors}
        expect(confluent_kafka.KafkaError._AUTHENTICATION in codes,
               f"confluent-kafka errors for {user}: {errors}")
        log("confluent-kafka refused", mechanism, user, "- _AUTHENTICATION")


def main():
    admin_creates_users_and_topic()
    kafka_python_round_trip()
    confluent_round_trip()
    asyncio.run(aiokafka_produce())
    refused()
    log("OK sasl")


if __name__ == "__main__":
    main()
