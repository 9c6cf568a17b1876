// What users run, as they run it (issue 15, targets 3 and 4): the edge process's memory and the CLI's speed,
// from the production bundle (`npm run build`) and from the sources (tsx), in one run.
//
//   node packages/cli/bin/run-ts.js bench/shipping.ts [--rounds 5] [--devices 1000] [--baseline DIR] [--write]
//     [--only-up | --only-edge] [--variants "--no-opt;--optimize-for-size MALLOC_ARENA_MAX=1"]
//
// Edge memory: `edgetwin cloud` runs as its own process; for each variant a node is registered
// (`edgetwin node add`) and `edgetwin edge --node N --cloud URL --token-file F --data-dir D --mappers
// virtualProtocol` starts as the systemd unit starts it (embedded broker, twin, cloud link, the mapper in
// process). VmRSS of the edge process (median of 5 samples over 8 s): idle with no devices (from 5 s after start),
// then with --devices virtual devices (one INT property read every 1 s) bound to the node, from 5 s after
// every device reported.
// Variants: the bundle as deploy/ runs it; the bundle with V8/malloc tuning; the sources through tsx.
//
// CLI speed: `get devices`, `twin set`, `describe device` against that cloud, from the bundle and from the
// sources, and `node -e 0` (Node's own start, the floor), interleaved, --rounds times each; wall and CPU time
// (user + sys) of each process from /proc (wait4 rusage through GNU time). `up` ready: from spawn to its
// "edgetwin is up" line, bundle and sources, alternating; wall time and the process's CPU time until then
// (/proc/PID/stat). `--only-up` measures just that; `--baseline DIR` (another checkout with its node_modules and
// its bundle built, e.g. main before a change) alternates its `up` with this tree's, and adds its edge (as
// deploy/ ran it) to the memory table and its bundle's calls to the CLI rows, in the same run.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { ControllerClient } from '@edgetwin/device-controller';
import { numberOption, replaceSection } from './support.js';

const ROOT = resolve(import.meta.dirname, '..');
const BUNDLE = join(ROOT, 'packages/cli/dist/edgetwin.js');
const SOURCE = join(ROOT, 'packages/cli/bin/edgetwin.js');
const run = promisify(execFile);
const args = process.argv.slice(2);
const ROUNDS = numberOption('rounds', 5);
const DEVICES = numberOption('devices', 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** what deploy/ sets (systemd units, Dockerfile) */
const TUNING = { NODE_OPTIONS: '--max-semi-space-size=1', MALLOC_ARENA_MAX: '1' };
/** what deploy/ set before the checkpoint left its worker thread (issue 15 target 3): the --baseline's edge */
const BASELINE_TUNING = { NODE_OPTIONS: '--max-semi-space-size=1', MALLOC_ARENA_MAX: '2' };
const ONLY_UP = args.includes('--only-up');
const ONLY_EDGE = args.includes('--only-edge');
/** --variants "--no-opt;--max-lazy --optimize-for-size;MALLOC_ARENA_MAX=1": extra edge variants on top of what
 * deploy/ sets, each with these node flags (--...) and environment variables (NAME=value) */
const VARIANTS = args.includes('--variants')
  ? (args[args.indexOf('--variants') + 1] ?? '')
      .split(';')
      .map((v) => v.trim().split(/\s+/).filter(Boolean))
      .filter((v) => v.length > 0)
      .map((tokens) => ({
        label: tokens.join(' '),
        nodeArgs: tokens.filter((t) => t.startsWith('--')),
        env: Object.fromEntries(
          tokens
            .filter((t) => !t.startsWith('--'))
            .map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)]),
        ),
      }))
  : [];
const BASELINE = args.includes('--baseline') ? resolve(args[args.indexOf('--baseline') + 1] ?? '') : undefined;

type Mode = 'bundle' | 'source';
/** argv for a CLI call: the bundle directly (as deploy/ does), or bin/edgetwin.js forced onto the sources */
const cli = (mode: Mode, root = ROOT) =>
  root === ROOT
    ? mode === 'bundle'
      ? [BUNDLE]
      : [SOURCE]
    : [join(root, mode === 'bundle' ? 'packages/cli/dist/edgetwin.js' : 'packages/cli/bin/edgetwin.js')];
