// kafkajs idempotent and transactional producers against a Myelin broker (InitProducerId,
// AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn, all in kafkajs's
// non-flexible versions).
//
// 1. An idempotent producer (`idempotent: true`) writes records i = 0 .. 29 to
//    `js-idempotent` partition 0 (values `idempotent i`) in three sends.
// 2. A transactional producer writes to `js-txn` partition 0, in order: transaction
//    `commit1` (committed), `abort2` (aborted), `commit3` (committed, with offset 7 of
//    `js-txn-input` partition 0 sent for the group `js-txn-group`), five records each,
//    values `<txn>-<i>`; then an aborted transaction sends offset 99 for the same group.
//    Another client (kcat, read_committed and read_uncommitted) reads them back.
//
// Usage: node kafkajs_txn.js HOST:PORT. Prints `OK kafkajs transactions` at the end; any
// failure exits non-zero.

const assert = require('assert')
const { Kafka, logLevel } = require('kafkajs')

const BOOTSTRAP = process.argv[2]
const log = (...args) => console.log(...args)

async function main() {
  const kafka = new Kafka({
    clientId: 'myelin-e2e-kafkajs-txn',
    brokers: [BOOTSTRAP],
    logLevel: logLevel.WARN,
  })
  const admin = kafka.admin()
  await admin.connect()
  assert.strictEqual(
    await admin.createTopics({
      topics: [
        { topic: 'js-idempotent', numPartitions: 1 },
        { topic: 'js-txn', numPartitions: 1 },
        { topic: 'js-txn-input', numPartitions: 1 },
      ],
    }),
    true,
  )

  const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await idempotent.connect()
  for (let send = 0; send < 3; send++) {
    const messages = []
    for (let j = 0; j < 10; j++) {
      const i = send * 10 + j
      messages.push({ partition: 0, key: `k${i}`, value: `idempotent ${i}` })
    }
    const result = await idempotent.send({ topic: 'js-idempotent', acks: -1, messages })
    assert.strictEqual(result[0].errorCode, 0)
    assert.strictEqual(result[0].baseOffset, `${send * 10}`)
  }
  await idempotent.disconnect()
  log('idempotent producer: 30 records')

  const producer = kafka.producer({
    transactionalId: 'js-txn-producer',
    idempotent: true,
    maxInFlightRequests: 1,
  })
  await producer.connect()
  const records = txn => [0, 1, 2, 3, 4].map(i => ({ partition: 0, key: `${txn}-${i}`, value: `${txn}-${i}` }))
  const offsets = offset => ({
    consumerGroupId: 'js-txn-group',
    topics: [{ topic: 'js-txn-input', partitions: [{ partition: 0, offset: `${offset}` }] }],
  })

  let txn = await producer.transaction()
  await txn.send({ topic: 'js-txn', messages: records('commit1') })
  await txn.commit()

  txn = await producer.transaction()
  await txn.send({ topic: 'js-txn', messages: records('abort2') })
  await txn.abort()

  txn = await producer.transaction()
  await txn.send({ topic: 'js-txn', messages: records('commit3') })
  await txn.sendOffsets(offsets(7))
  await txn.commit()

  txn = await producer.transaction()
  await txn.sendOffsets(offsets(99))
  await txn.abort()
  await producer.disconnect()
  log('transactions: committed, aborted, committed with offsets, aborted with offsets')

  const fetched = await admin.fetchOffsets({ groupId: 'js-txn-group', topics: ['js-txn-input'] })
  assert.deepStrictEqual(fetched, [
    { topic: 'js-txn-input', partitions: [{ partition: 0, offset: '7', metadata: null }] },
  ])
  await admin.disconnect()
  console.log('OK kafkajs transactions')
}

main().catch(e => {
  console.error('kafkajs failed:', e)
  process.exit(1)
})
