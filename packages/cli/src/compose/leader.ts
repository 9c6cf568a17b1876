// `edgetwin cloud --leader-elect` (issue 14, docs/kubernetes.md "Several replicas"): waits to hold the Lease
// before starting anything that acts (dispatch, the cloud-link broker, status writes), and stops the
// process when the Lease is lost. While it waits, the API port answers /livez (alive) and /healthz with 503
// (not ready), so a Service sends clients and edge nodes only to the leader.

import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { LeaseElector } from '@edgetwin/device-controller/sources/kubernetes/leader-election';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Lifecycle } from './lifecycle.js';

const SA_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The Lease's namespace: the flag, else the pod's own namespace, else edgetwin. */
export function leaseNamespace(flag: string | undefined): string {
  if (flag) return flag;
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  if (existsSync(SA_NAMESPACE)) return readFileSync(SA_NAMESPACE, 'utf8').trim();
  return 'edgetwin';
}

export interface LeaderOptions {
  kubeconfig?: string;
  namespace: string;
  httpHost: string;
  httpPort: number;
  logger: Logger;
  /** test hooks: shorter terms than client-go's 15/10/2 s */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

/** Resolves once this replica leads; registers the release in `life` and exits the process if the lead is lost. */
export async function becomeLeader(opts: LeaderOptions, life: Lifecycle): Promise<LeaseElector> {
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else kc.loadFromDefault();
  const elector = new LeaseElector({
    kubeConfig: kc,
    namespace: opts.namespace,
    logger: opts.logger,
    ...(opts.leaseDurationMs ? { leaseDurationMs: opts.leaseDurationMs } : {}),
    ...(opts.renewDeadlineMs ? { renewDeadlineMs: opts.renewDeadlineMs } : {}),
    ...(opts.retryPeriodMs ? { retryPeriodMs: opts.retryPeriodMs } : {}),
  });
  const standby = createServer((req, res) => {
    const live = req.url === '/livez';
    res.writeHead(live ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(live ? { ok: true } : { ok: false, standby: true, leader: elector.holder || undefined }));
  });
  await new Promise<void>((resolve, reject) => {
    standby.once('error', reject);
    standby.listen(opts.httpPort, opts.httpHost, resolve);
  });
  opts.logger.info(
    { identity: elector.identity, lease: `${opts.namespace}/${elector.name}` },
    'standing by for the lease',
  );
  process.stdout.write(
    `edgetwin cloud: standing by (lease ${opts.namespace}/${elector.name}, identity ${elector.identity})\n`,
  );
  let signalled = false;
  const stopWaiting = () => {
    signalled = true;
    void elector.stop({ release: false });
  };
  process.once('SIGTERM', stopWaiting);
  process.once('SIGINT', stopWaiting);
  let acquired = true;
  try {
    await elector.acquire();
  } catch (e) {
    if (!signalled) throw e;
    acquired = false;
  } finally {
    process.off('SIGTERM', stopWaiting);
    process.off('SIGINT', stopWaiting);
    await new Promise<void>((r) => standby.close(() => r()));
  }
  if (!acquired) {
    // a standby asked to stop exits at once and cleanly (it used to end with an error: its wait never ended)
    process.stdout.write('edgetwin cloud: stopped while standing by\n');
    process.exit(0);
  }
  // stopped last (the Lifecycle stops in reverse order): the lease is released once nothing acts any more
  life.add('leader lease', () => elector.stop({ release: true }));
  elector.onLost((why) => {
    opts.logger.fatal({ why }, 'lost the leader lease: stopping so that only one replica acts');
    void life.stopAll().finally(() => process.exit(1));
  });
  return elector;
}
