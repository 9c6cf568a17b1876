// The Modbus device driver: one device (one unit ID) on a shared line. Reads are batched per table and
// decoded in the raw view (no scale, whole word for `bit` properties): the framework applies scale and bit.

import {
  decodeModbusBits,
  decodeModbusRegisters,
  encodeModbusBits,
  encodeModbusRegisters,
  ModbusCodecError,
  type ModbusPoint,
  type ModbusProtocolConfig,
  parseModbusPoint,
  type ResolvedDevice,
  type ResolvedProperty,
  rawModbusPoint,
} from '@edgetwin/api';
import {
  type DeviceDriver,
  type DeviceHealth,
  type DriverContext,
  DriverError,
  type RawValue,
  type ReadResult,
  rejectReadOnly,
} from '../../framework/driver.js';
import { addressOffsetCorrection, correctRead, correctWrite } from './address-offset.js';
import { planReads, type ReadGroup } from './batch.js';
import { toDriverError } from './errors.js';
import type { LineRegistry, ModbusLine } from './line.js';

type PointEntry = { key: string; point: ModbusPoint; correction: number } | { key: string; error: string };

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
  private readonly points = new WeakMap<ResolvedProperty, PointEntry>();
  private readonly corrections = new Map<string, number>();
  private lastOk: boolean | undefined;
  /** set once the device refused a merged read over a gap (a hole in its register map) */
  private gapsRefused = false;
  private readonly where: string;

  constructor(
    private readonly device: ResolvedDevice,
    private readonly cfg: ModbusProtocolConfig,
    private readonly lines: LineRegistry,
    private readonly ctx: DriverContext,
    private readonly cancelFrameworkOffset = true,
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
    const points: ModbusPoint[] = [];
    for (const prop of properties) {
      const p = this.pointOf(prop);
      if ('error' in p) results.set(prop.name, { ok: false, error: new DriverError(p.error, 'config', false) });
      else points.push(p.point);
    }
    const groups = planReads(points, this.gapsRefused ? 0 : this.cfg.maxGap, this.cfg.maxReadRegisters);
    await Promise.all(groups.map((g) => this.readGroup(g, results)));
    return results;
  }

  async write(property: ResolvedProperty, value: RawValue): Promise<void> {
    rejectReadOnly(this.device.id, property);
    const p = this.pointOf(property);
    if ('error' in p) throw new DriverError(p.error, 'config', false);
    const point = p.point;
    value = correctWrite(value, p.correction);
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
        const bits = encode(() => encodeModbusBits(rawModbusPoint(point), value), this.device.id);
        if (point.writeFunction === 5)
          await line.request(timeout, (c, done) => c.writeFC5(unit, point.offset, bits[0] as boolean, done));
        else await line.request(timeout, (c, done) => c.writeFC15(unit, point.offset, bits, done));
      } else {
        // a boolean for a `bit` property, or any bitfield, changes only its bits: read-modify-write
        const partial =
          (point.type === 'boolean' && point.bit !== undefined && typeof value === 'boolean') ||
          point.type === 'bitfield';
        let words: number[];
        if (partial) {
          const current = await line.request<{ data: number[] }>(timeout, (c, done) =>
            c.writeFC3(unit, point.offset, point.count, done),
          );
          words = encode(() => encodeModbusRegisters({ ...point, scale: 1 }, value, current.data), this.device.id);
        } else {
          words = encode(() => encodeModbusRegisters(rawModbusPoint(point), value), this.device.id);
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

  private pointOf(prop: ResolvedProperty): { point: ModbusPoint; correction: number } | { error: string } {
    // the framework may hand a changed visitor for the same property: re-parse when it differs
    const key = `${prop.type}|${prop.accessMode}|${JSON.stringify(prop.visitor)}`;
    const cached = this.points.get(prop);
    if (cached && cached.key === key) {
      if ('correction' in cached) this.corrections.set(prop.name, cached.correction);
      return cached;
    }
    const parsed = parseModbusPoint({
      name: prop.name,
      type: prop.type,
      accessMode: prop.accessMode,
      visitor: prop.visitor,
    });
    const entry: PointEntry = parsed.ok
      ? { key, point: parsed.value, correction: this.cancelFrameworkOffset ? addressOffsetCorrection(prop) : 0 }
      : { key, error: `device ${this.device.id}: ${parsed.errors.join('; ')}` };
    this.points.set(prop, entry);
    if ('correction' in entry) this.corrections.set(prop.name, entry.correction);
    return entry;
  }

  private async readGroup(g: ReadGroup, results: Map<string, ReadResult>): Promise<void> {
    const action = `reading ${describeRange(g.table, g.start, g.count)}`;
    try {
      const block = await this.readBlock(g);
      const ts = Date.now();
      for (const p of g.members)
        results.set(p.property, {
          ok: true,
          value: correctRead(decodeFrom(block, g.start, p), this.corrections.get(p.property) ?? 0),
          timestamp: ts,
        });
      this.lastOk = true;
    } catch (e) {
      const modbusCode = (e as { modbusCode?: number }).modbusCode;
      if (modbusCode === 2 && g.members.length > 1) {
        // a hole between the properties: read them one by one, and stop merging over gaps for this device
        this.gapsRefused = true;
        this.ctx.logger.info(
          { device: this.device.id, range: action },
          'modbus device refused a merged read; reading properties separately',
        );
        await Promise.all(
          g.members.map((p) =>
            this.readGroup({ table: p.table, start: p.offset, count: p.count, members: [p] }, results),
          ),
        );
        return;
      }
      const err = toDriverError(e, { where: this.where, action, timeoutMs: this.cfg.timeoutMs });
      this.noteFailure(err);
      for (const p of g.members)
        results.set(p.property, {
          ok: false,
          error: new DriverError(`${err.message} (property ${p.property})`, err.code, err.retryable, { cause: e }),
        });
    }
  }

  private readBlock(g: ReadGroup): Promise<ReadBlock> {
    const line = this.requireLine(`reading ${describeRange(g.table, g.start, g.count)}`);
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

function decodeFrom(block: ReadBlock, start: number, p: ModbusPoint): RawValue {
  const from = p.offset - start;
  const raw = rawModbusPoint(p);
  if (block.bits) return decodeModbusBits(raw, block.bits.slice(from, from + p.count));
  return decodeModbusRegisters(raw, (block.words ?? []).slice(from, from + p.count));
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
