// The edge's identity on the cloud link (issue 10 §1, docs/security.md). On its first start the edge
// holds a one-time join token (`edgetwin node add` on the cloud); it generates its own long-lived
// credential, presents both once ("join"), and keeps the credential in
// <data-dir>/cloud-identity-<node>.json (mode 0600) with the cloud certificate's pinned fingerprint. Later
// starts use that file and need no token. The credential is written (as pending) before the join is sent,
// so an edge that crashes between the cloud accepting it and saving it presents the same one again.

import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJoinToken, joinPassword } from '@edgetwin/api/join-token';
import { newSecret, readSecretFile, writeSecretFile } from '@edgetwin/api/secret-file';

export interface EdgeCredential {
  /** the MQTT password to send now: the join while joining, the credential once joined */
  readonly password: string;
  /** SHA-256 fingerprint of the cloud's certificate, pinned by the join token (absent: plain MQTT or CA) */
  readonly fingerprint?: string;
  /** the pinned certificate itself (PEM), once fetched and checked against the fingerprint */
  readonly ca?: string;
  /** keep the certificate whose fingerprint matched the pin */
  pin(certPem: string): void;
  readonly joining: boolean;
  /** the cloud accepted the connection: a pending join becomes the node's saved identity */
  accepted(): void;
}

interface Identity {
  node: string;
  credential: string;
  fingerprint?: string;
  ca?: string;
}

export const identityFile = (dataDir: string, node: string) => join(dataDir, `cloud-identity-${node}.json`);

function readIdentity(path: string, node: string): Identity {
  const text = readSecretFile(path, 'cloud identity');
  let id: Partial<Identity>;
  try {
    id = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not JSON (${(e as Error).message}); delete it and join again with a new token`);
  }
  if (id.node !== node || typeof id.credential !== 'string')
    throw new Error(`${path}: not the identity of node ${node}; delete it and join again with a new token`);
  return id as Identity;
}

/**
 * The edge's credential: the saved identity if there is one (a join token given as well is ignored, and
 * `ignoredToken` says so), else a join with the token. Undefined when there is neither.
 */
export function loadEdgeCredential(opts: {
  dataDir: string;
  node: string;
  joinToken?: string;
}): (EdgeCredential & { ignoredToken: boolean }) | undefined {
  const file = identityFile(opts.dataDir, opts.node);
  const pending = `${file}.pending`;
  if (existsSync(file)) {
    const id = readIdentity(file, opts.node);
    return {
      password: id.credential,
      ...(id.fingerprint ? { fingerprint: id.fingerprint } : {}),
      get ca() {
        return id.ca;
      },
      joining: false,
      ignoredToken: opts.joinToken !== undefined,
      accepted() {},
      pin(certPem) {
        id.ca = certPem;
        writeSecretFile(file, `${JSON.stringify(id)}\n`);
      },
    };
  }
  if (opts.joinToken === undefined) return undefined;
  const token = decodeJoinToken(opts.joinToken);
  if (token.node !== opts.node)
    throw new Error(`the join token is for node ${token.node}, not ${opts.node} (--node); use the token of this node`);
  // the same pending credential as a crashed earlier attempt with this token, else a new one
  let id: Identity | undefined = existsSync(pending) ? readIdentity(pending, opts.node) : undefined;
  if (!id || id.fingerprint !== token.fingerprint) {
    id = { node: opts.node, credential: newSecret(), ...(token.fingerprint ? { fingerprint: token.fingerprint } : {}) };
    writeSecretFile(pending, `${JSON.stringify(id)}\n`);
  }
  const credential = id.credential;
  const pendingId = id;
  let joined = false;
  return {
    get ca() {
      return pendingId.ca;
    },
    pin(certPem) {
      pendingId.ca = certPem;
      writeSecretFile(joined ? file : pending, `${JSON.stringify(pendingId)}\n`);
    },
    get password() {
      return joined ? credential : joinPassword(token.secret, credential);
    },
    ...(token.fingerprint ? { fingerprint: token.fingerprint } : {}),
    get joining() {
      return !joined;
    },
    ignoredToken: false,
    accepted() {
      if (joined) return;
      joined = true;
      renameSync(pending, file);
    },
  };
}

/** Forget the identity (the cloud re-issued or removed the node): the next start needs a new token. */
export function forgetEdgeCredential(dataDir: string, node: string): void {
  rmSync(identityFile(dataDir, node), { force: true });
  rmSync(`${identityFile(dataDir, node)}.pending`, { force: true });
}
