import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
// The Modbus driver's config.ts (visitor and protocol parsing) and codec.ts (raw values <-> registers).
import { formatConfigIssue, type ResolvedProperty } from '@edgetwin/api';
import {
  asPropertyValue,
  decodeModbusBits,
  decodeModbusRegisters,
  encodeModbusBits,
  encodeModbusRegisters,
  modbusCrc16,
} from '../src/drivers/modbus/codec.js';
import {
  MODBUS_ORDERS,
  type ModbusOrder,
  type ModbusPoint,
  type ModbusType,
  parseModbusProtocol,
  parseModbusVisitor,
} from '../src/drivers/modbus/config.js';
import { driverValidators } from '../src/drivers/validators.js';
import { toEngineering, transformSpec } from '../src/framework/transforms.js';

function point(
  visitor: Record<string, unknown>,
  name = 'p',
  type?: 'INT' | 'FLOAT' | 'BOOLEAN' | 'STRING',
): ModbusPoint {
  const r = parseModbusVisitor({ name, type, visitor });
  if (!r.ok) throw new Error(r.issues.map(formatConfigIssue).join('; '));
  return r.value;
}

function prop(visitor: Record<string, unknown>, name = 'temperature', extra: Partial<ResolvedProperty> = {}) {
  return {
    name,
    type: 'INT',
    accessMode: 'ReadWrite',
    visitor,
    collectCycleMs: 1000,
    reportCycleMs: 1000,
    reportToCloud: true,
    ...extra,
  } as ResolvedProperty;
}

/** What `edgetwin validate` and the mapper report for one property: the framework's and the driver's checks. */
function errorsOf(visitor: Record<string, unknown>, name = 'temperature'): string[] {
  const device = {
    id: 'default/d',
    namespace: 'default',
    name: 'd',
    nodeName: 'n',
    protocol: 'modbus',
    protocolConfig: {},
    model: { namespace: 'default', name: 'm' },
    properties: [prop(visitor, name)],
    methods: [],
    stateReport: { reportToCloud: true, reportCycleMs: 1000 },
    version: '1',
  };
  return (driverValidators.modbus?.(device) ?? []).map(formatConfigIssue);
}

const numericRanges: Record<string, fc.Arbitrary<number>> = {
  int16: fc.integer({ min: -32768, max: 32767 }),
  uint16: fc.integer({ min: 0, max: 65535 }),
  int32: fc.integer({ min: -2147483648, max: 2147483647 }),
  uint32: fc.integer({ min: 0, max: 4294967295 }),
  int64: fc.bigInt({ min: -(2n ** 53n) + 1n, max: 2n ** 53n - 1n }).map(Number),
  uint64: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }).map(Number),
  // values a float32 holds exactly: decoding gives the shortest decimal that is that float32
  float32: fc.float({ noNaN: true, noDefaultInfinity: true }),
  float64: fc.double({ noNaN: true, noDefaultInfinity: true }),
};

describe('modbus codec: every numeric type in every order', () => {
  for (const [type, arb] of Object.entries(numericRanges)) {
    for (const order of MODBUS_ORDERS) {
      it(`${type} ${order} round-trips`, () => {
        const p = point({ register: 'HoldingRegister', type, order });
        fc.assert(
          fc.property(arb, (v) => {
            const regs = encodeModbusRegisters(p, v);
            expect(regs).toHaveLength(p.count);
            for (const r of regs) expect(r >= 0 && r <= 0xffff).toBe(true);
            const back = decodeModbusRegisters(p, regs);
            if (type === 'float32') expect(Math.fround(back as number) === v, `${back} for ${v}`).toBe(true);
            else expect(back === 0 ? 0 : back).toBe(v === 0 ? 0 : v); // -0 and 0 are one value on the wire
          }),
          { numRuns: 200 },
        );
      });
    }
  }
});

