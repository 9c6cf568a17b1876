// Each app also runs on its own: `node packages/cli/bin/run-ts.js examples/<name>/app.ts --broker URL --node N`.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { deviceTopic } from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { type EmbeddedBroker, nextMessage, startTestBroker } from '@edgetwin/eventbus/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { parseStandaloneArgs } from './standalone.js';
import { startFakeTwin } from './testing/fake-twin.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function run(args: string[]): { child: ChildProcess; exit: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, ['packages/cli/bin/run-ts.js', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout?.resume();
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stderr })),
  );
  return { child, exit };
}

describe('parsing the standalone options', () => {
  it('defaults to the local broker and edge-node-1, and names a bad option', () => {
    expect(parseStandaloneArgs([])).toEqual({ brokerUrl: 'mqtt://127.0.0.1:1883', node: 'edge-node-1', extra: {} });
    expect(parseStandaloneArgs(['--node', 'n2', '--lot', 'b'], ['lot'])).toMatchObject({
      node: 'n2',
      extra: { lot: 'b' },
    });
    expect(() => parseStandaloneArgs(['--broker', 'tcp://x'])).toThrow(
      '--broker must be an mqtt:// or mqtts:// URL, got "tcp://x"',
    );
    expect(() => parseStandaloneArgs(['--lot', 'b'])).toThrow(/Unknown option '--lot'/);
  });
});

describe('an app run on its own', () => {
  let broker: EmbeddedBroker | undefined;
  let client: BusClient | undefined;
  let child: ChildProcess | undefined;

  afterEach(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await client?.close();
    await broker?.close();
    child = undefined;
    client = undefined;
    broker = undefined;
  });

  it('the traffic light cycles against a broker given on the command line and stops cleanly on SIGTERM', async () => {
    broker = await startTestBroker();
    client = await connectBus({ url: broker.url, clientId: 'standalone-test' });
    const id = 'default/traffic-light-01';
    const twin = await startFakeTwin(client, id, { red: { expected: 'OFF' }, mode: { expected: 'auto' } });
    const firstUpdate = nextMessage(client, deviceTopic(id, 'twin/update'), { timeoutMs: 20_000 });
    const proc = run([
      'examples/traffic-light/app.ts',
      '--broker',
      broker.url,
      '--node',
      'edge-node-1',
      '--durations',
      'red=100',
    ]);
    child = proc.child;
    const msg = (await firstUpdate).json() as { twin: Record<string, { expected?: { value?: string } }> };
    expect(msg.twin.red?.expected?.value).toBe('ON');
    child.kill('SIGTERM');
    expect((await proc.exit).code).toBe(0);
    await twin.stop();
  });

  it('a bad option is a usage error (exit 2) that names it', async () => {
    const proc = run(['examples/traffic-light/app.ts', '--durations', 'red=fast']);
    child = proc.child;
    const { code, stderr } = await proc.exit;
    expect(code).toBe(2);
    expect(stderr).toContain('traffic-light: --durations: phase durations: red=fast must be a whole number');
  });
});
