// The embedded edge broker: aedes over TCP (or TLS), optional auth/ACL, optional durable sessions.
import { timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { Aedes, type AedesOptions, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { BrokerAuth, BrokerListener, BrokerOptions, PeerCertificate, RunningBroker } from './contracts.js';
import { brokerMetrics } from './metrics.js';
import { DEFAULT_MAX_PACKET_BYTES, PacketSizeGuard } from './packet-guard.js';
import { withoutPacketIdCache } from './packet-id-cache.js';
import { openLevelPersistence } from './persistence.js';
import { silentLogger } from './silent-logger.js';

export interface EmbeddedBrokerOptions extends BrokerOptions {
  /** Prometheus registry for broker metrics (default: this package's metricsRegistry) */
  registry?: Registry;
}

export interface EmbeddedBroker extends RunningBroker {
  /** the URL and port of each of `extraListeners`, in order */
  readonly extraListeners: ReadonlyArray<{ url: string; port: number }>;
  /** clients connected right now */
  readonly connectedClients: number;
  /** closes the connection of this client id at once, if it is connected (a revoked identity) */
  disconnect(clientId: string): boolean;
}

/**
 * A denied PUBLISH is acknowledged and dropped, as Mosquitto does (MQTT-3.3.5-2 allows either that
 * or closing the connection; closing makes an MQTT 3.1.1 client resend the same message forever).
 * aedes has no "drop" verdict, so the packet is re-addressed to this topic, which is never forwarded.
 */
const DENIED_TOPIC = '$edgetwin/denied';

/** BAD_USERNAME_OR_PASSWORD (4) in the CONNACK, so clients can tell it from other refusals. */
function badCredentials(clientId: string): AuthenticateError {
  return Object.assign(new Error(`client ${clientId}: bad user name or password`), { returnCode: 4 as const });
}

function samePassword(expected: string, given: Buffer | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(expected);
  return a.length === given.length && timingSafeEqual(a, given);
}

/** Combine the `users` table and `auth` hooks: both must accept when both are given. */
function authHooks(opts: BrokerOptions): BrokerAuth | undefined {
  const { users, auth } = opts;
  if (!users && !auth) return undefined;
  return {
    async authenticate(clientId, username, password, peer) {
      if (users) {
        const expected = username === undefined ? undefined : users[username];
        if (expected === undefined || !Object.hasOwn(users, username!) || !samePassword(expected, password)) {
          return false;
        }
      }
      return auth?.authenticate ? await auth.authenticate(clientId, username, password, peer) : true;
    },
    ...(auth?.authorizePublish ? { authorizePublish: auth.authorizePublish.bind(auth) } : {}),
    ...(auth?.authorizeSubscribe ? { authorizeSubscribe: auth.authorizeSubscribe.bind(auth) } : {}),
    ...(auth?.authorizeRead ? { authorizeRead: auth.authorizeRead.bind(auth) } : {}),
  };
}

/** aedes does not expose the CONNECT username on its client object; remember it here. */
const usernames = new WeakMap<Client, string>();

function who(client: Client): { id: string; username?: string } {
  const username = usernames.get(client);
  return username === undefined ? { id: client.id } : { id: client.id, username };
}

/**
 * aedes pulls inbound bytes with `socket.read()` and buffers each packet whole before parsing it. Every
 * chunk read passes the size guard first; the first packet declaring more than `max` bytes closes the
 * socket at once, and its bytes never reach the parser.
 */
function limitPacketSize(socket: net.Socket, max: number, onOversized: (size: number) => void): void {
  const guard = new PacketSizeGuard(max);
  const read = socket.read.bind(socket);
  let refused = false;
  socket.read = (size?: number) => {
    if (refused) return null;
    const chunk = read(size) as Buffer | string | null;
    if (chunk === null || typeof chunk === 'string') return chunk;
    const oversized = guard.feed(chunk);
    if (oversized === undefined) return chunk;
    refused = true;
    onOversized(oversized);
    socket.destroy();
    return null;
  };
}

/**
 * Opens the durable session store; on a full disk (LevelDB must write a new log and manifest to open) the
 * broker starts anyway with sessions in memory, says so, and counts it: a full disk must not turn every
 * restart into a refusal to start (issue 9 §4). Durability returns with the next start that has space.
 */
async function openDurableOrDegraded(
  dir: string,
  log: Logger,
  metrics: ReturnType<typeof brokerMetrics>,
): Promise<Awaited<ReturnType<typeof openLevelPersistence>> | undefined> {
  try {
    return await openLevelPersistence(dir, log);
  } catch (err) {
    if (!/no space left|ENOSPC|disk is full/i.test(`${(err as Error).message} ${String((err as Error).cause)}`))
      throw err;
    metrics.persistenceFallbacks.inc();
    log.error(
      { err: (err as Error).message, dir },
      'disk full: the broker starts with sessions, queued messages and retained messages in memory only (lost on restart); restart once space is freed to make them durable again',
    );
    return undefined;
  }
}

export async function startBroker(opts: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  const log: Logger = (opts.logger ?? silentLogger).child({ component: 'broker' });
  const metrics = brokerMetrics(opts.registry);
  const hooks = authHooks(opts);
  const maxPacketBytes = opts.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES;
  new PacketSizeGuard(maxPacketBytes); // throws on a bad limit before anything is opened
  const persistence = opts.persistenceDir ? await openDurableOrDegraded(opts.persistenceDir, log, metrics) : undefined;

  /** An ACL hook that throws denies: a bug in a policy must not open the broker or crash it. */
  const allowed = (check: () => boolean): boolean => {
    try {
      return check() === true;
    } catch (err) {
      log.error({ err }, 'ACL hook threw; denied');
      return false;
    }
  };

  /** connections of listeners with allowAnonymous: false */
  const noAnonymous = new WeakSet<object>();

  const aedesOpts: AedesOptions = {
    ...(persistence ? { persistence: persistence.persistence } : {}),
    authenticate(client, username, password, done) {
      if (username === undefined && noAnonymous.has(client.conn)) {
        metrics.authFailures.inc();
        log.warn({ clientId: client.id }, 'refused an anonymous client on a listener that needs a user name');
        return done(badCredentials(client.id), false);
      }
      if (!hooks?.authenticate) {
        if (username !== undefined) usernames.set(client, username);
        return done(null, true);
      }
      Promise.resolve()
        .then(() => hooks.authenticate!(client.id, username, password, peerOf(client.conn)))
        .then(
          (ok) => {
            if (ok) {
              if (username !== undefined) usernames.set(client, username);
              return done(null, true);
            }
            metrics.authFailures.inc();
            log.warn({ clientId: client.id, username }, 'refused credentials');
            done(badCredentials(client.id), false);
          },
          (err: unknown) => {
            metrics.authFailures.inc();
            log.error({ clientId: client.id, username, err }, 'authenticate hook threw; connection refused');
            done(badCredentials(client.id), false);
          },
        );
    },
    authorizePublish(client, packet, done) {
      if (packet.topic.startsWith(DENIED_TOPIC)) return done(new Error(`publishing on ${DENIED_TOPIC} is reserved`));
      if (client && hooks?.authorizePublish && !allowed(() => hooks.authorizePublish!(who(client), packet.topic))) {
        metrics.publishDenied.inc();
        log.warn(
          { clientId: client.id, username: usernames.get(client), topic: packet.topic },
          'publish denied by ACL',
        );
        packet.topic = DENIED_TOPIC;
        packet.retain = false;
      }
      done(null);
    },
    authorizeSubscribe(client, sub, done) {
      const denied =
        sub.topic.startsWith(DENIED_TOPIC) ||
        (hooks?.authorizeSubscribe !== undefined && !allowed(() => hooks.authorizeSubscribe!(who(client), sub.topic)));
      if (denied) {
        log.warn(
          { clientId: client.id, username: usernames.get(client), filter: sub.topic },
          'subscribe denied by ACL',
        );
        // null subscription = SUBACK 0x80 for this filter, the connection stays up.
        return done(null, null);
      }
      done(null, sub);
    },
    authorizeForward(client, packet) {
      if (packet.topic === DENIED_TOPIC) return null;
      if (client && hooks?.authorizeRead && !allowed(() => hooks.authorizeRead!(who(client), packet.topic)))
        return null;
      metrics.messagesOut.inc();
      return packet;
    },
  };

  withoutPacketIdCache();
  const aedes = await Aedes.createBroker(aedesOpts);
  const untrack = metrics.track(aedes);
  aedes.on('publish', (_packet, client) => {
    if (client) metrics.messagesIn.inc();
  });
  aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'client error'));
  aedes.on('connectionError', (client, err) =>
    log.debug({ clientId: client.id, err: err.message }, 'connection error'),
  );
  aedes.on('client', (client) => log.debug({ clientId: client.id }, 'client connected'));
  aedes.on('clientDisconnect', (client) => log.debug({ clientId: client.id }, 'client disconnected'));

  /** every open connection, so close() can end those aedes does not know as clients (see closeBroker) */
  const sockets = new Set<net.Socket>();
  // MQTT is request/response over small packets: with Nagle on, each reply waits ~40 ms for the peer's
  // delayed ACK (measured: 21 twin round trips/s instead of thousands).
  const handle = (socket: net.Socket, anonymous: boolean) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    if (!anonymous) noAnonymous.add(socket);
    limitPacketSize(socket, maxPacketBytes, (size) => {
      metrics.oversizedPackets.inc();
      log.warn(
        { remote: socket.remoteAddress, declaredBytes: size, maxPacketBytes },
        `closed a connection that sent a ${size} byte packet; the limit is ${maxPacketBytes} bytes (maxPacketBytes)`,
      );
    });
    aedes.handle(socket);
  };
  const specs: BrokerListener[] = [
    { host, port: opts.port ?? 1883, ...(opts.tls ? { tls: opts.tls } : {}) },
    ...(opts.extraListeners ?? []),
  ];
  const servers: Array<net.Server> = [];
  const listening: Array<{ url: string; port: number }> = [];
  try {
    for (const spec of specs) {
      const server = await listen(spec, (socket) => handle(socket, spec.allowAnonymous !== false));
      servers.push(server);
      listening.push({
        url: urlOf(spec, (server.address() as net.AddressInfo).port),
        port: (server.address() as net.AddressInfo).port,
      });
    }
  } catch (err) {
    untrack();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    await new Promise<void>((r) => aedes.close(() => r()));
    await persistence?.close();
    throw err;
  }

  const { url, port } = listening[0]!;
  log.info(
    {
      url,
      extraListeners: listening.slice(1).map((l) => l.url),
      durable: Boolean(persistence),
      auth: Boolean(hooks),
      tls: Boolean(opts.tls),
      maxPacketBytes,
    },
    'MQTT broker listening',
  );

  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    extraListeners: listening.slice(1),
    get connectedClients() {
      return aedes.connectedClients;
    },
    disconnect(clientId) {
      // aedes keeps connected clients by id but leaves the map out of its types
      const client = (aedes as unknown as { clients: Record<string, Client | undefined> }).clients[clientId];
      if (!client) return false;
      log.warn({ clientId }, 'closing the connection of a revoked client');
      client.close();
      return true;
    },
    close() {
      closed ??= (async () => {
        untrack();
        await closeBroker(aedes, servers, sockets, log);
        // LevelDB holds a lock on its directory: release it so a new broker can open the same dir. Its close
        // waits (bounded) for the persistence calls in flight, so a session or retained write is not cut off.
        await persistence?.close();
        log.info({ url }, 'MQTT broker closed');
      })();
      return closed;
    },
  };
}

