// Simulated Modbus devices built from the same resolved Device/DeviceModel manifests the mapper reads: each
// device is one unit ID serving exactly the registers, types and byte orders its visitors declare. The
// visitors are parsed by the Modbus driver's own config.ts and encoded by its codec; engineering values
// (scale, valueOffset, a boolean's bit) use the framework's one copy of those transforms, so the
// simulator cannot drift from what the mapper reads (issue 11).

import { formatConfigIssue, parseValue, type ResolvedDevice, type ResolvedProperty } from '@edgetwin/api';
import {
  decodeModbusBits,
  decodeModbusRegisters,
  encodeModbusBits,
  encodeModbusRegisters,
  type ModbusValue,
} from '@edgetwin/mappers/drivers/modbus/codec';
import {
  type ModbusPoint,
  type ModbusTable,
  parseModbusProtocol,
  parseModbusVisitor,
} from '@edgetwin/mappers/drivers/modbus/config';
import {
  extractBit,
  scaleRaw,
  setBit,
  type TransformSpec,
  transformSpecOf,
  unscale,
} from '@edgetwin/mappers/framework/transforms';
import pino, { type Logger } from 'pino';
import { answerPdu, EXCEPTION_DEVICE_FAILURE, EXCEPTION_GATEWAY_TARGET, exceptionPdu } from './pdu.js';
import { RegisterBank } from './register-bank.js';
import type { UnitAnswer, UnitRouter } from './router.js';
import { listenModbusRtu, type RtuListener, type RtuOptions } from './rtu-slave.js';
import { listenModbusTcp, type TcpListener } from './tcp-server.js';

export type ModbusFault = 'timeout' | 'exception' | 'disconnect' | null;

export interface ModbusSimulatorOptions {
  /** resolved devices (resolveDevice / resolveManifests); non-modbus devices are ignored */
  devices: ResolvedDevice[];
  /**
   * Serve over TCP. With `port` (0 = ephemeral) every device is served on that one port, whatever port its
   * manifest names; without `port`, each device on the port its manifest names. Default host 127.0.0.1.
   */
  tcp?: { host?: string; port?: number };
  /** Serve every device as an RTU slave on this serial path. */
  rtu?: RtuOptions;
  /** 'moving': numeric values random-walk within the model's min/max and booleans flip, every tickMs */
  behaviour?: 'static' | 'moving';
  tickMs?: number;
  /** strict: registers no property declares answer exception 2 (default: they read as 0) */
  strict?: boolean;
  logger?: Logger;
}

export interface SimulatorEndpoint {
  kind: 'tcp' | 'rtu';
  host?: string;
  port?: number;
  path?: string;
  devices: string[];
}

export interface ModbusSimulator {
  /** the (first) TCP port served, 0 when only RTU */
  readonly port: number;
  readonly endpoints: SimulatorEndpoint[];
  /** current engineering value (the framework's transforms applied) of a device's property */
  peek(deviceId: string, property: string): ModbusValue;
  /** sets a value as the device would (it stops moving) */
  poke(deviceId: string, property: string, value: ModbusValue): void;
  /** the value as a mapper driver reads it: no transforms, a `bit` property as its whole word */
  peekRaw(deviceId: string, property: string): ModbusValue;
  pokeRaw(deviceId: string, property: string, value: ModbusValue): void;
  setFault(deviceId: string, fault: ModbusFault): void;
  /** one step of the random walk now (tests do not wait for the timer) */
  tick(): void;
  /** requests answered or refused, per device and in total */
  stats(): { requests: number; perDevice: Record<string, number> };
  /** where each property lives, for printing */
  describe(): Array<{ device: string; unit: number; point: ModbusPoint; transforms: TransformSpec }>;
  /** drop open TCP connections (the server keeps listening) */
  dropConnections(): void;
  stop(): Promise<void>;
}

interface SimProperty {
  prop: ResolvedProperty;
  point: ModbusPoint;
  /** the framework's transforms of the property, without its bounds (a simulator may go out of range) */
  spec: TransformSpec;
  pinned: boolean;
}

interface SimDevice {
  id: string;
  unit: number;
  bank: RegisterBank;
  props: Map<string, SimProperty>;
  fault: ModbusFault;
  requests: number;
  endpointKey: string;
}

