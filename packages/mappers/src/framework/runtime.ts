// A mapper: serves every device of one protocol on one node, through the MQTT contract only
// (docs/mapper-contract.md): device specs in, report batches (readings and device state) + write status
// out, deltas in.

import {
  decodeWriteStatus,
  deltaRequestTopic,
  type MapperPresence,
  mapperDevicesFilter,
  mapperPresenceTopic,
  parseEdgeTopic,
  parseMapperDeviceTopic,
  writeStatusTopic,
  configErrors,
  formatConfigIssue,
} from '@edgetwin/api';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import type { Logger } from 'pino';
import { decodeResolvedDevice } from './device-spec.js';
import { untilSettledOr } from './backoff.js';
import { DeviceWorker, type WorkerOptions } from './device-worker.js';
import type { DriverFactory } from './driver.js';
import type { MapperMetrics } from './metrics.js';
import { DEFAULT_REPORT_CHANNEL, ReportChannel, type ReportChannelOptions } from './report-channel.js';
import { type Connect, PushConnections } from './push.js';
import { DEFAULT_WRITE_RETRY } from './reconciler.js';
import type { SinkLimits } from './sinks/batching-sink.js';
import { SinkHub } from './sinks/hub.js';

export const DELTA_FILTER = '$hw/events/device/+/+/twin/update/delta';

export const DEFAULT_WORKER_OPTIONS: WorkerOptions = {
  connectBackoffMs: 500,
  maxConnectBackoffMs: 30_000,
  callTimeoutMs: 10_000,
  writeRetry: DEFAULT_WRITE_RETRY,
};

export interface MapperRuntimeOptions {
  bus: BusClient;
  node: string;
  factory: DriverFactory;
  logger: Logger;
  metrics: MapperMetrics;
  /** connects push connections to other brokers (pushMethod.mqtt.address) */
  connect: Connect;
  worker?: Partial<WorkerOptions>;
  /** batching and buffering of the database/OTLP sinks (tests shrink them) */
  sinks?: Partial<SinkLimits>;
  /** how the report channel to the twin batches readings */
  reports?: Partial<ReportChannelOptions>;
}

export class MapperRuntime {
  private readonly workers = new Map<string, DeviceWorker>();
  private readonly unsubscribes: Array<() => Promise<void>> = [];
  private readonly connections: PushConnections;
  private readonly sinks: SinkHub;
  private readonly workerOptions: WorkerOptions;
  private readonly log: Logger;
  private readonly reports: ReportChannel;

  constructor(private readonly opts: MapperRuntimeOptions) {
    this.connections = new PushConnections(opts.bus, opts.connect);
    this.sinks = new SinkHub(opts.logger.child({ mapper: opts.factory.protocol }), opts.metrics, opts.sinks);
    this.workerOptions = { ...DEFAULT_WORKER_OPTIONS, ...opts.worker };
    this.log = opts.logger.child({ mapper: opts.factory.protocol, node: opts.node });
    this.reports = new ReportChannel(
      opts.bus,
      opts.node,
      opts.factory.protocol,
      (id) => this.workers.get(id),
      this.log,
      { ...DEFAULT_REPORT_CHANNEL, ...opts.reports },
    );
  }

  get protocol(): string {
    return this.opts.factory.protocol;
  }

  /** The worker serving a device (ns/name), if this mapper serves it. */
  worker(id: string): DeviceWorker | undefined {
    return this.workers.get(id);
  }

  /** The bus this mapper speaks on (the REST API publishes edge-local desired values on it). */
  get bus(): BusClient {
    return this.opts.bus;
  }

  /** IDs of the devices served. */
  devices(): string[] {
    return [...this.workers.keys()];
  }

  async start(): Promise<void> {
    const { bus, node } = this.opts;
    await this.reports.start();
    this.unsubscribes.push(await bus.subscribe(DELTA_FILTER, (topic, payload) => this.onDelta(topic, payload)));
    this.unsubscribes.push(
      await bus.subscribe(mapperDevicesFilter(node, this.protocol), (topic, payload) =>
        this.onDeviceSpec(topic, payload),
      ),
    );
    await this.publishPresence('online');
    this.log.info('mapper started');
  }

