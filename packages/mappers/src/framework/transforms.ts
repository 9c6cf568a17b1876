// Protocol-independent conversions between a driver's raw value and the twin's engineering value (a
// string typed by the model property). Reads go raw -> engineering; writes go engineering -> raw.
// Visitor keys (docs/mappers.md): scale, valueOffset, min, max, clamp, bit, onValue, offValue.
// The additive offset is `valueOffset`, never `offset`: in KubeEdge's Modbus visitors `offset` is the
// register address, so a shared transform reading `offset` would add an address to every value.
// Byte and word order belong to the protocol driver (Modbus registers), not here.

import { type ConfigIssue, type PropertyType, parseValue, type ResolvedProperty } from '@edgetwin/api';
import type { RawValue } from './driver.js';

export interface TransformSpec {
  scale: number;
  /** added after `scale` on reads, subtracted before it on writes (visitor key `valueOffset`) */
  valueOffset: number;
  min?: number;
  max?: number;
  /** true: out-of-range writes are clamped to [min, max]; false (default): they are refused */
  clamp: boolean;
  /** bit index (0 = least significant) of an integer raw value this property reads and writes */
  bit?: number;
  /** strings a boolean raw value maps to (e.g. "ON" / "OFF") */
  onValue?: string;
  offValue?: string;
}

export type Converted<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Reads the transform keys of a property's visitor; the problems found name the property and key
 * (ConfigIssue), so `edgetwin validate` places them at file:line:col for every protocol.
 */
export function transformIssues(prop: ResolvedProperty): ConfigIssue[] {
  const r = transformSpecOf(prop);
  return r.ok ? [] : r.issues;
}

function parseTransformSpec(prop: ResolvedProperty): Converted<TransformSpec> & { issues: ConfigIssue[] } {
  const v = prop.visitor;
  const issues: ConfigIssue[] = [];
  const problem = (key: string, message: string) => issues.push({ property: prop.name, key, message });
  const num = (key: string): number | undefined => {
    const x = v[key];
    if (x === undefined || x === null || x === '') return undefined;
    const n = typeof x === 'number' ? x : typeof x === 'string' ? Number(x) : Number.NaN;
    if (!Number.isFinite(n)) {
      problem(key, `must be a number (got ${JSON.stringify(x)})`);
      return undefined;
    }
    return n;
  };
  const str = (key: string): string | undefined => {
    const x = v[key];
    if (x === undefined || x === null) return undefined;
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') {
      problem(key, 'must be a string');
      return undefined;
    }
    return String(x);
  };
  const scale = num('scale') ?? 1;
  if (scale === 0) problem('scale', 'must not be 0');
  const spec: TransformSpec = {
    scale,
    valueOffset: num('valueOffset') ?? 0,
    clamp: v.clamp === true || v.clamp === 'true',
  };
  const min = num('min') ?? prop.minimum;
  const max = num('max') ?? prop.maximum;
  if (min !== undefined) spec.min = min;
  if (max !== undefined) spec.max = max;
  // bounds from the model alone are the model's check (validate reports them there once)
  const visitorBounds = (v.min ?? '') !== '' || (v.max ?? '') !== '';
  if (visitorBounds && min !== undefined && max !== undefined && min > max)
    problem('min', `${min} is above max ${max}`);
  const bit = num('bit');
  if (bit !== undefined) {
    if (!Number.isInteger(bit) || bit < 0 || bit > 52) problem('bit', `must be an integer from 0 to 52 (got ${bit})`);
    else spec.bit = bit;
  }
  const on = str('onValue');
  const off = str('offValue');
  if ((on === undefined) !== (off === undefined)) problem('onValue', 'and offValue must be given together');
  if (on !== undefined && on === off) problem('onValue', 'and offValue must differ');
  if (on !== undefined) spec.onValue = on;
  if (off !== undefined) spec.offValue = off;
  if (issues.length)
    return {
      ok: false,
      reason: `property ${prop.name}: ${issues.map((i) => `${i.key} ${i.message}`).join('; ')}`,
      issues,
    };
  return { ok: true, value: spec, issues };
}

