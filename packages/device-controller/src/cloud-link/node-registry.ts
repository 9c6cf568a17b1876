// The nodes allowed on the cloud link (issue 10 §1, docs/security.md). An operator registers a node
// (`edgetwin node add gw-1`) and gets a one-time join token; the edge presents it once, together with a
// credential it generated for itself, and from then on logs in with that credential. Only SHA-256 hashes
// of secrets are stored (they are 256-bit random values, so a slow hash adds nothing). Removing a node
// (or re-adding it with `rejoin`) revokes its credential and tells listeners, which close its session.
// With a mirror (issue 14: controller replicas, identities in Kubernetes Secrets) every change is also written
// there, and `saved(node)` says when it is: a join is accepted only once the next leader would know it.

import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { encodeJoinToken, parseJoinPassword } from '@edgetwin/api/join-token';
import { newSecret, sameSecret } from '@edgetwin/api/secret-file';
import Database from 'better-sqlite3';
import { isValidNodeName } from './broker-acl.js';

/** How long a join token stays usable (KubeEdge's `keadm gettoken` default is 24 h too). */
export const DEFAULT_JOIN_TTL_MS = 24 * 60 * 60 * 1000;
/** A bound on registered nodes, so a runaway script cannot fill the disk (raise it in code if needed). */
export const MAX_NODES = 100_000;

export class NodeRegistryError extends Error {
  constructor(
    readonly code: 'NODE_INVALID' | 'NODE_EXISTS' | 'NODE_NOT_FOUND' | 'NODE_LIMIT',
    message: string,
  ) {
    super(message);
    this.name = 'NodeRegistryError';
  }
}

export interface NodeRecord {
  name: string;
  /** the node has presented its join token and holds a credential */
  joined: boolean;
  createdAt: string;
  joinedAt?: string;
  /** until when the join token may be used (absent once joined) */
  joinExpiresAt?: string;
}

interface Row {
  name: string;
  credential_hash: string | null;
  join_hash: string | null;
  join_expires: number | null;
  created_at: number;
  joined_at: number | null;
}

/** One node's identity as a mirror stores it (hashes only, never a secret). */
export interface IdentityRecord {
  name: string;
  credentialHash: string | null;
  joinHash: string | null;
  /** epoch ms */
  joinExpires: number | null;
  createdAt: number;
  joinedAt: number | null;
}

/** Where a registry's identities are kept besides its own database (the record, or undefined once removed). */
export interface NodeRegistryMirror {
  save(name: string, record: IdentityRecord | undefined): Promise<void>;
}

const toRecord = (r: Row): IdentityRecord => ({
  name: r.name,
  credentialHash: r.credential_hash,
  joinHash: r.join_hash,
  joinExpires: r.join_expires,
  createdAt: r.created_at,
  joinedAt: r.joined_at,
});

const hash = (s: string) => createHash('sha256').update(s).digest('hex');

export interface NodeAuthenticator {
  /** true when `password` is this node's credential, or its unused join token with a new credential */
  verify(node: string, password: string): boolean;
  /** resolves once what verify() changed for this node is kept where every replica finds it (see NodeRegistryMirror) */
  saved?(node: string): Promise<void>;
}

