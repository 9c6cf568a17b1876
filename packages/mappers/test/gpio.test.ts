import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatConfigIssue } from '@edgetwin/api';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DriverError } from '../src/framework/driver.js';
import { gpioDriverFactory, LIBGPIOD_MISSING, simulatedChip, sysfsPinOffset } from '../src/drivers/gpio/index.js';
import { gpioLedDevice, uniqueName } from './fixtures.js';
import { device, prop } from './runtime-helpers.js';

const ctx = () => ({ logger: pino({ level: 'silent' }), signal: new AbortController().signal });

describe('sysfs pin offset (Raspberry Pi OS kernel 6.6 numbering)', () => {
  let root: string | undefined;
  afterEach(async () => {
    if (root) await rm(root, { recursive: true, force: true });
    root = undefined;
  });
  async function fakeSysfs(chips: Array<{ base: number; label: string; ngpio?: number }>): Promise<string> {
    root = await mkdtemp(join(tmpdir(), 'edgetwin-sysfs-'));
    for (const c of chips) {
      const dir = join(root, `gpiochip${c.base}`);
      await mkdir(dir);
      await writeFile(join(dir, 'base'), `${c.base}\n`);
      await writeFile(join(dir, 'label'), `${c.label}\n`);
      await writeFile(join(dir, 'ngpio'), `${c.ngpio ?? 58}\n`);
    }
    return root;
  }

  it('is 512 on a Pi 4 and 571 on a Pi 5, found by the controller label', async () => {
    expect(
      await sysfsPinOffset(
        'gpiochip0',
        await fakeSysfs([
          { base: 512, label: 'pinctrl-bcm2711' },
          { base: 570, label: 'raspberrypi-exp-gpio', ngpio: 8 },
        ]),
      ),
    ).toBe(512);
    await rm(root!, { recursive: true });
    expect(
      await sysfsPinOffset(
        'gpiochip0',
        await fakeSysfs([
          { base: 571, label: 'pinctrl-rp1', ngpio: 54 },
          { base: 512, label: 'gpio-brcmstb@107d508500' },
        ]),
      ),
    ).toBe(571);
  });

  it('is 0 on older kernels and where sysfs has no chips; a label picks its chip', async () => {
    expect(await sysfsPinOffset('gpiochip0', await fakeSysfs([{ base: 0, label: 'pinctrl-bcm2835' }]))).toBe(0);
    expect(await sysfsPinOffset('gpiochip0', join(root!, 'missing'))).toBe(0);
    await rm(root!, { recursive: true });
    expect(
      await sysfsPinOffset(
        'my-expander',
        await fakeSysfs([
          { base: 496, label: 'my-expander', ngpio: 16 },
          { base: 512, label: 'pinctrl-bcm2711' },
        ]),
      ),
    ).toBe(496);
  });
});

