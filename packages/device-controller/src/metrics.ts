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

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
