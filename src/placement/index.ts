export { fnv1a32, rendezvousNode } from './hash.js'
