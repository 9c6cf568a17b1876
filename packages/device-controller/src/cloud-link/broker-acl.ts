// Who may do what on the cloud link broker (docs/cloud-link.md, "ACL"). A node's MQTT username is its
// node name; it may read only its own subtree and write only its own reports and presence. The
// controller's client, authenticated by a password only this process knows, may do everything.

import { createHash, timingSafeEqual } from 'node:crypto';
import { cloudTopics } from '@edgetwin/api';
import type { BrokerAuth } from '@edgetwin/eventbus/contracts';

export const CONTROLLER_USERNAME = 'edgetwin-controller';

// Kubernetes node names are DNS subdomains; anything else could smuggle topic wildcards or levels.
const NODE_NAME = /^[a-z0-9A-Z]([a-z0-9A-Z._-]{0,251}[a-z0-9A-Z])?$/;

export function isValidNodeName(name: string): boolean {
  return NODE_NAME.test(name) && name !== CONTROLLER_USERNAME;
}

export interface CloudLinkAclOptions {
  /** node -> password; absent = one-machine mode: any valid node name connects, confined to its own topics */
  nodeCredentials?: Record<string, string>;
  controllerPassword: string;
}

function sameSecret(a: string, b: Buffer): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export function cloudLinkAuth(opts: CloudLinkAclOptions): BrokerAuth {
  const creds = opts.nodeCredentials;
  for (const node of Object.keys(creds ?? {})) {
    if (!isValidNodeName(node))
      throw new Error(
        `cloud link: nodeCredentials has an invalid node name "${node}" (DNS name, not ${CONTROLLER_USERNAME})`,
      );
  }
  const nodePrefix = (node: string) => `${cloudTopics.root}/${node}/`;
  return {
    authenticate(_clientId, username, password) {
      if (username === undefined) return false;
      if (username === CONTROLLER_USERNAME)
        return password !== undefined && sameSecret(opts.controllerPassword, password);
      if (!isValidNodeName(username)) return false;
      if (!creds) return true;
      const expected = creds[username];
      return expected !== undefined && password !== undefined && sameSecret(expected, password);
    },
    authorizePublish(client, topic) {
      if (client.username === CONTROLLER_USERNAME) return true;
      const node = client.username;
      if (node === undefined || !isValidNodeName(node)) return false;
      return topic === cloudTopics.reports(node) || topic === cloudTopics.presence(node);
    },
    authorizeSubscribe(client, filter) {
      if (client.username === CONTROLLER_USERNAME) return true;
      const node = client.username;
      if (node === undefined || !isValidNodeName(node)) return false;
      // the prefix pins the node level, so wildcards after it cannot reach another node's subtree
      return filter.startsWith(nodePrefix(node));
    },
  };
}
