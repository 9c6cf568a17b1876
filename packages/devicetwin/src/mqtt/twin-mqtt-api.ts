// The KubeEdge edge MQTT API of the twin (docs/mqtt-api.md): subscribes to the $hw request topics and the
// mapper write-status topic, queues requests per device (served round-robin, so one device's flood costs
// that device: issue 9 §3), handles them in batches of one SQLite transaction each and publishes every
// reply only after that transaction committed.

import {
  DELTA_REQUEST_FILTER,
  decodeGetRequest,
  decodePushStatus,
  MapperReportDecoder,
  encodeMapperReportAnswer,
  peekMapperReportSeq,
  parseReportsTopic,
  reportAnswerTopic,
  reportsFilter,
  decodeReportStatus,
  decodeStateUpdate,
  decodeTwinUpdate,
  decodeWriteStatus,
  errorResult,
  eventIdOf,
  MAX_PAYLOAD_BYTES,
  membershipGetResultTopic,
  membershipGetTopic,
  parseEdgeTopic,
  parseDeltaRequestTopic,
  parsePushStatusTopic,
  parseReportStatusTopic,
  PUSH_STATUS_FILTER,
  REPORT_STATUS_FILTER,
  parseWriteStatusTopic,
  WRITE_STATUS_FILTER,
} from '@edgetwin/api';
import type { BusClient } from '@edgetwin/eventbus';
import type { Logger } from 'pino';
import { isTwinError, TwinError } from '../errors.js';
import type { TwinMetrics } from '../metrics.js';
import type { TwinStore } from '../store/twin-store.js';
import { Effects } from '../twin/effects.js';
import { TwinLimitError } from '../twin/limits.js';
import type { TwinEngine } from '../twin/engine.js';
import { ReadingAnswers } from '../twin/reading-answers.js';
import { FairQueue } from './fair-queue.js';
import { actionOf, type Job, queueKeyOf, replyTopic } from './jobs.js';

export interface TwinMqttApiOptions {
  /** QoS of everything the twin publishes (KubeEdge's external-broker mode publishes QoS 1). */
  publishQos: 0 | 1;
  /** Requests held in memory, all devices together, before new ones are refused (429). */
  maxQueue: number;
  /** Requests of one device held at most; more are refused with 429 while the other devices are served. */
  maxQueuePerDevice: number;
  /** Requests handled in one transaction at most. */
  batchMax: number;
  /** Payload bytes handled in one transaction at most (one request always), so large requests make short batches. */
  batchMaxBytes: number;
  /**
   * Replies handed to the bus and not yet sent (QoS 0) or acknowledged (QoS 1) before the twin pauses
   * handling requests. Backpressure: a flood queues requests (bounded by maxQueue) instead of replies.
   */
  maxInflight: number;
  /**
   * Messages of one device in flight before that device's requests wait (the others are still served):
   * a flooding device's replies fill the broker pipe only this far ahead of a neighbour's answer.
   */
  maxInflightPerDevice: number;
}

// A batch publishes up to 3 messages per request (result, document, delta). (The bus client waits for a full
// socket's drain with one listener however many publishes wait, so these bound memory, not listeners.)
export const DEFAULT_API_OPTIONS: TwinMqttApiOptions = {
  publishQos: 1,
  maxQueue: 50_000,
  maxQueuePerDevice: 1_000,
  batchMax: 150,
  batchMaxBytes: 1024 * 1024,
  maxInflight: 500,
  maxInflightPerDevice: 90,
};

const REQUEST_FILTERS = [
  '$hw/events/device/+/+/twin/update',
  '$hw/events/device/+/+/twin/get',
  '$hw/events/device/+/+/state/update',
];

/**
 * Filters that match request topics with missing or extra levels but never a topic the twin publishes, so
 * such requests can be dropped with a log line and a metric instead of vanishing unseen.
 */
