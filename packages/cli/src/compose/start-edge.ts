// The edge half: the node's MQTT broker (embedded, or an external one by URL), the DeviceTwin on SQLite,
// the edge end of the cloud link, and the mappers, in-process but speaking only MQTT (DESIGN.md decision 6).
import { join } from 'node:path';
import { type DeviceTwin, type DeviceTwinOptions, openDeviceTwin } from '@edgetwin/devicetwin';
import {
  type CloudLinkEdge,
  type EdgeCredential,
  fetchPinnedCert,
  loadEdgeCredential,
  startCloudLinkEdge,
} from '@edgetwin/devicetwin/cloud-link/index';
import { backoffDelay } from '@edgetwin/eventbus';
import { loadOrCreateLinkTls } from '@edgetwin/device-controller/cloud-link/link-tls';
import { type BrokerListener, connectBus, startBroker } from '@edgetwin/eventbus';
import { EDGE_SERVICE_USER, edgeBusAuth, loadOrCreateEdgeServicePassword } from '@edgetwin/eventbus/edge-bus-acl';
import type { EdgeBusUser } from '@edgetwin/eventbus/edge-bus-users';
import { type MapperRuntime, type RestOptions, startMapper, startRestServer } from '@edgetwin/mappers';
import { isLoopback } from '@edgetwin/mappers/framework/rest/server';
import type { Logger } from 'pino';
import type { Lifecycle } from './lifecycle.js';

export interface EdgeOptions {
  node: string;
  dataDir: string;
  /** where the cloud's link broker is; absent = the edge runs alone (no cloud) */
  cloudUrl?: string | readonly string[];
  /** how often the edge link says the node is there (default: the link's, 5 s) */
  heartbeatMs?: number;
  /** a password provisioned by hand (an external broker's user); otherwise the node's joined identity */
  cloudPassword?: string;
  /** the one-time join token from `edgetwin node add` (used on the first start only) */
  joinToken?: string;
  /** CA certificate (PEM) of an mqtts:// cloud whose certificate a CA signed (not pinned by the token) */
  cloudCa?: string;
  /** this node's client certificate and key, for a cloud that requires mTLS (`edgetwin cloud --client-ca`) */
  cloudClientCert?: { cert: string; key: string };
  /** an external edge broker (e.g. Mosquitto); absent = embedded aedes on mqttHost:mqttPort */
  brokerUrl?: string;
  /** the password of `edgetwin-service` on the external broker (docs/acl.md); absent = anonymous */
  brokerPassword?: string;
  mqttHost: string;
  mqttPort: number;
  /**
   * the edge bus opened to a LAN: a second listener of the embedded broker, TLS, where every client logs in
   * (the users of `users`); the loopback listener on mqttHost:mqttPort stays as it is
   */
  lan?: { host: string; port: number; tlsCertFile?: string; tlsKeyFile?: string };
  /** app users of the edge bus (`--auth FILE`), each limited to its device namespaces */
  users?: ReadonlyMap<string, EdgeBusUser>;
  /** development only: let mqttHost be beyond loopback with anonymous clients */
  insecureAllowAnonymous?: boolean;
  /** largest MQTT packet the embedded edge broker accepts (default: the eventbus default) */
  maxPacketBytes?: number;
  /** limits of what one device may hold, and its request queue (default: the twin's defaults) */
  twinLimits?: Pick<DeviceTwinOptions, 'limits' | 'maxQueuePerDevice'>;
  /** protocols whose mappers run in this process (empty = none: run them as `edgetwin mapper`) */
  mappers: string[];
  /** one mapper REST API for every in-process mapper; absent = none */
  rest?: RestOptions;
  logger: Logger;
}

/** The edge's options would open the bus to a network without authentication; nothing was started. */
export class EdgeBusExposedError extends Error {
  override readonly name = 'EdgeBusExposedError';
  readonly code = 'EDGE_BUS_EXPOSED';
}

export interface RunningEdge {
  brokerUrl: string;
  /** the LAN listener, when opened: its URL and the SHA-256 fingerprint of its certificate */
  lan?: { url: string; fingerprint: string; certFile: string };
  dbPath: string;
  /** the mapper REST API of the in-process mappers, when served */
  restUrl?: string;
  twin: DeviceTwin;
}

