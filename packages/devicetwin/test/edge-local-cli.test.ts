// `edgetwin edge-local`, as a user runs it: real process, real broker port, driven by mosquitto_pub.

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type BusClient, connectBus } from '@edgetwin/eventbus';
import { collectMessages } from '@edgetwin/eventbus/testing';
import { afterEach, expect, it } from 'vitest';
import { SAMPLES } from './support/harness.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);
let dir: string;
let child: ChildProcess | undefined;
let client: BusClient | undefined;

afterEach(async () => {
  await client?.close();
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

function cli(args: string[]): ChildProcess {
  return spawn(process.execPath, ['packages/cli/bin/edgetwin.js', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function output(p: ChildProcess, until: RegExp, timeoutMs = 20_000): Promise<string> {
  return new Promise((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`no ${until} within ${timeoutMs} ms; output:\n${out}`)), timeoutMs);
    const on = (d: Buffer) => {
      out += d.toString();
      if (until.test(out)) {
        clearTimeout(timer);
        res(out);
      }
    };
    p.stdout!.on('data', on);
    p.stderr!.on('data', on);
    p.once('exit', () => {
      clearTimeout(timer);
      if (!until.test(out)) rej(new Error(`exited before ${until}; output:\n${out}`));
    });
  });
}

it('serves the KubeEdge samples loaded from YAML, answers mosquitto_pub, and stops cleanly on SIGTERM', async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-cli-'));
  child = cli(['edge-local', '--node', 'kind-worker', '--db', join(dir, 'edge.db'), '--port', '0', '-f', SAMPLES]);
  const banner = await output(child, /stop with Ctrl-C/);
  expect(banner).toMatch(
    /devices {2}default\/counter-instance \(virtualProtocol\), default\/temperature-instance \(modbus\)/,
  );
  const [, url, port] = /listening on (mqtt:\/\/127\.0\.0\.1:(\d+))/.exec(banner)!;
  client = await connectBus({ url: url!, clientId: 'cli-test' });
  const results = await collectMessages(client, '$hw/events/device/default/temperature-instance/twin/update/result');
  await run('mosquitto_pub', [
    '-h',
    '127.0.0.1',
    '-p',
    port!,
    '-t',
    '$hw/events/device/default/temperature-instance/twin/update',
    '-m',
    '{"event_id":"by-hand","twin":{"temperature":{"actual":{"value":"21.5"}}}}',
  ]);
  const [res] = await results.waitFor(1);
  expect(res!.json()).toMatchObject({ event_id: 'by-hand', twin: { temperature: { actual: { value: '21.5' } } } });
  await results.stop();
  const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
}, 40_000);

it('a YAML file that does not parse is reported with file:line:column, and nothing starts', async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-cli-'));
  const bad = join(dir, 'bad.yaml');
  await writeFile(bad, 'apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata:\n  name: x\n spec: [\n');
  child = cli(['edge-local', '--node', 'n', '--db', join(dir, 'edge.db'), '--port', '0', '-f', bad]);
  const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
  const out = await output(child, /bad\.yaml/);
  expect(await exited).toBe(1);
  expect(out).toContain(`${bad}:5:1: All mapping items must start at the same column`);
}, 40_000);
