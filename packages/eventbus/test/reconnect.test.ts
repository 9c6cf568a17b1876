import net from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BusError, backoffDelay, connectBus } from '../src/index.js';
import { collectMessages, freePort, startTcpProxy, startTestBroker, waitUntil } from '../src/testing.js';
import { broker, client, nextEvent, onCleanup, tempDir, useCleanup } from './helpers.js';

useCleanup();

describe('connect errors', () => {
  it('rejects quickly with "connection refused" when nothing listens', async () => {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const err = await connectBus({ url, connectTimeoutMs: 3000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusError);
    expect((err as Error).message).toBe(`cannot reach MQTT broker at ${url}: connection refused`);
  });

  it('names port 1 the way the docs do', async () => {
    await expect(connectBus({ url: 'mqtt://127.0.0.1:1', connectTimeoutMs: 3000 })).rejects.toThrow(
      'cannot reach MQTT broker at mqtt://127.0.0.1:1: connection refused',
    );
  });

  it('rejects after connectTimeoutMs when the server accepts TCP but never answers', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    onCleanup(async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    });
    const url = `mqtt://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const err = await connectBus({ url, connectTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).reason).toBe('timeout');
    expect((err as Error).message).toBe(`cannot reach MQTT broker at ${url}: no CONNACK within 300 ms`);
  });

  it.each([
    ['localhost:1883', "MQTT broker URL 'localhost:1883' has scheme 'localhost:': expected mqtt://host:port"],
    ['127.0.0.1:1883', "MQTT broker URL '127.0.0.1:1883' is not a URL: expected mqtt://host:port"],
    ['http://127.0.0.1:1883', "MQTT broker URL 'http://127.0.0.1:1883' has scheme 'http:'"],
    ['mqtt://', "MQTT broker URL 'mqtt://' has no host"],
  ])('rejects the broker URL %s before dialing', async (url, message) => {
    const err = await connectBus({ url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).reason).toBe('invalid');
    expect((err as Error).message).toContain(message);
  });

  it('refuses clean: false without a clientId (the session would be lost on the next connect)', async () => {
    await expect(connectBus({ url: 'mqtt://127.0.0.1:1', clean: false })).rejects.toThrow(
      'connecting to mqtt://127.0.0.1:1 with clean: false needs a fixed clientId',
    );
  });

  it('names the user given in the URL when the broker refuses it', async () => {
    const b = await broker({ users: { u: 'right' } });
    await expect(
      connectBus({ url: b.url.replace('mqtt://', 'mqtt://u:wrong@'), connectTimeoutMs: 3000 }),
    ).rejects.toThrow('refused the credentials for user u (bad user name or password)');
  });

  it('accepts KubeEdge-style tcp:// broker URLs', async () => {
    const b = await broker();
    const c = await client(b.url.replace('mqtt://', 'tcp://'));
    expect(c.connected).toBe(true);
  });

  it('keeps passwords out of error messages', async () => {
    const b = await broker({ users: { u: 'right' } });
    const withCreds = b.url.replace('mqtt://', 'mqtt://u:wrong@');
    const err = (await connectBus({ url: withCreds, connectTimeoutMs: 3000 }).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain(`MQTT broker at ${b.url} refused the credentials`);
    expect(err.message).not.toContain('wrong');
  });
});

describe('backoff', () => {
  it('doubles from backoffMs up to maxBackoffMs', () => {
    expect([1, 2, 3, 4, 5, 6, 50].map((a) => backoffDelay(a, 100, 1000))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
  });
});

describe('reconnect', () => {
  it('reconnects after the broker restarts on the same port and re-subscribes (clean session)', async () => {
    const registry = new Registry();
    let b = await startTestBroker();
    const port = b.port;
    onCleanup(() => b.close());
    const attempts: number[] = [];
    const c = await client(b.url, { registry, onReconnectAttempt: (_attempt, delay) => attempts.push(delay) });
    const got = await collectMessages(c, 'cmd/+');

    const down = nextEvent<Error | undefined>((l) => c.onDisconnect(l), 'disconnect');
    await b.close();
    await down;
    expect(c.connected).toBe(false);

    const up = nextEvent<boolean>((l) => c.onConnect(l), 'reconnect');
    b = await startTestBroker({ port });
    expect(await up).toBe(false); // in-memory broker: no session, so the client must re-subscribe itself
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(attempts[0]).toBe(50);

    const pub = await client(b.url);
    // the re-subscription races our publish; a retained message reaches it whichever comes first
    await pub.publish('cmd/led', 'on', { retain: true });
    await got.waitFor(1, 3000);
    expect(got.messages[0]!.payload.toString()).toBe('on');
    expect(await registry.getSingleMetricAsString('edgetwin_eventbus_client_reconnects_total')).toMatch(/ [1-9]\d*$/m);
  });

  it('re-subscribes many filters after a restart, and does not tell listeners about its own close', async () => {
    let b = await startTestBroker();
    const port = b.port;
    onCleanup(() => b.close());
    const c = await connectBus({ url: b.url, backoffMs: 20 });
    const got = new Set<string>();
    let allArrived: () => void = () => {};
    const all = new Promise<void>((r) => {
      allArrived = r;
    });
    const onMessage = (t: string) => {
      got.add(t);
      if (got.size === 200) allArrived();
    };
    for (let i = 0; i < 200; i++) await c.subscribe(`dev/${i}/set`, onMessage);
    let disconnects = 0;
    c.onDisconnect(() => disconnects++);
    const down = nextEvent<Error | undefined>((l) => c.onDisconnect(l), 'disconnect');
    await b.close();
    await down;
    const up = nextEvent<boolean>((l) => c.onConnect(l), 'reconnect');
    b = await startTestBroker({ port });
    await up;
    const pub = await client(b.url);
    for (let i = 0; i < 200; i++) await pub.publish(`dev/${i}/set`, 'on', { retain: true });
    await Promise.race([
      all,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`only ${got.size} of 200 filters delivered`)), 5000),
      ),
    ]);
    await c.close();
    expect(disconnects).toBe(1);
  });

  it('delivers a QoS 1 publish made while the broker was down, once both clients are back', async () => {
    // A durable broker, so the watcher's subscription exists whichever client reconnects first.
    const dir = await tempDir('offline-publish');
    let b = await startTestBroker({ persistenceDir: dir });
    const port = b.port;
    onCleanup(() => b.close());
    const watcher = await client(b.url, { clientId: 'watcher', clean: false });
    const got = await collectMessages(watcher, 'report/+');
    const c = await client(b.url);
    const down = nextEvent<Error | undefined>((l) => c.onDisconnect(l), 'disconnect');
    await b.close();
    await down;
    expect(c.connected).toBe(false);
    const sent = c.publish('report/x', 'while-offline', { qos: 1 });

    b = await startTestBroker({ port, persistenceDir: dir });
    await sent; // resolves only on PUBACK from the restarted broker
    await got.waitFor(1, 5000);
    // QoS 1 is at-least-once: when the watcher's session is restored while the publish arrives, aedes may
    // hand it over both live and from the session queue (seen under heavy load). What must hold is that it
    // arrives and nothing else does; the twin and the cloud link drop repeats by version and seq.
    expect(new Set(got.messages.map((m) => m.payload.toString()))).toEqual(new Set(['while-offline']));
  });

  it('backs off exponentially while the broker stays away, and resets after reconnecting', async () => {
    let b = await startTestBroker();
    const port = b.port;
    onCleanup(() => b.close());
    const delays: number[] = [];
    let fifth: () => void = () => {};
    const fiveAttempts = new Promise<void>((r) => {
      fifth = r;
    });
    const c = await client(b.url, {
      backoffMs: 20,
      maxBackoffMs: 80,
      onReconnectAttempt: (attempt, delay) => {
        delays.push(delay);
        if (attempt === 5) fifth();
      },
    });
    await b.close();
    await fiveAttempts;
    expect(delays.slice(0, 5)).toEqual([20, 40, 80, 80, 80]);
    const up = nextEvent<boolean>((l) => c.onConnect(l), 'reconnect');
    b = await startTestBroker({ port });
    await up;
    delays.length = 0;
    await b.close();
    await waitUntil(() => delays.length > 0, 'a reconnect attempt');
    expect(delays[0]).toBe(20);
  });

  it('rejects a publish still waiting for its PUBACK when the client is closed', async () => {
    const b = await startTestBroker();
    onCleanup(() => b.close());
    const c = await connectBus({ url: b.url, clean: false, clientId: 'pending', backoffMs: 20 });
    const down = nextEvent<Error | undefined>((l) => c.onDisconnect(l), 'disconnect');
    await b.close();
    await down;
    const sent = c.publish('x/y', 'never acked');
    await c.close();
    await expect(sent).rejects.toThrow(/abandoned: client closed before the broker acknowledged it/);
  });

  it('detects a silent (half-open) link by keepalive, reconnects, and delivers the publish made meanwhile', async () => {
    const b = await broker();
    const proxy = await startTcpProxy(b.port);
    onCleanup(() => proxy.close());
    const watcher = await client(b.url);
    const got = await collectMessages(watcher, 'kept/+');
    const c = await client(proxy.url, { keepaliveSeconds: 1 });
    const down = nextEvent<Error | undefined>((l) => c.onDisconnect(l), 'keepalive to notice the dead link', 5000);
    proxy.blackhole(true);
    const sent = c.publish('kept/x', 'through the outage');
    await down;
    proxy.blackhole(false);
    await sent;
    await got.waitFor(1, 5000);
    expect(got.messages.map((m) => m.payload.toString())).toContain('through the outage');
  });

  it('closes promptly while the broker is down, without reconnecting afterwards', async () => {
    const b = await startTestBroker();
    onCleanup(() => b.close());
    const c = await connectBus({ url: b.url, backoffMs: 20, maxBackoffMs: 40 });
    const down = nextEvent<Error | undefined>((l) => c.onDisconnect(l), 'disconnect');
    await b.close();
    await down;
    await c.close();
    expect(c.connected).toBe(false);
    await expect(c.publish('x', 'y')).rejects.toThrow(/client is closed/);
  });
});

describe('durable sessions', () => {
  it("keeps a mapper's clean:false QoS 1 subscription and queued message across a broker restart", async () => {
    const dir = await tempDir('durable');
    let b = await startTestBroker({ persistenceDir: dir });
    onCleanup(() => b.close());
    const mapper = await connectBus({ url: b.url, clientId: 'mapper-modbus', clean: false });
    await mapper.subscribe('edgetwin/v1/default/pump/set', () => {}, { qos: 1 });
    await mapper.close();

    const cloud = await connectBus({ url: b.url });
    await cloud.publish('edgetwin/v1/default/pump/set', '{"speed":3}', { qos: 1 });
    await cloud.close();
    await b.close();

    b = await startTestBroker({ persistenceDir: dir });
    const again = await connectBus({ url: b.url, clientId: 'mapper-modbus', clean: false });
    onCleanup(() => again.close());
    // the session delivered the queued message before we re-registered the handler: it was held for us
    const got = await collectMessages(again, 'edgetwin/v1/default/+/set');
    await got.waitFor(1, 3000);
    expect(got.messages.map((m) => m.payload.toString())).toEqual(['{"speed":3}']);
  });

  it('resumes the session (sessionPresent) and sends only the filters added while offline', async () => {
    const dir = await tempDir('resume');
    let b = await startTestBroker({ persistenceDir: dir });
    const port = b.port;
    onCleanup(() => b.close());
    const c = await client(b.url, { clientId: 'resumer', clean: false });
    const before = await collectMessages(c, 'before/+');
    const down = nextEvent<Error | undefined>((l) => c.onDisconnect(l), 'disconnect');
    await b.close();
    await down;
    // recorded now, sent when the broker is back
    const during = await collectMessages(c, 'during/+');
    const up = nextEvent<boolean>((l) => c.onConnect(l), 'reconnect');
    b = await startTestBroker({ port, persistenceDir: dir });
    expect(await up).toBe(true);
    const pub = await client(b.url);
    // publish "during" last: the SUBSCRIBE for it may still be on its way, retained covers that race
    await pub.publish('before/x', 'kept by the broker');
    await pub.publish('during/x', 'sent on reconnect', { retain: true });
    await before.waitFor(1, 3000);
    await during.waitFor(1, 3000);
    expect(before.messages[0]!.payload.toString()).toBe('kept by the broker');
    expect(during.messages[0]!.payload.toString()).toBe('sent on reconnect');
  });

  it('reports a clear error when the persistence directory is locked by another broker', async () => {
    const dir = await tempDir('locked');
    await broker({ persistenceDir: dir });
    await expect(startTestBroker({ persistenceDir: dir })).rejects.toThrow(`cannot open broker persistence in ${dir}`);
  });
});
