// External-broker mode against a real Mosquitto (Debian package mosquitto; CI installs it).
import { describe, expect, it } from 'vitest';
import { BusError, connectBus } from '../src/index.js';
import {
  armNextMessage,
  collectMessages,
  type RunningMosquitto,
  selfSignedCert,
  startMosquitto,
} from '../src/testing.js';
import { client, nextEvent, onCleanup, useCleanup } from './helpers.js';

useCleanup();

async function mosquitto(opts: Parameters<typeof startMosquitto>[0] = {}): Promise<RunningMosquitto> {
  const m = await startMosquitto(opts);
  onCleanup(() => m.stop());
  return m;
}

describe('external Mosquitto broker', () => {
  it('tells the user which package to install when mosquitto is missing', async () => {
    await expect(startMosquitto({ binary: '/nonexistent/mosquitto' })).rejects.toThrow(
      'install Debian package mosquitto',
    );
  });

  it('carries pub/sub through the same client wrapper, including $hw topics', async () => {
    const m = await mosquitto();
    const app = await client(m.url);
    const mapper = await client(m.url);
    const { message } = await armNextMessage(app, '$hw/events/device/+/+/twin/update', { timeoutMs: 3000 });
    await mapper.publish('$hw/events/device/default/led-1/twin/update', '{"twin":{"power":{"actual":{"value":"on"}}}}');
    const got = await message;
    expect(got.topic).toBe('$hw/events/device/default/led-1/twin/update');
    expect(got.json()).toMatchObject({ twin: { power: { actual: { value: 'on' } } } });
  });

  it('accepts a user from the password file and refuses a wrong password with a clear BusError', async () => {
    const m = await mosquitto({ users: { x: 'right' } });
    await expect(client(m.url, { username: 'x', password: 'right' })).resolves.toBeDefined();
    const err = await connectBus({ url: m.url, username: 'x', password: 'wrong', connectTimeoutMs: 3000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BusError);
    // Mosquitto answers 5 (not authorized) where aedes answers 4 (bad user name or password)
    expect((err as Error).message).toBe(`MQTT broker at ${m.url} refused the credentials for user x (not authorized)`);
  });

  it('applies an ACL: denied publishes and reads are dropped, the connection stays up', async () => {
    const m = await mosquitto({
      users: { mapper: 'm', app: 'a' },
      acl: [
        'user mapper',
        'topic write $hw/events/device/#',
        'topic readwrite probe/#',
        'user app',
        'topic read $hw/events/device/#',
      ],
    });
    const mapper = await client(m.url, { username: 'mapper', password: 'm' });
    const app = await client(m.url, { username: 'app', password: 'a' });
    const seen = await collectMessages(app, '$hw/events/device/+/+/twin/update');
    // Mosquitto grants a SUBSCRIBE the ACL forbids (aedes answers SUBACK 0x80) but never delivers on it.
    const mapperReads = await collectMessages(mapper, '#');
    const mapperHw = await collectMessages(mapper, '$hw/events/device/#');
    await app.publish('$hw/events/device/default/x/twin/update', 'forged');
    await mapper.publish('$hw/events/device/default/x/twin/update', 'real');
    await seen.waitFor(1, 3000);
    expect(seen.messages.map((msg) => msg.payload.toString())).toEqual(['real']);
    // probe/x comes after the $hw message on the mapper's connection: had it been delivered, it would be here
    await mapper.publish('probe/x', 'marker');
    await mapperReads.waitFor(1, 3000);
    expect(mapperReads.messages.map((msg) => msg.topic)).toEqual(['probe/x']);
    expect(mapperHw.messages).toEqual([]);
    expect(app.connected && mapper.connected).toBe(true);
  });

  it('connects over mqtts:// with the CA and credentials', async (ctx) => {
    const pem = await selfSignedCert();
    if (!pem) {
      ctx.skip('openssl is not installed: cannot make a test certificate (install Debian package openssl)');
      return;
    }
    const m = await mosquitto({ tls: pem, users: { app: 'pw' } });
    expect(m.url).toMatch(/^mqtts:/);
    const c = await client(m.url, { ca: pem.cert, username: 'app', password: 'pw' });
    const { message } = await armNextMessage(c, 'secure/#', { timeoutMs: 3000 });
    await c.publish('secure/hello', 'over tls');
    expect((await message).payload.toString()).toBe('over tls');
    await expect(connectBus({ url: m.url, username: 'app', password: 'pw', connectTimeoutMs: 3000 })).rejects.toThrow(
      /^cannot reach MQTT broker at mqtts:.*self.signed/i,
    );
  });

  it('reconnects and re-subscribes after Mosquitto restarts on the same port', async () => {
    let m = await startMosquitto();
    onCleanup(() => m.stop());
    const c = await client(m.url);
    const got = await collectMessages(c, 'cmd/+');
    const down = nextEvent<Error | undefined>((l) => c.onDisconnect(l), 'disconnect');
    await m.stop();
    await down;
    const up = nextEvent<boolean>((l) => c.onConnect(l), 'reconnect');
    m = await startMosquitto({ port: m.port });
    expect(await up).toBe(false);
    const pub = await client(m.url);
    await pub.publish('cmd/go', '1', { retain: true });
    await got.waitFor(1, 3000);
    expect(got.messages.map((msg) => msg.topic)).toEqual(['cmd/go']);
  });
});
