// The controller at scale against a real Kubernetes API server (issue 14, "Scale, on paper and in a bench").
//
//   node packages/cli/bin/run-ts.js bench/kube-scale.ts [--devices 10000] [--nodes 100] [--models 4]
//        [--report-every-ms 10000] [--warmup-s 30] [--steady-s 60] [--no-restart] [--no-write]
//
// Real parts: etcd + kube-apiserver v1.37.2 (packages/device-controller/test/kube-cluster.ts, with its audit
// log), the CRDs and deploy/kubernetes/rbac.yaml, the controller as users run it (`edgetwin cloud --source
// kubernetes` from the production bundle, its own process, default status budget of 100 writes/s), the cloud
// link with TLS and per-node identities (`edgetwin node add` over the HTTP API, each edge joining with its
// token, pinning the generated certificate, then logging in with its own credential).
// Simulated: the 100 edges are MQTT clients speaking the edge end of the link (docs/cloud-link.md) in this
// process — they subscribe `desired/#`, keep what arrives, and send ReportBatches answered by acks — instead
// of 100 twins on SQLite, which would measure the edges and not the control plane on a 2-core machine.
//
// Measures:
//   1. apply -> every edge holds its devices: from the start of `kubectl apply --server-side` of all the
//      DeviceModels and Devices (in files of 1,000, 4 kubectl at a time) until every edge's DesiredIndex lists
//      all its devices and it has received each at the listed version;
//   2. steady state with every device reporting every --report-every-ms: API server requests per second by
//      the controller's identity, counted in kube-apiserver's audit log (every request to devices.kubeedge.io,
//      leases and events; the controller makes no others), split by verb/resource; reports acknowledged/s;
//      the controller's RSS (VmRSS of its process, and VmHWM, the peak);
//   3. (unless --no-restart) kube-apiserver restarted: time from it answering /readyz again to the controller's
//      re-list and to its next accepted status write.
// Baseline in the same run: the controller idle with the 10,000 objects synced and no reports (requests/s, RSS).
// Writes its `## Kubernetes at scale` section of docs/benchmarks.md.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeJoinToken, joinPassword } from '@edgetwin/api/join-token';
import { newSecret } from '@edgetwin/api/secret-file';
import { cloudTopics } from '@edgetwin/api/topics';
import { freePort, waitUntil } from '@edgetwin/eventbus/testing';
import mqtt, { type MqttClient } from 'mqtt';
import YAML from 'yaml';
import { CONTROLLER_USER, KUBE_VERSION, KubeCluster } from '../packages/device-controller/test/kube-cluster.js';
import { numberOption as opt, replaceSection } from './support.js';

const ROOT = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const DEVICES = opt('devices', 10_000);
const NODES = opt('nodes', 100);
const MODELS = opt('models', 4);
const REPORT_EVERY_MS = opt('report-every-ms', 10_000);
const STEADY_S = opt('steady-s', 60);
/** reports flow this long before the window (the first report of each device creates its DeviceStatus meanwhile) */
const WARMUP_S = opt('warmup-s', 30);
const WRITE = !args.includes('--no-write');
const RESTART = !args.includes('--no-restart');
const CHUNK = 1000;
const KUBECTL_PARALLEL = 4;
const NS = 'default';

const log = (m: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);
const nodeName = (i: number) => `edge-${String(i).padStart(3, '0')}`;
const deviceName = (i: number) => `dev-${String(i).padStart(6, '0')}`;
const modelName = (i: number) => `model-${i}`;
/** device i lives on node i % NODES and uses model i % MODELS */
const deviceNode = (i: number) => nodeName(i % NODES);

// ---------------------------------------------------------------- manifests

