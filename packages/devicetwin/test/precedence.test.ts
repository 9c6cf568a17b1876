// Desired values set at the edge (KubeEdge #4166) against the cloud's: desired — every new cloud command
// wins (a changed value, or a new desired.metadata.timestamp from the controller); reported — only the edge
// writes it (docs/twin.md).

import type { Device, DeviceModel, OutboxEntry } from '@edgetwin/api';
import { deviceTopic } from '@edgetwin/api';
import { collectMessages } from '@edgetwin/eventbus/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, kubeedgeSamples, startHarness } from './support/harness.js';

const TEMP = 'default/temperature-instance';
let h: Harness;
let device: Device;

beforeEach(async () => {
  h = await startHarness();
  const samples: Array<Device | DeviceModel> = await kubeedgeSamples();
  await h.twin.loadManifests(samples);
  device = structuredClone(
    samples.find((o) => o.kind === 'Device' && o.metadata.name === 'temperature-instance') as Device,
  );
});
afterEach(async () => {
  await h.close();
});

/** The cloud sends the Device with this desired value; `stamp` is what the controller's setDesired writes. */
function cloudDesires(value: string, resourceVersion: string, stamp?: string): void {
  const d = structuredClone(device);
  d.metadata.resourceVersion = resourceVersion;
  d.spec.properties!.find((p) => p.name === 'temperature-switch')!.desired = stamp
    ? { value, metadata: { timestamp: stamp } }
    : { value };
  h.twin.upsertDevice(d);
}

const expected = () => h.twin.getTwin(TEMP)!.twins['temperature-switch']!.expected!;
const lastTwinReport = () =>
  h.twin.outbox
    .pending(0, 1000)
    .filter((e): e is OutboxEntry & { kind: 'twin' } => e.kind === 'twin')
    .at(-1)!;

describe('desired: cloud wins when the cloud changes it', () => {
  it('a local desired value holds while the cloud repeats its old desired value, and yields when the cloud changes it', async () => {
    expect(expected()).toMatchObject({ value: '1', source: 'cloud' });
    await h.twin.setDesiredLocally(TEMP, 'temperature-switch', '0');
    expect(expected()).toMatchObject({ value: '0', source: 'edge' });
    expect(lastTwinReport().twins).toEqual([
      { property: 'temperature-switch', observedDesired: expect.objectContaining({ value: '0', source: 'edge' }) },
    ]);

    cloudDesires('1', '10'); // cloud re-sends its unchanged desired value (e.g. after a status patch)
    expect(expected()).toMatchObject({ value: '0', source: 'edge' });

    cloudDesires('2', '11'); // the cloud changes it: cloud wins
    expect(expected()).toMatchObject({ value: '2', source: 'cloud' });
    expect(lastTwinReport().twins).toEqual([
      { property: 'temperature-switch', observedDesired: expect.objectContaining({ value: '2', source: 'cloud' }) },
    ]);

    await h.twin.setDesiredLocally(TEMP, 'temperature-switch', '3'); // a later local value wins again until the next cloud change
    expect(expected()).toMatchObject({ value: '3', source: 'edge' });
  });

  it('an edge app sets desired over MQTT (twin/update with expected) with the same rule', async () => {
    await h.request(
      deviceTopic(TEMP, 'twin/update'),
      { twin: { 'temperature-switch': { expected: { value: '0' } } } },
      deviceTopic(TEMP, 'twin/update/result'),
    );
    expect(expected()).toMatchObject({ value: '0', source: 'edge' });
    cloudDesires('1', '12');
    expect(expected()).toMatchObject({ value: '0', source: 'edge' });
  });

  it('a bad local desired value is refused with the reason, and nothing changes', async () => {
    await expect(h.twin.setDesiredLocally(TEMP, 'temperature-switch', 'on')).rejects.toThrow(
      /twin temperature-switch expected: "on" is not an integer/,
    );
    await expect(h.twin.setDesiredLocally('default/ghost', 'x', '1')).rejects.toThrow(/not on node/);
    expect(expected()).toMatchObject({ value: '1', source: 'cloud' });
  });

  it('a bad cloud desired value is refused before anything is stored', () => {
    expect(() => cloudDesires('maybe', '13')).toThrow(
      /spec.properties\[1\] \(temperature-switch\).desired.value: "maybe" is not an integer/,
    );
    expect(expected()).toMatchObject({ value: '1' });
  });
});

