"""The schema registry's HTTP Basic authentication and its authorization, with
confluent-kafka's SchemaRegistryClient (`basic.auth.user.info`) and AdminClient.

Usage: schema_registry_auth.py BOOTSTRAP REGISTRY_URL [CA_FILE]

With CA_FILE the registry is served over HTTPS with a certificate that CA signed.

The broker has a SASL_PLAINTEXT listener with PLAIN users admin (a super user), alice and
bob, the ACL authorizer on, and its registry started with `--schema-registry-authentication
BASIC`. Reading the registry needs READ on the topic `_schemas`, changing it WRITE.
"""

import sys

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

SCHEMA = Schema(
    '{"type":"record","name":"Referral","namespace":"org.myelin.test",'
    '"fields":[{"name":"id","type":"string"}]}',
    "AVRO",
)


def log(msg):
    print(msg, flush=True)


CA = None


def registry(url, user=None, password=None):
    conf = {"url": url}
    if CA is not None:
        conf["ssl.ca.location"] = CA
    if user is not None:
        conf["basic.auth.user.info"] = f"{user}:{password}"
    return SchemaRegistryClient(conf)


def allow(admin, principal, *operations):
    """ACLs allowing `principal` each of `operations` on the topic `_schemas`."""
    bindings = [
        AclBinding(
            ResourceType.TOPIC,
            "_schemas",
            ResourcePatternType.LITERAL,
            principal,
            "*",
            operation,
            AclPermissionType.ALLOW,
        )
        for operation in operations
    ]
    for f in admin.create_acls(bindings).values():
        f.result(timeout=30)


def refused(call, status, code, what):
    try:
        result = call()
    except SchemaRegistryError as e:
        if e.http_status_code != status or e.error_code != code:
            raise AssertionError(
                f"{what}: expected HTTP {status} / {code}, got {e.http_status_code} / {e.error_code}: {e}"
            )
        log(f"ok: {what} refused with {status} ({code})")
        return
    raise AssertionError(f"{what}: expected HTTP {status}, got {result!r}")


def main():
    global CA
    bootstrap, url = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3:
        CA = sys.argv[3]
        assert url.startswith("https://"), url
        # Plain HTTP to the HTTPS port gets no answer.
        plain = "http://" + url[len("https://"):]
        try:
            SchemaRegistryClient({"url": plain, "basic.auth.user.info": "admin:admin-secret"}).get_subjects()
        except Exception as e:  # noqa: BLE001
            log(f"ok: plain HTTP to the HTTPS listener fails ({type(e).__name__})")
        else:
            raise AssertionError("plain HTTP was answered on the HTTPS listener")
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "admin",
            "sasl.password": "admin-secret",
        }
    )

    # Without credentials, or with a wrong password: 401.
    refused(lambda: registry(url).get_subjects(), 401, 401, "no credentials")
    refused(
        lambda: registry(url, "admin", "wrong").get_subjects(),
        401,
        401,
        "a wrong password",
    )
    refused(
        lambda: registry(url, "nobody", "admin-secret").get_subjects(),
        401,
        401,
        "an unknown user",
    )

    # The super user registers.
    as_admin = registry(url, "admin", "admin-secret")
    schema_id = as_admin.register_schema("referrals-value", SCHEMA)
    assert schema_id > 0, schema_id
    log(f"ok: admin registered schema id {schema_id}")

    # alice may read the store's topic, so she may read the registry, not change it.
    allow(admin, "User:alice", AclOperation.READ)
    as_alice = registry(url, "alice", "alice-secret")
    subjects = as_alice.get_subjects()
    assert subjects == ["referrals-value"], subjects
    assert as_alice.get_schema(schema_id).schema_str, "alice reads the schema"
    log("ok: alice reads the registry")
    refused(
        lambda: as_alice.register_schema(
            "alice-value", Schema('"string"', "AVRO")
        ),
        403,
        40301,
        "alice registering",
    )
    refused(
        lambda: as_alice.set_compatibility("referrals-value", "NONE"),
        403,
        40301,
        "alice setting a compatibility level",
    )

    # bob has no ACL: authenticated (not 401) but refused.
    refused(
        lambda: registry(url, "bob", "bob-secret").get_subjects(),
        403,
        40301,
        "bob reading",
    )

    # A SCRAM user (credentials kept in the metadata) authenticates with its password.
    futures = admin.alter_user_scram_credentials(
        [
            UserScramCredentialUpsertion(
                "carol",
                ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
                b"carol-secret",
            )
        ]
    )
    for f in futures.values():
        f.result(timeout=30)
    allow(admin, "User:carol", AclOperation.READ, AclOperation.WRITE)
    refused(
        lambda: registry(url, "carol", "not-carols").get_subjects(),
        401,
        401,
        "carol with a wrong password",
    )
    as_carol = registry(url, "carol", "carol-secret")
    carol_id = as_carol.register_schema("carol-value", Schema('"string"', "AVRO"))
    assert carol_id > schema_id, (carol_id, schema_id)
    assert sorted(as_carol.get_subjects()) == ["carol-value", "referrals-value"]
    log("ok: carol (SCRAM-SHA-256) registers with WRITE on _schemas")
    log("OK schema registry auth")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        log(f"FAILED: {e!r}")
        raise
