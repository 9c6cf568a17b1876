// The bluetooth driver beyond the conformance suite (issue 12): KubeEdge's dataConverter/dataWrite on
// the SensorTag-like sensor, notifications, advertisement data of the beacon, and the faults the issue
// names (ATT write error, link drop, peripheral gone mid-read, adapter PTY closed, one dead device of
// two on one adapter, a host killed mid-connection, no adapter at all). Real HCI bytes: noble over a
// PTY to the Bumble-emulated controller.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { ResolvedDevice } from '@edgetwin/api';
import {
  type BlePeripherals,
  describedDevice,
  openPtyPair,
  sensorTagProperties,
  startBlePeripherals,
} from '@edgetwin/simulators';
import pino from 'pino';
import { SerialPort } from 'serialport';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DeviceDriver, DriverError, type RawValue } from '../src/framework/driver.js';
import { bluetoothDriverFactory as factory } from '../src/drivers/bluetooth/index.js';

const LAMP = (x: string) => `ed9e${x}-6564-6765-7477-696e626c6500`;
const logger = pino({ level: 'silent' });

let sim: BlePeripherals;
const drivers: DeviceDriver[] = [];
beforeAll(async () => {
  sim = await startBlePeripherals();
}, 30_000);
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.disconnect().catch(() => undefined);
  await factory.close?.();
  await sim.fault('lamp', 'in-range').catch(() => undefined);
  await sim.fault('sensor', 'in-range').catch(() => undefined);
  await sim.refuseWrites('lamp', 0).catch(() => undefined);
  await sim.set('lamp', 'power', 0).catch(() => undefined); // every test starts with the lamp off
});
afterAll(async () => {
  await sim?.stop();
});

function driverFor(device: ResolvedDevice): DeviceDriver {
  expect(factory.validate(device)).toEqual([]);
  const d = factory.create(device, { logger, signal: new AbortController().signal });
  drivers.push(d);
  return d;
}

/** KubeEdge's CC2650 visitors, as `validate --convert` gives them (v1alpha2 -> v1beta1). */
function sensorTag(dataWrite?: Record<string, unknown>): ResolvedDevice {
  return describedDevice(
    'bluetooth',
    'sensor-tag',
    { macAddress: sim.devices.sensor.address, adapter: `uart:${sim.ptyPath}` },
    sensorTagProperties(dataWrite),
  );
}

function lamp(extra: Record<string, unknown> = {}, macAddress = sim.devices.lamp.address): ResolvedDevice {
  return describedDevice(
    'bluetooth',
    `lamp-${macAddress}`,
    { macAddress, adapter: `uart:${sim.ptyPath}`, operationTimeoutMs: 1500, connectTimeoutMs: 4000, ...extra },
    [{ name: 'power', type: 'INT', visitor: { characteristicUUID: LAMP('0002'), dataType: 'uint8' } }],
  );
}

async function read(d: DeviceDriver, device: ResolvedDevice, prop: string) {
  const p = device.properties.find((x) => x.name === prop)!;
  return (await d.readBatch([p])).get(prop)!;
}

async function value(d: DeviceDriver, device: ResolvedDevice, prop: string): Promise<RawValue> {
  const r = await read(d, device, prop);
  if (!r.ok) throw r.error;
  return r.value;
}

describe('bluetooth driver: KubeEdge CC2650 visitors on the emulated SensorTag', () => {
  it('writes dataWrite ON, then reads the object temperature the sensor means (degrees Celsius)', async () => {
    await sim.set('sensor', 'enabled', false);
    await sim.set('sensor', 'object', 24.5);
    const dev = sensorTag();
    const d = driverFor(dev);
    await d.connect();
    expect(await value(d, dev, 'temperature')).toBe(0); // a SensorTag reads zeros until enabled
    expect(await value(d, dev, 'temperature-enable')).toBe('OFF');
    await d.write(dev.properties[1]!, 'ON');
    expect(await sim.get('sensor', 'enabled')).toBe(true);
    expect(await value(d, dev, 'temperature-enable')).toBe('ON');
    expect(await value(d, dev, 'temperature')).toBe(24.5);
  });

  it('accepts dataWrite values in base64 (the CRD format) as well as byte lists, and names the keys of a bad value', async () => {
    await sim.set('sensor', 'enabled', true);
    const dev = sensorTag({ ON: 'AQ==', OFF: 'AA==' });
    const d = driverFor(dev);
    await d.connect();
    await d.write(dev.properties[1]!, 'OFF');
    expect(await sim.get('sensor', 'enabled')).toBe(false);
    const err = await d.write(dev.properties[1]!, 'HALF').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as Error).message).toMatch(/temperature-enable.*"HALF" is not a dataWrite key \(ON, OFF\)/);
  });

  it('pushes the temperature by notification (the default for a notifying characteristic)', async () => {
    await sim.set('sensor', 'enabled', true);
    const dev = sensorTag();
    const d = driverFor(dev);
    await d.connect();
    expect(d.pushed?.(dev.properties[0]!)).toBe(true);
    expect(d.pushed?.(dev.properties[1]!)).toBe(false);
    let resolveSeen: (v: RawValue) => void = () => undefined;
    const seen = new Promise<RawValue>((resolve) => {
      resolveSeen = resolve;
    });
    const unsubscribe = await d.subscribe!([dev.properties[0]!], (prop, v) => {
      if (prop === 'temperature' && v === 31.25) resolveSeen(v);
    });
    await sim.set('sensor', 'object', 31.25);
    expect(await seen).toBe(31.25);
    await unsubscribe();
  });
});