describe('modbus codec: the wire layout of each order', () => {
  // 0x01020304 as uint32 and float32 1.0 (0x3F800000): the four orders as devices put them on the wire
  const cases: Array<[ModbusOrder, number[], number[]]> = [
    ['ABCD', [0x0102, 0x0304], [0x3f80, 0x0000]],
    ['BADC', [0x0201, 0x0403], [0x803f, 0x0000]],
    ['CDAB', [0x0304, 0x0102], [0x0000, 0x3f80]],
    ['DCBA', [0x0403, 0x0201], [0x0000, 0x803f]],
  ];
  for (const [order, u32, f32] of cases) {
    it(`${order}: uint32 0x01020304 and float32 1.0`, () => {
      expect(encodeModbusRegisters(point({ register: 'HoldingRegister', type: 'uint32', order }), 0x01020304)).toEqual(
        u32,
      );
      expect(decodeModbusRegisters(point({ register: 'HoldingRegister', type: 'float32', order }), f32)).toBe(1);
    });
  }

  it('float32 reads as the shortest decimal of the same float: 0.1 is 0.1, 16777216 stays exact', () => {
    const p = point({ register: 'HoldingRegister', type: 'float32' });
    expect(decodeModbusRegisters(p, encodeModbusRegisters(p, 0.1))).toBe(0.1);
    expect(decodeModbusRegisters(p, encodeModbusRegisters(p, 16777216))).toBe(16777216);
    expect(decodeModbusRegisters(p, encodeModbusRegisters(p, 123456.7))).toBe(123456.7);
  });

  it('int64 CDAB puts the least significant register first', () => {
    const p = point({ register: 'InputRegister', type: 'int64', order: 'CDAB' });
    expect(encodeModbusRegisters(p, 1)).toEqual([1, 0, 0, 0]);
    expect(decodeModbusRegisters(p, [0xfffe, 0xffff, 0xffff, 0xffff])).toBe(-2);
  });

  it('int16 with BADC swaps the two bytes of the register', () => {
    const p = point({ register: 'HoldingRegister', type: 'int16', order: 'BADC' });
    expect(encodeModbusRegisters(p, 0x0102)).toEqual([0x0201]);
    expect(decodeModbusRegisters(p, [0xffff])).toBe(-1);
  });

  it('maps KubeEdge isSwap/isRegisterSwap onto the orders', () => {
    const orderOf = (isSwap: unknown, isRegisterSwap: unknown) =>
      point({ register: 'HoldingRegister', type: 'float32', isSwap, isRegisterSwap }).order;
    expect(orderOf(false, false)).toBe('ABCD');
    expect(orderOf(true, false)).toBe('BADC');
    expect(orderOf(false, 'true')).toBe('CDAB');
    expect(orderOf(true, true)).toBe('DCBA');
  });
});

