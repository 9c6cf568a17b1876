// The Kubernetes source: informers (list + watch with resourceVersions and bookmarks, relist on 410 Gone)
// on Device and DeviceModel of devices.kubeedge.io/v1beta1, and status written through the API:
// DeviceStatus (KubeEdge 1.23+, created with an ownerReference to its Device if missing) and, for clients
// of KubeEdge <= 1.22, Device.status. Both with JSON merge patch on the status subresource, or on the
// object itself where the CRD has no status subresource (KubeEdge's own CRDs have none).

import {
  API_VERSION,
  type Device,
  type DeviceModel,
  type DeviceStatus,
  type DeviceStatusFields,
  GROUP,
  VERSION,
} from '@edgetwin/api';
import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  ListWatch,
  Watch,
} from '@kubernetes/client-node';
import pino, { type Logger } from 'pino';
import { ConflictError, NotFoundError } from '../../errors.js';
import { type DesiredValueChange, objectKey, type Source, type SourceEvent, type SourceObject } from '../../source.js';
import { stampDesired } from '../desired-stamp.js';
import { KubeEventRecorder, type KubeEventRecorderOptions } from './event-recorder.js';
import { type RequestOptions, requestOptions } from './request-options.js';

export interface KubernetesSourceOptions {
  /** a kubeconfig file; absent = in-cluster service account if present, else $KUBECONFIG / ~/.kube/config */
  kubeconfigPath?: string;
  /** a ready KubeConfig (tests) */
  kubeConfig?: KubeConfig;
  /** watch one namespace only; default all namespaces */
  namespace?: string;
  /** also merge-patch Device.status for clients of KubeEdge <= 1.22 (default true) */
  legacyDeviceStatus?: boolean;
  logger?: Logger;
  /** first delay before re-listing after a failed list/watch; doubles up to 30 s (default 1000) */
  retryMs?: number;
  /**
   * how long start() keeps retrying a first list that fails with 429, 5xx or no answer (an API server that
   * is starting answers `429 storage is (re)initializing`); default 60 000. 401, 403 and 404 fail at once.
   */
  startTimeoutMs?: number;
  /** every request but watches is aborted after this long (default 30 000): a dead connection never hangs a write */
  requestTimeoutMs?: number;
  /**
   * a watch that received nothing, not even a bookmark (kube-apiserver sends one about every minute), for this
   * long is dropped and opened again (default 90 000): a connection that died silently is noticed in 90 s,
   * not after the kernel's TCP keepalive gives up (about 11 minutes)
   */
  watchIdleTimeoutMs?: number;
}

type Plural = 'devices' | 'devicemodels' | 'devicestatuses';
type Listener = (ev: SourceEvent) => void;

/** The longest Retry-After start() honours, and the longest it waits between first-list attempts. */
const MAX_RETRY_MS = 30_000;

export class KubernetesSource implements Source {
  readonly name = 'kubernetes' as const;
  private readonly kc: KubeConfig;
  private readonly api: CustomObjectsApi;
  private readonly logger: Logger;
  private readonly listeners = new Set<Listener>();
  private readonly informers: {
    devices?: ListWatch<KubernetesObject>;
    models?: ListWatch<KubernetesObject>;
    statuses?: ListWatch<KubernetesObject>;
  } = {};
  /** true when the cluster has no DeviceStatus CRD (KubeEdge <= 1.22): status goes to Device.status only */
  private noDeviceStatus = false;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  /** false once a PATCH on /status answered 404 for an existing object: the CRD has no status subresource */
  private readonly statusSubresource: Record<'devices' | 'devicestatuses', boolean> = {
    devices: true,
    devicestatuses: true,
  };
  /** DeviceStatus objects known to exist, by ns/name */
  private readonly statusExists = new Set<string>();
  private stopped = false;
  /** wakes a start() waiting between first-list attempts when stop() is called */
  private wakeStart?: () => void;
  private readonly plainOpts: RequestOptions;
  private readonly mergePatch: RequestOptions;
  private readonly jsonPatch: RequestOptions;