export async function startModbusSimulator(opts: ModbusSimulatorOptions): Promise<ModbusSimulator> {
  const logger = opts.logger ?? pino({ level: 'silent' });
  const devices = new Map<string, SimDevice>();
  const problems: string[] = [];
  const byEndpoint = new Map<string, Map<number, SimDevice>>();
  const tcpPorts = new Map<string, { host: string; port: number }>();
  const host = opts.tcp?.host ?? '127.0.0.1';

  for (const d of opts.devices) {
    if (d.protocol !== 'modbus') continue;
    const proto = parseModbusProtocol(d.protocolConfig);
    if (!proto.ok) {
      problems.push(...proto.issues.map((i) => `device ${d.id}: ${formatConfigIssue(i)}`));
      continue;
    }
    const bank = new RegisterBank(opts.strict ?? false);
    const props = new Map<string, SimProperty>();
    for (const prop of d.properties) {
      const parsed = parseModbusVisitor(prop);
      const transforms = transformSpecOf(prop);
      if (!parsed.ok || !transforms.ok) {
        const issues = [...(parsed.ok ? [] : parsed.issues), ...transforms.issues];
        problems.push(...issues.map((i) => `device ${d.id}: ${formatConfigIssue(i)}`));
        continue;
      }
      bank.map(parsed.value.table, parsed.value.offset, parsed.value.count);
      const spec = { ...transforms.value };
      delete spec.min;
      delete spec.max;
      props.set(prop.name, { prop, point: parsed.value, spec, pinned: false });
    }
    let endpointKey: string;
    if (opts.rtu) endpointKey = `rtu:${opts.rtu.path}`;
    else {
      const port = opts.tcp?.port ?? proto.value.port;
      endpointKey = `tcp:${opts.tcp?.port === undefined ? port : 'shared'}`;
      tcpPorts.set(endpointKey, { host, port });
    }
    const dev: SimDevice = { id: d.id, unit: proto.value.slaveId, bank, props, fault: null, requests: 0, endpointKey };
    const units = byEndpoint.get(endpointKey) ?? new Map<number, SimDevice>();
    const clash = units.get(dev.unit);
    if (clash)
      problems.push(
        `devices ${clash.id} and ${d.id} both use slaveID ${dev.unit} on ${describeKey(endpointKey, tcpPorts)}`,
      );
    units.set(dev.unit, dev);
    byEndpoint.set(endpointKey, units);
    devices.set(d.id, dev);
  }
  if (problems.length > 0) throw new Error(`modbus simulator: ${problems.join('; ')}`);

  for (const dev of devices.values()) for (const sp of dev.props.values()) initialValue(dev, sp);

  const routerFor = (units: Map<number, SimDevice>): UnitRouter => ({
    answer(unit: number, pdu: Buffer, transport): UnitAnswer {
      const dev = units.get(unit);
      if (!dev) {
        // a TCP gateway says its target did not answer; on a serial line other slaves may own the unit
        return transport === 'tcp'
          ? { kind: 'reply', pdu: exceptionPdu(pdu[0] ?? 0, EXCEPTION_GATEWAY_TARGET) }
          : { kind: 'silent' };
      }
      dev.requests++;
      if (dev.fault === 'timeout') return { kind: 'silent' };
      if (dev.fault === 'disconnect') return transport === 'tcp' ? { kind: 'disconnect' } : { kind: 'silent' };
      if (dev.fault === 'exception') return { kind: 'reply', pdu: exceptionPdu(pdu[0] ?? 0, EXCEPTION_DEVICE_FAILURE) };
      return {
        kind: 'reply',
        pdu: answerPdu(dev.bank, pdu, (table, offset, count) => pinWritten(dev, table, offset, count)),
      };
    },
  });

  const tcpListeners: TcpListener[] = [];
  const rtuListeners: RtuListener[] = [];
  const endpoints: SimulatorEndpoint[] = [];
  try {
    for (const [key, units] of byEndpoint) {
      const ids = [...units.values()].map((d) => d.id);
      if (key.startsWith('rtu:') && opts.rtu) {
        rtuListeners.push(await listenModbusRtu(routerFor(units), opts.rtu));
        endpoints.push({ kind: 'rtu', path: opts.rtu.path, devices: ids });
      } else {
        const at = tcpPorts.get(key) as { host: string; port: number };
        const l = await listenModbusTcp(routerFor(units), at.host, at.port).catch((e: Error) => {
          throw new Error(`modbus simulator: ${e.message}, for ${ids.join(', ')}`, { cause: e });
        });
        tcpListeners.push(l);
        endpoints.push({ kind: 'tcp', host: l.host, port: l.port, devices: ids });
      }
    }
  } catch (e) {
    await Promise.all([...tcpListeners, ...rtuListeners].map((l) => l.close()));
    throw e;
  }
  // A simulator with no modbus devices still listens when asked to, so `simulate` can start empty.
  if (byEndpoint.size === 0 && opts.tcp?.port !== undefined) {
    const l = await listenModbusTcp(routerFor(new Map()), host, opts.tcp.port);
    tcpListeners.push(l);
    endpoints.push({ kind: 'tcp', host: l.host, port: l.port, devices: [] });
  }
  logger.info({ endpoints }, 'modbus simulator listening');

  const tickMs = opts.tickMs ?? 1000;
  const timer = opts.behaviour === 'moving' ? setInterval(() => walk(devices), tickMs) : undefined;
  timer?.unref();

  const find = (deviceId: string, property: string): [SimDevice, SimProperty] => {
    const dev = devices.get(deviceId);
    if (!dev)
      throw new Error(`modbus simulator: no device ${deviceId} (have ${[...devices.keys()].join(', ') || 'none'})`);
    const sp = dev.props.get(property);
    if (!sp) throw new Error(`modbus simulator: device ${deviceId} has no property ${property}`);
    return [dev, sp];
  };

  return {
    port: tcpListeners[0]?.port ?? 0,
    endpoints,
    peek(deviceId, property) {
      const [dev, sp] = find(deviceId, property);
      return readEngineering(dev, sp);
    },
    poke(deviceId, property, value) {
      const [dev, sp] = find(deviceId, property);
      writeEngineering(dev, sp, value);
      sp.pinned = true;
    },
    peekRaw(deviceId, property) {
      const [dev, sp] = find(deviceId, property);
      return readPoint(dev.bank, sp.point);
    },
    pokeRaw(deviceId, property, value) {
      const [dev, sp] = find(deviceId, property);
      writePoint(dev.bank, sp.point, value);
      sp.pinned = true;
    },
    setFault(deviceId, fault) {
      const dev = devices.get(deviceId);
      if (!dev) throw new Error(`modbus simulator: no device ${deviceId}`);
      dev.fault = fault;
      if (fault === 'disconnect') for (const l of tcpListeners) l.dropConnections();
      logger.info({ device: deviceId, fault }, 'modbus simulator fault');
    },
    tick() {
      walk(devices);
    },
    stats() {
      const perDevice: Record<string, number> = {};
      let requests = 0;
      for (const d of devices.values()) {
        perDevice[d.id] = d.requests;
        requests += d.requests;
      }
      return { requests, perDevice };
    },
    describe() {
      const out: Array<{ device: string; unit: number; point: ModbusPoint; transforms: TransformSpec }> = [];
      for (const d of devices.values())
        for (const sp of d.props.values())
          out.push({ device: d.id, unit: d.unit, point: sp.point, transforms: sp.spec });
      return out;
    },
    dropConnections() {
      for (const l of tcpListeners) l.dropConnections();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await Promise.all([...tcpListeners, ...rtuListeners].map((l) => l.close()));
    },
  };
}

