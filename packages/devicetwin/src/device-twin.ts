// openDeviceTwin: the edge twin of one node, composed of the SQLite store, the twin algorithm, the KubeEdge
// MQTT API and the mapper-facing device specs. Implements EdgeTwinApi for the cloud link and offers the
// local interface (function calls) used by tests, the CLI and edge apps in-process.

import {
  type DesiredIndex,
  type Device,
  type DeviceModel,
  type DeviceState,
  deviceId,
  dictionary,
  type PropertyType,
  twinMetadataType,
  type PushStatus,
  type ReportStatus,
  type WriteStatus,
} from '@edgetwin/api';
import type { BusClient } from '@edgetwin/eventbus';
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { EdgeTwinApi, Outbox } from './contracts.js';
import { isTwinError } from './errors.js';
import { createTwinMetrics } from './metrics.js';
import { DEFAULT_API_OPTIONS, TwinMqttApi, type TwinMqttApiOptions } from './mqtt/twin-mqtt-api.js';
import { SqliteOutbox } from './outbox.js';
import type { StorageState } from './store/storage-health.js';
import { TwinStore } from './store/twin-store.js';
import { Effects } from './twin/effects.js';
import { TwinEngine } from './twin/engine.js';
import { checkLimits, DEFAULT_TWIN_LIMITS, type TwinLimits } from './twin/limits.js';
import { pendingDelta } from './twin/payloads.js';
import type { DesiredSource, Version } from './twin/records.js';

export interface DeviceTwinOptions extends Partial<TwinMqttApiOptions> {
  /** SQLite file; created with its directory if missing */
  dbPath: string;
  /** this edge node's name (Device spec.nodeName) */
  node: string;
  bus: BusClient;
  logger?: Logger;
  /** what one device may hold (docs/twin.md "Limits"); each absent field takes its default */
  limits?: Partial<TwinLimits>;
}

export interface TwinSideView {
  value: string;
  timestamp: number;
  version: Version;
}

export interface TwinView {
  name: string;
  /** lower-case KubeEdge type name: int, float, double, string, boolean, bytes, stream */
  type: string;
  propertyType: PropertyType;
  optional: boolean;
  expected?: TwinSideView & { source: DesiredSource };
  actual?: TwinSideView;
  /** last desired value the cloud sent (what a local desired value yields to when the cloud changes it) */
  cloudDesired?: string;
  writeStatus?: WriteStatus;
  /** the mapper's last reading of this property that the model refused, while it stays refused */
  refused?: ReportStatus;
  /** the property's pushes to sinks that fail, by sink label, while they fail (issue 17) */
  failingPush?: Record<string, PushStatus>;
}

export interface DeviceTwinView {
  id: string;
  state: DeviceState;
  lastOnline: string;
  twins: Record<string, TwinView>;
  /** properties whose expected value the device does not report yet */
  delta: Record<string, string>;
}

export interface DeviceSummary {
  id: string;
  namespace: string;
  name: string;
  model: string;
  protocol: string;
  state: DeviceState;
  lastOnline: string;
  resourceVersion: string;
}

export interface LoadResult {
  models: string[];
  devices: string[];
  /** devices bound to another node */
  skipped: string[];
  /** objects that were rejected, with the reason; everything else was stored */
  errors: Array<{ object: string; reason: string }>;
}

export interface DeviceTwin extends EdgeTwinApi {
  readonly metrics: Registry;
  readonly dbPath: string;
  getTwin(id: string): DeviceTwinView | undefined;
  listDevices(): DeviceSummary[];
  /** An edge-local desired value (KubeEdge #4166); holds until the cloud's desired value changes. Throws TwinError. */
  setDesiredLocally(id: string, property: string, value: string): Promise<void>;
  /** Models first, then devices whose spec.nodeName is this node or empty. Never throws for bad objects. */
  loadManifests(objects: Array<Device | DeviceModel>): Promise<LoadResult>;
  /** Resolves when every request received so far is handled and its replies handed to the bus. */
  settled(): Promise<void>;
  /** PRAGMA integrity_check of the database ("ok" when intact). */
  integrityCheck(): string;
  /** 'full' while the disk refuses writes (writes get 500, reads answer); 'ok' otherwise */
  storageState(): StorageState;
  onStorageChange(listener: (state: StorageState) => void): () => void;
}

