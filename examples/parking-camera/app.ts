// The parking-lot camera's edge app (issue 13): one view of the lot's entrance. It follows the camera's twin
// over KubeEdge's MQTT contract (its `motion` event, its last snapshot's metadata) and the free count the
// parking example's app publishes (`parking/<lot>/free`), and publishes both together, retained, on
// `parking/<lot>/entrance` as {"lot","motion","free","total","snapshot","timestamp"} whenever either changes:
// a display shows "car at the entrance, 3 of 4 free" without knowing about ONVIF or Modbus.

import type { BusClient } from '@edgetwin/eventbus/contracts';
import type { Logger } from 'pino';
import { DEFAULT_LOT } from '../parking/app.js';
import { freeCountTopic, type LotSummary } from '../parking/lot.js';
import { connectAppBus } from '../shared/bus.js';
import { type DeviceWatch, watchDevice } from '../shared/device-watch.js';
import { defaultLogger, isMain, runStandalone } from '../shared/standalone.js';

export const DEFAULT_CAMERA = 'default/parking-camera-01';

export interface EntranceView {
  lot: string;
  /** the camera sees motion at the entrance; null before its twin says */
  motion: boolean | null;
  free: number | null;
  total: number | null;
  /** the last snapshot's metadata as the camera's twin holds it ({time, bytes, width, height, topic}) */
  snapshot: Record<string, unknown> | null;
  timestamp: number;
}

export const entranceTopic = (lot: string) => `parking/${lot}/entrance`;

export async function startApp(opts: {
  brokerUrl: string;
  node: string;
  logger?: Logger;
  lot?: string;
  camera?: string;
}): Promise<{ stop(): Promise<void> }> {
  const lot = opts.lot ?? DEFAULT_LOT;
  const log = (opts.logger ?? defaultLogger('parking-camera')).child({ lot, node: opts.node });
  const bus: BusClient = await connectAppBus(opts.brokerUrl, 'parking-camera', log);
  const view: EntranceView = { lot, motion: null, free: null, total: null, snapshot: null, timestamp: Date.now() };
  let shown = '';
  let publishing: Promise<void> = Promise.resolve();
  const publish = () => {
    const key = JSON.stringify([view.motion, view.free, view.total, view.snapshot]);
    if (key === shown) return;
    shown = key;
    view.timestamp = Date.now();
    if (view.motion !== null)
      log.info(
        { motion: view.motion, free: view.free, total: view.total },
        `${view.motion ? 'movement at the entrance' : 'entrance quiet'}, ${view.free ?? '?'} of ${view.total ?? '?'} spaces free`,
      );
    const msg = JSON.stringify(view);
    publishing = publishing
      .then(() => bus.publish(entranceTopic(lot), msg, { qos: 1, retain: true }))
      .catch((e: Error) => log.warn({ err: e }, 'could not publish the entrance view'));
  };

  const unsubscribe = await bus.subscribe(freeCountTopic(lot), (_t, payload) => {
    try {
      const s = JSON.parse(payload.toString()) as LotSummary;
      view.free = s.free;
      view.total = s.total;
      publish();
    } catch {
      log.warn('the free count is not JSON; ignored');
    }
  });
  const camera: DeviceWatch = await watchDevice(bus, opts.camera ?? DEFAULT_CAMERA, {
    logger: log,
    onChange: (snapshot) => {
      const m = snapshot.motion?.actual;
      view.motion = m === 'true' ? true : m === 'false' ? false : null;
      try {
        view.snapshot = snapshot.snapshot?.actual
          ? (JSON.parse(snapshot.snapshot.actual) as Record<string, unknown>)
          : null;
      } catch {
        view.snapshot = null;
      }
      publish();
    },
  });
  void camera.refresh(2000).catch(() => undefined); // a twin that does not know the camera yet: wait for documents

  return {
    async stop() {
      await camera.close();
      await unsubscribe();
      await publishing;
      await bus.close();
    },
  };
}

if (isMain(import.meta.url)) {
  await runStandalone('parking-camera', ['lot', 'camera'], (args, logger) =>
    startApp({
      brokerUrl: args.brokerUrl,
      node: args.node,
      logger,
      ...(args.extra.lot ? { lot: args.extra.lot } : {}),
      ...(args.extra.camera ? { camera: args.extra.camera } : {}),
    }),
  );
}
