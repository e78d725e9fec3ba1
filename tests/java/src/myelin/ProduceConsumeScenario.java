package myelin;

import static myelin.Util.expect;
import static myelin.Util.expectEq;
import static myelin.Util.expectFailure;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;

/**
 * The Java producer (idempotent, acks=all: its defaults) with every codec, headers,
 * tombstones, explicit timestamps and a record near the size limit; a record past the
 * topic's limit refused; a LogAppendTime topic; auto-created topics. Read back by an
 * assign-only consumer, record by record, and searched by timestamp.
 */
final class ProduceConsumeScenario {
    private static final String TOPIC = "java-codecs";
    private static final int PARTITIONS = 3;
    private static final String[] CODECS = {"none", "gzip", "snappy", "lz4", "zstd"};
    private static final int PER_CODEC = 200;
    private static final long BASE_TS = 1_760_000_000_000L;

    private ProduceConsumeScenario() {}

    /** What was sent, to compare with what is read. */
    private record Sent(String key, byte[] value, long timestamp, String codec, RecordMetadata meta) {}

    static void run(String bootstrap) throws Exception {
        try (Admin admin = Admin.create(Util.base(bootstrap, null))) {
            admin.createTopics(List.of(
                            new NewTopic(TOPIC, PARTITIONS, (short) 1),
                            new NewTopic("java-small", 1, (short) 1).configs(Map.of("max.message.bytes", "10000")),
                            new NewTopic("java-log-append", 1, (short) 1)
                                    .configs(Map.of("message.timestamp.type", "LogAppendTime"))))
                    .all()
                    .get();
        }
        List<Sent> sent = new ArrayList<>();
        for (String codec : CODECS) {
            sent.addAll(produce(bootstrap, codec));
        }
        Util.log("produced " + sent.size() + " records with " + Arrays.toString(CODECS));
        readBack(bootstrap, sent);
        limits(bootstrap);
        logAppendTime(bootstrap);
        autoCreated(bootstrap);
    }

