import { runDriverConformance } from '../src/conformance/index.js';
import {
  parseVirtualVisitor,
  removeVirtualDevice,
  type ValueSpec,
  virtualDevice,
  virtualDriverFactory,
} from '../src/drivers/virtual/index.js';
import { virtualCounterDevice } from './fixtures.js';

runDriverConformance('virtual', async () => {
  const device = virtualCounterDevice();
  const sim = virtualDevice(device.id);
  const nameOf = (prop: string) => String(device.properties.find((p) => p.name === prop)?.visitor.name ?? prop);
  // the simulated device exists before any mapper connects to it, like a physical one
  for (const p of device.properties) sim.define(nameOf(p.name), (parseVirtualVisitor(p) as { value: ValueSpec }).value);
  return {
    factory: virtualDriverFactory,
    device,
    peek: async (prop) => sim.read(nameOf(prop)),
    poke: async (prop, v) => sim.set(nameOf(prop), v),
    fault: async (kind) => {
      sim.reachable = kind === 'reachable';
    },
    teardown: async () => removeVirtualDevice(device.id),
    writeSamples: { status: 'OFF', count: 7, setpoint: 42 },
    badWrites: { status: 'BROKEN', count: 'seven', setpoint: 'forty' },
    volatile: ['wave'],
    desiredSamples: { status: 'ON', setpoint: '55' },
  };
});
