import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { armNextMessage, startTcpProxy, waitUntil } from '../src/testing.js';
import { broker, client, nextEvent, onCleanup, useCleanup } from './helpers.js';

useCleanup();

async function metricValue(registry: Registry, name: string): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  return metric?.values.reduce((sum, v) => sum + v.value, 0) ?? Number.NaN;
}

describe('broker metrics', () => {
  it('counts connected clients and messages in and out', async () => {
    const registry = new Registry();
    const b = await broker({ registry });
    const sub = await client(b.url);
    const pub = await client(b.url);
    expect(await metricValue(registry, 'edgetwin_eventbus_broker_connected_clients')).toBe(2);
    const { message } = await armNextMessage(sub, 'm/+', { timeoutMs: 3000 });
    await pub.publish('m/1', 'x');
    await message;
    // aedes emits its publish event after delivering, so the counters may trail the message a little
    const counted = async () =>
      (await metricValue(registry, 'edgetwin_eventbus_broker_messages_in_total')) === 1 &&
      (await metricValue(registry, 'edgetwin_eventbus_broker_messages_out_total')) === 1;
    await waitUntil(counted, 'one message in and one out');
    await pub.close();
    await waitUntil(
      async () => (await metricValue(registry, 'edgetwin_eventbus_broker_connected_clients')) === 1,
      'client count to drop',
    );
    const text = await registry.metrics();
    expect(text).toContain('# HELP edgetwin_eventbus_broker_messages_in_total');
  });

  it('lets two brokers share one registry without a duplicate-metric error', async () => {
    const registry = new Registry();
    const a = await broker({ registry });
    const b = await broker({ registry });
    await client(a.url);
    await client(b.url);
    expect(await metricValue(registry, 'edgetwin_eventbus_broker_connected_clients')).toBe(2);
  });
});

describe('last will', () => {
  it('publishes the will when the connection is cut, and not on a clean close', async () => {
    const b = await broker();
    const proxy = await startTcpProxy(b.port);
    onCleanup(() => proxy.close());
    const watcher = await client(b.url);
    const will = { topic: 'presence/node-1', payload: 'offline', qos: 1 as const, retain: false };

    const polite = await client(proxy.url, { clientId: 'polite', will });
    const { message: noWill } = await armNextMessage(watcher, 'presence/+', { timeoutMs: 300 });
    await polite.close();
    await expect(noWill).rejects.toThrow(/no message matching 'presence\/\+'/);

    const node = await client(proxy.url, { clientId: 'node-1', will, backoffMs: 5000 });
    const { message } = await armNextMessage(watcher, 'presence/+', { timeoutMs: 3000 });
    const down = nextEvent<Error | undefined>((l) => node.onDisconnect(l), 'disconnect');
    proxy.cutConnections();
    expect((await message).payload.toString()).toBe('offline');
    await down;
  });
});
