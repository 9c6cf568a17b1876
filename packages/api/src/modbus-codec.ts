// Modbus addressing and value encoding shared by the Modbus mapper driver and the Modbus simulator, so both
// read the same Device/DeviceModel manifests the same way (docs/modbus.md is the user-facing table).
// Pure functions: visitor/protocol configData -> ModbusPoint/ModbusProtocolConfig, value <-> registers.
//
// KubeEdge's visitor keys (register, offset, limit, scale, isSwap, isRegisterSwap, dataType) keep their
// meaning; `type`, `order`, `bit`, `bitOffset`, `bits`, `encoding` and `writeFunction` are edgetwin's additions.
//
// Two views of a value: the engineering view (scale applied, one bit of a word as a boolean), which the
// simulator serves, and the raw view (rawModbusPoint), which the mapper driver hands to the framework,
// because the framework applies `scale` and `bit` itself for every protocol.

import type { ConfigData, PropertyType } from './types.js';

export type ModbusTable = 'coil' | 'discrete' | 'holding' | 'input';

/** KubeEdge's register names, and the table each one addresses. */
export const MODBUS_REGISTER_NAMES: Readonly<Record<string, ModbusTable>> = {
  CoilRegister: 'coil',
  DiscreteInputRegister: 'discrete',
  HoldingRegister: 'holding',
  InputRegister: 'input',
};

export const MODBUS_TYPES = [
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'float32',
  'float64',
  'boolean',
  'string',
  'bitfield',
  'bytes',
] as const;
export type ModbusType = (typeof MODBUS_TYPES)[number];

/**
 * Byte order of a multi-register value, letters naming the bytes of the big-endian value in the order they
 * travel. ABCD: big-endian. BADC: bytes swapped within each register (KubeEdge isSwap). CDAB: registers in
 * reverse order (isRegisterSwap). DCBA: both.
 */
export const MODBUS_ORDERS = ['ABCD', 'BADC', 'CDAB', 'DCBA'] as const;
export type ModbusOrder = (typeof MODBUS_ORDERS)[number];

/** Protocol limits of one request (Modbus application protocol v1.1b3, §6). */
export const MODBUS_MAX_READ_REGISTERS = 125;
export const MODBUS_MAX_READ_BITS = 2000;
export const MODBUS_MAX_WRITE_REGISTERS = 123;
export const MODBUS_MAX_WRITE_COILS = 1968;
export const MODBUS_MAX_ADDRESS = 65535;

/** Where one property lives on the device and how its value is encoded. */
export interface ModbusPoint {
  property: string;
  table: ModbusTable;
  /** first register or bit (0-based protocol address) */
  offset: number;
  /** registers (holding/input) or bits (coil/discrete) the value occupies */
  count: number;
  type: ModbusType;
  order: ModbusOrder;
  /** engineering value = raw value x scale */
  scale: number;
  /** boolean/bitfield on registers: first bit (0 = least significant bit of the value) */
  bit?: number;
  /** bitfield width in bits */
  bits: number;
  encoding: 'ascii' | 'utf8';
  /** function code used for writes; derived from table and count when absent */
  writeFunction: 5 | 6 | 15 | 16;
  writable: boolean;
}

export type ModbusParse<T> = { ok: true; value: T } | { ok: false; errors: string[] };

const TYPE_REGISTERS: Partial<Record<ModbusType, number>> = {
  int16: 1,
  uint16: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  int64: 4,
  uint64: 4,
  float64: 4,
};

/** Registers a type occupies, or undefined when `limit` decides (string, bytes, bitfield, boolean). */
export function modbusTypeRegisters(type: ModbusType): number | undefined {
  return TYPE_REGISTERS[type];
}

/**
 * Reads one property's visitor configData. `propertyType` (the model's) picks the value type when the
 * visitor has neither `type` nor `dataType`. Messages name the property and the key at fault.
 */
