export {
  GENERATORS,
  type GeneratorKind,
  removeVirtualDevice,
  VirtualDevice,
  type ValueSpec,
  valueSpec,
  virtualDevice,
} from './device.js';
export { virtualDriverFactory } from './driver.js';
