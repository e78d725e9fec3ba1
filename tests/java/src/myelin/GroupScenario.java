package myelin;

import static myelin.Util.expect;
import static myelin.Util.expectEq;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;

/**
 * Consumer groups with the Java consumer, under both protocols: the classic one (JoinGroup
 * and SyncGroup, the client's assignor) and KIP-848's (ConsumerGroupHeartbeat, the
 * broker's assignor). Two members split the partitions and commit as they go; the group
 * is listed and described by the admin client; a new member resumes from the committed
 * offsets; the offsets are reset, deleted and the group removed. Static membership on the
 * classic protocol.
 */
final class GroupScenario {
    private static final int PARTITIONS = 4;
    private static final int RECORDS = 400;

    private GroupScenario() {}

    static void run(String bootstrap) throws Exception {
        for (String protocol : new String[] {"classic", "consumer"}) {
            group(bootstrap, protocol);
        }
        staticMember(bootstrap);
        patterns(bootstrap);
    }

    /**
     * Pattern subscriptions: a `java.util.regex.Pattern` (matched by the client) under both
     * protocols, and a `SubscriptionPattern` (RE2J, matched by the broker: KIP-848's
     * SubscribedTopicRegex). Each member gets the matching topics and no other.
     */
    static void patterns(String bootstrap) throws Exception {
        try (Admin admin = Admin.create(Util.base(bootstrap, null))) {
            admin.createTopics(List.of(
                            new NewTopic("java-pattern-a", 1, (short) 1),
                            new NewTopic("java-pattern-b", 1, (short) 1),
                            new NewTopic("java-unmatched", 1, (short) 1)))
                    .all()
                    .get();
        }
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(bootstrap, null))) {
            for (String topic : List.of("java-pattern-a", "java-pattern-b", "java-unmatched")) {
                producer.send(new ProducerRecord<>(topic, "k", topic)).get();
            }
        }
        String[][] modes = {{"classic", "client"}, {"consumer", "client"}, {"consumer", "broker"}};
        for (String[] mode : modes) {
            String group = "java-pattern-" + mode[0] + "-" + mode[1];
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(
                    Util.stringConsumer(bootstrap, group, Util.props("group.protocol", mode[0])))) {
                if (mode[1].equals("broker")) {
                    consumer.subscribe(new SubscriptionPattern("java-pattern-.*"));
                } else {
                    consumer.subscribe(java.util.regex.Pattern.compile("java-pattern-.*"));
                }
                Set<String> seen = new java.util.TreeSet<>();
                long deadline = System.nanoTime() + Util.TIMEOUT.toNanos();
                while (seen.size() < 2) {
                    expect(System.nanoTime() < deadline, group + " saw only " + seen);
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                        seen.add(r.value());
                    }
                }
                expectEq(Set.of("java-pattern-a", "java-pattern-b"), seen, group + " read");
                expectEq(
                        Set.of(new TopicPartition("java-pattern-a", 0), new TopicPartition("java-pattern-b", 0)),
                        consumer.assignment(),
                        group + " assignment");
            }
        }
        Util.log("pattern subscriptions ok");
    }

    /** One consumer in its own thread, committing what each poll returned. */
    private static final class Member implements Runnable {
        final String name;
        final KafkaConsumer<String, String> consumer;
        final List<ConsumerRecord<String, String>> records = new ArrayList<>();
        final AtomicReference<Set<TopicPartition>> assigned = new AtomicReference<>(Set.of());
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        volatile boolean stop;
        final Thread thread;

        final String topic;

        Member(String bootstrap, String topic, String group, String protocol, String name, String instanceId) {
            this.name = name;
            this.topic = topic;
            java.util.Properties extra = Util.props("group.protocol", protocol, "client.id", name);
            if (protocol.equals("classic")) {
                extra.put("heartbeat.interval.ms", "500");
                extra.put("session.timeout.ms", "10000");
            }
            if (instanceId != null) {
                extra.put("group.instance.id", instanceId);
            }
            this.consumer = new KafkaConsumer<>(Util.stringConsumer(bootstrap, group, extra));
            this.thread = new Thread(this, name);
        }

        @Override
        public void run() {
            try {
                consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                    @Override
                    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                        Set<TopicPartition> now = new HashSet<>(assigned.get());
                        now.removeAll(partitions);
                        assigned.set(now);
                    }

                    @Override
                    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                        Set<TopicPartition> now = new HashSet<>(assigned.get());
                        now.addAll(partitions);
                        assigned.set(now);
                    }
                });
                while (!stop) {
                    List<ConsumerRecord<String, String>> polled = new ArrayList<>();
                    consumer.poll(Duration.ofMillis(100)).forEach(polled::add);
                    if (!polled.isEmpty()) {
                        consumer.commitSync();
                        synchronized (records) {
                            records.addAll(polled);
                        }
                    }
                }
                consumer.close();
            } catch (Throwable e) {
                failure.set(e);
            }
        }

        int count() {
            synchronized (records) {
                return records.size();
            }
        }

        void stopAndJoin() throws InterruptedException {
            stop = true;
            thread.join(Util.TIMEOUT.toMillis());
            expect(!thread.isAlive(), name + " did not stop");
            expect(failure.get() == null, name + " failed: " + failure.get());
        }
    }

    static void produce(String bootstrap, String topic, int from, int count) throws Exception {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(bootstrap, null))) {
            for (int i = from; i < from + count; i++) {
                producer.send(new ProducerRecord<>(topic, i % PARTITIONS, "k" + i, "v" + i));
            }
            producer.flush();
        }
    }

    static void group(String bootstrap, String protocol) throws Exception {
        String group = "java-group-" + protocol;
        String topic = group;
        try (Admin admin = Admin.create(Util.base(bootstrap, null))) {
            admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get();
            produce(bootstrap, topic, 0, RECORDS);

            Member a = new Member(bootstrap, topic, group, protocol, group + "-a", null);
            a.thread.start();
            Util.waitFor(protocol + ": a owns every partition", () -> a.assigned.get().size() == PARTITIONS);
            Member b = new Member(bootstrap, topic, group, protocol, group + "-b", null);
            b.thread.start();
            Util.waitFor(protocol + ": a and b split the partitions", () -> {
                Set<TopicPartition> pa = a.assigned.get();
                Set<TopicPartition> pb = b.assigned.get();
                Set<TopicPartition> all = new HashSet<>(pa);
                all.addAll(pb);
                return !pa.isEmpty() && !pb.isEmpty() && pa.size() + pb.size() == PARTITIONS && all.size() == PARTITIONS;
            });
            Util.waitFor(
                    protocol + ": every record consumed",
                    () -> distinct(a, b) == RECORDS,
                    () -> "a read " + a.count() + " of " + a.assigned.get() + ", b " + b.count() + " of " + b.assigned.get());

            ConsumerGroupDescription described = admin.describeConsumerGroups(List.of(group))
                    .describedGroups()
                    .get(group)
                    .get();
            expectEq(GroupState.STABLE, described.groupState(), protocol + " state");
            expectEq(2, described.members().size(), protocol + " members " + described.members());
            expectEq(protocol.equals("classic") ? GroupType.CLASSIC : GroupType.CONSUMER, described.type(), "type");
            Set<TopicPartition> described_assignment = new HashSet<>();
            for (MemberDescription m : described.members()) {
                described_assignment.addAll(m.assignment().topicPartitions());
            }
            expectEq(PARTITIONS, described_assignment.size(), "described assignment " + described.members());

            a.stopAndJoin();
            b.stopAndJoin();
            Map<TopicPartition, OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            for (int p = 0; p < PARTITIONS; p++) {
                expectEq(
                        (long) RECORDS / PARTITIONS,
                        committed.get(new TopicPartition(topic, p)).offset(),
                        protocol + " committed offset of " + p);
            }
            Collection<GroupListing> listed = admin.listGroups().all().get();
            expect(
                    listed.stream().anyMatch(g -> g.groupId().equals(group)
                            && g.type().orElse(null) == (protocol.equals("classic") ? GroupType.CLASSIC : GroupType.CONSUMER)),
                    "listed groups " + listed);
            Util.waitFor(protocol + ": group empty", () -> state(admin, group) == GroupState.EMPTY);

            // A new member resumes where the group left off.
            produce(bootstrap, topic, RECORDS, 40);
            Member c = new Member(bootstrap, topic, group, protocol, group + "-c", null);
            c.thread.start();
            Util.waitFor(protocol + ": c read the 40 new records", () -> c.count() >= 40);
            Thread.sleep(500);
            c.stopAndJoin();
            expectEq(40, c.count(), protocol + ": records c read");
            for (ConsumerRecord<String, String> r : c.records) {
                expect(r.offset() >= RECORDS / PARTITIONS, protocol + ": c read an old record " + r);
            }

            // Offsets reset by the admin client, one partition's deleted, then the group.
            TopicPartition p0 = new TopicPartition(topic, 0);
            TopicPartition p1 = new TopicPartition(topic, 1);
            admin.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(3, "reset"))).all().get();
            admin.deleteConsumerGroupOffsets(group, Set.of(p1)).all().get();
            committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
            expectEq(3L, committed.get(p0).offset(), "reset offset");
            expectEq("reset", committed.get(p0).metadata(), "reset metadata");
            expect(!committed.containsKey(p1), "deleted offset still there: " + committed);
            admin.deleteConsumerGroups(List.of(group)).all().get();
            expect(
                    admin.listGroups().all().get().stream().noneMatch(g -> g.groupId().equals(group)),
                    "group not deleted");
        }
        Util.log(protocol + " group ok");
    }

    static int distinct(Member a, Member b) {
        Set<String> seen = ConcurrentHashMap.newKeySet();
        for (Member m : List.of(a, b)) {
            synchronized (m.records) {
                for (ConsumerRecord<String, String> r : m.records) {
                    seen.add(r.partition() + "/" + r.offset());
                }
            }
        }
        return seen.size();
    }

    static GroupState state(Admin admin, String group) {
        try {
            return admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get().groupState();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    /** A static member (KIP-345) keeps its assignment across a restart within the session timeout. */
    static void staticMember(String bootstrap) throws Exception {
        String group = "java-group-static";
        Map<String, Set<TopicPartition>> first = new HashMap<>();
        try (Admin admin = Admin.create(Util.base(bootstrap, null))) {
            for (int round = 0; round < 2; round++) {
                Member s1 = new Member(bootstrap, "java-group-classic", group, "classic", group + "-1", "instance-1");
                Member s2 = new Member(bootstrap, "java-group-classic", group, "classic", group + "-2", "instance-2");
                s1.thread.start();
                s2.thread.start();
                Util.waitFor("static members assigned", () -> s1.assigned.get().size() + s2.assigned.get().size() == PARTITIONS
                        && !s1.assigned.get().isEmpty() && !s2.assigned.get().isEmpty());
                ConsumerGroupDescription described = admin.describeConsumerGroups(List.of(group))
                        .describedGroups()
                        .get(group)
                        .get();
                Set<String> instances = new HashSet<>();
                for (MemberDescription m : described.members()) {
                    instances.add(m.groupInstanceId().orElse("none"));
                }
                expectEq(Set.of("instance-1", "instance-2"), instances, "instance ids");
                if (round == 0) {
                    first.put("instance-1", s1.assigned.get());
                    first.put("instance-2", s2.assigned.get());
                } else {
                    expectEq(first.get("instance-1"), s1.assigned.get(), "instance-1 kept its partitions");
                    expectEq(first.get("instance-2"), s2.assigned.get(), "instance-2 kept its partitions");
                }
                // A static member's close does not leave the group (no LeaveGroup).
                s1.stopAndJoin();
                s2.stopAndJoin();
            }
        }
        Util.log("static members ok");
    }
}
