// What the Modbus driver does beyond the conformance suite: batching, shared lines, every type and order,
// and a clear error for each fault while other devices keep being served.
import { formatConfigIssue, type ResolvedDevice, type ResolvedProperty } from '@edgetwin/api';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { openPtyPair, startModbusSimulator, withModbusEndpoint } from '@edgetwin/simulators';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type DeviceDriver, DriverError, type ReadResult } from '../src/framework/driver.js';
import { toEngineering, toRaw, transformSpec } from '../src/framework/transforms.js';
import { createModbusDriverFactory, type ModbusDriverFactory } from '../src/drivers/modbus/index.js';
import { modbusDevice, type PropSpec, type SimulatedLine, simulate } from './modbus-devices.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function factory(): ModbusDriverFactory {
  const f = createModbusDriverFactory({ reconnectMinMs: 20 });
  cleanups.push(() => f.close());
  return f;
}

async function line(devices: ResolvedDevice[], mode: 'tcp' | 'rtu' = 'tcp', strict = false): Promise<SimulatedLine> {
  const l = await simulate(devices, mode, { strict });
  cleanups.push(() => l.stop());
  return l;
}

function driverFor(f: ModbusDriverFactory, device: ResolvedDevice): DeviceDriver {
  const abort = new AbortController();
  const d = f.create(device, { logger: pino({ level: 'silent' }), signal: abort.signal });
  cleanups.push(async () => {
    abort.abort();
    await d.disconnect();
  });
  return d;
}

function prop(device: ResolvedDevice, name: string): ResolvedProperty {
  const p = device.properties.find((x) => x.name === name);
  if (!p) throw new Error(`no property ${name}`);
  return p;
}

function ok(r: ReadResult | undefined): unknown {
  if (!r) throw new Error('no result');
  if (!r.ok) throw r.error;
  return r.value;
}

function failure(r: ReadResult | undefined): DriverError {
  if (!r || r.ok) throw new Error(`expected a failed read, got ${JSON.stringify(r)}`);
  return r.error;
}

async function rejection(p: Promise<unknown>): Promise<DriverError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DriverError);
    return e as DriverError;
  }
  throw new Error('expected a DriverError');
}

const h = (name: string, visitor: Record<string, unknown>, type: PropSpec['type'] = 'INT'): PropSpec => ({
  name,
  type,
  visitor: { register: 'HoldingRegister', ...visitor },
});

describe('modbus driver: batching', () => {
  it('reads contiguous and close registers of one table in one request, one per table', async () => {
    const dev = modbusDevice('meter', { slaveID: 1 }, [
      h('a', { offset: 0, type: 'uint16' }),
      h('b', { offset: 1, type: 'float32' }),
      h('c', { offset: 3, type: 'int32', order: 'CDAB' }),
      h('d', { offset: 9, type: 'int16' }), // a gap of 4 registers: still one request
      { name: 'e', type: 'BOOLEAN', visitor: { register: 'CoilRegister', offset: 5 } },
      { name: 'f', type: 'BOOLEAN', visitor: { register: 'CoilRegister', offset: 7 } },
    ]);
    const l = await line([dev]);
    l.sim.poke(dev.id, 'b', 1.5);
    l.sim.poke(dev.id, 'c', -70000);
    l.sim.poke(dev.id, 'd', -3);
    l.sim.poke(dev.id, 'f', true);
    const d = driverFor(factory(), l.devices[0]!);
    await d.connect();
    const before = l.sim.stats().requests;
    const r = await d.readBatch(l.devices[0]!.properties);
    expect(l.sim.stats().requests - before).toBe(2);
    expect([ok(r.get('a')), ok(r.get('b')), ok(r.get('d')), ok(r.get('e')), ok(r.get('f'))]).toEqual([
      0,
      1.5,
      -3,
      false,
      true,
    ]);
  });

  it('splits at 125 registers and when the gap is larger than maxGap', async () => {
    const dev = modbusDevice('wide', { slaveID: 1, maxGap: 2 }, [
      h('s1', { offset: 0, type: 'string', limit: 100 }, 'STRING'),
      h('s2', { offset: 100, type: 'string', limit: 30 }, 'STRING'), // 130 registers together: two requests
      h('far', { offset: 140, type: 'uint16' }), // gap of 10 > maxGap 2: a third
    ]);
    const l = await line([dev]);
    const d = driverFor(factory(), l.devices[0]!);
    await d.connect();
    const before = l.sim.stats().requests;
    await d.readBatch(l.devices[0]!.properties);
    expect(l.sim.stats().requests - before).toBe(3);
  });

  it('falls back to one request per property when the device refuses a merged read over a hole', async () => {
    const dev = modbusDevice('holey', { slaveID: 1 }, [h('a', { offset: 0 }), h('b', { offset: 5 })]);
    const l = await line([dev], 'tcp', true);
    l.sim.poke(dev.id, 'a', 11);
    l.sim.poke(dev.id, 'b', 22);
    const d = driverFor(factory(), l.devices[0]!);
    await d.connect();
    const first = await d.readBatch(l.devices[0]!.properties);
    expect([ok(first.get('a')), ok(first.get('b'))]).toEqual([11, 22]);
    const before = l.sim.stats().requests;
    const second = await d.readBatch(l.devices[0]!.properties);
    expect([ok(second.get('a')), ok(second.get('b'))]).toEqual([11, 22]);
    expect(l.sim.stats().requests - before).toBe(2);
  });
});