const MISSHAPEN_FILTERS = [
  '$hw/events/device/+/twin/+',
  '$hw/events/device/+/state/update',
  '$hw/events/device/+/+/+/twin/+',
  '$hw/events/device/+/+/+/state/update',
  '$hw/events/device/+/+/twin/update/+/+/#',
];

/**
 * 429 replies per device per second; past this a refusal is only counted (and logged once a second): a
 * flood answered message for message would double the broker's work for every other device.
 */
const REFUSALS_PER_DEVICE_PER_SECOND = 20;
/** Most mappers (protocols) whose last report batch the twin remembers for decoding (MapperReportDecoder). */
const MAX_REPORT_DECODERS = 64;

export class TwinMqttApi {
  /** waiting requests per device ('' for membership/get), served round-robin */
  private readonly queue = new FairQueue<Job>();
  /** 429 replies sent per device in the current second */
  private refusalsSent = new Map<string, number>();
  private refusalsSecond = 0;
  private scheduled = false;
  /** true while flushing waits for in-flight replies to drain */
  private blocked = false;
  private readonly inflight = new Set<Promise<void>>();
  /** messages in flight per device ('' for those of no device) */
  private readonly inflightOf = new Map<string, number>();
  private readonly unsubscribes: Array<() => Promise<void>> = [];
  private readonly lastWarn = new Map<string, { at: number; suppressed: number }>();
  private closed = false;
  /** set once close() gave up waiting: nothing may touch the store any more (it is about to be closed) */
  private stopped = false;
  /** readings of the report channel refused and not taken since (device\0property), to tell the mapper when they are */
  private readonly refusedReadings = new Set<string>();
  /** per mapper (protocol) of this node, its batch decoder: a steady mapper's batches are not parsed again */
  private readonly reportDecoders = new Map<string, MapperReportDecoder>();

  constructor(
    private readonly bus: BusClient,
    private readonly store: TwinStore,
    private readonly engine: TwinEngine,
    private readonly metrics: TwinMetrics,
    private readonly log: Logger,
    private readonly opts: TwinMqttApiOptions,
    private readonly onOutboxAppended: () => void,
  ) {}

  async start(): Promise<void> {
    const node = this.engine.node;
    for (const f of REQUEST_FILTERS)
      this.unsubscribes.push(await this.bus.subscribe(f, (t, p) => this.onRequest(t, p)));
    this.unsubscribes.push(await this.bus.subscribe(membershipGetTopic(node), (t, p) => this.onRequest(t, p)));
    this.unsubscribes.push(await this.bus.subscribe(WRITE_STATUS_FILTER, (t, p) => this.onWriteStatus(t, p)));
    this.unsubscribes.push(await this.bus.subscribe(DELTA_REQUEST_FILTER, (t, p) => this.onDeltaRequest(t, p)));
    this.unsubscribes.push(await this.bus.subscribe(REPORT_STATUS_FILTER, (t, p) => this.onReportStatus(t, p)));
    this.unsubscribes.push(await this.bus.subscribe(PUSH_STATUS_FILTER, (t, p) => this.onPushStatus(t, p)));
    this.unsubscribes.push(await this.bus.subscribe(reportsFilter(node), (t, p) => this.onReports(t, p)));
    for (const f of MISSHAPEN_FILTERS)
      this.unsubscribes.push(
        await this.bus.subscribe(f, (t) =>
          this.drop(
            'bad-topic',
            `dropped a request on ${t}: device topics are $hw/events/device/{namespace}/{name}/{action}`,
          ),
        ),
      );
  }

