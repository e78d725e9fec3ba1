// kafkajs consumer groups against a Myelin broker (JoinGroup v0-5, SyncGroup, Heartbeat,
// OffsetCommit, OffsetFetch, LeaveGroup in their non-flexible versions).
//
// A topic of 3 partitions gets 10 records per partition. A first consumer in the group
// subscribes from the beginning, consumes all 30, commits the next offset of every
// partition (autoCommit off: commitOffsets) and disconnects (LeaveGroup); the admin's
// fetchOffsets shows the commits. Then 5 more records per partition are produced, and a
// second consumer of the same group must resume after the committed offsets: it sees
// exactly the 15 new records, nothing older.
//
// Usage: node kafkajs_group.js HOST:PORT. Prints `OK kafkajs group` at the end; any
// failure exits non-zero.

const assert = require('assert')
const { Kafka, logLevel } = require('kafkajs')

const BOOTSTRAP = process.argv[2]
const TOPIC = 'js-group'
const GROUP = 'js-group'
const PARTITIONS = 3
const TIMEOUT_MS = 60000

const log = (...args) => console.log(...args)
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

const kafka = new Kafka({
  clientId: 'myelin-e2e-kafkajs-group',
  brokers: [BOOTSTRAP],
  logLevel: logLevel.WARN,
  retry: { retries: 5 },
})

async function produce(admin, run, first, count) {
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  for (let p = 0; p < PARTITIONS; p++) {
    const messages = []
    for (let i = first; i < first + count; i++) {
      messages.push({ partition: p, key: `${run}-${p}-${i}`, value: `value ${i}` })
    }
    await producer.send({ topic: TOPIC, acks: -1, messages })
  }
  await producer.disconnect()
}

// Runs a consumer of GROUP until it has `n` records, then 2 s more (nothing else may
// come); commits the next offset of every partition it consumed and disconnects.
async function consumeAndCommit(n) {
  const consumer = kafka.consumer({ groupId: GROUP, sessionTimeout: 10000, heartbeatInterval: 500 })
  await consumer.connect()
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true })
  const got = []
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      got.push([partition, Number(message.offset), message.key.toString()])
    },
  })
  const deadline = Date.now() + TIMEOUT_MS
  while (got.length < n) {
    assert(Date.now() < deadline, `consumed ${got.length} of ${n} in ${TIMEOUT_MS} ms`)
    await sleep(100)
  }
  await sleep(2000)
  assert.strictEqual(got.length, n, `unexpected records: ${JSON.stringify(got.slice(n))}`)
  const next = new Map()
  for (const [p, o] of got) next.set(p, Math.max(next.get(p) ?? 0, o + 1))
  await consumer.commitOffsets(
    [...next].map(([partition, offset]) => ({ topic: TOPIC, partition, offset: `${offset}` })),
  )
  await consumer.disconnect()
  return got.sort((a, b) => a[0] - b[0] || a[1] - b[1])
}

async function committed(admin) {
  const [{ partitions }] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] })
  return partitions.map(p => [p.partition, p.offset]).sort((a, b) => a[0] - b[0])
}

function expected(run, first, count) {
  const out = []
  for (let p = 0; p < PARTITIONS; p++) {
    for (let i = first; i < first + count; i++) out.push([p, i, `${run}-${p}-${i}`])
  }
  return out
}

async function main() {
  const admin = kafka.admin()
  await admin.connect()
  assert.strictEqual(
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 1 }] }),
    true,
  )
  await produce(admin, 'first', 0, 10)

  assert.deepStrictEqual(await consumeAndCommit(30), expected('first', 0, 10))
  assert.deepStrictEqual(await committed(admin), [[0, '10'], [1, '10'], [2, '10']])
  log('run 1: consumed 30, committed 10 per partition')

  await produce(admin, 'second', 10, 5)
  assert.deepStrictEqual(
    await consumeAndCommit(15),
    expected('second', 10, 5),
    'run 2 did not resume after the committed offsets',
  )
  assert.deepStrictEqual(await committed(admin), [[0, '15'], [1, '15'], [2, '15']])
  log('run 2: resumed at offset 10 of each partition, consumed 15')

  const groups = await admin.describeGroups([GROUP])
  assert.strictEqual(groups.groups[0].state, 'Empty', JSON.stringify(groups))
  await admin.disconnect()
  console.log('OK kafkajs group')
}

main().catch(e => {
  console.error('kafkajs failed:', e)
  process.exit(1)
})
