// The `bluetooth` protocol and visitor configData keys (issue 12, docs/ble.md), parsed with one message
// per problem. KubeEdge's keys (macAddress, characteristicUUID, dataConverter, dataWrite) keep their
// meaning; the rest are ours, named in docs/ble.md.

import type { ResolvedDevice, ResolvedProperty } from '@edgetwin/api';
import { type Codec, DATA_TYPES, type DataConverter, type DataType, type Operation } from './converter.js';

/** Where the HCI controller is: the Linux HCI socket `hciN`, or HCI over a serial line (H4 UART). */
export type AdapterSpec =
  | { kind: 'hci'; deviceId: number; key: string }
  | { kind: 'uart'; port: string; baudRate: number; key: string };

export interface BleDeviceConfig {
  adapter: AdapterSpec;
  /** lower-case aa:bb:cc:dd:ee:ff, or undefined when the device is found by name / service */
  address?: string;
  addressType?: 'public' | 'random';
  localName?: string;
  serviceUuid?: string;
  /** keepAlive (default): stay connected; onDemand: connect for each read/write cycle, then disconnect */
  connection: 'keepAlive' | 'onDemand';
  /** longest a connect (find + connect + discover) may take */
  connectTimeoutMs: number;
  /** longest one GATT operation may take */
  operationTimeoutMs: number;
  /** true when no property needs a connection (advertisement data only) */
  advertisementOnly: boolean;
}

export type ValueSource =
  | { kind: 'gatt'; characteristic: string; service?: string; subscribe: 'auto' | 'notify' | 'indicate' | 'none' }
  | { kind: 'manufacturerData'; companyId?: number }
  | { kind: 'serviceData'; uuid: string }
  | { kind: 'rssi' };

export interface BlePropertyConfig {
  source: ValueSource;
  codec: Codec;
  /** write without response (Write Command) instead of a Write Request; default: by the characteristic's properties */
  writeWithoutResponse?: boolean;
}

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

/** A UUID as noble spells it: lower-case hex without dashes; 16-bit ones stay 4 digits. */
export function normalizeUuid(v: unknown): string | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  let s = String(v).toLowerCase().replace(/-/g, '');
  if (s.startsWith('0x')) s = s.slice(2);
  if (!/^[0-9a-f]+$/.test(s)) return undefined;
  if (s.length === 4) return s;
  if (s.length !== 32) return undefined;
  // the Bluetooth base UUID carries a 16-bit one: noble names those by 4 digits
  const m = /^0000([0-9a-f]{4})00001000800000805f9b34fb$/.exec(s);
  return m ? (m[1] as string) : s;
}

function int(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) ? n : undefined;
}

/** `hci0`, `hci1`, `uart:/dev/ttyUSB0`, `uart:/dev/ttyAMA0@115200`. */
export function parseAdapter(text: string, baud?: unknown): AdapterSpec | string {
  const hci = /^hci(\d+)$/.exec(text);
  if (hci) return { kind: 'hci', deviceId: Number(hci[1]), key: text };
  const uart = /^uart:(.+?)(?:@(\d+))?$/.exec(text);
  if (uart) {
    const baudRate = Number(uart[2] ?? baud ?? 1000000);
    if (!Number.isInteger(baudRate) || baudRate <= 0) return `adapter baud rate must be a positive integer`;
    return { kind: 'uart', port: uart[1] as string, baudRate, key: `uart:${uart[1]}` };
  }
  if (text === 'dbus')
    return 'adapter "dbus" (BlueZ D-Bus) is not supported yet: use hciN with cap_net_raw, or a UART dongle (docs/ble.md)';
  return `adapter "${text}" must be hciN (e.g. hci0) or uart:/dev/ttyXXX[@baud]`;
}

/** Properties whose values come from advertisements never need a connection. */
function isAdvertised(p: ResolvedProperty): boolean {
  return (
    p.visitor.manufacturerData !== undefined || p.visitor.serviceDataUUID !== undefined || p.visitor.source === 'rssi'
  );
}

