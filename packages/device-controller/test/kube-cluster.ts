// A real Kubernetes control plane for tests and benches (issue 14): etcd + kube-apiserver (+ optionally
// kube-controller-manager with only the garbage-collector and namespace controllers, which is what
// collects owned DeviceStatus objects and finishes namespace deletion) on free loopback ports, built by
// scripts/test-peers/50-kube.sh. TLS with a throw-away certificate; static bearer tokens for an admin and for
// the controller's ServiceAccount identity (system:serviceaccount:edgetwin:edgetwin-controller), so
// deploy/kubernetes/rbac.yaml is what authorizes the controller; a kubeconfig file for each.
//
// Waits on the server's own answers (readyz, the controller's first 200, the OpenAPI document), never on
// sleeps. kube-apiserver takes about a minute to exit on SIGTERM (it drains watches): stop() sends SIGTERM
// and SIGKILLs after a short bound. One cluster per test file at most: the machine is shared.

import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, selfSignedCert, waitUntil } from '@edgetwin/eventbus/testing';
import { peerBinary, repoRoot } from '@edgetwin/simulators/peers';
import YAML from 'yaml';
import { bootOrStop } from './support.js';

export const KUBE_VERSION = 'v1.37.2';
export const ETCD_VERSION = 'v3.7.0';
/** The identity deploy/kubernetes/rbac.yaml binds: the controller's ServiceAccount. */
export const CONTROLLER_USER = 'system:serviceaccount:edgetwin:edgetwin-controller';

export interface KubeClusterOptions {
  /** also run kube-controller-manager (garbage collector + namespace controller); default false */
  controllerManager?: boolean;
  /** write an audit log of every request to devices.kubeedge.io, coordination.k8s.io, core events and secrets (see requests()) */
  audit?: boolean;
  /** extra kube-apiserver flags */
  apiServerArgs?: string[];
  /** how long to wait for each process to be ready (default 120 s: the first start on a loaded machine) */
  readyTimeoutMs?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One audited request: who did what to which object. */
export interface AuditedRequest {
  user: string;
  verb: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  code?: number;
  at: number;
}

interface Proc {
  child: ChildProcess;
  output: string[];
  exited: Promise<void>;
}

const OUTPUT_LINES = 400;

function startProc(name: string, bin: string, args: string[], logFile: string): Proc {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      output.push(line);
      if (output.length > OUTPUT_LINES) output.shift();
    }
    try {
      writeFileSync(logFile, chunk, { flag: 'a' });
    } catch {
      // the directory is gone (torn down): nothing left to log to
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', (e) => output.push(`${name}: ${e.message}`));
  return { child, output, exited };
}

/** SIGTERM, then SIGKILL once `graceMs` has passed without an exit. */
async function stopProc(p: Proc | undefined, graceMs: number): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.exited,
    new Promise<void>((r) => {
      timer = setTimeout(() => {
        p.child.kill('SIGKILL');
        r();
      }, graceMs);
    }),
  ]);
  clearTimeout(timer);
  await p.exited;
}

/** Processes of every cluster still running, killed if the test process exits without stop(). */
const live = new Set<Proc>();
process.once('exit', () => {
  for (const p of live) p.child.kill('SIGKILL');
});

export class KubeCluster {
  readonly dir: string;
  /** https://127.0.0.1:PORT */
  server = '';
  /** kubeconfig files: cluster-admin (system:masters) and the controller's identity */
  readonly adminKubeconfig: string;
  readonly controllerKubeconfig: string;
  readonly adminToken = randomBytes(24).toString('hex');
  readonly controllerToken = randomBytes(24).toString('hex');
  private etcd?: Proc;
  private apiserver?: Proc;
  private kcm?: Proc;
  private etcdPort = 0;
  private apiPort = 0;
  private cert = '';
  private readonly auditFile: string;
  private edgetwinInstalled = false;
  /** deploy/kubernetes/rbac.yaml installed as shipped, with its namespaced Role for the shared Secrets */
  private secretsRoleInstalled = false;
  /**
   * [from, to] (epoch ms) after each API server (re)start until the controller's identity was allowed again:
   * a restarted kube-apiserver answers 403 for a few seconds while its RBAC cache fills, which says nothing
   * about the role (see refusals())
   */
  readonly rbacWarmups: Array<[number, number]> = [];

