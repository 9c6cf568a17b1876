// Issue 9 §3: what one device may hold in the twin is bounded (properties its model does not declare,
// bytes of a value, bytes of the whole twin), past a bound the update gets 413 naming the limit, and the
// rest of that device and every other device keep working. Names such as `__proto__` are plain names.

import { type Device, deviceTopic } from '@edgetwin/api';
import { afterEach, describe, expect, it } from 'vitest';
import { type DeviceTwinOptions, openDeviceTwin } from '../src/index.js';
import { device, model } from './cloud-link-support.js';
import { type Harness, NODE, startHarness } from './support/harness.js';

const A = 'default/flooded';
const B = 'default/neighbour';

let h: Harness;
afterEach(async () => {
  await h?.close();
});

async function start(twin: Partial<DeviceTwinOptions> = {}): Promise<void> {
  h = await startHarness({ twin });
  const loaded = await h.twin.loadManifests([
    model('thermo'),
    onThisNode(device('flooded')),
    onThisNode(device('neighbour')),
  ]);
  expect(loaded.errors).toEqual([]);
}

/** The shared test device, bound to whichever node loads it. */
function onThisNode(d: Device): Device {
  return { ...d, spec: { ...d.spec, nodeName: '' } };
}

const update = (id: string, body: unknown) =>
  h.request(deviceTopic(id, 'twin/update'), body, deviceTopic(id, 'twin/update/result'));
const get = (id: string) =>
  h.request(deviceTopic(id, 'twin/get'), { event_id: 'g' }, deviceTopic(id, 'twin/get/result'));

/** `count` new string properties named prefix0..prefixN with `value` as reported value. */
function newProps(prefix: string, count: number, value = 'x'): Record<string, unknown> {
  const twin: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) twin[`${prefix}${i}`] = { actual: { value } };
  return twin;
}

async function refusals(limit: string): Promise<number> {
  const m = await h.twin.metrics.getSingleMetric('edgetwin_twin_limit_refusals_total')?.get();
  return m?.values.find((v) => v.labels.limit === limit)?.value ?? 0;
}

describe('properties a model does not declare', () => {
  it('refuses an update adding 5,000 of them with 413 naming the limit; the device and its neighbour keep working', async () => {
    await start();
    const res = await update(A, { event_id: 'flood', twin: newProps('p', 5000) });
    expect(res).toMatchObject({ event_id: 'flood', code: 413 });
    expect(res.reason).toMatch(/adds 5000 properties .* the limit is 64 per device \(maxExtraProperties\)/);
    expect(Object.keys(h.twin.getTwin(A)!.twins)).toEqual(['temp']);
    expect(await refusals('extra-properties')).toBe(1);

    // Up to the limit is fine, in any number of updates; one more is refused.
    expect((await update(A, { twin: newProps('a', 40) })).code).toBeUndefined();
    expect((await update(A, { twin: newProps('b', 24) })).code).toBeUndefined();
    const over = await update(A, { event_id: 'one-more', twin: newProps('c', 1) });
    expect(over).toMatchObject({ event_id: 'one-more', code: 413 });
    expect(over.reason).toMatch(/adds 1 properties .* to the 64 it holds/);

    // The device's model property and its existing extra properties still update; the neighbour is untouched.
    expect(
      (await update(A, { twin: { temp: { actual: { value: '21' } }, a0: { actual: { value: 'y' } } } })).code,
    ).toBeUndefined();
    expect(h.twin.getTwin(A)!.twins.temp!.actual!.value).toBe('21');
    expect((await update(B, { twin: newProps('n', 64) })).code).toBeUndefined();
    expect(Object.keys((await get(B)).twin as object)).toHaveLength(65);

    // Deleting one makes room for another.
    expect((await update(A, { twin: { a0: null } })).code).toBeUndefined();
    expect((await update(A, { twin: newProps('c', 1) })).code).toBeUndefined();
  });

  it('takes its limit from the maxExtraProperties option', async () => {
    await start({ limits: { maxExtraProperties: 2 } });
    expect((await update(A, { twin: newProps('p', 2) })).code).toBeUndefined();
    const res = await update(A, { twin: newProps('q', 1) });
    expect(res.code).toBe(413);
    expect(res.reason).toMatch(/the limit is 2 per device/);
  });

  it('keeps extra properties stored before a lower limit, and refuses only new ones', async () => {
    await start();
    expect((await update(A, { twin: newProps('p', 10) })).code).toBeUndefined();
    await h.twin.close();
    h.twin = await openDeviceTwin({ dbPath: h.dbPath, node: NODE, bus: h.twinBus, limits: { maxExtraProperties: 5 } });
    expect(Object.keys(h.twin.getTwin(A)!.twins)).toHaveLength(11);
    expect((await update(A, { twin: { p3: { actual: { value: 'changed' } } } })).code).toBeUndefined();
    expect((await update(A, { twin: newProps('q', 1) })).code).toBe(413);
  });
});

