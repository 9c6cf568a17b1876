// Real BLE on a Raspberry Pi (issue 12): the example's sensor flow against a real TI CC2650 SensorTag
// (or any sensor with its IR temperature service) on the built-in controller, over raw HCI and over BlueZ
// D-Bus (bluetoothd keeping the controller); in the real-kernel VM tier (issue 18) the emulated SensorTag,
// lamp and beacon on btvirt controllers (scripts/vm/hardware-tier.sh), with bluetoothd on a controller of
// its own. Needs the sensor's address in EDGETWIN_HW_BLE_SENSOR, the raw adapter in EDGETWIN_HW_BLE_ADAPTER
// (default hci0) and CAP_NET_RAW for node (docs/ble.md, "Raspberry Pi"); the D-Bus flow needs BlueZ's
// adapter in EDGETWIN_HW_BLE_DBUS (e.g. hci0) and bluetoothd running (in the VM: scripts/vm/bluez.sh). The
// lamp, beacon and device-gone tests need the emulated peripherals' control line (EDGETWIN_HW_BLE_CONTROL,
// a FIFO, and EDGETWIN_HW_BLE_EVENTS, their output): the VM only. Skipped, saying why, anywhere else.

import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import type { ResolvedDevice } from '@edgetwin/api';
import { describedDevice, sensorTagProperties } from '@edgetwin/simulators';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceDriver, RawValue } from '../packages/mappers/src/framework/driver.js';
import { bluetoothDriverFactory } from '../packages/mappers/src/drivers/bluetooth/index.js';
import { adapterSpec, readGattTable, scanBle } from '../packages/mappers/src/drivers/bluetooth/probe.js';
import { runDriverConformance } from '../packages/mappers/src/conformance/index.js';

const SENSOR = process.env.EDGETWIN_HW_BLE_SENSOR;
const ADAPTER = process.env.EDGETWIN_HW_BLE_ADAPTER ?? 'hci0';
const DBUS = process.env.EDGETWIN_HW_BLE_DBUS;
const CONTROL = process.env.EDGETWIN_HW_BLE_CONTROL;
const EVENTS = process.env.EDGETWIN_HW_BLE_EVENTS;
const inVm = process.env.EDGETWIN_VM === '1';
const skipReason = !SENSOR
  ? 'EDGETWIN_HW_BLE_SENSOR does not name a SensorTag address (AA:BB:CC:DD:EE:FF)'
  : ADAPTER.startsWith('hci') && !existsSync(`/sys/class/bluetooth/${ADAPTER}`)
    ? `/sys/class/bluetooth/${ADAPTER} does not exist (no Bluetooth controller)`
    : undefined;
if (skipReason)
  console.warn(
    `hardware-tests/ble: skipped: ${skipReason} (these tests need a real BLE sensor near a Bluetooth adapter)`,
  );
const dbusSkip = skipReason ?? (DBUS ? undefined : 'EDGETWIN_HW_BLE_DBUS does not name a BlueZ adapter (e.g. hci0)');
const controlSkip = dbusSkip ?? (CONTROL && EVENTS ? undefined : 'no emulated lamp and beacon (the VM tier only)');
// In the VM, after the fixes of issue 12, the D-Bus flows still failed in some runs: noble's BlueZ binding did
// not report the adapter within 60 s for two tests in a row ("powered off in BlueZ"), and once a beacon's
// pushed change was missed; not understood yet (issue 12 stays open). They run on a Pi always, and in the VM
// when asked for.
const VM_DBUS_SKIP =
  inVm && process.env.EDGETWIN_VM_BLE_DBUS !== '1'
    ? 'BlueZ D-Bus flows on btvirt fail in some VM runs (issue 12); EDGETWIN_VM_BLE_DBUS=1 runs them'
    : undefined;
if (!skipReason && dbusSkip) console.warn(`hardware-tests/ble, over BlueZ D-Bus: skipped: ${dbusSkip}`);

const LAMP = (x: string) => `ed9e${x}-6564-6765-7477-696e626c6500`;
const drivers: DeviceDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.disconnect().catch(() => undefined);
  await bluetoothDriverFactory.close?.();
});

