// kafkajs against a Myelin broker with the authorizer on, after tests/python/
// acl_clients.py has created the topic `acl-orders` and its ACLs (alice may write it; bob's
// READ ACL has been deleted).
//
// As admin (a super user), kafkajs's admin client creates an ACL letting bob WRITE
// `acl-orders`, finds it with describeAcls, and bob then produces; after deleteAcls, bob's
// next produce fails with TOPIC_AUTHORIZATION_FAILED. As alice, createAcls is refused with
// CLUSTER_AUTHORIZATION_FAILED.
//
// Usage: node kafkajs_acl.js HOST:PORT. Prints `OK kafkajs acl` at the end; any failure
// exits non-zero.

const assert = require('assert')
const { Kafka, logLevel, AclResourceTypes, AclOperationTypes, AclPermissionTypes,
  ResourcePatternTypes } = require('kafkajs')

const BOOTSTRAP = process.argv[2]
const TOPIC = 'acl-orders'

const log = (...args) => console.log(...args)

const client = (username) =>
  new Kafka({
    clientId: `kafkajs-${username}`,
    brokers: [BOOTSTRAP],
    sasl: { mechanism: 'plain', username, password: `${username}-secret` },
    logLevel: logLevel.NOTHING,
    retry: { retries: 1 },
  })

const bobWrite = {
  resourceType: AclResourceTypes.TOPIC,
  resourceName: TOPIC,
  resourcePatternType: ResourcePatternTypes.LITERAL,
  principal: 'User:bob',
  host: '*',
  operation: AclOperationTypes.WRITE,
  permissionType: AclPermissionTypes.ALLOW,
}

async function produceAsBob(value) {
  const producer = client('bob').producer()
  await producer.connect()
  try {
    return await producer.send({ topic: TOPIC, messages: [{ value }] })
  } finally {
    await producer.disconnect()
  }
}

async function main() {
  const admin = client('admin').admin()
  await admin.connect()
  await admin.createAcls({ acl: [bobWrite] })
  const described = await admin.describeAcls({
    resourceType: AclResourceTypes.TOPIC,
    resourceName: TOPIC,
    resourcePatternType: ResourcePatternTypes.LITERAL,
    principal: 'User:bob',
    operation: AclOperationTypes.ANY,
    permissionType: AclPermissionTypes.ANY,
  })
  assert.strictEqual(described.resources.length, 1, JSON.stringify(described))
  assert.deepStrictEqual(
    described.resources[0].acls.map((a) => [a.principal, a.operation, a.permissionType]),
    [['User:bob', AclOperationTypes.WRITE, AclPermissionTypes.ALLOW]]
  )
  log('admin created and described bob\'s WRITE ACL')

  const [sent] = await produceAsBob('from-bob')
  assert.strictEqual(sent.errorCode, 0)
  log('bob produced at offset', sent.baseOffset)

  const deleted = await admin.deleteAcls({ filters: [bobWrite] })
  assert.strictEqual(deleted.filterResponses[0].errorCode, 0)
  assert.strictEqual(deleted.filterResponses[0].matchingAcls.length, 1)
  await admin.disconnect()
  await assert.rejects(produceAsBob('refused'), (e) =>
    e.type === 'TOPIC_AUTHORIZATION_FAILED' ||
    (e.originalError && e.originalError.type === 'TOPIC_AUTHORIZATION_FAILED') ||
    /TOPIC_AUTHORIZATION_FAILED|not authorized to access topics/i.test(String(e))
  )
  log('bob refused after deleteAcls')

  const alice = client('alice').admin()
  await alice.connect()
  await assert.rejects(alice.createAcls({ acl: [{ ...bobWrite, principal: 'User:alice' }] }), (e) =>
    /CLUSTER_AUTHORIZATION_FAILED|Cluster authorization failed/i.test(String(e.type || e))
  )
  await alice.disconnect()
  log('alice may not create ACLs')
  log('OK kafkajs acl')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
