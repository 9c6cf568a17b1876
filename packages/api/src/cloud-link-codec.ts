// What the cloud link payloads look like on the wire (docs/cloud-link.md): the encoder and decoder of each
// side by side, and the version both ends compare. Like the other decoders of api, these never throw: a
// peer's bad message must not take a link down.

import {
  type DesiredIndex,
  type OutboxEntry,
  REPORT_REFUSALS,
  type ReportAck,
  type ReportBatch,
  type ReportRefusal,
} from './cloud-link.js';
import type { Decoded } from './twin-payloads.js';

/**
 * The version of a desired object as the DesiredIndex lists it: its resourceVersion, or, for an object
 * that has none (an embedded store that does not set one), a hash of its JSON so that both ends still
 * agree on "same object or not".
 */
export function desiredVersion(obj: { metadata?: { resourceVersion?: string } }): string {
  const rv = obj.metadata?.resourceVersion;
  if (typeof rv === 'string' && rv !== '') return rv;
  return `h${fnv1a(JSON.stringify(obj))}`;
}

// FNV-1a over UTF-16 code units, two independent 32-bit lanes: enough to tell versions apart, no crypto needed.
function fnv1a(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c ^ (i & 0xff), 0x0100019d);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/**
 * Annotation the cloud end stamps on every Device and DeviceModel it publishes: the generation of the
 * DesiredIndex published right after it. It is not part of the object (the edge strips it before storing,
 * and desiredVersion is computed without it); it lets the edge order messages that arrive out of order.
 */
export const LINK_GENERATION_ANNOTATION = 'edgetwin.io/link-generation';

export function stampGeneration<T extends { metadata: { annotations?: Record<string, string> } }>(
  obj: T,
  generation: number,
): T {
  return {
    ...obj,
    metadata: {
      ...obj.metadata,
      annotations: { ...(obj.metadata.annotations ?? {}), [LINK_GENERATION_ANNOTATION]: String(generation) },
    },
  };
}

