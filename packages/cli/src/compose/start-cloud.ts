// The cloud half: the device controller (embedded store or Kubernetes) and the cloud end of the link
// with its broker. Used by `edgetwin cloud` and `edgetwin up`.
import { join } from 'node:path';
import { loadOrCreateSecret, readSecretFile } from '@edgetwin/api/secret-file';
import { startController } from '@edgetwin/device-controller';
import { writeClientConfig } from '@edgetwin/device-controller/cli/client-config';
import { startCloudLink } from '@edgetwin/device-controller/cloud-link/index';
import { driverValidators } from '@edgetwin/mappers/drivers/validators';
import type { Logger } from 'pino';
import type { Lifecycle } from './lifecycle.js';

export interface CloudOptions {
  source: 'embedded' | 'kubernetes';
  kubeconfig?: string;
  dataDir: string;
  /** where the HTTP API listens */
  httpHost: string;
  httpPort: number;
  /** the API token file; absent = <dataDir>/api-token, created on first start */
  apiTokenFile?: string;
  /** further names clients reach the API by (checked against the Host header) */
  apiNames?: string[];
  /** where the cloud-link broker listens */
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
  /** the API's bearer token */
  apiToken: string;
  /** <dataDir>/client.json: the API URL and token, which the CLI on this machine reads */
  clientFile: string;
}

export const API_TOKEN_FILE = 'api-token';

/** The API token: the given file, or <dataDir>/api-token generated (0600) on first start. */
function apiToken(opts: CloudOptions): { token: string; file: string; created: boolean } {
  if (opts.apiTokenFile)
    return { token: readSecretFile(opts.apiTokenFile, 'API token'), file: opts.apiTokenFile, created: false };
  const file = join(opts.dataDir, API_TOKEN_FILE);
  const { secret, created } = loadOrCreateSecret(file, 'API token');
  return { token: secret, file, created };
}

export async function startCloud(opts: CloudOptions, life: Lifecycle): Promise<RunningCloud> {
  const token = apiToken(opts);
  if (token.created) opts.logger.info({ file: token.file }, 'generated the controller API token');
  const controller = await startController({
    source: opts.source,
    dbPath: join(opts.dataDir, 'controller.db'),
    httpHost: opts.httpHost,
    httpPort: opts.httpPort,
    apiToken: token.token,
    apiTokenHint: `in ${token.file} on the controller machine`,
    ...(opts.apiNames ? { apiNames: opts.apiNames } : {}),
    logger: opts.logger,
    protocols: driverValidators,
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
  });
  life.add('controller', () => controller.stop());
  const clientFile = writeClientConfig(opts.dataDir, { server: controller.url, token: token.token });
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
  return { controllerUrl: controller.url, linkUrl: link.url, apiToken: token.token, clientFile };
}
