// Readings per second from the Modbus simulator through the Modbus mapper to MQTT, with 1, 10 and 100
// devices, next to the ceiling measured in the same run: the raw modbus-serial client reading the same
// registers of the same devices in a tight loop. Also the latency from a reading to its MQTT delivery.
//
//   node packages/cli/bin/run-ts.js bench/modbus-mapper.ts [--seconds 5] [--devices 1,10,100] [--write-doc]
//
// The simulator runs in a child process (this file with --serve), as a real device or gateway would be
// another machine; the broker, the mapper and the MQTT subscriber share this process.

import { type ChildProcess, spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  API_VERSION,
  type Device,
  type DeviceModel,
  decodeMapperReports,
  encodeMapperReportEntry,
  encodeMapperReports,
  mapperDeviceTopic,
  reportsTopic,
  type ResolvedDevice,
  resolveDevice,
} from '@edgetwin/api';
import { startBroker } from '@edgetwin/eventbus';
import { connectBus } from '@edgetwin/eventbus/client';
import { startMapper } from '@edgetwin/mappers';
import { createModbusDriverFactory } from '@edgetwin/mappers/drivers/modbus/index';
import { startModbusSimulator, withModbusEndpoint } from '@edgetwin/simulators';
import M from 'modbus-serial';
import pino from 'pino';

const PROPS_PER_DEVICE = 4;
/** unmeasured time at the start of the raw and driver loops, so both are measured with warm JIT */
const WARMUP_MS = 500;
/** alternating raw/driver rounds; each column is the median */
const ROUNDS = 5;

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}
const REGISTERS_PER_DEVICE = 8;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? (process.argv[i + 1] as string) : dflt;
}

/** N power meters, one unit ID each, four properties in eight contiguous holding registers. */
function meters(n: number, collectCycleMs: number): ResolvedDevice[] {
  const model: DeviceModel = {
    apiVersion: API_VERSION,
    kind: 'DeviceModel',
    metadata: { name: 'bench-meter', namespace: 'bench' },
    spec: {
      protocol: 'modbus',
      properties: [
        { name: 'voltage', type: 'FLOAT', accessMode: 'ReadOnly', minimum: '200', maximum: '250' },
        { name: 'current', type: 'FLOAT', accessMode: 'ReadOnly', minimum: '0', maximum: '32' },
        { name: 'power', type: 'INT', accessMode: 'ReadOnly', minimum: '-8000', maximum: '8000' },
        { name: 'energy', type: 'INT', accessMode: 'ReadOnly', minimum: '0', maximum: '4000000000' },
      ],
    },
  };
  const visitors: Record<string, Record<string, unknown>> = {
    voltage: { register: 'HoldingRegister', offset: 0, type: 'float32' },
    current: { register: 'HoldingRegister', offset: 2, type: 'float32', order: 'CDAB' },
    power: { register: 'HoldingRegister', offset: 4, type: 'int32' },
    energy: { register: 'HoldingRegister', offset: 6, type: 'uint32', order: 'CDAB' },
  };
  return Array.from({ length: n }, (_, i) => {
    const device: Device = {
      apiVersion: API_VERSION,
      kind: 'Device',
      metadata: { name: `meter-${i + 1}`, namespace: 'bench' },
      spec: {
        deviceModelRef: { name: 'bench-meter' },
        nodeName: 'bench',
        protocol: {
          protocolName: 'modbus',
          configData: { communicateMode: 'TCP', ip: '127.0.0.1', port: '502', slaveID: i + 1 },
        },
        properties: Object.entries(visitors).map(([name, configData]) => ({
          name,
          visitors: { protocolName: 'modbus', configData },
          collectCycle: collectCycleMs,
          reportCycle: collectCycleMs,
          report: { mode: 'cycle' as const },
        })),
      },
    };
    return resolveDevice(device, model);
  });
}

async function serve(): Promise<void> {
  const sim = await startModbusSimulator({
    devices: meters(Number(arg('serve', '100')), 1000),
    tcp: { port: 0 },
    behaviour: 'moving',
  });
  process.stdout.write(`PORT ${sim.port}\n`);
  process.on('SIGTERM', () => void sim.stop().then(() => process.exit(0)));
}

