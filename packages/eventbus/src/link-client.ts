// The MQTT client of the cloud link. It is mqtt.js with the few behaviours the link depends on, which a
// general bus client does not promise: it starts even when the broker is unreachable (and keeps trying,
// with backoff), it re-sends every SUBSCRIBE on every connect (so retained desired state is delivered again
// even when the broker kept the session), a refused subscription is an error, and the keepalive is short
// so that the broker notices a dead peer within seconds. Given several URLs (the members of a broker cluster,
// issue 14), it dials them in turn: every (re)connect attempt goes to the next one, starting at the member its
// client id picks, so clients given the same list spread over the members; the one backoff paces them.
//
// Both ends of the cloud link use it (the controller in device-controller, the edge in devicetwin), so it
// lives here, in the one package both may import.

import { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';

export interface LinkClientOptions {
  /** the broker, or the members of a broker cluster (tried in turn, see firstMember) */
  url: string | readonly string[];
  clientId: string;
  username?: string;
  password?: string;
  ca?: string | Buffer;
  /** a client certificate and its key (PEM), for a broker that asks for one (mTLS) */
  clientCert?: { cert: string | Buffer; key: string | Buffer };
  /**
   * SHA-256 fingerprint the server's certificate must have (`ca` then holds that very certificate). The
   * pin replaces the host-name check: the edge may dial the cloud by any address (docs/security.md).
   */
  pinnedFingerprint?: string;
  clean: boolean;
  will?: { topic: string; payload: string; retain: boolean };
  /** seconds; the broker drops a silent client after 1.5 x this */
  keepaliveSec?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  logger: Logger;
}

export type LinkMessageHandler = (topic: string, payload: Buffer, retained: boolean) => void;

export class SubscriptionRefused extends Error {
  constructor(readonly filter: string) {
    super(`broker refused the subscription to ${filter}`);
    this.name = 'SubscriptionRefused';
  }
}

export interface LinkClient {
  readonly connected: boolean;
  /** the broker (cluster member) of the current or last connection */
  readonly url: string;
  publish(topic: string, payload: string | Buffer, opts: { qos: 0 | 1; retain: boolean }): Promise<void>;
  /**
   * Subscribes now (if connected) and again after every reconnect — or, with `whenSessionLost`, on the first
   * connect and then only after a reconnect where the broker did not keep the session (a kept session still
   * has the subscription, and a new SUBSCRIBE would make the broker resend every retained message). Rejects
   * if the broker refuses it.
   */
  subscribe(filter: string, handler: LinkMessageHandler, opts?: { whenSessionLost?: boolean }): Promise<void>;
  unsubscribe(filter: string): Promise<void>;
  onConnect(listener: (sessionPresent: boolean) => void): void;
  onDisconnect(listener: () => void): void;
  /** the password of the next (re)connect: a node that joined with a token logs in with its credential */
  setPassword(password: string): void;
  close(): Promise<void>;
}

/** Which of `count` members a client dials first: a hash of its client id, so that a fleet spreads. */
export function firstMember(clientId: string, count: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < clientId.length; i++) h = Math.imul(h ^ clientId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % count;
}

/** The URLs in the order this client dials them; a bad URL is an error naming it. */
export function memberOrder(url: string | readonly string[], clientId: string): string[] {
  const urls = typeof url === 'string' ? [url] : [...url];
  if (urls.length === 0) throw new Error('cloud link: no broker URL given');
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new Error(`cloud link: "${u}" is not a broker URL (mqtt://HOST:PORT or mqtts://HOST:PORT)`);
    }
    if (parsed.protocol !== 'mqtt:' && parsed.protocol !== 'mqtts:')
      throw new Error(`cloud link: "${u}" is not a broker URL (mqtt://HOST:PORT or mqtts://HOST:PORT)`);
  }
  const first = firstMember(clientId, urls.length);
  return [...urls.slice(first), ...urls.slice(0, first)];
}

