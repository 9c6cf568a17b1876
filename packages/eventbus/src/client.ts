// The one MQTT client wrapper of edgetwin. Mapper processes import this file directly
// (`@edgetwin/eventbus/client`), so it must not pull in the broker (aedes) or prom-client.
import { Socket } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BusClient, BusClientOptions, MessageHandler } from './contracts.js';
import { BusError } from './errors.js';
import { FilterIndex } from './filter-index.js';
import { silentLogger } from './silent-logger.js';
import { filterProblem, topicMatches, topicProblem } from './topic-match.js';

export type { BusClient, BusClientOptions, MessageHandler } from './contracts.js';
export { BusError } from './errors.js';
export { topicMatches } from './topic-match.js';

const DEFAULTS = { backoffMs: 500, maxBackoffMs: 30_000, connectTimeoutMs: 10_000 } as const;
/** How long close() waits for the broker to acknowledge what is in flight before it drops the connection. */
export const CLOSE_GRACE_MS = 500;

/** Extra hooks beyond the shared contract (metrics live outside this file to keep it light). */
export interface BusClientHooks {
  /** called each time a reconnect attempt is started, with the attempt number since the last success */
  onReconnectAttempt?: (attempt: number, delayMs: number) => void;
  /** MQTT keepalive (default 30 s): a silent connection is declared dead after 1.5 times this */
  keepaliveSeconds?: number;
}

/** Delay before reconnect attempt `attempt` (1-based): backoffMs doubled per attempt, capped. */
export function backoffDelay(attempt: number, backoffMs: number, maxBackoffMs: number): number {
  const exp = Math.min(attempt - 1, 30);
  return Math.min(backoffMs * 2 ** exp, maxBackoffMs);
}

/** Turn an mqtt.js connect failure into a message a user can act on. */
export function describeConnectError(url: string, username: string | undefined, err: unknown): BusError {
  const e = err as { code?: string | number; message?: string } | undefined;
  const code = e?.code;
  if (typeof code === 'number' && (code === 4 || code === 5 || code === 134 || code === 135)) {
    const why = code === 4 || code === 134 ? 'bad user name or password' : 'not authorized';
    const who = username === undefined ? 'an anonymous client' : `user ${username}`;
    return new BusError(
      `MQTT broker at ${url} refused the credentials for ${who} (${why})`,
      url,
      'refused-credentials',
      {
        cause: err,
      },
    );
  }
  if (typeof code === 'number') {
    return new BusError(
      `MQTT broker at ${url} refused the connection (${e?.message ?? `return code ${code}`})`,
      url,
      'refused',
      {
        cause: err,
      },
    );
  }
  const socketReasons: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ENOTFOUND: 'host name not found',
    EAI_AGAIN: 'host name lookup failed',
    ETIMEDOUT: 'timed out',
  };
  const reason = (typeof code === 'string' && socketReasons[code]) || e?.message || String(err);
  return new BusError(`cannot reach MQTT broker at ${url}: ${reason}`, url, 'unreachable', { cause: err });
}

/** The URL without credentials, for messages and logs. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/**
 * mqtt.js dials its TCP/TLS socket without TCP_NODELAY, so a small packet written while the previous one is
 * still unacknowledged waits for the peer's delayed ACK (~40 ms on Linux): a PUBLISH right after another, or a
 * PUBACK after a PUBLISH, pays that in latency (bench/e2e.ts). mqtt.js builds a new socket on every
 * (re)connect and sends CONNECT first, so set the option as that packet goes out. tls.TLSSocket is a
 * net.Socket and passes it to its TCP handle; a WebSocket stream has no such option.
 */
function noDelayOnEveryConnect(raw: MqttClient): void {
  const set = () => {
    if (raw.stream instanceof Socket) raw.stream.setNoDelay(true);
  };
  // mqtt.connect() has already built the first socket and written CONNECT before it returns
  set();
  raw.on('packetsend', (packet) => {
    if (packet.cmd === 'connect') set();
  });
}

/** Messages a resumed session delivered before any handler matched them (clean:false only). */
const MAX_HELD_MESSAGES = 1000;

// tcp:// and ssl:// are what KubeEdge configs use (mqttServerExternal: tcp://127.0.0.1:1883).
const SCHEMES = new Set(['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:']);

