import { describe, expect, it } from 'vitest';
import { BusError } from '../src/index.js';
import { armNextMessage, collectMessages, nextMessage, startTestBroker } from '../src/testing.js';
import { broker, client, useCleanup } from './helpers.js';

useCleanup();

describe('embedded broker pub/sub', () => {
  it('delivers a QoS 1 message to a subscriber and resolves publish on PUBACK', async () => {
    const b = await broker();
    const sub = await client(b.url);
    const pub = await client(b.url);
    const { message } = await armNextMessage(sub, 'edgetwin/v1/+/state', { timeoutMs: 3000 });
    await expect(pub.publish('edgetwin/v1/dev1/state', JSON.stringify({ on: true }))).resolves.toBeUndefined();
    const m = await message;
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
    await mapper.publish('$hw/events/device/default/led-1/twin/update/result', '{}');
    await mapper.publish('plain/topic', 'x');
    await twin.waitFor(1, 3000);
    await everything.waitFor(1, 3000);
    expect(twin.messages.map((m) => m.topic)).toEqual(['$hw/events/device/default/led-1/twin/update']);
    expect(everything.messages.map((m) => m.topic)).toEqual(['plain/topic']);
  });

  it('routes each message only to the handlers whose filter matches', async () => {
    const b = await broker();
    const c = await client(b.url);
    const a = await collectMessages(c, 'site/a/+');
    const all = await collectMessages(c, 'site/#');
    await c.publish('site/a/1', '1');
    await c.publish('site/b/1', '2');
    await all.waitFor(2, 3000);
    await c.publish('site/a/2', '3');
    await a.waitFor(2, 3000);
    expect(a.messages.map((m) => m.topic)).toEqual(['site/a/1', 'site/a/2']);
    expect(all.messages.map((m) => m.topic)).toContain('site/b/1');
  });

  it('stops delivering to a handler after its unsubscribe function ran, keeping the other handlers', async () => {
    const b = await broker();
    const c = await client(b.url);
    const first: string[] = [];
    const stopFirst = await c.subscribe('t/x', (_t, p) => first.push(p.toString()));
    const second = await collectMessages(c, 't/x');
    await c.publish('t/x', 'one');
    await second.waitFor(1, 3000);
    await stopFirst();
    await c.publish('t/x', 'two');
    await second.waitFor(2, 3000);
    expect(first).toEqual(['one']);
  });

  it('resolves every concurrent subscribe to one filter only after the broker acknowledged it', async () => {
    const b = await broker();
    const c = await client(b.url);
    const pub = await client(b.url);
    const got: string[] = [];
    const first = c.subscribe('same/filter', (_t, p) => got.push(`a:${p}`));
    // not awaiting the first: the second must still not resolve before the broker has the subscription
    await c.subscribe('same/filter', (_t, p) => got.push(`b:${p}`));
    const done = collectMessages(c, 'same/filter');
    await pub.publish('same/filter', '1');
    await (await done).waitFor(1, 3000);
    await first;
    expect(got.sort()).toEqual(['a:1', 'b:1']);
  });

  it('gives retained messages to late subscribers, flagged as retained', async () => {
    const b = await broker();
    const c = await client(b.url);
    await c.publish('state/led', 'on', { retain: true });
    const late = await client(b.url);
    const m = await nextMessage(late, 'state/+', { timeoutMs: 3000 });
    expect(m.payload.toString()).toBe('on');
    expect(m.retain).toBe(true);
  });

  it('keeps delivering to other handlers when one handler throws', async () => {
    const b = await broker();
    const c = await client(b.url);
    await c.subscribe('boom', () => {
      throw new Error('handler bug');
    });
    const ok = await collectMessages(c, 'boom');
    await c.publish('boom', '1');
    await c.publish('boom', '2');
    await ok.waitFor(2, 3000);
  });

  it('rejects invalid topics and filters with a BusError naming them', async () => {
    const b = await broker();
    const c = await client(b.url);
    await expect(c.publish('a/+/b', 'x')).rejects.toThrow(/cannot publish on 'a\/\+\/b': wildcards/);
    await expect(c.publish('', 'x')).rejects.toBeInstanceOf(BusError);
    await expect(c.subscribe('a/#/b', () => {})).rejects.toThrow(/cannot subscribe to 'a\/#\/b'.*last one/);
    await expect(c.subscribe('a/b+', () => {})).rejects.toThrow(/'\+' must be a whole level/);
  });

  it('names the filter when nextMessage times out', async () => {
    const b = await broker();
    const c = await client(b.url);
    await expect(nextMessage(c, 'never/+', { timeoutMs: 100 })).rejects.toThrow(
      "no message matching 'never/+' within 100 ms",
    );
  });

  it('explains a port that is already taken', async () => {
    const b = await broker();
    await expect(startTestBroker({ port: b.port })).rejects.toThrow(
      `cannot start MQTT broker on 127.0.0.1:${b.port}: the port is in use`,
    );
  });
});
