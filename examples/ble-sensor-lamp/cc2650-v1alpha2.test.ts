// KubeEdge's CC2650 SensorTag demo, converted and run (issue 12): a v1alpha2 manifest in that demo's shape
// (kubeedge-v1alpha2/cc2650.yaml, ours) goes through `edgetwin validate --convert` as a user would run
// it, and the v1beta1 result runs unchanged on an edge node against the emulated SensorTag: the desired
// values are written through dataWrite, and the temperature arrives in degrees Celsius.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type BlePeripherals, startBlePeripherals } from '@edgetwin/simulators';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type EdgeStack, startEdgeStack } from '../shared/testing/edge-stack.js';

const V1ALPHA2 = fileURLToPath(new URL('./kubeedge-v1alpha2/cc2650.yaml', import.meta.url));
const CLI = fileURLToPath(new URL('../../packages/cli/bin/edgetwin.js', import.meta.url));
const ID = 'default/sensor-tag-instance-01';

let sim: BlePeripherals;
let stack: EdgeStack;
let dir: string;
let converted: { stdout: string; stderr: string };

beforeAll(async () => {
  converted = await promisify(execFile)(process.execPath, [CLI, 'validate', '--convert', '-f', V1ALPHA2]);
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-cc2650-'));
  await writeFile(join(dir, 'cc2650.yaml'), converted.stdout);
  sim = await startBlePeripherals();
  await sim.set('sensor', 'enabled', false);
  await sim.set('sensor', 'object', 23.5);
  stack = await startEdgeStack({
    manifestsDir: dir,
    protocol: 'bluetooth',
    adjust: (d) => {
      const c = d.spec.protocol?.configData;
      if (c) c.adapter = `uart:${sim.ptyPath}`; // the demo's node has the controller at hci0
      return d;
    },
  });
}, 30_000);
afterAll(async () => {
  await stack?.stop();
  await sim?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('converts: v1alpha2 nanosecond collectCycle becomes milliseconds, the bluetooth visitors are kept', () => {
  expect(converted.stderr).toContain('collectCycle 2000000000 ns became 2000 ms');
  expect(converted.stdout).toContain('protocolName: bluetooth');
  expect(converted.stdout).toMatch(/collectCycle: 2000\n/);
});

it('runs unchanged: writes the desired values through dataWrite and reports the temperature in degrees Celsius', async () => {
  const actual = (prop: string) => stack.twin.getTwin(ID)?.twins[prop]?.actual?.value;
  await expect.poll(() => actual('temperature-enable'), { timeout: 15_000 }).toBe('ON');
  expect(await sim.get('sensor', 'enabled')).toBe(true);
  await expect.poll(() => actual('temperature'), { timeout: 10_000 }).toBe('23.5');
  await expect.poll(() => sim.get('sensor', 'io'), { timeout: 10_000 }).toBe(2); // io-data "Green" = [2]
  await expect.poll(() => actual('io-data'), { timeout: 10_000 }).toBe('Green');
  expect(await sim.get('sensor', 'io_config')).toBe(1);
});
