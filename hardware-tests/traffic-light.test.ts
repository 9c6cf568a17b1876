// The traffic-light example on a real Raspberry Pi, or on a gpio-sim chip in the VM tier (issue 18): LEDs on BCM 26 (red), 19 (yellow), 13 (green) and the
// mode indicator on BCM 6, as wired in examples/traffic-light/README.md. The twin, the GPIO mapper with the
// libgpiod backend and the edge app run as in `edgetwin up`; the test checks that the values the mapper
// reads back from the pins cycle, and that mode=manual from the cloud stops the cycle.
// Skipped, saying why, anywhere else.

import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connectBus } from '@edgetwin/eventbus/client';
import { watchDevice } from '../examples/shared/device-watch.js';
import { type EdgeStack, NODE, startEdgeStack } from '../examples/shared/testing/edge-stack.js';
import { captureLogs } from '../examples/shared/testing/log-capture.js';
import { startApp } from '../examples/traffic-light/app.js';
import { COLOURS } from '../examples/traffic-light/cycle.js';
import { findGpioBoard, simValue } from './board.js';

const { board, missing } = findGpioBoard();
if (missing)
  console.warn(`hardware-tests/traffic-light: skipped: ${missing} (a Pi needs the LEDs wired as in the example)`);

const MANIFESTS = fileURLToPath(new URL('../examples/traffic-light/manifests', import.meta.url));
const ID = 'default/traffic-light-01';

describe.skipIf(!board)(`traffic light on ${board?.name ?? 'a Raspberry Pi or gpio-sim'} (libgpiod)`, () => {
  let stack: EdgeStack | undefined;
  let app: { stop(): Promise<void> } | undefined;

  afterEach(async () => {
    await app?.stop();
    await stack?.stop();
  });

  it('the pins read back the cycle, and mode=manual stops it', async () => {
    stack = await startEdgeStack({
      manifestsDir: MANIFESTS,
      protocol: 'gpio',
      adjust: (d) => {
        const next = structuredClone(d);
        next.spec.protocol!.configData = { ...next.spec.protocol!.configData, backend: 'libgpiod', chip: board!.chip };
        return next;
      },
    });
    // what the mapper reads back from the pins, as the twin's documents tell it
    const bus = await connectBus({ url: stack.broker.url, clientId: 'hw-test' });
    const shown: string[] = [];
    const waiters = new Set<() => void>();
    const watch = await watchDevice(bus, ID, {
      onChange: (twin) => {
        const on = COLOURS.filter((c) => twin[c]?.actual === 'ON');
        if (on.length === 1 && shown.at(-1) !== on[0]) shown.push(on[0]!);
        for (const w of [...waiters]) w();
      },
    });
    const until = (cond: () => boolean, what: string, ms = 15_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!cond()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}; pins showed ${shown.join(', ')}`));
        }, ms);
        waiters.add(check);
        check();
      });
    try {
      const logs = captureLogs();
      app = await startApp({
        brokerUrl: stack.broker.url,
        node: NODE,
        logger: logs.logger,
        durations: { red: 1500, green: 1500, yellow: 1500 },
      });
      await until(() => shown.length >= 4, 'four phases read back from the pins');
      const start = shown.indexOf('red');
      expect(shown.slice(start, start + 3)).toEqual(['red', 'green', 'yellow'].slice(0, shown.length - start));

      stack.cloudSet(ID, { mode: 'manual', green: 'ON' });
      await logs.waitFor('manual mode');
      await until(() => watch.snapshot().mode?.actual === 'manual', 'the mode indicator reported on');
      await until(
        () => COLOURS.every((c) => watch.snapshot()[c]?.actual === (c === 'green' ? 'ON' : 'OFF')),
        'only green lit',
      );
      // on gpio-sim, the lines themselves (what an LED would see): BCM 26 red, 19 yellow, 13 green
      if (board!.kind === 'gpio-sim') expect([26, 19, 13].map((pin) => simValue(board!, pin))).toEqual([0, 0, 1]);
    } finally {
      await watch.close();
      await bus.close();
    }
  }, 120_000); // a VM without KVM runs Node 5-10x slower
});
