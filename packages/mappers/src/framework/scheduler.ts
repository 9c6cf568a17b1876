// Runs a task on a fixed period on the clock's grid, so the schedule never drifts: ticks are due at the
// multiples of the period (since the epoch) whatever the task took, and every cycle of the same period in
// this process ticks at the same moment (issue 15: the reads of all devices due together leave together,
// so a line that takes concurrent requests sends them in one write, and their readings share one report
// batch). Runs never overlap or stack. A run that ends after its next tick runs once more at once (a
// catch-up, late, for the latest tick it missed), so a device slower than its cycle is read back to back
// instead of every second tick (issue 15 target 2: the line was idle while devices were due); the ticks
// before that latest one are skipped and counted as overruns. While a run is late the timer is parked
// instead of firing every period only to skip: with many devices on a busy line most ticks come while
// their run is going, and re-arming a timer for each was a large share of the mapper's CPU
// (bench/modbus-mapper.ts). The ticks skipped while parked are counted when the run ends.
// A cycle may tick at an offset from the grid (`phaseMs`): the state reports of 1,000 devices on one grid
// tick passed both brokers and the twin in one burst each second, and a `twin set` that came then waited
// behind it (issue 15 target 5); `phaseGroupMs` spreads such cycles over a few fixed slices of the period,
// so each slice still leaves together (one write, one twin transaction) while no slice is the whole burst.

export interface Cycle {
  readonly runs: number;
  readonly overruns: number;
  stop(): void;
}

export interface CycleOptions {
  /** run at once on start (default true), then every period */
  immediate?: boolean;
  onOverrun?: (skipped: number) => void;
  /** ticks are due at the multiples of the period plus this offset (0 <= phaseMs < period; default 0) */
  phaseMs?: number;
  /** errors thrown by the task (the task should handle its own; this is a last resort) */
  onError?: (err: unknown) => void;
  now?: () => number;
}

export function startCycle(periodMs: number, task: () => Promise<void>, opts: CycleOptions = {}): Cycle {
  if (!(periodMs > 0)) throw new Error(`cycle period must be > 0 ms, got ${periodMs}`);
  const phase = opts.phaseMs ?? 0;
  if (!(phase >= 0 && phase < periodMs))
    throw new Error(`cycle phase must be >= 0 and < the period (${periodMs} ms), got ${phase}`);
  return new PeriodicTask(periodMs, task, opts);
}

/** Slices of a period that `phaseGroupMs` spreads cycles over (measured in bench/e2e.ts, issue 15 target 5). */
export const PHASE_GROUPS = 10;

/**
 * The offset in the period of `key`'s slice: the period cut into `groups` equal slices (none shorter than
 * `minSliceMs`, so a short period keeps fewer), the slice chosen by a hash of the key, so a device keeps
 * its slice across restarts and 1,000 devices fall about evenly into them.
 */
export function phaseGroupMs(key: string, periodMs: number, groups = PHASE_GROUPS, minSliceMs = 10): number {
  const n = Math.max(1, Math.min(groups, Math.floor(periodMs / minSliceMs)));
  if (n === 1) return 0;
  // FNV-1a over the key's UTF-16 units: cheap, stable, well spread for names that differ in a digit
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return Math.floor((((h >>> 0) % n) * periodMs) / n);
}

/** the timer's callback: one function for every cycle (the cycle is the timer's argument), not a closure each */
function fire(c: PeriodicTask): void {
  c.fire();
}

/**
 * A class, not closures over local state: a device holds one or two cycles, and a closure-built cycle was
 * ~1.3 KiB of heap (nine functions and their context); with 1,000 devices, 2.6 MiB (issue 15, target 3).
 */
class PeriodicTask implements Cycle {
  runs = 0;
  overruns = 0;
  private running = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private due: number;
  /** a tick found the task still running; the next timer is armed when it ends */
  private parked = false;
  private readonly now: () => number;

  constructor(
    private readonly periodMs: number,
    private readonly task: () => Promise<void>,
    private readonly opts: CycleOptions,
  ) {
    this.now = opts.now ?? Date.now;
    // the grid point at or before now: the first run (immediate) stands for it
    const phase = opts.phaseMs ?? 0;
    this.due = Math.floor((this.now() - phase) / periodMs) * periodMs + phase;
    if (opts.immediate ?? true) this.run();
    // without a run at once, the first tick is not sooner than half a period (it lands on the grid)
    else if (this.due + periodMs - this.now() < periodMs / 2) this.due += periodMs;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  fire(): void {
    if (this.stopped) return;
    if (this.running) {
      this.parked = true;
      return;
    }
    this.run();
    this.schedule();
  }

  private overrun(n: number): void {
    this.overruns += n;
    this.opts.onOverrun?.(n);
  }

  private run(): void {
    this.running = true;
    this.runs++;
    this.task()
      .catch((e) => this.opts.onError?.(e))
      .finally(() => {
        this.running = false;
        if (this.parked) {
          this.parked = false;
          this.resume();
        }
      });
  }

  private schedule(): void {
    if (this.stopped) return;
    this.due += this.periodMs;
    const t = this.now();
    if (this.due < t - this.periodMs / 2) {
      // the loop was blocked (or the task ran) past whole ticks: skip them, count them, keep the phase
      const missed = Math.floor((t - this.due) / this.periodMs);
      this.due += missed * this.periodMs;
      this.overrun(missed);
    }
    this.timer = setTimeout(fire, Math.max(0, this.due - t), this);
  }

  /**
   * After a parked tick (`due`, which came while the task ran): the latest tick that came runs now, the
   * ones before it are skipped and counted.
   */
  private resume(): void {
    if (this.stopped) return;
    const missed = Math.max(0, Math.floor((this.now() - this.due) / this.periodMs));
    if (missed > 0) {
      this.due += missed * this.periodMs;
      this.overrun(missed);
    }
    this.run();
    this.schedule();
  }
}
