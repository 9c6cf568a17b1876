// The KubeEdge edge MQTT API, end to end through a real broker: every topic and every error code.

import { deviceTopic, MAX_PAYLOAD_BYTES, membershipGetResultTopic, membershipGetTopic } from '@edgetwin/api';
import { collectMessages } from '@edgetwin/eventbus/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, kubeedgeSamples, NODE, startHarness } from './support/harness.js';

const TEMP = 'default/temperature-instance';
const COUNTER = 'default/counter-instance';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
  const loaded = await h.twin.loadManifests(await kubeedgeSamples());
  expect(loaded.errors).toEqual([]);
  expect(loaded.devices.sort()).toEqual([COUNTER, TEMP]);
});
afterEach(async () => {
  await h.close();
});

const update = (id: string, body: unknown) =>
  h.request(deviceTopic(id, 'twin/update'), body, deviceTopic(id, 'twin/update/result'));

describe('twin/update', () => {
  it('stores a reported value, echoes it on /result and publishes a document with last and current', async () => {
    const docs = await collectMessages(h.app, deviceTopic(TEMP, 'twin/update/document'));
    const res = await update(TEMP, {
      event_id: 'e1',
      timestamp: 1,
      twin: { temperature: { actual: { value: '25.3' } } },
    });
    expect(res.event_id).toBe('e1');
    expect(res.twin).toMatchObject({
      temperature: { actual: { value: '25.3' }, optional: false, metadata: { type: 'float' } },
    });
    const [doc] = await docs.waitFor(1);
    const body = doc!.json() as {
      twin: Record<string, { last: unknown; current: { actual: { value: string }; actual_version: unknown } }>;
    };
    expect(body.twin.temperature!.last).toMatchObject({ optional: false });
    expect(body.twin.temperature!.current.actual.value).toBe('25.3');
    expect(body.twin.temperature!.current.actual_version).toEqual({ cloud: 0, edge: 1 });
    expect(h.twin.getTwin(TEMP)!.twins.temperature!.actual!.value).toBe('25.3');
    const outbox = h.twin.outbox.pending(0, 100).filter((e) => e.kind === 'twin');
    expect(outbox.at(-1)).toMatchObject({
      deviceId: TEMP,
      twins: [{ property: 'temperature', reported: { value: '25.3', type: 'float' } }],
    });
  });

  it('an unchanged value (typed: 25.30 equals 25.3) bumps no version, writes no outbox entry, sends no document', async () => {
    const docs = await collectMessages(h.app, deviceTopic(TEMP, 'twin/update/document'));
    await update(TEMP, { twin: { temperature: { actual: { value: '25.3' } } } });
    const seq = h.twin.outbox.lastSeq();
    const res = await update(TEMP, { event_id: 'same', twin: { temperature: { actual: { value: '25.30' } } } });
    expect(res.event_id).toBe('same');
    expect((res.twin as Record<string, { actual: { value: string } }>).temperature!.actual.value).toBe('25.3');
    expect(h.twin.outbox.lastSeq()).toBe(seq);
    expect(h.twin.getTwin(TEMP)!.twins.temperature!.actual!.version).toEqual({ cloud: 0, edge: 1 });
    await update(TEMP, { twin: { temperature: { actual: { value: '26' } } } });
    await docs.waitFor(2);
    // the third update's document arrived, and the unchanged second one produced none in between
    expect(
      docs.messages.map(
        (m) =>
          (m.json() as { twin: { temperature: { current: { actual: { value: string } } } } }).twin.temperature.current
            .actual.value,
      ),
    ).toEqual(['25.3', '26']);
  });

  it('accepts any UTF-8 text, JSON included, in a STRING twin', async () => {
    const json = JSON.stringify({ mode: 'auto', note: 'héllo wörld {"nested": [1, 2]}' });
    const res = await update(COUNTER, { twin: { status: { actual: { value: json } } } });
    expect((res.twin as Record<string, { actual: { value: string } }>).status!.actual.value).toBe(json);
    const got = await h.request(
      deviceTopic(COUNTER, 'twin/get'),
      { event_id: 'g' },
      deviceTopic(COUNTER, 'twin/get/result'),
    );
    expect((got.twin as Record<string, { actual: { value: string } }>).status!.actual.value).toBe(json);
  });

  it('400 naming device, twin and reason for a value of the wrong type; nothing stored', async () => {
    await update(TEMP, { twin: { temperature: { actual: { value: '20' } } } });
    const res = await update(TEMP, {
      event_id: 'bad',
      twin: { temperature: { actual: { value: 'hot' } }, 'temperature-switch': { actual: { value: '1' } } },
    });
    expect(res).toMatchObject({ event_id: 'bad', code: 400 });
    expect(res.reason).toMatch(/default\/temperature-instance twin temperature actual: "hot" is not a number/);
    // the message is applied as a whole or not at all
    expect(h.twin.getTwin(TEMP)!.twins['temperature-switch']!.actual).toBeUndefined();
    expect(h.twin.getTwin(TEMP)!.twins.temperature!.actual!.value).toBe('20');
  });

  it('400 for a value outside the model minimum/maximum', async () => {
    const res = await update(TEMP, { event_id: 'hi', twin: { temperature: { actual: { value: '150' } } } });
    expect(res).toMatchObject({ code: 400, event_id: 'hi' });
    expect(res.reason).toMatch(/above the maximum 100/);
  });

  it('400 for a desired (expected) value on a ReadOnly property', async () => {
    h.twin.upsertModel({
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'DeviceModel',
      metadata: { name: 'counter-model', namespace: 'default' },
      spec: {
        protocol: 'virtualProtocol',
        properties: [
          { name: 'count', type: 'INT', accessMode: 'ReadOnly' },
          { name: 'status', type: 'STRING' },
        ],
      },
    });
    const res = await update(COUNTER, { twin: { count: { expected: { value: '3' } } } });
    expect(res).toMatchObject({ code: 400 });
    expect(res.reason).toMatch(/ReadOnly/);
  });

  it('400 with the parse error for malformed JSON, and for a payload over the size limit', async () => {
    const bad = await update(TEMP, '{"event_id":"x", "twin": {');
    expect(bad.code).toBe(400);
    expect(bad.reason).toMatch(/not JSON/);
    const wrongShape = await update(TEMP, { event_id: 'w', twin: { temperature: { actual: { value: 25 } } } });
    expect(wrongShape).toMatchObject({ code: 400, event_id: 'w' });
    expect(wrongShape.reason).toMatch(/twin.temperature.actual.value must be a string/);
    const big = await update(TEMP, {
      event_id: 'big',
      twin: { temperature: { actual: { value: 'x'.repeat(MAX_PAYLOAD_BYTES) } } },
    });
    expect(big.code).toBe(400);
    expect(big.reason).toMatch(/byte limit/);
  });

  it('409 when expected_version/actual_version is older than stored', async () => {
    await update(TEMP, { twin: { temperature: { actual: { value: '20' } } } });
    await update(TEMP, { twin: { temperature: { actual: { value: '21' } } } });
    const res = await update(TEMP, {
      event_id: 'old',
      twin: { temperature: { actual: { value: '22' }, actual_version: { cloud: 0, edge: 1 } } },
    });
    expect(res).toMatchObject({ code: 409, event_id: 'old' });
    expect(res.reason).toMatch(/older than the stored \{cloud:0,edge:2\}/);
    const ok = await update(TEMP, {
      twin: { temperature: { actual: { value: '22' }, actual_version: { cloud: 0, edge: 2 } } },
    });
    expect(ok.code).toBeUndefined();
  });

  it('creates an optional twin for a property the model lacks, typed from metadata.type, and deletes it with null', async () => {
    const res = await update(COUNTER, { twin: { rpm: { actual: { value: '1200' }, metadata: { type: 'int' } } } });
    expect(res.twin).toMatchObject({ rpm: { optional: true, metadata: { type: 'int' }, actual: { value: '1200' } } });
    const bad = await update(COUNTER, { twin: { rpm: { actual: { value: 'fast' } } } });
    expect(bad.code).toBe(400);
    const badType = await update(COUNTER, {
      twin: { other: { actual: { value: '1' }, metadata: { type: 'complex' } } },
    });
    expect(badType).toMatchObject({ code: 400 });
    expect(badType.reason).toMatch(/metadata.type "complex" is not allowed/);
    const del = await update(COUNTER, { twin: { rpm: null } });
    expect(del.twin).toEqual({ rpm: null });
    expect(h.twin.getTwin(COUNTER)!.twins.rpm).toBeUndefined();
    const modelTwin = await update(COUNTER, { twin: { count: null } });
    expect(modelTwin.code).toBe(400);
    expect(modelTwin.reason).toMatch(/declared by the model/);
  });
});

