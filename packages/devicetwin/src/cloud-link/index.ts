export { DesiredApplier, type DesiredApplierOptions } from './desired-applier.js';
export { type CloudLinkEdge, type CloudLinkEdgeOptions, startCloudLinkEdge } from './edge-link.js';
export { ReportPump, type ReportPumpOptions } from './report-pump.js';
export { EdgeLinkMetrics } from './link-metrics.js';
export { type EdgeCredential, forgetEdgeCredential, identityFile, loadEdgeCredential } from './node-credential.js';
export { fetchPinnedCert, PinMismatchError } from './pinned-cert.js';
