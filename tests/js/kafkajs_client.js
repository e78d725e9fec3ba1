// kafkajs against a Myelin broker. kafkajs 2.2 speaks only non-flexible versions (Metadata
// up to v6, Produce up to v7, CreateTopics up to v3, DescribeConfigs up to v2 ...): a check
// that the broker keeps them.
//
// Admin: createTopics, listTopics, fetchTopicMetadata, describeConfigs, alterConfigs,
// createPartitions, fetchTopicOffsets, deleteTopicRecords, describeCluster, deleteTopics.
// Produce (gzip and uncompressed, keys, headers, a null value) to the topic `js-produced`,
// which is left for another client to read back (kafkajs consumers always join a group;
// kafkajs_group.js tests them).
//
// Usage: node kafkajs_client.js HOST:PORT. Prints `OK kafkajs` at the end; any failure
// exits non-zero.

const assert = require('assert')
const { Kafka, logLevel, CompressionTypes, ConfigResourceTypes } = require('kafkajs')

const BOOTSTRAP = process.argv[2]
const ADMIN_TOPIC = 'js-admin'
const PRODUCED_TOPIC = 'js-produced'
const N = 50

const log = (...args) => console.log(...args)

async function main() {
  const kafka = new Kafka({
    clientId: 'myelin-e2e-kafkajs',
    brokers: [BOOTSTRAP],
    logLevel: logLevel.WARN,
    retry: { retries: 3 },
  })
  const admin = kafka.admin()
  await admin.connect()

  // createTopics answers true when it created the topic, false when it existed.
  assert.strictEqual(
    await admin.createTopics({
      topics: [
        {
          topic: ADMIN_TOPIC,
          numPartitions: 2,
          replicationFactor: 1,
          configEntries: [{ name: 'retention.ms', value: '3600000' }],
        },
        { topic: PRODUCED_TOPIC, numPartitions: 1, replicationFactor: 1 },
      ],
    }),
    true,
  )
  assert.strictEqual(
    await admin.createTopics({ topics: [{ topic: ADMIN_TOPIC, numPartitions: 1 }] }),
    false,
  )
  const topics = await admin.listTopics()
  assert(topics.includes(ADMIN_TOPIC) && topics.includes(PRODUCED_TOPIC), `listTopics: ${topics}`)
  const metadata = await admin.fetchTopicMetadata({ topics: [ADMIN_TOPIC] })
  assert.strictEqual(metadata.topics.length, 1)
  assert.strictEqual(metadata.topics[0].partitions.length, 2)
  for (const p of metadata.topics[0].partitions) {
    assert.strictEqual(p.leader, 0, `leader of ${JSON.stringify(p)}`)
  }
  const cluster = await admin.describeCluster()
  assert.strictEqual(cluster.brokers.length, 1)
  assert(cluster.clusterId, 'a cluster id')
  log('admin: created, listed, metadata; cluster', cluster.clusterId)

  const describe = async () => {
    const { resources } = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: ADMIN_TOPIC }],
      includeSynonyms: false,
    })
    assert.strictEqual(resources.length, 1)
    assert.strictEqual(resources[0].errorCode, 0)
    return Object.fromEntries(resources[0].configEntries.map(e => [e.configName, e.configValue]))
  }
  let configs = await describe()
  assert.strictEqual(configs['retention.ms'], '3600000')
  await admin.alterConfigs({
    resources: [
      {
        type: ConfigResourceTypes.TOPIC,
        name: ADMIN_TOPIC,
        configEntries: [{ name: 'retention.bytes', value: '10485760' }],
      },
    ],
  })
  configs = await describe()
  assert.strictEqual(configs['retention.bytes'], '10485760')
  assert.strictEqual(configs['retention.ms'], '604800000', 'AlterConfigs replaces every override')
  await admin.createPartitions({ topicPartitions: [{ topic: ADMIN_TOPIC, count: 3 }] })
  const grown = await admin.fetchTopicMetadata({ topics: [ADMIN_TOPIC] })
  assert.strictEqual(grown.topics[0].partitions.length, 3)
  log('admin: configs described and altered, partitions added')

  // Produce to PRODUCED_TOPIC partition 0: records i = 0 .. 2N-1, the first N uncompressed,
  // the rest gzip. Another client reads them back.
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  for (const [batch, compression] of [
    [0, CompressionTypes.None],
    [1, CompressionTypes.GZIP],
  ]) {
    const messages = []
    for (let j = 0; j < N; j++) {
      const i = batch * N + j
      messages.push({
        partition: 0,
        key: `key-${i}`,
        value: i % 10 === 9 ? null : `kafkajs value ${i}`,
        headers: { i: `${i}`, client: 'kafkajs' },
      })
    }
    const result = await producer.send({ topic: PRODUCED_TOPIC, acks: -1, compression, messages })
    assert.strictEqual(result.length, 1)
    assert.strictEqual(result[0].errorCode, 0)
    assert.strictEqual(result[0].baseOffset, `${batch * N}`)
  }
  const five = [0, 1, 2, 3, 4].map(i => ({ partition: 0, value: `r${i}` }))
  await producer.send({ topic: ADMIN_TOPIC, acks: 1, messages: five })
  await producer.disconnect()
  const offsets = await admin.fetchTopicOffsets(PRODUCED_TOPIC)
  assert.deepStrictEqual(
    offsets.map(o => [o.partition, o.low, o.high]),
    [[0, '0', `${2 * N}`]],
  )
  log('produced', 2 * N, 'records')

  // ListOffsets by timestamp, DeleteRecords, DeleteTopics.
  const byTime = await admin.fetchTopicOffsetsByTimestamp(PRODUCED_TOPIC, Date.now() - 600000)
  assert.deepStrictEqual(byTime, [{ partition: 0, offset: '0' }])
  // deleteTopicRecords finds leaders in the admin's cached metadata, which holds only the
  // topics fetchTopicOffsets (not fetchTopicMetadata) registered.
  const before = await admin.fetchTopicOffsets(ADMIN_TOPIC)
  assert.deepStrictEqual(before.find(o => o.partition === 0), { partition: 0, offset: '5', high: '5', low: '0' })
  await admin.deleteTopicRecords({ topic: ADMIN_TOPIC, partitions: [{ partition: 0, offset: '3' }] })
  const trimmed = await admin.fetchTopicOffsets(ADMIN_TOPIC)
  assert.strictEqual(trimmed.find(o => o.partition === 0).low, '3')
  await admin.deleteTopics({ topics: [ADMIN_TOPIC] })
  const after = await admin.listTopics()
  assert(!after.includes(ADMIN_TOPIC), `deleted: ${after}`)
  assert(after.includes(PRODUCED_TOPIC), `kept: ${after}`)
  await admin.disconnect()
  log('admin: offsets, records deleted, topic deleted')
  console.log('OK kafkajs')
}

main().catch(e => {
  console.error('kafkajs failed:', e)
  process.exit(1)
})
