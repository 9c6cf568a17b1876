// The edge half: the node's MQTT broker (embedded, or an external one by URL), the DeviceTwin on SQLite,
// the edge end of the cloud link, and the mappers, in-process but speaking only MQTT (DESIGN.md decision 6).
import { join } from 'node:path';
import { type DeviceTwin, type DeviceTwinOptions, openDeviceTwin } from '@edgetwin/devicetwin';
import { loadEdgeCredential, startCloudLinkEdge } from '@edgetwin/devicetwin/cloud-link/index';
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
  if (!brokerUrl) {
    const broker = await startBroker({
      host: opts.mqttHost,
      port: opts.mqttPort,
      persistenceDir: join(opts.dataDir, `edge-broker-${opts.node}`),
      ...(opts.maxPacketBytes !== undefined ? { maxPacketBytes: opts.maxPacketBytes } : {}),
      logger: opts.logger.child({ part: 'edge-broker' }),
    });
    life.add('edge broker', () => broker.close());
    brokerUrl = broker.url;
  }
  const bus = await connectBus({ url: brokerUrl, clientId: `edgetwin-twin-${opts.node}`, logger: opts.logger });
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
    const link = startCloudLinkEdge({
      twin,
      cloudUrl: opts.cloudUrl,
      node: opts.node,
      logger: opts.logger,
      ...(opts.cloudPassword !== undefined ? { password: opts.cloudPassword } : {}),
      ...(credential ? { credential } : {}),
    });
    life.add('cloud link (edge)', () => link.close());
  }
  const runtimes: MapperRuntime[] = [];
  for (const protocol of opts.mappers) {
    const mapper = await startMapper({ protocol, brokerUrl, node: opts.node, logger: opts.logger });
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
