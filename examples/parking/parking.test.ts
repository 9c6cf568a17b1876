import { fileURLToPath } from 'node:url';
import { loadManifestFiles, type ModbusSimulator, resolveManifests, startModbusSimulator } from '@edgetwin/simulators';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import {
  collectMessages,
  type EmbeddedBroker,
  type MessageCollector,
  nextMessage,
  startTestBroker,
} from '@edgetwin/eventbus/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeTwin, startFakeTwin } from '../shared/testing/fake-twin.js';
import { captureLogs } from '../shared/testing/log-capture.js';
import { type EdgeStack, NODE, startEdgeStack } from '../shared/testing/edge-stack.js';
import { startApp } from './app.js';

const MANIFESTS = fileURLToPath(new URL('./manifests', import.meta.url));
import { freeCountTopic, LotCounter, type LotSummary, occupancyFromDistance, parseOccupancy } from './lot.js';

describe('counting free spaces', () => {
  it('reads occupancy as the sensor spells it and treats nonsense as unknown', () => {
    expect(parseOccupancy('true')).toBe('occupied');
    expect(parseOccupancy('0')).toBe('free');
    expect(parseOccupancy('OFF')).toBe('free');
    expect(parseOccupancy('maybe')).toBe('unknown');
    expect(parseOccupancy(undefined)).toBe('unknown');
    expect(occupancyFromDistance('42.5', 100)).toBe('occupied');
    expect(occupancyFromDistance('250', 100)).toBe('free');
    expect(occupancyFromDistance('-3', 100)).toBe('unknown');
  });

  it('counts only spaces known to be free', () => {
    const lot = new LotCounter('lot-a', ['a', 'b', 'c']);
    expect(lot.set('a', 'free')).toBe(true);
    expect(lot.set('a', 'free')).toBe(false);
    lot.set('b', 'occupied');
    expect(lot.summary(1)).toEqual({ lot: 'lot-a', free: 1, total: 3, occupied: 1, unknown: 1, timestamp: 1 });
    expect(() => lot.set('z', 'free')).toThrow(/lot-a: z is not one of its sensors/);
    expect(() => new LotCounter('empty', [])).toThrow(/no sensors/);
  });
});

describe('parking app against a real broker', () => {
  const sensors = ['default/p1', 'default/p2', 'default/p3', 'default/p4'];
  let broker: EmbeddedBroker;
  let client: BusClient;
  let twins: FakeTwin[] = [];
  let app: { stop(): Promise<void> } | undefined;
  let display: MessageCollector;

  beforeEach(async () => {
    broker = await startTestBroker();
    client = await connectBus({ url: broker.url, clientId: 'test-parking' });
    display = await collectMessages(client, freeCountTopic('lot-a'));
  });

  afterEach(async () => {
    await app?.stop();
    await display.stop();
    for (const t of twins) await t.stop();
    await client.close();
    await broker.close();
    app = undefined;
    twins = [];
  });

  /** The first count a display subscribed from the start has seen that satisfies `predicate`. */
  const freeCount = async (predicate: (s: LotSummary) => boolean) => {
    const matches = (m: { json(): unknown }) => predicate(m.json() as LotSummary);
    const all = await display.waitFor(matches);
    return all.find(matches)!.json() as LotSummary;
  };

  it('publishes the free count, retained, and follows the sensors', async () => {
    twins = [
      await startFakeTwin(client, sensors[0]!, { occupied: { actual: 'true' }, distance: { actual: '40' } }),
      await startFakeTwin(client, sensors[1]!, { occupied: { actual: 'false' }, distance: { actual: '260' } }),
      // no occupancy reading: the distance decides (a car 35 cm below the sensor)
      await startFakeTwin(client, sensors[2]!, { distance: { actual: '35' } }),
      await startFakeTwin(client, sensors[3]!, { occupied: { actual: 'false' } }),
    ];
    const logs = captureLogs();
    app = await startApp({ brokerUrl: broker.url, node: 'edge-node-1', logger: logs.logger, sensors });

    const first = await freeCount((s) => s.unknown === 0);
    expect(first).toMatchObject({ lot: 'lot-a', free: 2, total: 4, occupied: 2, unknown: 0 });
    await logs.waitFor('2 of 4 spaces free');

    // a car parks on p2
    await twins[1]!.report({ occupied: 'true', distance: '38' });
    expect(await freeCount((s) => s.free === 1 && s.unknown === 0)).toMatchObject({ free: 1, occupied: 3 });

    // a display that connects later gets the current count at once (retained)
    const late = await connectBus({ url: broker.url, clientId: 'late-display' });
    try {
      const m = await nextMessage(late, freeCountTopic('lot-a'));
      expect(m.retain).toBe(true);
      expect(m.json()).toMatchObject({ free: 1, total: 4 });
    } finally {
      await late.close();
    }
  });

  it('counts a sensor the twin does not know yet as unknown until it appears', async () => {
    twins = [
      await startFakeTwin(client, sensors[0]!, { occupied: { actual: 'false' } }),
      await startFakeTwin(client, sensors[1]!, { occupied: { actual: 'false' } }),
      await startFakeTwin(client, sensors[2]!, { occupied: { actual: 'false' } }),
      await startFakeTwin(client, sensors[3]!, { occupied: { actual: 'false' } }, { known: false }),
    ];
    const logs = captureLogs();
    app = await startApp({ brokerUrl: broker.url, node: 'edge-node-1', logger: logs.logger, sensors, retryMs: 50 });
    expect(await freeCount((s) => s.free === 3)).toMatchObject({ free: 3, unknown: 1, total: 4 });
    const warn = await logs.waitFor('twin not ready');
    expect(warn.sensor).toBe('default/p4');
    twins[3]!.setKnown(true);
    expect(await freeCount((s) => s.unknown === 0)).toMatchObject({ free: 4, total: 4 });
  });

  it('keeps a reading that arrives right after the answer to its first twin/get', async () => {
    // The twin answered the get before the sensor's first reading and sent that reading's document at
    // once: the app got both in one read of its socket. It once counted the space from the get's older
    // answer after the document, and the space stayed unknown until the sensor changed.
    twins = [
      await startFakeTwin(client, sensors[0]!, { occupied: { actual: 'false' } }),
      await startFakeTwin(client, sensors[1]!, { occupied: { actual: 'false' } }),
      await startFakeTwin(client, sensors[2]!, { occupied: { actual: 'false' } }),
      await startFakeTwin(client, sensors[3]!, {}, { reportAfterGet: { occupied: 'false' } }),
    ];
    app = await startApp({ brokerUrl: broker.url, node: 'edge-node-1', logger: captureLogs().logger, sensors });
    await freeCount((s) => s.free === 4);
    await twins[0]!.report({ occupied: 'true' });
    expect(await freeCount((s) => s.occupied === 1)).toMatchObject({ free: 3, occupied: 1, unknown: 0 });
  });

  it('takes a sensor that reports nonsense out of the free count', async () => {
    twins = sensors.map(() => undefined as unknown as FakeTwin);
    for (const [i, s] of sensors.entries())
      twins[i] = await startFakeTwin(client, s, { occupied: { actual: 'false' } });
    app = await startApp({ brokerUrl: broker.url, node: 'edge-node-1', logger: captureLogs().logger, sensors });
    await freeCount((s) => s.free === 4);
    await twins[0]!.report({ occupied: 'garbage' });
    expect(await freeCount((s) => s.unknown === 1)).toMatchObject({ free: 3, unknown: 1 });
  });
});