  /**
   * Stops listening, then handles what is queued and waits for the replies, for at most `timeoutMs`.
   * Resolves false if it gave up; either way, once it resolves nothing here touches the store again (what
   * is still queued is dropped, a reply still in flight schedules no more work), so the store may close.
   */
  async close(timeoutMs: number): Promise<boolean> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      (async () => {
        for (const u of this.unsubscribes) await u().catch(() => undefined);
        await this.settled();
        return true;
      })(),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.stopped = true;
    const left = this.queue.size;
    if (left > 0) this.metrics.dropped.inc({ reason: 'shutdown' }, left);
    this.queue.take({ maxItems: left, maxWeight: Number.POSITIVE_INFINITY, weight: () => 0, perKey: () => left });
    return drained;
  }

  /** Resolves when every queued request is handled and every reply handed to the bus. */
  async settled(): Promise<void> {
    while (!this.stopped && (this.queue.size || this.scheduled || this.inflight.size)) {
      if (this.queue.size && !this.scheduled && !this.blocked) this.flush();
      await Promise.allSettled([...this.inflight]);
      if (this.scheduled) await new Promise((r) => setImmediate(r));
    }
  }

  /** Publishes effects produced outside a batch (desired state from the cloud, the local interface). */
  publish(fx: Effects): Promise<void> {
    const all = fx.messages.map((m) => this.send(m.topic, m.payload, m.retain ?? false));
    if (fx.outboxAppended) this.onOutboxAppended();
    return Promise.all(all).then(() => undefined);
  }

  private onRequest(topic: string, payload: Buffer): void {
    const parsed = parseEdgeTopic(topic);
    if (parsed.kind === 'invalid') {
      this.drop('bad-topic', `dropped a request: ${parsed.reason}`);
    } else if (parsed.kind === 'membership-get') {
      this.enqueue({ kind: 'membership-get', payload });
    } else if (parsed.suffix === 'twin/update' || parsed.suffix === 'twin/get' || parsed.suffix === 'state/update') {
      this.enqueue({ kind: 'device', id: parsed.id, action: parsed.suffix, payload });
    } else {
      this.drop('bad-topic', `dropped a request on ${topic}: the twin does not serve ${parsed.suffix}`);
    }
  }

  private onWriteStatus(topic: string, payload: Buffer): void {
    const id = parseWriteStatusTopic(topic);
    if (id) this.enqueue({ kind: 'write-status', id, payload });
    else this.drop('bad-topic', `dropped a write status on ${topic}`);
  }

  private onDeltaRequest(topic: string, payload: Buffer): void {
    const id = parseDeltaRequestTopic(topic);
    if (id) this.enqueue({ kind: 'delta-get', id, payload });
    else this.drop('bad-topic', `dropped a delta request on ${topic}`);
  }

  private onReportStatus(topic: string, payload: Buffer): void {
    const id = parseReportStatusTopic(topic);
    if (id) this.enqueue({ kind: 'report-status', id, payload });
    else this.drop('bad-topic', `dropped a report status on ${topic}`);
  }

  private onPushStatus(topic: string, payload: Buffer): void {
    const id = parsePushStatusTopic(topic);
    if (id) this.enqueue({ kind: 'push-status', id, payload });
    else this.drop('bad-topic', `dropped a push status on ${topic}`);
  }

  private onReports(topic: string, payload: Buffer): void {
    const t = parseReportsTopic(topic);
    if (t && t.node === this.engine.node) this.enqueue({ kind: 'reports', protocol: t.protocol, payload });
    else this.drop('bad-topic', `dropped a report batch on ${topic}`);
  }

  private enqueue(job: Job): void {
    if (this.closed) return;
    const key = queueKeyOf(job);
    const what =
      job.kind === 'membership-get'
        ? 'membership/get'
        : job.kind === 'reports'
          ? `a report batch of the ${job.protocol} mapper`
          : `${actionOf(job)} of ${job.id}`;
    if (this.queue.size >= this.opts.maxQueue) {
      this.refuse(
        job,
        'queue',
        `refused ${what}: ${this.queue.size} requests of all devices are waiting, the limit is ${this.opts.maxQueue} (maxQueue); retry later`,
      );
      return;
    }
    const queued = this.queue.sizeOf(key);
    if (queued >= this.opts.maxQueuePerDevice) {
      this.refuse(
        job,
        'device-queue',
        `refused ${what}: ${queued} requests of this device are waiting, the limit is ${this.opts.maxQueuePerDevice} per device (maxQueuePerDevice); retry later`,
      );
      return;
    }
    this.queue.push(key, job);
    this.schedule();
  }

  /**
   * A request that cannot even wait gets 429 at once on its /result topic, sent at QoS 0 outside the
   * in-flight budget of real replies (so refusing a flood never holds back other devices' answers).
   */
  private refuse(job: Job, limit: 'queue' | 'device-queue', reason: string): void {
    this.metrics.limitRefusals.inc({ limit });
    this.metrics.rejected.inc({ action: actionOf(job), code: '429' });
    this.warn(`limit-${limit}`, reason);
    const topic = this.answerTopic(job);
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.refusalsSecond) {
      this.refusalsSecond = second;
      this.refusalsSent.clear();
    }
    const key = queueKeyOf(job);
    const sent = this.refusalsSent.get(key) ?? 0;
    if (!topic || sent >= REFUSALS_PER_DEVICE_PER_SECOND) {
      this.metrics.dropped.inc({ reason: limit === 'queue' ? 'overload' : 'device-flood' });
      return;
    }
    this.refusalsSent.set(key, sent + 1);
    this.bus
      .publish(topic, this.errorPayload(job, 429, reason, Date.now()), { qos: 0 })
      .catch((e: Error) => this.log.error({ err: e, topic }, 'twin could not publish a refusal'));
  }

  private schedule(): void {
    if (this.stopped || this.scheduled || this.queue.size === 0) return;
    if (this.inflight.size >= this.opts.maxInflight) {
      this.blocked = true;
      return;
    }
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.stopped) return;
    // A request makes up to 3 messages (result, document, delta): a device takes as many requests as its
    // share of in-flight messages leaves room for.
    const batch = this.queue.take({
      maxItems: this.opts.batchMax,
      maxWeight: this.opts.batchMaxBytes,
      weight: (j) => j.payload.length,
      perKey: (key) => Math.floor((this.opts.maxInflightPerDevice - (this.inflightOf.get(key) ?? 0)) / 3),
    });
    if (batch.length === 0) return;
    const now = Date.now();
    let fx = new Effects();
    const end = this.metrics.dbWriteSeconds.startTimer();
    try {
      this.store.transaction(() => {
        for (const job of batch) this.handle(job, fx, now);
      });
    } catch (e) {
      // The batch rolled back. Rebuild memory from disk and redo each request alone, so one request that
      // trips the store cannot fail its neighbours (and reads still answer while the disk is full).
      if (this.store.health.state !== 'full')
        this.log.error({ err: e, batch: batch.length }, 'twin batch failed; retrying requests one by one');
      this.engine.reload();
      fx = new Effects();
      for (const job of batch) {
        const one = new Effects();
        try {
          this.store.transaction(() => this.handle(job, one, now));
          fx.messages.push(...one.messages);
          fx.outboxAppended += one.outboxAppended;
        } catch (err) {
          this.engine.reload();
          if (isTwinError(err)) {
            this.reject(job, fx, err, now);
            continue;
          }
          this.log.error({ err, action: actionOf(job) }, 'twin request failed');
          this.reject(job, fx, new TwinError(500, `internal error: ${(err as Error).message}`), now);
        }
      }
    }
    end();
    this.metrics.batchSize.observe(batch.length);
    for (const m of fx.messages) this.send(m.topic, m.payload, m.retain ?? false);
    if (fx.outboxAppended) this.onOutboxAppended();
    this.schedule();
  }

  /** Handles one request; a TwinError becomes an error reply, anything else aborts the batch. */
  private handle(job: Job, fx: Effects, now: number): void {
    try {
      this.dispatch(job, fx, now);
      this.metrics.handled.inc({ action: actionOf(job) });
    } catch (e) {
      if (!isTwinError(e)) throw e;
      this.reject(job, fx, e, now);
    }
  }

  private dispatch(job: Job, fx: Effects, now: number): void {
    const e = this.engine;
    if (job.kind === 'membership-get') {
      const req = decodeGetRequest(job.payload);
      if (!req.ok) throw new TwinError(400, `membership/get: ${req.error}`);
      e.membershipGet(req.value.event_id, fx, now, membershipGetResultTopic(e.node));
      return;
    }
    if (job.kind === 'write-status') {
      if (job.payload.length > MAX_PAYLOAD_BYTES) throw new TwinError(400, `write status of ${job.id} is too large`);
      const ws = decodeWriteStatus(job.payload);
      if (!ws.ok) throw new TwinError(400, `write status of ${job.id}: ${ws.error}`);
      e.writeStatus(job.id, ws.value, fx, now);
      return;
    }
    if (job.kind === 'report-status') {
      if (job.payload.length > MAX_PAYLOAD_BYTES) throw new TwinError(400, `report status of ${job.id} is too large`);
      const rs = decodeReportStatus(job.payload);
      if (!rs.ok) throw new TwinError(400, `report status of ${job.id}: ${rs.error}`);
      e.reportStatus(job.id, rs.value, fx, now);
      return;
    }
    if (job.kind === 'push-status') {
      if (job.payload.length > MAX_PAYLOAD_BYTES) throw new TwinError(400, `push status of ${job.id} is too large`);
      const ps = decodePushStatus(job.payload);
      if (!ps.ok) throw new TwinError(400, `push status of ${job.id}: ${ps.error}`);
      e.pushStatus(job.id, ps.value, fx, now);
      return;
    }
    if (job.kind === 'delta-get') {
      e.deltaGet(job.id, fx, now);
      return;
    }
    if (job.kind === 'reports') {
      if (job.payload.length > MAX_PAYLOAD_BYTES)
        throw new TwinError(413, `report batch of ${job.payload.length} bytes; the limit is ${MAX_PAYLOAD_BYTES}`);
      const batch = this.reportDecoder(job.protocol).decode(job.payload);
      if (!batch.ok) throw new TwinError(400, batch.error);
      const answer = new ReadingAnswers(batch.value.seq, this.refusedReadings);
      // states and readings are separate data: the order between them does not matter
      for (const st of batch.value.states) e.reportedState(st.device, st.state, fx, now, answer);
      for (const entry of batch.value.entries) e.applyReadings(entry, fx, now, answer);
      const payload = answer.payload();
      if (payload) {
        for (const r of answer.refused) {
          this.metrics.rejected.inc({ action: 'reports', code: String(r.code) });
          this.warn(`reading-${r.code}`, `refused a reading of ${r.device} ${r.property}: ${r.reason}`);
        }
        fx.publish(reportAnswerTopic(e.node, job.protocol), payload);
      }
      return;
    }
    switch (job.action) {
      case 'twin/update': {
        const msg = decodeTwinUpdate(job.payload);
        if (!msg.ok) throw new TwinError(400, `device ${job.id} twin/update: ${msg.error}`);
        e.twinUpdate(job.id, msg.value, fx, now);
        return;
      }
      case 'twin/get': {
        const req = decodeGetRequest(job.payload);
        if (!req.ok) throw new TwinError(400, `device ${job.id} twin/get: ${req.error}`);
        e.twinGet(job.id, req.value.event_id, fx, now);
        return;
      }
      case 'state/update': {
        const msg = decodeStateUpdate(job.payload);
        if (!msg.ok) throw new TwinError(400, `device ${job.id} state/update: ${msg.error}`);
        e.stateUpdate(job.id, msg.value.event_id, msg.value.state, fx, now);
        return;
      }
      default:
        throw new TwinError(400, `device ${job.id}: the twin does not serve ${job.action}`);
    }
  }

  private reject(job: Job, fx: Effects, err: TwinError, now: number): void {
    this.metrics.rejected.inc({ action: actionOf(job), code: String(err.code) });
    if (err instanceof TwinLimitError) {
      this.metrics.limitRefusals.inc({ limit: err.limit });
      this.warn(`limit-${err.limit}`, err.message);
    }
    const topic = this.answerTopic(job);
    if (!topic) {
      this.metrics.dropped.inc({ reason: `rejected-${job.kind}` });
      this.warn(`rejected-${job.kind}`, `ignored a ${actionOf(job)} request: ${err.message}`);
      return;
    }
    if (job.kind === 'reports') this.warn(`reports-${err.code}`, `refused a report batch: ${err.message}`);
    fx.publish(topic, this.errorPayload(job, err.code, err.message, now));
  }

  private reportDecoder(protocol: string): MapperReportDecoder {
    let d = this.reportDecoders.get(protocol);
    if (!d) {
      // bounded: a node runs a few mappers; a client inventing protocol names only evicts the oldest
      if (this.reportDecoders.size >= MAX_REPORT_DECODERS)
        this.reportDecoders.delete(this.reportDecoders.keys().next().value as string);
      d = new MapperReportDecoder();
      this.reportDecoders.set(protocol, d);
    }
    return d;
  }

  /** Where a refusal of the job goes: its /result topic, or the report answer topic of its mapper. */
  private answerTopic(job: Job): string | undefined {
    if (job.kind === 'reports') return reportAnswerTopic(this.engine.node, job.protocol);
    return replyTopic(job, membershipGetResultTopic(this.engine.node));
  }

  /** A whole request refused: KubeEdge's error result, or for a report batch an answer refusing all of it. */
  private errorPayload(job: Job, code: number, reason: string, now: number): string {
    if (job.kind === 'reports')
      return encodeMapperReportAnswer({ seq: peekMapperReportSeq(job.payload), all: { code, reason } });
    const eventId = job.payload.length <= MAX_PAYLOAD_BYTES ? eventIdOf(job.payload) : '';
    return JSON.stringify(errorResult(eventId, code as Parameters<typeof errorResult>[1], reason, now));
  }

  private send(topic: string, payload: string, retain: boolean): Promise<void> {
    const p = this.bus
      .publish(topic, payload, { qos: this.opts.publishQos, retain })
      .catch((e: Error) => this.log.error({ err: e, topic }, 'twin could not publish'));
    const key = deviceKeyOf(topic);
    this.inflight.add(p);
    this.inflightOf.set(key, (this.inflightOf.get(key) ?? 0) + 1);
    p.finally(() => {
      this.inflight.delete(p);
      const left = (this.inflightOf.get(key) ?? 1) - 1;
      if (left > 0) this.inflightOf.set(key, left);
      else this.inflightOf.delete(key);
      if (this.blocked && this.inflight.size <= this.opts.maxInflight / 2) this.blocked = false;
      // a device whose replies were holding it back may be served again
      if (!this.blocked) this.schedule();
    });
    return p;
  }

  private drop(reason: string, message: string): void {
    this.metrics.dropped.inc({ reason });
    this.warn(reason, message);
  }

  /** At most one warn line per reason per second, with the count of the lines suppressed since. */
  private warn(reason: string, message: string): void {
    const now = Date.now();
    const last = this.lastWarn.get(reason);
    if (last && now - last.at < 1000) {
      last.suppressed++;
      return;
    }
    this.log.warn({ reason, suppressed: last?.suppressed ?? 0 }, message);
    this.lastWarn.set(reason, { at: now, suppressed: 0 });
  }
}

const DEVICE_TOPIC_PREFIX = '$hw/events/device/';

/** The device (`namespace/name`) a published topic belongs to, or '' for node-wide topics. */
function deviceKeyOf(topic: string): string {
  if (!topic.startsWith(DEVICE_TOPIC_PREFIX)) return '';
  const [namespace, name] = topic.slice(DEVICE_TOPIC_PREFIX.length).split('/', 2);
  return namespace && name ? `${namespace}/${name}` : '';
}