describe('modbus codec: scale, strings, booleans, bitfields, bits', () => {
  it('a thermometer int16 scaled by 0.1: the codec reads the raw 215, the framework makes it 21.5', () => {
    const visitor = { register: 'HoldingRegister', type: 'int16', scale: 0.1 };
    const p = point(visitor);
    expect(decodeModbusRegisters(p, [215])).toBe(215);
    expect(encodeModbusRegisters(p, -42)).toEqual([0x10000 - 42]);
    const t = prop(visitor, 'temperature', { type: 'FLOAT' });
    const spec = transformSpec(t);
    expect(spec.ok && toEngineering(215, t, spec.value)).toEqual({ ok: true, value: '21.5' });
  });

  it('strings fill limit registers, pad with NUL, honour byte swap and refuse overflow', () => {
    const p = point({ register: 'HoldingRegister', type: 'string', limit: 3 });
    expect(encodeModbusRegisters(p, 'AB')).toEqual([0x4142, 0, 0]);
    expect(decodeModbusRegisters(p, [0x4142, 0x4300, 0])).toBe('ABC');
    const swapped = point({ register: 'HoldingRegister', type: 'string', limit: 2, isSwap: true });
    expect(decodeModbusRegisters(swapped, [0x4241, 0x0043])).toBe('ABC');
    expect(() => encodeModbusRegisters(p, 'ABCDEFG')).toThrow(/7 bytes, over the 6 of 3 registers/);
    const utf = point({ register: 'HoldingRegister', type: 'string', limit: 4 });
    expect(decodeModbusRegisters(utf, encodeModbusRegisters(utf, 'zürich'))).toBe('zürich');
  });

  it('bytes travel as base64', () => {
    const p = point({ register: 'InputRegister', type: 'bytes', limit: 2 });
    expect(decodeModbusRegisters(p, [0x0102, 0x0304])).toBe(Buffer.from([1, 2, 3, 4]).toString('base64'));
    expect(encodeModbusRegisters(p, 'AQIDBA==')).toEqual([0x0102, 0x0304]);
  });

  it('a boolean on a register is non-zero; with `bit` the driver reads the whole word (the framework picks the bit)', () => {
    const p = point({ register: 'HoldingRegister', type: 'boolean' });
    expect(decodeModbusRegisters(p, [4])).toBe(true);
    expect(encodeModbusRegisters(p, true)).toEqual([1]);
    const b3 = point({ register: 'HoldingRegister', type: 'boolean', bit: 3 });
    expect(decodeModbusRegisters(b3, [0b1010])).toBe(0b1010);
    expect(encodeModbusRegisters(b3, 0b1001, [0])).toEqual([0b1001]);
  });

  it('a bitfield reads and writes only its bits', () => {
    const p = point({ register: 'HoldingRegister', type: 'bitfield', bitOffset: 4, bits: 3 });
    expect(decodeModbusRegisters(p, [0b1101_0000])).toBe(0b101);
    expect(encodeModbusRegisters(p, 2, [0xffff])).toEqual([0xffaf]);
    expect(() => encodeModbusRegisters(p, 9, [0])).toThrow(/does not fit in 3 bit/);
  });

  it('a bitfield starts at bitOffset, not bit (bit is the framework transform of one boolean)', () => {
    expect(() => point({ register: 'HoldingRegister', type: 'bitfield', bit: 2, bits: 2 })).toThrow(
      /bit selects one bit/,
    );
  });

  it('coils: one coil is a boolean, several coils are an integer (first coil = lowest bit)', () => {
    const p = point({ register: 'CoilRegister', offset: 0, limit: 1 });
    expect(p.type).toBe('boolean');
    expect(decodeModbusBits(p, [true])).toBe(true);
    expect(encodeModbusBits(p, 1)).toEqual([true]);
    expect(encodeModbusBits(p, '0')).toEqual([false]);
    const many = point({ register: 'DiscreteInputRegister', limit: 4 });
    expect(decodeModbusBits(many, [1, 0, 1, 1])).toBe(13);
    const coils = point({ register: 'CoilRegister', limit: 4 });
    expect(encodeModbusBits(coils, 13)).toEqual([true, false, true, true]);
  });

  it('shapes values for the model type (coil into INT is 1/0)', () => {
    expect(asPropertyValue(true, 'INT')).toBe(1);
    expect(asPropertyValue(0, 'BOOLEAN')).toBe(false);
    expect(asPropertyValue(21.5, 'STRING')).toBe('21.5');
  });

  it('wrong-typed values give an error naming the property', () => {
    const p = point({ register: 'HoldingRegister', type: 'int16' }, 'setpoint');
    expect(() => encodeModbusRegisters(p, 'warm')).toThrow(/property setpoint: "warm" is not a number/);
    expect(() => encodeModbusRegisters(p, 40000)).toThrow(/setpoint: 40000 is outside int16/);
    expect(() => encodeModbusBits(point({ register: 'CoilRegister' }, 'sw'), 'maybe')).toThrow(
      /sw: "maybe" is not a boolean/,
    );
  });
});