function describeKey(key: string, tcpPorts: Map<string, { host: string; port: number }>): string {
  const t = tcpPorts.get(key);
  return t ? `tcp ${t.host}:${t.port}` : key;
}

function isBits(table: ModbusTable): table is 'coil' | 'discrete' {
  return table === 'coil' || table === 'discrete';
}

export function readPoint(bank: RegisterBank, p: ModbusPoint): ModbusValue {
  if (isBits(p.table)) return decodeModbusBits(p, bank.bits(p.table).subarray(p.offset, p.offset + p.count));
  return decodeModbusRegisters(p, bank.words(p.table).subarray(p.offset, p.offset + p.count));
}

export function writePoint(bank: RegisterBank, p: ModbusPoint, value: ModbusValue): void {
  if (isBits(p.table)) {
    const bits = encodeModbusBits(p, value);
    bank.bits(p.table).set(
      bits.map((b) => (b ? 1 : 0)),
      p.offset,
    );
    return;
  }
  const words = bank.words(p.table);
  words.set(encodeModbusRegisters(p, value, words.subarray(p.offset, p.offset + p.count)), p.offset);
}

/**
 * The property's engineering value: the raw value with the framework's own `scale`/`valueOffset` and a
 * boolean's `bit` applied (the model type's formatting is the mapper's, so tests see the typed value).
 */
