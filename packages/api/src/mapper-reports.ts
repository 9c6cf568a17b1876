// The report channel of our own mappers to the twin (issue 15, docs/mapper-contract.md "Report channel"):
// one message per mapper per flush carrying many devices' readings, with no per-property metadata, and an
// answer from the twin only when something was refused (issue 9's leftover: a refused report is resent or
// reported, never silently lost). Encoder and decoder of both messages live here, side by side.
//
// Batch (mapper -> twin, reportsTopic):   [1,<seq>,<ms>,["ns/name","prop","value","prop","value",...],...]
//   an entry may instead carry the device's state (issue 15 target 5): [0,"ns/name","online"]
// Answer (twin -> mapper, reportAnswerTopic), only when something was refused or a refusal ended:
//   {"seq":<seq>,"all":{"code":429,"reason":"..."}}                              the whole batch was refused
//   {"seq":<seq>,"refused":[["ns/name","prop",413,"reason"],...],"accepted":[["ns/name","prop"],...]}
// `prop` "" in a refusal means the whole device entry (an unknown device).

/** Version tag, the first element of every batch. */
export const REPORT_BATCH_VERSION = 1;

/** One device's readings: its id, then property name and value strings, alternating. */
export type MapperReportEntry = readonly string[];

/** The tag that opens a state entry: `[0,"ns/name","online"]` (a readings entry opens with the device id). */
export const STATE_ENTRY_TAG = 0;

/** One device's state as a state/update would carry it: online, offline, ok, unknown or unhealthy. */
export interface MapperStateEntry {
  device: string;
  state: string;
}

export interface MapperReportBatch {
  seq: number;
  /** when its first entry was made (ms): no reading in it is older than the read cycle before this */
  timestamp: number;
  entries: MapperReportEntry[];
  /** device states, in batch order (their own route, not a property: issue 15 target 5) */
  states: MapperStateEntry[];
}

/** Answer codes a mapper resends on (the twin could not take the report now); anything else is permanent. */
export const TRANSIENT_REPORT_CODES: ReadonlySet<number> = new Set([429, 500, 503]);

export interface MapperReportRefusal {
  device: string;
  /** '' = the whole device entry */
  property: string;
  code: number;
  reason: string;
}

export interface MapperReportAnswer {
  seq: number;
  /** the whole batch was refused (queue full, store failure, malformed) */
  all?: { code: number; reason: string };
  refused?: MapperReportRefusal[];
  /** readings accepted again after a refusal of the same property */
  accepted?: Array<{ device: string; property: string }>;
}

/** Most refusals one answer lists; the rest are counted in `more` (a mapper reports the same properties again). */
export const MAX_ANSWER_REFUSALS = 256;

/** One device's entry, encoded. `names[i]` was read as `values[i]`. */
export function encodeMapperReportEntry(id: string, names: readonly string[], values: readonly string[]): string {
  let s = '';
  for (let i = 0; i < names.length; i++) s += encodeMapperReportField(names[i]!, values[i]!);
  return encodeMapperReportEntryOf(id, s);
}

/**
 * One property's part of an entry. A mapper may keep it while the value stays the same and join the parts
 * with encodeMapperReportEntryOf (issue 15: a steady reading is not encoded again).
 */
export function encodeMapperReportField(name: string, value: string): string {
  return `,${JSON.stringify(name)},${JSON.stringify(value)}`;
}

/** An entry from its device id and the concatenated encodeMapperReportField parts. */
export function encodeMapperReportEntryOf(id: string, fields: string): string {
  return `[${JSON.stringify(id)}${fields}]`;
}

/** A device's state entry (the periodic state of our mappers, and its changes, travel in the batch). */
export function encodeMapperStateEntry(id: string, state: string): string {
  return `[${STATE_ENTRY_TAG},${JSON.stringify(id)},${JSON.stringify(state)}]`;
}

/** A batch from entries made by encodeMapperReportEntry and encodeMapperStateEntry. */
export function encodeMapperReports(seq: number, timestamp: number, entries: readonly string[]): string {
  return `[${REPORT_BATCH_VERSION},${seq},${timestamp},${entries.join(',')}]`;
}

type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export function decodeMapperReports(buf: Buffer | string): Decoded<MapperReportBatch> {
  let a: unknown;
  try {
    a = JSON.parse(typeof buf === 'string' ? buf : buf.toString('utf8'));
  } catch (e) {
    return { ok: false, error: `report batch is not JSON: ${(e as Error).message}` };
  }
  if (!Array.isArray(a) || a[0] !== REPORT_BATCH_VERSION)
    return { ok: false, error: `report batch must be an array starting with version ${REPORT_BATCH_VERSION}` };
  const [, seq, timestamp] = a as unknown[];
  if (!Number.isSafeInteger(seq)) return { ok: false, error: 'report batch: seq (element 2) must be an integer' };
  if (typeof timestamp !== 'number')
    return { ok: false, error: 'report batch: timestamp (element 3) must be a number' };
  const entries: MapperReportEntry[] = [];
  const states: MapperStateEntry[] = [];
  for (let i = 3; i < a.length; i++) {
    const e = a[i] as unknown;
    if (Array.isArray(e) && e[0] === STATE_ENTRY_TAG) {
      if (e.length !== 3 || typeof e[1] !== 'string' || !e[1] || typeof e[2] !== 'string')
        return { ok: false, error: `report batch entry ${i - 3}: a state entry must be [0, device id, state]` };
      states.push({ device: e[1], state: e[2] });
      continue;
    }
    if (!Array.isArray(e) || e.length % 2 === 0 || typeof e[0] !== 'string' || !e[0])
      return {
        ok: false,
        error: `report batch entry ${i - 3}: must be [device id, property, value, ...] with a value for each property`,
      };
    for (let j = 1; j < e.length; j++)
      if (typeof e[j] !== 'string')
        return { ok: false, error: `report batch entry ${i - 3} (${e[0]}): element ${j} must be a string` };
    entries.push(e as string[]);
  }
  return { ok: true, value: { seq: seq as number, timestamp, entries, states } };
}