export function openLinkClient(opts: LinkClientOptions): LinkClient {
  const log = opts.logger;
  const members = memberOrder(opts.url, opts.clientId);
  const mqttOpts: IClientOptions = {
    clientId: opts.clientId,
    clean: opts.clean,
    keepalive: opts.keepaliveSec ?? 5,
    protocolVersion: 4,
    // no 6.5 MiB cache of packet-id Buffers (packet-id-cache.ts)
    writeCache: false,
    // reconnects are ours (backoff); mqtt.js would retry at a fixed period
    reconnectPeriod: 0,
    resubscribe: false,
    connectTimeout: 10_000,
  };
  if (opts.username !== undefined) mqttOpts.username = opts.username;
  if (opts.password !== undefined) mqttOpts.password = opts.password;
  if (opts.ca !== undefined) mqttOpts.ca = opts.ca;
  if (opts.clientCert) {
    mqttOpts.cert = opts.clientCert.cert;
    mqttOpts.key = opts.clientCert.key;
  }
  if (opts.ca !== undefined || opts.pinnedFingerprint !== undefined) mqttOpts.rejectUnauthorized = true;
  const pinned = opts.pinnedFingerprint?.toUpperCase();
  // mqtt.js hands its options to tls.connect, checkServerIdentity included (its types leave it out)
  if (pinned)
    (mqttOpts as IClientOptions & Pick<ConnectionOptions, 'checkServerIdentity'>).checkServerIdentity = (
      _host,
      cert,
    ) =>
      cert.fingerprint256 === pinned
        ? undefined
        : new Error(`the server's certificate ${cert.fingerprint256} is not the pinned ${pinned}`);
  if (opts.will)
    mqttOpts.will = {
      topic: opts.will.topic,
      payload: Buffer.from(opts.will.payload),
      qos: 1,
      retain: opts.will.retain,
    };

  // mqtt.js builds every connection from the next entry of `servers`, round the list
  if (members.length > 1)
    mqttOpts.servers = members.map((u) => {
      const p = new URL(u);
      const protocol = p.protocol === 'mqtts:' ? 'mqtts' : 'mqtt';
      return { host: p.hostname, port: p.port ? Number(p.port) : protocol === 'mqtts' ? 8883 : 1883, protocol };
    });
  const client: MqttClient = mqtt.connect(members[0]!, mqttOpts);
  /** the member of the current (or last) connection: the socket's peer (mqtt.js picks it from `servers`) */
  let lastPeer = members[0]!;
  const current = () => {
    const s = client.stream;
    if (members.length > 1 && s instanceof Socket && s.remotePort !== undefined)
      lastPeer = `${members[0]!.startsWith('mqtts:') ? 'mqtts' : 'mqtt'}://${s.remoteAddress}:${s.remotePort}`;
    return lastPeer;
  };
  // mqtt.js dials without TCP_NODELAY, so a small packet written while the previous one is unacknowledged
  // waits for the peer's delayed ACK (~40 ms on Linux; bench/e2e.ts). It builds a new socket on every
  // (re)connect and sends CONNECT first: set the option as that packet goes out (a TLSSocket is a net.Socket),
  // and now for the first socket, which mqtt.connect() built before returning.
  const noDelay = () => {
    if (client.stream instanceof Socket) client.stream.setNoDelay(true);
  };
  noDelay();
  client.on('packetsend', (packet) => {
    if (packet.cmd === 'connect') noDelay();
  });
  const handlers = new Map<string, { handler: LinkMessageHandler; whenSessionLost: boolean }>();
  const connectListeners: Array<(sessionPresent: boolean) => void> = [];
  const disconnectListeners: Array<() => void> = [];
  const baseBackoff = opts.backoffMs ?? 200;
  const maxBackoff = opts.maxBackoffMs ?? 10_000;
  let backoff = baseBackoff;
  let closing = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let wasConnected = false;
  let connectedBefore = false;

  const subscribeNow = async (filters: string[]): Promise<void> => {
    if (filters.length === 0) return;
    let granted: Array<{ topic: string; qos: number }>;
    try {
      granted = await client.subscribeAsync(filters, { qos: 1 });
    } catch (err) {
      // mqtt.js rejects the whole SUBSCRIBE when the broker refuses a filter (SUBACK 0x80), and with the
      // same error type when the connection drops before the SUBACK: only the former is a refusal
      const codes = (err as { packet?: { granted?: number[] } }).packet?.granted ?? [];
      if (codes.some((c) => (c & 0x80) !== 0)) throw new SubscriptionRefused(filters.join(', '));
      throw err;
    }
    for (const g of granted) if (g.qos === 128) throw new SubscriptionRefused(g.topic);
  };

  client.on('connect', (connack) => {
    backoff = baseBackoff;
    wasConnected = true;
    log.info(
      { url: current(), clientId: opts.clientId, sessionPresent: connack.sessionPresent },
      'cloud link connected',
    );
    const keptSession = connectedBefore && connack.sessionPresent;
    connectedBefore = true;
    const again = [...handlers].filter(([, h]) => !(h.whenSessionLost && keptSession)).map(([f]) => f);
    subscribeNow(again).catch((err) =>
      log.error({ err, clientId: opts.clientId }, 'cloud link could not re-subscribe after connecting'),
    );
    for (const l of connectListeners) l(connack.sessionPresent);
  });
  client.on('close', () => {
    if (wasConnected) {
      wasConnected = false;
      log.warn({ url: current(), clientId: opts.clientId }, 'cloud link disconnected');
      for (const l of disconnectListeners) l();
    }
    if (closing || reconnectTimer) return;
    const delay = backoff;
    backoff = Math.min(backoff * 2, maxBackoff);
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      // keep the stores: QoS 1 messages not yet acknowledged are re-sent on the new connection
      if (!closing) client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
    }, delay);
    reconnectTimer.unref();
  });
  client.on('error', (err) =>
    log.warn({ err: err.message, url: current(), clientId: opts.clientId }, 'cloud link error'),
  );
  client.on('message', (topic, payload, packet) => {
    for (const [filter, { handler }] of handlers) {
      if (!matches(filter, topic)) continue;
      try {
        handler(topic, payload, packet.retain);
      } catch (err) {
        log.error({ err, topic }, 'cloud link message handler failed');
      }
    }
  });

  return {
    get connected() {
      return client.connected;
    },
    get url() {
      return current();
    },
    async publish(topic, payload, o) {
      await client.publishAsync(topic, payload, { qos: o.qos, retain: o.retain });
    },
    async subscribe(filter, handler, o) {
      handlers.set(filter, { handler, whenSessionLost: o?.whenSessionLost ?? false });
      if (client.connected) await subscribeNow([filter]);
    },
    async unsubscribe(filter) {
      handlers.delete(filter);
      if (client.connected) await client.unsubscribeAsync(filter);
    },
    onConnect(l) {
      connectListeners.push(l);
    },
    onDisconnect(l) {
      disconnectListeners.push(l);
    },
    setPassword(password) {
      client.options.password = password;
    },
    async close() {
      closing = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      // a graceful end waits until every in-flight QoS 1 message is acknowledged, which never happens
      // while the broker is unreachable: give it a moment when connected, otherwise end at once
      if (client.connected) {
        let timer: NodeJS.Timeout | undefined;
        const gave = await Promise.race([
          client.endAsync().then(() => true),
          new Promise<boolean>((r) => {
            timer = setTimeout(() => r(false), 2000);
          }),
        ]);
        clearTimeout(timer);
        if (gave) return;
      }
      await client.endAsync(true);
    },
  };
}

/** MQTT filter match (`+` one level, `#` the rest); `$` topics only match filters that spell the `$` level. */
export function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return !(i === 0 && t[0]?.startsWith('$'));
    if (i >= t.length) return false;
    if (level === '+') {
      if (i === 0 && t[0]?.startsWith('$')) return false;
      continue;
    }
    if (level !== t[i]) return false;
  }
  return f.length === t.length;
}
