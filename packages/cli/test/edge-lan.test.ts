// Issue 10 §4: the edge bus opened to a LAN (`edgetwin edge --lan-host --auth --tls-*`). Each attack fails
// next to the same action succeeding for its owner: an anonymous LAN client is refused while anonymous
// apps on loopback keep KubeEdge's $hw API; a wrong password or unknown user is refused; app A can neither
// read nor write namespace B; no app can overwrite the retained mapper-facing device specs; a TLS client
// trusting the edge's certificate connects and one trusting another is refused; a bind beyond loopback
// without authentication refuses to start.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mapperDeviceTopic } from '@edgetwin/api';
import { generateLinkCert } from '@edgetwin/device-controller/cloud-link/link-tls';
import { connectBus } from '@edgetwin/eventbus';
import { EDGE_SERVICE_USER, readEdgeServicePassword } from '@edgetwin/eventbus/edge-bus-acl';
import { readEdgeBusUsersFile } from '@edgetwin/eventbus/edge-bus-users';
import { hashPassword } from '@edgetwin/eventbus/password-hash';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lifecycle } from '../src/compose/lifecycle.js';
import { type EdgeOptions, EdgeBusExposedError, type RunningEdge, startEdge } from '../src/compose/start-edge.js';

const NODE = 'gw-lan';
const logger = pino({ level: 'silent' });
const PASSWORDS = { 'line-a-app': 'a-secret', 'line-b-app': 'b-secret', ops: 'ops-secret' };
let dir: string;
let life: Lifecycle;
let edge: RunningEdge;
let ca: string;

const base = (d: string, node = 'gw-x'): EdgeOptions => ({
  node,
  dataDir: d,
  mqttHost: '127.0.0.1',
  mqttPort: 0,
  mappers: [],
  logger,
});

const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
});

async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  clients.push(c);
  return c;
}
const lan = (user?: keyof typeof PASSWORDS, password?: string) =>
  connect(edge.lan!.url, {
    ca,
    ...(user ? { username: user, password: password ?? PASSWORDS[user] } : {}),
  });

/** The messages `c` gets on `filter` up to (and including) the marker its own publish of `marker` brings. */
async function seenUntilMarker(
  c: MqttClient,
  filter: string,
  act: () => Promise<unknown>,
  marker: [MqttClient, string],
) {
  const seen: Array<{ topic: string; payload: string }> = [];
  const done = new Promise<void>((resolve) =>
    c.on('message', (topic, payload) => {
      seen.push({ topic, payload: payload.toString() });
      if (topic === marker[1] && payload.toString() === 'marker') resolve();
    }),
  );
  const granted = await c.subscribeAsync(filter, { qos: 1 });
  expect(granted[0]?.qos, `subscription to ${filter}`).toBe(1);
  await act();
  await marker[0].publishAsync(marker[1], 'marker', { qos: 1 });
  await done;
  return seen;
}

async function refusedSubscription(c: MqttClient, filter: string) {
  // mqtt.js rejects a SUBACK 0x80 with "Subscribe error"
  await expect(c.subscribeAsync(filter, { qos: 1 }), `subscription to ${filter} must be refused`).rejects.toThrow(
    /Subscribe error/,
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-edge-lan-'));
  const lines = await Promise.all(
    [
      ['line-a-app', ['line-a']],
      ['line-b-app', ['line-b']],
      ['ops', ['*']],
    ].map(
      async ([name, ns]) =>
        `  - name: ${name}\n    password: "${await hashPassword(PASSWORDS[name as keyof typeof PASSWORDS])}"\n    namespaces: ${JSON.stringify(ns)}\n`,
    ),
  );
  const usersFile = join(dir, 'edge-users.yaml');
  await writeFile(usersFile, `users:\n${lines.join('')}`);
  life = new Lifecycle(logger);
  const lan = { host: '127.0.0.1', port: 0 };
  edge = await startEdge({ ...base(dir, NODE), lan, users: readEdgeBusUsersFile(usersFile) }, life);
  ca = (await import('node:fs')).readFileSync(edge.lan!.certFile, 'utf8');
}, 30_000);

afterAll(async () => {
  await life?.stopAll();
  await rm(dir, { recursive: true, force: true });
});

