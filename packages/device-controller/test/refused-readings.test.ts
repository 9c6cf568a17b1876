// Issue 9 §5: a reading the model refuses is kept out of the twin by the mapper and reported on its own; the
// controller keeps it in status.extensions.refused[property] until the mapper says the property is accepted
// again, and `describe device` shows each refused property with its value and reason.
import type { Device, DeviceModel, DeviceStatusFields, OutboxEntry, ReportStatus } from '@edgetwin/api';
import { expect, it } from 'vitest';
import { describeDevice } from '../src/cli/present.js';
import { mergeReport, type WritesExtension } from '../src/status/merge.js';

const device = {
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: { name: 'meter', namespace: 'default' },
  spec: { deviceModelRef: { name: 'meter-model' }, properties: [{ name: 'energy' }, { name: 'power' }] },
} as Device;
const model = {
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'DeviceModel',
  metadata: { name: 'meter-model', namespace: 'default' },
  spec: {
    properties: [
      { name: 'energy', type: 'INT', accessMode: 'ReadOnly', maximum: '1000' },
      { name: 'power', type: 'INT', accessMode: 'ReadOnly' },
    ],
  },
} as DeviceModel;

let seq = 0;
function refusal(status: ReportStatus): OutboxEntry {
  return { seq: ++seq, timestamp: status.timestamp, kind: 'refused-reading', deviceId: 'default/meter', status };
}

it('keeps each refused reading with its reason until the mapper accepts the property again, and describe shows it', () => {
  const status = {} as DeviceStatusFields;
  const now = 1_800_000_000_000;
  const refused: ReportStatus = {
    property: 'energy',
    state: 'refused',
    value: '1500',
    reason: '1500 is above the maximum 1000',
    timestamp: now - 12_000,
  };
  expect(mergeReport(device, status, refusal(refused))).toBe(true);
  const ext = () => (status.extensions as WritesExtension).refused;
  expect(ext()).toEqual({
    energy: { value: '1500', reason: '1500 is above the maximum 1000', timestamp: now - 12_000 },
  });

  const text = describeDevice({ ...device, status }, model, now);
  expect(text).toMatch(/^Refused readings/m);
  expect(text).toMatch(/^\s+energy\s+"1500"\s+1500 is above the maximum 1000\s+12s ago$/m);

  // the same refusal again changes nothing; accepted clears it, and describe says nothing more
  expect(mergeReport(device, status, refusal({ ...refused, timestamp: now - 6_000 }))).toBe(false);
  expect(mergeReport(device, status, refusal({ property: 'energy', state: 'accepted', timestamp: now }))).toBe(true);
  expect(ext()).toBeUndefined();
  expect(describeDevice({ ...device, status }, model, now)).not.toMatch(/Refused readings/);
});
