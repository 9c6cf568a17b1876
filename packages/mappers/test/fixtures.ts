// Resolved devices for the virtual and GPIO tests, built as the twin builds them: resolveDevice().

import { type Device, type DeviceModel, type ResolvedDevice, resolveDevice } from '@edgetwin/api';

let seq = 0;
/** A unique device name per call, so tests sharing the process-wide simulators never collide. */
export function uniqueName(prefix: string): string {
  seq++;
  return `${prefix}-${process.pid}-${seq}`;
}

export function virtualCounterDevice(name = uniqueName('counter')): ResolvedDevice {
  const model: DeviceModel = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name: 'counter-model', namespace: 'default' },
    spec: {
      protocol: 'virtualProtocol',
      properties: [
        { name: 'status', type: 'STRING', accessMode: 'ReadWrite' },
        { name: 'count', type: 'STRING', accessMode: 'ReadWrite' },
        { name: 'setpoint', type: 'INT', accessMode: 'ReadWrite', minimum: '0', maximum: '100' },
        { name: 'wave', type: 'FLOAT', accessMode: 'ReadOnly' },
      ],
    },
  };
  const device: Device = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name, namespace: 'default', resourceVersion: '1' },
    spec: {
      deviceModelRef: { name: 'counter-model' },
      nodeName: 'node-a',
      protocol: { protocolName: 'virtualProtocol', configData: {} },
      properties: [
        { name: 'status', visitors: { configData: { name: 'status', initial: 'PAUSED' } } },
        { name: 'count', visitors: { configData: { name: 'count' } } },
        { name: 'setpoint', visitors: { configData: { name: 'setpoint', initial: 20 } } },
        { name: 'wave', visitors: { configData: { name: 'wave', generator: 'sine', amplitude: 5, periodMs: 10000 } } },
      ],
    },
  };
  return resolveDevice(device, model);
}

export function gpioLedDevice(chip: string, name = uniqueName('led')): ResolvedDevice {
  const model: DeviceModel = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name: 'led-light', namespace: 'default' },
    spec: {
      protocol: 'gpio',
      protocolConfigData: { backend: 'simulated', chip },
      properties: [
        {
          name: 'power-status',
          type: 'STRING',
          accessMode: 'ReadWrite',
          visitors: { configData: { pin: 18, direction: 'out', onValue: 'ON', offValue: 'OFF' } },
        },
        {
          name: 'relay',
          type: 'BOOLEAN',
          accessMode: 'ReadWrite',
          visitors: { configData: { pin: 23, direction: 'out', activeLow: true } },
        },
        {
          name: 'button',
          type: 'BOOLEAN',
          accessMode: 'ReadOnly',
          visitors: { configData: { pin: 17, direction: 'in', activeLow: true, edge: 'both' } },
        },
      ],
    },
  };
  const device: Device = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'Device',
    metadata: { name, namespace: 'default', resourceVersion: '1' },
    spec: {
      deviceModelRef: { name: 'led-light' },
      nodeName: 'node-a',
      protocol: { protocolName: 'gpio', configData: { backend: 'simulated', chip } },
      properties: [{ name: 'power-status' }, { name: 'relay' }, { name: 'button' }],
    },
  };
  return resolveDevice(device, model);
}
