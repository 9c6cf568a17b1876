// Applies the cloud's retained desired state to the twin (docs/cloud-link.md, "resync"). Objects are
// applied as they arrive (a device whose model has not arrived yet waits for it); the DesiredIndex says
// when the node has everything: once every object it lists has been seen at the listed version, whatever
// the twin holds that the index does not list is removed, devices first, then models. That is how a
// deletion made while the edge was away reaches it without any history being replayed.

import {
  type DesiredIndex,
  type Device,
  type DeviceModel,
  cloudTopics,
  decodeDesiredIndex,
  desiredVersion,
  deviceId,
} from '@edgetwin/api';
import type { Logger } from 'pino';
import type { DesiredStateSink } from '../contracts.js';
import { isTwinError } from '../errors.js';

interface PendingDevice {
  device: Device;
  version: string;
  modelId: string;
}

export interface DesiredApplierOptions {
  /** first delay before asking the broker again for objects an index lists but that have not arrived */
  healAfterMs?: number;
}

export class DesiredApplier {
  /** version last seen (applied, or refused by the twin) per object id */
  private readonly seenDevices = new Map<string, string>();
  private readonly seenModels = new Map<string, string>();
  private readonly pending = new Map<string, PendingDevice>();
  /** ids whose last message could not be read: nothing to wait for, the cloud has to send them again */
  private readonly unreadable = new Set<string>();
  private index: DesiredIndex | undefined;
  private syncedIndex: DesiredIndex | undefined;
  private synced = 0;
  private readonly syncListeners = new Set<(generation: number) => void>();
  private healTimer: NodeJS.Timeout | undefined;
  private healDelay: number;
  private readonly healBase: number;

  constructor(
    private readonly twin: DesiredStateSink,
    private readonly node: string,
    private readonly log: Logger,
    private readonly requestHeal: (topics: string[]) => void,
    opts: DesiredApplierOptions = {},
  ) {
    this.healBase = opts.healAfterMs ?? 2000;
    this.healDelay = this.healBase;
    // what the twin already holds (from SQLite) counts as seen, so an unchanged object is not re-applied
    const held = twin.desiredIndex();
    for (const [id, v] of Object.entries(held.devices)) if (v) this.seenDevices.set(id, v);
    for (const [id, v] of Object.entries(held.models)) if (v) this.seenModels.set(id, v);
  }

  /** The generation of the last index the twin was reconciled with (0 = none yet). */
  get syncedGeneration(): number {
    return this.synced;
  }

  onSynced(listener: (generation: number) => void): () => void {
    this.syncListeners.add(listener);
    return () => this.syncListeners.delete(listener);
  }

  onDevice(id: string, payload: Buffer): void {
    if (payload.length === 0) {
      this.pending.delete(id);
      this.seenDevices.delete(id);
      this.guard(`remove Device ${id}`, () => this.twin.removeDevice(id));
      this.check();
      return;
    }
    const device = this.parse<Device>(payload, 'Device', id);
    if (!device) return;
    if (deviceId(device) !== id) {
      this.log.error(
        { node: this.node, id, named: deviceId(device) },
        'cloud link: Device names another id than its topic',
      );
      this.seenDevices.set(id, desiredVersion(device));
      this.check();
      return;
    }
    this.applyDevice(id, device, desiredVersion(device));
    this.check();
  }

  onModel(id: string, payload: Buffer): void {
    if (payload.length === 0) {
      this.seenModels.delete(id);
      // still used by a device the cloud removes next: the reconcile after the index removes it then
      try {
        this.twin.removeModel(id);
      } catch (err) {
        this.log.debug(
          { node: this.node, model: id, err: (err as Error).message },
          'cloud link: model removal deferred',
        );
      }
      this.check();
      return;
    }
    const model = this.parse<DeviceModel>(payload, 'DeviceModel', id);
    if (!model) return;
    const version = desiredVersion(model);
    if (this.seenModels.get(id) !== version) {
      this.guard(`apply DeviceModel ${id}`, () => this.twin.upsertModel(model));
      this.seenModels.set(id, version);
    }
    for (const [devId, p] of [...this.pending]) {
      if (p.modelId !== id) continue;
      this.pending.delete(devId);
      this.applyDevice(devId, p.device, p.version);
    }
    this.check();
  }

  onIndex(payload: Buffer): void {
    if (payload.length === 0) return;
    const decoded = decodeDesiredIndex(payload);
    if (!decoded.ok) {
      this.log.error({ node: this.node, error: decoded.error }, 'cloud link: ignored a bad desired index');
      return;
    }
    if (decoded.value.node !== this.node) {
      this.log.error({ node: this.node, claimed: decoded.value.node }, 'cloud link: ignored an index for another node');
      return;
    }
    // the retained index is the cloud's latest view; generations only order the log lines
    this.index = decoded.value;
    this.healDelay = this.healBase;
    this.check();
  }

