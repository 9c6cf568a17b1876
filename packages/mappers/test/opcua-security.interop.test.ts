// The OPC-UA keys docs/opcua.md documents beyond the basic interop (issue 11), against the independent
// asyncua server where it can serve them: an X.509 user identity, a trust folder, the Aes128_Sha256_RsaOaep
// and Aes256_Sha256_RsaPss policies, an absolute deadband, a session kept alive past its timeout, and a
// server restart healed by the mapper framework itself (no test-driven reconnect). asyncua does not
// implement percent deadbands (it logs "not implemented" and pushes every change), so that one runs
// against node-opcua's server (our simulator, whose ranged properties are AnalogItems with an EURange).
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { ResolvedDevice } from '@edgetwin/api';
import { freePort, waitUntil } from '@edgetwin/eventbus/testing';
import { type OpcuaSimulator, startOpcuaSimulator } from '@edgetwin/simulators';
import { type AsyncuaServer, startAsyncuaServer } from '@edgetwin/simulators/opcua/asyncua';
import { AttributeIds, DataType, OPCUAClient } from 'node-opcua-client';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpcuaDriverFactory } from '../src/drivers/opcua/index.js';
import type { DeviceDriver, RawValue } from '../src/framework/driver.js';
import { device, prop, startRig } from './runtime-helpers.js';
import { collectReports } from '../src/conformance/report-collector.js';

const NS = 'nsu=urn:edgetwin:asyncua;s=';
/** the same namespace by index, for the plain node-opcua clients (asyncua registers it first: 2) */
const NS2 = 'ns=2;s=';
let dir: string;
const abort = new AbortController();
const silent = pino({ level: 'silent' });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-security-'));
});
afterAll(() => {
  abort.abort();
  rmSync(dir, { recursive: true, force: true });
});

function doubleDevice(url: string, config: Record<string, unknown>, visitor: Record<string, unknown> = {}) {
  return device('opcua', [prop('double', { type: 'DOUBLE', visitor: { nodeID: `${NS}Double`, ...visitor } })], {
    protocolConfig: { url, timeout: 5000, ...config },
  });
}

function driverFor(dev: ResolvedDevice, logger = silent): DeviceDriver {
  return createOpcuaDriverFactory({ dataDir: join(dir, 'client') }).create(dev, { logger, signal: abort.signal });
}

async function readDouble(dev: ResolvedDevice): Promise<RawValue> {
  const driver = driverFor(dev);
  try {
    await driver.connect();
    const r = (await driver.readBatch(dev.properties)).get('double');
    if (!r?.ok) throw r?.error ?? new Error('no result');
    return r.value;
  } finally {
    await driver.disconnect();
  }
}

