// Data push per property (KubeEdge's pushMethod), every reportCycle, of the latest reading:
//  - MQTT on one persistent connection per broker address (KubeEdge opens a connection per message),
//  - HTTP POST.
// Both carry the same JSON body (docs/mappers.md):
//   {"deviceId":"ns/name","namespace":"ns","name":"name","property":"p","value":"<string>","type":"int","timestamp":ms}

import {
  dataTopic,
  type PushConfig,
  parsePushMethod,
  type PushOwner,
  type ResolvedDevice,
  type ResolvedProperty,
  twinMetadataType,
} from '@edgetwin/api';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import type { Logger } from 'pino';
import type { MapperMetrics } from './metrics.js';
import { gaugeValue, type SinkPoint } from './sinks/batching-sink.js';
import { SINK_METHODS, type SinkHub, type SinkMethod, sinkLabel } from './sinks/hub.js';
import { type Cycle, startCycle } from './scheduler.js';

export interface PushBody {
  deviceId: string;
  namespace: string;
  name: string;
  property: string;
  value: string;
  type: string;
  timestamp: number;
}

export type Connect = (url: string) => Promise<BusClient>;

/** Persistent MQTT connections for pushes, one per address, shared by every device of a mapper. */
export class PushConnections {
  private readonly clients = new Map<string, Promise<BusClient>>();
  constructor(
    private readonly local: BusClient,
    private readonly connect: Connect,
  ) {}

  get(address: string | undefined): Promise<BusClient> {
    if (!address) return Promise.resolve(this.local);
    const url = address.replace(/^tcp:\/\//, 'mqtt://').replace(/^ssl:\/\//, 'mqtts://');
    let c = this.clients.get(url);
    if (!c) {
      c = this.connect(url);
      c.catch(() => this.clients.delete(url));
      this.clients.set(url, c);
    }
    return c;
  }

  async closeAll(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((c) => c.then((b) => b.close()).catch(() => undefined)));
  }
}

export class DevicePusher {
  // Most devices push nothing: each map and set below is made on first use (issue 15, target 3: ~180 bytes
  // each per device otherwise, with 1,000 devices in one edge).
  private cycles: Map<string, { key: string; cycle: Cycle }> | undefined;
  /** timestamp of the last reading handed to the sinks, per property: a reading is written once */
  private sunk: Map<string, number> | undefined;
  private refused: Set<string> | undefined;
  /** the sinks each property writes to (to stop listening when it no longer does), and which of them fail */
  private sinkConfigs: Map<string, PushConfig> | undefined;
  private failing: Set<string> | undefined;

  constructor(
    private device: ResolvedDevice,
    private readonly deps: {
      connections: PushConnections;
      sinks: SinkHub;
      latest(property: string): { value: string; timestamp: number } | undefined;
      /** a property's push to a sink began failing (with why) or works again: the worker tells the twin */
      onSinkState?(s: { property: string; sink: string; state: 'failing' | 'ok'; reason?: string }): void;
      logger: Logger;
      metrics: MapperMetrics;
    },
  ) {}

  /** Start, restart or stop the push cycle of each property whose pushMethod or reportCycle changed. */
  update(device: ResolvedDevice): void {
    this.device = device;
    const wanted = new Map<string, { p: ResolvedProperty; config: PushConfig }>();
    for (const p of device.properties) {
      const { config, problems } = parsePushMethod(p.pushMethod, this.owner(p));
      const key = JSON.stringify([p.pushMethod, p.reportCycleMs, p.type]);
      if (problems.length && this.cycles?.get(p.name)?.key !== key)
        for (const pr of problems)
          this.deps.logger[pr.severity === 'error' ? 'error' : 'info'](
            { property: p.name, field: `pushMethod.${pr.path.join('.')}` },
            `${pr.message}${pr.severity === 'error' ? '; this push is not served' : ''}`,
          );
      if (Object.keys(config).length) wanted.set(p.name, { p, config });
    }
    for (const [name, c] of this.cycles ?? []) {
      const w = wanted.get(name);
      if (!w || c.key !== JSON.stringify([w.p.pushMethod, w.p.reportCycleMs, w.p.type])) {
        c.cycle.stop();
        this.cycles!.delete(name);
        this.leaveSinks(name);
      }
    }
    for (const [name, { p, config }] of wanted) {
      this.cycles ??= new Map();
      const cycles = this.cycles;
      if (cycles.has(name)) continue;
      const cycle = startCycle(p.reportCycleMs, () => this.push(p, config), { immediate: false });
      cycles.set(name, { key: JSON.stringify([p.pushMethod, p.reportCycleMs, p.type]), cycle });
    }
  }

  /** Whose push this is: the sinks build table names and keys from the device and property names. */
  private owner(p: ResolvedProperty): PushOwner {
    return { namespace: this.device.namespace, name: this.device.name, property: p.name };
  }

  /** Connection and buffer state of a property's database sink, once it has been used. */
  sinkStatus(property: string, kind: string): Record<string, unknown> | undefined {
    const p = this.device.properties.find((x) => x.name === property);
    if (!p || !(SINK_METHODS as readonly string[]).includes(kind)) return undefined;
    const { config } = parsePushMethod(p.pushMethod, this.owner(p));
    if (!config[kind as SinkMethod]) return undefined;
    return this.deps.sinks.status(kind as SinkMethod, config) as Record<string, unknown> | undefined;
  }