export async function startEdge(opts: EdgeOptions, life: Lifecycle): Promise<RunningEdge> {
  let brokerUrl = opts.brokerUrl;
  // the twin and the mappers log in as the edge's service user (the only one allowed the mapper-facing
  // topics); apps stay anonymous. An external broker has its own users (docs/security.md).
  let service: { username: string; password: string } | undefined;
  let lan: RunningEdge['lan'];
  if (brokerUrl && opts.brokerPassword !== undefined)
    service = { username: EDGE_SERVICE_USER, password: opts.brokerPassword };
  if (!brokerUrl) {
    const lanListener = edgeBusExposure(opts);
    service = { username: EDGE_SERVICE_USER, password: loadOrCreateEdgeServicePassword(opts.dataDir, opts.node) };
    const broker = await startBroker({
      host: opts.mqttHost,
      port: opts.mqttPort,
      auth: edgeBusAuth(service.password, opts.users),
      ...(lanListener ? { extraListeners: [lanListener.listener] } : {}),
      persistenceDir: join(opts.dataDir, `edge-broker-${opts.node}`),
      ...(opts.maxPacketBytes !== undefined ? { maxPacketBytes: opts.maxPacketBytes } : {}),
      logger: opts.logger.child({ part: 'edge-broker' }),
    });
    life.add('edge broker', () => broker.close());
    brokerUrl = broker.url;
    if (lanListener) {
      lan = {
        url: broker.extraListeners[0]!.url,
        fingerprint: lanListener.fingerprint,
        certFile: lanListener.certFile,
      };
      opts.logger.info(
        { url: lan.url, fingerprint: lan.fingerprint, users: opts.users?.size ?? 0 },
        'edge bus open to the LAN: TLS, every client logs in, app users limited to their namespaces',
      );
    }
  }
  const bus = await connectBus({
    url: brokerUrl,
    clientId: `edgetwin-twin-${opts.node}`,
    logger: opts.logger,
    ...(service ?? {}),
  });
  life.add('twin bus client', () => bus.close());
  const dbPath = join(opts.dataDir, `edge-${opts.node}.db`);
  const twin = await openDeviceTwin({ dbPath, node: opts.node, bus, logger: opts.logger, ...opts.twinLimits });
  life.add('device twin', () => twin.close());
  if (opts.cloudUrl) {
    const credential =
      opts.cloudPassword === undefined
        ? loadEdgeCredential({
            dataDir: opts.dataDir,
            node: opts.node,
            ...(opts.joinToken !== undefined ? { joinToken: opts.joinToken } : {}),
          })
        : undefined;
    if (credential?.ignoredToken)
      opts.logger.info('cloud link: this node has joined before; the join token given is not needed and was not used');
    if (opts.cloudPassword === undefined && !credential)
      opts.logger.error(
        `cloud link: node ${opts.node} has no identity yet: register it on the cloud (edgetwin node add ${opts.node}) ` +
          'and start this edge once with --token-file FILE or EDGETWIN_JOIN_TOKEN; the cloud refuses it until then',
      );
    const cloudUrl = opts.cloudUrl;
    const start = () =>
      startCloudLinkEdge({
        twin,
        cloudUrl,
        node: opts.node,
        logger: opts.logger,
        ...(opts.cloudPassword !== undefined ? { password: opts.cloudPassword } : {}),
        ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
        ...(credential ? { credential } : {}),
        ...(opts.cloudCa !== undefined ? { ca: opts.cloudCa } : {}),
        ...(opts.cloudClientCert ? { clientCert: opts.cloudClientCert } : {}),
      });
    if (credential?.fingerprint && !credential.ca) {
      // first join: the cloud's certificate must be the one the token pins before any credential is sent;
      // the edge works on locally meanwhile
      const pinning = pinThenStart(cloudUrl, credential, start, opts.logger);
      life.add('cloud link (edge)', () => pinning.close());
    } else {
      const link = start();
      life.add('cloud link (edge)', () => link.close());
    }
  }
  const runtimes: MapperRuntime[] = [];
  for (const protocol of opts.mappers) {
    const mapper = await startMapper({ protocol, brokerUrl, node: opts.node, logger: opts.logger, ...(service ?? {}) });
    life.add(`${protocol} mapper`, () => mapper.stop());
    runtimes.push(mapper.runtime);
  }
  if (opts.rest && runtimes.length > 0) {
    const rest = await startRestServer(() => runtimes, opts.rest, opts.logger);
    life.add('mapper REST API', () => rest.close());
    return { brokerUrl, dbPath, twin, restUrl: rest.url, ...(lan ? { lan } : {}) };
  }
  return { brokerUrl, dbPath, twin, ...(lan ? { lan } : {}) };
}

