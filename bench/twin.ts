// Twin updates per second through the broker, and the edge process's memory.
//
//   node packages/cli/bin/run-ts.js bench/twin.ts [--seconds 4]
//
// The edge (embedded aedes broker + DeviceTwin on SQLite) runs in a child process, so its RSS is its own. The
// child runs a bundle of this file made with esbuild (our sources bundled, node_modules left external), as a
// gateway would deploy it; one memory row also runs it from source through tsx, for comparison.
// The bench process plays the mappers: one request in flight per device, each waiting for its /result.
// Baseline in the same run: the same broker with an echo client in place of the twin (publish + reply).

import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';
import { deviceTopic } from '@edgetwin/api';
import { openDeviceTwin } from '@edgetwin/devicetwin';
import { connectBus, startBroker } from '@edgetwin/eventbus';
import { thermoFleet } from './support.js';

const ROOT = resolve(import.meta.dirname, '..');
const NODE = 'bench-node';
const args = process.argv.slice(2);

// ------------------------------------------------------------------ child: the edge process

async function runEdge(kind: 'twin' | 'echo', devices: number, dbPath: string): Promise<void> {
  if (process.env.BENCH_NODELAY === '1') {
    // What TCP_NODELAY on the broker's accepted sockets would give (see docs/benchmarks.md ## twin).
    type Emit = (this: net.Server, event: string | symbol, ...rest: unknown[]) => boolean;
    const emit = net.Server.prototype.emit as Emit;
    net.Server.prototype.emit = function (this: net.Server, event: string | symbol, ...rest: unknown[]) {
      if (event === 'connection') (rest[0] as net.Socket).setNoDelay(true);
      return emit.call(this, event, ...rest);
    } as typeof net.Server.prototype.emit;
  }
  const broker = await startBroker({ host: '127.0.0.1', port: 0 });
  const bus = await connectBus({ url: broker.url, clientId: `edge-${kind}` });
  if (kind === 'twin') {
    const twin = await openDeviceTwin({ dbPath, node: NODE, bus, publishQos: process.env.BENCH_QOS === '0' ? 0 : 1 });
    const loaded = await twin.loadManifests(thermoFleet(devices, NODE));
    if (loaded.errors.length) throw new Error(JSON.stringify(loaded.errors));
  } else {
    await bus.subscribe('bench/echo/+/+/req', (topic, payload) => {
      void bus.publish(topic.replace(/req$/, 'res'), payload, { qos: 1 });
    });
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'gc') {
      gc?.();
      process.stdout.write('gc-done\n');
    }
  });
  process.once('SIGTERM', () => process.exit(0)); // a normal exit, so --cpu-prof writes its profile
  process.stdout.write(`ready ${broker.url}\n`);
}

// ------------------------------------------------------------------ parent: the mappers

interface Edge {
  proc: ChildProcess;
  url: string;
  rssMiB(): number;
  gc(): Promise<void>;
  stop(): Promise<void>;
}

const BUNDLE = 'node_modules/.cache/edgetwin-bench/twin.mjs';

/** Bundles this file: @edgetwin/* sources in, every other package left to node_modules. */
async function bundle(): Promise<void> {
  await build({
    entryPoints: [join(ROOT, 'bench/twin.ts')],
    outfile: join(ROOT, BUNDLE),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    plugins: [
      {
        name: 'external-node-modules',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (a) =>
            a.path.startsWith('@edgetwin/') ? undefined : { path: a.path, external: true },
          );
        },
      },
    ],
  });
}

interface EdgeOptions {
  source?: boolean;
  nodelay: boolean;
  /** gateway memory tuning: a 1 MiB V8 young generation and two malloc arenas */
  tuned?: boolean;
}

const TUNED_ENV = { NODE_OPTIONS: '--max-semi-space-size=1', MALLOC_ARENA_MAX: '2' };

