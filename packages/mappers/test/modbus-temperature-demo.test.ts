// The temperature sensor sample (KubeEdge's temperature-sensor demo in our own manifests), unchanged except for the address (pointed at the simulator):
// the Modbus mapper reports the temperature and follows the switch's desired value, over MQTT only.
import { join } from 'node:path';
import {
  decodeWriteStatus,
  deltaRequestTopic,
  deviceTopic,
  mapperDeviceTopic,
  type ResolvedDevice,
  writeStatusTopic,
} from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { collectMessages, type ReceivedMessage, startTestBroker } from '@edgetwin/eventbus/testing';
import {
  loadManifestFiles,
  type ModbusSimulator,
  resolveManifests,
  startModbusSimulator,
  withModbusEndpoint,
} from '@edgetwin/simulators';
import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SAMPLE_FILES, SAMPLES } from '../../api/test/support/samples.js';
import { createModbusDriverFactory } from '../src/drivers/modbus/index.js';
import { type RunningMapper, startMapper } from '../src/framework/start-mapper.js';
import { collectReports } from '../src/conformance/report-collector.js';

let broker: Awaited<ReturnType<typeof startTestBroker>>;
let sim: ModbusSimulator;
let app: BusClient;
let mapper: RunningMapper;
let device: ResolvedDevice;

beforeEach(async () => {
  const loaded = await loadManifestFiles([
    join(SAMPLES, SAMPLE_FILES.temperatureModel),
    join(SAMPLES, SAMPLE_FILES.temperatureDevice),
  ]);
  const [fromSample] = resolveManifests(loaded, { protocol: 'modbus' });
  if (!fromSample) throw new Error('the sample has no modbus device');
  sim = await startModbusSimulator({ devices: [fromSample], tcp: { port: 0 } });
  device = withModbusEndpoint(fromSample, { port: sim.port });
  broker = await startTestBroker();
  app = await connectBus({ url: broker.url, clientId: 'temperature-demo-app' });
  mapper = await startMapper({
    factory: createModbusDriverFactory({ reconnectMinMs: 50 }),
    brokerUrl: broker.url,
    node: device.nodeName,
    logger: pino({ level: 'silent' }),
    worker: { connectBackoffMs: 50, maxConnectBackoffMs: 200, writeRetry: { maxAttempts: 3, baseMs: 20, maxMs: 100 } },
  });
});

afterEach(async () => {
  await mapper?.stop();
  await app?.close();
  await broker?.close();
  await sim?.stop();
});

const statusOf = (m: ReceivedMessage) => {
  const d = decodeWriteStatus(m.payload);
  return d.ok ? d.value : undefined;
};

it('reports the temperature from the holding register (scaled by 0.1) and applies the switch desired values', async () => {
  expect(device.nodeName).toBe('kind-worker');
  expect(device.protocolConfig).toMatchObject({ communicateMode: 'TCP', slaveID: 1, port: String(sim.port) });
  sim.poke(device.id, 'temperature', 23.4);
  sim.poke(device.id, 'temperature-switch', 0); // the sample desires "1": the mapper must switch it on

  const updates = await collectReports(app, device.id);
  const statuses = await collectMessages(app, writeStatusTopic(device.id));
  // play the twin: asked for the device's delta when the mapper starts serving it, it names the desired "1"
  await app.subscribe(deltaRequestTopic(device.id), () => {
    const delta = { event_id: 'start', timestamp: Date.now(), twin: {}, delta: { 'temperature-switch': '1' } };
    void app.publish(deviceTopic(device.id, 'twin/update/delta'), JSON.stringify(delta), { qos: 1 });
  });
  await app.publish(mapperDeviceTopic(device.nodeName, 'modbus', device.id), JSON.stringify(device), {
    qos: 1,
    retain: true,
  });

  const temperatureIs = (v: string) => (m: ReceivedMessage) =>
    (m.json() as { twin?: Record<string, { actual?: { value?: string } }> }).twin?.temperature?.actual?.value === v;
  await updates.waitFor(temperatureIs('23.4'), 10_000);

  const switchVerified = (desired: string) => (m: ReceivedMessage) => {
    const s = statusOf(m);
    return s?.property === 'temperature-switch' && s.desired === desired && s.state === 'verified';
  };
  await statuses.waitFor(switchVerified('1'), 10_000);
  expect(sim.peek(device.id, 'temperature-switch')).toBe(true);

  // the cloud (or an app) sets desired "0": a delta on KubeEdge's topic
  await app.publish(
    deviceTopic(device.id, 'twin/update/delta'),
    JSON.stringify({ event_id: 'demo', timestamp: Date.now(), twin: {}, delta: { 'temperature-switch': '0' } }),
    { qos: 1 },
  );
  await statuses.waitFor(switchVerified('0'), 10_000);
  expect(sim.peek(device.id, 'temperature-switch')).toBe(false);
  await updates.stop();
  await statuses.stop();
});