describe('value and twin size', () => {
  it('refuses a value over maxValueBytes with 413 naming the limit', async () => {
    await start({ limits: { maxValueBytes: 1000 } });
    const res = await update(A, { event_id: 'big', twin: { note: { actual: { value: 'v'.repeat(1001) } } } });
    expect(res).toMatchObject({ event_id: 'big', code: 413 });
    expect(res.reason).toMatch(
      /note actual: the value is 1001 bytes; the limit is 1000 bytes per value \(maxValueBytes\)/,
    );
    expect((await update(A, { twin: { note: { actual: { value: 'v'.repeat(1000) } } } })).code).toBeUndefined();
    expect(await refusals('value-bytes')).toBe(1);
  });

  it('refuses growing a twin past maxTwinBytes, allows shrinking it, and twin/get stays under the limit', async () => {
    await start({ limits: { maxTwinBytes: 8192 } });
    let refused: Record<string, unknown> | undefined;
    for (let i = 0; i < 20 && !refused; i++) {
      const res = await update(A, {
        event_id: `u${i}`,
        twin: { [`blob${i}`]: { actual: { value: 'z'.repeat(1000) } } },
      });
      if (res.code) refused = res;
    }
    expect(refused).toMatchObject({ code: 413 });
    expect(refused!.reason).toMatch(
      /would grow its twin from \d+ to \d+ bytes; the limit is 8192 bytes per device \(maxTwinBytes\)/,
    );
    const answer = JSON.stringify((await get(A)).twin);
    expect(Buffer.byteLength(answer)).toBeLessThanOrEqual(8192);
    expect(await refusals('twin-bytes')).toBe(1);

    // A smaller value and a deletion shrink it; the neighbour never noticed.
    expect((await update(A, { twin: { blob0: { actual: { value: 'small' } } } })).code).toBeUndefined();
    expect((await update(A, { twin: { blob1: null } })).code).toBeUndefined();
    expect((await update(B, { twin: { temp: { actual: { value: '30' } } } })).code).toBeUndefined();
  });
});

describe('names that are special to JavaScript objects', () => {
  it('stores __proto__, constructor, toString and hasOwnProperty as plain twins and answers them', async () => {
    await start();
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
    // Written as text: an object literal with a __proto__ key would set a prototype instead.
    const body = `{"event_id":"proto","twin":{${names.map((n) => `"${n}":{"actual":{"value":"v-${n}"},"metadata":{"type":"string"}}`).join(',')}}}`;
    const res = await update(A, body);
    expect(res.code).toBeUndefined();
    for (const n of names) expect(Object.hasOwn(res.twin as object, n)).toBe(true);

    const got = (await get(A)).twin as Record<string, { actual: { value: string } }>;
    for (const n of names) {
      expect(Object.hasOwn(got, n)).toBe(true);
      expect(got[n]!.actual.value).toBe(`v-${n}`);
    }
    const view = h.twin.getTwin(A)!;
    for (const n of names) expect(Object.hasOwn(view.twins, n) && view.twins[n]!.actual!.value).toBe(`v-${n}`);

    // Desired values under those names reach the delta as names too.
    const delta = await update(A, `{"twin":{"__proto__":{"expected":{"value":"want"}}}}`);
    expect(delta.code).toBeUndefined();
    expect(Object.hasOwn(h.twin.getTwin(A)!.delta, '__proto__')).toBe(true);
  });
});
