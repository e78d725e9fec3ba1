package myelin;

import static myelin.Util.expect;
import static myelin.Util.expectEq;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The Java clients log in with SASL/OAUTHBEARER as Kafka documents it for an identity
 * provider (KIP-768): Kafka's OAuthBearerLoginCallbackHandler gets a token from the
 * provider's token endpoint (client credentials, over HTTPS with the CA given in the JAAS
 * options), and the broker checks it against the provider's JWKS, which it fetched from
 * the provider's https endpoint. The admin client creates a topic, the producer writes to it
 * and the consumer reads it back.
 *
 * Usage: JavaClients oauth BOOTSTRAP TOKEN_ENDPOINT_URL CA_PEM.
 */
final class OAuthScenario {
    private static final String TOPIC = "java-oauth";

    private OAuthScenario() {}

    static Properties client(String bootstrap, String tokenUrl, String ca) {
        return Util.base(bootstrap, Util.props(
                "security.protocol", "SASL_PLAINTEXT",
                "sasl.mechanism", "OAUTHBEARER",
                "sasl.login.callback.handler.class",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
                "sasl.oauthbearer.token.endpoint.url", tokenUrl,
                "sasl.jaas.config",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required"
                        + " clientId=\"svc-notify\" clientSecret=\"notify-secret\""
                        + " ssl.truststore.location=\"" + ca + "\" ssl.truststore.type=\"PEM\";"));
    }

    static void run(String bootstrap, String[] args) throws Exception {
        String tokenUrl = args[0];
        String ca = args[1];
        // Kafka 4 clients fetch tokens only from URLs this property allows.
        System.setProperty("org.apache.kafka.sasl.oauthbearer.allowed.urls", tokenUrl);
        Properties props = client(bootstrap, tokenUrl, ca);

        try (Admin admin = Admin.create(props)) {
            admin.createTopics(List.of(new NewTopic(TOPIC, 1, (short) 1))).all().get();
            expect(admin.listTopics().names().get().contains(TOPIC), "the topic is listed");
        }
        Util.log("admin client authenticated with a token from the token endpoint");

        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(Util.stringProducer(bootstrap, props))) {
            for (int i = 0; i < 3; i++) {
                producer.send(new ProducerRecord<>(TOPIC, "k" + i, "oauth-" + i)).get();
            }
        }
        Util.log("producer wrote 3 records");

        try (KafkaConsumer<String, String> consumer =
                new KafkaConsumer<>(Util.stringConsumer(bootstrap, null, props))) {
            Map<Integer, List<ConsumerRecord<String, String>>> records =
                    Util.readAll(consumer, TOPIC, 1);
            List<String> values = records.get(0).stream().map(ConsumerRecord::value).toList();
            expectEq(List.of("oauth-0", "oauth-1", "oauth-2"), values, "the records read back");
        }
        Util.log("consumer read them back");
    }
}