describe('modbus driver: every type and order, read and written', () => {
  const cases: Array<[string, Record<string, unknown>, PropSpec['type'], number | boolean | string]> = [
    ['int16', { type: 'int16' }, 'INT', -1234],
    ['uint16', { type: 'uint16' }, 'INT', 65000],
    ['int32 BADC', { type: 'int32', order: 'BADC' }, 'INT', -2_000_000_000],
    ['uint32 CDAB', { type: 'uint32', order: 'CDAB' }, 'INT', 4_000_000_000],
    ['int64 DCBA', { type: 'int64', order: 'DCBA' }, 'INT', -9_000_000_000_000],
    ['uint64 ABCD', { type: 'uint64' }, 'INT', 9_000_000_000_000],
    ['float32 DCBA', { type: 'float32', order: 'DCBA' }, 'FLOAT', 230.25],
    ['float64 CDAB', { type: 'float64', order: 'CDAB' }, 'DOUBLE', Math.PI],
    ['boolean register', { type: 'boolean' }, 'BOOLEAN', true],
    ['string', { type: 'string', limit: 5, encoding: 'ascii' }, 'STRING', 'SN-0042'],
    ['bitfield', { type: 'bitfield', bitOffset: 4, bits: 3 }, 'INT', 5],
    ['uint16 via fc16', { type: 'uint16', writeFunction: 16 }, 'INT', 7],
    [
      'KubeEdge double limit 4 + both swaps',
      { dataType: 'double', limit: 4, isSwap: true, isRegisterSwap: true },
      'DOUBLE',
      -0.125,
    ],
  ];
  for (const [label, visitor, type, value] of cases) {
    it(`${label}: ${JSON.stringify(value)}`, async () => {
      const dev = modbusDevice('t', { slaveID: 3 }, [h('v', { offset: 0, ...visitor }, type)]);
      const l = await line([dev]);
      const d = driverFor(factory(), l.devices[0]!);
      await d.connect();
      await d.write(prop(l.devices[0]!, 'v'), value);
      expect(l.sim.peek(dev.id, 'v')).toEqual(value);
      expect(ok((await d.readBatch([prop(l.devices[0]!, 'v')])).get('v'))).toEqual(value);
    });
  }

  it('writes one bit of a register without touching the others (read-modify-write on the line)', async () => {
    const dev = modbusDevice('flags', { slaveID: 1 }, [
      h('word', { offset: 0, type: 'uint16' }),
      h('alarm', { offset: 0, type: 'boolean', bit: 3 }, 'BOOLEAN'),
    ]);
    const l = await line([dev]);
    l.sim.poke(dev.id, 'word', 0b1_0000_0001);
    const d = driverFor(factory(), l.devices[0]!);
    await d.connect();
    await d.write(prop(l.devices[0]!, 'alarm'), true);
    expect(l.sim.peek(dev.id, 'word')).toBe(0b1_0000_1001);
    // the framework reads a bit property as its whole word and picks the bit itself
    expect(ok((await d.readBatch([prop(l.devices[0]!, 'alarm')])).get('alarm'))).toBe(0b1_0000_1001);
  });

  it('two bit properties of one register written at once both stick', async () => {
    const dev = modbusDevice('flags', { slaveID: 1 }, [
      h('word', { offset: 0, type: 'uint16' }),
      h('pump', { offset: 0, type: 'boolean', bit: 0 }, 'BOOLEAN'),
      h('fan', { offset: 0, type: 'boolean', bit: 1 }, 'BOOLEAN'),
    ]);
    const l = await line([dev]);
    const d = driverFor(factory(), l.devices[0]!);
    await d.connect();
    await Promise.all([d.write(prop(l.devices[0]!, 'pump'), true), d.write(prop(l.devices[0]!, 'fan'), true)]);
    expect(l.sim.peek(dev.id, 'word')).toBe(0b11);
  });

  it('writes several coils (function 15) as an integer, first coil lowest', async () => {
    const dev = modbusDevice('relays', { slaveID: 1 }, [
      { name: 'relays', type: 'INT', visitor: { register: 'CoilRegister', offset: 8, limit: 4 } },
    ]);
    const l = await line([dev]);
    const d = driverFor(factory(), l.devices[0]!);
    await d.connect();
    await d.write(prop(l.devices[0]!, 'relays'), 0b1010);
    expect(l.sim.peek(dev.id, 'relays')).toBe(10);
  });

  it('with the framework transforms, the register offset never leaks into the value', async () => {
    const dev = modbusDevice('thermo', { slaveID: 1 }, [
      {
        name: 'temperature',
        type: 'FLOAT',
        visitor: { register: 'HoldingRegister', offset: 10, type: 'int16', scale: 0.1 },
      },
    ]);
    const l = await line([dev]);
    l.sim.poke(dev.id, 'temperature', 21.5);
    const d = driverFor(factory(), l.devices[0]!);
    await d.connect();
    const p = prop(l.devices[0]!, 'temperature');
    const spec = transformSpec(p);
    if (!spec.ok) throw new Error(spec.reason);
    const raw = ok((await d.readBatch([p])).get('temperature')) as number;
    expect(toEngineering(raw, p, spec.value)).toEqual({ ok: true, value: '21.5' });
    const back = toRaw('-4.5', p, spec.value);
    if (!back.ok) throw new Error(back.reason);
    await d.write(p, back.value);
    expect(l.sim.peek(dev.id, 'temperature')).toBe(-4.5);
  });

  it('valueOffset is added after scale while offset stays the register address', async () => {
    const dev = modbusDevice('pt100', { slaveID: 1 }, [
      {
        name: 'temperature',
        type: 'FLOAT',
        visitor: { register: 'HoldingRegister', offset: 10, type: 'uint16', scale: 0.1, valueOffset: -40 },
      },
    ]);
    const l = await line([dev]);
    l.sim.pokeRaw(dev.id, 'temperature', 653);
    const d = driverFor(factory(), l.devices[0]!);
    await d.connect();
    const p = prop(l.devices[0]!, 'temperature');
    const spec = transformSpec(p);
    if (!spec.ok) throw new Error(spec.reason);
    const raw = ok((await d.readBatch([p])).get('temperature')) as number;
    expect(toEngineering(raw, p, spec.value)).toEqual({ ok: true, value: '25.3' });
    const back = toRaw('-4.5', p, spec.value);
    if (!back.ok) throw new Error(back.reason);
    await d.write(p, back.value);
    expect(l.sim.peekRaw(dev.id, 'temperature')).toBe(355);
  });
});

