// Test helpers for the cloud link: in-memory fakes of the controller's two seams (NodeDesiredState,
// StatusSink), a TCP proxy that can cut or freeze the link like a network would, and device objects.

import type { Device, DeviceModel, OutboxEntry, Presence } from '@edgetwin/api';
import { deviceId } from '@edgetwin/api';
import type { DesiredChange, NodeDesiredState, NodeReportStream, StatusSink } from '../src/contracts.js';

export function model(name: string, rv = '1'): DeviceModel {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name, namespace: 'default', resourceVersion: rv },
    spec: { protocol: 'virtual', properties: [{ name: 'temp', type: 'INT', accessMode: 'ReadWrite' }] },
  };
}

export function device(
  name: string,
  node: string,
  opts: { rv?: string; model?: string; desired?: string } = {},
): Device {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name, namespace: 'default', resourceVersion: opts.rv ?? '1' },
    spec: {
      deviceModelRef: { name: opts.model ?? 'thermo' },
      nodeName: node,
      protocol: { protocolName: 'virtual' },
      properties: [{ name: 'temp', desired: { value: opts.desired ?? '20' } }],
    },
  };
}

/** NodeDesiredState over plain maps; set/remove emit the change the dispatcher would. */
export class FakeDesired implements NodeDesiredState {
  private readonly state = new Map<string, { devices: Map<string, Device>; models: Map<string, DeviceModel> }>();
  private readonly listeners = new Set<(node: string, change: DesiredChange) => void>();

  private of(node: string) {
    let s = this.state.get(node);
    if (!s) {
      s = { devices: new Map(), models: new Map() };
      this.state.set(node, s);
    }
    return s;
  }

  nodes(): string[] {
    return [...this.state.keys()];
  }

  snapshot(node: string) {
    const s = this.of(node);
    return { devices: [...s.devices.values()], models: [...s.models.values()] };
  }

  onChange(listener: (node: string, change: DesiredChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setModel(node: string, m: DeviceModel): void {
    this.of(node).models.set(deviceId(m), m);
    this.emit(node, { kind: 'model', id: deviceId(m), object: m });
  }

  setDevice(node: string, d: Device): void {
    this.of(node).devices.set(deviceId(d), d);
    this.emit(node, { kind: 'device', id: deviceId(d), object: d });
  }

  removeDevice(node: string, id: string): void {
    this.of(node).devices.delete(id);
    this.emit(node, { kind: 'device', id, object: null });
  }

  private emit(node: string, change: DesiredChange): void {
    for (const l of this.listeners) l(node, change);
  }
}

/** StatusSink that records everything and lets a test wait for a condition on what it recorded. */
export class FakeStatus implements StatusSink {
  readonly applied: Array<{ node: string; entry: OutboxEntry }> = [];
  readonly presence: Array<{ node: string; presence: Presence; at: Date }> = [];
  failNext = 0;
  /** the seqs of each applyReports call, in call order */
  readonly calls: number[][] = [];
  /** while set, applyReports waits for it before storing (a slow status write) */
  hold: Promise<void> | undefined;
  private readonly waiters = new Set<() => void>();

  async applyReports(node: string, entries: OutboxEntry[]): Promise<void> {
    this.calls.push(entries.map((e) => e.seq));
    this.wake();
    if (this.hold) await this.hold;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('status store unavailable (test)');
    }
    for (const entry of entries) this.applied.push({ node, entry });
    this.wake();
  }

  readonly streams = new Map<string, NodeReportStream>();

  setNodeReports(node: string, stream: NodeReportStream): void {
    this.streams.set(node, stream);
  }

  setNodePresence(node: string, presence: Presence, at: Date): void {
    this.presence.push({ node, presence, at });
    this.wake();
  }

  seqs(node: string): number[] {
    return this.applied.filter((a) => a.node === node).map((a) => a.entry.seq);
  }

  until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!cond()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
