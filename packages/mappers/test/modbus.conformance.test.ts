// The driver conformance suite for Modbus, over TCP and over RTU (socat PTY pair), against the simulator
// built from the same manifests.
import { runDriverConformance } from '../src/conformance/index.js';
import { createModbusDriverFactory } from '../src/drivers/modbus/index.js';
import { allKindsDevice, simulate } from './modbus-devices.js';

for (const mode of ['tcp', 'rtu'] as const) {
  runDriverConformance(`modbus ${mode}`, async () => {
    const line = await simulate([allKindsDevice('plc', 7)], mode);
    const device = line.devices[0]!;
    return {
      factory: createModbusDriverFactory({ reconnectMinMs: 20 }),
      device,
      peek: async (name) => line.sim.peekRaw(device.id, name),
      poke: async (name, v) => line.sim.pokeRaw(device.id, name, v),
      fault: async (kind) => line.sim.setFault(device.id, kind === 'unreachable' ? 'timeout' : null),
      teardown: () => line.stop(),
      badWrites: { label: 'a label longer than four registers', setpoint: 'warm', switch: 'maybe', energy: 5e9 },
    };
  });
}
