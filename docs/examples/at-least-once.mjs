// At-least-once (the default): process a record, then commit it. A crash between the two
// means the record is processed again by whoever takes the partition over, never lost.
//
//   npm start                                   # in another terminal: a development cluster
//   npm run build && node docs/examples/at-least-once.mjs
import { connect, seed } from './connect.mjs'

const topic = process.argv[2] ?? 'payments-alo'
const count = 30
const client = connect('example-at-least-once')
await seed(client, topic, count)

// autoCommit (the default) commits what the handler finished, every autoCommitIntervalMs, before
// partitions are taken away in a rebalance, and on close: processed positions only.
const consumer = client.consumer({ groupId: `${topic}-processors`, fromBeginning: true })
consumer.subscribe([topic], { onAssigned: (partitions) => console.log('assigned', partitions.map((p) => p.partition).join(',')) })
let processed = 0
await consumer.run({
  eachMessage: async ({ partition, message }) => {
    console.log(`processed ${message.value} (partition ${partition}, offset ${message.offset})`) // the side effect
    processed++
    // Close once this handler has returned (the record then counts as processed): close()
    // commits every processed record and leaves the group.
    if (processed === count) setImmediate(() => void consumer.close())
  },
})
await client.close()
