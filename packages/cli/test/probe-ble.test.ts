// `edgetwin probe ble` as a user runs it (issue 12), against the Bumble-emulated peripherals: the scan
// lists all three (the beacon non-connectable, with its data), ADDRESS prints the GATT table, and
// -o yaml writes a skeleton that passes validate.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatFinding, validateManifests } from '@edgetwin/api';
import { driverValidators } from '@edgetwin/mappers/drivers/validators';
import { type BlePeripherals, startBlePeripherals } from '@edgetwin/simulators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../bin/edgetwin.js', import.meta.url));
const run = (...args: string[]) =>
  promisify(execFile)(process.execPath, [CLI, 'probe', 'ble', ...args]).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

describe('edgetwin probe ble', () => {
  let sim: BlePeripherals;
  beforeAll(async () => {
    sim = await startBlePeripherals();
  }, 30_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('lists what advertises: address, type, name, RSSI, connectable, services, data', async () => {
    const r = await run('--adapter', `uart:${sim.ptyPath}`, '--duration', '1500');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ADDRESS\s+TYPE\s+NAME\s+RSSI\s+CONNECTABLE\s+SERVICES\s+DATA/);
    expect(r.stdout).toMatch(
      /B0:B4:48:ED:00:01\s+public\s+CC2650 SensorTag\s+-58\s+yes\s+f000aa0004514000b000000000000000/,
    );
    expect(r.stdout).toMatch(/F2:ED:00:00:00:02\s+random\s+ET-Lamp/);
    expect(r.stdout).toMatch(/F3:ED:00:00:00:03\s+random\s+ET-Beacon\s+-58\s+no\s+mfr ffff\w+ fcd2:40\w+/);
  });

  it('prints the GATT table of one device, with the values it can read', async () => {
    await sim.set('lamp', 'brightness', 66);
    const r = await run(sim.devices.lamp.address, '--adapter', `uart:${sim.ptyPath}`);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ed9e0001\w+\s+ed9e0002\w+\s+read,write,notify\s+00/);
    expect(r.stdout).toMatch(/ed9e0003\w+\s+read,writeWithoutResponse\s+42/);
    expect(await sim.connections('lamp')).toBe(0); // it disconnected when done
  });

  it('-o yaml writes a DeviceModel + Device skeleton that validates', async () => {
    const r = await run(sim.devices.sensor.address, '--adapter', `uart:${sim.ptyPath}`, '-o', 'yaml', '--name', 'tag');
    expect(r.code).toBe(0);
    const v = validateManifests([{ file: 'tag.yaml', text: r.stdout }], { protocols: driverValidators });
    expect(v.findings.map(formatFinding)).toEqual([]);
    expect(r.stdout).toContain('characteristicUUID: f000aa0104514000b000000000000000');
    expect(r.stdout).toContain('macAddress: B0:B4:48:ED:00:01');
  });

  it('names the fix when the adapter does not exist', async () => {
    const r = await run('--adapter', 'hci7', '--duration', '100');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/edgetwin probe ble: adapter hci7: .*(hciconfig|CAP_NET_RAW|bluetoothd)/);
  });
});
