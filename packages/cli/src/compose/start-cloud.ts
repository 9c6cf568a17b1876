// The cloud half: the device controller (embedded store or Kubernetes) and the cloud end of the link
// with its broker. Used by `edgetwin cloud` and `edgetwin up`.
import { join } from 'node:path';
import { loadOrCreateSecret, readSecretFile } from '@edgetwin/api/secret-file';
import { startController } from '@edgetwin/device-controller';
import { writeClientConfig } from '@edgetwin/device-controller/cli/client-config';
import { NodeRegistry, startCloudLink } from '@edgetwin/device-controller/cloud-link/index';
import {
  fingerprintOf,
  isSelfSigned,
  type LinkTls,
  loadOrCreateLinkTls,
} from '@edgetwin/device-controller/cloud-link/link-tls';
import type { NodeJoinOptions } from '@edgetwin/device-controller/http/node-routes';
import { CONSOLE_DIST_DIR } from '@edgetwin/console/dist-dir';
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
  /** an external broker for the cloud link instead of the embedded one (or the members of a broker cluster) */
  brokerUrl?: string | readonly string[];
  /** the controller's login on the external broker, and the CA its certificate is signed by */
  brokerUsername?: string;
  brokerPassword?: string;
  brokerCa?: string;
  /** a node heard nothing from for this long is marked offline (default: the cloud link's, 20 s) */
  presenceTimeoutMs?: number;
  /** TLS of the embedded broker: given files, or generated into <dataDir>/link-tls (default); false = plain MQTT */
  linkTls?: { certFile?: string; keyFile?: string; names?: string[] } | false;
  nodeCredentials?: Record<string, string>;
  /**
   * with source kubernetes and the embedded broker: the namespace whose Secrets hold the node identities and the
   * generated link certificate, so every controller replica serves the same (docs/kubernetes.md, "Several replicas")
   */
  sharedNamespace?: string;
  /** mTLS: the CA (PEM) signing the nodes' client certificates; each node must present one named after it */
  clientCa?: string;
  /** development only: any node connects as any node name (said at start and in /healthz) */
  insecureAllowAnyNode?: boolean;
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
  /** the nodes allowed on the embedded cloud link (absent with an external broker) */
  nodes?: NodeRegistry;
  /** the embedded broker's certificate (absent: plain MQTT or an external broker) */
  tls?: LinkTls;
}

export const INSECURE_PLAIN_LINK =
  'the cloud link is plain MQTT: credentials and data cross the network unencrypted (--no-tls)';

export const INSECURE_ANY_NODE = 'any client may connect to the cloud link as any node (--insecure-allow-any-node)';

export const API_TOKEN_FILE = 'api-token';

/** The API token: the given file, or <dataDir>/api-token generated (0600) on first start. */
function apiToken(opts: CloudOptions): { token: string; file: string; created: boolean } {
  if (opts.apiTokenFile)
    return { token: readSecretFile(opts.apiTokenFile, 'API token'), file: opts.apiTokenFile, created: false };
  const file = join(opts.dataDir, API_TOKEN_FILE);
  const { secret, created } = loadOrCreateSecret(file, 'API token');
  return { token: secret, file, created };
}

/**
 * The node identities from the Secrets of `namespace` (the previous leader's), mirrored there from now on. A
 * controller that kept them in its data dir so far copies them there first, so joined edges keep working.
 */
async function sharedIdentities(opts: CloudOptions, nodes: NodeRegistry, namespace: string) {
  const { KubeIdentitySecrets } = await import('@edgetwin/device-controller/sources/kubernetes/identity-secrets');
  const { loadKubeConfig } = await import('@edgetwin/device-controller/sources/kubernetes/source');
  const secrets = new KubeIdentitySecrets(loadKubeConfig(opts.kubeconfig), namespace);
  let records = await secrets.loadNodes();
  const local = nodes.records();
  if (records.length === 0 && local.length > 0) {
    for (const r of local) await secrets.save(r.name, r);
    opts.logger.info({ nodes: local.length, namespace }, 'copied the node identities of the data dir into Secrets');
    records = local;
  }
  nodes.attachMirror(secrets, records);
  opts.logger.info({ nodes: records.length, namespace }, 'node identities are kept in Secrets');
  return secrets;
}

