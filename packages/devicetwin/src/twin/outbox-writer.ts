// Appends the twin's reports to the outbox, keeping it to state rather than history: a newer report of the
// same thing (a property's reported or desired value, a device's state, a property's write status)
// replaces the older one not yet acknowledged. A node cut off from its cloud for a week therefore holds at
// most one pending report per property and side, not one per reading, and the cloud still receives every
// latest value, in seq order (docs/twin.md, "The outbox").

import type { OutboxEntry, Report, TwinReportEntry } from '@edgetwin/api';
import type { TwinStore } from '../store/twin-store.js';

type Side = 'reported' | 'observedDesired';

export class OutboxWriter {
  /** what each pending entry still carries, by seq */
  private readonly entries = new Map<number, Report>();
  /** the pending entry that carries the latest value of each key */
  private readonly latest = new Map<string, number>();

  constructor(private readonly store: TwinStore) {}

  /** Rebuilds the index from the pending rows (at open and after a rollback). */
  load(): void {
    this.entries.clear();
    this.latest.clear();
    const batch = 10_000;
    for (let after = this.store.ackedSeq(); ; ) {
      const rows = this.store.pendingOutbox(after, batch);
      for (const e of rows) this.index(e);
      if (rows.length < batch) break;
      after = rows[rows.length - 1]!.seq;
    }
  }

  append(report: Report, now: number): OutboxEntry {
    const touched = new Set<number>();
    for (const key of keysOf(report)) {
      const seq = this.latest.get(key);
      if (seq === undefined) continue;
      const old = this.entries.get(seq);
      if (old) {
        this.entries.set(seq, without(old, key));
        touched.add(seq);
      }
    }
    for (const seq of touched) {
      const rest = this.entries.get(seq)!;
      if (keysOf(rest).length === 0) {
        this.store.deleteOutboxEntry(seq);
        this.entries.delete(seq);
      } else this.store.replaceOutboxReport(seq, rest);
    }
    const entry = this.store.appendOutbox(report, now);
    this.index(entry);
    return entry;
  }

  /** Forgets acknowledged entries so the index stays as small as the outbox. */
  acked(upTo: number): void {
    for (const seq of this.entries.keys()) if (seq <= upTo) this.entries.delete(seq);
    for (const [key, seq] of this.latest) if (seq <= upTo) this.latest.delete(key);
  }

  private index(e: OutboxEntry): void {
    const { seq, timestamp: _t, ...report } = e;
    this.entries.set(seq, report as Report);
    for (const key of keysOf(report as Report)) this.latest.set(key, seq);
  }
}

function keysOf(r: Report): string[] {
  if (r.kind === 'state') return [`state|${r.deviceId}`];
  if (r.kind === 'write') return [`write|${r.deviceId}|${r.status.property}`];
  if (r.kind === 'refused-reading') return [`refused-reading|${r.deviceId}|${r.status.property}`];
  if (r.kind === 'push-status') return [`push-status|${r.deviceId}|${r.status.property}|${r.status.sink}`];
  const keys: string[] = [];
  for (const t of r.twins) {
    if (t.reported) keys.push(twinKey(r.deviceId, t.property, 'reported'));
    if (t.observedDesired) keys.push(twinKey(r.deviceId, t.property, 'observedDesired'));
  }
  return keys;
}

function twinKey(deviceId: string, property: string, side: Side): string {
  return `twin|${deviceId}|${property}|${side}`;
}

/** The report without the value named by key (state, write and refusal reports carry one value: nothing is left). */
function without(r: Report, key: string): Report {
  if (r.kind !== 'twin') return { kind: 'twin', deviceId: r.deviceId, twins: [] };
  const twins: TwinReportEntry[] = [];
  for (const t of r.twins) {
    const next: TwinReportEntry = { property: t.property };
    if (t.reported && twinKey(r.deviceId, t.property, 'reported') !== key) next.reported = t.reported;
    if (t.observedDesired && twinKey(r.deviceId, t.property, 'observedDesired') !== key)
      next.observedDesired = t.observedDesired;
    if (next.reported || next.observedDesired) twins.push(next);
  }
  return { ...r, twins };
}
