// Issue 15 target 1: the whole edgetwin stack against Node-RED on the same job, per CPU-second. The same
// Modbus TCP slave (our simulator, its own process), the same Mosquitto, every reading published:
//   Node-RED 4.1 + node-red-contrib-modbus 5.23: a modbus-read node per block -> mqtt out (the flow users build);
//   edgetwin: `edgetwin mapper modbus` + `edgetwin edge-local` (the twin keeps every value, KubeEdge semantics),
//   both on Mosquitto as the edge broker: the mapper's report batches go through Mosquitto to the twin.
// Jobs: heavy = 4 x 125 holding registers every 10 ms; light = 100 holding registers every 100 ms. Runs of the
// two stacks interleave; CPU of every process (and its children) from /proc/PID/stat over the measured window,
// RSS from /proc/PID/status at its end. Readings are counted by a subscriber on Mosquitto (this process).
//
//   node packages/cli/bin/run-ts.js bench/nodered.ts [--rounds 3] [--seconds 20] [--jobs heavy,light] [--write-doc]
//
// Node-RED is installed by this bench into ~/.cache/edgetwin-peers (EDGETWIN_PEER_CACHE), never into the
// project: `npm install --prefix <cache>/node-red-4.1.8-modbus-5.23.3 node-red@4.1.8 node-red-contrib-modbus@5.23.3`.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  API_VERSION,
  type Device,
  type DeviceModel,
  decodeMapperReports,
  reportsTopic,
  resolveDevice,
} from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus/client';
import { freePort } from '@edgetwin/eventbus/testing';
import { startModbusSimulator } from '@edgetwin/simulators';
import { stringify } from 'yaml';
import { numberOption, replaceSection, stringOption } from './support.js';

const NODE_RED = '4.1.8';
const CONTRIB_MODBUS = '5.23.3';
const NODE = 'bench';
const HZ = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Job {
  name: 'heavy' | 'light';
  units: number;
  registers: number;
  periodMs: number;
}
const JOBS: Record<string, Job> = {
  heavy: { name: 'heavy', units: 4, registers: 125, periodMs: 10 },
  light: { name: 'light', units: 1, registers: 100, periodMs: 100 },
};

// ---- the job as KubeEdge manifests (the same registers for the simulator, the mapper and Node-RED) ----

function manifests(job: Job, port: number): { model: DeviceModel; devices: Device[] } {
  const names = Array.from({ length: job.registers }, (_, i) => `r${i}`);
  const model: DeviceModel = {
    apiVersion: API_VERSION,
    kind: 'DeviceModel',
    metadata: { name: 'bench-block', namespace: 'bench' },
    spec: {
      protocol: 'modbus',
      properties: names.map((name) => ({
        name,
        type: 'INT',
        accessMode: 'ReadOnly',
        minimum: '0',
        maximum: '60000',
      })),
    },
  };
  const devices = Array.from(
    { length: job.units },
    (_, u): Device => ({
      apiVersion: API_VERSION,
      kind: 'Device',
      metadata: { name: `block-${u + 1}`, namespace: 'bench' },
      spec: {
        deviceModelRef: { name: 'bench-block' },
        nodeName: NODE,
        protocol: {
          protocolName: 'modbus',
          // the gateway takes concurrent transactions (our simulator does; Node-RED's client is given
          // parallelUnitIdsAllowed): the blocks' requests leave together (docs/modbus.md, maxInFlight)
          configData: { communicateMode: 'TCP', ip: '127.0.0.1', port: String(port), slaveID: u + 1, maxInFlight: 4 },
        },
        properties: names.map((name, i) => ({
          name,
          visitors: { protocolName: 'modbus', configData: { register: 'HoldingRegister', offset: i, type: 'uint16' } },
          collectCycle: job.periodMs,
          reportCycle: job.periodMs,
          // every reading published, as the Node-RED flow does
          report: { mode: 'cycle' as const },
        })),
      },
    }),
  );
  return { model, devices };
}

/** The slave: our Modbus simulator in this file's own child process (`--serve JOB`), values moving every second. */
async function serve(job: Job): Promise<void> {
  const { model, devices } = manifests(job, 502);
  const sim = await startModbusSimulator({
    devices: devices.map((d) => resolveDevice(d, model)),
    tcp: { port: 0 },
    behaviour: 'moving',
    tickMs: 1000,
  });
  process.stdout.write(`PORT ${sim.port}\n`);
  process.on('SIGTERM', () => void sim.stop().then(() => process.exit(0)));
}

