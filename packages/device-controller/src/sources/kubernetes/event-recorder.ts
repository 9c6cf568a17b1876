// Kubernetes Events of the controller (issue 16 §3): each event of a Device the controller keeps for
// `edgetwin describe` is also written as a core/v1 Event, so `kubectl describe device X` and `kubectl get
// events` show it. As client-go's recorder: a repeat (same object, type, reason and message) within
// AGGREGATE_WINDOW_MS patches the count of the Event already written instead of creating another; a spam
// filter per object (a burst of 25, then one every 5 minutes) and a cap on writes in flight bound what the
// API server gets. Writing is fire-and-forget: a failure is logged at debug and counted, never awaited by a
// status write. Edge nodes are not Kubernetes objects here, so their events stay in the controller's log.

import { hostname } from 'node:os';
import { API_VERSION } from '@edgetwin/api';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { ControllerEvent } from '../../live/event-log.js';
import { requestOptions } from './request-options.js';

export const REPORTING_CONTROLLER = 'edgetwin-controller';

export interface KubeEventRecorderOptions {
  /** the uid of a Device, from the informer's cache; undefined = not known (the event is skipped) */
  uidOf: (namespace: string, name: string) => string | undefined;
  logger: Logger;
  /** edgetwin_controller_kube_events_total{result} */
  counter?: Counter<'result'>;
  requestTimeoutMs?: number;
  now?: () => number;
  /** spam filter per object: burst, and one more token every refillMs (client-go: 25 and 5 minutes) */
  burst?: number;
  refillMs?: number;
  /** writes in flight at most; beyond, an event is dropped (default 100) */
  maxInFlight?: number;
  /** aggregation keys and spam buckets kept at most, oldest forgotten first (default 4096) */
  maxTracked?: number;
}

/** A repeat within this long patches the count of the same Event (client-go keeps 10 minutes). */
export const AGGREGATE_WINDOW_MS = 10 * 60_000;

interface Written {
  namespace: string;
  name: string;
  count: number;
  firstTimestamp: string;
  last: number;
  /** the write in flight for this key: the next one waits for it, so a patch never races its create */
  pending: Promise<void>;
}

export class KubeEventRecorder {
  private readonly api: CoreV1Api;
  private readonly written = new Map<string, Written>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private inFlight = 0;
  private stopped = false;
  private readonly now: () => number;
  private readonly instance = hostname();

  constructor(
    kc: KubeConfig,
    private readonly opts: KubeEventRecorderOptions,
  ) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.now = opts.now ?? Date.now;
  }

  /** Writes (or counts up) the Kubernetes Event of `e`; returns at once. */
  record(e: ControllerEvent): void {
    if (this.stopped || e.object.kind !== 'Device' || !e.object.namespace) return;
    const { namespace, name } = e.object;
    const uid = this.opts.uidOf(namespace, name);
    if (!uid) {
      this.count('skipped');
      return;
    }
    if (!this.allow(`${namespace}/${name}`)) {
      this.count('dropped-rate');
      return;
    }
    if (this.inFlight >= (this.opts.maxInFlight ?? 100)) {
      this.count('dropped-busy');
      return;
    }
    const key = `${namespace}/${name}/${e.type}/${e.reason}/${e.message}`;
    const t = this.now();
    const prev = this.written.get(key);
    const repeat = prev && t - prev.last < AGGREGATE_WINDOW_MS ? prev : undefined;
    const entry: Written = repeat ?? {
      namespace,
      name: `${name}.${t.toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`,
      count: 0,
      firstTimestamp: rfc3339(t),
      last: t,
      pending: Promise.resolve(),
    };
    entry.count++;
    entry.last = t;
    this.remember(this.written, key, entry);
    this.inFlight++;
    const body = {
      metadata: { name: entry.name, namespace },
      involvedObject: { apiVersion: API_VERSION, kind: 'Device', name, namespace, uid },
      reason: e.reason,
      message: e.message,
      type: e.type,
      count: entry.count,
      firstTimestamp: entry.firstTimestamp,
      lastTimestamp: rfc3339(t),
      source: { component: REPORTING_CONTROLLER },
      reportingComponent: REPORTING_CONTROLLER,
      reportingInstance: this.instance,
    };
    const write = async () => {
      if (repeat) {
        try {
          await this.api.patchNamespacedEvent(
            { namespace, name: entry.name, body: { count: body.count, lastTimestamp: body.lastTimestamp } },
            requestOptions(this.opts.requestTimeoutMs ?? 30_000, 'merge'),
          );
          return this.count('patched');
        } catch (err) {
          // the Event expired (the API server keeps them an hour) or was deleted: write it anew
          if ((err as { code?: number }).code !== 404) throw err;
        }
      }
      // client-go's serializer would send Dates; the API takes the RFC 3339 strings as they are
      await this.api.createNamespacedEvent(
        { namespace, body: body as never },
        requestOptions(this.opts.requestTimeoutMs ?? 30_000),
      );
      this.count('created');
    };
    entry.pending = entry.pending
      .then(write)
      .catch((err: unknown) => {
        this.count('failed');
        this.opts.logger.debug(
          { err, event: e.reason, device: `${namespace}/${name}` },
          'Kubernetes Event not written',
        );
      })
      .finally(() => this.inFlight--);
  }

  /** Stops writing; what is in flight ends on its own deadline. */
  stop(): void {
    this.stopped = true;
  }

  /** The spam filter: a token bucket per object, as client-go's EventSourceObjectSpamFilter. */
  private allow(object: string): boolean {
    const burst = this.opts.burst ?? 25;
    const refillMs = this.opts.refillMs ?? 5 * 60_000;
    const t = this.now();
    const b = this.buckets.get(object) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + (t - b.at) / refillMs);
    b.at = t;
    this.remember(this.buckets, object, b);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  private remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > (this.opts.maxTracked ?? 4096)) map.delete(map.keys().next().value as string);
  }

  private count(result: string): void {
    this.opts.counter?.inc({ result });
  }
}

/** RFC 3339 in whole seconds, as metav1.Time is written. */
function rfc3339(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}
