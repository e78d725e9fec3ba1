// @kafkajs/confluent-schema-registry and kafkajs against Myelin's embedded schema registry
// (Confluent's REST API) and its broker-side schema ID validation.
//
// 1. An Avro record schema `org.myelin.js.Referral` is registered under `referrals-value`
//    (register also reads and sets /config/referrals-value); registering it again gives the
//    same id; getLatestSchemaId, getRegistryId (version 1) and getRegistryIdBySchema agree;
//    a fresh client's getSchema(id) (GET /schemas/ids/{id}) is a working Avro type.
// 2. The topic `referrals` is created with `confluent.value.schema.validation=true`.
// 3. Five records whose values are registry.encode(id, ...) are produced and consumed back
//    (a consumer group, from the beginning); a fresh client decodes each to what was sent,
//    in order.
// 4. The broker refuses, with INVALID_RECORD (87), a raw JSON value and a value in the
//    wire format whose schema id is not registered; a tombstone (null value) passes.
// 5. A backward-incompatible evolution (a new field without a default) is refused with 409
//    and changes nothing; a compatible one (a new field with a default) gets a higher id;
//    its records pass the broker; a second group reads the whole topic back: the five
//    records, the tombstone and the new ones, nothing refused in between; old records
//    decode with the new schema as reader (the default filled in).
// 6. A JSON Schema registered under `js-visits-value` round-trips encode/decode (a fresh
//    client decodes it from GET /schemas/ids/{id}); an invalid payload is not encoded; the
//    broker refuses a `referrals` record carrying that id (another subject's).
//
// Usage: node kafkajs_schema_registry.js HOST:PORT REGISTRY_URL. Prints
// `OK kafkajs schema registry` at the end; any failure exits non-zero.

const assert = require('assert')
const { Kafka, logLevel } = require('kafkajs')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

const BOOTSTRAP = process.argv[2]
const REGISTRY_URL = process.argv[3]
const TOPIC = 'referrals'
const SUBJECT = 'referrals-value'
const JSON_SUBJECT = 'js-visits-value'
const TIMEOUT_MS = 60000

const log = (...args) => console.log(...args)
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

const kafka = new Kafka({
  clientId: 'myelin-e2e-kafkajs-registry',
  brokers: [BOOTSTRAP],
  logLevel: logLevel.WARN,
  retry: { retries: 3 },
})
// For the producer whose sends the broker must refuse: kafkajs logs every failed send at
// ERROR level, which would be noise here.
const quietKafka = new Kafka({
  clientId: 'myelin-e2e-kafkajs-registry-refused',
  brokers: [BOOTSTRAP],
  logLevel: logLevel.NOTHING,
  retry: { retries: 0 },
})

// A new client has an empty cache: its getSchema/decode fetch GET /schemas/ids/{id}.
const newRegistry = () =>
  new SchemaRegistry({ host: REGISTRY_URL, clientId: 'myelin-e2e-kafkajs-registry', retry: { retries: 0 } })

const referralV1 = {
  type: 'record',
  name: 'Referral',
  namespace: 'org.myelin.js',
  fields: [
    { name: 'code', type: 'string' },
    { name: 'referrer', type: 'string' },
    { name: 'points', type: 'int' },
  ],
}
const withField = field => ({ ...referralV1, fields: [...referralV1.fields, field] })
const referralBad = withField({ name: 'channel', type: 'string' })
const referralV2 = withField({ name: 'channel', type: 'string', default: 'web' })
const avro = schema => ({ type: SchemaType.AVRO, schema: JSON.stringify(schema) })

const visitsSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Visits',
  type: 'object',
  properties: {
    page: { type: 'string' },
    visits: { type: 'integer', minimum: 0 },
    tags: { type: 'array', items: { type: 'string' } },
  },
  required: ['page', 'visits'],
  additionalProperties: false,
}

