// Who may do what on the edge broker (issue 10 §4, docs/security.md). KubeEdge's contract stays: apps
// connect anonymously on loopback and use the `$hw/events/...` API. The mapper-facing contract under
// `edgetwin/v1/` (retained device specs the next mapper obeys, write statuses, delta requests) belongs to
// the twin and the mappers: only the edge's service user may publish there, and no other client receives
// those topics, even through `#`. The service password is generated into the edge's data dir (0600),
// where in-process mappers and `edgetwin mapper --data-dir` processes on the same machine find it.
// With a user file (`edgetwin edge --auth`, edge-bus-users.ts), app users log in and each may use the `$hw`
// topics of its own device namespaces only; a name the file does not list is refused.
import { join } from 'node:path';
import { loadOrCreateSecret, readSecretFile, sameSecret } from '@edgetwin/api/secret-file';
import { filterCovers } from './acl-file.js';
import type { BrokerAuth } from './contracts.js';
import type { EdgeBusUser } from './edge-bus-users.js';
import { verifyPassword } from './password-hash.js';
import { topicMatches } from './topic-match.js';

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

/** The `$hw` subtree a namespace grant opens; `*` opens all of `$hw/events/` (devices and node membership). */
const grantedTree = (ns: string) => (ns === '*' ? '$hw/events/#' : `$hw/events/device/${ns}/#`);

export function edgeBusAuth(servicePassword: string, users?: ReadonlyMap<string, EdgeBusUser>): BrokerAuth {
  const isService = (c: { username?: string }) => c.username === EDGE_SERVICE_USER;
  /** the app user a client logged in as, if any (only names the file lists get past authenticate) */
  const app = (c: { username?: string }) => (c.username === undefined ? undefined : users?.get(c.username));
  const appMay = (user: EdgeBusUser, check: (tree: string) => boolean) =>
    [...user.namespaces].some((ns) => check(grantedTree(ns)));
  const anonymousMay = (topicOrFilter: string) => !topicOrFilter.startsWith(MAPPER_CONTRACT);
  return {
    async authenticate(_id, username, password) {
      // anonymous apps are welcome on the listeners that allow them (KubeEdge's contract, on loopback)
      if (username === undefined) return true;
      if (username === EDGE_SERVICE_USER)
        return password !== undefined && sameSecret(password.toString(), servicePassword);
      // without a user file, a user name is not checked and the client is treated as anonymous
      if (!users) return true;
      const user = users.get(username);
      return user !== undefined && password !== undefined && (await verifyPassword(user.password, password));
    },
    authorizePublish(client, topic) {
      if (isService(client)) return true;
      const user = app(client);
      return user ? appMay(user, (tree) => topicMatches(tree, topic)) : anonymousMay(topic);
    },
    // `#` stays allowed for debugging; authorizeRead keeps the contract's topics out of it
    authorizeSubscribe(client, filter) {
      if (isService(client)) return true;
      const user = app(client);
      return user ? appMay(user, (tree) => filterCovers(tree, filter)) : anonymousMay(filter);
    },
    authorizeRead(client, topic) {
      if (isService(client)) return true;
      const user = app(client);
      return user ? appMay(user, (tree) => topicMatches(tree, topic)) : anonymousMay(topic);
    },
  };
}
