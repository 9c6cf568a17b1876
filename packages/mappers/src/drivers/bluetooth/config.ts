// The one home of `bluetooth` configuration (issue 12, docs/ble.md; issue 11's config.ts pattern): protocol
// configData -> BleDeviceConfig, visitor configData -> BlePropertyConfig, and validateBluetoothDevice, which
// `edgetwin validate`/`apply` and the running mapper both call. KubeEdge's keys (macAddress,
// characteristicUUID, dataConverter, dataWrite) keep their meaning; the rest are ours, named in docs/ble.md.

import {
  type ConfigData,
  type ConfigIssue,
  type ConfigParse,
  ConfigReader,
  type ResolvedDevice,
  type ResolvedProperty,
} from '@edgetwin/api';
import { type Codec, DATA_TYPES, type DataConverter, type DataType, type Operation } from './converter.js';

/**
 * Where the controller is: the Linux HCI socket `hciN`, HCI over a serial line (H4 UART), or BlueZ's
 * adapter `hciN` through bluetoothd on the D-Bus system bus (`dbus`, `dbus:hciN`).
 */
export type AdapterSpec =
  | { kind: 'hci'; deviceId: number; key: string }
  | { kind: 'uart'; port: string; baudRate: number; key: string }
  | { kind: 'dbus'; adapterId: string; key: string };

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

/** `hci0`, `hci1`, `uart:/dev/ttyUSB0`, `uart:/dev/ttyAMA0@115200`, `dbus`, `dbus:hci1`; a string is the problem. */
export function parseAdapter(text: string, baud?: unknown): AdapterSpec | string {
  const hci = /^hci(\d+)$/.exec(text);
  if (hci) return { kind: 'hci', deviceId: Number(hci[1]), key: text };
  const uart = /^uart:(.+?)(?:@(\d+))?$/.exec(text);
  if (uart) {
    const baudRate = Number(uart[2] ?? baud ?? 1000000);
    if (!Number.isInteger(baudRate) || baudRate <= 0) return 'baud rate must be a positive integer';
    return { kind: 'uart', port: uart[1] as string, baudRate, key: `uart:${uart[1]}` };
  }
  const dbus = /^dbus(?::(hci\d+))?$/.exec(text);
  if (dbus) {
    const adapterId = dbus[1] ?? 'hci0';
    return { kind: 'dbus', adapterId, key: `dbus:${adapterId}` };
  }
  return `"${text}" must be hciN (e.g. hci0), uart:/dev/ttyXXX[@baud], or dbus[:hciN] (BlueZ)`;
}

/** Properties whose values come from advertisements never need a connection. */
function isAdvertised(p: ResolvedProperty): boolean {
  return (
    p.visitor.manufacturerData !== undefined || p.visitor.serviceDataUUID !== undefined || p.visitor.source === 'rssi'
  );
}

/** EDGETWIN_BLE_ADAPTER overrides every device's adapter, so a Raspberry Pi manifest runs against the emulator. */
export function parseBluetoothProtocol(
  c: ConfigData,
  properties: ResolvedProperty[],
  env = process.env,
): ConfigParse<BleDeviceConfig> {
  const r = new ConfigReader(c);
  const adapterText = String(env.EDGETWIN_BLE_ADAPTER || c.adapter || 'hci0');
  const adapter = parseAdapter(adapterText, c.baudRate);
  if (typeof adapter === 'string') r.problem('adapter', adapter);
  let address: string | undefined;
  if (r.has('macAddress')) {
    address = String(c.macAddress).toLowerCase().replace(/-/g, ':');
    if (!MAC.test(address)) r.problem('macAddress', `"${c.macAddress}" is not like AA:BB:CC:DD:EE:FF`);
  }
  const addressType = r.oneOf('addressType', ['public', 'random'] as const);
  const localName = r.string('localName');
  const serviceUuid = r.has('serviceUUID') ? normalizeUuid(c.serviceUUID) : undefined;
  if (r.has('serviceUUID') && !serviceUuid)
    r.problem('serviceUUID', `"${c.serviceUUID}" is not a 16-bit or 128-bit UUID`);
  if (!address && !localName && !serviceUuid)
    r.problem(undefined, 'needs macAddress, or localName / serviceUUID to find the device by its advertisement');
  const connection = r.oneOf('connection', ['keepAlive', 'onDemand'] as const, 'keepAlive');
  const connectTimeoutMs = r.int('connectTimeoutMs', 10000, 1);
  const operationTimeoutMs = r.int('operationTimeoutMs', 3000, 1);
  return r.result(() => ({
    adapter: adapter as AdapterSpec,
    ...(address ? { address } : {}),
    ...(addressType ? { addressType } : {}),
    ...(localName ? { localName } : {}),
    ...(serviceUuid ? { serviceUuid } : {}),
    connection,
    connectTimeoutMs,
    operationTimeoutMs,
    advertisementOnly: properties.length > 0 && properties.every(isAdvertised),
  }));
}

const OPS = ['Add', 'Subtract', 'Multiply', 'Divide'];