describe('edge bus on the LAN: who gets in', () => {
  it('refuses an anonymous client on the LAN listener; anonymous apps on loopback keep the $hw API', async () => {
    await expect(lan()).rejects.toThrow(/Bad username or password/);
    const local = await connect(edge.brokerUrl);
    const topic = '$hw/events/device/line-a/valve-1/twin/update';
    const seen = await seenUntilMarker(local, '$hw/events/device/line-a/#', async () => undefined, [local, topic]);
    expect(seen.map((m) => m.topic)).toEqual([topic]);
  });

  it('refuses a wrong password and an unknown user; the right password connects', async () => {
    await expect(lan('line-a-app', 'b-secret')).rejects.toThrow(/Bad username or password/);
    await expect(lan('line-a-app', '')).rejects.toThrow(/Bad username or password/);
    await expect(connect(edge.lan!.url, { ca, username: 'intruder', password: 'a-secret' })).rejects.toThrow(
      /Bad username or password/,
    );
    // an unknown name is refused on loopback too, once a user file exists
    await expect(connect(edge.brokerUrl, { username: 'intruder', password: 'x' })).rejects.toThrow(
      /Bad username or password/,
    );
    expect((await lan('line-a-app')).connected).toBe(true);
  });

  it('connects over TLS trusting the edge certificate, and refuses a client trusting another one', async () => {
    expect(edge.lan!.url).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    expect(edge.lan!.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const other = generateLinkCert(['127.0.0.1', 'localhost']).cert;
    const login = { username: 'line-a-app', password: PASSWORDS['line-a-app'], connectTimeoutMs: 3000 };
    await expect(connectBus({ url: edge.lan!.url, ca: other, ...login })).rejects.toThrow(/self[- ]signed/i);
    await expect(connectBus({ url: edge.lan!.url, ...login })).rejects.toThrow(/self[- ]signed/i);
    // plain MQTT on the TLS port gets no CONNACK
    await expect(connectBus({ url: edge.lan!.url.replace('mqtts:', 'mqtt:'), ...login })).rejects.toThrow(
      /cannot reach MQTT broker/,
    );
    const ok = await connectBus({ url: edge.lan!.url, ca, ...login });
    await ok.close();
  });
});

describe('edge bus on the LAN: what an app may do', () => {
  const A = '$hw/events/device/line-a/press-1/twin/update';
  const B = '$hw/events/device/line-b/oven-1/twin/update';

  it('app A reads and writes its own namespace', async () => {
    const a = await lan('line-a-app');
    const local = await connect(edge.brokerUrl);
    const seen = await seenUntilMarker(
      a,
      '$hw/events/device/line-a/#',
      () => local.publishAsync(A, 'from local', { qos: 1 }),
      [a, A],
    );
    expect(seen.map((m) => m.payload)).toEqual(['from local', 'marker']);
  });

  it('app A cannot read namespace B: its subscriptions are refused, wildcards included', async () => {
    const a = await lan('line-a-app');
    for (const filter of [
      '$hw/events/device/line-b/#',
      '$hw/events/device/+/oven-1/twin/update',
      '$hw/events/device/#',
      '$hw/#',
      '#',
      '$hw/events/node/gw-lan/membership/get/result',
    ])
      await refusedSubscription(a, filter);
  });

  it('app A cannot write namespace B: B never receives it', async () => {
    const a = await lan('line-a-app');
    const b = await lan('line-b-app');
    const seen = await seenUntilMarker(
      b,
      '$hw/events/device/line-b/#',
      () => a.publishAsync(B, '{"twin":{"setpoint":{"expected":{"value":"999"}}}}', { qos: 1 }),
      [b, B],
    );
    expect(seen.map((m) => m.payload)).toEqual(['marker']);
  });

  it('a user granted "*" reads every namespace', async () => {
    const ops = await lan('ops');
    const b = await lan('line-b-app');
    const seen = await seenUntilMarker(ops, '$hw/events/device/+/+/twin/update', async () => undefined, [b, B]);
    expect(seen.map((m) => m.topic)).toEqual([B]);
  });

  it('no app can overwrite the retained mapper-facing device specs, on either listener', async () => {
    const spec = mapperDeviceTopic(NODE, 'modbus', 'line-a/press-1');
    const service = await connect(edge.brokerUrl, {
      username: EDGE_SERVICE_USER,
      password: readEdgeServicePassword(dir, NODE),
    });
    await service.publishAsync(spec, '{"spec":"from the twin"}', { qos: 1, retain: true });
    const ops = await lan('ops');
    await ops.publishAsync(spec, '{"spec":"forged"}', { qos: 1, retain: true });
    const localApp = await connect(edge.brokerUrl, { username: 'line-a-app', password: PASSWORDS['line-a-app'] });
    await localApp.publishAsync(spec, '{"spec":"forged"}', { qos: 1, retain: true });
    await refusedSubscription(ops, `edgetwin/v1/nodes/${NODE}/#`);
    // a new mapper gets the retained spec on subscribing: still the twin's (retained messages come from
    // the store after SUBACK, so wait for this message itself rather than a live marker)
    const mapper = await connect(edge.brokerUrl, {
      username: EDGE_SERVICE_USER,
      password: readEdgeServicePassword(dir, NODE),
    });
    const retained = new Promise<string>((resolve) =>
      mapper.on('message', (topic, payload, packet) => {
        if (topic === spec && packet.retain) resolve(payload.toString());
      }),
    );
    await mapper.subscribeAsync(spec, { qos: 1 });
    expect(await retained).toBe('{"spec":"from the twin"}');
  });

  it('an app user logging in on loopback is held to its namespaces there too', async () => {
    const a = await connect(edge.brokerUrl, { username: 'line-a-app', password: PASSWORDS['line-a-app'] });
    await refusedSubscription(a, '$hw/events/device/line-b/#');
    expect((await a.subscribeAsync('$hw/events/device/line-a/#', { qos: 1 }))[0]?.qos).toBe(1);
  });
});

describe('edge bus beyond loopback: refuses to start unprotected', () => {
  it('a plain listener beyond loopback without --insecure-allow-anonymous, naming the safe way', async () => {
    const d = await mkdtemp(join(tmpdir(), 'edgetwin-edge-exposed-'));
    const l = new Lifecycle(logger);
    try {
      const err = await startEdge({ ...base(d), mqttHost: '0.0.0.0' }, l).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EdgeBusExposedError);
      expect((err as Error).message).toMatch(/edge bus on 0\.0\.0\.0: anyone on the network could connect anonymously/);
      expect((err as Error).message).toMatch(/--lan-host ADDR --auth FILE.*--insecure-allow-anonymous/);
      // a LAN listener without users
      const noUsers = await startEdge({ ...base(d), lan: { host: '127.0.0.1', port: 0 } }, l).catch((e: unknown) => e);
      expect((noUsers as Error).message).toMatch(/needs app users: --auth FILE/);
    } finally {
      await l.stopAll();
      await rm(d, { recursive: true, force: true });
    }
  });

  it('with --insecure-allow-anonymous it starts, and says so loudly', async () => {
    const d = await mkdtemp(join(tmpdir(), 'edgetwin-edge-insecure-'));
    const l = new Lifecycle(logger);
    const lines: string[] = [];
    const loud = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });
    try {
      const e = await startEdge({ ...base(d), mqttHost: '0.0.0.0', insecureAllowAnonymous: true, logger: loud }, l);
      expect(e.brokerUrl).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
      expect(lines.join('')).toMatch(/INSECURE: the edge bus accepts anonymous clients from the network/);
    } finally {
      await l.stopAll();
      await rm(d, { recursive: true, force: true });
    }
  });
});

