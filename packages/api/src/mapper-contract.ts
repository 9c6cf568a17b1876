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

export function decodeWriteStatus(
  buf: Buffer | string,
): { ok: true; value: WriteStatus } | { ok: false; error: string } {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(typeof buf === 'string' ? buf : buf.toString('utf8'));
  } catch (e) {
    return { ok: false, error: `write status is not JSON: ${(e as Error).message}` };
  }
  if (!o || typeof o !== 'object') return { ok: false, error: 'write status must be a JSON object' };
  if (typeof o.property !== 'string' || !o.property) return { ok: false, error: 'property must be a non-empty string' };
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

/** Mapper presence payload (retained on mapperPresenceTopic). */
export interface MapperPresence {
  state: 'online' | 'offline';
  protocol: string;
  /** devices the mapper currently serves */
  devices?: number;
  timestamp: number;
}