/** EDGETWIN_BLE_ADAPTER overrides every device's adapter, so a Raspberry Pi manifest runs against the emulator. */
export function deviceConfig(
  device: ResolvedDevice,
  env = process.env,
): { config?: BleDeviceConfig; problems: string[] } {
  const c = device.protocolConfig;
  const problems: string[] = [];
  const adapterText = String(env.EDGETWIN_BLE_ADAPTER || c.adapter || 'hci0');
  const adapter = parseAdapter(adapterText, c.baudRate);
  if (typeof adapter === 'string') problems.push(`protocol configData ${adapter}`);
  let address: string | undefined;
  if (c.macAddress !== undefined && c.macAddress !== '') {
    address = String(c.macAddress).toLowerCase().replace(/-/g, ':');
    if (!MAC.test(address))
      problems.push(`protocol configData macAddress "${c.macAddress}" is not like AA:BB:CC:DD:EE:FF`);
  }
  const addressType = c.addressType;
  if (addressType !== undefined && addressType !== 'public' && addressType !== 'random')
    problems.push(`protocol configData addressType must be "public" or "random" (got ${JSON.stringify(addressType)})`);
  const localName = c.localName === undefined ? undefined : String(c.localName);
  const serviceUuid = c.serviceUUID === undefined ? undefined : normalizeUuid(c.serviceUUID);
  if (c.serviceUUID !== undefined && !serviceUuid)
    problems.push(`protocol configData serviceUUID "${c.serviceUUID}" is not a 16-bit or 128-bit UUID`);
  if (!address && !localName && !serviceUuid)
    problems.push(
      'protocol configData needs macAddress, or localName / serviceUUID to find the device by its advertisement',
    );
  const connection = (c.connection ?? 'keepAlive') as BleDeviceConfig['connection'];
  if (connection !== 'keepAlive' && connection !== 'onDemand')
    problems.push(`protocol configData connection must be "keepAlive" or "onDemand"`);
  const connectTimeoutMs = int(c.connectTimeoutMs ?? 10000);
  if (connectTimeoutMs === undefined || connectTimeoutMs <= 0)
    problems.push('protocol configData connectTimeoutMs must be a positive integer');
  const operationTimeoutMs = int(c.operationTimeoutMs ?? 3000);
  if (operationTimeoutMs === undefined || operationTimeoutMs <= 0)
    problems.push('protocol configData operationTimeoutMs must be a positive integer');
  if (problems.length) return { problems };
  return {
    config: {
      adapter: adapter as AdapterSpec,
      ...(address ? { address } : {}),
      ...(addressType ? { addressType: addressType as 'public' | 'random' } : {}),
      ...(localName ? { localName } : {}),
      ...(serviceUuid ? { serviceUuid } : {}),
      connection,
      connectTimeoutMs: connectTimeoutMs as number,
      operationTimeoutMs: operationTimeoutMs as number,
      advertisementOnly: device.properties.length > 0 && device.properties.every(isAdvertised),
    },
    problems,
  };
}

const OPS = ['Add', 'Subtract', 'Multiply', 'Divide'];

function parseConverter(v: unknown, where: string, problems: string[]): DataConverter | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    problems.push(`${where}: dataConverter must be an object`);
    return undefined;
  }
  const o = v as Record<string, unknown>;
  const startIndex = int(o.startIndex ?? 0);
  const endIndex = int(o.endIndex ?? o.startIndex ?? 0);
  const shiftLeft = int(o.shiftLeft ?? 0);
  const shiftRight = int(o.shiftRight ?? 0);
  for (const [k, n] of Object.entries({ startIndex, endIndex, shiftLeft, shiftRight }))
    if (n === undefined || n < 0) problems.push(`${where}: dataConverter ${k} must be a non-negative integer`);
  if (startIndex !== undefined && endIndex !== undefined && Math.abs(startIndex - endIndex) >= 8)
    problems.push(`${where}: dataConverter covers more than 8 bytes`);
  const ops: Operation[] = [];
  const rawOps = o.orderOfOperations ?? [];
  if (!Array.isArray(rawOps)) problems.push(`${where}: dataConverter orderOfOperations must be a list`);
  else
    rawOps.forEach((op, i) => {
      const r = (op ?? {}) as Record<string, unknown>;
      const value = typeof r.operationValue === 'string' ? Number(r.operationValue) : r.operationValue;
      if (!OPS.includes(r.operationType as string))
        problems.push(`${where}: dataConverter orderOfOperations[${i}].operationType must be one of ${OPS.join(', ')}`);
      else if (typeof value !== 'number' || !Number.isFinite(value))
        problems.push(`${where}: dataConverter orderOfOperations[${i}].operationValue must be a number`);
      else if (r.operationType === 'Divide' && value === 0)
        problems.push(`${where}: dataConverter orderOfOperations[${i}] divides by 0`);
      else ops.push({ operationType: r.operationType as Operation['operationType'], operationValue: value });
    });
  return {
    startIndex: startIndex ?? 0,
    endIndex: endIndex ?? 0,
    shiftLeft: shiftLeft ?? 0,
    shiftRight: shiftRight ?? 0,
    orderOfOperations: ops,
  };
}