/**
 * The edge bus beyond loopback (issue 10 §4): KubeEdge apps are anonymous, so the plain listener stays on
 * loopback unless the operator insists (--insecure-allow-anonymous, loud). The LAN gets its own listener,
 * TLS (given or generated, like the cloud link's) and logins only, with app users from --auth.
 */
function edgeBusExposure(
  opts: EdgeOptions,
): { listener: BrokerListener; fingerprint: string; certFile: string } | undefined {
  if (!isLoopback(opts.mqttHost)) {
    if (!opts.insecureAllowAnonymous)
      throw new EdgeBusExposedError(
        `edge bus on ${opts.mqttHost}: anyone on the network could connect anonymously, read every device and ` +
          'drive its actuators. Keep --host on loopback and open the bus to the LAN with ' +
          '--lan-host ADDR --auth FILE (TLS, app users limited to their namespaces; docs/security.md), ' +
          'or accept the risk with --insecure-allow-anonymous',
      );
    opts.logger.warn(
      { host: opts.mqttHost, port: opts.mqttPort },
      'INSECURE: the edge bus accepts anonymous clients from the network (--insecure-allow-anonymous); ' +
        'any host that reaches this port can read every device and drive its actuators',
    );
  }
  if (!opts.lan) return undefined;
  if (!opts.users || opts.users.size === 0)
    throw new EdgeBusExposedError(
      `edge bus LAN listener on ${opts.lan.host}: every client there must log in, so it needs app users: --auth FILE (docs/security.md)`,
    );
  const tls = loadOrCreateLinkTls({
    dataDir: opts.dataDir,
    dir: `edge-tls-${opts.node}`,
    commonName: `edgetwin edge bus ${opts.node}`,
    listenHost: opts.lan.host,
    ...(opts.lan.tlsCertFile ? { certFile: opts.lan.tlsCertFile } : {}),
    ...(opts.lan.tlsKeyFile ? { keyFile: opts.lan.tlsKeyFile } : {}),
  });
  return {
    listener: {
      host: opts.lan.host,
      port: opts.lan.port,
      tls: { cert: tls.cert, key: tls.key },
      allowAnonymous: false,
    },
    fingerprint: tls.fingerprint,
    certFile: tls.certFile,
  };
}

/** Fetches and checks the pinned certificate (retrying while the cloud is unreachable), then starts the link. */
function pinThenStart(
  url: string | readonly string[],
  credential: EdgeCredential,
  start: () => CloudLinkEdge,
  logger: Logger,
): { close(): Promise<void> } {
  let link: CloudLinkEdge | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let attempts = 0;
  const attempt = () => {
    // the members of a cluster in turn
    const urls = typeof url === 'string' ? [url] : url;
    fetchPinnedCert(urls[attempts % urls.length]!, credential.fingerprint as string).then(
      (pem) => {
        if (closed) return;
        credential.pin(pem);
        logger.info({ fingerprint: credential.fingerprint }, 'cloud link: the cloud presented the pinned certificate');
        link = start();
      },
      (err: Error) => {
        if (closed) return;
        logger.error({ err: err.message }, 'cloud link: cannot verify the cloud certificate yet; retrying');
        timer = setTimeout(attempt, backoffDelay(++attempts, 500, 30_000));
      },
    );
  };
  attempt();
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await link?.close();
    },
  };
}
