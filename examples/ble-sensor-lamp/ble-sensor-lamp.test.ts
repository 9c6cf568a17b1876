// The BLE example end to end (issue 12): the example's own manifests on one edge node (broker, twin,
// bluetooth mapper) against the Bumble-emulated sensor and lamp over HCI; the test plays the cloud.
import { fileURLToPath } from 'node:url';
import { type BlePeripherals, startBlePeripherals } from '@edgetwin/simulators';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EdgeStack, startEdgeStack } from '../shared/testing/edge-stack.js';

const MANIFESTS = fileURLToPath(new URL('./manifests', import.meta.url));
const SENSOR = 'default/ble-temperature-sensor';
const LAMP = 'default/ble-lamp';
const NO_READ_CYCLE_MS = 3_600_000;

describe('BLE temperature sensor and lamp', () => {
  let sim: BlePeripherals;
  let stack: EdgeStack;
  const actual = (id: string, prop: string) => stack.twin.getTwin(id)?.twins[prop]?.actual?.value;

  beforeAll(async () => {
    sim = await startBlePeripherals();
    await sim.set('sensor', 'object', 22.25);
    stack = await startEdgeStack({
      manifestsDir: MANIFESTS,
      protocol: 'bluetooth',
      // the Raspberry Pi's hci0 becomes the emulator's adapter, as EDGETWIN_BLE_ADAPTER does under `up`
      adjust: (d) => {
        const c = d.spec.protocol?.configData;
        if (c) c.adapter = `uart:${sim.ptyPath}`;
        // the temperature's read cycle (a fallback) far beyond the test: a new value can only come by notification
        for (const p of d.spec.properties ?? []) if (p.name === 'temperature') p.collectCycle = NO_READ_CYCLE_MS;
        return d;
      },
    });
  }, 30_000);
  afterAll(async () => {
    await stack?.stop();
    await sim?.stop();
  });

  it('enables the sensor from its desired value and reports its temperature in degrees Celsius', async () => {
    await expect.poll(() => actual(SENSOR, 'temperature-enable'), { timeout: 15_000 }).toBe('ON');
    expect(await sim.get('sensor', 'enabled')).toBe(true);
    await expect.poll(() => actual(SENSOR, 'temperature'), { timeout: 10_000 }).toBe('22.25');
  });

  // No time bound: under the whole suite's load a notification may take seconds, and the read cycle is out
  // of the way (NO_READ_CYCLE_MS), so the value arriving at all shows it came by notification.
  it('reports a new temperature by notification, without waiting for a read cycle', async () => {
    await expect.poll(() => actual(SENSOR, 'temperature'), { timeout: 15_000 }).toBe('22.25');
    await sim.set('sensor', 'object', 27.5);
    await expect.poll(() => actual(SENSOR, 'temperature'), { timeout: 15_000, interval: 50 }).toBe('27.5');
  });

  // Generous bounds: on a loaded machine (load average 30 on 2 cores seen) a GATT operation can time out
  // and the mapper reconnects and retries before the write lands; the test waits on the values, not on time.
  it('switches the lamp on and dims it from the cloud', async () => {
    await expect.poll(() => actual(LAMP, 'power'), { timeout: 15_000 }).toBe('OFF');
    stack.cloudSet(LAMP, { power: 'ON', brightness: '80' });
    await expect.poll(() => sim.get('lamp', 'power'), { timeout: 25_000 }).toBe(1);
    await expect.poll(() => sim.get('lamp', 'brightness'), { timeout: 25_000 }).toBe(80);
    await expect.poll(() => actual(LAMP, 'power'), { timeout: 25_000 }).toBe('ON');
    await expect.poll(() => actual(LAMP, 'brightness'), { timeout: 25_000 }).toBe('80');
  }, 120_000);
});
