// JSON payloads of KubeEdge's edge MQTT contract (reference/kubeedge.md §3.2). Field names are exact.
// Decoders never throw: they return either the value or a PayloadError naming the field at fault.
// Maps keyed by property names are prototype-free dictionaries: `__proto__` or `constructor` is a name.

import { dictionary } from './dictionary.js';

export interface TwinValue {
  value?: string | null;
  metadata?: { timestamp?: number; [k: string]: unknown };
}
export interface TwinVersion {
  cloud: number;
  edge: number;
}
export interface MsgTwin {
  expected?: TwinValue | null;
  actual?: TwinValue | null;
  optional?: boolean;
  metadata?: { type?: string; [k: string]: unknown } | null;
  expected_version?: TwinVersion | null;
  actual_version?: TwinVersion | null;
}

export interface BaseMessage {
  event_id: string;
  timestamp: number;
}

/** `.../twin/update` in; `.../twin/update/result` out (on success). null twin = delete an optional twin. */
export interface TwinUpdateMessage extends BaseMessage {
  twin: Record<string, MsgTwin | null>;
}
export interface TwinDeltaMessage extends BaseMessage {
  twin: Record<string, MsgTwin>;
  delta: Record<string, string>;
}
export interface TwinDocumentMessage extends BaseMessage {
  twin: Record<string, { last: MsgTwin | null; current: MsgTwin | null }>;
}
export interface ErrorResult extends BaseMessage {
  /** 413: a limit was reached; 429: the device has too many requests queued (edgetwin; KubeEdge uses 400/500) */
  code: 400 | 404 | 409 | 413 | 429 | 500;
  reason: string;
}
export interface StateUpdateMessage extends BaseMessage {
  state: string;
}
export interface StateUpdateResult extends BaseMessage {
  device: { name: string; state: string; lastOnlineTime: string };
}
export interface MembershipDevice {
  id: string;
  name: string;
  description?: string;
  state?: string;
  last_online?: string;
}
export interface MembershipUpdated extends BaseMessage {
  added_devices: MembershipDevice[] | null;
  removed_devices: MembershipDevice[] | null;
}
export interface MembershipGetResult extends BaseMessage {
  devices: MembershipDevice[];
}