describe('modbus driver: shared lines', () => {
  it('several devices behind one TCP gateway share one connection, each with its unit ID', async () => {
    const devs = [1, 2, 3].map((id) => modbusDevice(`bay-${id}`, { slaveID: id }, [h('distance', { offset: 0 })]));
    const l = await line(devs);
    for (const [i, d] of devs.entries()) l.sim.poke(d.id, 'distance', 100 + i);
    const f = factory();
    const drivers = l.devices.map((d) => driverFor(f, d));
    await Promise.all(drivers.map((d) => d.connect()));
    expect(f.lineCount).toBe(1);
    const reads = await Promise.all(drivers.map((d, i) => d.readBatch([prop(l.devices[i]!, 'distance')])));
    expect(reads.map((r) => ok(r.get('distance')))).toEqual([100, 101, 102]);
    for (const d of drivers) await d.disconnect();
    expect(f.lineCount).toBe(0);
  });

  it('several slave IDs on one RS-485 line take turns on one serialised connection', async () => {
    const devs = [1, 2, 3, 4].map((id) =>
      modbusDevice(`s-${id}`, { slaveID: id }, [h('v', { offset: 0 }), h('w', { offset: 50 })]),
    );
    const l = await line(devs, 'rtu');
    devs.forEach((d, i) => {
      l.sim.poke(d.id, 'v', i);
      l.sim.poke(d.id, 'w', 10 * i);
    });
    const f = factory();
    const drivers = l.devices.map((d) => driverFor(f, d));
    await Promise.all(drivers.map((d) => d.connect()));
    expect(f.lineCount).toBe(1);
    // all at once: frames of different slaves must not interleave on the bus
    const reads = await Promise.all(
      drivers.flatMap((d, i) => [d.readBatch(l.devices[i]!.properties), d.readBatch(l.devices[i]!.properties)]),
    );
    expect(reads.map((r) => [ok(r.get('v')), ok(r.get('w'))])).toEqual(
      [0, 0, 1, 1, 2, 2, 3, 3].map((i) => [i, 10 * i]),
    );
  });
});

