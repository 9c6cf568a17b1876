// Small Device/DeviceModel pairs for the simulator tests, written as a user would write the manifests.
import { type ModbusPropSpec, modbusDevice } from '../src/modbus-device.js';

export { modbusDevice };
export type PropSpec = ModbusPropSpec;

export const parkingSensor = (name: string, slaveID: number) =>
  modbusDevice(name, { slaveID }, [
    { name: 'occupied', type: 'BOOLEAN', access: 'ReadOnly', visitor: { register: 'CoilRegister', offset: 0 } },
    {
      name: 'distance',
      type: 'INT',
      access: 'ReadOnly',
      min: '0',
      max: '400',
      visitor: { register: 'InputRegister', offset: 0, type: 'uint16' },
    },
  ]);

export const thermometer = (name: string, slaveID: number) =>
  modbusDevice(name, { slaveID }, [
    {
      name: 'temperature',
      type: 'FLOAT',
      min: '-40',
      max: '60',
      desired: '21.5',
      visitor: { register: 'HoldingRegister', offset: 10, type: 'int16', scale: 0.1 },
    },
  ]);

export const powerMeter = (name: string, slaveID: number) =>
  modbusDevice(
    name,
    { slaveID },
    (['ABCD', 'BADC', 'CDAB', 'DCBA'] as const).map((order, i) => ({
      name: `voltage-${order.toLowerCase()}`,
      type: 'FLOAT' as const,
      min: '200',
      max: '250',
      visitor: { register: 'InputRegister', offset: i * 2, type: 'float32', order },
    })),
  );