async function startEdge(kind: 'twin' | 'echo', devices: number, dir: string, o: EdgeOptions): Promise<Edge> {
  const entry = o.source ? ['packages/cli/bin/run-ts.js', 'bench/twin.ts'] : [BUNDLE];
  const proc = spawn(
    process.execPath,
    ['--expose-gc', ...entry, '--edge', kind, String(devices), join(dir, `${randomUUID()}.db`)],
    {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, BENCH_NODELAY: o.nodelay ? '1' : '0', ...(o.tuned ? TUNED_ENV : {}) },
    },
  );
  const lines = createInterface({ input: proc.stdout! });
  const waiters: Array<(l: string) => void> = [];
  lines.on('line', (l) => waiters.shift()?.(l));
  const nextLine = () => new Promise<string>((r) => waiters.push(r));
  const ready = await nextLine();
  const url = ready.split(' ')[1]!;
  return {
    proc,
    url,
    rssMiB() {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
    },
    async gc() {
      proc.stdin!.write('gc\n');
      await nextLine();
    },
    async stop() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

interface Result {
  perSecond: number;
  p50: number;
  p99: number;
}

/** `devices` mappers, one request in flight each, for `seconds` (after a 1 s warm-up). */
async function load(
  url: string,
  kind: 'twin' | 'echo',
  devices: number,
  seconds: number,
  changing: boolean,
): Promise<Result> {
  const client = await connectBus({ url, clientId: `mappers-${randomUUID()}` });
  const reqTopic = (i: number) =>
    kind === 'twin' ? deviceTopic(`default/thermo-${i}`, 'twin/update') : `bench/echo/default/thermo-${i}/req`;
  const resFilter = kind === 'twin' ? '$hw/events/device/+/+/twin/update/result' : 'bench/echo/+/+/res';
  const sentAt = new Array<number>(devices).fill(0);
  const counter = new Array<number>(devices).fill(0);
  let measuring = false;
  let stopped = false;
  let done = 0;
  const latencies: number[] = [];
  const send = (i: number) => {
    counter[i]!++;
    const value = changing ? String(20 + (counter[i]! % 1000) / 10) : '21.5';
    sentAt[i] = performance.now();
    void client.publish(
      reqTopic(i),
      JSON.stringify({ event_id: String(counter[i]), twin: { temperature: { actual: { value } } } }),
      { qos: 0 },
    );
  };
  await client.subscribe(resFilter, (topic) => {
    const name = topic.split('/')[kind === 'twin' ? 4 : 3]!;
    const i = Number(name.slice('thermo-'.length));
    if (measuring) {
      done++;
      latencies.push(performance.now() - sentAt[i]!);
    }
    if (!stopped) send(i);
  });
  for (let i = 0; i < devices; i++) {
    send(i);
    if (i % 200 === 199) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 1000));
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  stopped = true;
  const elapsed = (performance.now() - t0) / 1000;
  await client.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? Number.NaN;
  return { perSecond: done / elapsed, p50: pct(0.5), p99: pct(0.99) };
}

