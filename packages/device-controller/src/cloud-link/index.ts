export { CONTROLLER_USERNAME, cloudLinkAuth, edgeClientId, isValidNodeName } from './broker-acl.js';
export {
  DEFAULT_JOIN_TTL_MS,
  type NodeRecord,
  NodeRegistry,
  NodeRegistryError,
  staticNodes,
} from './node-registry.js';
export {
  type CloudLink,
  type CloudLinkOptions,
  type EmbeddedLinkBrokerOptions,
  type ExternalBrokerOptions,
  startCloudLink,
} from './cloud-link.js';
export { desiredDevice } from './desired-publisher.js';
export { CloudLinkMetrics } from './link-metrics.js';
