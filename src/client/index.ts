export { BrokerClient, type BrokerClientConfig } from './broker-client.js'
