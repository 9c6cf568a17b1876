// Issue 9 §3: names that come from the edge (`__proto__`, `constructor`) are plain property names when the
// controller folds reports into a device's status; none of them reaches or replaces a prototype.
import type { Device, DeviceStatusFields, WriteStatus } from '@edgetwin/api';
import { describe, expect, it } from 'vitest';
import { mergeReport, type WritesExtension } from '../src/status/merge.js';

const device = {
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: { name: 'd', namespace: 'default' },
  spec: { deviceModelRef: { name: 'm' }, properties: [{ name: '__proto__' }, { name: 'constructor' }] },
} as Device;

function write(property: string, timestamp: number): WriteStatus {
  return { property, desired: 'on', state: 'written', timestamp } as WriteStatus;
}

describe('mergeReport with names special to JavaScript', () => {
  it('keeps write acknowledgements for __proto__ and constructor as own, serialisable entries', () => {
    // status as it comes back from JSON: a plain object
    const status = JSON.parse('{}') as DeviceStatusFields;
    for (const name of ['__proto__', 'constructor', 'toString'])
      expect(
        mergeReport(device, status, {
          seq: 1,
          timestamp: 5,
          kind: 'write',
          deviceId: 'default/d',
          status: write(name, 5),
        }),
      ).toBe(true);
    const writes = (status.extensions as WritesExtension).writes!;
    expect(Object.getPrototypeOf(writes)).toBe(Object.prototype);
    const round = JSON.parse(JSON.stringify(status)).extensions.writes;
    expect(Object.keys(round).sort()).toEqual(['__proto__', 'constructor', 'toString']);
    // reports merge in the order the cloud link applies them (seq order), so the next acknowledgement
    // replaces the stored one even with an older timestamp, for these names as for any other
    expect(
      mergeReport(device, status, {
        seq: 2,
        timestamp: 6,
        kind: 'write',
        deviceId: 'default/d',
        status: write('__proto__', 1),
      }),
    ).toBe(true);
    expect(Object.getOwnPropertyDescriptor(writes, '__proto__')?.value).toMatchObject({ timestamp: 1 });
    expect(Object.getPrototypeOf(writes)).toBe(Object.prototype);
  });
});
