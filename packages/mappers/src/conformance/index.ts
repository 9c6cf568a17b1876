// The driver conformance suite: every driver runs the same tests against its simulator.
//
//   runDriverConformance('virtual', async () => ({ factory, device, peek, poke, fault, teardown }));
//
// Call it at the top level of a vitest test file; it defines describe/it blocks.

import { driverSuite } from './driver-suite.js';
import { endToEndSuite } from './e2e-suite.js';
import type { ConformanceOptions, ConformanceTarget } from './target.js';

export type { ConformanceOptions, ConformanceTarget, FaultKind } from './target.js';

export function runDriverConformance(
  name: string,
  setup: () => Promise<ConformanceTarget>,
  options: ConformanceOptions = {},
): void {
  driverSuite(name, setup, options);
  if (options.endToEnd ?? true) endToEndSuite(name, setup, options);
}
