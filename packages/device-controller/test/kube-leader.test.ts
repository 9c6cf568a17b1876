// Several controller replicas with leader election on a real kube-apiserver (issue 14): two
// `edgetwin cloud --source kubernetes --leader-elect` processes with the RBAC of deploy/kubernetes; exactly
// one acts (its HTTP API and cloud-link broker are up) while the other stands by (nothing listens but its
// /livez, /healthz is 503, so no edge can reach it and it dispatches nothing); when the leader is killed the
// standby takes over within the lease's bound, and a leader stopped cleanly releases the Lease at once.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, waitUntil } from '@edgetwin/eventbus/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROLLER_USER, KubeCluster } from './kube-cluster.js';

const BIN = resolve(import.meta.dirname, '../../cli/bin/edgetwin.js');
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

async function startReplica(name: string): Promise<Replica> {
  const httpPort = await freePort();
  const mqttPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      BIN,
      'cloud',
      '--source=kubernetes',
      `--kubeconfig=${kube.controllerKubeconfig}`,
      '--leader-elect',
      `--data-dir=${join(dir, name)}`,
      `--http-port=${httpPort}`,
      `--mqtt-port=${mqttPort}`,
      '--no-tls',
      '--insecure-allow-any-node',
    ],
    {
      env: {
        ...process.env,
        EDGETWIN_LEASE_DURATION_MS: String(LEASE_MS),
        EDGETWIN_LEASE_RENEW_DEADLINE_MS: '2000',
        EDGETWIN_LEASE_RETRY_PERIOD_MS: '500',
        EDGETWIN_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const r: Replica = { name, child, httpPort, mqttPort, out: () => out, exited };
  replicas.push(r);
  return r;
}

const isUp = (r: Replica) => r.out().includes('edgetwin cloud is up');
const isStandingBy = (r: Replica) => r.out().includes('standing by');

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
  await kube?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('leader election between controller replicas', () => {
  let leader: Replica;
  let standby: Replica;

  it('lets exactly one replica act while the other stands by, reachable by nobody', async () => {
    const a = await startReplica('a');
    await waitUntil(() => isUp(a), `replica a up\n${a.out()}`, 60_000, 100);
    const b = await startReplica('b');
    await waitUntil(() => isStandingBy(b), `replica b standing by\n${b.out()}`, 60_000, 100);
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
    await waitUntil(
      () => kube.requests(CONTROLLER_USER).filter((r) => r.resource === 'leases' && r.verb === 'update').length >= 4,
      'four lease renewals',
      20_000,
      200,
    );
    expect(isUp(standby)).toBe(false);
  }, 120_000);

  it('hands over to the standby within the lease bound when the leader dies', async () => {
    const before = await lease();
    const killedAt = performance.now();
    leader.child.kill('SIGKILL');
    await waitUntil(() => isUp(standby), `the standby taking over\n${standby.out()}`, 30_000, 50);
    const tookMs = performance.now() - killedAt;
    // lease (3 s) + one retry (0.5 s) + starting the controller; generous for a loaded machine
    expect(tookMs).toBeLessThan(LEASE_MS + 12_000);
    const after = await lease();
    expect(after.holderIdentity).not.toBe(before.holderIdentity);
    expect(after.leaseTransitions).toBe((before.leaseTransitions ?? 0) + 1);
    expect(await status(standby, '/healthz')).toBe(200);
  }, 120_000);

  it('releases the lease when the leader stops cleanly, so the next one does not wait out the term', async () => {
    const next = await startReplica('c');
    await waitUntil(() => isStandingBy(next), `replica c standing by\n${next.out()}`, 60_000, 100);
    const identity = /identity (\S+)\)/.exec(next.out())?.[1];
    expect(identity).toBeDefined();
    standby.child.kill('SIGTERM');
    expect(await standby.exited).toBe(0);
    const stoppedAt = performance.now();
    await waitUntil(async () => (await lease()).holderIdentity === identity, 'c holding the lease', 10_000, 50);
    // a released lease is taken at the next retry (0.5 s), not after the 3 s term a crashed leader leaves
    expect(performance.now() - stoppedAt).toBeLessThan(LEASE_MS - 500);
    await waitUntil(() => isUp(next), `replica c up\n${next.out()}`, 30_000, 50);
  }, 120_000);
});
