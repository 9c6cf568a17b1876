export { ModbusDeviceDriver } from './driver.js';
export {
  createModbusDriverFactory,
  type ModbusDriverFactory,
  type ModbusDriverOptions,
  modbusDriverFactory,
} from './factory.js';
export * from './codec.js';
export * from './config.js';
