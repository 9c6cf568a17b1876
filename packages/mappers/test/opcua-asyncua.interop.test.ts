// Interop of the OPC-UA driver with an independent stack (issue 11): the Python asyncua server of
// packages/simulators/python/opcua_server.py (pinned in scripts/test-peers/python/asyncua.txt), started
// here on 127.0.0.1. node-opcua on both ends would hide node-opcua's bugs. The server enforces its
// security and user tokens itself (asyncua does not), so a misconfigured mapper fails here.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedDevice } from '@edgetwin/api';
import { freePort } from '@edgetwin/eventbus/testing';
import { type AsyncuaServer, startAsyncuaServer } from '@edgetwin/simulators/opcua/asyncua';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpcuaDriverFactory } from '../src/drivers/opcua/index.js';
import type { DeviceDriver, RawValue } from '../src/framework/driver.js';
import { device, prop } from './runtime-helpers.js';

const NS = 'nsu=urn:edgetwin:asyncua;s=';

type Peer = AsyncuaServer;
const startPeer = (port: number, pki: string, args: string[] = []) => startAsyncuaServer({ port, pki, args });

const props = [
  ['bool', 'BOOLEAN', 'Bool'],
  ['sbyte', 'INT', 'SByte'],
  ['byte', 'INT', 'Byte'],
  ['int16', 'INT', 'Int16'],
  ['uint16', 'INT', 'UInt16'],
  ['int32', 'INT', 'Int32'],
  ['uint32', 'INT', 'UInt32'],
  ['int64', 'INT', 'Int64'],
  ['uint64', 'INT', 'UInt64'],
  ['float', 'FLOAT', 'Float'],
  ['double', 'DOUBLE', 'Double'],
  ['string', 'STRING', 'String'],
  ['text', 'STRING', 'Text'],
  ['time', 'STRING', 'Time'],
  ['bytes', 'STRING', 'Bytes'],
  ['guid', 'STRING', 'Guid'],
  ['series', 'STRING', 'Series'],
  ['serial', 'STRING', 'Serial'],
  ['counter', 'INT', 'Counter'],
] as const;

function opcuaDevice(url: string, extra: Record<string, unknown> = {}): ResolvedDevice {
  return device(
    'opcua',
    [
      ...props.map(([name, type, node]) => prop(name, { type, visitor: { nodeID: `${NS}${node}` } })),
      prop('byguid', { type: 'INT', visitor: { nodeID: 'ns=2;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63' } }),
      prop('browsed', { type: 'DOUBLE', visitor: { browsePath: '/2:Line1/2:Double' } }),
      prop('reset', { type: 'INT', visitor: { method: `${NS}Reset`, methodObject: `${NS}Line1` } }),
    ],
    { protocolConfig: { url, timeout: 3000, ...extra } },
  );
}

let dataDir: string;
let pki: string;
const abort = new AbortController();
const log = pino({ level: 'silent' });

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-interop-'));
  pki = join(dataDir, 'server-pki');
});
afterAll(() => {
  abort.abort();
  rmSync(dataDir, { recursive: true, force: true });
});

async function readAll(driver: DeviceDriver, dev: ResolvedDevice): Promise<Record<string, RawValue | string>> {
  const r = await driver.readBatch(dev.properties.filter((p) => p.name !== 'reset'));
  return Object.fromEntries([...r].map(([k, v]) => [k, v.ok ? v.value : `ERROR ${v.error.message}`]));
}

