// Payloads of the cloud link between an edge node and the cloud controller (docs/cloud-link.md).
// Desired state flows down as retained messages (one per Device and DeviceModel, plus an index), so a
// node that reconnects rebuilds exactly the cloud's view without replaying history. Reports flow up
// from the edge's durable outbox with sequence numbers, acknowledged by a retained ack.

import type { DeviceState } from './twin-payloads.js';
import type { PushStatus, ReportStatus, WriteStatus } from './mapper-contract.js';

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
  | { kind: 'write'; deviceId: string; status: WriteStatus }
  /** a reading the mapper kept out of the twin because the model refuses it, or accepted again */
  | { kind: 'refused-reading'; deviceId: string; status: ReportStatus }
  /** a property's push to a sink failing (and why), or working again (issue 17) */
  | { kind: 'push-status'; deviceId: string; status: PushStatus };

/** One outbox entry: `seq` increases by one per entry on a node and never repeats, across restarts. */
export type OutboxEntry = Report & { seq: number; timestamp: number };

/** Edge -> cloud on cloudTopics.reports(node), QoS 1. Entries are in seq order. */
export interface ReportBatch {
  node: string;
  entries: OutboxEntry[];
  /**
   * The batch holds every outbox entry with seq above `after` up to its last entry (seqs may skip: the twin
   * coalesces superseded reports). If the cloud has not applied up to `after`, an earlier batch is missing:
   * the cloud keeps this one aside and tells the edge what it holds. Optional (older edges).
   */
  after?: number;
  /** The edge's last acknowledged seq when it sent the batch: everything at or below it is gone from the edge. */
  ackedSeq?: number;
  /**
   * The history the seqs belong to: a random id the edge's outbox keeps in its database, replaced when the
   * edge learns its seqs no longer match the cloud's (a data dir wiped, or restored from a backup). Absent
   * (older edges) = the empty epoch.
   */
  epoch?: string;
  /** Increases every time the edge starts sending again from an earlier seq; the cloud echoes it in a refusal. */
  pass?: number;
  /** Entries the edge still holds after this batch (seq above its last entry), for `edgetwin get nodes`. */
  pending?: number;
}

/** Why the cloud did not apply a report batch (also the `reason` label of the refusal metric). */
export type ReportRefusal =
  /** an earlier batch is missing: the edge should send again from `upTo` */
  | 'gap'
  /** the batch belongs to another epoch and does not start at the edge's ackedSeq: send again from there */
  | 'epoch'
  /** the batch belongs to an epoch the node has left: the edge must start a new one */
  | 'retired-epoch';

export const REPORT_REFUSALS: readonly ReportRefusal[] = ['gap', 'epoch', 'retired-epoch'];

/**
 * Cloud -> edge, retained on cloudTopics.acks(node): what the cloud holds of the node's reports. Every entry
 * of `epoch` with seq <= upTo is applied in the cloud. With `refused`, the batch sent in that pass was not
 * applied and the edge should act on it at once (send again from upTo, or start a new epoch).
 */
export interface ReportAck {
  upTo: number;
  timestamp: number;
  /** the epoch upTo counts in (absent from older clouds) */
  epoch?: string;
  refused?: { reason: ReportRefusal; pass: number };
}

/**
 * A node's presence on the cloud link. `storage-full`: connected, but its disk is full, so its twin refuses
 * writes while reads answer (issue 9 §4); it turns back to `online` by itself once space returns.
 */
export type Presence = 'online' | 'offline' | 'storage-full';
export const PRESENCES: readonly Presence[] = ['online', 'offline', 'storage-full'];
