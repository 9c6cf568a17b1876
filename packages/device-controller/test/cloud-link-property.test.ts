// Property test of the cloud link's report stream (issue 9 §2, docs/cloud-link.md "Reports"): both real
// ends (controller on its embedded SQLite store, cloud link with its aedes broker and durable sessions as
// `up` runs it, edge twin on SQLite, edge link through a TCP proxy) are driven through random sequences of
// reports, network cuts and freezes, edge and cloud restarts, duplicated and reordered batches, a wiped data
// dir, a data dir restored from a backup, and clock skew. After each run, with the network healed, the stream
// must drain by itself, the cloud must hold the last report of every property, and no report may have been
// applied twice.
//
// Seeded: EDGETWIN_LINK_PROPERTY_SEED=<n> replays a run (the seed is printed on failure); the number of
// runs is EDGETWIN_LINK_PROPERTY_RUNS (default 8, about 30 s on a quiet 2-core machine).

import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  API_VERSION,
  cloudTopics,
  type Device,
  type DeviceModel,
  deviceTopic,
  encodeReportBatch,
  type OutboxEntry,
} from '@edgetwin/api';
import { type BusClient, connectBus } from '@edgetwin/eventbus';
import {
  collectMessages,
  freePort,
  type MessageCollector,
  startTcpProxy,
  startTestBroker,
  type TcpProxy,
} from '@edgetwin/eventbus/testing';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { afterEach, expect, it, vi } from 'vitest';
import { type CloudLinkEdge, startCloudLinkEdge } from '../../devicetwin/src/cloud-link/index.js';
import { type DeviceTwin, openDeviceTwin } from '../../devicetwin/src/index.js';
import { type CloudLink, startCloudLink } from '../src/cloud-link/index.js';
import type { NodeReportStream, StatusSink } from '../src/contracts.js';
import { type RunningController, startController } from '../src/index.js';

const NODE = 'prop-gw';
const PASSWORD = 'prop-secret';
const DEVICES = ['default/p0', 'default/p1', 'default/p2'];
const SEED = Number(process.env.EDGETWIN_LINK_PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.EDGETWIN_LINK_PROPERTY_RUNS ?? 8);

const model: DeviceModel = {
  apiVersion: API_VERSION,
  kind: 'DeviceModel',
  metadata: { name: 'thermo', namespace: 'default' },
  spec: { protocol: 'virtual', properties: [{ name: 'temp', type: 'STRING', accessMode: 'ReadOnly' }] },
};
const device = (id: string): Device => ({
  apiVersion: API_VERSION,
  kind: 'Device',
  metadata: { name: id.split('/')[1]!, namespace: 'default' },
  spec: {
    deviceModelRef: { name: 'thermo' },
    nodeName: NODE,
    protocol: { protocolName: 'virtual' },
    properties: [{ name: 'temp', reportToCloud: true }],
  },
});

type Op =
  | { op: 'report'; device: number; count: number }
  | { op: 'cut' | 'freeze' | 'heal' | 'edge restart' | 'cloud restart' | 'wipe' | 'backup' | 'restore backup' }
  | { op: 'duplicate' | 'reorder' }
  | { op: 'skew'; ms: number };

/** how often each kind of step comes up; a data dir wiped or restored ends what can be checked, so rarer */
const WEIGHTS = {
  cut: 2,
  freeze: 2,
  heal: 3,
  'edge restart': 2,
  'cloud restart': 2,
  duplicate: 2,
  reorder: 2,
  wipe: 1,
  backup: 1,
  'restore backup': 1,
} as const;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      op: fc.constant('report' as const),
      device: fc.nat(2),
      count: fc.integer({ min: 1, max: 6 }),
    }),
  },
  ...Object.entries(WEIGHTS).map(([op, weight]) => ({
    weight,
    arbitrary: fc.constant({ op }) as fc.Arbitrary<Op>,
  })),
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('skew' as const), ms: fc.constantFrom(-3_600_000, -5_000, 0, 90_000) }),
  },
);

