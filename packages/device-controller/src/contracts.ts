// The seams inside the cloud side: the controller core (sources, dispatch, status) on one hand, and the
// cloud link (MQTT publisher of desired state, consumer of edge reports) on the other.

import type { Device, DeviceModel, OutboxEntry, Presence } from '@edgetwin/api';

export type DesiredChange =
  | { kind: 'device'; id: string; object: Device | null }
  | { kind: 'model'; id: string; object: DeviceModel | null };

/** Per-node desired state computed by dispatch from the source (Kubernetes or the embedded store). */
export interface NodeDesiredState {
  nodes(): string[];
  /** Everything a node must hold now: its devices and the models they use. */
  snapshot(node: string): { devices: Device[]; models: DeviceModel[] };
  /**
   * Called for every change a node must see: a device added/changed/removed on it, a model added or
   * edited that one of its devices uses, a model no longer used there (object null). Status-only
   * changes are never emitted. Returns an unsubscribe.
   */
  onChange(listener: (node: string, change: DesiredChange) => void): () => void;
}

/** Where edge reports end up: DeviceStatus and Device.status, coalesced per device. */
export interface StatusSink {
  /** Apply entries of one node in seq order; resolves when they are durable in the controller. */
  applyReports(node: string, entries: OutboxEntry[]): Promise<void>;
  /**
   * Merges entries of one node in seq order (resolves once merged, calls in order) and returns `durable`, which
   * resolves when they are durable. Lets the cloud link merge a node's next batch while one is being written.
   * Optional: without it the link waits for applyReports before the next batch.
   */
  stageReports?(node: string, entries: OutboxEntry[]): Promise<{ durable: Promise<void> }>;
  setNodePresence(node: string, presence: Presence, at: Date): void;
  /** The state of a node's report stream, after every batch the cloud link handles (for `get nodes`). */
  setNodeReports?(node: string, stream: NodeReportStream): void;
}

/** What the cloud link knows of a node's report stream (docs/cloud-link.md, "Seeing it"). */
export interface NodeReportStream {
  /** the epoch the node's seqs count in, and the last seq applied in it */
  epoch: string;
  appliedSeq: number;
  /** when entries were last applied to status (absent: never since the controller started) */
  lastAppliedAt?: string;
  /** entries the edge still held to send after its last batch (as the edge said then) */
  queued: number;
  /** batches kept aside, waiting for the batch before them */
  held: number;
  /** batches not applied since the controller started, by reason (ReportRefusal, malformed, status) */
  refused: Record<string, number>;
  lastRefusal?: { reason: string; at: string };
}
