// End to end on the embedded default: `twin set` (ControllerClient.setDesired, what `edgetwin twin set`
// calls) until the simulated device holds the value, and until the cloud shows it as reported.
//
//   node packages/cli/bin/run-ts.js bench/e2e.ts [--samples 200] [--no-write]
//
// The stack is the one `edgetwin up` runs, composed by packages/cli/src/compose (startCloud: controller on
// its embedded SQLite store + cloud-link broker; startEdge: edge broker, DeviceTwin on SQLite, edge end
// of the cloud link, the virtualProtocol mapper in-process), on ephemeral ports and a temp data dir.
// Devices are virtual echo devices (visitor generator `echo`: a written value is held and read back),
// applied through the controller's HTTP API. Each scenario runs in its own child process, so the RSS
// reported is that of one process holding the whole stack (cloud + edge + mapper + bench clients).
//
// Per sample (one at a time, a fresh value each time):
//   t0  just before ControllerClient.setDesired
//   t1  the simulated device holds the value (in-process hook on VirtualDevice.set; the mapper's write)
//   t1r the mapper's report batch carrying the value is seen on the edge broker
//   t2  the cloud shows it reported: the embedded store's watch (Source.onEvent) emits the Device with
//       status.twins[value].reported = value, i.e. the status write is committed; a GET through the
//       HTTP API right after confirms the API shows it.
// Baseline in the same process, on the same brokers: one MQTT hop (QoS 1 publish -> subscriber receives).
// Writes the `## end to end` section of docs/benchmarks.md (replacing only that section).

import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { cloudTopics, decodeMapperReports, reportsTopic } from '@edgetwin/api';
import { ControllerClient, EmbeddedStore, StatusCoalescer } from '@edgetwin/device-controller';
import { edgeClientId } from '@edgetwin/device-controller/cloud-link/index';
import { loadEdgeCredential } from '@edgetwin/devicetwin/cloud-link/node-credential';
import { connectBus, startBroker } from '@edgetwin/eventbus';
import { EDGE_SERVICE_USER, readEdgeServicePassword } from '@edgetwin/eventbus/edge-bus-acl';
import { VirtualDevice } from '@edgetwin/mappers';
import pino from 'pino';
import { Lifecycle } from '../packages/cli/src/compose/lifecycle.js';
import { hopEnd, hopMark, hopReport, hopSlowest, hopStart, installHopTrace, startProfile } from './hop-trace.js';
import { loadAverage, loadLine } from './support.js';
import { localNodeJoinToken } from '../packages/cli/src/compose/local-node.js';
import { startCloud } from '../packages/cli/src/compose/start-cloud.js';
import { startEdge } from '../packages/cli/src/compose/start-edge.js';

const ROOT = resolve(import.meta.dirname, '..');
const SELF = resolve(import.meta.dirname, 'e2e.ts');
const RUN_TS = join(ROOT, 'packages/cli/bin/run-ts.js');
const NODE = 'bench-node';
const NS = 'default';
const PROTOCOL = 'virtualProtocol';

const LOAD_AT_START = loadAverage();
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const optS = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};

interface Scenario {
  label: string;
  devices: number;
  samples: number;
  /** collectCycle and reportCycle of every property, ms */
  cycleMs: number;
  /** EDGETWIN_STATUS_INTERVAL_MS for the controller; undefined = as shipped (1000) */
  statusIntervalMs?: number;
  /** ms between samples */
  gapMs: number;
  /** 'embedded': startEdge's own broker (persistent, as shipped); 'memory': an in-memory eventbus broker passed as brokerUrl */
  edgeBroker: 'embedded' | 'memory';
  /** how long the stack's CPU with nothing set is measured, ms (--idle-seconds) */
  idleMs: number;
}

interface Stats {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

interface Result {
  scenario: Scenario;
  setupMs: { applied: number; configsOnEdge: number; allOnline: number; firstReport: number; cloudAllReported: number };
  rssAfterSetupMiB: number;
  rssEndMiB: number;
  /** the process's CPU with nothing set (devices polling, state reports, heartbeats), % of one core */
  idleCpuPercent: number;
  /** of that CPU, the ms per second spent in the busiest tenth of the second (the burst a command can meet) */
  idleBusiestTenthMs: number;
  baselineEdge: Stats;
  baselineCloud: Stats;
  http: Stats;
  delta: Stats;
  device: Stats;
  sink: Stats;
  mapperReport: Stats;
  cloud: Stats;
  lost: number;
  lostDetail?: string[];
  /** the three slowest round trips, stage by stage (ms after setDesired) */
  slowest?: string[];
  apiMismatch: number;
  warnings: Record<string, number>;
  wallMs: number;
  /** why the scenario could not be measured */
  failure?: string;
}

function stats(xs: number[]): Stats {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const q = (p: number) => (s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!);
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1] ?? Number.NaN };
}

const devName = (i: number) => `e2e-${String(i).padStart(4, '0')}`;

