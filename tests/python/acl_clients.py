"""ACLs on a Myelin broker with the authorizer on, managed and obeyed by real clients.

The broker has a SASL_PLAINTEXT listener with the PLAIN users admin, alice and bob (each
with the password <user>-secret), authorizer.class.name set and super.users=User:admin.

- confluent-kafka's admin client (as admin) creates two topics and the ACLs:
  alice may WRITE acl-orders and READ every topic starting with `acl-` (PREFIXED), but is
  denied READ on acl-secret; alice may READ the group acl-group; bob may READ acl-orders.
- confluent-kafka (as alice) produces to acl-orders; as bob, its produce fails with
  TOPIC_AUTHORIZATION_FAILED.
- kafka-python (as alice) consumes acl-orders in acl-group and commits; as bob, joining
  acl-group fails with GroupAuthorizationFailedError; alice cannot fetch acl-secret.
- kafka-python's admin (as bob) lists only the topics bob may describe, and may not
  describe ACLs (ClusterAuthorizationFailedError); as admin it lists and deletes them.
- After bob's ACL is deleted, bob sees no topic at all.

Usage: python acl_clients.py HOST:PORT. Prints `OK acls` at the end; any failure raises.
"""

import sys
import time

import confluent_kafka
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.admin._acls import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePatternFilter,
)
from kafka.admin._acls import ResourceType as KpResourceType
import kafka.errors

TIMEOUT = 30
BOOTSTRAP = sys.argv[1]


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def ck(user, **extra):
    conf = {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": user,
        "sasl.password": f"{user}-secret",
    }
    conf.update(extra)
    return conf


def kp(user):
    return dict(
        bootstrap_servers=BOOTSTRAP,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_plain_username=user,
        sasl_plain_password=f"{user}-secret",
    )


