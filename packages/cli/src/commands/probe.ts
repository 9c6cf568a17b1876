// `edgetwin probe PROTOCOL ...`: look at devices before writing their manifests. This file only dispatches:
// each protocol is one file under probe/ exporting a ProbeCommand (ble: issue 12, onvif: issue 13, opcua: issue 11). Add a
// protocol by adding its file and one line below.
import type { Command } from 'commander';
import { probeBle } from './probe/ble.js';
import { probeOnvif } from './probe/onvif.js';
import { probeOpcua } from './probe/opcua.js';

/** Adds `probe <protocol>` to the `probe` command (`program` for usage errors). */
export type ProbeCommand = (probe: Command, program: Command) => void;

// Keep alphabetical.
const PROTOCOLS: ProbeCommand[] = [probeBle, probeOnvif, probeOpcua];

export function registerProbe(program: Command): void {
  const probe = program
    .command('probe')
    .description('look at devices and servers before writing manifests (ble, onvif, opcua)');
  for (const add of PROTOCOLS) add(probe, program);
}