export async function startCloud(opts: CloudOptions, life: Lifecycle): Promise<RunningCloud> {
  const token = apiToken(opts);
  // The node registry is the embedded broker's; an external broker has its own users (docs/acl.md).
  const nodes = opts.brokerUrl ? undefined : new NodeRegistry(join(opts.dataDir, 'nodes.db'));
  if (nodes) life.add('node registry', async () => nodes.close());
  const nodeJoin: NodeJoinOptions | undefined = nodes ? { registry: nodes } : undefined;
  const shared =
    nodes && opts.source === 'kubernetes' && opts.sharedNamespace
      ? await sharedIdentities(opts, nodes, opts.sharedNamespace)
      : undefined;
  const given = opts.linkTls || {};
  const localTls = () =>
    loadOrCreateLinkTls({
      dataDir: opts.dataDir,
      listenHost: opts.mqttHost,
      ...(given.certFile ? { certFile: given.certFile } : {}),
      ...(given.keyFile ? { keyFile: given.keyFile } : {}),
      ...(given.names ? { names: given.names } : {}),
    });
  let tls: LinkTls | undefined;
  if (opts.brokerUrl || opts.linkTls === false) tls = undefined;
  else if (shared && !given.certFile && !given.keyFile) {
    // generated (not given): the certificate edges pin must be the same on every replica
    const t = await shared.linkTls(localTls);
    tls = {
      cert: t.cert,
      key: t.key,
      fingerprint: fingerprintOf(t.cert),
      pinnable: isSelfSigned(t.cert),
      created: t.stored,
      certFile: t.where,
    };
  } else tls = localTls();
  if (nodes && tls?.pinnable) nodes.linkFingerprint = tls.fingerprint;
  const insecure = [
    ...(opts.insecureAllowAnyNode ? [INSECURE_ANY_NODE] : []),
    ...(!opts.brokerUrl && opts.linkTls === false ? [INSECURE_PLAIN_LINK] : []),
  ];
  for (const i of insecure) opts.logger.warn(`INSECURE MODE: ${i}. For development only; /healthz says so too.`);
  if (token.created) opts.logger.info({ file: token.file }, 'generated the controller API token');
  const controller = await startController({
    source: opts.source,
    dbPath: join(opts.dataDir, 'controller.db'),
    httpHost: opts.httpHost,
    httpPort: opts.httpPort,
    apiToken: token.token,
    apiTokenHint: `in ${token.file} on the controller machine`,
    ...(opts.apiNames ? { apiNames: opts.apiNames } : {}),
    ...(nodeJoin ? { nodeJoin } : {}),
    insecure,
    logger: opts.logger,
    protocols: driverValidators,
    // the web console, built by npm install (packages/console/dist): served under /console/
    consoleDir: CONSOLE_DIST_DIR,
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
  });
  life.add('controller', () => controller.stop());
  const clientFile = writeClientConfig(opts.dataDir, { server: controller.url, token: token.token });
  const link = await startCloudLink({
    desired: controller.desired,
    status: controller.status,
    broker: opts.brokerUrl
      ? {
          url: opts.brokerUrl,
          ...(opts.brokerUsername !== undefined ? { username: opts.brokerUsername } : {}),
          ...(opts.brokerPassword !== undefined ? { password: opts.brokerPassword } : {}),
          ...(opts.brokerCa !== undefined ? { ca: opts.brokerCa } : {}),
        }
      : {
          embedded: {
            host: opts.mqttHost,
            port: opts.mqttPort,
            ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
            ...(opts.clientCa !== undefined ? { clientCa: opts.clientCa } : {}),
            persistenceDir: join(opts.dataDir, 'cloud-broker'),
            ...(opts.maxPacketBytes !== undefined ? { maxPacketBytes: opts.maxPacketBytes } : {}),
          },
        },
    stateDbPath: join(opts.dataDir, 'cloud-link.db'),
    ...(opts.presenceTimeoutMs !== undefined ? { presenceTimeoutMs: opts.presenceTimeoutMs } : {}),
    logger: opts.logger,
    ...(opts.nodeCredentials ? { nodeCredentials: opts.nodeCredentials } : {}),
    ...(nodes ? { nodeRegistry: nodes } : {}),
    ...(opts.insecureAllowAnyNode ? { insecureAllowAnyNode: true } : {}),
  });
  life.add('cloud link', () => link.close());
  if (nodeJoin) nodeJoin.linkUrl = link.url;
  return {
    controllerUrl: controller.url,
    linkUrl: link.url,
    apiToken: token.token,
    clientFile,
    ...(nodes ? { nodes } : {}),
    ...(tls ? { tls } : {}),
  };
}
