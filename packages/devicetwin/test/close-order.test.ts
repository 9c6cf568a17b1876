// Shutdown crash (seen in bench/e2e.ts): "The database connection is not open" thrown from the twin after
// close(). close() waited at most 5 s for queued requests and their replies, then closed SQLite while
// requests were still queued; a reply settling later scheduled the next batch, which ran against the
// closed database and threw from a timer callback (an uncaught exception: the process dies). The twin
// must stop producers, wait for in-flight work (bounded), drop what is left, and only then close.

import { deviceTopic } from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus';
import { collectMessages } from '@edgetwin/eventbus/testing';
import { afterEach, expect, it } from 'vitest';
import { device, model } from './cloud-link-support.js';
import { type Harness, startHarness } from './support/harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close().catch(() => undefined);
  h = undefined;
});

it('closing while requests are queued and replies are stuck never touches the closed database', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    // one reply in flight at a time, acknowledged by the broker (QoS 1): requests wait in the twin's queue
    h = await startHarness({
      twin: { maxInflight: 1, maxInflightPerDevice: 3, publishQos: 1, maxQueuePerDevice: 5000 },
    });
    const loaded = await h.twin.loadManifests([
      model('thermo'),
      { ...device('flooded'), spec: { ...device('flooded').spec, nodeName: '' } },
    ]);
    expect(loaded.errors).toEqual([]);
    const replies = await collectMessages(h.app, deviceTopic('default/flooded', 'twin/update/result'));
    const flooder = await connectBus({ url: h.broker.url, clientId: 'close-order-flooder' });
    const FLOOD = 900;
    for (let i = 0; i < FLOOD; i++)
      void flooder
        .publish(
          deviceTopic('default/flooded', 'twin/update'),
          JSON.stringify({ event_id: `f${i}`, twin: { temp: { actual: { value: String(i) } } } }),
          { qos: 0 },
        )
        .catch(() => undefined);
    // the twin is working through the flood, one request per reply round trip
    await replies.waitFor(1, 30_000);
    expect(replies.messages.length).toBeLessThan(FLOOD);
    // the broker goes away: the twin's replies in flight are never acknowledged, so close() gives up waiting
    await h.broker.close();
    await h.twin.close();
    await flooder.close();
    // the twin's bus client ends: its pending publishes settle now, after the database is closed
    await h.twinBus.close();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(uncaught.map((e) => (e as Error).message)).toEqual([]);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
}, 60_000);
