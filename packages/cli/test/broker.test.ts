// `edgetwin broker` as an operator runs it: password and ACL files, metrics, clean stop on SIGTERM.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BusClient, connectBus } from '@edgetwin/eventbus';
import { armNextMessage, waitUntil } from '@edgetwin/eventbus/testing';
import { afterEach, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../bin/edgetwin.js');

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function run(args: string[]): {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, [BIN, 'broker', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, EDGETWIN_LOG_LEVEL: 'warn' },
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (err += b));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  cleanups.push(async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  return { child, out: () => out, err: () => err, exit };
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-broker-cmd-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('edgetwin broker', () => {
  it('serves MQTT with the password and ACL files, exposes metrics, and stops on SIGTERM', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'passwords'), 'alice:alice-pw\nbob:bob-pw\n');
    await writeFile(join(dir, 'acl'), 'user alice\ntopic readwrite plant/#\nuser bob\ntopic read plant/line1/#\n');
    const broker = run([
      '--port',
      '0',
      '--password-file',
      join(dir, 'passwords'),
      '--acl-file',
      join(dir, 'acl'),
      '--data-dir',
      dir,
      '--metrics-port',
      '0',
    ]);
    await Promise.race([
      waitUntil(() => /metrics\s+http/.test(broker.out()), 'the banner of edgetwin broker', 20_000),
      broker.exit.then((code) => {
        throw new Error(`edgetwin broker exited with ${code}:\n${broker.err()}`);
      }),
    ]);
    const url = /listening on (\S+)/.exec(broker.out())![1]!;
    const metricsUrl = /metrics\s+(\S+)/.exec(broker.out())![1]!;

    const clients: BusClient[] = [];
    cleanups.push(async () => {
      for (const c of clients) await c.close();
    });
    const alice = await connectBus({ url, username: 'alice', password: 'alice-pw' });
    const bob = await connectBus({ url, username: 'bob', password: 'bob-pw' });
    clients.push(alice, bob);
    await expect(connectBus({ url, username: 'alice', password: 'nope', connectTimeoutMs: 3000 })).rejects.toThrow(
      'refused the credentials for user alice',
    );
    await expect(bob.subscribe('plant/#', () => {})).rejects.toThrow("refused the subscription to 'plant/#'");
    const { message } = await armNextMessage(bob, 'plant/line1/+', { timeoutMs: 3000 });
    await alice.publish('plant/line1/speed', '42');
    expect((await message).payload.toString()).toBe('42');

    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toMatch(/^edgetwin_eventbus_broker_connected_clients 2$/m);

    for (const c of clients.splice(0)) await c.close();
    broker.child.kill('SIGTERM');
    expect(await broker.exit).toBe(0);
  });

  it('exits 1 naming the file and line of a bad ACL', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'acl'), 'user alice\nallow all\n');
    const broker = run(['--port', '0', '--acl-file', join(dir, 'acl')]);
    expect(await broker.exit).toBe(1);
    expect(broker.err()).toContain(`${join(dir, 'acl')}:2: unknown keyword 'allow'`);
  });
});
