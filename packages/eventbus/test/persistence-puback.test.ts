// A clean client's PUBACK is not looked up in LevelDB (issue 15 target 5: the miss cost 9% of the CPU of
// bench/e2e.ts); a persistent session's still clears its stored delivery, which a reconnect would otherwise
// deliver again.
import { describe, expect, it } from 'vitest';
import { skipCleanPubackLookups } from '../src/persistence.js';
import { collectMessages } from '../src/testing.js';
import { broker, client, tempDir, useCleanup } from './helpers.js';

useCleanup();

describe('PUBACK lookups on a durable broker', () => {
  it('answers a clean client PUBACK without the store, and passes everything else on', async () => {
    const calls: string[] = [];
    const store: Record<string, unknown> = {
      outgoingClearMessageId: async (c: { id: string }, p: { cmd: string }) => {
        calls.push(`${c.id} ${p.cmd}`);
        return { stored: true };
      },
    };
    skipCleanPubackLookups(store);
    const clear = store.outgoingClearMessageId as (c: unknown, p: unknown) => Promise<unknown>;
    expect(await clear({ id: 'twin', clean: true }, { cmd: 'puback', messageId: 1 })).toBeUndefined();
    expect(await clear({ id: 'edge', clean: false }, { cmd: 'puback', messageId: 1 })).toEqual({ stored: true });
    // aedes' emptyQueue clears an old session's queue for a client now clean: a stored packet, not a PUBACK
    expect(await clear({ id: 'was-persistent', clean: true }, { cmd: 'publish', messageId: 2 })).toEqual({
      stored: true,
    });
    expect(calls).toEqual(['edge puback', 'was-persistent publish']);
  });

  it('a persistent session acknowledged a QoS 1 message: it is not delivered again after a reconnect', async () => {
    const b = await broker({ persistenceDir: await tempDir('puback') });
    const opts = { clientId: 'persistent-sub', clean: false } as const;
    const first = await client(b.url, opts);
    const got = await collectMessages(first, 'p/+');
    const clean = await client(b.url);
    const cleanGot = await collectMessages(clean, 'p/+');
    const pub = await client(b.url);
    await pub.publish('p/1', 'one', { qos: 1 });
    await got.waitFor(1, 5000);
    await cleanGot.waitFor(1, 5000);
    await first.close();
    await pub.publish('p/2', 'two', { qos: 1 });
    const again = await client(b.url, opts);
    const regot = await collectMessages(again, 'p/+');
    await regot.waitFor(1, 5000);
    await pub.publish('p/3', 'three', { qos: 1 });
    await regot.waitFor(2, 5000);
    expect(regot.messages.map((m) => m.topic)).toEqual(['p/2', 'p/3']);
  });
});
