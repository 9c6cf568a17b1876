// The virtual protocol (KubeEdge's virtualProtocol of new-counter-demo): visitor configData `name`
// picks a value of a simulated device. Protocol configData: `instance` (which simulated device; default
// the device ID), `latencyMs` (a slow device).

import { formatConfigIssue, type ResolvedDevice, type ResolvedProperty } from '@edgetwin/api';
import {
  type DeviceDriver,
  type DeviceHealth,
  DriverError,
  type DriverFactory,
  type RawValue,
  type ReadResult,
  rejectReadOnly,
} from '../../framework/driver.js';
import { parseVirtualProtocol, parseVirtualVisitor, validateVirtualDevice } from './config.js';
import { type VirtualDevice, virtualDevice } from './device.js';

function nameOf(p: ResolvedProperty): string {
  return String(p.visitor.name ?? p.name);
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

class VirtualDriver implements DeviceDriver {
  private connected = false;
  private readonly sim: VirtualDevice;

  constructor(
    private readonly device: ResolvedDevice,
    private readonly signal: AbortSignal,
  ) {
    const proto = parseVirtualProtocol(device.protocolConfig);
    const cfg = proto.ok ? proto.value : { latencyMs: 0 };
    this.sim = virtualDevice(cfg.instance ?? device.id);
    if (cfg.latencyMs > 0) this.sim.latencyMs = cfg.latencyMs;
  }

  private unreachable(): DriverError {
    return new DriverError(
      `device ${this.device.id}: connection refused (virtual device unreachable)`,
      'connection',
      true,
    );
  }

  private ensure(p: ResolvedProperty): void {
    const name = nameOf(p);
    if (this.sim.has(name)) return;
    const spec = parseVirtualVisitor(p);
    if (!spec.ok)
      throw new DriverError(
        `device ${this.device.id}: ${spec.issues.map(formatConfigIssue).join('; ')}`,
        'config',
        false,
      );
    this.sim.define(name, spec.value);
  }

  async connect(): Promise<void> {
    await abortableDelay(this.sim.latencyMs, this.signal);
    if (!this.sim.reachable) throw this.unreachable();
    for (const p of this.device.properties) this.ensure(p);
    this.connected = true;
  }

  async readBatch(properties: ResolvedProperty[]): Promise<Map<string, ReadResult>> {
    await abortableDelay(this.sim.latencyMs, this.signal);
    const out = new Map<string, ReadResult>();
    const down = !this.sim.reachable ? this.unreachable() : !this.connected ? this.notConnected() : undefined;
    if (down) this.connected = false;
    for (const p of properties) {
      if (down) {
        out.set(p.name, { ok: false, error: down });
        continue;
      }
      try {
        this.ensure(p);
        out.set(p.name, { ok: true, value: this.sim.read(nameOf(p)), timestamp: Date.now() });
      } catch (e) {
        out.set(p.name, {
          ok: false,
          error: e instanceof DriverError ? e : new DriverError((e as Error).message, 'io', false),
        });
      }
    }
    return out;
  }

  private notConnected(): DriverError {
    return new DriverError(`device ${this.device.id}: not connected`, 'not-connected', true);
  }

  async write(property: ResolvedProperty, value: RawValue): Promise<void> {
    rejectReadOnly(this.device.id, property);
    await abortableDelay(this.sim.latencyMs, this.signal);
    if (!this.sim.reachable) {
      this.connected = false;
      throw this.unreachable();
    }
    if (!this.connected) throw this.notConnected();
    this.ensure(property);
    const name = nameOf(property);
    const typeProblem = wrongJsType(property, value);
    const refused = typeProblem ?? this.sim.refuse(name, value);
    if (refused)
      throw new DriverError(`device ${this.device.id} property ${property.name}: ${refused}`, 'out-of-range', false);
    this.sim.set(name, value);
  }

  async health(): Promise<DeviceHealth> {
    if (!this.sim.reachable) return 'offline';
    return this.connected ? 'online' : 'offline';
  }

  async disconnect(): Promise<void> {
    this.connected = false;
  }
}

/** A raw value whose JS type cannot carry the model type (a string for an INT property). */
function wrongJsType(p: ResolvedProperty, v: RawValue): string | undefined {
  const t = p.type;
  if ((t === 'INT' || t === 'FLOAT' || t === 'DOUBLE') && typeof v !== 'number')
    return `a ${t} property takes a number, not ${JSON.stringify(v)}`;
  if (t === 'INT' && !Number.isInteger(v)) return `an INT property takes an integer, not ${v}`;
  if (t === 'BOOLEAN' && typeof v !== 'boolean')
    return `a BOOLEAN property takes true or false, not ${JSON.stringify(v)}`;
  return undefined;
}

export const virtualDriverFactory: DriverFactory = {
  protocol: 'virtualProtocol',
  validate: (device) => validateVirtualDevice(device),
  create(device, ctx) {
    return new VirtualDriver(device, ctx.signal);
  },
};