function manifests(devices: number, cycleMs: number): { file: string; text: string }[] {
  const model = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: e2e-echo
  namespace: ${NS}
spec:
  protocol: ${PROTOCOL}
  properties:
    - name: value
      type: INT
      accessMode: ReadWrite
`;
  const docs: string[] = [];
  for (let i = 0; i < devices; i++)
    docs.push(`apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: ${devName(i)}
  namespace: ${NS}
spec:
  deviceModelRef:
    name: e2e-echo
  nodeName: ${NODE}
  protocol:
    protocolName: ${PROTOCOL}
  properties:
    - name: value
      desired:
        value: "0"
      visitors:
        protocolName: ${PROTOCOL}
        configData:
          name: value
          generator: echo
      collectCycle: ${cycleMs}
      reportCycle: ${cycleMs}
      reportToCloud: true
`);
  return [
    { file: 'e2e-model.yaml', text: model },
    { file: 'e2e-devices.yaml', text: docs.join('---\n') },
  ];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `ready()` holds, checked by `check` calls from event handlers; rejects after timeoutMs. */
function until(
  what: string,
  timeoutMs: number,
  ready: () => boolean,
  arm: (check: () => void) => void,
): Promise<number> {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    const check = () => {
      if (ready()) {
        clearTimeout(t);
        res(performance.now());
      }
    };
    arm(check);
    check();
  });
}

/** Warn/error lines of the stack's log, by message; lines logged once the stack was being stopped are marked. */
async function readWarnings(logFile: string, stoppingAt: number): Promise<Record<string, number>> {
  const warnings: Record<string, number> = {};
  try {
    const text = await readFile(logFile, 'utf8');
    for (const line of text.split('\n').filter(Boolean)) {
      try {
        const j = JSON.parse(line) as { msg?: string; level?: number; time?: number };
        const when = (j.time ?? 0) >= stoppingAt ? ' (while stopping the stack)' : '';
        const key = `${j.level === 50 ? 'error' : j.level === 40 ? 'warn' : String(j.level)}: ${j.msg ?? ''}${when}`;
        warnings[key] = (warnings[key] ?? 0) + 1;
      } catch {}
    }
  } catch {}
  return warnings;
}

// ---------------------------------------------------------------- child: one scenario in one process
async function runScenario(sc: Scenario): Promise<Result> {
  const wall0 = performance.now();
  const hops = process.env.EDGETWIN_E2E_HOPS === '1';
  if (hops) installHopTrace();
  if (sc.statusIntervalMs !== undefined) process.env.EDGETWIN_STATUS_INTERVAL_MS = String(sc.statusIntervalMs);
  const dataDir = mkdtempSync(join(os.tmpdir(), 'edgetwin-e2e-'));
  const logFile = join(dataDir, 'warn.log');
  const logger = pino({ level: 'warn' }, pino.destination({ dest: logFile, sync: true }));
  const life = new Lifecycle(logger);

  // In-process hooks (instrumentation only, nothing is changed): the embedded store instance (its watch
  // is the controller's own event stream) and the simulated devices' set() (the device holding a value).
  let store: EmbeddedStore | undefined;
  const origStart = EmbeddedStore.prototype.start;
  EmbeddedStore.prototype.start = function (this: EmbeddedStore) {
    store = this;
    return origStart.call(this);
  };
  const deviceWaiters = new Map<string, { value: number; resolve: (t: number) => void }>();
  const origSet = VirtualDevice.prototype.set;
  VirtualDevice.prototype.set = function (this: VirtualDevice, name, value, now) {
    origSet.call(this, name, value, now);
    if (hops) hopMark('device set');
    const w = deviceWaiters.get(this.id);
    if (w && name === 'value' && Number(value) === w.value) {
      deviceWaiters.delete(this.id);
      w.resolve(performance.now());
    }
  };

  // ... and the controller's status sink (StatusCoalescer.stageReports, which the cloud link calls; applyReports
  // goes through it too): when the edge's report arrives in the controller, before the coalescer writes it.
  const sinkWaiters = new Map<string, { value: number; resolve: (t: number) => void }>();
  const origStage = StatusCoalescer.prototype.stageReports;
  StatusCoalescer.prototype.stageReports = function (this: StatusCoalescer, node, entries) {
    const now = performance.now();
    if (hops) hopMark('coalescer staged a batch');
    for (const e of entries) {
      if (e.kind !== 'twin') continue;
      const w = sinkWaiters.get(e.deviceId);
      const r = e.twins.find((t) => t.property === 'value')?.reported;
      if (w && r && Number(r.value) === w.value) {
        sinkWaiters.delete(e.deviceId);
        w.resolve(now);
      }
    }
    return origStage.call(this, node, entries);
  };

  const cloud = await startCloud(
    {
      source: 'embedded',
      dataDir,
      httpHost: '127.0.0.1',
      httpPort: 0,
      mqttHost: '127.0.0.1',
      mqttPort: 0,
      logger,
    },
    life,
  );
  if (!store) throw new Error('could not hook the embedded store (startCloud did not start an EmbeddedStore)');
  let edgeBrokerUrl: string | undefined;
  if (sc.edgeBroker === 'memory') {
    const b = await startBroker({ host: '127.0.0.1', port: 0, logger: logger.child({ part: 'edge-broker' }) });
    life.add('edge broker (in memory)', () => b.close());
    edgeBrokerUrl = b.url;
  }
  const joinToken = await localNodeJoinToken(cloud.nodes, NODE, dataDir);
  const edge = await startEdge(
    {
      node: NODE,
      ...(edgeBrokerUrl ? { brokerUrl: edgeBrokerUrl } : {}),
      dataDir,
      cloudUrl: cloud.linkUrl,
      ...(joinToken ? { joinToken } : {}),
      mqttHost: '127.0.0.1',
      mqttPort: 0,
      mappers: [PROTOCOL],
      logger,
    },
    life,
  );
  const client = new ControllerClient(cloud.controllerUrl, { token: cloud.apiToken });

  // -- observers on the edge broker
  // the mapper-facing edgetwin/v1 topics reach only the edge's service user (issue 10): observe as it
  const service = edgeBrokerUrl
    ? {}
    : { username: EDGE_SERVICE_USER, password: readEdgeServicePassword(dataDir, NODE) };
  const obs = await connectBus({ url: edge.brokerUrl, clientId: 'e2e-observer', logger, ...service });
  life.add('observer', () => obs.close());
  const configs = new Set<string>();
  const online = new Set<string>();
  const reported = new Set<string>();
  let setupCheck: () => void = () => {};
  const reportWaiters = new Map<string, { value: number; resolve: (t: number) => void }>();
  await obs.subscribe(`edgetwin/v1/nodes/${NODE}/mappers/+/devices/+/+`, (topic, payload) => {
    const id = topic.split('/').slice(-2).join('/');
    if (payload.length > 0) configs.add(id);
    setupCheck();
  });
  // what apps see: the twin's state/update/result (our mappers send their state on the report channel);
  // unsubscribed once every device is online, so no observer of it adds to the stack's work while sampling
  const stopWatchingState = await obs.subscribe('$hw/events/device/+/+/state/update/result', (topic, payload) => {
    const id = topic.split('/').slice(3, 5).join('/');
    try {
      if ((JSON.parse(payload.toString()) as { device?: { state?: string } }).device?.state === 'online')
        online.add(id);
    } catch {}
    setupCheck();
  });
  const deltaWaiters = new Map<string, { value: number; resolve: (t: number) => void }>();
  await obs.subscribe('$hw/events/device/+/+/twin/update/delta', (topic, payload) => {
    const id = topic.split('/').slice(3, 5).join('/');
    const w = deltaWaiters.get(id);
    if (!w) return;
    try {
      const msg = JSON.parse(payload.toString()) as { twin?: Record<string, { expected?: { value?: string } }> };
      if (Number(msg.twin?.value?.expected?.value) === w.value) {
        deltaWaiters.delete(id);
        w.resolve(performance.now());
      }
    } catch {}
  });
  // the mapper's readings: its report batches to the twin (issue 15's report channel)
  await obs.subscribe(reportsTopic(NODE, PROTOCOL), (_topic, payload) => {
    const now = performance.now();
    const d = decodeMapperReports(payload);
    if (!d.ok) return;
    for (const e of d.value.entries) {
      const id = e[0] as string;
      reported.add(id);
      const w = reportWaiters.get(id);
      if (!w) continue;
      for (let i = 1; i < e.length; i += 2)
        if (e[i] === 'value' && Number(e[i + 1]) === w.value) {
          reportWaiters.delete(id);
          w.resolve(now);
        }
    }
    setupCheck();
  });

  // -- the cloud's view: the store's watch
  const cloudWaiters = new Map<string, { value: number; resolve: (t: number) => void }>();
  store.onEvent((ev) => {
    if (ev.type !== 'MODIFIED' || ev.object.kind !== 'Device') return;
    const id = `${ev.object.metadata.namespace}/${ev.object.metadata.name}`;
    const w = cloudWaiters.get(id);
    if (!w) return;
    if (hops)
      hopMark(
        `store event (${ev.object.status?.twins?.some((t) => t.reported?.value === String(w.value)) ? 'reported' : 'desired'})`,
      );
    const twin = (ev.object.status?.twins ?? []).find((t) => t.propertyName === 'value');
    if (Number(twin?.reported?.value) === w.value && twin?.reported?.value !== undefined) {
      cloudWaiters.delete(id);
      w.resolve(performance.now());
    }
  });

  // -- apply, and wait for every device to appear on the edge
  const ids = Array.from({ length: sc.devices }, (_, i) => `${NS}/${devName(i)}`);
  const a0 = performance.now();
  await client.apply(manifests(sc.devices, sc.cycleMs));
  const a1 = performance.now();
  const setupTimeout = opt('setup-timeout', 30_000);
  const tConfigs = until(
    'device configs on the edge',
    setupTimeout,
    () => configs.size >= sc.devices,
    (c) => {
      const prev = setupCheck;
      setupCheck = () => {
        prev();
        c();
      };
    },
  );
  const tOnline = until(
    'every device online',
    setupTimeout,
    () => ids.every((id) => online.has(id)),
    (c) => {
      const prev = setupCheck;
      setupCheck = () => {
        prev();
        c();
      };
    },
  );
  const tReport = until(
    'a first report from every device',
    setupTimeout,
    () => reported.size >= sc.devices,
    (c) => {
      const prev = setupCheck;
      setupCheck = () => {
        prev();
        c();
      };
    },
  );
  let c1: number;
  let o1: number;
  let r1: number;
  try {
    [c1, o1, r1] = await Promise.all([tConfigs, tOnline, tReport]);
    await stopWatchingState();
  } catch (e) {
    const failure = `${(e as Error).message}: after ${Math.round(performance.now() - a0)} ms the edge broker had carried ${configs.size} of ${sc.devices} mapper device configs, ${online.size} devices reported online, ${reported.size} reported a value`;
    const rss = process.memoryUsage().rss / 2 ** 20;
    const stoppingAt = Date.now();
    await life.stopAll();
    const empty = stats([]);
    return {
      scenario: sc,
      setupMs: {
        applied: a1 - a0,
        configsOnEdge: Number.NaN,
        allOnline: Number.NaN,
        firstReport: Number.NaN,
        cloudAllReported: Number.NaN,
      },
      rssAfterSetupMiB: rss,
      rssEndMiB: rss,
      idleCpuPercent: Number.NaN,
      idleBusiestTenthMs: Number.NaN,
      baselineEdge: empty,
      baselineCloud: empty,
      http: empty,
      delta: empty,
      device: empty,
      sink: empty,
      mapperReport: empty,
      cloud: empty,
      lost: 0,
      apiMismatch: 0,
      warnings: await readWarnings(logFile, stoppingAt),
      wallMs: performance.now() - wall0,
      failure,
    };
  }
  setupCheck = () => {};
  // the cloud shows every device's first reported value (the start-up reports drain through the controller's
  // status writes, capped at 100/s by default), then a short settle before measuring
  const hooked = store;
  let cloudAll = Number.NaN;
  for (const deadline = performance.now() + setupTimeout; performance.now() < deadline; await sleep(50)) {
    const ds = hooked.devices();
    if (ds.length >= sc.devices && ds.every((d) => (d.status?.twins ?? []).some((t) => t.reported !== undefined))) {
      cloudAll = performance.now();
      break;
    }
  }
  // EDGETWIN_E2E_PROFILE_IDLE=file.cpuprofile: a V8 CPU profile of 5 s of this settle, nothing set (diagnostic)
  const idleProfile = await startProfile(process.env.EDGETWIN_E2E_PROFILE_IDLE);
  const idleCpu0 = process.cpuUsage();
  const idle0 = performance.now();
  // where in the second the idle stack spends its CPU: ms per tenth of the second (by the wall clock, which the
  // cycles' grid follows), sampled every 10 ms; a burst shows as one tenth holding most of it (issue 15 target 5)
  const tenths = new Array<number>(10).fill(0);
  let lastAt = Date.now();
  let lastCpu = idleCpu0;
  const sampler = setInterval(() => {
    const at = Date.now();
    const c = process.cpuUsage();
    tenths[Math.floor((lastAt % 1000) / 100)]! += (c.user - lastCpu.user + c.system - lastCpu.system) / 1000;
    lastAt = at;
    lastCpu = c;
  }, 10);
  await sleep(idleProfile ? 5000 : Math.max(sc.idleMs, (sc.statusIntervalMs ?? 1000) + 200));
  clearInterval(sampler);
  const idleCpu = process.cpuUsage(idleCpu0);
  const idleSeconds = (performance.now() - idle0) / 1000;
  const idleBusiestTenthMs = Math.max(...tenths) / idleSeconds;
  await idleProfile?.();
  // the stack's own CPU with nothing set (the devices polling, heartbeats): per ms of wall time
  const backgroundCpuPerMs = (idleCpu.user + idleCpu.system) / 1000 / (performance.now() - idle0);
  const rssAfterSetupMiB = process.memoryUsage().rss / 2 ** 20;

  // -- baseline: one MQTT hop on each broker, same process, same load. Edge: QoS 1 publish -> a subscriber
  // receives it. Cloud link: a node may only publish its own reports and read its own acks (broker ACL), so its
  // hop is a QoS 1 publish of an empty ReportBatch on its reports topic until the broker's PUBACK (the same two
  // legs through the broker), by a second node registered for it and logged in as an edge does.
  async function roundTrips(send: () => Promise<number>): Promise<Stats> {
    const xs: number[] = [];
    for (let i = 0; i < 200; i++) {
      xs.push(await send());
      await sleep(2);
    }
    return stats(xs);
  }
  async function edgeHop(): Promise<Stats> {
    const topic = 'bench/e2e/hop';
    const sub = await connectBus({ url: edge.brokerUrl, clientId: 'e2e-hop-sub-edge', logger });
    const pub = await connectBus({ url: edge.brokerUrl, clientId: 'e2e-hop-pub-edge', logger });
    let waiting: ((t: number) => void) | undefined;
    await sub.subscribe(topic, () => waiting?.(performance.now()), { qos: 1 });
    const r = await roundTrips(async () => {
      const got = new Promise<number>((res) => {
        waiting = res;
      });
      const t0 = performance.now();
      await pub.publish(topic, '{"x":1}', { qos: 1 });
      return (await got) - t0;
    });
    await pub.close();
    await sub.close();
    return r;
  }
  async function cloudHop(): Promise<Stats> {
    const HOP_NODE = 'e2e-hop';
    if (!cloud.nodes) throw new Error('the cloud runs no node registry (an external broker)');
    const hopDir = mkdtempSync(join(os.tmpdir(), 'edgetwin-e2e-hop-'));
    const cred = loadEdgeCredential({
      dataDir: hopDir,
      node: HOP_NODE,
      joinToken: cloud.nodes.add(HOP_NODE, { rejoin: true }),
    });
    if (!cred) throw new Error('no credential for the hop node');
    const pub = await connectBus({
      url: cloud.linkUrl,
      clientId: edgeClientId(HOP_NODE),
      username: HOP_NODE,
      password: cred.password,
      ...(cloud.tls ? { ca: cloud.tls.cert } : {}),
      logger,
    });
    cred.accepted();
    const topic = cloudTopics.reports(HOP_NODE);
    const body = JSON.stringify({ node: HOP_NODE, entries: [] });
    const r = await roundTrips(async () => {
      const t0 = performance.now();
      await pub.publish(topic, body, { qos: 1 });
      return performance.now() - t0;
    });
    await pub.close();
    await rm(hopDir, { recursive: true, force: true });
    return r;
  }
  const baselineEdge = await edgeHop();
  const baselineCloud = await cloudHop().catch((err: Error) => {
    process.stderr.write(`cloud hop baseline not measured: ${err.message}\n`);
    return stats([]);
  });

  // -- samples; the event loop's delays meanwhile (everything runs on this one loop: a stall delays every stage)
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
  // EDGETWIN_E2E_PROFILE=file.cpuprofile: a V8 CPU profile of the sampling only (diagnostic)
  const stopProfile = await startProfile(process.env.EDGETWIN_E2E_PROFILE);
  const cpu0 = process.cpuUsage();
  const sampling0 = performance.now();
  const http: number[] = [];
  const toDelta: number[] = [];
  const toDevice: number[] = [];
  const toSink: number[] = [];
  const toReport: number[] = [];
  const toCloud: number[] = [];
  let lost = 0;
  const lostDetail: string[] = [];
  let apiMismatch = 0;
  let value = 1000;
  // 1 x 1,000: a stride through the devices (7919 is prime to 1,000), so no device is set twice within
  // 1,000 samples, far more than a second apart: issue 15's "each device set at most once per second"
  const nextIndex = (i: number) => (sc.devices <= 10 ? i % sc.devices : (i * 7919) % sc.devices);
  for (let i = 0; i < sc.samples; i++) {
    const id = ids[nextIndex(i)]!;
    const name = id.split('/')[1]!;
    const v = ++value;
    const timeout = 12_000;
    const wait = (m: Map<string, { value: number; resolve: (t: number) => void }>) =>
      new Promise<number>((res) => {
        const t = setTimeout(() => {
          m.delete(id);
          res(Number.NaN);
        }, timeout);
        m.set(id, {
          value: v,
          resolve: (x) => {
            clearTimeout(t);
            res(x);
          },
        });
      });
    const pDelta = wait(deltaWaiters);
    const pSink = wait(sinkWaiters);
    const pDevice = wait(deviceWaiters);
    const pReport = wait(reportWaiters);
    const pCloud = wait(cloudWaiters);
    const t0 = performance.now();
    if (hops) hopStart(name, String(v), t0);
    await client.setDesired(NS, name, 'value', String(v));
    const th = performance.now();
    if (hops) hopMark('setDesired answered');
    const [t1, t1r, t2, td, ts] = await Promise.all([pDevice, pReport, pCloud, pDelta, pSink]);
    if (hops) hopEnd();
    if (Number.isNaN(t1) || Number.isNaN(t2) || Number.isNaN(t1r)) {
      lost++;
      process.stderr.write(
        `sample ${i} ${id}=${v} lost: delta ${f(td - t0)} device ${f(t1 - t0)} report ${f(t1r - t0)} at controller ${f(ts - t0)} cloud ${f(t2 - t0)} ms\n`,
      );
      lostDetail.push(
        `sample ${i}: delta ${f(td - t0)}, device ${f(t1 - t0)}, mapper report ${f(t1r - t0)}, at controller ${f(ts - t0)}, cloud ${f(t2 - t0)} ms`,
      );
      if (lost > 5) throw new Error(`more than 5 samples lost in ${sc.label}`);
      continue;
    }
    http.push(th - t0);
    toDelta.push(td - t0);
    toSink.push(ts - t0);
    toDevice.push(t1 - t0);
    toReport.push(t1r - t0);
    toCloud.push(t2 - t0);
    const detail = await client.device(NS, name);
    const tw = (detail.device.status?.twins ?? []).find((t) => t.propertyName === 'value');
    if (Number(tw?.reported?.value) !== v) apiMismatch++;
    if (sc.gapMs > 0) await sleep(sc.gapMs);
  }
  const rssEndMiB = process.memoryUsage().rss / 2 ** 20;
  const cpu = process.cpuUsage(cpu0);
  process.stderr.write(
    `  process CPU while sampling: ${f(((cpu.user + cpu.system) / 1000 / (performance.now() - sampling0)) * 100)} % of one core, ${f((cpu.user + cpu.system) / 1000 / sc.samples)} ms per sample, ${f(((cpu.user + cpu.system) / 1000 - backgroundCpuPerMs * (performance.now() - sampling0)) / sc.samples)} ms above the background's ${f(backgroundCpuPerMs * 100)} %\n`,
  );
  await stopProfile?.();
  loopDelay.disable();
  const stall = `event loop delay while sampling: p50 ${f(loopDelay.percentile(50) / 1e6)} p99 ${f(loopDelay.percentile(99) / 1e6)} max ${f(loopDelay.max / 1e6)} ms`;
  process.stderr.write(`  ${stall}\n`);
  // where the slowest round trips spent their time: each stage's arrival, ms after setDesired
  const slowest = toCloud
    .map((c, i) => ({ c, i }))
    .sort((a, b) => b.c - a.c)
    .slice(0, 3)
    .map(
      ({ i }) =>
        `http ${f(http[i]!)} delta ${f(toDelta[i]!)} device ${f(toDevice[i]!)} mapper report ${f(toReport[i]!)} at controller ${f(toSink[i]!)} cloud ${f(toCloud[i]!)}`,
    );
  slowest.push(stall);
  for (const line of slowest) process.stderr.write(`  slow sample: ${line}\n`);
  if (hops) {
    process.stderr.write('  hops (ms after setDesired: p50 p99 count stage):\n');
    for (const line of hopReport()) process.stderr.write(`    ${line}\n`);
    for (const line of hopSlowest(3)) process.stderr.write(`  slow sample hops: ${line}\n`);
  }

  const stoppingAt = Date.now();
  await life.stopAll();
  const warnings = await readWarnings(logFile, stoppingAt);
  await rm(dataDir, { recursive: true, force: true });
  return {
    scenario: sc,
    setupMs: {
      applied: a1 - a0,
      configsOnEdge: c1 - a0,
      allOnline: o1 - a0,
      firstReport: r1 - a0,
      cloudAllReported: cloudAll - a0,
    },
    rssAfterSetupMiB,
    rssEndMiB,
    idleCpuPercent: backgroundCpuPerMs * 100,
    idleBusiestTenthMs,
    baselineEdge,
    baselineCloud,
    http: stats(http),
    delta: stats(toDelta),
    device: stats(toDevice),
    sink: stats(toSink),
    mapperReport: stats(toReport),
    cloud: stats(toCloud),
    lost,
    lostDetail,
    slowest,
    apiMismatch,
    warnings,
    wallMs: performance.now() - wall0,
  };
}

