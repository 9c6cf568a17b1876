// Issue 15's report channel and issue 9's leftover, the mapper's side: readings of many devices leave as
// batches; the twin answers only refusals, and the mapper resends the latest reading on a transient one
// (429/500) and reports a permanent one (413, unknown property) as a refused reading until the twin takes
// the property again. The test plays the twin's answers on the real broker.

import {
  decodeMapperReports,
  decodeReportStatus,
  encodeMapperReportAnswer,
  type MapperReportAnswer,
  reportAnswerTopic,
  reportStatusTopic,
  reportsTopic,
} from '@edgetwin/api';
import { collectMessages, waitUntil } from '@edgetwin/eventbus/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { collectReports, collectStates } from '../src/conformance/report-collector.js';
import { removeVirtualDevice, virtualDevice, virtualDriverFactory } from '../src/drivers/virtual/index.js';
import { device, NODE, prop, type Rig, startRig, type TwinUpdate } from './runtime-helpers.js';

const V = 'virtualProtocol';
let rig: Rig | undefined;
const ids: string[] = [];
afterEach(async () => {
  await rig?.close();
  rig = undefined;
  for (const id of ids.splice(0)) removeVirtualDevice(id);
});

/** A steady device (report mode `change`, heartbeat after 60 cycles of 100 ms): it reports its value once. */
function steady(initial = 7) {
  const d = device(V, [prop('a', { visitor: { name: 'a', initial } })]);
  ids.push(d.id);
  return d;
}

/** Every batch the mapper sends, with its seq. */
async function batches(r: Rig) {
  const seen: Array<{
    seq: number;
    entries: readonly (readonly string[])[];
    states: ReadonlyArray<{ device: string; state: string }>;
    qos: number;
  }> = [];
  await r.app.subscribe(reportsTopic(NODE, V), (_t, payload, packet) => {
    const d = decodeMapperReports(payload);
    if (!d.ok) throw new Error(d.error);
    seen.push({ seq: d.value.seq, entries: d.value.entries, states: d.value.states, qos: packet.qos });
  });
  return {
    seen,
    seqOf: (id: string) => seen.find((b) => b.entries.some((e) => e[0] === id))?.seq,
  };
}

/** A rig serving one steady device whose first report has arrived: its reports, and the seq of that batch. */
async function steadyReported() {
  rig = await startRig(virtualDriverFactory);
  const d = steady();
  const statuses = await collectMessages(rig.app, reportStatusTopic(d.id));
  const reports = await collectReports(rig.app, d.id);
  const b = await batches(rig);
  await rig.publish(d);
  await reports.waitFor(1);
  return { r: rig, d, statuses, reports, seq: b.seqOf(d.id)! };
}

const answer = (r: Rig, a: MapperReportAnswer) =>
  r.app.publish(reportAnswerTopic(NODE, V), encodeMapperReportAnswer(a), { qos: 1 });

describe('the report channel', () => {
  it('carries many devices in one batch, with no per-property metadata', async () => {
    // A flush window longer than the test: the batch leaves only when a write's read-back (which answers a
    // command) sends it at once. With a 50 ms window the three devices' first readings had to come within
    // 50 ms of each other, which a loaded machine did not always do (3 batches).
    const r = await startRig(virtualDriverFactory, { reports: { flushMs: 600_000 } });
    rig = r;
    const b = await batches(r);
    const ds = [steady(1), steady(2), steady(3)];
    for (const d of ds) await r.publish(d);
    await waitUntil(
      () => ds.every((d) => r.mapper.runtime.worker(d.id)?.latestReading('a') !== undefined),
      'a reading of every device',
    );
    expect(b.seen).toEqual([]);
    await r.delta(ds[0]!.id, { a: '9' });
    await waitUntil(() => b.seen.length > 0, 'the batch the read-back sends');
    const first = b.seen[0]!;
    expect(new Set(first.entries.map((e) => e[0]))).toEqual(new Set(ds.map((d) => d.id)));
    expect(first.entries).toContainEqual([ds[1]!.id, 'a', '2']);
    expect(first.entries).toContainEqual([ds[0]!.id, 'a', '9']);
  });
});

describe('a reading the twin refuses (issue 9 leftover)', () => {
  it('is resent, the latest value, when the twin could not take it now (429)', async () => {
    const { r, d, reports, seq } = await steadyReported();
    virtualDevice(d.id).set('a', 7); // unchanged: the report policy alone would send nothing for 6 s
    await answer(r, {
      seq,
      refused: [{ device: d.id, property: 'a', code: 429, reason: 'queue full' }],
    });
    const all = await reports.waitFor(2, 2000);
    expect((all[1]!.json() as TwinUpdate).twin).toEqual({ a: { actual: { value: '7' } } });
    const refusals = await r.mapper.metrics.reportRefusals.get();
    expect(refusals.values).toContainEqual(
      expect.objectContaining({ labels: { device: d.id, code: '429' }, value: 1 }),
    );
  });

  it('is resent when the twin refused the whole batch (a store failure, 500)', async () => {
    const { r, reports, seq } = await steadyReported();
    await answer(r, { seq, all: { code: 500, reason: 'disk full' } });
    await reports.waitFor(2, 2000);
  });

  it('is reported as a refused reading when the twin refuses it for good (413), until the twin takes it again', async () => {
    const { r, d, statuses, reports, seq } = await steadyReported();
    const refusal = { device: d.id, property: 'a', code: 413, reason: 'the value is 9 bytes; the limit is 4' };
    await answer(r, { seq, refused: [refusal] });
    // the same refusal twice is reported once
    await answer(r, { seq, refused: [refusal] });
    await statuses.waitFor(1);
    const first = decodeReportStatus(statuses.messages[0]!.payload);
    expect(first.ok && first.value).toMatchObject({
      property: 'a',
      state: 'refused',
      value: '7',
      reason: 'the twin refused it (413): the value is 9 bytes; the limit is 4',
    });
    // not resent: the twin would refuse it again
    expect(reports.messages).toHaveLength(1);
    await answer(r, { seq: seq + 1, accepted: [{ device: d.id, property: 'a' }] });
    await statuses.waitFor(2);
    const second = decodeReportStatus(statuses.messages[1]!.payload);
    expect(second.ok && second.value).toMatchObject({ property: 'a', state: 'accepted' });
    expect(statuses.messages).toHaveLength(2);
  });
});

describe("a device's state on the report channel (issue 15 target 5)", () => {
  it('is sent again, at QoS 1, when the twin refused its batch whole for now (429)', async () => {
    rig = await startRig(virtualDriverFactory);
    const d = steady();
    const states = await collectStates(rig.app, d.id);
    const b = await batches(rig);
    await rig.publish(d);
    await states.waitFor((m) => (m.json() as { state: string }).state === 'online');
    const first = b.seen.find((x) => x.states.some((st) => st.device === d.id))!;
    await answer(rig, { seq: first.seq, all: { code: 429, reason: 'queue full' } });
    // the periodic state is once a minute here: a second report within 2 s is the resend
    const all = await states.waitFor(2, 2000);
    expect(all.map((m) => (m.json() as { state: string }).state)).toEqual(['online', 'online']);
    const resent = b.seen.filter((x) => x.states.some((st) => st.device === d.id))[1]!;
    expect(resent.qos).toBe(1);
  });
});