export function parseModbusPoint(property: {
  name: string;
  type?: PropertyType;
  accessMode?: string;
  visitor: ConfigData;
}): ModbusParse<ModbusPoint> {
  const v = property.visitor;
  const errors: string[] = [];
  const at = (key: string, msg: string) => errors.push(`property ${property.name}: ${key} ${msg}`);

  const registerName = v.register;
  const table = typeof registerName === 'string' ? tableFromName(registerName) : undefined;
  if (registerName === undefined)
    at('register', 'is missing (CoilRegister|DiscreteInputRegister|HoldingRegister|InputRegister)');
  else if (!table)
    at(
      'register',
      `"${String(registerName)}" is not one of CoilRegister, DiscreteInputRegister, HoldingRegister, InputRegister`,
    );

  const offset = intKey(v, 'offset', 0, at);
  const limit = v.limit === undefined || v.limit === '' ? undefined : intKey(v, 'limit', 1, at);
  const scale = numberKey(v, 'scale', 1, at);
  if (scale === 0) at('scale', 'must not be 0');
  const isBits = table === 'coil' || table === 'discrete';

  let type = explicitType(v, at);
  if (!type) type = isBits ? 'boolean' : inferType(v.dataType, property.type, limit, at);

  let order = orderKey(v, at);
  if (!order) order = orderFromSwaps(boolKey(v, 'isSwap', at), boolKey(v, 'isRegisterSwap', at));

  // `bit` is one bit (a boolean); a wider field starts at `bitOffset`. The mapper framework also reads `bit`
  // (it extracts that bit from the driver's raw word), so a bitfield must not use it.
  const bitKey = type === 'bitfield' ? 'bitOffset' : 'bit';
  if (type === 'bitfield' && v.bit !== undefined && v.bit !== '')
    at('bit', 'selects one bit of a boolean; a bitfield starts at bitOffset and is bits wide');
  const bit = v[bitKey] === undefined || v[bitKey] === '' ? undefined : intKey(v, bitKey, 0, at);
  const bitsKey = v.bits === undefined || v.bits === '' ? undefined : intKey(v, 'bits', 1, at);
  const encoding = v.encoding === undefined ? 'utf8' : v.encoding;
  if (encoding !== 'ascii' && encoding !== 'utf8') at('encoding', `"${String(encoding)}" is not ascii or utf8`);

  let count: number;
  const fixed = modbusTypeRegisters(type);
  if (isBits) {
    count = limit ?? 1;
    if (type !== 'boolean' && type !== 'bitfield' && type !== 'uint16' && type !== 'uint32')
      at(
        'type',
        `${type} cannot be read from ${registerName}: use boolean, or bitfield/uint16/uint32 for several bits`,
      );
    if (type === 'boolean' && count !== 1) type = 'bitfield';
    if (count > 32) at('limit', `${count} is over 32 bits for one value on ${registerName}`);
  } else if (fixed !== undefined) {
    if (limit !== undefined && limit !== fixed && explicit(v))
      at('limit', `${limit} does not match type ${type}, which takes ${fixed} registers`);
    count = fixed;
  } else if (type === 'bitfield' || type === 'boolean') {
    count = limit ?? Math.max(1, Math.ceil(((bit ?? 0) + (bitsKey ?? 1)) / 16));
    if (count > 4) at('limit', `${count} is over 4 registers for a ${type}`);
  } else {
    if (limit === undefined) at('limit', `is required for type ${type} (number of registers)`);
    count = limit ?? 1;
  }
  const bits = bitsKey ?? (type === 'bitfield' && bit === undefined ? count * (isBits ? 1 : 16) : 1);
  if (bit !== undefined && !isBits && bit + bits > count * 16)
    at(bitKey, `${bit} with ${bits} bit(s) does not fit in ${count} register(s)`);
  if (bit !== undefined && isBits) at(bitKey, `does not apply to ${String(registerName)} (each coil is one bit)`);
  if (type === 'boolean' && bit !== undefined && count > 3)
    at('limit', `${count} registers is too wide for one bit's word (max 3)`);
  if (bits > 53) at('bits', `${bits} is over 53 bits`);

  const maxCount = isBits ? MODBUS_MAX_READ_BITS : MODBUS_MAX_READ_REGISTERS;
  if (count > maxCount) at('limit', `${count} is over ${maxCount}, the most one Modbus read can return`);
  if (offset > MODBUS_MAX_ADDRESS) at('offset', `${offset} is beyond ${MODBUS_MAX_ADDRESS}`);
  else if (offset + count - 1 > MODBUS_MAX_ADDRESS)
    at('offset', `${offset} with ${count} ${isBits ? 'bit' : 'register'}(s) ends beyond ${MODBUS_MAX_ADDRESS}`);

  const writable = (table === 'coil' || table === 'holding') && property.accessMode !== 'ReadOnly';
  let writeFunction: 5 | 6 | 15 | 16 = table === 'coil' ? (count === 1 ? 5 : 15) : count === 1 ? 6 : 16;
  if (v.writeFunction !== undefined && v.writeFunction !== '') {
    const wf = Number(v.writeFunction);
    if (wf !== 5 && wf !== 6 && wf !== 15 && wf !== 16)
      at('writeFunction', `${String(v.writeFunction)} is not 5, 6, 15 or 16`);
    else if (table === 'coil' && wf !== 5 && wf !== 15) at('writeFunction', `${wf} cannot write coils (use 5 or 15)`);
    else if (table === 'holding' && wf !== 6 && wf !== 16)
      at('writeFunction', `${wf} cannot write holding registers (use 6 or 16)`);
    else if ((wf === 5 || wf === 6) && count !== 1)
      at('writeFunction', `${wf} writes one ${isBits ? 'coil' : 'register'}, but the value takes ${count}`);
    else writeFunction = wf;
  }
  if (isBits && count > MODBUS_MAX_WRITE_COILS && writable)
    at('limit', `${count} coils cannot be written in one request`);
  if (!isBits && count > MODBUS_MAX_WRITE_REGISTERS && writable)
    at('limit', `${count} registers cannot be written in one request (max ${MODBUS_MAX_WRITE_REGISTERS})`);

  if (errors.length > 0 || !table) return { ok: false, errors };
  const point: ModbusPoint = {
    property: property.name,
    table,
    offset,
    count,
    type,
    order,
    scale,
    bits,
    encoding: encoding as 'ascii' | 'utf8',
    writeFunction,
    writable,
  };
  if (bit !== undefined) point.bit = bit;
  return { ok: true, value: point };
}