/** Reads the transform keys of a property's visitor; the reason names the property and every key at fault. */
export function transformSpec(prop: ResolvedProperty): Converted<TransformSpec> {
  const { issues: _issues, ...r } = parseTransformSpec(prop);
  return r;
}

// A spec change hands the framework new property objects, so the parsed spec of an object never goes stale;
// parsing it on every reading was a measurable share of the per-reading cost (bench/modbus-mapper.ts).
const specs = new WeakMap<ResolvedProperty, Converted<TransformSpec> & { issues: ConfigIssue[] }>();

/** transformSpec, parsed once per property object. */
export function transformSpecOf(prop: ResolvedProperty): Converted<TransformSpec> & { issues: ConfigIssue[] } {
  let s = specs.get(prop);
  if (!s) {
    s = parseTransformSpec(prop);
    specs.set(prop, s);
  }
  return s;
}

/** The value of bit `bit` of an integer. */
export function extractBit(word: number, bit: number): boolean {
  return Math.floor(word / 2 ** bit) % 2 === 1;
}

/** `word` with bit `bit` set to `on`, other bits untouched (read-modify-write of a bit property). */
export function setBit(word: number, bit: number, on: boolean): number {
  const was = extractBit(word, bit);
  if (was === on) return word;
  return on ? word + 2 ** bit : word - 2 ** bit;
}

/** Raw number -> engineering number: `scale`, then `valueOffset`. The one place this arithmetic lives. */
export function scaleRaw(n: number, spec: Pick<TransformSpec, 'scale' | 'valueOffset'>): number {
  return spec.scale === 1 && spec.valueOffset === 0 ? n : tidy(n * spec.scale + spec.valueOffset);
}

/** Engineering number -> raw number, the inverse of scaleRaw. */
export function unscale(n: number, spec: Pick<TransformSpec, 'scale' | 'valueOffset'>): number {
  return spec.scale === 1 && spec.valueOffset === 0 ? n : tidy((n - spec.valueOffset) / spec.scale);
}

/** The shortest decimal that is the same float32 (0.1 reads as 0.1, 16777216 stays 16777216). */
export function shortestFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 6; p < 9; p++) {
    const d = Number(x.toPrecision(p));
    if (Math.fround(d) === x) return d;
  }
  return Number(x.toPrecision(9));
}

/** Removes binary floating-point noise from scaled values (0.1 * 3 -> 0.3), keeping 12 significant digits. */
export function tidy(n: number): number {
  return Number.isFinite(n) ? Number(n.toPrecision(12)) : n;
}

/** Formats a typed value as the twin string of the model type (INT rounds, BOOLEAN is true/false). */
export function formatForType(type: PropertyType, v: number | boolean | string): Converted<string> {
  switch (type) {
    case 'INT': {
      // digits stay digits: Number() would round an Int64/UInt64 beyond 2^53 (issue 9 §5)
      if (typeof v === 'string' && DIGITS_RE.test(v)) return { ok: true, value: BigInt(v.trim()).toString() };
      const n = typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
      if (!Number.isFinite(n)) return { ok: false, reason: `${JSON.stringify(v)} is not an integer` };
      return { ok: true, value: String(Math.round(n)) };
    }
    case 'FLOAT':
    case 'DOUBLE': {
      const n = typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
      if (!Number.isFinite(n)) return { ok: false, reason: `${JSON.stringify(v)} is not a number` };
      return { ok: true, value: String(tidy(n)) };
    }
    case 'BOOLEAN': {
      if (typeof v === 'boolean') return { ok: true, value: String(v) };
      if (typeof v === 'number') return { ok: true, value: String(v !== 0) };
      const s = v.trim().toLowerCase();
      if (s === 'true' || s === '1' || s === 'on') return { ok: true, value: 'true' };
      if (s === 'false' || s === '0' || s === 'off') return { ok: true, value: 'false' };
      return { ok: false, reason: `"${v}" is not a boolean` };
    }
    default:
      return { ok: true, value: typeof v === 'number' ? String(tidy(v)) : String(v) };
  }
}

