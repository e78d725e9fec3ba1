// kafkajs against a Myelin broker's SASL_PLAINTEXT listener, after tests/python/
// sasl_clients.py has created the SCRAM users alice (SCRAM-SHA-256) and bob
// (SCRAM-SHA-512) and the topic `sasl-topic`.
//
// bob produces with SCRAM-SHA-512, alice reads the topic with SCRAM-SHA-256 in a consumer
// group, admin lists topics with PLAIN, and a wrong password is refused with kafkajs's
// KafkaJSSASLAuthenticationError.
//
// Usage: node kafkajs_sasl.js HOST:PORT. Prints `OK kafkajs sasl` at the end; any failure
// exits non-zero.

const assert = require('assert')
const { Kafka, logLevel } = require('kafkajs')

const BOOTSTRAP = process.argv[2]
const TOPIC = 'sasl-topic'

const log = (...args) => console.log(...args)

const client = (mechanism, username, password) =>
  new Kafka({
    clientId: `kafkajs-${username}`,
    brokers: [BOOTSTRAP],
    sasl: { mechanism, username, password },
    logLevel: logLevel.NOTHING,
    retry: { retries: 2 },
  })

async function main() {
  const admin = client('plain', 'admin', 'admin-secret').admin()
  await admin.connect()
  const topics = await admin.listTopics()
  assert(topics.includes(TOPIC), `topics: ${topics}`)
  await admin.disconnect()
  log('admin (PLAIN) listed', topics.length, 'topics')

  const producer = client('scram-sha-512', 'bob', 'bob-secret').producer()
  await producer.connect()
  const [sent] = await producer.send({ topic: TOPIC, messages: [{ value: 'from-kafkajs' }] })
  await producer.disconnect()
  log('bob (SCRAM-SHA-512) produced at offset', sent.baseOffset)

  const consumer = client('scram-sha-256', 'alice', 'alice-secret').consumer({
    groupId: 'kafkajs-sasl',
  })
  await consumer.connect()
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true })
  const seen = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} records`)), 30000)
    consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString())
        if (message.value.toString() === 'from-kafkajs') {
          clearTimeout(timer)
          resolve()
        }
      },
    })
  })
  await consumer.disconnect()
  assert(seen.includes('kp-0') && seen.includes('ck-9'), `alice read ${seen}`)
  log('alice (SCRAM-SHA-256) read', seen.length, 'records in a group')

  const intruder = client('scram-sha-256', 'alice', 'wrong').admin()
  await assert.rejects(intruder.connect(), (e) => {
    assert.strictEqual(e.name, 'KafkaJSSASLAuthenticationError', `${e.name}: ${e.message}`)
    return true
  })
  log('a wrong password is refused')
  log('OK kafkajs sasl')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
