// The package's public surface: `import { ... } from 'skein'`.
export { startNode, staticDirectory, SkeinNode, type NodeConfig, type NodeHooks } from './node.js'
export * from './actor/index.js'
export * from './wire/index.js'
export type { Env, Clock, Random, Disk, Net, Logger } from './env/index.js'
export * from './client/index.js'
export type { CompressionName } from './log/record-batch.js'
