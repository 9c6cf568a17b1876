// Serves one device: connects with backoff, reads each collectCycle group in one batch, reports what
// the report policy lets through on the mapper's report channel (report-channel.ts; resent on a transient
// refusal of the twin, reported on a permanent one), reconciles desired values, pushes data, reports its
// state. A changed spec is applied in place: only a changed protocol config reconnects.

import {
  checkValue,
  encodeMapperReportEntryOf,
  encodeMapperReportField,
  type DeviceState,
  type ResolvedDevice,
  type PushStatus,
  pushStatusTopic,
  type ReportStatus,
  type ResolvedProperty,
  reportStatusTopic,
  TRANSIENT_REPORT_CODES,
  type WriteStatus,
  writeStatusTopic,
} from '@edgetwin/api';
import type { BusClient } from '@edgetwin/eventbus/contracts';
import type { Logger } from 'pino';
import { backoff, delay, withTimeout } from './backoff.js';
import { type DeviceDriver, DriverError, type DriverFactory, type RawValue, type ReadResult } from './driver.js';
import type { DeviceTally, MapperMetrics } from './metrics.js';
import { DevicePusher, type PushConnections } from './push.js';
import { type RetryPolicy, WriteReconciler } from './reconciler.js';
import type { ReportChannel, ReportListener } from './report-channel.js';
import { ReportGate, reportPolicy } from './report-policy.js';
import type { SinkHub } from './sinks/hub.js';
import { type Cycle, phaseGroupMs, startCycle } from './scheduler.js';
import { toEngineering, transformSpecOf } from './transforms.js';

export interface WorkerOptions {
  connectBackoffMs: number;
  maxConnectBackoffMs: number;
  /** longest one driver call may take before it counts as a timeout */
  callTimeoutMs: number;
  writeRetry: RetryPolicy;
}

export interface WorkerDeps {
  factory: DriverFactory;
  bus: BusClient;
  logger: Logger;
  metrics: MapperMetrics;
  connections: PushConnections;
  sinks: SinkHub;
  /** the mapper's one report channel to the twin */
  reports: ReportChannel;
  options: WorkerOptions;
}

const OFFLINE_CODES = new Set(['connection', 'not-connected']);

/**
 * The read path's state of one property, one object per property updated in place (issue 15: no
 * allocation per reading). Made at its first reading; dropped with the property.
 */
interface Slot {
  name: string;
  /** the latest reading (engineering value) and when it was read */
  value: string;
  timestamp: number;
  /** the last raw value and the property definition it was converted with: the same raw value of the
   *  same property converts to the same engineering value, so a steady reading skips the transform */
  raw: RawValue | undefined;
  rawOf: ResolvedProperty | undefined;
  eng: string;
  /** the last value the model accepted (a steady value is not checked again); reset on a spec change */
  checked: string | undefined;
  /** the property's report gate and write reconciler (the maps' entries, kept here for the read path) */
  gate: ReportGate | undefined;
  reconciler: WriteReconciler | undefined;
  /** the report channel's encoding of `value` (encodeMapperReportField), made once per changed value */
  field: string;
  fieldOf: string | undefined;
}

/** Properties compared without their desired value: a new desired value comes as a delta, not a redefinition. */
function definition(p: ResolvedProperty): string {
  const { desired: _d, ...rest } = p;
  return JSON.stringify(rest);
}

/**
 * Scratch lists of one read's readings (handleReadings) and of the slots one report carries, shared by every
 * worker: both run synchronously to the end and neither runs inside the other, so no allocation per read
 * and no memory per device (issue 15).
 */
const OK_PROPS: ResolvedProperty[] = [];
const OK_SLOTS: Slot[] = [];
const OK_VALUES: string[] = [];
const OK_STAMPS: number[] = [];
const INCLUDED: Slot[] = [];

/** A report the twin could not take for now, sent again after a backoff (issue 9's leftover). */
interface Resend {
  attempt: number;
  last: number;
  timer?: NodeJS.Timeout;
}