describe('404 for an unknown device, on every /result topic, with event_id echoed', () => {
  const GHOST = 'default/ghost';
  it.each([
    ['twin/update', 'twin/update/result', { event_id: 'u1', twin: { a: { actual: { value: '1' } } } }],
    ['twin/get', 'twin/get/result', { event_id: 'u2' }],
    ['state/update', 'state/update/result', { event_id: 'u3', state: 'online' }],
  ] as const)('%s', async (action, result, body) => {
    const res = await h.request(deviceTopic(GHOST, action), body, deviceTopic(GHOST, result));
    expect(res).toMatchObject({ code: 404, event_id: body.event_id });
    expect(res.reason).toMatch(/default\/ghost is not on node kind-worker/);
  });
});

describe('twin/get', () => {
  it('returns every twin of the device, without versions; an empty body is accepted', async () => {
    await update(TEMP, { twin: { temperature: { actual: { value: '19.5' } } } });
    const res = await h.request(deviceTopic(TEMP, 'twin/get'), '', deviceTopic(TEMP, 'twin/get/result'));
    const twin = res.twin as Record<string, Record<string, unknown>>;
    expect(Object.keys(twin).sort()).toEqual(['temperature', 'temperature-switch']);
    expect(twin.temperature).toMatchObject({ actual: { value: '19.5' }, metadata: { type: 'float' } });
    expect(twin['temperature-switch']).toMatchObject({ expected: { value: '1' }, metadata: { type: 'int' } });
    expect(twin.temperature!.actual_version).toBeUndefined();
  });
});

