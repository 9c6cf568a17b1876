// One route for desired values to a mapper (issue 9 §5, docs/mapper-contract.md §3): the twin's delta
// decides. A mapper starting while the twin holds an edge app's override of the cloud's desired value
// writes the override, and never writes the cloud's value first.

import type { Device, DeviceModel, WriteStatus } from '@edgetwin/api';
import { writeStatusTopic } from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus';
import { collectMessages } from '@edgetwin/eventbus/testing';
import { type DriverFactory, startMapper, virtualDevice } from '@edgetwin/mappers';
import { removeVirtualDevice, virtualDriverFactory } from '@edgetwin/mappers/drivers/virtual/index';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { startTwinRig } from './support/twin-rig.js';

const NODE = 'desired-node';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const model: DeviceModel = {
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'DeviceModel',
  metadata: { name: 'thermostat-model', namespace: 'default' },
  spec: {
    protocol: 'virtualProtocol',
    properties: [{ name: 'setpoint', type: 'INT', accessMode: 'ReadWrite', minimum: '0', maximum: '100' }],
  },
} as DeviceModel;

function thermostat(name: string): Device {
  return {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name, namespace: 'default' },
    spec: {
      deviceModelRef: { name: 'thermostat-model' },
      nodeName: NODE,
      protocol: { protocolName: 'virtualProtocol' },
      properties: [
        {
          name: 'setpoint',
          desired: { value: '10' },
          visitors: { protocolName: 'virtualProtocol', configData: { initial: 0 } },
          collectCycle: 100,
          reportCycle: 100,
          reportToCloud: true,
        },
      ],
    },
  } as Device;
}

/** The virtual driver, with every value the framework writes to the device recorded in order. */
function recording(writes: string[]): DriverFactory {
  return {
    ...virtualDriverFactory,
    create(device, ctx) {
      const d = virtualDriverFactory.create(device, ctx);
      return {
        ...d,
        connect: () => d.connect(),
        readBatch: (p) => d.readBatch(p),
        health: () => d.health(),
        disconnect: () => d.disconnect(),
        write(property, value) {
          writes.push(`${property.name}=${value}`);
          return d.write(property, value);
        },
      };
    },
  };
}

it("a mapper starting after an edge app overrode the cloud's desired value writes only the override", async () => {
  const { brokerUrl, twin } = await startTwinRig(NODE, cleanups);
  const name = `thermostat-${process.pid}`;
  const id = `default/${name}`;
  cleanups.push(async () => removeVirtualDevice(id));
  const loaded = await twin.loadManifests([model, thermostat(name)]);
  expect(loaded.errors).toEqual([]);
  // an edge app sets 33 while no mapper runs (KubeEdge #4166): the twin's desired value is now 33, not 10
  await twin.setDesiredLocally(id, 'setpoint', '33');
  await twin.settled();

  const app = await connectBus({ url: brokerUrl, clientId: 'app' });
  cleanups.push(() => app.close());
  const statuses = await collectMessages(app, writeStatusTopic(id));
  const writes: string[] = [];
  const mapper = await startMapper({
    factory: recording(writes),
    brokerUrl: brokerUrl,
    node: NODE,
    logger: pino({ level: 'silent' }),
  });
  cleanups.push(() => mapper.stop());
  await statuses.waitFor((m) => {
    const s = m.json() as WriteStatus;
    return s.state === 'verified' && s.desired === '33';
  }, 10_000);
  expect(virtualDevice(id).read('setpoint')).toBe(33);
  expect(writes).toEqual(['setpoint=33']);
  // nothing ever announced a write of the cloud's superseded value either
  expect(statuses.messages.map((m) => (m.json() as WriteStatus).desired)).not.toContain('10');
});