export class DeviceWorker implements ReportListener {
  private driver: DeviceDriver | undefined;
  private connected = false;
  private generation: AbortController | undefined;
  private readonly groups = new Map<number, Cycle>();
  private readonly gates = new Map<string, ReportGate>();
  private readonly reconcilers = new Map<string, WriteReconciler>();
  private readonly slots = new Map<string, Slot>();
  // The maps and sets below stay empty on a healthy device: made on first use, ~180 bytes each saved per
  // device otherwise (issue 15, target 3: 1,000 devices in one edge).
  private lastError: Map<string, string> | undefined;
  /** the last report entry: its properties' slots, their names and its encoding (reused while steady) */
  private lastEntry: { slots: Slot[]; names: readonly string[]; text: string } | undefined;
  /** properties whose last reading the model refused: value and reason, as published */
  private refused: Map<string, string> | undefined;
  private unsubscribePush: (() => Promise<void>) | undefined;
  private pushKey = '';
  private stateCycle: Cycle | undefined;
  private stateCycleKey = '';
  private state: DeviceState | undefined;
  private readonly pusher: DevicePusher;
  private stopped = false;
  /** when the current connection was made, and how many in a row dropped before they held (see lostConnection) */
  private connectedAt = 0;
  private drops = 0;
  private readonly log: Logger;
  /** properties by collectCycle, rebuilt when the spec changes rather than filtered on every tick */
  private byCycle = new Map<number, ResolvedProperty[]>();
  private readonly tally: DeviceTally;
  /** properties whose last report the twin refused for good: code and reason, as published */
  private twinRefused: Map<string, string> | undefined;
  /** resends of a property the twin could not take for now (issue 9's leftover) */
  private resends: Map<string, Resend> | undefined;
  /** a resend of the device's state after the twin refused its whole batch for now */
  private stateResend: Resend | undefined;
  /** in-process observers of write states (the REST API waits on a method write with one) */
  private writeListeners: Set<(s: WriteStatus) => void> | undefined;

  constructor(
    private device: ResolvedDevice,
    private readonly deps: WorkerDeps,
  ) {
    this.log = deps.logger.child({ device: device.id });
    this.tally = deps.metrics.tally(device.id);
    this.pusher = new DevicePusher(device, {
      connections: deps.connections,
      sinks: deps.sinks,
      latest: (p) => this.latestReading(p),
      onSinkState: (s) => this.publishPushStatus(s),
      logger: this.log,
      metrics: deps.metrics,
    });
  }

  get id(): string {
    return this.device.id;
  }

  start(): void {
    this.syncProperties(undefined);
    this.syncStateCycle();
    this.pusher.update(this.device);
    this.startGeneration();
  }

  /** Apply a changed spec without disturbing what did not change. */
  update(next: ResolvedDevice): void {
    const prev = this.device;
    this.device = next;
    const reconnect =
      prev.protocol !== next.protocol || JSON.stringify(prev.protocolConfig) !== JSON.stringify(next.protocolConfig);
    this.syncProperties(prev);
    this.syncStateCycle();
    this.pusher.update(next);
    if (reconnect) {
      this.log.info('protocol config changed; reconnecting this device');
      this.drops = 0; // a new address deserves an attempt at once
      // the old connection lets go of its resources (pins, sockets) before the new one takes them
      void this.stopGeneration().then(() => this.startGeneration());
      return;
    }
    if (this.connected) {
      this.syncGroups();
      void this.syncPush();
    }
  }

  /** A desired value from a twin delta. */
  setDesired(property: string, value: string): void {
    let r = this.reconcilers.get(property);
    if (!r) {
      // not a property of this device: the reconciler refuses it with a clear reason
      r = this.reconcilerFor(property);
    }
    r.setDesired(value);
  }

  /** The spec this worker serves now. */
  get spec(): ResolvedDevice {
    return this.device;
  }

  /** The latest reading of a property (engineering value), if any. */
  latestReading(property: string): { value: string; timestamp: number } | undefined {
    const s = this.slots.get(property);
    return s && { value: s.value, timestamp: s.timestamp };
  }

  /** The reconciler's current desired value and write state of a property. */
  writeState(property: string): { desired: string; state: WriteStatus['state'] | undefined } | undefined {
    return this.reconcilers.get(property)?.current;
  }

