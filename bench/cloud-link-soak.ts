// Soak of the cloud link's report stream (issue 9 §2): an `up`-like stack, 200 devices reporting every
// 200 ms for 10 minutes, the link broken every 30 s in rotating ways (network frozen, network cut, edge
// restarted, cloud restarted). Figures: the catch-up time after each restore (from the link being given back
// to the cloud having applied everything the edge held then; goal < 5 s at worst) and the lost last-values at
// the end (devices whose latest reported value in the twin is not the one in the cloud's status; goal 0).
//
//   node packages/cli/bin/run-ts.js bench/cloud-link-soak.ts [--devices 200] [--interval-ms 200]
//        [--minutes 10] [--cycle-s 30] [--outage-s 5] [--no-write]
//
// Every part is real and as `up` runs it, in one process: the controller on its embedded SQLite store (status
// defaults: 1 write per device per second, 100 writes/s), the cloud link with its embedded aedes broker and
// durable sessions (LevelDB), the edge twin on SQLite with its own aedes broker, the edge link dialling the
// cloud through a TCP proxy that plays the network, and a mapper-like client sending twin/update for every
// device. Baseline in the same run: the first cycle has no outage and is measured the same way (how far
// behind the stream runs under this load without any break). It stops by itself and writes
// its `## cloud link soak` section of docs/benchmarks.md.

import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { API_VERSION, type Device, type DeviceModel, deviceTopic } from '@edgetwin/api';
import { type RunningController, startController } from '@edgetwin/device-controller';
import { type CloudLink, startCloudLink } from '@edgetwin/device-controller/cloud-link/index';
import { type DeviceTwin, openDeviceTwin } from '@edgetwin/devicetwin';
import { type CloudLinkEdge, startCloudLinkEdge } from '@edgetwin/devicetwin/cloud-link/index';
import { type BusClient, connectBus, type EmbeddedBroker, startBroker } from '@edgetwin/eventbus';
import { freePort, startTcpProxy, type TcpProxy } from '@edgetwin/eventbus/testing';
import { numberOption as opt, replaceSection, thermoDevice } from './support.js';

const ROOT = resolve(import.meta.dirname, '..');
const NODE = 'soak-gw';
/** the node's credential on the cloud link (a bench secret, not a real one) */
const PASSWORD = 'soak-bench-secret';
const args = process.argv.slice(2);
const DEVICES = opt('devices', 200);
const INTERVAL_MS = opt('interval-ms', 200);
const MINUTES = opt('minutes', 10);
const CYCLE_S = opt('cycle-s', 30);
const OUTAGE_S = opt('outage-s', 5);
const WRITE = !args.includes('--no-write');
const MODES = ['freeze', 'cut', 'edge restart', 'cloud restart'] as const;
type Mode = (typeof MODES)[number] | 'none (baseline)';

const model: DeviceModel = {
  apiVersion: API_VERSION,
  kind: 'DeviceModel',
  metadata: { name: 'thermo', namespace: 'default' },
  spec: { protocol: 'virtual', properties: [{ name: 'temp', type: 'INT', accessMode: 'ReadOnly' }] },
};

const thermo = (name: string): Device => thermoDevice(name, NODE);