function readEngineering(dev: SimDevice, sp: SimProperty): ModbusValue {
  const raw = readPoint(dev.bank, sp.point);
  if (sp.spec.bit !== undefined) return extractBit(Number(raw), sp.spec.bit);
  return typeof raw === 'number' ? scaleRaw(raw, sp.spec) : raw;
}

/** Sets an engineering value: the inverse transforms, a `bit` merged into its word. */
function writeEngineering(dev: SimDevice, sp: SimProperty, value: ModbusValue): void {
  if (sp.spec.bit !== undefined) {
    const on = value === true || value === 1 || value === 'true' || value === '1';
    writePoint(dev.bank, sp.point, setBit(Number(readPoint(dev.bank, sp.point)), sp.spec.bit, on));
    return;
  }
  writePoint(dev.bank, sp.point, typeof value === 'number' ? unscale(value, sp.spec) : value);
}

function pinWritten(dev: SimDevice, table: ModbusTable, offset: number, count: number): void {
  for (const sp of dev.props.values()) {
    const p = sp.point;
    if (p.table === table && p.offset < offset + count && offset < p.offset + p.count) sp.pinned = true;
  }
}

/** Desired value if the manifest has one, else the middle of min/max, else zero. */
function initialValue(dev: SimDevice, sp: SimProperty): void {
  const { prop, point } = sp;
  let value: ModbusValue | undefined;
  if (prop.desired?.value !== undefined && prop.desired.value !== '') {
    const parsed = parseValue(prop.type, prop.desired.value);
    // an INT beyond 2^53 stays its digits (the codec writes them exactly)
    if (parsed.ok) value = typeof parsed.value === 'bigint' ? parsed.value.toString() : parsed.value;
  }
  if (value === undefined) {
    if (point.type === 'string') value = '';
    else if (point.type === 'bytes') value = '';
    else if (point.type === 'boolean' || prop.type === 'BOOLEAN') value = false;
    else if (prop.minimum !== undefined && prop.maximum !== undefined) value = (prop.minimum + prop.maximum) / 2;
    else value = prop.minimum ?? 0;
  }
  try {
    writeEngineering(dev, sp, value);
  } catch {
    // a desired value the registers cannot hold: start from zero, the mapper will report the write failure
  }
}

function walk(devices: Map<string, SimDevice>): void {
  for (const dev of devices.values()) {
    for (const sp of dev.props.values()) {
      if (sp.pinned) continue;
      const { point, prop } = sp;
      if (point.type === 'string' || point.type === 'bytes') continue;
      try {
        const now = readEngineering(dev, sp);
        if (typeof now === 'boolean') {
          if (Math.random() < 0.1) writeEngineering(dev, sp, !now);
          continue;
        }
        if (typeof now !== 'number') continue;
        const min = prop.minimum;
        const max = prop.maximum;
        const span = min !== undefined && max !== undefined ? max - min : Math.max(10, Math.abs(now));
        const step = Math.max(span * 0.02, Math.abs(sp.spec.scale)) * (Math.random() * 2 - 1);
        let next = now + step;
        if (min !== undefined) next = Math.max(min, next);
        if (max !== undefined) next = Math.min(max, next);
        if (/^uint|bitfield/.test(point.type)) next = Math.max(0, next);
        writeEngineering(dev, sp, next);
      } catch {
        // a step outside what the type holds: stay put this tick
      }
    }
  }
}
