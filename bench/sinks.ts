// Readings per second into each database/OTLP sink (issue 17), with the mapper process's CPU, next to the
// same stream with no sink, and with a sink whose database is down (reads must not slow down).
//
//   node packages/cli/bin/run-ts.js bench/sinks.ts [--seconds 10] [--devices 200] [--only mysql]
//
// Broker and mapper share this process; redis-server, mariadbd, Prometheus and InfluxDB 1.8 are their own
// processes (started here, as the tests do; `npm test`'s set-up installs them). Devices are virtual, one
// INT property each, read every 100 ms and handed to the sinks every 100 ms: 10 readings/s per device.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PushMethod, ResolvedDevice } from '@edgetwin/api';
import { startBroker } from '@edgetwin/eventbus';
import { connectBus } from '@edgetwin/eventbus/client';
import { freePort, waitUntil } from '@edgetwin/eventbus/testing';
import { mapperDeviceTopic } from '@edgetwin/api';
import { startMapper } from '@edgetwin/mappers';
import { virtualDriverFactory } from '@edgetwin/mappers/drivers/virtual/index';
import pino from 'pino';
import {
  type DbServer,
  startInfluxdb,
  startMariadb,
  startPrometheus,
  startRedis,
} from '../packages/mappers/test/db-servers.js';
import { loadAverage, loadLine } from './support.js';

const LOAD_AT_START = loadAverage();
const NODE = 'bench-node';
const CYCLE_MS = 100;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : dflt;
}

function devices(n: number, tag: string, pushMethod: PushMethod | undefined): ResolvedDevice[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `bench/${tag}-${i}`,
    namespace: 'bench',
    name: `${tag}-${i}`,
    nodeName: NODE,
    protocol: 'virtualProtocol',
    protocolConfig: {},
    model: { namespace: 'bench', name: 'm' },
    properties: [
      {
        name: 'level',
        type: 'INT',
        accessMode: 'ReadWrite',
        visitor: { name: 'level', generator: 'counter', initial: 0, step: 1, periodMs: CYCLE_MS },
        collectCycleMs: CYCLE_MS,
        reportCycleMs: CYCLE_MS,
        reportToCloud: true,
        ...(pushMethod ? { pushMethod } : {}),
      },
    ],
    methods: [],
    stateReport: { reportToCloud: false, reportCycleMs: 60_000 },
    version: '1/1',
  }));
}

interface Row {
  sink: string;
  readsPerS: number;
  writtenPerS: number;
  dropped: number;
  cpuPct: number;
}

async function run(n: number, seconds: number, label: string, push: PushMethod | undefined): Promise<Row> {
  const broker = await startBroker({ host: '127.0.0.1', port: 0 });
  const app = await connectBus({ url: broker.url, clientId: 'bench-app' });
  const mapper = await startMapper({
    factory: virtualDriverFactory,
    brokerUrl: broker.url,
    node: NODE,
    logger: pino({ level: 'silent' }),
  });
  const tag = label.replace(/[^a-z0-9]/g, '');
  const list = devices(n, tag, push);
  for (const d of list)
    await app.publish(mapperDeviceTopic(NODE, 'virtualProtocol', d.id), JSON.stringify(d), { qos: 1, retain: true });
  await waitUntil(() => mapper.runtime.devices().length === n, 'devices served', 30_000);
  // warm up: connections made, tables created, first batches written (a fresh mysql database creates one
  // table per property on the first batch: seconds for 200 on a loaded machine)
  await new Promise((r) => setTimeout(r, 2000));
  if (push && !label.includes('down'))
    await waitUntil(
      async () =>
        (await sinkTotal(mapper.metrics, 'written')) > n && (await sinkTotal(mapper.metrics, 'dropped')) === 0,
      `${label}: first batches written`,
      120_000,
      200,
    ).catch(() => process.stderr.write(`${label}: still warming up after 120 s; measuring anyway\n`));
  const reads0 = await total(mapper.metrics.reads);
  const written0 = await sinkTotal(mapper.metrics, 'written');
  const dropped0 = await sinkTotal(mapper.metrics, 'dropped');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const row: Row = {
    sink: label,
    readsPerS: ((await total(mapper.metrics.reads)) - reads0) / wall,
    writtenPerS: ((await sinkTotal(mapper.metrics, 'written')) - written0) / wall,
    dropped: (await sinkTotal(mapper.metrics, 'dropped')) - dropped0,
    cpuPct: ((cpu.user + cpu.system) / 1e6 / wall) * 100,
  };
  for (const d of list)
    await app.publish(mapperDeviceTopic(NODE, 'virtualProtocol', d.id), '', { qos: 1, retain: true });
  await mapper.stop();
  await app.close();
  await broker.close();
  return row;
}

