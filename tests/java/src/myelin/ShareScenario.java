// Share groups (KIP-932, "queues for Kafka") with the Java client's KafkaShareConsumer and
// the admin client's share-group calls.

package myelin;

import static myelin.Util.expect;
import static myelin.Util.expectEq;
import static myelin.Util.log;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.admin.ShareMemberDescription;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;

final class ShareScenario {
    private ShareScenario() {}

    static KafkaShareConsumer<String, String> consumer(String bootstrap, String group, String mode) {
        Properties p = Util.base(bootstrap, null);
        p.put("group.id", group);
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("share.acknowledgement.mode", mode);
        return new KafkaShareConsumer<>(p);
    }

    /** Starts the group at the log start: share groups start at the end by default. */
    static void earliest(Admin admin, String group) throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
        admin.incrementalAlterConfigs(Map.of(resource, List.of(new AlterConfigOp(
                new ConfigEntry("share.auto.offset.reset", "earliest"), AlterConfigOp.OpType.SET))))
            .all().get();
    }

    static void produce(String bootstrap, String topic, int from, int count) throws Exception {
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(Util.stringProducer(bootstrap, Util.props("linger.ms", "5")))) {
            for (int i = from; i < from + count; i++) {
                producer.send(new ProducerRecord<>(topic, i % 2, "k" + i, "v" + i));
            }
            producer.flush();
        }
    }

    static void run(String bootstrap) throws Exception {
        String topic = "share-orders";
        String group = "share-workers";
        try (Admin admin = Admin.create(Util.base(bootstrap, null))) {
            admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
            earliest(admin, group);
            produce(bootstrap, topic, 0, 100);

            // Two members share the topic: every record is delivered once, to one of them.
            Map<String, String> seen = new HashMap<>();
            try (KafkaShareConsumer<String, String> a = consumer(bootstrap, group, "implicit");
                    KafkaShareConsumer<String, String> b = consumer(bootstrap, group, "implicit")) {
                a.subscribe(List.of(topic));
                b.subscribe(List.of(topic));
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                Set<String> byA = new HashSet<>();
                Set<String> byB = new HashSet<>();
                while (seen.size() < 100 && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, String> r : a.poll(Duration.ofMillis(200))) {
                        expect(seen.put(r.value(), "a") == null, "record " + r.value() + " delivered twice");
                        byA.add(r.value());
                        expectEq(Optional.of((short) 1), r.deliveryCount(), "first delivery count");
                    }
                    for (ConsumerRecord<String, String> r : b.poll(Duration.ofMillis(200))) {
                        expect(seen.put(r.value(), "b") == null, "record " + r.value() + " delivered twice");
                        byB.add(r.value());
                    }
                }
                expectEq(100, seen.size(), "records delivered to the share group");
                // Implicit mode: the records of the last poll are accepted by commitSync.
                for (Map.Entry<TopicIdPartition, Optional<KafkaException>> e : a.commitSync().entrySet()) {
                    expect(e.getValue().isEmpty(), "commit of " + e.getKey() + ": " + e.getValue());
                }
                for (Map.Entry<TopicIdPartition, Optional<KafkaException>> e : b.commitSync().entrySet()) {
                    expect(e.getValue().isEmpty(), "commit of " + e.getKey() + ": " + e.getValue());
                }
                log("share group: " + byA.size() + " records to one member, " + byB.size() + " to the other");

                ShareGroupDescription d = admin.describeShareGroups(List.of(group)).all().get().get(group);
                expectEq(GroupState.STABLE, d.groupState(), "share group state");
                expectEq(2, d.members().size(), "share group members");
                int assigned = 0;
                for (ShareMemberDescription m : d.members()) {
                    assigned += m.assignment().topicPartitions().size();
                }
                expectEq(2, assigned, "partitions assigned across the members");
                Collection<GroupListing> listed =
                    admin.listGroups(ListGroupsOptions.forShareGroups()).all().get();
                expect(listed.stream().anyMatch(g -> g.groupId().equals(group)
                        && g.type().equals(Optional.of(GroupType.SHARE))), "share group listed: " + listed);
            }

            // Explicit acknowledgement: a released record comes back with its delivery count
            // raised, a rejected one never does, and accepted ones are done.
            produce(bootstrap, topic, 100, 10);
            try (KafkaShareConsumer<String, String> c = consumer(bootstrap, group, "explicit")) {
                c.subscribe(List.of(topic));
                List<ConsumerRecord<String, String>> got = new ArrayList<>();
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (got.size() < 10 && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                        got.add(r);
                        switch (r.value()) {
                            case "v100" -> c.acknowledge(r, AcknowledgeType.RELEASE);
                            case "v101" -> c.acknowledge(r, AcknowledgeType.REJECT);
                            default -> c.acknowledge(r, AcknowledgeType.ACCEPT);
                        }
                    }
                    c.commitSync();
                }
                expectEq(10, got.size(), "new records delivered");
                ConsumerRecord<String, String> again = null;
                deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (again == null && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                        expectEq("v100", r.value(), "only the released record is delivered again");
                        again = r;
                        c.acknowledge(r, AcknowledgeType.ACCEPT);
                    }
                }
                expect(again != null, "the released record was delivered again");
                expectEq(Optional.of((short) 2), again.deliveryCount(), "delivery count of a redelivery");
                c.commitSync();
                expect(c.poll(Duration.ofSeconds(1)).isEmpty(), "nothing left to deliver");
            }

            // Members gone, the group is empty and can be deleted.
            Util.waitFor("the share group to be empty", () -> {
                try {
                    return admin.describeShareGroups(List.of(group)).all().get().get(group).groupState()
                        == GroupState.EMPTY;
                } catch (Exception e) {
                    return false;
                }
            });
            admin.deleteShareGroups(List.of(group)).all().get();
            expect(admin.listGroups(ListGroupsOptions.forShareGroups()).all().get().stream()
                    .noneMatch(g -> g.groupId().equals(group)), "deleted share group not listed");
        }
    }
}