def all_acls_filter():
    return AclBindingFilter(
        ResourceType.ANY,
        None,
        ResourcePatternType.ANY,
        None,
        None,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def main():
    admin = AdminClient(ck("admin"))
    for f in admin.create_topics(
        [NewTopic("acl-orders", 1, 1), NewTopic("acl-secret", 1, 1)]
    ).values():
        f.result(TIMEOUT)

    bindings = [
        AclBinding(ResourceType.TOPIC, "acl-orders", ResourcePatternType.LITERAL,
                   "User:alice", "*", AclOperation.WRITE, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "acl-", ResourcePatternType.PREFIXED,
                   "User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "acl-secret", ResourcePatternType.LITERAL,
                   "User:alice", "*", AclOperation.READ, AclPermissionType.DENY),
        AclBinding(ResourceType.GROUP, "acl-group", ResourcePatternType.LITERAL,
                   "User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, "acl-orders", ResourcePatternType.LITERAL,
                   "User:bob", "*", AclOperation.READ, AclPermissionType.ALLOW),
    ]
    for f in admin.create_acls(bindings).values():
        f.result(TIMEOUT)
    described = admin.describe_acls(all_acls_filter()).result(TIMEOUT)
    expect(sorted(map(str, described)) == sorted(map(str, bindings)),
           f"describe_acls: {described}")
    log("confluent-kafka admin: ACLs created and described")

    # alice writes; bob may not.
    delivered = []
    producer = confluent_kafka.Producer(ck("alice"))
    for i in range(5):
        producer.produce("acl-orders", f"order-{i}".encode(),
                         on_delivery=lambda err, msg: delivered.append(err))
    expect(producer.flush(TIMEOUT) == 0, "alice's produce did not finish")
    expect(delivered == [None] * 5, f"alice's deliveries: {delivered}")
    refused = []
    producer = confluent_kafka.Producer(ck("bob", **{"message.timeout.ms": 10000}))
    producer.produce("acl-orders", b"from-bob", on_delivery=lambda err, msg: refused.append(err))
    producer.flush(TIMEOUT)
    expect(len(refused) == 1 and refused[0] is not None
           and refused[0].code() == confluent_kafka.KafkaError.TOPIC_AUTHORIZATION_FAILED,
           f"bob's produce: {refused}")
    log("confluent-kafka: alice produced, bob was refused")

    # alice consumes in acl-group and commits.
    consumer = KafkaConsumer("acl-orders", group_id="acl-group", auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=10000, **kp("alice"))
    values = [m.value.decode() for m in consumer]
    expect(values == [f"order-{i}" for i in range(5)], f"alice consumed {values}")
    consumer.commit()
    tp = TopicPartition("acl-orders", 0)
    expect(consumer.committed(tp) == 5, "alice's commit")
    consumer.close()

    # bob may read the topic, not join acl-group.
    consumer = KafkaConsumer("acl-orders", group_id="acl-group", auto_offset_reset="earliest",
                             consumer_timeout_ms=5000, **kp("bob"))
    try:
        list(consumer)
        raise AssertionError("bob joined acl-group")
    except kafka.errors.GroupAuthorizationFailedError:
        pass
    finally:
        consumer.close()
    # ...but without a group, bob reads acl-orders.
    consumer = KafkaConsumer(auto_offset_reset="earliest", consumer_timeout_ms=5000, **kp("bob"))
    consumer.assign([tp])
    values = [m.value.decode() for m in consumer]
    expect(len(values) == 5, f"bob read {values}")
    consumer.close()
    # alice is denied acl-secret, though her prefixed ACL covers it.
    consumer = KafkaConsumer(auto_offset_reset="earliest", consumer_timeout_ms=5000, **kp("alice"))
    consumer.assign([TopicPartition("acl-secret", 0)])
    try:
        list(consumer)
        raise AssertionError("alice read acl-secret")
    except kafka.errors.TopicAuthorizationFailedError:
        pass
    finally:
        consumer.close()
    log("kafka-python: alice consumed and committed; bob refused the group, alice acl-secret")

    bob_admin = KafkaAdminClient(**kp("bob"))
    topics = set(bob_admin.list_topics())
    expect(topics == {"acl-orders"}, f"bob sees {topics}")
    topic_filter = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                             permission_type=ACLPermissionType.ANY,
                             resource_pattern=ResourcePatternFilter(
                                 KpResourceType.ANY, None, ACLResourcePatternType.ANY))
    try:
        bob_admin.describe_acls(topic_filter)
        raise AssertionError("bob described the ACLs")
    except kafka.errors.ClusterAuthorizationFailedError:
        pass
    bob_admin.close()

    kp_admin = KafkaAdminClient(**kp("admin"))
    acls, error = kp_admin.describe_acls(topic_filter)
    expect(error is kafka.errors.NoError and len(acls) == 5, f"kafka-python describe: {acls}")
    bob_filter = ACLFilter(principal="User:bob", host="*", operation=ACLOperation.ANY,
                           permission_type=ACLPermissionType.ANY,
                           resource_pattern=ResourcePatternFilter(
                               KpResourceType.TOPIC, None, ACLResourcePatternType.ANY))
    deleted = kp_admin.delete_acls([bob_filter])
    expect(len(deleted) == 1 and len(deleted[0][1]) == 1 and deleted[0][2] is kafka.errors.NoError,
           f"delete: {deleted}")
    kp_admin.close()

    # The deletion takes effect at once: bob sees no topic.
    deadline = time.time() + TIMEOUT
    while True:
        bob_admin = KafkaAdminClient(**kp("bob"))
        topics = set(bob_admin.list_topics())
        bob_admin.close()
        if not topics:
            break
        expect(time.time() < deadline, f"bob still sees {topics}")
        time.sleep(0.2)
    left = admin.describe_acls(all_acls_filter()).result(TIMEOUT)
    expect(len(left) == 4, f"left: {left}")
    log("kafka-python admin: bob's ACL deleted")
    log("OK acls")


main()