/** Subscribes `driver` to `property`; resolves each wanted value as it is pushed, in order. */
function pushes(driver: DeviceDriver, dev: ResolvedDevice) {
  const seen: RawValue[] = [];
  const waiters: Array<() => void> = [];
  const ready = driver.subscribe!(dev.properties, (_name, v) => {
    seen.push(v);
    for (const w of waiters.splice(0)) w();
  });
  return {
    seen,
    ready,
    until: (want: RawValue) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no push of ${want}; pushed: ${seen.join(', ')}`)), 15_000);
        const check = () => {
          if (seen.includes(want)) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      }),
  };
}

describe('asyncua with Aes policies and an X.509 user', { timeout: 120_000 }, () => {
  let server: AsyncuaServer;
  beforeAll(async () => {
    server = await startAsyncuaServer({
      port: await freePort(),
      pki: join(dir, 'aes-pki'),
      args: ['--policies', 'Aes128Sha256RsaOaep,Aes256Sha256RsaPss', '--make-user-cert', join(dir, 'user')],
    });
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  const secure = (policy: string) => ({
    securityMode: 'SignAndEncrypt',
    securityPolicy: policy,
    remoteCertificate: server.certificateFile,
    userCertificate: join(dir, 'user', 'user-cert.der'),
    userPrivateKey: join(dir, 'user', 'user-key.pem'),
  });

  it('connects with Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss (KubeEdge spellings too) as the X.509 user', async () => {
    expect(await readDouble(doubleDevice(server.url, secure('Aes128_Sha256_RsaOaep')))).toBe(Math.PI);
    expect(await readDouble(doubleDevice(server.url, secure('Aes256Sha256RsaPss')))).toBe(Math.PI);
  });

  it('is refused a policy the server does not offer, and a user certificate that is not its user', async () => {
    await expect(readDouble(doubleDevice(server.url, secure('Basic256Sha256')))).rejects.toThrow(
      /cannot connect: .*Basic256Sha256/,
    );
    // a valid certificate and key, but not the server's user: the server's own pair
    const stranger = {
      ...secure('Aes128_Sha256_RsaOaep'),
      userCertificate: server.certificateFile,
      userPrivateKey: join(dir, 'aes-pki', 'server-key.pem'),
    };
    await expect(readDouble(doubleDevice(server.url, stranger))).rejects.toThrow(
      /session refused: .*(BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid)/,
    );
    // no identity at all: anonymous is refused when a user is configured
    const { userCertificate: _c, userPrivateKey: _k, ...anonymous } = secure('Aes128_Sha256_RsaOaep');
    await expect(readDouble(doubleDevice(server.url, anonymous))).rejects.toThrow(/session refused/);
  });
});

describe('asyncua with a trust folder', { timeout: 120_000 }, () => {
  let server: AsyncuaServer;
  beforeAll(async () => {
    server = await startAsyncuaServer({ port: await freePort(), pki: join(dir, 'trust-pki'), args: ['--secure'] });
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses a server certificate not in the folder, naming it and the folder; trusts it once it is there', async () => {
    const folder = join(dir, 'trusted');
    mkdirSync(folder);
    const dev = doubleDevice(server.url, {
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
      trustFolder: folder,
    });
    await expect(readDouble(dev)).rejects.toThrow(
      new RegExp(`cannot connect: server certificate [0-9a-f:]{59} is not in the trust folder ${folder}`),
    );
    copyFileSync(server.certificateFile, join(folder, 'plc.der'));
    expect(await readDouble(dev)).toBe(Math.PI);
  });
});

describe('asyncua subscriptions, session timeout and restart', { timeout: 180_000 }, () => {
  let server: AsyncuaServer;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    server = await startAsyncuaServer({ port, pki: join(dir, 'plain-pki') });
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('an absolute deadband holds back a change smaller than it', async () => {
    const dev = doubleDevice(server.url, {}, { deadband: 1, samplingInterval: 50 });
    const driver = driverFor(dev);
    await driver.connect();
    try {
      const sub = pushes(driver, dev);
      const stop = await sub.ready;
      const p = dev.properties[0]!;
      await driver.write(p, 10);
      await sub.until(10);
      await driver.write(p, 10.5); // within the deadband: not pushed
      await driver.write(p, 11.75);
      await sub.until(11.75);
      // notifications arrive in order: had 10.5 been pushed it would be here before 11.75
      expect(sub.seen.slice(sub.seen.indexOf(10))).toEqual([10, 11.75]);
      await stop();
    } finally {
      await driver.disconnect();
    }
  });

  it('keeps its session alive past the session timeout, while the server closes an idle one', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    // asyncua raises a requested session timeout to at least 5 s
    const dev = doubleDevice(server.url, { sessionTimeout: 5000 });
    const driver = driverFor(dev, logger);
    // the clock of this test: a plain client with the same session timeout and no keep-alive
    const idle = OPCUAClient.create({
      endpointMustExist: false,
      keepSessionAlive: false,
      requestedSessionTimeout: 5000,
    });
    await driver.connect();
    await idle.connect(server.url);
    const idleSession = await idle.createSession();
    const idleRead = () =>
      idleSession.read({ nodeId: `${NS2}Double`, attributeId: AttributeIds.Value }).then(
        (dv) => dv.statusCode.isGood(),
        () => false,
      );
    try {
      expect(await idleRead()).toBe(true);
      // asyncua closes the idle session once 5 s pass without a request (a read every 6 s lets it)
      await waitUntil(
        async () => !(await idleRead()),
        'asyncua closing the idle session after its 5 s timeout',
        40_000,
        6000,
      );
      // the driver's session, as old, is still the same open session: no loss logged, reads work
      expect((await driver.readBatch(dev.properties)).get('double')).toMatchObject({ ok: true });
      expect(await driver.health()).toBe('online');
      expect(lines.join('')).not.toMatch(/connection lost/);
    } finally {
      await driver.disconnect();
      await idle.disconnect();
    }
  });

  it('a server restart is healed by the mapper: reconnected with its backoff, resubscribed, reporting', async () => {
    const rig = await startRig(createOpcuaDriverFactory({ dataDir: join(dir, 'client') }));
    const writer = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 3 } });
    try {
      const dev = device(
        'opcua',
        [prop('counter', { type: 'INT', visitor: { nodeID: `${NS}Counter`, samplingInterval: 50 } })],
        { protocolConfig: { url: server.url, timeout: 3000 } },
      );
      const updates = await collectReports(rig.app, dev.id);
      const reported = (value: string) =>
        updates.waitFor(
          (m) =>
            (m.json() as { twin?: Record<string, { actual?: { value?: string } }> }).twin?.counter?.actual?.value ===
            value,
          30_000,
        );
      const poke = async (v: number) => {
        await writer.connect(server.url);
        const session = await writer.createSession();
        await session.write({
          nodeId: `${NS2}Counter`,
          attributeId: AttributeIds.Value,
          value: { value: { dataType: DataType.Int32, value: v } },
        });
        await session.close();
        await writer.disconnect();
      };
      await rig.publish(dev);
      await reported('0');
      await poke(5);
      await reported('5');

      await server.stop();
      server = await startAsyncuaServer({ port, pki: join(dir, 'plain-pki') });
      // the restarted server starts from 0 and knows no session: only a new session and subscription
      // made by the mapper on its own can report the next change
      await poke(77);
      await reported('77');
    } finally {
      await rig.close();
    }
  });
});

describe('node-opcua server: a percent deadband (asyncua does not implement them)', { timeout: 120_000 }, () => {
  let sim: OpcuaSimulator;
  let dev: ResolvedDevice;
  beforeAll(async () => {
    dev = device(
      'opcua',
      [
        prop('level', {
          type: 'DOUBLE',
          minimum: 0,
          maximum: 200,
          visitor: { nodeID: 'ns=1;s=Tank.Level', deadband: 5, deadbandType: 'percent', samplingInterval: 50 },
        }),
      ],
      { protocolConfig: { url: 'opc.tcp://127.0.0.1:4840', timeout: 5000 } },
    );
    sim = await startOpcuaSimulator({ devices: [dev], port: 0 });
    dev.protocolConfig = { ...dev.protocolConfig, url: sim.url };
  }, 60_000);
  afterAll(async () => {
    await sim?.stop();
  });

  it('holds back changes under 5 % of the EURange (10 of 0..200) and pushes larger ones', async () => {
    const driver = driverFor(dev);
    await driver.connect();
    try {
      const sub = pushes(driver, dev);
      const stop = await sub.ready;
      sim.poke(dev.id, 'level', 50);
      await sub.until(50);
      sim.poke(dev.id, 'level', 58); // 4 %: held back
      sim.poke(dev.id, 'level', 47); // 1.5 % from the last pushed 50: held back
      sim.poke(dev.id, 'level', 75);
      await sub.until(75);
      expect(sub.seen.slice(sub.seen.indexOf(50))).toEqual([50, 75]);
      await stop();
    } finally {
      await driver.disconnect();
    }
  });
});
