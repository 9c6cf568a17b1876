// What a driver's test hands the conformance suite: its factory, a device served by its simulator,
// and hooks to look at and change the simulated device as the physical world would.

import type { ResolvedDevice } from '@edgetwin/api';
import type { DriverFactory, RawValue } from '../framework/driver.js';

export type FaultKind = 'unreachable' | 'reachable';

export interface ConformanceTarget {
  factory: DriverFactory;
  /** a device of factory.protocol, served by the simulator; at least one ReadWrite property */
  device: ResolvedDevice;
  /** the simulated device's current raw value of a property (as the driver's readBatch should return it) */
  peek(prop: string): Promise<RawValue>;
  /** change the simulated device's value as the physical world would */
  poke(prop: string, v: RawValue): Promise<void>;
  /** make the device unreachable / reachable again; without it the fault tests are skipped, saying why */
  fault?(kind: FaultKind): Promise<void>;
  teardown(): Promise<void>;
  /** raw values the write test writes (default: the current value changed: !b, n+1, s+"1") */
  writeSamples?: Record<string, RawValue>;
  /** raw values the driver must refuse (default: a string for a number or boolean property) */
  badWrites?: Record<string, RawValue>;
  /** properties whose value changes by itself (counters, sine waves): reads are checked for type only */
  volatile?: string[];
  /** twin values the end-to-end test sets through a delta (default: derived from writeSamples) */
  desiredSamples?: Record<string, string>;
}

export interface ConformanceOptions {
  /** longest a single driver call may take before the suite calls it a hang (default 5000 ms) */
  callTimeoutMs?: number;
  /** run the MapperRuntime + broker end-to-end tests too (default true) */
  endToEnd?: boolean;
}
