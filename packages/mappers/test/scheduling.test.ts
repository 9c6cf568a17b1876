import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ReportGate, reportPolicy } from '../src/framework/report-policy.js';
import { PHASE_GROUPS, phaseGroupMs, startCycle } from '../src/framework/scheduler.js';

describe('startCycle', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs on a fixed grid: a slow task does not push later runs back', async () => {
    const starts: number[] = [];
    const c = startCycle(100, async () => {
      starts.push(Date.now());
      await new Promise((r) => setTimeout(r, 30));
    });
    await vi.advanceTimersByTimeAsync(1000);
    c.stop();
    expect(starts.map((t) => t - 1_000_000)).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(c.overruns).toBe(0);
  });

  it('runs a late read once more at once (catching up the latest tick it missed), never stacked', async () => {
    let concurrent = 0;
    let maxConcurrent = 0;
    const starts: number[] = [];
    const c = startCycle(100, async () => {
      starts.push(Date.now() - 1_000_000);
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await new Promise((r) => setTimeout(r, 230));
      concurrent--;
    });
    await vi.advanceTimersByTimeAsync(1000);
    c.stop();
    expect(maxConcurrent).toBe(1);
    // 0 ends at 230 after ticks 100 and 200: 200 runs at once, 100 is skipped; ... 690 ends at 920 after 700, 800, 900
    expect(starts).toEqual([0, 230, 460, 690, 920]);
    expect(c.overruns).toBe(5); // 100, 300, 500, 700, 800
  });

  it('back on the grid after a catch-up: the next tick is the next multiple of the period', async () => {
    const starts: number[] = [];
    let slow = true;
    const c = startCycle(100, async () => {
      starts.push(Date.now() - 1_000_000);
      if (slow) {
        slow = false;
        await new Promise((r) => setTimeout(r, 150));
      }
    });
    await vi.advanceTimersByTimeAsync(450);
    c.stop();
    expect(starts).toEqual([0, 150, 200, 300, 400]);
    expect(c.overruns).toBe(0);
  });

  it('ticks on the clock grid, so cycles of one period started apart tick together', async () => {
    vi.setSystemTime(1_000_037);
    const a: number[] = [];
    const b: number[] = [];
    const ca = startCycle(100, async () => {
      a.push(Date.now() - 1_000_000);
    });
    await vi.advanceTimersByTimeAsync(21);
    const cb = startCycle(100, async () => {
      b.push(Date.now() - 1_000_000);
    });
    await vi.advanceTimersByTimeAsync(300);
    ca.stop();
    cb.stop();
    expect(a).toEqual([37, 100, 200, 300]);
    expect(b).toEqual([58, 100, 200, 300]);
  });

  it('ticks at its phase on the grid: a state cycle in the slice at 300 ms of 1 s ticks at x.300 s', async () => {
    vi.setSystemTime(1_000_450);
    const starts: number[] = [];
    const c = startCycle(
      1000,
      async () => {
        starts.push(Date.now() - 1_000_000);
      },
      { immediate: false, phaseMs: 300 },
    );
    await vi.advanceTimersByTimeAsync(3000);
    c.stop();
    // 450 is past this second's 300: the first tick is the next second's (more than half a period away)
    expect(starts).toEqual([1300, 2300, 3300]);
  });

  it('refuses a phase outside the period', () => {
    expect(() => startCycle(100, async () => {}, { phaseMs: 100 })).toThrow(/phase must be >= 0 and < the period/);
  });

  it('stops', async () => {
    let n = 0;
    const c = startCycle(50, async () => {
      n++;
    });
    c.stop();
    await vi.advanceTimersByTimeAsync(500);
    expect(n).toBe(1);
  });
});

describe('phaseGroupMs', () => {
  it('puts 1,000 devices in a few slices of the period, none holding much more than its share, each device always in the same one', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `default/e2e-${String(i).padStart(4, '0')}`);
    const bySlice = new Map<number, number>();
    for (const id of ids) {
      const phase = phaseGroupMs(id, 1000);
      expect(phaseGroupMs(id, 1000)).toBe(phase);
      bySlice.set(phase, (bySlice.get(phase) ?? 0) + 1);
    }
    expect([...bySlice.keys()].sort((a, b) => a - b)).toEqual(
      Array.from({ length: PHASE_GROUPS }, (_, i) => (i * 1000) / PHASE_GROUPS),
    );
    // the burst a slice makes: at most 1.5x its even share (100 of 1,000 in 10 slices)
    expect(Math.max(...bySlice.values())).toBeLessThanOrEqual((1.5 * 1000) / PHASE_GROUPS);
  });

  it('keeps fewer slices when the period is short (none under 10 ms) and one slice below 20 ms', () => {
    const phases = new Set(Array.from({ length: 200 }, (_, i) => phaseGroupMs(`d${i}`, 50)));
    expect([...phases].sort((a, b) => a - b)).toEqual([0, 10, 20, 30, 40]);
    expect(phaseGroupMs('d1', 15)).toBe(0);
  });
});

describe('report policy', () => {
  it("defaults to 'change' with a silence limit of 60 report cycles", () => {
    expect(reportPolicy({ reportCycleMs: 1000 })).toMatchObject({
      mode: 'change',
      deadband: 0,
      maxSilenceMs: 60_000,
      reportCycleMs: 1000,
    });
  });

  it('change: reports changes only (typed: 1.0 equals 1), and again after the silence limit', () => {
    const g = new ReportGate(reportPolicy({ reportCycleMs: 1000 }), 'FLOAT');
    expect(g.offer('1', 0)).toBe(true);
    expect(g.offer('1.0', 1000)).toBe(false);
    expect(g.offer('2', 2000)).toBe(true);
    expect(g.offer('2', 61_999)).toBe(false);
    expect(g.offer('2', 62_000)).toBe(true);
  });

  it('deadband: reports only moves larger than the band', () => {
    const g = new ReportGate(
      reportPolicy({ reportCycleMs: 1000, report: { mode: 'deadband', deadband: 0.5, maxSilenceMs: 0 } }),
      'FLOAT',
    );
    expect(g.offer('20', 0)).toBe(true);
    expect(g.offer('20.4', 1000)).toBe(false);
    expect(g.offer('19.6', 2000)).toBe(false);
    expect(g.offer('20.6', 3000)).toBe(true);
    expect(g.offer('20.6', 1e9)).toBe(false);
  });

  it('cycle: reports once per report cycle, changed or not', () => {
    const g = new ReportGate(
      reportPolicy({ reportCycleMs: 5000, collectCycleMs: 1000, report: { mode: 'cycle' } }),
      'INT',
    );
    const reported = [0, 1000, 2000, 3000, 4000, 5000, 6000, 9990, 10000].filter((t) => g.offer('7', t));
    expect(reported).toEqual([0, 5000, 9990]);
    // reportCycle = collectCycle: every reading, even one that comes a little early
    const every = new ReportGate(
      reportPolicy({ reportCycleMs: 100, collectCycleMs: 100, report: { mode: 'cycle' } }),
      'INT',
    );
    expect([0, 110, 190, 300, 395].filter((t) => every.offer('7', t))).toEqual([0, 110, 190, 300, 395]);
  });
});
