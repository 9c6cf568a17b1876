// Prometheus metrics of one mapper process, labelled by device (and property where it matters).

import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Per-reading figures of one device, kept as plain numbers and handed to prom-client only when scraped:
 * prom-client hashes the label set on every inc/set, which was a measurable share of the per-reading cost.
 */
export interface DeviceTally {
  reads: number;
  reports: number;
  /** unix seconds of the last successful read; 0 = none yet */
  lastSuccess: number;
}

/** Per sink (issue 17): `sink` is `<kind>:<target>`, e.g. `redis:127.0.0.1:6379/0`. */
export interface SinkMetrics {
  points: Counter<'sink' | 'result'>;
  buffered: Gauge<'sink'>;
  up: Gauge<'sink'>;
}

export class MapperMetrics {
  readonly reads: Counter<'device'>;
  readonly readErrors: Counter<'device' | 'code'>;
  readonly readLatency: Histogram<'device'>;
  readonly lastSuccess: Gauge<'device'>;
  readonly overruns: Counter<'device'>;
  readonly reports: Counter<'device'>;
  readonly reportRefusals: Counter<'device' | 'code'>;
  readonly writes: Counter<'device' | 'result'>;
  readonly pushes: Counter<'device' | 'method' | 'result'>;
  readonly connects: Counter<'device' | 'result'>;
  readonly devices: Gauge;
  readonly sinks: SinkMetrics;
  private readonly tallies = new Map<string, DeviceTally>();

  constructor(readonly registry: Registry = new Registry()) {
    const r = [registry];
    const tallies = this.tallies;
    this.reads = new Counter({
      name: 'edgetwin_mapper_reads_total',
      help: 'Batch reads',
      labelNames: ['device'],
      registers: r,
      collect() {
        // every read is counted in a tally, so the tallies are the whole truth
        this.reset();
        for (const [device, t] of tallies) if (t.reads > 0) this.inc({ device }, t.reads);
      },
    });
    this.readErrors = new Counter({
      name: 'edgetwin_mapper_read_errors_total',
      help: 'Property reads that failed, by driver error code',
      labelNames: ['device', 'code'],
      registers: r,
    });
    this.readLatency = new Histogram({
      name: 'edgetwin_mapper_read_duration_seconds',
      help: 'Time of one batch read',
      labelNames: ['device'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: r,
    });
    this.lastSuccess = new Gauge({
      name: 'edgetwin_mapper_last_success_timestamp_seconds',
      help: 'Unix time of the last successful read of a device',
      labelNames: ['device'],
      registers: r,
      collect() {
        for (const [device, t] of tallies) if (t.lastSuccess > 0) this.set({ device }, t.lastSuccess);
      },
    });
    this.overruns = new Counter({
      name: 'edgetwin_mapper_read_overruns_total',
      help: 'Read cycles skipped because the previous read of the same cycle was still running',
      labelNames: ['device'],
      registers: r,
    });
    this.reports = new Counter({
      name: 'edgetwin_mapper_twin_reports_total',
      help: 'Device entries handed to the report channel (one per device read with something to report)',
      labelNames: ['device'],
      registers: r,
      collect() {
        this.reset();
        for (const [device, t] of tallies) if (t.reports > 0) this.inc({ device }, t.reports);
      },
    });
    this.reportRefusals = new Counter({
      name: 'edgetwin_mapper_report_refusals_total',
      help: 'Readings the twin refused, by code (429/500/503 are resent, others reported as refused readings)',
      labelNames: ['device', 'code'],
      registers: r,
    });
    this.writes = new Counter({
      name: 'edgetwin_mapper_writes_total',
      help: 'Desired values reconciled, by final state',
      labelNames: ['device', 'result'],
      registers: r,
    });
    this.pushes = new Counter({
      name: 'edgetwin_mapper_pushes_total',
      help: 'Data pushes (pushMethod) by method and result',
      labelNames: ['device', 'method', 'result'],
      registers: r,
    });
    this.connects = new Counter({
      name: 'edgetwin_mapper_connects_total',
      help: 'Device connection attempts',
      labelNames: ['device', 'result'],
      registers: r,
    });
    this.devices = new Gauge({ name: 'edgetwin_mapper_devices', help: 'Devices served', registers: r });
    this.sinks = {
      points: new Counter({
        name: 'edgetwin_mapper_sink_points_total',
        help: 'Readings per database/OTLP sink: written, or dropped from a full buffer while the sink was down',
        labelNames: ['sink', 'result'],
        registers: r,
      }),
      buffered: new Gauge({
        name: 'edgetwin_mapper_sink_buffered_points',
        help: 'Readings waiting for their sink',
        labelNames: ['sink'],
        registers: r,
      }),
      up: new Gauge({
        name: 'edgetwin_mapper_sink_up',
        help: '1 when the last write to the sink succeeded, 0 while it is down',
        labelNames: ['sink'],
        registers: r,
      }),
    };
  }

  /** The tally a device's worker counts into (one per device id, shared if a device is re-added). */
  tally(device: string): DeviceTally {
    let t = this.tallies.get(device);
    if (!t) {
      t = { reads: 0, reports: 0, lastSuccess: 0 };
      this.tallies.set(device, t);
    }
    return t;
  }

  /** Drop a removed device's series. */
  forget(device: string): void {
    this.tallies.delete(device);
    for (const m of [this.reads, this.readLatency, this.lastSuccess, this.overruns, this.reports]) m.remove({ device });
    this.reportRefusals.remove({ device });
  }
}
