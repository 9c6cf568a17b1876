import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { controllerOptionsFromEnv, type RunningController, startController } from '../src/controller.js';
import { ControllerClient } from '../src/http/client.js';
import { fixture, refusal, SAMPLE_FILES, tempDir, twinReport } from './support.js';

const MODEL = SAMPLE_FILES.counterModel;
const INSTANCE = SAMPLE_FILES.counterDevice;

const thermoModel = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: thermo
spec:
  protocol: virtual
  properties:
    - name: setpoint
      type: INT
      accessMode: ReadWrite
      minimum: "5"
      maximum: "30"
    - name: temp
      type: FLOAT
      accessMode: ReadOnly
`;
const thermo = (node: string) => `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: t1
spec:
  deviceModelRef:
    name: thermo
  nodeName: ${node}
  protocol:
    protocolName: virtual
  properties:
    - name: setpoint
      desired:
        value: "20"
    - name: temp
`;

async function findings(p: Promise<unknown>): Promise<{ status: number; lines: string[] }> {
  const e = await refusal(p);
  return { status: e.status, lines: e.findings };
}

describe('controller HTTP API (embedded store)', () => {
  let ctl: RunningController;
  let client: ControllerClient;
  let cleanup: () => void;

  beforeEach(async () => {
    const t = tempDir();
    cleanup = t.cleanup;
    ctl = await startController({ source: 'embedded', dbPath: join(t.dir, 'c.db'), httpPort: 0, statusIntervalMs: 0 });
    client = new ControllerClient(ctl.url, { token: ctl.apiToken });
  });
  afterEach(async () => {
    await ctl.stop();
    cleanup();
  });

  it("applies KubeEdge's own sample manifests unchanged and dispatches them", async () => {
    const changes: string[] = [];
    ctl.desired.onChange((node, c) => changes.push(`${node} ${c.kind} ${c.id}`));
    const { results } = await client.apply([fixture(INSTANCE), fixture(MODEL)]);
    expect(results.map((r) => `${r.kind}/${r.name} ${r.action}`)).toEqual([
      'DeviceModel/counter-model created',
      'Device/counter-instance created',
    ]);
    expect(changes).toEqual(['kind-worker model default/counter-model', 'kind-worker device default/counter-instance']);
    const again = await client.apply([fixture(MODEL), fixture(INSTANCE)]);
    expect(again.results.every((r) => r.action === 'unchanged')).toBe(true);
    expect((await client.devices()).map((d) => d.metadata.name)).toEqual(['counter-instance']);
    expect((await client.models()).map((m) => m.metadata.name)).toEqual(['counter-model']);
  });

  it('refuses a device whose model does not exist, naming file, line, object and field; stores nothing', async () => {
    const r = await findings(client.apply([fixture(INSTANCE)]));
    expect(r.status).toBe(400);
    expect(
      r.lines.some((l) =>
        /counter-device\.yaml:\d+:\d+: Device\/default\/counter-instance: spec\.deviceModelRef\.name: .*counter-model/.test(
          l,
        ),
      ),
    ).toBe(true);
    expect(await client.devices()).toEqual([]);
  });

  it('refuses an apply naming a stale resourceVersion (409), pointing at the object in the file', async () => {
    await client.apply([{ file: 'm.yaml', text: thermoModel }]);
    const stale = `${thermoModel.replace('name: thermo', 'name: thermo\n  resourceVersion: "999"')}`;
    const r = await findings(client.apply([{ file: 'edited.yaml', text: stale }]));
    expect(r.status).toBe(409);
    expect(r.lines[0]).toMatch(/^edited\.yaml:1:1: DeviceModel\/default\/thermo: metadata\.resourceVersion: .*stale/);
  });

  it('reports a YAML syntax error at its line and column', async () => {
    const r = await findings(
      client.apply([
        { file: 'bad.yaml', text: 'apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata:\n  name: [oops\n' },
      ]),
    );
    expect(r.status).toBe(400);
    expect(r.lines[0]).toMatch(/^bad\.yaml:\d+:\d+: /);
  });

  it('answers a missing body with a finding, not a stack trace', async () => {
    const res = await fetch(`${ctl.url}/apply`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ctl.apiToken}` },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect((await res.json()).findings[0]).toMatch(/sources: expected a non-empty list/);
  });

  it('sets a desired value, checked against the model, as a spec change that flows down', async () => {
    await client.apply([
      { file: 'm.yaml', text: thermoModel },
      { file: 'd.yaml', text: thermo('n1') },
    ]);
    const changes: string[] = [];
    ctl.desired.onChange((node, c) => {
      if (c.kind === 'device' && c.object) changes.push(`${node} ${c.object.spec.properties?.[0]?.desired?.value}`);
    });
    const { device } = await client.setDesired('default', 't1', 'setpoint', '25');
    expect(device.spec.properties?.[0]?.desired?.value).toBe('25');
    expect(changes).toEqual(['n1 25']);

    const bad = async (prop: string, value: string, re: RegExp) => {
      const r = await findings(client.setDesired('default', 't1', prop, value));
      expect(r.status).toBe(400);
      expect(r.lines[0]).toMatch(re);
    };
    await bad('setpoint', 'warm', /Device\/default\/t1: spec\.properties\[0\]\.desired\.value: .*not an integer/);
    await bad('setpoint', '99', /above the maximum 30/);
    await bad('temp', '1', /ReadOnly/);
    await bad('nope', '1', /no property "nope" \(has: setpoint, temp\)/);
    const missing = await findings(client.setDesired('default', 'ghost', 'setpoint', '1'));
    expect(missing.status).toBe(404);
    expect(changes).toEqual(['n1 25']);
  });

  it('sets several desired values in one write, or none of them when one is bad, naming every bad one', async () => {
    await client.apply([
      { file: 'm.yaml', text: thermoModel.replace('accessMode: ReadOnly', 'accessMode: ReadWrite') },
      { file: 'd.yaml', text: thermo('n1') },
    ]);
    const sent: string[] = [];
    ctl.desired.onChange((_node, c) => {
      if (c.kind === 'device' && c.object)
        sent.push(c.object.spec.properties?.map((p) => `${p.name}=${p.desired?.value}`).join(' ') ?? '');
    });
    const before = ctl.store!.device('default', 't1')!.metadata.resourceVersion;
    const refused = await findings(client.setDesiredValues('default', 't1', { setpoint: '25', temp: 'hot', x: '1' }));
    expect(refused.status).toBe(400);
    expect(refused.lines).toEqual([
      'Device/default/t1: spec.properties[1].desired.value: "hot" is not a number (model type FLOAT)',
      'Device/default/t1: spec.properties: no property "x" (has: setpoint, temp)',
    ]);
    expect(ctl.store!.device('default', 't1')!.metadata.resourceVersion).toBe(before);
    expect(ctl.store!.device('default', 't1')!.spec.properties?.[0]?.desired?.value).toBe('20');
    expect(sent).toEqual([]);

    const { results, device } = await client.setDesiredValues('default', 't1', { setpoint: '25', temp: '21.5' });
    expect(results.map((r) => [r.property, r.resourceVersion])).toEqual([
      ['setpoint', device.metadata.resourceVersion],
      ['temp', device.metadata.resourceVersion],
    ]);
    expect(Number(device.metadata.resourceVersion)).toBe(Number(before) + 1);
    expect(sent).toEqual(['setpoint=25 temp=21.5']); // one spec change down to the node, not two
  });

  it('re-asserts a desired value equal to the current one: a new stamp, a new version, sent down again', async () => {
    await client.apply([
      { file: 'm.yaml', text: thermoModel },
      { file: 'd.yaml', text: thermo('n1') },
    ]);
    const sent: Array<string | undefined> = [];
    ctl.desired.onChange((_node, c) => {
      if (c.kind === 'device' && c.object) sent.push(c.object.spec.properties?.[0]?.desired?.metadata?.timestamp);
    });
    const first = await client.setDesired('default', 't1', 'setpoint', '20');
    expect(first.result).toMatchObject({ action: 'configured', previous: '20', reasserted: true });
    const second = await client.setDesired('default', 't1', 'setpoint', '20');
    expect(second.result).toMatchObject({ previous: '20', reasserted: true });
    expect(Number(second.result.resourceVersion)).toBeGreaterThan(Number(first.result.resourceVersion));
    const stamps = [first, second].map((r) => r.device.spec.properties?.[0]?.desired?.metadata?.timestamp);
    expect(Number(stamps[1])).toBeGreaterThan(Number(stamps[0]));
    expect(sent).toEqual(stamps); // each write flows down to the node as a spec change

    const changed = await client.setDesired('default', 't1', 'setpoint', '21');
    expect(changed.result).toMatchObject({ previous: '20', reasserted: false });
    // re-applying the manifest does not re-assert anything (and does not undo the value set above)
    const again = await client.apply([{ file: 'd.yaml', text: thermo('n1').replace('"20"', '"21"') }]);
    expect(again.results[0]?.action).toBe('unchanged');
    expect(sent).toHaveLength(3);
  });

  it('shows a device with desired and reported values once the edge reported', async () => {
    await client.apply([
      { file: 'm.yaml', text: thermoModel },
      { file: 'd.yaml', text: thermo('n1') },
    ]);
    await ctl.status.applyReports('n1', [twinReport('default/t1', 'temp', '21.5')]);
    const { device, model } = await client.device('default', 't1');
    expect(model?.metadata.name).toBe('thermo');
    expect(device.status?.twins?.[0]).toMatchObject({ propertyName: 'temp', reported: { value: '21.5' } });
  });

  it('lists nodes with their devices and presence', async () => {
    await client.apply([
      { file: 'm.yaml', text: thermoModel },
      { file: 'd.yaml', text: thermo('n1') },
    ]);
    ctl.status.setNodePresence('n1', 'online', new Date('2026-11-23T12:00:00Z'));
    ctl.status.setNodePresence('n9', 'offline', new Date('2026-11-23T12:00:00Z'));
    expect(await client.nodes()).toEqual([
      { name: 'n1', devices: 1, presence: 'online', since: '2026-11-23T12:00:00.000Z' },
      { name: 'n9', devices: 0, presence: 'offline', since: '2026-11-23T12:00:00.000Z' },
    ]);
  });

  it('deletes from files, refusing to orphan devices and naming what is missing', async () => {
    await client.apply([fixture(MODEL), fixture(INSTANCE)]);
    const inUse = await findings(client.delete([fixture(MODEL)]));
    expect(inUse.status).toBe(409);
    expect(inUse.lines[0]).toMatch(/DeviceModel\/default\/counter-model: -: still used by counter-instance/);
    const { results } = await client.delete([fixture(MODEL), fixture(INSTANCE)]);
    expect(results.map((r) => r.kind)).toEqual(['Device', 'DeviceModel']);
    const gone = await findings(client.delete([fixture(INSTANCE)]));
    expect(gone.status).toBe(404);
    expect(gone.lines[0]).toMatch(/counter-device\.yaml:3:1: Device\/default\/counter-instance: -: not found/);
  });

  it('serves health and Prometheus metrics', async () => {
    expect(await (await fetch(`${ctl.url}/healthz`)).json()).toEqual({ ok: true, source: 'embedded' });
    await client.apply([
      { file: 'm.yaml', text: thermoModel },
      { file: 'd.yaml', text: thermo('n1') },
    ]);
    await ctl.status.applyReports('n1', [twinReport('default/t1', 'temp', '1')]);
    const text = await (
      await fetch(`${ctl.url}/metrics`, { headers: { authorization: `Bearer ${ctl.apiToken}` } })
    ).text();
    expect(text).toMatch(/edgetwin_controller_status_writes_total 1/);
    expect(text).toMatch(/edgetwin_controller_dispatched_changes_total\{kind="device",op="upsert"\} 1/);
  });
});

describe('controller settings from the environment', () => {
  it('reads interval, burst, cap and manifest folder, and names a bad value', () => {
    expect(
      controllerOptionsFromEnv({
        EDGETWIN_STATUS_INTERVAL_MS: '250',
        EDGETWIN_STATUS_BURST: '2',
        EDGETWIN_STATUS_MAX_WRITES_PER_SECOND: '500',
        EDGETWIN_MANIFESTS_DIR: '/srv/devices',
      }),
    ).toEqual({ statusIntervalMs: 250, statusBurst: 2, maxWritesPerSecond: 500, manifestsDir: '/srv/devices' });
    expect(controllerOptionsFromEnv({})).toEqual({});
    expect(() => controllerOptionsFromEnv({ EDGETWIN_STATUS_MAX_WRITES_PER_SECOND: 'lots' })).toThrow(
      /EDGETWIN_STATUS_MAX_WRITES_PER_SECOND=lots: expected a number >= 1/,
    );
  });
});