  stop(): void {
    for (const c of this.cycles?.values() ?? []) c.cycle.stop();
    this.cycles = undefined;
    for (const name of [...(this.sinkConfigs?.keys() ?? [])]) this.leaveSinks(name, false);
  }

  private async push(p: ResolvedProperty, config: PushConfig): Promise<void> {
    const latest = this.deps.latest(p.name);
    if (!latest) return;
    const d = this.device;
    const body: PushBody = {
      deviceId: d.id,
      namespace: d.namespace,
      name: d.name,
      property: p.name,
      value: latest.value,
      type: twinMetadataType(p.type),
      timestamp: latest.timestamp,
    };
    this.sink(p, config, latest);
    const json = JSON.stringify(body);
    const { mqtt, http } = config;
    if (mqtt) {
      try {
        const bus = await this.deps.connections.get(mqtt.address);
        await bus.publish(mqtt.topic || dataTopic(d.id), json, {
          qos: mqtt.qos,
          retain: mqtt.retained,
        });
        this.deps.metrics.pushes.inc({ device: d.id, method: 'mqtt', result: 'ok' });
      } catch (e) {
        this.fail('mqtt', p, e);
      }
    }
    if (http) {
      try {
        const res = await fetch(http.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: json,
          signal: AbortSignal.timeout(http.timeoutMs),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status} from ${http.url}`);
        await res.arrayBuffer();
        this.deps.metrics.pushes.inc({ device: d.id, method: 'http', result: 'ok' });
      } catch (e) {
        this.fail('http', p, e);
      }
    }
  }

  /** Hands a new reading to each sink the property names; never waits (the sinks batch and buffer). */
  private sink(p: ResolvedProperty, config: PushConfig, latest: { value: string; timestamp: number }): void {
    this.sunk ??= new Map();
    const sunk = this.sunk;
    if (sunk.get(p.name) === latest.timestamp) return; // already handed over: a reading is written once
    sunk.set(p.name, latest.timestamp);
    const d = this.device;
    const base: SinkPoint = {
      namespace: d.namespace,
      name: d.name,
      property: p.name,
      type: twinMetadataType(p.type),
      value: latest.value,
      timestamp: latest.timestamp,
    };
    for (const method of SINK_METHODS) {
      if (!config[method]) continue;
      if (method === 'otel' && gaugeValue(base) === undefined) {
        this.refuseOnce(method, p, `a ${base.type} reading is not a number, so it cannot be an OTLP gauge`);
        continue;
      }
      const extra =
        method === 'influxdb2'
          ? {
              measurement: config.influxdb2!.measurement,
              tags: config.influxdb2!.tags,
              fieldKey: config.influxdb2!.fieldKey || p.name,
            }
          : method === 'otel'
            ? (p.unit ?? '')
            : undefined;
      this.sinkConfigs ??= new Map();
      this.sinkConfigs.set(p.name, config);
      const sink = sinkLabel(method, config);
      const listener = {
        key: `${d.id}\u0000${p.name}`,
        on: (state: 'failing' | 'ok', reason?: string) => this.sinkState(p.name, sink, state, reason),
      };
      try {
        this.deps.sinks.offer(method, config, d.id, extra === undefined ? base : { ...base, extra }, listener);
      } catch (e) {
        this.refuseOnce(method, p, (e as Error).message);
      }
    }
  }

  private sinkState(property: string, sink: string, state: 'failing' | 'ok', reason?: string): void {
    const key = `${property}\u0000${sink}`;
    if (state === 'failing') {
      this.failing ??= new Set();
      this.failing.add(key);
    } else if (!this.failing?.delete(key)) return;
    this.deps.onSinkState?.({ property, sink, state, ...(reason !== undefined ? { reason } : {}) });
  }

  /** A property no longer writes to its sinks: stop listening; a failure shown for it is cleared (`tell`). */
  private leaveSinks(property: string, tell = true): void {
    const config = this.sinkConfigs?.get(property);
    if (!config) return;
    this.sinkConfigs!.delete(property);
    for (const method of SINK_METHODS) {
      if (!config[method]) continue;
      this.deps.sinks.unuse(method, config, `${this.device.id}\u0000${property}`);
      if (tell) this.sinkState(property, sinkLabel(method, config), 'ok');
    }
  }

  private refuseOnce(method: string, p: ResolvedProperty, reason: string): void {
    const key = `${p.name}\u0000${method}\u0000${reason}`;
    this.refused ??= new Set();
    const refused = this.refused;
    if (refused.has(key)) return;
    refused.add(key);
    this.deps.metrics.pushes.inc({ device: this.device.id, method, result: 'error' });
    this.deps.logger.error(
      { device: this.device.id, property: p.name, method, err: reason },
      `${method} sink: ${reason}; not written`,
    );
  }

  private fail(method: string, p: ResolvedProperty, e: unknown): void {
    this.deps.metrics.pushes.inc({ device: this.device.id, method, result: 'error' });
    this.deps.logger.warn(
      { device: this.device.id, property: p.name, method, err: (e as Error).message },
      'data push failed',
    );
  }
}