  /** Connection and buffer of one database sink of a property (the REST API's database route). */
  sinkStatus(property: string, kind: string): Record<string, unknown> | undefined {
    return this.pusher.sinkStatus(property, kind);
  }

  /** Calls back on every write status of this device until the returned function is called. */
  onWriteStatus(listener: (s: WriteStatus) => void): () => void {
    this.writeListeners ??= new Set();
    const listeners = this.writeListeners;
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /**
   * Reads one property from the device now (the REST API's live read), through the same transforms as a
   * cycle's reading. Throws a DriverError ('not-connected' while the device is not connected).
   */
  async readNow(property: string): Promise<{ value: string; timestamp: number }> {
    const p = this.device.properties.find((x) => x.name === property);
    if (!p) throw new DriverError(`device ${this.device.id} has no property ${property}`, 'config', false);
    const driver = this.driver;
    if (!this.connected || !driver)
      throw new DriverError(`device ${this.device.id} is not connected`, 'not-connected', true);
    const { callTimeoutMs } = this.deps.options;
    const r = (
      await withTimeout(
        driver.readBatch([p]),
        callTimeoutMs,
        () => new DriverError(`device ${this.device.id}: read timed out after ${callTimeoutMs} ms`, 'timeout', true),
      )
    ).get(p.name);
    if (!r) throw new DriverError(`driver returned no result for property ${p.name}`, 'io', true);
    if (!r.ok) throw r.error;
    const spec = transformSpecOf(p);
    const eng = spec.ok ? toEngineering(r.value, p, spec.value) : spec;
    if (!eng.ok) throw new DriverError(`property ${p.name}: ${eng.reason}`, 'config', false);
    return { value: eng.value, timestamp: r.timestamp };
  }

  async stop(opts: { publishOffline: boolean }): Promise<void> {
    this.stopped = true;
    this.stateCycle?.stop();
    this.pusher.stop();
    for (const r of this.reconcilers.values()) r.stop();
    for (const r of this.resends?.values() ?? []) clearTimeout(r.timer);
    this.resends = undefined;
    clearTimeout(this.stateResend?.timer);
    this.stateResend = undefined;
    await this.stopGeneration();
    if (opts.publishOffline) this.publishState('offline');
  }

  // ---- properties, reports, writes ----

  private syncProperties(prev: ResolvedDevice | undefined): void {
    this.byCycle = new Map();
    for (const s of this.slots.values()) s.checked = undefined; // a changed model may take or refuse them differently
    for (const p of this.device.properties) {
      const list = this.byCycle.get(p.collectCycleMs);
      if (list) list.push(p);
      else this.byCycle.set(p.collectCycleMs, [p]);
    }
    const before = new Map((prev?.properties ?? []).map((p) => [p.name, p]));
    const now = new Set(this.device.properties.map((p) => p.name));
    for (const name of before.keys()) {
      if (now.has(name)) continue;
      this.reconcilers.get(name)?.stop();
      this.reconcilers.delete(name);
      this.gates.delete(name);
      this.slots.delete(name);
      this.refused?.delete(name);
      this.twinRefused?.delete(name);
    }
    for (const p of this.device.properties) {
      const old = before.get(p.name);
      const redefined = !old || definition(old) !== definition(p);
      if (redefined) this.gates.set(p.name, new ReportGate(reportPolicy(p), p.type));
      // the spec's desired value is not written: desired values arrive only by the delta (runtime.ts)
      const r = this.reconcilers.get(p.name) ?? this.reconcilerFor(p.name);
      if (old && redefined) r.refresh();
    }
    for (const [name, slot] of this.slots) {
      slot.gate = this.gates.get(name);
      slot.reconciler = this.reconcilers.get(name);
    }
  }

  private reconcilerFor(name: string): WriteReconciler {
    const r = new WriteReconciler(name, {
      deviceId: this.device.id,
      property: () => this.device.properties.find((p) => p.name === name),
      driver: () => (this.connected ? this.driver : undefined),
      publish: (s) => this.publishWriteStatus(s),
      onReadBack: (value, ts) => {
        const p = this.device.properties.find((x) => x.name === name);
        // the answer to a command leaves at once, not with the next flush (issue 15 target 5)
        if (p) this.report([p], [this.slotOf(p.name, value, ts)], [value], [ts], true);
      },
      onFinal: (result) => this.deps.metrics.writes.inc({ device: this.device.id, result }),
      logger: this.log,
      retry: this.deps.options.writeRetry,
      callTimeoutMs: this.deps.options.callTimeoutMs,
    });
    if (this.device.properties.some((p) => p.name === name)) {
      this.reconcilers.set(name, r);
      const slot = this.slots.get(name);
      if (slot) slot.reconciler = r;
    }
    return r;
  }

  private publishWriteStatus(s: WriteStatus): void {
    if (this.writeListeners) for (const l of this.writeListeners) l(s);
    this.deps.bus
      .publish(writeStatusTopic(this.device.id), JSON.stringify(s), { qos: 1 })
      .catch((e) => this.log.warn({ err: (e as Error).message }, 'could not publish write status'));
  }

  /**
   * Hands the readings the report policy lets through to the mapper's report channel, as one entry of this
   * device (no per-property metadata: the twin knows the model). `props[i]` was read as `values[i]` at
   * `stamps[i]`. `urgent`: a write's read-back, sent now.
   */
  private report(
    props: readonly ResolvedProperty[],
    slots: readonly Slot[],
    values: readonly string[],
    stamps: readonly number[],
    urgent = false,
  ): void {
    const now = Date.now();
    const included = INCLUDED;
    included.length = 0;
    const last = this.lastEntry;
    /** the entry differs from the last one: another property set, or a value encoded anew */
    let differs = last === undefined;
    let superseded = true;
    for (let i = 0; i < props.length; i++) {
      const p = props[i]!;
      const value = values[i]!;
      const slot = slots[i]!;
      slot.value = value;
      slot.timestamp = stamps[i]!;
      if (!p.reportToCloud) continue;
      // The twin refuses a whole twin/update for one bad value: check each against the model first, so a
      // reading the model refuses never keeps its neighbours out (issue 9 §5). Not offered to the gate, so
      // the property is sent as soon as a reading passes, or the model (a new gate) accepts it.
      if (!this.acceptable(p, slot, value, stamps[i]!)) continue;
      const gate = slot.gate;
      if (gate && !gate.offer(value, now)) continue;
      superseded &&= gate?.periodic === true;
      // a steady value reuses its encoding (most readings of a polled device are steady)
      if (slot.fieldOf !== value) {
        slot.field = encodeMapperReportField(p.name, value);
        slot.fieldOf = value;
        differs = true;
      } else if (!differs && last!.slots[included.length] !== slot) differs = true;
      included.push(slot);
    }
    if (included.length === 0) return;
    this.tally.reports++;
    let entry = last;
    if (differs || entry === undefined || entry.slots.length !== included.length) {
      // a steady device sends the very entry it sent last time: built only when something differs
      const names: string[] = [];
      let fields = '';
      for (const slot of included) {
        names.push(slot.name);
        fields += slot.field;
      }
      entry = { slots: included.slice(), names, text: encodeMapperReportEntryOf(this.device.id, fields) };
      this.lastEntry = entry;
    }
    // QoS 0 only when every property in it is reported again next report cycle anyway (mode `cycle`);
    // otherwise a lost report leaves the twin stale until the next change (docs/mappers.md, "Reporting: QoS")
    this.deps.reports.addEntry(this.device.id, entry.names, entry.text, !superseded, urgent);
  }

  /** The property's slot, holding `value` read at `ts` as its latest reading. */
  private slotOf(name: string, value: string, ts: number): Slot {
    let slot = this.slots.get(name);
    if (!slot) {
      slot = {
        name,
        value,
        timestamp: ts,
        raw: undefined,
        rawOf: undefined,
        eng: '',
        gate: this.gates.get(name),
        reconciler: this.reconcilers.get(name),
        checked: undefined,
        field: '',
        fieldOf: undefined,
      };
      this.slots.set(name, slot);
    } else {
      slot.value = value;
      slot.timestamp = ts;
    }
    return slot;
  }

  /**
   * The twin refused a reported reading (report-channel.ts). For now (429 full queue, 500 store failure):
   * the property's latest reading is sent again after the connect backoff. For good (a limit, an unknown
   * property): logged, counted, and reported as a refused reading until the twin takes one again.
   */
  reportRefused(property: string, code: number, reason: string): void {
    this.deps.metrics.reportRefusals.inc({ device: this.device.id, code: String(code) });
    if (TRANSIENT_REPORT_CODES.has(code)) {
      this.resends ??= new Map();
      const r = this.resends.get(property) ?? { attempt: 0, last: 0 };
      this.resends.set(property, r);
      this.scheduleResend(
        r,
        { property, code, reason },
        'the twin could not take a reading now; resending the latest',
        () => this.resend(property),
      );
      return;
    }
    const key = `${code}\u0000${reason}`;
    this.twinRefused ??= new Map();
    if (this.twinRefused.get(property) === key) return;
    this.twinRefused.set(property, key);
    const value = this.slots.get(property)?.value ?? '';
    this.log.warn({ property, code, reason }, 'the twin refused a reading');
    this.publishReportStatus({
      property,
      state: 'refused',
      value,
      reason: `the twin refused it (${code}): ${reason}`,
      timestamp: Date.now(),
    });
  }

  /**
   * The twin refused the batch that carried this device's state. For now (429, 500, 503): the current
   * state is sent again after the connect backoff, as a change (QoS 1); anything else is logged (the
   * mapper only sends states the twin knows, and the next periodic report says it again).
   */
  stateRefused(code: number, reason: string): void {
    if (!TRANSIENT_REPORT_CODES.has(code) || this.stopped) {
      this.log.warn({ code, reason }, 'the twin refused the device state');
      return;
    }
    this.stateResend ??= { attempt: 0, last: 0 };
    this.scheduleResend(
      this.stateResend,
      { code, reason },
      'the twin could not take the device state now; resending it',
      () => {
        if (!this.stopped && this.state) this.deps.reports.addState(this.device.id, this.state, true);
      },
    );
  }

  /**
   * Sends again after the connect backoff of `r`'s attempt (reset once the twin took things for a while);
   * one resend on its way at a time. Logged at warn on the first attempt, then at debug.
   */
  private scheduleResend(r: Resend, fields: Record<string, unknown>, msg: string, send: () => void): void {
    if (r.timer) return; // a resend is already on its way
    const { connectBackoffMs, maxConnectBackoffMs } = this.deps.options;
    const now = Date.now();
    if (now - r.last > 2 * maxConnectBackoffMs) r.attempt = 0;
    r.attempt++;
    r.last = now;
    const wait = backoff(r.attempt, connectBackoffMs, maxConnectBackoffMs);
    this.log[r.attempt === 1 ? 'warn' : 'debug']({ ...fields, attempt: r.attempt, retryInMs: wait }, msg);
    r.timer = setTimeout(() => {
      r.timer = undefined;
      send();
    }, wait);
  }

  /** The twin took a reading of a property it had refused: the refusal ends. */
  reportAccepted(property: string): void {
    if (!this.twinRefused?.delete(property)) return;
    this.log.info({ property }, 'the twin takes readings of this property again');
    this.publishReportStatus({ property, state: 'accepted', timestamp: Date.now() });
  }

  private resend(property: string): void {
    if (this.stopped) return;
    const p = this.device.properties.find((x) => x.name === property);
    const last = this.slots.get(property);
    if (!p?.reportToCloud || !last) return;
    this.deps.reports.add(this.device.id, [property], [last.value], true);
  }

  /** Checks a reading as the twin will (type, minimum, maximum); publishes a refusal or its end on change. */
  private acceptable(p: ResolvedProperty, slot: Slot, value: string, ts: number): boolean {
    // a steady value is the common case: its check passed when it was first read
    if (slot.checked === value) return true;
    const check = checkValue({ type: p.type, minimum: p.minimum?.toString(), maximum: p.maximum?.toString() }, value);
    const prev = this.refused?.get(p.name);
    if (check.ok) {
      slot.checked = value;
      if (prev === undefined) return true;
      this.refused?.delete(p.name);
      this.log.info({ property: p.name }, 'reading accepted by the model again');
      this.publishReportStatus({ property: p.name, state: 'accepted', timestamp: ts });
      return true;
    }
    slot.checked = undefined;
    const key = `${value}\u0000${check.reason}`;
    if (prev === key) return false;
    this.refused ??= new Map();
    this.refused.set(p.name, key);
    this.log.warn({ property: p.name, value, reason: check.reason }, 'reading refused by the model; not reported');
    this.publishReportStatus({ property: p.name, state: 'refused', value, reason: check.reason, timestamp: ts });
    return false;
  }

  /** A property's push to a sink fails or works again: to the twin, which carries it to the cloud (issue 17). */
  private publishPushStatus(s: Omit<PushStatus, 'timestamp'>): void {
    const status: PushStatus = { ...s, timestamp: Date.now() };
    this.deps.bus
      .publish(pushStatusTopic(this.device.id), JSON.stringify(status), { qos: 1 })
      .catch((e) => this.log.warn({ err: (e as Error).message }, 'could not publish push status'));
  }

  private publishReportStatus(s: ReportStatus): void {
    this.deps.bus
      .publish(reportStatusTopic(this.device.id), JSON.stringify(s), { qos: 1 })
      .catch((e) => this.log.warn({ err: (e as Error).message }, 'could not publish report status'));
  }

  /** `readStartedAt`: performance.now() when the read was sent (a pushed value: undefined, it is new) */
  private handleReadings(props: ResolvedProperty[], results: Map<string, ReadResult>, readStartedAt?: number): void {
    // scratch lists, reused: report() takes what it needs before this runs again
    const okProps = OK_PROPS;
    const okSlots = OK_SLOTS;
    const values = OK_VALUES;
    const stamps = OK_STAMPS;
    okProps.length = 0;
    okSlots.length = 0;
    values.length = 0;
    stamps.length = 0;
    let offline = 0;
    let failed = 0;
    for (const p of props) {
      const r = results.get(p.name) ?? {
        ok: false as const,
        error: new DriverError(`driver returned no result for property ${p.name}`, 'io', true),
      };
      if (r.ok) {
        let value: string;
        let slot = this.slots.get(p.name);
        if (slot?.rawOf === p && slot.raw === r.value) {
          // the same raw value of the same property definition: the same engineering value (transforms are pure)
          value = slot.eng;
        } else {
          const spec = transformSpecOf(p);
          const eng = spec.ok ? toEngineering(r.value, p, spec.value) : spec;
          if (!eng.ok) {
            this.noteError(p.name, eng.reason, 'config');
            failed++;
            continue;
          }
          value = eng.value;
          slot ??= this.slotOf(p.name, value, r.timestamp);
          slot.raw = r.value;
          slot.rawOf = p;
          slot.eng = value;
        }
        if (this.lastError !== undefined && this.lastError.size > 0 && this.lastError.delete(p.name))
          this.log.info({ property: p.name }, 'property readable again');
        okProps.push(p);
        okSlots.push(slot);
        values.push(value);
        stamps.push(r.timestamp);
        slot.reconciler?.onReading(value, readStartedAt);
        continue;
      }
      failed++;
      if (OFFLINE_CODES.has(r.error.code)) offline++;
      this.noteError(p.name, r.error.message, r.error.code);
    }
    this.report(okProps, okSlots, values, stamps);
    if (okProps.length) this.tally.lastSuccess = Date.now() / 1000;
    if (offline > 0 && offline === props.length) this.lostConnection('every read says the device is unreachable');
    else {
      const state = failed > 0 && okProps.length === 0 ? 'unhealthy' : 'online';
      // the same state again publishes nothing: skip the call (and its promise) on every reading
      if (state !== this.state) this.publishState(state);
    }
  }

  /** Logs a read error when it first appears or changes, not on every cycle. */
  private noteError(property: string, message: string, code: string): void {
    this.deps.metrics.readErrors.inc({ device: this.device.id, code });
    this.lastError ??= new Map();
    if (this.lastError.get(property) === message) return;
    this.lastError.set(property, message);
    this.log.warn({ property, code, err: message }, 'read failed');
  }

  private onPushedValue(property: string, raw: RawValue, ts: number): void {
    const p = this.device.properties.find((x) => x.name === property);
    if (!p) return;
    this.handleReadings([p], new Map([[property, { ok: true, value: raw, timestamp: ts }]]));
  }

  // ---- connection, polling, push subscriptions ----

  private startGeneration(): void {
    if (this.stopped) return;
    const gen = new AbortController();
    this.generation = gen;
    try {
      this.driver = this.deps.factory.create(this.device, {
        logger: this.log,
        signal: gen.signal,
        publish: (topic, payload) => this.deps.bus.publish(topic, payload, { qos: 0 }),
      });
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'driver refused the device');
      this.publishState('unhealthy');
      return;
    }
    void this.connectLoop(gen);
  }