/** `[1,<seq>,<ts>,` as encodeMapperReports writes it: the head of a batch with at least one entry. */
const HEAD_RE = /^\[1,(\d{1,15}),(\d{1,16}),/;

/**
 * Decodes the batches of one mapper, remembering the last one: a batch whose entries are byte for byte
 * those of the batch before (steady devices polled in report mode `cycle` send the same readings every
 * cycle) is not parsed again (issue 15: parsing was the largest share of the twin's work). Its seq and
 * timestamp are read from its head; the entries returned are the previous batch's, which callers must
 * not change. Anything else is decodeMapperReports.
 */
export class MapperReportDecoder {
  private lastBody: Buffer | undefined;
  private lastEntries: MapperReportEntry[] = [];
  private lastStates: MapperStateEntry[] = [];
  /** batches answered from the last one without parsing (a metric, and for tests) */
  reused = 0;

  decode(buf: Buffer): Decoded<MapperReportBatch> {
    const m = HEAD_RE.exec(buf.subarray(0, 36).toString('latin1'));
    const start = m ? m[0].length : -1;
    const last = this.lastBody;
    if (m && last && buf.length - start === last.length && buf.compare(last, 0, last.length, start) === 0) {
      this.reused++;
      return {
        ok: true,
        value: { seq: Number(m[1]), timestamp: Number(m[2]), entries: this.lastEntries, states: this.lastStates },
      };
    }
    const d = decodeMapperReports(buf);
    if (d.ok && m) {
      this.lastBody = Buffer.from(buf.subarray(start));
      this.lastEntries = d.value.entries;
      this.lastStates = d.value.states;
    } else {
      this.lastBody = undefined;
      this.lastEntries = [];
      this.lastStates = [];
    }
    return d;
  }
}

/** The seq of a batch without decoding it (to answer one refused before it is read); -1 if there is none. */
export function peekMapperReportSeq(buf: Buffer): number {
  const head = buf.subarray(0, 32).toString('latin1');
  const m = /^\[\s*1\s*,\s*(\d{1,15})\s*,/.exec(head);
  return m ? Number(m[1]) : -1;
}

export function encodeMapperReportAnswer(a: MapperReportAnswer): string {
  const o: Record<string, unknown> = { seq: a.seq };
  if (a.all) o.all = a.all;
  if (a.refused?.length) {
    o.refused = a.refused.slice(0, MAX_ANSWER_REFUSALS).map((r) => [r.device, r.property, r.code, r.reason]);
    if (a.refused.length > MAX_ANSWER_REFUSALS) o.more = a.refused.length - MAX_ANSWER_REFUSALS;
  }
  if (a.accepted?.length) o.accepted = a.accepted.map((r) => [r.device, r.property]);
  return JSON.stringify(o);
}

export function decodeMapperReportAnswer(buf: Buffer | string): Decoded<MapperReportAnswer> {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(typeof buf === 'string' ? buf : buf.toString('utf8'));
  } catch (e) {
    return { ok: false, error: `report answer is not JSON: ${(e as Error).message}` };
  }
  if (!o || typeof o !== 'object' || !Number.isSafeInteger(o.seq))
    return { ok: false, error: 'report answer must be an object with an integer seq' };
  const out: MapperReportAnswer = { seq: o.seq as number };
  const all = o.all as { code?: unknown; reason?: unknown } | undefined;
  if (all !== undefined) {
    if (typeof all !== 'object' || typeof all.code !== 'number' || typeof all.reason !== 'string')
      return { ok: false, error: 'report answer: all must be {code, reason}' };
    out.all = { code: all.code, reason: all.reason };
  }
  if (o.refused !== undefined) {
    if (!Array.isArray(o.refused)) return { ok: false, error: 'report answer: refused must be an array' };
    out.refused = [];
    for (const r of o.refused as unknown[]) {
      if (
        !Array.isArray(r) ||
        typeof r[0] !== 'string' ||
        typeof r[1] !== 'string' ||
        typeof r[2] !== 'number' ||
        typeof r[3] !== 'string'
      )
        return { ok: false, error: 'report answer: each refusal must be [device, property, code, reason]' };
      out.refused.push({ device: r[0], property: r[1], code: r[2], reason: r[3] });
    }
  }
  if (o.accepted !== undefined) {
    if (!Array.isArray(o.accepted)) return { ok: false, error: 'report answer: accepted must be an array' };
    out.accepted = [];
    for (const r of o.accepted as unknown[]) {
      if (!Array.isArray(r) || typeof r[0] !== 'string' || typeof r[1] !== 'string')
        return { ok: false, error: 'report answer: each acceptance must be [device, property]' };
      out.accepted.push({ device: r[0], property: r[1] });
    }
  }
  return { ok: true, value: out };
}
