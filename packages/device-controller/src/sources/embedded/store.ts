// The embedded source: Devices and DeviceModels in one SQLite file, with a global resourceVersion counter
// (like etcd's revision), optimistic concurrency on apply, and a live watch. The default when there is no
// Kubernetes cluster: `edgetwin apply -f` writes here through the controller's HTTP API.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { API_VERSION, type Device, type DeviceModel, type DeviceStatusFields, type ObjectMeta } from '@edgetwin/api';
import Database from 'better-sqlite3';
import pino, { type Logger } from 'pino';
import { ConflictError, NotFoundError, type ObjectRef } from '../../errors.js';
import {
  type DesiredValueChange,
  objectKey,
  type Source,
  type SourceEvent,
  type SourceKind,
  type SourceObject,
} from '../../source.js';
import { stableJson } from '../../stable-json.js';
import { keepStamps, stampDesired } from '../desired-stamp.js';

export { ConflictError, NotFoundError, type ObjectRef } from '../../errors.js';

export type ApplyAction = 'created' | 'configured' | 'unchanged';
export interface ApplyResult extends ObjectRef {
  action: ApplyAction;
  resourceVersion: string;
}

export interface EmbeddedStoreOptions {
  /** SQLite file; ':memory:' for a throwaway store */
  path: string;
  logger?: Logger;
}