function tableFromName(name: string): ModbusTable | undefined {
  const direct = MODBUS_REGISTER_NAMES[name];
  if (direct) return direct;
  // lenient: "holding", "Holding", "coil", "discreteinput", "input"
  const n = name.toLowerCase().replace(/register$|s$/, '');
  if (n === 'coil') return 'coil';
  if (n === 'discreteinput' || n === 'discrete') return 'discrete';
  if (n === 'holding') return 'holding';
  if (n === 'input') return 'input';
  return undefined;
}

function explicit(v: ConfigData): boolean {
  return v.type !== undefined;
}

function explicitType(v: ConfigData, at: (k: string, m: string) => void): ModbusType | undefined {
  if (v.type === undefined || v.type === '') return undefined;
  const t = String(v.type).toLowerCase();
  if ((MODBUS_TYPES as readonly string[]).includes(t)) return t as ModbusType;
  if (t === 'float') return 'float32';
  if (t === 'double') return 'float64';
  if (t === 'bool') return 'boolean';
  at('type', `"${String(v.type)}" is not one of ${MODBUS_TYPES.join(', ')}`);
  return undefined;
}

/**
 * KubeEdge's dataType says only int/float/double/...; the register count (`limit`) gives the width. KubeEdge
 * decodes integers unsigned, and its temperature demo reads a one-register `float` as a scaled integer.
 */
function inferType(
  dataType: unknown,
  modelType: PropertyType | undefined,
  limit: number | undefined,
  at: (k: string, m: string) => void,
): ModbusType {
  const dt = String(dataType ?? modelType ?? 'int').toLowerCase();
  const n = limit ?? 1;
  switch (dt) {
    case 'int':
    case 'integer':
      return n >= 4 ? 'uint64' : n >= 2 ? 'uint32' : 'uint16';
    case 'float':
      return n >= 4 ? 'float64' : n >= 2 ? 'float32' : 'uint16';
    case 'double':
      return n >= 4 ? 'float64' : n >= 2 ? 'float32' : 'uint16';
    case 'boolean':
    case 'bool':
      return 'boolean';
    case 'string':
      return 'string';
    case 'bytes':
      return 'bytes';
    default:
      at('dataType', `"${String(dataType)}" is not one of int, float, double, string, boolean, bytes`);
      return 'uint16';
  }
}

function orderFromSwaps(isSwap: boolean, isRegisterSwap: boolean): ModbusOrder {
  if (isSwap && isRegisterSwap) return 'DCBA';
  if (isSwap) return 'BADC';
  if (isRegisterSwap) return 'CDAB';
  return 'ABCD';
}

