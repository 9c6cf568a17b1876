// Every built-in driver's config check, by protocol name, for `edgetwin validate`, `apply` and the
// controller the CLI starts (issue 11): api's validator cannot import drivers (DESIGN.md import rules), so
// the CLI hands it this registry. Each entry is the framework's transform check (scale, bit, min/max...,
// shared by every protocol) plus the driver's own config.ts check. Only config modules are imported here:
// loading this registry never loads a driver's native dependencies (serial ports, GPIO, OPC-UA stacks).

import type { ConfigIssue, ProtocolValidator, ProtocolValidators, ResolvedDevice } from '@edgetwin/api';
import { transformIssues } from '../framework/transforms.js';
import { validateBluetoothDevice } from './bluetooth/config.js';
import { validateGpioDevice } from './gpio/config.js';
import { validateModbusDevice } from './modbus/config.js';
import { validateOnvifDevice } from './onvif/config.js';
import { validateOpcuaDevice } from './opcua/config.js';
import { validateVirtualDevice } from './virtual/config.js';

function withTransforms(check: (device: ResolvedDevice) => ConfigIssue[]): ProtocolValidator {
  return (device) => [...device.properties.flatMap(transformIssues), ...check(device)];
}

/** Lower-case protocol name (and aliases) -> validator. */
export const driverValidators: ProtocolValidators = {
  modbus: withTransforms(validateModbusDevice),
  bluetooth: withTransforms((d) => validateBluetoothDevice(d)),
  ble: withTransforms((d) => validateBluetoothDevice(d)),
  gpio: withTransforms((d) => validateGpioDevice(d)),
  virtualprotocol: withTransforms(validateVirtualDevice),
  virtual: withTransforms(validateVirtualDevice),
  opcua: withTransforms(validateOpcuaDevice),
  onvif: withTransforms(validateOnvifDevice),
};
