// The bluetooth driver against the Bumble-emulated lamp (issue 12): real HCI bytes from noble over a
// PTY to Bumble's virtual controller, no radio. One simulator process for the file; the conformance
// suite creates and closes the driver (and its adapter) for every test.
import { type BlePeripherals, describedDevice, startBlePeripherals } from '@edgetwin/simulators';
import { afterAll, beforeAll } from 'vitest';
import { runDriverConformance } from '../src/conformance/index.js';
import { bluetoothDriverFactory } from '../src/drivers/bluetooth/index.js';

let sim: BlePeripherals;
beforeAll(async () => {
  sim = await startBlePeripherals();
}, 30_000);
afterAll(async () => {
  await sim?.stop();
});

const LAMP = 'ed9e{}-6564-6765-7477-696e626c6500';

runDriverConformance(
  'bluetooth (Bumble lamp over HCI UART)',
  async () => ({
    factory: bluetoothDriverFactory,
    device: describedDevice(
      'bluetooth',
      'ble-lamp',
      { macAddress: sim.devices.lamp.address, adapter: `uart:${sim.ptyPath}`, operationTimeoutMs: 1500 },
      [
        { name: 'power', type: 'INT', visitor: { characteristicUUID: LAMP.replace('{}', '0002'), dataType: 'uint8' } },
        {
          name: 'brightness',
          type: 'INT',
          visitor: { characteristicUUID: LAMP.replace('{}', '0003'), dataType: 'uint8' },
        },
      ],
    ),
    peek: async (p) => Number(await sim.get('lamp', p)),
    poke: (p, v) => sim.set('lamp', p, Number(v)),
    fault: async (kind) => {
      await sim.fault('lamp', kind === 'unreachable' ? 'out-of-range' : 'in-range');
    },
    teardown: async () => {
      await sim.fault('lamp', 'in-range');
      await sim.set('lamp', 'power', 0);
      await sim.set('lamp', 'brightness', 50);
    },
    writeSamples: { power: 1, brightness: 80 },
    badWrites: { power: 'bright', brightness: 300 },
  }),
  { callTimeoutMs: 8000 },
);
