// Issue 15's report channel, the twin's side: a batch of many devices' readings from one of our mappers is
// applied like twin/updates of `actual` values (stored, a document for apps, a report to the cloud), with no
// /result; the twin answers only what it refused (each property alone: a refusal keeps no neighbour out)
// and, later, the end of a refusal (issue 9's leftover). Device states travel on it too (issue 15 target 5):
// taken as a state/update is, answered on `state/update/result` only when what the cloud sees moves.

import {
  decodeMapperReportAnswer,
  deviceTopic,
  encodeMapperReportEntry,
  encodeMapperReports,
  encodeMapperStateEntry,
  reportAnswerTopic,
  reportsTopic,
} from '@edgetwin/api';
import { collectMessages, type MessageCollector } from '@edgetwin/eventbus/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceTwinOptions } from '../src/index.js';
import { device, model } from './cloud-link-support.js';
import { type Harness, NODE, startHarness } from './support/harness.js';

const P = 'virtual';
const A = 'default/meter-a';
const B = 'default/meter-b';

let h: Harness;
let answers: MessageCollector;
afterEach(async () => {
  await h?.close();
});

async function start(twin: Partial<DeviceTwinOptions> = {}): Promise<void> {
  h = await startHarness({ twin });
  // nodeName '': the harness's node takes them
  const here = (name: string) => {
    const d = device(name);
    return { ...d, spec: { ...d.spec, nodeName: '' } };
  };
  const loaded = await h.twin.loadManifests([model('thermo'), here('meter-a'), here('meter-b')]);
  expect(loaded.errors).toEqual([]);
  answers = await collectMessages(h.app, reportAnswerTopic(NODE, P));
}

let seq = 100;
async function send(entries: Array<[string, ...string[]]>): Promise<number> {
  const s = seq++;
  const body = encodeMapperReports(
    s,
    Date.now(),
    entries.map(([id, ...pairs]) =>
      encodeMapperReportEntry(
        id,
        pairs.filter((_, i) => i % 2 === 0),
        pairs.filter((_, i) => i % 2 === 1),
      ),
    ),
  );
  await h.app.publish(reportsTopic(NODE, P), body, { qos: 1 });
  return s;
}

const actual = (id: string) => h.twin.getTwin(id)?.twins.temp?.actual?.value;

describe('report batches of our mappers', () => {
  it('applies every device of a batch, publishes a document per change for apps, and answers nothing', async () => {
    await start();
    const results = await collectMessages(h.app, '$hw/events/device/+/+/twin/update/result');
    const docs = await collectMessages(h.app, deviceTopic(B, 'twin/update/document'));
    await send([
      [A, 'temp', '21'],
      [B, 'temp', '22'],
    ]);
    await docs.waitFor(1);
    await h.twin.settled();
    expect([actual(A), actual(B)]).toEqual(['21', '22']);
    expect(docs.messages[0]!.json()).toMatchObject({ twin: { temp: { current: { actual: { value: '22' } } } } });
    // the same values again: nothing changes, nothing is published
    await send([
      [A, 'temp', '21'],
      [B, 'temp', '22'],
    ]);
    await h.twin.settled();
    expect(docs.messages).toHaveLength(1);
    expect(results.messages).toHaveLength(0);
    expect(answers.messages).toHaveLength(0);
  });

  it('a batch repeating the one before (not parsed again) is still applied: a value changed meanwhile is set back', async () => {
    await start();
    const docs = await collectMessages(h.app, deviceTopic(A, 'twin/update/document'));
    await send([[A, 'temp', '21']]);
    await docs.waitFor(1);
    await h.app.publish(
      deviceTopic(A, 'twin/update'),
      JSON.stringify({ event_id: 'app', timestamp: Date.now(), twin: { temp: { actual: { value: '30' } } } }),
      { qos: 1 },
    );
    await docs.waitFor(2);
    expect(actual(A)).toBe('30');
    await send([[A, 'temp', '21']]);
    await docs.waitFor(3);
    expect(actual(A)).toBe('21');
  });

  it('refuses an unknown device or property, or a value past a limit, alone, and says when a refusal ends', async () => {
    await start({ limits: { maxValueBytes: 4 } });
    const s = await send([
      [A, 'temp', '123456', 'ghost', '1'],
      ['default/nobody', 'temp', '1'],
      [B, 'temp', '23'],
    ]);
    const [m] = await answers.waitFor(1);
    const a = decodeMapperReportAnswer(m!.payload);
    expect(a.ok && a.value.seq).toBe(s);
    const refused = a.ok ? (a.value.refused ?? []) : [];
    expect(refused.map((r) => [r.device, r.property, r.code])).toEqual([
      [A, 'temp', 413],
      [A, 'ghost', 404],
      ['default/nobody', '', 404],
    ]);
    expect(refused[0]!.reason).toMatch(/the limit is 4 bytes per value \(maxValueBytes\)/);
    expect(actual(B)).toBe('23');
    // a value within the limit is taken, and the twin says the refusal of A's temp ended
    await send([[A, 'temp', '42']]);
    const all = await answers.waitFor(2);
    const end = decodeMapperReportAnswer(all[1]!.payload);
    expect(end.ok && end.value).toMatchObject({ accepted: [{ device: A, property: 'temp' }] });
    expect(actual(A)).toBe('42');
  });

  it('refuses a malformed batch as a whole, naming what is wrong', async () => {
    await start();
    await h.app.publish(reportsTopic(NODE, P), '[1,77,0,["default/meter-a","temp"]]', { qos: 1 });
    const [m] = await answers.waitFor(1);
    const a = decodeMapperReportAnswer(m!.payload);
    expect(a.ok && a.value).toMatchObject({ seq: 77, all: { code: 400 } });
    expect(a.ok && a.value.all?.reason).toMatch(/entry 0: must be \[device id, property, value, \.\.\.\]/);
  });
});

