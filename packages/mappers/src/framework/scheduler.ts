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

export interface Cycle {
  readonly runs: number;
  readonly overruns: number;
  stop(): void;
}

export interface CycleOptions {
  /** run at once on start (default true), then every period */
  immediate?: boolean;
  onOverrun?: (skipped: number) => void;
  /** errors thrown by the task (the task should handle its own; this is a last resort) */
  onError?: (err: unknown) => void;
  now?: () => number;
}

export function startCycle(periodMs: number, task: () => Promise<void>, opts: CycleOptions = {}): Cycle {
  if (!(periodMs > 0)) throw new Error(`cycle period must be > 0 ms, got ${periodMs}`);
  const now = opts.now ?? Date.now;
  let runs = 0;
  let overruns = 0;
  let running = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // the grid point at or before now: the first run (immediate) stands for it
  let due = Math.floor(now() / periodMs) * periodMs;
  /** a tick found the task still running; the next timer is armed when it ends */
  let parked = false;

  const overrun = (n: number) => {
    overruns += n;
    opts.onOverrun?.(n);
  };
  const run = () => {
    running = true;
    runs++;
    task()
      .catch((e) => opts.onError?.(e))
      .finally(() => {
        running = false;
        if (parked) {
          parked = false;
          resume();
        }
      });
  };
  const schedule = () => {
    if (stopped) return;
    due += periodMs;
    const t = now();
    if (due < t - periodMs / 2) {
      // the loop was blocked (or the task ran) past whole ticks: skip them, count them, keep the phase
      const missed = Math.floor((t - due) / periodMs);
      due += missed * periodMs;
      overrun(missed);
    }
    timer = setTimeout(fire, Math.max(0, due - t));
  };
  /**
   * After a parked tick (`due`, which came while the task ran): the latest tick that came runs now, the
   * ones before it are skipped and counted.
   */
  const resume = () => {
    if (stopped) return;
    const missed = Math.max(0, Math.floor((now() - due) / periodMs));
    if (missed > 0) {
      due += missed * periodMs;
      overrun(missed);
    }
    run();
    schedule();
  };
  const fire = () => {
    if (stopped) return;
    if (running) {
      parked = true;
      return;
    }
    run();
    schedule();
  };

  if (opts.immediate ?? true) run();
  // without a run at once, the first tick is not sooner than half a period (it lands on the grid)
  else if (due + periodMs - now() < periodMs / 2) due += periodMs;
  schedule();
  return {
    get runs() {
      return runs;
    },
    get overruns() {
      return overruns;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
