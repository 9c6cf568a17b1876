// The controller's HTTP API (docs/controller.md): what `edgetwin apply/delete/get/describe/twin` talk to.
// Errors are 4xx with {findings: [line, ...]}: each line names file:line:col, the object and the field,
// so the CLI can print them as they are.

import {
  checkValue,
  type Device,
  type Presence,
  type PropertyType,
  type ProtocolValidators,
  sameValue,
} from '@edgetwin/api';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { NodeReportStream } from '../contracts.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { ControllerMetrics } from '../metrics.js';
import { type ApiAuthOptions, installApiAuth } from './api-auth.js';
import { type NodeJoinOptions, registerNodeRoutes } from './node-routes.js';
import type { DesiredValueChange, Source, SourceObject } from '../source.js';
import {
  type ApplyResult,
  ConflictError,
  type EmbeddedStore,
  NotFoundError,
  type ObjectRef,
} from '../sources/embedded/store.js';
import type { StatusCoalescer } from '../status/coalescer.js';
import { checkManifests, identitiesOf, type ManifestFile } from './check-manifests.js';
import type { LiveState } from '../live/live-state.js';
import { registerConsoleRoutes } from './console-routes.js';
import { ConsoleSessions } from './console-sessions.js';
import { registerLiveRoutes } from './live-routes.js';

export interface HttpApiDeps {
  source: Source;
  /** the writable store; absent when the source is Kubernetes (kubectl writes there) */
  store?: EmbeddedStore;
  dispatcher: Dispatcher;
  status: StatusCoalescer;
  metrics: ControllerMetrics;
  logger: Logger;
  /** bearer token and Host names every request is checked against (docs/security.md) */
  auth: ApiAuthOptions;
  /** each protocol driver's config check, run on apply (the CLI composes them from the mappers) */
  protocols?: ProtocolValidators;
  /** node identities on the cloud link (`edgetwin node add`); absent = the routes answer 501 */
  nodeJoin?: NodeJoinOptions;
  /** insecure modes in force, reported by /healthz so no one runs them unknowingly */
  insecure?: string[];
  /** history, events and the feed of changes (the live routes; issue 16) */
  live: LiveState;
  /** the built web console (packages/console/dist); absent: the console page says it is not built */
  consoleDir?: string;
}

/** One value written by POST /devices/:ns/:name/desired (or a method call). */
export interface DesiredResult extends ApplyResult {
  /** the property whose desired value was set */
  property: string;
  /** the desired value before this write, if there was one */
  previous?: string;
  /** the value equals the previous desired value (typed): the write re-asserts it as a new command */
  reasserted: boolean;
}

export interface NodeInfo {
  name: string;
  devices: number;
  presence: Presence | 'unknown';
  since?: string;
  /** the node's report stream as the cloud link last saw it (absent: no report since the controller started) */
  reports?: NodeReportStream;
}

const MAX_BODY = 8 * 1024 * 1024;