function manifests(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const models = [];
  for (let m = 0; m < MODELS; m++)
    models.push({
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'DeviceModel',
      metadata: { name: modelName(m), namespace: NS },
      spec: {
        protocol: 'virtual',
        properties: [
          { name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly' },
          { name: 'setpoint', type: 'FLOAT', accessMode: 'ReadWrite' },
        ],
      },
    });
  const modelFile = join(dir, 'models.yaml');
  writeFileSync(modelFile, models.map((o) => YAML.stringify(o)).join('---\n'));
  files.push(modelFile);
  for (let start = 0; start < DEVICES; start += CHUNK) {
    const docs: string[] = [];
    for (let i = start; i < Math.min(DEVICES, start + CHUNK); i++)
      docs.push(
        YAML.stringify({
          apiVersion: 'devices.kubeedge.io/v1beta1',
          kind: 'Device',
          metadata: { name: deviceName(i), namespace: NS },
          spec: {
            deviceModelRef: { name: modelName(i % MODELS) },
            nodeName: deviceNode(i),
            protocol: { protocolName: 'virtual' },
            properties: [
              { name: 'temperature', reportToCloud: true, visitors: { configData: { name: 'temperature' } } },
              { name: 'setpoint', desired: { value: String(20 + (i % 5)) } },
            ],
          },
        }),
      );
    const f = join(dir, `devices-${start / CHUNK}.yaml`);
    writeFileSync(f, docs.join('---\n'));
    files.push(f);
  }
  return files;
}

// ---------------------------------------------------------------- the controller process

interface Controller {
  child: ChildProcess;
  httpPort: number;
  mqttPort: number;
  token: string;
  dataDir: string;
  out: () => string;
}

async function startControllerProcess(kube: KubeCluster, dir: string): Promise<Controller> {
  const httpPort = await freePort();
  const mqttPort = await freePort();
  const dataDir = join(dir, 'controller');
  mkdirSync(dataDir, { recursive: true });
  const token = newSecret();
  const tokenFile = join(dir, 'api-token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'packages/cli/dist/edgetwin.js'),
      'cloud',
      '--source=kubernetes',
      `--kubeconfig=${kube.controllerKubeconfig}`,
      `--data-dir=${dataDir}`,
      `--http-port=${httpPort}`,
      `--mqtt-port=${mqttPort}`,
      `--api-token-file=${tokenFile}`,
    ],
    { env: { ...process.env, EDGETWIN_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const c = { child, httpPort, mqttPort, token, dataDir, out: () => out };
  await waitUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`controller exited ${child.exitCode}: ${out}`);
      try {
        return (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status === 200;
      } catch {
        return false;
      }
    },
    'the controller to be ready',
    120_000,
    200,
  );
  return c;
}

/** CPU seconds (user + system) the process has used so far. */
function cpuSecondsOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
}

async function addNode(c: Controller, name: string): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${c.httpPort}/identities/${name}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  if (!r.ok) throw new Error(`node add ${name}: HTTP ${r.status} ${await r.text()}`);
  return ((await r.json()) as { token: string }).token;
}

// ---------------------------------------------------------------- a simulated edge

class SimEdge {
  client!: MqttClient;
  /** what arrived: device id -> resourceVersion */
  readonly held = new Map<string, string>();
  index: Record<string, string> = {};
  syncedAt = 0;
  seq = 0;
  acked = 0;
  ackedReports = 0;
  refusals = 0;
  private readonly devices: number[] = [];
  private cursor = 0;
  private reportTimer?: NodeJS.Timeout;

  constructor(
    readonly node: string,
    private readonly expected: number,
    private readonly onSynced: () => void,
  ) {}

  addDevice(i: number): void {
    this.devices.push(i);
  }