export async function openDeviceTwin(opts: DeviceTwinOptions): Promise<DeviceTwin> {
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'devicetwin', node: opts.node });
  const limits = checkLimits({ ...DEFAULT_TWIN_LIMITS, ...opts.limits });
  const store = new TwinStore(opts.dbPath, (err) => log.error({ err }, 'twin background write failed'));
  store.health.onChange((state, cause) => {
    if (state === 'full')
      log.error(
        { db: opts.dbPath, cause, storage: state },
        'twin storage full: writes are refused with 500, reads still answer; it recovers by itself once space is freed',
      );
    else log.warn({ db: opts.dbPath, storage: state }, 'twin storage writable again');
  });
  try {
    const engine = new TwinEngine(store, opts.node, log, limits);
    const outbox = new SqliteOutbox(store, log, (upTo) => engine.reports.acked(upTo));
    const metrics = createTwinMetrics(
      () => store.outboxDepth(),
      () => store.health.state === 'full',
    );
    const apiOpts: TwinMqttApiOptions = {
      publishQos: opts.publishQos ?? DEFAULT_API_OPTIONS.publishQos,
      maxQueue: opts.maxQueue ?? DEFAULT_API_OPTIONS.maxQueue,
      maxQueuePerDevice: opts.maxQueuePerDevice ?? DEFAULT_API_OPTIONS.maxQueuePerDevice,
      batchMax: opts.batchMax ?? DEFAULT_API_OPTIONS.batchMax,
      batchMaxBytes: opts.batchMaxBytes ?? DEFAULT_API_OPTIONS.batchMaxBytes,
      maxInflight: opts.maxInflight ?? DEFAULT_API_OPTIONS.maxInflight,
      maxInflightPerDevice: opts.maxInflightPerDevice ?? DEFAULT_API_OPTIONS.maxInflightPerDevice,
    };
    const api = new TwinMqttApi(opts.bus, store, engine, metrics, log, apiOpts, () => outbox.notify());
    await api.start();
    const twin = new EdgeDeviceTwin(opts.node, opts.dbPath, store, engine, outbox, api, metrics.registry, log);
    const republish = () => {
      const fx = new Effects();
      engine.republishAll(fx, Date.now());
      return api.publish(fx);
    };
    await republish();
    // A broker that restarted (or an external one that lost its retained messages) gets every mapper spec
    // and pending delta again on reconnect; retained specs are idempotent for mappers.
    twin.onClose(
      opts.bus.onConnect(() => {
        log.info('bus reconnected; republishing mapper specs and pending deltas');
        republish().catch((e: Error) => log.error({ err: e }, 'republish after reconnect failed'));
      }),
    );
    log.info({ devices: engine.devices.size, models: engine.models.size, db: opts.dbPath }, 'twin open');
    return twin;
  } catch (e) {
    store.close();
    throw e;
  }
}

/** How long close() waits for queued requests and their replies before it drops them. */
const CLOSE_TIMEOUT_MS = 5000;

class EdgeDeviceTwin implements DeviceTwin {
  private closing: Promise<void> | undefined;
  private readonly cleanups: Array<() => void> = [];

  constructor(
    readonly node: string,
    readonly dbPath: string,
    private readonly store: TwinStore,
    private readonly engine: TwinEngine,
    readonly outbox: Outbox,
    private readonly api: TwinMqttApi,
    readonly metrics: Registry,
    private readonly log: Logger,
  ) {}

  upsertModel(model: DeviceModel): void {
    this.run((fx, now) => this.engine.upsertModel(model, fx, now));
  }

  removeModel(id: string): void {
    this.run(() => this.engine.removeModel(id));
  }

  upsertDevice(device: Device): void {
    this.run((fx, now) => this.engine.upsertDevice(device, fx, now));
  }

  removeDevice(id: string): void {
    this.run((fx, now) => this.engine.removeDevice(id, fx, now));
  }

  desiredIndex(): Pick<DesiredIndex, 'devices' | 'models'> {
    const devices: Record<string, string> = {};
    const models: Record<string, string> = {};
    for (const d of this.engine.devices.values()) devices[d.id] = d.device.metadata.resourceVersion ?? '';
    for (const m of this.engine.models.values()) models[m.id] = m.model.metadata.resourceVersion ?? '';
    return { devices, models };
  }

  async setDesiredLocally(id: string, property: string, value: string): Promise<void> {
    await this.run((fx, now) => this.engine.setDesiredLocally(id, property, value, fx, now));
  }

