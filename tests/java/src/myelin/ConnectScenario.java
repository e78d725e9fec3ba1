package myelin;

import static myelin.Util.expect;
import static myelin.Util.expectEq;
import static myelin.Util.log;
import static myelin.Util.waitFor;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.connect.connector.policy.ConnectorClientConfigOverridePolicy;
import org.apache.kafka.connect.file.FileStreamSinkConnector;
import org.apache.kafka.connect.file.FileStreamSourceConnector;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.runtime.AbstractStatus;
import org.apache.kafka.connect.runtime.Herder;
import org.apache.kafka.connect.runtime.Worker;
import org.apache.kafka.connect.runtime.distributed.DistributedConfig;
import org.apache.kafka.connect.runtime.distributed.DistributedHerder;
import org.apache.kafka.connect.runtime.isolation.Plugins;
import org.apache.kafka.connect.runtime.rest.RestClient;
import org.apache.kafka.connect.runtime.rest.entities.ConnectorStateInfo;
import org.apache.kafka.connect.storage.Converter;
import org.apache.kafka.connect.storage.KafkaConfigBackingStore;
import org.apache.kafka.connect.storage.KafkaOffsetBackingStore;
import org.apache.kafka.connect.storage.KafkaStatusBackingStore;
import org.apache.kafka.connect.util.ConnectUtils;
import org.apache.kafka.connect.util.FutureCallback;
import org.apache.kafka.connect.util.SharedTopicAdmin;

/**
 * Kafka Connect 4.3.0's distributed runtime (connect-runtime), with exactly-once source
 * support (KIP-618), running Kafka's file connectors (connect-file) against the broker.
 *
 * <p>The workers are built as Connect's own `ConnectDistributed` builds them (the same
 * backing stores, herder and worker), without the REST server: its Jetty 12 security jar
 * is not among the jars this machine can reach, and it plays no part in what the broker
 * sees. Connect creates its three compacted topics, keeps connector configs, source
 * offsets and statuses in them, coordinates its workers through a group of protocol type
 * "connect" (incremental cooperative rebalancing), writes source records in transactions
 * with fenced-off zombies, and commits its sink's offsets in its consumer group.
 */
final class ConnectScenario {
    private static final String GROUP = "connect-cluster";
    private static final String TOPIC = "connect-lines";

    private ConnectScenario() {}