  private async stopGeneration(): Promise<void> {
    this.generation?.abort();
    this.generation = undefined;
    this.connected = false;
    for (const c of this.groups.values()) c.stop();
    this.groups.clear();
    const unsub = this.unsubscribePush;
    this.unsubscribePush = undefined;
    this.pushKey = '';
    await unsub?.().catch(() => undefined);
    const d = this.driver;
    this.driver = undefined;
    await d?.disconnect().catch((e) => this.log.debug({ err: (e as Error).message }, 'disconnect failed'));
  }

  private async connectLoop(gen: AbortController): Promise<void> {
    const { connectBackoffMs, maxConnectBackoffMs, callTimeoutMs } = this.deps.options;
    if (this.drops > 0) {
      // the last connections dropped soon after they were made (a gateway that accepts, then hangs up):
      // a connect that succeeds is no proof of health, so wait as if it had failed
      await delay(backoff(this.drops, connectBackoffMs, maxConnectBackoffMs), gen.signal);
    }
    for (let attempt = 1; !gen.signal.aborted; attempt++) {
      const driver = this.driver;
      if (!driver) return;
      try {
        await withTimeout(
          driver.connect(),
          callTimeoutMs,
          () =>
            new DriverError(`device ${this.device.id}: connect timed out after ${callTimeoutMs} ms`, 'timeout', true),
        );
        if (gen.signal.aborted) return;
        this.deps.metrics.connects.inc({ device: this.device.id, result: 'ok' });
        this.connected = true;
        this.connectedAt = Date.now();
        this.log[this.drops > 1 ? 'debug' : 'info']({ attempt }, 'device connected');
        for (const g of this.gates.values()) g.reset();
        this.publishState('online');
        this.syncGroups();
        await this.syncPush();
        for (const r of this.reconcilers.values()) r.onConnected();
        return;
      } catch (e) {
        if (gen.signal.aborted) return;
        this.deps.metrics.connects.inc({ device: this.device.id, result: 'error' });
        const wait = backoff(attempt, connectBackoffMs, maxConnectBackoffMs);
        const level = attempt === 1 ? 'warn' : 'debug';
        this.log[level]({ attempt, retryInMs: wait, err: (e as Error).message }, 'device connect failed');
        this.publishState('offline');
        await driver.disconnect().catch(() => undefined);
        await delay(wait, gen.signal);
      }
    }
  }

