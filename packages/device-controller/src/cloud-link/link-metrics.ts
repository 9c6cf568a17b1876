// Prometheus metrics of the cloud end of the link, registered in the controller's registry when given.

import { Counter, Gauge, Registry } from 'prom-client';

export class CloudLinkMetrics {
  readonly reportsApplied: Counter;
  readonly reportsDuplicate: Counter;
  readonly batchesRefused: Counter<'reason'>;
  readonly epochSwitches: Counter;
  readonly desiredPublished: Counter<'kind' | 'op'>;
  readonly indexGeneration: Gauge<'node'>;
  readonly presenceTimeouts: Counter;

  constructor(readonly registry: Registry = new Registry()) {
    const registers = [registry];
    this.reportsApplied = new Counter({
      name: 'edgetwin_cloudlink_reports_applied_total',
      help: 'Edge report entries applied to status (each once)',
      registers,
    });
    this.reportsDuplicate = new Counter({
      name: 'edgetwin_cloudlink_reports_duplicate_total',
      help: 'Edge report entries received again and skipped (resends after a lost ack or a reconnect)',
      registers,
    });
    this.batchesRefused = new Counter({
      name: 'edgetwin_cloudlink_report_batches_refused_total',
      help: 'Report batches not applied, by reason: gap (an earlier batch is missing; kept aside and the edge told), gap-overflow (too many kept aside), epoch (another epoch not starting at the edge ack), retired-epoch, malformed, status (the status sink failed)',
      labelNames: ['reason'],
      registers,
    });
    this.epochSwitches = new Counter({
      name: 'edgetwin_cloudlink_report_epoch_switches_total',
      help: 'Times a node started reporting in a new epoch (data dir wiped, restored or replaced)',
      registers,
    });
    this.desiredPublished = new Counter({
      name: 'edgetwin_cloudlink_desired_published_total',
      help: 'Desired objects published retained to edge nodes',
      labelNames: ['kind', 'op'],
      registers,
    });
    this.indexGeneration = new Gauge({
      name: 'edgetwin_cloudlink_index_generation',
      help: 'Generation of the last DesiredIndex published to a node',
      labelNames: ['node'],
      registers,
    });
    this.presenceTimeouts = new Counter({
      name: 'edgetwin_cloudlink_presence_timeouts_total',
      help: 'Nodes marked offline because nothing (presence heartbeat, report) was heard from them within the presence timeout: their will was lost (a broker cluster member died) or never sent',
      registers,
    });
  }
}
