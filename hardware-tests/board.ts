// Which GPIO hardware the hardware tests run on (issue 18): a Raspberry Pi (/proc/device-tree/model names
// it, /dev/gpiochip0 exists, pins wired with jumpers), or a Linux gpio-sim chip (the real-kernel VM tier:
// a chip is gpio-sim when its device has the simulator's per-line attributes, sim_gpioN/{pull,value}).
// gpio-sim has no wires between lines: a test drives an input through its `pull` attribute and checks
// an output through its `value` attribute, where a Pi's jumper wire does both.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

export type GpioBoard =
  | { kind: 'raspberry-pi'; name: string; chip: string }
  | { kind: 'gpio-sim'; name: string; chip: string; sysfs: string };

const BUS = '/sys/bus/gpio/devices';

function piModel(): string | undefined {
  try {
    const model = readFileSync('/proc/device-tree/model', 'utf8').replace(/\0/g, '');
    return model.includes('Raspberry Pi') ? model : undefined;
  } catch {
    return undefined;
  }
}

function gpioSimChip(wanted?: string): string | undefined {
  let chips: string[];
  try {
    chips = readdirSync(BUS).filter((c) => /^gpiochip\d+$/.test(c));
  } catch {
    return undefined;
  }
  return chips.find((c) => (!wanted || c === wanted) && existsSync(`${BUS}/${c}/sim_gpio0/pull`));
}

/** The board to test on, or why there is none (for the skip message). */
export function findGpioBoard(): { board: GpioBoard; missing?: undefined } | { board?: undefined; missing: string } {
  const model = piModel();
  if (model)
    return existsSync('/dev/gpiochip0')
      ? { board: { kind: 'raspberry-pi', name: model, chip: 'gpiochip0' } }
      : { missing: `${model}: /dev/gpiochip0 does not exist` };
  const sim = gpioSimChip(process.env.EDGETWIN_GPIO_TEST_CHIP);
  if (sim) return { board: { kind: 'gpio-sim', name: `gpio-sim ${sim}`, chip: sim, sysfs: `${BUS}/${sim}` } };
  return {
    missing:
      'no Raspberry Pi (/proc/device-tree/model) and no gpio-sim chip (/sys/bus/gpio/devices/gpiochipN/sim_gpio0); ' +
      'the real-kernel VM tier makes one: bash scripts/vm/run.sh -- sh scripts/vm/hardware-tier.sh (docs/hardware.md)',
  };
}

/** gpio-sim: the level the chip's user (the mapper) drives an output line to. */
export function simValue(board: GpioBoard, pin: number): 0 | 1 {
  if (board.kind !== 'gpio-sim') throw new Error('simValue needs a gpio-sim chip');
  return readFileSync(`${board.sysfs}/sim_gpio${pin}/value`, 'utf8').trim() === '1' ? 1 : 0;
}

/** gpio-sim: what the outside world does to an input line (a button pulling it up or down). */
export function simPull(board: GpioBoard, pin: number, level: 0 | 1): void {
  if (board.kind !== 'gpio-sim') throw new Error('simPull needs a gpio-sim chip');
  writeFileSync(`${board.sysfs}/sim_gpio${pin}/pull`, level ? 'pull-up' : 'pull-down');
}
