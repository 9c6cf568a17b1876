// The OPC-UA device driver (issue 11): one client, one session and one subscription per device. Reads of a
// cycle go in one Read service call; properties reported on change are MonitoredItems (no polling while
// the server pushes: their reads are answered from the last notification). Writes carry the variable's
// exact DataType (read once per connection); a property with a `method` calls it instead. Connection loss
// (socket closed, keep-alive failed, session closed by a restarted server) makes every read fail with
// code `connection`, so the framework reconnects with its one backoff and subscribes again.

import type { ResolvedDevice, ResolvedProperty } from '@edgetwin/api';
import {
  AttributeIds,
  type ClientMonitoredItemBase,
  type ClientSession,
  type ClientSubscription,
  ClientMonitoredItemGroup,
  DataChangeFilter,
  DataChangeTrigger,
  type DataType,
  type DataValue,
  DeadbandType,
  findBasicDataType,
  makeBrowsePath,
  type NodeId,
  type OPCUAClient,
  resolveNodeId,
  type StatusCode,
  StatusCodes,
  TimestampsToReturn,
  type Variant,
} from 'node-opcua-client';
import {
  type DeviceDriver,
  type DeviceHealth,
  type DriverContext,
  DriverError,
  type RawValue,
  type ReadResult,
  rejectReadOnly,
} from '../../framework/driver.js';
import { type OpcuaProtocolConfig, type OpcuaVisitor, parseOpcuaVisitor } from './config.js';
import { closeOpcua, openOpcuaSession, withDeadline } from './session.js';
import { OpcuaValueError, rawToVariant, variantToRaw } from './values.js';

/** What the server says about a write, as the user should read it on the property. */
const WRITE_REFUSALS: Record<string, string> = {
  BadTypeMismatch: 'the value does not have the variable’s DataType',
  BadNotWritable: 'the variable is read-only on the server',
  BadUserAccessDenied: 'the session’s user may not write this variable',
  BadOutOfRange: 'the server refuses the value as out of range',
  BadNodeIdUnknown: 'the node does not exist on the server',
};

interface Target {
  visitor: OpcuaVisitor;
  nodeId?: NodeId;
  /** the variable's built-in DataType and whether it is an array, read once per connection */
  type?: { dataType: DataType; isArray: boolean };
  error?: DriverError;
}

export interface OpcuaDriverOptions {
  /** the mapper's data dir: application certificate (pki/), TOFU fingerprints (tofu/) */
  dataDir: string;
}

export class OpcuaDeviceDriver implements DeviceDriver {
  private client: OPCUAClient | undefined;
  private session: ClientSession | undefined;
  private subscription: ClientSubscription | undefined;
  private lost: string | undefined;
  private namespaces: string[] = [];
  private readonly targets = new Map<string, Target>();
  /** last notified value of each subscribed property */
  private readonly pushedValues = new Map<string, ReadResult>();
  /**
   * Subscribed properties written since they were last read from the server, with a count of their writes.
   * Until one such read, their reads go to the server: the notification of the written value comes only with
   * the next publish (up to a sampling interval later), and a write's read-back answered from the notification
   * before it found the old value, retried and reported the write failed (a loaded machine, or any
   * samplingInterval longer than the retries).
   */
  private readonly writtenSinceRead = new Map<string, number>();
  private readonly methodValues = new Map<string, RawValue>();
  private readonly where: string;
  private lastOk: boolean | undefined;

  constructor(
    private readonly device: ResolvedDevice,
    private readonly cfg: OpcuaProtocolConfig,
    private readonly opts: OpcuaDriverOptions,
    private readonly ctx: DriverContext,
  ) {
    this.where = `device ${device.id} (${cfg.url})`;
  }

  pushed(p: ResolvedProperty): boolean {
    const v = parseOpcuaVisitor(p);
    return v.ok && v.value.subscribe && (v.value.nodeId !== undefined || v.value.browsePath !== undefined);
  }

