// The influxdb2 sink (issue 17) through InfluxData's client, KubeEdge's layout: point(measurement, tags,
// {fieldKey: value}). Fixed defects: KubeEdge stamps points at write time (a flushed backlog would land at
// reconnect time and overwrite itself) and writes every field as a string; edgetwin stamps each point with
// its reading's time (ms) and types the field by the model (INT integer, FLOAT/DOUBLE float, BOOLEAN bool,
// others string). Works with 2.x and with 1.8+ serving the v2 write API (token `user:password`, bucket
// `database/retention-policy`, org ignored). The bucket (1.x: database) must exist: the mapper never asks for
// admin rights to create it.

import type { Influx2Sink } from '@edgetwin/api';
import { HttpError, InfluxDB, Point, setLogger, type WriteApi } from '@influxdata/influxdb-client';
import { type SecretSource, SinkAuthError, type SinkPoint, type SinkWriter } from './batching-sink.js';

// The client logs every failed write to the console; the sink reports outages itself, once per outage.
setLogger({ error: () => undefined, warn: () => undefined });

/** What one property asks of the influx sink (its measurement, tags and field). */
export interface InfluxPointSpec {
  measurement: string;
  tags: Record<string, string>;
  fieldKey: string;
}

export function influxPoint(p: SinkPoint): Point {
  const spec = p.extra as InfluxPointSpec;
  const point = new Point(spec.measurement).timestamp(p.timestamp);
  for (const [k, v] of Object.entries(spec.tags)) point.tag(k, v);
  const field = spec.fieldKey || p.property;
  const n = Number(p.value);
  if (p.type === 'int' && /^-?\d+$/.test(p.value)) point.intField(field, p.value);
  else if ((p.type === 'float' || p.type === 'double') && p.value.trim() !== '' && Number.isFinite(n))
    point.floatField(field, n);
  else if (p.type === 'boolean' && (p.value === 'true' || p.value === 'false'))
    point.booleanField(field, p.value === 'true');
  else point.stringField(field, p.value);
  return point;
}

export function influxWriter(cfg: Influx2Sink, secret: SecretSource, timeoutMs: number): SinkWriter {
  let api: WriteApi | undefined;
  return {
    async connect() {
      const token = secret();
      const db = new InfluxDB({ url: cfg.url, ...(token ? { token } : {}), timeout: timeoutMs });
      // the sink batches, buffers and retries: the client only writes what it is given, once
      api = db.getWriteApi(cfg.org ?? '', cfg.bucket, 'ms', {
        batchSize: 100_000,
        flushInterval: 0,
        maxRetries: 0,
        maxBufferLines: 100_000,
      });
    },
    async write(points) {
      const a = api;
      if (!a) throw new Error('influx writer closed');
      a.writePoints(points.map(influxPoint));
      try {
        await a.flush();
      } catch (e) {
        if (e instanceof HttpError && (e.statusCode === 401 || e.statusCode === 403))
          throw new SinkAuthError(`HTTP ${e.statusCode}: ${e.body || e.message}`);
        if (e instanceof HttpError) throw new Error(`HTTP ${e.statusCode} from ${cfg.url}: ${e.body || e.message}`);
        throw e;
      }
    },
    async close() {
      const a = api;
      api = undefined;
      await a?.close().catch(() => undefined);
    },
  };
}
