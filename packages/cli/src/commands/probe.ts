// `edgetwin probe PROTOCOL ...`: look at devices before writing their manifests. This file only dispatches:
// each protocol is one file under probe/ exporting a ProbeCommand (ble: issue 12, opcua: issue 11). Add a
// protocol by adding its file and one line below.
import type { Command } from 'commander';
import { probeBle } from './probe/ble.js';

/** Adds `probe <protocol>` to the `probe` command (`program` for usage errors). */
export type ProbeCommand = (probe: Command, program: Command) => void;

// Keep alphabetical.
const PROTOCOLS: ProbeCommand[] = [probeBle];

export function registerProbe(program: Command): void {
  const probe = program
    .command('probe')
    .description('look at devices and servers before writing manifests (ble, opcua)');
  for (const add of PROTOCOLS) add(probe, program);
}
