// Modbus value encoding shared by the Modbus driver and the Modbus simulator (packages/simulators), so both
// read a manifest's registers the same way: raw value <-> registers/bits for a ModbusPoint parsed by
// config.ts. Raw means the device's own units: `scale`, `valueOffset` and a boolean's `bit` are applied
// once, by the framework's transforms (framework/transforms.ts), for every protocol.

import type { PropertyType } from '@edgetwin/api';
import { shortestFloat32 } from '../../framework/transforms.js';
import type { ModbusOrder, ModbusPoint, ModbusType } from './config.js';

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

/** Decodes a register-table point from its `point.count` registers (wire order), in raw units. */
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
      return point.type === 'boolean' ? field !== 0n : Number(field);
    }
    default:
      return readNumber(permute(wire, point.order, true), point.type);
  }
}

/**
 * A 64-bit register as a number while it is exact, else as its decimal digits (issue 9 §5: 2^53 + 1 must not
 * become 2^53). The framework keeps such digits as they are (transforms.ts).
 */
function exactInteger(n: bigint): number | string {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

function readNumber(be: Buffer, type: ModbusType): number | string {
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
      return exactInteger(be.readBigInt64BE(0));
    case 'uint64':
      return exactInteger(be.readBigUInt64BE(0));
    case 'float32':
      return shortestFloat32(be.readFloatBE(0));
    case 'float64':
      return be.readDoubleBE(0);
    default:
      throw new ModbusCodecError(`type ${type} is not numeric`);
  }
}

const INT_RANGE: Partial<Record<ModbusType, [bigint, bigint]>> = {
  int16: [-32768n, 32767n],
  uint16: [0n, 65535n],
  int32: [-2147483648n, 2147483647n],
  uint32: [0n, 4294967295n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
};

/** The exact integer of a value given as decimal digits (a 64-bit value beyond 2^53 comes as a string). */
function integerInput(value: ModbusValue): bigint | undefined {
  return typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value) ? BigInt(value.trim()) : undefined;
}

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
        const raw = Math.round(numericInput(point, value));
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
      const raw = numericInput(point, value);
      if (point.type === 'float32') be.writeFloatBE(raw, 0);
      else if (point.type === 'float64') be.writeDoubleBE(raw, 0);
      else {
        const range = INT_RANGE[point.type];
        if (!range) throw new ModbusCodecError(`property ${point.property}: type ${point.type} is not numeric`);
        const n = integerInput(value) ?? BigInt(Math.round(raw));
        if (n < range[0] || n > range[1])
          throw new ModbusCodecError(
            `property ${point.property}: ${n} is outside ${point.type} (${range[0]}..${range[1]})`,
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
  return v;
}

/** Encodes a value into `point.count` coils (first = lowest bit). */
export function encodeModbusBits(point: ModbusPoint, value: ModbusValue): boolean[] {
  if (point.type === 'boolean') return [booleanInput(point, value)];
  const raw = Math.round(numericInput(point, value));
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