  /** joins with the one-time token, pinning the certificate it names; later logins use the credential */
  async connect(url: string, ca: string, joinToken: string): Promise<void> {
    const t = decodeJoinToken(joinToken);
    const credential = newSecret();
    this.client = mqtt.connect(url, {
      clientId: `edgetwin-edge-${this.node}`,
      username: this.node,
      password: joinPassword(t.secret, credential),
      clean: false,
      protocolVersion: 4,
      ca,
      reconnectPeriod: 500,
      connectTimeout: 30_000,
      will: { topic: cloudTopics.presence(this.node), payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
    await new Promise<void>((res, rej) => {
      this.client.once('connect', () => res());
      this.client.once('error', rej);
    });
    this.client.options.password = credential;
    await this.client.subscribeAsync([cloudTopics.desiredFilter(this.node), cloudTopics.acks(this.node)], { qos: 1 });
    await this.client.publishAsync(cloudTopics.presence(this.node), 'online', { qos: 1, retain: true });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const prefix = `${cloudTopics.root}/${this.node}/`;
    const rest = topic.slice(prefix.length);
    if (rest === 'acks') {
      const ack = JSON.parse(payload.toString('utf8')) as { upTo: number; refused?: unknown };
      if (ack.refused) this.refusals++;
      if (ack.upTo > this.acked) {
        this.ackedReports += ack.upTo - this.acked;
        this.acked = ack.upTo;
      }
      return;
    }
    if (rest === 'desired/index') {
      this.index = (JSON.parse(payload.toString('utf8')) as { devices: Record<string, string> }).devices;
    } else if (rest.startsWith('desired/devices/')) {
      const id = rest.slice('desired/devices/'.length);
      if (payload.length === 0) this.held.delete(id);
      else
        this.held.set(
          id,
          (JSON.parse(payload.toString('utf8')) as { metadata: { resourceVersion: string } }).metadata.resourceVersion,
        );
    } else return;
    if (this.syncedAt === 0 && this.holdsAll()) {
      this.syncedAt = performance.now();
      this.onSynced();
    }
  }

  holdsAll(): boolean {
    const ids = Object.keys(this.index);
    return ids.length === this.expected && ids.every((id) => this.held.get(id) === this.index[id]);
  }

  /** every device reports its temperature every `everyMs`, sent as one batch per second */
  startReports(everyMs: number): void {
    const perSecond = Math.max(1, Math.round((this.devices.length * 1000) / everyMs));
    const epoch = `bench-${this.node}`;
    this.reportTimer = setInterval(() => {
      const entries = [];
      const now = Date.now();
      const after = this.seq;
      for (let k = 0; k < perSecond; k++) {
        const i = this.devices[this.cursor++ % this.devices.length] as number;
        entries.push({
          seq: ++this.seq,
          timestamp: now,
          kind: 'twin',
          deviceId: `${NS}/${deviceName(i)}`,
          twins: [
            {
              property: 'temperature',
              reported: { value: (20 + Math.random() * 5).toFixed(2), timestamp: now, type: 'float' },
            },
          ],
        });
      }
      const batch = { node: this.node, after, ackedSeq: this.acked, epoch, pass: 1, pending: 0, entries };
      this.client.publish(cloudTopics.reports(this.node), JSON.stringify(batch), { qos: 1 });
    }, 1000);
  }

  stopReports(): void {
    clearInterval(this.reportTimer);
  }

  async close(): Promise<void> {
    this.stopReports();
    await this.client.endAsync(true);
  }
}

// ---------------------------------------------------------------- audit-log counting

interface Window {
  from: number;
  to: number;
}

function controllerRequests(kube: KubeCluster, w: Window) {
  const reqs = kube.requests(CONTROLLER_USER).filter((r) => r.at >= w.from && r.at < w.to);
  const by = new Map<string, number>();
  for (const r of reqs) {
    const k = `${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ''}`;
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  const seconds = (w.to - w.from) / 1000;
  return {
    perSecond: reqs.length / seconds,
    breakdown: [...by.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${(n / seconds).toFixed(1)}/s`)
      .join(', '),
    codes: [...new Set(reqs.map((r) => r.code))].join(','),
  };
}

// ---------------------------------------------------------------- docs/benchmarks.md

const INTRO = `## Kubernetes at scale

What the controller asks of a real API server with thousands of devices (issue 14). etcd v3.7.0 + kube-apiserver
${KUBE_VERSION} with an audit log of our groups (which is how the controller's requests are counted: every request of
its ServiceAccount), the CRDs and \`deploy/kubernetes/rbac.yaml\`; the controller as shipped (\`edgetwin cloud --source
kubernetes\` from the production bundle, in its own process, default status budget: a burst then one write per device
per second, at most 100 writes/s and 8 in flight, Device.status written too); the cloud link with TLS and per-node
identities; simulated edges (MQTT clients speaking the edge end of the link, each joined with its \`edgetwin node add\`
token and pinning the generated certificate). Everything runs on the one machine, so the API server, etcd, the
controller and the edges share its 2 cores with the other engineers' work; the load averages say how busy it was.
Each run (one per size) replaces only its own subsection.
`;

/** Replaces this size's `### ` subsection of the `## Kubernetes at scale` section, keeping the other sizes'. */
async function writeRun(run: string): Promise<void> {
  const file = join(ROOT, 'docs/benchmarks.md');
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === '## Kubernetes at scale');
  let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  if (end < 0) end = lines.length;
  const runs = new Map<string, string>();
  if (start >= 0) {
    const body = lines.slice(start + 1, end).join('\n');
    for (const part of body.split(/^(?=### )/m).slice(1)) runs.set(part.split('\n')[0] as string, part.trimEnd());
  }
  runs.set(run.split('\n')[0] as string, run.trimEnd());
  const sizes = [...runs.keys()].sort(
    (a, b) => Number(a.replace(/\D/g, '')) - Number(b.replace(/\D/g, '')) || a.localeCompare(b),
  );
  await replaceSection(file, '## Kubernetes at scale', `${INTRO}\n${sizes.map((k) => runs.get(k)).join('\n\n')}\n`);
}

// ---------------------------------------------------------------- the run

async function main(): Promise<void> {
  const load0 = loadavg();
  log(`building the bundle; starting etcd + kube-apiserver ${KUBE_VERSION}`);
  execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'ignore' });
  const kube = await KubeCluster.start({ audit: true });
  let controller: Controller | undefined;
  const edges: SimEdge[] = [];
  try {
    await kube.installEdgetwin();
    const files = manifests(join(kube.dir, 'manifests'));
    controller = await startControllerProcess(kube, kube.dir);
    const pid = controller.child.pid as number;
    const emptyMem = memoryOf(pid);
    log(`controller up (pid ${pid}, RSS ${emptyMem.rssMiB.toFixed(0)} MiB); registering ${NODES} nodes`);

    let synced = 0;
    let allSynced: () => void = () => {};
    const allSyncedP = new Promise<void>((r) => {
      allSynced = r;
    });
    const perNode = new Map<string, number>();
    for (let i = 0; i < DEVICES; i++) perNode.set(deviceNode(i), (perNode.get(deviceNode(i)) ?? 0) + 1);
    const ca = readFileSync(join(controller.dataDir, 'link-tls', 'cert.pem'), 'utf8');
    for (let n = 0; n < NODES; n++) {
      const name = nodeName(n);
      const e = new SimEdge(name, perNode.get(name) ?? 0, () => {
        if (++synced === NODES) allSynced();
      });
      edges.push(e);
    }
    for (let i = 0; i < DEVICES; i++) edges[i % NODES]?.addDevice(i);
    const url = `mqtts://127.0.0.1:${controller.mqttPort}`;
    for (const e of edges) await e.connect(url, ca, await addNode(controller, e.node));
    log(`${NODES} edges joined; applying ${MODELS} models and ${DEVICES} devices (server-side, ${files.length} files)`);

    const t0 = performance.now();
    const applyTimes: number[] = [];
    const queue = [...files];
    // models first, so a device never waits for its model on the server side of the measurement
    await kube.kubectlOk(['apply', '--server-side', '-f', queue.shift() as string]);
    await Promise.all(
      Array.from({ length: KUBECTL_PARALLEL }, async () => {
        for (let f = queue.shift(); f; f = queue.shift()) {
          await kube.kubectlOk(['apply', '--server-side', '-f', f]);
          applyTimes.push(performance.now() - t0);
        }
      }),
    );
    const applyMs = Math.max(...applyTimes);
    log(`kubectl apply done after ${(applyMs / 1000).toFixed(1)} s; waiting for every edge to hold its devices`);
    // the bound on the wait is cleared once the edges are synced: left pending, its 10 minutes kept the
    // process alive after the results were written
    let syncBound: NodeJS.Timeout | undefined;
    await Promise.race([
      allSyncedP,
      new Promise((_, rej) => {
        syncBound = setTimeout(() => {
          const late = edges.filter((e) => e.syncedAt === 0);
          rej(
            new Error(
              `${late.length} edges never held all their devices, e.g. ${late[0]?.node}: index ${Object.keys(late[0]?.index ?? {}).length}, held ${late[0]?.held.size}\n${controller?.out()}`,
            ),
          );
        }, 600_000);
      }),
    ]).finally(() => clearTimeout(syncBound));
    const syncMs = Math.max(...edges.map((e) => e.syncedAt)) - t0;
    const firstSyncMs = Math.min(...edges.map((e) => e.syncedAt)) - t0;
    const syncedMem = memoryOf(pid);
    log(
      `every edge holds its devices after ${(syncMs / 1000).toFixed(1)} s (first edge ${(firstSyncMs / 1000).toFixed(1)} s)`,
    );

    // baseline: synced, nothing reporting
    const idleFrom = Date.now();
    await new Promise((r) => setTimeout(r, 20_000));
    const idle = controllerRequests(kube, { from: idleFrom, to: Date.now() });
    const idleMem = memoryOf(pid);
    log(`idle: ${idle.perSecond.toFixed(2)} req/s (${idle.breakdown}); RSS ${idleMem.rssMiB.toFixed(0)} MiB`);

    // steady state with reports flowing
    for (const e of edges) e.startReports(REPORT_EVERY_MS);
    const reportsFrom = Date.now();
    log(`reports flowing (${((DEVICES * 1000) / REPORT_EVERY_MS).toFixed(0)}/s); warm-up ${WARMUP_S} s`);
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    const warmedS = (Date.now() - reportsFrom) / 1000;
    const rssSamples: number[] = [];
    const ackedBefore = edges.reduce((s, e) => s + e.ackedReports, 0);
    const sentBefore = edges.reduce((s, e) => s + e.seq, 0);
    const steadyFrom = Date.now();
    const cpuFrom = cpuSecondsOf(pid);
    for (let s = 0; s < STEADY_S; s += 5) {
      await new Promise((r) => setTimeout(r, 5000));
      rssSamples.push(memoryOf(pid).rssMiB);
    }
    const steadyTo = Date.now();
    const cpuPct = ((cpuSecondsOf(pid) - cpuFrom) / ((steadyTo - steadyFrom) / 1000)) * 100;
    const steady = controllerRequests(kube, { from: steadyFrom, to: steadyTo });
    const statuses = kube
      .requests(CONTROLLER_USER)
      .filter((r) => r.verb === 'create' && r.resource === 'devicestatuses' && r.code === 201).length;
    const ackedPerS = (edges.reduce((s, e) => s + e.ackedReports, 0) - ackedBefore) / ((steadyTo - steadyFrom) / 1000);
    const sentPerS = (edges.reduce((s, e) => s + e.seq, 0) - sentBefore) / ((steadyTo - steadyFrom) / 1000);
    const steadyMem = memoryOf(pid);
    const lag = Math.max(...edges.map((e) => e.seq - e.acked));
    const refusals = edges.reduce((s, e) => s + e.refusals, 0);
    log(
      `steady: ${steady.perSecond.toFixed(1)} req/s (${steady.breakdown}; codes ${steady.codes}); reports sent ${sentPerS.toFixed(0)}/s acked ${ackedPerS.toFixed(0)}/s; ` +
        `CPU ${cpuPct.toFixed(0)} %; RSS ${Math.min(...rssSamples).toFixed(0)}-${Math.max(...rssSamples).toFixed(0)} MiB, peak ${steadyMem.hwmMiB.toFixed(0)} MiB; worst unacked ${lag}`,
    );

    let restart: { relistMs: number; writeMs: number; downMs: number; readyMs: number } | undefined;
    if (RESTART) {
      log('restarting kube-apiserver with reports flowing');
      const downAt = Date.now();
      await kube.stopApiServer();
      const startAt = Date.now();
      await kube.startApiServer();
      const readyAt = Date.now();
      const after = (pred: (r: { verb: string; resource: string; code?: number; at: number }) => boolean) =>
        kube.requests(CONTROLLER_USER).filter((r) => r.at >= startAt && r.code === 200 && pred(r));
      const relisted = () => after((r) => r.verb === 'list' && r.resource === 'devices');
      const wrote = () => after((r) => r.verb === 'patch');
      await waitUntil(() => relisted().length > 0 && wrote().length > 0, 'a re-list and a status write', 300_000, 2000);
      const first = (rs: Array<{ at: number }>) => Math.min(...rs.map((r) => r.at));
      restart = {
        downMs: startAt - downAt,
        readyMs: readyAt - startAt,
        relistMs: first(relisted()) - startAt,
        writeMs: first(wrote()) - startAt,
      };
      log(
        `restarted: /readyz after ${restart.readyMs} ms, re-listed after ${restart.relistMs} ms, status written after ${restart.writeMs} ms`,
      );
    }
    const finalMem = memoryOf(pid);
    const load1 = loadavg();

    const cpu = cpus()[0]?.model ?? 'CPU';
    const section = `### ${DEVICES.toLocaleString('en')} devices on ${NODES} edges, each reporting every ${REPORT_EVERY_MS / 1000} s

\`node packages/cli/bin/run-ts.js bench/kube-scale.ts --devices ${DEVICES} --nodes ${NODES} --models ${MODELS} --report-every-ms ${REPORT_EVERY_MS} --warmup-s ${WARMUP_S} --steady-s ${STEADY_S}\`
(${new Date().toISOString().slice(0, 16)}Z). Machine: ${cpus().length} x ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, shared with other
engineers' work: load average ${load0.map((l) => l.toFixed(2)).join(' ')} at the start, ${load1.map((l) => l.toFixed(2)).join(' ')} at the end.
${DEVICES.toLocaleString('en')} Devices (${DEVICES / NODES} per edge) of ${MODELS} DeviceModels.

| measured | result |
| --- | --- |
| \`kubectl apply --server-side\` of ${MODELS} models + ${DEVICES.toLocaleString('en')} devices (${files.length - 1} files of ${CHUNK}, ${KUBECTL_PARALLEL} kubectl at a time) | ${(applyMs / 1000).toFixed(1)} s |
| from the start of the apply until every edge holds all its devices (index complete, every device at its version) | **${(syncMs / 1000).toFixed(1)} s** (first edge: ${(firstSyncMs / 1000).toFixed(1)} s) |
| controller RSS: started, no objects / all synced / idle 20 s later | ${emptyMem.rssMiB.toFixed(0)} / ${syncedMem.rssMiB.toFixed(0)} / ${idleMem.rssMiB.toFixed(0)} MiB |
| baseline, synced and nobody reporting: API requests/s by the controller | ${idle.perSecond.toFixed(2)} (${idle.breakdown || 'none'}) |
| every device reporting every ${REPORT_EVERY_MS / 1000} s (${sentPerS.toFixed(0)} reports/s sent): API requests/s by the controller over ${STEADY_S} s, from ${warmedS.toFixed(0)} s after the reports began (DeviceStatus objects created by the end: ${statuses.toLocaleString('en')} of ${DEVICES.toLocaleString('en')}) | **${steady.perSecond.toFixed(1)}** (${steady.breakdown}) |
| controller CPU over that window (100 % = one core) | ${cpuPct.toFixed(0)} % |
| reports acknowledged to the edges at steady state | ${ackedPerS.toFixed(0)}/s (worst edge's unacknowledged at the end: ${lag}; refusals: ${refusals}) |
| controller RSS at steady state (5 s samples) / peak over the run (VmHWM) | ${Math.min(...rssSamples).toFixed(0)}-${Math.max(...rssSamples).toFixed(0)} / ${finalMem.hwmMiB.toFixed(0)} MiB |
${
  restart
    ? `| kube-apiserver stopped (SIGTERM, ${(restart.downMs / 1000).toFixed(1)} s to exit) and started again with reports flowing: from its start to /readyz / to the controller's re-list of devices / to its next status write accepted | ${(restart.readyMs / 1000).toFixed(1)} s / ${(restart.relistMs / 1000).toFixed(1)} s / ${(restart.writeMs / 1000).toFixed(1)} s |\n`
    : ''
}`;
    console.log(`\n${section}`);
    if (WRITE) {
      await writeRun(section);
      log('wrote docs/benchmarks.md');
    }
  } finally {
    await Promise.all(edges.map((e) => e.close().catch(() => {})));
    if (controller) {
      const c = controller.child;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await kube.stop();
  }
}

await main();