/** Throw a BusError naming what is wrong with a broker URL, before dialing anything. */
export function checkBrokerUrl(raw: string): void {
  const expected = 'expected mqtt://host:port or mqtts://host:port';
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new BusError(`MQTT broker URL '${raw}' is not a URL: ${expected}`, raw, 'invalid');
  }
  const shown = u.username || u.password ? safeUrl(raw) : raw;
  if (!SCHEMES.has(u.protocol)) {
    throw new BusError(`MQTT broker URL '${shown}' has scheme '${u.protocol}': ${expected}`, shown, 'invalid');
  }
  if (!u.hostname) throw new BusError(`MQTT broker URL '${shown}' has no host: ${expected}`, shown, 'invalid');
}

interface HeldMessage {
  topic: string;
  payload: Buffer;
  packet: { retain: boolean; qos: number };
}

interface Subscription {
  qos: 0 | 1;
  handlers: Set<MessageHandler>;
  /** the broker has acknowledged this filter in the current session */
  acked: boolean;
  /** the SUBSCRIBE in flight for this filter, if any */
  inflight?: Promise<void>;
}

/**
 * Connect to an MQTT 3.1.1 broker (embedded aedes or external). Resolves once the first CONNACK
 * accepted us; rejects with a BusError if the broker is unreachable, refuses, or does not answer
 * within connectTimeoutMs. Afterwards the client reconnects on its own with exponential backoff and
 * re-subscribes every filter whenever the broker does not hold our session.
 */
export async function connectBus(opts: BusClientOptions & BusClientHooks): Promise<BusClient> {
  checkBrokerUrl(opts.url);
  const url = safeUrl(opts.url);
  if (opts.clean === false && !opts.clientId) {
    throw new BusError(
      `connecting to ${url} with clean: false needs a fixed clientId: the broker keeps the session under it`,
      url,
      'invalid',
    );
  }
  const username = opts.username ?? (decodeURIComponent(new URL(opts.url).username) || undefined);
  const log = (opts.logger ?? silentLogger).child({ component: 'bus-client', url });
  const backoffMs = opts.backoffMs ?? DEFAULTS.backoffMs;
  const maxBackoffMs = Math.max(opts.maxBackoffMs ?? DEFAULTS.maxBackoffMs, backoffMs);
  const connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
  const clean = opts.clean ?? true;
  const clientId = opts.clientId ?? `edgetwin-${Math.random().toString(16).slice(2, 10)}`;
  // Our own stores, handed back on every reconnect, so unacknowledged QoS 1 publishes survive it.
  const incomingStore = new mqtt.Store();
  const outgoingStore = new mqtt.Store();

  const mqttOptions: IClientOptions = {
    protocolVersion: 4,
    // no 6.5 MiB cache of packet-id Buffers (packet-id-cache.ts)
    writeCache: false,
    clientId,
    clean,
    connectTimeout: connectTimeoutMs,
    keepalive: opts.keepaliveSeconds ?? 30,
    // Reconnects are ours (exponential backoff); mqtt.js only knows a fixed period.
    reconnectPeriod: 0,
    // Re-subscribing is ours too, so it is explicit and covers sessions the broker lost.
    resubscribe: false,
    incomingStore,
    outgoingStore,
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.password !== undefined ? { password: opts.password } : {}),
    ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
    ...(opts.will
      ? {
          will: {
            topic: opts.will.topic,
            payload: Buffer.from(opts.will.payload),
            qos: opts.will.qos ?? 1,
            retain: opts.will.retain ?? false,
          },
        }
      : {}),
  };

  const raw = mqtt.connect(opts.url, mqttOptions);
  noDelayOnEveryConnect(raw);
  // A resumed session may deliver in the same read as the CONNACK, before the client object exists.
  const early: HeldMessage[] = [];
  const onEarly = (topic: string, payload: Buffer, packet: { retain: boolean; qos: number }) => {
    early.push({ topic, payload, packet: { retain: packet.retain, qos: packet.qos } });
  };
  raw.on('message', onEarly);
  try {
    await waitForFirstConnack(raw, url, username, connectTimeoutMs);
  } finally {
    raw.off('message', onEarly);
  }
  log.debug({ clientId }, 'connected');
  const client = new ReconnectingBusClient(raw, {
    url,
    log,
    backoffMs,
    maxBackoffMs,
    stores: { incomingStore, outgoingStore },
    holdUnrouted: !clean,
    ...(opts.onReconnectAttempt ? { onReconnectAttempt: opts.onReconnectAttempt } : {}),
  });
  client.deliverEarly(early);
  return client;
}