export class NodeRegistry implements NodeAuthenticator {
  private readonly db: Database.Database;
  private readonly revokedListeners = new Set<(node: string) => void>();
  private readonly now: () => number;
  /** SHA-256 fingerprint of the cloud link's self-signed certificate, pinned in every join token */
  linkFingerprint: string | undefined;
  private mirror?: NodeRegistryMirror;
  /** per node, the mirror write of its latest change (chained, so writes of one node never overtake) */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    readonly path = ':memory:',
    opts: { now?: () => number } = {},
  ) {
    this.now = opts.now ?? Date.now;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      this.db = new Database(path);
    } catch (err) {
      throw new Error(`node registry: cannot open ${path}: ${(err as Error).message}`);
    }
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS node_identity (
      name TEXT PRIMARY KEY,
      credential_hash TEXT,
      join_hash TEXT,
      join_expires INTEGER,
      created_at INTEGER NOT NULL,
      joined_at INTEGER
    )`);
  }

  /**
   * Registers a node and returns its one-time join token. `rejoin` re-issues a token for a node that
   * exists, revoking its current credential (rotation, or an edge whose data dir was lost).
   */
  add(name: string, opts: { ttlMs?: number; rejoin?: boolean; fingerprint?: string } = {}): string {
    if (!isValidNodeName(name))
      throw new NodeRegistryError(
        'NODE_INVALID',
        `"${name}" is not a valid node name (a DNS name: letters, digits, '-', '.'; not edgetwin-controller)`,
      );
    const existing = this.row(name);
    if (existing && !opts.rejoin)
      throw new NodeRegistryError(
        'NODE_EXISTS',
        `node ${name} is already registered${existing.credential_hash ? ' and joined' : ''}; ` +
          '`edgetwin node add --rejoin` issues a new token (revoking its credential), `edgetwin node remove` removes it',
      );
    if (!existing && this.count() >= MAX_NODES)
      throw new NodeRegistryError('NODE_LIMIT', `the registry holds ${MAX_NODES} nodes, its limit; remove some first`);
    const secret = newSecret();
    const expires = this.now() + (opts.ttlMs ?? DEFAULT_JOIN_TTL_MS);
    this.db
      .prepare(
        `INSERT INTO node_identity (name, credential_hash, join_hash, join_expires, created_at, joined_at)
         VALUES (?, NULL, ?, ?, ?, NULL)
         ON CONFLICT(name) DO UPDATE SET credential_hash = NULL, join_hash = excluded.join_hash,
           join_expires = excluded.join_expires, joined_at = NULL`,
      )
      .run(name, hash(secret), expires, this.now());
    if (existing?.credential_hash) this.revoked(name);
    this.changed(name);
    const fingerprint = opts.fingerprint ?? this.linkFingerprint;
    return encodeJoinToken({ node: name, secret, ...(fingerprint ? { fingerprint } : {}) });
  }

  /** Removes a node: its credential stops working and its session is closed (listeners). */
  remove(name: string): void {
    const r = this.db.prepare('DELETE FROM node_identity WHERE name = ?').run(name);
    if (r.changes === 0) throw new NodeRegistryError('NODE_NOT_FOUND', `node ${name} is not registered`);
    this.revoked(name);
    this.changed(name);
  }

  has(name: string): boolean {
    return this.row(name) !== undefined;
  }

  list(): NodeRecord[] {
    const rows = this.db.prepare('SELECT * FROM node_identity ORDER BY name').all() as Row[];
    return rows.map((r) => {
      const rec: NodeRecord = {
        name: r.name,
        joined: r.credential_hash !== null,
        createdAt: new Date(r.created_at).toISOString(),
      };
      if (r.joined_at !== null) rec.joinedAt = new Date(r.joined_at).toISOString();
      if (r.credential_hash === null && r.join_expires !== null)
        rec.joinExpiresAt = new Date(r.join_expires).toISOString();
      return rec;
    });
  }

  names(): string[] {
    return (this.db.prepare('SELECT name FROM node_identity ORDER BY name').all() as Array<{ name: string }>).map(
      (r) => r.name,
    );
  }

  verify(node: string, password: string): boolean {
    const row = this.row(node);
    if (!row) return false;
    const join = parseJoinPassword(password);
    if (!join) return row.credential_hash !== null && sameSecret(hash(password), row.credential_hash);
    if (row.join_hash === null || !sameSecret(hash(join.secret), row.join_hash)) return false;
    const credential = hash(join.credential);
    // The same join presented again with the same credential (an edge that crashed before saving it) is
    // accepted; with another credential the token is spent.
    if (row.credential_hash !== null) return sameSecret(credential, row.credential_hash);
    if (row.join_expires !== null && row.join_expires < this.now()) return false;
    this.db
      .prepare('UPDATE node_identity SET credential_hash = ?, joined_at = ? WHERE name = ? AND credential_hash IS NULL')
      .run(credential, this.now(), node);
    this.changed(node);
    return true;
  }

  /** Called with the name of every node removed or re-issued; returns an unsubscribe function. */
  onRevoked(listener: (node: string) => void): () => void {
    this.revokedListeners.add(listener);
    return () => this.revokedListeners.delete(listener);
  }

  close(): void {
    this.db.close();
  }

  /** Every identity (hashes only), for a mirror to take over. */
  records(): IdentityRecord[] {
    return (this.db.prepare('SELECT * FROM node_identity ORDER BY name').all() as Row[]).map(toRecord);
  }

  /**
   * Replaces every identity with `records` (what the mirror holds: a replica that just became the leader takes
   * what the previous one wrote) and writes each change to `mirror` from now on. Call before the broker starts.
   */
  attachMirror(mirror: NodeRegistryMirror, records: IdentityRecord[]): void {
    const insert = this.db.prepare(
      `INSERT INTO node_identity (name, credential_hash, join_hash, join_expires, created_at, joined_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.db.transaction(() => {
      this.db.exec('DELETE FROM node_identity');
      for (const r of records) insert.run(r.name, r.credentialHash, r.joinHash, r.joinExpires, r.createdAt, r.joinedAt);
    })();
    this.mirror = mirror;
  }

  /**
   * Resolves once the node's latest change is in the mirror (at once without one). A write that failed is tried
   * again once here; if that fails too, the error is the caller's (the join is refused, the edge retries it).
   */
  async saved(node: string): Promise<void> {
    const p = this.pending.get(node);
    if (!p) return;
    try {
      await p;
    } catch {
      this.changed(node);
      await this.pending.get(node);
    }
  }

  private changed(name: string): void {
    const mirror = this.mirror;
    if (!mirror) return;
    const before = this.pending.get(name) ?? Promise.resolve();
    // the record as it is when the write starts: changes made meanwhile are carried by the latest write
    const write = before.catch(() => {}).then(() => mirror.save(name, this.record(name)));
    this.pending.set(name, write);
    write.then(
      () => {
        if (this.pending.get(name) === write) this.pending.delete(name);
      },
      () => {}, // kept: saved() retries it
    );
  }

  private record(name: string): IdentityRecord | undefined {
    const r = this.row(name);
    return r ? toRecord(r) : undefined;
  }

  private revoked(name: string): void {
    for (const l of this.revokedListeners) l(name);
  }

  private row(name: string): Row | undefined {
    return this.db.prepare('SELECT * FROM node_identity WHERE name = ?').get(name) as Row | undefined;
  }

  private count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM node_identity').get() as { n: number }).n;
  }
}

/** Fixed node passwords (`nodeCredentials`), for deployments that provision them by hand. */
export function staticNodes(creds: Record<string, string>): NodeAuthenticator {
  for (const node of Object.keys(creds))
    if (!isValidNodeName(node)) throw new Error(`cloud link: nodeCredentials has an invalid node name "${node}"`);
  return {
    verify: (node, password) => Object.hasOwn(creds, node) && sameSecret(password, creds[node] as string),
  };
}
