// The one interface behind which the controller reads Devices and DeviceModels and writes their status.
// Two implementations: the Kubernetes API (informers) and the embedded SQLite store. Dispatch and status
// coalescing only ever see this interface, so both sources behave the same downstream.

import type { Device, DeviceModel, DeviceStatusFields } from '@edgetwin/api';

export type SourceObject = Device | DeviceModel;
export type SourceKind = SourceObject['kind'];

export interface SourceEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: SourceObject;
}

export interface Source {
  readonly name: 'embedded' | 'kubernetes';
  /** Lists everything and starts watching; resolves once the first full list is in the cache. */
  start(): Promise<void>;
  stop(): Promise<void>;
  devices(): Device[];
  models(): DeviceModel[];
  device(namespace: string, name: string): Device | undefined;
  model(namespace: string, name: string): DeviceModel | undefined;
  /** Every change after start(), in resourceVersion order, including status-only changes. */
  onEvent(listener: (event: SourceEvent) => void): () => void;
  /** Status as last stored (DeviceStatus for Kubernetes, the status column for the embedded store). */
  readStatus(device: Device): Promise<DeviceStatusFields | undefined>;
  /** One write of a device's whole merged status; resolves when it is durable in the source. */
  writeStatus(device: Device, status: DeviceStatusFields): Promise<void>;
  /**
   * Sets spec.properties[index].desired.value for every change, in one write of `device` as read (its
   * resourceVersion): all of them or, on any failure, none (issue 9 §5, `twin set a=1 b=2`). A concurrent
   * change makes it fail with ConflictError. Resolves with the device as stored.
   */
  setDesired(device: Device, changes: readonly DesiredValueChange[]): Promise<Device>;
}

/** One desired value to set: spec.properties[index].desired.value = value. */
export interface DesiredValueChange {
  index: number;
  value: string;
}

export function objectKey(o: { metadata: { namespace?: string; name: string } }): string {
  return `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
}
