// Test helpers for every package: a real embedded broker on an ephemeral loopback port, a real
// Mosquitto, and message waiters that fail with a clear message instead of hanging.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type EmbeddedBroker, type EmbeddedBrokerOptions, startBroker } from './broker.js';
import type { BusClient } from './contracts.js';

const execFileAsync = promisify(execFile);

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
  /** the payload parsed as JSON (throws with the topic in the message if it is not JSON) */
  json(): unknown;
}

function received(topic: string, payload: Buffer, retain: boolean): ReceivedMessage {
  return {
    topic,
    payload,
    retain,
    json() {
      try {
        return JSON.parse(payload.toString('utf8'));
      } catch (err) {
        throw new Error(`payload on ${topic} is not JSON: ${payload.toString('utf8').slice(0, 200)}`, { cause: err });
      }
    },
  };
}

/** An embedded broker on 127.0.0.1, ephemeral port, in-memory unless persistenceDir is given. */
export function startTestBroker(opts: Omit<EmbeddedBrokerOptions, 'host' | 'port'> & { port?: number } = {}) {
  return startBroker({ ...opts, host: '127.0.0.1', port: opts.port ?? 0 });
}

/**
 * Subscribe to `filter` and resolve with the first message that matches (and satisfies predicate).
 * Rejects after timeoutMs with a message naming the filter. The subscription is removed either way.
 * Retained messages count, so a test can wait for state published before it subscribed.
 * The subscription is sent asynchronously: when another client publishes right after this call,
 * use `armNextMessage` (resolves once the broker acknowledged the subscription) to avoid a race.
 */
export async function nextMessage(
  client: BusClient,
  filter: string,
  opts: { timeoutMs?: number; predicate?: (m: ReceivedMessage) => boolean } = {},
): Promise<ReceivedMessage> {
  const armed = await armNextMessage(client, filter, opts);
  return armed.message;
}

/**
 * Like nextMessage, but resolves as soon as the subscription is in place, with `message`, the
 * promise of the first matching message (its timeout starts now).
 */
export async function armNextMessage(
  client: BusClient,
  filter: string,
  opts: { timeoutMs?: number; predicate?: (m: ReceivedMessage) => boolean } = {},
): Promise<{ message: Promise<ReceivedMessage> }> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  let settle: { resolve(m: ReceivedMessage): void; reject(e: Error): void } | undefined;
  const result = new Promise<ReceivedMessage>((resolve, reject) => {
    settle = { resolve, reject };
  });
  let done = false;
  const unsubscribe = await client.subscribe(filter, (topic, payload, packet) => {
    if (done) return;
    const m = received(topic, payload, packet.retain);
    let ok: boolean;
    try {
      ok = opts.predicate ? opts.predicate(m) : true;
    } catch (err) {
      done = true;
      settle!.reject(new Error(`predicate for '${filter}' threw on ${topic}: ${(err as Error).message}`));
      return;
    }
    if (ok) {
      done = true;
      settle!.resolve(m);
    }
  });
  const timer = setTimeout(() => {
    if (done) return;
    done = true;
    settle!.reject(
      new Error(`no message matching '${filter}'${opts.predicate ? ' (with predicate)' : ''} within ${timeoutMs} ms`),
    );
  }, timeoutMs);
  const message = result.finally(() => {
    clearTimeout(timer);
    unsubscribe().catch(() => {});
  });
  // Callers may attach later; keep Node from reporting the rejection as unhandled meanwhile.
  message.catch(() => {});
  return { message };
}

export interface MessageCollector {
  readonly messages: ReceivedMessage[];
  /** resolve with all messages once there are `count` of them, or one satisfies the predicate */
  waitFor(what: number | ((m: ReceivedMessage) => boolean), timeoutMs?: number): Promise<ReceivedMessage[]>;
  stop(): Promise<void>;
}

/** Subscribe to `filter` and keep every message, in arrival order. */
export function collectMessages(client: BusClient, filter: string): Promise<MessageCollector> {
  return collectMapped(client, filter, (topic, payload, retain) => [received(topic, payload, retain)]);
}

/**
 * Subscribe to `filter` and keep what `map` makes of each message (none, one or several messages, e.g. the
 * entries of a batch), in arrival order.
 */
