// OPC-UA values <-> the framework's raw values (issue 11, "Types"). Reads: Variant -> number | boolean |
// string; Int64/UInt64 beyond 2^53 as decimal strings (every digit kept), Float as the shortest decimal of
// the same float32, DateTime as ISO-8601 (ms), ByteString as base64, LocalizedText as its text, Guid as
// text, arrays as JSON. Writes: a raw value -> a Variant of the variable's exact DataType (a server
// answers BadTypeMismatch to a Float written as a Double).

import { DataType, Variant, VariantArrayType } from 'node-opcua-client';
import type { RawValue } from '../../framework/driver.js';
import { shortestFloat32 } from '../../framework/transforms.js';

/** A value that cannot be converted to the variable's DataType: the write is refused before it is sent. */
export class OpcuaValueError extends Error {}

/** node-opcua carries Int64/UInt64 as [high, low] 32-bit words. */
function int64Of(v: unknown, signed: boolean): bigint {
  if (Array.isArray(v) && v.length === 2) {
    const hi = BigInt(v[0] as number);
    const lo = BigInt((v[1] as number) >>> 0);
    let n = (BigInt.asUintN(32, hi) << 32n) | lo;
    if (signed) n = BigInt.asIntN(64, n);
    return n;
  }
  if (typeof v === 'bigint') return v;
  return BigInt(Math.trunc(Number(v)));
}

function bigToRaw(n: bigint): number | string {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

function scalarToJson(dataType: DataType, v: unknown): unknown {
  switch (dataType) {
    case DataType.Int64:
      return bigToRaw(int64Of(v, true));
    case DataType.UInt64:
      return bigToRaw(int64Of(v, false));
    case DataType.Float:
      return shortestFloat32(Number(v));
    case DataType.DateTime:
      return v instanceof Date ? v.toISOString() : v === null ? null : String(v);
    case DataType.ByteString:
      return Buffer.isBuffer(v) ? v.toString('base64') : v === null ? null : String(v);
    case DataType.LocalizedText:
      return (v as { text?: string | null } | null)?.text ?? '';
    case DataType.QualifiedName:
      return (v as { name?: string | null } | null)?.name ?? '';
    case DataType.NodeId:
    case DataType.ExpandedNodeId:
    case DataType.StatusCode:
      return v === null ? null : String(v);
    case DataType.Guid:
      // stacks differ in case (node-opcua upper, asyncua lower): report the RFC 4122 lower-case form
      return String(v).toLowerCase();
    case DataType.ExtensionObject:
      return v === null ? null : JSON.parse(JSON.stringify(v));
    default:
      return v;
  }
}

/** A read Variant as the raw value the framework formats for the model type. */
export function variantToRaw(variant: Variant): RawValue {
  if (variant.arrayType !== VariantArrayType.Scalar) {
    const items = Array.from(variant.value as ArrayLike<unknown>, (x) => scalarToJson(variant.dataType, x));
    return JSON.stringify(items);
  }
  const v = scalarToJson(variant.dataType, variant.value);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  return JSON.stringify(v);
}

const INT_RANGES: Partial<Record<DataType, [number, number]>> = {
  [DataType.SByte]: [-128, 127],
  [DataType.Byte]: [0, 255],
  [DataType.Int16]: [-32768, 32767],
  [DataType.UInt16]: [0, 65535],
  [DataType.Int32]: [-2147483648, 2147483647],
  [DataType.UInt32]: [0, 4294967295],
};

function scalarFromRaw(dataType: DataType, v: unknown, what: string): unknown {
  const num = (): number => {
    const n = typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'number' ? v : Number(String(v).trim());
    if (typeof v === 'string' && String(v).trim() === '') throw new OpcuaValueError(`${what}: "" is not a number`);
    if (!Number.isFinite(n)) throw new OpcuaValueError(`${what}: ${JSON.stringify(v)} is not a number`);
    return n;
  };
  switch (dataType) {
    case DataType.Boolean:
      if (v === true || v === 1 || v === 'true' || v === '1') return true;
      if (v === false || v === 0 || v === 'false' || v === '0') return false;
      throw new OpcuaValueError(`${what}: ${JSON.stringify(v)} is not a Boolean (true/false)`);
    case DataType.Float:
    case DataType.Double:
      return num();
    case DataType.Int64:
    case DataType.UInt64: {
      let n: bigint;
      try {
        n = typeof v === 'number' ? BigInt(Math.round(v)) : BigInt(String(v).trim());
      } catch {
        throw new OpcuaValueError(`${what}: ${JSON.stringify(v)} is not an integer`);
      }
      const signed = dataType === DataType.Int64;
      const [lo, hi] = signed ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
      if (n < lo || n > hi) throw new OpcuaValueError(`${what}: ${n} is outside ${DataType[dataType]}`);
      // node-opcua takes both words unsigned, for Int64 as for UInt64 (two's complement)
      const u = BigInt.asUintN(64, n);
      return [Number(u >> 32n), Number(u & 0xffffffffn)];
    }
    case DataType.String:
      return typeof v === 'string' ? v : JSON.stringify(v);
    case DataType.LocalizedText:
      return { text: String(v) };
    case DataType.DateTime: {
      const d = new Date(typeof v === 'number' ? v : String(v));
      if (Number.isNaN(d.getTime()))
        throw new OpcuaValueError(`${what}: ${JSON.stringify(v)} is not a date (ISO-8601)`);
      return d;
    }
    case DataType.ByteString:
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v))
        throw new OpcuaValueError(`${what}: a ByteString is written as base64`);
      return Buffer.from(v, 'base64');
    case DataType.Guid:
      return String(v);
    default: {
      const range = INT_RANGES[dataType];
      if (!range) throw new OpcuaValueError(`${what}: writing ${DataType[dataType]} values is not supported`);
      const n = num();
      if (!Number.isInteger(n)) throw new OpcuaValueError(`${what}: ${n} is not an integer (${DataType[dataType]})`);
      if (n < range[0] || n > range[1])
        throw new OpcuaValueError(`${what}: ${n} is outside ${DataType[dataType]} (${range[0]}..${range[1]})`);
      return n;
    }
  }
}

/**
 * A raw value as a Variant of the variable's DataType (and array-ness, from its ValueRank): arrays are
 * written as JSON arrays. Throws OpcuaValueError naming what is wrong.
 */
export function rawToVariant(value: RawValue, dataType: DataType, isArray: boolean, what: string): Variant {
  if (isArray) {
    let items: unknown;
    try {
      items = typeof value === 'string' ? JSON.parse(value) : value;
    } catch {
      throw new OpcuaValueError(`${what}: an array is written as JSON, e.g. [1,2,3]`);
    }
    if (!Array.isArray(items)) throw new OpcuaValueError(`${what}: an array is written as JSON, e.g. [1,2,3]`);
    return new Variant({
      dataType,
      arrayType: VariantArrayType.Array,
      value: items.map((x, i) => scalarFromRaw(dataType, x, `${what}[${i}]`)),
    });
  }
  return new Variant({ dataType, arrayType: VariantArrayType.Scalar, value: scalarFromRaw(dataType, value, what) });
}
