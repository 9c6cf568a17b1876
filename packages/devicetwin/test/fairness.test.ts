// Issue 9 §3: one device's flood costs that device, not its neighbours. Measured before: a flood on one
// device slowed another device's requests 15x (49 ms -> 736 ms p50), and 100 updates of 5,000 new
// properties each made valid requests time out for 3 minutes. Now requests wait per device and are served
// round-robin: a neighbour's twin/get must answer within 1 s throughout the flood.

import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { type Device, deviceTopic } from '@edgetwin/api';
import { waitUntil } from '@edgetwin/eventbus/testing';
import { afterEach, expect, it } from 'vitest';
import { device, model } from './cloud-link-support.js';
import { type Harness, startHarness } from './support/harness.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const FLOODED = 'default/flooded';
const NEIGHBOUR = 'default/neighbour';
const SMALL = 20_000;
const BIG = 100;

let h: Harness;
afterEach(async () => {
  await h?.close();
});

function onThisNode(d: Device): Device {
  return { ...d, spec: { ...d.spec, nodeName: '' } };
}

/** A flooding client in its own process; resolves once the broker has read all it sent. */
function flood(url: string): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      'packages/cli/bin/run-ts.js',
      'packages/devicetwin/test/support/flood-child.ts',
      url,
      FLOODED,
      String(SMALL),
      String(BIG),
      '5000',
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((res, rej) => {
    child.once('exit', (code) => (code === 0 ? res() : rej(new Error(`flood child exited with ${code}`))));
  });
}

it("a neighbour's twin/get answers within 1 s throughout a flood on another device", async () => {
  h = await startHarness();
  const loaded = await h.twin.loadManifests([
    model('thermo'),
    onThisNode(device('flooded')),
    onThisNode(device('neighbour')),
  ]);
  expect(loaded.errors).toEqual([]);
  const ask = (n: number) =>
    h.request(
      deviceTopic(NEIGHBOUR, 'twin/get'),
      { event_id: `g${n}` },
      deviceTopic(NEIGHBOUR, 'twin/get/result'),
      (m) => (m.json() as { event_id: string }).event_id === `g${n}`,
    );
  await ask(-1); // subscriptions in place before the flood
  // twin/update requests of the flooded device answered or refused so far
  const floodCounted = async () => {
    let n = 0;
    for (const name of ['edgetwin_twin_messages_handled_total', 'edgetwin_twin_messages_rejected_total'])
      for (const v of (await h.twin.metrics.getSingleMetric(name)!.get()).values)
        if (v.labels.action === 'twin/update') n += v.value;
    return n;
  };
  // This process is the edge here (broker + twin); its peak RSS during the flood is measured against now.
  const baselineRss = process.memoryUsage().rss;
  let floodDone = false;
  const flooded = flood(h.broker.url)
    .then(() =>
      waitUntil(async () => (await floodCounted()) === SMALL + BIG, 'every flood request handled or refused', 120_000),
    )
    .finally(() => (floodDone = true));
  {
    // The neighbour asks again as soon as each answer arrives, until the flood has been sent and handled.
    const latencies: number[] = [];
    for (let n = 0; !floodDone || n < 5; n++) {
      const t0 = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const res = await Promise.race([
        ask(n),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `neighbour's twin/get #${n} got no answer within 1 s during the flood (answers so far: ${latencies.map(Math.round).join(', ')} ms)`,
                ),
              ),
            1000,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      latencies.push(performance.now() - t0);
      expect(res.event_id).toBe(`g${n}`);
    }
    await flooded;
    await h.twin.settled();
    expect(Math.max(...latencies)).toBeLessThan(1000);
    const peakGrowthMb = (process.resourceUsage().maxRSS * 1024 - baselineRss) / 2 ** 20;
    if (process.env.EDGETWIN_FAIRNESS_REPORT)
      process.stderr.write(
        `neighbour twin/get during flood: ${latencies.length} answers, max ${Math.round(Math.max(...latencies))} ms; peak RSS baseline + ${Math.round(peakGrowthMb)} MB\n`,
      );
    expect(peakGrowthMb).toBeLessThan(150);
    // The flooded device holds at most its model property plus 64 more; some of its updates were applied,
    // the 5,000-property ones refused by the limit, and what could not wait refused with 429.
    expect(Object.keys(h.twin.getTwin(FLOODED)!.twins).length).toBeLessThanOrEqual(1 + 64);
    const refusals = await h.twin.metrics.getSingleMetricAsString('edgetwin_twin_limit_refusals_total');
    expect(Number(/limit="extra-properties"} (\d+)/.exec(refusals)?.[1] ?? 0)).toBeGreaterThan(0);
    expect(h.twin.getTwin(FLOODED)!.twins.temp!.actual).toBeDefined();
  }
}, 180_000);
