// What the controller sees happen, for people watching (issue 16): the history of reported numbers, the
// recent events of devices and nodes, and one feed of changes for live clients (the console's SSE stream,
// `get devices -w`, the live view of `up`). Fed by the status coalescer (reports, presence, report streams)
// and the source (spec changes), so it works the same with the embedded store and with Kubernetes.
import { splitId, type OutboxEntry, type Presence } from '@edgetwin/api';
import type { NodeReportStream } from '../contracts.js';
import type { ControllerMetrics } from '../metrics.js';
import { objectKey, type Source } from '../source.js';
import { type ControllerEvent, EventLog, type NewEvent } from './event-log.js';
import { type HistoryOptions, type HistoryPoint, ReportHistory } from './history.js';

/** One change a live client is told about. */
export type LiveChange =
  | { type: 'device'; id: string }
  | { type: 'device-deleted'; id: string }
  | { type: 'model'; id: string }
  | { type: 'node'; name: string }
  | { type: 'point'; point: HistoryPoint }
  | { type: 'event'; event: ControllerEvent };

/** What the status coalescer tells about each report entry and status write. */
export interface ReportObserver {
  /** one entry of a node's batch, with the device's state before the entry was merged */
  onReport(node: string, entry: OutboxEntry, previousState: string | undefined): void;
  onStatusWritten(deviceId: string): void;
  onPresence(node: string, presence: Presence, previous: Presence | undefined): void;
  onReportStream(node: string, stream: NodeReportStream, previous: NodeReportStream | undefined): void;
}

export interface LiveStateOptions {
  history?: HistoryOptions;
  eventCapacity?: number;
  metrics?: ControllerMetrics;
}

export class LiveState implements ReportObserver {
  readonly history: ReportHistory;
  readonly events: EventLog;
  private readonly listeners = new Set<(c: LiveChange) => void>();
  private readonly unsubscribe: () => void;

  constructor(source: Source, opts: LiveStateOptions = {}) {
    const m = opts.metrics;
    this.history = new ReportHistory({
      ...opts.history,
      onDrop: (reason, n) => m?.historyDropped.inc({ reason }, n),
    });
    this.events = new EventLog(opts.eventCapacity);
    this.events.onEvent((event) => {
      m?.events.inc({ reason: event.reason });
      this.emit({ type: 'event', event });
    });
    this.unsubscribe = source.onEvent((ev) => {
      const id = objectKey(ev.object);
      if (ev.object.kind === 'DeviceModel') return this.emit({ type: 'model', id });
      if (ev.type === 'DELETED') {
        this.history.forgetDevice(id);
        this.emit({ type: 'device-deleted', id });
      } else this.emit({ type: 'device', id });
    });
    m?.watchHistory(() => this.history.stats());
  }

  /** Every change from now on; returns an unsubscribe. */
  subscribe(listener: (c: LiveChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  onReport(node: string, entry: OutboxEntry, previousState: string | undefined): void {
    const { namespace, name } = splitId(entry.deviceId);
    const object = { kind: 'Device' as const, namespace, name };
    switch (entry.kind) {
      case 'twin':
        for (const t of entry.twins) {
          if (!t.reported) continue;
          const p = this.history.record(entry.deviceId, t.property, t.reported.timestamp, t.reported.value);
          if (p) this.emit({ type: 'point', point: p });
        }
        return;
      case 'state':
        if (entry.state !== previousState)
          this.event({
            type: entry.state === 'online' || entry.state === 'ok' ? 'Normal' : 'Warning',
            reason: 'StateChanged',
            message: `state ${previousState ?? '<unknown>'} -> ${entry.state} (reported by node ${node})`,
            object,
          });
        return;
      case 'write':
        if (entry.status.state === 'failed')
          this.event({
            type: 'Warning',
            reason: 'WriteFailed',
            message: `${entry.status.property}=${entry.status.desired}: ${entry.status.reason ?? 'failed'}`,
            object,
          });
        return;
      case 'refused-reading':
        if (entry.status.state !== 'accepted')
          this.event({
            type: 'Warning',
            reason: 'ReadingRefused',
            message: `${entry.status.property}=${entry.status.value ?? ''}: ${entry.status.reason ?? 'refused by the model'}`,
            object,
          });
        return;
      case 'push-status':
        this.event({
          type: entry.status.state === 'failing' ? 'Warning' : 'Normal',
          reason: entry.status.state === 'failing' ? 'PushFailing' : 'PushRecovered',
          message: `${entry.status.property} -> ${entry.status.sink}: ${entry.status.state === 'failing' ? (entry.status.reason ?? 'failing') : 'writing again'}`,
          object,
        });
        return;
    }
  }

  onStatusWritten(deviceId: string): void {
    this.emit({ type: 'device', id: deviceId });
  }

  onPresence(node: string, presence: Presence, previous: Presence | undefined): void {
    if (presence !== previous)
      this.event({
        type: presence === 'online' ? 'Normal' : 'Warning',
        reason: presence === 'online' ? 'NodeOnline' : presence === 'offline' ? 'NodeOffline' : 'NodeStorageFull',
        message: `node ${node} is ${presence}${previous ? ` (was ${previous})` : ''}`,
        object: { kind: 'Node', name: node },
      });
    this.emit({ type: 'node', name: node });
  }

  onReportStream(node: string, stream: NodeReportStream, previous: NodeReportStream | undefined): void {
    const r = stream.lastRefusal;
    if (r && r.at !== previous?.lastRefusal?.at)
      this.event({
        type: 'Warning',
        reason: 'ReportsRefused',
        message: `the cloud link refused a report batch of node ${node}: ${r.reason}`,
        object: { kind: 'Node', name: node },
      });
    this.emit({ type: 'node', name: node });
  }

  stop(): void {
    this.unsubscribe();
    this.listeners.clear();
  }

  private event(e: NewEvent): void {
    this.events.add(e);
  }

  private emit(c: LiveChange): void {
    for (const l of this.listeners) {
      try {
        l(c);
      } catch {
        // a listener's failure (a closed stream) is its own; the others still hear
      }
    }
  }
}
