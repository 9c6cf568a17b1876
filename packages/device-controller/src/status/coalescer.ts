// StatusSink: edge reports -> one merged status per device -> about one write per device per interval,
// under a global cap of writes per second. A thousand devices reporting every 100 ms become at most
// (devices / interval) writes, bounded by the cap, instead of one write per report (KubeEdge #3761).
//
// Per device the limit is a token bucket (a burst of statusBurst writes, refilled at one per interval), not a
// fixed gap between writes: one `twin set` makes the edge report several times within milliseconds (observed
// desired, write pending/written/verified, the reported value) and the cloud link applies those one batch
// after another, each waiting until durable, so a fixed gap made the user wait out the interval once per
// batch (about 2 s round trip, docs/benchmarks.md `## end to end`). A device that reports rarely has a full
// bucket and is written at once; one reporting every 100 ms spends its burst once and then gets one write
// per interval, as before.
//
// The answer to a command is not held back (issue 15, target 5): a report whose reported value newly equals the
// cloud's desired value (the value a user set with `twin set` and now waits to see reported) makes its device's
// write at once, ahead of the queue, outside the per-device and global budgets. Each desired value (its value
// and metadata.timestamp) earns this once per property, so the extra writes are bounded by how often desired
// values are set, which the API server already bounds; everything else is coalesced as before.
//
// Durability: applyReports resolves only after a write that contains every entry it was given has
// succeeded in the source. The cloud link acknowledges the edge after that, so an entry is either in the
// source or still in the edge's outbox; a crash of the controller loses nothing. The price is latency:
// an acknowledgement can wait up to one interval (plus queueing under the cap), during which the edge
// keeps batching, which is what makes the coalescing work.

import {
  type Device,
  type DeviceStatusFields,
  type OutboxEntry,
  type Presence,
  splitId,
  type TwinReportEntry,
} from '@edgetwin/api';
import pino, { type Logger } from 'pino';
import type { NodeReportStream, StatusSink } from '../contracts.js';
import type { ControllerMetrics } from '../metrics.js';
import { objectKey, type Source } from '../source.js';
import type { ReportObserver } from '../live/live-state.js';
import { mergeReport } from './merge.js';
import { TokenBucket } from './token-bucket.js';

export interface StatusCoalescerOptions {
  /** after its burst, a device's status is written at most once per this many ms (default 1000) */
  statusIntervalMs?: number;
  /** writes a device that has been quiet for statusBurst intervals gets at once (default 4) */
  statusBurst?: number;
  /** global cap on status writes per second (default 100) */
  maxWritesPerSecond?: number;
  /** status writes in flight at once (default 8) */
  maxInFlight?: number;
  logger?: Logger;
  metrics?: ControllerMetrics;
  now?: () => number;
  /** told of every entry, status write, presence and report stream (history, events, live clients: issue 16) */
  observer?: ReportObserver;
}

interface Waiter {
  version: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Slot {
  id: string;
  status: DeviceStatusFields;
  /** bumped by every merge that changed status */
  version: number;
  /** the version last written successfully */
  flushed: number;
  /** this device's write tokens (up to the burst) as of creditsAt */
  credits: number;
  creditsAt: number;
  waiters: Waiter[];
  phase: 'idle' | 'delayed' | 'ready' | 'writing';
  /** the merged status answers a cloud command: write at once, outside the budgets */
  answering: boolean;
  /** per property, the desired value (value and timestamp) a report has already answered */
  answered: Map<string, string>;
  timer?: NodeJS.Timeout;
}

export interface NodePresence {
  presence: Presence;
  since: Date;
}

export class StatusCoalescer implements StatusSink {
  private readonly slots = new Map<string, Slot>();
  private readonly loading = new Map<string, Promise<Slot>>();
  private readonly ready = new Set<Slot>();
  /** ready slots that answer a cloud command: written first, without waiting for a token */
  private readonly answering = new Set<Slot>();
  private readonly presence = new Map<string, NodePresence>();
  private readonly reportStreams = new Map<string, NodeReportStream>();
  private readonly bucket: TokenBucket;
  private readonly intervalMs: number;
  private readonly burst: number;
  private readonly maxInFlight: number;
  private readonly logger: Logger;
  private readonly now: () => number;
  private inFlight = 0;
  private pumpTimer?: NodeJS.Timeout;
  private stopped = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly source: Source,
    private readonly opts: StatusCoalescerOptions = {},
  ) {
    this.intervalMs = opts.statusIntervalMs ?? 1000;
    this.burst = Math.max(1, opts.statusBurst ?? 4);
    this.maxInFlight = opts.maxInFlight ?? 8;
    this.logger = opts.logger ?? pino({ level: 'silent' });
    // a monotonic clock: with the wall clock set back (NTP, a restored VM), the write budget computed from it
    // went negative and status writes stopped for as long as the clock had jumped (issue 9 §2)
    this.now = opts.now ?? (() => performance.now());
    this.bucket = new TokenBucket(opts.maxWritesPerSecond ?? 100, this.now);
    // A deleted device takes its pending status with it; a device created again starts clean.
    this.unsubscribe = source.onEvent((ev) => {
      if (ev.type === 'DELETED' && ev.object.kind === 'Device') this.forget(objectKey(ev.object));
    });
  }

