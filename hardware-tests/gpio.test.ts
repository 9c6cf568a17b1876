// Real GPIO through Linux (issues 7 and 18): the mapper's GPIO driver on a Raspberry Pi, or on a gpio-sim
// chip in the real-kernel VM tier (hardware-tests/board.ts says which). On a Pi it needs a jumper wire
// from BCM 20 (output) to BCM 21 (input), or the pins in EDGETWIN_GPIO_TEST_OUT / EDGETWIN_GPIO_TEST_IN;
// on gpio-sim the test plays the wire (value of the output -> pull of the input). Backends from
// EDGETWIN_GPIO_TEST_BACKEND, comma-separated (default libgpiod). Skipped, naming what is missing, elsewhere.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type ResolvedDevice, resolveDevice } from '@edgetwin/api';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { gpioDriverFactory } from '../packages/mappers/src/drivers/gpio/index.js';
import { findGpioBoard, type GpioBoard, simPull, simValue } from './board.js';

const { board, missing } = findGpioBoard();
if (missing) console.warn(`hardware-tests/gpio: skipped: ${missing}`);

const OUT = Number(process.env.EDGETWIN_GPIO_TEST_OUT ?? 20);
const IN = Number(process.env.EDGETWIN_GPIO_TEST_IN ?? 21);
const BACKENDS = (process.env.EDGETWIN_GPIO_TEST_BACKEND ?? 'libgpiod').split(',');

function loopbackDevice(backend: string, chip: string): ResolvedDevice {
  return resolveDevice(
    {
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'Device',
      metadata: { name: 'gpio-loopback', namespace: 'default' },
      spec: {
        deviceModelRef: { name: 'gpio-loopback' },
        protocol: { protocolName: 'gpio', configData: { backend, chip } },
        properties: [{ name: 'out' }, { name: 'in' }],
      },
    },
    {
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'DeviceModel',
      metadata: { name: 'gpio-loopback', namespace: 'default' },
      spec: {
        protocol: 'gpio',
        properties: [
          {
            name: 'out',
            type: 'BOOLEAN',
            accessMode: 'ReadWrite',
            visitors: { configData: { pin: OUT, direction: 'out' } },
          },
          {
            name: 'in',
            type: 'BOOLEAN',
            accessMode: 'ReadOnly',
            visitors: { configData: { pin: IN, direction: 'in', edge: 'both' } },
          },
        ],
      },
    },
  );
}

/** The edges the input reports, and a wait for the n-th one (by count: nothing is missed or mixed up). */
function edgeLog() {
  const edges: boolean[] = [];
  const waiters: Array<() => void> = [];
  return {
    edges,
    push(v: boolean) {
      edges.push(v);
      for (const w of waiters.splice(0)) w();
    },
    until(count: number, what: string, ms = 5000): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (edges.length >= count) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        const timer = setTimeout(
          () => reject(new Error(`${what}: ${edges.length} of ${count} edges after ${ms} ms (${edges.join(',')})`)),
          ms,
        );
        check();
      });
    },
  };
}

/** A full garbage collection: the line must outlive every object the driver no longer names. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** What the jumper wire does on a Pi; on gpio-sim, check the output line and pull the input to match. */
function wire(b: GpioBoard, level: boolean): void {
  if (b.kind !== 'gpio-sim') return;
  expect(simValue(b, OUT), `gpio-sim line ${OUT} after writing ${level}`).toBe(level ? 1 : 0);
  simPull(b, IN, level ? 1 : 0);
}

describe.skipIf(!board).each(BACKENDS)(`GPIO on ${board?.name ?? 'a Raspberry Pi or gpio-sim'} (%s)`, (backend) => {
  it('drives an output and reads it back on the wired input, after its edge event', async () => {
    const b = board!;
    const device = loopbackDevice(backend, b.chip);
    const driver = gpioDriverFactory.create(device, {
      logger: pino({ level: 'silent' }),
      signal: new AbortController().signal,
    });
    const [out, input] = device.properties as [ResolvedDevice['properties'][0], ResolvedDevice['properties'][0]];
    if (b.kind === 'gpio-sim') simPull(b, IN, 0); // the wire starts low, as the output does
    await driver.connect();
    try {
      const log = edgeLog();
      const stop = await driver.subscribe!([input], (_p, v) => log.push(v as boolean));
      collectGarbage(); // node-libgpiod closed the lines of a collected Chip (the mapper kept only the Line)
      const levels = [true, false, true, false];
      for (const [i, level] of levels.entries()) {
        await driver.write(out, level);
        wire(b, level);
        await log.until(i + 1, `no edge on pin ${IN} after writing ${level} to pin ${OUT}: is the jumper in place?`);
        // read only after the edge arrived: reading right after the write races the wire and the kernel
        expect((await driver.readBatch([input])).get('in')).toMatchObject({ ok: true, value: level });
      }
      expect(log.edges).toEqual(levels);
      await stop();
    } finally {
      await driver.disconnect();
    }
  });

  it.skipIf(board?.kind !== 'gpio-sim')(
    'misses no edge of a push button pressed ten times a second (gpio-sim pulls the input)',
    async () => {
      const b = board!;
      const device = loopbackDevice(backend, b.chip);
      const driver = gpioDriverFactory.create(device, {
        logger: pino({ level: 'silent' }),
        signal: new AbortController().signal,
      });
      const input = device.properties[1]!;
      simPull(b, IN, 0);
      await driver.connect();
      try {
        const log = edgeLog();
        const stop = await driver.subscribe!([input], (_p, v) => log.push(v as boolean));
        // 10 presses: down 50 ms, up 50 ms (a quick finger); the stimulus is timed, the check waits on edges
        const presses = 10;
        for (let i = 0; i < presses * 2; i++) {
          simPull(b, IN, i % 2 === 0 ? 1 : 0);
          await new Promise((r) => setTimeout(r, 50));
        }
        await log.until(presses * 2, 'edges of 10 presses');
        expect(log.edges).toEqual(Array.from({ length: presses * 2 }, (_, i) => i % 2 === 0));
        await stop();
      } finally {
        await driver.disconnect();
      }
    },
  );
});
