// The bluetooth driver's BlueZ D-Bus adapter (issue 12): what a user sees when the system bus, bluetoothd or
// the bus policy is not there, against a real dbus-daemon with a private config (DBUS_SYSTEM_BUS_ADDRESS
// points noble's binding at it). The flow against bluetoothd itself runs in the real-kernel VM tier
// (hardware-tests/ble.test.ts, "over BlueZ D-Bus"): this machine has no Bluetooth.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describedDevice, sensorTagProperties } from '@edgetwin/simulators';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { bluetoothDriverFactory as factory } from '../src/drivers/bluetooth/index.js';

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'edgetwin-dbus-'));
const daemons: ChildProcess[] = [];
const hasDaemon = (() => {
  try {
    execFileSync('dbus-daemon', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

afterEach(async () => {
  await factory.close?.();
});
afterAll(() => {
  for (const d of daemons) d.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** A dbus-daemon on a socket of its own with the given policy; resolves to its address. */
async function bus(name: string, policy: string): Promise<string> {
  const conf = join(dir, `${name}.conf`);
  writeFileSync(
    conf,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${join(dir, `${name}.sock`)}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    ${policy}
  </policy>
</busconfig>`,
  );
  const d = spawn('dbus-daemon', ['--config-file', conf, '--nofork', '--print-address'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  daemons.push(d);
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: d.stdout! }).once('line', resolve);
    d.once('exit', (c) => reject(new Error(`dbus-daemon exited (${c})`)));
  });
  return line.trim();
}

/** The sensor on the BlueZ adapter `adapter`, its driver's first connect's error message. */
async function connectError(env: Record<string, string>, adapter = 'dbus'): Promise<string> {
  const saved = process.env.DBUS_SYSTEM_BUS_ADDRESS;
  process.env.DBUS_SYSTEM_BUS_ADDRESS = env.DBUS_SYSTEM_BUS_ADDRESS;
  try {
    const dev = describedDevice(
      'bluetooth',
      'sensor',
      { macAddress: 'B0:B4:48:ED:00:01', adapter, connectTimeoutMs: 3000 },
      sensorTagProperties(),
    );
    expect(factory.validate(dev)).toEqual([]);
    const d = factory.create(dev, { logger, signal: new AbortController().signal });
    const e = await d.connect().then(
      () => new Error('connected'),
      (err: Error) => err,
    );
    return e.message;
  } finally {
    if (saved === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
    else process.env.DBUS_SYSTEM_BUS_ADDRESS = saved;
  }
}

describe.skipIf(!hasDaemon)('bluetooth driver over BlueZ D-Bus: errors name the fix', () => {
  it('no system bus: says so and how to start it', async () => {
    const m = await connectError({ DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(dir, 'none.sock')}` });
    expect(m).toMatch(/^adapter hci0 \(BlueZ D-Bus\): the D-Bus system bus is not running .*systemctl start dbus/);
  });

  it('a bus without bluetoothd: bluetoothd is not running, with the command that starts it', async () => {
    const m = await connectError({ DBUS_SYSTEM_BUS_ADDRESS: await bus('empty', '') }, 'dbus:hci1');
    expect(m).toBe(
      'adapter hci1 (BlueZ D-Bus): bluetoothd is not running (org.bluez is not on the system bus): sudo systemctl enable --now bluetooth (docs/ble.md, "BlueZ D-Bus")',
    );
  });

  it('a bus policy that keeps the mapper from bluetoothd: names the bluetooth group', async () => {
    const address = await bus('denied', '<deny send_destination="org.bluez"/>');
    // something owns org.bluez, so the daemon checks the policy instead of answering "no such name"
    const require = createRequire(import.meta.url);
    const dbus = require('dbus-next') as {
      sessionBus(o: { busAddress: string }): { requestName(n: string, f: number): Promise<number>; disconnect(): void };
    };
    const owner = dbus.sessionBus({ busAddress: address });
    await owner.requestName('org.bluez', 0);
    try {
      const m = await connectError({ DBUS_SYSTEM_BUS_ADDRESS: address });
      expect(m).toMatch(
        /^adapter hci0 \(BlueZ D-Bus\): no permission on the system bus to talk to bluetoothd \(org\.bluez\): add the mapper's user to the bluetooth group/,
      );
    } finally {
      owner.disconnect();
    }
  });
});