  async loadManifests(objects: Array<Device | DeviceModel>): Promise<LoadResult> {
    const result: LoadResult = { models: [], devices: [], skipped: [], errors: [] };
    const pending: Promise<void>[] = [];
    const apply = (label: string, fn: () => Promise<void>) => {
      try {
        pending.push(fn());
        return true;
      } catch (e) {
        result.errors.push({ object: label, reason: (e as Error).message });
        return false;
      }
    };
    for (const o of objects) {
      if (o?.kind !== 'DeviceModel') continue;
      const label = `DeviceModel ${safeId(o)}`;
      if (apply(label, () => this.run((fx, now) => this.engine.upsertModel(o, fx, now)))) result.models.push(safeId(o));
    }
    for (const o of objects) {
      if (o?.kind === 'DeviceModel') continue;
      if (o?.kind !== 'Device') {
        result.errors.push({
          object: `${String((o as { kind?: unknown })?.kind)} ${safeId(o)}`,
          reason: 'kind must be Device or DeviceModel',
        });
        continue;
      }
      const nodeName = o.spec?.nodeName ?? '';
      if (nodeName !== '' && nodeName !== this.node) {
        result.skipped.push(safeId(o));
        continue;
      }
      const label = `Device ${safeId(o)}`;
      if (apply(label, () => this.run((fx, now) => this.engine.upsertDevice(o, fx, now))))
        result.devices.push(safeId(o));
    }
    await Promise.all(pending);
    return result;
  }

  getTwin(id: string): DeviceTwinView | undefined {
    const dev = this.engine.devices.get(id);
    if (!dev) return undefined;
    const twins = dictionary<TwinView>();
    for (const t of dev.twins.values()) {
      const v: TwinView = { name: t.name, type: twinMetadataType(t.type), propertyType: t.type, optional: t.optional };
      if (t.expected !== undefined)
        v.expected = {
          value: t.expected,
          timestamp: t.expectedTs,
          version: { ...t.expectedVersion },
          source: t.expectedSource ?? 'cloud',
        };
      if (t.actual !== undefined)
        v.actual = { value: t.actual, timestamp: t.actualTs, version: { ...t.actualVersion } };
      if (t.cloudDesired !== undefined) v.cloudDesired = t.cloudDesired;
      if (t.writeStatus) v.writeStatus = t.writeStatus;
      if (t.refused) v.refused = t.refused;
      if (t.failingPush?.size) v.failingPush = Object.fromEntries(t.failingPush);
      twins[t.name] = v;
    }
    return { id, state: dev.state, lastOnline: dev.lastOnline, twins, delta: pendingDelta(dev) };
  }

  listDevices(): DeviceSummary[] {
    return [...this.engine.devices.values()].map((d) => ({
      id: d.id,
      namespace: d.namespace,
      name: d.name,
      model: d.modelId,
      protocol: d.device.spec.protocol?.protocolName ?? this.engine.models.get(d.modelId)?.model.spec.protocol ?? '',
      state: d.state,
      lastOnline: d.lastOnline,
      resourceVersion: d.device.metadata.resourceVersion ?? '',
    }));
  }

  settled(): Promise<void> {
    return this.api.settled();
  }

  integrityCheck(): string {
    return this.store.integrityCheck();
  }

  storageState(): StorageState {
    return this.store.health.state;
  }

  onStorageChange(listener: (state: StorageState) => void): () => void {
    return this.store.health.onChange(listener);
  }

  /** Registers something to undo on close (bus listeners). */
  onClose(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const c of this.cleanups) c();
      // producers stop first, in-flight work is awaited (bounded), and only then the database closes: a
      // request still queued after the bound is dropped, never run against a closed database
      if (!(await this.api.close(CLOSE_TIMEOUT_MS)))
        this.log.warn(
          { timeoutMs: CLOSE_TIMEOUT_MS },
          'twin close: replies not all sent; requests still queued dropped',
        );
      this.store.close();
      this.log.info('twin closed');
    })();
    return this.closing;
  }

  /**
   * Runs one piece of work in its own transaction and publishes its effects after commit. Throws the
   * TwinError synchronously (EdgeTwinApi methods are synchronous); the promise settles when published.
   */
  private run(work: (fx: Effects, now: number) => void): Promise<void> {
    if (this.closing) throw new Error(`twin of node ${this.node} is closed`);
    const fx = new Effects();
    const now = Date.now();
    try {
      this.store.transaction(() => work(fx, now));
    } catch (e) {
      // A TwinError from the algorithm comes before any change; a failed write (a full disk included)
      // leaves memory ahead of the rolled-back database.
      if (!isTwinError(e) || this.store.health.state === 'full') {
        if (this.store.health.state !== 'full') this.log.error({ err: e }, 'twin write failed; reloading from disk');
        this.engine.reload();
      }
      throw e;
    }
    return this.api.publish(fx);
  }
}

function safeId(o: unknown): string {
  const meta = (o as { metadata?: { name?: unknown; namespace?: unknown } })?.metadata;
  if (!meta || typeof meta.name !== 'string') return '(no metadata.name)';
  return deviceId({
    metadata: { name: meta.name, namespace: typeof meta.namespace === 'string' ? meta.namespace : undefined },
  });
}
