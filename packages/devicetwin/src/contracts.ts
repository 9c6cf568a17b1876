// What the rest of the edge (the cloud link's edge end, the local CLI loader, `edgetwin up`) may call on
// the DeviceTwin. The twin implements it; nothing outside devicetwin reaches into its store.

import type { DesiredIndex, Device, DeviceModel, OutboxEntry, Report } from '@edgetwin/api';

export interface DesiredStateSink {
  /** Store or replace a model; devices using it are re-resolved and their mappers told. */
  upsertModel(model: DeviceModel): void;
  removeModel(id: string): void;
  /**
   * Store or replace a device (full object as the cloud holds it). Its twins are created from the model;
   * a changed spec desired value is a cloud desired change (cloud wins, docs/twin.md). Membership and the
   * mapper-facing retained spec are published. Throws TwinError(404) if its model is unknown.
   */
  upsertDevice(device: Device): void;
  removeDevice(id: string): void;
  /** What this node holds, by resourceVersion, to reconcile against the cloud's DesiredIndex. */
  desiredIndex(): Pick<DesiredIndex, 'devices' | 'models'>;
}

export interface Outbox {
  /** Entries with seq > afterSeq, oldest first, at most `limit`. */
  pending(afterSeq: number, limit: number): OutboxEntry[];
  /** Drop every entry with seq <= upTo (the cloud applied them). Idempotent. */
  ack(upTo: number): void;
  /** Highest seq ever appended (0 if none). */
  lastSeq(): number;
  /** Highest seq acknowledged (0 if none). */
  ackedSeq(): number;
  /** Entries with seq > afterSeq (what is still to send after a batch ending there). */
  countAfter(afterSeq: number): number;
  /**
   * The history the seqs belong to (ReportBatch.epoch): a random id kept in the database, so a wiped data
   * dir starts another one.
   */
  epoch(): string;
  /** Starts a new epoch (the cloud's acks show it holds another history under this node's name); returns it. */
  newEpoch(): string;
  /** Called after new entries are appended (from the twin's own work). Returns an unsubscribe. */
  onAppended(listener: () => void): () => void;
  /** For tests and the local interface: append a report as the twin would. */
  append(report: Report): OutboxEntry;
}

export interface EdgeTwinApi extends DesiredStateSink {
  readonly node: string;
  readonly outbox: Outbox;
  close(): Promise<void>;
  /** whether the twin's disk is full (the cloud link announces it as the node's presence) */
  storageState?(): 'ok' | 'full';
  onStorageChange?(listener: (state: 'ok' | 'full') => void): () => void;
}
