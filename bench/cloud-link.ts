// How long a node with 1,000 devices takes to resync over the cloud link after a reconnect.
//
//   node packages/cli/bin/run-ts.js bench/cloud-link.ts [--devices 1000] [--runs 3] [--no-write]
//
// Every part is real: the controller on its embedded SQLite store, the cloud link with its embedded aedes
// broker, the edge twin on SQLite with its own edge broker, the edge link dialling the cloud through a TCP
// proxy that cuts the network. With the link cut, the cloud changes N devices (half get a new desired
// value, a quarter are deleted, a quarter are added); the clock starts when the edge is connected again
// and stops when its twin is reconciled with the cloud's latest DesiredIndex.
// Baseline in the same run: the cold start (empty twin, all devices arrive) and the N = 0 reconnect.
// Writes its `## cloud link` section of docs/benchmarks.md (replacing only that section).

import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { API_VERSION, type Device, type DeviceModel } from '@edgetwin/api';
import { type CloudLink, startCloudLink } from '@edgetwin/device-controller/cloud-link/index';
import { type RunningController, startController } from '@edgetwin/device-controller';
import { type DeviceTwin, openDeviceTwin } from '@edgetwin/devicetwin';
import { type CloudLinkEdge, startCloudLinkEdge } from '@edgetwin/devicetwin/cloud-link/index';
import { connectBus, startBroker } from '@edgetwin/eventbus';
import { loadAverage, loadLine, numberOption as opt, replaceSection, thermoDevice } from './support.js';

const ROOT = resolve(import.meta.dirname, '..');
const NODE = 'bench-gw';
const LOAD_AT_START = loadAverage();
const args = process.argv.slice(2);
const DEVICES = opt('devices', 1000);
const RUNS = opt('runs', 3);
const WRITE = !args.includes('--no-write');

const model: DeviceModel = {
  apiVersion: API_VERSION,
  kind: 'DeviceModel',
  metadata: { name: 'thermo', namespace: 'default' },
  spec: { protocol: 'virtual', properties: [{ name: 'temp', type: 'INT', accessMode: 'ReadWrite' }] },
};

const thermo = (name: string, desired: number): Device => thermoDevice(name, NODE, desired);

/** Cuts the TCP connections between the edge and the cloud broker, like a network outage. */
class Cutter {
  private readonly sockets = new Set<net.Socket>();
  private server!: net.Server;
  down = false;
  port = 0;
  constructor(private readonly target: number) {}
  async start(): Promise<this> {
    this.server = net.createServer((a) => {
      if (this.down) return a.destroy();
      const b = net.connect({ host: '127.0.0.1', port: this.target });
      for (const s of [a, b]) {
        this.sockets.add(s);
        s.on('close', () => {
          this.sockets.delete(s);
          a.destroy();
          b.destroy();
        });
        s.on('error', () => {});
      }
      a.pipe(b);
      b.pipe(a);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }
  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }
  restore(): void {
    this.down = false;
  }
  close(): Promise<void> {
    this.cut();
    return new Promise((r) => this.server.close(() => r()));
  }
}

function waitFor(on: (wake: () => void) => () => void, cond: () => boolean, what: string, ms = 120_000): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((res, rej) => {
    const off = on(() => {
      if (!cond()) return;
      clearTimeout(t);
      off();
      res();
    });
    const t = setTimeout(() => {
      off();
      rej(new Error(`bench: timed out waiting for ${what}`));
    }, ms);
  });
}

interface Rig {
  controller: RunningController;
  cloud: CloudLink;
  cutter: Cutter;
  twin: DeviceTwin;
  edge: CloudLinkEdge;
  received: { n: number };
  close(): Promise<void>;
}

async function rig(dir: string): Promise<Rig> {
  const controller = await startController({ source: 'embedded', dbPath: join(dir, 'controller.db'), httpPort: 0 });
  const cloud = await startCloudLink({
    desired: controller.desired,
    status: controller.status,
    broker: { embedded: { port: 0 } },
    insecureAllowAnyNode: true, // one process, loopback: measures the link, not the login
    stateDbPath: join(dir, 'cloud-link.db'),
  });
  const cutter = await new Cutter(Number(new URL(cloud.url).port)).start();
  const edgeBroker = await startBroker({ port: 0 });
  const bus = await connectBus({ url: edgeBroker.url, clientId: 'bench-twin' });
  const twin = await openDeviceTwin({ dbPath: join(dir, 'twin.db'), node: NODE, bus });
  const edge = startCloudLinkEdge({
    twin,
    cloudUrl: `mqtt://127.0.0.1:${cutter.port}`,
    backoffMs: 20,
    maxBackoffMs: 50,
  });
  const received = { n: 0 };
  return {
    controller,
    cloud,
    cutter,
    twin,
    edge,
    received,
    async close() {
      await edge.close();
      await twin.close();
      await bus.close();
      await edgeBroker.close();
      await cutter.close();
      await cloud.close();
      await controller.stop();
    },
  };
}

const synced = (r: Rig) =>
  waitFor(
    (w) => r.edge.onSynced(w),
    () => r.cloud.generation(NODE) > 0 && r.edge.syncedGeneration === r.cloud.generation(NODE),
    'the edge to reconcile',
  );

