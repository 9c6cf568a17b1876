// The traffic light's edge app. It speaks only KubeEdge's MQTT contract: it reads the twin with
// `twin/get`, follows `twin/update/document`, and drives the lamps by setting their desired (`expected`)
// values with `twin/update`; the GPIO mapper turns desired values into pin levels.
//
// Override rule: the property `mode` (set from the cloud with `edgetwin twin set traffic-light-01
// mode=manual`). In `auto` (or when unset) the app cycles red -> green -> yellow -> red. In `manual` it
// stops touching the lamps, so the lamps follow the desired values the cloud sets; back in `auto` the
// cycle restarts at red. `mode` is itself a GPIO output (an indicator lamp lit in manual), so the mapper
// reports it like any lamp; the app reads the desired value first, so it reacts before the mapper does.

import type { BusClient } from '@edgetwin/eventbus/contracts';
import type { Logger } from 'pino';
import { connectAppBus } from '../shared/bus.js';
import { type DeviceWatch, watchDevice } from '../shared/device-watch.js';
import { defaultLogger, isMain, runStandalone, UsageError } from '../shared/standalone.js';
import {
  COLOURS,
  type Colour,
  DEFAULT_DURATIONS,
  lampsFor,
  MODE_PROPERTY,
  type Mode,
  nextColour,
  type PhaseDurations,
  parseDurations,
  parseMode,
} from './cycle.js';

export const DEFAULT_DEVICE = 'default/traffic-light-01';

export interface TrafficLightAppOptions {
  brokerUrl: string;
  node: string;
  logger?: Logger;
  /** ns/name of the traffic light device */
  device?: string;
  /** phase lengths in ms; missing colours keep DEFAULT_DURATIONS */
  durations?: Partial<PhaseDurations>;
  /** how often to ask the twin again while it does not know the device yet (ms) */
  retryMs?: number;
}

export async function startApp(opts: TrafficLightAppOptions): Promise<{ stop(): Promise<void> }> {
  const device = opts.device ?? DEFAULT_DEVICE;
  const durations: PhaseDurations = { ...DEFAULT_DURATIONS, ...opts.durations };
  const retryMs = opts.retryMs ?? 1000;
  const log = (opts.logger ?? defaultLogger('traffic-light')).child({ device, node: opts.node });

  const bus: BusClient = await connectAppBus(opts.brokerUrl, 'traffic-light', log);
  let stopped = false;
  let ready = false;
  let mode: Mode = 'auto';
  let phaseTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  // Bumped on every mode change, so a phase whose publish was in flight does not schedule the next one.
  let generation = 0;

  const enterPhase = async (colour: Colour, gen: number) => {
    if (stopped || gen !== generation) return;
    try {
      await watch.setExpected(lampsFor(colour));
      log.info({ colour, ms: durations[colour] }, `light ${colour}`);
    } catch (e) {
      log.warn({ err: e, colour }, 'could not publish the lamp values; trying again at the next phase');
    }
    if (stopped || gen !== generation) return;
    phaseTimer = setTimeout(() => void enterPhase(nextColour(colour), gen), durations[colour]);
  };

  /**
   * `setByCloud`: lamps whose desired value changed in the same twin document as the mode, i.e. the
   * cloud's command that switched to manual ("mode=manual red=ON"). The app writes the whole light once
   * more: those lamps as the cloud set them, every other lamp OFF. So the light shows what the cloud asked
   * for and not the last phase as well, even when a phase the app sent just before was still on its way.
   */
  const applyMode = (next: Mode, setByCloud?: readonly string[]) => {
    mode = next;
    generation++;
    clearTimeout(phaseTimer);
    if (next === 'auto') {
      log.info({ mode }, 'auto mode: cycling red -> green -> yellow');
      void enterPhase('red', generation);
      return;
    }
    log.info({ mode }, 'manual mode: the lamps follow the desired values set from the cloud');
    if (!setByCloud) return;
    const snapshot = watch.snapshot();
    const lamps = Object.fromEntries(
      COLOURS.map((c) => [c, setByCloud.includes(c) ? (snapshot[c]?.expected ?? 'OFF') : 'OFF']),
    );
    watch
      .setExpected(lamps)
      .catch((e: Error) => log.warn({ err: e, lamps }, 'could not hand the lamps over to the cloud'));
  };

  const modeOf = (s: ReturnType<DeviceWatch['snapshot']>): string | undefined =>
    s[MODE_PROPERTY]?.expected ?? s[MODE_PROPERTY]?.actual;

  const watch: DeviceWatch = await watchDevice(bus, device, {
    logger: log,
    onChange: (snapshot, changed) => {
      if (!ready || !changed.includes(MODE_PROPERTY)) return;
      const raw = modeOf(snapshot);
      const next = parseMode(raw);
      if (next === undefined) {
        log.warn(
          { value: raw, property: MODE_PROPERTY },
          `ignoring mode "${raw}": use auto or manual; keeping ${mode}`,
        );
        return;
      }
      if (next !== mode) applyMode(next, changed);
    },
  });

  // The twin may not know the device yet (the app started before the manifests were applied): keep asking.
  const waitForTwin = async () => {
    if (stopped) return;
    try {
      await watch.refresh(Math.max(retryMs, 500));
      if (stopped) return;
      ready = true;
      const raw = modeOf(watch.snapshot());
      const initial = parseMode(raw);
      if (raw !== undefined && initial === undefined)
        log.warn({ value: raw, property: MODE_PROPERTY }, `mode "${raw}" is not auto or manual; starting in auto`);
      applyMode(initial ?? 'auto');
    } catch (e) {
      log.warn({ err: (e as Error).message }, `twin not ready for ${device}; asking again in ${retryMs} ms`);
      retryTimer = setTimeout(() => void waitForTwin(), retryMs);
    }
  };
  void waitForTwin();

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(phaseTimer);
      clearTimeout(retryTimer);
      await watch.close();
      await bus.close();
    },
  };
}

if (isMain(import.meta.url)) {
  await runStandalone('traffic-light', ['device', 'durations'], (args, logger) => {
    let durations: PhaseDurations | undefined;
    try {
      durations = args.extra.durations ? parseDurations(args.extra.durations) : undefined;
    } catch (e) {
      throw new UsageError(`--durations: ${(e as Error).message}`);
    }
    return startApp({
      brokerUrl: args.brokerUrl,
      node: args.node,
      logger,
      ...(args.extra.device ? { device: args.extra.device } : {}),
      ...(durations ? { durations } : {}),
    });
  });
}
