// The API's live side (issue 16, docs/controller.md): recent events, the history of reported values, and
// one Server-Sent Events stream of changes for the console, `get devices -w` and the live view of `up`.
import type { Device } from '@edgetwin/api';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { LiveChange, LiveState } from '../live/live-state.js';
import type { ControllerMetrics } from '../metrics.js';
import type { Source } from '../source.js';
import type { NodeInfo } from './server.js';

/** Live clients at once; one more is answered 503. */
export const MAX_LIVE_CLIENTS = 32;
/** Bytes a client may leave unread before it is cut off (it reconnects and reads the state afresh). */
export const MAX_UNREAD_BYTES = 1024 * 1024;
/** Changes to the same device or node within this window go out once. */
const COALESCE_MS = 100;
const HEARTBEAT_MS = 15_000;

export interface LiveRouteDeps {
  live: LiveState;
  source: Source;
  metrics: ControllerMetrics;
  withStatus: (d: Device) => Promise<Device>;
  nodes: () => NodeInfo[];
  fail: (reply: FastifyReply, code: number, findings: string[]) => FastifyReply;
}

/** `since`: an ISO time, epoch milliseconds, or a duration back from now (90s, 10m, 2h); default 1 h. */
export function parseSince(raw: string | undefined, now = Date.now()): number | string {
  if (raw === undefined || raw === '') return now - 3_600_000;
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(raw);
  if (d) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[d[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
    return now - Number(d[1]) * unit;
  }
  if (/^\d+$/.test(raw)) return Number(raw);
  const t = Date.parse(raw);
  if (Number.isNaN(t)) return `since: "${raw}" is not a time (expected an ISO time, epoch ms, or a duration like 10m)`;
  return t;
}

export function registerLiveRoutes(app: FastifyInstance, deps: LiveRouteDeps): void {
  const { live, source, fail } = deps;
  // open streams end when the server closes (a stream never ends by itself, so close would wait forever)
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });

  app.get<{ Querystring: { kind?: string; namespace?: string; name?: string; limit?: string } }>(
    '/events',
    async (req) => {
      const { kind, namespace, name } = req.query;
      const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 50) || 50));
      return {
        items: live.events.list(
          { ...(kind ? { kind } : {}), ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) },
          limit,
        ),
      };
    },
  );

  app.get<{ Params: { ns: string; name: string }; Querystring: { property?: string; since?: string } }>(
    '/devices/:ns/:name/history',
    async (req, reply) => {
      const { ns, name } = req.params;
      const who = `Device/${ns}/${name}`;
      const d = source.device(ns, name);
      if (!d) return fail(reply, 404, [`${who}: -: not found`]);
      const since = parseSince(req.query.since);
      if (typeof since === 'string') return fail(reply, 400, [`${who}: ${since}`]);
      const id = `${ns}/${name}`;
      const names = (d.spec.properties ?? []).map((p) => p.name);
      const property = req.query.property;
      if (property !== undefined && !names.includes(property))
        return fail(reply, 400, [`${who}: property: no property "${property}" (has: ${names.join(', ') || 'none'})`]);
      const wanted = property !== undefined ? [property] : names.filter((p) => live.history.properties(id).includes(p));
      return {
        device: id,
        since: new Date(since).toISOString(),
        retentionSeconds: live.history.retentionMs / 1000,
        series: wanted.map((p) => ({ property: p, points: live.history.query(id, p, since) })),
      };
    },
  );

  app.get('/stream', (req, reply) => {
    if (live.subscribers >= MAX_LIVE_CLIENTS) {
      deps.metrics.liveClientsDropped.inc({ reason: 'limit' });
      return fail(reply, 503, [`-/-/-: -: ${MAX_LIVE_CLIENTS} live clients are connected already; try again later`]);
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    deps.metrics.liveClients.inc();
    let closed = false;
    const devices = new Set<string>();
    const deleted = new Set<string>();
    let nodes = false;
    let models = false;
    let timer: NodeJS.Timeout | undefined;

    const send = (event: string, data: unknown) => {
      if (closed) return;
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      if (res.writableLength > MAX_UNREAD_BYTES) {
        deps.metrics.liveClientsDropped.inc({ reason: 'slow' });
        close();
        res.destroy();
      }
    };
    const flush = async () => {
      timer = undefined;
      const ids = [...devices];
      devices.clear();
      for (const id of deleted) send('device-deleted', { id });
      deleted.clear();
      for (const id of ids) {
        const slash = id.indexOf('/');
        const d = source.device(id.slice(0, slash), id.slice(slash + 1));
        if (d) send('device', await deps.withStatus(d));
      }
      if (models) send('models', { items: source.models() });
      if (nodes) send('nodes', { items: deps.nodes() });
      models = false;
      nodes = false;
    };
    const later = () => {
      timer ??= setTimeout(() => void flush(), COALESCE_MS);
    };
    const onChange = (c: LiveChange) => {
      switch (c.type) {
        case 'device':
          devices.add(c.id);
          return later();
        case 'device-deleted':
          devices.delete(c.id);
          deleted.add(c.id);
          return later();
        case 'model':
          models = true;
          return later();
        case 'node':
          nodes = true;
          return later();
        case 'point':
          return send('point', c.point);
        case 'event':
          return send('event', c.event);
      }
    };
    const unsubscribe = live.subscribe(onChange);
    const heartbeat = setInterval(() => !closed && res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const close = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(heartbeat);
      if (timer) clearTimeout(timer);
      open.delete(end);
      deps.metrics.liveClients.dec();
    };
    const end = () => {
      close();
      res.end();
    };
    open.add(end);
    req.raw.on('close', close);
    res.on('close', close);
    // the state as it is now, then every change
    res.write('retry: 2000\n\n');
    void (async () => {
      send('hello', { source: source.name });
      send('devices', { items: await Promise.all(source.devices().map((d) => deps.withStatus(d))) });
      send('models', { items: source.models() });
      send('nodes', { items: deps.nodes() });
    })();
  });
}
