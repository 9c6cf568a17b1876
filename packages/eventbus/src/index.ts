import type { Registry } from 'prom-client';
import { type BusClientHooks, connectBus as connectBareBus } from './client.js';
import type { BusClient, BusClientOptions } from './contracts.js';
import { clientReconnectCounter } from './metrics.js';

export { AclFileError, type AclRules, aclAuth, filterCovers, parseAclFile, parsePasswordFile } from './acl-file.js';
export { type EmbeddedBroker, type EmbeddedBrokerOptions, startBroker } from './broker.js';
export { backoffDelay, type BusClientHooks, describeConnectError } from './client.js';
export type * from './contracts.js';
export { BusError } from './errors.js';
export { DEFAULT_MAX_PACKET_BYTES } from './packet-guard.js';
export { brokerMetrics, clientReconnectCounter, metricsRegistry } from './metrics.js';
export { effectiveFilter, filterProblem, topicMatches, topicProblem } from './topic-match.js';

/**
 * connectBus from `./client.js`, plus counting reconnect attempts in Prometheus
 * (`registry` option, default metricsRegistry). Mapper processes that want the bare client
 * import `@edgetwin/eventbus/client` instead.
 */
export function connectBus(opts: BusClientOptions & BusClientHooks & { registry?: Registry }): Promise<BusClient> {
  const reconnects = clientReconnectCounter(opts.registry);
  const { registry: _registry, ...rest } = opts;
  return connectBareBus({
    ...rest,
    onReconnectAttempt(attempt, delayMs) {
      reconnects.inc();
      opts.onReconnectAttempt?.(attempt, delayMs);
    },
  });
}