// The Confluent wire format: magic byte 0, the schema id (big-endian int32), the payload.
function assertWireFormat(buffer, id) {
  assert(Buffer.isBuffer(buffer), 'encode gives a Buffer')
  assert.strictEqual(buffer[0], 0, 'magic byte')
  assert.strictEqual(buffer.readInt32BE(1), id, 'schema id in the wire format')
  assert(buffer.length > 5, 'a payload after the header')
}

// A send that the broker must refuse with INVALID_RECORD (87). kafkajs knows that code as
// not retriable: the producer bails at once and the send rejects with the broker's error
// itself, a KafkaJSProtocolError of type INVALID_RECORD.
async function assertRefused(producer, value, what) {
  let error
  try {
    const result = await producer.send({ topic: TOPIC, acks: -1, messages: [{ key: 'refused', value }] })
    assert.fail(`${what}: the broker accepted it: ${JSON.stringify(result)}`)
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e
    error = e
  }
  const detail = `${what}: ${error.name} ${error.type}: ${error.message}`
  assert.strictEqual(error.name, 'KafkaJSProtocolError', detail)
  assert.strictEqual(error.type, 'INVALID_RECORD', detail)
  assert.strictEqual(error.code, 87, detail)
  assert.strictEqual(error.retriable, false, detail)
}

// Consumes TOPIC with a new group from the beginning until `n` records, then 2 s more
// (nothing else may come). Returns [offset, key, value Buffer or null] in offset order.
async function consumeAll(groupId, n) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500 })
  await consumer.connect()
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true })
  const got = []
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      assert.strictEqual(partition, 0)
      got.push([Number(message.offset), message.key.toString(), message.value])
    },
  })
  const deadline = Date.now() + TIMEOUT_MS
  while (got.length < n) {
    assert(Date.now() < deadline, `consumed ${got.length} of ${n} records in ${TIMEOUT_MS} ms`)
    await sleep(100)
  }
  await sleep(2000)
  await consumer.disconnect()
  assert.strictEqual(got.length, n, `unexpected records: ${JSON.stringify(got.slice(n))}`)
  return got.sort((a, b) => a[0] - b[0])
}

