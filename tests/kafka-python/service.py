"""Stand-in for kafka-python's test/service.py, which its sdist does not ship.

scripts/kafka-python-suite points the integration tests at a running Myelin broker
(KAFKA_URI), so the fixtures only ever build ExternalService; SpawnedService (a Kafka or
ZooKeeper JVM started by the fixtures) is never wanted and fails loudly if it is.
"""


class ExternalService:
    def __init__(self, host, port):
        self.host = host
        self.port = port

    def open(self):
        pass

    def close(self):
        pass

    def stop(self):
        pass

    def dump_logs(self):
        pass


class SpawnedService:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("kafka-python-suite runs against an external broker only")