  private constructor(private readonly opts: KubeClusterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'edgetwin-kube-'));
    this.adminKubeconfig = join(this.dir, 'admin.kubeconfig');
    this.controllerKubeconfig = join(this.dir, 'controller.kubeconfig');
    this.auditFile = join(this.dir, 'audit.log');
  }

  /** Starts etcd and kube-apiserver (and the controller-manager if asked) and waits until they serve. */
  static async start(opts: KubeClusterOptions = {}): Promise<KubeCluster> {
    const c = new KubeCluster(opts);
    return bootOrStop(c, () => c.boot());
  }

  private async boot(): Promise<void> {
    const tls = await selfSignedCert();
    if (!tls) throw new Error('openssl is needed to make the API server certificate (apt-get install openssl)');
    this.cert = tls.cert;
    writeFileSync(join(this.dir, 'tls.crt'), tls.cert);
    writeFileSync(join(this.dir, 'tls.key'), tls.key, { mode: 0o600 });
    // the key ServiceAccount tokens are signed with (the API server refuses to start without one)
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(this.dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(join(this.dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(
      join(this.dir, 'tokens.csv'),
      `${this.adminToken},edgetwin-test-admin,admin,"system:masters"\n` +
        `${this.controllerToken},${CONTROLLER_USER},edgetwin-controller-uid,"system:serviceaccounts,system:serviceaccounts:edgetwin"\n`,
      { mode: 0o600 },
    );
    writeFileSync(
      join(this.dir, 'audit-policy.yaml'),
      YAML.stringify({
        apiVersion: 'audit.k8s.io/v1',
        kind: 'Policy',
        omitStages: ['RequestReceived', 'ResponseStarted'],
        rules: [
          {
            level: 'Metadata',
            resources: [
              { group: 'devices.kubeedge.io' },
              { group: 'coordination.k8s.io' },
              // secrets: the replicas' shared node identities and link certificate (Metadata level: no data logged)
              { group: '', resources: ['events', 'secrets'] },
            ],
          },
          { level: 'None' },
        ],
      }),
    );
    this.etcdPort = await freePort();
    this.apiPort = await freePort();
    this.server = `https://127.0.0.1:${this.apiPort}`;
    this.writeKubeconfig(this.adminKubeconfig, 'admin', this.adminToken);
    this.writeKubeconfig(this.controllerKubeconfig, 'edgetwin-controller', this.controllerToken);
    await this.startEtcd();
    await this.startApiServer();
    if (this.opts.controllerManager) await this.startControllerManager();
  }

  private writeKubeconfig(file: string, user: string, token: string, server = this.server): void {
    const kc = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'test', cluster: { server, 'certificate-authority-data': Buffer.from(this.cert).toString('base64') } },
      ],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: user, context: { cluster: 'test', user } }],
      'current-context': user,
    };
    writeFileSync(file, YAML.stringify(kc), { mode: 0o600 });
  }

  /** A kubeconfig for the controller's identity that dials `server` instead (e.g. a TcpProxy in front). */
  controllerKubeconfigVia(server: string): string {
    const file = join(this.dir, `controller-via-${server.replace(/\W+/g, '_')}.kubeconfig`);
    this.writeKubeconfig(file, 'edgetwin-controller', this.controllerToken, server);
    return file;
  }

  get apiServerPort(): number {
    return this.apiPort;
  }

  get etcdUrl(): string {
    return `http://127.0.0.1:${this.etcdPort}`;
  }

  private async startEtcd(): Promise<void> {
    const peer = `http://127.0.0.1:${await freePort()}`;
    this.etcd = startProc(
      'etcd',
      peerBinary('etcd', ETCD_VERSION),
      [
        '--name=test',
        `--data-dir=${join(this.dir, 'etcd')}`,
        `--listen-client-urls=${this.etcdUrl}`,
        `--advertise-client-urls=${this.etcdUrl}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=test=${peer}`,
        // a test cluster: losing the last writes in a power cut does not matter, the disk is shared
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      join(this.dir, 'etcd.log'),
    );
    live.add(this.etcd);
    await waitUntil(
      async () => (await this.httpGet(`${this.etcdUrl}/health`))?.includes('"health":"true"') ?? false,
      'etcd /health',
      this.opts.readyTimeoutMs ?? 120_000,
      100,
    );
  }

  /** Starts kube-apiserver on the same port and etcd data (after stopApiServer()), and waits for /readyz. */
  async startApiServer(): Promise<void> {
    if (this.apiserver && this.apiserver.child.exitCode === null && this.apiserver.child.signalCode === null) return;
    const d = this.dir;
    const startedAt = Date.now();
    this.apiserver = startProc(
      'kube-apiserver',
      peerBinary('kube-apiserver', KUBE_VERSION),
      [
        `--etcd-servers=${this.etcdUrl}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${this.apiPort}`,
        `--cert-dir=${join(d, 'apiserver-certs')}`,
        `--tls-cert-file=${join(d, 'tls.crt')}`,
        `--tls-private-key-file=${join(d, 'tls.key')}`,
        `--token-auth-file=${join(d, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        '--anonymous-auth=false',
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${join(d, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(d, 'sa.key')}`,
        '--service-cluster-ip-range=10.96.0.0/24',
        // 1.37 refuses a loopback --advertise-address; with no reconciler none is needed (no nodes, no pods)
        '--endpoint-reconciler-type=none',
        // the tests compact etcd themselves when they want to
        '--etcd-compaction-interval=0',
        ...(this.opts.audit
          ? [`--audit-policy-file=${join(d, 'audit-policy.yaml')}`, `--audit-log-path=${this.auditFile}`]
          : []),
        '-v=1',
        ...(this.opts.apiServerArgs ?? []),
      ],
      join(d, 'kube-apiserver.log'),
    );
    live.add(this.apiserver);
    const started = this.apiserver;
    await waitUntil(
      async () => {
        if (started.child.exitCode !== null) throw new Error(`kube-apiserver exited (${started.child.exitCode})`);
        return (await this.get('/readyz'))?.status === 200;
      },
      'kube-apiserver /readyz',
      this.opts.readyTimeoutMs ?? 120_000,
      200,
    );
    if (this.edgetwinInstalled) {
      await this.waitForAccess('/apis/devices.kubeedge.io/v1beta1/devices');
      // the Role's cache fills on its own time after a restart too (a 403 on a Secret after the warm-up
      // counted as a refusal of the role in a full run)
      if (this.secretsRoleInstalled) await this.waitForAccess('/api/v1/namespaces/edgetwin/secrets');
      this.rbacWarmups.push([startedAt, Date.now()]);
    }
  }

  /** The controller's requests the API server refused with 403, apart from those while its RBAC warmed up. */
  refusals(): AuditedRequest[] {
    return this.requests(CONTROLLER_USER).filter(
      (r) => r.code === 403 && !this.rbacWarmups.some(([from, to]) => r.at >= from - 1000 && r.at <= to + 1000),
    );
  }

  /** Stops kube-apiserver (etcd keeps the data): SIGKILL at once with `crash`, else SIGTERM with a bound. */
  async stopApiServer(opts: { crash?: boolean } = {}): Promise<void> {
    await stopProc(this.apiserver, opts.crash ? 0 : 3000);
    if (this.apiserver) live.delete(this.apiserver);
  }

  private async startControllerManager(): Promise<void> {
    const kubeconfig = join(this.dir, 'kcm.kubeconfig');
    this.writeKubeconfig(kubeconfig, 'admin', this.adminToken);
    this.kcm = startProc(
      'kube-controller-manager',
      peerBinary('kube-controller-manager', KUBE_VERSION),
      [
        `--kubeconfig=${kubeconfig}`,
        '--controllers=garbage-collector-controller,namespace-controller',
        '--leader-elect=false',
        '--secure-port=0',
        '-v=1',
      ],
      join(this.dir, 'kube-controller-manager.log'),
    );
    live.add(this.kcm);
  }

  /** Runs kubectl (the same release) as the admin, or as the controller's identity. */
  kubectl(args: string[], opts: { as?: 'admin' | 'controller'; input?: string; env?: NodeJS.ProcessEnv } = {}) {
    const kubeconfig = opts.as === 'controller' ? this.controllerKubeconfig : this.adminKubeconfig;
    return new Promise<RunResult>((resolve, reject) => {
      const child = spawn(peerBinary('kubectl', KUBE_VERSION), args, {
        env: { ...process.env, KUBECONFIG: kubeconfig, ...opts.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString('utf8');
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString('utf8');
      });
      child.once('error', reject);
      child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(opts.input ?? '');
    });
  }

  /** kubectl that must succeed; returns stdout. */
  async kubectlOk(args: string[], opts: Parameters<KubeCluster['kubectl']>[1] = {}): Promise<string> {
    const r = await this.kubectl(args, opts);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  /**
   * Installs crds/ (or the given CRD files) and deploy/kubernetes' namespace and RBAC, then waits until the
   * CRDs are established and the controller's identity may list devices (the RBAC cache has caught up).
   */
  async installEdgetwin(opts: { crds?: string[]; rbac?: string } = {}): Promise<void> {
    const crds = opts.crds ?? [join(repoRoot, 'crds')];
    await this.kubectlOk(['apply', ...crds.flatMap((f) => ['-f', f])]);
    // `kubectl wait` fails at once (not waits) on a CRD whose status has no conditions yet: ask again until it holds
    await waitUntil(
      async () =>
        (await this.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all'])).code === 0,
      'the CRDs established (kubectl wait)',
      90_000,
      200,
    );
    await this.kubectlOk(['apply', '-f', join(repoRoot, 'deploy/kubernetes/namespace.yaml')]);
    await this.kubectlOk(['apply', '-f', opts.rbac ?? join(repoRoot, 'deploy/kubernetes/rbac.yaml')]);
    await this.waitForAccess('/apis/devices.kubeedge.io/v1beta1/devices');
    // the namespaced Role for the replicas' shared Secrets reaches the RBAC cache on its own time too
    if (!opts.rbac) await this.waitForAccess('/api/v1/namespaces/edgetwin/secrets');
    this.secretsRoleInstalled = !opts.rbac;
    this.edgetwinInstalled = true;
  }

  /** Waits until the controller's identity gets 200 for a GET of `path` (RBAC and CRDs caught up). */
  async waitForAccess(path: string, timeoutMs = 60_000): Promise<void> {
    await waitUntil(
      async () => (await this.get(path, this.controllerToken))?.status === 200,
      `200 for the controller on GET ${path}`,
      timeoutMs,
      100,
    );
  }

  /** Waits until the OpenAPI document describes our group (kubectl explain needs it). */
  async waitForOpenApi(timeoutMs = 60_000): Promise<void> {
    await waitUntil(
      async () => {
        const r = await this.get('/openapi/v3/apis/devices.kubeedge.io/v1beta1');
        return r?.status === 200 && r.body.includes('"io.kubeedge.devices.v1beta1.Device"');
      },
      'the OpenAPI of devices.kubeedge.io/v1beta1',
      timeoutMs,
      200,
    );
  }

  /** A GET to the API server (admin unless a token is given); undefined when it does not answer. */
  get(path: string, token = this.adminToken): Promise<{ status: number; body: string } | undefined> {
    return new Promise((resolve) => {
      const req = request(
        `${this.server}${path}`,
        { ca: this.cert, headers: { authorization: `Bearer ${token}` }, timeout: 5000 },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => {
            body += d.toString('utf8');
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', () => resolve(undefined));
        },
      );
      req.on('error', () => resolve(undefined));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }

  private async httpGet(url: string): Promise<string | undefined> {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return await r.text();
    } catch {
      return undefined;
    }
  }

  /** etcd's current revision (the API server's resourceVersion space). */
  async etcdRevision(): Promise<number> {
    const r = await this.etcdPost('/v3/kv/range', { key: Buffer.from('/').toString('base64'), limit: 1 });
    return Number((r as { header: { revision: string } }).header.revision);
  }

  /** Compacts etcd's history up to its current revision: every older resourceVersion is gone (410). */
  async compactEtcd(): Promise<number> {
    const rev = await this.etcdRevision();
    await this.etcdPost('/v3/kv/compaction', { revision: String(rev), physical: true });
    return rev;
  }

  /**
   * Deletes an object in etcd behind the API server's back: with the API server down, it is a change the
   * controller's watch cannot have seen, which only a re-list reveals.
   */
  async etcdDelete(group: string, plural: string, namespace: string, name: string): Promise<void> {
    const key = `/registry/${group}/${plural}/${namespace}/${name}`;
    const r = (await this.etcdPost('/v3/kv/deleterange', { key: Buffer.from(key).toString('base64') })) as {
      deleted?: string;
    };
    if (r.deleted !== '1') throw new Error(`etcd had no key ${key}`);
  }

  private async etcdPost(path: string, body: object): Promise<unknown> {
    const r = await fetch(`${this.etcdUrl}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`etcd ${path}: HTTP ${r.status}: ${text}`);
    return JSON.parse(text);
  }

  /** The requests the audit log holds so far (needs `audit: true`), optionally only one user's. */
  requests(user?: string): AuditedRequest[] {
    if (!this.opts.audit) throw new Error('KubeCluster: requests() needs { audit: true }');
    let text = '';
    try {
      text = readFileSync(this.auditFile, 'utf8');
    } catch {
      return [];
    }
    const out: AuditedRequest[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      const e = JSON.parse(line) as {
        user: { username: string };
        verb: string;
        objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
        responseStatus?: { code?: number };
        requestReceivedTimestamp: string;
      };
      if (user !== undefined && e.user.username !== user) continue;
      out.push({
        user: e.user.username,
        verb: e.verb,
        resource: e.objectRef?.resource ?? '',
        ...(e.objectRef?.subresource ? { subresource: e.objectRef.subresource } : {}),
        ...(e.objectRef?.namespace ? { namespace: e.objectRef.namespace } : {}),
        ...(e.objectRef?.name ? { name: e.objectRef.name } : {}),
        ...(e.responseStatus?.code !== undefined ? { code: e.responseStatus.code } : {}),
        at: Date.parse(e.requestReceivedTimestamp),
      });
    }
    return out;
  }

  /** The last lines each process printed, for failure messages. */
  output(): string {
    const parts: string[] = [];
    for (const [name, p] of [
      ['etcd', this.etcd],
      ['kube-apiserver', this.apiserver],
      ['kube-controller-manager', this.kcm],
    ] as const) {
      if (p) parts.push(`[${name}]\n${p.output.slice(-40).join('\n')}`);
    }
    return parts.join('\n');
  }

  /** Stops everything (SIGKILL after a short bound) and removes the directory. */
  async stop(): Promise<void> {
    await Promise.all([stopProc(this.kcm, 2000), stopProc(this.apiserver, 3000)]);
    await stopProc(this.etcd, 5000);
    for (const p of [this.kcm, this.apiserver, this.etcd]) if (p) live.delete(p);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
