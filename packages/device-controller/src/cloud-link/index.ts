export { CONTROLLER_USERNAME, cloudLinkAuth, isValidNodeName } from './broker-acl.js';
export {
  type CloudLink,
  type CloudLinkOptions,
  type EmbeddedLinkBrokerOptions,
  type ExternalBrokerOptions,
  startCloudLink,
} from './cloud-link.js';
export { desiredDevice } from './desired-publisher.js';
export { CloudLinkMetrics } from './link-metrics.js';