describe('GPIO configuration errors', () => {
  it('names the property and key of each bad visitor value', () => {
    const d = device(
      'gpio',
      [
        prop('a', { visitor: { pin: -1 } }),
        prop('b', { visitor: { pin: 4, direction: 'sideways' } }),
        prop('c', { visitor: { pin: 4, edge: 'rising' } }),
        prop('d', { accessMode: 'ReadOnly', visitor: { pin: 6, direction: 'out' } }),
        prop('f', { visitor: { pin: 7 } }),
        prop('g', { visitor: { pin: 7 } }),
      ],
      { protocolConfig: { backend: 'punchcard' } },
    );
    expect(gpioDriverFactory.validate(d).map(formatConfigIssue)).toEqual([
      'protocol backend "punchcard" is not one of simulated, libgpiod, sysfs',
      'property a: pin must be a non-negative integer (got -1)',
      'property b: direction "sideways" is not one of in, out',
      'property c: edge events need direction "in"',
      'property d: direction out cannot be ReadOnly (use direction "in" or accessMode ReadWrite)',
      'property g: pin 7 is already used by property f',
    ]);
  });

  it('reports a pin the chip does not have, naming pin and chip', async () => {
    const chip = simulatedChip(uniqueName('gpiochip'));
    const d = device('gpio', [prop('led', { visitor: { pin: 99 } })], {
      protocolConfig: { backend: 'simulated', chip: chip.name },
    });
    const err = await gpioDriverFactory
      .create(d, ctx())
      .connect()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as Error).message).toBe(
      `device ${d.id} property led: GPIO pin 99 does not exist on ${chip.name}: it has lines 0 to 53`,
    );
  });

  it('reports a pin held by another device as busy', async () => {
    const chip = simulatedChip(uniqueName('gpiochip'));
    const a = gpioDriverFactory.create(gpioLedDevice(chip.name), ctx());
    const b = gpioDriverFactory.create(gpioLedDevice(chip.name), ctx());
    await a.connect();
    const err = await b.connect().catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/GPIO pin 18 on gpiochip-\S+ is busy: held by edgetwin:default\/led-/);
    await a.disconnect();
    await b.connect(); // released lines can be taken
    await b.disconnect();
  });

  it('says how to install libgpiod when node-libgpiod is missing, or which chip is missing when it is installed', async () => {
    const d = device('gpio', [prop('led', { visitor: { pin: 18 } })], {
      protocolConfig: { backend: 'libgpiod', chip: 'gpiochip99' },
    });
    const err = await gpioDriverFactory
      .create(d, ctx())
      .connect()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    // the test set-up builds node-libgpiod (scripts/test-peers/50-vm.sh); a bare `npm ci` without
    // libgpiod-dev does not
    const installed = await import('node-libgpiod' as string).then(
      () => true,
      () => false,
    );
    expect((err as Error).message).toContain(
      installed ? '/dev/gpiochip99 does not exist: this machine has no such GPIO chip' : LIBGPIOD_MISSING,
    );
    expect((err as Error).message).toContain(`device ${d.id} property led`);
  });

  it('EDGETWIN_GPIO_BACKEND=simulated runs a Raspberry Pi manifest without hardware', async () => {
    const d = device('gpio', [prop('led', { visitor: { pin: 18 } })], {
      protocolConfig: { backend: 'libgpiod', chip: uniqueName('gpiochip') },
    });
    process.env.EDGETWIN_GPIO_BACKEND = 'simulated';
    try {
      const drv = gpioDriverFactory.create(d, ctx());
      await drv.connect();
      await drv.write(d.properties[0]!, true);
      expect(simulatedChip(String(d.protocolConfig.chip)).level(18)).toBe(1);
      await drv.disconnect();
    } finally {
      delete process.env.EDGETWIN_GPIO_BACKEND;
    }
  });

  it('reports a rising edge of the logical level on an active-low button (a press pulls the line low)', async () => {
    const chip = simulatedChip(uniqueName('gpiochip'));
    const visitor = { pin: 9, direction: 'in', activeLow: true, edge: 'rising' };
    const d = device('gpio', [prop('button', { type: 'BOOLEAN', accessMode: 'ReadOnly', visitor })], {
      protocolConfig: { backend: 'simulated', chip: chip.name },
    });
    chip.drive(9, 1); // released
    const drv = gpioDriverFactory.create(d, ctx());
    await drv.connect();
    const seen: boolean[] = [];
    const stop = await drv.subscribe!(d.properties, (_p, v) => seen.push(v as boolean));
    chip.drive(9, 0); // pressed: logical rising
    expect(seen).toEqual([true]);
    chip.drive(9, 1); // released: logical falling, not an edge this property asked for
    expect(seen).toEqual([true]);
    await stop();
    await drv.disconnect();
  });

  it('debounces a bouncing button to the level it settles at', async () => {
    const chip = simulatedChip(uniqueName('gpiochip'));
    const d = device(
      'gpio',
      [
        prop('button', {
          type: 'BOOLEAN',
          accessMode: 'ReadOnly',
          visitor: { pin: 3, direction: 'in', edge: 'both', debounceMs: 20 },
        }),
      ],
      {
        protocolConfig: { backend: 'simulated', chip: chip.name },
      },
    );
    const drv = gpioDriverFactory.create(d, ctx());
    await drv.connect();
    const seen: boolean[] = [];
    let settled: () => void = () => {};
    const done = new Promise<void>((r) => {
      settled = r;
    });
    const stop = await drv.subscribe!(d.properties, (_p, v) => {
      seen.push(v as boolean);
      settled();
    });
    for (const l of [1, 0, 1, 0, 1] as const) chip.drive(3, l);
    await done;
    expect(seen).toEqual([true]);
    await stop();
    await drv.disconnect();
  });
});