function waitForFirstConnack(
  raw: MqttClient,
  url: string,
  username: string | undefined,
  timeoutMs: number,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let firstError: unknown;
    const cleanup = () => {
      clearTimeout(timer);
      raw.off('connect', onConnect);
      raw.off('error', onError);
      raw.off('close', onClose);
    };
    const fail = (err: BusError) => {
      cleanup();
      // mqtt.js may still emit errors while tearing down; an unheard 'error' would crash the process.
      raw.on('error', () => {});
      raw.end(true);
      reject(err);
    };
    const onConnect = () => {
      cleanup();
      resolve();
    };
    const timedOut = () => {
      const socketError = firstError && (firstError as Error).message !== 'connack timeout';
      return new BusError(
        `cannot reach MQTT broker at ${url}: no CONNACK within ${timeoutMs} ms` +
          (socketError ? ` (${(firstError as Error).message})` : ''),
        url,
        'timeout',
      );
    };
    const onError = (err: unknown) => {
      // A refused CONNACK (or socket error) is followed by close; keep the most telling error.
      firstError ??= err;
      if ((err as Error).message === 'connack timeout') return fail(timedOut());
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'number') fail(describeConnectError(url, username, err));
    };
    const onClose = () => {
      fail(
        firstError !== undefined
          ? describeConnectError(url, username, firstError)
          : new BusError(`cannot reach MQTT broker at ${url}: connection closed before CONNACK`, url, 'unreachable'),
      );
    };
    const timer = setTimeout(() => fail(timedOut()), timeoutMs);
    raw.on('connect', onConnect);
    raw.on('error', onError);
    raw.on('close', onClose);
  });
}

interface ClientSettings {
  url: string;
  log: Logger;
  backoffMs: number;
  maxBackoffMs: number;
  stores: { incomingStore: InstanceType<typeof mqtt.Store>; outgoingStore: InstanceType<typeof mqtt.Store> };
  onReconnectAttempt?: (attempt: number, delayMs: number) => void;
  /**
   * A persistent session delivers its queued messages right after CONNACK, before the
   * application had a chance to subscribe its handlers again: hold those until one matches.
   */
  holdUnrouted: boolean;
}

class ReconnectingBusClient implements BusClient {
  private readonly subs = new FilterIndex<Subscription>();
  private readonly connectListeners = new Set<(sessionPresent: boolean) => void>();
  private readonly disconnectListeners = new Set<(error?: Error) => void>();
  private closing = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private lastError: Error | undefined;
  private wasConnected = true;
  private held: HeldMessage[] = [];
  private readonly pendingPublishes = new Set<(err: Error) => void>();
  /** QoS 0 publishes waiting for their socket to drain, behind one listener per socket */
  private readonly drainWaiters = new Map<Socket, Array<() => void>>();
  /** per filter: settles once every SUBSCRIBE/UNSUBSCRIBE of it sent so far has been answered */
  private readonly filterOps = new Map<string, Promise<void>>();
  /** filters dropped while the UNSUBSCRIBE could not reach the broker; a kept session still holds them */
  private readonly unsentUnsubscribes = new Set<string>();

  constructor(
    private readonly raw: MqttClient,
    private readonly s: ClientSettings,
  ) {
    // mqtt.js (5.16) fails in-flight QoS 1 publishes with "Connection closed" when it drops a connection itself
    // (keepalive timeout) with reconnectPeriod 0 and a clean session, assuming nobody reconnects; yet it keeps
    // them in the store and re-sends them on reconnect. We do reconnect, and close() settles whatever is left,
    // so such a publish stays pending until its PUBACK. Tested by the half-open link test.
    (raw as unknown as { _flush: () => void })._flush = () => {};
    raw.on('message', (topic, payload, packet) => this.dispatch(topic, payload, packet));
    raw.on('connect', (connack) => this.handleConnect(connack.sessionPresent));
    raw.on('error', (err) => {
      this.lastError = err;
      s.log.warn({ err: err.message }, 'MQTT client error');
    });
    raw.on('close', () => this.handleClose());
  }

  get connected(): boolean {
    return this.raw.connected;
  }

