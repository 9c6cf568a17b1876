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

/** A virtual device `name` of its own model, read every 50 ms: each property with its type and first reading. */
function virtualPanel(
  name: string,
  props: Array<{ name: string; type: 'INT' | 'STRING'; initial: string | number; maximum?: string }>,
): [DeviceModel, Device] {
  const model = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name: `${name}-model`, namespace: 'default' },
    spec: {
      protocol: 'virtualProtocol',
      properties: props.map((p) => ({
        name: p.name,
        type: p.type,
        accessMode: 'ReadWrite',
        ...(p.maximum ? { maximum: p.maximum } : {}),
      })),
    },
  } as DeviceModel;
  const device = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name, namespace: 'default' },
    spec: {
      deviceModelRef: { name: `${name}-model` },
      nodeName: NODE,
      protocol: { protocolName: 'virtualProtocol' },
      properties: props.map((p) => ({
        name: p.name,
        visitors: { protocolName: 'virtualProtocol', configData: { initial: p.initial } },
        collectCycle: 50,
        reportCycle: 50,
        reportToCloud: true,
      })),
    },
  } as Device;
  return [model, device];
}

/** The twin (with `options`) holding the panel, and a virtual mapper serving it. */
async function servePanel(manifests: [DeviceModel, Device], options: Parameters<typeof startTwinRig>[2] = {}) {
  const { brokerUrl, twin } = await startTwinRig(NODE, cleanups, options);
  const id = `default/${manifests[1].metadata.name}`;
  cleanups.push(async () => removeVirtualDevice(id));
  expect((await twin.loadManifests(manifests)).errors).toEqual([]);
  const mapper = await startMapper({
    factory: virtualDriverFactory,
    brokerUrl,
    node: NODE,
    logger: pino({ level: 'silent' }),
  });
  cleanups.push(() => mapper.stop());
  return { id, view: () => twin.getTwin(id)!.twins };
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

it('four good readings reach the twin beside one the model refuses, which is shown with its reason and sent once valid', async () => {
  // e reads 150, above the model's maximum 100
  const { id, view } = await servePanel(
    virtualPanel(
      `panel-${process.pid}`,
      NAMES.map((n, i) => ({ name: n, type: 'INT', initial: n === 'e' ? 150 : i + 1, maximum: '100' })),
    ),
  );
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

it("a reading the twin refuses for a limit the mapper cannot check is shown with the twin's reason, and cleared once the twin takes one (issue 9 leftover)", async () => {
  // the edge's value limit lowered to 8 bytes: the mapper checks type and bounds, not this
  const { id, view } = await servePanel(
    virtualPanel(`label-${process.pid}`, [
      { name: 'label', type: 'STRING', initial: 'a label far longer than 8 bytes' },
      { name: 'level', type: 'INT', initial: 3 },
    ]),
    { limits: { maxValueBytes: 8 } },
  );
  await waitUntil(() => view().label?.refused !== undefined, "the twin's refusal shown on the twin", 10_000);
  expect(view().level?.actual?.value).toBe('3');
  expect(view().label?.actual).toBeUndefined();
  expect(view().label?.refused).toMatchObject({
    state: 'refused',
    value: 'a label far longer than 8 bytes',
    reason: expect.stringMatching(/^the twin refused it \(413\): .*the limit is 8 bytes per value \(maxValueBytes\)/),
  });

  // a value within the limit: taken, and the refusal cleared
  virtualDevice(id).set('label', 'short');
  await waitUntil(() => view().label?.actual?.value === 'short', 'the short label taken', 10_000);
  await waitUntil(() => view().label?.refused === undefined, 'the refusal cleared', 10_000);
});
