// The twin algorithm: KubeEdge's twin/update, state/update, twin/get and membership semantics
// (reference/kubeedge.md §3.2-§3.4), with value comparison, typed values and cloud/edge desired precedence
// (docs/twin.md). Every method validates first and throws TwinError before touching anything, then
// mutates the in-memory records and the store together; the caller wraps calls in a store transaction and
// publishes the collected Effects after commit.

import {
  checkValue,
  dictionary,
  type Device,
  type DeviceModel,
  deviceId,
  deviceTopic,
  membershipUpdatedTopic,
  type ModelProperty,
  type MsgTwin,
  normaliseState,
  type PropertyType,
  type PushStatus,
  type MapperReportEntry,
  type ReportStatus,
  sameValue,
  type TwinReportEntry,
  type TwinUpdateMessage,
  twinMetadataType,
  typeFromTwinMetadata,
  type WriteStatus,
} from '@edgetwin/api';
import type { Logger } from 'pino';
import { TwinError } from '../errors.js';
import type { TwinStore } from '../store/twin-store.js';
import type { Effects } from './effects.js';
import type { ReadingAnswers } from './reading-answers.js';
import { type TwinLimits, TwinLimitError, twinEntryBytes } from './limits.js';
import { MapperSpecs } from './mapper-specs.js';
import { OutboxWriter } from './outbox-writer.js';
import {
  deltaMessage,
  documentMessage,
  membershipGetResult,
  membershipUpdated,
  msgTwinOf,
  rfc3339,
  stateResult,
  twinMap,
} from './payloads.js';
import { cloneTwin, type DeviceRecord, type ModelRecord, newTwin, type TwinRecord } from './records.js';