/** how long close() gives aedes to close its clients, and the listeners to see every connection end */
const CLOSE_BOUND_MS = 5000;

/** Resolves true when `p` settles within `ms`, false when the time ran out first. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * aedes' close() closes the clients it has registered, i.e. those whose CONNECT was accepted. A connection
 * still in its handshake (half a CONNECT on the wire, authentication or the durable session fetch not yet
 * answered) is not among them: its socket stayed open, and a listener's close waits for every connection,
 * so the broker's close waited up to aedes' 30 s connect timeout, or for ever when the authentication
 * answered after the close (aedes then drops the client without closing its socket). Those connections
 * are ended here: their clients reconnect to the next broker, which is what a refused CONNECT would make
 * them do. Nothing stored goes with them: a handshake step already reaching the store finishes before the
 * store closes (openLevelPersistence's close), and a later one never reaches it.
 */
async function closeBroker(aedes: Aedes, servers: net.Server[], sockets: Set<net.Socket>, log: Logger): Promise<void> {
  const serversClosed = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  if (!(await within(new Promise<void>((r) => aedes.close(() => r())), CLOSE_BOUND_MS))) {
    log.error(
      { connections: sockets.size, boundMs: CLOSE_BOUND_MS },
      'the broker did not close its clients in time; closing every connection',
    );
  }
  // the sockets of the clients aedes closed are destroyed already (their 'close' event comes a tick later)
  const open = [...sockets].filter((s) => !s.destroyed);
  if (open.length > 0) {
    log.warn(
      { connections: open.length, remotes: open.slice(0, 10).map((s) => `${s.remoteAddress}:${s.remotePort}`) },
      `closing ${open.length} connection(s) that had not finished connecting`,
    );
    for (const socket of open) socket.destroy();
  }
  if (!(await within(serversClosed, CLOSE_BOUND_MS))) {
    log.error({ boundMs: CLOSE_BOUND_MS }, 'a listener did not close in time; the broker closes without it');
  }
}

