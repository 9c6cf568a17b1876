// Subscribe and unsubscribe calls on one filter, in any interleaving, end in the state of the last call.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { BusClient } from '../src/contracts.js';
import { armNextMessage, collectMessages, type MessageCollector, startTestBroker, waitUntil } from '../src/testing.js';
import { broker, client, nextEvent, onCleanup, tempDir, useCleanup } from './helpers.js';

useCleanup();

async function forwarded(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric('edgetwin_eventbus_broker_messages_out_total')?.get();
  return metric?.values[0]?.value ?? 0;
}

/**
 * Whether the broker still forwards `topic` to the client that `markers` listens on (handlers aside),
 * judged by its forward counter.
 */
async function brokerForwards(registry: Registry, pub: BusClient, markers: MessageCollector, topic: string) {
  const before = await forwarded(registry);
  const seen = markers.messages.length;
  await pub.publish(topic, 'probe');
  // same publisher, same subscriber: the broker forwards in publish order, so the probe went out first
  await pub.publish('marker', 'm');
  await markers.waitFor(seen + 1, 3000);
  return (await forwarded(registry)) - before > 1;
}

describe('subscribe / unsubscribe of one filter', () => {
  // aedes handles the packets of one read concurrently: the UNSUBSCRIBE of the first waiter, still in
  // progress, removed the subscription the second waiter's SUBSCRIBE had just been acknowledged for.
  for (const durable of [false, true]) {
    it(`receives with two waiters in a row on one filter (durable session: ${durable})`, async () => {
      const b = await broker(durable ? { persistenceDir: await tempDir('resub') } : {});
      const pub = await client(b.url);
      const sub = await client(b.url, durable ? { clientId: 'resub', clean: false } : {});
      for (let i = 0; i < 10; i++) {
        const first = await armNextMessage(sub, 'r/x', { timeoutMs: 3000 });
        await pub.publish('r/x', `first ${i}`);
        expect((await first.message).payload.toString()).toBe(`first ${i}`);
        // first.message resolving started its unsubscribe, which is still on its way
        const second = await armNextMessage(sub, 'r/x', { timeoutMs: 3000 });
        await pub.publish('r/x', `second ${i}`);
        expect((await second.message).payload.toString()).toBe(`second ${i}`);
      }
    });
  }

  it('ends subscribed when a subscribe follows an unsubscribe without waiting for it', async () => {
    const registry = new Registry();
    const b = await broker({ registry });
    const pub = await client(b.url);
    const sub = await client(b.url);
    const markers = await collectMessages(sub, 'marker');
    const got: string[] = [];
    const stopA = await sub.subscribe('r/y', () => got.push('a'));
    const unsubscribed = stopA();
    const stopB = sub.subscribe('r/y', () => got.push('b'));
    await Promise.all([unsubscribed, stopB]);
    expect(await brokerForwards(registry, pub, markers, 'r/y')).toBe(true);
    await (await stopB)();
    expect(await brokerForwards(registry, pub, markers, 'r/y')).toBe(false);
    expect(got).toEqual(['b']);
  });

  it('ends unsubscribed when the last of several overlapping calls is an unsubscribe', async () => {
    const registry = new Registry();
    const b = await broker({ registry });
    const pub = await client(b.url);
    const sub = await client(b.url);
    const markers = await collectMessages(sub, 'marker');
    const stops = [await sub.subscribe('r/z', () => {})];
    for (let i = 0; i < 5; i++) {
      const stopping = stops.pop()!();
      stops.push(await sub.subscribe('r/z', () => {}));
      await stopping;
    }
    await stops.pop()!();
    expect(await brokerForwards(registry, pub, markers, 'r/z')).toBe(false);
  });

  it('drops, once back, a filter unsubscribed while the broker was away (the kept session still had it)', async () => {
    const dir = await tempDir('offline-unsub');
    const registry = new Registry();
    let b = await startTestBroker({ persistenceDir: dir, registry });
    const port = b.port;
    onCleanup(() => b.close());
    const c = await client(b.url, { clientId: 'offline-unsub', clean: false });
    const markers = await collectMessages(c, 'marker');
    const stop = await c.subscribe('gone/+', () => {});
    const down = nextEvent<Error | undefined>((l) => c.onDisconnect(l), 'disconnect');
    await b.close();
    await down;
    await stop();
    const up = nextEvent<boolean>((l) => c.onConnect(l), 'reconnect');
    b = await startTestBroker({ port, persistenceDir: dir, registry });
    expect(await up).toBe(true);
    const pub = await client(b.url);
    await waitUntil(
      async () => !(await brokerForwards(registry, pub, markers, 'gone/x')),
      'the broker to drop gone/+',
      3000,
    );
  });
});
