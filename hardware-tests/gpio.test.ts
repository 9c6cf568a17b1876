// Real GPIO on a Raspberry Pi. Needs a jumper wire from BCM 20 (output) to BCM 21 (input), or the pins
// in EDGETWIN_GPIO_TEST_OUT / EDGETWIN_GPIO_TEST_IN; backend from EDGETWIN_GPIO_TEST_BACKEND (libgpiod).
// Skipped, saying why, anywhere else.

import { existsSync, readFileSync } from 'node:fs';
import { type ResolvedDevice, resolveDevice } from '@edgetwin/api';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { gpioDriverFactory } from '../packages/mappers/src/drivers/gpio/index.js';

function piModel(): string | undefined {
  try {
    const model = readFileSync('/proc/device-tree/model', 'utf8').replace(/\0/g, '');
    return model.includes('Raspberry Pi') ? model : undefined;
  } catch {
    return undefined;
  }
}

const model = piModel();
const hasChip = existsSync('/dev/gpiochip0');
const skipReason = !model
  ? '/proc/device-tree/model does not name a Raspberry Pi'
  : !hasChip
    ? '/dev/gpiochip0 does not exist'
    : undefined;
if (skipReason)
  console.warn(
    `hardware-tests/gpio: skipped: ${skipReason} (these tests need a Raspberry Pi with a jumper BCM 20 -> 21)`,
  );

const OUT = Number(process.env.EDGETWIN_GPIO_TEST_OUT ?? 20);
const IN = Number(process.env.EDGETWIN_GPIO_TEST_IN ?? 21);
const BACKEND = process.env.EDGETWIN_GPIO_TEST_BACKEND ?? 'libgpiod';

function loopbackDevice(): ResolvedDevice {
  return resolveDevice(
    {
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'Device',
      metadata: { name: 'gpio-loopback', namespace: 'default' },
      spec: {
        deviceModelRef: { name: 'gpio-loopback' },
        protocol: { protocolName: 'gpio', configData: { backend: BACKEND, chip: 'gpiochip0' } },
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

describe.skipIf(skipReason !== undefined)(`GPIO on ${model ?? 'a Raspberry Pi'} (${BACKEND})`, () => {
  it('drives an output and reads it back on the wired input, with edge events', async () => {
    const device = loopbackDevice();
    const driver = gpioDriverFactory.create(device, {
      logger: pino({ level: 'silent' }),
      signal: new AbortController().signal,
    });
    const [out, input] = device.properties as [ResolvedDevice['properties'][0], ResolvedDevice['properties'][0]];
    await driver.connect();
    try {
      const edges: boolean[] = [];
      let onEdge: () => void = () => {};
      const stop = await driver.subscribe!([input], (_p, v) => {
        edges.push(v as boolean);
        onEdge();
      });
      for (const level of [true, false, true, false]) {
        const edge = new Promise<void>((resolve, reject) => {
          const t = setTimeout(
            () =>
              reject(new Error(`no edge on BCM ${IN} after writing ${level} to BCM ${OUT}: is the jumper in place?`)),
            2000,
          );
          onEdge = () => {
            clearTimeout(t);
            resolve();
          };
        });
        await driver.write(out, level);
        const r = (await driver.readBatch([input])).get('in');
        expect(r).toMatchObject({ ok: true, value: level });
        await edge;
      }
      expect(edges).toEqual([true, false, true, false]);
      await stop();
    } finally {
      await driver.disconnect();
    }
  });
});
