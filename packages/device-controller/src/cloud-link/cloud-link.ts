// The cloud end of the link (docs/cloud-link.md): desired state down as retained messages, reports up
// applied once each, node presence from the edge's announce, last will and heartbeat (presence-watch.ts). By default it runs its own aedes broker
// inside the controller process with per-node credentials and ACL; it can instead use an external
// broker (Mosquitto, EMQX...) that enforces the same ACL (docs/acl.md).

import { randomBytes } from 'node:crypto';
import { cloudTopics, parseCloudTopic } from '@edgetwin/api';
import { startBroker } from '@edgetwin/eventbus';
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { NodeDesiredState, StatusSink } from '../contracts.js';
import { CONTROLLER_CLIENT_ID, CONTROLLER_USERNAME, cloudLinkAuth, edgeClientId } from './broker-acl.js';
import { type NodeAuthenticator, type NodeRegistry, staticNodes } from './node-registry.js';
import { DesiredPublisher } from './desired-publisher.js';
import { type LinkClient, openLinkClient } from '@edgetwin/eventbus/link-client';
import { CloudLinkMetrics } from './link-metrics.js';
import { fingerprintOf, isSelfSigned } from './link-tls.js';
import { LinkState } from './link-state.js';
import { DEFAULT_PRESENCE_TIMEOUT_MS, PresenceWatch } from './presence-watch.js';
import { ReportConsumer } from './report-consumer.js';

export interface ExternalBrokerOptions {
  /** the broker, or the members of a broker cluster (tried in turn) */
  url: string | readonly string[];
  username?: string;
  password?: string;
  ca?: string | Buffer;
}

export interface EmbeddedLinkBrokerOptions {
  /** default 127.0.0.1; use 0.0.0.0 to accept edge nodes from the network */
  host?: string;
  /** default 1884; 0 = ephemeral */
  port?: number;
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer };
  /**
   * mTLS: the CA (PEM) that signs the nodes' client certificates; each node must then present one whose
   * common name is its name, besides its credential (docs/security.md). Needs `tls`.
   */
  clientCa?: string | Buffer;
  /** durable sessions for edge nodes (aedes-persistence-level); absent = in memory */
  persistenceDir?: string;
  /** largest MQTT packet an edge node may send (default: the eventbus default, 768 KiB) */
  maxPacketBytes?: number;
}

export interface CloudLinkOptions {
  desired: NodeDesiredState;
  status: StatusSink;
  /** an external broker (`{url}`) or options of the embedded one (default: embedded) */
  broker?: ExternalBrokerOptions | { embedded: EmbeddedLinkBrokerOptions };
  /**
   * The nodes allowed on the embedded broker (`edgetwin node add`); removing one there closes its session.
   * With neither this nor nodeCredentials nor insecureAllowAnyNode, no node can connect.
   */
  nodeRegistry?: NodeRegistry;
  /** fixed node -> password, for nodes provisioned by hand (checked after nodeRegistry) */
  nodeCredentials?: Record<string, string>;
  /** development only: any node name connects with any password (still confined to its own topics) */
  insecureAllowAnyNode?: boolean;
  /** SQLite file for applied report seqs and generations (e.g. `cloud-link.db` next to the controller db) */
  stateDbPath?: string;
  /** MQTT client id of the controller (default edgetwin-controller) */
  clientId?: string;
  keepaliveSec?: number;
  /**
   * a node heard from neither by presence (its heartbeat) nor by reports for this long is marked offline
   * (default 20 s; the edges' heartbeat is 5 s): wills are lost when a broker cluster member dies
   */
  presenceTimeoutMs?: number;
  /** Prometheus registry for the link's metrics (e.g. the controller's `metrics.registry`) */
  registry?: Registry;
  logger?: Logger;
}

export interface CloudLink {
  /** where edge nodes dial (the embedded broker's URL, or the external one: its members joined by commas, as `--cloud` takes them) */
  readonly url: string;
  /** the DesiredIndex generation last published for a node (0 = none yet) */
  generation(node: string): number;
  /** resolves when every desired change and report received so far has been handled */
  idle(): Promise<void>;
  /** resolves when every desired change so far is published (objects and index) */
  desiredIdle(): Promise<void>;
  readonly stats: { readonly reportsApplied: number; readonly duplicateReports: number };
  close(): Promise<void>;
}