describe('modbus codec: KubeEdge visitors', () => {
  it('reads the temperature-sensor-demo visitors (one-register float is a scaled uint16; coil into INT)', () => {
    const t = point({
      dataType: 'float',
      register: 'HoldingRegister',
      offset: 0,
      limit: 1,
      scale: 0.1,
      isSwap: false,
      isRegisterSwap: false,
      max: 100.0,
      min: 1.0,
    });
    expect(t).toMatchObject({
      table: 'holding',
      offset: 0,
      count: 1,
      type: 'uint16',
      order: 'ABCD',
      writeFunction: 6,
    });
    const s = point({ dataType: 'int', register: 'CoilRegister', offset: 0, limit: 1, scale: 1 });
    expect(s).toMatchObject({ table: 'coil', type: 'boolean', count: 1, writeFunction: 5 });
  });

  it('infers width from limit: int limit 2 is uint32, float limit 2 is float32, double limit 4 is float64', () => {
    const typeOf = (dataType: string, limit: number) => point({ register: 'InputRegister', dataType, limit }).type;
    expect(typeOf('int', 2)).toBe<ModbusType>('uint32');
    expect(typeOf('float', 2)).toBe<ModbusType>('float32');
    expect(typeOf('double', 4)).toBe<ModbusType>('float64');
    expect(point({ register: 'InputRegister', limit: 2 }, 'p', 'FLOAT').type).toBe('float32');
    expect(point({ register: 'HoldingRegister', offset: '7', limit: '1' }).offset).toBe(7);
  });

  it('picks the write function from table and count, or writeFunction', () => {
    expect(point({ register: 'HoldingRegister', type: 'float32' }).writeFunction).toBe(16);
    expect(point({ register: 'HoldingRegister', type: 'uint16', writeFunction: 16 }).writeFunction).toBe(16);
    expect(point({ register: 'CoilRegister', writeFunction: '15' }).writeFunction).toBe(15);
    expect(point({ register: 'InputRegister', type: 'uint16' }).writable).toBe(false);
  });
});

describe('modbus codec: bad visitor config names the property and key', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ offset: 0 }, /property temperature: register is missing/],
    [{ register: 'Holding Regs' }, /register "Holding Regs" is not one of/],
    [{ register: 'HoldingRegister', offset: 70000 }, /offset 70000 is beyond 65535/],
    [
      { register: 'HoldingRegister', offset: 65535, type: 'float32' },
      /offset 65535 with 2 register\(s\) ends beyond 65535/,
    ],
    [{ register: 'HoldingRegister', type: 'string', limit: 200 }, /limit 200 is over 125/],
    [{ register: 'CoilRegister', limit: 2001 }, /over 32 bits|over 2000/],
    [{ register: 'HoldingRegister', type: 'float32', limit: 1 }, /limit 1 does not match type float32/],
    [{ register: 'HoldingRegister', type: 'int24' }, /type "int24" is not one of/],
    [{ register: 'HoldingRegister', order: 'ACBD' }, /order "ACBD" is not one of/],
    [{ register: 'HoldingRegister', offset: -1 }, /offset -1 is not a non-negative integer/],
    [{ register: 'HoldingRegister', scale: 'x' }, /scale must be a number \(got "x"\)/],
    [{ register: 'HoldingRegister', scale: 0 }, /scale must not be 0/],
    [{ register: 'HoldingRegister', type: 'string' }, /limit is required for type string/],
    [{ register: 'HoldingRegister', type: 'boolean', bit: 16, limit: 1 }, /bit 16 does not fit in 1 register/],
    [
      { register: 'HoldingRegister', type: 'float32', writeFunction: 6 },
      /writeFunction 6 writes one register, but the value takes 2/,
    ],
    [{ register: 'CoilRegister', writeFunction: 16 }, /writeFunction 16 cannot write coils/],
    [{ register: 'HoldingRegister', isSwap: 'yes' }, /isSwap "yes" is not true or false/],
    [{ register: 'HoldingRegister', dataType: 'decimal' }, /dataType "decimal" is not one of/],
    // plural, as people misremember it: KubeEdge's name is HoldingRegister
    [{ register: 'HoldingRegisters' }, /register "HoldingRegisters" is not one of CoilRegister/],
    [{ register: 'InputRegister', writeFunction: 6 }, /writeFunction InputRegister cannot be written/],
  ];
  for (const [visitor, re] of cases) {
    it(`${JSON.stringify(visitor)} -> ${re.source}`, () => {
      expect(errorsOf(visitor).join('\n')).toMatch(re);
    });
  }
});