/** KubeEdge's twin key rule; applied to twins an update creates (model property names come from YAML). */
const TWIN_KEY_RE = /^[a-zA-Z0-9-_.,:/@#]{1,128}$/;
/** A name that can sit in one MQTT topic level. */
const TOPIC_LEVEL_RE = /^[^/+#]+$/;
/** last_online of a device that keeps reporting "online" is written to disk at most this often. */
export const LAST_ONLINE_PERSIST_MS = 60_000;

interface TwinChange {
  name: string;
  last: TwinRecord | undefined;
  next: TwinRecord | undefined;
  report?: TwinReportEntry;
  /** cached by bytesDelta() */
  bytesDelta?: number;
}

/** Failing sinks the twin holds per property (a property names at most four sinks). */
const MAX_FAILING_PUSH_PER_PROPERTY = 8;
export class TwinEngine {
  readonly models = new Map<string, ModelRecord>();
  readonly devices = new Map<string, DeviceRecord>();
  private readonly specs: MapperSpecs;
  /** appends reports to the outbox, replacing older unacknowledged reports of the same values */
  readonly reports: OutboxWriter;
  private lastOnlinePersisted = new Map<string, number>();
  /** bytes of each device's twin as twin/get returns it (twinEntryBytes summed), computed on first use */
  private readonly twinBytes = new Map<string, number>();

  constructor(
    private readonly store: TwinStore,
    readonly node: string,
    private readonly log: Logger,
    readonly limits: TwinLimits,
  ) {
    this.specs = new MapperSpecs(node);
    this.reports = new OutboxWriter(store);
    this.reload();
  }

  /** Rebuilds the in-memory view from disk (at open, and after a rolled-back transaction). */
  reload(): void {
    const { models, devices } = this.store.loadAll();
    this.models.clear();
    this.devices.clear();
    for (const [k, v] of models) this.models.set(k, v);
    for (const [k, v] of devices) this.devices.set(k, v);
    this.specs.clear();
    this.reports.load();
    this.lastOnlinePersisted.clear();
    this.twinBytes.clear();
    this.log.debug({ devices: this.devices.size, models: this.models.size }, 'twin state loaded from disk');
  }

  /** Publishes every device's mapper spec and pending delta (at startup, so mappers catch up). */
  republishAll(fx: Effects, now: number): void {
    for (const dev of this.devices.values()) {
      const model = this.models.get(dev.modelId);
      if (!model) continue;
      this.specs.publish(dev, model.model, fx, true);
      const delta = deltaMessage(dev, now);
      if (delta) fx.publish(deviceTopic(dev.id, 'twin/update/delta'), delta);
    }
  }

  device(id: string): DeviceRecord {
    const dev = this.devices.get(id);
    if (!dev) throw new TwinError(404, `device ${id} is not on node ${this.node}`);
    return dev;
  }

  // ---------------------------------------------------------------- MQTT API

  /** `reply` false: a local call, whose caller gets the outcome directly and no /result goes out. */
  twinUpdate(id: string, msg: TwinUpdateMessage, fx: Effects, now: number, reply = true): void {
    const dev = this.device(id);
    const changes = this.planTwinUpdate(dev, msg, now);
    this.commitTwinChanges(dev, changes, msg.event_id, fx, now);
    if (!reply) return;
    const result = dictionary<MsgTwin | null>();
    for (const name of Object.keys(msg.twin)) {
      const t = dev.twins.get(name);
      result[name] = t ? msgTwinOf(t, false) : null;
    }
    fx.publish(deviceTopic(id, 'twin/update/result'), { event_id: msg.event_id, timestamp: now, twin: result });
  }

  /**
   * One device's readings from our mappers' report channel (issue 15): actual values only, each property
   * applied or refused alone (a refusal never keeps a neighbour out), no /result. What changed is committed
   * as a twin/update would be: stored, a document for apps, a report to the cloud. Refusals go to `answer`.
   */
  applyReadings(entry: MapperReportEntry, fx: Effects, now: number, answer: ReadingAnswers): void {
    const id = entry[0] as string;
    const dev = this.devices.get(id);
    if (!dev) {
      answer.refuse(id, '', 404, `device ${id} is not on node ${this.node}`);
      return;
    }
    const props = this.propsOfDevice(dev);
    const changes: TwinChange[] = [];
    let growth = 0;
    for (let i = 1; i < entry.length; i += 2) {
      const name = entry[i] as string;
      const value = entry[i + 1] as string;
      const existing = dev.twins.get(name);
      // the same string as stored: nothing to check or change (it passed the checks when it was stored)
      if (existing !== undefined && existing.actual === value) {
        if (answer.watching) answer.taken(id, name);
        continue;
      }
      try {
        if (!existing)
          throw new TwinError(404, `device ${id} has no property ${name} (a mapper reports its model's properties)`);
        const change = this.planEntry(dev, props, name, { actual: { value } }, now);
        if (change) {
          const more = bytesDelta(change);
          if (more > 0 && this.sizeOf(dev) + growth + more > this.limits.maxTwinBytes)
            throw new TwinLimitError(
              'twin-bytes',
              `device ${id} twin ${name}: the value would grow the twin to ${this.sizeOf(dev) + growth + more} bytes; the limit is ${this.limits.maxTwinBytes} bytes per device (maxTwinBytes)`,
            );
          growth += more;
          changes.push(change);
        }
        if (answer.watching) answer.taken(id, name);
      } catch (e) {
        if (!(e instanceof TwinError)) throw e;
        answer.refuse(id, name, e.code, e.message);
      }
    }
    this.commitTwinChanges(dev, changes, '', fx, now);
  }

  twinGet(id: string, eventId: string, fx: Effects, now: number): void {
    const dev = this.device(id);
    fx.publish(deviceTopic(id, 'twin/get/result'), { event_id: eventId, timestamp: now, twin: twinMap(dev) });
  }

  /** A mapper starting to serve a device asks for its pending desired values: the delta, if any. */
  deltaGet(id: string, fx: Effects, now: number): void {
    this.publishDelta(this.device(id), fx, now);
  }

  stateUpdate(id: string, eventId: string, stateText: string, fx: Effects, now: number): void {
    const dev = this.device(id);
    this.applyState(dev, stateText, fx, now);
    fx.publish(deviceTopic(id, 'state/update/result'), stateResult(eventId, dev, now));
  }

  /**
   * A device's state from our mappers' report channel (issue 15 target 5): taken as a state/update is, but
   * `state/update/result` is published only when what the cloud sees moves (a change, or the last-seen
   * refresh at most once a minute), not for every periodic report of the same state.
   */
  reportedState(id: string, stateText: string, fx: Effects, now: number, answer: ReadingAnswers): void {
    const dev = this.devices.get(id);
    if (!dev) {
      answer.refuse(id, '', 404, `device ${id} is not on node ${this.node}`);
      return;
    }
    try {
      if (this.applyState(dev, stateText, fx, now))
        fx.publish(deviceTopic(id, 'state/update/result'), stateResult('', dev, now));
    } catch (e) {
      if (!(e instanceof TwinError)) throw e;
      answer.refuse(id, '', e.code, e.message);
    }
  }

  /** Takes a state; true when it was stored and reported to the cloud (a change or the last-seen refresh). */
  private applyState(dev: DeviceRecord, stateText: string, fx: Effects, now: number): boolean {
    const id = dev.id;
    const state = normaliseState(stateText);
    if (!state)
      throw new TwinError(
        400,
        `device ${id}: state "${clip(stateText)}" is not one of online, offline, ok, unknown, unhealthy`,
      );
    const changed = state !== dev.state;
    // last_online is kept when a device goes offline (KubeEdge clears it): "last seen" is what users ask for.
    const lastOnline = state === 'online' || state === 'ok' ? rfc3339(now) : dev.lastOnline;
    const persistedAt = this.lastOnlinePersisted.get(id) ?? 0;
    dev.state = state;
    dev.lastOnline = lastOnline;
    // A repeated "online" refreshes last-seen on disk and in the cloud at most once a minute; a state
    // change goes out at once.
    if (!changed && now - persistedAt < LAST_ONLINE_PERSIST_MS) return false;
    this.store.putState(id, state, lastOnline);
    this.lastOnlinePersisted.set(id, now);
    this.reports.append({ kind: 'state', deviceId: id, state, lastOnlineTime: lastOnline }, now);
    fx.outboxAppended++;
    return true;
  }

  membershipGet(eventId: string, fx: Effects, now: number, topic: string): void {
    fx.publish(topic, membershipGetResult(eventId, this.devices.values(), now));
  }

  /** A mapper's acknowledgement of a desired value; stored on the twin and reported upstream. */
  writeStatus(id: string, ws: WriteStatus, fx: Effects, now: number): void {
    const dev = this.device(id);
    const t = dev.twins.get(ws.property);
    if (!t) throw new TwinError(404, `device ${id} has no twin ${ws.property}`);
    const prev = t.writeStatus;
    if (prev && prev.desired === ws.desired && prev.state === ws.state && prev.reason === ws.reason) return;
    t.writeStatus = ws;
    this.store.putTwin(id, t);
    this.reports.append({ kind: 'write', deviceId: id, status: ws }, now);
    fx.outboxAppended++;
  }

  /**
   * A mapper kept a reading out of its twin/update because the model refuses it, or accepts the property
   * again (issue 9 §5): kept on the twin and reported upstream, where `describe device` shows it.
   */
  reportStatus(id: string, rs: ReportStatus, fx: Effects, now: number): void {
    const dev = this.device(id);
    const t = dev.twins.get(rs.property);
    if (!t) throw new TwinError(404, `device ${id} has no twin ${rs.property}`);
    const prev = t.refused;
    // the mapper says `accepted` once per refusal: always forwarded, so a refusal the twin forgot (a restart) is
    // still cleared in the cloud
    if (rs.state === 'refused' && prev && prev.value === rs.value && prev.reason === rs.reason) return;
    t.refused = rs.state === 'refused' ? rs : undefined;
    this.reports.append({ kind: 'refused-reading', deviceId: id, status: rs }, now);
    fx.outboxAppended++;
  }

  /**
   * A mapper's push of a property to a sink fails (and why), or works again (issue 17): kept on the twin in
   * memory and reported upstream, where `describe device` shows it. `ok` is always forwarded, so a failure
   * the twin forgot (a restart) is still cleared in the cloud.
   */
  pushStatus(id: string, ps: PushStatus, fx: Effects, now: number): void {
    const dev = this.device(id);
    const t = dev.twins.get(ps.property);
    if (!t) throw new TwinError(404, `device ${id} has no twin ${ps.property}`);
    const prev = t.failingPush?.get(ps.sink);
    if (ps.state === 'failing') {
      if (prev && prev.reason === ps.reason) return;
      // a property names at most a handful of sinks (influxdb2, redis, mysql, otel): bound what a mapper can make us hold
      if (!prev && (t.failingPush?.size ?? 0) >= MAX_FAILING_PUSH_PER_PROPERTY)
        throw new TwinError(
          413,
          `device ${id} property ${ps.property}: more than ${MAX_FAILING_PUSH_PER_PROPERTY} failing sinks`,
        );
      t.failingPush ??= new Map();
      t.failingPush.set(ps.sink, ps);
    } else t.failingPush?.delete(ps.sink);
    this.reports.append({ kind: 'push-status', deviceId: id, status: ps }, now);
    fx.outboxAppended++;
  }

  /** The local interface for edge apps (KubeEdge #4166): same rules as twin/update with `expected`. */
  setDesiredLocally(id: string, property: string, value: string, fx: Effects, now: number): void {
    this.twinUpdate(
      id,
      { event_id: '', timestamp: now, twin: { [property]: { expected: { value } } } },
      fx,
      now,
      false,
    );
  }

  // ---------------------------------------------------------------- desired state from the cloud

  upsertModel(model: DeviceModel, fx: Effects, now: number): void {
    const id = deviceId(model);
    checkName(model.metadata.name, `DeviceModel ${id}: metadata.name`);
    const rec: ModelRecord = { id, model };
    this.store.putModel(rec);
    this.models.set(id, rec);
    for (const dev of this.devices.values()) {
      if (dev.modelId !== id) continue;
      const changed = this.syncTwins(dev, model, fx, now);
      this.specs.publish(dev, model, fx);
      if (changed) this.publishDelta(dev, fx, now);
    }
  }

  removeModel(id: string): void {
    const users = [...this.devices.values()].filter((d) => d.modelId === id).map((d) => d.id);
    if (users.length)
      throw new TwinError(409, `DeviceModel ${id} is still used by device(s) ${users.join(', ')}; remove them first`);
    this.store.deleteModel(id);
    this.models.delete(id);
  }

  upsertDevice(device: Device, fx: Effects, now: number): void {
    const id = deviceId(device);
    const ns = device.metadata.namespace ?? 'default';
    checkName(device.metadata.name, `Device ${id}: metadata.name`);
    checkName(ns, `Device ${id}: metadata.namespace`);
    const modelName = device.spec?.deviceModelRef?.name;
    if (!modelName) throw new TwinError(400, `Device ${id}: spec.deviceModelRef.name is missing`);
    const modelId = `${ns}/${modelName}`;
    const model = this.models.get(modelId);
    if (!model)
      throw new TwinError(
        404,
        `Device ${id}: spec.deviceModelRef names DeviceModel ${modelId}, which node ${this.node} does not hold`,
      );
    const protocol = device.spec.protocol?.protocolName ?? model.model.spec.protocol ?? '';
    if (!TOPIC_LEVEL_RE.test(protocol))
      throw new TwinError(
        400,
        `Device ${id}: protocol name "${protocol}" is empty or holds /, + or # (it names an MQTT topic level)`,
      );
    const modelProps = propsOf(model.model);
    for (const [i, p] of (device.spec.properties ?? []).entries()) {
      const v = p.desired?.value;
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string')
        throw new TwinError(400, `Device ${id}: spec.properties[${i}] (${p.name}).desired.value must be a string`);
      const check = checkValue(modelProps.get(p.name) ?? { type: 'STRING' }, v);
      if (!check.ok)
        throw new TwinError(400, `Device ${id}: spec.properties[${i}] (${p.name}).desired.value: ${check.reason}`);
    }

    let dev = this.devices.get(id);
    const isNew = !dev;
    // The stored Device is the last desired state the cloud sent: its desired.metadata.timestamp values tell
    // a re-asserted command (a new stamp) from the same spec sent again (docs/twin.md, "who wins").
    const previous = dev?.device;
    if (!dev) {
      dev = {
        id,
        namespace: ns,
        name: device.metadata.name,
        description: '',
        modelId,
        device,
        state: 'unknown',
        lastOnline: '',
        twins: new Map(),
      };
      this.devices.set(id, dev);
    }
    dev.device = device;
    dev.modelId = modelId;
    dev.description = device.metadata.labels?.description ?? '';
    this.store.putDevice(dev);
    this.syncTwins(dev, model.model, fx, now, previous);
    if (isNew) fx.publish(membershipUpdatedTopic(this.node), membershipUpdated([dev], [], now));
    this.specs.publish(dev, model.model, fx);
    this.publishDelta(dev, fx, now);
  }

  removeDevice(id: string, fx: Effects, now: number): void {
    const dev = this.devices.get(id);
    if (!dev) return;
    this.store.deleteDevice(id);
    this.devices.delete(id);
    this.lastOnlinePersisted.delete(id);
    this.twinBytes.delete(id);
    fx.publish(membershipUpdatedTopic(this.node), membershipUpdated([], [dev], now));
    this.specs.unpublish(id, fx);
  }

  // ---------------------------------------------------------------- internals

  /** Validates a twin/update against the stored twins; returns the changes or throws TwinError. */
  private planTwinUpdate(dev: DeviceRecord, msg: TwinUpdateMessage, now: number): TwinChange[] {
    const props = propsOf(this.models.get(dev.modelId)?.model);
    this.checkExtraProperties(dev, msg);
    const changes: TwinChange[] = [];
    for (const [name, mt] of Object.entries(msg.twin)) {
      const change = this.planEntry(dev, props, name, mt, now);
      if (change) changes.push(change);
    }
    this.checkTwinBytes(dev, changes);
    return changes;
  }

  /** One property of a twin/update: its change, undefined if nothing changes, or a TwinError. */
  private planEntry(
    dev: DeviceRecord,
    props: Map<string, ModelProperty>,
    name: string,
    mt: MsgTwin | null,
    now: number,
  ): TwinChange | undefined {
    // built only for an error: this runs for every reading
    const where = () => `device ${dev.id} twin ${name}`;
    const existing = dev.twins.get(name);
    if (mt === null) {
      if (!existing) return undefined;
      if (!existing.optional) throw new TwinError(400, `${where()}: declared by the model, so it cannot be deleted`);
      return { name, last: existing, next: undefined };
    }
    // Cloned only when a value changes: a mapper's report of unchanged values (the common case) is
    // validated against the stored twin and costs no copy (issue 15, twin fast path).
    let next: TwinRecord | undefined;
    if (!existing) {
      if (!TWIN_KEY_RE.test(name))
        throw new TwinError(400, `${where()}: a new twin's name must match ${TWIN_KEY_RE.source}`);
      const type = typeFromTwinMetadata(mt.metadata?.type);
      if (!type)
        throw new TwinError(
          400,
          `${where()}: metadata.type "${clip(String(mt.metadata?.type))}" is not allowed (string, int, float, double, boolean, bytes)`,
        );
      next = newTwin(name, type, mt.optional ?? true);
    }
    const view = (next ?? existing)!;
    const prop = props.get(name);
    const rule = prop ?? { type: view.type };
    const report: TwinReportEntry = { property: name };
    let changed = !existing;
    for (const side of ['expected', 'actual'] as const) {
      const value = mt[side]?.value;
      if (value === undefined || value === null) continue;
      const bytes = Buffer.byteLength(value);
      if (bytes > this.limits.maxValueBytes)
        throw new TwinLimitError(
          'value-bytes',
          `${where()} ${side}: the value is ${bytes} bytes; the limit is ${this.limits.maxValueBytes} bytes per value (maxValueBytes)`,
        );
      const check = checkValue(rule, value);
      if (!check.ok)
        throw new TwinError(400, `${where()} ${side}: ${check.reason} (type ${twinMetadataType(view.type)})`);
      if (side === 'expected' && prop?.accessMode === 'ReadOnly')
        throw new TwinError(400, `${where()}: the model declares it ReadOnly, so it takes no desired (expected) value`);
      const cur = next ?? view;
      const stored = side === 'expected' ? cur.expectedVersion : cur.actualVersion;
      const asked = mt[`${side}_version`];
      if (asked && (stored.cloud > asked.cloud || stored.edge > asked.edge))
        throw new TwinError(
          409,
          `${where()}: ${side}_version {cloud:${asked.cloud},edge:${asked.edge}} is older than the stored {cloud:${stored.cloud},edge:${stored.edge}}`,
        );
      const current = side === 'expected' ? cur.expected : cur.actual;
      if (sameValue(cur.type, current, value)) continue;
      changed = true;
      next ??= cloneTwin(view);
      if (side === 'expected') {
        next.expected = value;
        next.expectedTs = now;
        next.expectedVersion.edge++;
        next.expectedSource = 'edge';
        report.observedDesired = { value, timestamp: now, type: twinMetadataType(next.type), source: 'edge' };
      } else {
        next.actual = value;
        next.actualTs = now;
        next.actualVersion.edge++;
        report.reported = { value, timestamp: now, type: twinMetadataType(next.type) };
      }
    }
    if (!changed || !next) return undefined;
    const change: TwinChange = { name, last: existing, next };
    if (report.reported || report.observedDesired) change.report = report;
    return change;
  }

  /** Counted before anything is validated, so an update naming 5,000 new properties costs little. */
  private checkExtraProperties(dev: DeviceRecord, msg: TwinUpdateMessage): void {
    let added = 0;
    for (const [name, mt] of Object.entries(msg.twin)) if (mt !== null && !dev.twins.has(name)) added++;
    if (added === 0) return;
    let held = 0;
    for (const t of dev.twins.values()) if (t.optional) held++;
    const max = this.limits.maxExtraProperties;
    if (held + added > max)
      throw new TwinLimitError(
        'extra-properties',
        `device ${dev.id}: twin/update adds ${added} properties its model does not declare to the ${held} it holds; the limit is ${max} per device (maxExtraProperties)`,
      );
  }

  /** Refuses changes that would grow the device's twin past maxTwinBytes; shrinking is always allowed. */
  private checkTwinBytes(dev: DeviceRecord, changes: TwinChange[]): void {
    const growth = changes.reduce((sum, c) => sum + bytesDelta(c), 0);
    if (growth <= 0) return;
    const now = this.sizeOf(dev);
    const max = this.limits.maxTwinBytes;
    if (now + growth > max)
      throw new TwinLimitError(
        'twin-bytes',
        `device ${dev.id}: twin/update would grow its twin from ${now} to ${now + growth} bytes; the limit is ${max} bytes per device (maxTwinBytes)`,
      );
  }

  /** Bytes of a device's twin as twin/get returns it. */
  sizeOf(dev: DeviceRecord): number {
    let size = this.twinBytes.get(dev.id);
    if (size === undefined) {
      size = 0;
      for (const t of dev.twins.values()) size += twinEntryBytes(t);
      this.twinBytes.set(dev.id, size);
    }
    return size;
  }

  /** The model's properties by name, made once per stored model object (reports come many times a second). */
  private propsOfDevice(dev: DeviceRecord): Map<string, ModelProperty> {
    const model = this.models.get(dev.modelId)?.model;
    if (!model) return propsOf(undefined);
    let m = propsCache.get(model);
    if (!m) {
      m = propsOf(model);
      propsCache.set(model, m);
    }
    return m;
  }

  private commitTwinChanges(
    dev: DeviceRecord,
    changes: TwinChange[],
    eventId: string,
    fx: Effects,
    now: number,
    withDelta = true,
  ): boolean {
    if (changes.length === 0) return false;
    const reports: TwinReportEntry[] = [];
    const size = this.twinBytes.get(dev.id);
    if (size !== undefined) this.twinBytes.set(dev.id, size + changes.reduce((sum, c) => sum + bytesDelta(c), 0));
    for (const c of changes) {
      if (c.next) {
        dev.twins.set(c.name, c.next);
        this.store.putTwin(dev.id, c.next);
      } else {
        dev.twins.delete(c.name);
        this.store.deleteTwin(dev.id, c.name);
      }
      if (c.report) reports.push(c.report);
    }
    if (reports.length) {
      this.reports.append({ kind: 'twin', deviceId: dev.id, twins: reports }, now);
      fx.outboxAppended++;
    }
    fx.publish(
      deviceTopic(dev.id, 'twin/update/document'),
      documentMessage(
        eventId,
        changes.map((c) => ({ name: c.name, last: c.last, current: c.next })),
        now,
      ),
    );
    if (withDelta) this.publishDelta(dev, fx, now);
    return true;
  }

  private publishDelta(dev: DeviceRecord, fx: Effects, now: number): void {
    const delta = deltaMessage(dev, now);
    if (delta) fx.publish(deviceTopic(dev.id, 'twin/update/delta'), delta);
  }

  /**
   * Brings a device's twins in line with its model and spec: every model property has a twin of the model's
   * type; a new cloud command overrides the expected value (cloud wins, docs/twin.md). A command is new when
   * the cloud's desired value differs from the last one it sent, or when its desired.metadata.timestamp
   * differs from the one in `previous` (the Device as stored before this one arrived): the controller stamps
   * every desired write, so `twin set` of an unchanged value still wins over an edge-local value. Without
   * `previous` (a model change) only value changes count.
   */
  private syncTwins(dev: DeviceRecord, model: DeviceModel, fx: Effects, now: number, previous?: Device): boolean {
    const props = propsOf(model);
    const declared = new Map<string, PropertyType>();
    for (const p of props.values()) declared.set(p.name, p.type ?? 'STRING');
    for (const p of dev.device.spec.properties ?? []) if (!declared.has(p.name)) declared.set(p.name, 'STRING');
    const desired = new Map<string, string>();
    for (const p of dev.device.spec.properties ?? []) {
      if (typeof p.desired?.value === 'string') desired.set(p.name, p.desired.value);
    }
    const stamps = desiredStamps(dev.device);
    const previousStamps = previous ? desiredStamps(previous) : stamps;
    const changes: TwinChange[] = [];
    for (const [name, type] of declared) {
      const existing = dev.twins.get(name);
      const next = existing ? cloneTwin(existing) : newTwin(name, type, false);
      let rowChanged = !existing || existing.type !== type || existing.optional;
      next.type = type;
      next.optional = false;
      const report: TwinReportEntry = { property: name };
      const cloudValue = desired.get(name);
      const stamp = stamps.get(name);
      // A stamp that disappears (an apply without one) is no command; a new or different one is.
      const restamped = stamp !== undefined && stamp !== previousStamps.get(name);
      if (
        cloudValue !== undefined &&
        (next.cloudDesired === undefined || !sameValue(type, next.cloudDesired, cloudValue) || restamped)
      ) {
        if (next.cloudDesired !== cloudValue) rowChanged = true;
        next.cloudDesired = cloudValue;
        if (!sameValue(type, next.expected, cloudValue) || next.expectedSource !== 'cloud') {
          next.expected = cloudValue;
          next.expectedTs = now;
          next.expectedVersion.cloud++;
          next.expectedSource = 'cloud';
          rowChanged = true;
          report.observedDesired = { value: cloudValue, timestamp: now, type: twinMetadataType(type), source: 'cloud' };
        }
      }
      if (!rowChanged) continue;
      const change: TwinChange = { name, last: existing, next };
      if (report.observedDesired) change.report = report;
      changes.push(change);
    }
    // A property the model no longer declares keeps its values, as an optional twin: nothing stored is lost.
    for (const t of dev.twins.values()) {
      if (declared.has(t.name) || t.optional) continue;
      const next = cloneTwin(t);
      next.optional = true;
      changes.push({ name: t.name, last: t, next });
    }
    return this.commitTwinChanges(dev, changes, '', fx, now, false);
  }
}

/** How many bytes a change adds to (or, negative, takes from) its device's twin. */
function bytesDelta(c: TwinChange): number {
  c.bytesDelta ??= (c.next ? twinEntryBytes(c.next) : 0) - (c.last ? twinEntryBytes(c.last) : 0);
  return c.bytesDelta;
}

/** desired.metadata.timestamp per property: the controller's stamp of each cloud desired write. */
function desiredStamps(device: Device): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of device.spec?.properties ?? []) {
    const ts = p.desired?.metadata?.timestamp;
    if (typeof ts === 'string' && ts !== '') out.set(p.name, ts);
  }
  return out;
}

const propsCache = new WeakMap<DeviceModel, Map<string, ModelProperty>>();

function propsOf(model: DeviceModel | undefined): Map<string, ModelProperty> {
  return new Map((model?.spec?.properties ?? []).map((p) => [p.name, p]));
}

function checkName(name: unknown, where: string): void {
  if (typeof name !== 'string' || !TOPIC_LEVEL_RE.test(name))
    throw new TwinError(400, `${where} must be a non-empty string without /, + or #`);
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}