  publish(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void> {
    const problem = topicProblem(topic);
    if (problem) {
      return Promise.reject(new BusError(`cannot publish on '${topic}': ${problem}`, this.s.url, 'invalid'));
    }
    if (this.closing) {
      return Promise.reject(new BusError(`cannot publish on '${topic}': client is closed`, this.s.url, 'closed'));
    }
    const qos = opts?.qos ?? 1;
    const stream = this.raw.stream as Socket | undefined;
    if (
      qos === 0 &&
      this.raw.connected &&
      stream &&
      !(this.raw as unknown as { _storeProcessing: boolean })._storeProcessing
    )
      return this.publishQos0(topic, payload, opts?.retain ?? false, stream);
    // One promise per publish (this is the hot path). close() rejects what still waits for a PUBACK,
    // which mqtt.js would otherwise leave pending forever.
    return new Promise<void>((resolve, reject) => {
      this.pendingPublishes.add(reject);
      this.raw.publish(topic, payload, { qos, retain: opts?.retain ?? false }, (err) => {
        this.pendingPublishes.delete(reject);
        if (!err) return resolve();
        reject(
          new BusError(`publish on '${topic}' to ${this.s.url} failed: ${err.message}`, this.s.url, 'publish-failed', {
            cause: err,
          }),
        );
      });
    });
  }

  /**
   * A QoS 0 publish on a live connection resolves once the socket took it. mqtt.js, given a callback, adds
   * one 'drain' listener per publish while the socket is full, so a burst of QoS 0 publishes (a mapper's
   * report batches, a flood) piled up one listener each (Node's MaxListenersExceededWarning past 1,000). Here
   * every publish waiting for the same drain shares one listener.
   */
  private publishQos0(topic: string, payload: string | Buffer, retain: boolean, stream: Socket): Promise<void> {
    // Without a callback mqtt.js writes at once and adds no listener.
    this.raw.publish(topic, payload, { qos: 0, retain });
    if (!stream.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pendingPublishes.add(reject);
      let waiters = this.drainWaiters.get(stream);
      if (!waiters) {
        const list: Array<() => void> = [];
        waiters = list;
        this.drainWaiters.set(stream, list);
        // A socket that closes full never drains: what it took is as sent as QoS 0 gets.
        const release = () => {
          stream.off('drain', release);
          stream.off('close', release);
          this.drainWaiters.delete(stream);
          for (const done of list) done();
        };
        stream.on('drain', release);
        stream.on('close', release);
      }
      waiters.push(() => {
        this.pendingPublishes.delete(reject);
        resolve();
      });
    });
  }

  async subscribe(filter: string, handler: MessageHandler, opts?: { qos?: 0 | 1 }): Promise<() => Promise<void>> {
    const problem = filterProblem(filter);
    if (problem) throw new BusError(`cannot subscribe to '${filter}': ${problem}`, this.s.url, 'invalid');
    if (this.closing) throw new BusError(`cannot subscribe to '${filter}': client is closed`, this.s.url, 'closed');
    const qos = opts?.qos ?? 1;
    let sub = this.subs.get(filter);
    const isNew = !sub;
    if (!sub) {
      sub = { qos, handlers: new Set(), acked: false };
      this.subs.set(filter, sub);
    }
    sub.handlers.add(handler);
    this.releaseHeld(filter, handler);
    // A second handler for a filter whose SUBSCRIBE is still on its way waits for the same SUBACK.
    let sending = sub.inflight;
    if (isNew || qos > sub.qos) {
      sub.qos = Math.max(sub.qos, qos) as 0 | 1;
      this.unsentUnsubscribes.delete(filter);
      sending = this.inOrder(filter, () => this.sendSubscribe(filter, sub));
      const mine = sending;
      sub.inflight = mine;
      mine
        .catch(() => {})
        .finally(() => {
          if (sub.inflight === mine) sub.inflight = undefined;
        });
    }
    if (sending) {
      try {
        await sending;
      } catch (err) {
        sub.handlers.delete(handler);
        if (sub.handlers.size === 0 && this.subs.get(filter) === sub) {
          this.subs.delete(filter);
          // a refused QoS upgrade leaves the grant the broker gave an earlier handler, now unused
          if (sub.acked) void this.sendUnsubscribe(filter);
        }
        throw err;
      }
    }
    let removed = false;
    return async () => {
      if (removed) return;
      removed = true;
      // The handler belongs to `sub`; a later Subscription object for the same filter is not ours to touch.
      if (this.subs.get(filter) !== sub) return;
      sub.handlers.delete(handler);
      if (sub.handlers.size > 0) return;
      this.subs.delete(filter);
      await this.sendUnsubscribe(filter);
    };
  }

