// Runs a task on a fixed period anchored at its start time, so the schedule never drifts: tick k is due
// at start + k * period whatever the task took. A tick that comes while the previous run is still going
// (or that the event loop missed entirely) is counted as an overrun and skipped, never stacked.
// While a run is late the timer is parked instead of firing every period only to skip: with many devices
// on a busy line most ticks are skipped, and re-arming a timer for each was a large share of the mapper's
// CPU (bench/modbus-mapper.ts). The ticks skipped while parked are counted when the run ends.

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
  let due = now();
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
  /** After a parked tick: every tick that came while the task ran is skipped and counted. */
  const resume = () => {
    if (stopped) return;
    due += periodMs;
    const t = now();
    if (due <= t) {
      const missed = Math.floor((t - due) / periodMs) + 1;
      due += missed * periodMs;
      overrun(missed);
    }
    timer = setTimeout(fire, due - t);
  };
  const fire = () => {
    if (stopped) return;
    if (running) {
      overrun(1);
      parked = true;
      return;
    }
    run();
    schedule();
  };

  if (opts.immediate ?? true) run();
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
