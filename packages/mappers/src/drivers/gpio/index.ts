export { BACKENDS, type BackendName, type GpioBackend, GpioError, type GpioLine } from './backend.js';
export { deviceConfig, type GpioDeviceConfig, type GpioPinConfig, pinConfig } from './config.js';
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
