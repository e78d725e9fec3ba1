package myelin;

import static myelin.Util.expect;
import static myelin.Util.expectEq;
import static myelin.Util.expectFailure;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.clients.admin.DescribeProducersResult;
import org.apache.kafka.clients.admin.ListConfigResourcesOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.QuorumInfo;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ElectionNotNeededException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;

/**
 * The Java admin client: cluster, topics (create with configs, validate-only, errors,
 * describe by name and id, partitions added, deleted by name and id), configs (described
 * with sources and synonyms, altered incrementally), offsets (list by spec, records
 * deleted), log dirs, producers, leader elections, SCRAM credentials and client quotas.
 */
final class AdminScenario {
    private AdminScenario() {}

    static void run(String bootstrap) throws Exception {
        try (Admin admin = Admin.create(Util.base(bootstrap, null))) {
            cluster(admin);
            topics(admin);
            configs(admin);
            offsetsAndRecords(admin, bootstrap);
            credentialsAndQuotas(admin);
            deletion(admin);
        }
    }

    static void cluster(Admin admin) throws Exception {
        DescribeClusterResult cluster = admin.describeCluster();
        Collection<Node> nodes = cluster.nodes().get();
        expectEq(1, nodes.size(), "nodes");
        Node node = nodes.iterator().next();
        expectEq(0, node.id(), "node id");
        String clusterId = cluster.clusterId().get();
        expect(clusterId != null && !clusterId.isEmpty(), "cluster id " + clusterId);
        expectEq(node.id(), cluster.controller().get().id(), "controller");
        Util.log("cluster " + clusterId + " " + nodes);
    }

    static void topics(Admin admin) throws Exception {
        NewTopic compacted = new NewTopic("java-admin-compacted", 2, (short) 1)
                .configs(Map.of("cleanup.policy", "compact", "retention.ms", "3600000"));
        // Partitions and replication factor left to the broker's defaults.
        NewTopic defaults = new NewTopic("java-admin-defaults", Optional.empty(), Optional.empty());
        admin.createTopics(List.of(compacted, defaults)).all().get();

        // Validate only: answered, nothing created.
        admin.createTopics(
                        List.of(new NewTopic("java-admin-validate-only", 4, (short) 1)),
                        new CreateTopicsOptions().validateOnly(true))
                .all()
                .get();
        Set<String> names = admin.listTopics().names().get();
        expect(!names.contains("java-admin-validate-only"), "validate-only created: " + names);
        expect(names.containsAll(Set.of("java-admin-compacted", "java-admin-defaults")), "listed " + names);

        expectFailure(
                TopicExistsException.class,
                () -> admin.createTopics(List.of(new NewTopic("java-admin-compacted", 1, (short) 1)))
                        .all()
                        .get());
        expectFailure(
                InvalidTopicException.class,
                () -> admin.createTopics(List.of(new NewTopic("bad/name", 1, (short) 1))).all().get());
        expectFailure(
                InvalidConfigurationException.class,
                () -> admin.createTopics(List.of(new NewTopic("java-admin-bad-config", 1, (short) 1)
                                .configs(Map.of("cleanup.policy", "sometimes"))))
                        .all()
                        .get());

        TopicDescription described =
                admin.describeTopics(List.of("java-admin-compacted")).allTopicNames().get().get("java-admin-compacted");
        expectEq(2, described.partitions().size(), "partitions");
        expect(!described.isInternal(), "internal");
        expect(!Uuid.ZERO_UUID.equals(described.topicId()), "topic id " + described.topicId());
        for (TopicPartitionInfo p : described.partitions()) {
            expectEq(0, p.leader().id(), "leader of " + p.partition());
            expectEq(1, p.replicas().size(), "replicas of " + p.partition());
            expectEq(1, p.isr().size(), "isr of " + p.partition());
        }
        TopicDescription byId = admin.describeTopics(TopicCollection.ofTopicIds(List.of(described.topicId())))
                .allTopicIds()
                .get()
                .get(described.topicId());
        expectEq("java-admin-compacted", byId.name(), "described by id");

        int defaultPartitions = admin.describeTopics(List.of("java-admin-defaults"))
                .allTopicNames()
                .get()
                .get("java-admin-defaults")
                .partitions()
                .size();
        expect(defaultPartitions >= 1, "default partitions " + defaultPartitions);

        admin.createPartitions(Map.of("java-admin-compacted", NewPartitions.increaseTo(5))).all().get();
        Util.waitFor("5 partitions", () -> partitions(admin, "java-admin-compacted") == 5);
        expectFailure(
                InvalidPartitionsException.class,
                () -> admin.createPartitions(Map.of("java-admin-compacted", NewPartitions.increaseTo(3)))
                        .all()
                        .get());

        // A single broker leads every partition already.
        Map<TopicPartition, Optional<Throwable>> elected = admin.electLeaders(
                        ElectionType.PREFERRED, Set.of(new TopicPartition("java-admin-compacted", 0)))
                .partitions()
                .get();
        Optional<Throwable> outcome = elected.get(new TopicPartition("java-admin-compacted", 0));
        expect(
                outcome.isPresent() && outcome.get() instanceof ElectionNotNeededException,
                "election outcome " + outcome);
        // The metadata log as a single-voter KRaft quorum (kafka-metadata-quorum.sh): the
        // topics just made are records in it.
        QuorumInfo quorum = admin.describeMetadataQuorum().quorumInfo().get();
        expectEq(0, quorum.leaderId(), "quorum leader");
        expectEq(1, quorum.voters().size(), "voters");
        expectEq(0, quorum.voters().get(0).replicaId(), "voter");
        expect(quorum.highWatermark() > 0, "quorum high watermark " + quorum.highWatermark());
        expect(quorum.observers().isEmpty(), "observers " + quorum.observers());
        Util.log("topics ok");
    }

