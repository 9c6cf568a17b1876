// Several controller replicas with leader election on a real kube-apiserver (issue 14): two
// `edgetwin cloud --source kubernetes --leader-elect` processes with the RBAC of deploy/kubernetes; exactly
// one acts (its HTTP API and cloud-link broker are up) while the other stands by (nothing listens but its
// /livez, /healthz is 503, so no edge can reach it and it dispatches nothing); when the leader is killed the
// standby takes over within the lease's bound, a leader keeps the Lease while the API server answers slowly
// but in time, a standby the API server does not answer for a while keeps standing by, a standby asked to stop
// exits, and a leader stopped cleanly releases the Lease at once.
// Then, with TLS and node identities on (as deployed): an edge that joined through one replica keeps working
// through the next after a failover, without rejoining: the node identities and the generated link certificate
// are in Secrets every replica reads, not in the leader's data dir.

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceTopic } from '@edgetwin/api';
import { newSecret } from '@edgetwin/api/secret-file';
import { freePort, startTcpProxy, type TcpProxy, waitUntil } from '@edgetwin/eventbus/testing';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import YAML from 'yaml';
import { identityFile, loadEdgeCredential } from '../../devicetwin/src/cloud-link/node-credential.js';
import { fetchPinnedCert } from '../../devicetwin/src/cloud-link/pinned-cert.js';
import { LeaseElector } from '../src/sources/kubernetes/leader-election.js';
import { CONTROLLER_USER, KubeCluster } from './kube-cluster.js';
import { device, model, spawnCli } from './support.js';
import { startTestEdge, type TestEdge } from './test-edge.js';

/** the lease terms the replicas run with: 3 s lease, 2 s renew deadline, 0.5 s retry */
const LEASE_MS = 3000;

interface Replica {
  name: string;
  child: ChildProcess;
  httpPort: number;
  mqttPort: number;
  out: () => string;
  exited: Promise<number | null>;
}

let kube: KubeCluster;
let dir: string;
const replicas: Replica[] = [];
/** between replica c and the API server: its network fails for a while */
let apiProxy: TcpProxy | undefined;

/** `secure`: TLS and node identities as deployed (a shared API token file), instead of --no-tls and any node */
async function startReplica(
  name: string,
  secure?: { apiTokenFile: string },
  kubeconfig = kube.controllerKubeconfig,
): Promise<Replica> {
  const httpPort = await freePort();
  const mqttPort = await freePort();
  const { child, out, exited } = spawnCli(
    [
      'cloud',
      '--source=kubernetes',
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect',
      `--data-dir=${join(dir, name)}`,
      `--http-port=${httpPort}`,
      `--mqtt-port=${mqttPort}`,
      ...(secure ? [`--api-token-file=${secure.apiTokenFile}`] : ['--no-tls', '--insecure-allow-any-node']),
    ],
    {
      EDGETWIN_LEASE_DURATION_MS: String(LEASE_MS),
      EDGETWIN_LEASE_RENEW_DEADLINE_MS: '2000',
      EDGETWIN_LEASE_RETRY_PERIOD_MS: '500',
    },
  );
  const r: Replica = { name, child, httpPort, mqttPort, out, exited };
  replicas.push(r);
  return r;
}

const isUp = (r: Replica) => r.out().includes('edgetwin cloud is up');
const isStandingBy = (r: Replica) => r.out().includes('standing by');

/** waits for `cond`; on a timeout, or the replica exiting first, says what it printed and how it ended */
async function replicaWait(
  r: Replica,
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
  intervalMs: number,
) {
  const ended = () =>
    r.child.exitCode !== null || r.child.signalCode !== null ? (r.child.exitCode ?? r.child.signalCode) : undefined;
  const fail = (why: string) => new Error(`${why}\n--- replica ${r.name} ---\n${r.out()}`);
  let met = false;
  const check = async () => {
    met = await cond();
    return met || ended() !== undefined;
  };
  await waitUntil(check, what, timeoutMs, intervalMs).catch((e: Error) => {
    throw fail(e.message);
  });
  if (!met) throw fail(`replica ${r.name} exited (${ended()}) while waiting for ${what}`);
}

