// `edgetwin probe ble` (issue 12): what advertises nearby, and one device's GATT table, through the same
// adapter code the driver uses (so the same adapter errors and fixes apply).

import type { Peripheral } from '@stoprocent/noble';
import type { Logger } from 'pino';
import { withTimeout } from '../../framework/backoff.js';
import { DriverError } from '../../framework/driver.js';
import { skeletonManifests } from '../../framework/skeleton.js';
import { BleAdapter } from './adapter.js';
import { type AdapterSpec, parseAdapter } from './config.js';

export interface Advertiser {
  address: string;
  addressType: string;
  name?: string;
  rssi: number;
  connectable: boolean;
  services: string[];
  manufacturerData?: string;
  serviceData: Array<{ uuid: string; data: string }>;
}

export interface GattCharacteristic {
  uuid: string;
  name?: string;
  properties: string[];
  /** hex of the value, for readable characteristics */
  value?: string;
}

export interface GattService {
  uuid: string;
  name?: string;
  characteristics: GattCharacteristic[];
}

export function adapterSpec(text: string): AdapterSpec {
  const a = parseAdapter(text);
  if (typeof a === 'string') throw new DriverError(`adapter ${a}`, 'config', false);
  return a;
}

function describePeripheral(p: Peripheral): Advertiser {
  const ad = p.advertisement;
  return {
    address: p.address.toUpperCase(),
    addressType: p.addressType,
    ...(ad.localName ? { name: ad.localName } : {}),
    rssi: p.rssi,
    connectable: p.connectable,
    services: ad.serviceUuids ?? [],
    ...(ad.manufacturerData ? { manufacturerData: ad.manufacturerData.toString('hex') } : {}),
    serviceData: (ad.serviceData ?? []).map((s) => ({ uuid: s.uuid, data: s.data.toString('hex') })),
  };
}

/** Scans for durationMs and returns every advertiser heard, strongest first. */
export async function scanBle(spec: AdapterSpec, durationMs: number, logger: Logger): Promise<Advertiser[]> {
  const adapter = new BleAdapter(spec, logger);
  try {
    await adapter.ready(Math.max(5000, durationMs));
    await new Promise((r) => setTimeout(r, durationMs));
    return adapter
      .advertisers()
      .map((s) => describePeripheral(s.peripheral))
      .sort((a, b) => b.rssi - a.rssi);
  } finally {
    await adapter.close();
  }
}

/** Connects to one device and reads its GATT table (values of readable characteristics in hex). */
export async function readGattTable(
  spec: AdapterSpec,
  address: string,
  timeoutMs: number,
  logger: Logger,
): Promise<{ device: Advertiser; services: GattService[] }> {
  const adapter = new BleAdapter(spec, logger);
  const want = address.toLowerCase();
  try {
    await adapter.ready(timeoutMs);
    const p = await adapter.find((x) => x.address.toLowerCase() === want, timeoutMs, `device ${address}`, timeoutMs);
    const device = describePeripheral(p);
    const services = await adapter.serialised(async () => {
      await withTimeout(
        p.connectAsync(),
        timeoutMs,
        () => new DriverError(`${address}: connect timed out`, 'timeout', true),
      );
      adapter.track(p);
      const found = await withTimeout(
        p.discoverAllServicesAndCharacteristicsAsync(),
        timeoutMs,
        () => new DriverError(`${address}: GATT discovery timed out`, 'timeout', true),
      );
      const out: GattService[] = [];
      for (const s of found.services) {
        const chars: GattCharacteristic[] = [];
        for (const c of s.characteristics ?? []) {
          const entry: GattCharacteristic = {
            uuid: c.uuid,
            ...(c.name ? { name: c.name } : {}),
            properties: c.properties,
          };
          if (c.properties.includes('read')) {
            const v = await withTimeout(c.readAsync(), timeoutMs, () => new Error('read timed out')).catch(
              () => undefined,
            );
            if (v) entry.value = v.toString('hex');
          }
          chars.push(entry);
        }
        out.push({ uuid: s.uuid, ...(s.name ? { name: s.name } : {}), characteristics: chars });
      }
      return out;
    });
    return { device, services };
  } finally {
    await adapter.close();
  }
}

/** GAP and GATT services every device has: not device properties. */
const INFRASTRUCTURE = new Set(['1800', '1801']);

function propertyName(c: GattCharacteristic, used: Set<string>): string {
  const base = (c.name ?? `char-${c.uuid.slice(0, 8)}`)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 50);
  let name = base || `char-${c.uuid.slice(0, 8)}`;
  for (let i = 2; used.has(name); i++) name = `${base}-${i}`;
  used.add(name);
  return name;
}

/** A DeviceModel and Device skeleton (v1beta1, protocol bluetooth) for one probed device. */
export function bleSkeleton(
  device: Advertiser,
  services: GattService[],
  opts: { name: string; node: string; adapter: string },
): Array<Record<string, unknown>> {
  const used = new Set<string>();
  const props: Array<{ name: string; c: GattCharacteristic }> = [];
  for (const s of services) {
    if (INFRASTRUCTURE.has(s.uuid)) continue;
    for (const c of s.characteristics) {
      if (!c.properties.some((p) => ['read', 'write', 'writeWithoutResponse', 'notify', 'indicate'].includes(p)))
        continue;
      props.push({ name: propertyName(c, used), c });
    }
  }
  const writable = (c: GattCharacteristic) =>
    c.properties.includes('write') || c.properties.includes('writeWithoutResponse');
  return skeletonManifests({
    name: opts.name,
    node: opts.node,
    protocol: 'bluetooth',
    configData: { adapter: opts.adapter, macAddress: device.address, addressType: device.addressType },
    properties: props.map(({ name, c }) => ({
      model: {
        name,
        description: `characteristic ${c.uuid} (${c.properties.join(', ')}); raw bytes as hex: set dataType or dataConverter`,
        type: 'STRING',
        accessMode: writable(c) ? 'ReadWrite' : 'ReadOnly',
      },
      visitor: {
        characteristicUUID: c.uuid,
        dataType: 'hex',
        ...(!c.properties.includes('write') && c.properties.includes('writeWithoutResponse')
          ? { writeWithoutResponse: true }
          : {}),
      },
      device: { reportToCloud: true },
    })),
  });
}
