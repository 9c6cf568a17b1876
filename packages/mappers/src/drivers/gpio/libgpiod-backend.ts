// The Linux GPIO character device through node-libgpiod 0.5 (libgpiod 1.x). It is an optional native
// package that is not installed by default, so it is loaded lazily and its absence is a clear error.
// node-libgpiod 0.5 has no edge-event API, so edges are found by polling the line.

import { existsSync } from 'node:fs';
import { type GpioBackend, GpioError, type GpioLine, type Level, type LineRequest, lineOpenError } from './backend.js';

interface LibgpiodLine {
  requestInputMode(consumer?: string): void;
  /** node-libgpiod 0.5.3: consumer first, then the initial value (lib/line.js) */
  requestOutputMode(consumer?: string, defaultValue?: number): void;
  getValue(): number;
  setValue(v: number): void;
  release(): void;
}
interface LibgpiodModule {
  Chip: new (chip: number | string) => unknown;
  Line: new (chip: unknown, offset: number) => LibgpiodLine;
}

export const LIBGPIOD_MISSING =
  'GPIO backend libgpiod unavailable: install Debian libgpiod-dev and `npm install node-libgpiod@0.5.3`';

let loaded: Promise<LibgpiodModule> | undefined;

async function loadLibgpiod(): Promise<LibgpiodModule> {
  loaded ??= (async () => {
    // a variable specifier keeps the type checker and bundlers from requiring the optional package
    const specifier = 'node-libgpiod';
    try {
      const mod = (await import(specifier)) as Partial<LibgpiodModule> & { default?: LibgpiodModule };
      const lib = mod.Chip ? (mod as LibgpiodModule) : mod.default;
      if (!lib?.Chip || !lib.Line) throw new Error('module has no Chip/Line exports');
      return lib;
    } catch (e) {
      loaded = undefined;
      throw new GpioError(`${LIBGPIOD_MISSING} (${(e as Error).message})`, 'backend-unavailable', { cause: e });
    }
  })();
  return loaded;
}

/** How often an input requested with edges is sampled, since node-libgpiod 0.5 cannot wait for edges. */
export const EDGE_POLL_MS = 10;

export const libgpiodBackend: GpioBackend = {
  name: 'libgpiod',
  async requestLine(chipName: string, req: LineRequest): Promise<GpioLine> {
    const lib = await loadLibgpiod();
    let line: LibgpiodLine;
    // node-libgpiod's Line does not keep its Chip alive, and a collected Chip closes the chip's file
    // (gpiod_chip_close), taking the line with it: reads then fail, or the process crashes. `held`
    // keeps the Chip as long as the line is in use (issue 18, found on gpio-sim).
    let held: unknown;
    const m = /^gpiochip(\d+)$/.exec(chipName);
    // node-libgpiod says only "Unable to open chip": name the missing device file instead
    if (m && !existsSync(`/dev/${chipName}`))
      throw new GpioError(
        `GPIO pin ${req.pin} on ${chipName} (libgpiod): /dev/${chipName} does not exist: this machine has no such GPIO chip (ls /dev/gpiochip*)`,
        'pin-inaccessible',
      );
    try {
      held = new lib.Chip(m ? Number(m[1]) : chipName);
      line = new lib.Line(held, req.pin);
      if (req.direction === 'out') line.requestOutputMode(req.consumer, req.initial ?? 0);
      else line.requestInputMode(req.consumer);
    } catch (e) {
      throw lineOpenError('libgpiod', chipName, req.pin, e);
    }
    const io = <T>(what: string, f: () => T): T => {
      try {
        return f();
      } catch (e) {
        throw new GpioError(`GPIO pin ${req.pin} on ${chipName}: ${what} failed: ${(e as Error).message}`, 'io', {
          cause: e,
        });
      }
    };
    return {
      read: async () => (io('read', () => line.getValue()) ? 1 : 0),
      write: async (level) => io('write', () => line.setValue(level)),
      watch(onEdge) {
        let last: Level = io('read', () => line.getValue()) ? 1 : 0;
        const timer = setInterval(() => {
          let now: Level;
          try {
            now = line.getValue() ? 1 : 0;
          } catch {
            return; // the next read by the scheduler reports the error
          }
          if (now === last) return;
          last = now;
          if (req.edge === 'both' || (req.edge === 'rising' && now === 1) || (req.edge === 'falling' && now === 0))
            onEdge(now, Date.now());
        }, EDGE_POLL_MS);
        timer.unref();
        return () => clearInterval(timer);
      },
      release: async () => {
        io('release', () => line.release());
        held = undefined;
      },
    };
  },
};