export async function collectMapped(
  client: BusClient,
  filter: string,
  map: (topic: string, payload: Buffer, retain: boolean) => ReceivedMessage[],
): Promise<MessageCollector> {
  const messages: ReceivedMessage[] = [];
  const waiters = new Set<() => void>();
  const unsubscribe = await client.subscribe(filter, (topic, payload, packet) => {
    messages.push(...map(topic, payload, packet.retain));
    for (const w of [...waiters]) w();
  });
  return {
    messages,
    waitFor(what, timeoutMs = 5000) {
      const satisfied = () => (typeof what === 'number' ? messages.length >= what : messages.some(what));
      if (satisfied()) return Promise.resolve(messages);
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!satisfied()) return;
          cleanup();
          resolve(messages);
        };
        const timer = setTimeout(() => {
          cleanup();
          const wanted = typeof what === 'number' ? `${what} messages` : 'a message matching the predicate';
          reject(
            new Error(
              `waiting for ${wanted} on '${filter}': got ${messages.length} within ${timeoutMs} ms` +
                (messages.length ? ` (last on ${messages.at(-1)!.topic})` : ''),
            ),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
      });
    },
    stop: () => unsubscribe(),
  };
}

/** Resolve once cond() is true, re-checking every intervalMs; reject with `what` after timeoutMs. */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
  intervalMs = 20,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it, release it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface TcpProxy {
  /** mqtt://127.0.0.1:<proxy port>: dial this instead of the broker */
  readonly url: string;
  readonly port: number;
  /** drop every open connection abruptly (no DISCONNECT): a network cut or a crashed process, as the broker sees it */
  cutConnections(): void;
  /** silently drop all bytes both ways while on, keeping the sockets open: a half-open link only keepalive can detect */
  blackhole(on: boolean): void;
  /** the link goes down: open connections are destroyed and new ones refused until restore() */
  cut(): void;
  /** the network dies silently: open connections stop forwarding for good, new ones are refused until restore() */
  freeze(): void;
  /** the link comes back: new connections are accepted again (frozen ones stay dead) */
  restore(): void;
  /** new connections go to this port (a restarted broker that got a new port: its old one may be taken) */
  retarget(port: number): void;
  /** every answer from the target reaches the client this much later (a slow or overloaded server); 0: off */
  latency(ms: number): void;
  /**
   * Date.now() when bytes from a client last reached the target: where a keepalive timeout counts from (a
   * client sends something at least once per keepalive, so the moment of a freeze says little about it)
   */
  lastForwardedAt(): number;
  close(): Promise<void>;
}

/** A loopback TCP relay to `targetPort`, to simulate network cuts between a client and a broker. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const frozen = new WeakSet<net.Socket>();
  let dropping = false;
  let refusing = false;
  let target = targetPort;
  let latencyMs = 0;
  let forwardedAt = 0;
  const server = net.createServer((inbound) => {
    if (refusing) {
      inbound.destroy();
      return;
    }
    const outbound = net.connect({ host: '127.0.0.1', port: target });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    // Relayed by hand rather than piped, so blackhole() and freeze() can drop bytes while both sockets stay open.
    inbound.on('data', (d: Buffer) => {
      if (dropping || frozen.has(inbound)) return;
      outbound.write(d);
      forwardedAt = Date.now();
    });
    outbound.on('data', (d: Buffer) => {
      if (dropping || frozen.has(inbound)) return;
      if (latencyMs > 0) setTimeout(() => inbound.writable && inbound.write(d), latencyMs);
      else inbound.write(d);
    });
    inbound.on('end', () => outbound.end());
    // after the data still on its way (a server that answers and closes: the answer first)
    outbound.on('end', () => (latencyMs > 0 ? setTimeout(() => inbound.end(), latencyMs) : inbound.end()));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  const cutConnections = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    cutConnections,
    retarget(port: number) {
      target = port;
    },
    latency(ms: number) {
      latencyMs = ms;
    },
    lastForwardedAt: () => forwardedAt,
    blackhole(on: boolean) {
      dropping = on;
    },
    cut() {
      refusing = true;
      cutConnections();
    },
    freeze() {
      refusing = true;
      for (const s of sockets) frozen.add(s);
    },
    restore() {
      refusing = false;
    },
    async close() {
      refusing = true;
      cutConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface MosquittoOptions {
  /** user -> password; when given, anonymous clients are refused */
  users?: Record<string, string>;
  /** raw password_file lines (`user:$7$...`, e.g. hashes made with hashPassword); anonymous clients are refused */
  passwordLines?: string[];
  /** raw Mosquitto acl_file lines, e.g. ['user alice', 'topic readwrite a/#'] */
  acl?: string[];
  /** extra mosquitto.conf lines */
  extraConfig?: string[];
  /**
   * per_listener_settings true: the users, ACL and anonymous policy above are the first listener's, and
   * extraConfig may add a second `listener` block with its own
   */
  perListenerSettings?: boolean;
  /** reuse a port (restart on the same address); default a free ephemeral port */
  port?: number;
  startTimeoutMs?: number;
  /** serve mqtts:// with this certificate (e.g. from selfSignedCert()) */
  tls?: { cert: string; key: string };
  /** path of the mosquitto binary (default: found in /usr/sbin, /usr/bin, /usr/local/{s,}bin) */
  binary?: string;
}

