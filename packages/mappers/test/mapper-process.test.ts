// `edgetwin mapper` as its own process, talking to the edge only over MQTT.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { deviceTopic, mapperDeviceTopic, mapperPresenceTopic } from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { collectMessages, startTestBroker } from '@edgetwin/eventbus/testing';
import { afterEach, expect, it } from 'vitest';
import { device, NODE, prop } from './runtime-helpers.js';

const CLI = fileURLToPath(new URL('../../cli/bin/edgetwin.js', import.meta.url));

let child: ChildProcess | undefined;
let app: BusClient | undefined;
let broker: Awaited<ReturnType<typeof startTestBroker>> | undefined;
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  await app?.close();
  await broker?.close();
  child = app = broker = undefined;
});

it('runs a virtual mapper process that serves a device, and says offline when stopped', async () => {
  broker = await startTestBroker();
  app = await connectBus({ url: broker.url, clientId: 'process-test-app' });
  const presence = await collectMessages(app, mapperPresenceTopic(NODE, 'virtualProtocol'));
  const d = device('virtualProtocol', [prop('a', { visitor: { name: 'a', initial: 8 } })]);
  const updates = await collectMessages(app, deviceTopic(d.id, 'twin/update'));
  await app.publish(mapperDeviceTopic(NODE, 'virtualProtocol', d.id), JSON.stringify(d), { qos: 1, retain: true });

  let stderr = '';
  let stdout = '';
  child = spawn(process.execPath, [CLI, 'mapper', 'virtual', '--broker', broker.url, '--node', NODE], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, EDGETWIN_LOG_LEVEL: 'warn' },
  });
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  // the banner is printed in the same tick as the signal handlers are installed
  const banner = new Promise<void>((resolve) =>
    child!.stdout?.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (stdout.includes('edgetwin virtualProtocol mapper for node')) resolve();
    }),
  );
  const exited = once(child, 'close');

  const [first] = await updates.waitFor(1, 20_000).catch((e: Error) => {
    throw new Error(`${e.message}\nmapper stderr:\n${stderr}`);
  });
  expect(first!.json()).toMatchObject({ twin: { a: { actual: { value: '8' }, metadata: { type: 'int' } } } });
  await presence.waitFor((m) => (m.json() as { state: string }).state === 'online');

  await banner;
  child.kill('SIGTERM');
  const [code, signal] = await exited;
  expect({ code, signal }, `mapper stderr:\n${stderr}`).toEqual({ code: 0, signal: null });
  await presence.waitFor((m) => (m.json() as { state: string }).state === 'offline');
});