  /**
   * Run a SUBSCRIBE or UNSUBSCRIBE of `filter` once every earlier one has been answered. aedes handles
   * the packets of one read concurrently: an UNSUBSCRIBE still in progress there when the SUBSCRIBE
   * right behind it arrives makes aedes answer the SUBSCRIBE from the old subscription (SUBACK and all)
   * and then remove it, leaving none. Waiting for the UNSUBACK makes the last call decide, on any broker.
   */
  private inOrder(filter: string, op: () => Promise<void>): Promise<void> {
    const before = this.filterOps.get(filter) ?? Promise.resolve();
    const run = before.then(op);
    const settled = run.then(
      () => {},
      () => {},
    );
    this.filterOps.set(filter, settled);
    void settled.then(() => {
      if (this.filterOps.get(filter) === settled) this.filterOps.delete(filter);
    });
    return run;
  }

  /** Tell the broker to drop `filter`, after the operations on it already under way. */
  private sendUnsubscribe(filter: string): Promise<void> {
    return this.inOrder(filter, async () => {
      if (this.closing) return;
      if (!this.raw.connected) {
        this.unsentUnsubscribes.add(filter);
        return;
      }
      try {
        await this.raw.unsubscribeAsync(filter);
      } catch (err) {
        // mqtt.js fails it with "Connection closed" when the link drops before the UNSUBACK.
        this.unsentUnsubscribes.add(filter);
        this.s.log.debug({ err: (err as Error).message, filter }, 'unsubscribe not confirmed; retried on reconnect');
      }
    });
  }

  onConnect(listener: (sessionPresent: boolean) => void): () => void {
    this.connectListeners.add(listener);
    return () => this.connectListeners.delete(listener);
  }

