export { ModbusDeviceDriver } from './driver.js';
export {
  createModbusDriverFactory,
  type ModbusDriverFactory,
  type ModbusDriverOptions,
  modbusDriverFactory,
} from './factory.js';