function orderKey(v: ConfigData, at: (k: string, m: string) => void): ModbusOrder | undefined {
  if (v.order === undefined || v.order === '') return undefined;
  const o = String(v.order).toUpperCase();
  if ((MODBUS_ORDERS as readonly string[]).includes(o)) return o as ModbusOrder;
  at('order', `"${String(v.order)}" is not one of ABCD, BADC, CDAB, DCBA`);
  return undefined;
}

function intKey(v: ConfigData, key: string, dflt: number, at: (k: string, m: string) => void): number {
  const raw = v[key];
  if (raw === undefined || raw === null || raw === '') return dflt;
  const n =
    typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 0) {
    at(key, `${JSON.stringify(raw)} is not a non-negative integer`);
    return dflt;
  }
  return n;
}

function numberKey(v: ConfigData, key: string, dflt: number, at: (k: string, m: string) => void): number {
  const raw = v[key];
  if (raw === undefined || raw === null || raw === '') return dflt;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : Number.NaN;
  if (!Number.isFinite(n)) {
    at(key, `${JSON.stringify(raw)} is not a number`);
    return dflt;
  }
  return n;
}

function boolKey(v: ConfigData, key: string, at: (k: string, m: string) => void): boolean {
  const raw = v[key];
  if (raw === undefined || raw === null || raw === '') return false;
  if (raw === true || raw === 'true' || raw === 1) return true;
  if (raw === false || raw === 'false' || raw === 0) return false;
  at(key, `${JSON.stringify(raw)} is not true or false`);
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// Values <-> registers

export type ModbusValue = number | boolean | string;

/** A value that cannot be encoded for a point (wrong type, out of range, too long). */
export class ModbusCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModbusCodecError';
  }
}

/** Reorders bytes between wire order and big-endian. Each order is its own inverse. */
function permute(bytes: Buffer, order: ModbusOrder, words: boolean): Buffer {
  if (order === 'ABCD' || (!words && order === 'CDAB')) return bytes;
  const out = Buffer.from(bytes);
  if (words && (order === 'CDAB' || order === 'DCBA')) {
    const n = out.length / 2;
    for (let i = 0; i < n; i++) out.writeUInt16BE(bytes.readUInt16BE((n - 1 - i) * 2), i * 2);
  }
  if (order === 'BADC' || order === 'DCBA') out.swap16();
  return out;
}

function registersToBytes(regs: ArrayLike<number>, count: number): Buffer {
  const b = Buffer.allocUnsafe(count * 2);
  for (let i = 0; i < count; i++) b.writeUInt16BE((regs[i] ?? 0) & 0xffff, i * 2);
  return b;
}

function bytesToRegisters(b: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < b.length; i += 2) out.push(b.readUInt16BE(i));
  return out;
}

/** Keeps the decimal digits a user expects: 215 x 0.1 = 21.5, not 21.500000000000004. */
function scaled(raw: number, scale: number): number {
  return scale === 1 ? raw : Number((raw * scale).toPrecision(15));
}

/**
 * The point as the mapper driver reads it: no scale, and a boolean at `bit` reads as its whole word, so the
 * framework's shared transforms (scale, bit) apply exactly once.
 */
export function rawModbusPoint(point: ModbusPoint): ModbusPoint {
  const raw: ModbusPoint = { ...point, scale: 1 };
  if (point.type === 'boolean' && point.bit !== undefined && point.table !== 'coil' && point.table !== 'discrete') {
    raw.type = 'bitfield';
    raw.bits = point.count * 16;
    delete raw.bit;
  }
  return raw;
}

/** Decodes a register-table point from its `point.count` registers (wire order), scale applied. */
export function decodeModbusRegisters(point: ModbusPoint, regs: ArrayLike<number>): ModbusValue {
  const wire = registersToBytes(regs, point.count);
  switch (point.type) {
    case 'string':
    case 'bytes': {
      const b = permute(wire, point.order, false);
      if (point.type === 'bytes') return b.toString('base64');
      const end = b.indexOf(0);
      const text = end < 0 ? b : b.subarray(0, end);
      return point.encoding === 'ascii' ? text.toString('latin1') : text.toString('utf8');
    }
    case 'boolean':
    case 'bitfield': {
      const be = permute(wire, point.order, true);
      let v = 0n;
      for (const byte of be) v = (v << 8n) | BigInt(byte);
      if (point.type === 'boolean' && point.bit === undefined) return v !== 0n;
      const field = (v >> BigInt(point.bit ?? 0)) & ((1n << BigInt(point.bits)) - 1n);
      return point.type === 'boolean' ? field !== 0n : scaled(Number(field), point.scale);
    }
    default:
      return scaled(readNumber(permute(wire, point.order, true), point.type), point.scale);
  }
}

