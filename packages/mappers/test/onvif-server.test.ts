// What ipycam lacks, against edgetwin's own ONVIF server (issue 13; packages/simulators/src/onvif/server.ts):
// motion and tamper from a PullPoint subscription reported on change, imaging settings written and refused,
// SystemReboot through a desired value (the camera goes away and the mapper brings it back), and a snapshot
// behind HTTP Digest. Everything runs in the whole mapper with a real broker, driven by the MQTT contract.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWriteStatus, mediaTopic, writeStatusTopic } from '@edgetwin/api';
import { collectMessages } from '@edgetwin/eventbus/testing';
import { type OnvifServer, startOnvifServer } from '@edgetwin/simulators/onvif/server';
import { TEST_PATTERN_JPEG } from '@edgetwin/simulators/onvif/test-pattern';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { onvifDriverFactory } from '../src/drivers/onvif/index.js';
import { device, prop, type Rig, startRig, type TwinUpdate } from './runtime-helpers.js';
import { collectReports, collectStates } from '../src/conformance/report-collector.js';

let dir: string;
let passwordFile: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgetwin-onvif-sim-'));
  passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, 'sim-secret\n', { mode: 0o600 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let sim: OnvifServer;
let rig: Rig;
beforeEach(async () => {
  sim = await startOnvifServer({ password: 'sim-secret', rebootMs: 200 });
  rig = await startRig(onvifDriverFactory);
});
afterEach(async () => {
  await rig.close();
  await sim.stop();
});

const camera = (props: Parameters<typeof device>[1]) =>
  device('onvif', props, {
    protocolConfig: { url: sim.address, userName: 'admin', password: passwordFile, timeout: 2000, eventPullSeconds: 1 },
    stateReport: { reportToCloud: true, reportCycleMs: 200 },
  });
const ws = (m: { payload: Buffer }) => {
  const r = decodeWriteStatus(m.payload.toString());
  return r.ok ? r.value : undefined;
};
const twinValue = (name: string, value: string) => (m: { json(): unknown }) =>
  (m.json() as TwinUpdate).twin[name]?.actual.value === value;

describe('ONVIF events, imaging and reboot (our ONVIF server)', () => {
  it('reports motion and tamper on change from a PullPoint subscription', async () => {
    const d = camera([
      prop('motion', { type: 'BOOLEAN', accessMode: 'ReadOnly', visitor: {}, collectCycleMs: 60_000 }),
      prop('tamper', { type: 'BOOLEAN', accessMode: 'ReadOnly', visitor: {}, collectCycleMs: 60_000 }),
    ]);
    const twin = await collectReports(rig.app, d.id);
    const subscribed = once(sim.events, 'subscribed');
    await rig.publish(d);
    await subscribed;
    sim.setMotion(true);
    await twin.waitFor(twinValue('motion', 'true'));
    sim.setTamper(true);
    await twin.waitFor(twinValue('tamper', 'true'));
    sim.setMotion(false);
    const msgs = await twin.waitFor((m) => twin.messages.indexOf(m) > 0 && twinValue('motion', 'false')(m));
    expect(msgs.some(twinValue('motion', 'true'))).toBe(true);
  });

  it('writes imaging settings, reads them back, and shows the camera refusing a value', async () => {
    const d = camera([
      prop('brightness', { type: 'DOUBLE', visitor: {} }),
      prop('contrast', { type: 'DOUBLE', visitor: {} }),
    ]);
    const twin = await collectReports(rig.app, d.id);
    const writes = await collectMessages(rig.app, writeStatusTopic(d.id));
    await rig.publish(d);
    await twin.waitFor(twinValue('brightness', '50'));
    await rig.delta(d.id, { brightness: '70' });
    await writes.waitFor((m) => ws(m)?.state === 'verified');
    expect(sim.imaging().Brightness).toBe(70);
    await rig.delta(d.id, { contrast: '150' });
    const done = await writes.waitFor((m) => ws(m)?.state === 'failed');
    const failed = done.map(ws).find((s) => s?.state === 'failed');
    expect(failed?.reason).toMatch(/Contrast 150 is outside 0\.\.100/);
    expect(sim.imaging().Contrast).toBe(50);
  });

  it('reboots the camera on a desired reboot=true, goes offline and comes back online', async () => {
    const d = camera([
      prop('reboot', { type: 'BOOLEAN', visitor: {} }),
      prop('manufacturer', { type: 'STRING', accessMode: 'ReadOnly', visitor: {}, collectCycleMs: 100 }),
    ]);
    const state = await collectStates(rig.app, d.id);
    const writes = await collectMessages(rig.app, writeStatusTopic(d.id));
    await rig.publish(d);
    await state.waitFor((m) => (m.json() as { state: string }).state === 'online');
    const rebooted = once(sim.events, 'rebooted');
    await rig.delta(d.id, { reboot: 'true' });
    await writes.waitFor((m) => ws(m)?.state === 'verified');
    expect(sim.reboots()).toBe(1);
    await state.waitFor((m) => (m.json() as { state: string }).state === 'offline');
    const at = state.messages.length;
    await rebooted;
    await state.waitFor((m) => state.messages.indexOf(m) >= at && (m.json() as { state: string }).state === 'online');
    expect(sim.reboots(), 'the verified reboot is not repeated after reconnecting').toBe(1);
  });

  it('takes a snapshot on demand: the mapper REST API’s live read publishes a JPEG and answers its metadata', async () => {
    const restRig = await startRig(onvifDriverFactory, { rest: { port: 0 } });
    try {
      const d = camera([
        prop('snapshot', { type: 'STRING', accessMode: 'ReadOnly', visitor: {}, collectCycleMs: 3_600_000 }),
      ]);
      const state = await collectStates(restRig.app, d.id);
      await restRig.publish(d);
      await state.waitFor((m) => (m.json() as { state: string }).state === 'online');
      const media = await collectMessages(restRig.app, mediaTopic(d.id, 'snapshot'));
      const before = media.messages.length;
      const res = await fetch(`${restRig.mapper.restUrl}/api/v1/device/default/${d.name}/snapshot`);
      expect(res.status).toBe(200);
      const body = JSON.stringify(await res.json());
      expect(body).toContain('"width\\":64');
      const msgs = await media.waitFor(before + 1);
      expect(Buffer.compare(msgs.at(-1)!.payload, TEST_PATTERN_JPEG)).toBe(0);
    } finally {
      await restRig.close();
    }
  });

  it('answers the snapshot URL’s Digest challenge and publishes the JPEG', async () => {
    const d = camera([
      prop('snapshot', { type: 'STRING', accessMode: 'ReadOnly', visitor: {}, collectCycleMs: 60_000 }),
    ]);
    const media = await collectMessages(rig.app, mediaTopic(d.id, 'snapshot'));
    const twin = await collectReports(rig.app, d.id);
    await rig.publish(d);
    const [jpeg] = await media.waitFor(1);
    expect(Buffer.compare(jpeg!.payload, TEST_PATTERN_JPEG)).toBe(0);
    const [m] = await twin.waitFor(1);
    expect(JSON.parse((m!.json() as TwinUpdate).twin.snapshot!.actual.value)).toMatchObject({
      bytes: TEST_PATTERN_JPEG.length,
      width: 64,
      height: 48,
    });
  });
});
