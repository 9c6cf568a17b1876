import type { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import M from 'modbus-serial';
import { afterEach, describe, expect, it } from 'vitest';
import {
  loadManifestFiles,
  type ModbusSimulator,
  openPtyPair,
  type PtyPair,
  resolveManifests,
  startModbusSimulator,
} from '../src/index.js';
import { SAMPLES } from '../../api/test/support/samples.js';
import { modbusDevice, parkingSensor, powerMeter, thermometer } from './devices.js';

type Client = InstanceType<typeof M.default>;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function sim(opts: Parameters<typeof startModbusSimulator>[0]): Promise<ModbusSimulator> {
  const s = await startModbusSimulator(opts);
  cleanups.push(() => s.stop());
  return s;
}

async function tcpClient(port: number, unit: number, timeout = 500): Promise<Client> {
  const c = new M.default();
  c.on('error', () => {});
  await c.connectTCP('127.0.0.1', { port });
  c.setID(unit);
  c.setTimeout(timeout);
  cleanups.push(() => closeClient(c));
  return c;
}

function closeClient(c: Client): Promise<void> {
  if (!c.isOpen) return Promise.resolve();
  return new Promise<void>((r) => c.close(() => r()));
}

async function modbusError(p: Promise<unknown>): Promise<{ message: string; modbusCode?: number; errno?: string }> {
  try {
    await p;
  } catch (e) {
    return e as { message: string; modbusCode?: number; errno?: string };
  }
  throw new Error('expected the request to fail');
}

describe('modbus simulator over TCP', () => {
  it('serves exactly the registers, types and orders the manifests declare, many devices on one port', async () => {
    const s = await sim({
      devices: [parkingSensor('bay-1', 1), thermometer('thermo', 2), powerMeter('meter', 3)],
      tcp: { port: 0 },
    });
    s.poke('default/bay-1', 'occupied', true);
    s.poke('default/bay-1', 'distance', 123);
    s.poke('default/meter', 'voltage-abcd', 230.5);
    s.poke('default/meter', 'voltage-badc', 230.5);
    s.poke('default/meter', 'voltage-cdab', 230.5);
    s.poke('default/meter', 'voltage-dcba', 230.5);

    const bay = await tcpClient(s.port, 1);
    expect((await bay.readCoils(0, 1)).data[0]).toBe(true);
    expect((await bay.readInputRegisters(0, 1)).data).toEqual([123]);

    // thermometer starts at its desired value 21.5 -> int16 215
    const thermo = await tcpClient(s.port, 2);
    expect((await thermo.readHoldingRegisters(10, 1)).data).toEqual([215]);

    // 230.5 as float32 is 0x43668000: the four word orders on the wire
    const meter = await tcpClient(s.port, 3);
    expect((await meter.readInputRegisters(0, 8)).data).toEqual([
      0x4366, 0x8000, 0x6643, 0x0080, 0x8000, 0x4366, 0x0080, 0x6643,
    ]);
  });

  it('keeps what a master writes (coils, single and multiple registers) and stops moving it', async () => {
    const s = await sim({
      devices: [thermometer('thermo', 1), powerMeter('meter', 2)],
      tcp: { port: 0 },
      behaviour: 'moving',
    });
    const c = await tcpClient(s.port, 1);
    await c.writeRegister(10, 0x10000 - 42);
    expect(s.peek('default/thermo', 'temperature')).toBe(-4.2);
    s.tick();
    s.tick();
    expect(s.peek('default/thermo', 'temperature')).toBe(-4.2);
    const setpoint = modbusDevice('setpoint', { slaveID: 3 }, [
      {
        name: 'limit',
        type: 'FLOAT',
        visitor: { register: 'HoldingRegister', offset: 4, type: 'float32', order: 'CDAB' },
      },
    ]);
    const s2 = await sim({ devices: [setpoint], tcp: { port: 0 }, behaviour: 'moving' });
    const m = await tcpClient(s2.port, 3);
    await m.writeRegisters(4, [0x8000, 0x4366]); // 230.5, low word first
    s2.tick();
    expect(s2.peek('default/setpoint', 'limit')).toBe(230.5);
    await m.writeCoil(0, true); // coils the manifests do not name are still there (not strict)
    expect((await m.readCoils(0, 1)).data[0]).toBe(true);
  });

  it('moves values within the model minimum and maximum when asked', async () => {
    const s = await sim({ devices: [powerMeter('meter', 1)], tcp: { port: 0 }, behaviour: 'moving' });
    const before = s.peek('default/meter', 'voltage-abcd');
    const seen = new Set<unknown>([before]);
    for (let i = 0; i < 20; i++) {
      s.tick();
      const v = s.peek('default/meter', 'voltage-abcd') as number;
      expect(v).toBeGreaterThanOrEqual(200);
      expect(v).toBeLessThanOrEqual(250);
      seen.add(v);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it('answers protocol errors with exceptions 1, 2 and 3, and an unknown unit with exception 11', async () => {
    const s = await sim({ devices: [thermometer('thermo', 1)], tcp: { port: 0 } });
    const c = await tcpClient(s.port, 1);
    expect((await modbusError(c.readHoldingRegisters(65535, 2))).modbusCode).toBe(2);
    expect((await modbusError(c.readHoldingRegisters(0, 126))).modbusCode).toBe(3);
    expect(
      (await modbusError(new Promise((res, rej) => c.writeFC22(1, 0, 0xff, 0, (e, d) => (e ? rej(e) : res(d))))))
        .modbusCode,
    ).toBe(1);
    const other = await tcpClient(s.port, 9);
    expect((await modbusError(other.readHoldingRegisters(0, 1))).modbusCode).toBe(11);
  });

  it('strict mode refuses registers no property declares', async () => {
    const s = await sim({ devices: [thermometer('thermo', 1)], tcp: { port: 0 }, strict: true });
    const c = await tcpClient(s.port, 1);
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([215]);
    expect((await modbusError(c.readHoldingRegisters(9, 2))).modbusCode).toBe(2);
  });

  it('switches faults on and off: timeout, exception, disconnect', async () => {
    const s = await sim({ devices: [thermometer('thermo', 1), parkingSensor('bay', 2)], tcp: { port: 0 } });
    const c = await tcpClient(s.port, 1, 200);
    s.setFault('default/thermo', 'timeout');
    expect((await modbusError(c.readHoldingRegisters(10, 1))).message).toMatch(/Timed out/);
    s.setFault('default/thermo', 'exception');
    expect((await modbusError(c.readHoldingRegisters(10, 1))).modbusCode).toBe(4);
    s.setFault('default/thermo', null);
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([215]);
    // another device on the same port is not affected by a fault
    s.setFault('default/thermo', 'timeout');
    const bay = await tcpClient(s.port, 2, 200);
    expect((await bay.readInputRegisters(0, 1)).data).toEqual([200]);

    s.setFault('default/thermo', 'disconnect');
    const closed = new Promise<void>((resolve) => (c as unknown as EventEmitter).once('close', () => resolve()));
    await closed;
    expect(c.isOpen).toBe(false);
  });

  it('serves devices on the ports their manifests name when no port is given', async () => {
    const probe = await sim({ devices: [], tcp: { port: 0 } });
    const free = probe.port;
    await probe.stop();
    const s = await sim({
      devices: [
        modbusDevice('a', { port: String(free), slaveID: 1 }, [
          { name: 'x', type: 'INT', visitor: { register: 'HoldingRegister', offset: 0 } },
        ]),
      ],
      tcp: {},
    });
    expect(s.endpoints).toEqual([{ kind: 'tcp', host: '127.0.0.1', port: free, devices: ['default/a'] }]);
  });

  it('says which port it cannot listen on, and for which devices', async () => {
    const first = await sim({ devices: [thermometer('t1', 1)], tcp: { port: 0 } });
    const taken = modbusDevice('clash', { port: String(first.port), slaveID: 1 }, [
      { name: 'x', type: 'INT', visitor: { register: 'HoldingRegister', offset: 0 } },
    ]);
    await expect(startModbusSimulator({ devices: [taken], tcp: {} })).rejects.toThrow(
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: .*EADDRINUSE.*, for default/clash`),
    );
  });

  it('refuses two devices with one slave ID on one port, and bad visitors, naming them', async () => {
    await expect(
      startModbusSimulator({ devices: [thermometer('t1', 1), thermometer('t2', 1)], tcp: { port: 0 } }),
    ).rejects.toThrow(/devices default\/t1 and default\/t2 both use slaveID 1/);
    const bad = modbusDevice('bad', { slaveID: 1 }, [
      { name: 'temp', type: 'INT', visitor: { register: 'HoldingRegister', offset: 70000 } },
    ]);
    await expect(startModbusSimulator({ devices: [bad], tcp: { port: 0 } })).rejects.toThrow(
      /device default\/bad: property temp: offset 70000 is beyond 65535/,
    );
  });
});

describe('modbus simulator over RTU (socat PTY pair)', () => {
  it('answers an RTU master with CRC-checked frames, several slave IDs on one line', async () => {
    const pty: PtyPair = await openPtyPair();
    cleanups.push(() => pty.close());
    const s = await sim({
      devices: [thermometer('thermo', 1), parkingSensor('bay', 2)],
      rtu: { path: pty.a, baudRate: 115200 },
    });
    s.poke('default/bay', 'distance', 77);
    const c = new M.default();
    c.on('error', () => {});
    await c.connectRTUBuffered(pty.b, { baudRate: 115200 });
    cleanups.push(() => closeClient(c));
    c.setTimeout(1000);
    c.setID(1);
    expect((await c.readHoldingRegisters(10, 1)).data).toEqual([215]);
    await c.writeRegisters(10, [300]);
    expect(s.peek('default/thermo', 'temperature')).toBe(30);
    c.setID(2);
    expect((await c.readInputRegisters(0, 1)).data).toEqual([77]);
    c.setID(5);
    c.setTimeout(150);
    expect((await modbusError(c.readInputRegisters(0, 1))).message).toMatch(/Timed out/);
  });
});

describe('loadManifestFiles', () => {
  it('loads the KubeEdge-format samples and resolves their one modbus device', async () => {
    const loaded = await loadManifestFiles([SAMPLES]);
    const devices = resolveManifests(loaded, { protocol: 'modbus' });
    expect(devices.map((d) => d.id)).toEqual(['default/temperature-instance']);
    expect(devices[0]?.protocolConfig.port).toBe('5502');
  });

  it('names file and line for bad YAML and for a manifest without a name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgetwin-sim-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata:\n  name: [unclosed\n');
    await expect(loadManifestFiles([broken])).rejects.toThrow(new RegExp(`${broken}:\\d+: YAML`));
    const nameless = join(dir, 'nameless.yaml');
    await writeFile(
      nameless,
      '---\nkind: Service\n---\napiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: {}\nspec: {}\n',
    );
    await expect(loadManifestFiles([nameless])).rejects.toThrow(`${nameless}:4: Device metadata.name is missing`);
    await expect(loadManifestFiles([join(dir, 'missing.yaml')])).rejects.toThrow(/missing.yaml:0: cannot read/);
  });
});