    static List<Sent> produce(String bootstrap, String codec) throws Exception {
        List<Sent> sent = new ArrayList<>();
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(Util.stringProducer(
                bootstrap,
                Util.props(
                        "value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer",
                        "compression.type", codec,
                        "linger.ms", "5")))) {
            for (int i = 0; i < PER_CODEC; i++) {
                String key = codec + "-" + (i % 17);
                // Every 25th record is a tombstone; the others repeat text, which compresses.
                byte[] value = i % 25 == 24
                        ? null
                        : (codec + " record " + i + " ").repeat(1 + i % 40).getBytes(StandardCharsets.UTF_8);
                long ts = BASE_TS + i;
                ProducerRecord<String, byte[]> record = new ProducerRecord<>(
                        TOPIC,
                        null,
                        ts,
                        key,
                        value,
                        List.<Header>of(
                                new RecordHeader("codec", codec.getBytes(StandardCharsets.UTF_8)),
                                new RecordHeader("seq", Integer.toString(i).getBytes(StandardCharsets.UTF_8))));
                futures.add(producer.send(record));
                sent.add(new Sent(key, value, ts, codec, null));
            }
            producer.flush();
        }
        List<Sent> acked = new ArrayList<>();
        for (int i = 0; i < sent.size(); i++) {
            Sent s = sent.get(i);
            RecordMetadata meta = futures.get(i).get();
            expect(meta.hasOffset(), "no offset for " + s.key());
            acked.add(new Sent(s.key(), s.value(), s.timestamp(), s.codec(), meta));
        }
        return acked;
    }

    static void readBack(String bootstrap, List<Sent> sent) throws Exception {
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(Util.stringConsumer(
                bootstrap,
                null,
                Util.props("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer")))) {
            Map<Integer, List<ConsumerRecord<String, byte[]>>> read = Util.readAll(consumer, TOPIC, PARTITIONS);
            int total = read.values().stream().mapToInt(List::size).sum();
            expectEq(sent.size(), total, "records read");
            for (Sent s : sent) {
                List<ConsumerRecord<String, byte[]>> partition = read.get(s.meta().partition());
                // Offsets of one partition are dense: the record sits at its offset's index.
                ConsumerRecord<String, byte[]> r = partition.get((int) s.meta().offset());
                expectEq(s.meta().offset(), r.offset(), "offset");
                expectEq(s.key(), r.key(), "key at " + r.offset());
                expect(Arrays.equals(s.value(), r.value()), "value at " + r.partition() + "/" + r.offset());
                expectEq(s.timestamp(), r.timestamp(), "timestamp");
                expectEq(TimestampType.CREATE_TIME, r.timestampType(), "timestamp type");
                expectEq(s.codec(), new String(r.headers().lastHeader("codec").value(), StandardCharsets.UTF_8), "codec header");
                expectEq(2, r.headers().toArray().length, "headers");
            }
            // A key always lands on the same partition (the default partitioner's murmur2).
            for (List<ConsumerRecord<String, byte[]>> partition : read.values()) {
                for (ConsumerRecord<String, byte[]> r : partition) {
                    for (Sent s : sent) {
                        if (s.key().equals(r.key())) {
                            expectEq(s.meta().partition(), r.partition(), "partition of " + r.key());
                        }
                    }
                }
            }

            // offsetsForTimes: the first record of each codec's run at or after a time.
            TopicPartition p0 = new TopicPartition(TOPIC, 0);
            Map<TopicPartition, OffsetAndTimestamp> found =
                    consumer.offsetsForTimes(Map.of(p0, BASE_TS + 100), Util.TIMEOUT);
            OffsetAndTimestamp first = found.get(p0);
            expect(first != null, "offsetsForTimes found nothing");
            ConsumerRecord<String, byte[]> expected = read.get(0).stream()
                    .filter(r -> r.timestamp() >= BASE_TS + 100)
                    .findFirst()
                    .orElseThrow();
            expectEq(expected.offset(), first.offset(), "offset for time");
            expectEq(expected.timestamp(), first.timestamp(), "timestamp for time");

            // Seek into the middle and read on from there.
            consumer.assign(List.of(p0));
            consumer.seek(p0, 10);
            List<ConsumerRecord<String, byte[]>> after = new ArrayList<>();
            long deadline = System.nanoTime() + Util.TIMEOUT.toNanos();
            while (after.isEmpty()) {
                expect(System.nanoTime() < deadline, "nothing read after seek");
                consumer.poll(Duration.ofMillis(200)).forEach(after::add);
            }
            expectEq(10L, after.get(0).offset(), "first offset after seek");
        }
        Util.log("read back ok");
    }

    static void limits(String bootstrap) throws Exception {
        try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(Util.stringProducer(
                bootstrap,
                Util.props(
                        "value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer",
                        "max.request.size", "4000000",
                        "retries", "0",
                        "enable.idempotence", "false")))) {
            // Close to the broker's default limit (message.max.bytes, 1 MiB and a bit).
            byte[] big = new byte[1_000_000];
            Arrays.fill(big, (byte) 'x');
            RecordMetadata meta = producer.send(new ProducerRecord<>(TOPIC, 1, "big", big)).get();
            expect(meta.offset() >= 0, "big record offset");
            // Past the topic's max.message.bytes: MESSAGE_TOO_LARGE.
            expectFailure(
                    RecordTooLargeException.class,
                    () -> producer.send(new ProducerRecord<>("java-small", 0, "k", new byte[20_000])).get());
            // Past the broker's limit too.
            expectFailure(
                    RecordTooLargeException.class,
                    () -> producer.send(new ProducerRecord<>(TOPIC, 1, "huge", new byte[2_000_000])).get());
        }
        Util.log("limits ok");
    }

    static void logAppendTime(String bootstrap) throws Exception {
        long before = System.currentTimeMillis();
        RecordMetadata meta;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(bootstrap, null))) {
            meta = producer.send(new ProducerRecord<>("java-log-append", 0, 42L, "k", "v")).get();
        }
        long after = System.currentTimeMillis();
        // The producer learns the broker's time from the response (log_append_time_ms).
        expect(meta.timestamp() >= before && meta.timestamp() <= after, "append time " + meta.timestamp());
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Util.stringConsumer(bootstrap, null, null))) {
            ConsumerRecord<String, String> r =
                    Util.readAll(consumer, "java-log-append", 1).get(0).get(0);
            expectEq(TimestampType.LOG_APPEND_TIME, r.timestampType(), "timestamp type");
            expectEq(meta.timestamp(), r.timestamp(), "log append time read back");
        }
        Util.log("log append time ok");
    }

    static void autoCreated(String bootstrap) throws Exception {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(bootstrap, null))) {
            RecordMetadata meta = producer.send(new ProducerRecord<>("java-auto-created", "k", "v")).get();
            expectEq(0L, meta.offset(), "first offset of an auto-created topic");
        }
        Util.log("auto-created ok");
    }
}
