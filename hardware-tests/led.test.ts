// The LED example end to end on real GPIO (issue 18): the twin, the broker and the GPIO mapper as
// `edgetwin up` composes them, on a Raspberry Pi (an LED on BCM 18) or on a gpio-sim chip in the VM tier,
// through each backend of EDGETWIN_GPIO_TEST_BACKEND (default libgpiod). The cloud's desired ON must reach
// the line; on gpio-sim also a push button on BCM 17 (pulled by the test) must reach the twin.
// Skipped, naming what is missing, elsewhere (hardware-tests/board.ts).

import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeviceId } from '@edgetwin/api';
import { connectBus } from '@edgetwin/eventbus/client';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import { afterEach, describe, expect, it } from 'vitest';
import { type DeviceWatch, type TwinSnapshot, watchDevice } from '../examples/shared/device-watch.js';
import { type EdgeStack, startEdgeStack } from '../examples/shared/testing/edge-stack.js';
import { findGpioBoard, simPull, simValue } from './board.js';

const { board, missing } = findGpioBoard();
if (missing) console.warn(`hardware-tests/led: skipped: ${missing} (a Pi needs an LED on BCM 18)`);

const BACKENDS = (process.env.EDGETWIN_GPIO_TEST_BACKEND ?? 'libgpiod').split(',');
const LED_MANIFESTS = fileURLToPath(new URL('../examples/led-raspberrypi/manifests', import.meta.url));
const LED = 'default/led-light-instance-01';
const BUTTON = 'default/push-button-01';
const BUTTON_PIN = 17;

/** A push button to ground on BCM 17 with a pull-up (docs/gpio.md), next to the example's LED. */
const BUTTON_YAML = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: push-button, namespace: default }
spec:
  protocol: gpio
  properties:
    - name: pressed
      type: BOOLEAN
      accessMode: ReadOnly
      visitors:
        protocolName: gpio
        configData: { pin: ${BUTTON_PIN}, direction: in, activeLow: true, edge: both }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: push-button-01, namespace: default }
spec:
  deviceModelRef: { name: push-button }
  nodeName: edge-node-1
  protocol: { protocolName: gpio, configData: { backend: simulated, chip: gpiochip0 } }
  properties:
    - name: pressed
      collectCycle: 60000 # only edges report in time
      reportCycle: 60000
`;

/** Resolves when the device's twin satisfies cond (checked on every change). */
function twinUntil(watch: DeviceWatch, waiters: Set<() => void>, cond: (t: TwinSnapshot) => boolean, what: string) {
  return new Promise<void>((resolve, reject) => {
    const check = () => {
      if (!cond(watch.snapshot())) return;
      clearTimeout(timer);
      waiters.delete(check);
      resolve();
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`timed out waiting for ${what}; twin: ${JSON.stringify(watch.snapshot())}`));
    }, 30_000);
    waiters.add(check);
    check();
  });
}

describe.skipIf(!board).each(BACKENDS)(
  `LED example on ${board?.name ?? 'a Raspberry Pi or gpio-sim'} (%s)`,
  (backend) => {
    let stack: EdgeStack | undefined;
    let bus: BusClient | undefined;
    let dir: string | undefined;
    const watches: DeviceWatch[] = [];

    afterEach(async () => {
      for (const w of watches.splice(0)) await w.close();
      await bus?.close();
      await stack?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    async function start(withButton: boolean) {
      dir = await mkdtemp(join(tmpdir(), 'edgetwin-hw-led-'));
      for (const f of await readdir(LED_MANIFESTS)) await copyFile(join(LED_MANIFESTS, f), join(dir, f));
      if (withButton) await writeFile(join(dir, 'push-button.yaml'), BUTTON_YAML);
      stack = await startEdgeStack({
        manifestsDir: dir,
        protocol: 'gpio',
        adjust: (d) => {
          const next = structuredClone(d);
          next.spec.protocol!.configData = { ...next.spec.protocol!.configData, backend, chip: board!.chip };
          return next;
        },
      });
      bus = await connectBus({ url: stack.broker.url, clientId: 'hw-led-test' });
      const waiters = new Set<() => void>();
      const watch = async (id: DeviceId) => {
        const w = await watchDevice(bus!, id, {
          onChange: () => {
            for (const f of [...waiters]) f();
          },
        });
        watches.push(w);
        return w;
      };
      return { waiters, watch };
    }

    it('desired ON from the cloud reaches BCM 18 and comes back as reported', async () => {
      const { waiters, watch } = await start(false);
      const led = await watch(LED);
      await twinUntil(led, waiters, (t) => t['power-status']?.actual === 'OFF', 'the LED reported OFF at start');
      stack!.cloudSet(LED, { 'power-status': 'ON' });
      await twinUntil(led, waiters, (t) => t['power-status']?.actual === 'ON', 'the LED reported ON');
      if (board!.kind === 'gpio-sim') expect(simValue(board!, 18), 'gpio-sim line 18').toBe(1);
      stack!.cloudSet(LED, { 'power-status': 'OFF' });
      await twinUntil(led, waiters, (t) => t['power-status']?.actual === 'OFF', 'the LED reported OFF again');
      if (board!.kind === 'gpio-sim') expect(simValue(board!, 18), 'gpio-sim line 18').toBe(0);
    });

    it.skipIf(board?.kind !== 'gpio-sim')(
      'a push button pulled on gpio-sim reaches the twin, press and release',
      async () => {
        simPull(board!, BUTTON_PIN, 1); // released: the pull-up holds the line high
        const { waiters, watch } = await start(true);
        const button = await watch(BUTTON);
        await twinUntil(button, waiters, (t) => t.pressed?.actual === 'false', 'the button reported released');
        for (let i = 0; i < 3; i++) {
          simPull(board!, BUTTON_PIN, 0);
          await twinUntil(button, waiters, (t) => t.pressed?.actual === 'true', `press ${i + 1} in the twin`);
          simPull(board!, BUTTON_PIN, 1);
          await twinUntil(button, waiters, (t) => t.pressed?.actual === 'false', `release ${i + 1} in the twin`);
        }
      },
    );
  },
);