async function status(r: Replica, path: string): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${r.httpPort}${path}`, { signal: AbortSignal.timeout(2000) })).status;
  } catch {
    return 0;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

async function lease(): Promise<{ holderIdentity?: string; leaseTransitions?: number }> {
  const out = await kube.kubectlOk(['get', 'lease', '-n', 'edgetwin', 'edgetwin-controller', '-o', 'json']);
  return (JSON.parse(out) as { spec: { holderIdentity?: string; leaseTransitions?: number } }).spec;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetwin-kube-leader-'));
  kube = await KubeCluster.start({ audit: true });
  await kube.installEdgetwin();
}, 180_000);

afterAll(async () => {
  for (const r of replicas) r.child.kill('SIGKILL');
  await Promise.all(replicas.map((r) => r.exited));
  await apiProxy?.close();
  await kube?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const leaseUpdates = () =>
  kube.requests(CONTROLLER_USER).filter((r) => r.resource === 'leases' && r.verb === 'update').length;

describe('leader election between controller replicas', () => {
  let leader: Replica;
  let standby: Replica;

  it('keeps the lease while the API server answers slowly but within the renew deadline', async () => {
    const proxy = await startTcpProxy(kube.apiServerPort);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kube.controllerKubeconfigVia(`https://127.0.0.1:${proxy.port}`));
    const elector = new LeaseElector({
      kubeConfig,
      namespace: 'edgetwin',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 500,
    });
    const lost: string[] = [];
    elector.onLost((why) => lost.push(why));
    try {
      await elector.acquire();
      // every answer 1.2 s late: a request on its new TLS connection waits for two (handshake, answer), 2.4 s, so
      // a round (0.5 s wait, read, replace) takes 5.3 s, inside the 10 s renew deadline; each request used to be
      // cut at twice the retry period (1 s), so the leader gave up the lease
      proxy.latency(1200);
      const seen = leaseUpdates();
      await waitUntil(
        () => leaseUpdates() >= seen + 3 || lost.length > 0,
        'three renewals through the slow link',
        60_000,
      );
      expect(lost).toEqual([]);
      expect(elector.isLeader).toBe(true);
    } finally {
      proxy.latency(0);
      // released, so replica a below takes the Lease at once
      await elector.stop();
      await proxy.close();
    }
  }, 120_000);

  it('lets exactly one replica act while the other stands by, reachable by nobody', async () => {
    const a = await startReplica('a');
    await replicaWait(a, () => isUp(a), 'replica a up', 60_000, 100);
    const b = await startReplica('b');
    await replicaWait(b, () => isStandingBy(b), 'replica b standing by', 60_000, 100);
    leader = a;
    standby = b;
    expect(await status(leader, '/healthz')).toBe(200);
    expect(await status(standby, '/healthz')).toBe(503);
    expect(await status(standby, '/livez')).toBe(200);
    // the standby's cloud-link broker is not even listening: no edge can connect to it, nothing is dispatched
    expect(await accepts(leader.mqttPort)).toBe(true);
    expect(await accepts(standby.mqttPort)).toBe(false);
    expect((await lease()).holderIdentity).toMatch(/_/);
    // a few renewals later, still one leader
    const seen = leaseUpdates();
    await waitUntil(() => leaseUpdates() >= seen + 4, 'four lease renewals', 20_000, 200);
    expect(isUp(standby)).toBe(false);
  }, 120_000);

  it('hands over to the standby within the lease bound when the leader dies', async () => {
    const before = await lease();
    const killedAt = performance.now();
    leader.child.kill('SIGKILL');
    await replicaWait(standby, () => isUp(standby), 'the standby taking over', 30_000, 50);
    const tookMs = performance.now() - killedAt;
    // lease (3 s) + one retry (0.5 s) + starting the controller; generous for a loaded machine
    expect(tookMs).toBeLessThan(LEASE_MS + 12_000);
    const after = await lease();
    expect(after.holderIdentity).not.toBe(before.holderIdentity);
    expect(after.leaseTransitions).toBe((before.leaseTransitions ?? 0) + 1);
    expect(await status(standby, '/healthz')).toBe(200);
  }, 120_000);

  let next: Replica;
  it('keeps a standby standing by while the API server does not answer it (slow or unreachable)', async () => {
    apiProxy = await startTcpProxy(kube.apiServerPort);
    next = await startReplica('c', undefined, kube.controllerKubeconfigVia(`https://127.0.0.1:${apiProxy.port}`));
    await replicaWait(next, () => /identity (\S+)\)/.test(next.out()), 'replica c standing by', 60_000, 100);
    // its requests hang past their deadline (as an API server too loaded to answer in time does), then fail
    apiProxy.freeze();
    await replicaWait(
      next,
      () => next.out().includes('still standing by'),
      'replica c failing to reach the lease',
      30_000,
      50,
    );
    apiProxy.restore();
    // a standby that gave up here left nobody to take over when the leader went
    expect(next.child.exitCode, `replica c exited\n${next.out()}`).toBeNull();
  }, 120_000);

  it('lets a standby asked to stop exit at once', async () => {
    const d = await startReplica('d');
    await replicaWait(d, () => isStandingBy(d), 'replica d standing by', 60_000, 100);
    d.child.kill('SIGTERM');
    // a clean stop: it used to end with an error (exit 1), its wait for the Lease never ended
    expect(await d.exited).toBe(0);
  }, 120_000);

  it('releases the lease when the leader stops cleanly, so the next one does not wait out the term', async () => {
    // replica c, standing by again now that its API server answers
    const identity = /identity (\S+)\)/.exec(next.out())?.[1];
    expect(identity).toBeDefined();
    standby.child.kill('SIGTERM');
    expect(await standby.exited, standby.out()).toBe(0);
    const stoppedAt = performance.now();
    await replicaWait(next, async () => (await lease()).holderIdentity === identity, 'c holding the lease', 10_000, 50);
    // a released lease is taken at the next retry (0.5 s), not after the 3 s term a crashed leader leaves
    expect(performance.now() - stoppedAt).toBeLessThan(LEASE_MS - 500);
    await replicaWait(next, () => isUp(next), 'replica c up', 30_000, 50);
  }, 120_000);
});

