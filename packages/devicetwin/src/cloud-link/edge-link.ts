// The edge end of the cloud link (docs/cloud-link.md). It dials out to the cloud's broker with a
// persistent session, announces itself online (with "offline" as its last will) and says so again every few
// seconds (a heartbeat: a broker cluster loses the wills of the clients of a member that dies, issue 14), applies
// the retained desired state to the twin and sends the twin's outbox up. The twin keeps working while the link
// is down; the link catches up when it returns.

import { cloudTopics, decodeReportAck, edgeClientId, type Presence, parseCloudTopic } from '@edgetwin/api';
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { EdgeTwinApi } from '../contracts.js';
import { DesiredApplier } from './desired-applier.js';
import { openLinkClient } from '@edgetwin/eventbus/link-client';
import { EdgeLinkMetrics } from './link-metrics.js';
import type { EdgeCredential } from './node-credential.js';
import { ReportPump, type ReportPumpOptions } from './report-pump.js';

export interface CloudLinkEdgeOptions extends ReportPumpOptions {
  twin: EdgeTwinApi;
  /** the cloud's broker, e.g. mqtts://cloud.example:8883, or the members of a broker cluster (tried in turn) */
  cloudUrl: string | readonly string[];
  /** default twin.node */
  node?: string;
  /** default the node name (the cloud's ACL identifies a node by its username) */
  username?: string;
  password?: string;
  /** the node's identity (loadEdgeCredential): its password, switched from the join to the credential once accepted */
  credential?: EdgeCredential;
  /** CA certificate (PEM) for mqtts:// */
  ca?: string | Buffer;
  /** this node's client certificate and key (PEM), for a cloud that requires mTLS (`edgetwin cloud --client-ca`) */
  clientCert?: { cert: string | Buffer; key: string | Buffer };
  /** MQTT keepalive in seconds (default 5): the cloud sees this node offline about 1.5 x this after the network dies */
  keepaliveSec?: number;
  /**
   * how often the node says it is still there (default 5000 ms, 0 = never): its presence again, not retained.
   * The controller marks a node offline when it has heard nothing from it for its presence timeout.
   */
  heartbeatMs?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** first delay before asking again for objects the index lists but that did not arrive (default 2 s) */
  healAfterMs?: number;
  /** Prometheus registry for the link's metrics (e.g. the twin's `metrics`) */
  registry?: Registry;
  logger?: Logger;
}

export interface CloudLinkEdge {
  readonly node: string;
  readonly connected: boolean;
  /** generation of the last DesiredIndex the twin was reconciled with (0 = none since start) */
  readonly syncedGeneration: number;
  onSynced(listener: (generation: number) => void): () => void;
  onConnectionChange(listener: (connected: boolean) => void): () => void;
  /** called with every ReportAck the cloud sends (after the outbox dropped the entries it covers) */
  onReportsAcked(listener: (upTo: number) => void): () => void;
  readonly stats: { readonly batchesSent: number };
  close(): Promise<void>;
}

export const DEFAULT_HEARTBEAT_MS = 5000;