async function main(): Promise<void> {
  const seconds = Number(args[args.indexOf('--seconds') + 1]) || 4;
  // --quick: only the TCP_NODELAY rows for the device counts given (e.g. --quick 1,1000), no memory rows
  const quick = args.includes('--quick')
    ? (args[args.indexOf('--quick') + 1] ?? '1').split(',').map(Number)
    : undefined;
  await bundle();
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-bench-'));
  const rows: string[] = [];
  const memory: string[] = [];
  const fmt = (r: Result) =>
    `${Math.round(r.perSecond).toLocaleString('en-US')} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)}`;
  const memRow = (what: string, edge: Edge) => memory.push(`| ${what} | ${edge.rssMiB().toFixed(1)} |`);
  try {
    for (const nodelay of quick ? [true] : [false, true]) {
      const broker = nodelay ? 'TCP_NODELAY' : 'as shipped';
      for (const n of quick ?? [1, 100, 1000]) {
        const count = n.toLocaleString('en-US');
        const echo = await startEdge('echo', 0, dir, { nodelay });
        const base = await load(echo.url, 'echo', n, seconds, true);
        await echo.stop();
        const edge = await startEdge('twin', n, dir, { nodelay });
        const twin = await load(edge.url, 'twin', n, seconds, true);
        rows.push(`| ${broker} | ${count} | raw broker round trip (baseline) | ${fmt(base)} |`);
        rows.push(`| ${broker} | ${count} | twin/update -> /result, new value each time | ${fmt(twin)} |`);
        if (n === 1000) {
          const same = await load(edge.url, 'twin', n, seconds, false);
          rows.push(`| ${broker} | ${count} | twin/update -> /result, unchanged value | ${fmt(same)} |`);
          if (nodelay) {
            memRow('broker + twin, 1,000 devices, after 1,000-device runs (no GC)', edge);
            await edge.gc();
            memRow('broker + twin, 1,000 devices, after 1,000-device runs, after GC', edge);
          }
        }
        await edge.stop();
      }
    }
    if (quick) return void process.stdout.write(`${rows.join('\n')}\n`);
    const echo = await startEdge('echo', 0, dir, { nodelay: false });
    await echo.gc();
    memRow('broker alone (baseline), idle', echo);
    await echo.stop();
    for (const [n, source, tuned] of [
      [0, false, false],
      [1000, false, false],
      [0, true, false],
      [1000, true, false],
      [0, false, true],
      [1000, false, true],
    ] as const) {
      const edge = await startEdge('twin', n, dir, { nodelay: true, source, tuned });
      await edge.gc();
      const how = source ? ', run from source by tsx' : tuned ? ', tuned' : '';
      memRow(`broker + twin, ${n.toLocaleString('en-US')} devices loaded, idle${how}`, edge);
      if (n === 1000 && tuned) {
        const r = await load(edge.url, 'twin', n, seconds, true);
        rows.push(`| TCP_NODELAY, tuned | 1,000 | twin/update -> /result, new value each time | ${fmt(r)} |`);
        await edge.gc();
        memRow('broker + twin, 1,000 devices, tuned, after a 1,000-device run', edge);
      }
      await edge.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const out = [
    '## twin',
    '',
    `Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}. ` +
      `Date: ${new Date().toISOString().slice(0, 10)}. Command: \`node packages/cli/bin/run-ts.js bench/twin.ts --seconds ${seconds}\`.`,
    '',
    'The edge process (embedded aedes broker + DeviceTwin, SQLite WAL in a temp dir) runs alone in a child process; the',
    'bench process plays the mappers on one MQTT connection, one twin/update in flight per device (QoS 0 in, /result',
    'QoS 1 out), each waiting for its /result before sending the next. Baseline: the same broker with an echo client in',
    `place of the twin. ${seconds} s measured after 1 s of warm-up; latency is publish-to-/result in ms. "as shipped" is`,
    'the eventbus broker as it is; "TCP_NODELAY" sets TCP_NODELAY on the sockets the broker accepts (the bench patches',
    'it in; see the note below).',
    '',
    '| broker | devices | what | round trips/s | p50 ms | p99 ms |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    'Resident memory (VmRSS) of the edge process, MiB, after a full GC unless marked. The edge runs bundled JS',
    '(esbuild; node_modules external) unless marked "run from source by tsx". "tuned" =',
    '`NODE_OPTIONS=--max-semi-space-size=1 MALLOC_ARENA_MAX=2`.',
    '',
    '| edge process | RSS MiB |',
    '| --- | --- |',
    ...memory,
    '',
  ].join('\n');
  process.stdout.write(`${out}\n`);
}

if (args[0] === '--edge') await runEdge(args[1] as 'twin' | 'echo', Number(args[2]), args[3]!);
else await main();
