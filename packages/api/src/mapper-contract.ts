// Payloads of the mapper-facing contract that KubeEdge does not have (docs/mapper-contract.md).
// A mapper otherwise speaks KubeEdge's own topics: it reports on twin/update and state/update and
// learns desired values from twin/update/delta.

/** Where a desired value stands on the device (modelled on Azure Plug and Play writable-property acks). */
export type WriteState = 'pending' | 'written' | 'verified' | 'failed';

/** Mapper -> twin on writeStatusTopic(id). One message per property per state change. */
export interface WriteStatus {
  property: string;
  /** the desired value this status answers */
  desired: string;
  state: WriteState;
  /** why it failed, or why it is still pending (e.g. "device disagrees, retry 2 of 5 in 400 ms") */
  reason?: string;
  /** attempts made so far */
  attempts?: number;
  timestamp: number;
}

const WRITE_STATES: readonly string[] = ['pending', 'written', 'verified', 'failed'];

/** A mapper -> twin message about one property: a JSON object whose `property` is a non-empty string. */
function propertyMessage(
  buf: Buffer | string,
  what: string,
): { ok: true; value: Record<string, unknown> & { property: string } } | { ok: false; error: string } {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(typeof buf === 'string' ? buf : buf.toString('utf8'));
  } catch (e) {
    return { ok: false, error: `${what} is not JSON: ${(e as Error).message}` };
  }
  if (!o || typeof o !== 'object') return { ok: false, error: `${what} must be a JSON object` };
  if (typeof o.property !== 'string' || !o.property) return { ok: false, error: 'property must be a non-empty string' };
  return { ok: true, value: o as Record<string, unknown> & { property: string } };
}

export function decodeWriteStatus(
  buf: Buffer | string,
): { ok: true; value: WriteStatus } | { ok: false; error: string } {
  const parsed = propertyMessage(buf, 'write status');
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  if (typeof o.desired !== 'string') return { ok: false, error: 'desired must be a string' };
  if (typeof o.state !== 'string' || !WRITE_STATES.includes(o.state))
    return { ok: false, error: 'state must be one of pending, written, verified, failed' };
  if (o.reason !== undefined && typeof o.reason !== 'string') return { ok: false, error: 'reason must be a string' };
  const ts = typeof o.timestamp === 'number' ? o.timestamp : Date.now();
  const value: WriteStatus = { property: o.property, desired: o.desired, state: o.state as WriteState, timestamp: ts };
  if (typeof o.reason === 'string') value.reason = o.reason;
  if (typeof o.attempts === 'number') value.attempts = o.attempts;
  return { ok: true, value };
}

/**
 * Mapper -> twin (reportStatusTopic): a reading the mapper did not put in a twin/update because the model
 * refuses it (wrong type, out of [minimum, maximum]), so the property's good neighbours still reach the twin
 * (issue 9 §5); `accepted` clears it once a reading of the property passes again. Shown by `describe device`.
 */
export interface ReportStatus {
  property: string;
  state: 'refused' | 'accepted';
  /** the refused reading (state refused) */
  value?: string;
  /** why the model refuses it (state refused) */
  reason?: string;
  timestamp: number;
}

/** Longest refused value kept in a report status (the rest is cut: it is shown, not stored as a value). */
export const MAX_REFUSED_VALUE_CHARS = 256;

export function decodeReportStatus(
  buf: Buffer | string,
): { ok: true; value: ReportStatus } | { ok: false; error: string } {
  const parsed = propertyMessage(buf, 'report status');
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  if (o.state !== 'refused' && o.state !== 'accepted') return { ok: false, error: 'state must be refused or accepted' };
  const ts = typeof o.timestamp === 'number' ? o.timestamp : Date.now();
  if (o.state === 'accepted') return { ok: true, value: { property: o.property, state: 'accepted', timestamp: ts } };
  if (typeof o.value !== 'string') return { ok: false, error: 'value (the refused reading) must be a string' };
  if (typeof o.reason !== 'string' || !o.reason) return { ok: false, error: 'reason must be a non-empty string' };
  return {
    ok: true,
    value: {
      property: o.property,
      state: 'refused',
      value: o.value.slice(0, MAX_REFUSED_VALUE_CHARS),
      reason: o.reason.slice(0, MAX_REFUSED_VALUE_CHARS * 2),
      timestamp: ts,
    },
  };
}

/**
 * Mapper -> twin (pushStatusTopic): a property's push to a database or OTLP sink started failing (with why:
 * unreachable, credentials refused...) or works again (issue 17). `sink` is the sink's label
 * (`redis:addr/db`, `mysql:user@addr/db`, `influxdb2:url/org/bucket`, `otel:url`), never a secret.
 * Carried like a refused reading: twin, outbox, cloud link, `status.extensions.push`, `describe device`.
 */
export interface PushStatus {
  property: string;
  sink: string;
  state: 'failing' | 'ok';
  /** why it fails (state failing) */
  reason?: string;
  timestamp: number;
}

/** Longest sink label or reason kept in a push status. */
export const MAX_PUSH_STATUS_CHARS = 512;

export function decodePushStatus(buf: Buffer | string): { ok: true; value: PushStatus } | { ok: false; error: string } {
  const parsed = propertyMessage(buf, 'push status');
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  if (o.state !== 'failing' && o.state !== 'ok') return { ok: false, error: 'state must be failing or ok' };
  if (typeof o.sink !== 'string' || !o.sink) return { ok: false, error: 'sink must be a non-empty string' };
  const ts = typeof o.timestamp === 'number' ? o.timestamp : Date.now();
  const value: PushStatus = {
    property: o.property,
    sink: o.sink.slice(0, MAX_PUSH_STATUS_CHARS),
    state: o.state,
    timestamp: ts,
  };
  if (o.state === 'failing')
    value.reason = typeof o.reason === 'string' ? o.reason.slice(0, MAX_PUSH_STATUS_CHARS) : '';
  return { ok: true, value };
}

/** Mapper presence payload (retained on mapperPresenceTopic). */
export interface MapperPresence {
  state: 'online' | 'offline';
  protocol: string;
  /** devices the mapper currently serves */
  devices?: number;
  timestamp: number;
}
