// The one home of GPIO configuration (docs/gpio.md; issue 11 "one home for protocol config"): protocol
// configData -> GpioDeviceConfig, visitor configData -> GpioPinConfig, and validateGpioDevice, which
// `edgetwin validate`/`apply` and the running mapper both call. Issues name the property and key.

import {
  type ConfigData,
  type ConfigIssue,
  type ConfigParse,
  ConfigReader,
  type ResolvedDevice,
  type ResolvedProperty,
} from '@edgetwin/api';
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
export function parseGpioProtocol(config: ConfigData, env = process.env): ConfigParse<GpioDeviceConfig> {
  const r = new ConfigReader(config);
  const backend = String(env.EDGETWIN_GPIO_BACKEND || config.backend || 'libgpiod');
  if (!BACKENDS.includes(backend as BackendName))
    r.problem('backend', `"${backend}" is not one of ${BACKENDS.join(', ')}`);
  const chip = config.chip === undefined ? 'gpiochip0' : String(config.chip);
  if (!chip) r.problem('chip', 'must not be empty');
  return r.result(() => ({ backend: backend as BackendName, chip }));
}

export function parseGpioVisitor(prop: ResolvedProperty): ConfigParse<GpioPinConfig> {
  const r = new ConfigReader(prop.visitor, prop.name);
  const v = prop.visitor;
  const pin = typeof v.pin === 'string' && v.pin.trim() !== '' ? Number(v.pin) : v.pin;
  if (typeof pin !== 'number' || !Number.isInteger(pin) || pin < 0)
    r.problem('pin', `must be a non-negative integer (got ${JSON.stringify(v.pin)})`);
  const direction = r.oneOf('direction', ['in', 'out'] as const, prop.accessMode === 'ReadOnly' ? 'in' : 'out');
  if (direction === 'out' && prop.accessMode === 'ReadOnly')
    r.problem('direction', 'out cannot be ReadOnly (use direction "in" or accessMode ReadWrite)');
  const edge = r.oneOf('edge', EDGES, 'none');
  if (edge !== 'none' && direction === 'out') r.problem('edge', 'events need direction "in"');
  const activeLow = r.bool('activeLow', false);
  const initial = r.bool('initial', false);
  const debounceMs = r.number('debounceMs', 0);
  if (debounceMs < 0) r.problem('debounceMs', 'must be a number of milliseconds >= 0');
  return r.result(() => ({ pin: pin as number, direction, activeLow, edge, debounceMs, initial }));
}

/** Every problem of a GPIO device's config: backend, chip, each pin, and pins used twice. */
export function validateGpioDevice(device: ResolvedDevice, env = process.env): ConfigIssue[] {
  const d = parseGpioProtocol(device.protocolConfig, env);
  const issues = d.ok ? [...d.notices] : [...d.issues];
  const pins = new Map<number, string>();
  for (const p of device.properties) {
    const pc = parseGpioVisitor(p);
    if (!pc.ok) {
      issues.push(...pc.issues);
      continue;
    }
    const other = pins.get(pc.value.pin);
    if (other)
      issues.push({ property: p.name, key: 'pin', message: `${pc.value.pin} is already used by property ${other}` });
    pins.set(pc.value.pin, p.name);
  }
  return issues;
}