  onDisconnect(listener: (error?: Error) => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    for (const abandon of this.pendingPublishes) {
      abandon(
        new BusError(
          `publish to ${this.s.url} abandoned: client closed before the broker acknowledged it`,
          this.s.url,
          'closed',
        ),
      );
    }
    // Force when offline: a graceful end would wait for a DISCONNECT that can never be sent.
    if (!this.raw.connected) return void (await this.raw.endAsync(true));
    // A graceful end first waits for every packet in flight to be acknowledged, which a broker that went
    // silent never does: after CLOSE_GRACE_MS the socket is dropped (issue 9 §5, a mapper stop within a bound).
    let timer: NodeJS.Timeout | undefined;
    const graceful = this.raw.endAsync(false).then(() => true);
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), CLOSE_GRACE_MS);
    });
    const ended = await Promise.race([graceful, late]);
    clearTimeout(timer);
    if (!ended) {
      this.s.log.warn({ graceMs: CLOSE_GRACE_MS }, 'broker did not acknowledge in time; connection dropped');
      this.raw.stream?.destroy();
    }
  }

  private async sendSubscribe(filter: string, sub: Subscription): Promise<void> {
    // While offline the subscription is only recorded; handleConnect sends it.
    if (!this.raw.connected) return;
    const qos = sub.qos;
    let granted: Array<{ topic: string; qos: number }>;
    try {
      granted = await this.raw.subscribeAsync(filter, { qos });
    } catch (err) {
      // mqtt.js turns SUBACK 0x80 (the broker, e.g. its ACL, refused this filter) into an error.
      if ((err as { packet?: { granted?: unknown[] } }).packet?.granted?.some((g) => g === 128)) {
        throw new BusError(
          `MQTT broker at ${this.s.url} refused the subscription to '${filter}'`,
          this.s.url,
          'subscribe-refused',
          {
            cause: err,
          },
        );
      }
      throw new BusError(
        `subscribe to '${filter}' at ${this.s.url} failed: ${(err as Error).message}`,
        this.s.url,
        'subscribe-refused',
        { cause: err },
      );
    }
    // MQTT 3.1.1 SUBACK 0x80: the broker (e.g. its ACL) refused this filter.
    if (granted.some((g) => g.qos === 128)) {
      throw new BusError(
        `MQTT broker at ${this.s.url} refused the subscription to '${filter}'`,
        this.s.url,
        'subscribe-refused',
      );
    }
    sub.acked = true;
  }

  /** Messages that arrived between CONNACK and construction: route (or hold) them like any other. */
  deliverEarly(messages: HeldMessage[]): void {
    for (const m of messages) this.dispatch(m.topic, m.payload, m.packet);
  }

  private dispatch(topic: string, payload: Buffer, packet: { retain: boolean; qos: number }): void {
    const meta = { retain: packet.retain, qos: packet.qos };
    let routed = false;
    // matching() returns a fresh array: a handler may subscribe or unsubscribe while we deliver.
    for (const [filter, sub] of this.subs.matching(topic)) {
      for (const handler of sub.handlers) {
        routed = true;
        this.callHandler(handler, filter, topic, payload, meta);
      }
    }
    if (routed) return;
    if (!this.s.holdUnrouted) {
      this.s.log.debug({ topic }, 'message matched no handler; dropped');
      return;
    }
    if (this.held.length >= MAX_HELD_MESSAGES) {
      const dropped = this.held.shift()!;
      this.s.log.warn(
        { topic: dropped.topic, max: MAX_HELD_MESSAGES },
        'too many unclaimed session messages; oldest dropped',
      );
    }
    this.held.push({ topic, payload, packet: meta });
  }

  private callHandler(
    handler: MessageHandler,
    filter: string,
    topic: string,
    payload: Buffer,
    meta: { retain: boolean; qos: number },
  ): void {
    try {
      handler(topic, payload, meta);
    } catch (err) {
      this.s.log.error({ err, filter, topic }, 'message handler threw; message skipped for this handler');
    }
  }

  /** Hand held session messages matching `filter` to its new handler, in arrival order. */
  private releaseHeld(filter: string, handler: MessageHandler): void {
    if (this.held.length === 0) return;
    const mine = this.held.filter((m) => topicMatches(filter, m.topic));
    if (mine.length === 0) return;
    this.held = this.held.filter((m) => !topicMatches(filter, m.topic));
    // After the caller's `await subscribe()` continues, like any other delivery.
    setImmediate(() => {
      for (const m of mine) this.callHandler(handler, filter, m.topic, m.payload, m.packet);
    });
  }

  private handleConnect(sessionPresent: boolean): void {
    this.attempt = 0;
    this.lastError = undefined;
    const reconnected = this.wasConnected === false;
    this.wasConnected = true;
    this.s.log.info({ sessionPresent }, 'connected to MQTT broker');
    if (reconnected) {
      // Without a session the broker forgot every filter; with one, it lacks those added while offline
      // and still holds those dropped while offline.
      if (!sessionPresent) {
        for (const sub of this.subs.values()) sub.acked = false;
        this.unsentUnsubscribes.clear();
      }
      const stale = [...this.unsentUnsubscribes].filter((filter) => !this.subs.get(filter));
      this.unsentUnsubscribes.clear();
      for (const filter of stale) void this.sendUnsubscribe(filter);
      void this.subscribeUnacked();
    }
    this.notify(this.connectListeners, sessionPresent);
  }

  /** Send every recorded subscription the broker does not hold for us. */
  private async subscribeUnacked(): Promise<void> {
    // All at once: mqtt.js pipelines them, so a thousand filters cost one round trip, not a thousand.
    const pending = [...this.subs.entries()].filter(([, sub]) => !sub.acked);
    await Promise.all(
      pending.map(([filter, sub]) =>
        this.inOrder(filter, () =>
          sub.acked || this.subs.get(filter) !== sub ? Promise.resolve() : this.sendSubscribe(filter, sub),
        ).catch((err: unknown) => this.s.log.error({ err: (err as Error).message, filter }, 'resubscribe failed')),
      ),
    );
  }

  private notify<A extends unknown[]>(listeners: Set<(...args: A) => void>, ...args: A): void {
    for (const l of listeners) {
      try {
        l(...args);
      } catch (err) {
        this.s.log.error({ err }, 'connection listener threw');
      }
    }
  }

  private handleClose(): void {
    const wasUp = this.wasConnected;
    this.wasConnected = false;
    // Our own close() is not news for the listeners.
    if (wasUp && !this.closing) {
      this.s.log.warn({ err: this.lastError?.message }, 'disconnected from MQTT broker');
      this.notify(this.disconnectListeners, this.lastError);
    }
    if (this.closing || this.reconnectTimer) return;
    this.attempt += 1;
    const delay = backoffDelay(this.attempt, this.s.backoffMs, this.s.maxBackoffMs);
    this.s.onReconnectAttempt?.(this.attempt, delay);
    this.s.log.debug({ attempt: this.attempt, delayMs: delay }, 'reconnect scheduled');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closing) return;
      this.raw.reconnect(this.s.stores);
    }, delay);
  }
}
