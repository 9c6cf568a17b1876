// Simulated "physical" devices for the virtual protocol: named values driven by generators. Values are
// computed from the clock when read (no timers), so a thousand virtual devices cost nothing while idle.
// A test or demo reaches the same instance the mapper reads through virtualDevice(id).

import type { RawValue } from '../../framework/driver.js';

import { STATUS_ALIASES, type ValueSpec } from './config.js';

interface Slot {
  spec: ValueSpec;
  /** echo/random: current value; counter: value at `since` */
  value: RawValue;
  since: number;
}

export class VirtualDevice {
  /** false = every operation fails as if the device were unplugged */
  reachable = true;
  /** added to every operation, to simulate a slow device */
  latencyMs = 0;
  private readonly slots = new Map<string, Slot>();

  constructor(readonly id: string) {}

  /** Declares (or re-declares, keeping the value) a named value. */
  define(name: string, spec: ValueSpec, now = Date.now()): void {
    const cur = this.slots.get(name);
    if (cur) {
      cur.value = this.read(name, now);
      cur.since = now;
      cur.spec = spec;
      return;
    }
    const initial = spec.initial ?? (spec.generator === 'echo' ? 0 : (spec.min ?? 0));
    this.slots.set(name, { spec, value: initial, since: now });
  }

  has(name: string): boolean {
    return this.slots.has(name);
  }

  read(name: string, now = Date.now()): RawValue {
    const s = this.slots.get(name);
    if (!s) throw new Error(`virtual device ${this.id} has no value "${name}"`);
    const { spec } = s;
    switch (spec.generator) {
      case 'counter': {
        if (this.statusOf() !== 'ON') return s.value;
        return Number(s.value) + Math.floor((now - s.since) / spec.periodMs) * spec.step;
      }
      case 'sine': {
        const base = Number(spec.initial ?? 0);
        const v = base + spec.amplitude * Math.sin((2 * Math.PI * (now - s.since)) / spec.periodMs);
        return Math.round(v * 1000) / 1000;
      }
      case 'random': {
        const steps = Math.min(1000, Math.floor((now - s.since) / spec.periodMs));
        let v = Number(s.value);
        for (let i = 0; i < steps; i++) v = this.clampToRange(v + (Math.random() * 2 - 1) * spec.step, spec);
        if (steps > 0) {
          s.value = Math.round(v * 1000) / 1000;
          s.since += steps * spec.periodMs;
        }
        return s.value;
      }
      default:
        return s.value;
    }
  }

  /** Sets a value as the physical world (or a write) would; for the counter, counting resumes from it. */
  set(name: string, value: RawValue, now = Date.now()): void {
    const s = this.slots.get(name);
    if (!s) throw new Error(`virtual device ${this.id} has no value "${name}"`);
    if (name === 'status' && typeof value === 'string') {
      // freeze every counter at its current value before the switch changes, so PAUSED holds it
      for (const [n, c] of this.slots)
        if (c.spec.generator === 'counter') {
          c.value = this.read(n, now);
          c.since = now;
          if (STATUS_ALIASES[value.toUpperCase()] === 'OFF') c.value = 0;
        }
    }
    s.value = s.spec.generator === 'counter' || s.spec.generator === 'random' ? Number(value) : value;
    s.since = now;
  }

  /** Why `value` cannot be written to `name`, or undefined if it can. */
  refuse(name: string, value: RawValue): string | undefined {
    const s = this.slots.get(name);
    if (!s) return `virtual device ${this.id} has no value "${name}"`;
    const { spec } = s;
    if (spec.generator === 'sine') return `value "${name}" is a sine wave and cannot be written`;
    if (spec.generator === 'counter' && (typeof value !== 'number' || !Number.isInteger(value)))
      if (!(typeof value === 'string' && /^-?\d+$/.test(value)))
        return `counter "${name}" takes an integer, not ${JSON.stringify(value)}`;
    if (spec.allowed && !spec.allowed.includes(String(value)))
      return `value "${name}" takes one of ${spec.allowed.join(', ')}, not ${JSON.stringify(value)}`;
    if (
      typeof value === 'number' &&
      ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max))
    )
      return `value "${name}" must be within [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}], not ${value}`;
    return undefined;
  }

  private statusOf(): 'ON' | 'OFF' | 'PAUSED' {
    const s = this.slots.get('status');
    if (!s) return 'ON';
    return STATUS_ALIASES[String(s.value).toUpperCase()] ?? 'ON';
  }

  private clampToRange(v: number, spec: ValueSpec): number {
    return Math.min(spec.max ?? Number.POSITIVE_INFINITY, Math.max(spec.min ?? Number.NEGATIVE_INFINITY, v));
  }
}

const devices = new Map<string, VirtualDevice>();

/** The shared simulated device behind a virtual-protocol device (created on first use). */
export function virtualDevice(id: string): VirtualDevice {
  let d = devices.get(id);
  if (!d) {
    d = new VirtualDevice(id);
    devices.set(id, d);
  }
  return d;
}

export function removeVirtualDevice(id: string): void {
  devices.delete(id);
}
