// Issue 15 target 5: the twin's WAL checkpoints (two fsyncs each) never stall the event loop the edge's
// broker, twin and mappers share: the fsyncs run on libuv's thread pool, the copy on connections of its own
// (checkpointer.ts). The checkpoint must really copy the WAL into the database file, and what was written
// (before, during and after a checkpoint, or when the store closes in the middle of one) must survive a reopen.

import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '@edgetwin/eventbus/testing';
import { afterEach, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { BackgroundCheckpointer } from '../src/store/checkpointer.js';
import { TwinStore } from '../src/store/twin-store.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** a store in a fresh folder, with its database file's size before any write */
async function freshStore(): Promise<{ path: string; store: TwinStore; before: number }> {
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-checkpoint-'));
  const path = join(dir, 'twin.db');
  const store = new TwinStore(path);
  return { path, store, before: (await stat(path)).size };
}

it('copies the WAL into the database file; the data survives a reopen', async () => {
  const { path, store, before } = await freshStore();
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

it('keeps what is written while a checkpoint waits for its fsyncs, and when the store closes in the middle', async () => {
  const { path, store, before } = await freshStore();
  const value = 'y'.repeat(1000);
  for (let i = 0; i < 500; i++) store.transaction(() => store.putKv(`a${i}`, value));
  store.checkpoint();
  // written while the checkpoint's fsync of the WAL is under way (it resolves on a later turn of the loop)
  for (let i = 0; i < 500; i++) store.transaction(() => store.putKv(`b${i}`, value));
  await waitUntil(async () => (await stat(path)).size > before + 400_000, 'the first checkpoint to fill the file');
  for (let i = 0; i < 500; i++) store.transaction(() => store.putKv(`c${i}`, value));
  store.checkpoint();
  store.checkpoint();
  // closed before that checkpoint's fsyncs answer: the twin's own connection checkpoints the rest
  store.close();
  const again = new TwinStore(path);
  for (const k of ['a0', 'a499', 'b0', 'b499', 'c0', 'c499']) expect(again.getKv(k)).toBe(value);
  expect(again.integrityCheck()).toBe('ok');
  again.close();
});

it("bounds the WAL of a writer that never pauses: SQLite's own checkpoint, after which the WAL starts over", async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-checkpoint-'));
  const path = join(dir, 'wal.db');
  // the twin's connection, as TwinStore opens it
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
  const put = db.prepare('INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)');
  const value = 'z'.repeat(3000);
  for (let i = 0; i < 3000; i++) put.run(i, value);
  const frames = () => (db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]!.log;
  let here = 0;
  const checkpointer = new BackgroundCheckpointer(
    path,
    () => {
      here++;
      db.pragma('wal_checkpoint(PASSIVE)');
    },
    (e) => {
      throw e;
    },
  );
  // a write on every turn of the event loop: one lands during each of the checkpoint's fsyncs
  let writing = true;
  let n = 0;
  const writer = () => {
    if (!writing) return;
    put.run(n++ % 3000, value);
    setImmediate(writer);
  };
  setImmediate(writer);
  try {
    await checkpointer.run();
    writing = false;
    expect(here).toBe(1);
    // the next write starts the WAL over instead of appending to thousands of frames
    put.run(0, value);
    expect(frames()).toBeLessThan(20);
    expect((db.prepare('SELECT count(*) AS c FROM t').get() as { c: number }).c).toBe(3000);
  } finally {
    writing = false;
    checkpointer.close();
    db.close();
  }
});
