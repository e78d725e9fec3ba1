// kafkajs against a Myelin broker's SSL listener, after tests/python/tls_clients.py has
// written 15 records to `tls-topic`: produce one more, verifying the broker's certificate
// against the CA file given, and list the topics with the admin client.
//
// Usage: node kafkajs_tls.js HOST:PORT CA.pem. Prints `OK kafkajs tls` at the end; any
// failure exits non-zero.

const assert = require('assert')
const fs = require('fs')
const { Kafka, logLevel } = require('kafkajs')

const [BOOTSTRAP, CA] = process.argv.slice(2)

async function main() {
  const kafka = new Kafka({
    clientId: 'kafkajs-tls',
    brokers: [BOOTSTRAP],
    ssl: { ca: [fs.readFileSync(CA)] },
    logLevel: logLevel.NOTHING,
    retry: { retries: 2 },
  })
  const admin = kafka.admin()
  await admin.connect()
  assert((await admin.listTopics()).includes('tls-topic'))
  await admin.disconnect()
  const producer = kafka.producer()
  await producer.connect()
  const [sent] = await producer.send({ topic: 'tls-topic', messages: [{ value: 'from-kafkajs' }] })
  await producer.disconnect()
  assert.strictEqual(sent.baseOffset, '15')
  console.log('kafkajs produced at offset 15 over TLS')
  console.log('OK kafkajs tls')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
