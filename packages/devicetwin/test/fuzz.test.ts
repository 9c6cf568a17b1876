// 10,000 generated bad payloads on every topic the twin listens to: each is answered with an error on its
// /result topic or dropped with a metric; afterwards the twin still answers and the database is intact.

import { deviceTopic, membershipGetTopic, writeStatusTopic } from '@edgetwin/api';
import fc from 'fast-check';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type Harness, kubeedgeSamples, NODE, startHarness } from './support/harness.js';

const TEMP = 'default/temperature-instance';
const COUNTER = 'default/counter-instance';
const RUNS = 10_000;

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
  await h.twin.loadManifests(await kubeedgeSamples());
});
afterEach(async () => {
  await h.close();
});

const requestTopics = [
  deviceTopic(TEMP, 'twin/update'),
  deviceTopic(TEMP, 'twin/get'),
  deviceTopic(TEMP, 'state/update'),
  deviceTopic('default/ghost', 'twin/update'),
  membershipGetTopic(NODE),
  writeStatusTopic(TEMP),
];
const badTopics = ['$hw/events/device/default/x/y/twin/update', '$hw/events/device/temperature-instance/state/update'];

const value = fc.oneof(
  fc.string(),
  fc.double().map(String),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.object(),
);
const twinEntry = fc.oneof(
  fc.record({ actual: fc.record({ value }, { requiredKeys: [] }) }, { requiredKeys: [] }),
  fc.record({ expected: fc.record({ value }), expected_version: fc.anything() }, { requiredKeys: [] }),
  fc.record({ actual: fc.anything(), metadata: fc.anything(), optional: fc.anything() }, { requiredKeys: [] }),
  fc.anything(),
);
const propName = fc.oneof(fc.constantFrom('temperature', 'temperature-switch', '', 'x'.repeat(200)), fc.string());
const payload = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record(
        { event_id: fc.anything(), timestamp: fc.anything(), twin: fc.dictionary(propName, twinEntry) },
        { requiredKeys: ['twin'] },
      )
      .map((o) => JSON.stringify(o)),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ event_id: fc.string(), state: fc.oneof(fc.string(), fc.anything()) })
      .map((o) => JSON.stringify(o)),
  },
  { weight: 2, arbitrary: fc.json() },
  { weight: 2, arbitrary: fc.string({ unit: 'binary' }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.json().map((j) => j.slice(0, Math.max(0, j.length - 1))) },
  {
    weight: 1,
    arbitrary: fc
      .record({ property: fc.anything(), desired: fc.anything(), state: fc.anything() })
      .map((o) => JSON.stringify(o)),
  },
);
const oversized = JSON.stringify({ twin: { temperature: { actual: { value: 'x'.repeat(300 * 1024) } } } });

async function counter(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await h.twin.metrics.getSingleMetric(name)?.get())!;
  return m.values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((s, v) => s + v.value, 0);
}

it(`survives ${RUNS} generated bad payloads: every one answered or dropped, twin serving, database intact`, async () => {
  const kept = await h.request(
    deviceTopic(COUNTER, 'twin/update'),
    { twin: { count: { actual: { value: '7' } } } },
    deviceTopic(COUNTER, 'twin/update/result'),
  );
  expect(kept.code).toBeUndefined();
  const cases = fc.sample(fc.tuple(fc.constantFrom(...requestTopics, ...badTopics), payload), {
    numRuns: RUNS,
    seed: 4166,
  });
  cases.push([deviceTopic(TEMP, 'twin/update'), oversized], [deviceTopic(TEMP, 'state/update'), oversized]);
  const before =
    (await counter('edgetwin_twin_messages_handled_total')) + (await counter('edgetwin_twin_messages_rejected_total'));
  for (let i = 0; i < cases.length; i++) {
    const [topic, body] = cases[i]!;
    void h.app.publish(topic, body, { qos: 0 });
    if (i % 200 === 199) await new Promise((r) => setImmediate(r));
  }
  // a request after the flood: answered, so the flood before it was consumed in order
  const got = await h.request(
    deviceTopic(COUNTER, 'twin/get'),
    { event_id: 'after-fuzz' },
    deviceTopic(COUNTER, 'twin/get/result'),
    (m) => (m.json() as { event_id: string }).event_id === 'after-fuzz',
  );
  expect(got.twin).toMatchObject({ count: { actual: { value: '7' } } });
  await h.twin.settled();

  const handled =
    (await counter('edgetwin_twin_messages_handled_total')) +
    (await counter('edgetwin_twin_messages_rejected_total')) -
    before -
    1;
  // dropped without a reply: misshapen topics, and (if the machine is slow) requests beyond the queue limits
  const dropped =
    (await counter('edgetwin_twin_messages_dropped_total', { reason: 'bad-topic' })) +
    (await counter('edgetwin_twin_messages_dropped_total', { reason: 'device-flood' })) +
    (await counter('edgetwin_twin_messages_dropped_total', { reason: 'overload' }));
  expect(handled + dropped).toBe(cases.length);
  expect(await counter('edgetwin_twin_messages_rejected_total', { code: '400' })).toBeGreaterThan(RUNS / 2);
  expect(await counter('edgetwin_twin_messages_rejected_total', { code: '404' })).toBeGreaterThan(0);
  expect(await counter('edgetwin_twin_messages_rejected_total', { code: '500' })).toBe(0);
  expect(h.twin.integrityCheck()).toBe('ok');
  // the untouched device kept its value, the targeted one still answers
  expect(h.twin.getTwin(COUNTER)!.twins.count!.actual!.value).toBe('7');
  const temp = await h.request(
    deviceTopic(TEMP, 'twin/get'),
    { event_id: 't' },
    deviceTopic(TEMP, 'twin/get/result'),
    (m) => (m.json() as { event_id: string }).event_id === 't',
  );
  expect(temp.twin).toHaveProperty('temperature');
}, 60_000);