// ---- processes ----

interface Proc {
  name: string;
  child: ChildProcess;
  /** the last 4,000 characters it printed */
  output(): string;
}

function spawnProc(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('exit', (code, signal) => {
    if (code && code !== 0 && signal === null) console.error(`${name} exited with ${code}: ${tail}`);
  });
  return { name, child, output: () => tail };
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const gone = new Promise<void>((r) => p.child.once('exit', () => r()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/** The pid and every descendant's pid. */
function tree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(e));
      children.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i] as number) ?? []));
  return out;
}

/** User + system CPU seconds of a process tree so far. */
function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of tree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
    } catch {
      // gone meanwhile
    }
  }
  return ticks / HZ;
}

/** Resident memory (MiB) of a process tree. */
function rssMiB(pid: number): number {
  let kb = 0;
  for (const p of tree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += Number(m?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return kb / 1024;
}

async function waitForPort(port: number, what: string, timeoutMs = 20_000): Promise<void> {
  const net = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startSlave(job: Job): Promise<{ port: number; proc: Proc }> {
  const runTs = join(ROOT, 'packages/cli/bin/run-ts.js');
  const proc = spawnProc('slave', process.execPath, [runTs, fileURLToPath(import.meta.url), '--serve', job.name]);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`simulator did not start: ${out}`)), 30_000);
    proc.child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return { port, proc };
}