  constructor(private readonly opts: KubernetesSourceOptions = {}) {
    this.logger = (opts.logger ?? pino({ level: 'silent' })).child({ source: 'kubernetes' });
    this.kc = opts.kubeConfig ?? loadKubeConfig(opts.kubeconfigPath);
    this.api = this.kc.makeApiClient(CustomObjectsApi);
    // every request but the watches carries a deadline (request-options.ts says why)
    const timeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.plainOpts = requestOptions(timeoutMs);
    this.mergePatch = requestOptions(timeoutMs, 'merge');
    this.jsonPatch = requestOptions(timeoutMs, 'json');
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.informers.models = await this.startInformer('devicemodels', 'DeviceModel');
    this.informers.devices = await this.startInformer('devices', 'Device');
    // Status is read from a cache too, so neither `edgetwin get devices` nor the first report of each
    // device costs a GET per device.
    try {
      this.informers.statuses = await this.startInformer('devicestatuses', null);
    } catch (e) {
      if (!(e instanceof ListError) || e.code !== 404) throw e;
      this.noDeviceStatus = true;
      this.logger.warn('no DeviceStatus CRD in the cluster (KubeEdge <= 1.22): status goes to Device.status only');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeStart?.();
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    await this.informers.devices?.stop();
    await this.informers.models?.stop();
    await this.informers.statuses?.stop();
    this.listeners.clear();
  }

  /** A writer of Kubernetes Events on this source's API server, taking Device uids from the informer's cache. */
  eventRecorder(opts: Omit<KubeEventRecorderOptions, 'uidOf' | 'requestTimeoutMs'>): KubeEventRecorder {
    return new KubeEventRecorder(this.kc, {
      ...opts,
      uidOf: (namespace, name) => this.informers.devices?.get(name, namespace)?.metadata?.uid,
      requestTimeoutMs: this.opts.requestTimeoutMs ?? 30_000,
    });
  }

  devices(): Device[] {
    return (this.informers.devices?.list() ?? []).map((d) => normalize(d, 'Device') as Device);
  }

  models(): DeviceModel[] {
    return (this.informers.models?.list() ?? []).map((m) => normalize(m, 'DeviceModel') as DeviceModel);
  }

  device(namespace: string, name: string): Device | undefined {
    const d = this.informers.devices?.get(name, namespace);
    return d && (normalize(d, 'Device') as Device);
  }

  model(namespace: string, name: string): DeviceModel | undefined {
    const m = this.informers.models?.get(name, namespace);
    return m && (normalize(m, 'DeviceModel') as DeviceModel);
  }

  onEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async readStatus(device: Device): Promise<DeviceStatusFields | undefined> {
    const { namespace, name } = idOf(device);
    const ds = this.informers.statuses?.get(name, namespace) as DeviceStatus | undefined;
    if (ds) {
      this.statusExists.add(objectKey(device));
      return ds.status && structuredClone(ds.status);
    }
    // No DeviceStatus yet: a cluster migrated from KubeEdge <= 1.22 still has twins in Device.status.
    const s = device.status;
    return s && (s.twins || s.state) ? structuredClone(s) : undefined;
  }

  async writeStatus(device: Device, status: DeviceStatusFields): Promise<void> {
    const key = objectKey(device);
    if (!this.noDeviceStatus) {
      if (!this.statusExists.has(key)) await this.createDeviceStatus(device);
      await this.patchStatus('devicestatuses', device, { status });
    }
    if (this.noDeviceStatus || (this.opts.legacyDeviceStatus ?? true)) {
      const legacy: DeviceStatusFields = {};
      if (status.twins) legacy.twins = status.twins;
      if (status.state !== undefined) legacy.state = status.state;
      if (status.lastOnlineTime !== undefined) legacy.lastOnlineTime = status.lastOnlineTime;
      await this.patchStatus('devices', device, { status: legacy });
    }
  }

  /**
   * JSON patch of one desired value, stamped with desired.metadata.timestamp (desired-stamp.ts: a write of
   * the value already there is still a new command for the edge). The `test` operations make it fail,
   * instead of writing the wrong property, if the device changed since it was read (a conflict the caller
   * can retry); so replacing the whole `desired` object cannot drop metadata someone else just wrote.
   */
  async setDesired(device: Device, changes: readonly DesiredValueChange[]): Promise<Device> {
    const { namespace, name } = idOf(device);
    const now = Date.now();
    // One patch for every change: the API server applies all of its operations or none.
    const body: Array<{ op: string; path: string; value: unknown }> = [
      { op: 'test', path: '/metadata/resourceVersion', value: device.metadata.resourceVersion },
    ];
    for (const { index, value } of changes) {
      const prop = device.spec.properties?.[index];
      if (!prop) throw new Error(`Device/${namespace}/${name}: spec.properties[${index}] does not exist`);
      const base = `/spec/properties/${index}`;
      body.push(
        { op: 'test', path: `${base}/name`, value: prop.name },
        {
          op: prop.desired ? 'replace' : 'add',
          path: `${base}/desired`,
          value: stampDesired(prop.desired, value, now),
        },
      );
    }
    const names = changes.map((c) => device.spec.properties?.[c.index]?.name).join(', ');
    try {
      const out = (await this.api.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace, plural: 'devices', name, body },
        this.jsonPatch,
      )) as KubernetesObject;
      return normalize(out, 'Device') as Device;
    } catch (e) {
      // A failed `test` is 422 (Invalid) on the API server; 409 is a conflict proper.
      if (isCode(e, 409) || isCode(e, 422))
        throw new ConflictError({ kind: 'Device', namespace, name }, device.metadata.resourceVersion ?? '', undefined);
      if (isCode(e, 404)) throw new NotFoundError({ kind: 'Device', namespace, name });
      throw withContext(e, `patching devices/${namespace}/${name} (desired values of ${names})`);
    }
  }

  private async createDeviceStatus(device: Device): Promise<void> {
    const { namespace, name } = idOf(device);
    const body: DeviceStatus = {
      apiVersion: API_VERSION,
      kind: 'DeviceStatus',
      metadata: {
        name,
        namespace,
        // Garbage-collected with its Device, as KubeEdge 1.23's controller sets it up.
        ownerReferences: [
          {
            apiVersion: API_VERSION,
            kind: 'Device',
            name,
            uid: device.metadata.uid ?? '',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {},
    };
    try {
      await this.api.createNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace, plural: 'devicestatuses', body },
        this.plainOpts,
      );
      this.logger.info({ device: `${namespace}/${name}` }, 'created DeviceStatus');
    } catch (e) {
      if (!isCode(e, 409)) throw withContext(e, `creating DeviceStatus ${namespace}/${name}`);
    }
    this.statusExists.add(objectKey(device));
  }

  private async patchStatus(plural: 'devices' | 'devicestatuses', device: Device, body: object): Promise<void> {
    const { namespace, name } = idOf(device);
    const req = { group: GROUP, version: VERSION, namespace, plural, name, body };
    if (this.statusSubresource[plural]) {
      try {
        await this.api.patchNamespacedCustomObjectStatus(req, this.mergePatch);
        return;
      } catch (e) {
        if (!isCode(e, 404)) throw withContext(e, `patching ${plural}/${namespace}/${name}/status`);
        // 404 on /status: either the object is gone or the CRD has no status subresource. Ask the object.
        if (!(await this.exists(plural, namespace, name))) return this.gone(plural, namespace, name);
        // Said once: concurrent writes all meet the 404 before the first of them has found out why.
        if (this.statusSubresource[plural]) {
          this.statusSubresource[plural] = false;
          this.logger.info({ plural }, 'CRD has no status subresource; patching status on the object itself');
        }
      }
    }
    try {
      await this.api.patchNamespacedCustomObject(req, this.mergePatch);
    } catch (e) {
      if (isCode(e, 404)) return this.gone(plural, namespace, name);
      throw withContext(e, `patching ${plural}/${namespace}/${name}`);
    }
  }

  private gone(plural: Plural, namespace: string, name: string): void {
    if (plural === 'devicestatuses') {
      // Deleted under us (by hand, or collected with a Device of the same name that was re-created):
      // fail this write so it is retried, and the retry creates it again.
      this.statusExists.delete(`${namespace}/${name}`);
      throw new Error(`DeviceStatus ${namespace}/${name} disappeared while writing status; it will be re-created`);
    }
    // The Device was deleted: nothing left to write status to.
    this.logger.debug({ plural, namespace, name }, 'status target gone');
  }

  private async exists(plural: Plural, namespace: string, name: string): Promise<boolean> {
    try {
      await this.api.getNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace, plural, name },
        this.plainOpts,
      );
      return true;
    } catch (e) {
      if (isCode(e, 404)) return false;
      throw withContext(e, `reading ${plural}/${namespace}/${name}`);
    }
  }

  /**
   * Starts an informer; `kind` null keeps a cache only, without forwarding events. Resolves once the first
   * list is in the cache. A first list refused with 429 or 5xx, or not answered, is tried again (after the
   * server's Retry-After, else with backoff) until startTimeoutMs: an API server that is starting answers
   * `429 storage is (re)initializing` for a few seconds, and a controller started beside it must not exit.
   */
  private async startInformer(plural: Plural, kind: SourceObject['kind'] | null): Promise<ListWatch<KubernetesObject>> {
    const ns = this.opts.namespace;
    const path = ns ? `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${plural}` : `/apis/${GROUP}/${VERSION}/${plural}`;
    const initialBackoff = this.opts.retryMs ?? 1000;
    let backoff = initialBackoff;
    // Backoff starts over whenever the server answers a list or opens a watch, not only when an object
    // changes: after a few API server restarts with no change in between it had grown to 30 s for good.
    const answered = () => {
      backoff = initialBackoff;
    };
    const list = async () => {
      const out = (await (ns
        ? this.api.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural }, this.plainOpts)
        : this.api.listClusterCustomObject({ group: GROUP, version: VERSION, plural }, this.plainOpts))) as {
        items: KubernetesObject[];
        metadata?: { resourceVersion?: string };
      };
      answered();
      return out;
    };
    // makeInformer does not ask for bookmarks; with them a quiet watch still advances its resourceVersion,
    // so a reconnect resumes instead of re-listing everything after the server has compacted history.
    const informer = new ListWatch<KubernetesObject>(
      path,
      new BookmarkWatch(this.kc, answered, this.opts.watchIdleTimeoutMs ?? 90_000),
      list as never,
      false,
    );
    const emit = (type: SourceEvent['type']) => (obj: KubernetesObject) => {
      if (kind === null) return;
      if (type === 'DELETED' && kind === 'Device') this.statusExists.delete(objectKey(obj as unknown as Device));
      const event: SourceEvent = { type, object: normalize(obj, kind) };
      for (const l of this.listeners) {
        try {
          l(event);
        } catch (e) {
          this.logger.error({ err: e, object: objectKey(event.object) }, 'source listener failed');
        }
      }
    };
    let firstError: unknown;
    let starting = true;
    informer.on('add', emit('ADDED'));
    informer.on('update', emit('MODIFIED'));
    informer.on('delete', emit('DELETED'));
    const retry = (err: unknown) => {
      if (this.stopped) return;
      this.logger.warn({ err: describe(err), plural, retryInMs: backoff }, 'list/watch failed; retrying');
      const t = setTimeout(() => {
        this.retryTimers.delete(t);
        if (!this.stopped) void informer.start();
      }, backoff);
      this.retryTimers.add(t);
      backoff = Math.min(backoff * 2, 30_000);
    };
    informer.on('error', (err: unknown) => {
      if (starting) firstError = err;
      else retry(err);
    });
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 60_000);
    for (let attempt = 1; ; attempt++) {
      firstError = undefined;
      starting = true;
      await informer.start();
      starting = false;
      if (firstError === undefined) break;
      // A list that worked followed by a failed watch is retried like any later failure.
      if (informer.latestResourceVersion() !== '') {
        retry(firstError);
        break;
      }
      // A failed first list means no usable view of the cluster yet.
      await informer.stop();
      const code = errorCode(firstError);
      const waitMs = Math.min(retryAfterMs(firstError) ?? backoff, MAX_RETRY_MS);
      const transient = code === 0 || code === 429 || code >= 500;
      if (!transient || this.stopped || Date.now() + waitMs > deadline) {
        const what = `listing ${plural} from ${this.kc.getCurrentCluster()?.server ?? 'the cluster'}`;
        const tries = attempt > 1 ? ` (${attempt} attempts)` : '';
        throw new ListError(`${withContext(firstError, what).message}${tries}`, code);
      }
      this.logger.warn({ plural, code, err: describe(firstError), retryInMs: waitMs }, 'first list failed; retrying');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, waitMs);
        this.wakeStart = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeStart = undefined;
      backoff = Math.min(backoff * 2, MAX_RETRY_MS);
    }
    this.logger.info(
      { plural, resourceVersion: informer.latestResourceVersion(), objects: informer.list().length },
      'listed',
    );
    return informer;
  }
}

