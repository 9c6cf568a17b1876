// The one home of the virtual protocol's configuration (docs/mappers.md; issue 11 "one home for protocol
// config"): protocol configData (instance, latencyMs) and visitor configData (a generator per value), and
// validateVirtualDevice, which `edgetwin validate`/`apply` and the running mapper both call.

import {
  type ConfigData,
  type ConfigIssue,
  type ConfigParse,
  ConfigReader,
  deviceConfigIssues,
  type ResolvedDevice,
  type ResolvedProperty,
} from '@edgetwin/api';
import type { RawValue } from '../../framework/driver.js';

export type GeneratorKind = 'echo' | 'counter' | 'random' | 'sine';
export const GENERATORS: readonly GeneratorKind[] = ['echo', 'counter', 'random', 'sine'];

/** Counter demo semantics (KubeEdge new-counter-demo): ON counts, PAUSED holds, OFF resets to 0 and holds. */
export const STATUS_ALIASES: Record<string, 'ON' | 'OFF' | 'PAUSED'> = {
  ON: 'ON',
  '0': 'ON',
  OFF: 'OFF',
  '1': 'OFF',
  PAUSED: 'PAUSED',
  '2': 'PAUSED',
};

export interface ValueSpec {
  generator: GeneratorKind;
  initial?: RawValue;
  /** counter: increment per period; random: largest step per period */
  step: number;
  periodMs: number;
  min?: number;
  max?: number;
  amplitude: number;
  /** values a written string must be one of */
  allowed?: string[];
}

export interface VirtualProtocolConfig {
  /** the simulated instance several devices may share (default: the device id) */
  instance?: string;
  /** added to every operation, to simulate a slow device */
  latencyMs: number;
}

export function parseVirtualProtocol(config: ConfigData): ConfigParse<VirtualProtocolConfig> {
  const r = new ConfigReader(config);
  const instance = r.string('instance');
  const latencyMs = r.number('latencyMs', 0);
  if (latencyMs < 0) r.problem('latencyMs', 'must be a number >= 0');
  return r.result(() => (instance === undefined ? { latencyMs } : { instance, latencyMs }));
}

/** Visitor configData -> value spec. `name: count` is a counter and `name: status` the counter's switch. */
export function parseVirtualVisitor(prop: Pick<ResolvedProperty, 'name' | 'visitor'>): ConfigParse<ValueSpec> {
  const visitor = prop.visitor;
  const r = new ConfigReader(visitor, prop.name);
  const name = String(visitor.name ?? '');
  const generator = r.oneOf('generator', GENERATORS, name === 'count' ? 'counter' : 'echo');
  const spec: ValueSpec = {
    generator,
    step: r.number('step', 1),
    periodMs: r.number('periodMs', 1000),
    amplitude: r.number('amplitude', 1),
  };
  if (spec.periodMs <= 0) r.problem('periodMs', 'must be > 0');
  if (visitor.min !== undefined) spec.min = r.number('min', Number.NEGATIVE_INFINITY);
  if (visitor.max !== undefined) spec.max = r.number('max', Number.POSITIVE_INFINITY);
  const initial = visitor.initial;
  if (typeof initial === 'number' || typeof initial === 'boolean' || typeof initial === 'string')
    spec.initial = initial;
  if (Array.isArray(visitor.allowed)) spec.allowed = visitor.allowed.map(String);
  else if (typeof visitor.allowed === 'string') spec.allowed = visitor.allowed.split(',').map((s) => s.trim());
  if (name === 'status') {
    spec.allowed ??= Object.keys(STATUS_ALIASES);
    spec.initial ??= 'ON';
  }
  return r.result(() => spec);
}

export function validateVirtualDevice(device: ResolvedDevice): ConfigIssue[] {
  return deviceConfigIssues(device, parseVirtualProtocol, parseVirtualVisitor);
}
