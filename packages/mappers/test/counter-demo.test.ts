// The counter sample (KubeEdge's counter demo in our own manifests), served by the virtual protocol through the whole
// mapper: count goes up while status is ON, holds on PAUSED, resets on OFF.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Device, type DeviceModel, resolveDevice, type WriteStatus, writeStatusTopic } from '@edgetwin/api';
import { collectMessages } from '@edgetwin/eventbus/testing';
import { afterEach, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SAMPLE_FILES, SAMPLES } from '../../api/test/support/samples.js';
import { removeVirtualDevice, virtualDevice, virtualDriverFactory } from '../src/drivers/virtual/index.js';
import { type Rig, startRig, type TwinUpdate } from './runtime-helpers.js';
import { collectReports } from '../src/conformance/report-collector.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  removeVirtualDevice('default/counter-instance');
});

it('runs the counter sample: ON counts, PAUSED holds, OFF resets', async () => {
  const device = parse(await readFile(join(SAMPLES, SAMPLE_FILES.counterDevice), 'utf8')) as Device;
  const model = parse(await readFile(join(SAMPLES, SAMPLE_FILES.counterModel), 'utf8')) as DeviceModel;
  const resolved = { ...resolveDevice(device, model), nodeName: 'node-a' };
  expect(resolved.protocol).toBe('virtualProtocol');
  rig = await startRig(virtualDriverFactory);
  const counts = await collectReports(rig.app, resolved.id);
  const countValues = () =>
    counts.messages.map((m) => (m.json() as TwinUpdate).twin.count?.actual.value).filter((v) => v !== undefined);
  await rig.publish(resolved);
  // status starts ON: the count climbs once a second, reported on change
  await counts.waitFor(() => countValues().includes('1'), 5000);
  expect(countValues().slice(0, 2)).toEqual(['0', '1']);

  // one collector for the whole test: a second subscription to the same filter right after the first
  // is dropped races with its UNSUBSCRIBE in the broker
  const ws = await collectMessages(rig.app, writeStatusTopic(resolved.id));
  const verified = (desired: string) =>
    ws.waitFor((m) => (m.json() as WriteStatus).state === 'verified' && (m.json() as WriteStatus).desired === desired);
  await rig.delta(resolved.id, { status: 'PAUSED' });
  await verified('PAUSED');
  const held = virtualDevice(resolved.id).read('count', Date.now() + 5000);
  expect(virtualDevice(resolved.id).read('count')).toBe(held);

  await rig.delta(resolved.id, { status: 'OFF' });
  await verified('OFF');
  expect(virtualDevice(resolved.id).read('count')).toBe(0);
  await counts.waitFor(() => countValues().at(-1) === '0', 3000);
});