describe('desired: a re-asserted cloud command wins (a new desired.metadata.timestamp, same value)', () => {
  const twinReports = () => h.twin.outbox.pending(0, 1000).filter((e) => e.kind === 'twin').length;

  it('overrides a local desired value and publishes the delta; the same stamp again changes nothing', async () => {
    const deltas = await collectMessages(h.app, deviceTopic(TEMP, 'twin/update/delta'));
    const documents = await collectMessages(h.app, deviceTopic(TEMP, 'twin/update/document'));
    // twin/get is answered after anything the twin published before it: a barrier for what came so far
    const barrier = (id: string) =>
      h.request(deviceTopic(TEMP, 'twin/get'), { event_id: id }, deviceTopic(TEMP, 'twin/get/result'));
    cloudDesires('1', '10', '1000'); // `twin set temperature-switch=1` of the value already there
    expect(expected()).toMatchObject({ value: '1', source: 'cloud' });
    await h.twin.setDesiredLocally(TEMP, 'temperature-switch', '0');
    expect(expected()).toMatchObject({ value: '0', source: 'edge' });
    const cloudVersion = expected().version.cloud;
    await barrier('local');
    const seenDeltas = deltas.messages.length;

    cloudDesires('1', '11', '2000'); // `twin set` again, same value, new stamp: a new command
    expect(expected()).toMatchObject({ value: '1', source: 'cloud' });
    expect(expected().version.cloud).toBe(cloudVersion + 1);
    expect(lastTwinReport().twins).toEqual([
      { property: 'temperature-switch', observedDesired: expect.objectContaining({ value: '1', source: 'cloud' }) },
    ]);
    const sawDelta = (m: { json(): unknown }) =>
      (m.json() as { delta: Record<string, string> }).delta['temperature-switch'] === '1';
    await deltas.waitFor((m) => deltas.messages.indexOf(m) >= seenDeltas && sawDelta(m));

    await h.twin.setDesiredLocally(TEMP, 'temperature-switch', '0');
    await barrier('before');
    const reports = twinReports();
    const docs = documents.messages.length;
    cloudDesires('1', '12', '2000'); // the same stamp again (a status patch, a resync): no new command
    expect(expected()).toMatchObject({ value: '0', source: 'edge' });
    expect(twinReports()).toBe(reports);
    await barrier('after');
    expect(documents.messages.length).toBe(docs);
    await deltas.stop();
    await documents.stop();
  });

  it('the last stamp survives a restart: a resync after it is no command, a new stamp is', async () => {
    cloudDesires('1', '10', '1000');
    await h.twin.setDesiredLocally(TEMP, 'temperature-switch', '0');
    await h.twin.close();
    await h.reopen();
    cloudDesires('1', '11', '1000');
    expect(expected()).toMatchObject({ value: '0', source: 'edge' });
    cloudDesires('1', '12', '1001');
    expect(expected()).toMatchObject({ value: '1', source: 'cloud' });
  });

  it('a stamp that disappears (a manifest applied without one) is no command', async () => {
    cloudDesires('1', '10', '1000');
    await h.twin.setDesiredLocally(TEMP, 'temperature-switch', '0');
    cloudDesires('1', '11');
    expect(expected()).toMatchObject({ value: '0', source: 'edge' });
  });

  it('a new stamp with the value the twin already works towards from the cloud changes nothing', async () => {
    const reports = twinReports();
    const before = expected();
    cloudDesires('1', '10', '1000');
    expect(expected()).toEqual(before);
    expect(twinReports()).toBe(reports);
  });
});

describe('reported: only the edge writes it', () => {
  it('a cloud upsert never touches actual values', async () => {
    await h.request(
      deviceTopic(TEMP, 'twin/update'),
      { twin: { temperature: { actual: { value: '21.5' } } } },
      deviceTopic(TEMP, 'twin/update/result'),
    );
    const d = structuredClone(device);
    d.status = { twins: [{ propertyName: 'temperature', reported: { value: '99' } }] };
    h.twin.upsertDevice(d);
    expect(h.twin.getTwin(TEMP)!.twins.temperature!.actual!.value).toBe('21.5');
  });
});