function driverFor(device: ResolvedDevice): DeviceDriver {
  expect(bluetoothDriverFactory.validate(device)).toEqual([]);
  const d = bluetoothDriverFactory.create(device, {
    logger: pino({ level: 'warn' }),
    signal: new AbortController().signal,
  });
  drivers.push(d);
  return d;
}

async function read(d: DeviceDriver, device: ResolvedDevice, prop: string): Promise<RawValue> {
  const r = (await d.readBatch([device.properties.find((p) => p.name === prop)!])).get(prop)!;
  if (!r.ok) throw r.error;
  return r.value;
}

/** The example's flow: enable the IR temperature sensor through dataWrite, read degrees Celsius on a cycle. */
async function sensorFlow(adapter: string): Promise<{ driver: DeviceDriver; device: ResolvedDevice }> {
  const device = describedDevice(
    'bluetooth',
    'sensortag',
    // a VM without KVM on a loaded host is slow (a first connect through bluetoothd took over 20 s at load
    // 30), and over D-Bus bluetoothd's own GATT requests after a connect go first
    { macAddress: SENSOR, adapter, connectTimeoutMs: 60000, operationTimeoutMs: 15000 },
    sensorTagProperties(),
  );
  const driver = driverFor(device);
  await driver.connect();
  await driver.write(device.properties[1]!, 'ON');
  // the sensor needs one measurement period (about 300 ms) after being enabled
  await expect
    .poll(async () => Number(await read(driver, device, 'temperature').catch(() => Number.NaN)), {
      timeout: 5000,
      interval: 300,
    })
    .toSatisfy((t: number) => t > -20 && t < 60 && t !== 0);
  expect(await driver.health()).toBe('online');
  return { driver, device };
}

describe.skipIf(skipReason !== undefined)(`BLE SensorTag ${SENSOR} on ${ADAPTER}`, () => {
  it('enables the IR temperature sensor through dataWrite and reads a plausible temperature in degrees Celsius', async () => {
    await sensorFlow(ADAPTER);
  }, 180_000); // a VM without KVM runs Node 5-10x slower
});

/** An emulated peripheral's address, from the ready line the peripherals printed first. */
function emulated(name: 'lamp' | 'beacon'): string {
  const ready = JSON.parse(readFileSync(EVENTS!, 'utf8').split('\n')[0]!) as {
    devices: Record<string, { address: string }>;
  };
  return ready.devices[name]!.address;
}

/** A command to the emulated peripherals (ble_peripherals.py's JSON lines) and its answer. */
let nextId = 1;
async function control(cmd: Record<string, unknown>): Promise<unknown> {
  const id = nextId++;
  appendFileSync(CONTROL!, `${JSON.stringify({ id, ...cmd })}\n`);
  let answer: { ok: boolean; value?: unknown; error?: string } | undefined;
  await expect
    .poll(
      () => {
        for (const line of readFileSync(EVENTS!, 'utf8').split('\n'))
          if (line.startsWith(`{"id": ${id},`)) answer = JSON.parse(line);
        return answer !== undefined;
      },
      { timeout: 20_000, interval: 100 },
    )
    .toBe(true);
  if (!answer!.ok) throw new Error(`emulated peripherals: ${answer!.error}`);
  return answer!.value;
}

// EDGETWIN_HW_BLE_DBUS_ROUNDS=N runs the D-Bus flows N times in one process (each round with a fresh
// bluetoothd in the VM): how often they pass, without N boots
const ROUNDS = Math.max(1, Number(process.env.EDGETWIN_HW_BLE_DBUS_ROUNDS ?? 1) || 1);
for (let round = 1; round <= ROUNDS; round++) dbusFlows(ROUNDS > 1 ? ` round ${round}` : '');