async function startSimulatorProcess(n: number): Promise<{ port: number; child: ChildProcess }> {
  const runTs = fileURLToPath(new URL('../packages/cli/bin/run-ts.js', import.meta.url));
  const child = spawn(process.execPath, [runTs, fileURLToPath(import.meta.url), '--serve', String(n)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`simulator did not start: ${out}`)), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(/PORT (\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  return { port, child };
}

/** The ceiling: one modbus-serial client, each device's 8 registers in turn, as fast as answers come. */
async function rawCeiling(port: number, n: number, seconds: number): Promise<number> {
  const client = new M.default();
  client.on('error', () => {});
  await client.connectTCP('127.0.0.1', { port });
  client.setTimeout(2000);
  let requests = 0;
  const warm = Date.now() + WARMUP_MS;
  let start = warm;
  const end = warm + seconds * 1000;
  while (Date.now() < end) {
    for (let unit = 1; unit <= n; unit++) {
      client.setID(unit);
      await client.readHoldingRegisters(0, REGISTERS_PER_DEVICE);
      requests++;
    }
    if (start === warm && Date.now() >= warm) {
      // JIT warm-up done: count from here
      requests = 0;
      start = Date.now();
    }
  }
  const elapsed = (Date.now() - start) / 1000;
  await new Promise<void>((r) => client.close(() => r()));
  return (requests * PROPS_PER_DEVICE) / elapsed;
}

/** The driver alone (no framework, no MQTT): every device's readBatch in a loop, all sharing one line. */
async function driverOnly(port: number, n: number, seconds: number): Promise<number> {
  const factory = createModbusDriverFactory();
  const abort = new AbortController();
  // every driver listens on this one signal (in the mapper each device has its own)
  setMaxListeners(0, abort.signal);
  const devices = meters(n, 1000).map((d) => withModbusEndpoint(d, { port }));
  const drivers = devices.map((d) => factory.create(d, { logger: pino({ level: 'silent' }), signal: abort.signal }));
  await Promise.all(drivers.map((d) => d.connect()));
  let readings = 0;
  const warm = Date.now() + WARMUP_MS;
  const end = warm + seconds * 1000;
  let start = warm;
  await Promise.all(
    drivers.map(async (d, i) => {
      const props = devices[i]!.properties;
      while (Date.now() < end) {
        const r = await d.readBatch(props);
        if (start === warm && Date.now() >= warm) {
          // JIT warm-up done: count from here
          readings = 0;
          start = Date.now();
        }
        for (const v of r.values()) if (v.ok) readings++;
      }
    }),
  );
  const elapsed = (Date.now() - start) / 1000;
  abort.abort();
  await factory.close();
  return readings / elapsed;
}

/**
 * The MQTT side alone: one report batch per device read (one device entry of 4 properties, the mapper's
 * smallest batch) at `qos` through the same embedded broker to the same kind of subscriber, 100 in flight.
 * Readings/s delivered. QoS 0 is what the mapper sends for report mode `cycle` (the bench's mode).
 */
async function mqttOnly(n: number, seconds: number, qos: 0 | 1): Promise<number> {
  const broker = await startBroker({ port: 0 });
  const app = await connectBus({ url: broker.url, clientId: 'bench-mqtt-counter' });
  const pub = await connectBus({ url: broker.url, clientId: 'bench-mqtt-publisher' });
  let readings = 0;
  await app.subscribe(reportsTopic('bench', 'modbus'), (_topic, payload) => {
    const d = decodeMapperReports(payload);
    if (d.ok) for (const e of d.value.entries) readings += (e.length - 1) / 2;
  });
  const names = ['voltage', 'current', 'power', 'energy'];
  const values = ['230.1', '12.5', '2875', '123456'];
  const end = Date.now() + seconds * 1000;
  const start = Date.now();
  let i = 0;
  while (Date.now() < end) {
    const batch: Array<Promise<void>> = [];
    for (let k = 0; k < 100; k++, i++) {
      const entry = encodeMapperReportEntry(`bench/meter-${(i % n) + 1}`, names, values);
      batch.push(pub.publish(reportsTopic('bench', 'modbus'), encodeMapperReports(i, Date.now(), [entry]), { qos }));
    }
    await Promise.all(batch);
  }
  // QoS 0 publishes resolve when written, not when delivered: count what arrived by the end only
  const elapsed = (Date.now() - start) / 1000;
  const delivered = readings;
  await pub.close();
  await app.close();
  await broker.close();
  return delivered / elapsed;
}

interface MapperResult {
  readingsPerSec: number;
  /** device reads per second (one Modbus request each) and ticks skipped because the read was still running */
  readsPerSec: number;
  overrunsPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The mapper: simulator -> driver -> framework -> MQTT, counted by a subscriber on the edge broker. */
async function throughMapper(port: number, n: number, seconds: number, cycleMs: number): Promise<MapperResult> {
  const broker = await startBroker({ port: 0 });
  const app = await connectBus({ url: broker.url, clientId: 'bench-counter' });
  const factory = createModbusDriverFactory();
  const mapper = await startMapper({
    factory,
    brokerUrl: broker.url,
    node: 'bench',
    logger: pino({ level: 'silent' }),
  });
  let counting = false;
  let readings = 0;
  const latencies: number[] = [];
  const seen = new Set<string>();
  let allSeen: () => void = () => {};
  const warm = new Promise<void>((r) => {
    allSeen = r;
  });
  let batches = 0;
  await app.subscribe(reportsTopic('bench', 'modbus'), (_topic, payload) => {
    const now = Date.now();
    const d = decodeMapperReports(payload);
    if (!d.ok) throw new Error(d.error);
    if (!counting) {
      for (const e of d.value.entries) seen.add(e[0] as string);
      if (seen.size === n) allSeen();
      return;
    }
    batches++;
    // the batch's timestamp is when its first entry was made: the age of its oldest reading
    const age = now - d.value.timestamp;
    for (const e of d.value.entries) {
      const k = (e.length - 1) / 2;
      readings += k;
      for (let j = 0; j < k; j++) latencies.push(age);
    }
  });
  for (const d of meters(n, cycleMs)) {
    const at = withModbusEndpoint(d, { port });
    await app.publish(mapperDeviceTopic('bench', 'modbus', at.id), JSON.stringify(at), { qos: 1, retain: true });
  }
  await warm;
  await new Promise<void>((r) => setTimeout(r, WARMUP_MS)); // JIT warm-up, as for the baselines
  const total = async (c: { get(): Promise<{ values: Array<{ value: number }> }> }) =>
    (await c.get()).values.reduce((a, v) => a + v.value, 0);
  const reads0 = await total(mapper.metrics.reads);
  const overruns0 = await total(mapper.metrics.overruns);
  counting = true;
  const start = Date.now();
  await new Promise<void>((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = (Date.now() - start) / 1000;
  const reads = (await total(mapper.metrics.reads)) - reads0;
  const overruns = (await total(mapper.metrics.overruns)) - overruns0;
  console.log(
    `  mapper, ${n} devices: ${fmt(reads / elapsed)} device reads/s, ${fmt(overruns / elapsed)} skipped ticks/s (overruns), ${fmt(batches / elapsed)} report batches/s`,
  );
  await mapper.stop();
  await factory.close();
  await app.close();
  await broker.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN;
  return {
    readingsPerSec: readings / elapsed,
    readsPerSec: reads / elapsed,
    overrunsPerSec: overruns / elapsed,
    p50: q(0.5),
    p95: q(0.95),
    p99: q(0.99),
    max: latencies.at(-1) ?? Number.NaN,
  };
}

async function main(): Promise<void> {
  const seconds = Number(arg('seconds', '5'));
  const counts = arg('devices', '1,10,100').split(',').map(Number);
  const rows: string[] = [];
  const results: RunResult[] = [];
  for (const n of counts) {
    const { port, child } = await startSimulatorProcess(n);
    try {
      // --phases raw,driver,mqtt,mapper: run only some (for profiling one path)
      const phases = arg('phases', 'raw,driver,mqtt,mapper').split(',');
      // raw and driver alternate in short rounds and each reports its median: on a shared machine the load
      // changes from second to second, and alternating exposes both to the same conditions
      const raws: number[] = [];
      const drivers: number[] = [];
      const slice = Math.max(1, seconds / ROUNDS);
      for (let r = 0; r < ROUNDS; r++) {
        if (phases.includes('raw')) raws.push(await rawCeiling(port, n, slice));
        if (phases.includes('driver')) drivers.push(await driverOnly(port, n, slice));
      }
      const ceiling = median(raws);
      const driver = median(drivers);
      const mqtt = phases.includes('mqtt') ? await mqttOnly(n, seconds, 0) : Number.NaN;
      const mqtt1 = phases.includes('mqtt') ? await mqttOnly(n, seconds, 1) : Number.NaN;
      // the shortest collectCycle (1 ms) for every row: a mapper reads on a schedule, so with fewer devices
      // than the line can serve per millisecond the schedule, not the mapper's work, is the limit (the
      // "offered" column); only with 100 devices does the schedule offer more than the line carries
      const cycleMs = Number(arg('cycle', '1'));
      const offered = (n * PROPS_PER_DEVICE * 1000) / cycleMs;
      const m = phases.includes('mapper')
        ? await throughMapper(port, n, seconds, cycleMs)
        : {
            readingsPerSec: Number.NaN,
            readsPerSec: Number.NaN,
            overrunsPerSec: Number.NaN,
            p50: Number.NaN,
            p95: Number.NaN,
            p99: Number.NaN,
            max: Number.NaN,
          };
      const row = `| ${n} | ${fmt(ceiling)} | ${fmt(driver)} (${((100 * driver) / ceiling).toFixed(0)}%) | ${fmt(mqtt)} / ${fmt(mqtt1)} | ${cycleMs} ms: ${fmt(offered)} | ${fmt(m.readingsPerSec)} | ${((100 * m.readingsPerSec) / ceiling).toFixed(0)}% | ${((100 * m.readingsPerSec) / Math.min(offered, ceiling)).toFixed(0)}% | ${m.p50} / ${m.p95} / ${m.p99} / ${m.max} |`;
      rows.push(row);
      results.push({ n, ceiling, driver, mqtt, mqtt1, offered, mapper: m });
      console.log(row);
    } finally {
      child.kill('SIGTERM');
    }
  }
  const table = [
    '| devices | raw modbus-serial readings/s (ceiling) | driver alone readings/s | MQTT alone readings/s QoS 0 / QoS 1 | collectCycle: readings/s the schedule offers | mapper readings/s at MQTT | mapper of ceiling | mapper of min(ceiling, offered) | read→MQTT latency ms p50 / p95 / p99 / max |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
  ].join('\n');
  console.log(`\n${table}`);
  if (process.argv.includes('--write-doc')) await writeDoc(table, seconds, results);
  process.exit(0);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

interface RunResult {
  n: number;
  ceiling: number;
  driver: number;
  mqtt: number;
  /** MQTT alone at QoS 1, as the mapper publishes change and deadband reports */
  mqtt1: number;
  offered: number;
  mapper: MapperResult;
}

const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(0)} %`;

/** What this run's numbers say, in sentences computed from them. */
function findings(results: RunResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    // one event loop does both halves one after the other: the per-request times add up
    const sum = 1 / (1 / r.driver + 1 / r.mqtt);
    out.push(
      `- ${r.n} device${r.n === 1 ? '' : 's'}: the driver alone did ${pct(r.driver, r.ceiling)} of the raw client; ` +
        `the mapper delivered ${pct(r.mapper.readingsPerSec, r.ceiling)} of the raw client, ` +
        `${pct(r.mapper.readingsPerSec, Math.min(r.offered, r.ceiling))} of what the schedule and the line allow, ` +
        `${pct(r.mapper.readingsPerSec, r.driver)} of the driver alone; ${fmt(r.mapper.readsPerSec)} device reads/s ` +
        `(one request each) with ${fmt(r.mapper.overrunsPerSec)} ticks/s skipped because that device's read was ` +
        `still queued on the line; ${pct(r.mapper.readingsPerSec, Math.min(sum, r.offered))} of the sum-of-halves ` +
        `estimate (${fmt(Math.min(sum, r.offered))}/s: 1 / (1 / driver alone + 1 / MQTT alone at QoS 0), or the schedule if lower); ` +
        `read→MQTT latency p50 ${r.mapper.p50} ms, p95 ${r.mapper.p95} ms.`,
    );
  }
  return out;
}

async function writeDoc(table: string, seconds: number, results: RunResult[]): Promise<void> {
  const path = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
  const doc = await readFile(path, 'utf8').catch(() => '# Benchmarks\n');
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const section = [
    '## modbus mapper',
    '',
    `Machine: ${cpus().length} cores, ${cpu}, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}.`,
    `Load average when the run ended: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')} (1 / 5 / 15 min; other work shared the cores).`,
    `Command: \`node packages/cli/bin/run-ts.js bench/modbus-mapper.ts --seconds ${seconds} --write-doc\`.`,
    '',
    'Each device is a power meter with 4 properties in 8 contiguous holding registers (float32, float32 CDAB,',
    'int32, uint32 CDAB), all devices on one simulated Modbus TCP gateway (one port, one unit ID each), over',
    'one shared, serialised connection. The simulator runs in its own process; broker, mapper and the',
    'counting MQTT subscriber share this one. A reading is one property value. Like for like: the raw client',
    "and the mapper send the same requests (one read of a device's 8 registers, 4 readings); the mapper's",
    'batching of registers is not an advantage here. The mapper counts property values arriving in its report',
    'batches (the report channel to the twin, issue 15; report mode `cycle`, so QoS 0). Latency is MQTT arrival',
    "minus the batch's timestamp (when its first reading was handed to the channel: its oldest reading's age).",
    '',
    table,
    '',
    'Columns: **raw** is one modbus-serial client reading each device in turn in a tight loop (the ceiling of',
    "the line). **driver alone** is the Modbus driver's readBatch for every device in a loop, no framework and",
    `no MQTT. Raw and driver alternate in ${ROUNDS} rounds of about a second each, after a warm-up, and each`,
    'column is the median. **MQTT alone** is one report batch per device read (4 properties each, 100 in',
    'flight) through the same embedded broker to the same subscriber, no Modbus, at QoS 0 and at QoS 1.',
    '**offered** is what the collect schedule asks for: devices x 4 x 1000 / collectCycle. A mapper polls on',
    'a schedule and 1 ms is the shortest collectCycle, so with 1 or 10 devices the schedule, not the',
    "mapper's work, caps the rate far below the raw loop, which never waits; the column after the ceiling's",
    'share divides by the smaller of the two. **mapper** is the whole path: simulator, driver, framework',
    '(scheduling, transforms, report policy), QoS 0 publish, broker, subscriber.',
    '',
    'This run:',
    '',
    ...findings(results),
    '',
    'Where the time goes: see the notes under this table in docs/benchmarks.md (a CPU profile of the',
    '100-device row, `node --cpu-prof`), written by hand for the run they describe.',
    '',
    '', // a blank line before the next section
  ].join('\n');
  const start = doc.indexOf('## modbus mapper');
  let next = start >= 0 ? doc.indexOf('\n## ', start + 1) : -1;
  if (next >= 0) next += 1;
  const updated =
    start >= 0 ? doc.slice(0, start) + section + (next >= 0 ? doc.slice(next) : '') : `${doc.trimEnd()}\n\n${section}`;
  await writeFile(path, updated);
  console.log(`wrote the modbus mapper section of ${path}`);
}

if (process.argv.includes('--serve')) await serve();
else await main();
