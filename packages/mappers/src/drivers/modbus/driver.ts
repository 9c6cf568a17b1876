// The Modbus device driver: one device (one unit ID) on a shared line. Reads are batched per table and
// decoded in the raw view (no scale, whole word for `bit` properties): the framework applies scale and bit.

import { type ConfigData, formatConfigIssue, type ResolvedDevice, type ResolvedProperty } from '@edgetwin/api';
import {
  type DeviceDriver,
  type DeviceHealth,
  type DriverContext,
  DriverError,
  type RawValue,
  type ReadResult,
  rejectReadOnly,
} from '../../framework/driver.js';
import { planReads, type ReadGroup } from './batch.js';
import {
  decodeModbusBits,
  decodeModbusRegisters,
  encodeModbusBits,
  encodeModbusRegisters,
  ModbusCodecError,
} from './codec.js';
import { type ModbusPoint, type ModbusProtocolConfig, parseModbusVisitor } from './config.js';
import { toDriverError } from './errors.js';
import type { LineRegistry, ModbusLine } from './line.js';

interface PointKey {
  visitor: ConfigData;
  type: string;
  access: string;
}
type PointEntry = (PointKey & { point: ModbusPoint }) | (PointKey & { error: string });

interface Plan {
  entries: PointEntry[];
  groups: ReadGroup[];
  errors: Array<[string, DriverError]>;
  gapsRefused: boolean;
}

interface ReadBlock {
  bits?: boolean[];
  words?: number[];
}

const TABLE_NAMES = {
  coil: 'coils',
  discrete: 'discrete inputs',
  holding: 'holding registers',
  input: 'input registers',
};
const REGISTER_NAMES = {
  coil: 'CoilRegister',
  discrete: 'DiscreteInputRegister',
  holding: 'HoldingRegister',
  input: 'InputRegister',
};

export class ModbusDeviceDriver implements DeviceDriver {
  private line: ModbusLine | undefined;
  /** parsed visitors by property name; reused while type, access and visitor content stay the same */
  private readonly points = new Map<string, PointEntry>();
  /** recent read plans; the framework may pass a new array for the same properties on every cycle */
  private plans: Plan[] = [];
  /** the property array of the last readBatch and its plan: the framework passes the same array every cycle
   *  until the spec changes (it never changes one in place), so a cycle plans nothing (issue 15) */
  private lastProps: readonly ResolvedProperty[] | undefined;
  private lastPlan: Plan | undefined;
  /** per read group, the words last read and the values decoded from them: steady registers are not decoded again */
  private readonly lastWords = new WeakMap<ReadGroup, { words: number[]; values: RawValue[] }>();
  private lastOk: boolean | undefined;
  private writes: Promise<unknown> = Promise.resolve();
  /** set once the device refused a merged read over a gap (a hole in its register map) */
  private gapsRefused = false;
  private readonly where: string;

  constructor(
    private readonly device: ResolvedDevice,
    private readonly cfg: ModbusProtocolConfig,
    private readonly lines: LineRegistry,
    private readonly ctx: DriverContext,
  ) {
    this.where = `device ${device.id} (unit ${cfg.slaveId} on ${cfg.lineKey})`;
    ctx.signal.addEventListener('abort', () => void this.disconnect(), { once: true });
  }

  async connect(): Promise<void> {
    this.line ??= this.lines.acquire(this.cfg);
    try {
      await this.line.open();
      this.lastOk = true;
    } catch (e) {
      this.lastOk = false;
      throw e instanceof DriverError
        ? e
        : toDriverError(e, { where: this.where, action: 'connecting', timeoutMs: this.cfg.timeoutMs });
    }
  }

  async readBatch(properties: ResolvedProperty[]): Promise<Map<string, ReadResult>> {
    const results = new Map<string, ReadResult>();
    const groups = this.planFor(properties, results);
    // every group is queued on the line at once (they run in order); one group needs no Promise.all
    if (groups.length === 1) await this.readGroup(groups[0]!, results);
    else await Promise.all(groups.map((g) => this.readGroup(g, results)));
    return results;
  }

  /** The read plan of a property list, reused while the framework passes the same properties. */
  private planFor(properties: ResolvedProperty[], results: Map<string, ReadResult>): ReadGroup[] {
    const last = this.lastPlan;
    if (last && properties === this.lastProps && last.gapsRefused === this.gapsRefused) {
      for (const [name, error] of last.errors) results.set(name, { ok: false, error });
      return last.groups;
    }
    const plan = this.planOf(properties);
    this.lastProps = properties;
    this.lastPlan = plan;
    for (const [name, error] of plan.errors) results.set(name, { ok: false, error });
    return plan.groups;
  }

