// Prometheus metrics of one controller. Each controller has its own registry, so several can run in one
// process (tests, `edgetwin up`) without clashing names.

import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly statusWrites = new Counter({
    name: 'edgetwin_controller_status_writes_total',
    help: 'Status writes issued to the source (one per device flush)',
    registers: [this.registry],
  });
  readonly statusWritesAnswering = new Counter({
    name: 'edgetwin_controller_status_writes_answering_total',
    help: 'Status writes made at once, outside the per-device and global budgets, because they carry a reported value that answers a cloud command (one per desired value set)',
    registers: [this.registry],
  });
  readonly statusWriteErrors = new Counter({
    name: 'edgetwin_controller_status_write_errors_total',
    help: 'Status writes that failed and will be retried',
    registers: [this.registry],
  });
  readonly reports = new Counter({
    name: 'edgetwin_controller_reports_total',
    help: 'Report entries received from edge nodes, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly reportsIgnored = new Counter({
    name: 'edgetwin_controller_reports_ignored_total',
    help: 'Report entries that changed nothing, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly pendingDevices = new Gauge({
    name: 'edgetwin_controller_status_pending_devices',
    help: 'Devices whose merged status is waiting to be written',
    registers: [this.registry],
  });
  readonly dispatched = new Counter({
    name: 'edgetwin_controller_dispatched_changes_total',
    help: 'Desired-state changes handed to the cloud link, by kind',
    labelNames: ['kind', 'op'] as const,
    registers: [this.registry],
  });
  readonly nodesOnline = new Gauge({
    name: 'edgetwin_controller_nodes_online',
    help: 'Edge nodes that are connected (presence online or storage-full)',
    registers: [this.registry],
  });

  readonly historyDropped = new Counter({
    name: 'edgetwin_controller_history_dropped_points_total',
    help: 'Points of the reported-value history dropped: by age, to make room (points) or not kept (series-limit)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly kubeEvents = new Counter({
    name: 'edgetwin_controller_kube_events_total',
    help: 'Kubernetes Events written for device events, by result: created, patched (a repeat counted up), dropped-rate (spam filter: 25 per device, then one per 5 minutes), dropped-busy (100 writes in flight), skipped (device not in the cache), failed',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: 'edgetwin_controller_events_total',
    help: 'Device and node events recorded (describe shows the recent ones), by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly liveClients = new Gauge({
    name: 'edgetwin_controller_live_clients',
    help: 'Clients connected to the live stream (console, get -w, the view of up)',
    registers: [this.registry],
  });
  readonly liveClientsDropped = new Counter({
    name: 'edgetwin_controller_live_clients_dropped_total',
    help: 'Live clients refused (limit) or cut off because they did not read (slow)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private historyStats?: () => { series: number; points: number; bytes: number };
  readonly historySeries: Gauge = new Gauge({
    name: 'edgetwin_controller_history_series',
    help: 'Device properties with a history of reported values',
    registers: [this.registry],
    collect: (): void => this.historySeries.set(this.historyStats?.().series ?? 0),
  });
  readonly historyPoints: Gauge = new Gauge({
    name: 'edgetwin_controller_history_points',
    help: 'Points held in the history of reported values',
    registers: [this.registry],
    collect: (): void => this.historyPoints.set(this.historyStats?.().points ?? 0),
  });
  readonly historyBytes: Gauge = new Gauge({
    name: 'edgetwin_controller_history_bytes',
    help: 'Memory held by the history of reported values (16 bytes a point of capacity)',
    registers: [this.registry],
    collect: (): void => this.historyBytes.set(this.historyStats?.().bytes ?? 0),
  });

  /** The history's sizes are read when metrics are scraped. */
  watchHistory(stats: () => { series: number; points: number; bytes: number }): void {
    this.historyStats = stats;
  }

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
