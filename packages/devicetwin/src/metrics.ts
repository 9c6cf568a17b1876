// Prometheus metrics of one twin. Each twin has its own registry so several twins (tests, one process per
// node in a bench) never collide on metric names; `edgetwin edge-local` serves it on /metrics.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface TwinMetrics {
  registry: Registry;
  handled: Counter<'action'>;
  rejected: Counter<'action' | 'code'>;
  dropped: Counter<'reason'>;
  limitRefusals: Counter<'limit'>;
  outboxDepth: Gauge;
  dbWriteSeconds: Histogram;
  batchSize: Histogram;
}

export function createTwinMetrics(outboxDepth: () => number, storageFull: () => boolean): TwinMetrics {
  const registry = new Registry();
  new Gauge({
    name: 'edgetwin_twin_storage_full',
    help: '1 while the disk of the twin database refuses writes (writes get 500, reads answer), else 0',
    registers: [registry],
    collect() {
      this.set(storageFull() ? 1 : 0);
    },
  });
  return {
    registry,
    handled: new Counter({
      name: 'edgetwin_twin_messages_handled_total',
      help: 'MQTT requests the twin answered successfully, by action',
      labelNames: ['action'],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'edgetwin_twin_messages_rejected_total',
      help: 'MQTT requests answered with an error code on their /result topic',
      labelNames: ['action', 'code'],
      registers: [registry],
    }),
    dropped: new Counter({
      name: 'edgetwin_twin_messages_dropped_total',
      help: 'MQTT messages dropped without a reply (bad topic, overload, unknown device on write status)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    limitRefusals: new Counter({
      name: 'edgetwin_twin_limit_refusals_total',
      help: 'Requests refused because a limit was reached (extra-properties, value-bytes, twin-bytes, device-queue, queue)',
      labelNames: ['limit'],
      registers: [registry],
    }),
    outboxDepth: new Gauge({
      name: 'edgetwin_twin_outbox_depth',
      help: 'Reports stored for the cloud and not yet acknowledged',
      registers: [registry],
      collect() {
        this.set(outboxDepth());
      },
    }),
    dbWriteSeconds: new Histogram({
      name: 'edgetwin_twin_db_write_seconds',
      help: 'Time of one SQLite write transaction (a batch of requests)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'edgetwin_twin_batch_size',
      help: 'Requests handled in one transaction',
      buckets: [1, 2, 5, 10, 50, 100, 500, 1000],
      registers: [registry],
    }),
  };
}