describe('controller replicas share what edges need', () => {
  const NODE = 'gw-shared';
  let first: Replica;
  let second: Replica;
  let apiTokenFile: string;
  let linkProxy: TcpProxy;
  let edge: TestEdge;
  const edgeDir = () => join(dir, 'edge');
  const edgeLog: string[] = [];
  const edgeIds = () =>
    edge.twin
      .listDevices()
      .map((d) => d.id)
      .sort();
  const thermo = (name: string) => device(name, NODE, 'thermo');
  const apply = (...objects: object[]) =>
    kube.kubectlOk(['apply', '-f', '-'], { input: objects.map((o) => YAML.stringify(o)).join('---\n') });

  beforeAll(async () => {
    // the replicas of the tests above step down (SIGTERM releases the Lease)
    for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
    await Promise.all(replicas.map((r) => r.exited));
    apiTokenFile = join(dir, 'api-token');
    writeFileSync(apiTokenFile, newSecret(), { mode: 0o600 });
    await apply(model('thermo', { temp: { type: 'INT', accessMode: 'ReadWrite' } }), thermo('s1'));
  }, 120_000);

  afterAll(async () => {
    await edge?.close();
    await linkProxy?.close();
  });

  it('keeps the node identity and the link certificate in Secrets of the controller namespace', async () => {
    first = await startReplica('shared-1', { apiTokenFile });
    await replicaWait(first, () => isUp(first), 'replica shared-1 up', 60_000, 100);
    second = await startReplica('shared-2', { apiTokenFile });
    await replicaWait(second, () => isStandingBy(second), 'replica shared-2 standing by', 60_000, 100);
    const identities = (method: string, node: string) =>
      fetch(`http://127.0.0.1:${first.httpPort}/identities/${node}`, {
        method,
        headers: {
          authorization: `Bearer ${readFileSync(apiTokenFile, 'utf8')}`,
          ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
        },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
    const added = await identities('POST', NODE);
    expect(added.status).toBe(200);
    const { token } = (await added.json()) as { token: string };
    // a node removed is gone from the Secrets too
    expect((await identities('POST', 'gw-gone')).status).toBe(200);
    expect((await identities('DELETE', 'gw-gone')).status).toBe(200);
    const secrets = JSON.parse(await kube.kubectlOk(['get', 'secrets', '-n', 'edgetwin', '-o', 'json'])) as {
      items: Array<{ metadata: { name: string }; type: string }>;
    };
    const names = secrets.items.map((s) => s.metadata.name);
    expect(names).toContain(`edgetwin-node-${NODE}`);
    expect(names).not.toContain('edgetwin-node-gw-gone');
    expect(secrets.items.find((s) => s.metadata.name === 'edgetwin-cloud-link-tls')?.type).toBe('kubernetes.io/tls');

    // the edge joins through the first replica (a proxy stands in for the Service in front of the ready pod)
    linkProxy = await startTcpProxy(first.mqttPort);
    const credential = loadEdgeCredential({ dataDir: edgeDir(), node: NODE, joinToken: token });
    expect(credential?.joining).toBe(true);
    const cloudUrl = `mqtts://127.0.0.1:${linkProxy.port}`;
    // as `edgetwin edge` does on its first join: the certificate must be the one the token pins
    credential?.pin(await fetchPinnedCert(cloudUrl, credential.fingerprint as string));
    edge = await startTestEdge({
      dir: edgeDir(),
      node: NODE,
      cloudUrl,
      link: {
        ...(credential ? { credential } : {}),
        logger: pino({ level: 'debug' }, { write: (l: string) => edgeLog.push(l) }),
      },
    });
    await waitUntil(() => edgeIds().includes('default/s1'), 's1 on the edge (joined)', 30_000).catch((e: Error) => {
      throw new Error(`${e.message}\n--- edge ---\n${edgeLog.join('')}\n--- shared-1 ---\n${first.out()}`);
    });
    await waitUntil(() => readIdentity().credential !== undefined, 'the edge to save its credential', 10_000);
    // the join (the node's credential hash) reached the Secret before the edge was let in
    const stored = JSON.parse(
      Buffer.from(
        await kube.kubectlOk([
          'get',
          'secret',
          '-n',
          'edgetwin',
          `edgetwin-node-${NODE}`,
          '-o',
          'jsonpath={.data.identity}',
        ]),
        'base64',
      ).toString('utf8'),
    ) as { credentialHash: string | null };
    expect(stored.credentialHash).toMatch(/^[0-9a-f]{64}$/);
  }, 180_000);

  it('lets the edge in through the next leader after a failover, with its credential and the certificate it pinned', async () => {
    const saved = readIdentity();
    first.child.kill('SIGKILL');
    linkProxy.retarget(second.mqttPort);
    linkProxy.cutConnections();
    await replicaWait(second, () => isUp(second), 'replica shared-2 taking over', 60_000, 100);
    // a device applied now reaches the edge only through the new leader
    await apply(thermo('s2'));
    await replicaWait(second, () => edgeIds().includes('default/s2'), 's2 on the edge through shared-2', 30_000, 100);
    // and a report the edge makes is acknowledged by it and stored
    const eventId = 'shared-report';
    await edge.app.publish(
      deviceTopic('default/s2', 'twin/update'),
      JSON.stringify({ event_id: eventId, timestamp: Date.now(), twin: { temp: { actual: { value: '33' } } } }),
    );
    await edge.results.waitFor((m) => (m.json() as { event_id?: string }).event_id === eventId);
    const last = edge.twin.outbox.lastSeq();
    await waitUntil(() => edge.twin.outbox.ackedSeq() >= last, 'the report acknowledged by shared-2', 30_000, 50);
    const ds = JSON.parse(await kube.kubectlOk(['get', 'devicestatus', 's2', '-o', 'json'])) as {
      status?: { twins?: Array<{ propertyName: string; reported?: { value?: string } }> };
    };
    expect(ds.status?.twins?.find((t) => t.propertyName === 'temp')?.reported?.value).toBe('33');
    // no rejoin: the same credential and pinned certificate, and the new leader refused nobody
    expect(readIdentity()).toEqual(saved);
    expect(second.out()).not.toMatch(/refused a connection/);
    expect(kube.refusals()).toEqual([]);
    // and the Role for the Secrets grants nothing the replicas did not use
    const used = new Set(
      kube
        .requests(CONTROLLER_USER)
        .filter((r) => r.resource === 'secrets')
        .map((r) => r.verb),
    );
    expect([...used].sort()).toEqual(['create', 'delete', 'get', 'list', 'update']);
  }, 180_000);

  function readIdentity(): { credential?: string; fingerprint?: string } {
    try {
      return JSON.parse(readFileSync(identityFile(edgeDir(), NODE), 'utf8')) as {
        credential?: string;
        fingerprint?: string;
      };
    } catch {
      return {};
    }
  }
});
