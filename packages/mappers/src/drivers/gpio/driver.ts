// The GPIO driver: one pin per property. Raw values are logical booleans (active-low already applied);
// the framework turns them into ON/OFF (visitor onValue/offValue), true/false or 1/0 by model type.

import { formatConfigIssue, type ResolvedDevice, type ResolvedProperty } from '@edgetwin/api';
import {
  type DeviceDriver,
  type DeviceHealth,
  type DriverContext,
  DriverError,
  type DriverFactory,
  type RawValue,
  type ReadResult,
  rejectReadOnly,
} from '../../framework/driver.js';
import { type GpioBackend, GpioError, type GpioLine, type Level } from './backend.js';
import {
  type GpioDeviceConfig,
  type GpioPinConfig,
  parseGpioProtocol,
  parseGpioVisitor,
  validateGpioDevice,
} from './config.js';
import { libgpiodBackend } from './libgpiod-backend.js';
import { simulatedBackend } from './simulated-chip.js';
import { sysfsBackend } from './sysfs-backend.js';

export function gpioBackend(name: GpioDeviceConfig['backend']): GpioBackend {
  return name === 'simulated' ? simulatedBackend : name === 'sysfs' ? sysfsBackend : libgpiodBackend;
}

function toDriverError(e: unknown, context: string): DriverError {
  if (e instanceof DriverError) return e;
  const msg = `${context}: ${(e as Error).message}`;
  if (e instanceof GpioError) {
    if (e.code === 'backend-unavailable') return new DriverError(msg, 'connection', false, { cause: e });
    if (e.code === 'pin-inaccessible' || e.code === 'config')
      return new DriverError(msg, 'config', false, { cause: e });
    return new DriverError(msg, 'io', true, { cause: e });
  }
  return new DriverError(msg, 'io', true, { cause: e });
}

/** Visitors name edges of the logical level; an active-low line sees them inverted. */
function physicalEdge(cfg: GpioPinConfig): GpioPinConfig['edge'] {
  if (!cfg.activeLow) return cfg.edge;
  return cfg.edge === 'rising' ? 'falling' : cfg.edge === 'falling' ? 'rising' : cfg.edge;
}

interface OpenLine {
  line: GpioLine;
  key: string;
  cfg: GpioPinConfig;
}

class GpioDriver implements DeviceDriver {
  private readonly lines = new Map<number, OpenLine>();
  private connected = false;
  private lastIoFailed = false;

  constructor(
    private readonly device: ResolvedDevice,
    private readonly cfg: GpioDeviceConfig,
    private readonly backend: GpioBackend,
    private readonly ctx: DriverContext,
  ) {}

  async connect(): Promise<void> {
    // open every pin now so a missing backend or an inaccessible pin shows at once, not at first read
    for (const p of this.device.properties) await this.lineFor(p);
    this.connected = true;
    this.lastIoFailed = false;
  }

  private async lineFor(prop: ResolvedProperty): Promise<OpenLine> {
    const where = `device ${this.device.id} property ${prop.name}`;
    const parsed = parseGpioVisitor(prop);
    if (!parsed.ok)
      throw new DriverError(
        `device ${this.device.id}: ${parsed.issues.map(formatConfigIssue).join('; ')}`,
        'config',
        false,
      );
    const cfg = parsed.value;
    const key = `${cfg.direction}/${cfg.edge}/${cfg.activeLow}`;
    const open = this.lines.get(cfg.pin);
    if (open && open.key === key) return open;
    if (open) {
      // the visitor changed direction or edge: re-request just this line
      this.lines.delete(cfg.pin);
      await open.line.release().catch(() => undefined);
    }
    try {
      const line = await this.backend.requestLine(this.cfg.chip, {
        pin: cfg.pin,
        direction: cfg.direction,
        edge: physicalEdge(cfg),
        initial: (cfg.initial !== cfg.activeLow ? 1 : 0) as Level,
        consumer: `edgetwin:${this.device.id}`,
      });
      const entry = { line, key, cfg };
      this.lines.set(cfg.pin, entry);
      return entry;
    } catch (e) {
      throw toDriverError(e, where);
    }
  }

