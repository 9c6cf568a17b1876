// The bluetooth driver's config and converter (issue 12, docs/ble.md): KubeEdge's dataConverter read as
// one integer (the CC2650 example's value is degrees Celsius), typed fields, dataWrite as byte lists or
// base64, and one message per problem naming the property and key.
import { describedDevice } from '@edgetwin/simulators';
import { describe, expect, it } from 'vitest';
import {
  applyConverter,
  decode,
  deviceConfig,
  encode,
  parseAdapter,
  propertyConfig,
} from '../src/drivers/bluetooth/index.js';

const prop = (
  visitor: Record<string, unknown>,
  type: 'INT' | 'STRING' | 'FLOAT' = 'INT',
  access: 'ReadWrite' | 'ReadOnly' = 'ReadWrite',
) =>
  describedDevice('bluetooth', 'd', { macAddress: 'AA:BB:CC:DD:EE:FF' }, [{ name: 'p', type, access, visitor }])
    .properties[0]!;

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
    const p = propertyConfig(prop({ characteristicUUID: '2a6e', dataType: 'int16le', byteOffset: 1 })).config!;
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
      const p = propertyConfig(prop({ characteristicUUID: 'f000aa0204514000b000000000000000', dataWrite }, 'STRING'))
        .config!;
      expect(encode(p.codec, 'ON')).toEqual(Buffer.from([1]));
      expect(decode(p.codec, Buffer.from([0]))).toBe('OFF');
    }
  });
});

describe('config problems', () => {
  it('names each bad visitor key', () => {
    const { problems } = propertyConfig(
      prop({
        characteristicUUID: 'xyz',
        dataType: 'int12',
        dataWrite: { ON: [256] },
        dataConverter: { orderOfOperations: [{ operationType: 'Divide', operationValue: 0 }] },
      }),
    );
    expect(problems.join('\n')).toMatch(/property p: visitor characteristicUUID "xyz"/);
    expect(problems.join('\n')).toMatch(/dataType must be one of/);
    expect(problems.join('\n')).toMatch(/dataWrite ON must be a list of bytes 0-255 or a base64 string/);
    expect(problems.join('\n')).toMatch(/divides by 0/);
  });

  it('advertisement data is read-only', () => {
    expect(propertyConfig(prop({ manufacturerData: 76, dataType: 'uint8' })).problems).toEqual([
      'property p: advertisement data and RSSI are read-only (accessMode ReadOnly)',
    ]);
    expect(propertyConfig(prop({ manufacturerData: 76, dataType: 'uint8' }, 'INT', 'ReadOnly')).problems).toEqual([]);
  });

  it('parses adapters and needs a way to find the device', () => {
    expect(parseAdapter('hci1')).toMatchObject({ kind: 'hci', deviceId: 1 });
    expect(parseAdapter('uart:/dev/ttyUSB0@115200')).toMatchObject({
      kind: 'uart',
      port: '/dev/ttyUSB0',
      baudRate: 115200,
    });
    expect(parseAdapter('bluez')).toMatch(/must be hciN/);
    const d = describedDevice('bluetooth', 'd', { adapter: 'hci0' }, []);
    expect(deviceConfig(d).problems).toEqual([
      'protocol configData needs macAddress, or localName / serviceUUID to find the device by its advertisement',
    ]);
    const bad = describedDevice('bluetooth', 'd', { macAddress: 'AA:BB:CC' }, []);
    expect(deviceConfig(bad).problems[0]).toMatch(/macAddress "AA:BB:CC" is not like/);
    expect(
      deviceConfig(describedDevice('bluetooth', 'd', { macAddress: 'aa-bb-cc-dd-ee-ff' }, [])).config?.address,
    ).toBe('aa:bb:cc:dd:ee:ff');
  });

  it('EDGETWIN_BLE_ADAPTER overrides the manifest adapter (a Raspberry Pi manifest on the emulator)', () => {
    const d = describedDevice('bluetooth', 'd', { macAddress: 'AA:BB:CC:DD:EE:FF', adapter: 'hci0' }, []);
    expect(deviceConfig(d, { EDGETWIN_BLE_ADAPTER: 'uart:/tmp/x.pty' }).config?.adapter).toMatchObject({
      kind: 'uart',
      port: '/tmp/x.pty',
    });
  });
});