  async applyReports(node: string, entries: OutboxEntry[]): Promise<void> {
    const { durable } = await this.stageReports(node, entries);
    await durable;
  }

  /**
   * Merges the entries into the devices' pending status (resolves once merged, in the order of the calls) and
   * returns `durable`, which resolves once a write containing every one of them has succeeded. The cloud link
   * merges a node's next batch while this one is being written, so one device waiting for its write budget
   * does not hold back the reports of the others (issue 15, target 5).
   */
  async stageReports(node: string, entries: OutboxEntry[]): Promise<{ durable: Promise<void> }> {
    if (this.stopped) throw new Error('status sink is stopped');
    const byDevice = new Map<string, OutboxEntry[]>();
    for (const e of entries) {
      const list = byDevice.get(e.deviceId);
      if (list) list.push(e);
      else byDevice.set(e.deviceId, [e]);
    }
    const waits: Promise<void>[] = [];
    for (const [id, list] of byDevice) {
      const { namespace, name } = splitId(id);
      const device = this.source.device(namespace, name);
      if (!device) {
        this.ignore('unknown-device', list.length, { node, device: id });
        continue;
      }
      // A node may still report about a device that has since moved away; its view is no longer status.
      if ((device.spec.nodeName ?? '') !== node) {
        this.ignore('wrong-node', list.length, { node, device: id, boundTo: device.spec.nodeName });
        continue;
      }
      const slot = await this.slotOf(device);
      if (this.stopped) throw new Error('status sink stopped before the reports were applied');
      let changed = false;
      for (const e of list) {
        this.opts.metrics?.reports.inc({ kind: e.kind });
        const before = slot.status.state;
        const merged = mergeReport(device, slot.status, e);
        this.opts.observer?.onReport(node, e, before);
        if (merged) {
          changed = true;
          if (e.kind === 'twin' && answersCommand(device, slot, e.twins)) slot.answering = true;
        } else this.opts.metrics?.reportsIgnored.inc({ reason: 'unchanged' });
      }
      if (changed) slot.version++;
      if (slot.version > slot.flushed) {
        waits.push(new Promise((resolve, reject) => slot.waiters.push({ version: slot.version, resolve, reject })));
        this.schedule(slot);
      }
    }
    const durable = Promise.all(waits).then(() => undefined);
    // the caller may attach to it later; a rejection meanwhile (the sink stopped) is not unhandled
    durable.catch(() => undefined);
    return { durable };
  }

  setNodePresence(node: string, presence: Presence, at: Date): void {
    const prev = this.presence.get(node);
    if (prev && prev.since > at) return;
    this.presence.set(node, { presence, since: at });
    this.opts.observer?.onPresence(node, presence, prev?.presence);
    this.opts.metrics?.nodesOnline.set([...this.presence.values()].filter((p) => p.presence !== 'offline').length);
    this.logger.info({ node, presence, at: at.toISOString() }, 'node presence');
  }

  nodePresence(): Map<string, NodePresence> {
    return new Map(this.presence);
  }

  setNodeReports(node: string, stream: NodeReportStream): void {
    const prev = this.reportStreams.get(node);
    this.reportStreams.set(node, stream);
    this.opts.observer?.onReportStream(node, stream, prev);
  }

  /** The last known state of each node's report stream, as the cloud link told it. */
  nodeReports(): Map<string, NodeReportStream> {
    return new Map(this.reportStreams);
  }

  /** Devices with a merged status not yet written. */
  pendingDevices(): number {
    let n = 0;
    for (const s of this.slots.values()) if (s.version > s.flushed) n++;
    return n;
  }

