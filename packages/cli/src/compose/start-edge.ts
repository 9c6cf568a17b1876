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
import { EDGE_SERVICE_USER, edgeBusAuth, loadOrCreateEdgeServicePassword } from '@edgetwin/eventbus/edge-bus-acl';
import { connectBus, startBroker } from '@edgetwin/eventbus';
import { type MapperRuntime, type RestOptions, startMapper, startRestServer } from '@edgetwin/mappers';
import type { Logger } from 'pino';
import type { Lifecycle } from './lifecycle.js';

export interface EdgeOptions {
  node: string;
  dataDir: string;
  /** where the cloud's link broker is; absent = the edge runs alone (no cloud) */
  cloudUrl?: string;
  /** a password provisioned by hand (an external broker's user); otherwise the node's joined identity */
  cloudPassword?: string;
  /** the one-time join token from `edgetwin node add` (used on the first start only) */
  joinToken?: string;
  /** CA certificate (PEM) of an mqtts:// cloud whose certificate a CA signed (not pinned by the token) */
  cloudCa?: string;
  /** an external edge broker (e.g. Mosquitto); absent = embedded aedes on mqttHost:mqttPort */
  brokerUrl?: string;
  mqttHost: string;
  mqttPort: number;
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

export interface RunningEdge {
  brokerUrl: string;
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
  if (!brokerUrl) {
    service = { username: EDGE_SERVICE_USER, password: loadOrCreateEdgeServicePassword(opts.dataDir, opts.node) };
    const broker = await startBroker({
      host: opts.mqttHost,
      port: opts.mqttPort,
      auth: edgeBusAuth(service.password),
      persistenceDir: join(opts.dataDir, `edge-broker-${opts.node}`),
      ...(opts.maxPacketBytes !== undefined ? { maxPacketBytes: opts.maxPacketBytes } : {}),
      logger: opts.logger.child({ part: 'edge-broker' }),
    });
    life.add('edge broker', () => broker.close());
    brokerUrl = broker.url;
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
        ...(credential ? { credential } : {}),
        ...(opts.cloudCa !== undefined ? { ca: opts.cloudCa } : {}),
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
    return { brokerUrl, dbPath, twin, restUrl: rest.url };
  }
  return { brokerUrl, dbPath, twin };
}

/** Fetches and checks the pinned certificate (retrying while the cloud is unreachable), then starts the link. */
function pinThenStart(
  url: string,
  credential: EdgeCredential,
  start: () => CloudLinkEdge,
  logger: Logger,
): { close(): Promise<void> } {
  let link: CloudLinkEdge | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let attempts = 0;
  const attempt = () => {
    fetchPinnedCert(url, credential.fingerprint as string).then(
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
