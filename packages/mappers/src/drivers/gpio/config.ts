// The GPIO protocol and visitor configData keys (docs/gpio.md), parsed with one message per problem.

import type { ResolvedDevice, ResolvedProperty } from '@edgetwin/api';
import { BACKENDS, type BackendName, type Direction, type Edge } from './backend.js';

export interface GpioDeviceConfig {
  backend: BackendName;
  chip: string;
}

export interface GpioPinConfig {
  pin: number;
  direction: Direction;
  activeLow: boolean;
  edge: Edge;
  debounceMs: number;
  /** logical level an output starts at (false unless `initial: true`) */
  initial: boolean;
}

const EDGES: readonly Edge[] = ['none', 'rising', 'falling', 'both'];

/** EDGETWIN_GPIO_BACKEND overrides every device's backend, so a Raspberry Pi manifest runs on a laptop. */
export function deviceConfig(
  device: ResolvedDevice,
  env = process.env,
): { config?: GpioDeviceConfig; problems: string[] } {
  const c = device.protocolConfig;
  const problems: string[] = [];
  const backend = String(env.EDGETWIN_GPIO_BACKEND || c.backend || 'libgpiod');
  if (!BACKENDS.includes(backend as BackendName))
    problems.push(`protocol configData backend "${backend}" is not one of ${BACKENDS.join(', ')}`);
  const chip = c.chip === undefined ? 'gpiochip0' : String(c.chip);
  if (!chip) problems.push('protocol configData chip must not be empty');
  if (problems.length) return { problems };
  return { config: { backend: backend as BackendName, chip }, problems };
}

function bool(v: unknown): boolean | undefined {
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false' || v === undefined) return false;
  return undefined;
}

export function pinConfig(prop: ResolvedProperty): { config?: GpioPinConfig; problems: string[] } {
  const v = prop.visitor;
  const where = `property ${prop.name}`;
  const problems: string[] = [];
  const pin = typeof v.pin === 'string' && v.pin.trim() !== '' ? Number(v.pin) : v.pin;
  if (typeof pin !== 'number' || !Number.isInteger(pin) || pin < 0)
    problems.push(`${where}: visitor pin must be a non-negative integer (got ${JSON.stringify(v.pin)})`);
  const direction = (v.direction ?? (prop.accessMode === 'ReadOnly' ? 'in' : 'out')) as Direction;
  if (direction !== 'in' && direction !== 'out') problems.push(`${where}: visitor direction must be "in" or "out"`);
  if (direction === 'out' && prop.accessMode === 'ReadOnly')
    problems.push(`${where}: an output pin cannot be ReadOnly (use direction "in" or accessMode ReadWrite)`);
  const edge = (v.edge ?? 'none') as Edge;
  if (!EDGES.includes(edge)) problems.push(`${where}: visitor edge must be one of ${EDGES.join(', ')}`);
  if (edge !== 'none' && direction === 'out') problems.push(`${where}: edge events need direction "in"`);
  const activeLow = bool(v.activeLow);
  if (activeLow === undefined) problems.push(`${where}: visitor activeLow must be true or false`);
  const initial = bool(v.initial);
  if (initial === undefined) problems.push(`${where}: visitor initial must be true or false`);
  const debounceMs = Number(v.debounceMs ?? 0);
  if (!Number.isFinite(debounceMs) || debounceMs < 0)
    problems.push(`${where}: visitor debounceMs must be a number of milliseconds >= 0`);
  if (problems.length) return { problems };
  return {
    config: {
      pin: pin as number,
      direction,
      activeLow: activeLow as boolean,
      edge,
      debounceMs,
      initial: initial as boolean,
    },
    problems,
  };
}