  private planOf(properties: ResolvedProperty[]): Plan {
    const entries = properties.map((p) => this.pointOf(p));
    const cached = this.plans.find(
      (pl) =>
        pl.gapsRefused === this.gapsRefused &&
        pl.entries.length === entries.length &&
        pl.entries.every((e, i) => e === entries[i]),
    );
    if (cached) return cached;
    const errors: Array<[string, DriverError]> = [];
    const points: ModbusPoint[] = [];
    entries.forEach((e, i) => {
      if ('error' in e) errors.push([properties[i]!.name, new DriverError(e.error, 'config', false)]);
      else points.push(e.point);
    });
    const groups = planReads(points, this.gapsRefused ? 0 : this.cfg.maxGap, this.cfg.maxReadRegisters);
    // a device is read in a few property sets (one per collect cycle); keep the last few plans
    const plan = { entries, groups, errors, gapsRefused: this.gapsRefused };
    this.plans = [plan, ...this.plans.slice(0, 7)];
    return plan;
  }

  /**
   * Writes of one device run one after another, so two bit properties of one register cannot interleave
   * their read-modify-write cycles.
   */
  write(property: ResolvedProperty, value: RawValue): Promise<void> {
    const run = this.writes.then(() => this.writeNow(property, value));
    this.writes = run.catch(() => undefined);
    return run;
  }

  private async writeNow(property: ResolvedProperty, value: RawValue): Promise<void> {
    rejectReadOnly(this.device.id, property);
    const p = this.pointOf(property);
    if ('error' in p) throw new DriverError(p.error, 'config', false);
    // a boolean for a `bit` property changes that bit only; anything else writes the point as parsed
    const point: ModbusPoint =
      typeof value === 'boolean' && p.point.booleanBit !== undefined
        ? { ...p.point, type: 'boolean', bit: p.point.booleanBit, bits: 1 }
        : p.point;
    if (!point.writable)
      throw new DriverError(
        `device ${this.device.id}: property ${property.name} is on ${REGISTER_NAMES[point.table]}, which is read-only`,
        'config',
        false,
      );
    const action = `writing ${property.name} to ${describeRange(point.table, point.offset, point.count)}`;
    const line = this.requireLine(action);
    const unit = this.cfg.slaveId;
    const timeout = this.cfg.timeoutMs;
    try {
      if (point.table === 'coil') {
        const bits = encode(() => encodeModbusBits(point, value), this.device.id);
        if (point.writeFunction === 5)
          await line.request(timeout, (c, done) => c.writeFC5(unit, point.offset, bits[0] as boolean, done));
        else await line.request(timeout, (c, done) => c.writeFC15(unit, point.offset, bits, done));
      } else {
        // a boolean for a `bit` property, or any bitfield, changes only its bits: read-modify-write
        const partial = point.type === 'bitfield' || point.bit !== undefined;
        let words: number[];
        if (partial) {
          const current = await line.request<{ data: number[] }>(timeout, (c, done) =>
            c.writeFC3(unit, point.offset, point.count, done),
          );
          words = encode(() => encodeModbusRegisters(point, value, current.data), this.device.id);
        } else {
          words = encode(() => encodeModbusRegisters(point, value), this.device.id);
        }
        if (point.writeFunction === 6)
          await line.request(timeout, (c, done) => c.writeFC6(unit, point.offset, words[0] as number, done));
        else await line.request(timeout, (c, done) => c.writeFC16(unit, point.offset, words, done));
      }
      this.lastOk = true;
    } catch (e) {
      if (e instanceof DriverError && (e.code === 'out-of-range' || e.code === 'config')) throw e;
      const err = toDriverError(e, { where: `${this.where} property ${property.name}`, action, timeoutMs: timeout });
      this.noteFailure(err);
      throw err;
    }
  }

  async health(): Promise<DeviceHealth> {
    if (!this.line || this.lastOk === undefined) return 'unknown';
    if (!this.line.connected) return 'offline';
    return this.lastOk ? 'online' : 'unhealthy';
  }

  async disconnect(): Promise<void> {
    const line = this.line;
    this.line = undefined;
    if (line) await this.lines.release(line);
  }

  private requireLine(action: string): ModbusLine {
    if (!this.line) throw new DriverError(`${this.where}: not connected ${action}`, 'not-connected', true);
    return this.line;
  }

