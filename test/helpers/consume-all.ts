import type { Client, ConsumerMessage } from '../../src/index.js'

/** Reads every message of `partitions` partitions from the beginning (native SDK, assign()) until `count` have come. */
export async function consumeAll(client: Client, topic: string, partitions: number, count: number): Promise<ConsumerMessage[]> {
  const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 100 })
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })))
  const messages: ConsumerMessage[] = []
  const timer = setTimeout(() => void consumer.close(), 60_000)
  for await (const message of consumer) {
    messages.push(message)
    if (messages.length >= count) break
  }
  clearTimeout(timer)
  await consumer.close()
  return messages
}
