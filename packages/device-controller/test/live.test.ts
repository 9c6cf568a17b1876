// The controller's live side (issue 16): the bounded history of reported numbers and its API, recent events,
// the SSE stream of changes, and the console's browser sessions behind the API's auth.
import type { OutboxEntry } from '@edgetwin/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningController, startController } from '../src/controller.js';
import { ControllerClient } from '../src/http/client.js';
import { EventLog } from '../src/live/event-log.js';
import { ReportHistory } from '../src/live/history.js';
import { device, model, tempDir, twinReport, waitFor } from './support.js';

describe('ReportHistory', () => {
  it('keeps numbers only, in time order, bounded by points, age and series', () => {
    let now = 1_000_000;
    const drops: string[] = [];
    const h = new ReportHistory({
      retentionMs: 10_000,
      maxPointsPerProperty: 3,
      maxSeries: 2,
      now: () => now,
      onDrop: (r, n) => drops.push(`${r}:${n}`),
    });
    expect(h.record('d/a', 'temp', now, '21.5')).toEqual({ device: 'd/a', property: 'temp', t: now, v: 21.5 });
    expect(h.record('d/a', 'power', now, 'ON')).toBeUndefined(); // words are not plotted
    expect(h.record('d/a', 'temp', now - 1, '20')).toBeUndefined(); // older than the newest: kept out
    for (let i = 1; i <= 3; i++) h.record('d/a', 'temp', now + i, String(i));
    // three points per property: the oldest made room
    expect(h.query('d/a', 'temp', 0)).toEqual([
      [now + 1, 1],
      [now + 2, 2],
      [now + 3, 3],
    ]);
    expect(drops).toContain('points:1');
    h.record('d/b', 'temp', now, '1');
    expect(h.record('d/c', 'temp', now, '1')).toBeUndefined(); // a third series is over the limit
    expect(drops).toContain('series-limit:1');
    now += 20_000; // everything is older than the retention now
    expect(h.query('d/a', 'temp', 0)).toEqual([]);
    h.forgetDevice('d/b');
    expect(h.stats().series).toBe(1);
  });
});

describe('EventLog', () => {
  it('counts a repeat instead of filling the ring, and drops the oldest at capacity', () => {
    const log = new EventLog(2);
    const object = { kind: 'Device' as const, namespace: 'default', name: 'x' };
    log.add({ type: 'Warning', reason: 'WriteFailed', message: 'a', object });
    log.add({ type: 'Warning', reason: 'WriteFailed', message: 'a', object });
    expect(log.list({ name: 'x' })).toMatchObject([{ reason: 'WriteFailed', count: 2 }]);
    log.add({ type: 'Normal', reason: 'StateChanged', message: 'b', object });
    log.add({ type: 'Normal', reason: 'StateChanged', message: 'c', object });
    expect(log.list({}).map((e) => e.message)).toEqual(['b', 'c']);
  });
});

