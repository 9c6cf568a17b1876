import { afterEach, describe, expect, it } from 'vitest';
import { type BusClient, connectBus, type EmbeddedBroker } from '../src/index.js';
import { armNextMessage, collectMessages, startTestBroker } from '../src/testing.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function broker(): Promise<EmbeddedBroker> {
  const b = await startTestBroker();
  cleanups.push(() => b.close());
  return b;
}
async function client(url: string, extra: Partial<Parameters<typeof connectBus>[0]> = {}): Promise<BusClient> {
  const c = await connectBus({ url, connectTimeoutMs: 3000, ...extra });
  cleanups.push(() => c.close());
  return c;
}

describe('embedded broker pub/sub', () => {
  it('delivers a QoS 1 message to a subscriber and resolves publish on PUBACK', async () => {
    const b = await broker();
    const sub = await client(b.url);
    const pub = await client(b.url);
    const { message: next } = await armNextMessage(sub, 'edgetwin/v1/+/state', { timeoutMs: 3000 });
    await expect(pub.publish('edgetwin/v1/dev1/state', JSON.stringify({ on: true }))).resolves.toBeUndefined();
    const m = await next;
    expect(m.topic).toBe('edgetwin/v1/dev1/state');
    expect(m.json()).toEqual({ on: true });
  });

  it('delivers $hw twin updates to a $hw/events/device/+/+/twin/update subscriber but not to #', async () => {
    const b = await broker();
    const edgeApp = await client(b.url);
    const mapper = await client(b.url);
    const everything = await collectMessages(edgeApp, '#');
    const twin = await collectMessages(edgeApp, '$hw/events/device/+/+/twin/update');
    await mapper.publish('$hw/events/device/default/led-1/twin/update', '{"twin":{}}');
    await mapper.publish('plain/topic', 'x');
    await twin.waitFor(1, 3000);
    await everything.waitFor(1, 3000);
    expect(twin.messages.map((m) => m.topic)).toEqual(['$hw/events/device/default/led-1/twin/update']);
    expect(everything.messages.map((m) => m.topic)).toEqual(['plain/topic']);
  });
});
