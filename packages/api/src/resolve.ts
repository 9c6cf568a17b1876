// Merges a DeviceModel's defaults into a Device the way KubeEdge >= 1.22/1.23 does before handing it to a
// mapper (reference §1.3): model protocolConfigData, then device protocol.configData keys win (shallow);
// per property the model visitor is the base and device visitor configData keys win.
// The result is the ResolvedDevice of the mapper-facing contract (docs/mapper-contract.md).

import type {
  AccessMode,
  ConfigData,
  Device,
  DeviceMethod,
  DeviceModel,
  PropertyType,
  PushMethod,
  ReportStrategy,
  TwinProperty,
} from './types.js';
import { deviceId } from './types.js';
import { bound } from './values.js';

/** KubeEdge's mapper-framework default for collectCycle and reportCycle, in ms (since 1.18). */
export const DEFAULT_CYCLE_MS = 1000;

export interface ResolvedProperty {
  name: string;
  description?: string;
  type: PropertyType;
  accessMode: AccessMode;
  minimum?: number;
  maximum?: number;
  unit?: string;
  /** protocol-specific address: model visitor configData, overridden key by key by the device's */
  visitor: ConfigData;
  desired?: TwinProperty;
  collectCycleMs: number;
  reportCycleMs: number;
  reportToCloud: boolean;
  pushMethod?: PushMethod;
  report?: ReportStrategy;
}

export interface ResolvedDevice {
  /** ns/name */
  id: string;
  namespace: string;
  name: string;
  nodeName: string;
  protocol: string;
  /** model protocolConfigData, overridden key by key by the device's protocol.configData */
  protocolConfig: ConfigData;
  model: { namespace: string; name: string };
  properties: ResolvedProperty[];
  methods: DeviceMethod[];
  stateReport: { reportToCloud: boolean; reportCycleMs: number };
  /** resourceVersion of the Device (and model) this was resolved from, for change detection */
  version: string;
}

export function resolveDevice(device: Device, model: DeviceModel): ResolvedDevice {
  const ns = device.metadata.namespace ?? 'default';
  const modelProps = new Map((model.spec.properties ?? []).map((p) => [p.name, p]));
  const properties: ResolvedProperty[] = [];
  for (const dp of device.spec.properties ?? []) {
    const mp = modelProps.get(dp.name);
    const min = bound(mp?.minimum);
    const max = bound(mp?.maximum);
    const rp: ResolvedProperty = {
      name: dp.name,
      type: mp?.type ?? 'STRING',
      accessMode: mp?.accessMode ?? 'ReadWrite',
      visitor: { ...(mp?.visitors?.configData ?? {}), ...(dp.visitors?.configData ?? {}) },
      collectCycleMs: positiveOr(dp.collectCycle, DEFAULT_CYCLE_MS),
      reportCycleMs: positiveOr(dp.reportCycle, DEFAULT_CYCLE_MS),
      reportToCloud: dp.reportToCloud ?? true,
    };
    if (mp?.description !== undefined) rp.description = mp.description;
    if (min !== undefined && !Number.isNaN(min)) rp.minimum = min;
    if (max !== undefined && !Number.isNaN(max)) rp.maximum = max;
    if (mp?.unit !== undefined) rp.unit = mp.unit;
    if (dp.desired !== undefined) rp.desired = dp.desired;
    if (dp.pushMethod !== undefined) rp.pushMethod = dp.pushMethod;
    if (dp.report !== undefined) rp.report = dp.report;
    properties.push(rp);
  }
  return {
    id: deviceId(device),
    namespace: ns,
    name: device.metadata.name,
    nodeName: device.spec.nodeName ?? '',
    protocol: device.spec.protocol?.protocolName ?? model.spec.protocol ?? '',
    protocolConfig: { ...(model.spec.protocolConfigData ?? {}), ...(device.spec.protocol?.configData ?? {}) },
    model: { namespace: model.metadata.namespace ?? ns, name: model.metadata.name },
    properties,
    methods: device.spec.methods ?? [],
    stateReport: {
      reportToCloud: device.spec.stateReport?.reportToCloud ?? device.status?.reportToCloud ?? true,
      reportCycleMs: positiveOr(device.spec.stateReport?.reportCycle ?? device.status?.reportCycle, DEFAULT_CYCLE_MS),
    },
    version: `${device.metadata.resourceVersion ?? ''}/${model.metadata.resourceVersion ?? ''}`,
  };
}

/**
 * KubeEdge 1.15-1.17 manifests give cycles in nanoseconds (e.g. 10000000000 for 10 s). A cycle over
 * 10^7 ms (almost 3 hours) is read as nanoseconds, so those manifests keep their intended period.
 */
function positiveOr(v: number | undefined, dflt: number): number {
  if (v === undefined || !Number.isFinite(v) || v <= 0) return dflt;
  return v > 1e7 ? Math.round(v / 1e6) : v;
}