/** Removes the stamp (in place) and returns it; 0 when the object has none (or a malformed one). */
export function takeGeneration(obj: { metadata: { annotations?: Record<string, string> } }): number {
  const annotations = obj.metadata.annotations;
  const raw = annotations?.[LINK_GENERATION_ANNOTATION];
  if (annotations === undefined || raw === undefined) return 0;
  delete annotations[LINK_GENERATION_ANNOTATION];
  if (Object.keys(annotations).length === 0) delete obj.metadata.annotations;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

function parseJson(buf: Buffer | string, what: string): Decoded<Record<string, unknown>> {
  let o: unknown;
  try {
    o = JSON.parse(typeof buf === 'string' ? buf : buf.toString('utf8'));
  } catch (e) {
    return { ok: false, error: `${what} is not JSON: ${(e as Error).message}` };
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return { ok: false, error: `${what} must be a JSON object` };
  return { ok: true, value: o as Record<string, unknown> };
}

function isStringMap(v: unknown): v is Record<string, string> {
  return !!v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
}

export function decodeDesiredIndex(buf: Buffer | string): Decoded<DesiredIndex> {
  const p = parseJson(buf, 'desired index');
  if (!p.ok) return p;
  const o = p.value;
  if (typeof o.node !== 'string' || !o.node)
    return { ok: false, error: 'desired index: node must be a non-empty string' };
  if (typeof o.generation !== 'number' || !Number.isSafeInteger(o.generation))
    return { ok: false, error: 'desired index: generation must be an integer' };
  if (!isStringMap(o.devices)) return { ok: false, error: 'desired index: devices must map id to version strings' };
  if (!isStringMap(o.models)) return { ok: false, error: 'desired index: models must map id to version strings' };
  const timestamp = typeof o.timestamp === 'number' ? o.timestamp : 0;
  return {
    ok: true,
    value: { node: o.node, generation: o.generation, devices: o.devices, models: o.models, timestamp },
  };
}

export function encodeReportAck(ack: ReportAck): string {
  return JSON.stringify(ack);
}

export function decodeReportAck(buf: Buffer | string): Decoded<ReportAck> {
  const p = parseJson(buf, 'report ack');
  if (!p.ok) return p;
  const { upTo, timestamp, epoch, refused } = p.value;
  if (!isSeq(upTo)) return { ok: false, error: 'report ack: upTo must be a non-negative integer' };
  const value: ReportAck = { upTo, timestamp: typeof timestamp === 'number' ? timestamp : 0 };
  if (epoch !== undefined) {
    if (typeof epoch !== 'string' || epoch.length > MAX_EPOCH)
      return { ok: false, error: `report ack: epoch must be a string of at most ${MAX_EPOCH} characters` };
    value.epoch = epoch;
  }
  if (refused !== undefined) {
    const r = refused as { reason?: unknown; pass?: unknown };
    if (!r || typeof r !== 'object' || !REPORT_REFUSALS.includes(r.reason as ReportRefusal) || !isSeq(r.pass))
      return {
        ok: false,
        error: `report ack: refused must be {reason: ${REPORT_REFUSALS.join('|')}, pass: non-negative integer}`,
      };
    value.refused = { reason: r.reason as ReportRefusal, pass: r.pass };
  }
  return { ok: true, value };
}

const REPORT_KINDS = new Set(['twin', 'state', 'write', 'refused-reading', 'push-status']);
/** an epoch is an opaque id; bounded so a peer cannot make the cloud store anything large per node */
export const MAX_EPOCH = 64;

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function encodeReportBatch(batch: ReportBatch): string {
  return JSON.stringify(batch);
}

/** Checks the envelope of every entry (seq, kind, deviceId); the body of each kind is the status sink's to judge. */
export function decodeReportBatch(buf: Buffer | string): Decoded<ReportBatch> {
  const p = parseJson(buf, 'report batch');
  if (!p.ok) return p;
  const o = p.value;
  if (typeof o.node !== 'string') return { ok: false, error: 'report batch: node must be a string' };
  if (!Array.isArray(o.entries)) return { ok: false, error: 'report batch: entries must be an array' };
  let previous = 0;
  for (const [i, e] of (o.entries as unknown[]).entries()) {
    if (!e || typeof e !== 'object') return { ok: false, error: `report batch: entries[${i}] must be an object` };
    const entry = e as Record<string, unknown>;
    if (typeof entry.seq !== 'number' || !Number.isSafeInteger(entry.seq) || entry.seq < 1)
      return { ok: false, error: `report batch: entries[${i}].seq must be a positive integer` };
    if (entry.seq <= previous)
      return { ok: false, error: `report batch: entries[${i}].seq ${entry.seq} is not above the previous ${previous}` };
    previous = entry.seq;
    if (typeof entry.kind !== 'string' || !REPORT_KINDS.has(entry.kind))
      return { ok: false, error: `report batch: entries[${i}].kind must be twin, state, write or refused-reading` };
    if (typeof entry.deviceId !== 'string' || !entry.deviceId)
      return { ok: false, error: `report batch: entries[${i}].deviceId must be a non-empty string` };
  }
  const value: ReportBatch = { node: o.node, entries: o.entries as OutboxEntry[] };
  for (const field of ['after', 'ackedSeq', 'pass', 'pending'] as const) {
    const v = o[field];
    if (v === undefined) continue;
    if (!isSeq(v)) return { ok: false, error: `report batch: ${field} must be a non-negative integer` };
    value[field] = v;
  }
  const first = (o.entries[0] as { seq: number } | undefined)?.seq;
  if (first !== undefined && value.after !== undefined && value.after >= first)
    return { ok: false, error: `report batch: after ${value.after} is not below its first entry's seq ${first}` };
  if (o.epoch !== undefined) {
    if (typeof o.epoch !== 'string' || o.epoch.length > MAX_EPOCH)
      return { ok: false, error: `report batch: epoch must be a string of at most ${MAX_EPOCH} characters` };
    value.epoch = o.epoch;
  }
  return { ok: true, value };
}
