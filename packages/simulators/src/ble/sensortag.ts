// The TI CC2650 SensorTag's IR temperature properties as KubeEdge's CC2650 demo describes them (issue 12),
// for the BLE tests against the emulated sensor and the hardware test against a real one.
import type { ModbusPropSpec } from '../modbus-device.js';

/** A TI SensorTag characteristic UUID (f000XXXX-0451-4000-b000-000000000000) as noble spells it. */
export const tiUuid = (short: string) => `f000${short}04514000b000000000000000`;

/** temperature (bytes 1..0, >> 2, x 0.03125 = °C) and temperature-enable (dataWrite ON/OFF). */
export function sensorTagProperties(dataWrite: Record<string, unknown> = { ON: [1], OFF: [0] }): ModbusPropSpec[] {
  return [
    {
      name: 'temperature',
      type: 'FLOAT',
      access: 'ReadOnly',
      visitor: {
        characteristicUUID: tiUuid('aa01'),
        dataConverter: {
          startIndex: 1,
          endIndex: 0,
          shiftRight: 2,
          orderOfOperations: [{ operationType: 'Multiply', operationValue: 0.03125 }],
        },
      },
    },
    { name: 'temperature-enable', type: 'STRING', visitor: { characteristicUUID: tiUuid('aa02'), dataWrite } },
  ];
}
