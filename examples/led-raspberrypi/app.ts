// The LED's edge app: the GPIO mapper already turns the desired `power-status` into the pin level, so
// the app only watches the twin over KubeEdge's MQTT contract and says, in the log, what the cloud asked
// for and what the pin reports. It is the smallest edge app there is, and a template for your own.

import type { BusClient } from '@edgetwin/eventbus/contracts';
import type { Logger } from 'pino';
import { connectAppBus } from '../shared/bus.js';
import { type DeviceWatch, type PropertyState, watchDevice } from '../shared/device-watch.js';
import { defaultLogger, isMain, runStandalone } from '../shared/standalone.js';

export const DEFAULT_DEVICE = 'default/led-light-instance-01';
export const POWER_PROPERTY = 'power-status';

export interface LedAppOptions {
  brokerUrl: string;
  node: string;
  logger?: Logger;
  /** ns/name of the LED device */
  device?: string;
  /** called whenever the LED's power-status changes (desired or reported); for tests and embedding */
  onPowerStatus?: (state: PropertyState) => void;
  retryMs?: number;
}

/** One line a person can read: "ON", "OFF", or "OFF, switching to ON". */
export function describePower(state: PropertyState): string {
  const actual = state.actual ?? 'unknown';
  if (state.expected !== undefined && state.expected !== state.actual)
    return `${actual}, switching to ${state.expected}`;
  return actual;
}

export async function startApp(opts: LedAppOptions): Promise<{ stop(): Promise<void> }> {
  const device = opts.device ?? DEFAULT_DEVICE;
  const retryMs = opts.retryMs ?? 1000;
  const log = (opts.logger ?? defaultLogger('led')).child({ device, node: opts.node });
  const bus: BusClient = await connectAppBus(opts.brokerUrl, 'led', log);
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;

  const report = (state: PropertyState | undefined) => {
    if (!state) return;
    log.info({ desired: state.expected, reported: state.actual }, `LED ${describePower(state)}`);
    opts.onPowerStatus?.(state);
  };

  const watch: DeviceWatch = await watchDevice(bus, device, {
    logger: log,
    onChange: (snapshot, changed) => {
      if (changed.includes(POWER_PROPERTY)) report(snapshot[POWER_PROPERTY]);
    },
  });

  const firstRead = async () => {
    if (stopped) return;
    try {
      await watch.refresh(Math.max(retryMs, 500));
    } catch (e) {
      if (stopped) return;
      log.warn({ err: (e as Error).message }, `twin not ready for ${device}; asking again in ${retryMs} ms`);
      retryTimer = setTimeout(() => void firstRead(), retryMs);
    }
  };
  void firstRead();

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(retryTimer);
      await watch.close();
      await bus.close();
    },
  };
}

if (isMain(import.meta.url)) {
  await runStandalone('led', ['device'], (args, logger) =>
    startApp({
      brokerUrl: args.brokerUrl,
      node: args.node,
      logger,
      ...(args.extra.device ? { device: args.extra.device } : {}),
    }),
  );
}
