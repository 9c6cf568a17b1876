// An HTTP server that speaks the Kubernetes list/watch protocol for our three CRDs, faithfully enough to
// test the Kubernetes source without a cluster: one resourceVersion counter across objects, lists with
// metadata.resourceVersion, watches that replay history after a resourceVersion and then stream JSON
// lines (ADDED/MODIFIED/DELETED/BOOKMARK), watch expiry as a 410 Gone ERROR event, create with 409 on
// conflict, JSON merge patch on objects and on the status subresource (404 where the CRD has none).

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string; namespace?: string };
  [k: string]: unknown;
};
type Plural = 'devices' | 'devicemodels' | 'devicestatuses';
const KINDS: Record<Plural, string> = {
  devices: 'Device',
  devicemodels: 'DeviceModel',
  devicestatuses: 'DeviceStatus',
};
const PREFIX = '/apis/devices.kubeedge.io/v1beta1';

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  plural: Plural;
  object: Obj;
  rv: number;
}

interface Watcher {
  plural: Plural;
  namespace?: string;
  bookmarks: boolean;
  res: ServerResponse;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  body?: unknown;
  /** performance.now() when it arrived */
  at: number;
}

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  /** plurals whose CRD has a status subresource */
  statusSubresource = new Set<Plural>(['devices', 'devicestatuses']);
  /** plurals whose CRD is not installed: every request answers 404 (KubeEdge <= 1.22 has no DeviceStatus) */
  missingCrds = new Set<Plural>();
  /** respond 500 to the next N watch requests */
  failWatches = 0;
  /** only watches of this resource fail (default: any) */
  failWatchesOf: Plural | undefined;
  /** refuse the next `count` list requests with `code` (and a Retry-After in seconds, if given) */
  failLists: { count: number; code: number; retryAfter?: number } = { count: 0, code: 429 };
  private rv = 100;
  /** events at or below this resourceVersion are no longer in history (etcd compaction) */
  private compactedTo = 0;
  private readonly objects = new Map<string, Obj>();
  /** core/v1 Events by ns/name (POST and merge PATCH only) */
  readonly events = new Map<string, Obj>();
  private readonly history: WatchEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify(status(500, 'InternalError', String(e))));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  /** Options for KubeConfig.loadFromOptions, and the same as a kubeconfig file's fields (`toFile`). */
  kubeconfig() {
    return {
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'tester', token: 'test-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'tester' }],
      currentContext: 'fake',
      toFile: {
        clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'tester', user: { token: 'test-token' } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester' } }],
        'current-context': 'fake',
      },
    };
  }

  /** Creates or replaces an object as `kubectl apply` would, emitting the watch event. */
  put(plural: Plural, obj: Obj): Obj {
    const key = keyOf(plural, obj.metadata.namespace ?? 'default', obj.metadata.name);
    const existing = this.objects.get(key);
    const stored: Obj = structuredClone(obj);
    stored.metadata.namespace ??= 'default';
    stored.metadata.uid = existing?.metadata.uid ?? randomUUID();
    if (existing && this.statusSubresource.has(plural)) stored.status = existing.status;
    return this.store(plural, key, stored, existing ? 'MODIFIED' : 'ADDED');
  }

  remove(plural: Plural, namespace: string, name: string): void {
    const key = keyOf(plural, namespace, name);
    const existing = this.objects.get(key);
    if (!existing) return;
    this.objects.delete(key);
    const gone = structuredClone(existing);
    gone.metadata.resourceVersion = String(++this.rv);
    this.emit({ type: 'DELETED', plural, object: gone, rv: this.rv });
  }

  get(plural: Plural, namespace: string, name: string): Obj | undefined {
    const o = this.objects.get(keyOf(plural, namespace, name));
    return o && structuredClone(o);
  }

  /** Sends a BOOKMARK with the current resourceVersion to every watch that asked for bookmarks. */
  bookmark(): number {
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      const object = {
        apiVersion: 'devices.kubeedge.io/v1beta1',
        kind: KINDS[w.plural],
        metadata: { resourceVersion: String(this.rv) },
      };
      w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object })}\n`);
    }
    return this.rv;
  }

  /** Ends every open watch normally, as the API server does when a watch times out. */
  closeWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** Compacts history to now and expires every open watch with 410 Gone, forcing clients to re-list. */
  expireWatches(): void {
    this.compactedTo = this.rv;
    for (const w of this.watchers) {
      w.res.write(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', 'too old resource version') })}\n`);
      w.res.end();
    }
    this.watchers.clear();
  }

  /** Compacts history without telling anyone (a client that resumes from an older version gets 410). */
  compact(): void {
    this.compactedTo = this.rv;
  }

  openWatches(): number {
    return this.watchers.size;
  }

  private store(plural: Plural, key: string, obj: Obj, type: 'ADDED' | 'MODIFIED'): Obj {
    obj.metadata.resourceVersion = String(++this.rv);
    obj.metadata.creationTimestamp ??= new Date().toISOString();
    this.objects.set(key, obj);
    this.emit({ type, plural, object: structuredClone(obj), rv: this.rv });
    return obj;
  }

  private event(res: ServerResponse, method: string, ns: string, name: string | undefined, body: Obj): void {
    if (method === 'POST' && !name) {
      const key = `${ns}/${body.metadata.name}`;
      if (this.events.has(key)) {
        send(res, 409, status(409, 'AlreadyExists', `events "${key}" exists`));
        return;
      }
      const obj = { ...body, metadata: { ...body.metadata, namespace: ns, uid: randomUUID() } };
      this.events.set(key, obj);
      send(res, 201, obj);
      return;
    }
    const existing = name && this.events.get(`${ns}/${name}`);
    if (method === 'PATCH' && existing) {
      const patched = mergePatch(existing, body) as Obj;
      this.events.set(`${ns}/${name}`, patched);
      send(res, 200, patched);
      return;
    }
    send(res, 404, status(404, 'NotFound', `events "${name}" not found`));
  }

  private emit(ev: WatchEvent): void {
    this.history.push(ev);
    for (const w of this.watchers) {
      if (w.plural !== ev.plural || (w.namespace && w.namespace !== ev.object.metadata.namespace)) continue;
      w.res.write(`${JSON.stringify({ type: ev.type, object: ev.object })}\n`);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    const raw = await readBody(req);
    const rec: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query, at: performance.now() };
    if (req.headers['content-type']) rec.contentType = req.headers['content-type'];
    if (raw) rec.body = JSON.parse(raw);
    this.requests.push(rec);

    const ev = url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/events(?:\/([^/]+))?$/);
    if (ev) {
      this.event(res, req.method ?? 'GET', ev[1]!, ev[2], rec.body as Obj);
      return;
    }
    const m = url.pathname.match(
      /^\/apis\/devices\.kubeedge\.io\/v1beta1(?:\/namespaces\/([^/]+))?\/(devices|devicemodels|devicestatuses)(?:\/([^/]+))?(\/status)?$/,
    );
    if (!m) return send(res, 404, status(404, 'NotFound', `no route ${url.pathname}`));
    const [, ns, pluralText, name, sub] = m;
    const plural = pluralText as Plural;
    if (this.missingCrds.has(plural))
      return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));

    if (req.method === 'GET' && !name) {
      if (query.watch === 'true' || query.watch === '1') return this.watch(res, plural, ns, query);
      if (this.failLists.count > 0) {
        this.failLists.count--;
        const { code, retryAfter } = this.failLists;
        if (retryAfter !== undefined) res.setHeader('retry-after', String(retryAfter));
        return send(
          res,
          code,
          status(code, code === 429 ? 'TooManyRequests' : 'Failure', 'storage is (re)initializing'),
        );
      }
      const items = [...this.objects.entries()]
        .filter(([k]) => k.startsWith(`${plural}/`) && (!ns || k.startsWith(`${plural}/${ns}/`)))
        .map(([, o]) => o);
      return send(res, 200, {
        apiVersion: 'devices.kubeedge.io/v1beta1',
        kind: `${KINDS[plural]}List`,
        metadata: { resourceVersion: String(this.rv) },
        items,
      });
    }
    if (!ns || !name) {
      if (req.method === 'POST' && ns) return this.create(res, plural, ns, rec.body as Obj);
      return send(res, 405, status(405, 'MethodNotAllowed', 'not supported here'));
    }
    const key = keyOf(plural, ns, name);
    const existing = this.objects.get(key);
    if (sub && !this.statusSubresource.has(plural))
      return send(res, 404, status(404, 'NotFound', `the server could not find the requested resource`));
    if (req.method === 'GET') {
      if (!existing) return send(res, 404, status(404, 'NotFound', `${plural} "${name}" not found`));
      return send(res, 200, existing);
    }
    if (req.method === 'PATCH') {
      if (!existing) return send(res, 404, status(404, 'NotFound', `${plural} "${name}" not found`));
      if (rec.contentType === 'application/json-patch+json') {
        const patched = jsonPatch(existing, rec.body as JsonPatchOp[]);
        if (typeof patched === 'string') return send(res, 422, status(422, 'Invalid', patched));
        if (this.statusSubresource.has(plural) && !sub) (patched as Obj).status = existing.status;
        return send(res, 200, this.store(plural, key, patched as Obj, 'MODIFIED'));
      }
      if (rec.contentType !== 'application/merge-patch+json')
        return send(res, 415, status(415, 'UnsupportedMediaType', `unsupported patch type ${rec.contentType}`));
      const patch = rec.body as Record<string, unknown>;
      const next = structuredClone(existing);
      if (sub) next.status = mergePatch(existing.status, patch.status);
      else {
        const merged = mergePatch(existing, patch) as Obj;
        // With a status subresource, the main resource ignores status changes, as the API server does.
        if (this.statusSubresource.has(plural)) merged.status = existing.status;
        Object.assign(next, merged);
      }
      return send(res, 200, this.store(plural, key, next, 'MODIFIED'));
    }
    return send(res, 405, status(405, 'MethodNotAllowed', `${req.method} not supported`));
  }

  private create(res: ServerResponse, plural: Plural, ns: string, body: Obj): void {
    const key = keyOf(plural, ns, body.metadata.name);
    if (this.objects.has(key)) {
      send(res, 409, status(409, 'AlreadyExists', `${plural} "${body.metadata.name}" already exists`));
      return;
    }
    const obj = structuredClone(body);
    obj.metadata.namespace = ns;
    obj.metadata.uid = randomUUID();
    if (this.statusSubresource.has(plural)) delete obj.status;
    send(res, 201, this.store(plural, key, obj, 'ADDED'));
  }

  private watch(res: ServerResponse, plural: Plural, ns: string | undefined, query: Record<string, string>): void {
    if (this.failWatches > 0 && (this.failWatchesOf === undefined || this.failWatchesOf === plural)) {
      this.failWatches--;
      send(res, 500, status(500, 'InternalError', 'watch failed (test)'));
      return;
    }
    const from = Number(query.resourceVersion ?? '0');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (from > 0 && from < this.compactedTo) {
      res.end(
        `${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.compactedTo})`) })}\n`,
      );
      return;
    }
    for (const ev of this.history) {
      if (ev.rv <= from || ev.plural !== plural || (ns && ns !== ev.object.metadata.namespace)) continue;
      res.write(`${JSON.stringify({ type: ev.type, object: ev.object })}\n`);
    }
    const w: Watcher = { plural, bookmarks: query.allowWatchBookmarks === 'true', res };
    if (ns) w.namespace = ns;
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }
}

function keyOf(plural: Plural, ns: string, name: string): string {
  return `${plural}/${ns}/${name}`;
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      data += c;
    });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

type JsonPatchOp = { op: 'add' | 'replace' | 'test' | 'remove'; path: string; value?: unknown };

/** RFC 6902 JSON patch (add, replace, remove, test); returns an error message if an operation fails. */
export function jsonPatch(target: unknown, ops: JsonPatchOp[]): unknown {
  const doc = structuredClone(target) as Record<string, unknown>;
  for (const op of ops) {
    const keys = op.path
      .split('/')
      .slice(1)
      .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop();
    let parent: unknown = doc;
    for (const k of keys) parent = (parent as Record<string, unknown> | undefined)?.[k];
    if (parent === null || typeof parent !== 'object' || last === undefined) return `path ${op.path} does not exist`;
    const p = parent as Record<string, unknown>;
    if (op.op === 'test') {
      if (JSON.stringify(p[last]) !== JSON.stringify(op.value)) return `test failed at ${op.path}`;
    } else if (op.op === 'remove') {
      if (!(last in p)) return `path ${op.path} does not exist`;
      delete p[last];
    } else if (op.op === 'replace') {
      if (!(last in p)) return `path ${op.path} does not exist`;
      p[last] = op.value;
    } else p[last] = op.value;
  }
  return doc;
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export { PREFIX };