  /** Stops writing; reports still waiting are rejected (the edge keeps them and sends them again). */
  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    for (const id of [...this.slots.keys()])
      this.forget(id, new Error('controller stopped before the status was written'));
  }

  private ignore(reason: string, n: number, ctx: Record<string, unknown>): void {
    this.opts.metrics?.reportsIgnored.inc({ reason }, n);
    this.logger.warn({ ...ctx, entries: n, reason }, 'report entries ignored');
  }

  private async slotOf(device: Device): Promise<Slot> {
    const id = objectKey(device);
    const existing = this.slots.get(id);
    if (existing) return existing;
    let pending = this.loading.get(id);
    if (!pending) {
      pending = (async () => {
        const stored = await this.source.readStatus(device);
        const slot: Slot = {
          id,
          status: stored ?? {},
          version: 0,
          flushed: 0,
          credits: this.burst,
          creditsAt: this.now(),
          waiters: [],
          phase: 'idle',
          answering: false,
          answered: new Map(),
        };
        this.slots.set(id, slot);
        return slot;
      })().finally(() => this.loading.delete(id));
      this.loading.set(id, pending);
    }
    return pending;
  }

  private schedule(slot: Slot, delayMs?: number): void {
    if (this.stopped) return;
    if (slot.answering && (slot.phase === 'delayed' || slot.phase === 'ready')) {
      // an answer to a command arrived while the device waited for its budget: it waits no longer
      if (slot.timer) {
        clearTimeout(slot.timer);
        slot.timer = undefined;
        this.opts.metrics?.pendingDevices.dec();
      }
      this.ready.delete(slot);
      slot.phase = 'idle';
    }
    if (slot.phase !== 'idle') return;
    const wait = slot.answering ? 0 : (delayMs ?? this.creditWaitMs(slot));
    if (wait <= 0) {
      slot.phase = 'ready';
      (slot.answering ? this.answering : this.ready).add(slot);
      this.pump();
      return;
    }
    slot.phase = 'delayed';
    this.opts.metrics?.pendingDevices.inc();
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      this.opts.metrics?.pendingDevices.dec();
      slot.phase = 'idle';
      this.schedule(slot, 0);
    }, wait);
  }

  /** Milliseconds until the device has a write token (0: it has one now). */
  private creditWaitMs(slot: Slot): number {
    if (this.intervalMs <= 0) return 0;
    const t = this.now();
    slot.credits = Math.min(this.burst, slot.credits + (t - slot.creditsAt) / this.intervalMs);
    slot.creditsAt = t;
    return slot.credits >= 1 ? 0 : Math.ceil((1 - slot.credits) * this.intervalMs);
  }

  private pump(): void {
    // answers to commands first, outside the global cap and the in-flight limit (they are as many as the
    // desired values set); they still spend a global token when there is one, so the cap holds on average
    for (const slot of this.answering) {
      if (this.stopped) return;
      this.answering.delete(slot);
      this.bucket.take();
      this.opts.metrics?.statusWritesAnswering.inc();
      void this.write(slot);
    }
    while (this.ready.size > 0 && this.inFlight < this.maxInFlight && !this.stopped) {
      if (!this.bucket.take()) {
        this.pumpTimer ??= setTimeout(() => {
          this.pumpTimer = undefined;
          this.pump();
        }, this.bucket.waitMs());
        return;
      }
      const slot = this.ready.values().next().value as Slot;
      this.ready.delete(slot);
      void this.write(slot);
    }
  }

  private async write(slot: Slot): Promise<void> {
    slot.phase = 'writing';
    // the token is spent when the write starts; a timer can fire a little early, hence the floor at 0
    this.creditWaitMs(slot);
    slot.credits = Math.max(0, slot.credits - 1);
    this.inFlight++;
    const version = slot.version;
    slot.answering = false;
    let retryMs: number | undefined;
    try {
      const { namespace, name } = splitId(slot.id);
      const device = this.source.device(namespace, name);
      if (!device) {
        // Deleted while waiting: there is nothing left to make durable.
        this.forget(slot.id);
        return;
      }
      const status = pruned(device, slot.status);
      await this.source.writeStatus(device, status);
      this.opts.metrics?.statusWrites.inc();
      slot.flushed = version;
      const done = slot.waiters.filter((w) => w.version <= version);
      slot.waiters = slot.waiters.filter((w) => w.version > version);
      for (const w of done) w.resolve();
      this.opts.observer?.onStatusWritten(slot.id);
    } catch (e) {
      this.opts.metrics?.statusWriteErrors.inc();
      retryMs = Math.max(this.intervalMs, 500);
      this.logger.warn({ err: e, device: slot.id, retryInMs: retryMs }, 'status write failed; will retry');
    } finally {
      this.inFlight--;
      if (slot.phase === 'writing') slot.phase = 'idle';
      if (this.slots.get(slot.id) === slot && slot.version > slot.flushed) this.schedule(slot, retryMs);
      this.pump();
    }
  }

  private forget(id: string, reason?: Error): void {
    const slot = this.slots.get(id);
    if (!slot) return;
    this.slots.delete(id);
    this.ready.delete(slot);
    this.answering.delete(slot);
    if (slot.timer) {
      clearTimeout(slot.timer);
      this.opts.metrics?.pendingDevices.dec();
    }
    for (const w of slot.waiters) reason ? w.reject(reason) : w.resolve();
    slot.waiters = [];
  }
}

/**
 * True if a reported value in `twins` equals its property's desired value in spec and that desired value (value
 * and timestamp) has not been answered before: the report is what a user who set it waits for.
 */
function answersCommand(device: Device, slot: Slot, twins: TwinReportEntry[]): boolean {
  let answers = false;
  for (const t of twins) {
    if (!t.reported) continue;
    const desired = device.spec.properties?.find((p) => p.name === t.property)?.desired;
    if (!desired || desired.value !== t.reported.value) continue;
    const key = `${desired.value}\u0000${desired.metadata?.timestamp ?? ''}`;
    if (slot.answered.get(t.property) === key) continue;
    slot.answered.set(t.property, key);
    answers = true;
  }
  return answers;
}

/** Twins of properties no longer in spec are dropped, as KubeEdge does when a property is removed. */
function pruned(device: Device, status: DeviceStatusFields): DeviceStatusFields {
  const names = new Set((device.spec.properties ?? []).map((p) => p.name));
  const out = structuredClone(status);
  if (out.twins) out.twins = out.twins.filter((t) => names.has(t.propertyName));
  return out;
}
