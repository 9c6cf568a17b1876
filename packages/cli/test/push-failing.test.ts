// A sink's failure is device state (issue 17): a property's push to redis with a refused password reaches
// the twin as a failing push naming the sink and why (the route a report takes to the cloud: mapper ->
// push/status -> twin -> outbox), `describe device` and `get devices` show it once merged into the status,
// and it clears when the sink writes again (the password file fixed).

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Device, DeviceModel } from '@edgetwin/api';
import { deviceTable, describeDevice } from '@edgetwin/device-controller/cli/present';
import { mergeReport } from '@edgetwin/device-controller/status/merge';
import { waitUntil } from '@edgetwin/eventbus/testing';
import { startMapper } from '@edgetwin/mappers';
import { removeVirtualDevice, virtualDriverFactory } from '@edgetwin/mappers/drivers/virtual/index';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { startRedis } from '../../mappers/test/db-servers.js';
import { startTwinRig } from './support/twin-rig.js';

const NODE = 'push-node';
const PASSWORD = 'redis-push-secret';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  delete process.env.EDGETWIN_REDIS_PASSWORD_FILE;
});

it('a failing push shows on the twin and in describe/get devices with its sink and reason, and clears on recovery', async () => {
  const redis = await startRedis(PASSWORD);
  cleanups.push(() => redis.close());
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-push-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const secret = join(dir, 'redis-password');
  await writeFile(secret, 'wrong-password', { mode: 0o600 });
  process.env.EDGETWIN_REDIS_PASSWORD_FILE = secret;

  const { brokerUrl, twin } = await startTwinRig(NODE, cleanups);
  const name = `pump-${process.pid}`;
  const id = `default/${name}`;
  cleanups.push(async () => removeVirtualDevice(id));
  const model = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name: 'pump-model', namespace: 'default' },
    spec: { protocol: 'virtualProtocol', properties: [{ name: 'rpm', type: 'INT', accessMode: 'ReadWrite' }] },
  } as DeviceModel;
  const device = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name, namespace: 'default' },
    spec: {
      deviceModelRef: { name: 'pump-model' },
      nodeName: NODE,
      protocol: { protocolName: 'virtualProtocol' },
      properties: [
        {
          name: 'rpm',
          visitors: { protocolName: 'virtualProtocol', configData: { initial: 7 } },
          collectCycle: 50,
          reportCycle: 50,
          reportToCloud: true,
          pushMethod: { dbMethod: { redis: { redisClientConfig: { addr: `127.0.0.1:${redis.port}`, db: 0 } } } },
        },
      ],
    },
  } as Device;
  expect((await twin.loadManifests([model, device])).errors).toEqual([]);
  const mapper = await startMapper({
    factory: virtualDriverFactory,
    brokerUrl,
    node: NODE,
    logger: pino({ level: 'silent' }),
    sinks: { flushIntervalMs: 50, reconnectBaseMs: 50, reconnectMaxMs: 200 },
  });
  cleanups.push(() => mapper.stop());

  const sink = `redis:127.0.0.1:${redis.port}/0`;
  const failing = () => twin.getTwin(id)!.twins.rpm?.failingPush?.[sink];
  await waitUntil(() => failing() !== undefined, 'the failing push on the twin', 15_000);
  expect(failing()).toMatchObject({ property: 'rpm', sink, state: 'failing' });
  expect(failing()!.reason).toMatch(/credentials refused: .*(WRONGPASS|invalid)/i);

  // what the cloud shows, from the same report merged into the Device's status
  const status = {};
  const merged = structuredClone(device);
  mergeReport(merged, status, {
    kind: 'push-status',
    deviceId: id,
    status: failing()!,
    seq: 1,
    timestamp: Date.now(),
  });
  merged.status = status;
  expect(deviceTable([merged])).toContain('push failing');
  const described = describeDevice(merged, model);
  expect(described).toContain('Pushes failing');
  expect(described).toMatch(new RegExp(`rpm\\s+${sink.replace(/[.]/g, '\\.')}\\s+credentials refused`));

  // the operator fixes the password file: the sink writes again and the failure clears on the twin and in status
  await writeFile(secret, PASSWORD);
  await waitUntil(() => failing() === undefined, 'the failing push cleared', 15_000);
  mergeReport(merged, status, {
    kind: 'push-status',
    deviceId: id,
    status: { property: 'rpm', sink, state: 'ok', timestamp: Date.now() },
    seq: 2,
    timestamp: Date.now(),
  });
  expect(deviceTable([merged])).not.toContain('push failing');
  expect(describeDevice(merged, model)).not.toContain('Pushes failing');
}, 60_000);