function readNumber(be: Buffer, type: ModbusType): number {
  switch (type) {
    case 'int16':
      return be.readInt16BE(0);
    case 'uint16':
      return be.readUInt16BE(0);
    case 'int32':
      return be.readInt32BE(0);
    case 'uint32':
      return be.readUInt32BE(0);
    case 'int64':
      return Number(be.readBigInt64BE(0));
    case 'uint64':
      return Number(be.readBigUInt64BE(0));
    case 'float32':
      return shortestFloat32(be.readFloatBE(0));
    case 'float64':
      return be.readDoubleBE(0);
    default:
      throw new ModbusCodecError(`type ${type} is not numeric`);
  }
}

/** The shortest decimal that is the same float32 (0.1 reads as 0.1, 16777216 stays 16777216). */
function shortestFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 6; p < 9; p++) {
    const d = Number(x.toPrecision(p));
    if (Math.fround(d) === x) return d;
  }
  return Number(x.toPrecision(9));
}

const INT_RANGE: Partial<Record<ModbusType, [bigint, bigint]>> = {
  int16: [-32768n, 32767n],
  uint16: [0n, 65535n],
  int32: [-2147483648n, 2147483647n],
  uint32: [0n, 4294967295n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

function numericInput(point: ModbusPoint, value: ModbusValue): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw new ModbusCodecError(`property ${point.property}: ${value} is not a finite number`);
    return value;
  }
  if (typeof value === 'boolean') return value ? 1 : 0;
  const t = value.trim();
  const n = t === '' ? Number.NaN : Number(t);
  if (!Number.isFinite(n))
    throw new ModbusCodecError(
      `property ${point.property}: "${value.slice(0, 40)}" is not a number (type ${point.type})`,
    );
  return n;
}

/**
 * Encodes a value into `point.count` registers (wire order). Booleans and bitfields with a `bit` change only
 * their bits, so they need the registers' `current` contents (read-modify-write).
 */
export function encodeModbusRegisters(point: ModbusPoint, value: ModbusValue, current?: ArrayLike<number>): number[] {
  switch (point.type) {
    case 'string': {
      if (typeof value !== 'string') throw new ModbusCodecError(`property ${point.property}: a string is required`);
      const text = Buffer.from(value, point.encoding === 'ascii' ? 'latin1' : 'utf8');
      if (text.length > point.count * 2)
        throw new ModbusCodecError(
          `property ${point.property}: "${value.slice(0, 40)}" is ${text.length} bytes, over the ${point.count * 2} of ${point.count} registers`,
        );
      const b = Buffer.alloc(point.count * 2);
      text.copy(b);
      return bytesToRegisters(permute(b, point.order, false));
    }
    case 'bytes': {
      if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
        throw new ModbusCodecError(`property ${point.property}: bytes are written as base64`);
      const data = Buffer.from(value, 'base64');
      if (data.length > point.count * 2)
        throw new ModbusCodecError(
          `property ${point.property}: ${data.length} bytes do not fit in ${point.count} registers`,
        );
      const b = Buffer.alloc(point.count * 2);
      data.copy(b);
      return bytesToRegisters(permute(b, point.order, false));
    }
    case 'boolean':
    case 'bitfield': {
      let field: bigint;
      if (point.type === 'boolean') {
        field = booleanInput(point, value) ? 1n : 0n;
        if (point.bit === undefined) {
          const be = Buffer.alloc(point.count * 2);
          be.writeUInt16BE(Number(field), be.length - 2);
          return bytesToRegisters(permute(be, point.order, true));
        }
      } else {
        const raw = Math.round(numericInput(point, value) / point.scale);
        const max = 2 ** point.bits - 1;
        if (raw < 0 || raw > max)
          throw new ModbusCodecError(
            `property ${point.property}: ${raw} does not fit in ${point.bits} bit(s) (0..${max})`,
          );
        field = BigInt(raw);
      }
      const be = permute(registersToBytes(current ?? [], point.count), point.order, true);
      let whole = 0n;
      for (const byte of be) whole = (whole << 8n) | BigInt(byte);
      const shift = BigInt(point.bit ?? 0);
      const mask = ((1n << BigInt(point.bits)) - 1n) << shift;
      whole = (whole & ~mask) | ((field << shift) & mask);
      const out = Buffer.alloc(point.count * 2);
      for (let i = out.length - 1; i >= 0; i--) {
        out[i] = Number(whole & 0xffn);
        whole >>= 8n;
      }
      return bytesToRegisters(permute(out, point.order, true));
    }
    default: {
      const be = Buffer.alloc(point.count * 2);
      const raw = numericInput(point, value) / point.scale;
      if (point.type === 'float32') be.writeFloatBE(raw, 0);
      else if (point.type === 'float64') be.writeDoubleBE(raw, 0);
      else {
        const range = INT_RANGE[point.type];
        if (!range) throw new ModbusCodecError(`property ${point.property}: type ${point.type} is not numeric`);
        const n = BigInt(Math.round(raw));
        if (n < range[0] || n > range[1])
          throw new ModbusCodecError(
            `property ${point.property}: ${numericInput(point, value)} is outside ${point.type} (${range[0]}..${range[1]}${point.scale === 1 ? '' : ` raw, scale ${point.scale}`})`,
          );
        if (point.type === 'int16') be.writeInt16BE(Number(n), 0);
        else if (point.type === 'uint16') be.writeUInt16BE(Number(n), 0);
        else if (point.type === 'int32') be.writeInt32BE(Number(n), 0);
        else if (point.type === 'uint32') be.writeUInt32BE(Number(n), 0);
        else if (point.type === 'int64') be.writeBigInt64BE(n, 0);
        else be.writeBigUInt64BE(n, 0);
      }
      return bytesToRegisters(permute(be, point.order, true));
    }
  }
}

