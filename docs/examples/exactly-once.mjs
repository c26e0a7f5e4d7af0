// Exactly-once (consume-transform-produce): the output of each input batch and the input's
// offsets are committed in one transaction. A read_committed reader of the output sees every
// input record's output exactly once: a transaction that fails is aborted (its output never
// becomes visible, its offsets are not committed) and its records are read again; a restart
// with the same transactionalId fences the instance it replaces and carries on from the
// committed offsets. The first transaction here fails on purpose, to show the abort.
//
// Needs the cluster's transaction coordinator (actors/txn/).
//
//   npm start                                   # in another terminal: a development cluster
//   npm run build && node docs/examples/exactly-once.mjs
import { connect, seed } from './connect.mjs'

const input = process.argv[2] ?? 'payments-eos'
const output = `${input}-receipts`
const count = 30
const client = connect('example-exactly-once')
await seed(client, input, count)
const admin = client.admin()
if (!(await admin.listTopics()).includes(output)) await admin.createTopic({ name: output, partitions: 3, replicationFactor: 1 })

const groupId = `${input}-receipts`
// autoCommit off: offsets are committed inside the transactions only. read_committed: the
// input may itself be some transaction's output, of which only committed records count.
const consumer = client.consumer({ groupId, fromBeginning: true, autoCommit: false, isolation: 'read_committed' })
// One transactionalId per instance, the same across its restarts, so a restart fences the
// instance it replaces (and aborts whatever that one left open).
const producer = client.producer({ transactionalId: `${groupId}-0` })
await producer.initTransactions()
consumer.subscribe([input])

let processed = 0
let failOnPurpose = true
await consumer.run({
  eachBatch: async ({ batch }) => {
    const { topic, partition, messages } = batch
    const tx = await producer.transaction()
    try {
      await tx.send({ topic: output, messages: messages.map((m) => ({ key: m.key, value: `receipt for ${m.value}` })) })
      if (failOnPurpose) {
        failOnPurpose = false
        throw new Error('a failure before the commit, on purpose')
      }
      const next = messages[messages.length - 1].offset + 1
      // The consumer goes along so that a member that lost this partition in a rebalance is refused.
      await tx.sendOffsets({ consumerGroupId: groupId, offsets: [{ topic, partition, offset: next }], consumer })
      await tx.commit()
    } catch (error) {
      // Nothing of this transaction is visible or committed: read the batch again. (A fenced
      // producer's abort throws too: another instance took over, and this one stops.)
      console.log(`aborted ${messages.length} records of partition ${partition}: ${error.message}`)
      await tx.abort()
      consumer.seek({ topic, partition }, messages[0].offset)
      return
    }
    for (const m of messages) console.log(`processed ${m.value} (partition ${partition}, offset ${m.offset})`)
    processed += messages.length
    if (processed === count) setImmediate(() => void consumer.close())
  },
})
await producer.close()
await client.close()
