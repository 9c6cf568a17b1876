// SIGKILL in the middle of a burst of updates: the database opens, is intact, and holds every update whose
// /result was published. The twin runs in a child process; the test plays the mapper.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deviceTopic } from '@edgetwin/api';
import { type BusClient, connectBus, type EmbeddedBroker } from '@edgetwin/eventbus';
import { collectMessages, nextMessage, startTestBroker } from '@edgetwin/eventbus/testing';
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const COUNTER = 'default/counter-instance';
const BURST = 4000;
const KILL_AFTER_RESULTS = 400;

let dir: string;
let broker: EmbeddedBroker;
let app: BusClient;
let child: ChildProcess | undefined;

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await app?.close();
  await broker?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function waitForReady(p: ChildProcess): Promise<void> {
  return new Promise((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`twin child not ready within 20 s; output: ${out}`)), 20_000);
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        res();
      }
    });
    p.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`twin child exited with ${code}: ${out}`));
    });
  });
}

it('every update acknowledged on /result before SIGKILL is in the database afterwards', async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-kill-'));
  const dbPath = join(dir, 'twin.db');
  broker = await startTestBroker();
  app = await connectBus({ url: broker.url, clientId: 'burst-mapper' });
  child = spawn(
    process.execPath,
    ['packages/cli/bin/run-ts.js', 'packages/devicetwin/test/support/twin-child.ts', broker.url, dbPath],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  await waitForReady(child);
  const exited = new Promise<void>((r) => child!.once('exit', () => r()));

  const results = await collectMessages(app, deviceTopic(COUNTER, 'twin/update/result'));
  const burst = (async () => {
    for (let i = 0; i < BURST && child!.exitCode === null && child!.signalCode === null; i++) {
      // every update creates its own twin, so each acknowledged one is checkable on its own
      void app.publish(
        deviceTopic(COUNTER, 'twin/update'),
        JSON.stringify({ event_id: `u${i}`, twin: { [`p${i}`]: { actual: { value: `v${i}` } } } }),
        { qos: 0 },
      );
      if (i % 200 === 199) await new Promise((r) => setImmediate(r));
    }
  })();
  await results.waitFor(KILL_AFTER_RESULTS, 20_000);
  child.kill('SIGKILL');
  await exited;
  await burst;
  // results the twin published just before dying may still be in the broker: a round trip flushes them
  const marker = nextMessage(app, 'test/flush');
  await app.publish('test/flush', 'x');
  await marker;

  const answers = results.messages.map((m) => m.json() as { event_id: string; code?: number });
  // a burst faster than the twin may be partly refused with 429 (too many of the device's requests waiting)
  expect(answers.every((r) => r.code === undefined || r.code === 429)).toBe(true);
  const acked = answers.filter((r) => r.code === undefined);
  expect(acked.length).toBeGreaterThanOrEqual(KILL_AFTER_RESULTS / 2);
  expect(acked.length).toBeLessThan(BURST); // it really died mid-burst

  const db = new Database(dbPath);
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const stored = new Map(
      (
        db.prepare('SELECT name, actual FROM twins WHERE device_id = ?').all(COUNTER) as Array<{
          name: string;
          actual: string;
        }>
      ).map((r) => [r.name, r.actual]),
    );
    const missing = acked.map((r) => Number(r.event_id.slice(1))).filter((i) => stored.get(`p${i}`) !== `v${i}`);
    expect(missing).toEqual([]);
    const outbox = db.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number };
    expect(outbox.n).toBeGreaterThanOrEqual(acked.length);
  } finally {
    db.close();
  }
}, 60_000);