  private lostConnection(reason: string): void {
    if (!this.connected) return;
    // A connection that held for the longest backoff was healthy; one that dropped sooner adds to a series
    // of drops, which the next connect waits out with the one backoff (and logs once, not at every drop).
    const held = Date.now() - this.connectedAt >= this.deps.options.maxConnectBackoffMs;
    this.drops = held ? 1 : this.drops + 1;
    const retryInMs = backoff(this.drops, this.deps.options.connectBackoffMs, this.deps.options.maxConnectBackoffMs);
    this.log[this.drops > 1 ? 'debug' : 'warn'](
      { reason, drops: this.drops, retryInMs },
      'device connection lost; reconnecting',
    );
    this.publishState('offline');
    void this.stopGeneration().then(() => this.startGeneration());
  }

  /** One read cycle per distinct collectCycle; a cycle's members are looked up at each tick. */
  private syncGroups(): void {
    const cycles = new Set(this.device.properties.map((p) => p.collectCycleMs));
    for (const [ms, c] of this.groups)
      if (!cycles.has(ms)) {
        c.stop();
        this.groups.delete(ms);
      }
    for (const ms of cycles) {
      if (this.groups.has(ms)) continue;
      const cycle = startCycle(ms, () => this.readGroup(ms), {
        onOverrun: (n) => this.deps.metrics.overruns.inc({ device: this.device.id }, n),
        onError: (e) => this.log.error({ err: (e as Error).message }, 'read cycle failed'),
      });
      this.groups.set(ms, cycle);
    }
  }

