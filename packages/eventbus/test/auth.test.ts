import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BusError, connectBus } from '../src/index.js';
import { armNextMessage, collectMessages, selfSignedCert } from '../src/testing.js';
import { broker, client, useCleanup } from './helpers.js';

useCleanup();

const users = { mapper: 'm-secret', app: 'a-secret' };

describe('broker authentication', () => {
  it('accepts a user from the users table', async () => {
    const b = await broker({ users });
    const c = await client(b.url, { username: 'mapper', password: 'm-secret' });
    expect(c.connected).toBe(true);
  });

  it('refuses a wrong password with a BusError naming the broker and user', async () => {
    const registry = new Registry();
    const b = await broker({ users, registry });
    const err = await connectBus({ url: b.url, username: 'mapper', password: 'nope', connectTimeoutMs: 3000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).message).toBe(
      `MQTT broker at ${b.url} refused the credentials for user mapper (bad user name or password)`,
    );
    expect((err as BusError).reason).toBe('refused-credentials');
    expect(await registry.getSingleMetricAsString('edgetwin_eventbus_broker_auth_failures_total')).toMatch(/ 1$/m);
  });

  it('refuses unknown users and anonymous clients', async () => {
    const b = await broker({ users });
    await expect(connectBus({ url: b.url, username: 'eve', password: 'x', connectTimeoutMs: 3000 })).rejects.toThrow(
      /refused the credentials for user eve/,
    );
    await expect(connectBus({ url: b.url, connectTimeoutMs: 3000 })).rejects.toThrow(
      /refused the credentials for an anonymous client/,
    );
  });

  it('asks the authenticate hook and refuses when it throws', async () => {
    const b = await broker({
      auth: {
        async authenticate(clientId, username) {
          if (username === 'broken') throw new Error('directory down');
          return clientId.startsWith('node-');
        },
      },
    });
    await expect(client(b.url, { clientId: 'node-1' })).resolves.toBeDefined();
    await expect(connectBus({ url: b.url, clientId: 'other', connectTimeoutMs: 3000 })).rejects.toThrow(/refused/);
    await expect(connectBus({ url: b.url, username: 'broken', clientId: 'node-2' })).rejects.toThrow(/refused/);
  });
});

describe('broker ACL', () => {
  // mappers may publish only their own twin updates; apps may only read
  const auth = {
    authorizePublish: (c: { username?: string }, topic: string) =>
      c.username === 'mapper' && topic.startsWith('$hw/events/device/'),
    authorizeSubscribe: (c: { username?: string }, filter: string) =>
      c.username === 'app' || !filter.startsWith('$hw/'),
  };

  it('acknowledges but drops a denied publish, and keeps the connection up', async () => {
    const b = await broker({ users, auth });
    const app = await client(b.url, { username: 'app', password: 'a-secret' });
    const mapper = await client(b.url, { username: 'mapper', password: 'm-secret' });
    const seen = await collectMessages(app, '#');
    const twin = await collectMessages(app, '$hw/events/device/+/+/twin/update');
    await app.publish('$hw/events/device/default/led/twin/update', 'forged'); // denied: apps may not publish
    await mapper.publish('other/topic', 'denied too');
    await mapper.publish('$hw/events/device/default/led/twin/update', 'real');
    await twin.waitFor(1, 3000);
    expect(twin.messages.map((m) => m.payload.toString())).toEqual(['real']);
    expect(seen.messages).toEqual([]);
    expect(app.connected && mapper.connected).toBe(true);
  });

  it('refuses a denied subscription with a BusError naming the filter', async () => {
    const b = await broker({ users, auth });
    const mapper = await client(b.url, { username: 'mapper', password: 'm-secret' });
    await expect(mapper.subscribe('$hw/events/device/#', () => {})).rejects.toThrow(
      `MQTT broker at ${b.url} refused the subscription to '$hw/events/device/#'`,
    );
    // the connection stays usable
    const app = await client(b.url, { username: 'app', password: 'a-secret' });
    const { message } = await armNextMessage(app, '$hw/events/device/+/+/twin/update', { timeoutMs: 3000 });
    await mapper.publish('$hw/events/device/a/b/twin/update', 'still here');
    expect((await message).payload.toString()).toBe('still here');
  });
});

describe('broker TLS', () => {
  it('serves mqtts:// to a client that trusts the CA, and refuses one that does not', async (ctx) => {
    const pem = await selfSignedCert();
    if (!pem) {
      ctx.skip('openssl is not installed: cannot make a test certificate (install Debian package openssl)');
      return;
    }
    const b = await broker({ tls: pem, users });
    expect(b.url).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    const c = await client(b.url, { ca: pem.cert, username: 'app', password: 'a-secret' });
    const { message } = await armNextMessage(c, 'secure/+', { timeoutMs: 3000 });
    await c.publish('secure/x', 'hello');
    expect((await message).payload.toString()).toBe('hello');

    const err = await connectBus({ url: b.url, username: 'app', password: 'a-secret', connectTimeoutMs: 3000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BusError);
    expect((err as Error).message).toMatch(new RegExp(`^cannot reach MQTT broker at ${b.url}: .*self.signed`, 'i'));
  });
});
