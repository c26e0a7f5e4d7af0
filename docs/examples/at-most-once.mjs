// At-most-once: commit a record before processing it. A crash between the two means the
// record is skipped by whoever takes the partition over, never processed twice.
//
//   npm start                                   # in another terminal: a development cluster
//   npm run build && node docs/examples/at-most-once.mjs
import { connect, seed } from './connect.mjs'

const topic = process.argv[2] ?? 'payments-amo'
const count = 30
const client = connect('example-at-most-once')
await seed(client, topic, count)

const consumer = client.consumer({ groupId: `${topic}-notifiers`, fromBeginning: true, autoCommit: false })
consumer.subscribe([topic])
let processed = 0
await consumer.run({
  eachMessage: async ({ topic, partition, message }) => {
    await consumer.commit([{ topic, partition, offset: message.offset + 1 }]) // first: the group moves past it
    console.log(`processed ${message.value} (partition ${partition}, offset ${message.offset})`) // then the side effect
    processed++
    if (processed === count) void consumer.close()
  },
})
await client.close()
