// The BLE peripherals launcher (issue 12): starts on its ready line, answers its control channel,
// and leaves no PTY symlink behind (a stale one from a killed run is removed before starting).
import { lstat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type BlePeripherals, startBlePeripherals } from '../src/ble/peripherals.js';

const exists = (p: string) =>
  lstat(p).then(
    () => true,
    () => false,
  );

describe('BLE peripherals launcher', () => {
  let sim: BlePeripherals | undefined;
  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
  });

  it('starts over a stale PTY symlink, reports its devices, and removes the symlink on stop', async () => {
    const pty = join(tmpdir(), `edgetwin-ble-test-${process.pid}.pty`);
    await symlink('/dev/pts/does-not-exist', pty).catch(() => undefined);
    sim = await startBlePeripherals({ ptyPath: pty });
    expect(sim.ptyPath).toBe(pty);
    expect((await lstat(pty)).isSymbolicLink()).toBe(true);
    expect(sim.devices.sensor).toMatchObject({ address: 'B0:B4:48:ED:00:01', addressType: 'public' });
    expect(sim.devices.lamp.addressType).toBe('random');
    expect(sim.devices.beacon.name).toBe('ET-Beacon');
    await sim.stop();
    sim = undefined;
    expect(await exists(pty)).toBe(false);
  });

  it('sets and gets peripheral state and names what it does not know', async () => {
    sim = await startBlePeripherals();
    await sim.set('lamp', 'power', 1);
    expect(await sim.get('lamp', 'power')).toBe(1);
    await sim.set('sensor', 'ambient', 30.5);
    expect(await sim.get('sensor', 'ambient')).toBe(30.5);
    await expect(sim.get('lamp', 'colour')).rejects.toThrow(/colour/);
    expect(await sim.connections('sensor')).toBe(0);
  });
});
