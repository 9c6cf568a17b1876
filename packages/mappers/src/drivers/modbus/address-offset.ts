// KubeEdge Modbus visitors use `offset` for the register address, while the framework's shared transforms
// (framework/transforms.ts) read `offset` as a value added after scaling. Until the framework stops adding a
// Modbus address to the value, the driver cancels it: it hands the framework raw - offset/scale and takes
// raw + offset/scale back on writes. The correction is derived from transformSpec itself, so it switches
// off on its own the day the framework no longer applies that offset.

import type { ResolvedProperty } from '@edgetwin/api';
import type { RawValue } from '../../framework/driver.js';
import { transformSpec } from '../../framework/transforms.js';

/** What to subtract from a raw numeric reading so the framework's value offset adds up to nothing. */
export function addressOffsetCorrection(prop: ResolvedProperty): number {
  const spec = transformSpec(prop);
  if (!spec.ok) return 0;
  const s = spec.value;
  if (s.offset === 0 || s.bit !== undefined || s.onValue !== undefined) return 0;
  return s.offset / s.scale;
}

export function correctRead(value: RawValue, correction: number): RawValue {
  return correction !== 0 && typeof value === 'number' ? value - correction : value;
}

export function correctWrite(value: RawValue, correction: number): RawValue {
  return correction !== 0 && typeof value === 'number' ? value + correction : value;
}