function dbusFlows(suffix: string): void {
  describe.skipIf((dbusSkip ?? VM_DBUS_SKIP) !== undefined)(`BLE over BlueZ D-Bus (dbus:${DBUS})${suffix}`, () => {
    const adapter = `dbus:${DBUS}`;
    let daemons: string[] = [];
    beforeAll(() => {
      if (!inVm) return; // on a Pi bluetoothd runs already
      const out = execFileSync('sh', ['scripts/vm/bluez.sh', String(DBUS).replace(/^hci/, '')], { encoding: 'utf8' });
      daemons = /\((\d+) (\d+)\)/.exec(out)?.slice(1) ?? [];
    }, 120_000);
    afterAll(() => {
      for (const pid of daemons) {
        try {
          process.kill(Number(pid));
        } catch (e) {
          // already gone: its log says how it ended (bluetoothd.log in the results share)
          console.warn(`hardware-tests/ble: daemon ${pid}: ${(e as Error).message}`);
        }
      }
    });
    const emulatedDevice = (name: 'lamp' | 'beacon', props: Parameters<typeof describedDevice>[3]) =>
      describedDevice(
        'bluetooth',
        name,
        { macAddress: emulated(name), adapter, connectTimeoutMs: 60000, operationTimeoutMs: 15000 },
        props,
      );

    it('the sensor: dataWrite ON, degrees Celsius on a cycle, and each notification pushed', async () => {
      const { driver, device } = await sensorFlow(adapter);
      const pushed: RawValue[] = [];
      const stop = await driver.subscribe!([device.properties[0]!], (_p, v) => pushed.push(v));
      try {
        if (CONTROL) {
          await control({ cmd: 'set', device: 'sensor', key: 'object', value: 31.5 });
          await expect.poll(() => pushed.at(-1), { timeout: 20_000 }).toBe(31.5);
        } else {
          // a real sensor notifies about once a second once enabled
          await expect.poll(() => pushed.length, { timeout: 20_000 }).toBeGreaterThan(0);
        }
      } finally {
        await stop();
      }
    }, 180_000);

    it.skipIf(controlSkip !== undefined)(
      'the lamp: a write request, a write command (without response), and a change made on the lamp notified',
      async () => {
        const device = emulatedDevice('lamp', [
          { name: 'power', type: 'INT', visitor: { characteristicUUID: LAMP('0002'), dataType: 'uint8' } },
          { name: 'brightness', type: 'INT', visitor: { characteristicUUID: LAMP('0003'), dataType: 'uint8' } },
        ]);
        const driver = driverFor(device);
        await driver.connect();
        await driver.write(device.properties[0]!, 1);
        expect(await control({ cmd: 'get', device: 'lamp', key: 'power' })).toBe(1);
        await driver.write(device.properties[1]!, 77); // the characteristic allows only a write command
        expect(await control({ cmd: 'get', device: 'lamp', key: 'brightness' })).toBe(77);
        expect(await read(driver, device, 'brightness')).toBe(77);
        const pushed: RawValue[] = [];
        const stop = await driver.subscribe!([device.properties[0]!], (_p, v) => pushed.push(v));
        await control({ cmd: 'set', device: 'lamp', key: 'power', value: 0 });
        await expect.poll(() => pushed.at(-1), { timeout: 20_000 }).toBe(0);
        await stop();
      },
      180_000,
    );

    it.skipIf(controlSkip !== undefined)(
      "the beacon's advertisement: manufacturer data and service data decoded, a change pushed",
      async () => {
        const device = emulatedDevice('beacon', [
          {
            name: 'temperature',
            type: 'FLOAT',
            access: 'ReadOnly',
            visitor: { manufacturerData: 0xffff, dataType: 'int16le' },
          },
          {
            name: 'humidity',
            type: 'FLOAT',
            access: 'ReadOnly',
            visitor: { serviceDataUUID: 'fcd2', dataType: 'uint16le', byteOffset: 5 },
          },
        ]);
        const driver = driverFor(device);
        await driver.connect();
        // a value it has not advertised yet (the peripherals outlive a run of these tests)
        const humidity = ((Number(await control({ cmd: 'get', device: 'beacon', key: 'humidity' })) + 7.5) % 60) + 20;
        await control({ cmd: 'set', device: 'beacon', key: 'humidity', value: humidity });
        await expect
          .poll(() => read(driver, device, 'humidity').catch(() => undefined), { timeout: 20_000 })
          .toBe(Math.round(humidity * 100));
        const pushed: RawValue[] = [];
        const stop = await driver.subscribe!(device.properties, (p, v) => pushed.push(`${p}=${v}`));
        await control({ cmd: 'set', device: 'beacon', key: 'temperature', value: 23.25 });
        await expect.poll(() => pushed, { timeout: 20_000 }).toContain('temperature=2325');
        await stop();
      },
      180_000,
    );

    it.skipIf(controlSkip !== undefined)(
      'the lamp goes out of range: offline, reads "not connected"; back in range, connect() links it again',
      async () => {
        const device = emulatedDevice('lamp', [
          { name: 'power', type: 'INT', visitor: { characteristicUUID: LAMP('0002'), dataType: 'uint8' } },
        ]);
        const driver = driverFor(device);
        await driver.connect();
        await control({ cmd: 'set', device: 'lamp', key: 'power', value: 1 });
        expect(await read(driver, device, 'power')).toBe(1);
        await control({ cmd: 'out-of-range', device: 'lamp' });
        try {
          await expect.poll(() => driver.health(), { timeout: 20_000 }).toBe('offline');
          await expect(read(driver, device, 'power')).rejects.toThrow(/not connected/);
        } finally {
          await control({ cmd: 'in-range', device: 'lamp' });
        }
        await driver.connect(); // what the framework's reconnect does
        expect(await read(driver, device, 'power')).toBe(1);
        expect(await driver.health()).toBe('online');
      },
      180_000,
    );

    it('probe ble through BlueZ: the scan lists the sensor, and its GATT table has the IR temperature service', async () => {
      const logger = pino({ level: 'warn' });
      const spec = adapterSpec(adapter);
      const found = await scanBle(spec, 3000, logger);
      expect(found.map((a) => a.address)).toContain(SENSOR!.toUpperCase());
      const { services } = await readGattTable(spec, SENSOR!, 20_000, logger);
      expect(services.map((x) => x.uuid)).toContain('f000aa0004514000b000000000000000');
    }, 120_000);

    it('an adapter BlueZ does not have: the error names the ones it has', async () => {
      const device = describedDevice(
        'bluetooth',
        'nowhere',
        { macAddress: SENSOR, adapter: 'dbus:hci9' },
        sensorTagProperties(),
      );
      await expect(driverFor(device).connect()).rejects.toThrow(
        new RegExp(`^adapter hci9 \\(BlueZ D-Bus\\): unknown adapter: BlueZ has .*${DBUS}`),
      );
    }, 60_000);

    // the driver conformance suite through bluetoothd, on the emulated lamp (the VM only: it needs the
    // peripherals' control line); the end-to-end half (MapperRuntime + broker) runs over HCI UART already
    if (controlSkip === undefined)
      runDriverConformance(
        'bluetooth (the emulated lamp through BlueZ D-Bus)',
        async () => ({
          factory: bluetoothDriverFactory,
          device: emulatedDevice('lamp', [
            { name: 'power', type: 'INT', visitor: { characteristicUUID: LAMP('0002'), dataType: 'uint8' } },
            { name: 'brightness', type: 'INT', visitor: { characteristicUUID: LAMP('0003'), dataType: 'uint8' } },
          ]),
          peek: async (p) => Number(await control({ cmd: 'get', device: 'lamp', key: p })),
          poke: async (p, v) => {
            await control({ cmd: 'set', device: 'lamp', key: p, value: Number(v) });
          },
          fault: async (kind) => {
            await control({ cmd: kind === 'unreachable' ? 'out-of-range' : 'in-range', device: 'lamp' });
          },
          teardown: async () => {
            await control({ cmd: 'set', device: 'lamp', key: 'power', value: 0 });
            await control({ cmd: 'set', device: 'lamp', key: 'brightness', value: 50 });
          },
          writeSamples: { power: 1, brightness: 80 },
          badWrites: { power: 'bright', brightness: 300 },
        }),
        // a connect through bluetoothd in a VM without KVM takes seconds
        { callTimeoutMs: 30_000, endToEnd: false },
      );
  });
}
