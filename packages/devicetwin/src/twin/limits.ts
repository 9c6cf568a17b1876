// What one device may hold in the twin (issue 9 §3): 100 twin/updates of 5,000 new property names each
// once made 344,000 rows, took the edge from 100 MB to 2.7 GB and one twin/get answer to 20 MB. Past a
// limit the update is refused with 413 naming the limit; the device keeps what it has and every other
// device is untouched. Documented in docs/twin.md ("Limits").

import { MAX_VALUE_BYTES, MAX_PAYLOAD_BYTES } from '@edgetwin/api';
import { TwinError } from '../errors.js';
import { msgTwinOf } from './payloads.js';
import type { TwinRecord } from './records.js';

export interface TwinLimits {
  /** properties a device may hold that its model does not declare (created by twin/update), default 64 */
  maxExtraProperties: number;
  /** bytes of one value (UTF-8), default and at most 64 KiB */
  maxValueBytes: number;
  /** bytes of a device's whole twin as twin/get returns it, default 256 KiB */
  maxTwinBytes: number;
}

export const DEFAULT_TWIN_LIMITS: TwinLimits = {
  maxExtraProperties: 64,
  maxValueBytes: MAX_VALUE_BYTES,
  // The same as the largest request the twin accepts: a twin/get answer is never bigger than a request,
  // and a delta (twin + pending values) stays under the brokers' 768 KiB maximum packet size.
  maxTwinBytes: MAX_PAYLOAD_BYTES,
};

/** Which limit refused an update: the `limit` label of edgetwin_twin_limit_refusals_total. */
export type LimitName = 'extra-properties' | 'value-bytes' | 'twin-bytes' | 'device-queue' | 'queue';

export class TwinLimitError extends TwinError {
  constructor(
    readonly limit: LimitName,
    message: string,
  ) {
    super(413, message);
  }
}

/** Checks limit values given by a user; throws naming the bad one. */
export function checkLimits(l: TwinLimits): TwinLimits {
  const whole = (name: keyof TwinLimits, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const v = l[name];
    if (!Number.isInteger(v) || v < min || v > max)
      throw new RangeError(`twin limit ${name} must be an integer from ${min} to ${max}, got ${v}`);
  };
  whole('maxExtraProperties', 0);
  whole('maxValueBytes', 1, MAX_VALUE_BYTES);
  whole('maxTwinBytes', 1024);
  return l;
}

/** Size of one twin's entry in a twin/get answer (JSON bytes of `"name":{...},`), counted on every change. */
export function twinEntryBytes(t: TwinRecord): number {
  return Buffer.byteLength(JSON.stringify(t.name)) + Buffer.byteLength(JSON.stringify(msgTwinOf(t, true))) + 2;
}