export function buildHttpApi(deps: HttpApiDeps): FastifyInstance {
  // Fastify's own request logging is off: the controller logs what matters (failures) itself.
  const app = Fastify({ logger: false, bodyLimit: MAX_BODY });
  const { source, store } = deps;
  const sessions = new ConsoleSessions();
  installApiAuth(app, { ...deps.auth, sessions });

  const fail = (reply: FastifyReply, code: number, findings: string[]) => reply.code(code).send({ findings });
  const readOnly = (reply: FastifyReply) =>
    fail(reply, 405, [
      '-/-/-: -: this controller reads from Kubernetes; change objects with kubectl (the embedded store is not in use)',
    ]);

  // alive (a replica standing by for the leader lease answers it too, with /healthz 503: docs/kubernetes.md)
  app.get('/livez', async () => ({ ok: true }));
  app.get('/healthz', async () =>
    deps.insecure && deps.insecure.length > 0
      ? { ok: true, source: source.name, insecure: deps.insecure }
      : { ok: true, source: source.name },
  );
  registerNodeRoutes(app, deps.nodeJoin);

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.post('/apply', async (req, reply) => {
    const files = filesOf(req.body);
    if (typeof files === 'string') return fail(reply, 400, [files]);
    if (!store) return readOnly(reply);
    const checked = checkManifests(files, source.models(), deps.protocols);
    if (checked.findings.length > 0) return fail(reply, 400, checked.findings);
    try {
      // Models first, so a device is never dispatched before the model it uses.
      const ordered = [...checked.objects].sort((a, b) => rank(a.object) - rank(b.object));
      return { results: store.apply(ordered.map((c) => c.object)), notices: checked.notices };
    } catch (e) {
      if (e instanceof ConflictError) {
        const at = checked.objects.find(
          (c) =>
            c.object.kind === e.ref.kind &&
            c.object.metadata.name === e.ref.name &&
            c.object.metadata.namespace === e.ref.namespace,
        );
        const where = at ? `${at.file}:${at.line}:1: ` : '';
        return fail(reply, 409, [
          `${where}${e.ref.kind}/${e.ref.namespace}/${e.ref.name}: metadata.resourceVersion: ${e.message.split(': ').slice(1).join(': ')}`,
        ]);
      }
      throw e;
    }
  });

  app.post('/delete', async (req, reply) => {
    const files = filesOf(req.body);
    if (typeof files === 'string') return fail(reply, 400, [files]);
    if (!store) return readOnly(reply);
    const { identities, findings } = identitiesOf(files);
    if (findings.length > 0) return fail(reply, 400, findings);
    const refs: ObjectRef[] = identities.map(({ kind, namespace, name }) => ({ kind, namespace, name }));
    const where = (r: ObjectRef) => {
      const c = identities.find((x) => x.kind === r.kind && x.name === r.name && x.namespace === r.namespace);
      return c ? `${c.file}:${c.line}:${c.column}: ` : '';
    };
    const missing = refs.filter((r) => !store.get(r));
    if (missing.length > 0)
      return fail(
        reply,
        404,
        missing.map((r) => `${where(r)}${r.kind}/${r.namespace}/${r.name}: -: not found (nothing was deleted)`),
      );
    // A model still used by a device that stays would leave that device without its model.
    const deleting = new Set(refs.map((r) => `${r.kind}/${r.namespace}/${r.name}`));
    const inUse: string[] = [];
    for (const r of refs.filter((x) => x.kind === 'DeviceModel')) {
      const users = source
        .devices()
        .filter((d) => (d.metadata.namespace ?? 'default') === r.namespace && d.spec.deviceModelRef?.name === r.name)
        .filter((d) => !deleting.has(`Device/${d.metadata.namespace}/${d.metadata.name}`));
      if (users.length > 0)
        inUse.push(
          `${where(r)}DeviceModel/${r.namespace}/${r.name}: -: still used by ${users.map((d) => d.metadata.name).join(', ')} ` +
            '(delete those devices first or in the same command; nothing was deleted)',
        );
    }
    if (inUse.length > 0) return fail(reply, 409, inUse);
    // Devices first, then the models they used.
    const ordered = [...refs].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'Device' ? -1 : 1));
    try {
      return { results: store.delete(ordered) };
    } catch (e) {
      if (e instanceof NotFoundError)
        return fail(reply, 404, [`${where(e.ref)}${e.ref.kind}/${e.ref.namespace}/${e.ref.name}: -: not found`]);
      throw e;
    }
  });

  app.get('/devices', async () => ({ items: await Promise.all(source.devices().map((d) => withStatus(source, d))) }));

  app.get('/devicemodels', async () => ({ items: source.models() }));

  const nodeInfos = (): NodeInfo[] => {
    const presence = deps.status.nodePresence();
    const reports = deps.status.nodeReports();
    const names = new Set([...deps.dispatcher.nodes(), ...presence.keys()]);
    const items: NodeInfo[] = [...names].sort().map((name) => {
      const p = presence.get(name);
      const info: NodeInfo = {
        name,
        devices: deps.dispatcher.snapshot(name).devices.length,
        presence: p?.presence ?? 'unknown',
      };
      if (p) info.since = p.since.toISOString();
      const r = reports.get(name);
      if (r) info.reports = r;
      return info;
    });
    return items;
  };
  app.get('/nodes', async () => ({ items: nodeInfos() }));

  registerLiveRoutes(app, {
    live: deps.live,
    source,
    metrics: deps.metrics,
    withStatus: (d) => withStatus(source, d),
    nodes: nodeInfos,
    fail,
  });
  registerConsoleRoutes(app, {
    ...(deps.consoleDir ? { dir: deps.consoleDir } : {}),
    sessions,
    apiToken: deps.auth.token,
    fail,
  });

  app.get<{ Params: { ns: string; name: string } }>('/devices/:ns/:name', async (req, reply) => {
    const { ns, name } = req.params;
    const d = source.device(ns, name);
    if (!d) return fail(reply, 404, [`Device/${ns}/${name}: -: not found`]);
    const model = d.spec.deviceModelRef?.name ? source.model(ns, d.spec.deviceModelRef.name) : undefined;
    return { device: await withStatus(source, d), model: model ?? null };
  });

  type Written = { results: DesiredResult[]; device: Device } | { code: number; findings: string[] };
  /**
   * Sets desired values after the model's checks (type, bounds, ReadOnly), all in one write or none (issue 9
   * §5: `twin set a=1 b=2` stored a and then failed on b): every value is checked first, every problem is
   * reported, and only then is the device written once. The route of `twin set` and of device methods.
   */
  const writeDesired = async (ns: string, name: string, values: ReadonlyArray<[string, string]>): Promise<Written> => {
    const who = `Device/${ns}/${name}`;
    // Optimistic: read, check, write against the version read; on a concurrent write, read again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const d = source.device(ns, name);
      if (!d) return { code: 404, findings: [`${who}: -: not found`] };
      const model = source.model(ns, d.spec.deviceModelRef?.name ?? '');
      const findings: string[] = [];
      const changes: Array<DesiredValueChange & { property: string; type: PropertyType }> = [];
      for (const [property, value] of values) {
        const idx = (d.spec.properties ?? []).findIndex((p) => p.name === property);
        if (idx < 0) {
          findings.push(
            `${who}: spec.properties: no property "${property}" (has: ${(d.spec.properties ?? []).map((p) => p.name).join(', ') || 'none'})`,
          );
          continue;
        }
        const path = `spec.properties[${idx}].desired.value`;
        const mp = model?.spec.properties?.find((p) => p.name === property);
        if (!model || !mp) {
          findings.push(
            `${who}: ${path}: DeviceModel ${ns}/${d.spec.deviceModelRef?.name ?? ''} has no property "${property}"`,
          );
          continue;
        }
        if (mp.accessMode === 'ReadOnly') {
          findings.push(`${who}: ${path}: property "${property}" is ReadOnly in DeviceModel ${model.metadata.name}`);
          continue;
        }
        const check = checkValue(mp, value);
        if (!check.ok) {
          findings.push(`${who}: ${path}: ${check.reason} (model type ${mp.type ?? 'STRING'})`);
          continue;
        }
        changes.push({ index: idx, value, property, type: mp.type ?? 'STRING' });
      }
      if (findings.length > 0) return { code: 400, findings };
      try {
        const device = await source.setDesired(d, changes);
        const results = changes.map(({ index, value, property, type }) => {
          const previous = d.spec.properties?.[index]?.desired?.value;
          const result: DesiredResult = {
            kind: 'Device',
            namespace: ns,
            name,
            property,
            action: 'configured',
            resourceVersion: device.metadata.resourceVersion ?? '',
            // The same value again is still a write (a new desired.metadata.timestamp): it re-asserts the
            // command, so it overrides an edge-local desired value (docs/twin.md). Callers can say so.
            reasserted: previous !== undefined && sameValue(type, previous, value),
          };
          if (previous !== undefined) result.previous = previous;
          return result;
        });
        return { results, device };
      } catch (e) {
        if (e instanceof NotFoundError) return { code: 404, findings: [`${who}: -: not found`] };
        if (!(e instanceof ConflictError)) throw e;
        // The Kubernetes cache may lag the write that beat us; give the watch a moment to catch up.
        await new Promise((r) => setImmediate(r));
      }
    }
    return { code: 409, findings: [`${who}: metadata.resourceVersion: changed concurrently three times; try again`] };
  };

  /** Body {values: {property: value, ...}} (all or none), or {property, value} for one. */
  app.post<{ Params: { ns: string; name: string } }>('/devices/:ns/:name/desired', async (req, reply) => {
    const { ns, name } = req.params;
    const body = (req.body ?? {}) as { property?: unknown; value?: unknown; values?: unknown };
    const who = `Device/${ns}/${name}`;
    let values: Array<[string, unknown]>;
    if (body.values !== undefined) {
      if (typeof body.values !== 'object' || body.values === null || Array.isArray(body.values))
        return fail(reply, 400, [`${who}: values: expected {property: value, ...}`]);
      values = Object.entries(body.values);
      if (values.length === 0) return fail(reply, 400, [`${who}: values: at least one property is required`]);
    } else {
      if (typeof body.property !== 'string' || body.property === '')
        return fail(reply, 400, [`${who}: property: is required (a property name)`]);
      values = [[body.property, body.value]];
    }
    const bad = values.filter(([, v]) => typeof v !== 'string').map(([p]) => `${who}: values.${p}: must be a string`);
    if (bad.length > 0) return fail(reply, 400, bad);
    const w = await writeDesired(ns, name, values as Array<[string, string]>);
    return 'code' in w ? fail(reply, w.code, w.findings) : w;
  });

  /**
   * A device method call (spec.methods, issue 17): each value becomes the desired value of its property, the
   * route of `twin set` (docs/mapper-rest.md, "How a method write reaches the device"). Body: {values: {prop: value}}.
   */
  app.post<{ Params: { ns: string; name: string; method: string } }>(
    '/devices/:ns/:name/methods/:method',
    async (req, reply) => {
      const { ns, name, method } = req.params;
      const who = `Device/${ns}/${name}`;
      const values = (req.body as { values?: unknown } | null)?.values;
      if (!values || typeof values !== 'object' || Array.isArray(values) || Object.keys(values).length === 0)
        return fail(reply, 400, [`${who}: values: expected {property: value, ...} with at least one property`]);
      const d = source.device(ns, name);
      if (!d) return fail(reply, 404, [`${who}: -: not found`]);
      const methods = d.spec.methods ?? [];
      const mi = methods.findIndex((m) => m.name === method);
      if (mi < 0)
        return fail(reply, 404, [
          `${who}: spec.methods: no method "${method}" (has: ${methods.map((m) => m.name).join(', ') || 'none'})`,
        ]);
      const names = methods[mi]!.propertyNames ?? [];
      for (const [property, value] of Object.entries(values as Record<string, unknown>)) {
        if (!names.includes(property))
          return fail(reply, 400, [
            `${who}: spec.methods[${mi}].propertyNames: method "${method}" does not write "${property}" (it writes ${names.join(', ') || 'nothing'})`,
          ]);
        if (typeof value !== 'string') return fail(reply, 400, [`${who}: values.${property}: must be a string`]);
      }
      const w = await writeDesired(ns, name, Object.entries(values as Record<string, string>));
      return 'code' in w ? fail(reply, w.code, w.findings) : { method, ...w };
    },
  );

  app.setErrorHandler((err, req, reply) => {
    const e = err as Error & { statusCode?: number };
    if (e.statusCode && e.statusCode < 500) return fail(reply, e.statusCode, [`-/-/-: -: ${e.message}`]);
    deps.logger.error({ err: e, url: req.url }, 'request failed');
    return fail(reply, 500, [`-/-/-: -: controller error: ${e.message}`]);
  });

  return app;
}

function filesOf(body: unknown): ManifestFile[] | string {
  const sources = (body as { sources?: unknown } | null)?.sources;
  if (!Array.isArray(sources) || sources.length === 0)
    return '-/-/-: sources: expected a non-empty list of {file, text}';
  for (const [i, s] of sources.entries()) {
    if (!s || typeof s !== 'object' || typeof s.file !== 'string' || typeof s.text !== 'string')
      return `-/-/-: sources[${i}]: expected {file: string, text: string}`;
  }
  return sources as ManifestFile[];
}

function rank(o: SourceObject): number {
  return o.kind === 'DeviceModel' ? 0 : 1;
}

async function withStatus(source: Source, d: Device): Promise<Device> {
  if (source.name === 'embedded') return d;
  const status = await source.readStatus(d);
  return status ? { ...d, status } : d;
}
