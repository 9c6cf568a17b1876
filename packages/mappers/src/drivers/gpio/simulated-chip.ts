// A GPIO chip in memory, for demos and tests. Pins hold a physical level and a direction; the mapper
// drives outputs, the "physical world" (a test, a demo UI) drives inputs with drive(). Every change is
// an event, so an app or `edgetwin up` can show the pins live.

import { EventEmitter } from 'node:events';
import {
  type Direction,
  type Edge,
  type GpioBackend,
  GpioError,
  type GpioLine,
  type Level,
  type LineRequest,
} from './backend.js';

export interface PinState {
  pin: number;
  level: Level;
  direction: Direction;
  edge: Edge;
  /** who requested the line; undefined when free */
  consumer?: string;
}

export interface PinChange {
  chip: string;
  pin: number;
  level: Level;
  /** 'mapper' when an output was written, 'world' when drive() changed it */
  source: 'mapper' | 'world';
  timestamp: number;
}

export class SimulatedGpioChip extends EventEmitter<{ change: [PinChange] }> {
  private readonly pins = new Map<number, PinState>();
  private fault: string | undefined;

  constructor(
    readonly name: string,
    /** number of lines, like a Raspberry Pi's 54 */
    readonly lines = 54,
  ) {
    super();
  }

  /** Every pin that has been requested or driven, by pin number. */
  snapshot(): PinState[] {
    return [...this.pins.values()].sort((a, b) => a.pin - b.pin).map((p) => ({ ...p }));
  }

  level(pin: number): Level {
    return this.pins.get(pin)?.level ?? 0;
  }

  /** The physical world sets a pin's level (a button pressed, a sensor switching). */
  drive(pin: number, level: Level): void {
    this.checkPin(pin);
    this.set(pin, level, 'world');
  }

  /** Make every operation fail with an I/O error (reason given), or heal it (undefined). */
  setFault(reason: string | undefined): void {
    this.fault = reason;
  }

  request(req: LineRequest): PinState {
    this.checkHealthy(req.pin);
    this.checkPin(req.pin);
    const cur = this.pins.get(req.pin);
    if (cur?.consumer && cur.consumer !== req.consumer)
      throw new GpioError(`GPIO pin ${req.pin} on ${this.name} is busy: held by ${cur.consumer}`, 'pin-busy');
    const state: PinState = {
      pin: req.pin,
      level: req.direction === 'out' && req.initial !== undefined ? req.initial : (cur?.level ?? 0),
      direction: req.direction,
      edge: req.edge,
      consumer: req.consumer,
    };
    this.pins.set(req.pin, state);
    return state;
  }

  release(pin: number): void {
    const cur = this.pins.get(pin);
    if (cur) cur.consumer = undefined;
  }

  read(pin: number): Level {
    this.checkHealthy(pin);
    return this.level(pin);
  }

  write(pin: number, level: Level): void {
    this.checkHealthy(pin);
    const cur = this.pins.get(pin);
    if (cur?.direction !== 'out')
      throw new GpioError(`GPIO pin ${pin} on ${this.name} is an input; it cannot be written`, 'config');
    this.set(pin, level, 'mapper');
  }

  private set(pin: number, level: Level, source: PinChange['source']): void {
    const cur = this.pins.get(pin) ?? { pin, level: 0, direction: 'in', edge: 'none' };
    const changed = cur.level !== level;
    cur.level = level;
    this.pins.set(pin, cur);
    if (changed) this.emit('change', { chip: this.name, pin, level, source, timestamp: Date.now() });
  }

  private checkPin(pin: number): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= this.lines)
      throw new GpioError(
        `GPIO pin ${pin} does not exist on ${this.name}: it has lines 0 to ${this.lines - 1}`,
        'pin-inaccessible',
      );
  }

  private checkHealthy(pin: number): void {
    if (this.fault) throw new GpioError(`GPIO pin ${pin} on ${this.name}: ${this.fault}`, 'io');
  }
}

const chips = new Map<string, SimulatedGpioChip>();

/** The shared simulated chip of this name (created on first use), so a demo UI sees the mapper's pins. */
export function simulatedChip(name = 'gpiochip0'): SimulatedGpioChip {
  let chip = chips.get(name);
  if (!chip) {
    chip = new SimulatedGpioChip(name);
    chips.set(name, chip);
  }
  return chip;
}

/** Names of the simulated chips created so far. */
export function simulatedChipNames(): string[] {
  return [...chips.keys()];
}

export const simulatedBackend: GpioBackend = {
  name: 'simulated',
  async requestLine(chipName: string, req: LineRequest): Promise<GpioLine> {
    const chip = simulatedChip(chipName);
    chip.request(req);
    return {
      read: async () => chip.read(req.pin),
      write: async (level) => chip.write(req.pin, level),
      watch(onEdge) {
        const listener = (c: PinChange) => {
          if (c.pin !== req.pin) return;
          if (
            req.edge === 'both' ||
            (req.edge === 'rising' && c.level === 1) ||
            (req.edge === 'falling' && c.level === 0)
          )
            onEdge(c.level, c.timestamp);
        };
        chip.on('change', listener);
        return () => chip.off('change', listener);
      },
      release: async () => chip.release(req.pin),
    };
  },
};
