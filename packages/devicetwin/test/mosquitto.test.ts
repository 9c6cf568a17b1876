// The twin on a real Mosquitto (KubeEdge's default external-broker mode): the same API, retained mapper
// specs, and an empty retained payload that really removes a spec.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceTopic, mapperDevicesFilter, membershipGetResultTopic, membershipGetTopic } from '@edgetwin/api';
import { type BusClient, connectBus } from '@edgetwin/eventbus';
import { collectMessages, type RunningMosquitto, startMosquitto } from '@edgetwin/eventbus/testing';
import { afterEach, expect, it } from 'vitest';
import { type DeviceTwin, openDeviceTwin } from '../src/index.js';
import { kubeedgeSamples, NODE } from './support/harness.js';

const TEMP = 'default/temperature-instance';
let mosquitto: RunningMosquitto | undefined;
let clients: BusClient[] = [];
let twin: DeviceTwin | undefined;
let dir: string | undefined;

afterEach(async () => {
  await twin?.close();
  for (const c of clients) await c.close();
  clients = [];
  await mosquitto?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('serves the KubeEdge API and the mapper contract through Mosquitto', async () => {
  mosquitto = await startMosquitto();
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-mosq-'));
  const bus = await connectBus({ url: mosquitto.url, clientId: 'twin' });
  const app = await connectBus({ url: mosquitto.url, clientId: 'app' });
  clients.push(app, bus);
  twin = await openDeviceTwin({ dbPath: join(dir, 'twin.db'), node: NODE, bus });
  await twin.loadManifests(await kubeedgeSamples());

  const results = await collectMessages(app, deviceTopic(TEMP, 'twin/update/result'));
  await app.publish(
    deviceTopic(TEMP, 'twin/update'),
    JSON.stringify({ event_id: 'm1', twin: { temperature: { actual: { value: '18' } } } }),
  );
  await app.publish(deviceTopic('default/ghost', 'twin/update'), JSON.stringify({ event_id: 'm2', twin: {} }));
  const [ok] = await results.waitFor(1);
  expect(ok!.json()).toMatchObject({ event_id: 'm1', twin: { temperature: { actual: { value: '18' } } } });

  const members = await collectMessages(app, membershipGetResultTopic(NODE));
  await app.publish(membershipGetTopic(NODE), '{"event_id":"mm"}');
  const [m] = await members.waitFor(1);
  expect((m!.json() as { devices: unknown[] }).devices).toHaveLength(2);

  const mapper = await connectBus({ url: mosquitto.url, clientId: 'mapper' });
  clients.push(mapper);
  const specs = await collectMessages(mapper, mapperDevicesFilter(NODE, 'modbus'));
  const [spec] = await specs.waitFor(1);
  expect(spec!.retain).toBe(true);
  twin.removeDevice(TEMP);
  await specs.waitFor(2);
  expect(specs.messages[1]!.payload.length).toBe(0);

  // Mosquitto deleted the retained spec: a mapper starting now learns of no modbus device
  const late = await connectBus({ url: mosquitto.url, clientId: 'late-mapper' });
  clients.push(late);
  const none = await collectMessages(late, mapperDevicesFilter(NODE, '+'));
  const marker = await collectMessages(late, 'test/marker');
  await late.publish('test/marker', 'x'); // delivered after the retained messages of the earlier subscription
  await marker.waitFor(1);
  expect(none.messages).toHaveLength(1);
  expect(none.messages[0]!.topic).toContain('virtualProtocol');
  expect(none.messages.filter((x) => x.topic.includes('/modbus/'))).toEqual([]);
});
