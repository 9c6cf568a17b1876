// The bluetooth driver's config and converter (issue 12, docs/ble.md): KubeEdge's dataConverter read as
// one integer (the CC2650 example's value is degrees Celsius), typed fields, dataWrite as byte lists or
// base64, and one message per problem naming the property and key.
import { formatConfigIssue, type ResolvedDevice, type ResolvedProperty } from '@edgetwin/api';
import { describedDevice } from '@edgetwin/simulators';
import { describe, expect, it } from 'vitest';
import {
  applyConverter,
  type BlePropertyConfig,
  decode,
  encode,
  parseAdapter,
  parseBluetoothVisitor,
  validateBluetoothDevice,
} from '../src/drivers/bluetooth/index.js';

const prop = (
  visitor: Record<string, unknown>,
  type: 'INT' | 'STRING' | 'FLOAT' = 'INT',
  access: 'ReadWrite' | 'ReadOnly' = 'ReadWrite',
) =>
  describedDevice('bluetooth', 'd', { macAddress: 'AA:BB:CC:DD:EE:FF' }, [{ name: 'p', type, access, visitor }])
    .properties[0]!;

function visitor(p: ResolvedProperty): BlePropertyConfig {
  const r = parseBluetoothVisitor(p);
  if (!r.ok) throw new Error(r.issues.map(formatConfigIssue).join('; '));
  return r.value;
}
const problems = (d: ResolvedDevice, env: NodeJS.ProcessEnv = {}) =>
  validateBluetoothDevice(d, env).map(formatConfigIssue);
const visitorProblems = (p: ResolvedProperty) => {
  const r = parseBluetoothVisitor(p);
  return r.ok ? [] : r.issues.map(formatConfigIssue);
};

describe('dataConverter', () => {
  it('reads the CC2650 IR object temperature (bytes 1..0, >> 2, x 0.03125) as degrees Celsius', () => {
    const raw = (Math.round(24.5 / 0.03125) << 2) & 0xffff; // TI's TMP007 encoding
    const data = Buffer.from([raw & 0xff, raw >> 8, 0, 0]);
    const c = {
      startIndex: 1,
      endIndex: 0,
      shiftLeft: 0,
      shiftRight: 2,
      orderOfOperations: [{ operationType: 'Multiply' as const, operationValue: 0.03125 }],
    };
    expect(applyConverter(c, data)).toBe(24.5);
  });

  it('takes the bytes as one integer, first byte most significant, then shifts, then operations in order', () => {
    const data = Buffer.from([0x12, 0x34]);
    expect(
      applyConverter({ startIndex: 0, endIndex: 1, shiftLeft: 0, shiftRight: 0, orderOfOperations: [] }, data),
    ).toBe(0x1234);
    expect(
      applyConverter({ startIndex: 1, endIndex: 0, shiftLeft: 4, shiftRight: 0, orderOfOperations: [] }, data),
    ).toBe(0x34120);
    const ops = [
      { operationType: 'Add' as const, operationValue: 2 },
      { operationType: 'Multiply' as const, operationValue: 10 },
      { operationType: 'Subtract' as const, operationValue: 1 },
      { operationType: 'Divide' as const, operationValue: 4 },
    ];
    expect(
      applyConverter({ startIndex: 0, endIndex: 0, shiftLeft: 0, shiftRight: 0, orderOfOperations: ops }, data),
    ).toBe(((0x12 + 2) * 10 - 1) / 4);
  });

  it('refuses a range beyond the value, naming the byte', () => {
    expect(() =>
      applyConverter(
        { startIndex: 0, endIndex: 3, shiftLeft: 0, shiftRight: 0, orderOfOperations: [] },
        Buffer.from([1]),
      ),
    ).toThrow(/byte 3.*1 byte/);
  });
});