describe('bluetooth driver: finding, connection modes, indications', () => {
  it('finds a device by advertised name or service UUID (no macAddress)', async () => {
    for (const find of [{ localName: 'ET-Lamp' }, { serviceUUID: LAMP('0001') }]) {
      const dev = describedDevice('bluetooth', 'by-ad', { ...find, adapter: `uart:${sim.ptyPath}` }, [
        { name: 'power', type: 'INT', visitor: { characteristicUUID: LAMP('0002'), dataType: 'uint8' } },
      ]);
      const d = driverFor(dev);
      await d.connect();
      expect(await value(d, dev, 'power')).toBe(0);
      await d.disconnect();
    }
  });

  it('onDemand connects for a read or write and lets the peripheral go after it', async () => {
    const dev = lamp({ connection: 'onDemand' });
    const d = driverFor(dev);
    await d.connect();
    expect(await sim.connections('lamp')).toBe(0);
    expect(await value(d, dev, 'power')).toBe(0);
    await expect.poll(() => sim.connections('lamp'), { timeout: 3000 }).toBe(0);
    await d.write(dev.properties[0]!, 1);
    expect(await sim.get('lamp', 'power')).toBe(1);
    await expect.poll(() => sim.connections('lamp'), { timeout: 3000 }).toBe(0);
    await sim.set('lamp', 'power', 0);
  });

  it('subscribes to an indicating characteristic and reports each indication', async () => {
    const dev = describedDevice(
      'bluetooth',
      'lamp-ind',
      { macAddress: sim.devices.lamp.address, adapter: `uart:${sim.ptyPath}` },
      [
        {
          name: 'switches',
          type: 'INT',
          access: 'ReadOnly',
          visitor: { characteristicUUID: LAMP('0004'), dataType: 'uint16le' },
        },
      ],
    );
    const d = driverFor(dev);
    await d.connect();
    expect(d.pushed?.(dev.properties[0]!)).toBe(true);
    const before = Number(await value(d, dev, 'switches'));
    let resolveSeen: (v: RawValue) => void = () => undefined;
    const seen = new Promise<RawValue>((resolve) => {
      resolveSeen = resolve;
    });
    const unsubscribe = await d.subscribe!([dev.properties[0]!], (_p, v) => resolveSeen(v));
    await sim.set('lamp', 'power', (await sim.get('lamp', 'power')) === 1 ? 0 : 1);
    expect(await seen).toBe(before + 1);
    await unsubscribe();
  });
});

describe('bluetooth driver: advertisement data (the beacon never connects)', () => {
  const beacon = () =>
    describedDevice('bluetooth', 'beacon', { macAddress: sim.devices.beacon.address, adapter: `uart:${sim.ptyPath}` }, [
      {
        name: 'temperature',
        type: 'FLOAT',
        access: 'ReadOnly',
        visitor: { manufacturerData: 0xffff, dataType: 'int16le', scale: 0.01 },
      },
      {
        name: 'humidity',
        type: 'FLOAT',
        access: 'ReadOnly',
        visitor: { serviceDataUUID: 'fcd2', dataType: 'uint16le', byteOffset: 5 },
      },
      { name: 'rssi', type: 'INT', access: 'ReadOnly', visitor: { source: 'rssi' } },
    ]);

  it('decodes manufacturer data and service data with the same converter, and pushes a change', async () => {
    await sim.set('beacon', 'temperature', 21.5);
    await sim.set('beacon', 'humidity', 40);
    const dev = beacon();
    const d = driverFor(dev);
    await d.connect();
    expect(await d.health()).toBe('online');
    expect(await value(d, dev, 'temperature')).toBe(2150); // raw; the framework applies scale 0.01
    expect(await value(d, dev, 'humidity')).toBe(4000);
    expect(await value(d, dev, 'rssi')).toBe(-58);
    expect(d.pushed?.(dev.properties[0]!)).toBe(true);
    const pushed = new Promise<RawValue>((resolve) => {
      void d.subscribe!([dev.properties[0]!], (_p, v) => {
        if (v === 2375) resolve(v);
      });
    });
    await sim.set('beacon', 'temperature', 23.75);
    expect(await pushed).toBe(2375);
  });
});

