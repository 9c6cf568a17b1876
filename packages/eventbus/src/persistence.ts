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
  outgoingUpdate(client: { id: string }, packet: unknown): Promise<unknown>;
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
 * - `outgoingUpdate` (a delivery to a persistent session, stored before it is written) answers in call
 *   order per client, for the same reason.
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

  // Each delivery to a persistent session is stored (`outgoingUpdate`) before aedes writes it to the socket;
  // those writes, too, finished out of order and reordered one publisher's messages to a subscriber (the
  // cloud link's report batches, refused as a gap and sent again): they answer in call order per client.
  const updateTails = new Map<string, Promise<unknown>>();
  const update = store.outgoingUpdate.bind(store);
  store.outgoingUpdate = (client, packet) => {
    const written = update(client, packet);
    const before = updateTails.get(client.id);
    const inOrder = before ? before.then(() => written) : written;
    const tail = inOrder.catch(() => {});
    updateTails.set(client.id, tail);
    void tail.then(() => {
      if (updateTails.get(client.id) === tail) updateTails.delete(client.id);
    });
    return inOrder;
  };

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
  // LevelDB's defaults (an 8 MiB block cache, a 4 MiB memtable before a flush) are sized for databases, not
  // for a broker's sessions and retained messages, which aedes also keeps in memory: 1 MiB each (issue 15,
  // target 3: edge RSS)
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer', cacheSize: 1 << 20, writeBufferSize: 1 << 20 });
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
  skipCleanPubackLookups(persistence as unknown as Record<string, unknown>);
  const drained = trackAfterClose(persistence as unknown as Record<string, unknown>, retainedWritten);
  return {
    persistence,
    async close() {
      closing = true;
      await drained();
      await persistence.destroy();
      if (db.status !== 'closed') await db.close();
    },
  };
}

/**
 * aedes looks every PUBACK up in the persistence (`outgoingClearMessageId`), from every client. Only a
 * persistent session's QoS 1 delivery is stored there (`outgoingUpdate`, which aedes skips for a clean
 * session), so a clean client's PUBACK (the twin, the mappers, apps on the edge broker) finds nothing; on
 * LevelDB that miss searched every level and cost 9% of the process's CPU in bench/e2e.ts at 1 x 1,000
 * devices (issue 15 target 5). Such PUBACKs are answered at once, as the miss would be. A clean client
 * clearing what an old session had queued (aedes' emptyQueue, not a PUBACK) still goes to the database.
 */
export function skipCleanPubackLookups(store: Record<string, unknown>): void {
  const clear = (store.outgoingClearMessageId as (client: unknown, packet: unknown) => Promise<unknown>).bind(store);
  store.outgoingClearMessageId = (client: { clean?: boolean }, packet: { cmd?: string }) =>
    packet.cmd === 'puback' && client.clean === true ? Promise.resolve(undefined) : clear(client, packet);
}

/** aedes' persistence calls that return a promise (the aedes-persistence interface). */
const ASYNC_CALLS = [
  'storeRetained',
  'addSubscriptions',
  'removeSubscriptions',
  'subscriptionsByClient',
  'countOffline',
  'subscriptionsByTopic',
  'cleanSubscriptions',
  'outgoingEnqueue',
  'outgoingEnqueueCombi',
  'outgoingUpdate',
  'outgoingClearMessageId',
  'incomingStorePacket',
  'incomingGetPacket',
  'incomingDelPacket',
  'cleanIncoming',
  'putWill',
  'getWill',
  'delWill',
] as const;

/**
 * aedes' close() resolves once its registered clients are closed, but work it started goes on reaching the
 * persistence: a client's will published and deleted after its close, a client mid-handshake (not yet
 * registered, so not closed by aedes) fetching its session and storing its will. On a closed LevelDB those
 * calls fail with LEVEL_DATABASE_NOT_OPEN, and aedes does not handle every such failure
 * (`delWill(client).finally(...)` in its CONNECT handler): an unhandled rejection that kills the process.
 * So every call is tracked; the returned drain waits (bounded) until none is in flight, and from then on a
 * call never reaches the database: its promise stays pending, as the broker it served is gone.
 */
export function trackAfterClose(
  store: Record<string, unknown>,
  queuedWrites: () => Promise<void>,
  boundMs = 2000,
): () => Promise<void> {
  const inflight = new Set<Promise<unknown>>();
  let closed = false;
  for (const name of ASYNC_CALLS) {
    const call = store[name];
    if (typeof call !== 'function') continue;
    const bound = (call as (...args: unknown[]) => Promise<unknown>).bind(store);
    store[name] = (...args: unknown[]) => {
      if (closed) return new Promise<never>(() => {});
      const p = bound(...args);
      inflight.add(p);
      const done = () => inflight.delete(p);
      p.then(done, done);
      return p;
    };
  }
  return async () => {
    const deadline = Date.now() + boundMs;
    // a call settling lets aedes make the next one (its steps run one after another): look again after a turn
    do {
      await queuedWrites();
      await Promise.race([
        Promise.allSettled([...inflight]),
        new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref()),
      ]);
      await new Promise((r) => setImmediate(r));
    } while (inflight.size > 0 && Date.now() < deadline);
    closed = true;
  };
}