async function resync(r: Rig, n: number, round: number): Promise<{ ms: number; totalMs: number }> {
  const store = r.controller.store!;
  r.cutter.cut();
  await waitFor(
    (w) => r.edge.onConnectionChange(w),
    () => !r.edge.connected,
    'the link to drop',
  );
  const live = store.devices().map((d) => d.metadata.name);
  const modify = live.slice(0, Math.floor(n / 2));
  const remove = live.slice(Math.floor(n / 2), Math.floor(n / 2) + Math.floor(n / 4));
  const add = Array.from({ length: n - modify.length - remove.length }, (_, i) => `added-${round}-${i}`);
  if (modify.length || add.length)
    store.apply([...modify.map((m) => thermo(m, 100 + round)), ...add.map((a) => thermo(a, 50))]);
  if (remove.length) store.delete(remove.map((name) => ({ kind: 'Device' as const, namespace: 'default', name })));
  await r.cloud.desiredIdle();

  let connectedAt = 0;
  const off = r.edge.onConnectionChange((up) => {
    if (up) connectedAt = performance.now();
  });
  // the first reconciliation after the reconnect, with the cloud's latest index (for N = 0 that is the
  // retained index delivered again, for N > 0 the new one)
  const target = r.cloud.generation(NODE);
  const done = new Promise<number>((res) => {
    const offSync = r.edge.onSynced((g) => {
      if (g !== target || connectedAt === 0) return;
      offSync();
      res(performance.now());
    });
  });
  const t0 = performance.now();
  r.cutter.restore();
  const end = await Promise.race([
    done,
    new Promise<number>((_, rej) => setTimeout(() => rej(new Error('bench: no resync within 120 s')), 120_000).unref()),
  ]);
  off();
  const cloudIds = store
    .devices()
    .map((d) => `default/${d.metadata.name}`)
    .sort();
  const edgeIds = r.twin
    .listDevices()
    .map((d) => d.id)
    .sort();
  if (JSON.stringify(cloudIds) !== JSON.stringify(edgeIds))
    throw new Error(`bench: edge holds ${edgeIds.length} devices, cloud ${cloudIds.length}`);
  return { ms: end - connectedAt, totalMs: end - t0 };
}

/** The twin's own cost for the cold start: upsertModel + upsertDevice x DEVICES on a fresh database. */
async function directApply(dir: string): Promise<number> {
  const broker = await startBroker({ port: 0 });
  const bus = await connectBus({ url: broker.url, clientId: 'bench-direct' });
  const twin = await openDeviceTwin({ dbPath: join(dir, 'direct.db'), node: NODE, bus });
  const t0 = performance.now();
  twin.upsertModel(model);
  for (let i = 0; i < DEVICES; i++) twin.upsertDevice(thermo(`t${i}`, 20));
  // its publications (membership, documents, mapper specs) are part of the work, as on the link
  await twin.settled();
  const ms = performance.now() - t0;
  await twin.close();
  await bus.close();
  await broker.close();
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-bench-link-'));
  const rows: string[] = [];
  try {
    const r = await rig(dir);
    try {
      const t0 = performance.now();
      r.controller.store!.apply([model, ...Array.from({ length: DEVICES }, (_, i) => thermo(`t${i}`, 20))]);
      // not cloud.idle(): that also waits for the status writes of the reports the new devices cause,
      // which the controller rate-limits (100 writes/s by default)
      await synced(r);
      const cold = performance.now() - t0;
      rows.push(
        `| cold start (baseline): empty twin, ${DEVICES.toLocaleString('en-US')} devices arrive | ${DEVICES} | ${cold.toFixed(0)} | – |`,
      );
      rows.push(
        `| twin alone (baseline): the same ${DEVICES.toLocaleString('en-US')} upserts called directly, no link | ${DEVICES} | ${(await directApply(dir)).toFixed(0)} | – |`,
      );
      let round = 0;
      for (const n of [0, 10, 100, 1000].filter((x) => x <= DEVICES)) {
        const times: number[] = [];
        const totals: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          const t = await resync(r, n, ++round);
          times.push(t.ms);
          totals.push(t.totalMs);
        }
        const what = n === 0 ? 'reconnect, nothing changed (baseline)' : `reconnect after ${n} changes while away`;
        rows.push(`| ${what} | ${n} | ${median(times).toFixed(0)} | ${median(totals).toFixed(0)} |`);
        process.stderr.write(`n=${n}: ${times.map((t) => t.toFixed(0)).join(', ')} ms\n`);
      }
    } finally {
      await r.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const section = [
    '## cloud link',
    '',
    `Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}. ` +
      `Date: ${new Date().toISOString().slice(0, 16)}Z. ${loadLine(LOAD_AT_START)} Command: \`node packages/cli/bin/run-ts.js bench/cloud-link.ts --devices ${DEVICES} --runs ${RUNS}\`.`,
    '',
    `One process holds everything, all real: controller (embedded SQLite store), cloud link (embedded aedes broker),`,
    `edge twin (SQLite WAL) on its own aedes broker, edge link dialling through a TCP proxy that cuts the network.`,
    `A node holds ${DEVICES.toLocaleString('en-US')} devices. With the link cut, the cloud changes N devices (half a new desired value,`,
    'a quarter deleted, a quarter added); "resync" runs from the edge being connected again to its twin being reconciled',
    'with the latest DesiredIndex (every listed object at its version, everything unlisted removed); "with reconnect"',
    `adds the client's reconnect backoff (configured 20-50 ms here). Median of ${RUNS} runs. The broker keeps the edge's session`,
    'while it is away, so on the reconnect the edge gets the queued changes plus the retained index (it subscribes',
    'again to the index only); the N = 0 row is that fixed cost. A broker that lost the session sends every retained',
    'object again, which costs about the cold start row. Twin alone: the same upserts called on a twin directly',
    '(including its own publications), i.e. the part of the cost that is not the link.',
    '',
    '| scenario | N changed | resync ms | with reconnect ms |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
  process.stdout.write(`${section}\n`);
  if (WRITE) await replaceSection(join(ROOT, 'docs/benchmarks.md'), '## cloud link', section);
}

await main();
