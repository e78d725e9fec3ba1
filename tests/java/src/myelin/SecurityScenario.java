package myelin;

import static myelin.Util.expect;
import static myelin.Util.expectEq;
import static myelin.Util.expectFailure;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.CreateDelegationTokenOptions;
import org.apache.kafka.clients.admin.ExpireDelegationTokenOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.ClusterAuthorizationException;
import org.apache.kafka.common.errors.GroupAuthorizationException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.UnsupportedByAuthenticationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.apache.kafka.common.security.token.delegation.DelegationToken;

/**
 * The Java clients over a SASL_SSL listener (PEM truststore, hostname verified) with the
 * ACL authorizer on: the admin (a super user, SASL/PLAIN) creates a SCRAM-SHA-512
 * credential and ACLs; alice (PLAIN) may write but not read, carol (SCRAM) may read with
 * her group but not write, bob may do nothing; ACLs are described and deleted; a wrong
 * password and an untrusted certificate are refused.
 *
 * Usage: JavaClients security BOOTSTRAP CA_PEM. The broker's PLAIN users: admin, alice, bob
 * (password NAME-secret); super.users=User:admin.
 */
final class SecurityScenario {
    private static final String TOPIC = "java-secure";
    private static final String GROUP = "java-secure-group";

    private SecurityScenario() {}

    static Properties client(String bootstrap, String ca, String mechanism, String user, String password) {
        String module = mechanism.equals("PLAIN")
                ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                : "org.apache.kafka.common.security.scram.ScramLoginModule";
        return Util.base(
                bootstrap,
                Util.props(
                        "security.protocol", "SASL_SSL",
                        "ssl.truststore.type", "PEM",
                        "ssl.truststore.location", ca,
                        "sasl.mechanism", mechanism,
                        "sasl.jaas.config",
                                module + " required username=\"" + user + "\" password=\"" + password + "\";"));
    }

