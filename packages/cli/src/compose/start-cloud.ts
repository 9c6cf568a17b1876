// The cloud half: the device controller (embedded store or Kubernetes) and the cloud end of the link
// with its broker. Used by `edgetwin cloud` and `edgetwin up`.
import { join } from 'node:path';
import { startController } from '@edgetwin/device-controller';
import { startCloudLink } from '@edgetwin/device-controller/cloud-link/index';
import type { Logger } from 'pino';
import type { Lifecycle } from './lifecycle.js';

export interface CloudOptions {
  source: 'embedded' | 'kubernetes';
  kubeconfig?: string;
  dataDir: string;
  httpHost: string;
  httpPort: number;
  mqttHost: string;
  mqttPort: number;
  /** an external broker for the cloud link instead of the embedded one */
  brokerUrl?: string;
  nodeCredentials?: Record<string, string>;
  /** largest MQTT packet the embedded cloud-link broker accepts (default: the eventbus default) */
  maxPacketBytes?: number;
  logger: Logger;
}

export interface RunningCloud {
  controllerUrl: string;
  linkUrl: string;
}

export async function startCloud(opts: CloudOptions, life: Lifecycle): Promise<RunningCloud> {
  const controller = await startController({
    source: opts.source,
    dbPath: join(opts.dataDir, 'controller.db'),
    httpHost: opts.httpHost,
    httpPort: opts.httpPort,
    logger: opts.logger,
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
  });
  life.add('controller', () => controller.stop());
  const link = await startCloudLink({
    desired: controller.desired,
    status: controller.status,
    broker: opts.brokerUrl
      ? { url: opts.brokerUrl }
      : {
          embedded: {
            host: opts.mqttHost,
            port: opts.mqttPort,
            persistenceDir: join(opts.dataDir, 'cloud-broker'),
            ...(opts.maxPacketBytes !== undefined ? { maxPacketBytes: opts.maxPacketBytes } : {}),
          },
        },
    stateDbPath: join(opts.dataDir, 'cloud-link.db'),
    logger: opts.logger,
    ...(opts.nodeCredentials ? { nodeCredentials: opts.nodeCredentials } : {}),
  });
  life.add('cloud link', () => link.close());
  return { controllerUrl: controller.url, linkUrl: link.url };
}