    static void run(String bootstrap, String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Path in = dir.resolve("in.txt");
        Path out = dir.resolve("out.txt");
        List<String> lines = new ArrayList<>();
        append(in, lines, 0, 100);
        Files.writeString(out, "");

        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
            // One partition: the sink writes the lines in the order the source read them.
            admin.createTopics(List.of(new NewTopic(TOPIC, 1, (short) 1))).all().get();

            // One worker: the connectors configured, the file copied through the topic.
            Herder a = startWorker(bootstrap, "worker-a");
            put(a, "lines-source", Map.of(
                    "connector.class", FileStreamSourceConnector.class.getName(),
                    "tasks.max", "1",
                    "file", in.toString(),
                    "topic", TOPIC));
            put(a, "lines-sink", Map.of(
                    "connector.class", FileStreamSinkConnector.class.getName(),
                    "tasks.max", "1",
                    "file", out.toString(),
                    "topics", TOPIC));
            waitForCopy(out, lines);
            expectRunning(a, "lines-source");
            expectRunning(a, "lines-sink");
            log("connect: 100 lines copied through " + TOPIC + " by one worker");

            // Connect's internal topics, created by Connect through the admin client.
            Map<String, TopicDescription> internal = admin.describeTopics(
                    List.of("connect-configs", "connect-offsets", "connect-status")).allTopicNames().get();
            expectEq(1, internal.get("connect-configs").partitions().size(), "connect-configs partitions");
            expectEq(25, internal.get("connect-offsets").partitions().size(), "connect-offsets partitions");
            expectEq(5, internal.get("connect-status").partitions().size(), "connect-status partitions");
            for (String topic : internal.keySet()) {
                ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
                Config config = admin.describeConfigs(List.of(r)).all().get().get(r);
                expectEq("compact", config.get("cleanup.policy").value(), topic + " cleanup.policy");
            }

            // A clean stop, then a new worker of the same group: it reads the connectors from
            // the config topic and resumes the source at its stored offset and the sink at
            // its group's committed offset, so each line arrives once.
            a.stop();
            append(in, lines, 100, 150);
            Herder b = startWorker(bootstrap, "worker-b");
            waitFor("worker-b to read both connectors from connect-configs",
                    () -> connectors(b).containsAll(Set.of("lines-source", "lines-sink")));
            waitForCopy(out, lines);
            expectRunning(b, "lines-source");
            log("connect: a second worker resumed both connectors, 150 lines, none twice");

            // A second worker joins: the group rebalances and the tasks may move. Then the
            // first leaves, and the one left runs everything.
            Herder c = startWorker(bootstrap, "worker-c");
            waitFor("worker-c to join the group", () -> connectors(c).contains("lines-sink"));
            append(in, lines, 150, 170);
            waitForCopy(out, lines);
            b.stop();
            append(in, lines, 170, 200);
            waitForCopy(out, lines);
            expectRunning(c, "lines-source");
            expectRunning(c, "lines-sink");
            log("connect: a worker joined and one left; 200 lines, none twice");

            // The topic holds each line once, written in the source's transactions: a
            // read_committed consumer reads 200 records, and the offsets run past them (the
            // transaction markers). The sink's group commits the offset after the last record.
            TopicPartition tp = new TopicPartition(TOPIC, 0);
            List<ConsumerRecord<String, String>> records;
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Util.stringConsumer(
                    bootstrap, null, Util.props("isolation.level", "read_committed")))) {
                records = Util.readAll(consumer, TOPIC, 1).get(0);
            }
            expectEq(lines, records.stream().map(ConsumerRecord::value).toList(), "the records of " + TOPIC);
            long end = admin.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get().offset();
            expect(end > 200, TOPIC + " ends at " + end + ": no transaction markers");
            long next = records.get(records.size() - 1).offset() + 1;
            waitFor("the sink's group to commit offset " + next, () -> committed(admin, tp) == next,
                    () -> "(committed " + committed(admin, tp) + ")");

            // Connector deleted: its tombstone in connect-configs; a restart does not bring it back.
            FutureCallback<Herder.Created<org.apache.kafka.connect.runtime.rest.entities.ConnectorInfo>> deleted =
                    new FutureCallback<>();
            c.deleteConnectorConfig("lines-sink", deleted);
            deleted.get(30, TimeUnit.SECONDS);
            c.stop();
            Herder d = startWorker(bootstrap, "worker-d");
            waitFor("worker-d to read the connectors", () -> connectors(d).contains("lines-source"));
            expect(!connectors(d).contains("lines-sink"), "a deleted connector came back: " + connectors(d));
            expectRunning(d, "lines-source");
            d.stop();
            log("connect: a deleted connector stays deleted across a restart");
        }
    }

    /** A worker of the group, built as `ConnectDistributed.createHerder` builds it, started. */
    private static Herder startWorker(String bootstrap, String workerId) {
        Map<String, String> props = new HashMap<>();
        props.put("bootstrap.servers", bootstrap);
        props.put("group.id", GROUP);
        props.put("key.converter", "org.apache.kafka.connect.storage.StringConverter");
        props.put("value.converter", "org.apache.kafka.connect.storage.StringConverter");
        props.put("config.storage.topic", "connect-configs");
        props.put("offset.storage.topic", "connect-offsets");
        props.put("status.storage.topic", "connect-status");
        props.put("config.storage.replication.factor", "1");
        props.put("offset.storage.replication.factor", "1");
        props.put("status.storage.replication.factor", "1");
        props.put("exactly.once.source.support", "enabled");
        props.put("offset.flush.interval.ms", "500");
        // A leaving worker's tasks are handed out at once, not after five minutes.
        props.put("scheduled.rebalance.max.delay.ms", "0");
        props.put("listeners", "http://127.0.0.1:0");
        props.put("rest.advertised.host.name", workerId);

        Plugins plugins = new Plugins(props);
        plugins.compareAndSwapWithDelegatingLoader();
        DistributedConfig config = new DistributedConfig(props);
        String clusterId = config.kafkaClusterId();
        String clientIdBase = ConnectUtils.clientIdBase(config);
        Map<String, Object> adminProps = new HashMap<>(config.originals());
        ConnectUtils.addMetricsContextProperties(adminProps, config, clusterId);
        adminProps.put(AdminClientConfig.CLIENT_ID_CONFIG, clientIdBase + "shared-admin");
        SharedTopicAdmin sharedAdmin = new SharedTopicAdmin(adminProps);
        Converter keyConverter = plugins.newInternalConverter(
                true, JsonConverter.class.getName(), Map.of("schemas.enable", "false"));
        KafkaOffsetBackingStore offsets = new KafkaOffsetBackingStore(sharedAdmin, () -> clientIdBase, keyConverter);
        offsets.configure(config);
        ConnectorClientConfigOverridePolicy policy = plugins.newPlugin(
                config.getString("connector.client.config.override.policy"), config,
                ConnectorClientConfigOverridePolicy.class);
        Worker worker = new Worker(workerId, Time.SYSTEM, plugins, config, offsets, policy);
        Converter internal = worker.getInternalValueConverter();
        KafkaStatusBackingStore statuses = new KafkaStatusBackingStore(
                Time.SYSTEM, internal, sharedAdmin, clientIdBase);
        statuses.configure(config);
        KafkaConfigBackingStore configs = new KafkaConfigBackingStore(
                internal, config, worker.configTransformer(), sharedAdmin, clientIdBase);
        DistributedHerder herder = new DistributedHerder(config, Time.SYSTEM, worker, clusterId,
                statuses, configs, "http://" + workerId + ":8083/", new RestClient(config), policy,
                List.of(), sharedAdmin);
        herder.start();
        return herder;
    }

    private static long committed(Admin admin, TopicPartition tp) {
        try {
            OffsetAndMetadata o = admin.listConsumerGroupOffsets("connect-lines-sink")
                    .partitionsToOffsetAndMetadata().get().get(tp);
            return o == null ? -1 : o.offset();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    private static void put(Herder herder, String name, Map<String, String> config) throws Exception {
        Map<String, String> full = new HashMap<>(config);
        full.put("name", name);
        FutureCallback<Herder.Created<org.apache.kafka.connect.runtime.rest.entities.ConnectorInfo>> done =
                new FutureCallback<>();
        herder.putConnectorConfig(name, full, false, done);
        expect(done.get(60, TimeUnit.SECONDS).created(), name + " was not created");
    }

    private static Collection<String> connectors(Herder herder) {
        FutureCallback<Collection<String>> names = new FutureCallback<>();
        herder.connectors(names);
        try {
            return names.get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            // Not yet joined, or not yet caught up with the config topic.
            return List.of();
        }
    }

    private static void expectRunning(Herder herder, String name) throws InterruptedException {
        waitFor(name + " and its task to run", () -> {
            try {
                ConnectorStateInfo s = herder.connectorStatus(name);
                return s.connector().state().equals(AbstractStatus.State.RUNNING.name())
                        && s.tasks().size() == 1
                        && s.tasks().get(0).state().equals(AbstractStatus.State.RUNNING.name());
            } catch (Exception e) {
                return false;
            }
        });
    }

    /** Appends lines `from` to `to` (exclusive) to the source file and to `lines`. */
    private static void append(Path in, List<String> lines, int from, int to) throws Exception {
        StringBuilder text = new StringBuilder();
        for (int i = from; i < to; i++) {
            // ASCII: FileStreamSourceTask stores its position in characters and seeks to it in bytes.
            String line = "line " + i;
            lines.add(line);
            text.append(line).append('\n');
        }
        Files.writeString(in, text, StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** Waits until the sink's file holds exactly `lines`: none missing, none twice. */
    private static void waitForCopy(Path out, List<String> lines) throws InterruptedException {
        waitFor(lines.size() + " lines in " + out,
                () -> read(out).size() >= lines.size() && endsWithNewline(out),
                () -> "(" + read(out).size() + " there)");
        expectEq(lines, read(out), "the lines the sink wrote");
    }

    private static boolean endsWithNewline(Path file) {
        try {
            byte[] bytes = Files.readAllBytes(file);
            return bytes.length > 0 && bytes[bytes.length - 1] == '\n';
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    private static List<String> read(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }
}
