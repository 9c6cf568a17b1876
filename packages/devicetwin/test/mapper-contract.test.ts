// The mapper-facing contract (docs/mapper-contract.md): retained resolved specs per protocol, desired values
// through twin/update/delta, write acknowledgements stored and reported upstream.

import {
  type Device,
  type DeviceModel,
  deviceTopic,
  mapperDeviceTopic,
  mapperDevicesFilter,
  type ResolvedDevice,
  writeStatusTopic,
} from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus';
import { collectMessages, startTestBroker } from '@edgetwin/eventbus/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, kubeedgeSamples, NODE, startHarness } from './support/harness.js';

const TEMP = 'default/temperature-instance';

let h: Harness;
let samples: Array<Device | DeviceModel>;
beforeEach(async () => {
  h = await startHarness();
  samples = await kubeedgeSamples();
  await h.twin.loadManifests(samples);
});
afterEach(async () => {
  await h.close();
});

function sampleDevice(name: string): Device {
  return structuredClone(samples.find((o) => o.kind === 'Device' && o.metadata.name === name) as Device);
}

describe('retained device specs', () => {
  it('a mapper started after the twin learns every device of its protocol, merged with its model', async () => {
    const mapper = await connectBus({ url: h.broker.url, clientId: 'late-mapper' });
    try {
      const specs = await collectMessages(mapper, mapperDevicesFilter(NODE, 'modbus'));
      const [msg] = await specs.waitFor(1);
      expect(msg!.retain).toBe(true);
      expect(msg!.topic).toBe(mapperDeviceTopic(NODE, 'modbus', TEMP));
      const spec = msg!.json() as ResolvedDevice;
      expect(spec).toMatchObject({
        id: TEMP,
        protocol: 'modbus',
        nodeName: NODE,
        protocolConfig: { ip: '192.0.2.10', port: '5502' },
      });
      expect(spec.properties.find((p) => p.name === 'temperature')).toMatchObject({
        type: 'FLOAT',
        maximum: 100,
        unit: 'Celsius',
      });
      // the counter is virtualProtocol, not modbus
      expect(specs.messages.map((m) => m.topic)).toEqual([mapperDeviceTopic(NODE, 'modbus', TEMP)]);
    } finally {
      await mapper.close();
    }
  });

  it('republishes on a spec change, not on a resourceVersion-only change; empty retained payload on removal and protocol change', async () => {
    const specs = await collectMessages(h.app, mapperDevicesFilter(NODE, '+'));
    await specs.waitFor(2); // the two retained specs already there
    const dev = sampleDevice('temperature-instance');
    dev.metadata.resourceVersion = '42';
    h.twin.upsertDevice(dev); // same spec: nothing published
    dev.spec.protocol!.configData!.ip = '127.0.0.1';
    h.twin.upsertDevice(dev);
    await specs.waitFor(3);
    expect((specs.messages[2]!.json() as ResolvedDevice).protocolConfig.ip).toBe('127.0.0.1');
    dev.spec.protocol!.protocolName = 'modbus-rtu';
    h.twin.upsertDevice(dev);
    await specs.waitFor(5);
    expect(specs.messages[3]).toMatchObject({ topic: mapperDeviceTopic(NODE, 'modbus', TEMP) });
    expect(specs.messages[3]!.payload.length).toBe(0);
    expect(specs.messages[4]!.topic).toBe(mapperDeviceTopic(NODE, 'modbus-rtu', TEMP));
    h.twin.removeDevice(TEMP);
    await specs.waitFor(6);
    expect(specs.messages[5]!.topic).toBe(mapperDeviceTopic(NODE, 'modbus-rtu', TEMP));
    expect(specs.messages[5]!.payload.length).toBe(0);
  });

  it('a model change is pushed to the mappers of every device using it', async () => {
    const specs = await collectMessages(h.app, mapperDevicesFilter(NODE, 'modbus'));
    await specs.waitFor(1);
    const model = structuredClone(
      samples.find((o) => o.kind === 'DeviceModel' && o.metadata.name === 'temperature-model') as DeviceModel,
    );
    model.spec.properties![0]!.unit = 'Kelvin';
    h.twin.upsertModel(model);
    await specs.waitFor(2);
    expect((specs.messages[1]!.json() as ResolvedDevice).properties[0]!.unit).toBe('Kelvin');
  });

  it('rejects a device whose model the node does not hold (404) and a model still in use (409)', () => {
    const dev = sampleDevice('temperature-instance');
    dev.spec.deviceModelRef = { name: 'nope' };
    expect(() => h.twin.upsertDevice(dev)).toThrow(/DeviceModel default\/nope, which node kind-worker does not hold/);
    expect(() => h.twin.removeModel('default/temperature-model')).toThrow(
      /still used by device\(s\) default\/temperature-instance/,
    );
    expect(h.twin.getTwin(TEMP)).toBeDefined();
  });
});

