export type { DesiredStateSink, EdgeTwinApi, Outbox } from './contracts.js';
export {
  type DeviceSummary,
  type DeviceTwin,
  type DeviceTwinOptions,
  type DeviceTwinView,
  type LoadResult,
  openDeviceTwin,
  type TwinSideView,
  type TwinView,
} from './device-twin.js';
export { isTwinError, TwinError, type TwinErrorCode } from './errors.js';
export { LAST_ONLINE_PERSIST_MS } from './twin/engine.js';
export type { DesiredSource, Version } from './twin/records.js';
export { DEFAULT_TWIN_LIMITS, type LimitName, TwinLimitError, type TwinLimits } from './twin/limits.js';
export type { StorageState } from './store/storage-health.js';