// ---------------------------------------------------------------- parent: run scenarios, write the doc
function runChild(sc: Scenario): Promise<Result> {
  return new Promise((res, rej) => {
    // a loaded machine needs longer: --setup-timeout reaches the child, --child-timeout bounds it (ms)
    const setup = optS('setup-timeout');
    const child = spawn(
      process.execPath,
      [RUN_TS, SELF, '--child', JSON.stringify(sc), ...(setup ? ['--setup-timeout', setup] : [])],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, EDGETWIN_STATUS_INTERVAL_MS: '' },
      },
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), opt('child-timeout', 150_000));
    child.on('exit', (code) => {
      clearTimeout(killer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || !line) rej(new Error(`scenario ${sc.label} exited ${code}; output: ${out.slice(-500)}`));
      else res(JSON.parse(line.slice(7)) as Result);
    });
  });
}

const f = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : '-');
const fInt = (n: number) => (Number.isFinite(n) ? n.toLocaleString('en-US') : '-');

function section(results: Result[], command: string, seconds: number): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const lines: string[] = [];
  lines.push('## end to end', '');
  lines.push(
    `Machine: ${os.cpus().length} x ${cpu} (nproc ${os.availableParallelism()}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}. ` +
      `Date: ${date} UTC. ${loadLine(LOAD_AT_START)} Command: \`${command}\` (${seconds.toFixed(0)} s wall, every scenario in its own process).`,
    '',
  );
  lines.push(
    'The whole stack `edgetwin up` runs, composed by `packages/cli/src/compose` (`startCloud` + `startEdge`: controller on',
    'its embedded SQLite store, cloud-link broker, edge broker, DeviceTwin on SQLite, edge end of the cloud link, the',
    '`virtualProtocol` mapper in-process), one process, ephemeral ports, a temp data dir. Devices: virtual echo devices',
    '(one INT ReadWrite property, visitor `generator: echo`), `collectCycle` = `reportCycle` as in the table, default report',
    'strategy (`change`, heartbeat every 60 cycles), applied through the controller HTTP API. One sample at a time, a',
    'fresh value each time, through `ControllerClient.setDesired` (what `edgetwin twin set` calls); 1 x 10 goes round',
    'the devices, 1 x 1,000 strides through the devices (no device set twice in the run) while all 1,000 poll in the background. Latencies in ms from the',
    '`setDesired` call, p50 / p99:',
    '',
    "- **delta on the edge**: the twin's `$hw/events/device/{ns}/{name}/twin/update/delta` with the value, seen on the edge broker;",
    "- **device holds it**: the simulated device stores the value (in-process hook on `VirtualDevice.set`, the mapper's write);",
    "- **mapper reports it**: the mapper's report batch (its report channel to the twin) carrying the value, seen on the edge broker;",
    "- **report reaches the controller**: the edge's report with the value enters the controller's status sink",
    '  (in-process hook on `StatusCoalescer.stageReports`), before the coalescer writes it;',
    "- **cloud shows it reported**: the embedded store's own watch (`Source.onEvent`) emits the Device with",
    '  `status.twins[].reported` = the value (committed to SQLite); a `GET /devices/{ns}/{name}` right after each sample',
    '  confirmed the HTTP API shows it (mismatches counted below);',
    "- **baseline**: one MQTT hop on the same brokers in the same process: on the edge broker a QoS 1 publish until a subscriber receives it; on the cloud-link broker a registered second node's QoS 1 publish on its reports topic until the PUBACK.",
    '',
  );
  const pp = (x: Stats) => `${f(x.p50)} / ${f(x.p99)}`;
  const setup = (s: Scenario) =>
    `${s.statusIntervalMs === undefined ? 'as shipped (status interval 1000 ms)' : `status interval ${s.statusIntervalMs} ms`}${s.edgeBroker === 'memory' ? ', in-memory edge broker' : ''}`;
  lines.push(
    '| scenario | configuration | samples | HTTP `setDesired` | delta on the edge | **device holds it** | mapper reports it | report reaches the controller | **cloud shows it reported** (max) | MQTT hop, edge broker | MQTT hop, cloud broker |',
  );
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    const s = r.scenario;
    if (r.failure) {
      lines.push(`| ${s.label} | ${setup(s)} | failed: ${r.failure} | | | | | | | | |`);
      continue;
    }
    lines.push(
      `| ${s.label} | ${setup(s)} | ${r.device.n}${r.lost ? ` (+${r.lost} lost)` : ''} | ${pp(r.http)} | ${pp(r.delta)} | **${pp(r.device)}** | ${pp(r.mapperReport)} | ${pp(r.sink)} | **${pp(r.cloud)}** (${f(r.cloud.max)}) | ${pp(r.baselineEdge)} | ${pp(r.baselineCloud)} |`,
    );
  }
  lines.push('');
  lines.push(
    '| scenario | configuration | apply (HTTP) ms | all device configs on the edge ms | all devices online ms | first report from every device ms | cloud shows every device reported ms | RSS after setup MiB | RSS at end MiB | CPU with nothing set, % of one core (ms/s in its busiest tenth of the second) | API mismatches |',
  );
  lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of results)
    lines.push(
      `| ${r.scenario.label} | ${setup(r.scenario)} | ${fInt(Math.round(r.setupMs.applied))} | ${fInt(Math.round(r.setupMs.configsOnEdge))} | ${fInt(Math.round(r.setupMs.allOnline))} | ${fInt(Math.round(r.setupMs.firstReport))} | ${fInt(Math.round(r.setupMs.cloudAllReported))} | ${r.rssAfterSetupMiB.toFixed(1)} | ${r.rssEndMiB.toFixed(1)} | ${f(r.idleCpuPercent)} (${f(r.idleBusiestTenthMs)}) | ${r.apiMismatch} |`,
    );
  lines.push('');
  const lostLines = results.flatMap((r) =>
    (r.lostDetail ?? []).map((d) => `${r.scenario.label}, ${setup(r.scenario)}: ${d}`),
  );
  if (lostLines.length > 0) {
    lines.push('Samples lost (no answer within 12 s at some stage; NaN = never seen):', '');
    for (const l of lostLines) lines.push(`- ${l}`);
    lines.push('');
  }
  const warn = new Map<string, number>();
  for (const r of results) for (const [k, n] of Object.entries(r.warnings)) warn.set(k, (warn.get(k) ?? 0) + n);
  if (warn.size > 0) {
    lines.push('Warnings and errors the stack logged during the run (all scenarios):', '');
    for (const [k, n] of [...warn].sort((a, b) => b[1] - a[1]).slice(0, 8))
      lines.push(
        `- ${n} x \`${k.replace(' (while stopping the stack)', '')}\`${k.endsWith(' (while stopping the stack)') ? ', while stopping the stack' : ''}`,
      );
    lines.push('');
  }
  lines.push('NOTES_PLACEHOLDER', '');
  return lines.join('\n');
}

