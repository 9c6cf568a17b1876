// Issue 15 (the durable broker's close hang, after commit 52347e5): aedes' close() closes only the clients
// that finished connecting. A connection still in its handshake (half a CONNECT on the wire, or a CONNECT
// whose authentication or session fetch has not answered) kept its socket, so the listener never closed
// and the broker's close() waited for it: up to aedes' 30 s connect timeout, or for ever when the
// authentication answered after the close (aedes then drops the client without closing its socket).
// close() now ends those connections too, says so in the log, and what the store holds survives.
import net from 'node:net';
import mqtt from 'mqtt';
import pino from 'pino';
import { expect, it } from 'vitest';
import { type EmbeddedBroker, nextMessage, startTestBroker } from '../src/testing.js';
import { broker, client, onCleanup, tempDir, useCleanup } from './helpers.js';

useCleanup();

/** An MQTT 3.1.1 CONNECT (clean session, keepalive 60 s) for this client id. */
function connectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId);
  const body = Buffer.concat([
    Buffer.from([0, 4, ...Buffer.from('MQTT'), 4, 0x02, 0, 60, id.length >> 8, id.length & 0xff]),
    id,
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** A raw TCP connection that sends `bytes` and then nothing more; resolves once it is open. */
function stalledConnection(port: number, bytes: Buffer): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(bytes);
      resolve({ socket, closed: new Promise<void>((r) => socket.once('close', () => r())) });
    });
    socket.once('error', reject);
    socket.on('error', () => {});
    onCleanup(async () => socket.destroy());
  });
}

async function closesWithin(b: EmbeddedBroker, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`broker close() did not finish within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([b.close(), late]);
  } finally {
    clearTimeout(timer);
  }
}

it('close() ends connections still in their handshake, logs them, and keeps sessions and retained messages', async () => {
  const dir = await tempDir('close-handshake');
  const lines: Array<{ msg?: string; connections?: number }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  // the authentication of client "stuck" answers only when the test lets it (after the close)
  let authAsked!: () => void;
  const asked = new Promise<void>((r) => {
    authAsked = r;
  });
  let answerAuth!: (ok: boolean) => void;
  const answer = new Promise<boolean>((r) => {
    answerAuth = r;
  });
  onCleanup(async () => answerAuth(true));
  const b = await startTestBroker({
    persistenceDir: dir,
    logger,
    auth: {
      authenticate: (clientId) => {
        if (clientId !== 'stuck') return true;
        authAsked();
        return answer;
      },
    },
  });

  // what the store holds: a persistent session with a queued QoS 1 message, and a retained message
  const keeper = await client(b.url, { clientId: 'keeper', clean: false });
  await keeper.subscribe('plant/#', () => {}, { qos: 1 });
  await keeper.close();
  const pub = await client(b.url, { clientId: 'pub' });
  await pub.publish('plant/queued', 'for keeper', { qos: 1 });
  await pub.publish('plant/spec', 'retained', { qos: 1, retain: true });
  await pub.close();

  // one connection has sent half its CONNECT; another a whole CONNECT whose authentication is pending
  const packet = connectPacket('half');
  const half = await stalledConnection(b.port, packet.subarray(0, 5));
  const stuck = await stalledConnection(b.port, connectPacket('stuck'));
  await asked;
  // and a client that is connected: aedes closes it itself, it is not one of those the log names
  await client(b.url, { clientId: 'live' });

  await closesWithin(b, 5000);
  await half.closed;
  await stuck.closed;
  // the authentication answering after the close registers nothing and throws nothing
  answerAuth(true);
  expect(lines.find((l) => l.msg?.includes('had not finished connecting'))?.connections).toBe(2);

  // the next broker on the same directory has the session, its queued message and the retained message
  const next = await broker({ persistenceDir: dir });
  const raw = mqtt.connect(next.url, { clientId: 'keeper', clean: false, reconnectPeriod: 0 });
  onCleanup(() => raw.endAsync());
  const queued = new Promise<string>((resolve) =>
    raw.on('message', (topic, payload) => resolve(`${topic}=${payload}`)),
  );
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    raw.once('connect', resolve);
    raw.once('error', reject);
  });
  expect(connack.sessionPresent).toBe(true);
  expect(await queued).toBe('plant/queued=for keeper');
  const reader = await client(next.url);
  expect((await nextMessage(reader, 'plant/spec', { timeoutMs: 3000 })).payload.toString()).toBe('retained');
});
