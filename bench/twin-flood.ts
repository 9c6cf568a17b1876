// One device flooded, its neighbour asked the whole time (issue 9 §3): the neighbour's twin/get latency and
// the edge's peak RSS growth under 100 updates of 5,000 new properties each among 20,000 value updates.
//
//   node packages/cli/bin/run-ts.js bench/twin-flood.ts [--small 20000] [--big 100] [--props 5000]
//
// The edge (embedded broker + DeviceTwin on SQLite) runs in this process; the flooder is a child process
// (packages/devicetwin/test/support/flood-child.ts). Baseline in the same run: the neighbour's latency with
// no flood. Peak RSS is this process's maxRSS against its RSS just before the flood.

import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { type Device, deviceTopic } from '@edgetwin/api';
import { waitUntil } from '@edgetwin/eventbus/testing';
import { device, model } from '../packages/devicetwin/test/cloud-link-support.js';
import { startHarness } from '../packages/devicetwin/test/support/harness.js';

const ROOT = resolve(import.meta.dirname, '..');
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SMALL = arg('small', 20_000);
const BIG = arg('big', 100);
const PROPS = arg('props', 5000);

const onThisNode = (d: Device): Device => ({ ...d, spec: { ...d.spec, nodeName: '' } });
const h = await startHarness();
await h.twin.loadManifests([model('thermo'), onThisNode(device('flooded')), onThisNode(device('neighbour'))]);
const ask = async (n: number) => {
  const t0 = performance.now();
  await h.request(
    deviceTopic('default/neighbour', 'twin/get'),
    { event_id: `g${n}` },
    deviceTopic('default/neighbour', 'twin/get/result'),
    (m) => (m.json() as { event_id: string }).event_id === `g${n}`,
  );
  return performance.now() - t0;
};
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { n: s.length, p50: +q(0.5).toFixed(1), p99: +q(0.99).toFixed(1), max: +s.at(-1)!.toFixed(1) };
};

const idle: number[] = [];
for (let n = 0; n < 300; n++) idle.push(await ask(-1 - n));

// The flood is over when every request was handled or refused. The queue before issue 9 dropped a flooding
// device's excess without an answer (counted in dropped_total): EDGETWIN_BENCH_COUNT_DROPPED=1 for it.
const countDropped = process.env.EDGETWIN_BENCH_COUNT_DROPPED === '1';
const counted = async () => {
  let n = 0;
  if (countDropped)
    for (const v of (await h.twin.metrics.getSingleMetric('edgetwin_twin_messages_dropped_total')!.get()).values)
      n += v.value;
  for (const name of ['edgetwin_twin_messages_handled_total', 'edgetwin_twin_messages_rejected_total'])
    for (const v of (await h.twin.metrics.getSingleMetric(name)!.get()).values)
      if (v.labels.action === 'twin/update') n += v.value;
  return n;
};
const baselineRss = process.memoryUsage().rss;
const t0 = performance.now();
let done = false;
const child = spawn(
  process.execPath,
  [
    'packages/cli/bin/run-ts.js',
    'packages/devicetwin/test/support/flood-child.ts',
    h.broker.url,
    'default/flooded',
    String(SMALL),
    String(BIG),
    String(PROPS),
  ],
  { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
);
const flooded = new Promise<void>((res, rej) =>
  child.once('exit', (c) => (c === 0 ? res() : rej(new Error(`flooder exited ${c}`)))),
)
  .then(() => waitUntil(async () => (await counted()) === SMALL + BIG, 'flood handled', 600_000))
  .finally(() => (done = true));
const during: number[] = [];
for (let n = 0; !done; n++) during.push(await ask(n));
await flooded;
const floodSeconds = (performance.now() - t0) / 1000;
const peakGrowthMb = (process.resourceUsage().maxRSS * 1024 - baselineRss) / 2 ** 20;
const twins = Object.keys(h.twin.getTwin('default/flooded')!.twins).length;
await h.close();
console.log(
  JSON.stringify({
    neighbourIdleMs: stats(idle),
    neighbourDuringFloodMs: stats(during),
    floodSeconds: +floodSeconds.toFixed(1),
    baselineRssMb: Math.round(baselineRss / 2 ** 20),
    peakRssGrowthMb: Math.round(peakGrowthMb),
    floodedDeviceTwins: twins,
  }),
);
process.exit(0);