describe('opcua driver against asyncua: anonymous, SecurityMode None', { timeout: 120_000 }, () => {
  let peer: Peer;
  let port: number;
  let dev: ResolvedDevice;
  let driver: DeviceDriver;
  beforeAll(async () => {
    port = await freePort();
    peer = await startPeer(port, pki);
    dev = opcuaDevice(peer.url);
    driver = createOpcuaDriverFactory({ dataDir }).create(dev, { logger: log, signal: abort.signal });
    await driver.connect();
  }, 90_000);
  afterAll(async () => {
    await driver?.disconnect();
    await peer?.stop();
  });

  it('reads every type in one batch, as documented', async () => {
    expect(await readAll(driver, dev)).toEqual({
      bool: true,
      sbyte: -5,
      byte: 200,
      int16: -1234,
      uint16: 65000,
      int32: -70000,
      uint32: 4000000000,
      int64: '9007199254740993',
      uint64: '18446744073709551615',
      float: 12.3,
      double: Math.PI,
      string: 'zürich',
      text: 'hello',
      time: '2026-12-03T05:00:00.123Z',
      bytes: 'AQID',
      guid: '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
      series: '[1.5,2,3]',
      serial: 'SN-42',
      counter: 0,
      byguid: 7,
      browsed: Math.PI,
    });
  });

  it('writes typed values that read back exactly (Float as Float, Int64 beyond 2^53, arrays)', async () => {
    const p = (n: string) => dev.properties.find((x) => x.name === n)!;
    const writes: Array<[string, RawValue]> = [
      ['float', 21.7],
      ['int64', '-9007199254740995'],
      ['uint16', 7],
      ['bool', false],
      ['time', '2027-01-01T00:00:00.001Z'],
      ['series', '[4,5.25]'],
      ['text', 'bonjour'],
    ];
    for (const [name, value] of writes) await driver.write(p(name), value);
    const after = await readAll(driver, dev);
    for (const [name, value] of writes) expect(after[name], name).toEqual(value);
  });

  it('names asyncua’s refusal of a read-only write, and refuses a value the DataType cannot hold', async () => {
    const p = (n: string) => dev.properties.find((x) => x.name === n)!;
    await expect(driver.write(p('serial'), 'SN-1')).rejects.toThrow(
      /property serial: write refused: BadUserAccessDenied/,
    );
    await expect(driver.write(p('byte'), 300)).rejects.toThrow(/property byte: 300 is outside Byte/);
  });

  it('calls a method on write with the desired value as its typed argument', async () => {
    const p = (n: string) => dev.properties.find((x) => x.name === n)!;
    await driver.write(p('reset'), 41);
    expect((await readAll(driver, dev)).counter).toBe(41);
  });

  it('receives subscription notifications, and resubscribes after a server restart', async () => {
    const p = (n: string) => dev.properties.find((x) => x.name === n)!;
    const waitFor = (want: RawValue, sub: (cb: (v: RawValue) => void) => Promise<() => Promise<void>>) =>
      new Promise<() => Promise<void>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no notification of ${want} within 10 s`)), 10_000);
        let unsub: (() => Promise<void>) | undefined;
        let hit = false;
        void sub((v) => {
          if (v !== want || hit) return;
          hit = true;
          clearTimeout(timer);
          if (unsub) resolve(unsub);
        }).then((u) => {
          unsub = u;
          if (hit) resolve(u);
        });
      });
    const subscribe = (cb: (v: RawValue) => void) =>
      driver.subscribe!([p('counter')], (name, v) => {
        if (name === 'counter') cb(v);
      });
    // a write by another client (our own write here) is pushed to the subscription
    const pending = waitFor(5, subscribe);
    await driver.write(p('counter'), 5);
    await (await pending)();

    // the server restarts: reads fail as a lost connection, then the framework's reconnect works again
    await peer.stop();
    const down = (await driver.readBatch([p('counter')])).get('counter');
    expect(down?.ok === false && down.error.code).toMatch(/connection|not-connected|io/);
    expect(await driver.health()).toBe('offline');
    peer = await startPeer(port, pki);
    await driver.disconnect();
    await driver.connect();
    expect((await readAll(driver, dev)).counter).toBe(0);
    const again = waitFor(9, subscribe);
    await driver.write(p('counter'), 9);
    await (await again)();
  });
});

describe('opcua driver against asyncua: SignAndEncrypt/Basic256Sha256 with a user', { timeout: 120_000 }, () => {
  let peer: Peer;
  let users: string;
  beforeAll(async () => {
    users = join(dataDir, 'users.txt');
    writeFileSync(users, 'operator:s3cret\n');
    writeFileSync(join(dataDir, 'password'), 's3cret\n', { mode: 0o600 });
    writeFileSync(join(dataDir, 'wrong-password'), 'guess\n', { mode: 0o600 });
    peer = await startPeer(await freePort(), join(dataDir, 'secure-pki'), ['--secure', '--users', users]);
  }, 90_000);
  afterAll(async () => {
    await peer?.stop();
  });

  const connect = async (extra: Record<string, unknown>) => {
    const dev = opcuaDevice(peer.url, extra);
    const driver = createOpcuaDriverFactory({ dataDir }).create(dev, { logger: log, signal: abort.signal });
    try {
      await driver.connect();
      return (await readAll(driver, dev)).double;
    } finally {
      await driver.disconnect();
    }
  };
  const secure = {
    securityMode: 'SignAndEncrypt',
    securityPolicy: 'Basic256Sha256',
    remoteCertificate: '',
    userName: 'operator',
    password: '',
  };

  it('connects with the pinned server certificate and the user from a password file', async () => {
    const pinned = join(dataDir, 'secure-pki', 'server-cert.der');
    expect(await connect({ ...secure, remoteCertificate: pinned, password: join(dataDir, 'password') })).toBe(Math.PI);
  });

  it('is refused without encryption, with a wrong password, or with an unpinned certificate', async () => {
    const pinned = join(dataDir, 'secure-pki', 'server-cert.der');
    await expect(connect({ userName: 'operator', password: join(dataDir, 'password') })).rejects.toThrow(
      /cannot connect|session refused/,
    );
    await expect(
      connect({ ...secure, remoteCertificate: pinned, password: join(dataDir, 'wrong-password') }),
    ).rejects.toThrow(/session refused/);
    const { remoteCertificate: _drop, ...unpinned } = secure;
    await expect(connect({ ...unpinned, password: join(dataDir, 'password') })).rejects.toThrow(
      /certificate .* is not trusted/,
    );
  });
});