/** dataWrite values: a list of byte values (KubeEdge's sample, `"ON": [1]`) or base64 (KubeEdge's CRD, `format: byte`). */
function parseDataWrite(v: unknown, where: string, problems: string[]): Map<string, Buffer> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    problems.push(`${where}: dataWrite must map values to bytes (e.g. ON: [1])`);
    return undefined;
  }
  const out = new Map<string, Buffer>();
  for (const [key, bytes] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(bytes) && bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255))
      out.set(key, Buffer.from(bytes as number[]));
    else if (typeof bytes === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(bytes) && bytes.length % 4 === 0)
      out.set(key, Buffer.from(bytes, 'base64'));
    else problems.push(`${where}: dataWrite ${key} must be a list of bytes 0-255 or a base64 string`);
  }
  return out;
}

export function propertyConfig(prop: ResolvedProperty): { config?: BlePropertyConfig; problems: string[] } {
  const v = prop.visitor;
  const where = `property ${prop.name}`;
  const problems: string[] = [];
  let source: ValueSource | undefined;
  if (v.manufacturerData !== undefined) {
    const companyId =
      v.manufacturerData === true || v.manufacturerData === 'true' ? undefined : int(v.manufacturerData);
    if (companyId === undefined && v.manufacturerData !== true && v.manufacturerData !== 'true')
      problems.push(`${where}: visitor manufacturerData must be a company id (e.g. 0x004C as 76) or true`);
    source = { kind: 'manufacturerData', ...(companyId !== undefined ? { companyId } : {}) };
  } else if (v.serviceDataUUID !== undefined) {
    const uuid = normalizeUuid(v.serviceDataUUID);
    if (!uuid) problems.push(`${where}: visitor serviceDataUUID "${v.serviceDataUUID}" is not a UUID`);
    source = { kind: 'serviceData', uuid: uuid ?? '' };
  } else if (v.source === 'rssi') {
    source = { kind: 'rssi' };
  } else {
    const characteristic = normalizeUuid(v.characteristicUUID);
    if (!characteristic)
      problems.push(
        `${where}: visitor characteristicUUID ${JSON.stringify(v.characteristicUUID)} must be a 16-bit or 128-bit UUID (or give manufacturerData / serviceDataUUID)`,
      );
    const service = v.serviceUUID === undefined ? undefined : normalizeUuid(v.serviceUUID);
    if (v.serviceUUID !== undefined && !service) problems.push(`${where}: visitor serviceUUID is not a UUID`);
    const subscribe = (v.subscribe ?? 'auto') as 'auto' | 'notify' | 'indicate' | 'none';
    if (!['auto', 'notify', 'indicate', 'none'].includes(subscribe))
      problems.push(`${where}: visitor subscribe must be auto, notify, indicate or none`);
    source = { kind: 'gatt', characteristic: characteristic ?? '', ...(service ? { service } : {}), subscribe };
  }
  const codec: Codec = { byteOffset: 0 };
  if (v.dataConverter !== undefined) {
    const c = parseConverter(v.dataConverter, where, problems);
    if (c) codec.converter = c;
  }
  if (v.dataType !== undefined) {
    if (!DATA_TYPES.includes(v.dataType as DataType))
      problems.push(`${where}: visitor dataType must be one of ${DATA_TYPES.join(', ')}`);
    else codec.dataType = v.dataType as DataType;
  }
  if (codec.converter && codec.dataType) problems.push(`${where}: give dataConverter or dataType, not both`);
  if (v.byteOffset !== undefined) {
    const o = int(v.byteOffset);
    if (o === undefined || o < 0) problems.push(`${where}: visitor byteOffset must be a non-negative integer`);
    else codec.byteOffset = o;
  }
  if (v.dataWrite !== undefined) {
    const m = parseDataWrite(v.dataWrite, where, problems);
    if (m) codec.dataWrite = m;
  }
  let writeWithoutResponse: boolean | undefined;
  if (v.writeWithoutResponse !== undefined) {
    if (v.writeWithoutResponse === true || v.writeWithoutResponse === 'true') writeWithoutResponse = true;
    else if (v.writeWithoutResponse === false || v.writeWithoutResponse === 'false') writeWithoutResponse = false;
    else problems.push(`${where}: visitor writeWithoutResponse must be true or false`);
  }
  if (source && source.kind !== 'gatt' && prop.accessMode === 'ReadWrite')
    problems.push(`${where}: advertisement data and RSSI are read-only (accessMode ReadOnly)`);
  if (problems.length || !source) return { problems };
  return {
    config: { source, codec, ...(writeWithoutResponse !== undefined ? { writeWithoutResponse } : {}) },
    problems,
  };
}
