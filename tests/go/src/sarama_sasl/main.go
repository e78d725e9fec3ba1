// sarama (Debian's golang-github-shopify-sarama-dev, 1.22) against a Myelin broker's
// SASL_PLAINTEXT listener with SASL/PLAIN. Sarama 1.22 sends SaslHandshake v0 and then
// the PLAIN token as a bare size-prefixed frame (not a SaslAuthenticate request), the
// path Kafka keeps for clients older than 1.0.
//
// As admin/admin-secret: create a topic, produce 5 records with acks=all, read them back.
// With a wrong password, the client cannot be created.
//
// Built in GOPATH mode (GO111MODULE=off) from /usr/share/gocode by tests/tests/clients.rs.
// Usage: sarama_sasl HOST:PORT. Prints "OK sarama sasl" last when every check passed; any
// failed check exits 1 with what differed.
package main

import (
	"fmt"
	"os"
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

func config(user, password string) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V2_1_0_0
	c.ClientID = "myelin-sarama-sasl"
	c.Net.SASL.Enable = true
	c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	c.Net.SASL.User = user
	c.Net.SASL.Password = password
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.Return.Errors = true
	c.Metadata.Retry.Max = 1
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	return c
}

func main() {
	addr := os.Args[1]
	const topic = "sarama-sasl"

	adm, err := sarama.NewClusterAdmin([]string{addr}, config("admin", "admin-secret"))
	must(err, "NewClusterAdmin as admin")
	must(adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false), "CreateTopic")
	adm.Close()

	producer, err := sarama.NewSyncProducer([]string{addr}, config("admin", "admin-secret"))
	must(err, "NewSyncProducer")
	for i := 0; i < 5; i++ {
		_, offset, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic: topic, Partition: 0, Value: sarama.StringEncoder(fmt.Sprintf("sasl-%d", i)),
		})
		must(err, "SendMessage")
		if offset != int64(i) {
			fail("record %d written at offset %d", i, offset)
		}
	}
	producer.Close()

	consumer, err := sarama.NewConsumer([]string{addr}, config("admin", "admin-secret"))
	must(err, "NewConsumer")
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	must(err, "ConsumePartition")
	deadline := time.After(30 * time.Second)
	for i := 0; i < 5; i++ {
		select {
		case m := <-pc.Messages():
			if string(m.Value) != fmt.Sprintf("sasl-%d", i) || m.Offset != int64(i) {
				fail("read %q at %d, want sasl-%d at %d", m.Value, m.Offset, i, i)
			}
		case e := <-pc.Errors():
			fail("consume: %v", e)
		case <-deadline:
			fail("read %d of 5 records in 30 s", i)
		}
	}
	pc.Close()
	consumer.Close()
	fmt.Println("admin (PLAIN, SaslHandshake v0) produced and read back 5 records")

	client, err := sarama.NewClient([]string{addr}, config("admin", "wrong"))
	if err == nil {
		client.Close()
		fail("a client with a wrong password was created")
	}
	fmt.Println("a wrong password is refused:", err)
	fmt.Println("OK sarama sasl")
}