const envOf = (mode: Mode, extra: Record<string, string> = {}) => ({
  ...process.env,
  ...(mode === 'source' ? { EDGETWIN_FROM_SOURCE: '1' } : {}),
  ...extra,
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** The median of 5 VmRSS samples 2 s apart (one sample moves with the garbage collector's timing), and the
 * process's CPU time over those 8 s in ms per second (the cost of a V8 flag that saves memory). */
async function settledRss(pid: number): Promise<{ rss: number; cpuPerS: number }> {
  const xs: number[] = [];
  const cpu0 = cpuOf(pid);
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) {
    if (i > 0) await sleep(2000);
    xs.push(rssMiB(pid));
  }
  return { rss: median(xs), cpuPerS: ((cpuOf(pid) - cpu0) * 1000) / (performance.now() - t0) };
}

/** Spawns a long-running CLI command; resolves once `ready` appears in its stdout. */
async function startCli(
  mode: Mode,
  argv: string[],
  ready: RegExp,
  env: Record<string, string> = {},
  timeoutMs = 120_000,
  root = ROOT,
  nodeArgs: string[] = [],
): Promise<{ proc: ChildProcess; ms: number; cpuMs: number; stop: () => Promise<void> }> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, [...nodeArgs, ...cli(mode, root), ...argv], {
    env: envOf(mode, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => {
    err = (err + d).slice(-4000);
  });
  let cpuMs = Number.NaN;
  const ms = await new Promise<number>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`${argv[0]} not ready in ${timeoutMs} ms: ${err}`)), timeoutMs);
    proc.stdout!.on('data', (d) => {
      out += d;
      if (ready.test(out)) {
        clearTimeout(t);
        cpuMs = cpuOf(proc.pid!);
        res(performance.now() - t0);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`${argv[0]} exited ${code}: ${err}`));
    });
  });
  proc.removeAllListeners('exit');
  const stop = async () => {
    if (proc.exitCode !== null) return;
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([gone, sleep(20_000).then(() => proc.kill('SIGKILL'))]);
  };
  return { proc, ms, cpuMs, stop };
}

/** user + system CPU ms of a live process so far (/proc/PID/stat fields 14 and 15, in 100 Hz clock ticks). */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** One short CLI call: wall ms and CPU ms (user + sys of the process, from GNU time). */
async function timeCall(argv: string[], env: NodeJS.ProcessEnv): Promise<{ wall: number; cpu: number }> {
  const t0 = performance.now();
  const { stderr } = await run('/usr/bin/time', ['-f', 'TIME %U %S', process.execPath, ...argv], { env }).catch(
    (e: { stderr?: string; message: string }) => {
      throw new Error(`${argv.slice(1).join(' ')} failed: ${e.stderr ?? e.message}`);
    },
  );
  const wall = performance.now() - t0;
  const m = /TIME ([\d.]+) ([\d.]+)/.exec(stderr);
  if (!m) throw new Error(`no time for ${argv.join(' ')}: ${stderr}`);
  return { wall, cpu: (Number(m[1]) + Number(m[2])) * 1000 };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor((s.length - 1) / 2)]!;
};
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ');

function manifests(node: string, n: number): string {
  const docs = [
    `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: ${node}-counter, namespace: default }
spec:
  protocol: virtualProtocol
  properties:
    - { name: value, type: INT, accessMode: ReadWrite }
`,
  ];
  for (let i = 0; i < n; i++)
    docs.push(`apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: ${node}-${String(i).padStart(4, '0')}, namespace: default }
spec:
  deviceModelRef: { name: ${node}-counter }
  nodeName: ${node}
  protocol: { protocolName: virtualProtocol }
  properties:
    - name: value
      desired: { value: "0" }
      visitors: { protocolName: virtualProtocol, configData: { name: value, generator: echo } }
      collectCycle: 1000
      reportCycle: 1000
      reportToCloud: true
`);
  return docs.join('---\n');
}

/** `up --example led-raspberrypi` until "edgetwin is up": bundle and sources of this tree (and of --baseline),
 * alternating, median of min(ROUNDS, 3) starts each (ROUNDS with --only-up); wall and CPU ms until ready. */