/** The first list of a resource failed (code: HTTP status, 0 if no answer). */
class ListError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'ListError';
  }
}

/**
 * Watch that asks the server for BOOKMARK events, says when the server accepted a watch, and drops a watch
 * that stayed silent for idleMs (a dead connection the kernel has not noticed).
 */
class BookmarkWatch extends Watch {
  constructor(
    kc: KubeConfig,
    private readonly onOpened: () => void,
    private readonly idleMs: number,
  ) {
    super(kc);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    let idle: NodeJS.Timeout | undefined;
    let controller: AbortController | undefined;
    const arm = () => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => controller?.abort(), this.idleMs);
      idle.unref();
    };
    // Watch.watch reports a refused or failed request through done(err) before it returns
    let failed = false;
    controller = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true },
      (phase, obj, raw) => {
        arm();
        callback(phase, obj, raw);
      },
      (err) => {
        if (idle) clearTimeout(idle);
        idle = undefined;
        if (err) failed = true;
        done(err);
      },
    );
    if (!failed) {
      this.onOpened();
      arm();
    }
    return controller;
  }
}

/** HTTP status of a failed request; 0 when the server did not answer. */
function errorCode(e: unknown): number {
  if (e instanceof ApiException) return e.code;
  const status = (e as { statusCode?: unknown })?.statusCode;
  return typeof status === 'number' ? status : 0;
}