  async connect(): Promise<void> {
    await this.disconnect();
    this.lost = undefined;
    const { client, session } = await openOpcuaSession(this.cfg, {
      dataDir: this.cfg.dataDir ?? this.opts.dataDir,
      logger: this.ctx.logger,
      clientName: this.device.id,
      where: this.where,
      watch: (c) => {
        this.client = c;
        c.on('connection_lost', () => this.markLost('connection lost'));
        c.on('close', () => this.markLost('connection closed'));
        c.on('backoff', () => this.markLost('connection lost'));
      },
    }).catch(async (e) => {
      this.client = undefined;
      throw e;
    });
    this.client = client;
    this.session = session;
    session.on('session_closed', () => this.markLost('session closed by the server'));
    session.on('keepalive_failure', () => this.markLost('session keep-alive failed'));
    this.namespaces = await session.readNamespaceArray().catch(() => []);
    this.targets.clear();
    this.pushedValues.clear();
    await this.resolveTargets(this.device.properties);
    this.lastOk = true;
    const cfg = this.cfg;
    this.ctx.logger.info(
      { endpoint: cfg.url, securityMode: cfg.securityMode, policy: cfg.securityPolicy, identity: cfg.identity.kind },
      'OPC-UA session open',
    );
  }

  private markLost(reason: string): void {
    if (this.lost !== undefined || this.client === undefined) return;
    this.lost = reason;
    this.lastOk = false;
    this.ctx.logger.warn({ endpoint: this.cfg.url, reason }, 'OPC-UA connection lost');
  }

  /** NodeIds (with nsu= resolved against the server's namespace array), browse paths, DataTypes. */
  private async resolveTargets(props: ResolvedProperty[]): Promise<void> {
    const session = this.requireSession();
    const todo: Array<[ResolvedProperty, Target]> = [];
    for (const p of props) {
      const parsed = parseOpcuaVisitor(p);
      if (!parsed.ok) {
        this.targets.set(p.name, {
          visitor: { subscribe: false, samplingIntervalMs: 0, queueSize: 1, deadband: { type: 'none' } },
          error: new DriverError(
            `${this.where} property ${p.name}: ${parsed.issues.map((i) => `${i.key} ${i.message}`).join('; ')}`,
            'config',
            false,
          ),
        });
        continue;
      }
      const t: Target = { visitor: parsed.value };
      this.targets.set(p.name, t);
      try {
        if (parsed.value.nodeId !== undefined) t.nodeId = this.nodeIdOf(parsed.value.nodeId);
        else if (parsed.value.browsePath !== undefined) {
          const path = parsed.value.browsePath.startsWith('/')
            ? parsed.value.browsePath
            : `/${parsed.value.browsePath}`;
          const r = await session.translateBrowsePath(makeBrowsePath('ObjectsFolder', path));
          const id = r.targets?.[0]?.targetId;
          if (!r.statusCode.isGood() || !id)
            throw new Error(`browse path ${parsed.value.browsePath} not found (${r.statusCode.name})`);
          t.nodeId = resolveNodeId(id.toString());
        }
        if (t.nodeId) todo.push([p, t]);
      } catch (e) {
        t.error = new DriverError(`${this.where} property ${p.name}: ${(e as Error).message}`, 'config', false);
      }
    }
    if (todo.length === 0) return;
    const reads = todo.flatMap(([, t]) => [
      { nodeId: t.nodeId as NodeId, attributeId: AttributeIds.DataType },
      { nodeId: t.nodeId as NodeId, attributeId: AttributeIds.ValueRank },
    ]);
    const dvs = await session.read(reads);
    for (let i = 0; i < todo.length; i++) {
      const [p, t] = todo[i] as [ResolvedProperty, Target];
      const dt = dvs[2 * i] as DataValue;
      const rank = dvs[2 * i + 1] as DataValue;
      if (!dt.statusCode.isGood()) {
        t.error = new DriverError(
          `${this.where} property ${p.name}: node ${t.nodeId?.toString()} ${describeStatus(dt.statusCode)}`,
          'config',
          false,
        );
        continue;
      }
      const builtIn = await findBasicDataType(session, dt.value.value as NodeId).catch(() => undefined);
      if (builtIn !== undefined) t.type = { dataType: builtIn, isArray: Number(rank.value.value) >= 0 };
    }
  }

  private nodeIdOf(text: string): NodeId {
    const m = /^nsu=([^;]+);(.*)$/s.exec(text.trim());
    if (!m) return resolveNodeId(text.trim());
    const index = this.namespaces.indexOf(m[1] as string);
    if (index < 0) throw new Error(`namespace ${m[1]} is not on the server (it has ${this.namespaces.join(', ')})`);
    return resolveNodeId(`ns=${index};${m[2]}`);
  }

