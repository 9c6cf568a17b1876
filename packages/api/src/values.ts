// Twin values travel as strings (KubeEdge's TwinProperty.value). These functions say whether a string is
// a valid value of a model property type, and turn it into a typed value and back. One implementation for
// the validator, the twin and the mappers.

import type { ModelProperty, PropertyType } from './types.js';

/** Largest twin value accepted anywhere (bytes of UTF-8). KubeEdge allows 512 characters of [a-zA-Z0-9-_.,:/@#]. */
export const MAX_VALUE_BYTES = 64 * 1024;

/** An INT beyond 2^53 is a bigint, so it keeps every digit (KubeEdge's int is int64; UInt64 fits too). */
export type TypedValue = number | boolean | string | bigint;
export type ValueCheck = { ok: true; value: TypedValue } | { ok: false; reason: string };

const INT_RE = /^[+-]?\d+$/;
/** INT values span Int64 and UInt64: -(2^63) .. 2^64 - 1. */
const INT_MIN = -(2n ** 63n);
const INT_MAX = 2n ** 64n - 1n;
const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Maps KubeEdge's lower-case twin metadata types (int, integer, float, double, boolean, string, bytes) to model types. */
export function typeFromTwinMetadata(t: string | undefined): PropertyType | undefined {
  switch ((t ?? '').toLowerCase()) {
    case '':
    case 'string':
      return 'STRING';
    case 'int':
    case 'integer':
      return 'INT';
    case 'float':
      return 'FLOAT';
    case 'double':
      return 'DOUBLE';
    case 'boolean':
    case 'bool':
      return 'BOOLEAN';
    case 'bytes':
      return 'BYTES';
    case 'stream':
      return 'STREAM';
    default:
      return undefined;
  }
}

/** The lower-case type name KubeEdge writes in twin metadata and status (`int`, `float`, ...). */
export function twinMetadataType(t: PropertyType | undefined): string {
  return (t ?? 'STRING').toLowerCase();
}

export function parseValue(type: PropertyType | undefined, text: string): ValueCheck {
  // a UTF-16 unit is at most 3 UTF-8 bytes: only a long text is measured (no Buffer: the web console uses this)
  if (text.length > MAX_VALUE_BYTES / 3 && new TextEncoder().encode(text).length > MAX_VALUE_BYTES)
    return { ok: false, reason: `value is longer than ${MAX_VALUE_BYTES} bytes` };
  switch (type ?? 'STRING') {
    case 'INT': {
      if (!INT_RE.test(text.trim())) return { ok: false, reason: `"${clip(text)}" is not an integer` };
      const n = Number(text.trim());
      if (Number.isSafeInteger(n)) return { ok: true, value: n };
      const big = BigInt(text.trim());
      if (big < INT_MIN || big > INT_MAX)
        return { ok: false, reason: `"${clip(text)}" is outside the 64-bit integer range (Int64 and UInt64)` };
      return { ok: true, value: big };
    }
    case 'FLOAT':
    case 'DOUBLE': {
      if (!FLOAT_RE.test(text.trim())) return { ok: false, reason: `"${clip(text)}" is not a number` };
      return { ok: true, value: Number(text.trim()) };
    }
    case 'BOOLEAN': {
      if (text === 'true') return { ok: true, value: true };
      if (text === 'false') return { ok: true, value: false };
      return { ok: false, reason: `"${clip(text)}" is not a boolean (true or false)` };
    }
    case 'BYTES': {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0)
        return { ok: false, reason: `"${clip(text)}" is not base64` };
      return { ok: true, value: text };
    }
    default:
      return { ok: true, value: text };
  }
}

export function formatValue(v: TypedValue): string {
  return typeof v === 'string' ? v : String(v);
}

/** Numeric bound of a model property, or undefined if absent; NaN if present but not a number. */
export function bound(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  return FLOAT_RE.test(text.trim()) ? Number(text.trim()) : Number.NaN;
}

/** Checks type and [minimum, maximum] of a value against its model property. */
export function checkValue(prop: Pick<ModelProperty, 'type' | 'minimum' | 'maximum'>, text: string): ValueCheck {
  const parsed = parseValue(prop.type, text);
  if (!parsed.ok || (typeof parsed.value !== 'number' && typeof parsed.value !== 'bigint')) return parsed;
  const min = bound(prop.minimum);
  const max = bound(prop.maximum);
  if (min !== undefined && !Number.isNaN(min) && parsed.value < min)
    return { ok: false, reason: `${parsed.value} is below the minimum ${prop.minimum}` };
  if (max !== undefined && !Number.isNaN(max) && parsed.value > max)
    return { ok: false, reason: `${parsed.value} is above the maximum ${prop.maximum}` };
  return parsed;
}

/** Values compare as typed values (so "1.0" equals "1" for FLOAT), not as strings as KubeEdge does. */
export function sameValue(
  type: PropertyType | undefined,
  a: string | undefined | null,
  b: string | undefined | null,
): boolean {
  if (a === b) return true;
  if (a == null || b == null) return false;
  if (type === 'INT' || type === 'FLOAT' || type === 'DOUBLE') {
    const pa = parseValue(type, a);
    const pb = parseValue(type, b);
    return pa.ok && pb.ok && pa.value === pb.value;
  }
  return false;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
