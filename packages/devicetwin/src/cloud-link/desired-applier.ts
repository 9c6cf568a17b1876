// Applies the cloud's retained desired state to the twin (docs/cloud-link.md, "resync"). Objects are
// applied as they arrive (a device whose model has not arrived yet waits for it); the DesiredIndex says
// when the node has everything: once every object it lists has been seen at the listed version, whatever
// the twin holds that the index does not list is removed, devices first, then models. That is how a
// deletion made while the edge was away reaches it without any history being replayed.
//
// Messages may arrive out of order (a broker under back-pressure, a resend on reconnect, a heal). Every
// object carries the generation of the index published after it, so: an object older than the one applied
// is ignored, an index older than the last one reconciled is ignored, and a reconcile never removes an
// object that arrived with a newer generation than the index's.

import {
  type DesiredIndex,
  type Device,
  type DeviceModel,
  cloudTopics,
  decodeDesiredIndex,
  desiredVersion,
  deviceId,
  takeGeneration,
} from '@edgetwin/api';
import type { Logger } from 'pino';
import type { DesiredStateSink } from '../contracts.js';
import { isTwinError } from '../errors.js';
import type { EdgeLinkMetrics } from './link-metrics.js';

interface PendingDevice {
  device: Device;
  version: string;
  generation: number;
  modelId: string;
}

/** What the link knows of one object: version last seen (applied, or refused by the twin) and its generation. */
interface Seen {
  version: string;
  /** generation stamped on the message; 0 = unknown (held from before this process, or unstamped) */
  generation: number;
}

type Kind = 'device' | 'model';

export interface DesiredApplierOptions {
  /** first delay before asking the broker again for objects an index lists but that have not arrived */
  healAfterMs?: number;
  metrics?: EdgeLinkMetrics;
}

export class DesiredApplier {
  private readonly seen = { device: new Map<string, Seen>(), model: new Map<string, Seen>() };
  /** highest generation seen on the link when an object was deleted: older copies of it are stale */
  private readonly tombs = { device: new Map<string, number>(), model: new Map<string, number>() };
  private readonly pending = new Map<string, PendingDevice>();
  /** ids whose last message could not be read: nothing to wait for, the cloud has to send them again */
  private readonly unreadable = new Set<string>();
  private maxGeneration = 0;
  private index: DesiredIndex | undefined;
  private syncedIndex: DesiredIndex | undefined;
  private synced = 0;
  private readonly syncListeners = new Set<(generation: number) => void>();
  private healTimer: NodeJS.Timeout | undefined;
  /** when the last desired message arrived: no heal while objects are still flowing in */
  private lastMessageAt = 0;
  private healDelay: number;
  private readonly healBase: number;
  private readonly metrics: EdgeLinkMetrics | undefined;

  constructor(
    private readonly twin: DesiredStateSink,
    private readonly node: string,
    private readonly log: Logger,
    private readonly requestHeal: (topics: string[]) => void,
    opts: DesiredApplierOptions = {},
  ) {
    this.healBase = opts.healAfterMs ?? 2000;
    this.metrics = opts.metrics;
    this.healDelay = this.healBase;
    // what the twin already holds (from SQLite) counts as seen, so an unchanged object is not re-applied
    const held = twin.desiredIndex();
    for (const [id, v] of Object.entries(held.devices)) if (v) this.seen.device.set(id, { version: v, generation: 0 });
    for (const [id, v] of Object.entries(held.models)) if (v) this.seen.model.set(id, { version: v, generation: 0 });
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
    this.lastMessageAt = Date.now();
    if (payload.length === 0) {
      this.pending.delete(id);
      this.forget('device', id);
      this.guard(`remove Device ${id}`, () => this.twin.removeDevice(id));
      this.check();
      return;
    }
    const device = this.parse<Device>(payload, 'device', id);
    if (!device) return;
    const generation = takeGeneration(device);
    const version = desiredVersion(device);
    if (deviceId(device) !== id) {
      this.log.error(
        { node: this.node, id, named: deviceId(device) },
        'cloud link: Device names another id than its topic',
      );
      this.seen.device.set(id, { version, generation });
    } else if (this.fresh('device', id, version, generation)) {
      this.applyDevice(id, device, version, generation);
    }
    this.check();
  }