describe('broker restart', () => {
  it('after the broker restarts empty, the twin republishes every spec and pending delta', async () => {
    const port = h.broker.port;
    await h.broker.close();
    h.broker = await startTestBroker({ port });
    const mapper = await connectBus({ url: h.broker.url, clientId: 'mapper-after-restart' });
    try {
      const specs = await collectMessages(mapper, mapperDevicesFilter(NODE, 'modbus'));
      const deltas = await collectMessages(mapper, deviceTopic(TEMP, 'twin/update/delta'));
      const [spec] = await specs.waitFor(1, 15_000);
      expect((spec!.json() as ResolvedDevice).id).toBe(TEMP);
      await deltas.waitFor(1, 15_000);
      expect(deltas.messages[0]!.json()).toMatchObject({ delta: { 'temperature-switch': '1' } });
    } finally {
      await mapper.close();
    }
  });
});

describe('desired values through twin/update/delta', () => {
  it('after a device is upserted with a desired value, the delta names it; it goes once actual matches', async () => {
    const deltas = await collectMessages(h.app, deviceTopic(TEMP, 'twin/update/delta'));
    h.twin.removeDevice(TEMP);
    h.twin.upsertDevice(sampleDevice('temperature-instance'));
    const [d] = await deltas.waitFor(1);
    expect(d!.json()).toMatchObject({
      delta: { 'temperature-switch': '1' },
      twin: { 'temperature-switch': { expected: { value: '1' } } },
    });
    // the mapper wrote it and reports the device's value: no delta is left
    await h.request(
      deviceTopic(TEMP, 'twin/update'),
      { twin: { 'temperature-switch': { actual: { value: '1' } } } },
      deviceTopic(TEMP, 'twin/update/result'),
    );
    expect(h.twin.getTwin(TEMP)!.delta).toEqual({});
    await h.twin.setDesiredLocally(TEMP, 'temperature', '22.5');
    await deltas.waitFor(2);
    expect(deltas.messages[1]!.json()).toMatchObject({ delta: { temperature: '22.5' } });
    expect(Object.keys((deltas.messages[1]!.json() as { delta: object }).delta)).toEqual(['temperature']);
  });

  it('write acknowledgements are stored on the twin and appended to the outbox', async () => {
    const ack = {
      property: 'temperature-switch',
      desired: '1',
      state: 'verified',
      attempts: 1,
      timestamp: 1700000000000,
    };
    const before = h.twin.outbox.lastSeq();
    await h.app.publish(writeStatusTopic(TEMP), JSON.stringify(ack));
    await h.app.publish(writeStatusTopic(TEMP), 'not json'); // dropped with a log line and a metric
    await h.app.publish(writeStatusTopic('default/ghost'), JSON.stringify(ack));
    // a round trip after the acks: the twin handles requests in order
    await h.request(deviceTopic(TEMP, 'twin/get'), {}, deviceTopic(TEMP, 'twin/get/result'));
    expect(h.twin.getTwin(TEMP)!.twins['temperature-switch']!.writeStatus).toEqual(ack);
    expect(h.twin.outbox.pending(before, 10)).toMatchObject([{ kind: 'write', deviceId: TEMP, status: ack }]);
    const dropped = await h.twin.metrics.getSingleMetricAsString('edgetwin_twin_messages_dropped_total');
    expect(dropped).toMatch(/reason="rejected-write-status"} 2/);
  });
});