function mosquittoBinary(): string {
  for (const p of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto']) if (existsSync(p)) return p;
  throw new Error(
    'mosquitto is not installed: run `npm test` once (scripts/test-peers/44-mosquitto.sh) or apt-get install mosquitto',
  );
}

async function startMosquitto(dir: string): Promise<{ port: number; proc: Proc }> {
  const port = await freePort();
  const conf = join(dir, `mosquitto-${port}.conf`);
  await writeFile(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n`,
  );
  const proc = spawnProc('mosquitto', mosquittoBinary(), ['-c', conf]);
  await waitForPort(port, 'mosquitto');
  return { port, proc };
}

/** Node-RED and node-red-contrib-modbus in the peer cache (installed once, outside the project). */
function ensureNodeRed(): string {
  const cache = process.env.EDGETWIN_PEER_CACHE ?? join(homedir(), '.cache/edgetwin-peers');
  const dir = join(cache, `node-red-${NODE_RED}-modbus-${CONTRIB_MODBUS}`);
  const red = join(dir, 'node_modules/node-red/red.js');
  if (!existsSync(red) || !existsSync(join(dir, 'node_modules/node-red-contrib-modbus/package.json'))) {
    console.log(`installing Node-RED ${NODE_RED} and node-red-contrib-modbus ${CONTRIB_MODBUS} into ${dir}`);
    execFileSync(
      'npm',
      [
        'install',
        '--prefix',
        dir,
        '--no-audit',
        '--no-fund',
        '--omit=dev',
        `node-red@${NODE_RED}`,
        `node-red-contrib-modbus@${CONTRIB_MODBUS}`,
      ],
      { stdio: 'inherit' },
    );
  }
  return dir;
}

// ---- the two stacks ----

/** The Node-RED flow: a modbus-read per block, every reading array to Mosquitto (QoS 0, as the mapper's cycle reports). */
async function startNodeRed(job: Job, slavePort: number, mqttPort: number, dir: string): Promise<Proc[]> {
  const install = ensureNodeRed();
  const userDir = await mkdtemp(join(dir, 'node-red-'));
  const flow: Array<Record<string, unknown>> = [
    { id: 'tab', type: 'tab', label: 'bench' },
    {
      id: 'a1b2c3d4e5f60001',
      type: 'modbus-client',
      name: 'slave',
      clienttype: 'tcp',
      bufferCommands: true,
      stateLogEnabled: false,
      queueLogEnabled: false,
      failureLogEnabled: false,
      tcpHost: '127.0.0.1',
      tcpPort: String(slavePort),
      tcpType: 'DEFAULT',
      serialPort: '/dev/ttyUSB',
      serialType: 'RTU-BUFFERD',
      serialBaudrate: '9600',
      serialDatabits: '8',
      serialStopbits: '1',
      serialParity: 'none',
      serialConnectionDelay: '100',
      serialAsciiResponseStartDelimiter: '0x3A',
      unit_id: '1',
      commandDelay: '1',
      clientTimeout: '1000',
      reconnectOnTimeout: true,
      reconnectTimeout: '2000',
      parallelUnitIdsAllowed: true,
    },
    {
      id: 'a1b2c3d4e5f60002',
      type: 'mqtt-broker',
      name: 'mosquitto',
      broker: '127.0.0.1',
      port: String(mqttPort),
      clientid: '',
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
      autoConnect: true,
    },
    {
      id: 'out',
      type: 'mqtt out',
      z: 'tab',
      name: '',
      topic: '',
      qos: '0',
      retain: 'false',
      broker: 'a1b2c3d4e5f60002',
      wires: [],
    },
  ];
  for (let u = 1; u <= job.units; u++)
    flow.push({
      id: `read-${u}`,
      type: 'modbus-read',
      z: 'tab',
      name: '',
      topic: `nodered/bench/block-${u}`,
      showStatusActivities: false,
      logIOActivities: false,
      showErrors: false,
      showWarnings: true,
      unitid: String(u),
      dataType: 'HoldingRegister',
      adr: '0',
      quantity: String(job.registers),
      rate: String(job.periodMs),
      rateUnit: 'ms',
      delayOnStart: false,
      startDelayTime: '',
      server: 'a1b2c3d4e5f60001',
      useIOFile: false,
      ioFile: '',
      useIOForPayload: false,
      emptyMsgOnFail: false,
      wires: [['out'], []],
    });
  await writeFile(join(userDir, 'flows.json'), JSON.stringify(flow));
  await writeFile(
    join(userDir, 'settings.js'),
    `module.exports = { flowFile: 'flows.json', uiPort: ${await freePort()}, uiHost: '127.0.0.1', httpAdminRoot: false, httpNodeRoot: false, credentialSecret: false, logging: { console: { level: 'warn', metrics: false, audit: false } } };\n`,
  );
  const red = join(install, 'node_modules/node-red/red.js');
  return [
    spawnProc('node-red', process.execPath, [red, '--userDir', userDir, '--settings', join(userDir, 'settings.js')]),
  ];
}

/** edgetwin as a user runs it on Mosquitto: the twin (edge-local) and the Modbus mapper, two processes. */
async function startEdgetwin(job: Job, slavePort: number, mqttPort: number, dir: string): Promise<Proc[]> {
  const work = await mkdtemp(join(dir, 'edgetwin-'));
  const { model, devices } = manifests(job, slavePort);
  await mkdir(join(work, 'manifests'));
  await writeFile(join(work, 'manifests/bench.yaml'), [model, ...devices].map((o) => stringify(o)).join('---\n'));
  await writeFile(join(work, 'mqtt-password'), 'bench\n', { mode: 0o600 });
  const cli = join(ROOT, 'packages/cli/bin/edgetwin.js');
  // BENCH_CPU_PROF=DIR: a V8 CPU profile of each edgetwin process, written to DIR when it stops
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  const broker = `mqtt://127.0.0.1:${mqttPort}`;
  const twin = spawnProc('edgetwin edge-local (twin)', process.execPath, [
    ...prof,
    cli,
    'edge-local',
    '--broker',
    broker,
    '--node',
    NODE,
    '--db',
    join(work, 'twin.db'),
    '-f',
    join(work, 'manifests'),
    '--log-level',
    'warn',
  ]);
  const mapper = spawnProc(
    'edgetwin mapper modbus',
    process.execPath,
    [
      ...prof,
      cli,
      'mapper',
      'modbus',
      '--broker',
      broker,
      '--node',
      NODE,
      '--username',
      'bench',
      '--password-file',
      join(work, 'mqtt-password'),
      '--no-rest',
    ],
    { LOG_LEVEL: 'warn' },
  );
  return [twin, mapper];
}

// ---- one measured run ----

interface ProcFigure {
  name: string;
  cpuS: number;
  rssMiB: number;
}

interface RunResult {
  stack: 'Node-RED' | 'edgetwin';
  job: Job['name'];
  readings: number;
  seconds: number;
  procs: ProcFigure[];
  mosquitto: ProcFigure;
  slave: ProcFigure;
}

async function run(
  stack: RunResult['stack'],
  job: Job,
  slave: { port: number; proc: Proc },
  seconds: number,
  dir: string,
): Promise<RunResult> {
  const mosq = await startMosquitto(dir);
  const counter = await connectBus({ url: `mqtt://127.0.0.1:${mosq.port}`, clientId: `bench-counter-${Date.now()}` });
  let readings = 0;
  const seen = new Set<string>();
  await counter.subscribe('nodered/#', (topic, payload) => {
    seen.add(topic);
    const values = JSON.parse(payload.toString()) as unknown[];
    readings += values.length;
  });
  await counter.subscribe(reportsTopic(NODE, 'modbus'), (_t, payload) => {
    const d = decodeMapperReports(payload);
    if (!d.ok) throw new Error(d.error);
    for (const e of d.value.entries) {
      seen.add(e[0] as string);
      readings += (e.length - 1) / 2;
    }
  });
  const procs =
    stack === 'Node-RED'
      ? await startNodeRed(job, slave.port, mosq.port, dir)
      : await startEdgetwin(job, slave.port, mosq.port, dir);
  try {
    const deadline = Date.now() + 60_000;
    while (seen.size < job.units) {
      if (Date.now() > deadline)
        throw new Error(
          `${stack} ${job.name}: readings of ${seen.size} of ${job.units} blocks after 60 s; output:\n${procs.map((p) => `${p.name}: ${p.output()}`).join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 5000)); // warm-up: JIT, connections, the twin's first writes
    const all = [...procs, mosq.proc, slave.proc];
    const cpu0 = all.map((p) => cpuSeconds(p.child.pid as number));
    const r0 = readings;
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const elapsed = (Date.now() - t0) / 1000;
    const got = readings - r0;
    const figures = all.map((p, i) => ({
      name: p.name,
      cpuS: cpuSeconds(p.child.pid as number) - (cpu0[i] as number),
      rssMiB: rssMiB(p.child.pid as number),
    }));
    return {
      stack,
      job: job.name,
      readings: got,
      seconds: elapsed,
      procs: figures.slice(0, procs.length),
      mosquitto: figures[procs.length] as ProcFigure,
      slave: figures[procs.length + 1] as ProcFigure,
    };
  } finally {
    for (const p of procs) await stopProc(p);
    await counter.close();
    await stopProc(mosq.proc);
  }
}

// ---- report ----

const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
const f1 = (n: number) => n.toFixed(1);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** Readings per CPU-second of the stack's own processes plus Mosquitto (the slave is the device, not the stack). */
const perCpu = (r: RunResult) => r.readings / (r.procs.reduce((a, p) => a + p.cpuS, 0) + r.mosquitto.cpuS);

function table(results: RunResult[]): string {
  const rows = [
    '| job | stack | run | readings/s | CPU s per s: stack processes | Mosquitto | slave (not counted) | **readings per CPU-second** (stack + Mosquitto) | RSS MiB: stack processes, Mosquitto |',
    '| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | --- |',
  ];
  for (const r of results) {
    const n = results.filter((x) => x.job === r.job && x.stack === r.stack).indexOf(r) + 1;
    rows.push(
      `| ${r.job} | ${r.stack} | ${n} | ${f0(r.readings / r.seconds)} | ${r.procs.map((p) => `${p.name} ${(p.cpuS / r.seconds).toFixed(3)}`).join(', ')} | ${(r.mosquitto.cpuS / r.seconds).toFixed(3)} | ${(r.slave.cpuS / r.seconds).toFixed(3)} | **${f0(perCpu(r))}** | ${r.procs.map((p) => f1(p.rssMiB)).join(' + ')}, ${f1(r.mosquitto.rssMiB)} |`,
    );
  }
  return rows.join('\n');
}

function summary(results: RunResult[]): string[] {
  const out: string[] = [];
  for (const job of new Set(results.map((r) => r.job))) {
    const of = (s: RunResult['stack']) => results.filter((r) => r.job === job && r.stack === s);
    const et = median(of('edgetwin').map(perCpu));
    const nr = median(of('Node-RED').map(perCpu));
    const ratio = et / nr;
    const rate = (s: RunResult['stack']) => median(of(s).map((r) => r.readings / r.seconds));
    out.push(
      `- **${job}**: edgetwin ${f0(et)} readings per CPU-second, Node-RED ${f0(nr)} (medians of the runs): **${ratio.toFixed(2)}x** ` +
        `(target >= 3x: ${ratio >= 3 ? 'met' : 'not met'}); readings/s delivered ${f0(rate('edgetwin'))} and ${f0(rate('Node-RED'))}.`,
    );
  }
  return out;
}

async function main(): Promise<void> {
  const rounds = numberOption('rounds', 3);
  const seconds = numberOption('seconds', 20);
  const jobs = stringOption('jobs', 'heavy,light')
    .split(',')
    .map((j) => {
      const job = JOBS[j];
      if (!job) throw new Error(`--jobs: unknown job ${j} (heavy, light)`);
      return job;
    });
  // --stacks edgetwin: one side only (for profiling)
  const stacks = stringOption('stacks', 'Node-RED,edgetwin').split(',');
  ensureNodeRed();
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-nodered-'));
  const results: RunResult[] = [];
  const load0 = loadavg();
  try {
    for (const job of jobs) {
      const slave = await startSlave(job);
      try {
        for (let round = 0; round < rounds; round++) {
          // interleaved, and the order alternates so neither stack always runs first
          const order: RunResult['stack'][] = round % 2 === 0 ? ['Node-RED', 'edgetwin'] : ['edgetwin', 'Node-RED'];
          for (const stack of order.filter((x) => stacks.includes(x))) {
            const r = await run(stack, job, slave, seconds, dir);
            results.push(r);
            console.log(
              `${job.name} ${stack}: ${f0(r.readings / r.seconds)} readings/s, ${f0(perCpu(r))} per CPU-second (${r.procs.map((p) => `${p.name} ${p.cpuS.toFixed(2)} s`).join(', ')}, mosquitto ${r.mosquitto.cpuS.toFixed(2)} s)`,
            );
          }
        }
      } finally {
        await stopProc(slave.proc);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const load1 = loadavg();
  const t = table(results);
  const s = summary(results);
  console.log(`\n${t}\n\n${s.join('\n')}`);
  if (process.argv.includes('--write-doc')) await writeDoc(t, s, rounds, seconds, jobs, load0, load1);
  process.exit(0);
}

async function writeDoc(
  t: string,
  s: string[],
  rounds: number,
  seconds: number,
  jobs: Job[],
  load0: number[],
  load1: number[],
): Promise<void> {
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
  const section = [
    '## Node-RED comparison',
    '',
    `Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
    `Load average (1 / 5 / 15 min) at the start: ${la(load0)}; at the end: ${la(load1)}.`,
    `Command: \`node packages/cli/bin/run-ts.js bench/nodered.ts --rounds ${rounds} --seconds ${seconds} --jobs ${jobs.map((j) => j.name).join(',')} --write-doc\`.`,
    '',
    `Issue 15 target 1: the whole stack >= 3x Node-RED's readings per CPU-second. Node-RED ${NODE_RED} with`,
    `node-red-contrib-modbus ${CONTRIB_MODBUS} (installed by the bench into the peer cache, not the project) runs the flow`,
    'users build: one `modbus-read` node per block of holding registers, wired to `mqtt out` (QoS 0), so each read is',
    'one message with the values array. edgetwin runs as a user runs it without a cloud, on the same Mosquitto as',
    'its edge broker: `edgetwin mapper modbus` (its report batches to the twin, QoS 0 for report mode `cycle`) and',
    '`edgetwin edge-local` (the DeviceTwin on SQLite, keeping every value: KubeEdge semantics; it publishes a',
    '`twin/update/document` for each change and answers nothing else). Both from the sources through tsx (no bundle).',
    'The same Modbus TCP slave (our simulator, its own process, one unit ID per block, values moving once a second),',
    "which takes concurrent transactions: Node-RED's client has `parallelUnitIdsAllowed`, the mapper's devices",
    "`maxInFlight: 4` (docs/modbus.md), so both may have every block's request outstanding at once.",
    'Jobs: **heavy** = 4 x 125 holding registers every 10 ms, **light** = 100 holding registers every 100 ms; every',
    'reading published (report mode `cycle` on every property). Runs interleave and alternate their order; each',
    `run starts a fresh Mosquitto and stack, waits for readings of every block, warms up 5 s, then measures ${seconds} s.`,
    'Readings are counted by a subscriber on Mosquitto (the bench process, not counted). CPU is user + system time of',
    'each process and its children over the window (/proc/PID/stat), RSS at its end (/proc/PID/status).',
    '',
    t,
    '',
    ...s,
    '',
  ].join('\n');
  await replaceSection(
    fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url)),
    '## Node-RED comparison',
    section,
  );
  console.log('wrote the Node-RED comparison section of docs/benchmarks.md');
}

if (process.argv.includes('--serve')) {
  const job = JOBS[stringOption('serve', 'heavy')];
  if (!job) throw new Error('--serve heavy|light');
  await serve(job);
} else await main();
