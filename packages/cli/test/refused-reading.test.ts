// One bad value never loses the others (issue 9 §5): the twin refuses a whole twin/update for one invalid
// value, so the mapper checks each reading against the model first. Four good properties reach the twin next
// to one the model refuses; the refused one is on the twin with its reason, and is reported as soon as the
// device reads a value the model takes.

import type { Device, DeviceModel } from '@edgetwin/api';
import { waitUntil } from '@edgetwin/eventbus/testing';
import { startMapper, virtualDevice } from '@edgetwin/mappers';
import { removeVirtualDevice, virtualDriverFactory } from '@edgetwin/mappers/drivers/virtual/index';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { startTwinRig } from './support/twin-rig.js';

const NODE = 'refusal-node';
const NAMES = ['a', 'b', 'c', 'd', 'e'];
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

it('four good readings reach the twin beside one the model refuses, which is shown with its reason and sent once valid', async () => {
  const { brokerUrl, twin } = await startTwinRig(NODE, cleanups);
  const name = `panel-${process.pid}`;
  const id = `default/${name}`;
  cleanups.push(async () => removeVirtualDevice(id));
  const model = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name: 'panel-model', namespace: 'default' },
    spec: {
      protocol: 'virtualProtocol',
      properties: NAMES.map((n) => ({ name: n, type: 'INT', accessMode: 'ReadWrite', maximum: '100' })),
    },
  } as DeviceModel;
  const device = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name, namespace: 'default' },
    spec: {
      deviceModelRef: { name: 'panel-model' },
      nodeName: NODE,
      protocol: { protocolName: 'virtualProtocol' },
      // e reads 150, above the model's maximum 100
      properties: NAMES.map((n, i) => ({
        name: n,
        visitors: { protocolName: 'virtualProtocol', configData: { initial: n === 'e' ? 150 : i + 1 } },
        collectCycle: 50,
        reportCycle: 50,
        reportToCloud: true,
      })),
    },
  } as Device;
  expect((await twin.loadManifests([model, device])).errors).toEqual([]);
  const mapper = await startMapper({
    factory: virtualDriverFactory,
    brokerUrl: brokerUrl,
    node: NODE,
    logger: pino({ level: 'silent' }),
  });
  cleanups.push(() => mapper.stop());

  const view = () => twin.getTwin(id)!.twins;
  await waitUntil(
    () => view().e?.refused !== undefined && view().d?.actual !== undefined,
    'the good readings and the refusal',
    10_000,
  );
  expect(['a', 'b', 'c', 'd'].map((n) => view()[n]?.actual?.value)).toEqual(['1', '2', '3', '4']);
  expect(view().e?.actual).toBeUndefined();
  expect(view().e?.refused).toMatchObject({ state: 'refused', value: '150', reason: '150 is above the maximum 100' });

  // the device comes back into range: the value is reported and the refusal cleared
  virtualDevice(id).set('e', 99);
  await waitUntil(() => view().e?.actual?.value === '99', 'e reported once the model takes it', 10_000);
  await waitUntil(() => view().e?.refused === undefined, 'the refusal cleared', 10_000);
});