describe('state/update and membership', () => {
  it('accepts states case-insensitively, sets lastOnlineTime, and membership/get shows them', async () => {
    const res = await h.request(
      deviceTopic(TEMP, 'state/update'),
      { event_id: 's1', state: 'ONLINE' },
      deviceTopic(TEMP, 'state/update/result'),
    );
    expect(res).toMatchObject({ event_id: 's1', device: { name: 'temperature-instance', state: 'online' } });
    const last = (res.device as { lastOnlineTime: string }).lastOnlineTime;
    expect(last).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(h.twin.outbox.pending(0, 100).filter((e) => e.kind === 'state')).toMatchObject([
      { deviceId: TEMP, state: 'online', lastOnlineTime: last },
    ]);
    const off = await h.request(
      deviceTopic(TEMP, 'state/update'),
      { state: 'offline' },
      deviceTopic(TEMP, 'state/update/result'),
    );
    // last-seen survives going offline (KubeEdge clears it)
    expect(off.device).toMatchObject({ state: 'offline', lastOnlineTime: last });
    const members = await h.request(membershipGetTopic(NODE), { event_id: 'm1' }, membershipGetResultTopic(NODE));
    expect(members.event_id).toBe('m1');
    expect(members.devices).toEqual(
      expect.arrayContaining([
        { id: TEMP, name: 'temperature-instance', state: 'offline', last_online: last },
        { id: COUNTER, name: 'counter-instance', state: 'unknown', last_online: '' },
      ]),
    );
  });

  it('400 naming the allowed states for anything else (KubeEdge ignores it silently)', async () => {
    const res = await h.request(
      deviceTopic(TEMP, 'state/update'),
      { event_id: 's2', state: 'disconnected' },
      deviceTopic(TEMP, 'state/update/result'),
    );
    expect(res).toMatchObject({ event_id: 's2', code: 400 });
    expect(res.reason).toMatch(/"disconnected" is not one of online, offline, ok, unknown, unhealthy/);
    const missing = await h.request(
      deviceTopic(TEMP, 'state/update'),
      { event_id: 's3' },
      deviceTopic(TEMP, 'state/update/result'),
    );
    expect(missing).toMatchObject({ event_id: 's3', code: 400 });
  });

  it('400 on membership/get/result for a malformed request', async () => {
    const res = await h.request(membershipGetTopic(NODE), '[1,2', membershipGetResultTopic(NODE));
    expect(res.code).toBe(400);
  });

  it('publishes membership/updated when a device is added and when it is removed', async () => {
    const seen = await collectMessages(h.app, `$hw/events/node/${NODE}/membership/updated`);
    const device = (await kubeedgeSamples()).find(
      (o) => o.kind === 'Device' && o.metadata.name === 'counter-instance',
    )!;
    h.twin.removeDevice(COUNTER);
    h.twin.upsertDevice({ ...device, metadata: { ...device.metadata } } as typeof device & { kind: 'Device' });
    const [removed, added] = await seen.waitFor(2);
    expect(removed!.json()).toMatchObject({
      added_devices: null,
      removed_devices: [{ id: COUNTER, name: 'counter-instance' }],
    });
    expect(added!.json()).toMatchObject({
      added_devices: [{ id: COUNTER, name: 'counter-instance' }],
      removed_devices: null,
    });
  });
});

