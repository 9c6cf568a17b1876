// Who may do what on the edge broker (issue 10 §4, docs/security.md). KubeEdge's contract stays: apps
// connect anonymously on loopback and use the `$hw/events/...` API. The mapper-facing contract under
// `edgetwin/v1/` (retained device specs the next mapper obeys, write statuses, delta requests) belongs to
// the twin and the mappers: only the edge's service user may publish there, and no other client receives
// those topics, even through `#`. The service password is generated into the edge's data dir (0600),
// where in-process mappers and `edgetwin mapper --data-dir` processes on the same machine find it.
import { join } from 'node:path';
import { loadOrCreateSecret, readSecretFile, sameSecret } from '@edgetwin/api/secret-file';
import type { BrokerAuth } from './contracts.js';

/** The MQTT user of the twin and the mappers. */
export const EDGE_SERVICE_USER = 'edgetwin-service';
const MAPPER_CONTRACT = 'edgetwin/v1/';

export const edgeServiceSecretFile = (dataDir: string, node: string) => join(dataDir, `edge-bus-service-${node}`);

/** The service password of a node's edge broker, created on first use. */
export function loadOrCreateEdgeServicePassword(dataDir: string, node: string): string {
  return loadOrCreateSecret(edgeServiceSecretFile(dataDir, node), 'edge bus service password').secret;
}

export function readEdgeServicePassword(dataDir: string, node: string): string {
  return readSecretFile(edgeServiceSecretFile(dataDir, node), 'edge bus service password');
}

export function edgeBusAuth(servicePassword: string): BrokerAuth {
  const isService = (c: { username?: string }) => c.username === EDGE_SERVICE_USER;
  return {
    // anonymous apps are welcome (KubeEdge's contract); the service name only with its password
    authenticate: (_id, username, password) =>
      username !== EDGE_SERVICE_USER || (password !== undefined && sameSecret(password.toString(), servicePassword)),
    authorizePublish: (client, topic) => isService(client) || !topic.startsWith(MAPPER_CONTRACT),
    // `#` stays allowed for debugging; authorizeRead keeps the contract's topics out of it
    authorizeSubscribe: (client, filter) => isService(client) || !filter.startsWith(MAPPER_CONTRACT),
    authorizeRead: (client, topic) => isService(client) || !topic.startsWith(MAPPER_CONTRACT),
  };
}
