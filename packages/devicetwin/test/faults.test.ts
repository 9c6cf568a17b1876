// Faults: a store write that fails (500 for that request only, neighbours committed) and a flood beyond the
// request queue (dropped with a metric, the twin keeps serving).

import { deviceTopic } from '@edgetwin/api';
import { collectMessages } from '@edgetwin/eventbus/testing';
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { type Harness, kubeedgeSamples, startHarness } from './support/harness.js';

const COUNTER = 'default/counter-instance';
let h: Harness;
afterEach(async () => {
  await h.close();
});

it('a request the store refuses gets 500; requests batched with it are still committed and answered', async () => {
  h = await startHarness();
  await h.twin.loadManifests(await kubeedgeSamples());
  // Another connection makes SQLite refuse one specific row, as a full disk or a corrupt page would.
  const db = new Database(h.dbPath);
  db.exec(
    "CREATE TRIGGER refuse BEFORE INSERT ON twins WHEN NEW.name = 'boom' BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
  );
  db.close();
  const results = await collectMessages(h.app, deviceTopic(COUNTER, 'twin/update/result'));
  for (const [id, prop] of [
    ['a', 'before'],
    ['b', 'boom'],
    ['c', 'after'],
  ])
    void h.app.publish(
      deviceTopic(COUNTER, 'twin/update'),
      JSON.stringify({ event_id: id, twin: { [prop!]: { actual: { value: '1' } } } }),
    );
  await results.waitFor(3);
  const byId = Object.fromEntries(results.messages.map((m) => [(m.json() as { event_id: string }).event_id, m.json()]));
  expect(byId.b).toMatchObject({ code: 500 });
  expect((byId.b as { reason: string }).reason).toMatch(/internal error: disk says no/);
  expect(byId.a).toMatchObject({ twin: { before: { actual: { value: '1' } } } });
  expect(byId.c).toMatchObject({ twin: { after: { actual: { value: '1' } } } });
  const twins = h.twin.getTwin(COUNTER)!.twins;
  expect(Object.keys(twins).sort()).toEqual(['after', 'before', 'count', 'status']);
  expect(h.twin.integrityCheck()).toBe('ok');
});

it('a flood beyond the request queue is refused with 429 and a metric, and the twin keeps serving', async () => {
  h = await startHarness({ twin: { maxQueue: 50 } });
  await h.twin.loadManifests(await kubeedgeSamples());
  for (let i = 0; i < 2000; i++)
    void h.app.publish(
      deviceTopic(COUNTER, 'twin/update'),
      JSON.stringify({ twin: { count: { actual: { value: String(i) } } } }),
      { qos: 0 },
    );
  const res = await h
    .request(
      deviceTopic(COUNTER, 'twin/get'),
      { event_id: 'still-here' },
      deviceTopic(COUNTER, 'twin/get/result'),
      (m) => (m.json() as { event_id: string }).event_id === 'still-here',
    )
    .catch(async () =>
      // the get itself may be dropped while the queue is full: ask again once the flood has passed
      h.request(deviceTopic(COUNTER, 'twin/get'), { event_id: 'still-here' }, deviceTopic(COUNTER, 'twin/get/result')),
    );
  expect(res.event_id).toBe('still-here');
  await h.twin.settled();
  const refusals = await h.twin.metrics.getSingleMetricAsString('edgetwin_twin_limit_refusals_total');
  const n = Number(/limit="queue"} (\d+)/.exec(refusals)?.[1] ?? 0);
  expect(n).toBeGreaterThan(0);
  const handled = await h.twin.metrics.getSingleMetric('edgetwin_twin_messages_handled_total')!.get();
  const updates = handled.values.find((v) => v.labels.action === 'twin/update')?.value ?? 0;
  // every update was either handled or refused (a refused first twin/get adds one to the refusals)
  expect(updates + n).toBeGreaterThanOrEqual(2000);
  expect(updates + n).toBeLessThanOrEqual(2001);
});

it('one device flooding the twin cannot crowd out another: its excess is refused with 429, the other is served', async () => {
  h = await startHarness({ twin: { maxQueuePerDevice: 20 } });
  await h.twin.loadManifests(await kubeedgeSamples());
  const TEMP = 'default/temperature-instance';
  const tempResults = await collectMessages(h.app, deviceTopic(TEMP, 'twin/update/result'));
  const counterResults = await collectMessages(h.app, deviceTopic(COUNTER, 'twin/update/result'));
  for (let i = 0; i < 1000; i++) {
    void h.app.publish(
      deviceTopic(COUNTER, 'twin/update'),
      JSON.stringify({ twin: { count: { actual: { value: String(i) } } } }),
      { qos: 0 },
    );
    if (i % 100 === 0)
      void h.app.publish(
        deviceTopic(TEMP, 'twin/update'),
        JSON.stringify({ event_id: `t${i}`, twin: { temperature: { actual: { value: String(i / 100) } } } }),
        { qos: 0 },
      );
  }
  await tempResults.waitFor(10);
  expect(tempResults.messages.map((m) => (m.json() as { event_id: string; code?: number }).code)).toEqual(
    new Array(10).fill(undefined),
  );
  await h.twin.settled();
  const refusals = await h.twin.metrics.getSingleMetricAsString('edgetwin_twin_limit_refusals_total');
  expect(Number(/limit="device-queue"} (\d+)/.exec(refusals)?.[1] ?? 0)).toBeGreaterThan(0);
  const refused = await counterResults.waitFor((m) => (m.json() as { code?: number }).code === 429);
  expect(
    (refused.find((m) => (m.json() as { code?: number }).code === 429)!.json() as { reason: string }).reason,
  ).toMatch(/requests of this device are waiting, the limit is 20 per device \(maxQueuePerDevice\)/);
});
