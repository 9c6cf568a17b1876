// What every controller replica must share so that a failover is invisible to edge nodes (issue 14, "Several
// replicas"; docs/kubernetes.md): the node identities (hashes of each node's credential and join token) and the
// cloud link's generated certificate, which join tokens pin. With --source kubernetes they live in Secrets of
// the controller's namespace, as KubeEdge's cloudcore keeps its CA and certificates in Secrets: one Secret per
// node (`edgetwin-node-<node>`, label edgetwin.io/node-identity, so a new leader lists them in one request and a
// Secret never nears the 1 MiB limit) and `edgetwin-cloud-link-tls` (kubernetes.io/tls). Only the leader
// writes (it alone serves the HTTP API and the broker); a replica reads them when it becomes the leader.

import { ApiException, CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { IdentityRecord, NodeRegistryMirror } from '../../cloud-link/node-registry.js';
import { requestOptions, type RequestOptions } from './request-options.js';
import { withContext } from './source.js';

export const LINK_TLS_SECRET = 'edgetwin-cloud-link-tls';
export const NODE_SECRET_PREFIX = 'edgetwin-node-';
export const NODE_IDENTITY_LABEL = 'edgetwin.io/node-identity';

const isCode = (e: unknown, code: number) => e instanceof ApiException && e.code === code;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

export class KubeIdentitySecrets implements NodeRegistryMirror {
  private readonly api: CoreV1Api;
  private readonly reqOpts: RequestOptions;

  constructor(
    kc: KubeConfig,
    readonly namespace: string,
    requestTimeoutMs = 30_000,
  ) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.reqOpts = requestOptions(requestTimeoutMs);
  }

  secretName(node: string): string {
    return `${NODE_SECRET_PREFIX}${node}`;
  }

  /** Every node identity the Secrets hold. */
  async loadNodes(): Promise<IdentityRecord[]> {
    let list: { items: V1Secret[] };
    try {
      list = await this.api.listNamespacedSecret(
        { namespace: this.namespace, labelSelector: NODE_IDENTITY_LABEL },
        this.reqOpts,
      );
    } catch (e) {
      throw withContext(
        e,
        `reading the node identities (Secrets labelled ${NODE_IDENTITY_LABEL} in ${this.namespace})`,
      );
    }
    const out: IdentityRecord[] = [];
    for (const s of list.items) {
      const raw = unb64(s.data?.identity);
      if (!raw) throw new Error(`Secret ${this.namespace}/${s.metadata?.name}: no identity field`);
      out.push(JSON.parse(raw) as IdentityRecord);
    }
    return out;
  }

  /** Writes one node's identity (replace, else create), or deletes its Secret once the node is removed. */
  async save(name: string, record: IdentityRecord | undefined): Promise<void> {
    const secretName = this.secretName(name);
    const where = `Secret ${this.namespace}/${secretName}`;
    try {
      if (!record) {
        await this.api
          .deleteNamespacedSecret({ name: secretName, namespace: this.namespace }, this.reqOpts)
          .catch((e) => {
            if (!isCode(e, 404)) throw e;
          });
        return;
      }
      const body: V1Secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: {
          name: secretName,
          namespace: this.namespace,
          labels: { [NODE_IDENTITY_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'edgetwin-controller' },
        },
        // hashes only: what the node presents is never stored anywhere
        data: { identity: b64(JSON.stringify(record)) },
      };
      try {
        await this.api.replaceNamespacedSecret({ name: secretName, namespace: this.namespace, body }, this.reqOpts);
      } catch (e) {
        if (!isCode(e, 404)) throw e;
        await this.api.createNamespacedSecret({ namespace: this.namespace, body }, this.reqOpts);
      }
    } catch (e) {
      throw withContext(e, `saving node ${name}'s identity in ${where}`);
    }
  }

  /**
   * The link's certificate every replica serves: the Secret's, else `local()` (the one in the data dir, or a
   * new one) stored as the Secret. If another replica created it meanwhile (409), theirs wins.
   */
  async linkTls(
    local: () => { cert: string; key: string },
  ): Promise<{ cert: string; key: string; stored: boolean; where: string }> {
    const where = `Secret ${this.namespace}/${LINK_TLS_SECRET}`;
    try {
      const existing = await this.readTls();
      if (existing) return { ...existing, stored: false, where };
      const mine = local();
      try {
        await this.api.createNamespacedSecret(
          {
            namespace: this.namespace,
            body: {
              apiVersion: 'v1',
              kind: 'Secret',
              type: 'kubernetes.io/tls',
              metadata: {
                name: LINK_TLS_SECRET,
                namespace: this.namespace,
                labels: { 'app.kubernetes.io/managed-by': 'edgetwin-controller' },
              },
              data: { 'tls.crt': b64(mine.cert), 'tls.key': b64(mine.key) },
            },
          },
          this.reqOpts,
        );
        return { ...mine, stored: true, where };
      } catch (e) {
        if (!isCode(e, 409)) throw e;
        const theirs = await this.readTls();
        if (!theirs) throw e;
        return { ...theirs, stored: false, where };
      }
    } catch (e) {
      throw withContext(e, `the cloud link certificate in ${where}`);
    }
  }

  private async readTls(): Promise<{ cert: string; key: string } | undefined> {
    try {
      const s = await this.api.readNamespacedSecret({ name: LINK_TLS_SECRET, namespace: this.namespace }, this.reqOpts);
      const cert = unb64(s.data?.['tls.crt']);
      const key = unb64(s.data?.['tls.key']);
      if (!cert || !key) throw new Error('it has no tls.crt or tls.key');
      return { cert, key };
    } catch (e) {
      if (isCode(e, 404)) return undefined;
      throw e;
    }
  }
}