describe('bluetooth driver: faults', () => {
  it('an ATT error on a write is a DriverError naming the property; writes work again after', async () => {
    const dev = lamp();
    const d = driverFor(dev);
    await d.connect();
    await sim.refuseWrites('lamp', 0x03);
    const err = await d.write(dev.properties[0]!, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as Error).message).toMatch(/property power.*(0x03|Write Not Permitted|not permitted)/i);
    expect(await sim.get('lamp', 'power')).toBe(0);
    await sim.refuseWrites('lamp', 0);
    await d.write(dev.properties[0]!, 1);
    expect(await sim.get('lamp', 'power')).toBe(1);
    await sim.set('lamp', 'power', 0);
  });

  it('a dropped link makes reads "not connected" (the framework reconnects), and connect() heals it', async () => {
    const dev = lamp();
    const d = driverFor(dev);
    await d.connect();
    await sim.fault('lamp', 'drop-link');
    await expect.poll(async () => (await read(d, dev, 'power')).ok, { timeout: 5000 }).toBe(false);
    const r = await read(d, dev, 'power');
    expect(!r.ok && r.error.code).toBe('not-connected');
    expect(await d.health()).toBe('offline');
    await d.connect();
    expect(await value(d, dev, 'power')).toBe(0);
  });

  it('a peripheral that goes silent mid-read gives a timeout error, not a hang', async () => {
    const dev = lamp();
    const d = driverFor(dev);
    await d.connect();
    await sim.fault('lamp', 'out-of-range');
    const started = Date.now();
    const r = await read(d, dev, 'power');
    expect(r.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(4000);
    await sim.fault('lamp', 'in-range');
  });

  it('two devices on one adapter: a dead one (never heard) delays neither the connect nor the reads of the other', async () => {
    const dead = lamp({ connectTimeoutMs: 4000 }, '66:66:66:66:66:66');
    const alive = lamp();
    const dDead = driverFor(dead);
    const dAlive = driverFor(alive);
    let deadSettled = false;
    const deadConnect = dDead.connect().finally(() => {
      deadSettled = true;
    });
    await dAlive.connect();
    for (let i = 0; i < 3; i++) expect(await value(dAlive, alive, 'power')).toBe(0);
    expect(deadSettled).toBe(false);
    const err = await deadConnect.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as Error).message).toMatch(/not heard advertising/);
  });

  it('a partial HCI command left on the line by a host that died mid-write does not hang the next host', async () => {
    // A host killed mid-write (or a line flushed mid-command) leaves the controller's H4 parser inside a
    // command: it takes the next host's HCI Reset as that command's parameters and never answers it.
    // Here: a whole Read Local Version (its answer proves the controller has read the write) and the
    // header of one claiming 4 parameter bytes, which swallows the next Reset.
    const line = new SerialPort({ path: sim.ptyPath, baudRate: 1_000_000, autoOpen: false });
    await new Promise<void>((resolve, reject) => line.open((e) => (e ? reject(e) : resolve())));
    let heard = Buffer.alloc(0);
    const answered = new Promise<void>((resolve) => {
      line.on('data', (b: Buffer) => {
        heard = Buffer.concat([heard, b]).subarray(-4096);
        if (heard.includes(Buffer.from('040e0c01011000', 'hex'))) resolve(); // Command Complete, 0x1001, success
      });
    });
    line.write(Buffer.from('01011000' + '01011004', 'hex'));
    await answered;
    await new Promise<void>((resolve) => line.close(() => resolve()));
    const dev = lamp();
    const d = driverFor(dev);
    await d.connect();
    expect(await value(d, dev, 'power')).toBe(0);
  });

  it('a serial line with no controller behind it is an error saying no HCI Reset was answered', async () => {
    const pair = await openPtyPair();
    try {
      const dev = lamp({ adapter: `uart:${pair.b}`, connectTimeoutMs: 2000 });
      const d = driverFor(dev);
      const err = await d.connect().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DriverError);
      expect((err as Error).message).toMatch(
        new RegExp(
          `adapter uart:${pair.b} \\(HCI over UART\\): no answer to HCI Reset \\(sent [2-9] times in \\d+ ms\\).*baud rate`,
        ),
      );
    } finally {
      await factory.close?.();
      await pair.close();
    }
    const missing = lamp({ adapter: 'uart:/tmp/edgetwin-no-such-tty', connectTimeoutMs: 1500 });
    const err = await driverFor(missing)
      .connect()
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /uart:\/tmp\/edgetwin-no-such-tty.*cannot use the serial port: .*No such file/,
    );
  });

  it('closing the mapper while its adapter is still starting leaves the line free for the next host', async () => {
    // A host stopped before its serial port finished opening used to open it anyway and keep it (and its
    // lock): the next host's open failed with "Cannot lock port" and the adapter never came up.
    const first = driverFor(lamp()).connect();
    await factory.close?.();
    expect(await first.catch((e: unknown) => e)).toBeInstanceOf(DriverError);
    const dev = lamp();
    const d = driverFor(dev);
    await d.connect();
    expect(await value(d, dev, 'power')).toBe(0);
  });

  it('no such adapter is an error naming the fix', async () => {
    const dev = lamp({ adapter: 'hci7' });
    const d = driverFor(dev);
    const err = await d.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect((err as Error).message).toMatch(/adapter hci7.*(hciconfig|CAP_NET_RAW|bluetoothd)/);
  });

  it('closing the mapper (SIGTERM) ends every link, so the peripherals advertise again', async () => {
    const dev = lamp();
    const d = driverFor(dev);
    await d.connect();
    expect(await sim.connections('lamp')).toBe(1);
    await factory.close?.();
    await expect.poll(() => sim.connections('lamp'), { timeout: 3000 }).toBe(0);
  });

  it('a host killed mid-connection (SIGKILL, no goodbye) leaves no stuck link: the next host resets the controller', async () => {
    const require = createRequire(import.meta.url);
    const script = `
      const noble = require(${JSON.stringify(require.resolve('@stoprocent/noble/lib/resolve-bindings.js'))})('hci', { hciDriver: 'uart', bindParams: { uart: { port: ${JSON.stringify(sim.ptyPath)} } } });
      noble.on('stateChange', (s) => { if (s === 'poweredOn') noble.startScanning([], true); });
      noble.on('discover', async (p) => {
        if (p.address !== ${JSON.stringify(sim.devices.lamp.address.toLowerCase())} || globalThis.busy) return;
        globalThis.busy = true;
        await noble.stopScanningAsync();
        await p.connectAsync();
        console.log('connected');
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => b.toString().includes('connected') && resolve());
      child.once('exit', () => reject(new Error('helper host exited before connecting')));
    });
    expect(await sim.connections('lamp')).toBe(1);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const dev = lamp();
    const d = driverFor(dev);
    await d.connect();
    expect(await value(d, dev, 'power')).toBe(0);
    expect(await sim.connections('lamp')).toBe(1);
  });
});

describe('bluetooth driver: the adapter PTY closes', () => {
  let own: BlePeripherals | undefined;
  afterAll(async () => {
    await own?.stop();
  });

  it('reads fail as "not connected", then a new HCI host is made once the adapter is back', async () => {
    own = await startBlePeripherals();
    const ptyPath = own.ptyPath;
    const dev = describedDevice(
      'bluetooth',
      'lamp2',
      {
        macAddress: own.devices.lamp.address,
        adapter: `uart:${ptyPath}`,
        operationTimeoutMs: 1500,
        connectTimeoutMs: 4000,
      },
      [{ name: 'power', type: 'INT', visitor: { characteristicUUID: LAMP('0002'), dataType: 'uint8' } }],
    );
    const d = driverFor(dev);
    await d.connect();
    expect(await value(d, dev, 'power')).toBe(0);
    process.kill(own.pid, 'SIGKILL');
    await own.stop();
    await expect.poll(async () => (await read(d, dev, 'power')).ok, { timeout: 6000 }).toBe(false);
    expect(await d.health()).not.toBe('online');
    own = await startBlePeripherals({ ptyPath });
    await own.set('lamp', 'power', 1);
    await expect
      .poll(
        async () => {
          await d.disconnect();
          return d.connect().then(
            () => true,
            () => false,
          );
        },
        { timeout: 15000, interval: 200 },
      )
      .toBe(true);
    expect(await value(d, dev, 'power')).toBe(1);
  });
});