export async function startCloudLink(opts: CloudLinkOptions): Promise<CloudLink> {
  const log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'cloud-link' });
  const state = new LinkState(opts.stateDbPath ?? ':memory:');
  if (!opts.stateDbPath)
    log.warn(
      'cloud link: no stateDbPath, applied report seqs are kept in memory only (resent reports after a restart are applied again)',
    );

  const cleanups: Array<() => Promise<void> | void> = [() => state.close()];
  const closeAll = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        log.warn({ err }, 'cloud link: error while closing');
      }
    }
  };

  try {
    const external = opts.broker && 'url' in opts.broker ? opts.broker : undefined;
    let url: string | readonly string[];
    let username: string | undefined;
    let password: string | undefined;
    let ca: string | Buffer | undefined;
    let pinned: string | undefined;
    if (external) {
      url = external.url;
      username = external.username;
      password = external.password;
      ca = external.ca;
      if (opts.nodeCredentials || opts.nodeRegistry || opts.insecureAllowAnyNode)
        log.warn(
          'cloud link: node identities apply to the embedded broker only; configure the external broker (docs/acl.md)',
        );
    } else {
      const embedded: EmbeddedLinkBrokerOptions = opts.broker && 'embedded' in opts.broker ? opts.broker.embedded : {};
      if (embedded.clientCa !== undefined && !embedded.tls)
        throw new Error('cloud link: client certificates (clientCa, --client-ca) need TLS on the link');
      password = randomBytes(24).toString('base64url');
      username = CONTROLLER_USERNAME;
      const nodes = nodeAuthenticator(opts);
      if (opts.insecureAllowAnyNode)
        log.warn(
          'INSECURE: --insecure-allow-any-node: any client may connect to the cloud link as any node, with any password',
        );
      else if (!nodes) log.warn('cloud link: no node registry and no node credentials: no edge node can connect');
      const auth = cloudLinkAuth(
        {
          controllerPassword: password,
          ...(nodes ? { nodes } : {}),
          ...(opts.insecureAllowAnyNode ? { insecureAllowAnyNode: true } : {}),
          ...(embedded.clientCa !== undefined ? { requireClientCert: true } : {}),
        },
        (reason) => log.warn({ reason }, 'cloud link: refused a connection'),
      );
      const broker = await startBroker({
        host: embedded.host ?? '127.0.0.1',
        port: embedded.port ?? 1884,
        auth,
        ...(embedded.tls
          ? {
              tls:
                embedded.clientCa !== undefined
                  ? { cert: embedded.tls.cert, key: embedded.tls.key, ca: embedded.clientCa, requestCert: true }
                  : embedded.tls,
            }
          : {}),
        ...(embedded.persistenceDir ? { persistenceDir: embedded.persistenceDir } : {}),
        ...(embedded.maxPacketBytes !== undefined ? { maxPacketBytes: embedded.maxPacketBytes } : {}),
        logger: log,
      });
      cleanups.push(() => broker.close());
      // a removed (or re-issued) node loses its session at once, not at its next reconnect
      const unwatch = opts.nodeRegistry?.onRevoked((node) => broker.disconnect(edgeClientId(node)));
      if (unwatch) cleanups.push(unwatch);
      url = broker.url;
      ca = embedded.tls?.ca;
      // our own self-signed certificate: trust exactly it, as the edges do (link-tls.ts)
      if (embedded.tls && !ca && isSelfSigned(embedded.tls.cert.toString())) {
        ca = embedded.tls.cert;
        pinned = fingerprintOf(embedded.tls.cert.toString());
      }
    }

    const client = openLinkClient({
      url,
      clientId: opts.clientId ?? CONTROLLER_CLIENT_ID,
      clean: false,
      keepaliveSec: opts.keepaliveSec ?? 5,
      logger: log,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(ca !== undefined ? { ca } : {}),
      ...(pinned !== undefined ? { pinnedFingerprint: pinned } : {}),
    });
    cleanups.push(() => client.close());
    await firstConnect(client, url);

    const metrics = new CloudLinkMetrics(opts.registry);
    const publisher = new DesiredPublisher(opts.desired, client, state, log, metrics);
    const consumer = new ReportConsumer(opts.status, client, state, log, metrics);
    const presence = new PresenceWatch(
      opts.status,
      opts.presenceTimeoutMs ?? DEFAULT_PRESENCE_TIMEOUT_MS,
      log,
      metrics,
    );
    cleanups.push(() => presence.stop());
    client.onConnect(() => presence.setConnected(true));
    client.onDisconnect(() => presence.setConnected(false));
    await client.subscribe(cloudTopics.allReports, (topic, payload) => {
      const parsed = parseCloudTopic(topic);
      if (parsed) presence.heard(parsed.node);
      consumer.onReports(topic, payload);
    });
    await client.subscribe(cloudTopics.allPresence, (topic, payload, retained) =>
      presence.onMessage(topic, payload, retained),
    );
    // listen before the snapshot, so no change falls between the two (a change seen twice is harmless)
    const unlisten = opts.desired.onChange((node, change) => publisher.onChange(node, change));
    // closed in reverse: stop listening, let queued publications finish, then stop taking reports
    cleanups.push(() => consumer.stop());
    cleanups.push(() => publisher.idle());
    cleanups.push(unlisten);
    const credentialNodes = () => [...Object.keys(opts.nodeCredentials ?? {}), ...(opts.nodeRegistry?.names() ?? [])];
    publisher.publishAll(credentialNodes());
    client.onConnect((sessionPresent) => {
      // a broker that lost our session may have lost the retained desired state too (in-memory restart)
      if (!sessionPresent) {
        log.warn('cloud link: broker has no session for the controller; publishing every node again');
        publisher.publishAll(credentialNodes());
      }
    });
    log.info({ url, external: Boolean(external) }, 'cloud link started');

    return {
      url: typeof url === 'string' ? url : url.join(','),
      generation: (node) => publisher.generation(node),
      async idle() {
        await publisher.idle();
        await consumer.idle();
      },
      desiredIdle: () => publisher.idle(),
      stats: {
        get reportsApplied() {
          return consumer.applied;
        },
        get duplicateReports() {
          return consumer.duplicates;
        },
      },
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Registry first, then fixed credentials: either may vouch for a node. */
function nodeAuthenticator(opts: CloudLinkOptions): NodeAuthenticator | undefined {
  const all: NodeAuthenticator[] = [];
  if (opts.nodeRegistry) all.push(opts.nodeRegistry);
  if (opts.nodeCredentials) all.push(staticNodes(opts.nodeCredentials));
  if (all.length === 0) return undefined;
  return { verify: (node, password) => all.some((a) => a.verify(node, password)) };
}

function firstConnect(client: LinkClient, url: string | readonly string[], timeoutMs = 10_000): Promise<void> {
  if (client.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`cloud link: no connection to the broker at ${String(url)} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    client.onConnect(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
