// The influxdb2 sink (issue 17) against InfluxDB OSS 2.7, the server KubeEdge's dbMethod.influxdb2 names
// (built from its Go module with its Rust Flux library by the test set-up), onboarded here with an org, a
// bucket and a token. The token comes from the file EDGETWIN_INFLUXDB2_TOKEN_FILE names; points are queried
// back with Flux. A restart mid-stream loses nothing that fits the buffer; a wrong token is an error naming
// the sink and the device, and fixing the file recovers without restarting the mapper.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '@edgetwin/eventbus/testing';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { virtualDriverFactory } from '../src/drivers/virtual/index.js';
import { type Influxdb2Server, startInfluxdb2 } from './db-servers.js';
import { device, prop, type Rig, startRig } from './runtime-helpers.js';
import { capturingLogger, streamAcrossRestart } from './sink-helpers.js';

const SINK_LIMITS = {
  maxBuffered: 1000,
  maxBatch: 10,
  flushIntervalMs: 100,
  callTimeoutMs: 3000,
  reconnectBaseMs: 50,
  reconnectMaxMs: 200,
};
const TOKEN = 'edgetwin-influx2-token-1';

let influx: Influxdb2Server;
let secrets: string;
let tokenFile: string;
let rig: Rig | undefined;
const logs: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  influx = await startInfluxdb2({ org: 'plant', bucket: 'sensors', token: TOKEN });
  secrets = await mkdtemp(join(tmpdir(), 'edgetwin-secrets-'));
  tokenFile = join(secrets, 'influx-token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  process.env.EDGETWIN_INFLUXDB2_TOKEN_FILE = tokenFile;
  process.env.TOKEN = 'the-shared-env-var-loses';
}, 120_000);

afterEach(async () => {
  await rig?.close();
  rig = undefined;
  logs.length = 0;
});

afterAll(async () => {
  await influx?.close();
  if (secrets) await rm(secrets, { recursive: true, force: true });
  delete process.env.EDGETWIN_INFLUXDB2_TOKEN_FILE;
  delete process.env.TOKEN;
});

/** Rows of a Flux query as objects (annotated CSV: the #datatype line gives each column's type). */
async function flux(query: string): Promise<Array<Record<string, string>>> {
  const res = await fetch(`http://127.0.0.1:${influx.port}/api/v2/query?org=${influx.org}`, {
    method: 'POST',
    headers: { authorization: `Token ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query, dialect: { annotations: ['datatype'] } }),
  });
  if (!res.ok) throw new Error(`flux query: ${res.status} ${await res.text()}`);
  const rows: Array<Record<string, string>> = [];
  let header: string[] = [];
  let types: string[] = [];
  for (const line of (await res.text()).split(/\r?\n/)) {
    if (!line) continue;
    const cells = line.split(',');
    if (cells[0] === '#datatype') types = cells;
    else if (cells[0] === '' && cells[1] === 'result') header = cells;
    else if (header.length) {
      const row: Record<string, string> = {};
      header.forEach((h, i) => {
        if (h) row[h] = cells[i] ?? '';
      });
      row['#type'] = types[header.indexOf('_value')] ?? '';
      rows.push(row);
    }
  }
  return rows;
}

function influxProp(name: string, fieldKey: string, type: 'INT' | 'STRING' = 'INT') {
  return prop(name, {
    type,
    visitor: { name, generator: 'counter', initial: 100, step: 1, periodMs: 40 },
    collectCycleMs: 40,
    reportCycleMs: 40,
    pushMethod: {
      dbMethod: {
        influxdb2: {
          influxdb2ClientConfig: { url: `http://127.0.0.1:${influx.port}`, org: 'plant', bucket: 'sensors' },
          influxdb2DataConfig: { measurement: 'pump', tag: { site: 'a' }, fieldKey },
        },
      },
    },
  });
}

describe('influxdb2 sink into InfluxDB 2.7', () => {
  it('writes typed fields at the readings times with the token from its file, and loses nothing across a restart', async () => {
    rig = await startRig(virtualDriverFactory, { sinks: SINK_LIMITS, logger: pino({ level: 'silent' }) });
    const d = device('virtualProtocol', [influxProp('speed', 'rpm'), influxProp('mode', 'mode', 'STRING')]);
    const { down, status } = await streamAcrossRestart(rig, d, 'speed', 'influxdb2', influx, 6);

    const rows = await flux(
      'from(bucket: "sensors") |> range(start: 0) |> filter(fn: (r) => r._measurement == "pump")',
    );
    const rpm = rows.filter((r) => r._field === 'rpm');
    const mode = rows.filter((r) => r._field === 'mode');
    expect(status().dropped).toBe(0);
    // every point handed over is stored once, at its reading's time (none overwrote another)
    expect(rpm.length + mode.length).toBe(status().written);
    expect(rows.filter((r) => Date.parse(r._time!) > down).length).toBeGreaterThanOrEqual(15);
    // typed: the INT property is an integer field, the STRING one a string; the tag is there
    expect(rpm[0]!['#type']).toBe('long');
    expect(mode[0]!['#type']).toBe('string');
    expect(rpm[0]!.site).toBe('a');
    const values = rpm.map((r) => Number(r._value));
    expect(values.every((v, i) => i === 0 || v >= values[i - 1]!)).toBe(true);
  }, 90_000);

  it('a wrong token is an error naming the sink and device; readings stay buffered; a fixed token file recovers', async () => {
    await writeFile(tokenFile, 'not-the-token');
    try {
      rig = await startRig(virtualDriverFactory, { sinks: SINK_LIMITS, logger: capturingLogger(logs) });
      const d = device('virtualProtocol', [influxProp('wrong', 'wrong')]);
      await rig.publish(d);
      await waitUntil(
        () => logs.some((l) => l.level === 50 && String(l.msg).includes('refused the credentials')),
        'an error about the credentials',
        10_000,
      );
      const err = logs.find((l) => String(l.msg).includes('refused the credentials'))!;
      expect(err.msg).toContain(`influxdb2:http://127.0.0.1:${influx.port}/plant/sensors`);
      expect(err.msg).toContain(d.id);
      expect(String(err.err)).toContain('401');
      const w = rig.mapper.runtime.worker(d.id)!;
      const st = () =>
        w.sinkStatus('wrong', 'influxdb2') as { connected: boolean; error?: string; buffered: number; written: number };
      await waitUntil(() => st().buffered >= 10, 'readings buffered', 10_000);
      expect(String(st().error)).toContain('credentials refused');
      expect(st().written).toBe(0);

      await writeFile(tokenFile, TOKEN);
      await waitUntil(() => st().written >= 10 && st().error === undefined, 'writing again', 15_000);
      const rows = await flux('from(bucket: "sensors") |> range(start: 0) |> filter(fn: (r) => r._field == "wrong")');
      expect(rows.length).toBeGreaterThanOrEqual(10);
    } finally {
      await writeFile(tokenFile, TOKEN);
    }
  }, 60_000);
});