    static void configs(Admin admin) throws Exception {
        ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, "java-admin-compacted");
        Config config = admin.describeConfigs(List.of(topic), new DescribeConfigsOptions().includeSynonyms(true))
                .all()
                .get()
                .get(topic);
        ConfigEntry retention = config.get("retention.ms");
        expectEq("3600000", retention.value(), "retention.ms");
        expectEq(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, retention.source(), "retention.ms source");
        expect(
                retention.synonyms().stream().anyMatch(s -> s.name().equals("log.retention.ms")
                        || s.name().equals("log.retention.hours")),
                "retention.ms synonyms " + retention.synonyms());
        expectEq("compact", config.get("cleanup.policy").value(), "cleanup.policy");
        ConfigEntry segment = config.get("segment.bytes");
        expect(segment != null && segment.isDefault(), "segment.bytes default " + segment);

        admin.incrementalAlterConfigs(Map.of(
                        topic,
                        List.of(
                                new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                                new AlterConfigOp(new ConfigEntry("cleanup.policy", "delete"), AlterConfigOp.OpType.APPEND),
                                new AlterConfigOp(new ConfigEntry("max.message.bytes", "2000000"), AlterConfigOp.OpType.SET))))
                .all()
                .get();
        config = admin.describeConfigs(List.of(topic)).all().get().get(topic);
        expectEq("7200000", config.get("retention.ms").value(), "altered retention.ms");
        expectEq("compact,delete", config.get("cleanup.policy").value(), "appended cleanup.policy");
        expectEq("2000000", config.get("max.message.bytes").value(), "max.message.bytes");

