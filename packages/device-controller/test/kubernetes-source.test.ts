import type { Device, DeviceModel } from '@edgetwin/api';
import { KubeConfig } from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import YAML from 'yaml';
import { startController } from '../src/controller.js';
import { ControllerClient } from '../src/http/client.js';
import { Dispatcher } from '../src/dispatch/dispatcher.js';
import type { SourceEvent } from '../src/source.js';
import { KubernetesSource } from '../src/sources/kubernetes/source.js';
import { StatusCoalescer } from '../src/status/coalescer.js';
import { FakeApiServer } from './fake-apiserver.js';
import { device, model, tempDir, twinReport, waitFor, waitForAsync } from './support.js';

type Obj = Parameters<FakeApiServer['put']>[1];
const asObj = (o: Device | DeviceModel) => o as unknown as Obj;

describe('KubernetesSource against a fake API server', () => {
  let api: FakeApiServer;
  let source: KubernetesSource;
  let events: string[];

  type Opts = Partial<ConstructorParameters<typeof KubernetesSource>[0]>;
  const newSource = (opts: Opts = {}) => {
    const kc = new KubeConfig();
    kc.loadFromOptions(api.kubeconfig());
    return new KubernetesSource({ kubeConfig: kc, retryMs: 20, ...opts });
  };
  const started = async (opts?: Opts) => {
    source = newSource(opts);
    events = [];
    source.onEvent((e: SourceEvent) => events.push(`${e.type} ${e.object.kind}/${e.object.metadata.name}`));
    await source.start();
  };
  const watches = (plural: string) =>
    api.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/${plural}`) && r.query.watch === 'true');
  const lists = (plural: string) =>
    api.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/${plural}`) && r.query.watch === undefined);

  beforeEach(async () => {
    api = new FakeApiServer();
    await api.start();
    api.put('devicemodels', asObj(model('thermo')));
    api.put('devices', asObj(device('a', 'n1', 'thermo')));
  });
  afterEach(async () => {
    await source?.stop();
    await api.stop();
  });

  it('lists, then watches from the list resourceVersion with bookmarks requested', async () => {
    await started();
    expect(source.devices().map((d) => d.metadata.name)).toEqual(['a']);
    expect(source.model('default', 'thermo')?.kind).toBe('DeviceModel');
    const w = await waitFor(() => watches('devices')[0], 'a watch on devices');
    expect(w.query.resourceVersion).toBe('102');
    expect(w.query.allowWatchBookmarks).toBe('true');
    api.put('devices', asObj(device('b', 'n2', 'thermo')));
    api.put('devices', asObj(device('a', 'n3', 'thermo')));
    api.remove('devices', 'default', 'b');
    await waitFor(() => events.includes('DELETED Device/b'), 'the delete of b');
    expect(events).toEqual([
      'ADDED DeviceModel/thermo',
      'ADDED Device/a',
      'ADDED Device/b',
      'MODIFIED Device/a',
      'DELETED Device/b',
    ]);
    expect(source.device('default', 'a')?.spec.nodeName).toBe('n3');
  });

  it('resumes from the last bookmark after a watch ends, without re-listing', async () => {
    await started();
    await waitFor(() => api.openWatches() === 3, 'all three watches open');
    // changes to other kinds move the global resourceVersion; a bookmark tells the devices watch
    api.put('devicemodels', asObj(model('other')));
    const rv = api.bookmark();
    await waitFor(() => source.devices().length === 1 && events.includes('ADDED DeviceModel/other'), 'model event');
    const before = watches('devices').length;
    await new Promise((r) => setImmediate(r));
    api.closeWatches();
    const again = await waitFor(() => watches('devices')[before], 'a new devices watch');
    expect(again.query.resourceVersion).toBe(String(rv));
    expect(lists('devices')).toHaveLength(1);
  });

  it('re-lists after 410 Gone and reports what changed while it was away', async () => {
    await started();
    await waitFor(() => api.openWatches() === 3, 'all three watches open');
    // the client loses its watches and cannot get them back for a while
    api.failWatches = 1_000;
    const failedBefore = watches('devices').length;
    api.closeWatches();
    await waitFor(() => watches('devices').length > failedBefore, 'a failed re-watch');
    // meanwhile objects change and the server compacts its history past the client's resourceVersion
    api.put('devices', asObj(device('late', 'n1', 'thermo')));
    api.remove('devices', 'default', 'a');
    api.compact();
    expect(events).not.toContain('DELETED Device/a');
    api.failWatches = 0;
    await waitFor(() => events.includes('DELETED Device/a') && events.includes('ADDED Device/late'), 'relist events');
    expect(lists('devices')).toHaveLength(2);
    expect(source.devices().map((d) => d.metadata.name)).toEqual(['late']);
  });

  it('re-lists when an open watch is expired with a 410 ERROR event', async () => {
    await started();
    await waitFor(() => api.openWatches() === 3, 'all three watches open');
    api.expireWatches();
    await waitFor(() => lists('devices').length === 2 && api.openWatches() === 3, 'relist and new watches');
    api.put('devices', asObj(device('b', 'n1', 'thermo')));
    await waitFor(() => events.includes('ADDED Device/b'), 'events after the relist');
    // the relist found nothing new: no duplicate ADDED for objects it already had
    expect(events.filter((e) => e === 'ADDED Device/a')).toHaveLength(1);
  });

  it('retries a failing watch with backoff and recovers', async () => {
    api.failWatches = 2;
    await started();
    await waitFor(() => api.openWatches() === 3, 'watches open after failures');
    api.put('devices', asObj(device('b', 'n1', 'thermo')));
    await waitFor(() => events.includes('ADDED Device/b'), 'event after recovery');
  });

  it('fails to start with a message naming the cluster when the API server stays unreachable', async () => {
    const url = api.url;
    await api.stop();
    source = newSource({ startTimeoutMs: 300 });
    await expect(source.start()).rejects.toThrow(
      new RegExp(`listing devicemodels from ${url.replace(/[.:/]/g, '\\$&')}.*\\(\\d+ attempts\\)`),
    );
  });

  it('retries a first list refused with 429, waiting the Retry-After the server asked for (issue 14)', async () => {
    // what a real API server answers for a few seconds after it starts: 429 storage is (re)initializing
    api.failLists = { count: 2, code: 429, retryAfter: 1 };
    await started({ retryMs: 10 });
    expect(source.devices().map((d) => d.metadata.name)).toEqual(['a']);
    const tries = lists('devicemodels');
    expect(tries).toHaveLength(3);
    // the server's 1 s, not the 10 ms backoff
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(950);
    expect(tries[2]!.at - tries[1]!.at).toBeGreaterThanOrEqual(950);
  });

  it('fails to start at once when the first list is forbidden (RBAC is not retried)', async () => {
    api.failLists = { count: 1, code: 403 };
    source = newSource();
    await expect(source.start()).rejects.toThrow(/listing devicemodels from .*HTTP 403/);
    expect(lists('devicemodels')).toHaveLength(1);
  });

  it('starts its retry backoff over once a watch is open again, not only when an object changes (issue 14)', async () => {
    // seven failed watches of devices in a row grow its backoff to 20 ms * 2^7 = 2,560 ms
    api.failWatchesOf = 'devices';
    api.failWatches = 7;
    await started();
    await waitFor(() => api.openWatches() === 3, 'watches open after failures', 10_000);
    // no object changed; the next failure must be retried after the first delay (20 ms) again, far from the
    // grown 2,560 ms (the bound leaves room for a loaded machine's event loop)
    api.failWatches = 1;
    const before = watches('devices').length;
    api.closeWatches();
    const failed = await waitFor(() => watches('devices')[before], 'the failing re-watch');
    const next = await waitFor(() => watches('devices')[before + 1], 'the retry after it');
    expect(next.at - failed.at).toBeLessThan(1000);
  });

  it('drops a watch that stays silent (a dead connection) and opens it again from where it was (issue 14)', async () => {
    await started({ watchIdleTimeoutMs: 300 });
    const first = await waitFor(() => watches('devices')[0], 'the first devices watch');
    // nothing arrives on it, not even a bookmark: after 300 ms it is given up and opened again
    const again = await waitFor(() => watches('devices')[1], 'a new devices watch', 5000);
    expect(again.at - first.at).toBeGreaterThanOrEqual(250);
    expect(again.query.resourceVersion).toBe(first.query.resourceVersion);
    expect(lists('devices')).toHaveLength(1);
    api.put('devices', asObj(device('b', 'n1', 'thermo')));
    await waitFor(() => events.includes('ADDED Device/b'), 'events on the new watch');
  });

  it('writes status: creates DeviceStatus owned by its Device, merge-patches /status, and Device.status for <= 1.22', async () => {
    await started();
    const sink = new StatusCoalescer(source, { statusIntervalMs: 0 });
    const dispatcher = new Dispatcher(source);
    const sent: string[] = [];
    dispatcher.start();
    dispatcher.onChange((node, c) => sent.push(`${node} ${c.kind} ${c.id}`));
    await sink.applyReports('n1', [twinReport('default/a', 'temp', '21.5', 1000)]);
    const ds = api.get('devicestatuses', 'default', 'a')!;
    const owner = (ds.metadata.ownerReferences as Array<Record<string, unknown>>)[0];
    expect(owner).toMatchObject({
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'Device',
      name: 'a',
      uid: api.get('devices', 'default', 'a')!.metadata.uid,
      controller: true,
    });
    expect((ds.status as { twins: unknown[] }).twins).toEqual([
      { propertyName: 'temp', reported: { value: '21.5', metadata: { timestamp: '1000', type: 'float' } } },
    ]);
    const patches = api.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((p) => p.path)).toEqual([
      '/apis/devices.kubeedge.io/v1beta1/namespaces/default/devicestatuses/a/status',
      '/apis/devices.kubeedge.io/v1beta1/namespaces/default/devices/a/status',
    ]);
    expect(patches.every((p) => p.contentType === 'application/merge-patch+json')).toBe(true);
    expect((api.get('devices', 'default', 'a')!.status as { twins: unknown[] }).twins).toHaveLength(1);
    // the Device.status patch comes back as a MODIFIED event; it is status only and not sent down
    await waitFor(() => source.device('default', 'a')?.status?.twins?.length === 1, 'status in the cache');
    expect(sent).toEqual([]);
    // a second report merges with the first rather than replacing it
    await sink.applyReports('n1', [
      {
        ...twinReport('default/a', 'temp', '22', 2000),
        kind: 'state',
        state: 'online',
        lastOnlineTime: '2026-11-23T13:00:00Z',
      } as never,
    ]);
    expect(api.get('devicestatuses', 'default', 'a')!.status).toMatchObject({
      state: 'online',
      twins: [{ propertyName: 'temp' }],
    });
    expect(api.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    sink.stop();
    dispatcher.stop();
  });

  it("falls back to patching the object itself on KubeEdge's CRDs, which have no status subresource", async () => {
    api.statusSubresource.clear();
    await started({ legacyDeviceStatus: true });
    const sink = new StatusCoalescer(source, { statusIntervalMs: 0 });
    await sink.applyReports('n1', [twinReport('default/a', 'temp', '5', 10)]);
    await sink.applyReports('n1', [twinReport('default/a', 'temp', '6', 20)]);
    expect(
      (api.get('devicestatuses', 'default', 'a')!.status as { twins: Array<{ reported: { value: string } }> }).twins[0]
        ?.reported.value,
    ).toBe('6');
    expect(
      (api.get('devices', 'default', 'a')!.status as { twins: Array<{ reported: { value: string } }> }).twins[0]
        ?.reported.value,
    ).toBe('6');
    // /status was tried once per resource, then the object path used directly
    expect(api.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/status'))).toHaveLength(2);
    sink.stop();
  });

  it('says once that a CRD has no status subresource, however many writes meet the 404 at once (issue 14)', async () => {
    api.statusSubresource.clear();
    for (const n of ['b', 'c', 'd', 'e']) api.put('devices', asObj(device(n, 'n1', 'thermo')));
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    await started({ logger });
    await waitFor(() => source.devices().length === 5, 'five devices');
    const sink = new StatusCoalescer(source, { statusIntervalMs: 0 });
    await sink.applyReports(
      'n1',
      ['a', 'b', 'c', 'd', 'e'].map((n, i) => twinReport(`default/${n}`, 'temp', String(i), 10 + i)),
    );
    const said = lines.filter((l) => l.includes('no status subresource'));
    expect(said.map((l) => (JSON.parse(l) as { plural: string }).plural).sort()).toEqual(['devices', 'devicestatuses']);
    sink.stop();
  });

  it('reads existing status from DeviceStatus, or from Device.status on a cluster migrated from <= 1.22', async () => {
    const legacy = device('old', 'n1', 'thermo');
    legacy.status = {
      twins: [{ propertyName: 'temp', reported: { value: '9', metadata: { timestamp: '5', type: 'float' } } }],
    };
    api.statusSubresource.clear();
    api.put('devices', asObj(legacy));
    await started();
    expect((await source.readStatus(source.device('default', 'old')!))?.twins?.[0]?.reported?.value).toBe('9');
    expect(await source.readStatus(source.device('default', 'a')!)).toBeUndefined();
  });

  it('runs the whole controller from a kubeconfig file; the HTTP API reads but leaves writes to kubectl', async () => {
    const t = tempDir();
    const file = join(t.dir, 'kubeconfig.yaml');
    writeFileSync(file, YAML.stringify({ apiVersion: 'v1', kind: 'Config', ...api.kubeconfig().toFile }));
    const ctl = await startController({ source: 'kubernetes', kubeconfig: file, httpPort: 0, statusIntervalMs: 0 });
    try {
      expect(ctl.desired.snapshot('n1').devices.map((d) => d.metadata.name)).toEqual(['a']);
      await ctl.status.applyReports('n1', [twinReport('default/a', 'temp', '3', 5)]);
      const client = new ControllerClient(ctl.url, { token: ctl.apiToken });
      expect((await client.device('default', 'a')).device.status?.twins?.[0]?.reported?.value).toBe('3');
      await expect(client.apply([{ file: 'x.yaml', text: 'kind: Device' }])).rejects.toThrow(
        /change objects with kubectl/,
      );
    } finally {
      await ctl.stop();
      t.cleanup();
    }
  });

  it('sets a desired value with a JSON patch that refuses to write over a concurrent change', async () => {
    await started();
    const d = source.device('default', 'a')!;
    const stored = await source.setDesired(d, [{ index: 0, value: '21' }]);
    expect(stored.spec.properties?.[0]?.desired?.value).toBe('21');
    const patch = api.requests.find((r) => r.method === 'PATCH')!;
    expect(patch.contentType).toBe('application/json-patch+json');
    expect(api.get('devices', 'default', 'a')!.spec).toMatchObject({
      properties: [{ name: 'temp', desired: { value: '21' } }],
    });
    // `d` is now stale: writing from it again must not succeed
    await expect(source.setDesired(d, [{ index: 0, value: '22' }])).rejects.toThrow(/stale/);
    expect((api.get('devices', 'default', 'a')!.spec as Device['spec']).properties?.[0]?.desired?.value).toBe('21');
  });

  it('reads status from its DeviceStatus cache, and re-creates a DeviceStatus deleted under it', async () => {
    await started();
    const sink = new StatusCoalescer(source, { statusIntervalMs: 0 });
    await sink.applyReports('n1', [twinReport('default/a', 'temp', '1', 10)]);
    await waitFor(() => api.openWatches() === 3, 'three watches');
    const gets = api.requests.filter(
      (r) => r.method === 'GET' && !r.query.watch && r.path.includes('/devicestatuses/'),
    ).length;
    const cached = await waitForAsync(
      async () => (await source.readStatus(source.device('default', 'a')!))?.twins?.length,
      'cached status',
    );
    expect(cached).toBe(1);
    expect(
      api.requests.filter((r) => r.method === 'GET' && !r.query.watch && r.path.includes('/devicestatuses/')),
    ).toHaveLength(gets);
    api.remove('devicestatuses', 'default', 'a');
    await sink.applyReports('n1', [twinReport('default/a', 'temp', '2', 20)]);
    expect(
      (api.get('devicestatuses', 'default', 'a')?.status as { twins: Array<{ reported: { value: string } }> })?.twins[0]
        ?.reported.value,
    ).toBe('2');
    sink.stop();
  });

  it('on a cluster without the DeviceStatus CRD (KubeEdge <= 1.22) writes Device.status only', async () => {
    api.missingCrds.add('devicestatuses');
    await started({ legacyDeviceStatus: false });
    const sink = new StatusCoalescer(source, { statusIntervalMs: 0 });
    await sink.applyReports('n1', [twinReport('default/a', 'temp', '7', 10)]);
    expect(
      (api.get('devices', 'default', 'a')!.status as { twins: Array<{ reported: { value: string } }> }).twins[0]
        ?.reported.value,
    ).toBe('7');
    expect(api.requests.filter((r) => r.method !== 'GET' && r.path.includes('devicestatuses'))).toEqual([]);
    sink.stop();
  });
});