/** Starts the link; it does not wait for the cloud, which may be unreachable (the edge works on). */
export function startCloudLinkEdge(opts: CloudLinkEdgeOptions): CloudLinkEdge {
  const node = opts.node ?? opts.twin.node;
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'cloud-link-edge', node });
  const presence = cloudTopics.presence(node);
  const client = openLinkClient({
    url: opts.cloudUrl,
    clientId: edgeClientId(node),
    username: opts.username ?? node,
    clean: false,
    will: { topic: presence, payload: 'offline', retain: true },
    keepaliveSec: opts.keepaliveSec ?? 5,
    logger: log,
    ...(opts.credential
      ? { password: opts.credential.password }
      : opts.password !== undefined
        ? { password: opts.password }
        : {}),
    ...(opts.credential?.ca !== undefined
      ? {
          ca: opts.credential.ca,
          ...(opts.credential.fingerprint ? { pinnedFingerprint: opts.credential.fingerprint } : {}),
        }
      : opts.ca !== undefined
        ? { ca: opts.ca }
        : {}),
    ...(opts.clientCert ? { clientCert: opts.clientCert } : {}),
    ...(opts.backoffMs !== undefined ? { backoffMs: opts.backoffMs } : {}),
    ...(opts.maxBackoffMs !== undefined ? { maxBackoffMs: opts.maxBackoffMs } : {}),
  });

  const metrics = new EdgeLinkMetrics(opts.registry);
  const healTopics = new Set<string>();
  const applier = new DesiredApplier(
    opts.twin,
    node,
    log,
    (topics) => {
      // a fresh SUBSCRIBE to the exact topics makes the broker deliver their retained messages again;
      // they reach the applier through the desired/# handler
      for (const t of topics) {
        healTopics.add(t);
        client
          .subscribe(t, () => {})
          .catch((err) => log.warn({ err, topic: t }, 'cloud link: heal subscription failed'));
      }
    },
    { metrics, ...(opts.healAfterMs !== undefined ? { healAfterMs: opts.healAfterMs } : {}) },
  );
  applier.onSynced(() => {
    for (const t of healTopics) client.unsubscribe(t).catch(() => {});
    healTopics.clear();
  });
  const pump = new ReportPump(opts.twin.outbox, client, node, log, { ...opts, metrics });
  const connectionListeners = new Set<(connected: boolean) => void>();

  // A full disk is shown as the node's presence, so `get nodes` tells why its values stopped changing.
  const presenceNow = (): Presence => (opts.twin.storageState?.() === 'full' ? 'storage-full' : 'online');
  const announce = () =>
    client
      .publish(presence, presenceNow(), { qos: 1, retain: true })
      .catch((err) => log.warn({ err }, 'cloud link: could not announce presence'));
  const stopStorageWatch = opts.twin.onStorageChange?.(() => {
    if (client.connected) void announce();
  });
  const heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  let heartbeat: NodeJS.Timeout | undefined;
  const stopHeartbeat = () => {
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
  };
  client.onConnect(() => {
    stopHeartbeat();
    if (heartbeatMs > 0) {
      // QoS 0: a beat lost with a connection is replaced by the next; nothing queues for a controller away
      heartbeat = setInterval(() => {
        if (client.connected) client.publish(presence, presenceNow(), { qos: 0, retain: false }).catch(() => undefined);
      }, heartbeatMs);
      heartbeat.unref();
    }
    if (opts.credential?.joining) {
      opts.credential.accepted();
      client.setPassword(opts.credential.password);
      log.info('cloud link: joined the cloud; the node credential is saved, the join token is no longer needed');
    }
    void announce();
    pump.onConnect();
    metrics.connected.set(1);
    for (const l of connectionListeners) l(true);
  });
  client.onDisconnect(() => {
    stopHeartbeat();
    pump.onDisconnect();
    metrics.connected.set(0);
    for (const l of connectionListeners) l(false);
  });

  const subscribed = Promise.all([
    // after a reconnect where the broker kept the session, what changed meanwhile was queued for us: do not
    // have every retained object sent again, only the index (below), which tells whether anything is missing
    client.subscribe(
      cloudTopics.desiredFilter(node),
      (topic, payload) => {
        const parsed = parseCloudTopic(topic);
        if (!parsed || parsed.node !== node) return;
        if (parsed.kind === 'device') applier.onDevice(parsed.id, payload);
        else if (parsed.kind === 'model') applier.onModel(parsed.id, payload);
        else if (parsed.kind === 'index') applier.onIndex(payload);
      },
      { whenSessionLost: true },
    ),
    // subscribed again on every connect so the broker delivers the retained index; its messages reach the
    // applier through the handler above (which matches it too)
    client.subscribe(cloudTopics.index(node), () => {}),
    client.subscribe(cloudTopics.acks(node), (_topic, payload) => {
      if (payload.length === 0) return;
      const ack = decodeReportAck(payload);
      if (!ack.ok) {
        log.error({ error: ack.error }, 'cloud link: ignored a bad report ack');
        return;
      }
      pump.onAck(ack.value);
    }),
  ]);
  subscribed.catch((err) =>
    log.error({ err }, 'cloud link: the broker refused the node its own topics (check the ACL)'),
  );

  return {
    node,
    get connected() {
      return client.connected;
    },
    get syncedGeneration() {
      return applier.syncedGeneration;
    },
    onSynced: (l) => applier.onSynced(l),
    onConnectionChange(l) {
      connectionListeners.add(l);
      return () => connectionListeners.delete(l);
    },
    onReportsAcked(l) {
      pump.ackListeners.add(l);
      return () => pump.ackListeners.delete(l);
    },
    stats: {
      get batchesSent() {
        return pump.batchesSent;
      },
    },
    async close() {
      stopHeartbeat();
      stopStorageWatch?.();
      pump.close();
      applier.close();
      // a clean DISCONNECT suppresses the will: say offline ourselves
      if (client.connected) {
        // bounded: a broker that has just gone away never acknowledges it
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          client.publish(presence, 'offline', { qos: 1, retain: true }).catch(() => {}),
          new Promise<void>((r) => {
            timer = setTimeout(r, 1000);
          }),
        ]);
        clearTimeout(timer);
      }
      await client.close();
    },
  };
}