async function total(m: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await m.get()).values.reduce((s, v) => s + v.value, 0);
}

async function sinkTotal(
  metrics: {
    sinks: { points: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> } };
  },
  result: string,
): Promise<number> {
  return (await metrics.sinks.points.get()).values
    .filter((v) => v.labels.result === result)
    .reduce((s, v) => s + v.value, 0);
}

const seconds = Number(arg('seconds', '10'));
const n = Number(arg('devices', '200'));
const dir = await mkdtemp(join(tmpdir(), 'edgetwin-bench-sinks-'));
const servers: DbServer[] = [];
try {
  process.env.EDGETWIN_REDIS_PASSWORD_FILE = join(dir, 'redis-pw');
  process.env.EDGETWIN_MYSQL_PASSWORD_FILE = join(dir, 'mysql-pw');
  await writeFile(join(dir, 'redis-pw'), 'bench-redis');
  await writeFile(join(dir, 'mysql-pw'), 'bench-mysql');
  const redis = await startRedis('bench-redis');
  const maria = await startMariadb({ database: 'edge', user: 'edge', password: 'bench-mysql' });
  servers.push(redis, maria);
  const prometheus = await startPrometheus();
  const influx = await startInfluxdb('bench');
  servers.push(prometheus, influx);
  const [pp, ip] = [prometheus.port, influx.port];
  const redisPush: PushMethod = {
    dbMethod: { redis: { redisClientConfig: { addr: `127.0.0.1:${redis.port}`, db: 0 } } },
  };
  const scenarios: Array<[string, PushMethod | undefined]> = [
    ['none (baseline)', undefined],
    ['redis', redisPush],
    [
      'mysql',
      {
        dbMethod: {
          mysql: { mysqlClientConfig: { addr: `127.0.0.1:${maria.port}`, database: 'edge', userName: 'edge' } },
        },
      },
    ],
    [
      'influxdb2 (InfluxDB 1.8)',
      {
        dbMethod: {
          influxdb2: {
            influxdb2ClientConfig: { url: `http://127.0.0.1:${ip}`, bucket: 'bench' },
            influxdb2DataConfig: { measurement: 'bench', tag: {}, fieldKey: 'level' },
          },
        },
      },
    ],
    ['otel (Prometheus)', { otel: { endpointURL: `http://127.0.0.1:${pp}/api/v1/otlp/v1/metrics` } }],
    [
      'redis, database down',
      { dbMethod: { redis: { redisClientConfig: { addr: `127.0.0.1:${await freePort()}`, db: 0 } } } },
    ],
  ];
  const rows: Row[] = [];
  const only = arg('only', '');
  for (const [label, push] of scenarios.filter(([l]) => !only || l.startsWith('none') || l.includes(only))) {
    process.stderr.write(`running ${label}\n`);
    rows.push(await run(n, seconds, label, push));
  }
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  console.log(
    `Machine: ${cpus().length} x ${cpus()[0]?.model}, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 16)}Z. ${loadLine(LOAD_AT_START)}`,
  );
  console.log(
    `${n} devices x 1 property, read and handed to the sink every ${CYCLE_MS} ms (ideal ${fmt((n * 1000) / CYCLE_MS)} readings/s), ${seconds} s per row.\n`,
  );
  console.log('| sink | reads/s | points written/s | dropped (in the row) | mapper CPU % of one core |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows)
    console.log(`| ${r.sink} | ${fmt(r.readsPerS)} | ${fmt(r.writtenPerS)} | ${fmt(r.dropped)} | ${fmt(r.cpuPct)} |`);
} finally {
  for (const s of servers) await s.close();
  await rm(dir, { recursive: true, force: true });
}
process.exit(0);
