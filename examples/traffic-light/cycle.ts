// The traffic light's rules, free of MQTT and timers: the order of the colours, how long each lasts,
// which lamps are lit in each phase, and how the override switch `mode` is read.

export const COLOURS = ['red', 'yellow', 'green'] as const;
export type Colour = (typeof COLOURS)[number];
export type Lamp = 'ON' | 'OFF';

/** The order of a European-style cycle without red+yellow: red, then green, then yellow, then red. */
const NEXT: Record<Colour, Colour> = { red: 'green', green: 'yellow', yellow: 'red' };

export function nextColour(c: Colour): Colour {
  return NEXT[c];
}

/** Exactly one lamp ON. */
export function lampsFor(c: Colour): Record<Colour, Lamp> {
  return {
    red: c === 'red' ? 'ON' : 'OFF',
    yellow: c === 'yellow' ? 'ON' : 'OFF',
    green: c === 'green' ? 'ON' : 'OFF',
  };
}

export type PhaseDurations = Record<Colour, number>;
export const DEFAULT_DURATIONS: PhaseDurations = { red: 5000, green: 4000, yellow: 1500 };

/**
 * Parses "red=5000,green=4000,yellow=1500" (milliseconds; any subset, the rest keep their defaults).
 * Throws naming the entry at fault.
 */
export function parseDurations(text: string, base: PhaseDurations = DEFAULT_DURATIONS): PhaseDurations {
  const out = { ...base };
  for (const part of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, value, ...rest] = part.split('=');
    if (!COLOURS.includes(name as Colour) || value === undefined || rest.length > 0)
      throw new Error(`phase durations: "${part}" is not <red|yellow|green>=<milliseconds>`);
    const ms = Number(value);
    if (!Number.isInteger(ms) || ms < 10 || ms > 3_600_000)
      throw new Error(`phase durations: ${name}=${value} must be a whole number of milliseconds from 10 to 3600000`);
    out[name as Colour] = ms;
  }
  return out;
}

export type Mode = 'auto' | 'manual';

/** The twin property the cloud sets to take over the lights. */
export const MODE_PROPERTY = 'mode';

/** `auto` or `manual` (any case); undefined for anything else, so a typo does not silently stop the cycle. */
export function parseMode(value: string | undefined): Mode | undefined {
  const v = value?.trim().toLowerCase();
  return v === 'auto' || v === 'manual' ? v : undefined;
}
