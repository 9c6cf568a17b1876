// Node presence that does not rest on wills (issue 14, docs/cloud-link.md#presence): a node silent for the
// presence timeout is marked offline, heartbeats repeating the presence are not changes, a retained copy
// handed over on resubscribing is not news of the node, and nothing expires while the controller itself is cut
// off from the broker. A hand-driven clock; the end-to-end proof on a real cluster is cloud-link-nats.test.ts.

import { cloudTopics } from '@edgetwin/api';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { CloudLinkMetrics } from '../src/cloud-link/link-metrics.js';
import { PresenceWatch } from '../src/cloud-link/presence-watch.js';
import { FakeStatus } from './cloud-link-support.js';

let now = 1_000_000;
const watches: PresenceWatch[] = [];
afterEach(() => {
  for (const w of watches.splice(0)) w.stop();
});

function watch(timeoutMs = 10_000) {
  const status = new FakeStatus();
  const metrics = new CloudLinkMetrics();
  const w = new PresenceWatch(status, timeoutMs, pino({ level: 'silent' }), metrics, () => now);
  watches.push(w);
  // the periodic check, run by hand at the clock's time
  const check = () => (w as unknown as { expire(): void }).expire();
  const say = (node: string, p: string, retained = false) =>
    w.onMessage(cloudTopics.presence(node), Buffer.from(p), retained);
  const seen = () => status.presence.map((p) => `${p.node}:${p.presence}`);
  return { w, check, say, seen, metrics };
}

it('marks a node offline once nothing was heard from it for the timeout, and online again when it speaks', async () => {
  const { check, say, seen, metrics } = watch();
  say('gw-1', 'online');
  now += 9_000;
  say('gw-1', 'online'); // a heartbeat: not a change
  now += 9_000;
  check();
  expect(seen()).toEqual(['gw-1:online']);
  now += 1_001;
  check();
  expect(seen()).toEqual(['gw-1:online', 'gw-1:offline']);
  expect((await metrics.presenceTimeouts.get()).values[0]?.value).toBe(1);
  now += 60_000;
  check();
  say('gw-1', 'online');
  expect(seen()).toEqual(['gw-1:online', 'gw-1:offline', 'gw-1:online']);
});

it('counts a report batch as hearing from the node', () => {
  const { w, check, say, seen } = watch();
  say('gw-1', 'online');
  now += 8_000;
  w.heard('gw-1');
  now += 8_000;
  check();
  expect(seen()).toEqual(['gw-1:online']);
});

it('takes a retained copy for no news: a node that died keeps its retained online, and still goes offline', () => {
  const { check, say, seen } = watch();
  say('gw-1', 'online');
  for (let i = 0; i < 4; i++) {
    now += 4_000;
    say('gw-1', 'online', true); // the controller resubscribed (a reconnect) and got the retained copy
  }
  check();
  expect(seen()).toEqual(['gw-1:online', 'gw-1:offline']);
});

it('lets nothing expire while the controller is cut off, and gives every node a fresh timeout when it is back', () => {
  const { w, check, say, seen } = watch();
  say('gw-1', 'online');
  w.setConnected(false);
  now += 60_000;
  check();
  expect(seen()).toEqual(['gw-1:online']);
  w.setConnected(true);
  now += 9_000;
  check();
  expect(seen()).toEqual(['gw-1:online']);
  now += 2_000;
  check();
  expect(seen()).toEqual(['gw-1:online', 'gw-1:offline']);
});

it('keeps an offline node offline without counting it again, and ignores what is not a presence', () => {
  const { check, say, seen, metrics } = watch();
  say('gw-1', 'offline');
  say('gw-2', 'sleeping');
  now += 60_000;
  check();
  expect(seen()).toEqual(['gw-1:offline']);
  return metrics.presenceTimeouts.get().then((m) => expect(m.values[0]?.value ?? 0).toBe(0));
});
