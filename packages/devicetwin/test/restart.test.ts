// A node restarted with no cloud: every device, twin and unsent report is back, served from disk at once.

import { deviceTopic, membershipGetResultTopic, membershipGetTopic, mapperDevicesFilter } from '@edgetwin/api';
import { collectMessages } from '@edgetwin/eventbus/testing';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type Harness, kubeedgeSamples, NODE, startHarness } from './support/harness.js';

const TEMP = 'default/temperature-instance';
let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

it('comes back with devices, twins, state, local desired values and the unsent outbox; seq never repeats', async () => {
  await h.twin.loadManifests(await kubeedgeSamples());
  await h.request(
    deviceTopic(TEMP, 'twin/update'),
    { twin: { temperature: { actual: { value: '23.4' } }, extra: { actual: { value: '{"a": 1}' } } } },
    deviceTopic(TEMP, 'twin/update/result'),
  );
  await h.request(deviceTopic(TEMP, 'state/update'), { state: 'online' }, deviceTopic(TEMP, 'state/update/result'));
  await h.twin.setDesiredLocally(TEMP, 'temperature', '20');
  const before = h.twin.getTwin(TEMP);
  const pending = h.twin.outbox.pending(0, 1000);
  expect(pending.length).toBeGreaterThan(2);
  h.twin.outbox.ack(pending[0]!.seq);
  const lastSeq = h.twin.outbox.lastSeq();
  await h.twin.close();

  const deltas = await collectMessages(h.app, deviceTopic(TEMP, 'twin/update/delta'));
  const specs = await collectMessages(h.app, mapperDevicesFilter(NODE, 'modbus'));
  await h.reopen();
  expect(h.twin.getTwin(TEMP)).toEqual(before);
  expect(h.twin.outbox.pending(0, 1000)).toEqual(pending.slice(1));
  expect(h.twin.outbox.ackedSeq()).toBe(pending[0]!.seq);
  expect(h.twin.outbox.lastSeq()).toBe(lastSeq);

  // served over MQTT at once, from disk
  const got = await h.request(deviceTopic(TEMP, 'twin/get'), { event_id: 'g' }, deviceTopic(TEMP, 'twin/get/result'));
  expect(got.twin).toMatchObject({
    temperature: { actual: { value: '23.4' }, expected: { value: '20' } },
    extra: { actual: { value: '{"a": 1}' } },
  });
  const members = await h.request(membershipGetTopic(NODE), {}, membershipGetResultTopic(NODE));
  expect(members.devices).toEqual(expect.arrayContaining([expect.objectContaining({ id: TEMP, state: 'online' })]));
  // mappers catch up: spec republished, pending desired values re-announced
  await specs.waitFor(1);
  const [delta] = await deltas.waitFor(1);
  expect(delta!.json()).toMatchObject({ delta: { temperature: '20', 'temperature-switch': '1' } });

  // after every entry is acked, the next one still gets a new seq
  h.twin.outbox.ack(h.twin.outbox.lastSeq());
  await h.twin.close();
  await h.reopen();
  expect(h.twin.outbox.pending(0, 10)).toEqual([]);
  const entry = h.twin.outbox.append({ kind: 'state', deviceId: TEMP, state: 'offline', lastOnlineTime: '' });
  expect(entry.seq).toBe(lastSeq + 1);
  expect(h.twin.integrityCheck()).toBe('ok');
});

it('refuses a database written by a newer edgetwin with a clear error, and leaves it untouched', async () => {
  await h.twin.close();
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(h.dbPath);
  db.pragma('user_version = 99');
  db.close();
  await expect(h.reopen()).rejects.toThrow(/schema version 99, newer than this edgetwin/);
  const again = new Database(h.dbPath);
  expect(again.pragma('user_version', { simple: true })).toBe(99);
  again.close();
  // let close() in afterEach find a twin to close
  const db2 = new Database(h.dbPath);
  db2.pragma('user_version = 1');
  db2.close();
  await h.reopen();
});

it('the outbox holds state, not history: a newer unacknowledged value of the same property replaces the older', async () => {
  await h.twin.loadManifests(await kubeedgeSamples());
  const update = (twin: object) =>
    h.request(deviceTopic(TEMP, 'twin/update'), { twin }, deviceTopic(TEMP, 'twin/update/result'));
  const start = h.twin.outbox.lastSeq();
  for (let i = 0; i < 10; i++) await update({ temperature: { actual: { value: String(i) } } });
  await update({ temperature: { actual: { value: '60' } }, 'temperature-switch': { actual: { value: '0' } } });
  await h.twin.setDesiredLocally(TEMP, 'temperature', '70');
  const pending = h.twin.outbox.pending(start, 1000);
  // one entry per property and side, each carrying the latest value, seq still increasing
  expect(pending).toMatchObject([
    {
      kind: 'twin',
      twins: [
        { property: 'temperature', reported: { value: '60' } },
        { property: 'temperature-switch', reported: { value: '0' } },
      ],
    },
    { kind: 'twin', twins: [{ property: 'temperature', observedDesired: { value: '70', source: 'edge' } }] },
  ]);
  expect(pending[1]!.seq).toBe(start + 12);
  // a newer value of one property rewrites an older entry that also carries another property
  await update({ temperature: { actual: { value: '62' } } });
  expect(h.twin.outbox.pending(start, 1000)).toEqual([
    { ...pending[0], twins: [pending[0]!.kind === 'twin' && pending[0]!.twins[1]] },
    pending[1],
    expect.objectContaining({
      seq: start + 13,
      twins: [expect.objectContaining({ property: 'temperature', reported: expect.objectContaining({ value: '62' }) })],
    }),
  ]);
  // after a restart the index is rebuilt from disk (61 replaces the pending 62), and acknowledged entries
  // are never touched again
  h.twin.outbox.ack(pending[0]!.seq);
  await h.twin.close();
  await h.reopen();
  await update({ temperature: { actual: { value: '61' } } });
  expect(h.twin.outbox.pending(start, 1000)).toMatchObject([
    { twins: [{ property: 'temperature', observedDesired: { value: '70' } }] },
    { twins: [{ property: 'temperature', reported: { value: '61' } }] },
  ]);
});
