// OPC-UA driver details beyond the conformance suite (issue 11), against the node-opcua simulator: every
// addressing form, types (Int64 beyond 2^53 keeps its digits), subscriptions pushing without polling,
// write refusals named by the server's status, a method called on write, a deleted node, server trust.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatConfigIssue, type ResolvedDevice } from '@edgetwin/api';
import { type OpcuaSimulator, startOpcuaSimulator } from '@edgetwin/simulators/opcua/simulator';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceDriver, RawValue } from '../src/framework/driver.js';
import { createOpcuaDriverFactory, validateOpcuaDevice } from '../src/drivers/opcua/index.js';
import { device, prop } from './runtime-helpers.js';

const spec = device(
  'opcua',
  [
    prop('temperature', { type: 'FLOAT', visitor: { nodeID: 'ns=2;s=Line1.Temperature', dataType: 'Float' } }),
    prop('energy', { type: 'INT', visitor: { nodeID: 'ns=2;i=7', dataType: 'Int64' } }),
    prop('flag', { type: 'BOOLEAN', visitor: { nodeID: 'nsu=urn:edgetwin:line;s=Flag', dataType: 'Boolean' } }),
    prop('stamp', { type: 'STRING', visitor: { nodeID: 'ns=2;s=Stamp', dataType: 'DateTime' } }),
    prop('blob', { type: 'STRING', visitor: { nodeID: 'ns=2;s=Blob', dataType: 'ByteString' } }),
    prop('series', { type: 'STRING', visitor: { nodeID: 'ns=2;s=Series', dataType: 'Double', valueRank: 1 } }),
    // ReadWrite in the model, read-only on the server: the server's refusal reaches the property
    prop('locked', { type: 'INT', visitor: { nodeID: 'ns=2;s=Locked', dataType: 'Int32' } }),
    prop('setpoint', {
      type: 'INT',
      visitor: {
        nodeID: 'ns=2;s=Setpoint',
        dataType: 'Int32',
        method: 'ns=2;s=SetSetpoint',
        methodObject: 'ns=2;s=Line1',
      },
    }),
    prop('gone', { type: 'INT', visitor: { nodeID: 'ns=2;s=Gone', dataType: 'Int32' } }),
  ],
  { protocolConfig: { url: 'opc.tcp://127.0.0.1:0' } },
);

