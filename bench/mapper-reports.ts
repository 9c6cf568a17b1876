// What the twin is told: twin/update messages and property reports per second from the mapper, with
// edgetwin's default report strategy (on change, one message per device read, heartbeat after 60
// report cycles) next to KubeEdge's behaviour measured in the same run (every reading reported,
// report mode "cycle"). Also whether the scheduler keeps its cycle with many devices (reads/s against
// the ideal, overruns).
//
//   node packages/cli/bin/run-ts.js bench/mapper-reports.ts [--seconds 10] [--devices 10,100,1000]
//
// Broker, mapper and the counting subscriber share this process. Devices are virtual: five
// properties each, read every 100 ms; four hold steady (setpoints, a status), one random-walks and
// changes once a second, which is the mix of a typical plant sensor.

import { cpus } from 'node:os';
import {
  decodeMapperReports,
  mapperDeviceTopic,
  type ReportStrategy,
  type ResolvedDevice,
  type ResolvedProperty,
  reportsTopic,
} from '@edgetwin/api';
import { startBroker } from '@edgetwin/eventbus';
import { connectBus } from '@edgetwin/eventbus/client';
import { startMapper } from '@edgetwin/mappers';
import { removeVirtualDevice, virtualDriverFactory } from '@edgetwin/mappers/drivers/virtual/index';
import pino from 'pino';

const NODE = 'bench-node';
const CYCLE_MS = 100;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : dflt;
}

function devices(n: number, tag: string, report: ReportStrategy | undefined): ResolvedDevice[] {
  const prop = (name: string, visitor: Record<string, unknown>): ResolvedProperty => ({
    name,
    type: 'FLOAT',
    accessMode: 'ReadWrite',
    visitor: { name, ...visitor },
    collectCycleMs: CYCLE_MS,
    reportCycleMs: CYCLE_MS,
    reportToCloud: true,
    ...(report ? { report } : {}),
  });
  return Array.from({ length: n }, (_, i) => {
    const name = `${tag}-${i}`;
    return {
      id: `bench/${name}`,
      namespace: 'bench',
      name,
      nodeName: NODE,
      protocol: 'virtualProtocol',
      protocolConfig: {},
      model: { namespace: 'bench', name: 'm' },
      properties: [
        prop('setpoint', { initial: 21 }),
        prop('limit', { initial: 80 }),
        prop('mode', { initial: 2 }),
        prop('alarm', { initial: 0 }),
        prop('temperature', { generator: 'random', initial: 20, step: 0.5, periodMs: 1000, min: 0, max: 40 }),
      ],
      methods: [],
      stateReport: { reportToCloud: false, reportCycleMs: 60_000 },
      version: '1/1',
    };
  });
}

interface Row {
  devices: number;
  strategy: string;
  /** report batches (MQTT messages) per second */
  messagesPerS: number;
  /** device entries in them per second: what KubeEdge would send as twin/update messages */
  entriesPerS: number;
  reportsPerS: number;
  readsPerS: number;
  idealReadsPerS: number;
  overruns: number;
  cpuPct: number;
}

async function run(n: number, seconds: number, strategy: 'kubeedge' | 'default'): Promise<Row> {
  const broker = await startBroker({ host: '127.0.0.1', port: 0 });
  const counter = await connectBus({ url: broker.url, clientId: 'bench-counter' });
  const mapper = await startMapper({
    factory: virtualDriverFactory,
    brokerUrl: broker.url,
    node: NODE,
    logger: pino({ level: 'silent' }),
  });
  const list = devices(n, strategy, strategy === 'kubeedge' ? { mode: 'cycle', maxSilenceMs: 0 } : undefined);
  let counting = false;
  let messages = 0;
  let entries = 0;
  let reports = 0;
  await counter.subscribe(
    reportsTopic(NODE, virtualDriverFactory.protocol),
    (_t, payload) => {
      if (!counting) return;
      const d = decodeMapperReports(payload);
      if (!d.ok) throw new Error(d.error);
      messages++;
      entries += d.value.entries.length;
      for (const e of d.value.entries) reports += (e.length - 1) / 2;
    },
    { qos: 0 },
  );
  for (const d of list)
    await counter.publish(mapperDeviceTopic(NODE, d.protocol, d.id), JSON.stringify(d), { qos: 1, retain: true });
  // warm-up: every device connected and read at least once
  await new Promise((r) => setTimeout(r, 2000));
  const reads0 = await total(mapper.metrics.reads);
  const overruns0 = await total(mapper.metrics.overruns);
  const cpu0 = process.cpuUsage();
  counting = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const reads = (await total(mapper.metrics.reads)) - reads0;
  const overruns = (await total(mapper.metrics.overruns)) - overruns0;
  for (const d of list) await counter.publish(mapperDeviceTopic(NODE, d.protocol, d.id), '', { qos: 1, retain: true });
  await mapper.stop();
  await counter.close();
  await broker.close();
  for (const d of list) removeVirtualDevice(d.id);
  return {
    devices: n,
    strategy: strategy === 'kubeedge' ? 'every reading (KubeEdge, baseline)' : 'edgetwin default (change + heartbeat)',
    messagesPerS: messages / elapsed,
    entriesPerS: entries / elapsed,
    reportsPerS: reports / elapsed,
    readsPerS: reads / elapsed,
    idealReadsPerS: (n * 1000) / CYCLE_MS,
    overruns,
    cpuPct: ((cpu.user + cpu.system) / 1e6 / elapsed) * 100,
  };
}

async function total(m: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await m.get()).values.reduce((s, v) => s + v.value, 0);
}

const seconds = Number(arg('seconds', '10'));
const counts = arg('devices', '10,100,1000').split(',').map(Number);
const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
const rows: Row[] = [];
for (const n of counts)
  for (const s of ['kubeedge', 'default'] as const) {
    process.stderr.write(`running ${n} devices, ${s}\n`);
    rows.push(await run(n, seconds, s));
  }

console.log(
  `Machine: ${cpus().length} x ${cpus()[0]?.model}, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}.`,
);
console.log(
  '\n| devices | report strategy | report batches/s (MQTT messages) | device entries/s (KubeEdge: twin/update msgs/s) | property reports/s | reads/s (ideal) | overruns | CPU % of one core |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows)
  console.log(
    `| ${fmt(r.devices)} | ${r.strategy} | ${fmt(r.messagesPerS)} | ${fmt(r.entriesPerS)} | ${fmt(r.reportsPerS)} | ${fmt(r.readsPerS)} (${fmt(r.idealReadsPerS)}) | ${fmt(r.overruns)} | ${fmt(r.cpuPct)} |`,
  );
process.exit(0);
