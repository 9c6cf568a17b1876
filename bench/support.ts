// What the benches share: reading `--name N` options, and writing one bench's section of docs/benchmarks.md
// while leaving the other benches' sections as they are.

import { readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { API_VERSION, type Device, type DeviceModel } from '@edgetwin/api';

/** Replaces (or appends) one `## ` section of a markdown file, leaving every other section as it is. */
export async function replaceSection(file: string, heading: string, section: string): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => '# Benchmarks\n');
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) {
    await writeFile(file, `${text.replace(/\n*$/, '\n\n')}${section}`);
    return;
  }
  let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  if (end < 0) end = lines.length;
  const next = [...lines.slice(0, start), ...section.replace(/\n$/, '').split('\n'), '', ...lines.slice(end)];
  await writeFile(file, next.join('\n').replace(/\n+$/, '\n'));
}

/** The load average now, 1/5/15 min, as "a / b / c". */
export function loadAverage(): string {
  return loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ');
}

/**
 * The machine is shared (issue 15: every figure carries its load): the line a section states it in, from the
 * load taken when the bench started and now.
 */
export function loadLine(atStart: string): string {
  return `Load average (1/5/15 min) at start ${atStart}, at the end ${loadAverage()}.`;
}

/** The number after `--name` on the command line, or `dflt`. */
export function numberOption(name: string, dflt: number, args = process.argv.slice(2)): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

/** The text after `--name` on the command line, or `dflt`. */
export function stringOption(name: string, dflt: string, args = process.argv.slice(2)): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? (args[i + 1] as string) : dflt;
}

/** A virtual `thermo` device on `node` with one property `temp` (a desired value when given). */
export function thermoDevice(name: string, node: string, desired?: number): Device {
  return {
    apiVersion: API_VERSION,
    kind: 'Device',
    metadata: { name, namespace: 'default' },
    spec: {
      deviceModelRef: { name: 'thermo' },
      nodeName: node,
      protocol: { protocolName: 'virtual' },
      properties: [
        desired === undefined
          ? { name: 'temp', reportToCloud: true }
          : { name: 'temp', desired: { value: String(desired) } },
      ],
    },
  };
}

/** A `thermo` model (one ReadOnly FLOAT `temperature`) and n devices of it on `node`. */
export function thermoFleet(n: number, node: string): Array<Device | DeviceModel> {
  const model: DeviceModel = {
    apiVersion: 'devices.kubeedge.io/v1beta1',
    kind: 'DeviceModel',
    metadata: { name: 'thermo', namespace: 'default' },
    spec: { protocol: 'virtualProtocol', properties: [{ name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly' }] },
  };
  const devices: Device[] = [];
  for (let i = 0; i < n; i++)
    devices.push({
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'Device',
      metadata: { name: `thermo-${i}`, namespace: 'default' },
      spec: {
        deviceModelRef: { name: 'thermo' },
        nodeName: node,
        protocol: { protocolName: 'virtualProtocol' },
        properties: [{ name: 'temperature', visitors: { configData: { name: 'temperature' } } }],
      },
    });
  return [model, ...devices];
}