  private async readGroup(cycleMs: number): Promise<void> {
    const driver = this.driver;
    if (!this.connected || !driver) return;
    const props = this.byCycle.get(cycleMs);
    if (!props) return;
    const { callTimeoutMs } = this.deps.options;
    const end = this.deps.metrics.readLatency.startTimer({ device: this.device.id });
    const startedAt = performance.now();
    let results: Map<string, ReadResult>;
    try {
      results = await withTimeout(
        driver.readBatch(props),
        callTimeoutMs,
        () => new DriverError(`device ${this.device.id}: read timed out after ${callTimeoutMs} ms`, 'timeout', true),
      );
    } catch (e) {
      const error = e instanceof DriverError ? e : new DriverError((e as Error).message, 'io', true, { cause: e });
      results = new Map(props.map((p) => [p.name, { ok: false as const, error }]));
    }
    end();
    this.tally.reads++;
    if (driver !== this.driver) return; // reconnected meanwhile
    this.handleReadings(props, results, startedAt);
  }

  private async syncPush(): Promise<void> {
    const driver = this.driver;
    if (!driver?.subscribe) return;
    const pushed = driver.pushed
      ? (p: ResolvedProperty) => driver.pushed?.(p) === true
      : (p: ResolvedProperty) => p.visitor.edge !== undefined && p.visitor.edge !== 'none';
    const props = this.device.properties.filter(pushed);
    const key = JSON.stringify(props);
    if (key === this.pushKey) return;
    this.pushKey = key;
    const old = this.unsubscribePush;
    this.unsubscribePush = undefined;
    await old?.().catch(() => undefined);
    if (props.length === 0) return;
    try {
      this.unsubscribePush = await driver.subscribe(props, (p, v, ts) => this.onPushedValue(p, v, ts));
    } catch (e) {
      this.pushKey = '';
      this.log.warn({ err: (e as Error).message }, 'could not subscribe to pushed values; polling only');
    }
  }

