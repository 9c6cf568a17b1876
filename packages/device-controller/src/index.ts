export * from './contracts.js';
export * from './controller.js';
export * from './source.js';
export { Dispatcher, modelKeyOf } from './dispatch/dispatcher.js';
export { StatusCoalescer, type StatusCoalescerOptions, type NodePresence } from './status/coalescer.js';
export { mergeReport } from './status/merge.js';
export {
  EmbeddedStore,
  ConflictError,
  NotFoundError,
  type ApplyResult,
  type ObjectRef,
} from './sources/embedded/store.js';
export { FOLDER_ANNOTATION, type FolderSyncResult, ManifestFolder } from './sources/embedded/manifest-folder.js';
// KubernetesSource is imported from './sources/kubernetes/source' where it is used: the index would load
// @kubernetes/client-node into every process that imports it (issue 15, target 4)
export type { KubernetesSourceOptions } from './sources/kubernetes/source.js';
export { ControllerMetrics } from './metrics.js';
export { ControllerClient, ControllerError } from './http/client.js';