async function main() {
  assert(BOOTSTRAP && REGISTRY_URL, 'usage: node kafkajs_schema_registry.js HOST:PORT REGISTRY_URL')
  const registry = newRegistry()

  // 1. Register the Avro schema.
  const registered = await registry.register(avro(referralV1), { subject: SUBJECT })
  const id = registered.id
  assert(Number.isInteger(id) && id > 0, `register: ${JSON.stringify(registered)}`)
  // The first registration of a subject sets its compatibility (PUT /config/{subject}); the
  // next one reads it back (GET /config/{subject}) and must find BACKWARD.
  const config = (await registry.api.Subject.config({ subject: SUBJECT })).data()
  assert.deepStrictEqual(config, { compatibilityLevel: 'BACKWARD' })
  assert.deepStrictEqual(await registry.register(avro(referralV1), { subject: SUBJECT }), { id })
  assert.strictEqual(await registry.getLatestSchemaId(SUBJECT), id)
  assert.strictEqual(await registry.getRegistryId(SUBJECT, 1), id)
  assert.strictEqual(await registry.getRegistryIdBySchema(SUBJECT, avro(referralV1)), id)
  const fetched = await newRegistry().getSchema(id)
  assert.strictEqual(fetched.name, 'org.myelin.js.Referral')
  assert.deepStrictEqual(fetched.fields.map(f => f.name), ['code', 'referrer', 'points'])
  const sample = { code: 'R-0', referrer: 'alice', points: 10 }
  assert(fetched.isValid(sample), 'getSchema: a valid record')
  assert(!fetched.isValid({ code: 'R-0', referrer: 'alice', points: 'ten' }), 'getSchema: an invalid record')
  assert.deepStrictEqual({ ...fetched.fromBuffer(fetched.toBuffer(sample)) }, sample)
  log(`avro: ${SUBJECT} version 1 is schema id ${id}`)

  // 2. The topic, with broker-side schema ID validation of values.
  const admin = kafka.admin()
  await admin.connect()
  assert.strictEqual(
    await admin.createTopics({
      topics: [
        {
          topic: TOPIC,
          numPartitions: 1,
          replicationFactor: 1,
          configEntries: [{ name: 'confluent.value.schema.validation', value: 'true' }],
        },
      ],
    }),
    true,
  )
  await admin.disconnect()
  log(`topic ${TOPIC}: created with confluent.value.schema.validation=true`)

  // 3. Five encoded records, produced and consumed back.
  const v1Records = [0, 1, 2, 3, 4].map(i => ({ code: `R-${i}`, referrer: `user${i}`, points: 10 * i + 1 }))
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  const messages = []
  for (let i = 0; i < v1Records.length; i++) {
    const value = await registry.encode(id, v1Records[i])
    assertWireFormat(value, id)
    messages.push({ key: `v1-${i}`, value })
  }
  let result = await producer.send({ topic: TOPIC, acks: -1, messages })
  assert.strictEqual(result.length, 1)
  assert.strictEqual(result[0].errorCode, 0)
  assert.strictEqual(result[0].baseOffset, '0')
  const firstRead = await consumeAll('js-schema-registry-1', 5)
  const decoder = newRegistry()
  for (let i = 0; i < 5; i++) {
    const [offset, key, value] = firstRead[i]
    assert.strictEqual(offset, i)
    assert.strictEqual(key, `v1-${i}`)
    assertWireFormat(value, id)
    assert.deepStrictEqual({ ...(await decoder.decode(value)) }, v1Records[i], `record ${i}`)
  }
  log('produced 5 Avro records, consumed and decoded them in order')

  // 4. What the broker refuses, and a tombstone it accepts.
  const refusing = quietKafka.producer({ allowAutoTopicCreation: false, retry: { retries: 0 } })
  await refusing.connect()
  await assertRefused(refusing, JSON.stringify({ code: 'R-x', referrer: 'mallory', points: 1 }), 'a raw JSON value')
  const unknownId = 0x7fff0000
  const validPayload = (await registry.encode(id, v1Records[0])).subarray(5)
  const unknown = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0, 0]), validPayload])
  assertWireFormat(unknown, unknownId)
  await assertRefused(refusing, unknown, `schema id ${unknownId}, never registered`)
  result = await producer.send({ topic: TOPIC, acks: -1, messages: [{ key: 'tombstone', value: null }] })
  assert.strictEqual(result[0].errorCode, 0)
  assert.strictEqual(result[0].baseOffset, '5')
  log('broker: raw JSON and an unregistered schema id refused with INVALID_RECORD, a tombstone accepted')

  // 5. Evolution: an incompatible schema is refused, a compatible one gets a new id.
  const compatible = async schema =>
    (await registry.api.Subject.compatible({ subject: SUBJECT, body: { schema: JSON.stringify(schema) } })).data()
  assert.deepStrictEqual(await compatible(referralBad), { is_compatible: false })
  assert.deepStrictEqual(await compatible(referralV2), { is_compatible: true })
  let refusal
  try {
    refusal = await registry.register(avro(referralBad), { subject: SUBJECT })
  } catch (e) {
    refusal = e
  }
  assert(refusal instanceof Error, `an incompatible schema was registered: ${JSON.stringify(refusal)}`)
  // The library passes the registry's HTTP error through its ResponseError (status, and
  // the registry's `message`).
  assert.strictEqual(refusal.name, 'ResponseError', `${refusal.name}: ${refusal.message}`)
  assert.strictEqual(refusal.status, 409, `${refusal.name}: ${refusal.message}`)
  assert.strictEqual(refusal.url, `post ${REGISTRY_URL}/subjects/${SUBJECT}/versions`)
  assert.match(refusal.message, /incompatible/i)
  assert.strictEqual(await registry.getLatestSchemaId(SUBJECT), id, 'the refused schema changed the subject')

  const { id: id2 } = await registry.register(avro(referralV2), { subject: SUBJECT })
  assert(Number.isInteger(id2) && id2 > id, `the evolved schema's id ${id2} (first ${id})`)
  assert.strictEqual(await registry.getLatestSchemaId(SUBJECT), id2)
  assert.strictEqual(await registry.getRegistryId(SUBJECT, 2), id2)
  assert.strictEqual(await registry.getRegistryId(SUBJECT, 1), id)
  const v2Records = [5, 6, 7].map(i => ({ code: `R-${i}`, referrer: `user${i}`, points: 10 * i + 1, channel: `ch${i}` }))
  const v2Messages = []
  for (let i = 0; i < v2Records.length; i++) {
    const value = await registry.encode(id2, v2Records[i])
    assertWireFormat(value, id2)
    v2Messages.push({ key: `v2-${i}`, value })
  }
  result = await producer.send({ topic: TOPIC, acks: -1, messages: v2Messages })
  assert.strictEqual(result[0].errorCode, 0)
  assert.strictEqual(result[0].baseOffset, '6')

  // Everything in the topic: 5 v1 records, the tombstone, 3 v2 records; nothing refused.
  const all = await consumeAll('js-schema-registry-2', 9)
  assert.deepStrictEqual(
    all.map(([offset, key]) => [offset, key]),
    [0, 1, 2, 3, 4, 5, 6, 7, 8].map(o => [o, o < 5 ? `v1-${o}` : o === 5 ? 'tombstone' : `v2-${o - 6}`]),
  )
  assert.strictEqual(all[5][2], null, 'the tombstone')
  const reader = newRegistry()
  for (let i = 0; i < 5; i++) {
    assertWireFormat(all[i][2], id)
    assert.deepStrictEqual({ ...(await reader.decode(all[i][2])) }, v1Records[i])
    // Read with the evolved schema: the default fills the new field.
    assert.deepStrictEqual(
      { ...(await reader.decode(all[i][2], { [SchemaType.AVRO]: { readerSchema: referralV2 } })) },
      { ...v1Records[i], channel: 'web' },
    )
  }
  for (let i = 0; i < 3; i++) {
    assertWireFormat(all[6 + i][2], id2)
    assert.deepStrictEqual({ ...(await reader.decode(all[6 + i][2])) }, v2Records[i])
  }
  log(`evolution: incompatible schema refused (409: ${refusal.message}); compatible one is schema id ${id2}; all 9 records read back`)

  // 6. JSON Schema.
  const { id: jsonId } = await registry.register(
    { type: SchemaType.JSON, schema: JSON.stringify(visitsSchema) },
    { subject: JSON_SUBJECT },
  )
  assert(Number.isInteger(jsonId) && ![id, id2].includes(jsonId), `JSON schema id ${jsonId}`)
  assert.strictEqual(await registry.getLatestSchemaId(JSON_SUBJECT), jsonId)
  const visit = { page: '/pricing', visits: 3, tags: ['campaign', 'mobile'] }
  const encodedVisit = await registry.encode(jsonId, visit)
  assertWireFormat(encodedVisit, jsonId)
  assert.deepStrictEqual(JSON.parse(encodedVisit.subarray(5).toString()), visit)
  assert.deepStrictEqual(await newRegistry().decode(encodedVisit), visit)
  let invalid
  try {
    invalid = await registry.encode(jsonId, { page: '/pricing', visits: -1 })
  } catch (e) {
    invalid = e
  }
  assert(invalid instanceof Error, `an invalid payload was encoded: ${JSON.stringify(invalid)}`)
  assert.strictEqual(invalid.name, 'ConfluentSchemaRegistryValidationError', `${invalid.name}: ${invalid.message}`)
  // That id is registered, but under another subject than `referrals-value`.
  await assertRefused(refusing, encodedVisit, `schema id ${jsonId} of ${JSON_SUBJECT}`)
  await refusing.disconnect()
  await producer.disconnect()
  log(`json: ${JSON_SUBJECT} is schema id ${jsonId}; encoded, decoded, validated; refused on ${TOPIC}`)

  console.log('OK kafkajs schema registry')
}

main().catch(e => {
  console.error('kafkajs schema registry failed:', e)
  process.exit(1)
})
