// Payloads of the cloud link between an edge node and the cloud controller (docs/cloud-link.md).
// Desired state flows down as retained messages (one per Device and DeviceModel, plus an index), so a
// node that reconnects rebuilds exactly the cloud's view without replaying history. Reports flow up
// from the edge's durable outbox with sequence numbers, acknowledged by a retained ack.

import type { DeviceState } from './twin-payloads.js';
import type { WriteStatus } from './mapper-contract.js';

/** Retained on cloudTopics.index(node): everything the node must hold, by resourceVersion. */
export interface DesiredIndex {
  node: string;
  /** increases with every change published to this node */
  generation: number;
  devices: Record<string, string>;
  models: Record<string, string>;
  timestamp: number;
}

export interface TwinReportEntry {
  property: string;
  /** reported value (the device's) */
  reported?: { value: string; timestamp: number; type: string };
  /** desired value the edge currently works towards (may be an edge-local desired value) */
  observedDesired?: { value: string; timestamp: number; type: string; source: 'cloud' | 'edge' };
}

export type Report =
  | { kind: 'twin'; deviceId: string; twins: TwinReportEntry[] }
  | { kind: 'state'; deviceId: string; state: DeviceState; lastOnlineTime: string }
  | { kind: 'write'; deviceId: string; status: WriteStatus };

/** One outbox entry: `seq` increases by one per entry on a node and never repeats, across restarts. */
export type OutboxEntry = Report & { seq: number; timestamp: number };

/** Edge -> cloud on cloudTopics.reports(node), QoS 1. Entries are in seq order. */
export interface ReportBatch {
  node: string;
  entries: OutboxEntry[];
  /**
   * The batch holds every outbox entry with seq above `after` up to its last entry (seqs may skip: the twin
   * coalesces superseded reports). If the cloud has not applied up to `after`, an earlier batch was lost on
   * the way and this one is refused until the edge resends from its last ack. Optional (older edges).
   */
  after?: number;
  /** The edge's last acknowledged seq when it sent the batch: everything at or below it is gone from the edge. */
  ackedSeq?: number;
}

/** Cloud -> edge, retained on cloudTopics.acks(node): every entry with seq <= upTo is applied in the cloud. */
export interface ReportAck {
  upTo: number;
  timestamp: number;
}

export type Presence = 'online' | 'offline';
