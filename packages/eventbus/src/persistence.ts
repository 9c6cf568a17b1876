// Durable broker state (sessions, QoS 1 queues, retained messages) in a LevelDB directory.
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { Level } from 'level';
import type { Logger } from 'pino';
import { silentLogger } from './silent-logger.js';

/** The part of aedes' persistence interface that runs before aedes forwards a PUBLISH. */
interface ForwardPathStore {
  storeRetained(packet: { topic: string; payload: Buffer }): Promise<void>;
  outgoingEnqueueCombi(subs: unknown[], packet: unknown): Promise<unknown>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
  destroy(): Promise<void>;
}

// aedes-persistence-level is CommonJS without type declarations.
const require = createRequire(import.meta.url);
const levelPersistence = require('aedes-persistence-level') as (db: unknown) => ForwardPathStore;

export interface LevelPersistence {
  persistence: unknown;
  /** waits for retained writes still queued, then releases the directory */
  close(): Promise<void>;
}

/**
 * aedes forwards a PUBLISH only once the persistence calls before it resolved: `storeRetained` for a
 * retained message, `outgoingEnqueueCombi` (queueing it for persistent sessions) for QoS 1. On LevelDB
 * those are disk writes that finish in any order, so a later message to the same subscriber (a twin
 * delta right after a retained mapper spec) overtakes an earlier one, and aedes' per-client duplicate
 * check (`dedupe()` in aedes/lib/client.js: it drops a packet whose broker counter is not above the last
 * one forwarded to that client) then drops the earlier message for good.
 *
 * So, as with the in-memory persistence, forwarding never waits for a disk write finishing out of order:
 * - `storeRetained` answers at once; the writes run in the background one after another, in publish
 *   order, so the last retained value of a topic is the one on disk. Reads of retained messages (for a new
 *   subscriber) wait for the writes queued before them, so a subscriber arriving after the PUBACK gets it.
 * - `outgoingEnqueueCombi` still writes before answering (aedes reads the queued copy back when it
 *   delivers), but answers in call order: a write never lets its message overtake an earlier one.
 * Returns: wait for the queued retained writes.
 */
export function keepForwardOrder(
  store: ForwardPathStore,
  log: Logger,
  closing: () => boolean = () => false,
): () => Promise<void> {
  let retainedTail: Promise<void> = Promise.resolve();
  const storeRetained = store.storeRetained.bind(store);
  const stream = store.createRetainedStream.bind(store);
  const streamCombi = store.createRetainedStreamCombi.bind(store);
  store.storeRetained = (packet) => {
    // aedes goes on using the packet object (it sets clientId before forwarding): store it as it is now.
    const snapshot = { ...packet };
    retainedTail = retainedTail
      .then(() => storeRetained(snapshot))
      .catch((err: unknown) => log.error({ err, topic: snapshot.topic }, 'storing a retained message failed'));
    return Promise.resolve();
  };
  const afterWrites = (open: () => Readable): Readable => {
    const written = retainedTail;
    return Readable.from(
      (async function* () {
        await written;
        try {
          yield* open();
        } catch (err) {
          // the broker closed the database under a subscriber still reading retained messages (a restart
          // while a client subscribes): the stream ends; thrown, nobody listens any more and the process dies
          if (closing()) return;
          throw err;
        }
      })(),
    );
  };
  store.createRetainedStream = (pattern) => afterWrites(() => stream(pattern));
  store.createRetainedStreamCombi = (patterns) => afterWrites(() => streamCombi(patterns));

  let enqueuedTail: Promise<unknown> = Promise.resolve();
  const enqueueCombi = store.outgoingEnqueueCombi.bind(store);
  store.outgoingEnqueueCombi = (subs, packet) => {
    const written = enqueueCombi(subs, packet);
    const inOrder = enqueuedTail.then(() => written);
    enqueuedTail = inOrder.catch(() => {});
    return inOrder;
  };
  return () => retainedTail;
}

export async function openLevelPersistence(dir: string, logger: Logger = silentLogger): Promise<LevelPersistence> {
  await mkdir(dir, { recursive: true });
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer' });
  try {
    await db.open();
  } catch (err) {
    const e = err as { code?: string; cause?: { message?: string } };
    throw new Error(
      `cannot open broker persistence in ${dir}: ${e.code ?? ''} ${e.cause?.message ?? (err as Error).message}`.trim(),
      { cause: err },
    );
  }
  const persistence = levelPersistence(db);
  let closing = false;
  const retainedWritten = keepForwardOrder(persistence, logger, () => closing);
  return {
    persistence,
    async close() {
      closing = true;
      await retainedWritten();
      await persistence.destroy();
      if (db.status !== 'closed') await db.close();
    },
  };
}
