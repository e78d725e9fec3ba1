package myelin;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** What the scenarios share: expectations, client configs, reading a topic back. */
final class Util {
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    private Util() {}

    static void log(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void expect(boolean condition, String what) {
        if (!condition) {
            throw new AssertionError(what);
        }
    }

    static void expectEq(Object expected, Object actual, String what) {
        if (expected == null ? actual != null : !expected.equals(actual)) {
            throw new AssertionError(what + ": expected " + expected + ", got " + actual);
        }
    }

    /** Waits until `condition` holds, failing with `what` past the timeout. */
    static void waitFor(String what, BooleanSupplier condition) throws InterruptedException {
        waitFor(what, condition, () -> "");
    }

    /** Waits until `condition` holds, failing with `what` and what `state` says past the timeout. */
    static void waitFor(String what, BooleanSupplier condition, java.util.function.Supplier<String> state)
            throws InterruptedException {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() >= deadline) {
                throw new AssertionError("timed out waiting for " + what + " " + state.get());
            }
            Thread.sleep(100);
        }
    }

    static Properties base(String bootstrap, Properties extra) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        if (extra != null) {
            p.putAll(extra);
        }
        return p;
    }

    static Properties stringProducer(String bootstrap, Properties extra) {
        Properties p = base(bootstrap, extra);
        p.putIfAbsent("key.serializer", StringSerializer.class.getName());
        p.putIfAbsent("value.serializer", StringSerializer.class.getName());
        return p;
    }

    static Properties bytesProducer(String bootstrap, Properties extra) {
        Properties p = base(bootstrap, extra);
        p.putIfAbsent("key.serializer", ByteArraySerializer.class.getName());
        p.putIfAbsent("value.serializer", ByteArraySerializer.class.getName());
        return p;
    }

    static Properties stringConsumer(String bootstrap, String group, Properties extra) {
        Properties p = base(bootstrap, extra);
        if (group != null) {
            p.put("group.id", group);
        }
        p.putIfAbsent("key.deserializer", StringDeserializer.class.getName());
        p.putIfAbsent("value.deserializer", StringDeserializer.class.getName());
        p.putIfAbsent("auto.offset.reset", "earliest");
        p.putIfAbsent("enable.auto.commit", "false");
        return p;
    }

    static Properties bytesConsumer(String bootstrap, String group, Properties extra) {
        Properties p = base(bootstrap, extra);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        return stringConsumer(bootstrap, group, p);
    }

    static Properties props(String... pairs) {
        Properties p = new Properties();
        for (int i = 0; i + 1 < pairs.length; i += 2) {
            p.put(pairs[i], pairs[i + 1]);
        }
        return p;
    }

    /**
     * Every record of `topic` from the beginning up to each partition's end offset (as the
     * consumer's isolation level sees it), with an assign-only consumer, by partition.
     */
    static <K, V> Map<Integer, List<ConsumerRecord<K, V>>> readAll(
            KafkaConsumer<K, V> consumer, String topic, int partitions) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            tps.add(new TopicPartition(topic, p));
        }
        consumer.assign(tps);
        consumer.seekToBeginning(tps);
        Map<TopicPartition, Long> ends = consumer.endOffsets(tps, TIMEOUT);
        Map<Integer, List<ConsumerRecord<K, V>>> records = new HashMap<>();
        for (int p = 0; p < partitions; p++) {
            records.put(p, new ArrayList<>());
        }
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (true) {
            boolean done = true;
            for (TopicPartition tp : tps) {
                if (consumer.position(tp, TIMEOUT) < ends.get(tp)) {
                    done = false;
                }
            }
            if (done) {
                return records;
            }
            expect(System.nanoTime() < deadline, topic + ": did not reach " + ends);
            for (ConsumerRecord<K, V> r : consumer.poll(Duration.ofMillis(200))) {
                records.get(r.partition()).add(r);
            }
        }
    }

    interface Call {
        void call() throws Exception;
    }

    /**
     * Runs `call`, which must fail with `expected`: the exception itself or one of its
     * causes (futures and the clients wrap what the broker said).
     */
    static void expectFailure(Class<? extends Throwable> expected, Call call) throws Exception {
        try {
            call.call();
        } catch (Exception e) {
            for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
                if (expected.isInstance(t)) {
                    return;
                }
            }
            throw new AssertionError("expected " + expected.getSimpleName() + ", got " + e, e);
        }
        throw new AssertionError("expected " + expected.getSimpleName() + ", but it succeeded");
    }
}
