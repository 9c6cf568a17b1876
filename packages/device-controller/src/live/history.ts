// A bounded history of reported numeric values, per device property, kept by the controller (issue 16 §1:
// plots in the console, `GET /devices/NS/NAME/history`, `edgetwin get history`). Bounded three ways: by age
// (retentionMs), by points per property (a ring), and by the number of series; each point costs 16 bytes
// (two float64; a ring grows by doubling), so the worst case is maxSeries × maxPointsPerProperty × 16 bytes (docs/controller.md).
// In memory: a restart starts empty; the long-term store is a sink's job (docs/push.md).

/** One series: a ring of (time ms, value) pairs that grows by doubling up to `max` points. */
class Series {
  t: Float64Array;
  v: Float64Array;
  start = 0;
  size = 0;

  constructor(private readonly max: number) {
    this.t = new Float64Array(Math.min(64, max));
    this.v = new Float64Array(Math.min(64, max));
  }

  push(t: number, v: number): boolean {
    if (this.size === this.t.length && this.t.length < this.max) this.grow();
    const cap = this.t.length;
    const at = (this.start + this.size) % cap;
    this.t[at] = t;
    this.v[at] = v;
    if (this.size < cap) {
      this.size++;
      return false;
    }
    this.start = (this.start + 1) % cap;
    return true; // the oldest point made room
  }

  private grow(): void {
    const cap = Math.min(this.max, this.t.length * 2);
    const t = new Float64Array(cap);
    const v = new Float64Array(cap);
    for (let i = 0; i < this.size; i++) {
      const at = (this.start + i) % this.t.length;
      t[i] = this.t[at]!;
      v[i] = this.v[at]!;
    }
    this.t = t;
    this.v = v;
    this.start = 0;
  }

  /** Drops points older than `before`; returns how many. */
  prune(before: number): number {
    let n = 0;
    while (this.size > 0 && this.t[this.start]! < before) {
      this.start = (this.start + 1) % this.t.length;
      this.size--;
      n++;
    }
    return n;
  }

  points(since: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.size; i++) {
      const at = (this.start + i) % this.t.length;
      if (this.t[at]! >= since) out.push([this.t[at]!, this.v[at]!]);
    }
    return out;
  }

  last(): number | undefined {
    return this.size === 0 ? undefined : this.t[(this.start + this.size - 1) % this.t.length];
  }
}

export interface HistoryOptions {
  /** points older than this are dropped (default 1 h) */
  retentionMs?: number;
  /** points kept per device property; the oldest makes room (default 3600: one a second for an hour) */
  maxPointsPerProperty?: number;
  /** device properties with a history; a new one beyond this is not recorded (default 2000) */
  maxSeries?: number;
  now?: () => number;
  /** called for every point dropped, by reason (metrics) */
  onDrop?: (reason: 'age' | 'points' | 'series-limit', n: number) => void;
}

export const HISTORY_DEFAULTS = { retentionMs: 3_600_000, maxPointsPerProperty: 3600, maxSeries: 2000 } as const;

export interface HistoryPoint {
  device: string;
  property: string;
  /** ms since the epoch */
  t: number;
  v: number;
}

export class ReportHistory {
  private readonly series = new Map<string, Series>();
  readonly retentionMs: number;
  readonly maxPointsPerProperty: number;
  readonly maxSeries: number;
  private readonly now: () => number;
  private points = 0;
  private refusedSeries = 0;

  constructor(private readonly opts: HistoryOptions = {}) {
    this.retentionMs = opts.retentionMs ?? HISTORY_DEFAULTS.retentionMs;
    this.maxPointsPerProperty = Math.max(1, opts.maxPointsPerProperty ?? HISTORY_DEFAULTS.maxPointsPerProperty);
    this.maxSeries = Math.max(1, opts.maxSeries ?? HISTORY_DEFAULTS.maxSeries);
    this.now = opts.now ?? Date.now;
  }

  /**
   * Records a reported value if it is a finite number ("21.5", "1e3"; booleans and words are not plotted).
   * A report older than the series' newest point is kept out, so a series is always in time order.
   */
  record(device: string, property: string, t: number, value: string): HistoryPoint | undefined {
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v) || !Number.isFinite(t)) return undefined;
    const key = `${device}\u0000${property}`;
    let s = this.series.get(key);
    if (!s) {
      if (this.series.size >= this.maxSeries) {
        this.refusedSeries++;
        this.opts.onDrop?.('series-limit', 1);
        return undefined;
      }
      s = new Series(this.maxPointsPerProperty);
      this.series.set(key, s);
    }
    const last = s.last();
    if (last !== undefined && t < last) return undefined;
    if (s.push(t, v)) this.opts.onDrop?.('points', 1);
    else this.points++;
    const aged = s.prune(this.now() - this.retentionMs);
    if (aged > 0) {
      this.points -= aged;
      this.opts.onDrop?.('age', aged);
    }
    return { device, property, t, v };
  }

  /** Points of one property since `since` (ms), oldest first. */
  query(device: string, property: string, since: number): Array<[number, number]> {
    const s = this.series.get(`${device}\u0000${property}`);
    if (!s) return [];
    this.pruneSeries(s);
    return s.points(Math.max(since, this.now() - this.retentionMs));
  }

  /** The properties of a device that have a history. */
  properties(device: string): string[] {
    const prefix = `${device}\u0000`;
    return [...this.series.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }

  /** A deleted device takes its history with it. */
  forgetDevice(device: string): void {
    const prefix = `${device}\u0000`;
    for (const [k, s] of this.series)
      if (k.startsWith(prefix)) {
        this.points -= s.size;
        this.series.delete(k);
      }
  }

  stats(): { series: number; points: number; bytes: number; refusedSeries: number } {
    let bytes = 0;
    for (const s of this.series.values()) bytes += s.t.length * 16;
    return { series: this.series.size, points: this.points, bytes, refusedSeries: this.refusedSeries };
  }

  private pruneSeries(s: Series): void {
    const aged = s.prune(this.now() - this.retentionMs);
    if (aged > 0) {
      this.points -= aged;
      this.opts.onDrop?.('age', aged);
    }
  }
}
