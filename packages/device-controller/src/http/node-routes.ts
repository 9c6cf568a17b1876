// Node identities over the HTTP API (issue 10 §1, docs/security.md): what `edgetwin node add/remove/list`
// call. Registering a node returns its one-time join token; removing it revokes the credential and
// closes its cloud-link session at once.
import type { FastifyInstance } from 'fastify';
import { NodeRegistryError, type NodeRecord, type NodeRegistry } from '../cloud-link/node-registry.js';

export interface NodeJoinOptions {
  /** (its linkFingerprint is pinned in every join token) */
  registry: NodeRegistry;
  /** where edges dial, printed with the token */
  linkUrl?: string;
}

export interface NodeAdded {
  node: string;
  token: string;
  expiresAt: string;
  linkUrl?: string;
}

const STATUS: Record<NodeRegistryError['code'], number> = {
  NODE_INVALID: 400,
  NODE_EXISTS: 409,
  NODE_NOT_FOUND: 404,
  NODE_LIMIT: 507,
};

export function registerNodeRoutes(app: FastifyInstance, join: NodeJoinOptions | undefined): void {
  const unavailable = {
    findings: [
      '-/-/-: -: this controller has no node registry (its cloud link runs on an external broker or with --insecure-allow-any-node)',
    ],
  };
  const fail = (e: unknown, name: string) => {
    if (e instanceof NodeRegistryError)
      return { code: STATUS[e.code], body: { findings: [`Node/${name}: -: ${e.message}`] } };
    throw e;
  };
  /** the change is kept where every controller replica reads it (Secrets with --source kubernetes), or 503 */
  const notSaved = (e: unknown, name: string) => ({
    findings: [
      `Node/${name}: -: not saved where every controller replica reads it (${(e as Error).message}); ` +
        'this replica has it until it restarts: run the command again (with --rejoin for node add)',
    ],
  });

  app.get('/identities', async (_req, reply) => {
    if (!join) return reply.code(501).send(unavailable);
    return { items: join.registry.list() satisfies NodeRecord[] };
  });

  app.post<{ Params: { name: string }; Body: { rejoin?: unknown; ttlSeconds?: unknown } | null }>(
    '/identities/:name',
    async (req, reply) => {
      if (!join) return reply.code(501).send(unavailable);
      const { name } = req.params;
      const ttl = req.body?.ttlSeconds;
      if (ttl !== undefined && (typeof ttl !== 'number' || !(ttl > 0)))
        return reply.code(400).send({ findings: [`Node/${name}: ttlSeconds: must be a positive number`] });
      try {
        const ttlMs = ttl === undefined ? undefined : (ttl as number) * 1000;
        const token = join.registry.add(name, {
          rejoin: req.body?.rejoin === true,
          ...(ttlMs !== undefined ? { ttlMs } : {}),
        });
        try {
          await join.registry.saved(name);
        } catch (e) {
          return reply.code(503).send(notSaved(e, name));
        }
        const rec = join.registry.list().find((r) => r.name === name);
        const out: NodeAdded = { node: name, token, expiresAt: rec?.joinExpiresAt ?? '' };
        if (join.linkUrl) out.linkUrl = join.linkUrl;
        return out;
      } catch (e) {
        const f = fail(e, name);
        return reply.code(f.code).send(f.body);
      }
    },
  );

  app.delete<{ Params: { name: string } }>('/identities/:name', async (req, reply) => {
    if (!join) return reply.code(501).send(unavailable);
    try {
      join.registry.remove(req.params.name);
    } catch (e) {
      const f = fail(e, req.params.name);
      return reply.code(f.code).send(f.body);
    }
    try {
      await join.registry.saved(req.params.name);
      return { node: req.params.name, removed: true };
    } catch (e) {
      return reply.code(503).send(notSaved(e, req.params.name));
    }
  });
}