describe('parking end to end: Modbus simulator, twin, Modbus mapper, app', () => {
  let sim: ModbusSimulator | undefined;
  let stack: EdgeStack | undefined;
  let app: { stop(): Promise<void> } | undefined;
  let watcher: BusClient | undefined;

  afterEach(async () => {
    await app?.stop();
    await watcher?.close();
    await stack?.stop();
    await sim?.stop();
    app = undefined;
    watcher = undefined;
    stack = undefined;
    sim = undefined;
  });

  it('cars parking on the simulated sensors change the published free count', async () => {
    const manifests = await loadManifestFiles([MANIFESTS]);
    sim = await startModbusSimulator({ devices: resolveManifests(manifests), tcp: { port: 0 } });
    const port = sim.port;
    stack = await startEdgeStack({
      manifestsDir: MANIFESTS,
      protocol: 'modbus',
      adjust: (d) => {
        const next = structuredClone(d);
        // a generous answer timeout: simulator and mapper share this process with the whole test run
        next.spec.protocol!.configData = { ...next.spec.protocol!.configData, port: String(port), timeout: 3000 };
        return next;
      },
    });
    watcher = await connectBus({ url: stack.broker.url, clientId: 'parking-display' });
    const display = await collectMessages(watcher, freeCountTopic('lot-a'));
    // each wait looks only at counts published after the previous one matched
    let from = 0;
    const seen = async (p: (s: LotSummary) => boolean) => {
      const start = from;
      const later = (m: { json(): unknown }) =>
        display.messages.indexOf(m as never) >= start && p(m.json() as LotSummary);
      const all = await display.waitFor(later, 20_000).catch((e: Error) => {
        throw new Error(`${e.message}; counts seen: ${display.messages.map((m) => m.payload.toString()).join(' ')}`);
      });
      const i = all.findIndex(later);
      from = i + 1;
      return all[i]!.json() as LotSummary;
    };

    app = await startApp({ brokerUrl: stack.broker.url, node: NODE, logger: captureLogs().logger });
    expect(await seen((s) => s.unknown === 0 && s.free === 4)).toMatchObject({ total: 4 });

    sim.poke('default/parking-bay-01', 'occupied', true);
    sim.poke('default/parking-bay-03', 'occupied', true);
    expect(await seen((s) => s.free === 2 && s.occupied === 2)).toMatchObject({ free: 2, total: 4 });

    sim.poke('default/parking-bay-01', 'occupied', false);
    expect(await seen((s) => s.free === 3)).toMatchObject({ free: 3, occupied: 1 });
  });
});
