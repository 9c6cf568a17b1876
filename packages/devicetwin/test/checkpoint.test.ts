// Issue 15 target 5: the twin's WAL checkpoints (two fsyncs each) run on a worker thread with their own
// connection, so they never stall the event loop the edge's broker, twin and mappers share. The worker must
// really copy the WAL into the database file, and what was written must survive a reopen.

import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '@edgetwin/eventbus/testing';
import { afterEach, expect, it } from 'vitest';
import { TwinStore } from '../src/store/twin-store.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

it('copies the WAL into the database file on its worker thread; the data survives a reopen', async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-checkpoint-'));
  const path = join(dir, 'twin.db');
  const store = new TwinStore(path);
  const before = (await stat(path)).size;
  const value = 'x'.repeat(1000);
  for (let i = 0; i < 500; i++) store.transaction(() => store.putKv(`k${i}`, value));
  // the writes are in the WAL; the database file has not grown yet
  expect((await stat(path)).size).toBe(before);
  store.checkpoint();
  await waitUntil(async () => (await stat(path)).size > before + 400_000, 'the checkpoint to fill the database file');
  store.close();
  const again = new TwinStore(path);
  expect(again.getKv('k499')).toBe(value);
  again.close();
});
