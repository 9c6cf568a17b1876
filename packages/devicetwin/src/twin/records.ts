// In-memory shape of what the store holds. The twin keeps every record in memory (loaded from SQLite at
// open) and writes through to SQLite inside one transaction per batch.

import type {
  Device,
  DeviceModel,
  DeviceState,
  PropertyType,
  PushStatus,
  ReportStatus,
  WriteStatus,
} from '@edgetwin/api';

export interface Version {
  cloud: number;
  edge: number;
}

/** Who set the current expected (desired) value: the cloud (Device spec) or an edge app / local call. */
export type DesiredSource = 'cloud' | 'edge';

export interface TwinRecord {
  name: string;
  type: PropertyType;
  /** true for twins a twin/update created that the model does not declare (KubeEdge "optional") */
  optional: boolean;
  expected?: string;
  expectedTs: number;
  expectedVersion: Version;
  expectedSource?: DesiredSource;
  /**
   * last desired value the cloud sent for this property; a change to it (or a new desired.metadata.timestamp
   * in the Device, which the stored Device JSON keeps) overrides a local desired
   */
  cloudDesired?: string;
  actual?: string;
  actualTs: number;
  actualVersion: Version;
  /** last write acknowledgement from the mapper for the current desired value */
  writeStatus?: WriteStatus;
  /** the mapper's last refused reading of this property (in memory; the cloud keeps it in status) */
  refused?: ReportStatus;
  /** the property's pushes that fail, by sink label (in memory; the cloud keeps them in status) */
  failingPush?: Map<string, PushStatus>;
}

export interface DeviceRecord {
  id: string;
  namespace: string;
  name: string;
  description: string;
  modelId: string;
  device: Device;
  state: DeviceState;
  /** RFC 3339 UTC time the device was last reported online/ok; '' if never */
  lastOnline: string;
  twins: Map<string, TwinRecord>;
}

export interface ModelRecord {
  id: string;
  model: DeviceModel;
}

export function cloneTwin(t: TwinRecord): TwinRecord {
  return {
    ...t,
    expectedVersion: { ...t.expectedVersion },
    actualVersion: { ...t.actualVersion },
  };
}

export function newTwin(name: string, type: PropertyType, optional: boolean): TwinRecord {
  return {
    name,
    type,
    optional,
    expectedTs: 0,
    expectedVersion: { cloud: 0, edge: 0 },
    actualTs: 0,
    actualVersion: { cloud: 0, edge: 0 },
  };
}