  private pointOf(prop: ResolvedProperty): PointEntry {
    // the framework hands a new visitor object when a property changes: re-parse only then
    const cached = this.points.get(prop.name);
    if (
      cached &&
      cached.type === prop.type &&
      cached.access === prop.accessMode &&
      sameFlat(cached.visitor, prop.visitor)
    )
      return cached;
    const parsed = parseModbusVisitor(prop);
    const base = { visitor: prop.visitor, type: prop.type, access: prop.accessMode };
    const entry: PointEntry = parsed.ok
      ? { ...base, point: parsed.value }
      : { ...base, error: `device ${this.device.id}: ${parsed.issues.map(formatConfigIssue).join('; ')}` };
    this.points.set(prop.name, entry);
    return entry;
  }

  private async readGroup(g: ReadGroup, results: Map<string, ReadResult>): Promise<void> {
    try {
      const block = await this.readBlock(g);
      const ts = Date.now();
      const values = this.decodeGroup(g, block);
      for (let i = 0; i < values.length; i++)
        results.set(g.members[i]!.property, { ok: true, value: values[i]!, timestamp: ts });
      this.lastOk = true;
    } catch (e) {
      const modbusCode = (e as { modbusCode?: number }).modbusCode;
      if (modbusCode === 2 && g.members.length > 1) {
        // a hole between the properties: read them one by one, and stop merging over gaps for this device
        this.gapsRefused = true;
        this.ctx.logger.info(
          { device: this.device.id, range: describeRange(g.table, g.start, g.count) },
          'modbus device refused a merged read; reading properties separately',
        );
        await Promise.all(
          g.members.map((p) =>
            this.readGroup({ table: p.table, start: p.offset, count: p.count, members: [p] }, results),
          ),
        );
        return;
      }
      const action = `reading ${describeRange(g.table, g.start, g.count)}`;
      const err = toDriverError(e, { where: this.where, action, timeoutMs: this.cfg.timeoutMs });
      this.noteFailure(err);
      for (const p of g.members)
        results.set(p.property, {
          ok: false,
          error: new DriverError(`${err.message} (property ${p.property})`, err.code, err.retryable, { cause: e }),
        });
    }
  }

  /** The raw values of a group's members, decoded again only when a register word changed. */
  private decodeGroup(g: ReadGroup, block: ReadBlock): RawValue[] {
    const words = block.words;
    if (!words) return g.members.map((p) => decodeFrom(block, g.start, p));
    const last = this.lastWords.get(g);
    if (last && sameWords(last.words, words)) return last.values;
    const values = g.members.map((p) => decodeFrom(block, g.start, p));
    this.lastWords.set(g, { words, values });
    return values;
  }

  private readBlock(g: ReadGroup): Promise<ReadBlock> {
    // the action string is built only when it is needed (not connected), not on every read
    const line = this.line ?? this.requireLine(`reading ${describeRange(g.table, g.start, g.count)}`);
    const unit = this.cfg.slaveId;
    const t = this.cfg.timeoutMs;
    switch (g.table) {
      case 'coil':
        return line
          .request<{ data: boolean[] }>(t, (c, done) => c.writeFC1(unit, g.start, g.count, done))
          .then((r) => ({ bits: r.data }));
      case 'discrete':
        return line
          .request<{ data: boolean[] }>(t, (c, done) => c.writeFC2(unit, g.start, g.count, done))
          .then((r) => ({ bits: r.data }));
      case 'holding':
        return line
          .request<{ data: number[] }>(t, (c, done) => c.writeFC3(unit, g.start, g.count, done))
          .then((r) => ({ words: r.data }));
      default:
        return line
          .request<{ data: number[] }>(t, (c, done) => c.writeFC4(unit, g.start, g.count, done))
          .then((r) => ({ words: r.data }));
    }
  }

  private noteFailure(err: DriverError): void {
    this.lastOk = false;
    this.ctx.logger.debug({ device: this.device.id, code: err.code, err: err.message }, 'modbus request failed');
  }
}

function sameWords(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Equal visitor configData (flat scalars; anything nested compares by identity). */
function sameFlat(a: ConfigData, b: ConfigData): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

/** Decodes one property from a block, in raw units (config.ts parses a boolean's `bit` as its whole word). */
function decodeFrom(block: ReadBlock, start: number, p: ModbusPoint): RawValue {
  const from = p.offset - start;
  if (block.bits) return decodeModbusBits(p, from === 0 ? block.bits : block.bits.slice(from, from + p.count));
  return decodeModbusRegisters(p, from === 0 ? (block.words ?? []) : (block.words ?? []).slice(from, from + p.count));
}

function encode<T>(fn: () => T, deviceId: string): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ModbusCodecError)
      throw new DriverError(`device ${deviceId}: ${e.message}`, 'out-of-range', false, { cause: e });
    throw e;
  }
}

function describeRange(table: keyof typeof TABLE_NAMES, start: number, count: number): string {
  return `${TABLE_NAMES[table]} ${start}..${start + count - 1}`;
}
