// The flags that set what one device may hold in the twin (issue 9 §3, docs/twin.md "Limits"), shared by
// `edgetwin edge` and `edgetwin edge-local`.
import type { DeviceTwinOptions } from '@edgetwin/devicetwin';
import { type Command, InvalidArgumentError } from 'commander';
import { parseBytes } from './options.js';

function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a whole number`);
  return Number(value);
}

export function addTwinLimitOptions(cmd: Command): Command {
  return cmd
    .option('--max-extra-properties <n>', 'properties a device may hold beyond its model (default 64)', parseCount)
    .option('--max-value-size <bytes>', 'bytes of one twin value (default and at most 64KiB)', parseBytes)
    .option('--max-twin-size <bytes>', "bytes of one device's whole twin (default 256KiB)", parseBytes)
    .option('--max-queue-per-device <n>', 'requests of one device waiting at most (default 1000)', parseCount);
}

export interface TwinLimitFlags {
  maxExtraProperties?: number;
  maxValueSize?: number;
  maxTwinSize?: number;
  maxQueuePerDevice?: number;
}

/** The openDeviceTwin options the flags set; absent flags keep the twin's defaults. */
export function twinLimitsFrom(o: TwinLimitFlags): Pick<DeviceTwinOptions, 'limits' | 'maxQueuePerDevice'> {
  const limits: NonNullable<DeviceTwinOptions['limits']> = {};
  if (o.maxExtraProperties !== undefined) limits.maxExtraProperties = o.maxExtraProperties;
  if (o.maxValueSize !== undefined) limits.maxValueBytes = o.maxValueSize;
  if (o.maxTwinSize !== undefined) limits.maxTwinBytes = o.maxTwinSize;
  return { limits, ...(o.maxQueuePerDevice !== undefined ? { maxQueuePerDevice: o.maxQueuePerDevice } : {}) };
}
