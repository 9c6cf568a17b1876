// The controller against a real kube-apiserver + etcd + kube-controller-manager (issue 14), with the
// ClusterRole of deploy/kubernetes/rbac.yaml bound to its identity: devices applied with kubectl reach an
// edge twin over the cloud link; edge reports become DeviceStatus (owned by the Device, so the garbage
// collector deletes it with the Device) and Device.status; `kubectl edit` of a desired value reaches the
// twin; the controller follows an API server that crashes (410 -> re-list, changes made behind its back),
// an etcd compaction, and an outage longer than the edge's ack timeout while reports flow. The tests run in
// order on one cluster (one API server per file: the machine is shared).

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_VERSION, type Device, deviceTopic, writeStatusTopic } from '@edgetwin/api';
import type { BusClient } from '@edgetwin/eventbus';
import { type MessageCollector, startTcpProxy, type TcpProxy, waitUntil } from '@edgetwin/eventbus/testing';
import { repoRoot } from '@edgetwin/simulators/peers';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import type { CloudLinkEdge } from '../../devicetwin/src/cloud-link/index.js';
import type { DeviceTwin } from '../../devicetwin/src/index.js';
import { type CloudLink, startCloudLink } from '../src/cloud-link/index.js';
import { ControllerClient } from '../src/http/client.js';
import { type RunningController, startController } from '../src/index.js';
import { CONTROLLER_USER, KubeCluster } from './kube-cluster.js';
import { startTestEdge, type TestEdge } from './test-edge.js';
import { device, model } from './support.js';

const NODE = 'gateway-1';
const GROUP = 'devices.kubeedge.io';

const thermoModel = model('thermo', { temp: { type: 'INT', accessMode: 'ReadWrite' } });

/** a `thermo` on the edge node, with a desired value */
function thermo(name: string, desired = '20'): Device {
  const d = device(name, NODE, 'thermo');
  d.spec.properties![0]!.desired = { value: desired };
  return d;
}

let kube: KubeCluster;
let dir: string;
let controller: RunningController;
let cloudLink: CloudLink;
let edge: TestEdge;
let twin: DeviceTwin;
let edgeApp: BusClient;
let _edgeLink: CloudLinkEdge;
let results: MessageCollector;
/** between the controller and the API server, to freeze the network */
let proxy: TcpProxy;
const logLines: string[] = [];

async function apply(...objects: object[]): Promise<void> {
  await kube.kubectlOk(['apply', '-f', '-'], { input: objects.map((o) => YAML.stringify(o)).join('---\n') });
}