describe('misshapen topics', () => {
  it('a request on a topic with extra or missing levels is dropped with a metric, and the twin keeps serving', async () => {
    await h.app.publish('$hw/events/device/default/x/temperature-instance/twin/update', '{"twin":{}}');
    await h.app.publish('$hw/events/device/temperature-instance/twin/update', '{"twin":{}}');
    await h.app.publish('$hw/events/device/default/temperature-instance/twin/update/extra/level', '{}');
    const res = await update(TEMP, { event_id: 'after', twin: { temperature: { actual: { value: '30' } } } });
    expect(res.event_id).toBe('after');
    const metrics = await h.twin.metrics.getSingleMetricAsString('edgetwin_twin_messages_dropped_total');
    expect(metrics).toMatch(/reason="bad-topic"} 3/);
  });
});

describe('loadManifests (the local interface)', () => {
  it('takes models first, skips devices of other nodes, and reports bad objects without storing them', async () => {
    const samples = await kubeedgeSamples();
    const counter = structuredClone(samples.find((o) => o.metadata.name === 'counter-instance')!);
    const elsewhere = { ...structuredClone(counter), metadata: { name: 'elsewhere', namespace: 'default' } };
    (elsewhere.spec as { nodeName?: string }).nodeName = 'other-node';
    const orphan = { ...structuredClone(counter), metadata: { name: 'orphan', namespace: 'default' } };
    (orphan.spec as { deviceModelRef?: { name: string } }).deviceModelRef = { name: 'missing-model' };
    const unbound = { ...structuredClone(counter), metadata: { name: 'unbound', namespace: 'default' } };
    delete (unbound.spec as { nodeName?: string }).nodeName;
    const model = samples.find((o) => o.metadata.name === 'counter-model')!;
    // devices listed before their model still load: models go first
    const res = await h.twin.loadManifests([elsewhere, orphan, unbound, model]);
    expect(res.models).toEqual(['default/counter-model']);
    expect(res.devices).toEqual(['default/unbound']);
    expect(res.skipped).toEqual(['default/elsewhere']);
    expect(res.errors).toEqual([
      {
        object: 'Device default/orphan',
        reason: expect.stringMatching(/DeviceModel default\/missing-model, which node kind-worker does not hold/),
      },
    ]);
    expect(h.twin.getTwin('default/orphan')).toBeUndefined();
    expect(
      h.twin
        .listDevices()
        .map((d) => d.id)
        .sort(),
    ).toEqual([COUNTER, TEMP, 'default/unbound']);
  });
});