  onModel(id: string, payload: Buffer): void {
    this.lastMessageAt = Date.now();
    if (payload.length === 0) {
      this.forget('model', id);
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
    const model = this.parse<DeviceModel>(payload, 'model', id);
    if (!model) return;
    const generation = takeGeneration(model);
    const version = desiredVersion(model);
    if (this.fresh('model', id, version, generation)) {
      this.guard(`apply DeviceModel ${id}`, () => this.twin.upsertModel(model));
      this.seen.model.set(id, { version, generation });
    }
    for (const [devId, p] of [...this.pending]) {
      if (p.modelId !== id) continue;
      this.pending.delete(devId);
      this.applyDevice(devId, p.device, p.version, p.generation);
    }
    this.check();
  }

  onIndex(payload: Buffer): void {
    this.lastMessageAt = Date.now();
    if (payload.length === 0) return;
    const decoded = decodeDesiredIndex(payload);
    if (!decoded.ok) {
      this.log.error({ node: this.node, error: decoded.error }, 'cloud link: ignored a bad desired index');
      return;
    }
    const index = decoded.value;
    if (index.node !== this.node) {
      this.log.error({ node: this.node, claimed: index.node }, 'cloud link: ignored an index for another node');
      return;
    }
    const latest = this.index?.generation ?? 0;
    // the same index again (retained copy after a reconnect, or two overlapping subscriptions): nothing new
    if (this.syncedIndex && index.generation === this.synced) {
      for (const l of this.syncListeners) l(index.generation);
      return;
    }
    if (index.generation < latest || index.generation < this.synced) {
      this.log.debug({ node: this.node, generation: index.generation, latest }, 'cloud link: ignored an older index');
      return;
    }
    this.note(index.generation);
    this.index = index;
    this.healDelay = this.healBase;
    this.check();
  }

  close(): void {
    if (this.healTimer) clearTimeout(this.healTimer);
    this.healTimer = undefined;
  }

  /** Whether a message for this object should be applied (not a copy of what is applied, not older). */
  private fresh(kind: Kind, id: string, version: string, generation: number): boolean {
    this.note(generation);
    const key = `${kind} ${id}`;
    this.unreadable.delete(key);
    const seen = this.seen[kind].get(id);
    const listed = (kind === 'device' ? this.index?.devices : this.index?.models)?.[id] === version;
    if (seen && generation > 0 && seen.generation > generation && !listed) return false;
    const tomb = this.tombs[kind].get(id);
    if (tomb !== undefined && generation > 0 && generation <= tomb && !listed) return false;
    this.tombs[kind].delete(id);
    if (seen && seen.version === version) {
      seen.generation = Math.max(seen.generation, generation);
      return false;
    }
    return true;
  }

  private forget(kind: Kind, id: string): void {
    this.seen[kind].delete(id);
    this.tombs[kind].set(id, this.maxGeneration);
  }

  private note(generation: number): void {
    if (generation > this.maxGeneration) this.maxGeneration = generation;
  }

  private applyDevice(id: string, device: Device, version: string, generation: number): void {
    const modelId = `${device.metadata.namespace ?? 'default'}/${device.spec?.deviceModelRef?.name ?? ''}`;
    try {
      this.twin.upsertDevice(device);
    } catch (err) {
      if (isTwinError(err) && err.code === 404) {
        this.pending.set(id, { device, version, generation, modelId });
        return;
      }
      this.log.error({ node: this.node, device: id, err: (err as Error).message }, 'cloud link: twin refused a Device');
    }
    this.pending.delete(id);
    this.seen.device.set(id, { version, generation });
  }

  /** Reconciles when the index is satisfied; otherwise makes sure a heal is scheduled. */
  private check(): void {
    const index = this.index;
    if (!index || index === this.syncedIndex) return;
    const missing = this.missingTopics(index);
    if (missing.length > 0) {
      this.scheduleHeal();
      return;
    }
    this.reconcile(index);
  }

  private reconcile(index: DesiredIndex): void {
    const held = this.twin.desiredIndex();
    // an object that arrived with a newer generation than the index was published after it: keep it
    const newer = (kind: Kind, id: string) => (this.seen[kind].get(id)?.generation ?? 0) > index.generation;
    let removed = 0;
    for (const id of Object.keys(held.devices)) {
      if (index.devices[id] !== undefined || newer('device', id)) continue;
      this.guard(`remove Device ${id}`, () => this.twin.removeDevice(id));
      this.seen.device.delete(id);
      removed++;
    }
    for (const [id, p] of [...this.pending])
      if (index.devices[id] === undefined && p.generation <= index.generation) this.pending.delete(id);
    for (const id of Object.keys(held.models)) {
      if (index.models[id] !== undefined || newer('model', id)) continue;
      this.guard(`remove DeviceModel ${id}`, () => this.twin.removeModel(id));
      this.seen.model.delete(id);
      removed++;
    }
    this.synced = index.generation;
    this.syncedIndex = index;
    this.metrics?.reconciles.inc();
    this.metrics?.removedByReconcile.inc(removed);
    this.metrics?.syncedGeneration.set(index.generation);
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

  private scheduleHeal(): void {
    if (!this.healTimer) this.armHeal(this.healDelay);
  }

  private armHeal(delay: number): void {
    this.healTimer = setTimeout(() => this.fireHeal(), delay);
    this.healTimer.unref();
  }

  private fireHeal(): void {
    this.healTimer = undefined;
    const index = this.index;
    if (!index || index === this.syncedIndex) return;
    // a resync of many objects takes longer than the heal delay: ask again only after a quiet spell
    const quietFor = Date.now() - this.lastMessageAt;
    if (quietFor < this.healDelay) {
      this.armHeal(this.healDelay - quietFor);
      return;
    }
    const missing = this.missingTopics(index);
    if (missing.length === 0) {
      this.check();
      return;
    }
    this.log.warn(
      { node: this.node, missing: missing.length, generation: index.generation },
      'cloud link: asking again for objects the index lists',
    );
    this.metrics?.heals.inc();
    this.requestHeal(missing);
    this.healDelay = Math.min(this.healDelay * 2, 30_000);
    this.armHeal(this.healDelay);
  }

  /** Topics of the objects the index lists that the link has not seen at (or after) the index's version. */
  private missingTopics(index: DesiredIndex): string[] {
    const satisfied = (kind: Kind, id: string, version: string) => {
      const seen = this.seen[kind].get(id);
      // seen with a newer generation than the index: this index is older than what we hold for it
      return (
        seen?.version === version ||
        (seen !== undefined && seen.generation > index.generation) ||
        this.unreadable.has(`${kind} ${id}`)
      );
    };
    const out: string[] = [];
    for (const [id, v] of Object.entries(index.models))
      if (!satisfied('model', id, v)) out.push(cloudTopics.model(this.node, id));
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
      if (!satisfied('device', id, v)) out.push(cloudTopics.device(this.node, id));
    }
    return out;
  }

  private parse<T>(payload: Buffer, kind: Kind, id: string): T | undefined {
    try {
      const o = JSON.parse(payload.toString('utf8')) as T & { metadata?: unknown };
      if (!o || typeof o !== 'object' || !o.metadata || typeof o.metadata !== 'object') throw new Error('no metadata');
      return o;
    } catch (err) {
      this.unreadable.add(`${kind} ${id}`);
      this.log.error(
        { node: this.node, kind, id, err: (err as Error).message },
        'cloud link: unreadable desired object',
      );
      this.check();
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
