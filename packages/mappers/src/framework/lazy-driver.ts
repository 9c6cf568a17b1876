// A DeviceDriver whose implementation module loads on first use (issue 15 target 4: `up` ready < 2 s). The
// edge starts one mapper per built-in protocol; a driver whose protocol library is heavy (node-opcua-client
// costs seconds of CPU to import) is loaded only once a device of that protocol is created and connected,
// so a mapper with no such device never pays for it. The factory's validate() stays on config.ts (light).

import type { ResolvedProperty } from '@edgetwin/api';
import { type DeviceDriver, type DeviceHealth, DriverError, type RawValue } from './driver.js';

/**
 * Wraps `load` (a dynamic import that builds the real driver) as a DeviceDriver. The first call of any method
 * loads it once; a failed load (library missing or broken) is a non-retryable DriverError naming `what`, and
 * the next call tries again. subscribe/pushed exist once the real driver is loaded and has them (the
 * framework asks after connect).
 */
export function lazyDriver(what: string, load: () => Promise<DeviceDriver>): DeviceDriver {
  let inner: DeviceDriver | undefined;
  let loading: Promise<DeviceDriver> | undefined;
  const ready = (): Promise<DeviceDriver> => {
    if (inner) return Promise.resolve(inner);
    loading ??= load().then(
      (d) => {
        inner = d;
        return d;
      },
      (e: unknown) => {
        loading = undefined;
        throw e instanceof DriverError
          ? e
          : new DriverError(`cannot load ${what}: ${(e as Error).message}`, 'unsupported', false, { cause: e });
      },
    );
    return loading;
  };
  return {
    connect: async () => (await ready()).connect(),
    readBatch: async (properties: ResolvedProperty[]) => (await ready()).readBatch(properties),
    write: async (property: ResolvedProperty, value: RawValue) => (await ready()).write(property, value),
    health: async (): Promise<DeviceHealth> => (inner ? inner.health() : 'unknown'),
    // nothing loaded means nothing opened: no need to load a library to close it
    disconnect: async () => {
      const d = inner ?? (await loading?.catch(() => undefined));
      await d?.disconnect();
    },
    get subscribe() {
      return inner?.subscribe?.bind(inner);
    },
    get pushed() {
      return inner?.pushed?.bind(inner);
    },
  };
}
