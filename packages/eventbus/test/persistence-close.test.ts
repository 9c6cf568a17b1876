// Shutdown crash (an unhandled LEVEL_DATABASE_NOT_OPEN in a full run, during the cloud link's property test,
// which restarts the durable cloud broker while the edge reconnects): aedes' close() resolves once its
// registered clients are closed, but a client mid-handshake goes on with its steps (fetch the session, then
// `delWill(client).finally(...)`, a promise nobody handles) and a closed client's will is still published and
// deleted. On the closed LevelDB those calls rejected, unhandled: the process dies. The persistence now waits
// for calls in flight before closing, and a call after that never reaches the database.
import { afterEach, expect, it } from 'vitest';
import { openLevelPersistence } from '../src/persistence.js';
import { tempDir, useCleanup } from './helpers.js';

useCleanup();

interface WillStore {
  putWill(client: { id: string }, packet: unknown): Promise<void>;
  getWill(client: { id: string }): Promise<{ topic: string } | undefined>;
  delWill(client: { id: string }): Promise<unknown>;
}

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  unhandled.length = 0;
});

it('a handshake step started before close finishes on the open database; one after close fails nothing', async () => {
  process.on('unhandledRejection', onUnhandled);
  const dir = await tempDir('persistence-close');
  const p = await openLevelPersistence(dir);
  const store = p.persistence as WillStore;
  const edge = { id: 'edge-1' };
  await store.putWill(edge, { topic: 'presence/edge-1', payload: Buffer.from('offline'), qos: 1, retain: true });
  // aedes' CONNECT steps: read the session, then delete the old will (its promise is not handled)
  let secondStepRan = false;
  const handshake = store.getWill(edge).then(() => {
    secondStepRan = true;
    store.delWill(edge).finally(() => undefined);
  });
  await p.close();
  await handshake;
  expect(secondStepRan).toBe(true);
  // a client whose handshake reaches the persistence only now, with the database closed
  store.delWill({ id: 'edge-2' }).finally(() => undefined);
  // unhandled rejections are reported after the microtask queue drains: give it macrotask turns
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  expect(unhandled.map((e) => String((e as { code?: string }).code ?? e))).toEqual([]);
  // the will the first step deleted stays deleted: the call ran, on the open database
  const again = await openLevelPersistence(dir);
  expect(await (again.persistence as WillStore).getWill(edge)).toBeUndefined();
  await again.close();
});