async function getJson(kind: string, name: string): Promise<Record<string, unknown> | undefined> {
  const r = await kube.kubectl(['get', kind, name, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined;
}

const edgeIds = () =>
  twin
    .listDevices()
    .map((d) => d.id)
    .sort();

/** What a mapper does: twin/update with the actual value, answered on twin/update/result once stored. */
let reportNo = 0;
async function reportValue(id: string, value: string): Promise<void> {
  const eventId = `kube-${++reportNo}`;
  await edgeApp.publish(
    deviceTopic(id, 'twin/update'),
    JSON.stringify({ event_id: eventId, timestamp: Date.now(), twin: { temp: { actual: { value } } } }),
  );
  await results.waitFor(
    (m) =>
      m.topic === deviceTopic(id, 'twin/update/result') && (m.json() as { event_id?: string }).event_id === eventId,
  );
}

async function allReportsAcked(timeoutMs: number): Promise<void> {
  const last = twin.outbox.lastSeq();
  await waitUntil(
    () => twin.outbox.ackedSeq() >= last,
    `the cloud to acknowledge reports up to ${last}`,
    timeoutMs,
    50,
  );
}

/** how often the edge has resent reports because the cloud did not acknowledge them in time */
async function resends(): Promise<number> {
  const m = (await twin.metrics.getSingleMetric('edgetwin_cloudlink_report_resends_total')?.get())?.values ?? [];
  return m.filter((v) => v.labels.reason === 'ack-timeout').reduce((n, v) => n + v.value, 0);
}

async function reportedInDeviceStatus(name: string): Promise<string | undefined> {
  const ds = await getJson('devicestatus', name);
  const twins = (ds?.status as { twins?: Array<{ propertyName: string; reported?: { value?: string } }> })?.twins;
  return twins?.find((t) => t.propertyName === 'temp')?.reported?.value;
}

async function startController_(): Promise<void> {
  controller = await startController({
    source: 'kubernetes',
    kubeconfig: kube.controllerKubeconfigVia(`https://127.0.0.1:${proxy.port}`),
    httpPort: 0,
    statusIntervalMs: 20,
    // shorter than the 30 s / 90 s defaults, so the frozen-network test stays short
    kubernetes: { requestTimeoutMs: 5000, watchIdleTimeoutMs: 5000 },
    logger: pino({ level: 'info' }, { write: (l: string) => logLines.push(l) }),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetwin-kube-ctl-'));
  kube = await KubeCluster.start({ controllerManager: true, audit: true });
  await kube.installEdgetwin();
  await apply(thermoModel, thermo('a'), thermo('b'));
  proxy = await startTcpProxy(kube.apiServerPort);
  await startController_();
  cloudLink = await startCloudLink({
    desired: controller.desired,
    status: controller.status,
    broker: { embedded: { port: 0 } },
    insecureAllowAnyNode: true, // node identities: cloud-link-identity.test.ts
    stateDbPath: join(dir, 'cloud-link.db'),
    registry: controller.metrics.registry,
  });
  edge = await startTestEdge({ dir, node: NODE, cloudUrl: cloudLink.url });
  ({ twin, app: edgeApp, results, link: _edgeLink } = edge);
}, 240_000);

afterAll(async () => {
  await edge?.close();
  await cloudLink?.close();
  await controller?.stop();
  await proxy?.close();
  await kube?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the controller on a real API server', () => {
  it('sends the devices applied with kubectl to their edge node', async () => {
    await waitUntil(() => edgeIds().join() === 'default/a,default/b', 'a and b on the edge', 20_000);
    await apply(thermo('c'));
    await waitUntil(() => edgeIds().includes('default/c'), 'c on the edge', 10_000);
  });

  it('writes an edge report to a DeviceStatus owned by its Device, and to Device.status', async () => {
    await reportValue('default/a', '21');
    await allReportsAcked(15_000);
    expect(await reportedInDeviceStatus('a')).toBe('21');
    const ds = (await getJson('devicestatus', 'a'))!;
    const dev = (await getJson('device', 'a'))!;
    expect((ds.metadata as { ownerReferences: unknown[] }).ownerReferences).toEqual([
      {
        apiVersion: API_VERSION,
        kind: 'Device',
        name: 'a',
        uid: (dev.metadata as { uid: string }).uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect((dev.status as { twins: Array<{ reported: { value: string } }> }).twins[0]?.reported.value).toBe('21');
    // through the status subresources
    const patches = kube.requests(CONTROLLER_USER).filter((r) => r.verb === 'patch');
    expect(patches.some((r) => r.resource === 'devicestatuses' && r.subresource === 'status' && r.code === 200)).toBe(
      true,
    );
    expect(patches.some((r) => r.resource === 'devices' && r.subresource === 'status' && r.code === 200)).toBe(true);
    // `kubectl get devices` shows the state the edge reported
    expect(await kube.kubectlOk(['get', 'devices'])).toMatch(/\na\s+gateway-1\s+thermo\s+virtual\s/);
  });

  it('brings a desired value changed with kubectl edit, and one set with edgetwin twin set, to the edge twin', async () => {
    const editor = join(dir, 'editor.sh');
    writeFileSync(editor, `#!/bin/sh\nsed -i 's/value: "20"/value: "26"/' "$1"\n`);
    chmodSync(editor, 0o755);
    await kube.kubectlOk(['edit', 'device', 'b'], { env: { KUBE_EDITOR: editor, EDITOR: editor } });
    await waitUntil(
      () => twin.getTwin('default/b')?.twins.temp?.expected?.value === '26',
      'b desired 26 on the edge',
      10_000,
    );
    // the controller's API writes with a guarded JSON patch on the Device (RBAC: patch devices)
    const client = new ControllerClient(controller.url, { token: controller.apiToken });
    await client.setDesired('default', 'c', 'temp', '18');
    await waitUntil(
      () => twin.getTwin('default/c')?.twins.temp?.expected?.value === '18',
      'c desired 18 on the edge',
      10_000,
    );
  });

  it('writes a refused write as a Kubernetes Event of the Device (kubectl describe device), a repeat counted up', async () => {
    // what a mapper says when the device refuses the desired value; then it writes, and is refused again
    const writeStatus = async (state: 'failed' | 'written') => {
      await edgeApp.publish(
        writeStatusTopic('default/a'),
        JSON.stringify({
          property: 'temp',
          desired: '20',
          state,
          reason: 'device refused the value',
          timestamp: Date.now(),
        }),
      );
      await waitUntil(() => twin.getTwin('default/a')?.twins.temp?.writeStatus?.state === state, `a ${state}`, 10_000);
      await allReportsAcked(15_000);
    };
    const describe_ = () => kube.kubectlOk(['describe', 'device', 'a']);
    await writeStatus('failed');
    await waitUntil(
      async () =>
        /Warning\s+WriteFailed\s+.*edgetwin-controller\s+temp=20: device refused the value/.test(await describe_()),
      'WriteFailed under Events of kubectl describe device a',
      15_000,
      100,
    );
    await writeStatus('written');
    await writeStatus('failed');
    await waitUntil(
      async () => /\(x2 over/.test(await describe_()),
      'the repeat counted up: (x2 over ...)',
      15_000,
      100,
    );
    const events = JSON.parse(
      await kube.kubectlOk([
        'get',
        'events',
        '--field-selector',
        'involvedObject.name=a,reason=WriteFailed',
        '-o',
        'json',
      ]),
    ) as { items: Array<{ count: number; reportingComponent: string; involvedObject: { kind: string; uid: string } }> };
    const dev = (await getJson('device', 'a'))!;
    expect(events.items).toHaveLength(1);
    expect(events.items[0]).toMatchObject({
      count: 2,
      reportingComponent: 'edgetwin-controller',
      involvedObject: { kind: 'Device', uid: (dev.metadata as { uid: string }).uid },
    });
  });

  it('re-lists after an API server crash, seeing a deletion made behind its back (410 Gone)', async () => {
    const listsBefore = kube.requests(CONTROLLER_USER).filter((r) => r.verb === 'list' && r.resource === 'devices');
    await kube.stopApiServer({ crash: true });
    // b disappears while nobody watches: only a re-list can tell
    await kube.etcdDelete(GROUP, 'devices', 'default', 'b');
    await kube.startApiServer();
    await waitUntil(() => !edgeIds().includes('default/b'), 'b removed from the edge', 60_000);
    const listsAfter = kube.requests(CONTROLLER_USER).filter((r) => r.verb === 'list' && r.resource === 'devices');
    expect(listsAfter.length).toBeGreaterThan(listsBefore.length);
    await apply(thermo('d'));
    await waitUntil(() => edgeIds().includes('default/d'), 'd on the edge', 30_000);
  }, 120_000);

  it('keeps following after etcd compacts its history and the API server restarts again', async () => {
    await apply(thermo('e'));
    await waitUntil(() => edgeIds().includes('default/e'), 'e on the edge', 15_000);
    await kube.compactEtcd();
    await kube.stopApiServer({ crash: true });
    await kube.startApiServer();
    // the watch resumes from a compacted resourceVersion: 410, re-list, and on
    await apply(thermo('f'));
    await waitUntil(() => edgeIds().includes('default/f'), 'f on the edge', 30_000);
    await reportValue('default/f', '5');
    await allReportsAcked(30_000);
    expect(await reportedInDeviceStatus('f')).toBe('5');
  }, 120_000);

  it('loses no report through an API server outage longer than the edge ack timeout', async () => {
    const before = await resends();
    await kube.stopApiServer({ crash: true });
    // reports keep flowing on the edge while the cloud cannot write them; the edge resends after 10 s
    let n = 0;
    let flowing = true;
    const flow = (async () => {
      while (flowing) {
        await reportValue('default/a', String(100 + ++n));
        // pacing the load at about 10 reports/s (a sensor), not waiting for anything
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const downAt = Date.now();
    await waitUntil(async () => (await resends()) > before, 'the edge to resend after its ack timeout', 30_000, 200);
    // the outage the issue saw stall reports for minutes lasted ~45 s: EDGETWIN_KUBE_OUTAGE_MS=45000 holds it that
    // long (for repeated trials by hand; the default keeps the tier short: down until the edge has resent)
    const holdMs = Number(process.env.EDGETWIN_KUBE_OUTAGE_MS) || 0;
    if (holdMs > 0)
      await waitUntil(() => Date.now() - downAt >= holdMs, `an outage of ${holdMs} ms`, holdMs + 5000, 250);
    await kube.startApiServer();
    const upAt = Date.now();
    flowing = false;
    await flow;
    const last = String(100 + n);
    // everything reported during the outage is written within a bound once the server is back
    await allReportsAcked(30_000);
    expect(await reportedInDeviceStatus('a')).toBe(last);
    if (holdMs > 0)
      process.stdout.write(
        `outage trial: down ${((upAt - downAt) / 1000).toFixed(1)} s, ${n} reports, all acknowledged ${((Date.now() - upAt) / 1000).toFixed(1)} s after /readyz\n`,
      );
  }, 120_000);

  it('gets over a network to the API server that freezes (no reset, no answer): reports and desired values flow again', async () => {
    const before = await resends();
    proxy.freeze();
    // while frozen, open connections carry nothing and new ones are refused
    await reportValue('default/c', '31');
    await waitUntil(async () => (await resends()) > before, 'the edge to resend after its ack timeout', 30_000, 200);
    proxy.restore();
    // Note: this passes with the request deadline and watch idle timeout set to 10 minutes too (checked by
    // hand): client-node opened a new connection per write, so no write was in flight on a frozen one. What
    // the deadline and the idle reopen do is tested on the fake server (kubernetes-source.test.ts).
    await allReportsAcked(30_000);
    expect(await reportedInDeviceStatus('c')).toBe('31');
    await apply(thermo('c', '40'));
    await waitUntil(
      () => twin.getTwin('default/c')?.twins.temp?.expected?.value === '40',
      'c desired 40 on the edge',
      30_000,
    );
  }, 120_000);

  it('garbage-collects the DeviceStatus with its Device (kube-controller-manager), and the edge drops the device', async () => {
    expect(await getJson('devicestatus', 'a')).toBeDefined();
    await kube.kubectlOk(['delete', 'device', 'a', '--wait=false']);
    await waitUntil(() => !edgeIds().includes('default/a'), 'a removed from the edge', 15_000);
    await waitUntil(
      async () => (await getJson('devicestatus', 'a')) === undefined,
      'DeviceStatus a collected',
      60_000,
      250,
    );
  }, 120_000);

  it('needs every verb the ClusterRole grants, and was never refused one', () => {
    const reqs = kube.requests(CONTROLLER_USER);
    expect(kube.refusals()).toEqual([]);
    const used = new Set(reqs.map((r) => `${r.resource}${r.subresource ? `/${r.subresource}` : ''}:${r.verb}`));
    const granted = new Set(roleGrants('ClusterRole'));
    // Secrets (node identities, the link certificate) are the namespaced Role's; kube-leader.test.ts checks
    // that every verb of it is used
    const grantedAny = new Set([...granted, ...roleGrants('Role')]);
    expect([...used].filter((u) => !grantedAny.has(u))).toEqual([]);
    // what only KubeEdge's own CRDs (no status subresource) need: compat/kube-apiserver.test.ts uses them
    const forKubeedgeCrds = ['devices:get', 'devicestatuses:get', 'devicestatuses:patch'];
    expect([...granted].filter((g) => !used.has(g) && !forKubeedgeCrds.includes(g))).toEqual([]);
  });

  it('fails visibly without a verb it needs, and recovers once the role has it again', async () => {
    const rbac = readFileSync(join(repoRoot, 'deploy/kubernetes/rbac.yaml'), 'utf8');
    // the role without `create` on devicestatuses: a new device's first report cannot be stored
    const without = rbac.replace('verbs: [get, list, watch, create, patch]', 'verbs: [get, list, watch, patch]');
    expect(without).not.toBe(rbac);
    await kube.kubectlOk(['apply', '-f', '-'], { input: without });
    await apply(thermo('g'));
    await waitUntil(() => edgeIds().includes('default/g'), 'g on the edge', 15_000);
    const refused = () =>
      kube
        .requests(CONTROLLER_USER)
        .some((r) => r.verb === 'create' && r.resource === 'devicestatuses' && r.code === 403);
    await waitUntil(
      async () => {
        await reportValue('default/g', '7');
        return refused();
      },
      'the DeviceStatus create refused with 403',
      30_000,
      500,
    );
    expect(twin.outbox.ackedSeq()).toBeLessThan(twin.outbox.lastSeq());
    await kube.kubectlOk(['apply', '-f', join(repoRoot, 'deploy/kubernetes/rbac.yaml')]);
    await allReportsAcked(30_000);
    expect(await reportedInDeviceStatus('g')).toBe('7');
  }, 120_000);
});

/** `resource[/sub]:verb` for every rule of the rbac.yaml roles of this kind. */
function roleGrants(kind: 'ClusterRole' | 'Role'): string[] {
  const docs = YAML.parseAllDocuments(readFileSync(join(repoRoot, 'deploy/kubernetes/rbac.yaml'), 'utf8'));
  const roles = docs.map((d) => d.toJS() as { kind: string; rules?: Array<{ resources: string[]; verbs: string[] }> });
  const rules = roles.filter((r) => r.kind === kind).flatMap((r) => r.rules ?? []);
  return rules.flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${res}:${v}`)));
}