function parseConverter(v: unknown, r: ConfigReader): DataConverter | undefined {
  const problem = (m: string) => r.problem('dataConverter', m);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    problem('must be an object');
    return undefined;
  }
  const o = v as Record<string, unknown>;
  const startIndex = int(o.startIndex ?? 0);
  const endIndex = int(o.endIndex ?? o.startIndex ?? 0);
  const shiftLeft = int(o.shiftLeft ?? 0);
  const shiftRight = int(o.shiftRight ?? 0);
  for (const [k, n] of Object.entries({ startIndex, endIndex, shiftLeft, shiftRight }))
    if (n === undefined || n < 0) problem(`${k} must be a non-negative integer`);
  if (startIndex !== undefined && endIndex !== undefined && Math.abs(startIndex - endIndex) >= 8)
    problem('covers more than 8 bytes');
  const ops: Operation[] = [];
  const rawOps = o.orderOfOperations ?? [];
  if (!Array.isArray(rawOps)) problem('orderOfOperations must be a list');
  else
    rawOps.forEach((op, i) => {
      const r = (op ?? {}) as Record<string, unknown>;
      const value = typeof r.operationValue === 'string' ? Number(r.operationValue) : r.operationValue;
      if (!OPS.includes(r.operationType as string))
        problem(`orderOfOperations[${i}].operationType must be one of ${OPS.join(', ')}`);
      else if (typeof value !== 'number' || !Number.isFinite(value))
        problem(`orderOfOperations[${i}].operationValue must be a number`);
      else if (r.operationType === 'Divide' && value === 0) problem(`orderOfOperations[${i}] divides by 0`);
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
function parseDataWrite(v: unknown, r: ConfigReader): Map<string, Buffer> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    r.problem('dataWrite', 'must map values to bytes (e.g. ON: [1])');
    return undefined;
  }
  const out = new Map<string, Buffer>();
  for (const [key, bytes] of Object.entries(v as Record<string, unknown>)) {
    if (Array.isArray(bytes) && bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255))
      out.set(key, Buffer.from(bytes as number[]));
    else if (typeof bytes === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(bytes) && bytes.length % 4 === 0)
      out.set(key, Buffer.from(bytes, 'base64'));
    else r.problem('dataWrite', `${key} must be a list of bytes 0-255 or a base64 string`);
  }
  return out;
}

export function parseBluetoothVisitor(prop: ResolvedProperty): ConfigParse<BlePropertyConfig> {
  const v = prop.visitor;
  const r = new ConfigReader(v, prop.name);
  let source: ValueSource;
  if (r.has('manufacturerData')) {
    const all = v.manufacturerData === true || v.manufacturerData === 'true';
    const companyId = all ? undefined : r.int('manufacturerData', 0, 0, 0xffff);
    source = { kind: 'manufacturerData', ...(companyId !== undefined ? { companyId } : {}) };
  } else if (r.has('serviceDataUUID')) {
    const uuid = normalizeUuid(v.serviceDataUUID);
    if (!uuid) r.problem('serviceDataUUID', `"${v.serviceDataUUID}" is not a 16-bit or 128-bit UUID`);
    source = { kind: 'serviceData', uuid: uuid ?? '' };
  } else if (v.source === 'rssi') {
    source = { kind: 'rssi' };
  } else {
    const characteristic = normalizeUuid(v.characteristicUUID);
    if (!characteristic)
      r.problem(
        'characteristicUUID',
        `${JSON.stringify(v.characteristicUUID)} is not a 16-bit or 128-bit UUID (or give manufacturerData / serviceDataUUID)`,
      );
    const service = r.has('serviceUUID') ? normalizeUuid(v.serviceUUID) : undefined;
    if (r.has('serviceUUID') && !service) r.problem('serviceUUID', `"${v.serviceUUID}" is not a UUID`);
    const subscribe = r.oneOf('subscribe', ['auto', 'notify', 'indicate', 'none'] as const, 'auto');
    source = { kind: 'gatt', characteristic: characteristic ?? '', ...(service ? { service } : {}), subscribe };
  }
  const codec: Codec = { byteOffset: 0 };
  if (r.has('dataConverter')) {
    const c = parseConverter(v.dataConverter, r);
    if (c) codec.converter = c;
  }
  const dataType = r.oneOf('dataType', DATA_TYPES);
  if (dataType) codec.dataType = dataType as DataType;
  if (codec.converter && codec.dataType) r.problem('dataType', 'give dataConverter or dataType, not both');
  codec.byteOffset = r.int('byteOffset', 0);
  if (r.has('dataWrite')) {
    const m = parseDataWrite(v.dataWrite, r);
    if (m) codec.dataWrite = m;
  }
  const writeWithoutResponse = r.has('writeWithoutResponse') ? r.bool('writeWithoutResponse', false) : undefined;
  if (source.kind !== 'gatt' && prop.accessMode === 'ReadWrite')
    r.problem(undefined, 'advertisement data and RSSI are read-only (accessMode ReadOnly)');
  return r.result(() => ({ source, codec, ...(writeWithoutResponse !== undefined ? { writeWithoutResponse } : {}) }));
}

/** Every problem of a bluetooth device's config: the protocol keys and each property's visitor. */
export function validateBluetoothDevice(device: ResolvedDevice, env = process.env): ConfigIssue[] {
  const d = parseBluetoothProtocol(device.protocolConfig, device.properties, env);
  const issues = d.ok ? [...d.notices] : [...d.issues];
  for (const p of device.properties) {
    const pc = parseBluetoothVisitor(p);
    issues.push(...(pc.ok ? pc.notices : pc.issues));
  }
  return issues;
}
