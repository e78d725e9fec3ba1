package myelin;

import static myelin.Util.expect;
import static myelin.Util.expectEq;
import static myelin.Util.expectFailure;

import io.confluent.kafka.schemaregistry.client.CachedSchemaRegistryClient;
import io.confluent.kafka.schemaregistry.client.SchemaRegistryClient;
import io.confluent.kafka.schemaregistry.client.rest.exceptions.RestClientException;
import io.confluent.kafka.serializers.KafkaAvroDeserializer;
import io.confluent.kafka.serializers.KafkaAvroSerializer;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.InvalidRecordException;
import org.apache.kafka.common.errors.SerializationException;

/**
 * Confluent's Java Avro serializer and deserializer (kafka-avro-serializer) with the
 * broker's schema registry: records registered and written to a topic that validates
 * schema ids, read back as generic records; a compatible evolution registered and an
 * incompatible one refused (409); a record without a schema id refused by the broker.
 *
 * Usage: JavaClients avro BOOTSTRAP REGISTRY_URL
 */
final class AvroScenario {
    private static final String TOPIC = "java-referrals";

    private static final Schema V1 = new Schema.Parser().parse("""
            {"type": "record", "name": "Referral", "namespace": "health.workflow",
             "fields": [
               {"name": "id", "type": "string"},
               {"name": "patient", "type": "string"},
               {"name": "priority", "type": "int"}]}""");
    /** V1 and an optional field with a default: backward compatible. */
    private static final Schema V2 = new Schema.Parser().parse("""
            {"type": "record", "name": "Referral", "namespace": "health.workflow",
             "fields": [
               {"name": "id", "type": "string"},
               {"name": "patient", "type": "string"},
               {"name": "priority", "type": "int"},
               {"name": "specialty", "type": ["null", "string"], "default": null}]}""");
    /** `priority` turned into a string: not readable by V2's readers. */
    private static final Schema BROKEN = new Schema.Parser().parse("""
            {"type": "record", "name": "Referral", "namespace": "health.workflow",
             "fields": [
               {"name": "id", "type": "string"},
               {"name": "patient", "type": "string"},
               {"name": "priority", "type": "string"}]}""");

    private AvroScenario() {}

    static void run(String bootstrap, String[] args) throws Exception {
        expect(args.length == 1, "usage: avro BOOTSTRAP REGISTRY_URL");
        String registry = args[0];
        try (Admin admin = Admin.create(Util.base(bootstrap, null))) {
            admin.createTopics(List.of(new NewTopic(TOPIC, 1, (short) 1)
                            .configs(Map.of("confluent.value.schema.validation", "true"))))
                    .all()
                    .get();
        }
        Map<String, Object> serde = Map.of("schema.registry.url", registry, "auto.register.schemas", true);
        KafkaAvroSerializer serializer = new KafkaAvroSerializer();
        serializer.configure(serde, false);
        try (KafkaProducer<String, Object> producer = new KafkaProducer<>(
                Util.base(bootstrap, null),
                new org.apache.kafka.common.serialization.StringSerializer(),
                serializer)) {
            for (int i = 0; i < 5; i++) {
                producer.send(new ProducerRecord<>(TOPIC, "r" + i, referral(V1, i))).get();
            }
            for (int i = 5; i < 10; i++) {
                GenericRecord r = referral(V2, i);
                r.put("specialty", "cardiology");
                producer.send(new ProducerRecord<>(TOPIC, "r" + i, r)).get();
            }
            // Incompatible with what the subject holds: the registry answers 409.
            expectFailure(SerializationException.class, () -> {
                GenericRecord r = new GenericData.Record(BROKEN);
                r.put("id", "bad");
                r.put("patient", "p");
                r.put("priority", "urgent");
                producer.send(new ProducerRecord<>(TOPIC, "bad", r)).get();
            });
        }
        Util.log("serialized ok");

        SchemaRegistryClient client = new CachedSchemaRegistryClient(registry, 10);
        expect(client.getAllSubjects().contains(TOPIC + "-value"), "subjects " + client.getAllSubjects());
        expectEq(List.of(1, 2), client.getAllVersions(TOPIC + "-value"), "versions");
        expect(!client.testCompatibility(TOPIC + "-value", new io.confluent.kafka.schemaregistry.avro.AvroSchema(BROKEN)),
                "BROKEN tested compatible");
        try {
            client.getLatestSchemaMetadata("no-such-subject");
            throw new AssertionError("an unknown subject was found");
        } catch (RestClientException e) {
            expectEq(40401, e.getErrorCode(), "unknown subject's error code");
        }

        KafkaAvroDeserializer deserializer = new KafkaAvroDeserializer();
        deserializer.configure(Map.of("schema.registry.url", registry), false);
        try (KafkaConsumer<String, Object> consumer = new KafkaConsumer<>(
                Util.stringConsumer(bootstrap, null, null),
                new org.apache.kafka.common.serialization.StringDeserializer(),
                deserializer)) {
            List<ConsumerRecord<String, Object>> read = Util.readAll(consumer, TOPIC, 1).get(0);
            expectEq(10, read.size(), "records read");
            for (int i = 0; i < 10; i++) {
                GenericRecord r = (GenericRecord) read.get(i).value();
                expectEq("ref-" + i, r.get("id").toString(), "id");
                expectEq(i % 3, r.get("priority"), "priority");
                if (i >= 5) {
                    expectEq("cardiology", r.get("specialty").toString(), "specialty");
                } else {
                    expect(r.getSchema().getField("specialty") == null, "v1 record with a specialty");
                }
            }
        }
        Util.log("deserialized ok");

        // Not serialized with a registered schema: the broker refuses the batch.
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(
                Util.stringProducer(bootstrap, Util.props("retries", "0")))) {
            expectFailure(
                    InvalidRecordException.class,
                    () -> producer.send(new ProducerRecord<>(TOPIC, "plain", "not avro")).get());
        }
        Util.log("validation ok");
    }

    static GenericRecord referral(Schema schema, int i) {
        GenericRecord r = new GenericData.Record(schema);
        r.put("id", "ref-" + i);
        r.put("patient", "patient-" + (i * 7));
        r.put("priority", i % 3);
        return r;
    }
}
