// How one device's twin looks in the terminal: lamps (ON/OFF properties) as coloured dots, everything
// else as name=value. Pure, so the view's look is tested without a terminal.

import type { TwinSnapshot } from './device-watch.js';

const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
/** Lamp colours by property name; any other ON/OFF property shows as a white lamp. */
const LAMP_COLOURS: Record<string, string> = {
  red: '\x1b[31m',
  yellow: '\x1b[33m',
  green: '\x1b[32m',
  blue: '\x1b[34m',
};
const WHITE = '\x1b[37m';

const ON = new Set(['on', 'true', '1', 'high']);
const OFF = new Set(['off', 'false', '0', 'low']);

export function lampState(value: string | undefined): 'on' | 'off' | undefined {
  const v = value?.toLowerCase();
  if (v === undefined) return undefined;
  if (ON.has(v)) return 'on';
  if (OFF.has(v)) return 'off';
  return undefined;
}

export interface RenderOptions {
  /** ANSI colours (a TTY); false gives plain text */
  color: boolean;
  /** property names in display order; others follow in snapshot order */
  order?: readonly string[];
}

/** Properties in display order: the given order first, then the rest as the snapshot lists them. */
export function propertyOrder(snapshot: TwinSnapshot, order: readonly string[] = []): string[] {
  const names = Object.keys(snapshot);
  return [...order.filter((n) => names.includes(n)), ...names.filter((n) => !order.includes(n))];
}

/**
 * One line per device. The value shown is what the device reports (`actual`, "?" before any report); a
 * desired value not reported yet follows an arrow, e.g. "red=OFF→ON", so a user sees a command in flight.
 */
export function renderDevice(id: string, snapshot: TwinSnapshot, opts: RenderOptions): string {
  const parts: string[] = [];
  for (const name of propertyOrder(snapshot, opts.order)) {
    const p = snapshot[name] ?? {};
    // Only what the device reported is shown as its state; a desired value it has not reported yet
    // follows an arrow, so a light never looks lit just because someone asked for it.
    const shown = p.actual;
    const pending = p.expected !== undefined && p.expected !== p.actual ? p.expected : undefined;
    const lamp = lampState(shown);
    if (opts.color && lamp !== undefined) {
      const colour = LAMP_COLOURS[name] ?? WHITE;
      const dot = lamp === 'on' ? `${colour}●${RESET}` : `${DIM}○${RESET}`;
      parts.push(`${dot} ${name}${pending !== undefined ? `${DIM}→${pending}${RESET}` : ''}`);
    } else {
      parts.push(`${name}=${shown ?? '?'}${pending !== undefined ? `→${pending}` : ''}`);
    }
  }
  const body =
    parts.length > 0
      ? parts.join('  ')
      : opts.color
        ? `${DIM}(waiting for the twin)${RESET}`
        : '(waiting for the twin)';
  return `${id}  ${body}`;
}
