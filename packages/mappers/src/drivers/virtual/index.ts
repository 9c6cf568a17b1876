export {
  GENERATORS,
  type GeneratorKind,
  parseVirtualProtocol,
  parseVirtualVisitor,
  type ValueSpec,
  type VirtualProtocolConfig,
  validateVirtualDevice,
} from './config.js';
export { removeVirtualDevice, VirtualDevice, virtualDevice } from './device.js';
export { virtualDriverFactory } from './driver.js';