describe('the commands refuse a bus beyond loopback without authentication, before listening', () => {
  const BIN = join(import.meta.dirname, '../bin/edgetwin.js');
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (err, _out, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
      );
    });

  it('edgetwin edge, edge-local and broker on 0.0.0.0 exit with the way to open them safely', async () => {
    const d = await mkdtemp(join(tmpdir(), 'edgetwin-edge-refuse-'));
    try {
      const [edgeRun, local, broker] = await Promise.all([
        run(['edge', '--node', 'gw-x', '--host', '0.0.0.0', '--data-dir', d, '--mappers', 'none']),
        run(['edge-local', '--node', 'gw-x', '--db', join(d, 'x.db'), '--host', '0.0.0.0']),
        run(['broker', '--host', '0.0.0.0', '--port', '0']),
      ]);
      expect(edgeRun.code).not.toBe(0);
      expect(edgeRun.stderr).toMatch(/edge bus on 0\.0\.0\.0: anyone on the network.*--lan-host ADDR --auth FILE/);
      expect(local.code).toBe(2);
      expect(local.stderr).toMatch(
        /edge-local on 0\.0\.0\.0: its broker has no authentication.*--insecure-allow-anonymous/,
      );
      expect(broker.code).toBe(2);
      expect(broker.stderr).toMatch(/broker on 0\.0\.0\.0: anyone on the network.*--password-file FILE/);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
