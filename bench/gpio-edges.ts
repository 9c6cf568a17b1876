// GPIO edge events on a real kernel (issue 18): what the libgpiod backend's polling (node-libgpiod 0.5 has
// no edge-event API, so an input with `edge` is sampled every EDGE_POLL_MS) costs and how late it reports,
// against the sysfs backend in the same run, whose edges are the kernel's own (onoff waits on the value
// file with epoll). Figures per backend: idle CPU of the process with 8 inputs watched, latency from the
// line changing (gpio-sim `pull`) to the driver's callback (p50/p99 of 200 changes), and edges delivered
// of 200 changes made every 20 ms (a fast push button).
//
//   node packages/cli/bin/run-ts.js bench/gpio-edges.ts [--no-write]
//
// Needs a gpio-sim chip: on the host it boots the real-kernel VM (scripts/vm/run.sh), runs itself inside,
// and writes its `## gpio edges` section of docs/benchmarks.md from the VM's figures.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runInVm } from '@edgetwin/simulators/vm';
import type { GpioBackend, GpioLine } from '../packages/mappers/src/drivers/gpio/backend.js';
import { EDGE_POLL_MS, libgpiodBackend } from '../packages/mappers/src/drivers/gpio/libgpiod-backend.js';
import { sysfsBackend } from '../packages/mappers/src/drivers/gpio/sysfs-backend.js';
import { loadAverage, loadLine, replaceSection } from './support.js';

const ROOT = resolve(import.meta.dirname, '..');
const HEADING = '## gpio edges';
const LINES = 8;
const CHANGES = 200;
const sim = (pin: number) => `/sys/bus/gpio/devices/gpiochip0/sim_gpio${pin}/pull`;
const pull = (pin: number, level: 0 | 1) => writeFileSync(sim(pin), level ? 'pull-up' : 'pull-down');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figures {
  backend: string;
  idleCpuPct: number;
  p50: number;
  p99: number;
  delivered: number;
}

async function measure(backend: GpioBackend): Promise<Figures> {
  for (let pin = 0; pin < LINES; pin++) pull(pin, 0);
  const lines: GpioLine[] = [];
  let onEdge: (level: number) => void = () => {};
  let count = 0;
  const stops: Array<() => void> = [];
  for (let pin = 0; pin < LINES; pin++) {
    const line = await backend.requestLine('gpiochip0', { pin, direction: 'in', edge: 'both', consumer: 'bench' });
    lines.push(line);
    stops.push(
      line.watch((level) => {
        if (pin !== 0) return;
        count++;
        onEdge(level);
      }),
    );
  }
  // idle: 8 watched inputs, nothing happening, 5 s
  await sleep(500);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(5000);
  const cpu = process.cpuUsage(c0);
  const idleCpuPct = ((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 100;
  // latency: change, wait for the callback, next change
  const lat: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const level = (i % 2 === 0 ? 1 : 0) as 0 | 1;
    const seen = new Promise<void>((res) => {
      onEdge = (l) => {
        if (l === level) res();
      };
    });
    const s = performance.now();
    pull(0, level);
    await Promise.race([seen, sleep(2000)]);
    lat.push(performance.now() - s);
  }
  lat.sort((a, b) => a - b);
  // rate: CHANGES changes every 20 ms, count what arrives (then 1 s of grace)
  onEdge = () => {};
  pull(0, 0);
  await sleep(200);
  count = 0;
  for (let i = 0; i < CHANGES; i++) {
    pull(0, (i % 2 === 0 ? 1 : 0) as 0 | 1);
    await sleep(20);
  }
  await sleep(1000);
  const delivered = count;
  for (const s of stops) s();
  for (const l of lines) await l.release();
  return {
    backend: backend.name,
    idleCpuPct,
    p50: lat[Math.floor(lat.length / 2)]!,
    p99: lat[Math.floor(lat.length * 0.99)]!,
    delivered,
  };
}

async function inVm(outFile: string): Promise<void> {
  const figures = [await measure(sysfsBackend), await measure(libgpiodBackend)];
  writeFileSync(outFile, JSON.stringify({ figures, cpu: cpus()[0]?.model, load: loadavg()[0] }));
}

async function onHost(): Promise<void> {
  const loadAtStart = loadAverage();
  const out = await mkdtemp(join(tmpdir(), 'edgetwin-bench-gpio-'));
  try {
    const file = join(out, 'figures.json');
    const r = await runInVm(
      [
        'sh',
        '-c',
        `sh scripts/vm/gpio-sim-chip.sh >/dev/null && node packages/cli/bin/run-ts.js bench/gpio-edges.ts --in-vm ${file}`,
      ],
      { outDir: out, timeoutMs: 15 * 60_000 },
    );
    if (r.code !== 0 || !existsSync(file)) throw new Error(`the bench failed in the VM:\n${r.output}\n${r.runner}`);
    const { figures, cpu } = JSON.parse(readFileSync(file, 'utf8')) as { figures: Figures[]; cpu: string };
    const rows = figures.map(
      (f) =>
        `| ${f.backend === 'sysfs' ? 'sysfs (kernel edge events, epoll; baseline)' : `libgpiod (polling every ${EDGE_POLL_MS} ms)`} | ${f.idleCpuPct.toFixed(1)} % | ${f.p50.toFixed(1)} / ${f.p99.toFixed(1)} ms | ${f.delivered} of ${CHANGES} |`,
    );
    const section = `${HEADING}

Issue 18. \`node packages/cli/bin/run-ts.js bench/gpio-edges.ts\`, ${new Date().toISOString().slice(0, 10)}, inside the
real-kernel test VM (QEMU TCG, 1 vCPU "${cpu}", Debian kernel 6.1, gpio-sim) on a host with ${cpus().length} cores
(${cpus()[0]?.model}); on the host: ${loadLine(loadAtStart)} ${LINES} inputs watched
with edge both; TCG makes every figure several times larger than on a board, so compare the rows, not
the absolute values.

| backend | idle CPU, ${LINES} inputs watched | latency line change -> callback, p50 / p99 | edges delivered, one change every 20 ms |
| --- | --- | --- | --- |
${rows.join('\n')}
`;
    if (!process.argv.includes('--no-write')) await replaceSection(join(ROOT, 'docs/benchmarks.md'), HEADING, section);
    console.log(section);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

const i = process.argv.indexOf('--in-vm');
if (i >= 0) await inVm(process.argv[i + 1]!);
else await onHost();
