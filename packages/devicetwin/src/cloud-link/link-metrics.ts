// Prometheus metrics of the edge end of the link, registered in the twin's registry when given.

import { Counter, Gauge, Registry } from 'prom-client';

export class EdgeLinkMetrics {
  readonly connected: Gauge;
  readonly syncedGeneration: Gauge;
  readonly reconciles: Counter;
  readonly removedByReconcile: Counter;
  readonly heals: Counter;
  readonly batchesSent: Counter;
  readonly resends: Counter<'reason'>;
  readonly epochs: Counter<'reason'>;

  constructor(readonly registry: Registry = new Registry()) {
    const registers = [registry];
    this.connected = new Gauge({
      name: 'edgetwin_cloudlink_connected',
      help: '1 while the edge is connected to the cloud broker',
      registers,
    });
    this.syncedGeneration = new Gauge({
      name: 'edgetwin_cloudlink_synced_generation',
      help: 'Generation of the last DesiredIndex the twin was reconciled with',
      registers,
    });
    this.reconciles = new Counter({
      name: 'edgetwin_cloudlink_reconciles_total',
      help: 'Reconciliations of the twin with a complete DesiredIndex',
      registers,
    });
    this.removedByReconcile = new Counter({
      name: 'edgetwin_cloudlink_removed_by_reconcile_total',
      help: 'Devices and models removed because the cloud index no longer lists them',
      registers,
    });
    this.heals = new Counter({
      name: 'edgetwin_cloudlink_heal_requests_total',
      help: 'Times the edge asked the broker again for objects an index lists that did not arrive',
      registers,
    });
    this.batchesSent = new Counter({
      name: 'edgetwin_cloudlink_report_batches_sent_total',
      help: 'Report batches published to the cloud (resends included)',
      registers,
    });
    this.resends = new Counter({
      name: 'edgetwin_cloudlink_report_resends_total',
      help: 'Times the edge started sending again from an earlier seq: reconnect, ack-timeout, or the refusal the cloud answered (gap, epoch)',
      labelNames: ['reason'],
      registers,
    });
    this.epochs = new Counter({
      name: 'edgetwin_cloudlink_report_epochs_total',
      help: 'Times the edge started a new report epoch: unearned-ack (the cloud acknowledged seqs this outbox never made), retired-epoch',
      labelNames: ['reason'],
      registers,
    });
  }
}
