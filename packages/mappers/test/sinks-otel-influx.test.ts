// OTEL push and the influxdb2 sink (issue 17) against real servers started here: Prometheus (built from its
// Go module, OTLP receiver on) queried back with PromQL, and InfluxDB 1.8 serving the v2 write API, queried
// back with InfluxQL. Each server is restarted in the middle of a stream: nothing that fits the buffer is lost.

import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { virtualDriverFactory } from '../src/drivers/virtual/index.js';
import { type DbServer, startInfluxdb, startPrometheus } from './db-servers.js';
import { device, prop, type Rig, startRig } from './runtime-helpers.js';
import { streamAcrossRestart } from './sink-helpers.js';

const SINK_LIMITS = {
  maxBuffered: 1000,
  maxBatch: 10,
  flushIntervalMs: 100,
  callTimeoutMs: 3000,
  reconnectBaseMs: 50,
  reconnectMaxMs: 200,
};

let prometheus: DbServer;
let influx: DbServer;
let rig: Rig | undefined;

beforeAll(async () => {
  [prometheus, influx] = await Promise.all([startPrometheus(), startInfluxdb('plant')]);
}, 120_000);

afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

afterAll(async () => {
  await Promise.all([prometheus?.close(), influx?.close()]);
});

async function promql(query: string): Promise<Array<{ metric: Record<string, string>; values: [number, string][] }>> {
  const res = await fetch(
    `http://127.0.0.1:${prometheus.port}/api/v1/query?${new URLSearchParams({ query, time: String(Date.now() / 1000 + 1) })}`,
  );
  const body = (await res.json()) as {
    data: { result: Array<{ metric: Record<string, string>; values: [number, string][] }> };
  };
  return body.data.result;
}

async function influxql(q: string): Promise<{ columns: string[]; values: unknown[][] } | undefined> {
  const res = await fetch(
    `http://127.0.0.1:${influx.port}/query?${new URLSearchParams({ db: 'plant', q, epoch: 'ms' })}`,
  );
  const body = (await res.json()) as { results: Array<{ series?: Array<{ columns: string[]; values: unknown[][] }> }> };
  return body.results[0]?.series?.[0];
}

function counterProp(name: string, pushMethod: object, type: 'INT' | 'FLOAT' | 'STRING' = 'INT') {
  return prop(name, {
    type,
    unit: 'rpm',
    visitor: { name, generator: 'counter', initial: 100, step: 1, periodMs: 40 },
    collectCycleMs: 40,
    reportCycleMs: 40,
    pushMethod,
  });
}

describe('OTEL push into Prometheus', () => {
  it('sends each reading as a gauge with device labels, and loses nothing across a Prometheus restart', async () => {
    rig = await startRig(virtualDriverFactory, { sinks: SINK_LIMITS, logger: pino({ level: 'silent' }) });
    const otel = { otel: { endpointURL: `http://127.0.0.1:${prometheus.port}/api/v1/otlp/v1/metrics` } };
    const d = device('virtualProtocol', [counterProp('speed', otel), counterProp('label', otel, 'STRING')]);
    const { down, status } = await streamAcrossRestart(rig, d, 'speed', 'otel', prometheus, 5);

    const series = await promql(`edgetwin_device_property{device="${d.name}"}[10m]`);
    // one series per numeric property; the STRING property is not a gauge
    expect(series.map((s) => s.metric)).toEqual([
      {
        __name__: 'edgetwin_device_property',
        device: d.name,
        namespace: 'default',
        property: 'speed',
        unit: 'rpm',
        job: 'edgetwin-mapper',
      },
    ]);
    const samples = series[0]!.values;
    // every point handed over is stored, none dropped, the outage's backlog included, at the readings' times
    expect(status().dropped).toBe(0);
    expect(samples.length).toBe(status().written);
    expect(samples.filter(([t]) => t * 1000 > down).length).toBeGreaterThanOrEqual(15);
    const values = samples.map(([, v]) => Number(v));
    expect(values.every((v, i) => i === 0 || v >= values[i - 1]!)).toBe(true);
    expect(values[0]).toBeGreaterThanOrEqual(100);
  }, 90_000);
});

describe('influxdb2 sink into InfluxDB 1.8 (v2 write API)', () => {
  it('writes typed fields at the readings times, and loses nothing across an InfluxDB restart', async () => {
    rig = await startRig(virtualDriverFactory, { sinks: SINK_LIMITS, logger: pino({ level: 'silent' }) });
    const influx2 = (fieldKey: string) => ({
      dbMethod: {
        influxdb2: {
          influxdb2ClientConfig: {
            url: `http://127.0.0.1:${influx.port}`,
            org: 'ignored-by-1.x',
            bucket: 'plant/autogen',
          },
          influxdb2DataConfig: { measurement: 'pump', tag: { site: 'a' }, fieldKey },
        },
      },
    });
    const d = device('virtualProtocol', [
      counterProp('speed', influx2('rpm')),
      counterProp('mode', influx2('mode'), 'STRING'),
    ]);
    const { down, status } = await streamAcrossRestart(rig, d, 'speed', 'influxdb2', influx, 6);

    const rpm = await influxql('SELECT "rpm", "site" FROM "pump" WHERE "rpm" > 0');
    expect(rpm?.columns).toEqual(['time', 'rpm', 'site']);
    const rows = rpm!.values as Array<[number, number, string]>;
    // both properties share the sink: its count covers both fields
    const mode = (await influxql('SELECT "mode" FROM "pump" WHERE "mode" =~ /./'))!.values as Array<[number, string]>;
    expect(status().dropped).toBe(0);
    expect(rows.length + mode.length).toBe(status().written);
    expect([...rows, ...mode].filter(([t]) => t > down).length).toBeGreaterThanOrEqual(15);
    // typed: the INT property is an integer field (math works), the STRING one a string
    expect(typeof rows[0]![1]).toBe('number');
    expect(rows[0]![2]).toBe('a');
    expect(typeof mode[0]![1]).toBe('string');
    const types = await influxql('SHOW FIELD KEYS FROM "pump"');
    expect(types?.values).toEqual([
      ['mode', 'string'],
      ['rpm', 'integer'],
    ]);
  }, 90_000);
});