  /**
   * Stops every device and says offline. Each step that waits on the broker or a device gives up when
   * `deadline` aborts: a broker gone at the moment of the stop must not hold it (issue 9 §5); what was not
   * said by then is said by the presence last will.
   */
  async stop(deadline: AbortSignal = new AbortController().signal): Promise<void> {
    await untilSettledOr(Promise.all(this.unsubscribes.splice(0).map((u) => u().catch(() => undefined))), deadline);
    const workers = [...this.workers.values()];
    this.workers.clear();
    await untilSettledOr(Promise.all(workers.map((w) => w.stop({ publishOffline: true }))), deadline);
    await untilSettledOr(this.reports.stop(), deadline);
    await untilSettledOr(this.publishPresence('offline'), deadline);
    await untilSettledOr(this.connections.closeAll(), deadline);
    await untilSettledOr(this.sinks.closeAll(), deadline);
    await untilSettledOr(Promise.resolve(this.opts.factory.close?.()), deadline);
    this.log.info(
      { complete: !deadline.aborted },
      deadline.aborted ? 'mapper stopped at its deadline' : 'mapper stopped',
    );
  }

  private async publishPresence(state: MapperPresence['state']): Promise<void> {
    const p: MapperPresence = { state, protocol: this.protocol, devices: this.workers.size, timestamp: Date.now() };
    await this.opts.bus.publish(mapperPresenceTopic(this.opts.node, this.protocol), JSON.stringify(p), {
      qos: 1,
      retain: true,
    });
  }

  private onDeviceSpec(topic: string, payload: Buffer): void {
    const parsed = parseMapperDeviceTopic(topic);
    if (!parsed || parsed.protocol !== this.protocol) return;
    const { id } = parsed;
    const existing = this.workers.get(id);
    if (payload.length === 0) {
      if (!existing) return;
      this.workers.delete(id);
      this.opts.metrics.devices.set(this.workers.size);
      this.opts.metrics.forget(id);
      this.log.info({ device: id }, 'device removed');
      void existing.stop({ publishOffline: false });
      void this.publishPresence('online').catch(() => undefined);
      return;
    }
    const decoded = decodeResolvedDevice(payload, id);
    const problems = decoded.ok
      ? configErrors(this.opts.factory.validate(decoded.value)).map(formatConfigIssue)
      : [decoded.error];
    if (!decoded.ok || problems.length) {
      // keep serving the last good spec, if any: a bad update must not take a working device down
      this.log.error(
        { device: id, problems, keeping: existing ? 'previous spec' : 'nothing' },
        `device spec refused: ${problems.join('; ')}`,
      );
      if (!existing) this.publishRefusal(id);
      return;
    }
    if (existing) {
      existing.update(decoded.value);
      this.log.info({ device: id }, 'device updated in place');
      return;
    }
    const w = new DeviceWorker(decoded.value, {
      factory: this.opts.factory,
      bus: this.opts.bus,
      logger: this.opts.logger,
      metrics: this.opts.metrics,
      connections: this.connections,
      sinks: this.sinks,
      reports: this.reports,
      options: this.workerOptions,
    });
    this.workers.set(id, w);
    this.opts.metrics.devices.set(this.workers.size);
    this.log.info({ device: id }, 'device added');
    w.start();
    // Desired values come by one route, the delta (issue 9 §5): the spec's `desired` is the cloud's and may be
    // overridden on the edge, so ask the twin for this device's delta instead of writing the spec's value.
    void this.opts.bus.publish(deltaRequestTopic(id), '', { qos: 1 }).catch(() => undefined);
    void this.publishPresence('online').catch(() => undefined);
  }

  /** A device whose spec cannot be served shows as unhealthy; the reasons are in the log line before. */
  private publishRefusal(id: string): void {
    this.reports.addState(id, 'unhealthy', true);
  }

  private onDelta(topic: string, payload: Buffer): void {
    const t = parseEdgeTopic(topic);
    if (t.kind !== 'device') return;
    const w = this.workers.get(t.id);
    if (!w) return; // a device of another mapper
    let delta: unknown;
    try {
      delta = (JSON.parse(payload.toString('utf8')) as { delta?: unknown }).delta;
    } catch (e) {
      this.log.warn({ device: t.id, err: (e as Error).message }, 'twin delta is not JSON; ignored');
      return;
    }
    if (!delta || typeof delta !== 'object' || Array.isArray(delta)) {
      this.log.warn({ device: t.id }, 'twin delta has no "delta" object; ignored');
      return;
    }
    for (const [prop, value] of Object.entries(delta as Record<string, unknown>)) {
      if (typeof value === 'string') {
        w.setDesired(prop, value);
        continue;
      }
      // KubeEdge deltas carry strings; anything else is refused where the app can see it
      const status = {
        property: prop,
        desired: JSON.stringify(value) ?? String(value),
        state: 'failed',
        reason: `desired value of ${prop} must be a string, got ${typeof value}`,
        attempts: 0,
        timestamp: Date.now(),
      };
      if (decodeWriteStatus(JSON.stringify(status)).ok)
        void this.opts.bus.publish(writeStatusTopic(t.id), JSON.stringify(status), { qos: 1 }).catch(() => undefined);
    }
  }
}
