// The deprecated sysfs GPIO interface through onoff (an optional native package, loaded lazily).
// Pin numbers are chip-relative; the kernel's sysfs number offset is added here (sysfs-offset.ts).

import { type GpioBackend, GpioError, type GpioLine, type Level, type LineRequest, lineOpenError } from './backend.js';
import { sysfsPinOffset } from './sysfs-offset.js';

interface OnoffGpio {
  read(): Promise<number>;
  write(v: number): Promise<void>;
  watch(cb: (err: Error | null | undefined, value: number) => void): void;
  unwatch(cb?: (err: Error | null | undefined, value: number) => void): void;
  unexport(): void;
}
type OnoffCtor = new (gpio: number, direction: string, edge?: string, options?: Record<string, unknown>) => OnoffGpio;

export const ONOFF_MISSING =
  'GPIO backend sysfs unavailable: the optional package onoff did not load (`npm install onoff@6.0.3`; it needs a C++ toolchain)';

async function loadOnoff(): Promise<OnoffCtor> {
  const specifier = 'onoff';
  try {
    const mod = (await import(specifier)) as { Gpio?: OnoffCtor; default?: { Gpio?: OnoffCtor } };
    const Gpio = mod.Gpio ?? mod.default?.Gpio;
    if (!Gpio) throw new Error('module has no Gpio export');
    return Gpio;
  } catch (e) {
    throw new GpioError(`${ONOFF_MISSING} (${(e as Error).message})`, 'backend-unavailable', { cause: e });
  }
}

export const sysfsBackend: GpioBackend = {
  name: 'sysfs',
  async requestLine(chipName: string, req: LineRequest): Promise<GpioLine> {
    const Gpio = await loadOnoff();
    const offset = await sysfsPinOffset(chipName);
    let gpio: OnoffGpio;
    try {
      const dir = req.direction === 'out' ? (req.initial === 1 ? 'high' : 'low') : 'in';
      gpio = new Gpio(req.pin + offset, dir, req.direction === 'in' ? req.edge : 'none', {
        reconfigureDirection: true,
      });
    } catch (e) {
      const err = lineOpenError('sysfs', chipName, req.pin, e);
      err.message += ` (sysfs number ${req.pin + offset})`;
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        err.message += '; this kernel may not provide /sys/class/gpio: use backend libgpiod';
      throw err;
    }
    const io = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
      try {
        return await f();
      } catch (e) {
        throw new GpioError(
          `GPIO pin ${req.pin} on ${chipName} (sysfs): ${what} failed: ${(e as Error).message}`,
          'io',
          {
            cause: e,
          },
        );
      }
    };
    return {
      read: async () => ((await io('read', () => gpio.read())) ? 1 : 0),
      write: (level) => io('write', () => gpio.write(level)),
      watch(onEdge) {
        const cb = (err: Error | null | undefined, value: number) => {
          if (!err) onEdge((value ? 1 : 0) as Level, Date.now());
        };
        gpio.watch(cb);
        return () => gpio.unwatch(cb);
      },
      release: async () => gpio.unexport(),
    };
  },
};