    /** A client that logs in with a delegation token: SCRAM-SHA-512 with tokenauth. */
    static Properties tokenClient(String bootstrap, String ca, DelegationToken token) {
        Properties p = client(bootstrap, ca, "SCRAM-SHA-512", token.tokenInfo().tokenId(), token.hmacAsBase64String());
        p.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                + token.tokenInfo().tokenId() + "\" password=\"" + token.hmacAsBase64String()
                + "\" tokenauth=\"true\";");
        return p;
    }

    static void run(String bootstrap, String[] args) throws Exception {
        expect(args.length == 1, "usage: security BOOTSTRAP CA_PEM");
        String ca = args[0];
        Properties admin = client(bootstrap, ca, "PLAIN", "admin", "admin-secret");
        Properties alice = client(bootstrap, ca, "PLAIN", "alice", "alice-secret");
        Properties bob = client(bootstrap, ca, "PLAIN", "bob", "bob-secret");
        Properties carol = client(bootstrap, ca, "SCRAM-SHA-512", "carol", "carol-secret");

        AclBinding aliceWrites = allow("User:alice", AclOperation.WRITE, ResourceType.TOPIC, "java-sec", PatternType.PREFIXED);
        AclBinding carolReads = allow("User:carol", AclOperation.READ, ResourceType.TOPIC, TOPIC, PatternType.LITERAL);
        AclBinding carolsGroup = allow("User:carol", AclOperation.READ, ResourceType.GROUP, GROUP, PatternType.LITERAL);
        try (Admin a = Admin.create(admin)) {
            a.createTopics(List.of(new NewTopic(TOPIC, 1, (short) 1))).all().get();
            a.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(
                            "carol", new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), "carol-secret")))
                    .all()
                    .get();
            a.createAcls(List.of(aliceWrites, carolReads, carolsGroup)).all().get();
            Collection<AclBinding> carols = a.describeAcls(new AclBindingFilter(
                            ResourcePatternFilter.ANY,
                            new AccessControlEntryFilter("User:carol", null, AclOperation.ANY, AclPermissionType.ANY)))
                    .values()
                    .get();
            expectEq(2, carols.size(), "carol's ACLs " + carols);
            expect(carols.contains(carolReads) && carols.contains(carolsGroup), "carol's ACLs " + carols);
        }
        Util.log("admin ok");

        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(bootstrap, alice))) {
            for (int i = 0; i < 5; i++) {
                producer.send(new ProducerRecord<>(TOPIC, "k", "alice-" + i)).get();
            }
        }
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Util.stringConsumer(bootstrap, null, alice))) {
            expectFailure(TopicAuthorizationException.class, () -> Util.readAll(consumer, TOPIC, 1));
        }
        Util.log("alice ok");

        // A delegation token (KIP-48) of alice's, renewable by bob: a job that holds it
        // produces as alice, with SCRAM and tokenauth; once expired it logs in no more.
        DelegationToken token;
        try (Admin a = Admin.create(alice)) {
            token = a.createDelegationToken(new CreateDelegationTokenOptions()
                            .renewers(List.of(new KafkaPrincipal("User", "bob"))))
                    .delegationToken()
                    .get();
            expectEq("User:alice", token.tokenInfo().owner().toString(), "token owner");
            List<DelegationToken> described = a.describeDelegationToken().delegationTokens().get();
            expectEq(1, described.size(), "alice's tokens");
            expectEq(token.tokenInfo().tokenId(), described.get(0).tokenInfo().tokenId(), "described token");
        }
        Properties job = tokenClient(bootstrap, ca, token);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(bootstrap, job))) {
            producer.send(new ProducerRecord<>(TOPIC, "k", "alice-5")).get();
        }
        try (Admin a = Admin.create(job)) {
            // A connection authenticated with a token may not ask for tokens.
            expectFailure(UnsupportedByAuthenticationException.class,
                    () -> a.createDelegationToken().delegationToken().get());
        }
        try (Admin a = Admin.create(bob)) {
            long renewed = a.renewDelegationToken(token.hmac()).expiryTimestamp().get();
            expect(renewed > System.currentTimeMillis(), "renewed until " + renewed);
        }
        try (Admin a = Admin.create(alice)) {
            a.expireDelegationToken(token.hmac(), new ExpireDelegationTokenOptions().expiryTimePeriodMs(-1))
                    .expiryTimestamp()
                    .get();
            expect(a.describeDelegationToken().delegationTokens().get().isEmpty(), "expired token described");
        }
        try (Admin a = Admin.create(tokenClient(bootstrap, ca, token))) {
            expectFailure(SaslAuthenticationException.class, () -> a.describeCluster().nodes().get());
        }
        Util.log("delegation token ok");

        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Util.stringConsumer(bootstrap, GROUP, carol))) {
            consumer.subscribe(List.of(TOPIC));
            int read = 0;
            long deadline = System.nanoTime() + Util.TIMEOUT.toNanos();
            while (read < 5) {
                expect(System.nanoTime() < deadline, "carol read only " + read);
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    expectEq("alice-" + read, r.value(), "carol's record");
                    read++;
                }
            }
            consumer.commitSync();
        }
        refusedWrites(bootstrap, carol, ClusterAuthorizationException.class);
        Util.log("carol ok");

        // bob may not even describe the topic: which refusal the idempotent producer meets
        // first (its producer id's, or the topic's metadata) is a race.
        refusedWrites(bootstrap, bob, AuthorizationException.class);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Util.stringConsumer(bootstrap, GROUP, bob))) {
            consumer.subscribe(List.of(TOPIC));
            expectFailure(AuthorizationException.class, () -> pollFor(consumer));
        }
        // carol may read the topic, but not as a member of another group.
        try (KafkaConsumer<String, String> consumer =
                new KafkaConsumer<>(Util.stringConsumer(bootstrap, "java-other-group", carol))) {
            consumer.subscribe(List.of(TOPIC));
            expectFailure(GroupAuthorizationException.class, () -> pollFor(consumer));
        }
        Util.log("bob ok");

        try (Admin a = Admin.create(admin)) {
            Collection<AclBinding> deleted = a.deleteAcls(List.of(aliceWrites.toFilter())).all().get();
            expectEq(List.of(aliceWrites), List.copyOf(deleted), "deleted ACLs");
        }
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(
                Util.stringProducer(bootstrap, client(bootstrap, ca, "PLAIN", "alice", "alice-secret")))) {
            expectFailure(
                    TopicAuthorizationException.class,
                    () -> producer.send(new ProducerRecord<>(TOPIC, "k", "alice-late")).get());
        }
        Util.log("deleted ACLs ok");

        try (Admin a = Admin.create(client(bootstrap, ca, "SCRAM-SHA-512", "carol", "wrong"))) {
            expectFailure(SaslAuthenticationException.class, () -> a.describeCluster().nodes().get());
        }
        Properties untrusting = client(bootstrap, ca, "PLAIN", "admin", "admin-secret");
        untrusting.remove("ssl.truststore.type");
        untrusting.remove("ssl.truststore.location");
        try (Admin a = Admin.create(untrusting)) {
            expectFailure(SslAuthenticationException.class, () -> a.describeCluster().nodes().get());
        }
        Util.log("refusals ok");
    }

    /**
     * A principal without WRITE on any topic: the idempotent producer (the default) is
     * refused its producer id (IDEMPOTENT_WRITE on the cluster, or WRITE on some topic, as
     * Kafka requires since KIP-679), a plain one its Produce.
     */
    static void refusedWrites(String bootstrap, Properties principal, Class<? extends Throwable> idempotent)
            throws Exception {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(bootstrap, principal))) {
            expectFailure(
                    idempotent,
                    () -> producer.send(new ProducerRecord<>(TOPIC, "k", "idempotent")).get());
        }
        Properties plain = new Properties();
        plain.putAll(principal);
        plain.put("enable.idempotence", "false");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(bootstrap, plain))) {
            expectFailure(
                    TopicAuthorizationException.class,
                    () -> producer.send(new ProducerRecord<>(TOPIC, "k", "plain")).get());
        }
    }

    /** Polls until the timeout: a refusal is what ends it. */
    static void pollFor(KafkaConsumer<String, String> consumer) {
        long deadline = System.nanoTime() + Util.TIMEOUT.toNanos();
        while (System.nanoTime() < deadline) {
            consumer.poll(Duration.ofMillis(200));
        }
    }

    static AclBinding allow(String principal, AclOperation op, ResourceType type, String name, PatternType pattern) {
        return new AclBinding(
                new ResourcePattern(type, name, pattern),
                new AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW));
    }
}
