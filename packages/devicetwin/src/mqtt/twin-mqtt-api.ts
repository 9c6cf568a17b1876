// The KubeEdge edge MQTT API of the twin (docs/mqtt-api.md): subscribes to the $hw request topics and the
// mapper write-status topic, queues requests, handles them in batches of one SQLite transaction each and
// publishes every reply only after that transaction committed.

import {
  DELTA_REQUEST_FILTER,
  decodeGetRequest,
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
import { actionOf, type Job, replyTopic } from './jobs.js';

export interface TwinMqttApiOptions {
  /** QoS of everything the twin publishes (KubeEdge's external-broker mode publishes QoS 1). */
  publishQos: 0 | 1;
  /** Requests held in memory before new ones are dropped (flood protection). */
  maxQueue: number;
  /** Requests of one device held at most, so one flooding device cannot crowd out the others. */
  maxQueuePerDevice: number;
  /** Requests handled in one transaction at most. */
  batchMax: number;
  /**
   * Replies handed to the bus and not yet sent (QoS 0) or acknowledged (QoS 1) before the twin pauses
   * handling requests. Backpressure: a flood queues requests (bounded by maxQueue) instead of replies.
   */
  maxInflight: number;
}

// A batch publishes up to 3 messages per request (result, document, delta); batchMax * 3 + maxInflight stays
// under the 1000 'drain' listeners Node warns about on the bus client's socket.
export const DEFAULT_API_OPTIONS: TwinMqttApiOptions = {
  publishQos: 1,
  maxQueue: 50_000,
  maxQueuePerDevice: 1_000,
  batchMax: 150,
  maxInflight: 500,
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

export class TwinMqttApi {
  private queue: Job[] = [];
  /** queued requests per device */
  private readonly queuedPerDevice = new Map<string, number>();
  private scheduled = false;
  /** true while flushing waits for in-flight replies to drain */
  private blocked = false;
  private readonly inflight = new Set<Promise<void>>();
  private readonly unsubscribes: Array<() => Promise<void>> = [];
  private readonly lastWarn = new Map<string, { at: number; suppressed: number }>();
  private closed = false;

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

  /** Handles what is queued, then stops listening; replies already computed are still published. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.unsubscribes) await u().catch(() => undefined);
    while (this.queue.length) this.flush();
    await this.settled();
  }

  /** Resolves when every queued request is handled and every reply handed to the bus. */
  async settled(): Promise<void> {
    while (this.queue.length || this.scheduled || this.inflight.size) {
      if (this.queue.length && !this.scheduled && !this.blocked) this.flush();
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

  private enqueue(job: Job): void {
    if (this.closed) return;
    if (this.queue.length >= this.opts.maxQueue) {
      this.drop('overload', `dropped a ${actionOf(job)} request: ${this.queue.length} requests are already queued`);
      return;
    }
    if (job.kind !== 'membership-get') {
      const queued = this.queuedPerDevice.get(job.id) ?? 0;
      if (queued >= this.opts.maxQueuePerDevice) {
        this.drop(
          'device-flood',
          `dropped a ${actionOf(job)} request for ${job.id}: ${queued} of its requests are queued`,
        );
        return;
      }
      this.queuedPerDevice.set(job.id, queued + 1);
    }
    this.queue.push(job);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0) return;
    if (this.inflight.size >= this.opts.maxInflight) {
      this.blocked = true;
      return;
    }
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0, this.opts.batchMax);
    if (batch.length === 0) return;
    for (const job of batch) {
      if (job.kind === 'membership-get') continue;
      const left = (this.queuedPerDevice.get(job.id) ?? 1) - 1;
      if (left > 0) this.queuedPerDevice.set(job.id, left);
      else this.queuedPerDevice.delete(job.id);
    }
    const now = Date.now();
    let fx = new Effects();
    const end = this.metrics.dbWriteSeconds.startTimer();
    try {
      this.store.transaction(() => {
        for (const job of batch) this.handle(job, fx, now);
      });
    } catch (e) {
      // The batch rolled back. Rebuild memory from disk and redo each request alone, so one request that
      // trips the store cannot fail its neighbours.
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
    if (job.kind === 'delta-get') {
      e.deltaGet(job.id, fx, now);
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
    const topic = replyTopic(job, membershipGetResultTopic(this.engine.node));
    if (!topic) {
      this.metrics.dropped.inc({ reason: `rejected-${job.kind}` });
      this.warn(`rejected-${job.kind}`, `ignored a ${actionOf(job)} request: ${err.message}`);
      return;
    }
    const eventId = job.payload.length <= MAX_PAYLOAD_BYTES ? eventIdOf(job.payload) : '';
    fx.publish(topic, errorResult(eventId, err.code, err.message, now));
  }

  private send(topic: string, payload: string, retain: boolean): Promise<void> {
    const p = this.bus
      .publish(topic, payload, { qos: this.opts.publishQos, retain })
      .catch((e: Error) => this.log.error({ err: e, topic }, 'twin could not publish'));
    this.inflight.add(p);
    p.finally(() => {
      this.inflight.delete(p);
      if (this.blocked && this.inflight.size <= this.opts.maxInflight / 2) {
        this.blocked = false;
        this.schedule();
      }
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
