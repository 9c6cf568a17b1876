// The bluetooth (BLE) driver's public surface (issue 12, docs/ble.md).
export { AdapterPool, BleAdapter, MAX_SEEN } from './adapter.js';
export {
  type AdapterSpec,
  type BleDeviceConfig,
  type BlePropertyConfig,
  normalizeUuid,
  parseAdapter,
  parseBluetoothProtocol,
  parseBluetoothVisitor,
  validateBluetoothDevice,
} from './config.js';
export { applyConverter, type Codec, CodecError, DATA_TYPES, type DataType, decode, encode } from './converter.js';
export { bluetoothDriverFactory } from './driver.js';
