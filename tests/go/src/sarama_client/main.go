// sarama (Debian's golang-github-shopify-sarama-dev, 1.22) against a Myelin broker: admin
// (create, describe, add partitions, delete), a synchronous producer with acks=all and
// each codec, a partition consumer that reads everything back, an idempotent producer,
// a consumer group that commits and whose next member resumes after the commits, and two
// members of one group at once that split a topic's partitions.
//
// Built in GOPATH mode (GO111MODULE=off) from /usr/share/gocode by tests/tests/clients.rs.
// Usage: sarama_client HOST:PORT. Prints "OK sarama" last when every check passed; any
// failed check exits 1 with what differed.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func must(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// config is what a sarama user sets against a current broker: a protocol version (the
// default, 0.8.2, predates record batches), acks=all and delivery reports.
func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V2_1_0_0
	c.ClientID = "myelin-sarama-test"
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	return c
}

type record struct {
	key, value string
	header     string
}

// readPartition reads [from, to) of topic/partition with a partition consumer.
func readPartition(consumer sarama.Consumer, topic string, partition int32, from, to int64) []record {
	pc, err := consumer.ConsumePartition(topic, partition, from)
	must(err, fmt.Sprintf("ConsumePartition %s/%d", topic, partition))
	defer pc.Close()
	var out []record
	next := from
	deadline := time.After(30 * time.Second)
	for next < to {
		select {
		case m := <-pc.Messages():
			if m.Offset != next {
				fail("%s/%d: offset %d read where %d was next", topic, partition, m.Offset, next)
			}
			next++
			h := ""
			for _, rh := range m.Headers {
				h += string(rh.Key) + "=" + string(rh.Value)
			}
			out = append(out, record{string(m.Key), string(m.Value), h})
		case e := <-pc.Errors():
			fail("consume %s/%d: %v", topic, partition, e)
		case <-deadline:
			fail("%s/%d: read %d of [%d, %d) in 30 s", topic, partition, next-from, from, to)
		}
	}
	return out
}

