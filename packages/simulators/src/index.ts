export {
  type LoadedManifests,
  loadManifestFiles,
  ManifestError,
  parseManifestText,
  resolveManifests,
} from './manifests.js';
export { runSimulatorCommand, SIMULATOR_COMMANDS_HELP } from './modbus/console.js';
export { withModbusEndpoint } from './modbus/endpoint.js';
export {
  type ModbusFault,
  type ModbusSimulator,
  type ModbusSimulatorOptions,
  type SimulatorEndpoint,
  startModbusSimulator,
} from './modbus/simulator.js';
export { openPtyPair, type PtyPair } from './pty-pair.js';
export { describedDevice, type ModbusPropSpec, modbusDevice } from './modbus-device.js';
export {
  type BleFault,
  type BlePeripheralInfo,
  type BlePeripheralName,
  type BlePeripherals,
  type BlePeripheralsOptions,
  startBlePeripherals,
} from './ble/peripherals.js';
export { sensorTagProperties, tiUuid } from './ble/sensortag.js';
export { type OpcuaSimulator, type OpcuaSimulatorOptions, startOpcuaSimulator } from './opcua/simulator.js';