function booleanInput(point: ModbusPoint, value: ModbusValue): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === '1' || value === 'true') return true;
  if (value === 0 || value === '0' || value === 'false') return false;
  throw new ModbusCodecError(
    `property ${point.property}: ${JSON.stringify(value)} is not a boolean (true/false or 1/0)`,
  );
}

/** Decodes a coil/discrete point from its bits (first bit = lowest). */
export function decodeModbusBits(point: ModbusPoint, bits: ArrayLike<boolean | number>): ModbusValue {
  if (point.type === 'boolean') return Boolean(bits[0]);
  let v = 0;
  for (let i = point.count - 1; i >= 0; i--) v = v * 2 + (bits[i] ? 1 : 0);
  return scaled(v, point.scale);
}

/** Encodes a value into `point.count` coils (first = lowest bit). */
export function encodeModbusBits(point: ModbusPoint, value: ModbusValue): boolean[] {
  if (point.type === 'boolean') return [booleanInput(point, value)];
  const raw = Math.round(numericInput(point, value) / point.scale);
  const max = 2 ** point.count - 1;
  if (raw < 0 || raw > max)
    throw new ModbusCodecError(`property ${point.property}: ${raw} does not fit in ${point.count} coil(s) (0..${max})`);
  const out: boolean[] = [];
  let rest = raw;
  for (let i = 0; i < point.count; i++) {
    out.push(rest % 2 === 1);
    rest = Math.floor(rest / 2);
  }
  return out;
}

/**
 * Shapes a decoded value for the model's property type: a coil read into an INT property is 1/0, a
 * register read into a BOOLEAN property is true when non-zero, anything read into a STRING is text.
 */