let sim: OpcuaSimulator;
let dataDir: string;
let dev: ResolvedDevice;
let driver: DeviceDriver;
const abort = new AbortController();

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-'));
  // the simulator serves `locked` read-only whatever the model says
  const served = {
    ...spec,
    properties: spec.properties.map((p) => (p.name === 'locked' ? { ...p, accessMode: 'ReadOnly' as const } : p)),
  };
  sim = await startOpcuaSimulator({ devices: [served], port: 0 });
  dev = { ...spec, protocolConfig: { url: sim.url, timeout: 2000 } };
  driver = createOpcuaDriverFactory({ dataDir }).create(dev, {
    logger: pino({ level: 'silent' }),
    signal: abort.signal,
  });
  await driver.connect();
});
afterAll(async () => {
  abort.abort();
  await driver?.disconnect();
  await sim?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const p = (name: string) => dev.properties.find((x) => x.name === name)!;
async function read(name: string): Promise<RawValue> {
  const r = (await driver.readBatch([p(name)])).get(name);
  if (!r?.ok) throw new Error(`read ${name}: ${r?.ok === false ? r.error.message : 'no result'}`);
  return r.value;
}

describe('opcua driver: types', () => {
  it('Float reads as the shortest decimal of the float32; written as Float, not Double', async () => {
    await driver.write(p('temperature'), 12.3);
    expect(await read('temperature')).toBe(12.3);
  });

  it('Int64 beyond 2^53 keeps every digit, as a string', async () => {
    await driver.write(p('energy'), '9007199254740993');
    expect(await read('energy')).toBe('9007199254740993');
    await driver.write(p('energy'), -42);
    expect(await read('energy')).toBe(-42);
  });

  it('DateTime as ISO-8601, ByteString as base64, arrays as JSON, nsu= resolved by URI', async () => {
    await driver.write(p('stamp'), '2026-12-03T05:00:00.123Z');
    expect(await read('stamp')).toBe('2026-12-03T05:00:00.123Z');
    await driver.write(p('blob'), 'AQID');
    expect(await read('blob')).toBe('AQID');
    await driver.write(p('series'), '[1.5,2,3]');
    expect(await read('series')).toBe('[1.5,2,3]');
    await driver.write(p('flag'), true);
    expect(await read('flag')).toBe(true);
  });
});

describe('opcua driver: writes and methods', () => {
  it('a write the server refuses names its status on the property', async () => {
    await expect(driver.write(p('locked'), 5)).rejects.toThrow(
      /property locked: write refused: BadNotWritable \(the variable is read-only on the server\)/,
    );
  });

  it('a value the DataType cannot hold is refused before it is sent', async () => {
    await expect(driver.write(p('energy'), 'lots')).rejects.toThrow(/property energy: "lots" is not an integer/);
  });

  it('a property with a method calls it with the desired value as argument', async () => {
    await driver.write(p('setpoint'), 77);
    expect(sim.peek(dev.id, 'setpoint')).toBe(77);
    expect(await read('setpoint')).toBe(77);
  });
});

describe('opcua driver: subscriptions', () => {
  it('pushes a changed value without a read, and answers reads from the last notification', async () => {
    const seen: Array<[string, RawValue]> = [];
    let notified: () => void = () => {};
    const arrived = new Promise<void>((resolve, reject) => {
      notified = resolve;
      setTimeout(() => reject(new Error(`no notification for 33.5 in 5 s; saw ${JSON.stringify(seen)}`)), 5000).unref();
    });
    const unsubscribe = await driver.subscribe!([p('flag'), p('temperature')], (name, v) => {
      seen.push([name, v]);
      if (name === 'temperature' && v === 33.5) notified();
    });
    sim.poke(dev.id, 'temperature', 33.5);
    await arrived;
    expect(await read('temperature')).toBe(33.5);
    await unsubscribe();
  });

  it('reads a subscribed property back from the server right after a write, not from the notification before it', async () => {
    // sampled once a minute (the subscription publishes every 250 ms for temperature): the notification of the
    // written value would come only then, and the write's read-back found the old value (a write reported
    // failed after its retries, seen under load with the default 250 ms)
    const flag = { ...p('flag'), visitor: { ...p('flag').visitor, subscribe: true, samplingInterval: 60_000 } };
    const notified: boolean[] = [];
    let first: () => void = () => {};
    const initial = new Promise<void>((resolve) => {
      first = resolve;
    });
    const unsubscribe = await driver.subscribe!([flag, p('temperature')], (name, v) => {
      if (name !== 'flag') return;
      notified.push(v as boolean);
      first();
    });
    try {
      await initial;
      const was = notified[0] as boolean;
      await driver.write(flag, !was);
      const back = (await driver.readBatch([flag])).get('flag');
      expect(back?.ok && back.value).toBe(!was);
      expect(sim.peek(dev.id, 'flag')).toBe(!was);
      // and later reads keep the written value, whatever notification of the old one is still on its way
      const again = (await driver.readBatch([flag])).get('flag');
      expect(again?.ok && again.value).toBe(!was);
    } finally {
      await unsubscribe();
    }
  });
});

describe('opcua driver: faults', () => {
  it('a deleted node is an error on its property, the others still read', async () => {
    sim.deleteNode(dev.id, 'gone');
    const r = await driver.readBatch([p('gone'), p('flag')]);
    const gone = r.get('gone');
    expect(gone?.ok).toBe(false);
    expect(gone?.ok === false && gone.error.message).toMatch(/property gone: .*BadNodeIdUnknown/);
    expect(r.get('flag')?.ok).toBe(true);
  });

  it('a bad NodeId in a manifest is a validate error naming the key', () => {
    const bad = device(
      'opcua',
      [prop('x', { visitor: { nodeID: 'ns=2;q=7' } }), prop('y', { visitor: { nodeID: 'ns=2;g=not-a-guid' } })],
      {
        protocolConfig: { url: 'opc.tcp://127.0.0.1:4840', password: 'secret', userName: 'op' },
      },
    );
    expect(validateOpcuaDevice(bad).map(formatConfigIssue)).toEqual([
      'protocol password must be the path of a file holding the password (absolute, or ./relative), never the password itself',
      'property x: nodeID "ns=2;q=7" is not a NodeId (expected ns=<index>;i=|s=|g=|b=<id>, or nsu=<uri>;...)',
      'property y: nodeID "ns=2;g=not-a-guid" "not-a-guid" is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)',
    ]);
  });
});

describe('opcua driver: SignAndEncrypt and server trust', () => {
  const secure = (extra: Record<string, unknown>) => ({
    ...dev,
    protocolConfig: {
      url: sim.url,
      timeout: 3000,
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
      ...extra,
    },
  });
  const connect = async (d: ResolvedDevice, dir: string) => {
    const drv = createOpcuaDriverFactory({ dataDir: dir }).create(d, {
      logger: pino({ level: 'silent' }),
      signal: abort.signal,
    });
    try {
      await drv.connect();
      const r = (await drv.readBatch([p('flag')])).get('flag');
      return r?.ok ? 'ok' : `read failed: ${r?.ok === false ? r.error.message : 'no result'}`;
    } finally {
      await drv.disconnect();
    }
  };

  it('refuses an unknown server certificate, trusts it on first use (remembered), then pinned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-trust-'));
    try {
      await expect(connect(secure({}), dir)).rejects.toThrow(/is not trusted: pin it \(remoteCertificate\)/);
      expect(await connect(secure({ trustOnFirstUse: true }), dir)).toBe('ok');
      const remembered = readdirSync(join(dir, 'tofu'));
      expect(remembered).toHaveLength(1);
      // the application certificate was created once in the data dir
      expect(readdirSync(join(dir, 'pki', 'own', 'certs'))).toContain('client_certificate.pem');
      const wrongPin = join(dir, 'other.pem');
      // a valid certificate that is not the server's: our own client certificate
      writeFileSync(wrongPin, readFileSync(join(dir, 'pki', 'own', 'certs', 'client_certificate.pem')));
      await expect(connect(secure({ remoteCertificate: wrongPin }), dir)).rejects.toThrow(/is not the pinned/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