async function upRows(dir: string): Promise<string[]> {
  const trees = [
    ...(BASELINE ? [{ label: 'baseline', root: BASELINE }] : []),
    { label: BASELINE ? 'this tree' : '', root: ROOT },
  ];
  const samples = new Map<string, { wall: number[]; cpu: number[] }>();
  const rounds = ONLY_UP ? ROUNDS : Math.min(ROUNDS, 3);
  for (let r = 0; r < rounds; r++)
    for (const m of ['bundle', 'source'] as Mode[])
      for (const t of trees) {
        const upDir = join(dir, `up-${m}-${t.label || 'x'}-${r}`);
        const ports = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
        const up = await startCli(
          m,
          [
            'up',
            '--data-dir',
            upDir,
            '--port',
            String(ports[0]),
            '--cloud-port',
            String(ports[1]),
            '--http-port',
            String(ports[2]),
            '--modbus-port',
            String(ports[3]),
            '--rest-port',
            String(ports[4]),
            '--no-view',
            '--example',
            'led-raspberrypi',
          ],
          /edgetwin is up/,
          {},
          120_000,
          t.root,
        );
        const key = `${t.label}|${m}`;
        const e = samples.get(key) ?? { wall: [], cpu: [] };
        e.wall.push(up.ms);
        e.cpu.push(up.cpuMs);
        samples.set(key, e);
        process.stderr.write(`up ${t.label} ${m}: ${up.ms.toFixed(0)} ms wall, ${up.cpuMs} ms CPU (load ${load()})\n`);
        await up.stop();
      }
  const rows: string[] = [];
  for (const t of trees)
    for (const m of ['bundle', 'source'] as Mode[]) {
      const e = samples.get(`${t.label}|${m}`)!;
      rows.push(
        `| \`up --example led-raspberrypi\` until "edgetwin is up"${t.label ? ` (${t.label})` : ''} | ${m === 'bundle' ? 'bundle' : 'sources (tsx)'} | ${median(e.wall).toFixed(0)} | ${median(e.cpu).toFixed(0)} |`,
      );
    }
  return rows;
}