  private requireSession(): ClientSession {
    if (this.lost !== undefined) throw new DriverError(`${this.where}: ${this.lost}`, 'connection', true);
    if (!this.session) throw new DriverError(`${this.where}: not connected`, 'not-connected', true);
    return this.session;
  }

  private async targetOf(p: ResolvedProperty): Promise<Target> {
    const t = this.targets.get(p.name);
    const parsed = parseOpcuaVisitor(p);
    if (t && parsed.ok && JSON.stringify(t.visitor) === JSON.stringify(parsed.value)) return t;
    await this.resolveTargets([p]);
    return this.targets.get(p.name) as Target;
  }

  async readBatch(properties: ResolvedProperty[]): Promise<Map<string, ReadResult>> {
    const out = new Map<string, ReadResult>();
    let session: ClientSession;
    try {
      session = this.requireSession();
    } catch (e) {
      for (const p of properties) out.set(p.name, { ok: false, error: e as DriverError });
      return out;
    }
    const toRead: Array<[ResolvedProperty, NodeId]> = [];
    for (const p of properties) {
      const t = await this.targetOf(p);
      if (t.error) {
        out.set(p.name, { ok: false, error: t.error });
        continue;
      }
      const cached = this.pushedValues.get(p.name);
      if (t.visitor.subscribe && cached && this.subscription && !this.writtenSinceRead.has(p.name)) {
        out.set(p.name, cached);
        continue;
      }
      if (!t.nodeId) {
        const last = this.methodValues.get(p.name);
        out.set(
          p.name,
          last === undefined
            ? {
                ok: false,
                error: new DriverError(
                  `${this.where} property ${p.name}: a method-only property has no value until written`,
                  'unsupported',
                  false,
                ),
              }
            : { ok: true, value: last, timestamp: Date.now() },
        );
        continue;
      }
      toRead.push([p, t.nodeId]);
    }
    if (toRead.length === 0) return out;
    // a write that completes while this read is on its way is not covered by it
    const writes = toRead.map(([p]) => this.writtenSinceRead.get(p.name));
    let dvs: DataValue[];
    try {
      dvs = await session.read(toRead.map(([, nodeId]) => ({ nodeId, attributeId: AttributeIds.Value })));
    } catch (e) {
      const err = this.serviceError(e, 'reading');
      for (const [p] of toRead) out.set(p.name, { ok: false, error: err });
      return out;
    }
    this.lastOk = true;
    for (let i = 0; i < toRead.length; i++) {
      const name = (toRead[i] as [ResolvedProperty, NodeId])[0].name;
      const r = this.resultOf(name, dvs[i] as DataValue);
      out.set(name, r);
      const written = writes[i];
      if (written !== undefined && this.writtenSinceRead.get(name) === written) {
        this.writtenSinceRead.delete(name);
        if (r.ok) this.remember(name, r);
      }
    }
    return out;
  }

  /**
   * Keeps the newest value of a subscribed property (by the server's timestamps): a notification the server
   * sent before a write may arrive after the write's read-back, and must not take its place.
   */
  private remember(name: string, r: ReadResult): void {
    const cached = this.pushedValues.get(name);
    if (r.ok && cached?.ok && r.timestamp < cached.timestamp) return;
    this.pushedValues.set(name, r);
  }

  private resultOf(property: string, dv: DataValue): ReadResult {
    const sc = dv.statusCode;
    if (sc.isBad())
      return {
        ok: false,
        error: new DriverError(
          `${this.where} property ${property}: ${describeStatus(sc)}`,
          sc.equals(StatusCodes.BadNodeIdUnknown) ? 'config' : 'exception',
          true,
        ),
      };
    if (sc.isNotGood())
      this.ctx.logger.warn({ property, status: sc.name }, 'OPC-UA value is Uncertain; reported as read');
    const ts = dv.sourceTimestamp?.getTime() ?? dv.serverTimestamp?.getTime() ?? Date.now();
    return { ok: true, value: variantToRaw(dv.value as Variant), timestamp: ts };
  }