function listen(spec: BrokerListener, onSocket: (socket: net.Socket) => void): Promise<net.Server> {
  const server = spec.tls
    ? tls.createServer(
        {
          cert: spec.tls.cert,
          key: spec.tls.key,
          ...(spec.tls.ca ? { ca: spec.tls.ca } : {}),
          // the verdict goes to the authenticate hook (peerOf), which refuses per identity
          ...(spec.tls.requestCert ? { requestCert: true, rejectUnauthorized: false } : {}),
        },
        onSocket,
      )
    : net.createServer(onSocket);
  return new Promise<net.Server>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'the port is in use (another broker such as Mosquitto? use an external broker URL or another port)'
          : err.code === 'EACCES'
            ? 'permission denied (ports below 1024 need privileges)'
            : err.code === 'EADDRNOTAVAIL'
              ? 'no such address on this machine'
              : (err.code ?? err.message);
      reject(new Error(`cannot start MQTT broker on ${spec.host}:${spec.port}: ${why}`, { cause: err }));
    });
    server.listen(spec.port, spec.host, () => {
      server.removeAllListeners('error');
      resolve(server);
    });
  });
}

/** The client certificate of a TLS connection that presented one. */
function peerOf(conn: unknown): PeerCertificate | undefined {
  if (!(conn instanceof tls.TLSSocket)) return undefined;
  const cert = conn.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const cn = cert.subject?.CN;
  return { authorized: conn.authorized, ...(typeof cn === 'string' ? { commonName: cn } : {}) };
}

function urlOf(spec: BrokerListener, port: number): string {
  // A wildcard listen address is not one to dial: hand out the loopback of the same family.
  const dialHost = spec.host === '0.0.0.0' ? '127.0.0.1' : spec.host === '::' ? '::1' : spec.host;
  const urlHost = dialHost.includes(':') ? `[${dialHost}]` : dialHost;
  return `${spec.tls ? 'mqtts' : 'mqtt'}://${urlHost}:${port}`;
}
