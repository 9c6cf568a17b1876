// Per-node desired state from a Source: a device goes to spec.nodeName, a model goes with the devices that
// use it. Unlike KubeEdge's controller, a model edit reaches every node holding a device of that model, and
// a status-only change (the edge's own reports coming back through the source) is never sent down.

import type { Device, DeviceModel } from '@edgetwin/api';
import pino, { type Logger } from 'pino';
import type { DesiredChange, NodeDesiredState } from '../contracts.js';
import { objectKey, type Source, type SourceEvent } from '../source.js';
import { stableJson } from '../stable-json.js';

type Listener = (node: string, change: DesiredChange) => void;

export interface DispatcherOptions {
  logger?: Logger;
  /** called once per emitted change, for metrics */
  onEmit?: (change: DesiredChange) => void;
}

export class Dispatcher implements NodeDesiredState {
  /** devices as last dispatched (status stripped), by ns/name */
  private readonly devices = new Map<string, Device>();
  private readonly models = new Map<string, DeviceModel>();
  /** node -> model key -> number of devices on that node using it */
  private readonly modelUse = new Map<string, Map<string, number>>();
  private readonly listeners = new Set<Listener>();
  private readonly logger: Logger;
  private unsubscribe?: () => void;

  constructor(
    private readonly source: Source,
    private readonly opts: DispatcherOptions = {},
  ) {
    this.logger = opts.logger ?? pino({ level: 'silent' });
  }

  /** Subscribes to the source, then takes in what it already holds. Call before or after source.start(). */
  start(): void {
    this.unsubscribe = this.source.onEvent((ev) => this.handle(ev));
    this.sync();
  }

  /** Takes in objects the source holds that this dispatcher has not seen yet (after source.start()). */
  sync(): void {
    for (const m of this.source.models()) if (!this.models.has(objectKey(m))) this.handle({ type: 'ADDED', object: m });
    for (const d of this.source.devices())
      if (!this.devices.has(objectKey(d))) this.handle({ type: 'ADDED', object: d });
  }

  stop(): void {
    this.unsubscribe?.();
    this.listeners.clear();
  }

  nodes(): string[] {
    // every dispatched device counts in modelUse (even one whose model does not exist yet)
    return [...this.modelUse.keys()].sort();
  }

  snapshot(node: string): { devices: Device[]; models: DeviceModel[] } {
    const devices = [...this.devices.values()].filter((d) => d.spec.nodeName === node);
    const models = [...(this.modelUse.get(node)?.keys() ?? [])]
      .map((k) => this.models.get(k))
      .filter((m): m is DeviceModel => m !== undefined);
    return { devices: structuredClone(devices), models: structuredClone(models) };
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The node a device is dispatched to ('' if none), as dispatch sees it now. */
  nodeOf(id: string): string {
    return this.devices.get(id)?.spec.nodeName ?? '';
  }

  private handle(ev: SourceEvent): void {
    const key = objectKey(ev.object);
    if (ev.object.kind === 'Device') {
      const next = ev.type === 'DELETED' ? null : forEdge(ev.object);
      this.onDevice(key, this.devices.get(key) ?? null, next);
    } else {
      const next = ev.type === 'DELETED' ? null : ev.object;
      this.onModel(key, this.models.get(key) ?? null, next);
    }
  }

  private onDevice(key: string, old: Device | null, next: Device | null): void {
    if (old && next && sameDesired(old, next)) return;
    const oldNode = old?.spec.nodeName ?? '';
    const newNode = next?.spec.nodeName ?? '';
    const oldModel = old ? modelKeyOf(old) : '';
    const newModel = next ? modelKeyOf(next) : '';
    if (next) this.devices.set(key, next);
    else this.devices.delete(key);

    if (oldNode && oldNode !== newNode) {
      this.emit(oldNode, { kind: 'device', id: key, object: null });
      this.release(oldNode, oldModel);
    }
    if (newNode && next) {
      const sameNode = oldNode === newNode;
      if (!sameNode || oldModel !== newModel) this.acquire(newNode, newModel);
      this.emit(newNode, { kind: 'device', id: key, object: structuredClone(next) });
      if (sameNode && oldModel !== newModel) this.release(newNode, oldModel);
    }
  }

  private onModel(key: string, old: DeviceModel | null, next: DeviceModel | null): void {
    if (old && next && stableJson(old.spec) === stableJson(next.spec)) return;
    if (next) this.models.set(key, next);
    else this.models.delete(key);
    for (const [node, use] of this.modelUse) {
      if ((use.get(key) ?? 0) > 0) this.emit(node, { kind: 'model', id: key, object: next && structuredClone(next) });
    }
  }

  /** A device of `model` arrives on `node`; the model goes with it the first time. */
  private acquire(node: string, model: string): void {
    let use = this.modelUse.get(node);
    if (!use) {
      use = new Map();
      this.modelUse.set(node, use);
    }
    const n = use.get(model) ?? 0;
    use.set(model, n + 1);
    const m = this.models.get(model);
    if (n === 0 && m) this.emit(node, { kind: 'model', id: model, object: structuredClone(m) });
  }

  /** A device of `model` leaves `node`; the model leaves with the last one. */
  private release(node: string, model: string): void {
    const use = this.modelUse.get(node);
    const n = use?.get(model) ?? 0;
    if (!use || n === 0) return;
    if (n > 1) {
      use.set(model, n - 1);
      return;
    }
    use.delete(model);
    if (use.size === 0) this.modelUse.delete(node);
    if (this.models.has(model)) this.emit(node, { kind: 'model', id: model, object: null });
  }

  private emit(node: string, change: DesiredChange): void {
    this.logger.debug({ node, kind: change.kind, id: change.id, removed: change.object === null }, 'dispatch');
    this.opts.onEmit?.(change);
    for (const l of this.listeners) {
      try {
        l(node, change);
      } catch (e) {
        this.logger.error({ err: e, node, id: change.id }, 'desired-state listener failed');
      }
    }
  }
}

/** ns/name of the model a device uses (models live in the device's namespace). */
export function modelKeyOf(d: Device): string {
  return `${d.metadata.namespace ?? 'default'}/${d.spec.deviceModelRef?.name ?? ''}`;
}

/**
 * The device as the edge receives it: no reported status (it comes from the edge), except the two fields
 * KubeEdge 1.19-1.22 kept in status as settings (reportToCloud, reportCycle).
 */
function forEdge(d: Device): Device {
  const { status, ...rest } = d;
  const out: Device = structuredClone(rest);
  if (status && (status.reportToCloud !== undefined || status.reportCycle !== undefined)) {
    out.status = {};
    if (status.reportToCloud !== undefined) out.status.reportToCloud = status.reportToCloud;
    if (status.reportCycle !== undefined) out.status.reportCycle = status.reportCycle;
  }
  return out;
}

function sameDesired(a: Device, b: Device): boolean {
  return (
    stableJson(a.spec) === stableJson(b.spec) &&
    stableJson(a.metadata.labels ?? {}) === stableJson(b.metadata.labels ?? {}) &&
    stableJson(a.status ?? {}) === stableJson(b.status ?? {})
  );
}
