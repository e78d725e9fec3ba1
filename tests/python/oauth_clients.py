"""SASL/OAUTHBEARER against a Myelin broker whose listener validates signed JWTs against a
JWKS file (sasl.oauthbearer.jwks.endpoint.url=file://..., expected audience `myelin`).

The tokens are made by the test that starts the broker (tests/tests/clients.rs): a valid
one for the service `svc-notify`, and one signed by a key the broker does not know.

- confluent-kafka (librdkafka) produces with the valid token from its `oauth_cb`;
- kafka-python consumes what it wrote, with the token from a token provider;
- with the unknown key's token, both are refused.

Usage: python oauth_clients.py HOST:PORT GOOD_TOKEN BAD_TOKEN. Prints `OK oauth` at the
end; any failure raises.

Or: python oauth_clients.py HOST:PORT --produce TOKEN: confluent-kafka produces one record
with TOKEN (its connections retried as librdkafka retries them, for up to 30 s) and prints
`OK produced`.

Or: python oauth_clients.py HOST:PORT --oidc TOKEN_ENDPOINT_URL CA_FILE: confluent-kafka
gets its token from the identity provider itself (librdkafka's OIDC client credentials
flow, `sasl.oauthbearer.method=oidc`, the endpoint's certificate checked against
CA_FILE), produces one record and prints `OK produced`.
"""

import sys
import time

import confluent_kafka
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.net.sasl.oauth import AbstractTokenProvider
import kafka.errors

BOOTSTRAP, GOOD, BAD = sys.argv[1], sys.argv[2], sys.argv[3]
PRODUCE_ONLY = GOOD in ("--produce", "--oidc")
OIDC = GOOD == "--oidc"
if PRODUCE_ONLY:
    GOOD = BAD
TOPIC = "oauth-topic"


def log(*args):
    print(*args, flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def ck(token, **extra):
    conf = {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "OAUTHBEARER",
        # librdkafka asks for a token; the expiry is in seconds since the epoch.
        "oauth_cb": lambda _config: (token, time.time() + 300),
    }
    conf.update(extra)
    return conf


class Provider(AbstractTokenProvider):
    def __init__(self, token):
        super().__init__()
        self._token = token

    def token(self):
        return self._token


def kp(token):
    return dict(
        bootstrap_servers=BOOTSTRAP,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="OAUTHBEARER",
        sasl_oauth_token_provider=Provider(token),
    )


def produce_one():
    delivered = []
    if OIDC:
        conf = {
            "bootstrap.servers": BOOTSTRAP,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": "OAUTHBEARER",
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.client.id": "svc-notify",
            "sasl.oauthbearer.client.secret": "notify-secret",
            "sasl.oauthbearer.token.endpoint.url": GOOD,
            "https.ca.location": sys.argv[4],
        }
    else:
        conf = ck(GOOD)
    producer = confluent_kafka.Producer(conf)
    producer.produce(TOPIC, b"one", on_delivery=lambda err, msg: delivered.append(err))
    expect(producer.flush(30) == 0, "confluent-kafka's produce did not finish")
    expect(delivered == [None], f"deliveries: {delivered}")
    log("OK produced")


def main():
    delivered = []
    producer = confluent_kafka.Producer(ck(GOOD))
    for i in range(3):
        producer.produce(TOPIC, f"oauth-{i}".encode(),
                         on_delivery=lambda err, msg: delivered.append(err))
    expect(producer.flush(30) == 0, "confluent-kafka's produce did not finish")
    expect(delivered == [None] * 3, f"deliveries: {delivered}")
    log("confluent-kafka produced with a signed token")

    consumer = KafkaConsumer(TOPIC, auto_offset_reset="earliest", consumer_timeout_ms=10000,
                             **kp(GOOD))
    values = [m.value.decode() for m in consumer]
    consumer.close()
    expect(values == [f"oauth-{i}" for i in range(3)], f"kafka-python read {values}")
    log("kafka-python consumed with a signed token")

    # The token of a key the broker does not know.
    errors = []
    admin = AdminClient(ck(BAD, error_cb=errors.append, log_level=0))
    try:
        admin.list_topics(timeout=3)
    except confluent_kafka.KafkaException:
        pass
    else:
        raise AssertionError("confluent-kafka authenticated with an unknown key's token")
    admin.poll(1)
    codes = {e.code() for e in errors}
    expect(confluent_kafka.KafkaError._AUTHENTICATION in codes, f"confluent-kafka errors: {errors}")
    try:
        KafkaAdminClient(request_timeout_ms=3000, bootstrap_timeout_ms=3000, **kp(BAD)).close()
        raise AssertionError("kafka-python authenticated with an unknown key's token")
    except (kafka.errors.SaslAuthenticationFailedError, kafka.errors.KafkaTimeoutError) as e:
        log("kafka-python refused -", type(e).__name__)
    log("OK oauth")


if PRODUCE_ONLY:
    produce_one()
else:
    main()
