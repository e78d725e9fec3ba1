package myelin;

import static myelin.Util.expectEq;
import static myelin.Util.expectFailure;

import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.SslAuthenticationException;

/**
 * Mutual TLS the way Kafka's documentation sets it up, with stores keytool made: the
 * client presents its certificate from a keystore and checks the broker's against a
 * truststore (each JKS or PKCS12, as the arguments say); the broker reads its own JKS or
 * PKCS12 stores. Records go through both ways; a client without a certificate is refused.
 *
 * Usage: JavaClients keystores BOOTSTRAP TOPIC KEYSTORE KEYSTORE_TYPE TRUSTSTORE TRUSTSTORE_TYPE
 * PASSWORD (the password of both client stores).
 */
final class KeystoreScenario {
    private KeystoreScenario() {}

    static void run(String bootstrap, String[] args) throws Exception {
        Util.expect(args.length == 6, "usage: keystores BOOTSTRAP TOPIC KEYSTORE TYPE TRUSTSTORE TYPE PASSWORD");
        String topic = args[0];
        Properties tls = Util.props(
                "security.protocol", "SSL",
                "ssl.keystore.location", args[1],
                "ssl.keystore.type", args[2],
                "ssl.keystore.password", args[5],
                "ssl.truststore.location", args[3],
                "ssl.truststore.type", args[4],
                "ssl.truststore.password", args[5]);
        try (Admin admin = Admin.create(Util.base(bootstrap, tls))) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
        }
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(bootstrap, tls))) {
            for (int i = 0; i < 5; i++) {
                producer.send(new ProducerRecord<>(topic, "k", "mtls-" + i)).get();
            }
        }
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Util.stringConsumer(bootstrap, null, tls))) {
            List<String> values = new ArrayList<>();
            for (ConsumerRecord<String, String> r : Util.readAll(consumer, topic, 1).get(0)) {
                values.add(r.value());
            }
            expectEq(List.of("mtls-0", "mtls-1", "mtls-2", "mtls-3", "mtls-4"), values, "records read back");
        }
        Util.log("mutual TLS ok");

        // No certificate of its own: the broker (ssl.client.auth=required) refuses it.
        Properties anonymous = new Properties();
        anonymous.putAll(tls);
        anonymous.remove("ssl.keystore.location");
        anonymous.remove("ssl.keystore.type");
        anonymous.remove("ssl.keystore.password");
        try (Admin admin = Admin.create(Util.base(bootstrap, anonymous))) {
            expectFailure(SslAuthenticationException.class, () -> admin.describeCluster().nodes().get());
        }
        Util.log("refusal ok");
    }
}