export interface RunningMosquitto {
  readonly url: string;
  readonly port: number;
  /** Mosquitto's stderr/stdout so far, for failure messages */
  output(): string;
  stop(): Promise<void>;
}

async function findBinary(name: string): Promise<string> {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    try {
      await access(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this directory
    }
  }
  throw new Error(`${name} not found: install Debian package mosquitto (apt-get install mosquitto mosquitto-clients)`);
}

async function checkBinary(path: string): Promise<string> {
  try {
    await access(path, constants.X_OK);
    return path;
  } catch {
    throw new Error(`${path} is not an executable mosquitto: install Debian package mosquitto`);
  }
}

/** A real Mosquitto on 127.0.0.1 with a temp config; stop() kills it and removes the temp dir. */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<RunningMosquitto> {
  const mosquitto = opts.binary ? await checkBinary(opts.binary) : await findBinary('mosquitto');
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-mosquitto-'));
  const port = opts.port ?? (await freePort());
  // Run as ourselves: started as root, Mosquitto would switch to user "mosquitto", which cannot read our temp dir.
  const conf = [
    `user ${userInfo().username}`,
    `per_listener_settings ${opts.perListenerSettings ? 'true' : 'false'}`,
    `listener ${port} 127.0.0.1`,
    ...(opts.tls ? [`certfile ${join(dir, 'cert.pem')}`, `keyfile ${join(dir, 'key.pem')}`] : []),
    'persistence false',
    'log_dest stderr',
  ];
  if (opts.tls) {
    await writeFile(join(dir, 'cert.pem'), opts.tls.cert, { mode: 0o600 });
    await writeFile(join(dir, 'key.pem'), opts.tls.key, { mode: 0o600 });
  }
  if (opts.users) {
    const passwd = await findBinary('mosquitto_passwd');
    const pwFile = join(dir, 'passwd');
    await writeFile(pwFile, '', { mode: 0o600 });
    for (const [user, password] of Object.entries(opts.users)) {
      await execFileAsync(passwd, ['-b', pwFile, user, password]);
    }
    conf.push('allow_anonymous false', `password_file ${pwFile}`);
  } else if (opts.passwordLines) {
    const pwFile = join(dir, 'passwd');
    await writeFile(pwFile, `${opts.passwordLines.join('\n')}\n`, { mode: 0o600 });
    conf.push('allow_anonymous false', `password_file ${pwFile}`);
  } else {
    conf.push('allow_anonymous true');
  }
  if (opts.acl) {
    const aclFile = join(dir, 'acl');
    await writeFile(aclFile, opts.acl.join('\n') + '\n', { mode: 0o600 });
    conf.push(`acl_file ${aclFile}`);
  }
  conf.push(...(opts.extraConfig ?? []));
  const confFile = join(dir, 'mosquitto.conf');
  await writeFile(confFile, conf.join('\n') + '\n', { mode: 0o600 });

  let output = '';
  const child: ChildProcess = spawn(mosquitto, ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let exited = false;
  // Never leave a Mosquitto behind when the test process ends without calling stop().
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      process.off('exit', killOnExit);
      resolve();
    }),
  );

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(killTimer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitUntil(
      async () => {
        if (exited) throw new Error(`mosquitto exited during start-up:\n${output}`);
        return canConnect(port);
      },
      `mosquitto to accept connections on 127.0.0.1:${port}`,
      opts.startTimeoutMs ?? 5000,
      25,
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\nmosquitto output:\n${output}`, { cause: err });
  }

  return { url: `${opts.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`, port, output: () => output, stop };
}

/**
 * A throw-away self-signed certificate for 127.0.0.1/localhost (EC P-256, valid one day), made with the
 * openssl command; undefined when openssl is not installed (callers skip with a message).
 */
export async function selfSignedCert(): Promise<{ cert: string; key: string } | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-cert-'));
  try {
    await execFileAsync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    return { cert: await readFile(join(dir, 'cert.pem'), 'utf8'), key: await readFile(join(dir, 'key.pem'), 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`openssl could not make a test certificate: ${(err as Error).message}`, { cause: err });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export type { EmbeddedBroker };
