// Issue 10 steps 4 and 5: a mapper running as its own process next to `edgetwin edge` logs in to the edge bus
// as the service user with the password the edge keeps in its data dir (anonymous clients may not use the
// mapper-facing topics), and a password on its command line is refused.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mapperDeviceTopic } from '@edgetwin/api';
import { writeSecretFile } from '@edgetwin/api/secret-file';
import { startBroker } from '@edgetwin/eventbus';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { EDGE_SERVICE_USER, edgeBusAuth, edgeServiceSecretFile } from '@edgetwin/eventbus/edge-bus-acl';
import { afterEach, expect, it } from 'vitest';
import { device, NODE, prop } from './runtime-helpers.js';
import { collectReports } from '../src/conformance/report-collector.js';

const CLI = fileURLToPath(new URL('../../cli/bin/edgetwin.js', import.meta.url));
const PASSWORD = 'edge-service-secret';

const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function spawnCli(args: string[]): { child: ChildProcess; output(): string } {
  let output = '';
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, EDGETWIN_LOG_LEVEL: 'warn', EDGETWIN_MQTT_PASSWORD: '' },
  });
  child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (output += b.toString()));
  closers.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  return { child, output: () => output };
}

it('logs in as the edge service user from --data-dir and serves a device the anonymous bus would hide', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mapper-auth-'));
  closers.push(() => rmSync(dataDir, { recursive: true, force: true }));
  writeSecretFile(edgeServiceSecretFile(dataDir, NODE), PASSWORD);
  const broker = await startBroker({ port: 0, auth: edgeBusAuth(PASSWORD) });
  closers.push(() => broker.close());
  const twin: BusClient = await connectBus({
    url: broker.url,
    clientId: 'auth-test-twin',
    username: EDGE_SERVICE_USER,
    password: PASSWORD,
  });
  closers.push(() => twin.close());
  const d = device('virtualProtocol', [prop('a', { visitor: { name: 'a', initial: 5 } })]);
  const updates = await collectReports(twin, d.id);
  await twin.publish(mapperDeviceTopic(NODE, 'virtualProtocol', d.id), JSON.stringify(d), { qos: 1, retain: true });

  const m = spawnCli([
    'mapper',
    'virtual',
    '--broker',
    broker.url,
    '--node',
    NODE,
    '--rest-port',
    '0',
    '--data-dir',
    dataDir,
  ]);
  const [first] = await updates.waitFor(1, 20_000).catch((e: Error) => {
    throw new Error(`${e.message}\nmapper output:\n${m.output()}`);
  });
  expect(first!.json()).toMatchObject({ twin: { a: { actual: { value: '5' } } } });
});

it('refuses a password on its command line, naming the file option and the env var', async () => {
  const m = spawnCli(['mapper', 'virtual', '--node', NODE, '--password', 'hunter2']);
  const [code] = await once(m.child, 'close');
  expect(code).toBe(2);
  expect(m.output()).toMatch(
    /--password puts a secret on the command line.*--password-file FILE or EDGETWIN_MQTT_PASSWORD/,
  );
});
