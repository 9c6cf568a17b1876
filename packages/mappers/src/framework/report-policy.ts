// When a mapper tells the twin about a reading (ResolvedProperty.report). KubeEdge reports every
// reading; edgetwin by default reports a change at once and an unchanged value only after a long
// silence, so a steady sensor costs the twin and the cloud nothing.

import { type PropertyType, type ReportStrategy, type ResolvedProperty, sameValue } from '@edgetwin/api';

export interface ReportPolicy {
  mode: 'cycle' | 'change' | 'deadband';
  deadband: number;
  /** report an unchanged value after this much silence; 0 = never */
  maxSilenceMs: number;
  /** mode cycle: the report period */
  reportCycleMs: number;
  /** how early (ms) a reading may come and still count for the current report cycle: timer jitter */
  earlyMs: number;
}

/** Default when a property gives no `report`: on change, and at least every 60 report cycles. */
export const DEFAULT_SILENCE_CYCLES = 60;

export function reportPolicy(
  p: Pick<ResolvedProperty, 'report' | 'reportCycleMs'> & Partial<Pick<ResolvedProperty, 'collectCycleMs'>>,
): ReportPolicy {
  const r: ReportStrategy = p.report ?? {};
  const mode = r.mode ?? 'change';
  return {
    mode,
    deadband: mode === 'deadband' ? Math.abs(r.deadband ?? 0) : 0,
    maxSilenceMs: r.maxSilenceMs ?? p.reportCycleMs * DEFAULT_SILENCE_CYCLES,
    reportCycleMs: p.reportCycleMs,
    earlyMs: Math.min(p.reportCycleMs, p.collectCycleMs ?? p.reportCycleMs) / 2,
  };
}

/** Remembers what was last reported for one property and decides whether a new reading is reported. */
export class ReportGate {
  private last: string | undefined;
  private lastAt = 0;

  constructor(
    private readonly policy: ReportPolicy,
    private readonly type: PropertyType,
  ) {}

  /** true if `value` read at `now` should be reported; if so it becomes the last reported value. */
  offer(value: string, now: number): boolean {
    if (!this.due(value, now)) return false;
    this.last = value;
    this.lastAt = now;
    return true;
  }

  /** true when this property is reported every report cycle, changed or not (mode `cycle`) */
  get periodic(): boolean {
    return this.policy.mode === 'cycle';
  }

  /** Forget the last report (the twin may have lost it, e.g. after a reconnect). */
  reset(): void {
    this.last = undefined;
  }

  private due(value: string, now: number): boolean {
    if (this.last === undefined) return true;
    const silent = now - this.lastAt;
    if (this.policy.maxSilenceMs > 0 && silent >= this.policy.maxSilenceMs) return true;
    switch (this.policy.mode) {
      case 'cycle':
        // a reading a little early (timer jitter) still belongs to this report cycle
        return silent >= this.policy.reportCycleMs - this.policy.earlyMs;
      case 'deadband': {
        const a = Number(value);
        const b = Number(this.last);
        if (Number.isFinite(a) && Number.isFinite(b)) return Math.abs(a - b) > this.policy.deadband;
        return value !== this.last;
      }
      default:
        return !sameValue(this.type, value, this.last);
    }
  }
}
