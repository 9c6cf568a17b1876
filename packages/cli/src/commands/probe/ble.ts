// `edgetwin probe ble` (issue 12): scans for advertisers, prints one device's GATT table, or writes a
// DeviceModel + Device skeleton. Registered by ../probe.ts.
import type { Command } from 'commander';
import pino from 'pino';
import { stringify } from 'yaml';
import type { ProbeCommand } from '../probe.js';
import { exitFlushed as exit, table } from './output.js';

export const probeBle: ProbeCommand = (probe: Command, program: Command): void => {
  probe
    .command('ble [address]')
    .description('list BLE devices advertising nearby; with ADDRESS, connect and print its GATT table')
    .option(
      '--adapter <adapter>',
      'hciN, uart:/dev/ttyXXX[@baud] or dbus[:hciN] (BlueZ) (default: $EDGETWIN_BLE_ADAPTER, else hci0)',
      process.env.EDGETWIN_BLE_ADAPTER || 'hci0',
    )
    .option('--duration <ms>', 'how long to scan', (v) => Number.parseInt(v, 10), 5000)
    .option(
      '--timeout <ms>',
      'how long to wait for the device and each GATT step',
      (v) => Number.parseInt(v, 10),
      10000,
    )
    .option('-o, --output <format>', '"yaml": a DeviceModel + Device skeleton for ADDRESS')
    .option('--name <name>', 'device name in the skeleton', 'ble-device')
    .option('--node <node>', 'nodeName in the skeleton', 'edge-node-1')
    .action(async (address: string | undefined, o) => {
      const logger = pino({ level: process.env.EDGETWIN_LOG_LEVEL ?? 'warn' }, pino.destination(2));
      const { adapterSpec, bleSkeleton, readGattTable, scanBle } = await import(
        '@edgetwin/mappers/drivers/bluetooth/probe'
      );
      if (o.output !== undefined && o.output !== 'yaml')
        program.error(`-o ${o.output}: only "yaml" is supported`, { exitCode: 2 });
      if (o.output === 'yaml' && !address) program.error('-o yaml needs the ADDRESS of one device', { exitCode: 2 });
      try {
        const spec = adapterSpec(o.adapter as string);
        if (!address) {
          const found = await scanBle(spec, o.duration as number, logger);
          process.stdout.write(formatScan(found));
          return await exit(0);
        }
        const { device, services } = await readGattTable(spec, address, o.timeout as number, logger);
        if (o.output === 'yaml') {
          const docs = bleSkeleton(device, services, { name: o.name, node: o.node, adapter: o.adapter });
          process.stdout.write(docs.map((d) => stringify(d)).join('---\n'));
        } else process.stdout.write(formatGatt(device, services));
        return await exit(0);
      } catch (e) {
        process.stderr.write(`edgetwin probe ble: ${(e as Error).message}\n`);
        return await exit(1);
      }
    });
};

type Scan = Awaited<ReturnType<typeof import('@edgetwin/mappers/drivers/bluetooth/probe').scanBle>>;
type Gatt = Awaited<ReturnType<typeof import('@edgetwin/mappers/drivers/bluetooth/probe').readGattTable>>;

export function formatScan(found: Scan): string {
  if (found.length === 0) return 'no BLE device heard advertising\n';
  const rows = found.map((a) => [
    a.address,
    a.addressType,
    a.name ?? '',
    String(a.rssi),
    a.connectable ? 'yes' : 'no',
    a.services.join(','),
    [a.manufacturerData ? `mfr ${a.manufacturerData}` : '', ...a.serviceData.map((s) => `${s.uuid}:${s.data}`)]
      .filter(Boolean)
      .join(' '),
  ]);
  return `${table(['ADDRESS', 'TYPE', 'NAME', 'RSSI', 'CONNECTABLE', 'SERVICES', 'DATA'], rows)}\n`;
}

export function formatGatt(device: Gatt['device'], services: Gatt['services']): string {
  const rows: string[][] = [];
  for (const s of services)
    for (const c of s.characteristics) rows.push([s.uuid, c.uuid, c.name ?? '', c.properties.join(','), c.value ?? '']);
  return `${device.address} (${device.addressType}) ${device.name ?? ''} RSSI ${device.rssi}\n${table(['SERVICE', 'CHARACTERISTIC', 'NAME', 'PROPERTIES', 'VALUE'], rows)}\n`;
}