/** Every value the link handed to status, counted (each report's value is unique in a run). */
class RecordingStatus implements StatusSink {
  readonly applied = new Map<string, number>();
  inner: StatusSink | undefined;
  async applyReports(node: string, entries: OutboxEntry[]): Promise<void> {
    if (!this.inner) throw new Error('controller down');
    await this.inner.applyReports(node, entries);
    for (const e of entries)
      if (e.kind === 'twin')
        for (const t of e.twins)
          if (t.reported) this.applied.set(t.reported.value, (this.applied.get(t.reported.value) ?? 0) + 1);
  }
  setNodePresence(...a: Parameters<StatusSink['setNodePresence']>): void {
    this.inner?.setNodePresence(...a);
  }
  setNodeReports(node: string, stream: NodeReportStream): void {
    this.inner?.setNodeReports?.(node, stream);
  }
}

const realNow = Date.now.bind(Date);
/** across runs: how many last values were compared, and how many reports were applied (the test must test) */
const stats = { checked: 0, applied: 0, reported: 0, skipped: 0 };
let skewMs = 0;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  vi.restoreAllMocks();
});

/** One world: both ends, real, restartable on the same files; the truth of what the edge reported. */
class World {
  controller: RunningController | undefined;
  link: CloudLink | undefined;
  twin: DeviceTwin | undefined;
  edgeLink: CloudLinkEdge | undefined;
  readonly status = new RecordingStatus();
  /** the edge's history of stored reports (device, value), as its current data dir knows it */
  lineage: Array<{ device: string; value: string }> = [];
  /** since the last wipe or restore: only these reports have a well-defined "last value" in the cloud */
  since = 0;
  backup: { lineage: Array<{ device: string; value: string }> } | undefined;
  /** values a restored backup still held unacknowledged: the new epoch sends them again, by design */
  readonly resurrected = new Set<string>();
  private value = 0;
  private linkDown = false;
  private constructor(
    readonly dir: string,
    readonly cloudPort: number,
    readonly proxy: TcpProxy,
    readonly edgeBus: BusClient,
    readonly mapper: BusClient,
    readonly results: MessageCollector,
    readonly edgeBrokerUrl: string,
  ) {}