/** The Retry-After of a 429/503 answer, in ms (seconds form only, as the API server sends it). */
function retryAfterMs(e: unknown): number | undefined {
  if (!(e instanceof ApiException)) return undefined;
  const headers = e.headers as Record<string, string | undefined> | undefined;
  const raw = headers?.['retry-after'] ?? headers?.['Retry-After'];
  const s = Number(raw);
  return raw !== undefined && Number.isFinite(s) && s >= 0 ? s * 1000 : undefined;
}

/** A short form of a list/watch error for the log (ApiException messages carry every header). */
function describe(e: unknown): string {
  if (e instanceof ApiException) {
    const body = e.body as { message?: string } | string | undefined;
    return `HTTP ${e.code}: ${typeof body === 'object' && body?.message ? body.message : String(body ?? '')}`;
  }
  return (e as Error)?.message ?? String(e);
}

export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

function normalize(o: KubernetesObject, kind: SourceObject['kind']): SourceObject {
  const out = structuredClone(o) as unknown as SourceObject;
  out.apiVersion = API_VERSION;
  out.kind = kind;
  out.metadata.namespace ??= 'default';
  out.spec ??= {};
  return out;
}

function idOf(d: Device): { namespace: string; name: string } {
  return { namespace: d.metadata.namespace ?? 'default', name: d.metadata.name };
}

function isCode(e: unknown, code: number): boolean {
  return e instanceof ApiException && e.code === code;
}

export function withContext(e: unknown, what: string): Error {
  if (e instanceof ApiException) {
    const body = e.body as { message?: string } | string | undefined;
    const msg = typeof body === 'object' && body?.message ? body.message : String(body ?? e.message);
    return new Error(`${what}: HTTP ${e.code}: ${msg}`);
  }
  return new Error(`${what}: ${(e as Error)?.message ?? String(e)}`);
}
