// Test support: wait for a simulated GPIO pin to reach a level (it may already be there).
import type { PinChange, SimulatedGpioChip } from '@edgetwin/mappers';

export function waitForPin(chip: SimulatedGpioChip, pin: number, level: 0 | 1, timeoutMs = 5000): Promise<void> {
  if (chip.snapshot().some((p) => p.pin === pin && p.consumer !== undefined) && chip.level(pin) === level)
    return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onChange = (c: PinChange) => {
      if (c.pin !== pin || c.level !== level) return;
      clearTimeout(timer);
      chip.off('change', onChange);
      resolve();
    };
    const timer = setTimeout(() => {
      chip.off('change', onChange);
      reject(new Error(`GPIO pin ${pin} on ${chip.name} did not go ${level ? 'high' : 'low'} within ${timeoutMs} ms`));
    }, timeoutMs);
    chip.on('change', onChange);
  });
}

/** Resolves once `cond()` holds, checked now and after every pin change of the chip. */
export function waitForChip(
  chip: SimulatedGpioChip,
  cond: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onChange = () => {
      if (!cond()) return;
      clearTimeout(timer);
      chip.off('change', onChange);
      resolve();
    };
    const timer = setTimeout(() => {
      chip.off('change', onChange);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} on ${chip.name}`));
    }, timeoutMs);
    chip.on('change', onChange);
  });
}
