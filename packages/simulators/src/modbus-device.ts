// A Modbus device from a short description, resolved exactly as a mapper receives it: the Device and
// DeviceModel a user would write, merged by resolveDevice. For tests and benchmarks of the simulator and
// the Modbus driver, so both build their devices the same way.
import { API_VERSION, type Device, type DeviceModel, type ResolvedDevice, resolveDevice } from '@edgetwin/api';

export interface ModbusPropSpec {
  name: string;
  type: 'INT' | 'FLOAT' | 'DOUBLE' | 'BOOLEAN' | 'STRING' | 'BYTES';
  access?: 'ReadWrite' | 'ReadOnly';
  min?: string;
  max?: string;
  desired?: string;
  visitor: Record<string, unknown>;
}

export function modbusDevice(name: string, protocol: Record<string, unknown>, props: ModbusPropSpec[]): ResolvedDevice {
  return describedDevice('modbus', name, { communicateMode: 'TCP', ip: '127.0.0.1', port: '502', ...protocol }, props);
}

/** A resolved device of any protocol from the same short description (BLE tests use it too). */
export function describedDevice(
  protocolName: string,
  name: string,
  protocol: Record<string, unknown>,
  props: ModbusPropSpec[],
): ResolvedDevice {
  const model: DeviceModel = {
    apiVersion: API_VERSION,
    kind: 'DeviceModel',
    metadata: { name: `${name}-model`, namespace: 'default' },
    spec: {
      protocol: protocolName,
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
        protocolName,
        configData: protocol,
      },
      properties: props.map((p) => ({
        name: p.name,
        visitors: { protocolName, configData: p.visitor },
        ...(p.desired !== undefined ? { desired: { value: p.desired } } : {}),
      })),
    },
  };
  return resolveDevice(device, model);
}