func admin(addr string) {
	adm, err := sarama.NewClusterAdmin([]string{addr}, config())
	must(err, "NewClusterAdmin")
	defer adm.Close()

	retention := "3600000"
	must(adm.CreateTopic("sarama-admin", &sarama.TopicDetail{
		NumPartitions:     2,
		ReplicationFactor: 1,
		ConfigEntries:     map[string]*string{"retention.ms": &retention},
	}, false), "CreateTopic")
	err = adm.CreateTopic("sarama-admin", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	if terr, ok := err.(*sarama.TopicError); !ok || terr.Err != sarama.ErrTopicAlreadyExists {
		fail("CreateTopic of an existing topic: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	err = adm.CreateTopic("sarama-bad", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3}, false)
	if terr, ok := err.(*sarama.TopicError); !ok || terr.Err != sarama.ErrInvalidReplicationFactor {
		fail("CreateTopic with 3 replicas on one broker: %v, want INVALID_REPLICATION_FACTOR", err)
	}

	must(adm.CreatePartitions("sarama-admin", 4, nil, false), "CreatePartitions")
	meta, err := adm.DescribeTopics([]string{"sarama-admin"})
	must(err, "DescribeTopics")
	if len(meta) != 1 || meta[0].Err != sarama.ErrNoError || len(meta[0].Partitions) != 4 {
		fail("DescribeTopics after CreatePartitions: %+v", meta)
	}
	// sarama 1.22 describes the cluster with Metadata v0, which carries no controller id.
	brokers, _, err := adm.DescribeCluster()
	must(err, "DescribeCluster")
	if len(brokers) != 1 || brokers[0].Addr() != addr {
		fail("DescribeCluster: %d brokers, the first at %s", len(brokers), brokers[0].Addr())
	}

	must(adm.DeleteTopic("sarama-admin"), "DeleteTopic")
	// The topic is gone from metadata once deleted (DescribeTopics names it unknown).
	deadline := time.Now().Add(10 * time.Second)
	for {
		meta, err = adm.DescribeTopics([]string{"sarama-admin"})
		must(err, "DescribeTopics after DeleteTopic")
		if len(meta) == 1 && meta[0].Err == sarama.ErrUnknownTopicOrPartition {
			break
		}
		if time.Now().After(deadline) {
			fail("sarama-admin still described 10 s after DeleteTopic: %v", meta[0].Err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Println("admin ok")
}

// produceAndRead sends 60 records with each codec to two partitions of one topic and
// reads them all back, in order, with keys, values and headers.
func produceAndRead(addr string) {
	adm, err := sarama.NewClusterAdmin([]string{addr}, config())
	must(err, "NewClusterAdmin")
	must(adm.CreateTopic("sarama-produced", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false), "CreateTopic")
	adm.Close()

	// sarama 1.22 sends zstd in Produce v3; Kafka takes zstd from v7 only (KIP-110) and
	// answers UNSUPPORTED_COMPRESSION_TYPE, with nothing stored.
	c := config()
	c.Producer.Compression = sarama.CompressionZSTD
	producer, err := sarama.NewSyncProducer([]string{addr}, c)
	must(err, "NewSyncProducer")
	err = producer.SendMessages([]*sarama.ProducerMessage{
		{Topic: "sarama-produced", Partition: 0, Value: sarama.StringEncoder("zstd in v3")},
	})
	perrs, ok := err.(sarama.ProducerErrors)
	if !ok || len(perrs) != 1 || perrs[0].Err != sarama.ErrUnsupportedCompressionType {
		fail("zstd in Produce v3: %v, want UNSUPPORTED_COMPRESSION_TYPE", err)
	}
	producer.Close()

	codecs := []sarama.CompressionCodec{
		sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy,
		sarama.CompressionLZ4,
	}
	want := map[int32][]record{}
	for _, codec := range codecs {
		c := config()
		c.Producer.Compression = codec
		c.Producer.Flush.Messages = 10
		producer, err := sarama.NewSyncProducer([]string{addr}, c)
		must(err, "NewSyncProducer")
		var msgs []*sarama.ProducerMessage
		for i := 0; i < 60; i++ {
			p := int32(i % 2)
			r := record{
				key:    fmt.Sprintf("key-%d", i),
				value:  fmt.Sprintf("codec=%s,i=%d,%s", codec, i, string(make([]byte, 100))),
				header: fmt.Sprintf("n=%d", i),
			}
			want[p] = append(want[p], r)
			msgs = append(msgs, &sarama.ProducerMessage{
				Topic:     "sarama-produced",
				Partition: p,
				Key:       sarama.StringEncoder(r.key),
				Value:     sarama.StringEncoder(r.value),
				Headers:   []sarama.RecordHeader{{Key: []byte("n"), Value: []byte(fmt.Sprint(i))}},
			})
		}
		must(producer.SendMessages(msgs), fmt.Sprintf("SendMessages with %s", codec))
		// Each partition's offsets, as acknowledged, follow on from what was there.
		for p := int32(0); p < 2; p++ {
			var offs []int64
			for _, m := range msgs {
				if m.Partition == p {
					offs = append(offs, m.Offset)
				}
			}
			sort.Slice(offs, func(a, b int) bool { return offs[a] < offs[b] })
			base := int64(len(want[p]) - len(offs))
			for i, o := range offs {
				if o != base+int64(i) {
					fail("%s: partition %d acknowledged offsets %v, want from %d", codec, p, offs, base)
				}
			}
		}
		producer.Close()
	}

	client, err := sarama.NewClient([]string{addr}, config())
	must(err, "NewClient")
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	must(err, "NewConsumer")
	defer consumer.Close()
	for p := int32(0); p < 2; p++ {
		newest, err := client.GetOffset("sarama-produced", p, sarama.OffsetNewest)
		must(err, "GetOffset newest")
		oldest, err := client.GetOffset("sarama-produced", p, sarama.OffsetOldest)
		must(err, "GetOffset oldest")
		if oldest != 0 || newest != int64(len(want[p])) {
			fail("partition %d: offsets [%d, %d), want [0, %d)", p, oldest, newest, len(want[p]))
		}
		got := readPartition(consumer, "sarama-produced", p, 0, newest)
		for i := range want[p] {
			if got[i] != want[p][i] {
				fail("partition %d offset %d: got %+v, want %+v", p, i, got[i], want[p][i])
			}
		}
	}
	fmt.Println("produce and consume ok")
}

// idempotent sends with sarama's idempotent producer (InitProducerId, sequence numbers)
// and reads the records back once each.
func idempotent(addr string) {
	c := config()
	c.Producer.Idempotent = true
	c.Producer.Retry.Max = 5
	c.Net.MaxOpenRequests = 1
	c.Producer.Partitioner = sarama.NewHashPartitioner
	producer, err := sarama.NewSyncProducer([]string{addr}, c)
	must(err, "NewSyncProducer (idempotent)")
	for i := 0; i < 50; i++ {
		_, _, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic: "sarama-idempotent",
			Key:   sarama.StringEncoder("the-key"),
			Value: sarama.StringEncoder(fmt.Sprintf("idem-%d", i)),
		})
		must(err, "idempotent SendMessage")
	}
	producer.Close()

	client, err := sarama.NewClient([]string{addr}, config())
	must(err, "NewClient")
	defer client.Close()
	parts, err := client.Partitions("sarama-idempotent")
	must(err, "Partitions")
	consumer, err := sarama.NewConsumerFromClient(client)
	must(err, "NewConsumer")
	defer consumer.Close()
	var values []string
	for _, p := range parts {
		newest, err := client.GetOffset("sarama-idempotent", p, sarama.OffsetNewest)
		must(err, "GetOffset")
		for _, r := range readPartition(consumer, "sarama-idempotent", p, 0, newest) {
			values = append(values, r.value)
		}
	}
	if len(values) != 50 {
		fail("idempotent producer: %d records stored, want 50", len(values))
	}
	for i, v := range values {
		if v != fmt.Sprintf("idem-%d", i) {
			fail("idempotent producer: record %d is %q", i, v)
		}
	}
	fmt.Println("idempotent ok")
}

// handler consumes until it has seen `want` records, marking each.
type handler struct {
	mu     sync.Mutex
	seen   []string
	want   int
	done   chan struct{}
	closed bool
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.mu.Lock()
		h.seen = append(h.seen, string(m.Value))
		s.MarkMessage(m, "")
		if len(h.seen) >= h.want && !h.closed {
			h.closed = true
			close(h.done)
		}
		h.mu.Unlock()
	}
	return nil
}

// groupMember joins group, consumes until it has `want` records, commits and leaves.
func groupMember(addr, group string, want int) []string {
	c := config()
	c.Consumer.Offsets.CommitInterval = 100 * time.Millisecond
	g, err := sarama.NewConsumerGroup([]string{addr}, group, c)
	must(err, "NewConsumerGroup")
	go func() {
		for err := range g.Errors() {
			fmt.Fprintf(os.Stderr, "group error: %v\n", err)
		}
	}()
	h := &handler{want: want, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{"sarama-group"}, h); err != nil {
				stopped <- err
				return
			}
		}
		stopped <- nil
	}()
	select {
	case <-h.done:
	case err := <-stopped:
		fail("group %s stopped after %d of %d records: %v", group, len(h.seen), want, err)
	case <-time.After(60 * time.Second):
		fail("group %s: %d of %d records in 60 s", group, len(h.seen), want)
	}
	cancel()
	if err := <-stopped; err != nil {
		fail("group %s Consume: %v", group, err)
	}
	// Close commits what was marked and leaves the group.
	must(g.Close(), "ConsumerGroup.Close")
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

func produceValues(addr, topic string, from, to int) {
	c := config()
	c.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	producer, err := sarama.NewSyncProducer([]string{addr}, c)
	must(err, "NewSyncProducer")
	defer producer.Close()
	for i := from; i < to; i++ {
		_, _, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic: topic,
			Value: sarama.StringEncoder(fmt.Sprintf("g-%d", i)),
		})
		must(err, "SendMessage")
	}
}