describe('modbus codec: protocol config', () => {
  it('reads the temperature-sensor-demo protocol (port quoted as a string)', () => {
    const r = parseModbusProtocol({ communicateMode: 'TCP', port: '5502', slaveID: 1, ip: '10.244.1.13' });
    expect(r.ok && r.value).toMatchObject({
      mode: 'tcp',
      host: '10.244.1.13',
      port: 5502,
      slaveId: 1,
      timeoutMs: 1000,
      lineKey: 'tcp://10.244.1.13:5502',
    });
  });

  it('reads an RTU line (serialName or serialPort, parity in any case)', () => {
    const r = parseModbusProtocol({
      slaveID: 3,
      serialPort: '/dev/ttyUSB0',
      baudRate: 115200,
      dataBits: 8,
      parity: 'even',
      stopBits: 1,
    });
    expect(r.ok && r.value).toMatchObject({
      mode: 'rtu',
      serialPath: '/dev/ttyUSB0',
      baudRate: 115200,
      parity: 'even',
      slaveId: 3,
      lineKey: 'rtu:/dev/ttyUSB0',
    });
    const n = parseModbusProtocol({ communicateMode: 'RTU', serialName: '/dev/ttyS1', parity: 'None' });
    expect(n.ok && n.value.parity).toBe('none');
  });

  it('names the key on bad protocol config', () => {
    const r = parseModbusProtocol({ communicateMode: 'UDP', port: 'abc', slaveID: 300, stopBits: 3 });
    expect(r.ok).toBe(false);
    const text = r.ok ? '' : r.issues.map(formatConfigIssue).join('\n');
    expect(text).toMatch(/protocol communicateMode "UDP" is not TCP or RTU/);
    expect(text).toMatch(/protocol port "abc" is not a non-negative integer/);
    expect(text).toMatch(/protocol slaveID 300 is not a unit ID/);
    expect(text).toMatch(/protocol stopBits 3 is not 1 or 2/);
    const rtu = parseModbusProtocol({ communicateMode: 'RTU' });
    expect(rtu.ok ? '' : rtu.issues.map(formatConfigIssue).join()).toMatch(/serialName is required/);
  });

  it('maxInFlight: 1 by default (one request at a time, as KubeEdge), up to 16 on TCP, never above 1 on RTU', () => {
    const tcp = parseModbusProtocol({ ip: '10.0.0.5' });
    expect(tcp.ok && tcp.value.maxInFlight).toBe(1);
    const four = parseModbusProtocol({ ip: '10.0.0.5', maxInFlight: '4' });
    expect(four.ok && four.value.maxInFlight).toBe(4);
    const text = (c: Record<string, unknown>) => {
      const r = parseModbusProtocol(c);
      return r.ok ? '' : r.issues.map(formatConfigIssue).join('\n');
    };
    expect(text({ ip: '10.0.0.5', maxInFlight: 17 })).toMatch(/protocol maxInFlight 17 is not within 1..16/);
    expect(text({ ip: '10.0.0.5', maxInFlight: 0 })).toMatch(/protocol maxInFlight 0 is not within 1..16/);
    expect(text({ serialName: '/dev/ttyS1', maxInFlight: 2 })).toMatch(
      /protocol maxInFlight 2: an RTU line carries one request at a time/,
    );
  });

  it('computes CRC-16/MODBUS (known frame 01 03 00 00 00 01 -> 84 0A)', () => {
    const frame = Buffer.from([0x01, 0x03, 0x00, 0x00, 0x00, 0x01]);
    const crc = modbusCrc16(frame);
    expect([crc & 0xff, crc >> 8]).toEqual([0x84, 0x0a]);
  });
});