describe('history, events, stream and console sessions over HTTP', () => {
  let ctl: RunningController;
  let client: ControllerClient;
  let cleanup: () => void;
  const NODE = 'n1';
  const apply = (entries: OutboxEntry[]) => ctl.status.applyReports(NODE, entries);

  beforeAll(async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    ctl = await startController({ source: 'embedded', dbPath: `${t.dir}/c.db`, httpPort: 0, statusIntervalMs: 0 });
    ctl.store!.apply([
      model('thermo', { temp: { type: 'FLOAT' }, mode: { type: 'STRING' } }),
      device('t1', NODE, 'thermo', ['temp', 'mode']),
    ]);
    client = new ControllerClient(ctl.url, { token: ctl.apiToken });
  });
  afterAll(async () => {
    await ctl.stop();
    cleanup();
  });

  it('streams the state, then points, device changes and events; serves the history and the events', async () => {
    const abort = new AbortController();
    const seen: Array<{ event: string; data: unknown }> = [];
    const following = client.stream((event, data) => seen.push({ event, data }), abort.signal);
    await waitFor(() => seen.some((m) => m.event === 'devices'), 'the state at connect');
    const first = seen.find((m) => m.event === 'devices')!.data as { items: Array<{ metadata: { name: string } }> };
    expect(first.items.map((d) => d.metadata.name)).toEqual(['t1']);

    const t0 = Date.now() - 5000;
    await apply([twinReport('default/t1', 'temp', '20.5', t0), twinReport('default/t1', 'temp', '21', t0 + 1000)]);
    await apply([
      {
        kind: 'state',
        deviceId: 'default/t1',
        state: 'online',
        lastOnlineTime: new Date().toISOString(),
        seq: 1,
        timestamp: 1,
      },
      {
        kind: 'write',
        deviceId: 'default/t1',
        seq: 2,
        timestamp: 2,
        status: {
          property: 'mode',
          desired: 'BLINK',
          state: 'failed',
          reason: 'the pin takes ON or OFF',
          timestamp: 2,
        },
      },
    ]);
    await waitFor(
      () => seen.filter((m) => m.event === 'point').length === 2 && seen.some((m) => m.event === 'device'),
      'two points and a device change on the stream',
    );
    expect(seen.filter((m) => m.event === 'point').map((m) => (m.data as { v: number }).v)).toEqual([20.5, 21]);
    await waitFor(
      () => seen.some((m) => m.event === 'event' && (m.data as { reason: string }).reason === 'WriteFailed'),
      'the write failure as an event',
    );
    abort.abort();
    await following;

    const h = await client.history('default', 't1', { property: 'temp', since: '1h' });
    expect(h.series).toEqual([
      {
        property: 'temp',
        points: [
          [t0, 20.5],
          [t0 + 1000, 21],
        ],
      },
    ]);
    // since cuts off older points
    expect((await client.history('default', 't1', { since: String(t0 + 500) })).series[0]!.points).toEqual([
      [t0 + 1000, 21],
    ]);
    await expect(client.history('default', 't1', { property: 'nope' })).rejects.toThrow(
      /no property "nope" \(has: temp, mode\)/,
    );
    await expect(client.history('default', 't1', { since: 'yesterday-ish' })).rejects.toThrow(/is not a time/);

    const events = await client.events({ kind: 'Device', name: 't1' });
    expect(events.map((e) => e.reason)).toEqual(['StateChanged', 'WriteFailed']);
    expect(events[1]!.message).toBe('mode=BLINK: the pin takes ON or OFF');
    expect(
      await (await fetch(`${ctl.url}/metrics`, { headers: { authorization: `Bearer ${ctl.apiToken}` } })).text(),
    ).toMatch(/edgetwin_controller_history_points 2/);
  });

  it('logs a browser in with the token or a one-time ticket; the session cookie works only with the guard header for changes', async () => {
    const login = (body: unknown) =>
      fetch(`${ctl.url}/console/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await login({ token: 'wrong' })).status).toBe(401);
    const ok = await login({ token: ctl.apiToken });
    expect(ok.status).toBe(200);
    const cookie = ok.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^edgetwin_session=[\w-]+; Path=\/; HttpOnly; SameSite=Strict/);
    const session = cookie.split(';')[0]!;
    expect((await fetch(`${ctl.url}/devices`, { headers: { cookie: session } })).status).toBe(200);
    expect((await fetch(`${ctl.url}/devices`, { headers: { cookie: 'edgetwin_session=forged' } })).status).toBe(401);
    const set = (headers: Record<string, string>) =>
      fetch(`${ctl.url}/devices/default/t1/desired`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: session, ...headers },
        body: JSON.stringify({ values: { mode: 'eco' } }),
      });
    expect((await set({})).status).toBe(403); // a cross-site form cannot add the header
    expect((await set({ 'x-edgetwin-console': '1' })).status).toBe(200);

    const { ticket } = await client.consoleTicket();
    expect((await login({ ticket })).status).toBe(200);
    expect((await login({ ticket })).status).toBe(401); // once only
    // tickets are issued to holders of the token only
    expect((await fetch(`${ctl.url}/console/tickets`, { method: 'POST' })).status).toBe(401);
  });

  it('says the console is not built when it was started without one', async () => {
    const res = await fetch(`${ctl.url}/console/`);
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/not built.*npm run build -w @edgetwin\/console/s);
  });
});

describe('the live side with the Kubernetes source', () => {
  it('streams device changes and points and serves the history, as with the embedded store', async () => {
    const { FakeApiServer } = await import('./fake-apiserver.js');
    const { KubeConfig } = await import('@kubernetes/client-node');
    const { writeFileSync } = await import('node:fs');
    const api = new FakeApiServer();
    await api.start();
    const t = tempDir();
    let ctl: RunningController | undefined;
    try {
      api.put('devicemodels', model('thermo') as never);
      api.put('devices', device('k1', 'n1', 'thermo') as never);
      const kc = new KubeConfig();
      kc.loadFromOptions(api.kubeconfig());
      const kubeconfig = `${t.dir}/kubeconfig`;
      writeFileSync(kubeconfig, kc.exportConfig());
      ctl = await startController({ source: 'kubernetes', kubeconfig, httpPort: 0, statusIntervalMs: 0 });
      const client = new ControllerClient(ctl.url, { token: ctl.apiToken });
      const abort = new AbortController();
      const seen: Array<{ event: string; data: unknown }> = [];
      const following = client.stream((event, data) => seen.push({ event, data }), abort.signal);
      await waitFor(() => seen.some((m) => m.event === 'devices'), 'the state at connect');
      const t0 = Date.now() - 1000;
      await ctl.status.applyReports('n1', [twinReport('default/k1', 'temp', '7.5', t0)]);
      await waitFor(() => seen.some((m) => m.event === 'point'), 'a point on the stream');
      // the device with its status, read from the DeviceStatus the controller wrote
      await waitFor(
        () =>
          seen.some(
            (m) =>
              m.event === 'device' &&
              (m.data as { status?: { twins?: Array<{ reported?: { value: string } }> } }).status?.twins?.[0]?.reported
                ?.value === '7.5',
          ),
        'the device with its reported value on the stream',
      );
      abort.abort();
      await following;
      expect((await client.history('default', 'k1', { property: 'temp' })).series[0]!.points).toEqual([[t0, 7.5]]);
    } finally {
      await ctl?.stop();
      await api.stop();
      t.cleanup();
    }
  });
});