  close(): void {
    if (this.healTimer) clearTimeout(this.healTimer);
    this.healTimer = undefined;
  }

  private applyDevice(id: string, device: Device, version: string): void {
    if (this.seenDevices.get(id) === version) return;
    const modelId = `${device.metadata.namespace ?? 'default'}/${device.spec?.deviceModelRef?.name ?? ''}`;
    try {
      this.twin.upsertDevice(device);
    } catch (err) {
      if (isTwinError(err) && err.code === 404) {
        this.pending.set(id, { device, version, modelId });
        return;
      }
      this.log.error({ node: this.node, device: id, err: (err as Error).message }, 'cloud link: twin refused a Device');
    }
    this.seenDevices.set(id, version);
  }

  /** Reconciles when the index is satisfied; otherwise makes sure a heal is scheduled. */
  private check(): void {
    const index = this.index;
    if (!index || index === this.syncedIndex) return;
    const missing: string[] = [];
    for (const [id, v] of Object.entries(index.models))
      if (this.seenModels.get(id) !== v && !this.unreadable.has(`model ${id}`))
        missing.push(cloudTopics.model(this.node, id));
    for (const [id, v] of Object.entries(index.devices)) {
      const waiting = this.pending.get(id);
      if (waiting && waiting.version === v && index.models[waiting.modelId] === undefined) {
        // the cloud lists the device but not its model: it will never apply; do not hold up deletions for it
        this.log.error(
          { node: this.node, device: id, model: waiting.modelId },
          'cloud link: index lists a device without its model',
        );
        continue;
      }
      if (this.seenDevices.get(id) !== v && !this.unreadable.has(`device ${id}`))
        missing.push(cloudTopics.device(this.node, id));
    }
    if (missing.length > 0) {
      this.scheduleHeal(missing);
      return;
    }
    this.reconcile(index);
  }

  private reconcile(index: DesiredIndex): void {
    const held = this.twin.desiredIndex();
    let removed = 0;
    for (const id of Object.keys(held.devices)) {
      if (index.devices[id] !== undefined) continue;
      this.guard(`remove Device ${id}`, () => this.twin.removeDevice(id));
      this.seenDevices.delete(id);
      removed++;
    }
    for (const id of [...this.pending.keys()]) if (index.devices[id] === undefined) this.pending.delete(id);
    for (const id of Object.keys(held.models)) {
      if (index.models[id] !== undefined) continue;
      this.guard(`remove DeviceModel ${id}`, () => this.twin.removeModel(id));
      this.seenModels.delete(id);
      removed++;
    }
    this.synced = index.generation;
    this.syncedIndex = index;
    if (this.healTimer) clearTimeout(this.healTimer);
    this.healTimer = undefined;
    this.healDelay = this.healBase;
    this.log.info(
      {
        node: this.node,
        generation: index.generation,
        devices: Object.keys(index.devices).length,
        models: Object.keys(index.models).length,
        removed,
      },
      'cloud link: twin reconciled with the desired index',
    );
    for (const l of this.syncListeners) l(index.generation);
  }

  private scheduleHeal(missing: string[]): void {
    if (this.healTimer) return;
    this.healTimer = setTimeout(() => {
      this.healTimer = undefined;
      const index = this.index;
      if (!index || index === this.syncedIndex) return;
      this.log.warn(
        { node: this.node, missing: missing.length, generation: index.generation },
        'cloud link: asking again for objects the index lists',
      );
      this.requestHeal(missing);
      this.healDelay = Math.min(this.healDelay * 2, 30_000);
      this.check();
    }, this.healDelay);
    this.healTimer.unref();
  }

  private parse<T>(payload: Buffer, kind: 'Device' | 'DeviceModel', id: string): T | undefined {
    const key = `${kind === 'Device' ? 'device' : 'model'} ${id}`;
    try {
      const o = JSON.parse(payload.toString('utf8')) as T & { metadata?: unknown };
      if (!o || typeof o !== 'object' || !o.metadata || typeof o.metadata !== 'object') throw new Error('no metadata');
      this.unreadable.delete(key);
      return o;
    } catch (err) {
      this.unreadable.add(key);
      this.check();
      this.log.error(
        { node: this.node, kind, id, err: (err as Error).message },
        'cloud link: unreadable desired object',
      );
      return undefined;
    }
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ node: this.node, err: (err as Error).message }, `cloud link: could not ${what}`);
    }
  }
}
