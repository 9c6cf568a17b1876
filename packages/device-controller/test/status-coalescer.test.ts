import { join } from 'node:path';
import type { Device, DeviceStatusFields, OutboxEntry } from '@edgetwin/api';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ControllerMetrics } from '../src/metrics.js';
import { EmbeddedStore } from '../src/sources/embedded/store.js';
import { StatusCoalescer } from '../src/status/coalescer.js';
import { device, model, tempDir, twinReport } from './support.js';

/** The embedded store, counting status writes and failing the next `failNext` of them. */
class CountingStore extends EmbeddedStore {
  writes = 0;
  failNext = 0;
  override async writeStatus(d: Device, s: DeviceStatusFields): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('disk full (test)');
    }
    this.writes++;
    return super.writeStatus(d, s);
  }
}

describe('StatusCoalescer', () => {
  let store: CountingStore;
  let sink: StatusCoalescer;
  let cleanup: () => void;
  const metrics = () => new ControllerMetrics();

  beforeEach(() => {
    const t = tempDir();
    cleanup = t.cleanup;
    store = new CountingStore({ path: join(t.dir, 'c.db') });
    store.apply([
      model('thermo', { temp: { type: 'FLOAT' }, hum: { type: 'FLOAT' } }),
      device('a', 'n1', 'thermo', ['temp', 'hum']),
    ]);
  });
  afterEach(() => {
    sink?.stop();
    store.close();
    cleanup();
  });

  it('turns 1000 reports of one device in one batch into one write holding the last value', async () => {
    sink = new StatusCoalescer(store, { statusIntervalMs: 200, metrics: metrics() });
    const t0 = Date.now();
    const entries = Array.from({ length: 1000 }, (_, i) => twinReport('default/a', 'temp', String(i), t0 + i));
    await sink.applyReports('n1', entries);
    expect(store.writes).toBe(1);
    expect(store.device('default', 'a')?.status?.twins?.[0]?.reported?.value).toBe('999');
  });

  it('writes a device at most once per interval however many batches arrive, once its burst is spent', async () => {
    sink = new StatusCoalescer(store, { statusIntervalMs: 300, statusBurst: 1 });
    const t0 = Date.now();
    // 200 batches arriving together: the first is written at once, the rest together one interval later
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        sink.applyReports('n1', [twinReport('default/a', 'temp', String(i), t0 + i)]),
      ),
    );
    expect(store.writes).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(store.device('default', 'a')?.status?.twins?.[0]?.reported?.value).toBe('199');
  });

  it('writes a device that reports rarely at once: 3 reports within 50 ms, one batch after another', async () => {
    sink = new StatusCoalescer(store, { statusIntervalMs: 5000 });
    const t0 = Date.now();
    // as the cloud link applies one node's batches: the next only once the previous one is durable
    for (const v of ['1', '2', '3']) {
      await sink.applyReports('n1', [twinReport('default/a', 'temp', v, Date.now())]);
      expect(store.device('default', 'a')?.status?.twins?.[0]?.reported?.value).toBe(v);
    }
    expect(store.writes).toBe(3);
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('coalesces a device reporting every millisecond to its burst plus about one write per interval', async () => {
    sink = new StatusCoalescer(store, { statusIntervalMs: 1000 });
    const t0 = Date.now();
    const acks: Promise<void>[] = [];
    let n = 0;
    // one report a millisecond for a second, each its own batch, not waiting for the previous ack
    while (Date.now() - t0 < 1000) {
      acks.push(sink.applyReports('n1', [twinReport('default/a', 'temp', String(n), t0 + n)]));
      n++;
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(acks);
    expect(n).toBeGreaterThan(100);
    // the burst of 4, then one write when a token is back (~1 s) and at most one more for the tail
    expect(store.writes).toBeGreaterThanOrEqual(5);
    expect(store.writes).toBeLessThanOrEqual(6);
    expect(store.device('default', 'a')?.status?.twins?.[0]?.reported?.value).toBe(String(n - 1));
  });

  it('keeps the first report of every property (KubeEdge #5327, #5468) and resolves only once it is stored', async () => {
    sink = new StatusCoalescer(store, { statusIntervalMs: 0 });
    await sink.applyReports('n1', [twinReport('default/a', 'temp', '21.5', 1000)]);
    const twins = store.device('default', 'a')?.status?.twins;
    expect(twins).toEqual([
      { propertyName: 'temp', reported: { value: '21.5', metadata: { timestamp: '1000', type: 'float' } } },
    ]);
    await sink.applyReports('n1', [
      {
        kind: 'twin',
        deviceId: 'default/a',
        seq: 2,
        timestamp: 2000,
        twins: [
          {
            property: 'hum',
            reported: { value: '40', timestamp: 2000, type: 'float' },
            observedDesired: { value: '45', timestamp: 1990, type: 'float', source: 'cloud' },
          },
        ],
      },
    ]);
    const hum = store.device('default', 'a')?.status?.twins?.find((t) => t.propertyName === 'hum');
    expect(hum?.reported?.value).toBe('40');
    expect(hum?.observedDesired?.value).toBe('45');
  });

  it('takes reports in the order the link applies them, whatever their clocks say; a repeat changes nothing (issue 9 §2)', async () => {
    // the edge's clock was set back between two readings: the second is still the latest value
    sink = new StatusCoalescer(store, { statusIntervalMs: 0 });
    await sink.applyReports('n1', [twinReport('default/a', 'temp', 'before', 2000)]);
    await sink.applyReports('n1', [twinReport('default/a', 'temp', 'after the clock went back', 1000)]);
    expect(store.device('default', 'a')?.status?.twins?.[0]?.reported?.value).toBe('after the clock went back');
    expect(store.writes).toBe(2);
    await sink.applyReports('n1', [twinReport('default/a', 'temp', 'after the clock went back', 1000)]);
    expect(store.writes).toBe(2);
  });

  it('keeps writing status when the wall clock is set back an hour (issue 9 §2)', async () => {
    // the write budget was computed from Date.now: after the jump it was an hour in debt, and status
    // writes (so the cloud link's acks) stopped for an hour
    const real = Date.now.bind(Date);
    let offset = 0;
    const skew = vi.spyOn(Date, 'now').mockImplementation(() => real() + offset);
    try {
      sink = new StatusCoalescer(store, { statusIntervalMs: 0, maxWritesPerSecond: 5 });
      for (let i = 0; i < 5; i++) await sink.applyReports('n1', [twinReport('default/a', 'temp', `v${i}`, 1000 + i)]);
      offset = -3_600_000;
      await sink.applyReports('n1', [twinReport('default/a', 'temp', 'after the jump', 2000)]);
      expect(store.device('default', 'a')?.status?.twins?.[0]?.reported?.value).toBe('after the jump');
    } finally {
      skew.mockRestore();
    }
  }, 5000);

  it('puts state in status.state/lastOnlineTime and write acks in status.extensions.writes', async () => {
    sink = new StatusCoalescer(store, { statusIntervalMs: 0 });
    const entries: OutboxEntry[] = [
      {
        kind: 'state',
        deviceId: 'default/a',
        seq: 1,
        timestamp: 1,
        state: 'online',
        lastOnlineTime: '2026-11-23T13:00:00Z',
      },
      {
        kind: 'write',
        deviceId: 'default/a',
        seq: 2,
        timestamp: 2,
        status: {
          property: 'temp',
          desired: '20',
          state: 'failed',
          reason: 'device refused',
          attempts: 3,
          timestamp: 2,
        },
      },
    ];
    await sink.applyReports('n1', entries);
    const status = store.device('default', 'a')?.status;
    expect(status?.state).toBe('online');
    expect(status?.lastOnlineTime).toBe('2026-11-23T13:00:00Z');
    expect(
      (status?.extensions as { writes?: Record<string, { state: string }> } | undefined)?.writes?.temp?.state,
    ).toBe('failed');
  });

  it('ignores reports about a device bound to another node or unknown, without blocking the batch', async () => {
    const m = metrics();
    sink = new StatusCoalescer(store, { metrics: m });
    await sink.applyReports('n2', [twinReport('default/a', 'temp', '1'), twinReport('default/ghost', 'temp', '1')]);
    expect(store.writes).toBe(0);
    expect(store.device('default', 'a')?.status).toBeUndefined();
    const text = await m.registry.metrics();
    expect(text).toMatch(/reports_ignored_total\{reason="wrong-node"\} 1/);
    expect(text).toMatch(/reports_ignored_total\{reason="unknown-device"\} 1/);
  });

  it('retries a failed write and resolves only when a write succeeded', async () => {
    sink = new StatusCoalescer(store, { statusIntervalMs: 0 });
    store.failNext = 1;
    let resolved = false;
    const p = sink.applyReports('n1', [twinReport('default/a', 'temp', '7')]).then(() => {
      resolved = true;
    });
    // the first attempt fails at once; the sink must still be waiting
    await new Promise((r) => setImmediate(r));
    expect(resolved).toBe(false);
    expect(sink.pendingDevices()).toBe(1);
    await p;
    expect(store.writes).toBe(1);
    expect(store.device('default', 'a')?.status?.twins?.[0]?.reported?.value).toBe('7');
  });

  it('caps writes per second across devices', async () => {
    const many = Array.from({ length: 150 }, (_, i) => device(`d${i}`, 'n1', 'thermo'));
    store.apply(many);
    sink = new StatusCoalescer(store, { maxWritesPerSecond: 100 });
    const t0 = Date.now();
    await sink.applyReports(
      'n1',
      many.map((d) => twinReport(`default/${d.metadata.name}`, 'temp', '1', t0)),
    );
    // 100 tokens of burst, then 50 more at 100/s: no less than ~0.5 s
    expect(store.writes).toBe(150);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
  });

  it('drops the twin of a property removed from spec, and rejects waiting reports on stop', async () => {
    sink = new StatusCoalescer(store, { statusIntervalMs: 0 });
    await sink.applyReports('n1', [twinReport('default/a', 'temp', '1', 10), twinReport('default/a', 'hum', '2', 10)]);
    store.apply([device('a', 'n1', 'thermo', ['hum'])]);
    await sink.applyReports('n1', [twinReport('default/a', 'hum', '3', 20)]);
    expect(store.device('default', 'a')?.status?.twins?.map((t) => t.propertyName)).toEqual(['hum']);

    const slow = new StatusCoalescer(store, { statusIntervalMs: 60_000, statusBurst: 1 });
    await slow.applyReports('n1', [twinReport('default/a', 'hum', '4', 30)]);
    const pending = slow.applyReports('n1', [twinReport('default/a', 'hum', '5', 40)]);
    slow.stop();
    await expect(pending).rejects.toThrow(/stopped/);
  });
});