async function existingNotes(): Promise<string> {
  const doc = await readFile(join(ROOT, 'docs/benchmarks.md'), 'utf8');
  const start = doc.search(/^## end to end\s*$/m);
  if (start < 0) return '';
  const rest = doc.slice(start + 1);
  const endRel = rest.search(/^## /m);
  const sectionText = endRel < 0 ? rest : rest.slice(0, endRel);
  const at = sectionText.indexOf('\nWhat the numbers say:');
  return at < 0 ? '' : sectionText.slice(at + 1).trimEnd();
}

async function writeSection(text: string): Promise<void> {
  const path = join(ROOT, 'docs/benchmarks.md');
  const doc = await readFile(path, 'utf8');
  const start = doc.search(/^## end to end\s*$/m);
  let next: string;
  if (start < 0) next = `${doc.trimEnd()}\n\n${text.trimEnd()}\n`;
  else {
    const rest = doc.slice(start + 1);
    const endRel = rest.search(/^## /m);
    const end = endRel < 0 ? doc.length : start + 1 + endRel;
    next = `${doc.slice(0, start)}${text.trimEnd()}\n${end < doc.length ? `\n${doc.slice(end)}` : ''}`;
  }
  await writeFile(path, next);
}

async function main(): Promise<void> {
  const child = optS('child');
  if (child) {
    const r = await runScenario(JSON.parse(child) as Scenario);
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    process.exit(0);
  }
  const t0 = performance.now();
  const samples = opt('samples', 200);
  const cycleMs = opt('cycle', 100);
  const only = optS('only');
  const edgeBroker = (optS('edge-broker') ?? 'embedded') as Scenario['edgeBroker'];
  // the idle CPU is measured over whole seconds of the state-report cycle (default 1 s: one second)
  const base = { cycleMs, gapMs: 10, edgeBroker, idleMs: opt('idle-seconds', 1) * 1000 };
  const scenarios: Scenario[] = [
    { ...base, label: '1 node x 10 devices', devices: 10, samples },
    { ...base, label: '1 node x 1,000 devices', devices: 1000, samples },
    { ...base, label: '1 node x 10 devices', devices: 10, samples, statusIntervalMs: 0 },
    { ...base, label: '1 node x 1,000 devices', devices: 1000, samples, statusIntervalMs: 0 },
  ].filter((_, i) => !only || only.split(',').map(Number).includes(i));
  const results: Result[] = [];
  for (const sc of scenarios) {
    process.stderr.write(`running ${sc.label}, status interval ${sc.statusIntervalMs ?? 'as shipped'} ...\n`);
    const r = await runChild(sc);
    results.push(r);
    process.stderr.write(
      `  device p50 ${f(r.device.p50)} p99 ${f(r.device.p99)} | report p50 ${f(r.mapperReport.p50)} | cloud p50 ${f(r.cloud.p50)} p99 ${f(r.cloud.p99)} | hop ${f(r.baselineEdge.p50)}/${f(r.baselineCloud.p50)} | setup ${JSON.stringify(r.setupMs)} | rss ${r.rssEndMiB.toFixed(0)} | idle cpu ${f(r.idleCpuPercent)} %, busiest tenth ${f(r.idleBusiestTenthMs)} ms/s | lost ${r.lost} mismatch ${r.apiMismatch} | ${(r.wallMs / 1000).toFixed(1)} s\n`,
    );
    if (Object.keys(r.warnings).length) process.stderr.write(`  logged: ${JSON.stringify(r.warnings)}\n`);
    for (const line of r.slowest ?? []) process.stderr.write(`  slow sample: ${line}\n`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const command = `node packages/cli/bin/run-ts.js bench/e2e.ts${args.filter((a) => a !== '--no-write').length ? ` ${args.filter((a) => a !== '--no-write').join(' ')}` : ''}`;
  const text = section(results, command, seconds);
  const jsonPath = join(os.tmpdir(), 'edgetwin-e2e-results.json');
  appendFileSync(jsonPath, `${JSON.stringify({ at: new Date().toISOString(), results })}\n`);
  process.stderr.write(`results appended to ${jsonPath}\n`);
  if (!args.includes('--no-write')) {
    // the prose under the tables is written by hand: take it from --notes-file, else keep what the section has
    const notes = optS('notes-file');
    const notesText = notes ? (await readFile(notes, 'utf8')).trimEnd() : await existingNotes();
    await writeSection(text.replace('NOTES_PLACEHOLDER', notesText));
    process.stderr.write('wrote the end to end section of docs/benchmarks.md\n');
  } else process.stdout.write(`${text}\n`);
}

await main();