async function main(): Promise<void> {
  const { buildBundle } = (await import(join(ROOT, 'scripts/build.mjs'))) as { buildBundle: () => Promise<unknown> };
  await buildBundle();
  const loadStart = load();
  const dir = mkdtempSync(join(os.tmpdir(), 'edgetwin-shipping-'));
  if (ONLY_UP) {
    try {
      const rows = await upRows(dir);
      process.stdout.write(
        [
          `Load average (1/5/15 min) at start ${loadStart}, at the end ${load()}. Median of ${ROUNDS} alternating starts.`,
          '',
          '| call | run from | wall ms | CPU ms |',
          '| --- | --- | --- | --- |',
          ...rows,
          '',
        ].join('\n'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
  const cloudDir = join(dir, 'cloud');
  const [httpPort, mqttPort] = [await freePort(), await freePort()];
  const cloud = await startCli(
    'bundle',
    ['cloud', '--data-dir', cloudDir, '--http-port', String(httpPort), '--mqtt-port', String(mqttPort)],
    /controller API|is up|listening/i,
  ).catch(async (e) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const { server, token } = JSON.parse(readFileSync(join(cloudDir, 'client.json'), 'utf8')) as {
    server: string;
    token: string;
  };
  const client = new ControllerClient(server, { token });
  const memory: string[] = [];
  const cliRows: string[] = [];
  try {
    // ---- edge memory, one variant after another
    const deployed = `bundle, as deploy/ runs it (${TUNING.NODE_OPTIONS} MALLOC_ARENA_MAX=${TUNING.MALLOC_ARENA_MAX})`;
    const variants: { label: string; mode: Mode; env: Record<string, string>; root?: string; nodeArgs?: string[] }[] = [
      ...(BASELINE
        ? [
            {
              label: `baseline (--baseline checkout): bundle, as deploy/ ran it (${BASELINE_TUNING.NODE_OPTIONS} MALLOC_ARENA_MAX=${BASELINE_TUNING.MALLOC_ARENA_MAX})`,
              mode: 'bundle' as Mode,
              env: BASELINE_TUNING,
              root: BASELINE,
            },
          ]
        : []),
      { label: deployed, mode: 'bundle', env: TUNING },
      // settings that trade speed for memory, on top of what deploy/ sets (--variants): their CPU cost with
      // the devices is the last column
      ...VARIANTS.map((v) => ({
        label: `${deployed}, ${v.label}`,
        mode: 'bundle' as Mode,
        env: { ...TUNING, ...v.env },
        nodeArgs: v.nodeArgs,
      })),
      ...(ONLY_EDGE
        ? []
        : [
            { label: 'bundle, Node defaults', mode: 'bundle' as Mode, env: {} },
            {
              label: 'bundle, Node defaults, --enable-source-maps',
              mode: 'bundle' as Mode,
              env: { NODE_OPTIONS: '--enable-source-maps' },
            },
            { label: 'sources through tsx, Node defaults (deploy/ before issue 15)', mode: 'source' as Mode, env: {} },
          ]),
    ];
    let k = 0;
    for (const v of variants) {
      const node = `ship-${k++}`;
      const tokenFile = join(dir, `${node}.token`);
      await run(process.execPath, [BUNDLE, 'node', 'add', node, '--token-file', tokenFile, '--data-dir', cloudDir]);
      const edgeDir = join(dir, node);
      mkdirSync(edgeDir);
      const port = await freePort();
      const edge = await startCli(
        v.mode,
        [
          'edge',
          '--node',
          node,
          '--cloud',
          `mqtts://127.0.0.1:${mqttPort}`,
          '--token-file',
          tokenFile,
          '--data-dir',
          edgeDir,
          '--port',
          String(port),
          // its own mapper REST port: the default 7777 may be taken on a shared machine (or by the edge before)
          '--rest-port',
          String(await freePort()),
          '--mappers',
          'virtualProtocol',
        ],
        /is up/,
        v.env,
        120_000,
        v.root ?? ROOT,
        v.nodeArgs,
      );
      try {
        await sleep(5000);
        const idle = await settledRss(edge.proc.pid!);
        const file = join(dir, `${node}.yaml`);
        writeFileSync(file, manifests(node, DEVICES));
        await client.apply([{ file, text: readFileSync(file, 'utf8') }]);
        // every device reported at least once (the cloud shows a reported value)
        const deadline = Date.now() + 180_000;
        for (;;) {
          const list = await client.devices();
          const mine = list.filter((d) => d.spec.nodeName === node);
          if (mine.length >= DEVICES && mine.every((d) => d.status?.twins?.some((t) => t.reported))) break;
          if (Date.now() > deadline) throw new Error(`${node}: not every device reported in 180 s`);
          await sleep(1000);
        }
        await sleep(5000);
        const full = await settledRss(edge.proc.pid!);
        memory.push(`| ${v.label} | ${idle.rss.toFixed(1)} | ${full.rss.toFixed(1)} | ${full.cpuPerS.toFixed(0)} |`);
        process.stderr.write(
          `edge ${v.label}: idle ${idle.rss.toFixed(1)} MiB, ${DEVICES} devices ${full.rss.toFixed(1)} MiB, ${full.cpuPerS.toFixed(0)} ms CPU/s (load ${load()})\n`,
        );
      } finally {
        await edge.stop();
        // the first node's devices stay: the CLI calls below list and set them (a 1,000-device `get`)
        const file = join(dir, `${node}.yaml`);
        if (k > 1) await client.delete([{ file, text: readFileSync(file, 'utf8') }]).catch(() => undefined);
      }
    }

    if (ONLY_EDGE) return;
    // ---- CLI calls, interleaved
    const target = `ship-0-0000`;
    const calls: { label: string; argv: (m: Mode, root?: string) => string[] }[] = [
      { label: 'get devices', argv: (m, root) => [...cli(m, root), 'get', 'devices', '--data-dir', cloudDir] },
      {
        label: 'twin set',
        argv: (m, root) => [...cli(m, root), 'twin', 'set', target, 'value=7', '--data-dir', cloudDir],
      },
      {
        label: 'describe device',
        argv: (m, root) => [...cli(m, root), 'describe', 'device', target, '--data-dir', cloudDir],
      },
    ];
    const samples = new Map<string, { wall: number[]; cpu: number[] }>();
    const add = (key: string, s: { wall: number; cpu: number }) => {
      const e = samples.get(key) ?? { wall: [], cpu: [] };
      e.wall.push(s.wall);
      e.cpu.push(s.cpu);
      samples.set(key, e);
    };
    for (let r = 0; r < ROUNDS; r++) {
      add('node -e 0', await timeCall(['-e', '0'], process.env));
      for (const c of calls) {
        if (BASELINE) add(`${c.label}|baseline`, await timeCall(c.argv('bundle', BASELINE), envOf('bundle')));
        for (const m of ['bundle', 'source'] as Mode[]) add(`${c.label}|${m}`, await timeCall(c.argv(m), envOf(m)));
      }
    }
    const floor = samples.get('node -e 0')!;
    cliRows.push(
      `| \`node -e 0\` (Node's own start) | – | ${median(floor.wall).toFixed(0)} | ${median(floor.cpu).toFixed(0)} |`,
    );
    for (const c of calls) {
      if (BASELINE) {
        const s = samples.get(`${c.label}|baseline`)!;
        cliRows.push(
          `| \`${c.label}\` (baseline) | bundle | ${median(s.wall).toFixed(0)} | ${median(s.cpu).toFixed(0)} |`,
        );
      }
      for (const m of ['bundle', 'source'] as Mode[]) {
        const s = samples.get(`${c.label}|${m}`)!;
        cliRows.push(
          `| \`${c.label}\` | ${m === 'bundle' ? 'bundle' : 'sources (tsx)'} | ${median(s.wall).toFixed(0)} | ${median(s.cpu).toFixed(0)} |`,
        );
      }
    }
  } finally {
    await cloud.stop();
    if (ONLY_EDGE) {
      rmSync(dir, { recursive: true, force: true });
      process.stdout.write(
        [
          `Load average (1/5/15 min) at start ${loadStart}, at the end ${load()}.`,
          '',
          `| edge process | idle MiB | ${DEVICES.toLocaleString('en')} devices MiB | CPU ms/s with ${DEVICES.toLocaleString('en')} devices |`,
          '| --- | --- | --- | --- |',
          ...memory,
          '',
        ].join('\n'),
      );
    }
  }
  if (ONLY_EDGE) return;

  cliRows.push(...(await upRows(dir)));
  rmSync(dir, { recursive: true, force: true });

  const section = [
    '## edge memory and CLI speed',
    '',
    `Machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, shared with other engineers' work. Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC. Load average (1/5/15 min) at start ${loadStart}, at the end ${load()}.`,
    `Command: \`node packages/cli/bin/run-ts.js bench/shipping.ts${args.filter((a) => a !== '--write').length ? ` ${args.filter((a) => a !== '--write').join(' ')}` : ''}\`.`,
    '',
    `Edge process (\`edgetwin edge --node N --cloud URL --token-file F --data-dir D --mappers virtualProtocol\`, as the systemd unit runs it: embedded broker, twin, cloud link, the virtual mapper in process), VmRSS in MiB, median of 5 samples over 8 s: idle with no devices (from 5 s after start), then with ${DEVICES.toLocaleString('en')} virtual devices (one INT property read every second) from 5 s after each reported. \`edgetwin cloud\` runs as its own process.`,
    '',
    `| edge process | idle MiB | ${DEVICES.toLocaleString('en')} devices MiB | CPU ms/s with ${DEVICES.toLocaleString('en')} devices |`,
    '| --- | --- | --- | --- |',
    ...memory,
    '',
    `CLI calls against that cloud, median of ${ROUNDS} interleaved rounds; CPU = user + sys of the process. \`up\`: median of ${Math.min(ROUNDS, 3)} alternating starts with one example.`,
    '',
    '| call | run from | wall ms | CPU ms |',
    '| --- | --- | --- | --- |',
    ...cliRows,
    '',
    'NOTES_PLACEHOLDER',
  ].join('\n');
  process.stdout.write(`${section}\n`);
  if (args.includes('--write')) {
    const notes = join(ROOT, 'bench/shipping-notes.md');
    let text = section;
    try {
      text = section.replace('NOTES_PLACEHOLDER', readFileSync(notes, 'utf8').trimEnd());
    } catch {
      text = section.replace('\nNOTES_PLACEHOLDER', '');
    }
    await replaceSection(join(ROOT, 'docs/benchmarks.md'), '## edge memory and CLI speed', text);
  }
}

await main();