export function asPropertyValue(value: ModbusValue, type: PropertyType | undefined): ModbusValue {
  switch (type) {
    case 'INT':
    case 'FLOAT':
    case 'DOUBLE':
      return typeof value === 'boolean' ? (value ? 1 : 0) : value;
    case 'BOOLEAN':
      return typeof value === 'number' ? value !== 0 : value;
    case 'STRING':
      return typeof value === 'string' ? value : String(value);
    default:
      return value;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Protocol (connection) config

export interface ModbusProtocolConfig {
  mode: 'tcp' | 'rtu';
  /** TCP */
  host: string;
  port: number;
  /** RTU */
  serialPath: string;
  baudRate: number;
  dataBits: 5 | 6 | 7 | 8;
  stopBits: 1 | 2;
  parity: 'none' | 'even' | 'odd';
  /** unit identifier (slave ID) */
  slaveId: number;
  /** per-request timeout (ms) */
  timeoutMs: number;
  /** registers (or bits) of gap allowed between properties read in one request */
  maxGap: number;
  /** largest register count per read (some devices accept fewer than 125) */
  maxReadRegisters: number;
  /** the connection several devices share: tcp://host:port or rtu:/dev/tty... */
  lineKey: string;
}

export const MODBUS_DEFAULT_PORT = 502;
export const MODBUS_DEFAULT_TIMEOUT_MS = 1000;
export const MODBUS_DEFAULT_MAX_GAP = 8;

/** Reads a device's protocol configData (KubeEdge keys, plus timeout, maxGap, maxReadRegisters). */
export function parseModbusProtocol(config: ConfigData, device = 'device'): ModbusParse<ModbusProtocolConfig> {
  const errors: string[] = [];
  const at = (key: string, msg: string) => errors.push(`${device}: protocol ${key} ${msg}`);
  const serialPath = String(config.serialName ?? config.serialPort ?? '');
  const modeRaw = String(config.communicateMode ?? (serialPath ? 'RTU' : 'TCP')).toUpperCase();
  if (modeRaw !== 'TCP' && modeRaw !== 'RTU')
    at('communicateMode', `"${String(config.communicateMode)}" is not TCP or RTU`);
  const mode = modeRaw === 'RTU' ? 'rtu' : 'tcp';
  const host = String(config.ip ?? config.host ?? '127.0.0.1');
  const port = intKey(config, 'port', MODBUS_DEFAULT_PORT, at);
  if (mode === 'tcp' && (port < 1 || port > 65535)) at('port', `${port} is not a TCP port (1..65535)`);
  const slaveId = intKey(config, 'slaveID', intKey(config, 'slaveId', 1, at), at);
  if (slaveId > 255) at('slaveID', `${slaveId} is not a unit ID (0..255; 1..247 on RTU)`);
  const timeoutMs = intKey(config, 'timeout', MODBUS_DEFAULT_TIMEOUT_MS, at);
  if (timeoutMs < 1) at('timeout', 'must be at least 1 ms');
  const baudRate = intKey(config, 'baudRate', 9600, at);
  const dataBits = intKey(config, 'dataBits', 8, at);
  if (dataBits < 5 || dataBits > 8) at('dataBits', `${dataBits} is not 5, 6, 7 or 8`);
  const stopBits = intKey(config, 'stopBits', 1, at);
  if (stopBits !== 1 && stopBits !== 2) at('stopBits', `${stopBits} is not 1 or 2`);
  const parityRaw = String(config.parity ?? 'none').toLowerCase();
  const parity =
    parityRaw === 'even' || parityRaw === 'e' ? 'even' : parityRaw === 'odd' || parityRaw === 'o' ? 'odd' : 'none';
  if (!['even', 'e', 'odd', 'o', 'none', 'n', ''].includes(parityRaw))
    at('parity', `"${String(config.parity)}" is not None, Even or Odd`);
  const maxGap = intKey(config, 'maxGap', MODBUS_DEFAULT_MAX_GAP, at);
  const maxReadRegisters = intKey(config, 'maxReadRegisters', MODBUS_MAX_READ_REGISTERS, at);
  if (maxReadRegisters < 1 || maxReadRegisters > MODBUS_MAX_READ_REGISTERS)
    at('maxReadRegisters', `${maxReadRegisters} is not 1..${MODBUS_MAX_READ_REGISTERS}`);
  if (mode === 'rtu' && !serialPath) at('serialName', 'is required for communicateMode RTU (e.g. /dev/ttyUSB0)');
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      mode,
      host,
      port,
      serialPath,
      baudRate,
      dataBits: dataBits as 5 | 6 | 7 | 8,
      stopBits: stopBits as 1 | 2,
      parity,
      slaveId,
      timeoutMs,
      maxGap,
      maxReadRegisters,
      lineKey: mode === 'tcp' ? `tcp://${host}:${port}` : `rtu:${serialPath}`,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// RTU framing (the simulator's slave and any test that speaks raw RTU)

/** CRC-16/MODBUS of a frame, as transmitted (low byte first). */
export function modbusCrc16(buf: Uint8Array, end = buf.length): number {
  let crc = 0xffff;
  for (let i = 0; i < end; i++) {
    crc ^= buf[i] ?? 0;
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}
