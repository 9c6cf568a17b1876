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
import type { OpcuaSimulator, OpcuaSimulatorOptions } from './opcua/simulator.js';

export type { OpcuaSimulator, OpcuaSimulatorOptions };
/**
 * Loaded on first use: node-opcua prints a warning on stdout when it loads on Node 20, and every command
 * that imports the simulators (simulate, up, validate through them) would print it before its output.
 */
export async function startOpcuaSimulator(opts: OpcuaSimulatorOptions): Promise<OpcuaSimulator> {
  return (await import('./opcua/simulator.js')).startOpcuaSimulator(opts);
}
