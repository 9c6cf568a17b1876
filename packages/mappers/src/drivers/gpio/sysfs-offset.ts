// Raspberry Pi OS kernels >= 6.6 number sysfs GPIOs from the chip's base (512 on a Pi 4, 571 on a
// Pi 5), not from 0. The base is read from /sys/class/gpio/gpiochip*/base, so `pin: 17` in a visitor
// means BCM 17 everywhere.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SysfsChip {
  dir: string;
  base: number;
  ngpio: number;
  label: string;
}

/** Labels of the Raspberry Pi's main GPIO controller (Pi 1-3, Pi 4, Pi 5). */
const PI_LABELS = ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1'];

export async function listSysfsChips(root = '/sys/class/gpio'): Promise<SysfsChip[]> {
  let names: string[];
  try {
    names = (await readdir(root)).filter((n) => n.startsWith('gpiochip'));
  } catch {
    return [];
  }
  const chips: SysfsChip[] = [];
  for (const n of names) {
    const dir = join(root, n);
    const read = async (f: string) => (await readFile(join(dir, f), 'utf8').catch(() => '')).trim();
    const base = Number(await read('base'));
    const ngpio = Number(await read('ngpio'));
    if (Number.isInteger(base))
      chips.push({ dir, base, ngpio: Number.isInteger(ngpio) ? ngpio : 0, label: await read('label') });
  }
  return chips.sort((a, b) => a.base - b.base);
}

/**
 * The sysfs number offset of a chip. `chip` may be a label (pinctrl-bcm2711) or a character-device name
 * (gpiochip0); for a chardev name the Pi's main controller is preferred, then the chip with the lowest base.
 */
export async function sysfsPinOffset(chip: string, root = '/sys/class/gpio'): Promise<number> {
  const chips = await listSysfsChips(root);
  if (chips.length === 0) return 0;
  const byLabel = chips.find((c) => c.label === chip);
  if (byLabel) return byLabel.base;
  const pi = chips.find((c) => PI_LABELS.includes(c.label));
  if (pi) return pi.base;
  return chips[0]!.base;
}