describe('dataType and dataWrite', () => {
  it('decodes and encodes typed fields at a byte offset', () => {
    const p = visitor(prop({ characteristicUUID: '2a6e', dataType: 'int16le', byteOffset: 1 }));
    expect(decode(p.codec, Buffer.from([9, 0x18, 0xfc]))).toBe(-1000);
    expect(encode(p.codec, -1000)).toEqual(Buffer.from([0x18, 0xfc]));
    expect(() => encode(p.codec, 40000)).toThrow(/does not fit dataType int16le/);
    expect(() => encode(p.codec, 'warm')).toThrow(/not a number/);
  });

  it('accepts dataWrite as byte lists and base64, writes by key and reads bytes back as their key', () => {
    for (const dataWrite of [
      { ON: [1], OFF: [0] },
      { ON: 'AQ==', OFF: 'AA==' },
    ]) {
      const p = visitor(prop({ characteristicUUID: 'f000aa0204514000b000000000000000', dataWrite }, 'STRING'));
      expect(encode(p.codec, 'ON')).toEqual(Buffer.from([1]));
      expect(decode(p.codec, Buffer.from([0]))).toBe('OFF');
    }
  });
});

describe('config problems', () => {
  it('names each bad visitor key', () => {
    const text = visitorProblems(
      prop({
        characteristicUUID: 'xyz',
        dataType: 'int12',
        dataWrite: { ON: [256] },
        dataConverter: { orderOfOperations: [{ operationType: 'Divide', operationValue: 0 }] },
      }),
    ).join('\n');
    expect(text).toMatch(/property p: characteristicUUID "xyz" is not a 16-bit or 128-bit UUID/);
    expect(text).toMatch(/property p: dataType "int12" is not one of/);
    expect(text).toMatch(/property p: dataWrite ON must be a list of bytes 0-255 or a base64 string/);
    expect(text).toMatch(/property p: dataConverter orderOfOperations\[0\] divides by 0/);
  });

  it('advertisement data is read-only', () => {
    expect(visitorProblems(prop({ manufacturerData: 76, dataType: 'uint8' }))).toEqual([
      'property p: advertisement data and RSSI are read-only (accessMode ReadOnly)',
    ]);
    expect(visitorProblems(prop({ manufacturerData: 76, dataType: 'uint8' }, 'INT', 'ReadOnly'))).toEqual([]);
  });

  it('parses adapters and needs a way to find the device', () => {
    expect(parseAdapter('hci1')).toMatchObject({ kind: 'hci', deviceId: 1 });
    expect(parseAdapter('uart:/dev/ttyUSB0@115200')).toMatchObject({
      kind: 'uart',
      port: '/dev/ttyUSB0',
      baudRate: 115200,
    });
    expect(parseAdapter('dbus')).toEqual({ kind: 'dbus', adapterId: 'hci0', key: 'dbus:hci0' });
    expect(parseAdapter('dbus:hci1')).toEqual({ kind: 'dbus', adapterId: 'hci1', key: 'dbus:hci1' });
    expect(parseAdapter('dbus:1')).toMatch(/must be hciN/);
    expect(parseAdapter('bluez')).toMatch(/must be hciN/);
    expect(problems(describedDevice('bluetooth', 'd', { adapter: 'hci0' }, []))).toEqual([
      'protocol needs macAddress, or localName / serviceUUID to find the device by its advertisement',
    ]);
    expect(problems(describedDevice('bluetooth', 'd', { macAddress: 'AA:BB:CC' }, []))).toEqual([
      'protocol macAddress "AA:BB:CC" is not like AA:BB:CC:DD:EE:FF',
    ]);
    expect(
      problems(describedDevice('bluetooth', 'd', { macAddress: 'aa-bb-cc-dd-ee-ff', adapter: 'bluez' }, [])),
    ).toEqual(['protocol adapter "bluez" must be hciN (e.g. hci0), uart:/dev/ttyXXX[@baud], or dbus[:hciN] (BlueZ)']);
  });

  it('EDGETWIN_BLE_ADAPTER overrides the manifest adapter (a Raspberry Pi manifest on the emulator)', () => {
    const d = describedDevice('bluetooth', 'd', { macAddress: 'AA:BB:CC:DD:EE:FF', adapter: 'bluez' }, []);
    expect(problems(d, { EDGETWIN_BLE_ADAPTER: 'uart:/tmp/x.pty' })).toEqual([]);
  });
});
