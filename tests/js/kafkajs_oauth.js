// kafkajs with SASL/OAUTHBEARER against a Myelin broker that validates signed JWTs: it
// produces with a valid token from its oauthBearerProvider, and is refused with an expired
// one.
//
// Usage: node kafkajs_oauth.js HOST:PORT GOOD_TOKEN EXPIRED_TOKEN. Prints
// `OK kafkajs oauth` at the end; any failure exits non-zero.

const assert = require('assert')
const { Kafka, logLevel } = require('kafkajs')

const [BOOTSTRAP, GOOD, EXPIRED] = process.argv.slice(2)

const client = (token) =>
  new Kafka({
    clientId: 'kafkajs-oauth',
    brokers: [BOOTSTRAP],
    sasl: { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: token }) },
    logLevel: logLevel.NOTHING,
    retry: { retries: 1 },
  })

async function main() {
  const producer = client(GOOD).producer()
  await producer.connect()
  const [sent] = await producer.send({ topic: 'oauth-topic', messages: [{ value: 'from-kafkajs' }] })
  assert.strictEqual(sent.errorCode, 0)
  await producer.disconnect()
  console.log('kafkajs produced with a signed token')

  // kafkajs 2.2 reads the broker's error challenge as the end of the exchange; the broker
  // then closes the connection at its next request, so the refusal shows as a failed
  // connection.
  const refused = client(EXPIRED).producer()
  let error = null
  try {
    await refused.connect()
    await refused.send({ topic: 'oauth-topic', messages: [{ value: 'expired' }] })
  } catch (e) {
    error = e
  }
  assert(error !== null, 'an expired token was accepted')
  console.log('kafkajs refused with an expired token:', error.name)
  console.log('OK kafkajs oauth')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
