// A live view of device twins for the demos, fed only by KubeEdge's MQTT topics (`twin/get/result`,
// `twin/update/document`). On a TTY the lines are redrawn in place with coloured lamps; otherwise (a
// pipe, a log file, CI) every change is one plain, timestamped line.

import type { BusClient } from '@edgetwin/eventbus/contracts';
import type { Logger } from 'pino';
import { connectAppBus } from './bus.js';
import { type DeviceWatch, watchDevice } from './device-watch.js';
import { renderDevice } from './terminal-render.js';

export interface TerminalViewOptions {
  brokerUrl: string;
  /** ns/name of each device to show, one line each */
  devices: string[];
  /** where to draw (default process.stdout) */
  out?: NodeJS.WritableStream;
  logger?: Logger;
  /** property display order, e.g. ['red', 'yellow', 'green'] */
  order?: readonly string[];
  /** how often to ask the twin again for a device it does not know yet (ms) */
  retryMs?: number;
}

const CLEAR_LINE = '\x1b[2K';
const up = (n: number) => `\x1b[${n}A`;

export async function startTerminalView(opts: TerminalViewOptions): Promise<{ stop(): Promise<void> }> {
  const out = opts.out ?? process.stdout;
  const tty = (out as NodeJS.WriteStream).isTTY === true;
  const retryMs = opts.retryMs ?? 1000;
  const log = opts.logger?.child({ component: 'terminal-view' });
  const silent = {
    child: () => silent,
    debug() {},
    info() {},
    warn() {},
    error() {},
    trace() {},
    fatal() {},
  } as unknown as Logger;
  const bus: BusClient = await connectAppBus(opts.brokerUrl, 'terminal-view', log ?? silent);
  let drawn = 0;
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const watches: DeviceWatch[] = [];

  const redraw = () => {
    if (stopped) return;
    const lines = watches.map((w) => renderDevice(w.id, w.snapshot(), { color: true, order: opts.order ?? [] }));
    let text = drawn > 0 ? up(drawn) : '';
    for (const l of lines) text += `\r${CLEAR_LINE}${l}\n`;
    drawn = lines.length;
    out.write(text);
  };

  const plainLine = (w: DeviceWatch) => {
    if (stopped) return;
    const time = new Date().toISOString().slice(11, 23);
    out.write(`${time} ${renderDevice(w.id, w.snapshot(), { color: false, order: opts.order ?? [] })}\n`);
  };

  for (const id of opts.devices) {
    const w: DeviceWatch = await watchDevice(bus, id, {
      ...(log ? { logger: log } : {}),
      onChange: () => (tty ? redraw() : plainLine(w)),
    });
    watches.push(w);
  }
  if (tty) redraw();

  const firstRead = async (w: DeviceWatch) => {
    if (stopped) return;
    try {
      await w.refresh(Math.max(retryMs, 500));
    } catch (e) {
      if (stopped) return;
      log?.debug({ device: w.id, err: (e as Error).message }, 'twin not ready; asking again');
      const t = setTimeout(() => {
        timers.delete(t);
        void firstRead(w);
      }, retryMs);
      timers.add(t);
    }
  };
  for (const w of watches) void firstRead(w);

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await Promise.allSettled(watches.map((w) => w.close()));
      await bus.close();
    },
  };
}
