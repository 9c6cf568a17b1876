// The one-time join token of a node (issue 10 §1, docs/security.md): what `edgetwin node add` prints and
// `edgetwin edge --token-file` reads. It names the node, carries a one-time secret, and pins the cloud
// link's TLS certificate by its SHA-256 fingerprint when the link has TLS, so the edge trusts the cloud
// it joins without a CA (as `keadm join` pins the CA hash). Also: what the edge sends as its MQTT
// password while it joins.

export interface JoinToken {
  node: string;
  /** the one-time secret (base64url) */
  secret: string;
  /** SHA-256 fingerprint of the cloud link's certificate, `AA:BB:...` as node:crypto prints it */
  fingerprint?: string;
}

const PREFIX = 'etjoin1_';

export function encodeJoinToken(t: JoinToken): string {
  const body = { n: t.node, s: t.secret, ...(t.fingerprint ? { f: t.fingerprint } : {}) };
  return PREFIX + Buffer.from(JSON.stringify(body)).toString('base64url');
}

export function decodeJoinToken(text: string): JoinToken {
  const s = text.trim();
  if (!s.startsWith(PREFIX)) throw new Error(`not an edgetwin join token (expected it to start with ${PREFIX})`);
  let body: { n?: unknown; s?: unknown; f?: unknown };
  try {
    body = JSON.parse(Buffer.from(s.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw new Error('the join token is damaged (not base64url JSON); copy it again from `edgetwin node add`');
  }
  if (typeof body.n !== 'string' || typeof body.s !== 'string' || (body.f !== undefined && typeof body.f !== 'string'))
    throw new Error('the join token is damaged (missing node or secret); copy it again from `edgetwin node add`');
  return { node: body.n, secret: body.s, ...(typeof body.f === 'string' ? { fingerprint: body.f } : {}) };
}

const JOIN_PASSWORD = /^join:([A-Za-z0-9_-]+):([A-Za-z0-9_-]+)$/;

/** The MQTT password of a joining edge: the join secret and the credential it chose for itself. */
export function joinPassword(secret: string, credential: string): string {
  return `join:${secret}:${credential}`;
}

export function parseJoinPassword(password: string): { secret: string; credential: string } | undefined {
  const m = JOIN_PASSWORD.exec(password);
  return m ? { secret: m[1] as string, credential: m[2] as string } : undefined;
}