/** States KubeEdge accepts on state/update (case-insensitive); anything else it ignores. */
export const DEVICE_STATES = ['online', 'offline', 'ok', 'unknown', 'unhealthy'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

export interface PayloadError {
  error: string;
}
export type Decoded<T> = { ok: true; value: T } | ({ ok: false } & PayloadError);

function fail<T>(error: string): Decoded<T> {
  return { ok: false, error };
}

/** Largest payload the twin accepts on any topic (bytes). Documented in docs/mqtt-api.md. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

function parseObject(buf: Buffer | string): Decoded<Record<string, unknown>> {
  const size = typeof buf === 'string' ? Buffer.byteLength(buf) : buf.length;
  if (size > MAX_PAYLOAD_BYTES)
    return fail(`payload is ${size} bytes, larger than the ${MAX_PAYLOAD_BYTES} byte limit`);
  let raw: unknown;
  try {
    raw = JSON.parse(typeof buf === 'string' ? buf : buf.toString('utf8'));
  } catch (e) {
    return fail(`payload is not JSON: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fail('payload must be a JSON object');
  return { ok: true, value: raw as Record<string, unknown> };
}

function base(o: Record<string, unknown>): Decoded<BaseMessage> {
  const ev = o.event_id ?? '';
  if (typeof ev !== 'string') return fail('event_id must be a string');
  const ts = o.timestamp ?? 0;
  if (typeof ts !== 'number' || !Number.isFinite(ts)) return fail('timestamp must be a number (Unix ms)');
  return { ok: true, value: { event_id: ev, timestamp: ts } };
}

/** The event_id of a payload if one can be read, for correlating an error reply with a bad request. */
export function eventIdOf(buf: Buffer | string): string {
  try {
    const o = JSON.parse(typeof buf === 'string' ? buf : buf.toString('utf8'));
    return typeof o?.event_id === 'string' ? o.event_id : '';
  } catch {
    return '';
  }
}

function decodeTwinValue(v: unknown, where: string): Decoded<TwinValue | null | undefined> {
  if (v === undefined || v === null) return { ok: true, value: v as null | undefined };
  if (typeof v !== 'object' || Array.isArray(v)) return fail(`${where} must be an object like {"value":"..."}`);
  const tv = v as Record<string, unknown>;
  if (tv.value !== undefined && tv.value !== null && typeof tv.value !== 'string')
    return fail(`${where}.value must be a string (got ${typeof tv.value}); encode numbers and JSON as text`);
  if (
    tv.metadata !== undefined &&
    (typeof tv.metadata !== 'object' || tv.metadata === null || Array.isArray(tv.metadata))
  )
    return fail(`${where}.metadata must be an object`);
  return { ok: true, value: tv as TwinValue };
}

function decodeVersion(v: unknown, where: string): Decoded<TwinVersion | null | undefined> {
  if (v === undefined || v === null) return { ok: true, value: v as null | undefined };
  const o = v as Record<string, unknown>;
  if (typeof v !== 'object' || typeof o.cloud !== 'number' || typeof o.edge !== 'number')
    return fail(`${where} must be {"cloud":<number>,"edge":<number>}`);
  return { ok: true, value: { cloud: o.cloud, edge: o.edge } };
}

export function decodeMsgTwin(v: unknown, where: string): Decoded<MsgTwin | null> {
  if (v === null) return { ok: true, value: null };
  if (typeof v !== 'object' || Array.isArray(v)) return fail(`${where} must be an object or null`);
  const t = v as Record<string, unknown>;
  const out: MsgTwin = {};
  for (const side of ['expected', 'actual'] as const) {
    const d = decodeTwinValue(t[side], `${where}.${side}`);
    if (!d.ok) return d;
    if (d.value !== undefined) out[side] = d.value;
  }
  if (t.optional !== undefined && typeof t.optional !== 'boolean') return fail(`${where}.optional must be a boolean`);
  if (t.optional !== undefined) out.optional = t.optional as boolean;
  if (t.metadata !== undefined && t.metadata !== null) {
    const m = t.metadata as Record<string, unknown>;
    if (typeof m !== 'object' || Array.isArray(m)) return fail(`${where}.metadata must be an object`);
    if (m.type !== undefined && typeof m.type !== 'string') return fail(`${where}.metadata.type must be a string`);
    out.metadata = m as MsgTwin['metadata'];
  }
  for (const side of ['expected_version', 'actual_version'] as const) {
    const d = decodeVersion(t[side], `${where}.${side}`);
    if (!d.ok) return d;
    if (d.value !== undefined) out[side] = d.value;
  }
  return { ok: true, value: out };
}

export function decodeTwinUpdate(buf: Buffer | string): Decoded<TwinUpdateMessage> {
  const o = parseObject(buf);
  if (!o.ok) return o;
  const b = base(o.value);
  if (!b.ok) return b;
  const twin = o.value.twin;
  if (twin === undefined || twin === null || typeof twin !== 'object' || Array.isArray(twin))
    return fail('twin must be an object mapping property names to {expected, actual}');
  const out = dictionary<MsgTwin | null>();
  for (const [k, v] of Object.entries(twin as Record<string, unknown>)) {
    const d = decodeMsgTwin(v, `twin.${k}`);
    if (!d.ok) return d;
    out[k] = d.value;
  }
  return { ok: true, value: { ...b.value, twin: out } };
}

export function decodeGetRequest(buf: Buffer | string): Decoded<BaseMessage> {
  // KubeEdge accepts an empty body on get; so do we.
  if ((typeof buf === 'string' ? buf.length : buf.length) === 0)
    return { ok: true, value: { event_id: '', timestamp: 0 } };
  const o = parseObject(buf);
  if (!o.ok) return o;
  return base(o.value);
}

export function decodeStateUpdate(buf: Buffer | string): Decoded<StateUpdateMessage> {
  const o = parseObject(buf);
  if (!o.ok) return o;
  const b = base(o.value);
  if (!b.ok) return b;
  if (typeof o.value.state !== 'string')
    return fail('state must be a string (online, offline, ok, unknown, unhealthy)');
  return { ok: true, value: { ...b.value, state: o.value.state } };
}

export function normaliseState(state: string): DeviceState | undefined {
  const s = state.toLowerCase();
  return (DEVICE_STATES as readonly string[]).includes(s) ? (s as DeviceState) : undefined;
}

export function errorResult(eventId: string, code: ErrorResult['code'], reason: string, now = Date.now()): ErrorResult {
  return { event_id: eventId, timestamp: now, code, reason };
}