/**
 * A gateway that records how requests arrive (TCP chunks) and answers the frames of each chunk in reverse
 * order, so only transaction ids can match answers to requests. Register i of unit u holds u * 100 + i.
 */
async function recordingGateway(): Promise<{ port: number; chunks: number[]; close(): Promise<void> }> {
  const chunks: number[] = [];
  const sockets = new Set<Socket>();
  const server = createTcpServer((sock) => {
    sockets.add(sock);
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const replies: Buffer[] = [];
      while (buf.length >= 12 && buf.length >= 6 + buf.readUInt16BE(4)) {
        const frame = buf.subarray(0, 6 + buf.readUInt16BE(4));
        buf = buf.subarray(frame.length);
        const unit = frame[6]!;
        const start = frame.readUInt16BE(8);
        const count = frame.readUInt16BE(10);
        const out = Buffer.alloc(9 + 2 * count);
        frame.copy(out, 0, 0, 2); // transaction id
        out.writeUInt16BE(3 + 2 * count, 4);
        out[6] = unit;
        out[7] = 3;
        out[8] = 2 * count;
        for (let i = 0; i < count; i++) out.writeUInt16BE(unit * 100 + start + i, 9 + 2 * i);
        replies.push(out);
      }
      chunks.push(replies.length);
      sock.write(Buffer.concat(replies.reverse()));
    });
    sock.on('error', () => sock.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    chunks,
    close: () => {
      for (const sock of sockets) sock.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('modbus driver: concurrent requests to a TCP gateway (maxInFlight)', () => {
  async function readAll(maxInFlight: number | undefined) {
    const gw = await recordingGateway();
    cleanups.push(() => gw.close());
    const devs = [1, 2, 3, 4].map((id) =>
      withModbusEndpoint(
        modbusDevice(`unit-${id}`, { slaveID: id, ...(maxInFlight ? { maxInFlight } : {}) }, [
          h('v', { offset: 7, type: 'uint16' }),
        ]),
        { port: gw.port },
      ),
    );
    const f = factory();
    const drivers = devs.map((d) => driverFor(f, d));
    await Promise.all(drivers.map((d) => d.connect()));
    const reads = await Promise.all(drivers.map((d, i) => d.readBatch(devs[i]!.properties)));
    return { values: reads.map((r) => ok(r.get('v'))), chunks: gw.chunks };
  }

  it('sends the requests of every device due at once in one write, and matches answers by transaction id', async () => {
    const { values, chunks } = await readAll(4);
    // answered in reverse order, each still reaches its own device
    expect(values).toEqual([107, 207, 307, 407]);
    expect(chunks).toEqual([4]);
  });

  it('by default sends one request at a time (a gateway that takes one transaction at a time)', async () => {
    const { values, chunks } = await readAll(undefined);
    expect(values).toEqual([107, 207, 307, 407]);
    expect(chunks).toEqual([1, 1, 1, 1]);
  });

  it('never has more than maxInFlight requests outstanding; the rest follow as answers come', async () => {
    const { values, chunks } = await readAll(2);
    expect(values).toEqual([107, 207, 307, 407]);
    expect(chunks.reduce((a, b) => a + b, 0)).toBe(4);
    expect(Math.max(...chunks)).toBe(2);
  });
});

describe('modbus driver: steady registers', () => {
  it('a register that changes after many steady reads is read as its new value', async () => {
    const dev = modbusDevice('steady', { slaveID: 1 }, [
      h('a', { offset: 0, type: 'uint16' }),
      h('b', { offset: 1, type: 'float32' }),
    ]);
    const l = await line([dev]);
    l.sim.poke(dev.id, 'a', 5);
    l.sim.poke(dev.id, 'b', 2.5);
    const d = driverFor(factory(), l.devices[0]!);
    await d.connect();
    const props = l.devices[0]!.properties;
    for (let i = 0; i < 3; i++) {
      const r = await d.readBatch(props);
      expect([ok(r.get('a')), ok(r.get('b'))]).toEqual([5, 2.5]);
    }
    l.sim.poke(dev.id, 'b', -1.25);
    const r = await d.readBatch(props);
    expect([ok(r.get('a')), ok(r.get('b'))]).toEqual([5, -1.25]);
    // a new property array (a changed spec) is planned again and read right
    const again = await d.readBatch([...props].reverse());
    expect([ok(again.get('a')), ok(again.get('b'))]).toEqual([5, -1.25]);
  });
});

describe('modbus driver: faults give clear errors and spare the other devices', () => {
  it('a slave that does not answer times out, naming device, unit and range; its neighbour still reads', async () => {
    const slow = modbusDevice('slow', { slaveID: 1, timeout: 300 }, [h('t', { offset: 10 })]);
    const fine = modbusDevice('fine', { slaveID: 2, timeout: 5000 }, [h('t', { offset: 10 })]);
    const l = await line([slow, fine]);
    l.sim.poke(fine.id, 't', 5);
    l.sim.setFault(slow.id, 'timeout');
    const f = factory();
    const [ds, df] = l.devices.map((d) => driverFor(f, d)) as [DeviceDriver, DeviceDriver];
    await ds.connect();
    await df.connect();
    const [rs, rf] = await Promise.all([
      ds.readBatch(l.devices[0]!.properties),
      df.readBatch(l.devices[1]!.properties),
    ]);
    const err = failure(rs.get('t'));
    expect(err.code).toBe('timeout');
    expect(err.message).toMatch(
      /device default\/slow \(unit 1 on tcp:\/\/127\.0\.0\.1:\d+\): no answer within 300 ms reading holding registers 10\.\.10 \(property t\)/,
    );
    expect(ok(rf.get('t'))).toBe(5);
    expect(await ds.health()).toBe('unhealthy');
    expect(await df.health()).toBe('online');
  });

  it('an exception from the slave is an exception error with its meaning', async () => {
    const dev = modbusDevice('broken', { slaveID: 1 }, [h('t', { offset: 0 })]);
    const l = await line([dev]);
    l.sim.setFault(dev.id, 'exception');
    const d = driverFor(factory(), l.devices[0]!);
    await d.connect();
    const err = failure((await d.readBatch(l.devices[0]!.properties)).get('t'));
    expect(err.code).toBe('exception');
    expect(err.message).toMatch(/exception 4 \(slave device failure\) reading holding registers 0\.\.0/);
    const werr = await rejection(d.write(prop(l.devices[0]!, 't'), 1));
    expect(werr.message).toMatch(
      /property t: exception 4 \(slave device failure\) writing t to holding registers 0\.\.0/,
    );
  });

  it('connection refused is a connection error; the device connects once the slave is up', async () => {
    const probe = await startModbusSimulator({ devices: [], tcp: { port: 0 } });
    const port = probe.port;
    await probe.stop();
    const dev = withModbusEndpoint(modbusDevice('late', { slaveID: 1 }, [h('t', { offset: 0 })]), { port });
    // no pause between connection attempts, so the attempt after the slave starts is the one that succeeds
    const f = createModbusDriverFactory({ reconnectMinMs: 0 });
    cleanups.push(() => f.close());
    const d = driverFor(f, dev);
    const err = await rejection(d.connect());
    expect(err.code).toBe('connection');
    expect(err.message).toMatch(new RegExp(`tcp://127.0.0.1:${port}: cannot connect: .*ECONNREFUSED`));
    const sim = await startModbusSimulator({ devices: [dev], tcp: { port } });
    cleanups.push(() => sim.stop());
    sim.poke(dev.id, 't', 9);
    await d.connect();
    expect(ok((await d.readBatch(dev.properties)).get('t'))).toBe(9);
  });

  it('a dropped TCP connection fails the read in flight and the next read reconnects', async () => {
    const dev = modbusDevice('flaky', { slaveID: 1, timeout: 2000 }, [h('t', { offset: 0 })]);
    const l = await line([dev]);
    l.sim.poke(dev.id, 't', 4);
    const d = driverFor(factory(), l.devices[0]!);
    await d.connect();
    l.sim.setFault(dev.id, 'disconnect');
    const err = failure((await d.readBatch(l.devices[0]!.properties)).get('t'));
    expect(['connection', 'not-connected']).toContain(err.code);
    l.sim.setFault(dev.id, null);
    expect(ok((await d.readBatch(l.devices[0]!.properties)).get('t'))).toBe(4);
  });

  it('a serial port that disappears gives errors, not a hang; reconnecting names the missing port', async () => {
    const pty = await openPtyPair();
    const dev = modbusDevice('rtu', { slaveID: 1, timeout: 1000 }, [h('t', { offset: 0 })]);
    const sim = await startModbusSimulator({ devices: [dev], rtu: { path: pty.a, baudRate: 115200 } });
    cleanups.push(() => sim.stop());
    const onLine = withModbusEndpoint(dev, { serialPath: pty.b, baudRate: 115200 });
    const d = driverFor(factory(), onLine);
    await d.connect();
    expect((await d.readBatch(onLine.properties)).get('t')?.ok).toBe(true);
    await pty.close();
    const err = failure((await d.readBatch(onLine.properties)).get('t'));
    expect(err).toBeInstanceOf(DriverError);
    await expect
      .poll(async () => failure((await d.readBatch(onLine.properties)).get('t')).message, { timeout: 3000 })
      .toMatch(new RegExp(`rtu:${pty.b}: cannot connect: .*(No such file|cannot open)`));
    expect(await d.health()).not.toBe('online');
  });

  it('refuses a value of the wrong type or out of range, and read-only tables, naming the property', async () => {
    const dev = modbusDevice('plc', { slaveID: 1 }, [
      h('setpoint', { offset: 0, type: 'int16' }),
      { name: 'distance', type: 'INT', visitor: { register: 'InputRegister', offset: 0 } },
    ]);
    const l = await line([dev]);
    const d = driverFor(factory(), l.devices[0]!);
    await d.connect();
    const sp = prop(l.devices[0]!, 'setpoint');
    expect((await rejection(d.write(sp, 'warm'))).message).toMatch(/property setpoint: "warm" is not a number/);
    const range = await rejection(d.write(sp, 40000));
    expect(range.code).toBe('out-of-range');
    expect(range.message).toMatch(/setpoint: 40000 is outside int16/);
    const ro = await rejection(d.write(prop(l.devices[0]!, 'distance'), 1));
    expect(ro.code).toBe('config');
    expect(ro.message).toMatch(/property distance is on InputRegister, which is read-only/);
    expect(l.sim.peek(dev.id, 'setpoint')).toBe(0);
  });

  it('validate() names property and key before anything connects', () => {
    const dev = modbusDevice('bad', { slaveID: 300, port: 'x' }, [
      h('temperature', { offset: 70000 }),
      h('label', { offset: 0, type: 'string', limit: 200 }, 'STRING'),
      h('mode', { offset: 0, type: 'float32', writeFunction: 6 }),
    ]);
    const problems = factory().validate(dev).map(formatConfigIssue).join('\n');
    expect(problems).toMatch(/protocol slaveID 300 is not a unit ID/);
    expect(problems).toMatch(/protocol port "x" is not a non-negative integer/);
    expect(problems).toMatch(/property temperature: offset 70000 is beyond 65535/);
    expect(problems).toMatch(/property label: limit 200 is over 125/);
    expect(problems).toMatch(/property mode: writeFunction 6 writes one register, but the value takes 2/);
  });
});
