// The parking lot's edge app. It follows each sensor's twin over KubeEdge's MQTT contract
// (`twin/get`, `twin/update/document`), keeps the number of free spaces, and publishes it retained on
// `parking/<lot>/free` as {"lot","free","total","occupied","unknown","timestamp"} whenever it changes,
// so a display that connects later gets the current count at once.

import type { BusClient } from '@edgetwin/eventbus/contracts';
import type { Logger } from 'pino';
import { connectAppBus } from '../shared/bus.js';
import { type DeviceWatch, type TwinSnapshot, watchDevice } from '../shared/device-watch.js';
import { defaultLogger, isMain, runStandalone, UsageError } from '../shared/standalone.js';
import { freeCountTopic, LotCounter, type LotSummary, occupancyFromDistance, parseOccupancy } from './lot.js';

export const DEFAULT_LOT = 'lot-a';
export const DEFAULT_SENSORS = [
  'default/parking-bay-01',
  'default/parking-bay-02',
  'default/parking-bay-03',
  'default/parking-bay-04',
] as const;

export interface ParkingAppOptions {
  brokerUrl: string;
  node: string;
  logger?: Logger;
  lot?: string;
  /** ns/name of each space's sensor */
  sensors?: readonly string[];
  /** with no occupancy reading, a distance below this (cm) counts as a car */
  occupiedBelowCm?: number;
  /** how often to ask the twin again for a sensor it does not know yet (ms) */
  retryMs?: number;
}

export async function startApp(opts: ParkingAppOptions): Promise<{ stop(): Promise<void> }> {
  const lot = opts.lot ?? DEFAULT_LOT;
  const sensors = opts.sensors ?? DEFAULT_SENSORS;
  const threshold = opts.occupiedBelowCm ?? 100;
  const retryMs = opts.retryMs ?? 1000;
  const log = (opts.logger ?? defaultLogger('parking')).child({ lot, node: opts.node });
  const counter = new LotCounter(lot, sensors);
  const topic = freeCountTopic(lot);

  const bus: BusClient = await connectAppBus(opts.brokerUrl, 'parking', log);
  let stopped = false;
  let last: LotSummary | undefined;
  const retryTimers = new Set<NodeJS.Timeout>();
  // Publishes go out one after another, so the retained count is always the newest one.
  let publishing: Promise<void> = Promise.resolve();

  const publishIfChanged = () => {
    const s = counter.summary();
    if (last && last.free === s.free && last.occupied === s.occupied && last.unknown === s.unknown) return;
    last = s;
    log.info(
      { free: s.free, total: s.total, occupied: s.occupied, unknown: s.unknown },
      `${s.free} of ${s.total} spaces free`,
    );
    publishing = publishing
      .then(() => bus.publish(topic, JSON.stringify(s), { qos: 1, retain: true }))
      .catch((e: Error) => log.warn({ err: e, topic }, 'could not publish the free count'));
  };

  const update = (sensor: string, snapshot: TwinSnapshot) => {
    let occ = parseOccupancy(snapshot.occupied?.actual);
    if (occ === 'unknown') occ = occupancyFromDistance(snapshot.distance?.actual, threshold);
    const before = counter.get(sensor);
    if (counter.set(sensor, occ)) log.debug({ sensor, from: before, to: occ }, 'space changed');
    publishIfChanged();
  };

  const watches: DeviceWatch[] = [];
  for (const sensor of sensors) {
    watches.push(
      await watchDevice(bus, sensor, {
        logger: log,
        onChange: (snapshot, changed) => {
          if (changed.includes('occupied') || changed.includes('distance')) update(sensor, snapshot);
        },
      }),
    );
  }

  const readFirst = async (watch: DeviceWatch) => {
    if (stopped) return;
    try {
      await watch.refresh(Math.max(retryMs, 500));
      if (!stopped) update(watch.id, watch.snapshot());
    } catch (e) {
      if (stopped) return;
      log.warn({ sensor: watch.id, err: (e as Error).message }, `twin not ready; asking again in ${retryMs} ms`);
      const t = setTimeout(() => {
        retryTimers.delete(t);
        void readFirst(watch);
      }, retryMs);
      retryTimers.add(t);
    }
  };
  for (const w of watches) void readFirst(w);

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of retryTimers) clearTimeout(t);
      await Promise.allSettled(watches.map((w) => w.close()));
      await publishing;
      await bus.close();
    },
  };
}

if (isMain(import.meta.url)) {
  await runStandalone('parking', ['lot', 'sensors', 'occupied-below-cm'], (args, logger) => {
    const below = args.extra['occupied-below-cm'];
    const cm = below === undefined ? undefined : Number(below);
    if (cm !== undefined && !(Number.isFinite(cm) && cm > 0))
      throw new UsageError(`--occupied-below-cm must be a positive number of centimetres, got "${below}"`);
    return startApp({
      brokerUrl: args.brokerUrl,
      node: args.node,
      logger,
      ...(args.extra.lot ? { lot: args.extra.lot } : {}),
      ...(args.extra.sensors ? { sensors: args.extra.sensors.split(',').map((s) => s.trim()) } : {}),
      ...(cm !== undefined ? { occupiedBelowCm: cm } : {}),
    });
  });
}
