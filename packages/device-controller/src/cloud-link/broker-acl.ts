// Who may do what on the cloud link broker (docs/cloud-link.md, docs/security.md). A node's MQTT username
// is its node name and its client id is `edgetwin-edge-<node>` (`.` as `~`): the broker refuses any other id for that
// user, so no one can take over another node's session (or the controller's) by reusing its id. A node may
// read only its own subtree and write only its own reports and presence. The controller's client,
// authenticated by a password only this process knows, is the only one with id `edgetwin-controller`.

import { cloudTopics, edgeClientId, isNodeName } from '@edgetwin/api';
import { sameSecret } from '@edgetwin/api/secret-file';
import type { BrokerAuth } from '@edgetwin/eventbus/contracts';
import type { NodeAuthenticator } from './node-registry.js';

export const CONTROLLER_USERNAME = 'edgetwin-controller';
export const CONTROLLER_CLIENT_ID = 'edgetwin-controller';

/** The one client id a node may use (defined beside the link's topics, which both ends share). */
export { edgeClientId };

export function isValidNodeName(name: string): boolean {
  return isNodeName(name) && name !== CONTROLLER_USERNAME;
}

export interface CloudLinkAclOptions {
  /** who the nodes are; absent = no node may connect, unless insecureAllowAnyNode */
  nodes?: NodeAuthenticator;
  /** development only: any valid node name connects with any password, still confined to its topics */
  insecureAllowAnyNode?: boolean;
  controllerPassword: string;
  /**
   * mTLS: every node must also present a client certificate that the operator's CA signed and whose
   * common name is the node's name (the controller's own client is exempt: it holds a per-start password)
   */
  requireClientCert?: boolean;
}

/** Why a CONNECT was refused, for the log (the client only sees "bad user name or password"). */
export type RefusalReason =
  | 'no-username'
  | 'controller-password'
  | 'client-id'
  | 'node-name'
  | 'node-credentials'
  /** the node's identity could not be written where every controller replica reads it */
  | 'node-mirror'
  | 'client-certificate';

export function cloudLinkAuth(opts: CloudLinkAclOptions, onRefused?: (reason: RefusalReason) => void): BrokerAuth {
  const nodePrefix = (node: string) => `${cloudTopics.root}/${node}/`;
  const refuse = (reason: RefusalReason) => {
    onRefused?.(reason);
    return false;
  };
  return {
    authenticate(clientId, username, password, peer) {
      if (username === undefined) return refuse('no-username');
      if (username === CONTROLLER_USERNAME) {
        if (clientId !== CONTROLLER_CLIENT_ID) return refuse('client-id');
        return password !== undefined && sameSecret(password.toString(), opts.controllerPassword)
          ? true
          : refuse('controller-password');
      }
      if (!isValidNodeName(username)) return refuse('node-name');
      if (opts.requireClientCert && !(peer?.authorized && peer.commonName === username))
        return refuse('client-certificate');
      if (opts.insecureAllowAnyNode) {
        // even here, the reserved ids stay with their owners
        if (clientId === CONTROLLER_CLIENT_ID) return refuse('client-id');
        if (clientId.startsWith('edgetwin-edge-') && clientId !== edgeClientId(username)) return refuse('client-id');
        return true;
      }
      if (clientId !== edgeClientId(username)) return refuse('client-id');
      if (!opts.nodes || password === undefined) return refuse('node-credentials');
      if (!opts.nodes.verify(username, password.toString())) return refuse('node-credentials');
      // a join is accepted once every replica would know it: else the edge, holding only its new credential, is
      // refused after a failover (refused now, it retries the same join, which verify() accepts again)
      return opts.nodes.saved
        ? opts.nodes.saved(username).then(
            () => true,
            () => refuse('node-mirror'),
          )
        : true;
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
