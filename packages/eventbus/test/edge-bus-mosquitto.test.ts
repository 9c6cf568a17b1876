// Issue 10 §4: the Mosquitto configuration docs/acl.md gives for the edge bus ("The edge bus on Mosquitto"),
// read from that page and run on a real Mosquitto 2.0: anonymous apps only on loopback and only on $hw,
// every LAN client logged in over TLS, app A neither reads nor writes namespace B, the mapper-facing specs
// are the service user's. The password hashes are the embedded broker's format, both ways.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdgeBusUsers } from '../src/edge-bus-users.js';
import { connectBus } from '../src/index.js';
import { hashPassword, verifyPassword } from '../src/password-hash.js';
import { freePort, type RunningMosquitto, selfSignedCert, startMosquitto } from '../src/testing.js';

const ACL_MD = fileURLToPath(new URL('../../../docs/acl.md', import.meta.url));

/** The fenced block of docs/acl.md whose first line is `marker`. */
function docBlock(marker: string): string[] {
  const blocks = readFileSync(ACL_MD, 'utf8')
    .split('```')
    .filter((_, i) => i % 2 === 1);
  const block = blocks.map((b) => b.replace(/^\n/, '')).find((b) => b.startsWith(marker));
  if (!block) throw new Error(`docs/acl.md has no code block starting with "${marker}"`);
  return block.trimEnd().split('\n');
}

const PASSWORDS: Record<string, string> = {
  'edgetwin-service': 'svc-secret',
  'line-a-app': 'a-secret',
  'line-b-app': 'b-secret',
  ops: 'ops-secret',
};
let dir: string;
let mosquitto: RunningMosquitto | undefined;
let loopbackUrl: string;
let cert: { cert: string; key: string } | undefined;
const clients: MqttClient[] = [];

async function connect(url: string, user?: string, extra: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...(user ? { username: user, password: PASSWORDS[user] } : {}),
    ...(url.startsWith('mqtts') ? { ca: cert!.cert } : {}),
    ...extra,
  });
  clients.push(c);
  return c;
}

/** Messages `c` gets on `filter` until the marker `by` publishes on `topic` (Mosquitto grants any SUBSCRIBE and filters delivery). */
async function seenUntilMarker(
  c: MqttClient,
  filter: string,
  act: () => Promise<unknown>,
  by: MqttClient,
  topic: string,
) {
  const seen: Array<{ topic: string; payload: string }> = [];
  const done = new Promise<void>((resolve) =>
    c.on('message', (t, p) => {
      seen.push({ topic: t, payload: p.toString() });
      if (t === topic && p.toString() === 'marker') resolve();
    }),
  );
  await c.subscribeAsync(filter, { qos: 1 });
  await act();
  await by.publishAsync(topic, 'marker', { qos: 1 });
  await done;
  return seen;
}

beforeAll(async () => {
  cert = await selfSignedCert();
  if (!cert) throw new Error('openssl is needed to make the LAN listener certificate');
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-edge-mosquitto-'));
  // the hashes the embedded broker's user file holds, pasted into Mosquitto's password file
  const passwd = join(dir, 'edge-passwd');
  const lines = await Promise.all(Object.entries(PASSWORDS).map(async ([u, p]) => `${u}:${await hashPassword(p)}`));
  await writeFile(passwd, `${lines.join('\n')}\n`, { mode: 0o600 });
  const acl = join(dir, 'edge-bus.acl');
  await writeFile(acl, `${docBlock('# edgetwin edge bus: Mosquitto ACL').join('\n')}\n`, { mode: 0o600 });
  // docs/acl.md's mosquitto.conf, with our ports, files and certificate
  const conf = docBlock('# edgetwin edge bus: Mosquitto configuration');
  expect(conf).toContain('per_listener_settings true');
  const listeners = conf
    .join('\n')
    .split(/\n(?=listener )/)
    .slice(1);
  const [local, lanBlock] = listeners.map((b) => b.split('\n').filter((l) => l && !l.startsWith('#')));
  expect(local![0]).toBe('listener 1883 127.0.0.1');
  expect(lanBlock![0]).toBe('listener 8883');
  const ours = (l: string) =>
    l.replace('/etc/mosquitto/edge-passwd', passwd).replace('/etc/mosquitto/edge-bus.acl', acl);
  const localPort = await freePort();
  loopbackUrl = `mqtt://127.0.0.1:${localPort}`;
  // the LAN block is startMosquitto's own listener (TLS, users, ACL); the loopback block follows verbatim
  expect(lanBlock!.slice(1)).toEqual([
    'certfile /etc/mosquitto/certs/edge.crt',
    'keyfile /etc/mosquitto/certs/edge.key',
    'allow_anonymous false',
    'password_file /etc/mosquitto/edge-passwd',
    'acl_file /etc/mosquitto/edge-bus.acl',
  ]);
  mosquitto = await startMosquitto({
    tls: cert,
    perListenerSettings: true,
    passwordLines: lines,
    acl: docBlock('# edgetwin edge bus: Mosquitto ACL'),
    extraConfig: [`listener ${localPort} 127.0.0.1`, ...local!.slice(1).map(ours)],
  });
}, 30_000);

afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await mosquitto?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the edge bus on Mosquitto, configured from docs/acl.md', () => {
  const A = '$hw/events/device/line-a/press-1/twin/update';
  const B = '$hw/events/device/line-b/oven-1/twin/update';

  it('refuses anonymous and wrong-password clients on the LAN listener; anonymous $hw works on loopback', async () => {
    const refused = { connectTimeoutMs: 3000, ca: cert!.cert };
    await expect(connectBus({ url: mosquitto!.url, ...refused })).rejects.toThrow(/refused the credentials/);
    await expect(
      connectBus({ url: mosquitto!.url, username: 'line-a-app', password: 'b-secret', ...refused }),
    ).rejects.toThrow(/refused the credentials/);
    expect((await connect(mosquitto!.url, 'line-a-app')).connected).toBe(true);
    const local = await connect(loopbackUrl);
    const seen = await seenUntilMarker(local, '$hw/events/device/line-a/#', async () => undefined, local, A);
    expect(seen.map((m) => m.topic)).toEqual([A]);
  });

  it('app A neither reads nor writes namespace B', async () => {
    const a = await connect(mosquitto!.url, 'line-a-app');
    const b = await connect(mosquitto!.url, 'line-b-app');
    // A reads: whatever it subscribes, B's messages never arrive
    const seenByA = await seenUntilMarker(
      a,
      '$hw/events/device/#',
      () => b.publishAsync(B, 'b data', { qos: 1 }),
      a,
      A,
    );
    expect(seenByA.map((m) => m.topic)).toEqual([A]);
    // A writes into B: dropped
    const seenByB = await seenUntilMarker(
      b,
      '$hw/events/device/line-b/#',
      () => a.publishAsync(B, 'forged', { qos: 1 }),
      b,
      B,
    );
    expect(seenByB.map((m) => m.payload)).toEqual(['marker']);
  });

  it('no app overwrites a retained mapper-facing spec; anonymous loopback apps neither', async () => {
    const spec = 'edgetwin/v1/nodes/gw-1/mappers/modbus/devices/line-a/press-1';
    const service = await connect(loopbackUrl, 'edgetwin-service');
    await service.publishAsync(spec, 'from the twin', { qos: 1, retain: true });
    await (await connect(mosquitto!.url, 'ops')).publishAsync(spec, 'forged', { qos: 1, retain: true });
    await (await connect(loopbackUrl)).publishAsync(spec, 'forged', { qos: 1, retain: true });
    // a new mapper's subscription gets the retained spec: still the twin's
    const mapper = await connect(loopbackUrl, 'edgetwin-service');
    const retained = new Promise<string>((resolve) =>
      mapper.on('message', (topic, payload, packet) => {
        if (topic === spec && packet.retain) resolve(payload.toString());
      }),
    );
    await mapper.subscribeAsync(spec, { qos: 1 });
    expect(await retained).toBe('from the twin');
  });
});

describe('password hashes shared with Mosquitto', () => {
  it('verifies what mosquitto_passwd writes, PBKDF2 ($7$) and SHA-512 ($6$)', async () => {
    const file = join(dir, 'made-by-mosquitto');
    const run = promisify(execFile);
    await writeFile(file, '', { mode: 0o600 });
    await run('mosquitto_passwd', ['-b', file, 'pbkdf2-user', 'pw-7']);
    await run('mosquitto_passwd', ['-H', 'sha512', '-b', file, 'sha-user', 'pw-6']);
    const entries = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => l.split(/:(.*)/s));
    const yaml = `users:\n${entries.map(([u, h]) => `  - {name: ${u}, password: "${h}", namespaces: [a]}\n`).join('')}`;
    const users = parseEdgeBusUsers(yaml, 'made-by-mosquitto.yaml');
    expect(await verifyPassword(users.get('pbkdf2-user')!.password, 'pw-7')).toBe(true);
    expect(await verifyPassword(users.get('pbkdf2-user')!.password, 'pw-6')).toBe(false);
    expect(await verifyPassword(users.get('sha-user')!.password, 'pw-6')).toBe(true);
    expect(await verifyPassword(users.get('sha-user')!.password, 'pw-7')).toBe(false);
  });
});