  // ---- state ----

  private syncStateCycle(): void {
    const { reportToCloud, reportCycleMs } = this.device.stateReport;
    const key = reportToCloud ? String(reportCycleMs) : '';
    if (key === this.stateCycleKey) return;
    this.stateCycleKey = key;
    this.stateCycle?.stop();
    this.stateCycle = undefined;
    if (!reportToCloud) return;
    // in one of a few slices of the period, not on the grid's tick (issue 15 target 5): 1,000 devices'
    // state reports and the twin's answers in one burst held back a command's answer each second
    this.stateCycle = startCycle(reportCycleMs, () => this.periodicState(), {
      immediate: false,
      phaseMs: phaseGroupMs(this.device.id, reportCycleMs),
    });
  }

  private async periodicState(): Promise<void> {
    if (this.connected && this.driver) {
      const h = await withTimeout(
        this.driver.health(),
        this.deps.options.callTimeoutMs,
        () => new Error('health timed out'),
      ).catch(() => 'offline' as const);
      if (h === 'offline') return this.lostConnection('health check says offline');
      if (h === 'unhealthy' || h === 'unknown') this.state = h;
    }
    this.publishState(this.state ?? 'unknown', true);
  }

  private publishState(state: DeviceState, force = false): void {
    const changed = state !== this.state;
    if (!force && !changed) return;
    if (changed) this.log.info({ from: this.state, to: state }, 'device state');
    this.state = state;
    // On the report channel, not `$hw` state/update (issue 15 target 5): 1,000 devices' periodic states
    // and the twin's 1,000 answers a second shared the event loop with every command's answer; here a
    // slice of them is one batch with no answer. A change must not be lost (QoS 1); the periodic report of
    // the same state is superseded by the next one (QoS 0, as a reading in report mode cycle).
    this.deps.reports.addState(this.device.id, state, changed);
  }
}
