// Shared by the examples: a Client for the development cluster of `npm start` (its secret in
// data/cluster-secret), or for SKEIN_SEEDS / SKEIN_CLUSTER_ID / SKEIN_CLUSTER_SECRET.
import { existsSync, readFileSync } from 'node:fs'
import { Client } from 'skein'

export function connect(clientId) {
  const secretFile = 'data/cluster-secret'
  const clusterSecret = process.env.SKEIN_CLUSTER_SECRET ?? (existsSync(secretFile) ? readFileSync(secretFile, 'utf8').trim() : undefined)
  return new Client({
    seeds: (process.env.SKEIN_SEEDS ?? '127.0.0.1:7071').split(','),
    clientId,
    ...(process.env.SKEIN_CLUSTER_ID === undefined ? {} : { clusterId: process.env.SKEIN_CLUSTER_ID }),
    ...(clusterSecret === undefined ? {} : { clusterSecret }),
  })
}

/** Creates `topic` unless it exists, and writes `count` records to it: "payment-0", "payment-1", ... */
export async function seed(client, topic, count) {
  const admin = client.admin()
  if (!(await admin.listTopics()).includes(topic)) await admin.createTopic({ name: topic, partitions: 3, replicationFactor: 1 })
  const producer = client.producer({ acks: 'all', idempotent: true })
  await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ key: `account-${i % 5}`, value: `payment-${i}` })) })
  await producer.close()
}