interface Row {
  kind: SourceKind;
  namespace: string;
  name: string;
  resource_version: number;
  meta: string;
  spec: string;
  status: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS objects (
  kind TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  resource_version INTEGER NOT NULL,
  meta TEXT NOT NULL,
  spec TEXT NOT NULL,
  status TEXT,
  PRIMARY KEY (kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('resourceVersion', 0);
`;

export class EmbeddedStore implements Source {
  readonly name = 'embedded' as const;
  private readonly db: Database.Database;
  private readonly events = new EventEmitter();
  private readonly cache = { Device: new Map<string, Device>(), DeviceModel: new Map<string, DeviceModel>() };
  private readonly logger: Logger;
  private readonly stmt: {
    nextRv: Database.Statement<[], { value: number }>;
    upsert: Database.Statement<[string, string, string, number, string, string, string | null]>;
    remove: Database.Statement<[string, string, string]>;
    setStatus: Database.Statement<[number, string, string, string, string]>;
  };

  constructor(opts: EmbeddedStoreOptions) {
    this.logger = opts.logger ?? pino({ level: 'silent' });
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives a process crash; only an OS crash can lose the last commits.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.stmt = {
      nextRv: this.db.prepare(
        "UPDATE counters SET value = value + 1 WHERE name = 'resourceVersion' RETURNING value",
      ) as Database.Statement<[], { value: number }>,
      upsert: this.db.prepare(
        `INSERT INTO objects (kind, namespace, name, resource_version, meta, spec, status) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (kind, namespace, name) DO UPDATE SET resource_version = excluded.resource_version,
           meta = excluded.meta, spec = excluded.spec, status = excluded.status`,
      ),
      remove: this.db.prepare('DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?'),
      setStatus: this.db.prepare(
        'UPDATE objects SET resource_version = ?, status = ? WHERE kind = ? AND namespace = ? AND name = ?',
      ),
    };
    this.load();
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    this.close();
  }

  close(): void {
    this.events.removeAllListeners();
    if (this.db.open) this.db.close();
  }

  /** The newest resourceVersion handed out (a list at this version is complete). */
  resourceVersion(): string {
    const row = this.db.prepare("SELECT value FROM counters WHERE name = 'resourceVersion'").get() as { value: number };
    return String(row.value);
  }

  devices(): Device[] {
    return [...this.cache.Device.values()].map(clone);
  }

  models(): DeviceModel[] {
    return [...this.cache.DeviceModel.values()].map(clone);
  }

  device(namespace: string, name: string): Device | undefined {
    const d = this.cache.Device.get(`${namespace}/${name}`);
    return d && clone(d);
  }

  model(namespace: string, name: string): DeviceModel | undefined {
    const m = this.cache.DeviceModel.get(`${namespace}/${name}`);
    return m && clone(m);
  }

  get(ref: ObjectRef): SourceObject | undefined {
    return ref.kind === 'Device' ? this.device(ref.namespace, ref.name) : this.model(ref.namespace, ref.name);
  }

  onEvent(listener: (event: SourceEvent) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  /**
   * Creates or replaces objects, all or nothing. An object that names a metadata.resourceVersion is written
   * only if that is still the stored version (optimistic concurrency); without one, the last writer wins.
   * Status in the input is ignored: status belongs to the edge. An object whose spec, labels and
   * annotations are unchanged is left alone (no new resourceVersion, no event). A stored
   * desired.metadata.timestamp is kept where the input has the same desired value and no timestamp.
   */
  apply(objects: SourceObject[]): ApplyResult[] {
    const pending: SourceEvent[] = [];
    const results = this.db.transaction(() =>
      objects.map((given) => {
        const ref = refOf(given);
        const key = `${ref.namespace}/${ref.name}`;
        const existing = this.cache[ref.kind].get(key) as SourceObject | undefined;
        // A manifest says nothing about when `twin set` last asserted a value it agrees with; keep that stamp
        // (as kubectl apply keeps fields it did not set), so re-applying an unchanged file changes nothing.
        const input = existing?.kind === 'Device' && given.kind === 'Device' ? keepStamps(existing, given) : given;
        const wanted = input.metadata.resourceVersion;
        if (wanted !== undefined && wanted !== '' && wanted !== existing?.metadata.resourceVersion)
          throw new ConflictError(ref, wanted, existing?.metadata.resourceVersion);
        if (existing && sameContent(existing, input))
          return { ...ref, action: 'unchanged' as const, resourceVersion: existing.metadata.resourceVersion ?? '' };
        const rv = this.stmt.nextRv.get()!.value;
        const meta: ObjectMeta = {
          ...(input.metadata.labels ? { labels: input.metadata.labels } : {}),
          ...(input.metadata.annotations ? { annotations: input.metadata.annotations } : {}),
          name: ref.name,
          namespace: ref.namespace,
          uid: existing?.metadata.uid ?? randomUUID(),
          resourceVersion: String(rv),
          generation: (existing?.metadata.generation ?? 0) + (existing && sameSpec(existing, input) ? 0 : 1),
          creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        };
        const status = existing?.kind === 'Device' ? (existing.status ?? null) : null;
        this.stmt.upsert.run(
          ref.kind,
          ref.namespace,
          ref.name,
          rv,
          JSON.stringify(meta),
          JSON.stringify(input.spec ?? {}),
          status && JSON.stringify(status),
        );
        const stored = build(ref.kind, meta, input.spec ?? {}, status);
        pending.push({ type: existing ? 'MODIFIED' : 'ADDED', object: stored });
        return {
          ...ref,
          action: existing ? ('configured' as const) : ('created' as const),
          resourceVersion: String(rv),
        };
      }),
    )();
    this.publish(pending);
    return results;
  }

  /** Deletes objects, all or nothing; a missing one is reported as not found and nothing is deleted. */
  delete(refs: ObjectRef[]): ApplyResult[] {
    const pending: SourceEvent[] = [];
    const results = this.db.transaction(() =>
      refs.map((ref) => {
        const existing = this.cache[ref.kind].get(`${ref.namespace}/${ref.name}`) as SourceObject | undefined;
        if (!existing) throw new NotFoundError(ref);
        const rv = this.stmt.nextRv.get()!.value;
        this.stmt.remove.run(ref.kind, ref.namespace, ref.name);
        const gone = clone(existing);
        gone.metadata.resourceVersion = String(rv);
        pending.push({ type: 'DELETED', object: gone });
        return { ...ref, action: 'configured' as const, resourceVersion: String(rv) };
      }),
    )();
    this.publish(pending);
    return results;
  }

  /**
   * Sets spec.properties[index].desired.value and stamps desired.metadata.timestamp, if the device is still
   * at the version given (else ConflictError). The stamp makes every write a spec change, even of the value
   * already there: the edge treats a new stamp as a new command that overrides an edge-local desired value.
   */
  async setDesired(device: Device, changes: readonly DesiredValueChange[]): Promise<Device> {
    const next = structuredClone(device);
    delete next.status;
    const now = Date.now();
    for (const { index, value } of changes) {
      const prop = next.spec.properties?.[index];
      if (!prop) throw new Error(`Device/${objectKey(device)}: spec.properties[${index}] does not exist`);
      prop.desired = stampDesired(prop.desired, value, now);
    }
    this.apply([next]);
    return this.device(device.metadata.namespace ?? 'default', device.metadata.name)!;
  }

  async readStatus(device: Device): Promise<DeviceStatusFields | undefined> {
    const d = this.cache.Device.get(objectKey(device));
    return d?.status && clone(d.status);
  }

  /** Replaces a device's status (one SQLite commit); a status change is an event like any other. */
  async writeStatus(device: Device, status: DeviceStatusFields): Promise<void> {
    this.writeStatusSync(device, status);
  }

  writeStatusSync(device: Device, status: DeviceStatusFields): boolean {
    const key = objectKey(device);
    const existing = this.cache.Device.get(key);
    if (!existing) return false;
    const rv = this.db.transaction(() => {
      const next = this.stmt.nextRv.get()!.value;
      this.stmt.setStatus.run(
        next,
        JSON.stringify(status),
        'Device',
        existing.metadata.namespace!,
        existing.metadata.name,
      );
      return next;
    })();
    const stored = build('Device', { ...existing.metadata, resourceVersion: String(rv) }, existing.spec, status);
    this.publish([{ type: 'MODIFIED', object: stored }]);
    return true;
  }

  private publish(events: SourceEvent[]): void {
    for (const ev of events) {
      const key = objectKey(ev.object);
      if (ev.type === 'DELETED') this.cache[ev.object.kind].delete(key);
      else if (ev.object.kind === 'Device') this.cache.Device.set(key, ev.object);
      else this.cache.DeviceModel.set(key, ev.object);
    }
    for (const ev of events) {
      try {
        this.events.emit('event', clone(ev));
      } catch (e) {
        this.logger.error({ err: e, object: objectKey(ev.object) }, 'store watcher failed');
      }
    }
  }

  private load(): void {
    const rows = this.db.prepare('SELECT * FROM objects ORDER BY resource_version').all() as Row[];
    for (const r of rows) {
      const obj = build(
        r.kind,
        JSON.parse(r.meta) as ObjectMeta,
        JSON.parse(r.spec),
        r.status ? (JSON.parse(r.status) as DeviceStatusFields) : null,
      );
      if (obj.kind === 'Device') this.cache.Device.set(objectKey(obj), obj);
      else this.cache.DeviceModel.set(objectKey(obj), obj);
    }
    this.logger.debug({ objects: rows.length }, 'embedded store loaded');
  }
}

function refOf(o: SourceObject): ObjectRef {
  return { kind: o.kind, namespace: o.metadata.namespace || 'default', name: o.metadata.name };
}

function build(
  kind: SourceKind,
  meta: ObjectMeta,
  spec: Device['spec'] | DeviceModel['spec'],
  status: DeviceStatusFields | null,
): SourceObject {
  if (kind === 'Device') {
    const d: Device = { apiVersion: API_VERSION, kind, metadata: meta, spec: spec as Device['spec'] };
    if (status) d.status = status;
    return d;
  }
  return { apiVersion: API_VERSION, kind, metadata: meta, spec: spec as DeviceModel['spec'] };
}

function sameSpec(a: SourceObject, b: SourceObject): boolean {
  return stableJson(a.spec ?? {}) === stableJson(b.spec ?? {});
}

function sameContent(a: SourceObject, b: SourceObject): boolean {
  return (
    sameSpec(a, b) &&
    stableJson(a.metadata.labels ?? {}) === stableJson(b.metadata.labels ?? {}) &&
    stableJson(a.metadata.annotations ?? {}) === stableJson(b.metadata.annotations ?? {})
  );
}

function clone<T>(v: T): T {
  return structuredClone(v);
}
