import { runDriverConformance } from '../src/conformance/index.js';
import { gpioDriverFactory, simulatedChip } from '../src/drivers/gpio/index.js';
import { gpioLedDevice, uniqueName } from './fixtures.js';

runDriverConformance('gpio (simulated chip)', async () => {
  // a chip per test: the simulated chips are process-wide
  const chip = simulatedChip(uniqueName('gpiochip'));
  const device = gpioLedDevice(chip.name);
  const pinOf = (prop: string) => {
    const p = device.properties.find((x) => x.name === prop)!;
    return { pin: Number(p.visitor.pin), activeLow: p.visitor.activeLow === true };
  };
  return {
    factory: gpioDriverFactory,
    device,
    // raw GPIO values are logical levels: physical level XOR activeLow
    peek: async (prop) => {
      const { pin, activeLow } = pinOf(prop);
      return (chip.level(pin) === 1) !== activeLow;
    },
    poke: async (prop, v) => {
      const { pin, activeLow } = pinOf(prop);
      chip.drive(pin, (v === true || v === 1) !== activeLow ? 1 : 0);
    },
    fault: async (kind) => chip.setFault(kind === 'unreachable' ? 'EIO: chip removed' : undefined),
    teardown: async () => chip.setFault(undefined),
    desiredSamples: { 'power-status': 'ON', relay: 'true' },
  };
});
