// The cloud link's client given the members of a broker cluster (issue 14): each client starts at the member
// its client id picks, so clients given one list spread; it moves on to the next member when its member is
// lost; a URL that is not a broker URL is refused, naming it. Real aedes brokers on loopback.

import { expect, it } from 'vitest';
import pino from 'pino';
import { firstMember, memberOrder, openLinkClient } from '../src/link-client.js';
import { startTestBroker, waitUntil } from '../src/testing.js';

it('starts each client at the member its client id picks, so a fleet spreads over the members', () => {
  const urls = ['mqtt://a:1', 'mqtt://b:2', 'mqtt://c:3'];
  const firsts = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const order = memberOrder(urls, `edgetwin-edge-gw-${i}`);
    expect([...order].sort()).toEqual([...urls].sort());
    expect(order[0]).toBe(urls[firstMember(`edgetwin-edge-gw-${i}`, 3)]);
    // the others follow in list order, round the list
    const at = urls.indexOf(order[0]!);
    expect(order).toEqual([...urls.slice(at), ...urls.slice(0, at)]);
    firsts.add(order[0]!);
  }
  expect(firsts.size).toBe(3);
  expect(memberOrder('mqtt://only:1', 'x')).toEqual(['mqtt://only:1']);
});

it('refuses what is not a broker URL, naming it', () => {
  expect(() => memberOrder(['mqtt://a:1', 'http://b:2'], 'x')).toThrow('"http://b:2" is not a broker URL');
  expect(() => memberOrder(['not a url'], 'x')).toThrow('"not a url" is not a broker URL');
  expect(() => memberOrder([], 'x')).toThrow('no broker URL');
});

it('moves to the next member when its member is lost, and resubscribes there', async () => {
  const brokers = [await startTestBroker(), await startTestBroker()];
  const client = openLinkClient({
    url: brokers.map((b) => b.url),
    clientId: 'edgetwin-edge-mover',
    clean: false,
    logger: pino({ level: 'silent' }),
  });
  try {
    const got: string[] = [];
    await waitUntil(() => client.connected, 'connected to a member', 5000);
    await client.subscribe('t/#', (topic) => got.push(topic));
    const first = brokers.findIndex((b) => b.url === client.url);
    expect(first).toBe(firstMember('edgetwin-edge-mover', 2));
    await brokers[first]!.close();
    const other = brokers[1 - first]!;
    await waitUntil(() => client.connected && client.url === other.url, 'on the other member', 5000);
    await client.publish('t/x', 'hello', { qos: 1, retain: false });
    await waitUntil(() => got.includes('t/x'), 'its subscription on the new member', 5000);
  } finally {
    await client.close();
    for (const b of brokers) await b.close().catch(() => undefined);
  }
});
