// The sinks of one mapper (issue 17): one BatchingSink per database target (kind and address, database,
// user...), shared by every device and property that names it, so a hundred devices writing to one redis
// share one connection and one buffer. Properties hand their readings here without waiting. A database
// client library loads when its sink first connects (issue 15 target 4): a mapper without sinks never
// imports mysql2, redis, InfluxDB's or OpenTelemetry's clients (together over a second of CPU).

import type { Influx2Sink, MysqlSink, PushConfig, RedisSink } from '@edgetwin/api';
import type { Logger } from 'pino';
import type { MapperMetrics } from '../metrics.js';
import {
  BatchingSink,
  DEFAULT_SINK_LIMITS,
  type SinkLimits,
  type SinkPoint,
  type SinkStateListener,
  type SinkStatus,
  type SinkWriter,
} from './batching-sink.js';
import { sinkSecret } from './secrets.js';

export const SINK_METHODS = ['influxdb2', 'redis', 'mysql', 'otel'] as const;
export type SinkMethod = (typeof SINK_METHODS)[number];

/** A writer whose client library loads on first connect; a failed load fails that connect (retried as any). */
function lazyWriter(load: () => Promise<SinkWriter>): SinkWriter {
  let inner: Promise<SinkWriter> | undefined;
  const ready = () => {
    inner ??= load().catch((e: unknown) => {
      inner = undefined;
      throw e;
    });
    return inner;
  };
  return {
    connect: async () => (await ready()).connect(),
    write: async (points) => (await ready()).write(points),
    close: async () => {
      const w = await inner?.catch(() => undefined);
      await w?.close();
    },
  };
}

/** The label (and identity) of a sink target; never holds a secret. */
export function sinkLabel(method: SinkMethod, config: PushConfig): string {
  switch (method) {
    case 'redis': {
      const c = config.redis as RedisSink;
      return `redis:${c.addr}/${c.db}`;
    }
    case 'mysql': {
      const c = config.mysql as MysqlSink;
      return `mysql:${c.userName}@${c.addr}/${c.database}`;
    }
    case 'influxdb2': {
      const c = config.influxdb2 as Influx2Sink;
      return `influxdb2:${c.url}/${c.org ?? ''}/${c.bucket}`;
    }
    case 'otel':
      return `otel:${config.otel!.endpointURL}`;
  }
}

export class SinkHub {
  private readonly sinks = new Map<string, BatchingSink>();
  readonly limits: SinkLimits;

  constructor(
    private readonly log: Logger,
    private readonly metrics: MapperMetrics,
    limits: Partial<SinkLimits> = {},
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.limits = { ...DEFAULT_SINK_LIMITS, ...limits };
  }

  /** The sink for a method of a property's push config, made on first use; throws when its secret cannot be read. */
  sink(
    method: SinkMethod,
    config: PushConfig,
    device: string,
    listener?: { key: string; on: SinkStateListener },
  ): BatchingSink {
    const label = sinkLabel(method, config);
    let s = this.sinks.get(label);
    if (!s) {
      const t = this.limits.callTimeoutMs;
      // read once here, so an unreadable secret file is refused at once; then again on every connect
      sinkSecret(method, this.env);
      const secret = () => sinkSecret(method, this.env);
      const writer = lazyWriter(async () =>
        method === 'redis'
          ? (await import('./redis.js')).redisWriter(config.redis!, secret, t)
          : method === 'mysql'
            ? (await import('./mysql.js')).mysqlWriter(config.mysql!, secret, t)
            : method === 'influxdb2'
              ? (await import('./influxdb2.js')).influxWriter(config.influxdb2!, secret, t)
              : (await import('./otel.js')).otelWriter(config.otel!.endpointURL, secret, t),
      );
      s = new BatchingSink(label, writer, this.limits, this.log, this.metrics.sinks);
      this.sinks.set(label, s);
    }
    s.use(device, listener);
    return s;
  }

  offer(
    method: SinkMethod,
    config: PushConfig,
    device: string,
    point: SinkPoint,
    listener?: { key: string; on: SinkStateListener },
  ): void {
    this.sink(method, config, device, listener).offer(point);
  }

  /** Stops telling `key` about the sink of `method` in `config` (its property no longer writes there). */
  unuse(method: SinkMethod, config: PushConfig, key: string): void {
    this.sinks.get(sinkLabel(method, config))?.unuse(key);
  }

  status(method: SinkMethod, config: PushConfig): SinkStatus | undefined {
    return this.sinks.get(sinkLabel(method, config))?.status();
  }

  async closeAll(): Promise<void> {
    const all = [...this.sinks.values()];
    this.sinks.clear();
    await Promise.all(all.map((s) => s.close()));
  }
}
