export { BACKENDS, type BackendName, type GpioBackend, GpioError, type GpioLine } from './backend.js';
export {
  type GpioDeviceConfig,
  type GpioPinConfig,
  parseGpioProtocol,
  parseGpioVisitor,
  validateGpioDevice,
} from './config.js';
export { gpioBackend, gpioDriverFactory } from './driver.js';
export { LIBGPIOD_MISSING } from './libgpiod-backend.js';
export {
  type PinChange,
  type PinState,
  SimulatedGpioChip,
  simulatedBackend,
  simulatedChip,
  simulatedChipNames,
} from './simulated-chip.js';
export { listSysfsChips, sysfsPinOffset } from './sysfs-offset.js';