/** Raw reading -> twin value string of the property's model type. */
export function toEngineering(raw: RawValue, prop: ResolvedProperty, spec: TransformSpec): Converted<string> {
  let v: RawValue = raw;
  if (spec.bit !== undefined) {
    if (typeof v !== 'number' || !Number.isInteger(v))
      return { ok: false, reason: `property ${prop.name}: bit ${spec.bit} needs an integer raw value, got ${v}` };
    v = extractBit(v, spec.bit);
  }
  if (spec.onValue !== undefined && spec.offValue !== undefined) {
    const on = typeof v === 'boolean' ? v : typeof v === 'number' ? v !== 0 : undefined;
    if (on !== undefined) v = on ? spec.onValue : spec.offValue;
  } else if (typeof v === 'number') {
    v = scaleRaw(v, spec);
  } else if (typeof v === 'string' && DIGITS_RE.test(v) && !identity(spec)) {
    v = scaleRaw(Number(v), spec);
  }
  const out = formatForType(prop.type, v);
  return out.ok ? out : { ok: false, reason: `property ${prop.name}: ${out.reason}` };
}

/**
 * Twin value string -> raw value to write. Checks type and bounds (clamping them when `clamp` is set).
 * For a bit property the result is the bit's boolean; the caller merges it into the word (setBit).
 */
export function toRaw(text: string, prop: ResolvedProperty, spec: TransformSpec): Converted<RawValue> {
  const fail = (reason: string): Converted<RawValue> => ({ ok: false, reason: `property ${prop.name}: ${reason}` });
  if (spec.onValue !== undefined && spec.offValue !== undefined) {
    if (text === spec.onValue) return { ok: true, value: true };
    if (text === spec.offValue) return { ok: true, value: false };
    return fail(`"${text}" is neither "${spec.onValue}" nor "${spec.offValue}"`);
  }
  const parsed = parseValue(prop.type, text);
  if (!parsed.ok) return fail(parsed.reason);
  let v = parsed.value;
  if (spec.bit !== undefined) {
    if (typeof v === 'boolean') return { ok: true, value: v };
    if (v === 0 || v === 1) return { ok: true, value: v === 1 };
    return fail(`a bit takes 0, 1, true or false, not "${text}"`);
  }
  if (typeof v === 'number') {
    if (spec.min !== undefined && v < spec.min) {
      if (!spec.clamp) return fail(`${v} is below the minimum ${spec.min}`);
      v = spec.min;
    }
    if (spec.max !== undefined && v > spec.max) {
      if (!spec.clamp) return fail(`${v} is above the maximum ${spec.max}`);
      v = spec.max;
    }
    return { ok: true, value: unscale(v, spec) };
  }
  if (typeof v === 'bigint') {
    // an INT beyond 2^53 (issue 9 §5): bounds compare exactly; written as its digits unless a scale or
    // valueOffset applies, which is arithmetic on a double (docs/mappers.md, "Integers beyond 2^53")
    if (spec.min !== undefined && v < spec.min) {
      if (!spec.clamp) return fail(`${v} is below the minimum ${spec.min}`);
      return { ok: true, value: unscale(spec.min, spec) };
    }
    if (spec.max !== undefined && v > spec.max) {
      if (!spec.clamp) return fail(`${v} is above the maximum ${spec.max}`);
      return { ok: true, value: unscale(spec.max, spec) };
    }
    return { ok: true, value: identity(spec) ? v.toString() : unscale(Number(v), spec) };
  }
  return { ok: true, value: v };
}

function identity(spec: Pick<TransformSpec, 'scale' | 'valueOffset'>): boolean {
  return spec.scale === 1 && spec.valueOffset === 0;
}

/** Decimal digits of an integer (a 64-bit reading beyond 2^53 arrives so from its driver). */
const DIGITS_RE = /^\s*[+-]?\d+\s*$/;
