// CPU per twin/update, unchanged and changed values (issue 15, the twin's fast path for unchanged values),
// and CPU per reading on our mappers' report channel (issue 15: batches of --batch devices, no /result).
//
//   node packages/cli/bin/run-ts.js bench/twin-unchanged.ts [--devices 1000] [--rounds 20] [--batch 100]
//
// One process: the embedded broker, the DeviceTwin on SQLite with --devices devices, and one MQTT client
// playing a mapper that sends each device a twin/update (one property, `actual`) and waits for every /result
// of the round before the next. CPU is this process's user + system time (process.cpuUsage) per update, so
// the load of the machine moves it far less than a rate. Compare builds by running this file from each
// checkout, alternating; prints one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { deviceTopic, encodeMapperReportEntry, encodeMapperReports, reportsTopic } from '@edgetwin/api';
import { openDeviceTwin } from '@edgetwin/devicetwin';
import { connectBus, startBroker } from '@edgetwin/eventbus';
import { numberOption, thermoFleet } from './support.js';

const NODE = 'bench-node';
const DEVICES = numberOption('devices', 1000);
const ROUNDS = numberOption('rounds', 20);
const BATCH = numberOption('batch', 100);

const dir = mkdtempSync(join(os.tmpdir(), 'edgetwin-twin-unchanged-'));
const broker = await startBroker({ host: '127.0.0.1', port: 0 });
const bus = await connectBus({ url: broker.url, clientId: 'twin' });
const twin = await openDeviceTwin({ dbPath: join(dir, 'twin.db'), node: NODE, bus });
const loaded = await twin.loadManifests(thermoFleet(DEVICES, NODE));
if (loaded.errors.length) throw new Error(JSON.stringify(loaded.errors));
const mapper = await connectBus({ url: broker.url, clientId: 'mapper' });
let waiting = 0;
let roundDone: () => void = () => {};
await mapper.subscribe('$hw/events/device/+/+/twin/update/result', () => {
  if (--waiting === 0) roundDone();
});
const ids = Array.from({ length: DEVICES }, (_, i) => `default/thermo-${i}`);

async function round(value: string): Promise<void> {
  waiting = ids.length;
  const done = new Promise<void>((r) => {
    roundDone = r;
  });
  const body = (v: string) =>
    JSON.stringify({ event_id: '', timestamp: Date.now(), twin: { temperature: { actual: { value: v } } } });
  for (const id of ids) void mapper.publish(deviceTopic(id, 'twin/update'), body(value), { qos: 0 });
  await done;
}

/**
 * The same readings as report batches of BATCH devices each, as a mapper's flush sends them (QoS 0, no
 * answer). The round ends when a twin/get sent after the batches is answered (the twin has taken every
 * batch off the bus by then) and the twin has handled what it queued.
 */
let seq = 0;
const marker = ids[0] as string;
let getDone: () => void = () => {};
await mapper.subscribe(deviceTopic(marker, 'twin/get/result'), () => getDone());
async function channelRound(value: string): Promise<void> {
  for (let i = 0; i < ids.length; i += BATCH) {
    const entries = ids.slice(i, i + BATCH).map((id) => encodeMapperReportEntry(id, ['temperature'], [value]));
    void mapper.publish(reportsTopic(NODE, 'virtualProtocol'), encodeMapperReports(seq++, Date.now(), entries), {
      qos: 0,
    });
  }
  const got = new Promise<void>((r) => {
    getDone = r;
  });
  await mapper.publish(deviceTopic(marker, 'twin/get'), '{"event_id":"m"}', { qos: 0 });
  await got;
  await twin.settled();
}

async function measure(kind: 'unchanged' | 'changed', via: typeof round): Promise<number> {
  const t0 = process.cpuUsage();
  for (let r = 0; r < ROUNDS; r++) await via(kind === 'unchanged' ? '21.5' : String(22 + r / 10));
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / (ROUNDS * DEVICES);
}

await round('21.5'); // first value: every twin changes once
await round('21.5'); // warm-up
const unchanged = await measure('unchanged', round);
const changed = await measure('changed', round);
await channelRound('21.5'); // warm-up of the channel path (the value is the one stored)
const chUnchanged = await measure('unchanged', channelRound);
const chChanged = await measure('changed', channelRound);
const us = (x: number) => Number(x.toFixed(1));
process.stdout.write(
  `${JSON.stringify({ devices: DEVICES, rounds: ROUNDS, batch: BATCH, cpuUsPerUpdate: { unchanged: us(unchanged), changed: us(changed) }, cpuUsPerReadingOnChannel: { unchanged: us(chUnchanged), changed: us(chChanged) }, load: os.loadavg()[0] })}\n`,
);
await mapper.close();
await twin.close();
await bus.close();
await broker.close();
rmSync(dir, { recursive: true, force: true });