describe('device states on the report channel (issue 15 target 5)', () => {
  const sendStates = async (states: Array<[string, string]>) => {
    const s = seq++;
    const body = encodeMapperReports(
      s,
      Date.now(),
      states.map(([id, st]) => encodeMapperStateEntry(id, st)),
    );
    await h.app.publish(reportsTopic(NODE, P), body, { qos: 1 });
    await h.twin.settled();
    return s;
  };
  const stateOf = (id: string) => h.twin.getTwin(id)?.state;
  const cloudStates = () => h.twin.outbox.pending(0, 100).filter((e) => e.kind === 'state');

  it('are taken as state/update is; apps see a result when the state changes, not for every repeat', async () => {
    await start();
    const results = await collectMessages(h.app, '$hw/events/device/+/+/state/update/result');
    await sendStates([
      [A, 'online'],
      [B, 'ONLINE'],
    ]);
    await results.waitFor(2);
    expect([stateOf(A), stateOf(B)]).toEqual(['online', 'online']);
    const [first] = results.messages;
    expect(first!.topic).toBe(deviceTopic(A, 'state/update/result'));
    const seen = first!.json() as { event_id: string; device: { state: string; lastOnlineTime: string } };
    expect(seen).toMatchObject({ event_id: '', device: { name: 'meter-a', state: 'online' } });
    expect(seen.device.lastOnlineTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(cloudStates()).toMatchObject([
      { deviceId: A, state: 'online', lastOnlineTime: seen.device.lastOnlineTime },
      { deviceId: B, state: 'online' },
    ]);
    const before = cloudStates().map((e) => e.seq);
    // the periodic report of the same state: nothing for apps or the cloud (last-seen goes out once a minute)
    await sendStates([
      [A, 'online'],
      [B, 'online'],
    ]);
    expect(results.messages).toHaveLength(2);
    expect(cloudStates().map((e) => e.seq)).toEqual(before);
    // the repeat still moved last-seen in memory (to its own second, which is the first one's only when both
    // came within one second: comparing with the first failed when they did not)
    const lastSeen = h.twin.getTwin(A)!.lastOnline;
    expect(lastSeen >= seen.device.lastOnlineTime).toBe(true);
    // a change: at once, to apps and the cloud; last-seen survives going offline
    await sendStates([[A, 'offline']]);
    const all = await results.waitFor(3);
    expect(all[2]!.json()).toMatchObject({ device: { state: 'offline', lastOnlineTime: lastSeen } });
    // (the outbox keeps the latest state of a device not yet sent)
    expect(cloudStates().filter((e) => e.deviceId === A)).toMatchObject([
      { state: 'offline', lastOnlineTime: lastSeen },
    ]);
    expect(stateOf(A)).toBe('offline');
    expect(answers.messages).toHaveLength(0);
  });

  it('refuses a state of an unknown device or one the twin does not know, alone', async () => {
    await start();
    const s = await sendStates([
      ['default/nobody', 'online'],
      [A, 'disconnected'],
      [B, 'online'],
    ]);
    const [m] = await answers.waitFor(1);
    const a = decodeMapperReportAnswer(m!.payload);
    expect(a.ok && a.value.seq).toBe(s);
    const refused = a.ok ? (a.value.refused ?? []) : [];
    expect(refused.map((r) => [r.device, r.property, r.code])).toEqual([
      ['default/nobody', '', 404],
      [A, '', 400],
    ]);
    expect(refused[1]!.reason).toMatch(/"disconnected" is not one of online, offline, ok, unknown, unhealthy/);
    expect(stateOf(B)).toBe('online');
  });

  it("a third-party mapper's $hw state/update is still answered every time", async () => {
    await start();
    const results = await collectMessages(h.app, deviceTopic(A, 'state/update/result'));
    for (const id of ['s1', 's2'])
      await h.app.publish(deviceTopic(A, 'state/update'), JSON.stringify({ event_id: id, state: 'online' }), {
        qos: 1,
      });
    const got = await results.waitFor(2);
    expect(got.map((m) => (m.json() as { event_id: string }).event_id)).toEqual(['s1', 's2']);
    expect(stateOf(A)).toBe('online');
  });
});