  private serviceError(e: unknown, action: string): DriverError {
    if (e instanceof DriverError) return e;
    const msg = (e as Error).message;
    if (this.lost !== undefined || /closed|disconnect|ECONN|socket|BadSession|BadSecureChannel|timeout/i.test(msg)) {
      this.markLost(msg);
      return new DriverError(`${this.where}: ${action} failed: ${msg}`, 'connection', true, { cause: e });
    }
    return new DriverError(`${this.where}: ${action} failed: ${msg}`, 'io', true, { cause: e });
  }

  async write(property: ResolvedProperty, value: RawValue): Promise<void> {
    rejectReadOnly(this.device.id, property);
    const session = this.requireSession();
    const t = await this.targetOf(property);
    if (t.error) throw t.error;
    const what = `${this.where} property ${property.name}`;
    if (t.visitor.method) {
      await this.callMethod(session, property, t.visitor.method, value);
      return;
    }
    if (!t.nodeId || !t.type)
      throw new DriverError(`${what}: the variable's DataType could not be read`, 'config', false);
    let variant: Variant;
    try {
      variant = rawToVariant(value, t.type.dataType, t.type.isArray, what);
    } catch (e) {
      if (e instanceof OpcuaValueError) throw new DriverError(e.message, 'out-of-range', false);
      throw e;
    }
    let sc: StatusCode;
    try {
      sc = await session.write({ nodeId: t.nodeId, attributeId: AttributeIds.Value, value: { value: variant } });
    } catch (e) {
      throw this.serviceError(e, `writing ${property.name}`);
    }
    if (!sc.isGood()) {
      const why = WRITE_REFUSALS[sc.name] ?? 'refused by the server';
      throw new DriverError(`${what}: write refused: ${sc.name} (${why})`, 'exception', false);
    }
    this.writtenSinceRead.set(property.name, (this.writtenSinceRead.get(property.name) ?? 0) + 1);
  }

  private async callMethod(
    session: ClientSession,
    property: ResolvedProperty,
    method: { objectId: string; methodId: string },
    value: RawValue,
  ): Promise<void> {
    const what = `${this.where} property ${property.name}: method ${method.methodId}`;
    let objectId: NodeId;
    let methodId: NodeId;
    try {
      objectId = this.nodeIdOf(method.objectId);
      methodId = this.nodeIdOf(method.methodId);
    } catch (e) {
      throw new DriverError(`${what}: ${(e as Error).message}`, 'config', false);
    }
    const defs = await session.getArgumentDefinition(methodId).catch((e: Error) => {
      throw this.serviceError(e, `reading the arguments of ${method.methodId}`);
    });
    const inputs = defs.inputArguments ?? [];
    let given: unknown[];
    if (inputs.length === 0) given = [];
    else if (inputs.length === 1) given = [value];
    else {
      try {
        given = typeof value === 'string' ? JSON.parse(value) : [value];
      } catch {
        given = [value];
      }
      if (!Array.isArray(given) || given.length !== inputs.length)
        throw new DriverError(
          `${what}: takes ${inputs.length} arguments; write them as a JSON array`,
          'out-of-range',
          false,
        );
    }
    const inputArguments: Variant[] = [];
    for (let i = 0; i < inputs.length; i++) {
      const arg = inputs[i];
      const dataType = await findBasicDataType(session, arg?.dataType as NodeId);
      try {
        inputArguments.push(
          rawToVariant(
            given[i] as RawValue,
            dataType,
            (arg?.valueRank ?? -1) >= 0,
            `${what} argument ${arg?.name ?? i}`,
          ),
        );
      } catch (e) {
        if (e instanceof OpcuaValueError) throw new DriverError(e.message, 'out-of-range', false);
        throw e;
      }
    }
    let result: { statusCode: StatusCode };
    try {
      result = await session.call({ objectId, methodId, inputArguments });
    } catch (e) {
      throw this.serviceError(e, `calling ${method.methodId}`);
    }
    if (!result.statusCode.isGood())
      throw new DriverError(`${what}: call refused: ${describeStatus(result.statusCode)}`, 'exception', false);
    this.methodValues.set(property.name, value);
  }