func consumerGroup(addr string) {
	adm, err := sarama.NewClusterAdmin([]string{addr}, config())
	must(err, "NewClusterAdmin")
	defer adm.Close()
	must(adm.CreateTopic("sarama-group", &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false), "CreateTopic")

	produceValues(addr, "sarama-group", 0, 30)
	first := groupMember(addr, "sarama-g", 30)
	sort.Strings(first)
	if len(first) != 30 {
		fail("first member read %d records, want 30", len(first))
	}

	// The committed offsets are what the group's members marked: the end of each partition.
	offsets, err := adm.ListConsumerGroupOffsets("sarama-g", map[string][]int32{"sarama-group": {0, 1, 2}})
	must(err, "ListConsumerGroupOffsets")
	var committed int64
	for p := int32(0); p < 3; p++ {
		b := offsets.GetBlock("sarama-group", p)
		if b == nil || b.Err != sarama.ErrNoError {
			fail("committed offset of partition %d: %+v", p, b)
		}
		committed += b.Offset
	}
	if committed != 30 {
		fail("committed offsets add up to %d, want 30", committed)
	}
	groups, err := adm.ListConsumerGroups()
	must(err, "ListConsumerGroups")
	if _, ok := groups["sarama-g"]; !ok {
		fail("ListConsumerGroups: %v has no sarama-g", groups)
	}
	desc, err := adm.DescribeConsumerGroups([]string{"sarama-g"})
	must(err, "DescribeConsumerGroups")
	if len(desc) != 1 || desc[0].GroupId != "sarama-g" || desc[0].State != "Empty" {
		fail("DescribeConsumerGroups after the member left: %+v", desc)
	}

	// The next member starts at the commits: it reads only what was produced since.
	produceValues(addr, "sarama-group", 30, 45)
	second := groupMember(addr, "sarama-g", 15)
	sort.Strings(second)
	var want []string
	for i := 30; i < 45; i++ {
		want = append(want, fmt.Sprintf("g-%d", i))
	}
	sort.Strings(want)
	if fmt.Sprint(second) != fmt.Sprint(want) {
		fail("second member read %v, want %v", second, want)
	}
	fmt.Println("consumer group ok")
}