  static async create(): Promise<World> {
    const dir = await mkdtemp(join(tmpdir(), 'edgetwin-link-prop-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true, maxRetries: 5 }));
    const cloudPort = await freePort();
    const proxy = await startTcpProxy(cloudPort);
    cleanups.push(() => proxy.close());
    const edgeBroker = await startTestBroker();
    cleanups.push(() => edgeBroker.close());
    const edgeBus = await connectBus({ url: edgeBroker.url, clientId: 'prop-twin' });
    cleanups.push(() => edgeBus.close());
    const mapper = await connectBus({ url: edgeBroker.url, clientId: 'prop-mapper' });
    cleanups.push(() => mapper.close());
    const results = await collectMessages(mapper, deviceTopic('default/+', 'twin/update/result'));
    const w = new World(dir, cloudPort, proxy, edgeBus, mapper, results, edgeBroker.url);
    cleanups.push(() => w.stopAll());
    await w.startCloud();
    w.controller!.store!.apply([model, ...DEVICES.map(device)]);
    await w.startEdge();
    await w.untilDevicesOnEdge();
    return w;
  }

  /** Waits until the twin holds every device (they come from the cloud over the link). */
  async untilDevicesOnEdge(timeoutMs = 10_000): Promise<void> {
    const t0 = performance.now();
    while (!DEVICES.every((id) => this.twin?.getTwin(id))) {
      if (performance.now() - t0 > timeoutMs) throw new Error('the devices did not reach the edge');
      await new Promise<void>((r) => {
        const off = this.edgeLink!.onSynced(() => {
          off();
          r();
        });
        setTimeout(() => {
          off();
          r();
        }, 100);
      });
    }
  }

  async startCloud(): Promise<void> {
    this.controller = await startController({
      source: 'embedded',
      dbPath: join(this.dir, 'controller.db'),
      httpPort: 0,
      statusIntervalMs: 0,
    });
    this.status.inner = this.controller.status;
    this.link = await startCloudLink({
      desired: this.controller.desired,
      status: this.status,
      // a new free port on every start, reached through the proxy: the old one may have been taken by another
      // test process meanwhile (CI saw EADDRINUSE on a cloud restart)
      broker: { embedded: { port: 0, persistenceDir: join(this.dir, 'cloud-broker') } },
      stateDbPath: join(this.dir, 'cloud-link.db'),
      nodeCredentials: { [NODE]: PASSWORD },
      keepaliveSec: 1,
    });
    this.proxy.retarget(Number(new URL(this.link.url).port));
  }

  async stopCloud(): Promise<void> {
    await this.link?.close();
    this.status.inner = undefined;
    await this.controller?.stop();
    this.link = undefined;
    this.controller = undefined;
  }

  async startEdge(): Promise<void> {
    this.twin = await openDeviceTwin({ dbPath: join(this.dir, 'edge.db'), node: NODE, bus: this.edgeBus });
    this.edgeLink = startCloudLinkEdge({
      twin: this.twin,
      cloudUrl: this.proxy.url,
      password: PASSWORD,
      backoffMs: 20,
      maxBackoffMs: 100,
      keepaliveSec: 1,
      ackTimeoutMs: 1000,
    });
  }

  async stopEdge(): Promise<void> {
    await this.edgeLink?.close();
    await this.twin?.close();
    this.edgeLink = undefined;
    this.twin = undefined;
  }

  async stopAll(): Promise<void> {
    await this.stopEdge();
    await this.stopCloud();
  }

  private readonly dbFiles = ['edge.db', 'edge.db-wal', 'edge.db-shm'];

  async run(o: Op): Promise<void> {
    switch (o.op) {
      case 'report':
        return this.report(DEVICES[o.device]!, o.count);
      case 'cut':
        this.linkDown = true;
        return this.proxy.cut();
      case 'freeze':
        this.linkDown = true;
        return this.proxy.freeze();
      case 'heal':
        this.linkDown = false;
        return this.proxy.restore();
      case 'edge restart':
        await this.stopEdge();
        return this.startEdge();
      case 'cloud restart':
        await this.stopCloud();
        return this.startCloud();
      case 'wipe':
        await this.stopEdge();
        for (const f of this.dbFiles) await rm(join(this.dir, f), { force: true });
        this.lineage = [];
        this.since = 0;
        await this.startEdge();
        // the node gets its devices again from the cloud; with the network down it works without them
        if (!this.linkDown) await this.untilDevicesOnEdge();
        return;
      case 'backup':
        // a file copy of a stopped node (a backup taken during maintenance)
        await this.stopEdge();
        for (const f of this.dbFiles)
          await copyFile(join(this.dir, f), join(this.dir, `backup-${f}`)).catch(() =>
            rm(join(this.dir, `backup-${f}`), { force: true }),
          );
        this.backup = { lineage: [...this.lineage] };
        return this.startEdge();
      case 'restore backup': {
        if (!this.backup) return;
        await this.stopEdge();
        for (const f of this.dbFiles) {
          await rm(join(this.dir, f), { force: true });
          await copyFile(join(this.dir, `backup-${f}`), join(this.dir, f)).catch(() => {});
        }
        this.lineage = [...this.backup.lineage];
        this.since = this.lineage.length;
        await this.startEdge();
        for (const e of this.twin!.outbox.pending(this.twin!.outbox.ackedSeq(), 100_000))
          if (e.kind === 'twin') for (const t of e.twins) if (t.reported) this.resurrected.add(t.reported.value);
        return;
      }
      case 'duplicate':
      case 'reorder':
        return this.inject(o.op);
      case 'skew':
        skewMs = o.ms;
        return;
    }
  }

  /** What a mapper does: twin/update, answered once the twin stored it. Skipped if the device is not on the edge. */
  private async report(id: string, count: number): Promise<void> {
    // after a wipe the devices come back over the link: wait for them unless the network is down
    if (!this.linkDown) await this.untilDevicesOnEdge().catch(() => {});
    for (let i = 0; i < count; i++) {
      if (!this.twin?.getTwin(id)) {
        stats.skipped += count - i;
        return;
      }
      const value = `v${++this.value}`;
      await this.mapper.publish(
        deviceTopic(id, 'twin/update'),
        JSON.stringify({ event_id: value, timestamp: Date.now(), twin: { temp: { actual: { value } } } }),
      );
      const [answer] = await this.results.waitFor((m) => (m.json() as { event_id?: string }).event_id === value, 5000);
      const code = (answer?.json() as { code?: number } | undefined)?.code;
      if (answer && (code === undefined || code === 200)) {
        this.lineage.push({ device: id, value });
        stats.reported++;
      }
    }
  }

  /**
   * Publishes copies of the edge's pending reports with the node's own name, as a broker redelivering them
   * would: twice (duplicate), or the second half before the first (reorder).
   */
  private async inject(how: 'duplicate' | 'reorder'): Promise<void> {
    const twin = this.twin;
    if (!twin) return;
    const acked = twin.outbox.ackedSeq();
    const entries = twin.outbox.pending(acked, 40);
    if (entries.length === 0) return;
    const epoch = twin.outbox.epoch();
    if (!this.link) return;
    const c = await mqtt
      .connectAsync(this.link.url, {
        clientId: `prop-injector-${Math.random().toString(36).slice(2)}`,
        username: NODE,
        password: PASSWORD,
        reconnectPeriod: 0,
        connectTimeout: 2000,
      })
      .catch(() => undefined);
    if (!c) return;
    const send = (part: OutboxEntry[], after: number) =>
      c.publishAsync(
        cloudTopics.reports(NODE),
        encodeReportBatch({ node: NODE, entries: part, after, ackedSeq: acked, epoch, pass: 0 }),
        { qos: 1 },
      );
    const mid = Math.floor(entries.length / 2);
    if (how === 'duplicate' || mid === 0) {
      await send(entries, acked);
      await send(entries, acked);
    } else {
      await send(entries.slice(mid), entries[mid - 1]!.seq);
      await send(entries.slice(0, mid), acked);
    }
    await c.endAsync(true);
  }

  /** Heals everything and waits for the edge's outbox to be fully acknowledged. */
  async drain(timeoutMs = 20_000): Promise<void> {
    this.proxy.restore();
    if (!this.controller) await this.startCloud();
    if (!this.twin) await this.startEdge();
    const twin = this.twin!;
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      if (twin.outbox.ackedSeq() >= twin.outbox.lastSeq()) {
        await this.link!.idle();
        return;
      }
      await new Promise<void>((r) => {
        const off = this.edgeLink!.onReportsAcked(() => {
          off();
          r();
        });
        setTimeout(() => {
          off();
          r();
        }, 200);
      });
    }
    throw new Error(
      `the report stream did not drain within ${timeoutMs} ms: acked ${twin.outbox.ackedSeq()}, last ${twin.outbox.lastSeq()}`,
    );
  }

  async check(): Promise<void> {
    const store = this.controller!.store!;
    for (const id of DEVICES) {
      const mine = this.lineage.slice(this.since).filter((r) => r.device === id);
      if (mine.length === 0) continue;
      const [ns, name] = id.split('/') as [string, string];
      const status = await store.readStatus(store.device(ns, name)!);
      const cloud = status?.twins?.find((t) => t.propertyName === 'temp')?.reported?.value;
      expect(cloud, `the cloud holds the last report of ${id}`).toBe(mine.at(-1)!.value);
      stats.checked++;
    }
    stats.applied += this.status.applied.size;
    const twice = [...this.status.applied].filter(([v, n]) => n > 1 && !this.resurrected.has(v));
    expect(twice, 'reports applied more than once').toEqual([]);
  }
}

it('the cloud holds the last report of every property and applies none twice, through cuts, restarts, duplicates, reorders, wipes, restores and clock skew', async () => {
  vi.spyOn(Date, 'now').mockImplementation(() => realNow() + skewMs);
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 8, maxLength: 20 }), async (ops) => {
        skewMs = 0;
        const w = await World.create();
        try {
          for (const o of ops) await w.run(o);
          skewMs = 0;
          await w.drain();
          await w.check();
        } finally {
          for (const c of cleanups.splice(0).reverse()) await c();
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  } catch (err) {
    throw new Error(
      `cloud link property failed; replay with EDGETWIN_LINK_PROPERTY_SEED=${SEED}\n${(err as Error).message}\ncause: ${String((err as Error).cause ?? '')}`,
    );
  }
  console.log(
    `cloud link property: seed ${SEED}, ${RUNS} runs, ${stats.reported} reports (${stats.skipped} skipped: device not on the edge), ${stats.applied} applied, ${stats.checked} last values checked`,
  );
  // a property that compared nothing would pass whatever the link does
  expect(stats.checked).toBeGreaterThan(0);
}, 240_000);