        admin.incrementalAlterConfigs(Map.of(
                        topic,
                        List.of(
                                new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE),
                                new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.SUBTRACT))))
                .all()
                .get();
        config = admin.describeConfigs(List.of(topic)).all().get().get(topic);
        expect(config.get("retention.ms").isDefault(), "retention.ms back to default: " + config.get("retention.ms"));
        expectEq("delete", config.get("cleanup.policy").value(), "subtracted cleanup.policy");

        expectFailure(
                InvalidConfigurationException.class,
                () -> admin.incrementalAlterConfigs(Map.of(
                                topic,
                                List.of(new AlterConfigOp(
                                        new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET))))
                        .all()
                        .get());

        // A consumer group's own configs (KIP-848, kafka-configs.sh --entity-type groups).
        ConfigResource group = new ConfigResource(ConfigResource.Type.GROUP, "java-admin-group");
        admin.incrementalAlterConfigs(Map.of(
                        group,
                        List.of(new AlterConfigOp(
                                new ConfigEntry("consumer.session.timeout.ms", "50000"), AlterConfigOp.OpType.SET))))
                .all()
                .get();
        Config groupConfig = admin.describeConfigs(List.of(group)).all().get().get(group);
        ConfigEntry session = groupConfig.get("consumer.session.timeout.ms");
        expectEq("50000", session.value(), "group session timeout");
        expectEq(ConfigEntry.ConfigSource.DYNAMIC_GROUP_CONFIG, session.source(), "group config source");
        expectEq("5000", groupConfig.get("consumer.heartbeat.interval.ms").value(), "group heartbeat default");
        // The group has no members, only configs: listed all the same (KIP-1142).
        java.util.Collection<ConfigResource> groups = admin.listConfigResources(
                        Set.of(ConfigResource.Type.GROUP), new ListConfigResourcesOptions())
                .all()
                .get();
        expect(groups.contains(group), "groups with configs " + groups);
        expectFailure(
                InvalidConfigurationException.class,
                () -> admin.incrementalAlterConfigs(Map.of(
                                group,
                                List.of(new AlterConfigOp(
                                        new ConfigEntry("consumer.session.timeout.ms", "1000"),
                                        AlterConfigOp.OpType.SET))))
                        .all()
                        .get());

        ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, "0");
        Config brokerConfig = admin.describeConfigs(List.of(broker)).all().get().get(broker);
        ConfigEntry partitions = brokerConfig.get("num.partitions");
        expect(partitions != null && partitions.value() != null, "num.partitions " + partitions);
        expect(brokerConfig.get("log.retention.hours") != null, "log.retention.hours described");
        Util.log("configs ok");
    }

    static void offsetsAndRecords(Admin admin, String bootstrap) throws Exception {
        admin.createTopics(List.of(new NewTopic("java-admin-offsets", 1, (short) 1))).all().get();
        TopicPartition tp = new TopicPartition("java-admin-offsets", 0);
        long base = 1_700_000_000_000L;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(bootstrap, null))) {
            for (int i = 0; i < 10; i++) {
                // Timestamps rise to the 7th record, then fall back: the largest is at offset 6.
                long ts = i <= 6 ? base + i * 1000 : base + (i - 7) * 1000;
                producer.send(new ProducerRecord<>(tp.topic(), 0, ts, "k" + i, "v" + i)).get();
            }
        }
        expectEq(0L, offset(admin, tp, OffsetSpec.earliest()), "earliest");
        expectEq(10L, offset(admin, tp, OffsetSpec.latest()), "latest");
        ListOffsetsResult.ListOffsetsResultInfo max =
                admin.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).partitionResult(tp).get();
        expectEq(6L, max.offset(), "max timestamp offset");
        expectEq(base + 6000, max.timestamp(), "max timestamp");
        expectEq(3L, offset(admin, tp, OffsetSpec.forTimestamp(base + 2500)), "offset for timestamp");
        expectEq(-1L, offset(admin, tp, OffsetSpec.forTimestamp(base + 60_000)), "offset past every timestamp");

        long low = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4)))
                .lowWatermarks()
                .get(tp)
                .get()
                .lowWatermark();
        expectEq(4L, low, "low watermark");
        expectEq(4L, offset(admin, tp, OffsetSpec.earliest()), "earliest after deleteRecords");

        Map<String, LogDirDescription> dirs = admin.describeLogDirs(List.of(0)).allDescriptions().get().get(0);
        expect(!dirs.isEmpty(), "log dirs");
        ReplicaInfo replica = null;
        for (LogDirDescription dir : dirs.values()) {
            expect(dir.error() == null, "log dir error " + dir.error());
            if (dir.replicaInfos().containsKey(tp)) {
                replica = dir.replicaInfos().get(tp);
            }
        }
        expect(replica != null && replica.size() > 0, "replica of " + tp + " in " + dirs);

        // The Java producer is idempotent by default: the partition has one producer.
        DescribeProducersResult.PartitionProducerState state =
                admin.describeProducers(List.of(tp)).partitionResult(tp).get();
        expectEq(1, state.activeProducers().size(), "producers " + state.activeProducers());
        expectEq(9, state.activeProducers().get(0).lastSequence(), "last sequence");
        Util.log("offsets ok");
    }

    static void credentialsAndQuotas(Admin admin) throws Exception {
        admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(
                        "java-user", new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), "java-secret")))
                .all()
                .get();
        UserScramCredentialsDescription user =
                admin.describeUserScramCredentials(List.of("java-user")).description("java-user").get();
        expectEq(1, user.credentialInfos().size(), "credentials");
        expectEq(ScramMechanism.SCRAM_SHA_256, user.credentialInfos().get(0).mechanism(), "mechanism");
        expectEq(8192, user.credentialInfos().get(0).iterations(), "iterations");

        ClientQuotaEntity entity = new ClientQuotaEntity(Map.of(ClientQuotaEntity.USER, "java-user"));
        admin.alterClientQuotas(List.of(new ClientQuotaAlteration(
                        entity, List.of(new ClientQuotaAlteration.Op("producer_byte_rate", 1048576.0)))))
                .all()
                .get();
        Map<ClientQuotaEntity, Map<String, Double>> quotas =
                admin.describeClientQuotas(ClientQuotaFilter.all()).entities().get();
        expectEq(Map.of("producer_byte_rate", 1048576.0), quotas.get(entity), "quotas " + quotas);
        admin.alterClientQuotas(List.of(new ClientQuotaAlteration(
                        entity, List.of(new ClientQuotaAlteration.Op("producer_byte_rate", null)))))
                .all()
                .get();
        quotas = admin.describeClientQuotas(ClientQuotaFilter.all()).entities().get();
        expect(!quotas.containsKey(entity), "quota removed: " + quotas);
        Util.log("credentials and quotas ok");
    }

    static void deletion(Admin admin) throws Exception {
        Uuid id = admin.describeTopics(List.of("java-admin-defaults"))
                .allTopicNames()
                .get()
                .get("java-admin-defaults")
                .topicId();
        admin.deleteTopics(List.of("java-admin-compacted")).all().get();
        admin.deleteTopics(TopicCollection.ofTopicIds(List.of(id))).all().get();
        Util.waitFor("topics deleted", () -> {
            try {
                Set<String> names = admin.listTopics(new ListTopicsOptions().listInternal(true)).names().get();
                return !names.contains("java-admin-compacted") && !names.contains("java-admin-defaults");
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        expectFailure(
                UnknownTopicOrPartitionException.class,
                () -> admin.describeTopics(List.of("java-admin-compacted")).allTopicNames().get());
        expectFailure(
                UnknownTopicOrPartitionException.class,
                () -> admin.deleteTopics(List.of("java-admin-compacted")).all().get());
        Util.log("deletion ok");
    }

    static int partitions(Admin admin, String topic) {
        try {
            return admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    static long offset(Admin admin, TopicPartition tp, OffsetSpec spec) throws Exception {
        return admin.listOffsets(Map.of(tp, spec)).partitionResult(tp).get().offset();
    }
}