  async subscribe(
    properties: ResolvedProperty[],
    onValue: (property: string, value: RawValue, timestamp: number) => void,
  ): Promise<() => Promise<void>> {
    const session = this.requireSession();
    const entries: Array<[ResolvedProperty, Target]> = [];
    for (const p of properties) {
      const t = await this.targetOf(p);
      if (!t.error && t.nodeId && t.visitor.subscribe) entries.push([p, t]);
    }
    if (entries.length === 0) return async () => {};
    const fastest = Math.min(...entries.map(([, t]) => t.visitor.samplingIntervalMs || 100));
    const sub = await session.createSubscription2({
      requestedPublishingInterval: Math.max(50, fastest),
      requestedLifetimeCount: 120,
      requestedMaxKeepAliveCount: 10,
      maxNotificationsPerPublish: 5000,
      publishingEnabled: true,
      priority: 10,
    });
    this.subscription = sub;
    sub.on('terminated', () => {
      if (this.subscription === sub) this.subscription = undefined;
    });
    // A session lost meanwhile (a server restart while subscribing) must stop us here: node-opcua creates
    // monitored items from a timer and asserts the subscription's session there, an exception no caller can
    // catch (it took down a test worker). The framework reconnects and subscribes again.
    const stillOurs = async () => {
      if (this.session === session && this.lost === undefined && sub.hasSession) return;
      if (this.subscription === sub) this.subscription = undefined;
      await sub.terminate().catch(() => undefined);
      throw new DriverError(`${this.where}: the session was lost while subscribing`, 'connection', true);
    };
    await stillOurs();
    // one MonitoredItem group per distinct (samplingInterval, queueSize, deadband)
    const groups = new Map<string, Array<[ResolvedProperty, Target]>>();
    for (const e of entries) {
      const v = e[1].visitor;
      const key = JSON.stringify([v.samplingIntervalMs, v.queueSize, v.deadband]);
      groups.set(key, [...(groups.get(key) ?? []), e]);
    }
    for (const members of groups.values()) {
      const v = (members[0] as [ResolvedProperty, Target])[1].visitor;
      const filter =
        v.deadband.type === 'none'
          ? null
          : new DataChangeFilter({
              trigger: DataChangeTrigger.StatusValue,
              deadbandType: v.deadband.type === 'percent' ? DeadbandType.Percent : DeadbandType.Absolute,
              deadbandValue: v.deadband.value,
            });
      await stillOurs();
      const group = ClientMonitoredItemGroup.create(
        sub,
        members.map(([, t]) => ({ nodeId: t.nodeId as NodeId, attributeId: AttributeIds.Value })),
        { samplingInterval: v.samplingIntervalMs, queueSize: v.queueSize, discardOldest: true, filter },
        TimestampsToReturn.Both,
      );
      group.on('changed', (_item: ClientMonitoredItemBase, dv: DataValue, index: number) => {
        const p = members[index]?.[0];
        if (!p) return;
        const r = this.resultOf(p.name, dv);
        this.remember(p.name, r);
        if (r.ok) onValue(p.name, r.value, r.timestamp);
      });
      await new Promise<void>((resolve) => {
        group.once('initialized', () => resolve());
        group.once('err', () => resolve());
      });
    }
    return async () => {
      this.pushedValues.clear();
      if (this.subscription === sub) this.subscription = undefined;
      await sub.terminate().catch(() => undefined);
    };
  }

  async health(): Promise<DeviceHealth> {
    if (!this.client || !this.session) return this.lastOk === undefined ? 'unknown' : 'offline';
    if (this.lost !== undefined) return 'offline';
    const broken = [...this.targets.values()].some((t) => t.error !== undefined);
    return broken ? 'unhealthy' : 'online';
  }

  async disconnect(): Promise<void> {
    const client = this.client;
    const session = this.session;
    const sub = this.subscription;
    this.client = undefined;
    this.session = undefined;
    this.subscription = undefined;
    this.pushedValues.clear();
    if (sub) await withDeadline(sub.terminate(), 1000, 'terminating').catch(() => undefined);
    await closeOpcua({ ...(session ? { session } : {}), ...(client ? { client } : {}) });
  }
}

function describeStatus(sc: StatusCode): string {
  if (sc.equals(StatusCodes.BadNodeIdUnknown)) return 'does not exist on the server (BadNodeIdUnknown)';
  return `${sc.name}${sc.description ? ` (${sc.description})` : ''}`;
}