  async readBatch(properties: ResolvedProperty[]): Promise<Map<string, ReadResult>> {
    const out = new Map<string, ReadResult>();
    for (const p of properties) {
      if (!this.connected) {
        out.set(p.name, {
          ok: false,
          error: new DriverError(`device ${this.device.id}: not connected`, 'not-connected', true),
        });
        continue;
      }
      try {
        const { line, cfg } = await this.lineFor(p);
        const level = await line.read();
        this.lastIoFailed = false;
        out.set(p.name, { ok: true, value: (level === 1) !== cfg.activeLow, timestamp: Date.now() });
      } catch (e) {
        this.lastIoFailed = true;
        out.set(p.name, { ok: false, error: toDriverError(e, `device ${this.device.id} property ${p.name}`) });
      }
    }
    return out;
  }

  async write(property: ResolvedProperty, value: RawValue): Promise<void> {
    rejectReadOnly(this.device.id, property);
    const where = `device ${this.device.id} property ${property.name}`;
    if (!this.connected) throw new DriverError(`${where}: not connected`, 'not-connected', true);
    let on: boolean;
    if (typeof value === 'boolean') on = value;
    else if (value === 0 || value === 1) on = value === 1;
    else
      throw new DriverError(
        `${where}: a GPIO pin takes true/false or 0/1, not ${JSON.stringify(value)}`,
        'out-of-range',
        false,
      );
    const { line, cfg } = await this.lineFor(property);
    if (cfg.direction !== 'out') throw new DriverError(`${where}: pin ${cfg.pin} is an input`, 'config', false);
    try {
      await line.write((on !== cfg.activeLow ? 1 : 0) as Level);
      this.lastIoFailed = false;
    } catch (e) {
      this.lastIoFailed = true;
      throw toDriverError(e, where);
    }
  }

  async subscribe(
    properties: ResolvedProperty[],
    onValue: (property: string, value: RawValue, timestamp: number) => void,
  ): Promise<() => Promise<void>> {
    const stops: Array<() => void> = [];
    for (const p of properties) {
      const { line, cfg } = await this.lineFor(p);
      if (cfg.direction !== 'in' || cfg.edge === 'none') continue;
      let timer: NodeJS.Timeout | undefined;
      let last: boolean | undefined;
      const emit = (level: Level, ts: number) => {
        const logical = (level === 1) !== cfg.activeLow;
        if (logical === last) return;
        last = logical;
        onValue(p.name, logical, ts);
      };
      const stopWatch = line.watch((level, ts) => {
        if (cfg.debounceMs <= 0) return emit(level, ts);
        // report the level the pin settles at once it has been quiet for debounceMs
        clearTimeout(timer);
        timer = setTimeout(() => {
          line.read().then(
            (l) => emit(l, Date.now()),
            () => undefined,
          );
        }, cfg.debounceMs);
      });
      stops.push(() => {
        clearTimeout(timer);
        stopWatch();
      });
    }
    return async () => {
      for (const s of stops) s();
    };
  }

  async health(): Promise<DeviceHealth> {
    if (!this.connected) return 'offline';
    const first = this.lines.values().next().value;
    if (!first) return this.lastIoFailed ? 'unhealthy' : 'online';
    try {
      await first.line.read();
      return 'online';
    } catch (e) {
      this.ctx.logger.debug({ device: this.device.id, err: (e as Error).message }, 'gpio health probe failed');
      return 'offline';
    }
  }

  async disconnect(): Promise<void> {
    this.connected = false;
    const lines = [...this.lines.values()];
    this.lines.clear();
    for (const l of lines) await l.line.release().catch(() => undefined);
  }
}

export const gpioDriverFactory: DriverFactory = {
  protocol: 'gpio',
  validate: (device) => validateGpioDevice(device),
  create(device, ctx) {
    const d = parseGpioProtocol(device.protocolConfig);
    if (!d.ok)
      throw new DriverError(`device ${device.id}: ${d.issues.map(formatConfigIssue).join('; ')}`, 'config', false);
    return new GpioDriver(device, d.value, gpioBackend(d.value.backend), ctx);
  },
};