// memberHandler records each claim's partition and every record it is handed.
type memberHandler struct {
	mu     sync.Mutex
	claims map[int32]bool
	seen   map[string]int
}

func (h *memberHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.claims = map[int32]bool{}
	for _, p := range s.Claims()["sarama-pair"] {
		h.claims[p] = true
	}
	return nil
}
func (h *memberHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *memberHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.mu.Lock()
		h.seen[string(m.Value)]++
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

// twoMembers runs two members of one group at once on a 4-partition topic: after the
// rebalance each holds two partitions (Sarama's range balancer, run by the leader), no
// partition is held by both, and together they read every record once.
func twoMembers(addr string) {
	adm, err := sarama.NewClusterAdmin([]string{addr}, config())
	must(err, "NewClusterAdmin")
	must(adm.CreateTopic("sarama-pair", &sarama.TopicDetail{NumPartitions: 4, ReplicationFactor: 1}, false), "CreateTopic")
	adm.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var handlers []*memberHandler
	var groups []sarama.ConsumerGroup
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		c := config()
		c.Consumer.Offsets.CommitInterval = 100 * time.Millisecond
		g, err := sarama.NewConsumerGroup([]string{addr}, "sarama-pair-g", c)
		must(err, "NewConsumerGroup")
		go func() {
			for err := range g.Errors() {
				fmt.Fprintf(os.Stderr, "pair group error: %v\n", err)
			}
		}()
		h := &memberHandler{seen: map[string]int{}}
		handlers = append(handlers, h)
		groups = append(groups, g)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{"sarama-pair"}, h); err != nil {
					fmt.Fprintf(os.Stderr, "pair Consume: %v\n", err)
					return
				}
			}
		}()
	}
	// Both members hold two partitions each, and not the same ones.
	settled := func() bool {
		held := map[int32]int{}
		for _, h := range handlers {
			h.mu.Lock()
			n := len(h.claims)
			for p := range h.claims {
				held[p]++
			}
			h.mu.Unlock()
			if n != 2 {
				return false
			}
		}
		return len(held) == 4
	}
	deadline := time.Now().Add(60 * time.Second)
	for !settled() {
		if time.Now().After(deadline) {
			fail("two members did not split 4 partitions 2 and 2 in 60 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	produceValues(addr, "sarama-pair", 0, 40)
	total := func() (int, int) {
		n, dup := 0, 0
		for _, h := range handlers {
			h.mu.Lock()
			for _, c := range h.seen {
				n += c
				if c > 1 {
					dup++
				}
			}
			h.mu.Unlock()
		}
		return n, dup
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		n, dup := total()
		if dup > 0 {
			fail("a record was handed to the members more than once")
		}
		if n == 40 {
			break
		}
		if time.Now().After(deadline) {
			fail("the two members read %d of 40 records in 30 s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, h := range handlers {
		h.mu.Lock()
		if len(h.seen) == 0 {
			fail("a member holding two partitions read nothing")
		}
		h.mu.Unlock()
	}
	cancel()
	wg.Wait()
	for _, g := range groups {
		must(g.Close(), "ConsumerGroup.Close")
	}
	fmt.Println("two members ok")
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: sarama_client HOST:PORT")
	}
	addr := os.Args[1]
	admin(addr)
	produceAndRead(addr)
	idempotent(addr)
	consumerGroup(addr)
	twoMembers(addr)
	fmt.Println("OK sarama")
}
