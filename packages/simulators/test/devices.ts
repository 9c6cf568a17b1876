// Small Device/DeviceModel pairs for the simulator tests, written as a user would write the manifests.
import { API_VERSION, type Device, type DeviceModel, type ResolvedDevice, resolveDevice } from '@edgetwin/api';

export interface PropSpec {
  name: string;
  type: 'INT' | 'FLOAT' | 'DOUBLE' | 'BOOLEAN' | 'STRING';
  access?: 'ReadWrite' | 'ReadOnly';
  min?: string;
  max?: string;
  desired?: string;
  visitor: Record<string, unknown>;
}

export function modbusDevice(name: string, protocol: Record<string, unknown>, props: PropSpec[]): ResolvedDevice {
  const model: DeviceModel = {
    apiVersion: API_VERSION,
    kind: 'DeviceModel',
    metadata: { name: `${name}-model`, namespace: 'default' },
    spec: {
      protocol: 'modbus',
      properties: props.map((p) => ({
        name: p.name,
        type: p.type,
        accessMode: p.access ?? 'ReadWrite',
        ...(p.min !== undefined ? { minimum: p.min } : {}),
        ...(p.max !== undefined ? { maximum: p.max } : {}),
      })),
    },
  };
  const device: Device = {
    apiVersion: API_VERSION,
    kind: 'Device',
    metadata: { name, namespace: 'default' },
    spec: {
      deviceModelRef: { name: `${name}-model` },
      nodeName: 'edge-1',
      protocol: {
        protocolName: 'modbus',
        configData: { communicateMode: 'TCP', ip: '127.0.0.1', port: '502', ...protocol },
      },
      properties: props.map((p) => ({
        name: p.name,
        visitors: { protocolName: 'modbus', configData: p.visitor },
        ...(p.desired !== undefined ? { desired: { value: p.desired } } : {}),
      })),
    },
  };
  return resolveDevice(device, model);
}

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
