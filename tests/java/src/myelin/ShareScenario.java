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
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.ShareMemberDescription;
import org.apache.kafka.clients.admin.SharePartitionOffsetInfo;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupNotEmptyException;
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

    /** The group's lag of each partition it has state for (DescribeShareGroupOffsets v1). */
    static Map<TopicPartition, Long> lags(Admin admin, String group) throws Exception {
        Map<TopicPartition, Long> out = new HashMap<>();
        for (Map.Entry<TopicPartition, SharePartitionOffsetInfo> e : admin
                .listShareGroupOffsets(Map.of(group, new ListShareGroupOffsetsSpec()))
                .partitionsToOffsetInfo(group).get().entrySet()) {
            if (e.getValue() != null) {
                out.put(e.getKey(), e.getValue().lag().orElse(-1L));
            }
        }
        return out;
    }

    /** The group's start offset of each partition it has state for. */
    static Map<TopicPartition, Long> startOffsets(Admin admin, String group) throws Exception {
        Map<TopicPartition, Long> out = new HashMap<>();
        for (Map.Entry<TopicPartition, SharePartitionOffsetInfo> e : admin
                .listShareGroupOffsets(Map.of(group, new ListShareGroupOffsetsSpec()))
                .partitionsToOffsetInfo(group).get().entrySet()) {
            if (e.getValue() != null) {
                out.put(e.getKey(), e.getValue().startOffset());
            }
        }
        return out;
    }

    static void run(String bootstrap) throws Exception {
        String topic = "share-orders";
        String group = "share-workers";
        try (Admin admin = Admin.create(Util.base(bootstrap, null))) {
            admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
            earliest(admin, group);

            // Two members share the topic: every record is delivered once, to one of them.
            Map<String, String> seen = new HashMap<>();
            try (KafkaShareConsumer<String, String> a = consumer(bootstrap, group, "implicit");
                    KafkaShareConsumer<String, String> b = consumer(bootstrap, group, "implicit")) {
                a.subscribe(List.of(topic));
                b.subscribe(List.of(topic));
                // Both members joined and were given a partition each before anything is
                // produced, so that each gets records.
                Util.waitFor("two members with a partition each", () -> {
                    a.poll(Duration.ofMillis(100));
                    b.poll(Duration.ofMillis(100));
                    try {
                        ShareGroupDescription d =
                            admin.describeShareGroups(List.of(group)).all().get().get(group);
                        return d.members().size() == 2 && d.members().stream()
                            .allMatch(m -> m.assignment().topicPartitions().size() == 1);
                    } catch (Exception e) {
                        return false;
                    }
                });
                // Fetches still open with the partitions of the first assignment end within
                // fetch.max.wait.ms (500 ms).
                for (int i = 0; i < 8; i++) {
                    a.poll(Duration.ofMillis(100));
                    b.poll(Duration.ofMillis(100));
                }
                produce(bootstrap, topic, 0, 100);
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
                expectEq(50, byA.size(), "records delivered to one member (its partition's)");
                expectEq(50, byB.size(), "records delivered to the other");
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

            // Everything delivered was accepted: each partition's start offset is past it.
            TopicPartition p0 = new TopicPartition(topic, 0);
            TopicPartition p1 = new TopicPartition(topic, 1);
            expectEq(Map.of(p0, 50L, p1, 50L), startOffsets(admin, group), "share group start offsets");
            expectEq(Map.of(p0, 0L, p1, 0L), lags(admin, group), "share group lag, all done");

            // Explicit acknowledgement: a released record comes back with its delivery count
            // raised, a rejected one never does, and accepted ones are done.
            produce(bootstrap, topic, 100, 10);
            expectEq(Map.of(p0, 5L, p1, 5L), lags(admin, group), "share group lag, 10 new records");
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
                // Offsets cannot be altered under a member's feet.
                Util.expectFailure(GroupNotEmptyException.class,
                    () -> admin.alterShareGroupOffsets(group, Map.of(p0, 0L)).all().get());
            }
            expectEq(Map.of(p0, 55L, p1, 55L), startOffsets(admin, group), "start offsets after the explicit phase");

            // Members gone, the group is empty and can be deleted.
            Util.waitFor("the share group to be empty", () -> {
                try {
                    return admin.describeShareGroups(List.of(group)).all().get().get(group).groupState()
                        == GroupState.EMPTY;
                } catch (Exception e) {
                    return false;
                }
            });
            // Rewound, the group delivers partition 0 again from its start: 55 records.
            admin.alterShareGroupOffsets(group, Map.of(p0, 0L)).all().get();
            expectEq(0L, startOffsets(admin, group).get(p0), "altered start offset");
            try (KafkaShareConsumer<String, String> d = consumer(bootstrap, group, "implicit")) {
                d.subscribe(List.of(topic));
                Set<Long> offsets = new HashSet<>();
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (offsets.size() < 55 && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, String> r : d.poll(Duration.ofMillis(200))) {
                        expectEq(0, r.partition(), "only the rewound partition is delivered");
                        expect(offsets.add(r.offset()), "offset " + r.offset() + " delivered twice");
                    }
                }
                expectEq(55, offsets.size(), "records of the rewound partition");
                d.commitSync();
            }
            Util.waitFor("the share group to be empty again", () -> {
                try {
                    return admin.describeShareGroups(List.of(group)).all().get().get(group).groupState()
                        == GroupState.EMPTY;
                } catch (Exception e) {
                    return false;
                }
            });
            admin.deleteShareGroupOffsets(group, Set.of(topic)).all().get();
            expectEq(Map.of(), startOffsets(admin, group), "start offsets after their deletion");
            admin.deleteShareGroups(List.of(group)).all().get();
            expect(admin.listGroups(ListGroupsOptions.forShareGroups()).all().get().stream()
                    .noneMatch(g -> g.groupId().equals(group)), "deleted share group not listed");

            readCommitted(bootstrap, admin);
            renewAndRecordLimit(bootstrap, admin);
        }
    }

    /**
     * ShareFetch and ShareAcknowledge v2 (Kafka 4.2): a member in the record_limit acquire
     * mode (KIP-1206) is given at most max.poll.records records of one batch at a time, and
     * records it renews (AcknowledgeType.RENEW, KIP-1222) stay its own for more than two
     * lock durations, with their delivery count unchanged, until it accepts them.
     */
    static void renewAndRecordLimit(String bootstrap, Admin admin) throws Exception {
        String topic = "share-renew";
        String group = "share-renewers";
        admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
        earliest(admin, group);
        ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
        admin.incrementalAlterConfigs(Map.of(resource, List.of(new AlterConfigOp(
                new ConfigEntry("share.record.lock.duration.ms", "4000"), AlterConfigOp.OpType.SET))))
            .all().get();
        // One batch of 10 records.
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(Util.stringProducer(bootstrap, Util.props("linger.ms", "1000")))) {
            send(producer, topic, "r", 10);
            producer.flush();
        }
        Properties p = Util.base(bootstrap, null);
        p.put("group.id", group);
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("share.acknowledgement.mode", "explicit");
        p.put("share.acquire.mode", "record_limit");
        p.put("max.poll.records", "3");
        List<Exception> failures = new ArrayList<>();
        try (KafkaShareConsumer<String, String> c = new KafkaShareConsumer<>(p)) {
            c.setAcknowledgementCommitCallback((offsets, e) -> {
                if (e != null) {
                    failures.add(e);
                }
            });
            c.subscribe(List.of(topic));
            List<ConsumerRecord<String, String>> first = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (first.isEmpty() && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(first::add);
            }
            expectEq(List.of("r0", "r1", "r2"), first.stream().map(ConsumerRecord::value).toList(),
                "record_limit: the first poll of a 10-record batch with max.poll.records=3");
            // Renewed every half second or so for 10 s, two and a half times the lock
            // duration (4 s, which leaves room for a busy machine's pauses): the records come
            // back to the member, still at their first delivery. Anything else it is given
            // goes back.
            long renewUntil = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            int renewals = 0;
            List<ConsumerRecord<String, String>> held = first;
            Set<Long> accepted = new HashSet<>();
            deadline = System.nanoTime() + Duration.ofSeconds(40).toNanos();
            while (accepted.size() < 3 && System.nanoTime() < deadline) {
                boolean renewing = System.nanoTime() < renewUntil;
                for (ConsumerRecord<String, String> r : held) {
                    if (r.offset() >= 3) {
                        c.acknowledge(r, AcknowledgeType.RELEASE);
                        continue;
                    }
                    expectEq(Optional.of((short) 1), r.deliveryCount(), "delivery count of renewed " + r.value());
                    if (renewing) {
                        c.acknowledge(r, AcknowledgeType.RENEW);
                        renewals++;
                    } else {
                        c.acknowledge(r, AcknowledgeType.ACCEPT);
                        accepted.add(r.offset());
                    }
                }
                if (renewing) {
                    Thread.sleep(500);
                }
                held = new ArrayList<>();
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    held.add(r);
                }
                expect(held.size() <= 3, "record_limit: a poll of " + held.size() + " records");
            }
            c.commitSync();
            expectEq(Set.of(0L, 1L, 2L), accepted, "renewed records accepted");
            expect(renewals >= 3 * 3, "renewals: " + renewals);
            expectEq(List.of(), failures, "acknowledgement failures");
        }
        expectEq(Map.of(new TopicPartition(topic, 0), 3L), startOffsets(admin, group),
            "start offset once the renewed records are accepted");
        log("share groups: record_limit acquired 3 of a 10-record batch; renewed records held for 10 s");
    }

    /** The values `group` is delivered until `count` arrive (within 60 s), then for 2 s more. */
    static List<String> deliveredTo(String bootstrap, String group, String topic, int count) {
        List<String> got = new ArrayList<>();
        try (KafkaShareConsumer<String, String> c = consumer(bootstrap, group, "implicit")) {
            c.subscribe(List.of(topic));
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (got.size() < count && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    got.add(r.value());
                }
            }
            long more = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            while (System.nanoTime() < more) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    got.add(r.value());
                }
            }
            c.commitSync();
        }
        return got;
    }

    static void send(KafkaProducer<String, String> producer, String topic, String prefix, int count) {
        for (int i = 0; i < count; i++) {
            producer.send(new ProducerRecord<>(topic, 0, prefix + i, prefix + i));
        }
    }

    /**
     * share.isolation.level=read_committed: a transactional producer commits 5 records,
     * aborts 5, commits 5 and leaves 3 in an open transaction. The read_committed group is
     * delivered the 10 committed ones only, and the last 3 once committed; a
     * read_uncommitted group (the default) is delivered all 18.
     */
    static void readCommitted(String bootstrap, Admin admin) throws Exception {
        String topic = "share-txn";
        String committed = "share-txn-committed";
        String uncommitted = "share-txn-uncommitted";
        admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
        earliest(admin, uncommitted);
        admin.incrementalAlterConfigs(Map.of(
                new ConfigResource(ConfigResource.Type.GROUP, committed),
                List.of(
                    new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"),
                        AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("share.isolation.level", "read_committed"),
                        AlterConfigOp.OpType.SET))))
            .all().get();
        List<String> firstTen = new ArrayList<>();
        for (String prefix : List.of("c", "d")) {
            for (int i = 0; i < 5; i++) {
                firstTen.add(prefix + i);
            }
        }
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(
                bootstrap, Util.props("transactional.id", "share-txn-producer")))) {
            producer.initTransactions();
            producer.beginTransaction();
            send(producer, topic, "c", 5);
            producer.commitTransaction();
            producer.beginTransaction();
            send(producer, topic, "a", 5);
            // Written to the log before the abort (unsent records would just be dropped).
            producer.flush();
            producer.abortTransaction();
            producer.beginTransaction();
            send(producer, topic, "d", 5);
            producer.commitTransaction();
            producer.beginTransaction();
            send(producer, topic, "o", 3);
            producer.flush();

            expectEq(firstTen, deliveredTo(bootstrap, committed, topic, 10),
                "read_committed: the committed records, not the aborted or open ones");
            producer.commitTransaction();
        }
        expectEq(List.of("o0", "o1", "o2"), deliveredTo(bootstrap, committed, topic, 3),
            "read_committed: the last transaction once committed");
        List<String> all = new ArrayList<>(firstTen.subList(0, 5));
        for (String prefix : List.of("a", "d", "o")) {
            for (int i = 0; i < (prefix.equals("o") ? 3 : 5); i++) {
                all.add(prefix + i);
            }
        }
        expectEq(all, deliveredTo(bootstrap, uncommitted, topic, 18),
            "read_uncommitted: every record, the aborted ones too");
        log("share groups: read_committed delivered 13 of 18 transactional records, read_uncommitted 18");
    }
}