const ids = Array.from({ length: DEVICES }, (_, i) => `default/s${i}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** The cloud half, restartable on the same files and port (as `edgetwin up` restarted). */
class Cloud {
  controller!: RunningController;
  link!: CloudLink;
  constructor(
    private readonly dir: string,
    readonly port: number,
  ) {}
  async start(): Promise<void> {
    this.controller = await startController({
      source: 'embedded',
      dbPath: join(this.dir, 'controller.db'),
      httpPort: 0,
    });
    this.link = await startCloudLink({
      desired: this.controller.desired,
      status: this.controller.status,
      broker: { embedded: { port: this.port, persistenceDir: join(this.dir, 'cloud-broker') } },
      stateDbPath: join(this.dir, 'cloud-link.db'),
      nodeCredentials: { [NODE]: PASSWORD },
      registry: this.controller.metrics.registry,
    });
  }
  async stop(): Promise<void> {
    await this.link.close();
    await this.controller.stop();
  }
}

/** The edge half: broker, twin, link; a restart closes and reopens the twin and the link on the same files. */
class Edge {
  broker!: EmbeddedBroker;
  bus!: BusClient;
  twin!: DeviceTwin;
  link!: CloudLinkEdge;
  constructor(
    private readonly dir: string,
    private readonly cloudUrl: string,
  ) {}
  async startBroker(): Promise<void> {
    this.broker = await startBroker({ port: 0, persistenceDir: join(this.dir, 'edge-broker') });
  }
  async start(): Promise<void> {
    this.bus = await connectBus({ url: this.broker.url, clientId: 'soak-twin' });
    this.twin = await openDeviceTwin({ dbPath: join(this.dir, 'edge.db'), node: NODE, bus: this.bus });
    this.link = startCloudLinkEdge({
      twin: this.twin,
      cloudUrl: this.cloudUrl,
      password: PASSWORD,
      registry: this.twin.metrics,
    });
  }
  async stop(): Promise<void> {
    await this.link.close();
    await this.twin.close();
    await this.bus.close();
  }
}

/** Resolves when cond() holds (checked every 25 ms), with the time it took; undefined after `ms`. */
async function timeUntil(cond: () => boolean, ms: number): Promise<number | undefined> {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if (cond()) return performance.now() - t0;
    await sleep(25);
  }
  return undefined;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-bench-soak-'));
  const load0 = loadavg();
  const started = new Date();
  const cloud = new Cloud(dir, await freePort());
  await cloud.start();
  const proxy: TcpProxy = await startTcpProxy(cloud.port);
  const edge = new Edge(dir, proxy.url);
  await edge.startBroker();
  await edge.start();
  cloud.controller.store!.apply([model, ...ids.map((id) => thermo(id.split('/')[1]!))]);
  const tSync = await timeUntil(() => edge.twin.listDevices().length === DEVICES, 60_000);
  if (tSync === undefined) throw new Error('bench: the edge did not receive the devices within 60 s');
  log(`${DEVICES} devices on the edge after ${tSync.toFixed(0)} ms`);

  // the mapper: one twin/update per device every INTERVAL_MS, spread over the interval; values increase
  const mapper = await connectBus({ url: edge.broker.url, clientId: 'soak-mapper' });
  let value = 0;
  let sent = 0;
  let stopMapper = false;
  const mapperLoop = (async () => {
    const perTick = Math.max(1, Math.round(DEVICES / (INTERVAL_MS / 10)));
    let i = 0;
    while (!stopMapper) {
      for (let k = 0; k < perTick; k++, i = (i + 1) % DEVICES) {
        const v = String(++value);
        mapper
          .publish(
            deviceTopic(ids[i]!, 'twin/update'),
            JSON.stringify({ event_id: `s${v}`, timestamp: Date.now(), twin: { temp: { actual: { value: v } } } }),
          )
          .catch(() => {});
        sent++;
      }
      await sleep(10);
    }
  })();

  const rows: Array<{ cycle: number; mode: Mode; catchUpMs: number | undefined; backlog: number }> = [];
  const cycles = Math.max(1, Math.floor((MINUTES * 60) / CYCLE_S));
  for (let c = 0; c < cycles; c++) {
    const cycleStart = performance.now();
    const mode: Mode = c === 0 ? 'none (baseline)' : MODES[(c - 1) % MODES.length]!;
    log(`cycle ${c + 1}/${cycles}: ${mode}`);
    if (mode === 'freeze') proxy.freeze();
    else if (mode === 'cut') proxy.cut();
    else if (mode === 'edge restart') await edge.stop();
    else if (mode === 'cloud restart') await cloud.stop();
    // the baseline waits as long with the link left alone, then is measured the same way
    await sleep(OUTAGE_S * 1000);
    if (mode === 'freeze' || mode === 'cut') proxy.restore();
    else if (mode === 'edge restart') await edge.start();
    else if (mode === 'cloud restart') await cloud.start();
    // restored: everything the edge held now must reach the cloud
    const target = edge.twin.outbox.lastSeq();
    const backlog = target - edge.twin.outbox.ackedSeq();
    const budget = CYCLE_S * 1000 - (performance.now() - cycleStart) - 1000;
    const catchUpMs = await timeUntil(() => edge.twin.outbox.ackedSeq() >= target, Math.max(budget, 5000));
    rows.push({ cycle: c + 1, mode, catchUpMs, backlog });
    log(
      `  backlog ${backlog} seqs, caught up in ${catchUpMs === undefined ? 'NOT within the cycle' : `${catchUpMs.toFixed(0)} ms`}`,
    );
    const rest = CYCLE_S * 1000 - (performance.now() - cycleStart);
    if (rest > 0) await sleep(rest);
  }

  // the end: the mapper stops, the link drains, and every device's last value must be in the cloud's status
  stopMapper = true;
  await mapperLoop;
  await edge.twin.settled();
  const last = edge.twin.outbox.lastSeq();
  const drainMs = await timeUntil(() => edge.twin.outbox.ackedSeq() >= last, 120_000);
  await cloud.link.idle();
  let lost = 0;
  const store = cloud.controller.store!;
  for (const id of ids) {
    const edgeValue = edge.twin.getTwin(id)?.twins.temp?.actual?.value;
    const [ns, name] = id.split('/') as [string, string];
    const status = await store.readStatus(store.device(ns, name)!);
    const cloudValue = status?.twins?.find((t) => t.propertyName === 'temp')?.reported?.value;
    if (edgeValue !== cloudValue) {
      lost++;
      if (lost <= 5) log(`  lost: ${id} edge ${edgeValue} cloud ${cloudValue}`);
    }
  }
  const cloudMetrics = await cloud.controller.metrics.registry.metrics();
  const edgeMetrics = await edge.twin.metrics.metrics();
  const refusals = [
    ...cloudMetrics.matchAll(/edgetwin_cloudlink_report_batches_refused_total\{reason="([^"]+)"\} (\d+)/g),
  ]
    .map((m) => `${m[1]} ${m[2]}`)
    .join(', ');
  const resends = [...edgeMetrics.matchAll(/edgetwin_cloudlink_report_resends_total\{reason="([^"]+)"\} (\d+)/g)]
    .map((m) => `${m[1]} ${m[2]}`)
    .join(', ');
  const load1 = loadavg();
  await mapper.close();
  await edge.stop();
  await edge.broker.close();
  await proxy.close();
  await cloud.stop();
  await rm(dir, { recursive: true, force: true });

  const measured = rows.filter((r) => r.mode !== 'none (baseline)');
  const worst = Math.max(...measured.map((r) => r.catchUpMs ?? Number.POSITIVE_INFINITY));
  const byMode = (m: Mode) => {
    const xs = measured.filter((r) => r.mode === m);
    const w = Math.max(...xs.map((r) => r.catchUpMs ?? Number.POSITIVE_INFINITY));
    const med = [...xs.map((r) => r.catchUpMs ?? Number.POSITIVE_INFINITY)].sort((a, b) => a - b)[
      Math.floor(xs.length / 2)
    ];
    return `| ${m} | ${xs.length} | ${fmt(med)} | ${fmt(w)} | ${Math.max(...xs.map((r) => r.backlog)).toLocaleString('en-US')} |`;
  };
  const baseline = rows[0]!;
  const section = [
    '## cloud link soak',
    '',
    `Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ` +
      `shared with other engineers' test runs (loaded). Date: ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC. ` +
      `Load average (1/5/15 min) at start ${load0.map((l) => l.toFixed(1)).join(' / ')}, at the end ${load1.map((l) => l.toFixed(1)).join(' / ')}.`,
    `Command: \`node packages/cli/bin/run-ts.js bench/cloud-link-soak.ts --devices ${DEVICES} --interval-ms ${INTERVAL_MS} --minutes ${MINUTES} --cycle-s ${CYCLE_S} --outage-s ${OUTAGE_S}\`.`,
    '',
    `An \`up\`-like stack in one process (controller on SQLite, cloud link with its aedes broker and durable sessions,`,
    `edge twin on SQLite with its own broker, edge link through a TCP proxy), ${DEVICES} devices reporting every ${INTERVAL_MS} ms`,
    `(${sent.toLocaleString('en-US')} twin updates in ${MINUTES} min). Every ${CYCLE_S} s the link breaks for ${OUTAGE_S} s, in turn: the network frozen`,
    '(no FIN or RST: the edge notices by keepalive, 5 s x 1.5), the network cut, the edge restarted (twin and link closed',
    'and reopened on the same database), the cloud restarted (controller, link and its broker, same files and port).',
    'Catch-up: from the restore to the cloud having applied (durably) every report the edge held at that moment;',
    'it includes noticing the outage, the reconnect backoff and the status write rate limit (1 write per device per',
    `second, 100 writes/s, the defaults). Baseline in the same run: the first cycle, no outage, measured the same way:`,
    `${fmt(baseline.catchUpMs)} to apply a backlog of ${baseline.backlog} seqs (how far behind the stream runs under this load).`,
    '',
    '| break | times | catch-up median | catch-up worst | backlog at restore (seqs, max) |',
    '| --- | --- | --- | --- | --- |',
    ...MODES.filter((m) => measured.some((r) => r.mode === m)).map(byMode),
    '',
    `Worst catch-up after a restore: **${fmt(worst)}** (goal < 5 s). Lost last-values at the end: **${lost} of ${DEVICES}**`,
    `(goal 0; drained ${fmt(drainMs)} after the mapper stopped). Refused batches: ${refusals || 'none'}. Edge resends since its last restart: ${resends || 'none'}.`,
    '',
  ].join('\n');
  process.stdout.write(`${section}\n`);
  if (WRITE) await replaceSection(join(ROOT, 'docs/benchmarks.md'), '## cloud link soak', section);
}

const fmt = (ms: number | undefined) =>
  ms === undefined || !Number.isFinite(ms) ? 'not within the cycle' : `${(ms / 1000).toFixed(2)} s`;

await main();
process.exit(0);
