package myelin;

import static myelin.Util.expect;
import static myelin.Util.expectEq;
import static myelin.Util.expectFailure;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.AbortTransactionSpec;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeProducersResult;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;

/**
 * Transactions with the Java producer: committed and aborted transactions over two
 * partitions, seen by read_committed and read_uncommitted consumers; exactly-once
 * consume-transform-produce (offsets sent to the transaction with the consumer's group
 * metadata, under both group protocols); a producer fenced by a newer one with its
 * transactional id; transactions listed and described by the admin client.
 */
final class TransactionScenario {
    private TransactionScenario() {}

    static void run(String bootstrap) throws Exception {
        try (Admin admin = Admin.create(Util.base(bootstrap, null))) {
            admin.createTopics(List.of(
                            new NewTopic("java-txn", 2, (short) 1),
                            new NewTopic("java-txn-input", 2, (short) 1),
                            new NewTopic("java-txn-output-classic", 2, (short) 1),
                            new NewTopic("java-txn-output-consumer", 2, (short) 1)))
                    .all()
                    .get();
            commitAndAbort(bootstrap);
            fencing(bootstrap);
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(bootstrap, null))) {
                for (int i = 0; i < 30; i++) {
                    producer.send(new ProducerRecord<>("java-txn-input", i % 2, "k" + i, "in-" + i));
                }
            }
            consumeTransformProduce(bootstrap, admin, "classic");
            consumeTransformProduce(bootstrap, admin, "consumer");
            listed(admin);
            hanging(bootstrap, admin);
        }
    }

    static KafkaProducer<String, String> transactional(String bootstrap, String id) {
        KafkaProducer<String, String> producer = new KafkaProducer<>(Util.stringProducer(
                bootstrap, Util.props("transactional.id", id, "transaction.timeout.ms", "60000")));
        producer.initTransactions();
        return producer;
    }

    static List<String> values(String bootstrap, String topic, String isolation) {
        return values(bootstrap, topic, 2, isolation);
    }

    static List<String> values(String bootstrap, String topic, int partitions, String isolation) {
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(
                Util.stringConsumer(bootstrap, null, Util.props("isolation.level", isolation)))) {
            List<String> values = new ArrayList<>();
            for (List<ConsumerRecord<String, String>> partition :
                    Util.readAll(consumer, topic, partitions).values()) {
                for (ConsumerRecord<String, String> r : partition) {
                    values.add(r.value());
                }
            }
            values.sort(null);
            return values;
        }
    }

    static void commitAndAbort(String bootstrap) throws Exception {
        List<String> committed = new ArrayList<>();
        List<String> all = new ArrayList<>();
        try (KafkaProducer<String, String> producer = transactional(bootstrap, "java-txn-1")) {
            String[] outcomes = {"commit", "abort", "commit"};
            for (int t = 0; t < outcomes.length; t++) {
                producer.beginTransaction();
                for (int i = 0; i < 10; i++) {
                    String value = outcomes[t] + "-" + t + "-" + i;
                    producer.send(new ProducerRecord<>("java-txn", i % 2, "k", value));
                    all.add(value);
                    if (outcomes[t].equals("commit")) {
                        committed.add(value);
                    }
                }
                producer.flush();
                if (outcomes[t].equals("commit")) {
                    producer.commitTransaction();
                } else {
                    producer.abortTransaction();
                }
            }
        }
        committed.sort(null);
        all.sort(null);
        expectEq(committed, values(bootstrap, "java-txn", "read_committed"), "read_committed");
        expectEq(all, values(bootstrap, "java-txn", "read_uncommitted"), "read_uncommitted");
        Util.log("commit and abort ok");
    }

    static void fencing(String bootstrap) throws Exception {
        KafkaProducer<String, String> old = transactional(bootstrap, "java-txn-fenced");
        old.beginTransaction();
        old.send(new ProducerRecord<>("java-txn", 0, "k", "fenced-open")).get();
        // A newer producer with the same id aborts the open transaction and fences the old
        // one. The old one's next batch is refused with INVALID_PRODUCER_EPOCH (abortable,
        // KIP-588, as Kafka answers it); ending its transaction then finds it fenced.
        try (KafkaProducer<String, String> newer = transactional(bootstrap, "java-txn-fenced")) {
            expectFailure(
                    InvalidProducerEpochException.class,
                    () -> old.send(new ProducerRecord<>("java-txn", 0, "k", "fenced-late")).get());
            expectFailure(ProducerFencedException.class, old::abortTransaction);
            newer.beginTransaction();
            newer.send(new ProducerRecord<>("java-txn", 1, "k", "newer"));
            newer.commitTransaction();
        } finally {
            old.close(Duration.ZERO);
        }
        List<String> read = values(bootstrap, "java-txn", "read_committed");
        expect(read.contains("newer"), "newer's record missing: " + read);
        expect(!read.contains("fenced-open") && !read.contains("fenced-late"), "fenced records visible: " + read);
        Util.log("fencing ok");
    }

    /**
     * Reads java-txn-input as a member of a group and writes each value, transformed, to
     * the output topic in transactions of 5 input records, with the consumed offsets; every
     * third transaction aborts, and the member then rewinds to the last committed offsets.
     */
    static void consumeTransformProduce(String bootstrap, Admin admin, String protocol) throws Exception {
        String group = "java-eos-" + protocol;
        String output = "java-txn-output-" + protocol;
        Properties extra = Util.props(
                "isolation.level", "read_committed", "group.protocol", protocol, "max.poll.records", "5");
        int transactions = 0;
        int aborted = 0;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Util.stringConsumer(bootstrap, group, extra));
                KafkaProducer<String, String> producer = transactional(bootstrap, "java-eos-" + protocol)) {
            consumer.subscribe(List.of("java-txn-input"));
            int copied = 0;
            long deadline = System.nanoTime() + Util.TIMEOUT.toNanos();
            while (copied < 30) {
                expect(System.nanoTime() < deadline, protocol + ": copied only " + copied);
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
                if (records.isEmpty()) {
                    continue;
                }
                producer.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                for (ConsumerRecord<String, String> r : records) {
                    producer.send(new ProducerRecord<>(output, r.partition(), r.key(), r.value().replace("in-", "out-")));
                    offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
                // Written before the transaction ends: an abort drops what is not yet sent.
                producer.flush();
                transactions++;
                if (transactions % 3 == 0) {
                    producer.abortTransaction();
                    aborted++;
                    // Back to what the group committed: the aborted records are read again.
                    Map<TopicPartition, OffsetAndMetadata> last = consumer.committed(consumer.assignment());
                    for (TopicPartition tp : consumer.assignment()) {
                        OffsetAndMetadata o = last.get(tp);
                        consumer.seek(tp, o == null ? 0 : o.offset());
                    }
                } else {
                    producer.commitTransaction();
                    copied += records.count();
                }
            }
        }
        expect(aborted > 0, protocol + ": no transaction aborted");
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            expected.add("out-" + i);
        }
        expected.sort(null);
        expectEq(expected, values(bootstrap, output, "read_committed"), protocol + ": output");
        Map<TopicPartition, OffsetAndMetadata> offsets =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
        expectEq(15L, offsets.get(new TopicPartition("java-txn-input", 0)).offset(), protocol + ": offset of 0");
        expectEq(15L, offsets.get(new TopicPartition("java-txn-input", 1)).offset(), protocol + ": offset of 1");
        // read_uncommitted also sees what the aborted transactions wrote.
        expect(values(bootstrap, output, "read_uncommitted").size() > 30, protocol + ": aborted records not stored");
        Util.log(protocol + " consume-transform-produce ok (" + transactions + " transactions, " + aborted + " aborted)");
    }

    /**
     * A transaction left open on a partition, found with DescribeProducers and aborted with
     * the admin client (`kafka-transactions.sh find-hanging` and `abort`, KIP-664): the
     * last stable offset moves past it, and read_committed consumers read on without its
     * records.
     */
    static void hanging(String bootstrap, Admin admin) throws Exception {
        TopicPartition tp = new TopicPartition("java-txn-hanging", 0);
        admin.createTopics(List.of(new NewTopic(tp.topic(), 1, (short) 1))).all().get();
        KafkaProducer<String, String> producer = transactional(bootstrap, "java-txn-hanging");
        producer.beginTransaction();
        producer.send(new ProducerRecord<>(tp.topic(), 0, "k", "left-open")).get();
        // The partition's last stable offset stays at the open transaction's first offset.
        expectEq(0L, committedEnd(bootstrap, tp), "last stable offset under the open transaction");
        DescribeProducersResult.PartitionProducerState state =
                admin.describeProducers(List.of(tp)).partitionResult(tp).get();
        expectEq(1, state.activeProducers().size(), "producers " + state.activeProducers());
        ProducerState open = state.activeProducers().get(0);
        expect(open.currentTransactionStartOffset().isPresent(), "no open transaction: " + open);
        admin.abortTransaction(new AbortTransactionSpec(
                        tp, open.producerId(), (short) open.producerEpoch(), open.coordinatorEpoch().orElse(-1)))
                .all()
                .get();
        // The marker ends the transaction: the last stable offset passes it (record and
        // marker), and read_committed reads nothing of it.
        expectEq(2L, committedEnd(bootstrap, tp), "last stable offset after the abort");
        expect(values(bootstrap, tp.topic(), 1, "read_committed").isEmpty(), "aborted record visible");
        producer.close(Duration.ZERO);
        Util.log("hanging transaction aborted ok");
    }

    /** The end offset a read_committed consumer sees: the last stable offset. */
    static long committedEnd(String bootstrap, TopicPartition tp) {
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(
                Util.stringConsumer(bootstrap, null, Util.props("isolation.level", "read_committed")))) {
            return consumer.endOffsets(List.of(tp), Util.TIMEOUT).get(tp);
        }
    }

    static void listed(Admin admin) throws Exception {
        Collection<TransactionListing> listings = admin.listTransactions().all().get();
        List<String> ids = new ArrayList<>();
        for (TransactionListing l : listings) {
            ids.add(l.transactionalId());
        }
        expect(ids.containsAll(List.of("java-txn-1", "java-txn-fenced", "java-eos-classic", "java-eos-consumer")), "listed " + ids);
        TransactionDescription d = admin.describeTransactions(List.of("java-txn-1")).description("java-txn-1").get();
        expectEq(TransactionState.COMPLETE_COMMIT, d.state(), "state of java-txn-1");
        expectEq(0, d.coordinatorId(), "coordinator");
        expect(d.topicPartitions().isEmpty(), "partitions of a completed transaction " + d.topicPartitions());
        Util.log("listed transactions ok");
    }
}
