// @edgetwin/mappers: the mapper framework, the built-in drivers and the driver conformance suite
// (the suite is imported from '@edgetwin/mappers/conformance/index', as it needs vitest).

export type { WorkerOptions } from './framework/device-worker.js';
export {
  type DeviceDriver,
  type DeviceHealth,
  type DriverContext,
  DriverError,
  type DriverFactory,
  type RawValue,
  type ReadResult,
  rejectReadOnly,
} from './framework/driver.js';
export { MapperMetrics } from './framework/metrics.js';
export type { PushBody } from './framework/push.js';
export { DEFAULT_WRITE_RETRY, type RetryPolicy } from './framework/reconciler.js';
export { DEFAULT_SILENCE_CYCLES, type ReportPolicy, reportPolicy } from './framework/report-policy.js';
export {
  DEFAULT_REST_PORT,
  DEFAULT_REST_WRITE_TIMEOUT_MS,
  type RestOptions,
  type RestServer,
  startRestServer,
} from './framework/rest/server.js';
export { MapperRuntime } from './framework/runtime.js';
export {
  DEFAULT_STOP_TIMEOUT_MS,
  MapperStartAborted,
  type RunningMapper,
  type StartMapperOptions,
  startMapper,
} from './framework/start-mapper.js';
export * from './framework/transforms.js';
export { BUILT_IN_PROTOCOLS, driverFor } from './drivers/registry.js';
export {
  type PinChange,
  type PinState,
  SimulatedGpioChip,
  simulatedChip,
  simulatedChipNames,
} from './drivers/gpio/index.js';
export { VirtualDevice, virtualDevice } from './drivers/virtual/index.js';
